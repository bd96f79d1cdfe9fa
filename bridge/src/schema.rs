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

diesel::table! {
    /// Every payment the listener saw for a watched account, deliverable or not (see
    /// `receive::store`).
    received_payment (id) {
        id -> BigInt,
        operation_id -> Text,
        processed_at -> Timestamp,
        paging_token -> Text,
        status -> Text,
        transaction_id -> Text,
        account -> Text,
        kind -> Text,
        from_account -> Nullable<Text>,
        to_muxed_id -> Nullable<Text>,
        amount -> Nullable<Text>,
        asset_code -> Nullable<Text>,
        asset_issuer -> Nullable<Text>,
        memo_type -> Nullable<Text>,
        memo -> Nullable<Text>,
        route -> Nullable<Text>,
        data -> Nullable<Text>,
        raw -> Text,
        attempts -> Integer,
        next_attempt_at -> BigInt,
        last_error -> Nullable<Text>,
        delivered_at -> Nullable<Timestamp>,
        claimed_by -> Nullable<Text>,
        claimed_until -> BigInt,
    }
}

diesel::table! {
    /// Every call of the receive and error callbacks for a received payment: its HTTP status
    /// and the first bytes of the answer (the console's delivery history).
    delivery_attempt (id) {
        id -> BigInt,
        payment -> BigInt,
        at -> BigInt,
        instance -> Text,
        callback -> Text,
        http_status -> Nullable<Integer>,
        answer -> Text,
    }
}

diesel::table! {
    /// One row per watched account: the paging token after the last recorded payment.
    receive_cursor (account) {
        account -> Text,
        paging_token -> Text,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    /// Per watched account: the instance streaming its payments, and the fencing token its
    /// writes carry (see `receive::lease`).
    receive_lease (account) {
        account -> Text,
        holder -> Nullable<Text>,
        fence -> BigInt,
        leased_until -> BigInt,
    }
}

diesel::table! {
    /// Every `/payment` id with the digest of its request, claimed before anything is sent.
    payment_request (payment_id) {
        payment_id -> Text,
        request_digest -> Text,
        claimed_at -> Timestamp,
        request -> Nullable<Text>,
    }
}

diesel::table! {
    /// Who holds each account used as a transaction source (see `send::leases`).
    source_lease (account) {
        account -> Text,
        lease -> Nullable<Text>,
        leased_until -> BigInt,
        sequence -> Nullable<BigInt>,
        failures -> Integer,
        out_of_pool -> Nullable<Text>,
    }
}

diesel::table! {
    /// One bulk payout (see `batch::store`).
    payout_batch (id) {
        id -> BigInt,
        batch_id -> Text,
        request_digest -> Text,
        state -> Text,
        sender -> Nullable<Text>,
        total_rows -> Integer,
        created_at -> BigInt,
        approved_at -> Nullable<BigInt>,
        finished_at -> Nullable<BigInt>,
        claimed_by -> Nullable<Text>,
        claimed_until -> BigInt,
        callback_due -> Integer,
        callback_attempts -> Integer,
        next_callback_at -> BigInt,
    }
}

diesel::table! {
    /// One payment of a bulk payout, with its resolved destination and outcome.
    payout_row (id) {
        id -> BigInt,
        batch -> BigInt,
        row_no -> Integer,
        row_id -> Text,
        destination -> Text,
        account -> Nullable<Text>,
        amount -> Text,
        asset_code -> Nullable<Text>,
        asset_issuer -> Nullable<Text>,
        memo_type -> Nullable<Text>,
        memo -> Nullable<Text>,
        extra_memo -> Nullable<Text>,
        route -> Text,
        state -> Text,
        tx -> Nullable<BigInt>,
        op_index -> Nullable<Integer>,
        attempts -> Integer,
        next_attempt_at -> BigInt,
        hash -> Nullable<Text>,
        ledger -> Nullable<BigInt>,
        code -> Nullable<Text>,
        detail -> Nullable<Text>,
    }
}

diesel::table! {
    /// One transaction of a bulk payout, stored before it is signed.
    payout_tx (id) {
        id -> BigInt,
        batch -> BigInt,
        payment_id -> Text,
        digest -> Text,
        state -> Text,
        operations -> Integer,
    }
}
