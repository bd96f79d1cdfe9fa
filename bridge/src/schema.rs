//! The bridge's tables: the legacy `sent_transaction` columns plus what exactly-once sending
//! needs (`request_digest`, `max_time`, `result_codes`).

diesel::table! {
    sent_transaction (id) {
        id -> BigInt,
        payment_id -> Nullable<Text>,
        transaction_id -> Text,
        status -> Text,
        source -> Text,
        submitted_at -> Timestamp,
        succeeded_at -> Nullable<Timestamp>,
        ledger -> Nullable<BigInt>,
        envelope_xdr -> Text,
        result_xdr -> Nullable<Text>,
        request_digest -> Nullable<Text>,
        max_time -> BigInt,
        result_codes -> Nullable<Text>,
    }
}
