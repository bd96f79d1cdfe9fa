-- Every /payment id, claimed with the digest of its request before anything is sent to a peer
-- or the network, on either path (compliance or direct): the same id with another request is
-- a 409 even when the first one is still waiting on the receiving bank (no sent_transaction
-- row yet).
CREATE TABLE payment_request (
  payment_id VARCHAR(255) NOT NULL PRIMARY KEY,
  request_digest VARCHAR(64) NOT NULL,
  claimed_at TIMESTAMP NOT NULL
);
