//! The co-signer's tables.

diesel::table! {
    /// Every decision, signed or refused, with its rule.
    cosigner_decision (id) {
        id -> BigInt,
        decided_at -> BigInt,
        client -> Nullable<Text>,
        payment_id -> Nullable<Text>,
        tx_hash -> Nullable<Text>,
        outcome -> Text,
        rule -> Nullable<Text>,
        message -> Text,
    }
}

diesel::table! {
    /// Every transaction signed, by payment id.
    cosigner_signed (tx_hash) {
        tx_hash -> Text,
        payment_id -> Text,
        payment_digest -> Text,
        source -> Text,
        sequence -> BigInt,
        max_time -> BigInt,
        signed_at -> BigInt,
    }
}

diesel::table! {
    /// What the signed transactions pay per UTC day and asset, in stroops; a payment id is
    /// counted once, on the day it was first signed.
    cosigner_day_total (id) {
        id -> BigInt,
        day -> Text,
        asset -> Text,
        signed -> BigInt,
    }
}

diesel::table! {
    /// Request nonces seen, per client, until they are too old to be replayed.
    cosigner_nonce (id) {
        id -> BigInt,
        client -> Text,
        nonce -> Text,
        seen_at -> BigInt,
    }
}

diesel::table! {
    /// One row: every signing decision updates it first, so decisions take turns in the
    /// database (a row lock on MariaDB and PostgreSQL, the write lock on SQLite), even across
    /// instances sharing it.
    cosigner_turn (id) {
        id -> Integer,
        turns -> BigInt,
    }
}
