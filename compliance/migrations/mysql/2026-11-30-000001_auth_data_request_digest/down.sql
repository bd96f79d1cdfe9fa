ALTER TABLE auth_data DROP COLUMN request_digest;
