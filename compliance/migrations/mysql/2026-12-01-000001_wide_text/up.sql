-- TEXT holds 64 KiB; an AUTH request's AuthData (and so the approval and the stored /send
-- request) may be as large as max_body_bytes (256 KiB by default). MEDIUMTEXT holds 16 MiB.
ALTER TABLE authorized_transaction MODIFY COLUMN data MEDIUMTEXT NOT NULL;
ALTER TABLE auth_data MODIFY COLUMN auth_data MEDIUMTEXT NOT NULL;
