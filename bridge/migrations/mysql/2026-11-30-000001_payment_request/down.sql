DROP TABLE payment_request;
