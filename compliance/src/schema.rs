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
