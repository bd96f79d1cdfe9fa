//! The tables, with the legacy names and columns (a superset of them).

diesel::table! {
    authorized_transaction (id) {
        id -> BigInt,
        transaction_id -> Text,
        memo -> Text,
        transaction_xdr -> Text,
        authorized_at -> Timestamp,
        data -> Text,
    }
}

diesel::table! {
    allowed_fi (id) {
        id -> BigInt,
        name -> Text,
        domain -> Text,
        public_key -> Text,
        allowed_at -> Timestamp,
    }
}

diesel::table! {
    allowed_user (id) {
        id -> BigInt,
        fi_name -> Text,
        fi_domain -> Text,
        fi_public_key -> Text,
        user_id -> Text,
        allowed_at -> Timestamp,
    }
}

diesel::table! {
    auth_data (id) {
        id -> BigInt,
        request_id -> Text,
        domain -> Text,
        #[sql_name = "auth_data"]
        data -> Text,
        request_digest -> Nullable<Text>,
    }
}

diesel::table! {
    sep12_customer (id) {
        id -> BigInt,
        customer_id -> Text,
        account -> Text,
        memo -> Text,
        kind -> Text,
        fields -> Text,
        status -> Text,
        message -> Nullable<Text>,
        needs -> Text,
        ask_after -> BigInt,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    sep31_transaction (id) {
        id -> BigInt,
        transaction_id -> Text,
        client -> Text,
        sender_id -> Text,
        receiver_id -> Text,
        amount_in -> Text,
        amount_fee -> Text,
        asset_code -> Text,
        asset_issuer -> Text,
        memo -> Text,
        status -> Text,
        message -> Nullable<Text>,
        stellar_transaction_id -> Nullable<Text>,
        stellar_operation_id -> Nullable<Text>,
        created_at -> BigInt,
        updated_at -> BigInt,
        completed_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    sep31_outgoing (id) {
        id -> BigInt,
        payment_id -> Text,
        request_digest -> Text,
        domain -> Text,
        request -> Text,
        state -> Text,
        sender_id -> Nullable<Text>,
        receiver_id -> Nullable<Text>,
        transaction_id -> Nullable<Text>,
        account -> Nullable<Text>,
        memo_type -> Nullable<Text>,
        memo -> Nullable<Text>,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}
