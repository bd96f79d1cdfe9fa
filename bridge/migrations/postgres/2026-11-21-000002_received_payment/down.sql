DROP TABLE receive_cursor;
DROP TABLE received_payment;
