DROP INDEX sent_transaction_by_status;
DROP INDEX received_payment_by_delivered;
DROP INDEX received_payment_by_processed;
DROP INDEX received_payment_by_status;
DROP INDEX received_payment_by_account;
DROP INDEX received_payment_by_transaction;
DROP TABLE console_audit;
DROP TABLE console_session;
