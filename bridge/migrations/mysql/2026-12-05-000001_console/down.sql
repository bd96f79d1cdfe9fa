DROP INDEX sent_transaction_by_status ON sent_transaction;
DROP INDEX received_payment_by_delivered ON received_payment;
DROP INDEX received_payment_by_processed ON received_payment;
DROP INDEX received_payment_by_status ON received_payment;
DROP INDEX received_payment_by_account ON received_payment;
DROP INDEX received_payment_by_transaction ON received_payment;
DROP TABLE delivery_attempt;
DROP TABLE console_audit;
DROP TABLE console_session;
