-- The operations console (see service::console): its sessions (token hashes, shared by every
-- instance), its audit trail, and the indexes its filters and chart page through, so that
-- each page reads an index range whatever the size of the tables. Times are Unix ms.
CREATE TABLE console_session (
  id BIGINT AUTO_INCREMENT PRIMARY KEY,
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
  id BIGINT AUTO_INCREMENT PRIMARY KEY,
  at BIGINT NOT NULL,
  user_name VARCHAR(255) NOT NULL,
  action VARCHAR(64) NOT NULL,
  target VARCHAR(255) NOT NULL,
  outcome VARCHAR(1000) NOT NULL
);
-- Every call of the receive and error callbacks: when, by which instance, the HTTP status
-- (none when unreachable) and the first 512 bytes of the answer.
CREATE TABLE delivery_attempt (
  id BIGINT AUTO_INCREMENT PRIMARY KEY,
  payment BIGINT NOT NULL,
  at BIGINT NOT NULL,
  instance VARCHAR(64) NOT NULL,
  callback VARCHAR(16) NOT NULL,
  http_status INTEGER,
  answer VARCHAR(2048) NOT NULL
);
CREATE INDEX delivery_attempt_by_payment ON delivery_attempt (payment, id);
-- The delivery worker's claims read the due payments of one status in this order and stop
-- after a batch (see receive::store::due_candidates).
CREATE INDEX received_payment_due_in_order ON received_payment (status, next_attempt_at, id);
CREATE INDEX received_payment_by_transaction ON received_payment (transaction_id);
CREATE INDEX received_payment_by_account ON received_payment (account, id);
CREATE INDEX received_payment_by_status ON received_payment (status, id);
CREATE INDEX received_payment_by_processed ON received_payment (processed_at);
CREATE INDEX received_payment_by_delivered ON received_payment (delivered_at);
CREATE INDEX sent_transaction_by_status ON sent_transaction (status, id);
-- The /payment request as received, without its secrets (the API key; a secret seed in
-- `source` is replaced by its account), for the console's sent-payment page.
ALTER TABLE payment_request ADD COLUMN request MEDIUMTEXT;
