-- The digest of the /send request stored under request_id: the same id with another request is
-- a conflict (409), never a resend of the first. NULL for rows written before it existed.
ALTER TABLE auth_data ADD COLUMN request_digest VARCHAR(64);
