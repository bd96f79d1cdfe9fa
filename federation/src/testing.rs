//! The federation fixture for tests (the `testing` feature): an operator's `people` table on a
//! fresh database of any backend, the queries that read it, and the server in-process on port 0.
//!
//! Federation's own tests and compliance's (bank B's federation server) use it, so that every
//! test looks up the same people:
//!
//! | address | account | memo |
//! |---|---|---|
//! | `alice*bank.test` | [`ALICE`] | none |
//! | `bob*bank.test` | [`BOB`] | id `42` |
//! | `carol*bank.test` | [`BOB`] | text `carol savings` |
//! | `dave*bank.test` | [`BOB`] | hash [`HASH_HEX`] (sent as [`HASH_B64`]) |
//! | `mallory*bank.test` | `GBAD` (a broken row: answered 500) | none |
//! | `bob*bank-b.test` | [`BANK_B_BOB`] | text `bob` |
//! | `carol*bank-c.test` | [`BANK_B_BOB`] | text `carol` |
//!
//! and a `bank_accounts` table for forward lookups: `swift=BOPBPHMM&acct=2382376` → [`ALICE`].

use diesel::connection::SimpleConnection;
use service::database::{Backend, Database};
use service::testing::TestDatabase;

use crate::config::Queries;
use crate::{Application, FederationConfig};

/// `alice*bank.test`.
pub const ALICE: &str = "GCYMGWPZ6NC2U7SO6SMXOP5ZLXOEC5SYPKITDMVEONLCHFSCCQR2J4S3";
/// `bob*bank.test` (id memo 42), `carol*bank.test` and `dave*bank.test`.
pub const BOB: &str = "GD2GJPL3UOK5LX7TWXOACK2ZPWPFSLBNKL3GTGH6BLBNISK4BGWMFBBG";
/// `bob*bank-b.test` and `carol*bank-c.test`: the receiving bank of compliance's and the
/// bridge's tests.
pub const BANK_B_BOB: &str = "GBYJZW5XFAI6XV73H5SAIUYK6XZI4CGGVBUBO3ANA2SV7KKDAXTV6AEB";
/// [`BANK_B_BOB`]'s secret seed (public: the signing key of `vectors/compliance-send.json`), for
/// tests that fund bob's account and sign for it (a trustline).
pub const BANK_B_BOB_SEED: &str = "SDWTLFPALQSP225BSMX7HPZ7ZEAYSUYNDLJ5QI3YGVBNRUIIELWH3XUV";
/// dave's hash memo as stored (hex).
pub const HASH_HEX: &str = "bb706ec78dc0b3b96f5f5e0127e71899ebc4f9cad80ff3003bd4765ae53b6279";
/// dave's hash memo as SEP-2 sends it (base64).
pub const HASH_B64: &str = "u3Bux43As7lvX14BJ+cYmevE+crYD/MAO9R2WuU7Ynk=";

/// A fresh database of `backend` holding the `people` and `bank_accounts` tables.
///
/// # Panics
/// When the database cannot be created or written.
pub fn people(backend: Backend) -> TestDatabase {
    let db = TestDatabase::new(backend);
    Database::connect(&db.settings())
        .unwrap()
        .run_blocking(|conn| {
            conn.batch_execute(&format!(
                "CREATE TABLE people (id VARCHAR(56) NOT NULL, name VARCHAR(64) NOT NULL, \
                   domain VARCHAR(128) NOT NULL, memo_type VARCHAR(8), memo VARCHAR(128)); \
                 CREATE TABLE bank_accounts (swift VARCHAR(16), acct VARCHAR(32), id VARCHAR(56)); \
                 INSERT INTO people VALUES ('{ALICE}', 'alice', 'bank.test', NULL, NULL); \
                 INSERT INTO people VALUES ('{BOB}', 'bob', 'bank.test', 'id', '42'); \
                 INSERT INTO people VALUES ('{BOB}', 'carol', 'bank.test', 'text', 'carol savings'); \
                 INSERT INTO people VALUES ('{BOB}', 'dave', 'bank.test', 'hash', '{HASH_HEX}'); \
                 INSERT INTO people VALUES ('GBAD', 'mallory', 'bank.test', NULL, NULL); \
                 INSERT INTO people VALUES ('{BANK_B_BOB}', 'bob', 'bank-b.test', 'text', 'bob'); \
                 INSERT INTO people VALUES ('{BANK_B_BOB}', 'carol', 'bank-c.test', 'text', 'carol'); \
                 INSERT INTO bank_accounts VALUES ('BOPBPHMM', '2382376', '{ALICE}');"
            ))?;
            Ok(())
        })
        .unwrap();
    db
}

/// Name (with memo), reverse (first name in order) and forward (bank account) lookups over
/// [`people`].
pub fn queries() -> Queries {
    Queries {
        federation: "SELECT id, memo_type, memo FROM people WHERE name = ? AND domain = ?".into(),
        reverse_federation: Some(
            "SELECT name, domain FROM people WHERE id = ? ORDER BY name".into(),
        ),
        forward: Some("SELECT id FROM bank_accounts WHERE swift = :swift AND acct = :acct".into()),
    }
}

/// A plain-HTTP server on 127.0.0.1:0 over `db` with `queries`, no metrics listener.
pub fn config(db: &TestDatabase, queries: Queries) -> FederationConfig {
    FederationConfig {
        port: 0,
        bind_address: "127.0.0.1".into(),
        database: db.settings(),
        queries,
        tls: None,
        log_format: Default::default(),
        metrics_port: None,
        max_body_bytes: 16 * 1024,
        request_body_timeout_seconds: 5,
        rate_limit: service::rate_limit::RateLimitSettings::unlimited(),
    }
}

/// A federation server running in-process; stopped when dropped.
#[derive(Debug)]
pub struct FederationServer {
    /// Its base URL (`http://127.0.0.1:port`).
    pub url: String,
    /// Its database (dropped with it).
    pub db: TestDatabase,
    handles: Vec<actix_web::dev::ServerHandle>,
}

impl FederationServer {
    /// The server over [`people`] on `backend` with [`queries`].
    ///
    /// # Panics
    /// When the database or the server cannot be started.
    pub async fn start(backend: Backend) -> Self {
        Self::start_with(people(backend), queries()).await
    }

    /// The server over `db` with `queries`.
    ///
    /// # Panics
    /// When the server cannot be started.
    pub async fn start_with(db: TestDatabase, queries: Queries) -> Self {
        let app = Application::build(config(&db, queries)).await.unwrap();
        let url = app.url();
        let handles = app.spawn();
        Self { url, db, handles }
    }

    /// Its SEP-2 endpoint (`…/federation`), for a stellar.toml's `FEDERATION_SERVER`.
    pub fn federation_url(&self) -> String {
        format!("{}/federation", self.url)
    }
}

impl Drop for FederationServer {
    fn drop(&mut self) {
        for h in &self.handles {
            drop(h.stop(false));
        }
    }
}
