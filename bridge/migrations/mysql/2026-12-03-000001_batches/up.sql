-- Bulk payouts (see bridge::batch). Times are Unix milliseconds on the database's clock.
--
-- One row per batch: its state, who approved it, and the instance working on it until
-- `claimed_until` (no two instances pack the same batch; rows are also taken one way only).
CREATE TABLE payout_batch (
  id BIGINT AUTO_INCREMENT PRIMARY KEY,
  batch_id VARCHAR(255) NOT NULL,
  request_digest VARCHAR(64) NOT NULL,
  state VARCHAR(32) NOT NULL,
  sender VARCHAR(255),
  total_rows INTEGER NOT NULL,
  created_at BIGINT NOT NULL,
  approved_at BIGINT,
  finished_at BIGINT,
  claimed_by VARCHAR(64),
  claimed_until BIGINT NOT NULL DEFAULT 0,
  callback_due INTEGER NOT NULL DEFAULT 0,
  callback_attempts INTEGER NOT NULL DEFAULT 0,
  next_callback_at BIGINT NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX payout_batch_by_batch_id ON payout_batch (batch_id);
-- One row per payment of a batch, with its destination as resolved when the batch was
-- accepted (a restart rebuilds the same transaction from it) and its outcome.
CREATE TABLE payout_row (
  id BIGINT AUTO_INCREMENT PRIMARY KEY,
  batch BIGINT NOT NULL,
  row_no INTEGER NOT NULL,
  row_id VARCHAR(255) NOT NULL,
  destination VARCHAR(255) NOT NULL,
  account VARCHAR(69),
  amount VARCHAR(32) NOT NULL,
  asset_code VARCHAR(12),
  asset_issuer VARCHAR(56),
  memo_type VARCHAR(8),
  memo VARCHAR(128),
  extra_memo TEXT,
  route VARCHAR(16) NOT NULL,
  state VARCHAR(16) NOT NULL,
  tx BIGINT,
  op_index INTEGER,
  attempts INTEGER NOT NULL DEFAULT 0,
  next_attempt_at BIGINT NOT NULL DEFAULT 0,
  hash VARCHAR(64),
  ledger BIGINT,
  code VARCHAR(64),
  detail TEXT
);
CREATE UNIQUE INDEX payout_row_by_row_id ON payout_row (batch, row_id);
CREATE INDEX payout_row_by_state ON payout_row (batch, state, row_no);
CREATE INDEX payout_row_by_tx ON payout_row (tx);
-- One row per transaction of a batch, stored (with its rows marked) before it is signed: its
-- payment_id is the sent_transaction's, which holds the hash before submission.
CREATE TABLE payout_tx (
  id BIGINT AUTO_INCREMENT PRIMARY KEY,
  batch BIGINT NOT NULL,
  payment_id VARCHAR(255) NOT NULL,
  digest VARCHAR(64) NOT NULL,
  state VARCHAR(16) NOT NULL,
  operations INTEGER NOT NULL
);
CREATE UNIQUE INDEX payout_tx_by_payment_id ON payout_tx (payment_id);
CREATE INDEX payout_tx_by_state ON payout_tx (batch, state);
