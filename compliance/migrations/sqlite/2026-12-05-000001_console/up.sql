-- The operations console (see service::console): its sessions (token hashes, shared by every
-- instance) and its audit trail. Times are Unix ms.
CREATE TABLE console_session (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  token_hash VARCHAR(64) NOT NULL,
  user_name VARCHAR(255) NOT NULL,
  roles VARCHAR(255) NOT NULL,
  csrf VARCHAR(64) NOT NULL,
  created_at BIGINT NOT NULL,
  expires_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX console_session_by_token ON console_session (token_hash);
CREATE INDEX console_session_by_expiry ON console_session (expires_at);
CREATE TABLE console_audit (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  at BIGINT NOT NULL,
  user_name VARCHAR(255) NOT NULL,
  action VARCHAR(64) NOT NULL,
  target VARCHAR(255) NOT NULL,
  outcome VARCHAR(1000) NOT NULL
);
