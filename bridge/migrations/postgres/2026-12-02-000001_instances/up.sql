-- Several bridge instances on one database.
--
-- One row per watched account: which instance streams its payments. The holder renews
-- `leased_until` (the database's clock, Unix milliseconds); another instance takes over once it
-- has passed. Every take-over adds one to `fence`, and every write of the account's cursor or
-- payments checks it, so a holder that stalled past its lease can no longer write.
CREATE TABLE receive_lease (
  account VARCHAR(56) NOT NULL PRIMARY KEY,
  holder VARCHAR(64),
  fence BIGINT NOT NULL DEFAULT 0,
  leased_until BIGINT NOT NULL DEFAULT 0
);
-- The instance delivering a payment, until `claimed_until` (the database's clock, Unix
-- milliseconds): no two instances post the same payment.
ALTER TABLE received_payment ADD COLUMN claimed_by VARCHAR(64);
ALTER TABLE received_payment ADD COLUMN claimed_until BIGINT NOT NULL DEFAULT 0;
