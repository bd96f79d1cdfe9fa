-- SEP-31 peering (see docs/peering.md). Times are Unix seconds.
-- sep12_customer: the customers SEP-31 senders registered with us (SEP-12), one per
-- authenticated account, memo and type; `fields` is their SEP-9 data as a JSON object, `needs`
-- the fields our back office asked to be sent again (comma-separated).
CREATE TABLE sep12_customer (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  customer_id VARCHAR(64) NOT NULL,
  account VARCHAR(100) NOT NULL,
  memo VARCHAR(64) NOT NULL,
  kind VARCHAR(64) NOT NULL,
  fields TEXT NOT NULL,
  status VARCHAR(16) NOT NULL,
  message VARCHAR(1000),
  needs VARCHAR(1000) NOT NULL,
  ask_after BIGINT NOT NULL,
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX sep12_customer_by_id ON sep12_customer (customer_id);
CREATE UNIQUE INDEX sep12_customer_by_owner ON sep12_customer (account, memo, kind);
-- sep31_transaction: the SEP-31 transactions senders created with us; an incoming payment is
-- matched to one by its hash memo.
CREATE TABLE sep31_transaction (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  transaction_id VARCHAR(64) NOT NULL,
  client VARCHAR(100) NOT NULL,
  sender_id VARCHAR(64) NOT NULL,
  receiver_id VARCHAR(64) NOT NULL,
  amount_in VARCHAR(32) NOT NULL,
  amount_fee VARCHAR(32) NOT NULL,
  asset_code VARCHAR(12) NOT NULL,
  asset_issuer VARCHAR(56) NOT NULL,
  memo VARCHAR(64) NOT NULL,
  status VARCHAR(40) NOT NULL,
  message VARCHAR(1000),
  stellar_transaction_id VARCHAR(64),
  stellar_operation_id VARCHAR(32),
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL,
  completed_at BIGINT
);
CREATE UNIQUE INDEX sep31_transaction_by_id ON sep31_transaction (transaction_id);
CREATE UNIQUE INDEX sep31_transaction_by_memo ON sep31_transaction (memo);
-- sep31_outgoing: our payments to SEP-31 anchors, one per /payment id. The anchor's
-- transaction id is stored before the payment is built, and `state` goes new -> creating ->
-- created under a compare-and-set, so a repeat never creates a second transaction.
CREATE TABLE sep31_outgoing (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  payment_id VARCHAR(255) NOT NULL,
  request_digest VARCHAR(64) NOT NULL,
  domain VARCHAR(255) NOT NULL,
  request TEXT NOT NULL,
  state VARCHAR(16) NOT NULL,
  sender_id VARCHAR(64),
  receiver_id VARCHAR(64),
  transaction_id VARCHAR(64),
  account VARCHAR(56),
  memo_type VARCHAR(8),
  memo VARCHAR(64),
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX sep31_outgoing_by_payment ON sep31_outgoing (payment_id);
