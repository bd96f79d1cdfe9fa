-- TEXT holds 64 KiB; the AuthData a peer sent with a payment (received_payment.data) may be
-- larger. MEDIUMTEXT holds 16 MiB.
ALTER TABLE received_payment MODIFY COLUMN data MEDIUMTEXT;
