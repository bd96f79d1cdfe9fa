-- One row per account whose sequence numbers the bridge uses as a transaction source: each
-- channel account, and (without channels) each paying account. The database decides who holds
-- an account, so that two requests, or two bridge instances on one database, never build two
-- transactions on one sequence number or put two in the network's queue for one source.
CREATE TABLE source_lease (
  account VARCHAR(56) NOT NULL PRIMARY KEY,
  -- The holder: a random token while a transaction is being built, then that transaction's
  -- hash. NULL when free.
  lease VARCHAR(64),
  -- Unix seconds after which the lease is void (the transaction's upper time bound plus a
  -- margin: past it the transaction can never be applied).
  leased_until BIGINT NOT NULL DEFAULT 0,
  -- The last sequence number used, when the holder knew it for sure; NULL: ask Horizon.
  sequence BIGINT,
  -- Transactions refused in a row for a reason that is the account's (not the payment's).
  failures INTEGER NOT NULL DEFAULT 0,
  -- Why a channel was taken out of the pool; NULL while it is in.
  out_of_pool VARCHAR(255)
);
