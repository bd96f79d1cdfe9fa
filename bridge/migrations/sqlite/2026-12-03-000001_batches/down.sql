DROP TABLE payout_tx;
DROP TABLE payout_row;
DROP TABLE payout_batch;
