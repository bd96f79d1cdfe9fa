DROP TABLE sent_transaction;
