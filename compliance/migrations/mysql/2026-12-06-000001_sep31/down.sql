DROP TABLE sep31_outgoing;
DROP TABLE sep31_transaction;
DROP TABLE sep12_customer;
