CREATE TABLE received_payment (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  operation_id VARCHAR(255) NOT NULL,
  processed_at TIMESTAMP NOT NULL,
  paging_token VARCHAR(255) NOT NULL,
  status VARCHAR(32) NOT NULL,
  transaction_id VARCHAR(64) NOT NULL DEFAULT 'N/A',
  account VARCHAR(56) NOT NULL,
  kind VARCHAR(64) NOT NULL,
  from_account VARCHAR(255),
  to_muxed_id VARCHAR(255),
  amount VARCHAR(255),
  asset_code VARCHAR(255),
  asset_issuer VARCHAR(255),
  memo_type VARCHAR(255),
  memo TEXT,
  route TEXT,
  data TEXT,
  raw TEXT NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0,
  next_attempt_at BIGINT NOT NULL DEFAULT 0,
  last_error TEXT,
  delivered_at TIMESTAMP NULL
);
CREATE UNIQUE INDEX received_payment_by_operation_id ON received_payment (operation_id);
CREATE INDEX received_payment_due ON received_payment (status, next_attempt_at);
CREATE TABLE receive_cursor (
  account VARCHAR(56) NOT NULL PRIMARY KEY,
  paging_token VARCHAR(255) NOT NULL,
  updated_at TIMESTAMP NOT NULL
);
