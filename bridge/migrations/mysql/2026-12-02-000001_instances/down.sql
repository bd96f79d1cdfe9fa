DROP TABLE receive_lease;
ALTER TABLE received_payment DROP COLUMN claimed_until;
ALTER TABLE received_payment DROP COLUMN claimed_by;
