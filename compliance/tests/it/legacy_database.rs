//! The legacy Go compliance server's database (MySQL or PostgreSQL, with its `gorp_migrations`
//! table) is adopted in place at start-up: the switch is a binary swap.
//!
//! The legacy schema is built from the legacy migrations' final column lists (`01_init.sql` to
//! `03_table_names.sql`), legacy rows are inserted (including two approvals of the same
//! transaction, which the legacy server allowed and our unique index would not), and the real
//! server starts on it. A legacy approval still answers `/receive`, the allow lists take new
//! rows, and a restart changes nothing.

use crate::common;

use common::{API_KEY, BackOffice, BankOptions, TomlHost, post_form};
use diesel::connection::SimpleConnection;
use service::Database;
use service::database::Backend;
use service::testing::TestDatabase;
use stellar_base::KeyPair;

const MEMO: &str = "u3Bux43As7lvX14BJ+cYmevE+crYD/MAO9R2WuU7Ynk=";
const TX_HASH: &str = "36f5c6eec095c9275a678131dba70f7ec851af01b175534bffd4f40643ec4ca8";
const DATA: &str = r#"{"sender":"alice*stellar.org","need_info":false,"tx":"AAAA","attachment":"{\"nonce\":\"nonce\"}"}"#;
const OLDER_DATA: &str =
    r#"{"sender":"alice*stellar.org","need_info":false,"tx":"AAAA","attachment":"{}"}"#;
const FI_KEY: &str = "GAW77Z6GPWXSODJOMF5L5BMX6VMYGEJRKUNBC2CZ725JTQZORK74HQQD";

fn legacy_schema(backend: Backend) -> String {
    let (tables, now) = match backend {
        Backend::Mysql => (
            "CREATE TABLE gorp_migrations (id varchar(255) NOT NULL PRIMARY KEY, applied_at datetime);
             CREATE TABLE authorized_transaction (
               id int(11) NOT NULL AUTO_INCREMENT PRIMARY KEY,
               transaction_id char(64) NOT NULL,
               memo varchar(64) NULL,
               transaction_xdr text NOT NULL,
               authorized_at datetime NOT NULL,
               data text NOT NULL
             ) ENGINE=InnoDB DEFAULT CHARSET=utf8;
             CREATE TABLE allowed_fi (
               id int(11) NOT NULL AUTO_INCREMENT PRIMARY KEY,
               name varchar(255) NOT NULL,
               domain varchar(255) NOT NULL,
               public_key char(56) NOT NULL,
               allowed_at datetime NOT NULL,
               UNIQUE KEY afi_by_domain (domain),
               UNIQUE KEY afi_by_public_key (public_key)
             ) ENGINE=InnoDB DEFAULT CHARSET=utf8;
             CREATE TABLE allowed_user (
               id int(11) NOT NULL AUTO_INCREMENT PRIMARY KEY,
               fi_name varchar(255) NOT NULL,
               fi_domain varchar(255) NOT NULL,
               fi_public_key char(56) NOT NULL,
               user_id varchar(255) NOT NULL,
               allowed_at datetime NOT NULL,
               UNIQUE KEY au_by_fi_public_key_user_id (fi_public_key, user_id)
             ) ENGINE=InnoDB DEFAULT CHARSET=utf8;
             CREATE TABLE auth_data (
               id int(11) NOT NULL AUTO_INCREMENT PRIMARY KEY,
               request_id varchar(255) NOT NULL,
               domain varchar(255) NOT NULL,
               auth_data text NOT NULL,
               UNIQUE KEY request_id (request_id)
             ) ENGINE=InnoDB DEFAULT CHARSET=utf8;",
            "NOW()",
        ),
        _ => (
            "CREATE TABLE gorp_migrations (id text NOT NULL PRIMARY KEY, applied_at timestamp with time zone);
             CREATE TABLE authorized_transaction (
               id bigserial PRIMARY KEY,
               transaction_id varchar(64) NOT NULL,
               memo varchar(64) NOT NULL,
               transaction_xdr text NOT NULL,
               authorized_at timestamp NOT NULL,
               data text NOT NULL
             );
             CREATE TABLE allowed_fi (
               id bigserial PRIMARY KEY,
               name varchar(255) NOT NULL,
               domain varchar(255) NOT NULL,
               public_key char(56) NOT NULL,
               allowed_at timestamp NOT NULL
             );
             CREATE UNIQUE INDEX afi_by_domain ON allowed_fi (domain);
             CREATE UNIQUE INDEX afi_by_public_key ON allowed_fi (public_key);
             CREATE TABLE allowed_user (
               id bigserial PRIMARY KEY,
               fi_name varchar(255) NOT NULL,
               fi_domain varchar(255) NOT NULL,
               fi_public_key char(56) NOT NULL,
               user_id varchar(255) NOT NULL,
               allowed_at timestamp NOT NULL
             );
             CREATE UNIQUE INDEX au_by_fi_public_key_user_id ON allowed_user (fi_public_key, user_id);
             CREATE TABLE auth_data (
               id bigserial PRIMARY KEY,
               request_id varchar(255) NOT NULL,
               domain varchar(255) NOT NULL,
               auth_data text NOT NULL
             );
             CREATE UNIQUE INDEX request_id ON auth_data (request_id);",
            "now()",
        ),
    };
    let quote = |s: &str| s.replace('\'', "''").replace('\\', "\\\\");
    let (data, older) = match backend {
        Backend::Mysql => (quote(DATA), quote(OLDER_DATA)),
        _ => (DATA.replace('\'', "''"), OLDER_DATA.replace('\'', "''")),
    };
    format!(
        "{tables}
         INSERT INTO gorp_migrations (id, applied_at) VALUES
           ('01_init.sql', {now}), ('02_auth_data.sql', {now}), ('03_table_names.sql', {now});
         INSERT INTO authorized_transaction (transaction_id, memo, transaction_xdr, authorized_at, data) VALUES
           ('{TX_HASH}', '{MEMO}', 'AAAA', '2019-05-01 10:00:00', '{older}'),
           ('{TX_HASH}', '{MEMO}', 'AAAA', '2019-05-01 10:05:00', '{data}');
         INSERT INTO allowed_fi (name, domain, public_key, allowed_at) VALUES
           ('Stellar', 'stellar.org', '{FI_KEY}', '2019-01-01 00:00:00');
         INSERT INTO allowed_user (fi_name, fi_domain, fi_public_key, user_id, allowed_at) VALUES
           ('Acme', 'acme.com', '{FI_KEY}', 'bob', '2019-01-01 00:00:00');
         INSERT INTO auth_data (request_id, domain, auth_data) VALUES
           ('legacy-send-1', 'bank-b.test', '{data}');"
    )
}

const TABLES: [&str; 5] = [
    "authorized_transaction",
    "allowed_fi",
    "allowed_user",
    "auth_data",
    "gorp_migrations",
];

async fn start(db: &TestDatabase, host: &TomlHost, office: &BackOffice) -> String {
    let config = common::config(
        db,
        &KeyPair::random(),
        office,
        host,
        &BankOptions::default(),
    );
    let app = compliance::Application::build(config)
        .await
        .unwrap_or_else(|e| panic!("the compliance server refused the legacy database: {e}"));
    let internal = app.internal_url();
    app.spawn();
    internal
}

// Only MySQL and PostgreSQL: the legacy server never ran on SQLite.
service::backend_tests!(a_legacy_compliance_database_is_adopted_in_place; mysql, postgres);
async fn a_legacy_compliance_database_is_adopted_in_place(backend: Backend) {
    let (host, office) = (TomlHost::start().await, BackOffice::start().await);
    let db = TestDatabase::new(backend);
    let sql = legacy_schema(backend);
    Database::connect(&db.settings())
        .unwrap()
        .run_blocking(move |conn| Ok(conn.batch_execute(&sql)?))
        .unwrap();
    let internal = start(&db, &host, &office).await;

    // The legacy approval answers /receive (the newest of the legacy duplicates).
    let receive = |url: String| async move {
        post_form(&format!("{url}/receive"), &[("memo", MEMO)], Some(API_KEY)).await
    };
    let (status, body) = receive(internal.clone()).await;
    assert_eq!(status, 200, "{backend}: {body}");
    assert_eq!(body["data"], DATA, "{backend}");
    let (status, _) = post_form(
        &format!("{internal}/receive"),
        &[("memo", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=")],
        Some(API_KEY),
    )
    .await;
    assert_eq!(status, 404, "{backend}");

    // The allow lists take new rows next to the legacy ones.
    let other = KeyPair::random().public_key().to_string();
    let (status, body) = post_form(
        &format!("{internal}/allow_access"),
        &[
            ("name", "Bank B"),
            ("domain", "bank-b.test"),
            ("public_key", &other),
        ],
        Some(API_KEY),
    )
    .await;
    assert_eq!(status, 200, "{backend}: {body}");

    // Every table, column and index of ours is there; the duplicate legacy approvals are
    // kept (their unique index was created without UNIQUE); legacy indexes stay.
    let schema = Database::connect(&db.settings()).unwrap().schema().unwrap();
    let fresh = {
        let fresh_db = TestDatabase::new(backend);
        let database = Database::connect(&fresh_db.settings()).unwrap();
        database.migrate(compliance::migrations()).unwrap();
        database.schema().unwrap()
    };
    let missing = schema.missing_from(&fresh);
    assert!(missing.is_empty(), "{backend}: missing {missing:?}");
    let at = &schema.tables["authorized_transaction"].indexes;
    assert!(!at["at_by_transaction_id"].unique, "{backend}");
    assert!(
        schema.tables["allowed_fi"]
            .indexes
            .contains_key("afi_by_public_key")
    );
    let counts: Vec<i64> = TABLES.iter().map(|t| db.count(t)).collect();
    assert_eq!(counts, [2, 2, 1, 1, 3], "{backend}");

    // A restart adopts nothing twice and changes no row.
    let applied = Database::connect(&db.settings())
        .unwrap()
        .migrate(compliance::migrations())
        .unwrap();
    assert!(applied.is_empty(), "{backend}: applied again: {applied:?}");
    let internal = start(&db, &host, &office).await;
    let (status, body) = receive(internal).await;
    assert_eq!((status, &body["data"]), (200, &DATA.into()), "{backend}");
    let after: Vec<i64> = TABLES.iter().map(|t| db.count(t)).collect();
    assert_eq!(after, counts, "{backend}");
}
