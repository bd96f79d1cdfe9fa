CREATE TABLE sent_transaction (
  id BIGSERIAL PRIMARY KEY,
  payment_id VARCHAR(255),
  transaction_id VARCHAR(64) NOT NULL,
  status VARCHAR(16) NOT NULL,
  source VARCHAR(56) NOT NULL,
  submitted_at TIMESTAMP NOT NULL,
  succeeded_at TIMESTAMP,
  ledger BIGINT,
  envelope_xdr TEXT NOT NULL,
  result_xdr TEXT,
  request_digest VARCHAR(64),
  max_time BIGINT NOT NULL DEFAULT 0,
  result_codes TEXT
);
CREATE UNIQUE INDEX sent_transaction_by_payment_id ON sent_transaction (payment_id);
CREATE INDEX sent_transaction_by_transaction_id ON sent_transaction (transaction_id);
