-- The co-signer's decision log, what it signed per payment id, the day's totals per asset,
-- the request nonces it has seen, and the one row every signing decision locks first.
-- Times are Unix milliseconds (decided_at, signed_at, seen_at) or seconds (max_time).
CREATE TABLE cosigner_decision (
  id BIGSERIAL PRIMARY KEY,
  decided_at BIGINT NOT NULL,
  client VARCHAR(255),
  payment_id VARCHAR(255),
  tx_hash VARCHAR(64),
  outcome VARCHAR(16) NOT NULL,
  rule VARCHAR(32),
  message TEXT NOT NULL
);
CREATE TABLE cosigner_signed (
  tx_hash VARCHAR(64) NOT NULL PRIMARY KEY,
  payment_id VARCHAR(255) NOT NULL,
  payment_digest VARCHAR(64) NOT NULL,
  source VARCHAR(56) NOT NULL,
  sequence BIGINT NOT NULL,
  max_time BIGINT NOT NULL,
  signed_at BIGINT NOT NULL
);
CREATE INDEX cs_by_payment_id ON cosigner_signed (payment_id);
CREATE TABLE cosigner_day_total (
  id BIGSERIAL PRIMARY KEY,
  day VARCHAR(10) NOT NULL,
  asset VARCHAR(70) NOT NULL,
  signed BIGINT NOT NULL
);
CREATE UNIQUE INDEX cdt_by_day_asset ON cosigner_day_total (day, asset);
CREATE TABLE cosigner_nonce (
  id BIGSERIAL PRIMARY KEY,
  client VARCHAR(56) NOT NULL,
  nonce VARCHAR(64) NOT NULL,
  seen_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX cn_by_client_nonce ON cosigner_nonce (client, nonce);
CREATE INDEX cn_by_seen_at ON cosigner_nonce (seen_at);
CREATE TABLE cosigner_turn (
  id INTEGER NOT NULL PRIMARY KEY,
  turns BIGINT NOT NULL
);
INSERT INTO cosigner_turn (id, turns) VALUES (1, 0);
