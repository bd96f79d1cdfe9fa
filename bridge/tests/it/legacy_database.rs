//! The legacy Go bridge's database (MySQL or PostgreSQL, with its `gorp_migrations` table) is
//! adopted in place at start-up: the switch is a binary swap.
//!
//! The legacy schema is built from the legacy migrations' final column lists (`01_init.sql` to
//! `04_table_names.sql`), legacy rows are inserted, and the real server starts on it. Then:
//! `/admin` lists the legacy rows, a legacy `sent_transaction`'s payment id answers a repeated
//! `/payment` with the stored outcome (nothing is submitted), new payments are stored in the
//! adopted table, and a restart changes nothing.

use crate::common::TestBridge;
use sandbox::{Sandbox, SandboxConfig};
use serde_json::Value;
use service::Database;
use service::database::Backend;
use service::testing::TestDatabase;
use stellar_base::KeyPair;

const PAID_HASH: &str = "5f3f1c5fb9e9a8a3c4dbd2c7b2b0d0b5d1f3a6e9c0b7a4d2e1f0c9b8a7d6e5f4";
const FAILED_HASH: &str = "0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9";
const PAID_RESULT: &str = "AAAAAAAAAGQAAAAAAAAAAQAAAAAAAAABAAAAAAAAAAA=";
const ENVELOPE: &str = "AAAAAgAAAABi/B0L0JGythwN1lY0aypo19NHxvLCyO5tBEcCVvwF9wAAAGQAAAAAAAAAAQ==";

/// The legacy bridge schema after its four migrations, and some rows.
fn legacy_schema(backend: Backend) -> String {
    let (tables, now) = match backend {
        Backend::Mysql => (
            "CREATE TABLE gorp_migrations (id varchar(255) NOT NULL PRIMARY KEY, applied_at datetime);
             CREATE TABLE received_payment (
               id int(11) NOT NULL AUTO_INCREMENT,
               operation_id varchar(255) NOT NULL,
               processed_at datetime NOT NULL,
               paging_token varchar(255) NOT NULL,
               status varchar(255) NOT NULL,
               transaction_id varchar(64) DEFAULT 'N/A',
               PRIMARY KEY (id),
               UNIQUE KEY operation_id (operation_id)
             ) ENGINE=InnoDB DEFAULT CHARSET=utf8;
             CREATE TABLE sent_transaction (
               id int(11) NOT NULL AUTO_INCREMENT,
               status varchar(10) NOT NULL,
               source varchar(56) NOT NULL,
               submitted_at datetime NOT NULL,
               succeeded_at datetime DEFAULT NULL,
               ledger bigint(20) DEFAULT NULL,
               envelope_xdr text NOT NULL,
               result_xdr varchar(255) DEFAULT NULL,
               payment_id varchar(255) NULL,
               transaction_id varchar(64) NOT NULL,
               PRIMARY KEY (id),
               UNIQUE KEY payment_id_unique (payment_id)
             ) ENGINE=InnoDB DEFAULT CHARSET=utf8;",
            "NOW()",
        ),
        _ => (
            "CREATE TABLE gorp_migrations (id text NOT NULL PRIMARY KEY, applied_at timestamp with time zone);
             CREATE TABLE received_payment (
               id bigserial PRIMARY KEY,
               operation_id varchar(255) UNIQUE NOT NULL,
               processed_at timestamp NOT NULL,
               paging_token varchar(255) NOT NULL,
               status varchar(255) NOT NULL,
               transaction_id varchar(64) DEFAULT 'N/A'
             );
             CREATE TABLE sent_transaction (
               id serial PRIMARY KEY,
               transaction_id varchar(64) NOT NULL,
               status varchar(10) NOT NULL,
               source varchar(56) NOT NULL,
               submitted_at timestamp NOT NULL,
               succeeded_at timestamp NULL,
               ledger bigint NULL,
               envelope_xdr text NOT NULL,
               result_xdr varchar(255) NULL,
               payment_id varchar(255) NULL,
               CONSTRAINT payment_id_unique UNIQUE (payment_id)
             );",
            "now()",
        ),
    };
    format!(
        "{tables}
         INSERT INTO gorp_migrations (id, applied_at) VALUES
           ('01_init.sql', {now}), ('02_payment_id.sql', {now}),
           ('03_transaction_id.sql', {now}), ('04_table_names.sql', {now});
         INSERT INTO received_payment (operation_id, processed_at, paging_token, status, transaction_id) VALUES
           ('100', '2019-03-01 10:00:00', '100', 'Success', '{PAID_HASH}'),
           ('101', '2019-03-02 10:00:00', '101', 'Asset not allowed', '{FAILED_HASH}'),
           ('102', '2019-03-03 10:00:00', '102', 'Processing...', 'N/A');
         INSERT INTO sent_transaction (transaction_id, status, source, submitted_at, succeeded_at, ledger, envelope_xdr, result_xdr, payment_id) VALUES
           ('{PAID_HASH}', 'success', 'GAW77Z6GPWXSODJOMF5L5BMX6VMYGEJRKUNBC2CZ725JTQZORK74HQQD', '2019-03-01 09:59:58', '2019-03-01 10:00:00', 12345, '{ENVELOPE}', '{PAID_RESULT}', 'legacy-paid'),
           ('{FAILED_HASH}', 'failure', 'GAW77Z6GPWXSODJOMF5L5BMX6VMYGEJRKUNBC2CZ725JTQZORK74HQQD', '2019-03-02 09:59:58', NULL, NULL, '{ENVELOPE}', 'AAAAAAAAAGT/////AAAAAQAAAAAAAAAB////+wAAAAA=', NULL);"
    )
}

/// The schema a fresh database gets from our migrations.
fn fresh_schema(backend: Backend) -> service::database::schema::Schema {
    let db = TestDatabase::new(backend);
    let database = Database::connect(&db.settings()).unwrap();
    database.migrate(bridge::migrations()).unwrap();
    database.schema().unwrap()
}

async fn legacy_bridge(backend: Backend) -> TestBridge {
    let sandbox = Sandbox::start(SandboxConfig::for_tests()).await.unwrap();
    let (source, issuer) = (KeyPair::random(), KeyPair::random());
    sandbox.fund(source.public_key()).await.unwrap();
    sandbox.fund(issuer.public_key()).await.unwrap();
    let db = TestDatabase::new(backend);
    db.execute(&legacy_schema(backend));
    let app = bridge::Application::build(crate::common::config(
        &db,
        &sandbox,
        &source,
        &issuer,
        |_| {},
    ))
    .await
    .unwrap_or_else(|e| panic!("{backend}: the bridge refused the legacy database: {e}"));
    let url = app.url();
    app.spawn();
    TestBridge {
        sandbox,
        url,
        source,
        issuer,
        _db: db,
    }
}

fn operation_ids(rows: &Value) -> Vec<String> {
    rows.as_array()
        .unwrap()
        .iter()
        .map(|r| r["operation_id"].as_str().unwrap().to_owned())
        .collect()
}

service::backend_tests!(a_legacy_bridge_database_is_adopted_in_place; mysql, postgres);
async fn a_legacy_bridge_database_is_adopted_in_place(backend: Backend) {
    let bridge = legacy_bridge(backend).await;

    // /admin lists the legacy received payments, newest first, as they were.
    let (status, received) = bridge.get("/admin/received-payments").await;
    assert_eq!(status, 200, "{backend}: {received}");
    assert_eq!(operation_ids(&received), ["102", "101", "100"], "{backend}");
    assert_eq!(received[0]["status"], "Processing...", "{backend}");
    assert_eq!(received[2]["status"], "Success", "{backend}");
    assert_eq!(received[2]["transaction_id"], PAID_HASH, "{backend}");
    let (status, one) = bridge
        .get(&format!(
            "/admin/received-payments/{}",
            received[2]["id"].as_i64().unwrap()
        ))
        .await;
    assert_eq!(status, 200, "{backend}: {one}");
    let (status, sent) = bridge.get("/admin/sent-transactions").await;
    assert_eq!(status, 200, "{backend}: {sent}");
    assert_eq!(sent.as_array().unwrap().len(), 2, "{backend}: {sent}");

    // A repeated /payment under a legacy payment id answers the stored outcome and
    // submits nothing, whatever the repeat says (the legacy server stored no request to
    // compare with; it resubmitted the stored envelope).
    let destination = KeyPair::random();
    bridge.sandbox.fund(destination.public_key()).await.unwrap();
    let before = bridge
        .balance(&destination.public_key(), "native")
        .await
        .unwrap();
    let dest = destination.public_key().to_string();
    for amount in ["5", "700"] {
        let (status, body) = bridge
            .pay(&[
                ("id", "legacy-paid"),
                ("destination", &dest),
                ("amount", amount),
            ])
            .await;
        assert_eq!(status, 200, "{backend}: {body}");
        assert_eq!(body["hash"], PAID_HASH, "{backend}: {body}");
        assert_eq!(body["ledger"], 12345, "{backend}: {body}");
        assert_eq!(body["result_xdr"], PAID_RESULT, "{backend}: {body}");
    }
    assert_eq!(
        bridge.balance(&destination.public_key(), "native").await,
        Some(before.clone()),
        "{backend}: a legacy payment id paid again"
    );

    // New payments go into the adopted table (wider columns, new ones with their values).
    let (status, body) = bridge
        .pay(&[
            ("id", "after-the-switch"),
            ("destination", &dest),
            ("amount", "1"),
        ])
        .await;
    assert_eq!(status, 200, "{backend}: {body}");
    assert_ne!(body["hash"], PAID_HASH);
    let (status, again) = bridge
        .pay(&[
            ("id", "after-the-switch"),
            ("destination", &dest),
            ("amount", "1"),
        ])
        .await;
    assert_eq!((status, &again["hash"]), (200, &body["hash"]), "{backend}");

    // Everything our migrations define is there; the legacy bookkeeping stays.
    let adopted = Database::connect(&bridge._db.settings())
        .unwrap()
        .schema()
        .unwrap();
    let missing = adopted.missing_from(&fresh_schema(backend));
    assert!(missing.is_empty(), "{backend}: missing {missing:?}");
    assert!(
        adopted.tables["sent_transaction"]
            .indexes
            .contains_key("payment_id_unique")
    );
    assert_eq!(bridge._db.count("gorp_migrations"), 4, "{backend}");

    // A restart adopts nothing twice and changes no row.
    let tables = ["received_payment", "sent_transaction", "receive_cursor"];
    let counts: Vec<i64> = tables.iter().map(|t| bridge._db.count(t)).collect();
    assert_eq!(counts[..2], [3, 3], "{backend}");
    let (_, sent_before) = bridge.get("/admin/sent-transactions").await;
    let applied = Database::connect(&bridge._db.settings())
        .unwrap()
        .migrate(bridge::migrations())
        .unwrap();
    assert!(applied.is_empty(), "{backend}: applied again: {applied:?}");
    let (url, _) = bridge.restart(|_| {}).await;
    let restarted = TestBridge { url, ..bridge };
    let (_, received_after) = restarted.get("/admin/received-payments").await;
    let (_, sent_after) = restarted.get("/admin/sent-transactions").await;
    assert_eq!(received_after, received, "{backend}");
    assert_eq!(sent_after, sent_before, "{backend}");
    let counts_after: Vec<i64> = tables.iter().map(|t| restarted._db.count(t)).collect();
    assert_eq!(counts_after, counts, "{backend}");
    assert_eq!(restarted._db.count("gorp_migrations"), 4, "{backend}");
    let (status, body) = restarted
        .pay(&[
            ("id", "legacy-paid"),
            ("destination", &dest),
            ("amount", "5"),
        ])
        .await;
    assert_eq!(
        (status, &body["hash"]),
        (200, &Value::from(PAID_HASH)),
        "{backend}"
    );
}

service::backend_tests!(a_half_adopted_legacy_database_is_finished_on_the_next_start; mysql, postgres);
async fn a_half_adopted_legacy_database_is_finished_on_the_next_start(backend: Backend) {
    let db = TestDatabase::new(backend);
    db.execute(&legacy_schema(backend));
    // What a crash part-way through adoption leaves on MySQL (which commits each DDL
    // statement): some columns and tables there, the rest missing, nothing recorded.
    let partial = match backend {
        Backend::Mysql => {
            "ALTER TABLE sent_transaction ADD COLUMN request_digest VARCHAR(64);
             ALTER TABLE received_payment ADD COLUMN account VARCHAR(56) NOT NULL;
             CREATE INDEX sent_transaction_by_transaction_id ON sent_transaction (transaction_id);"
        }
        _ => {
            "ALTER TABLE sent_transaction ADD COLUMN request_digest VARCHAR(64);
             ALTER TABLE received_payment ADD COLUMN account VARCHAR(56) NOT NULL DEFAULT '';
             CREATE INDEX sent_transaction_by_transaction_id ON sent_transaction (transaction_id);"
        }
    };
    db.execute(partial);
    let database = Database::connect(&db.settings()).unwrap();
    let applied = database.migrate(bridge::migrations()).unwrap();
    // Every migration is recorded: the legacy schema had none of ours.
    assert_eq!(
        applied.len(),
        bridge::migrations().sql.mysql.len(),
        "{backend}: {applied:?}"
    );
    let missing = database
        .schema()
        .unwrap()
        .missing_from(&fresh_schema(backend));
    assert!(missing.is_empty(), "{backend}: missing {missing:?}");
    assert_eq!(db.count("received_payment"), 3, "{backend}");
    assert_eq!(db.count("sent_transaction"), 2, "{backend}");
    assert!(database.migrate(bridge::migrations()).unwrap().is_empty());
}

/// The payments the sandbox holds for `account`, oldest first: (operation id, paging token).
async fn payments_of(
    sandbox: &sandbox::RunningSandbox,
    account: &KeyPair,
) -> Vec<(String, String)> {
    let body: Value = reqwest::get(format!(
        "{}/accounts/{}/payments?limit=200&order=asc",
        sandbox.url(),
        account.public_key()
    ))
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    body["_embedded"]["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["id"].as_str().unwrap().to_owned(),
                r["paging_token"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

service::backend_tests!(the_listener_resumes_after_the_newest_legacy_payment; mysql, postgres);
/// On the first start on an adopted legacy database, with no `[receiving] start_cursor`, the
/// legacy receiving account's listener starts after the newest `received_payment` row, as the
/// legacy bridge would have: what came before it (here the account's creation, which the
/// legacy bridge never recorded, and the legacy row itself) is not recorded again; what came
/// after it (a payment made while neither bridge ran, and one after the start) is.
async fn the_listener_resumes_after_the_newest_legacy_payment(backend: Backend) {
    use stellar_base::transaction::Operation;
    use stellar_base::{Asset, Memo};

    let sandbox = Sandbox::start(SandboxConfig::for_tests()).await.unwrap();
    let (source, issuer, receiver) = (KeyPair::random(), KeyPair::random(), KeyPair::random());
    for key in [&source, &issuer, &receiver] {
        sandbox.fund(key.public_key()).await.unwrap();
    }
    let db = TestDatabase::new(backend);
    let mut harness = TestBridge {
        sandbox,
        url: String::new(),
        source,
        issuer,
        _db: db,
    };
    let pay = |memo: &'static str| {
        let op = Operation::payment(
            receiver.public_key().into(),
            &Asset::Native,
            "1".parse().unwrap(),
        );
        (Memo::Text(memo.into()), vec![op])
    };
    let (memo, ops) = pay("seen by the legacy bridge");
    harness.submit_ops(&harness.source.clone(), memo, ops).await;
    let (memo, ops) = pay("during the switch");
    harness.submit_ops(&harness.source.clone(), memo, ops).await;
    let before = payments_of(&harness.sandbox, &receiver).await;
    let [created, legacy, gap] = <[(String, String); 3]>::try_from(before).unwrap();

    // The legacy bridge recorded up to `legacy` (its rows 100..102 are older still).
    harness._db.execute(&legacy_schema(backend));
    harness._db.execute(&format!(
        "INSERT INTO received_payment (operation_id, processed_at, paging_token, status, transaction_id) \
         VALUES ('{}', '2019-03-04 10:00:00', '{}', 'Success', 'N/A');",
        legacy.0, legacy.1
    ));
    let office = crate::common::BackOffice::start().await;
    let app = bridge::Application::build(crate::common::config(
        &harness._db,
        &harness.sandbox,
        &harness.source,
        &harness.issuer,
        |c| {
            crate::common::receiving_config(c, &receiver.public_key(), &office);
            // As a legacy bridge.cfg has it: no start_cursor.
            c.receiving.start_cursor = bridge::receive::ReceiveSettings::default().start_cursor;
        },
    ))
    .await
    .unwrap_or_else(|e| panic!("{backend}: {e}"));
    let receiving = app.receiving();
    harness.url = app.url();
    app.spawn();

    let delivered = |office: &crate::common::BackOffice| -> Vec<String> {
        office
            .calls_to("/receive")
            .iter()
            .map(|c| c.form["id"].clone())
            .collect()
    };
    office
        .wait_for(20, "the payment made during the switch", |calls| {
            calls.iter().any(|c| c.form.get("id") == Some(&gap.0))
        })
        .await;
    let (memo, ops) = pay("after the switch");
    harness.submit_ops(&harness.source.clone(), memo, ops).await;
    let after = payments_of(&harness.sandbox, &receiver).await[3].clone();
    office
        .wait_for(20, "the payment made after the start", |calls| {
            calls.iter().any(|c| c.form.get("id") == Some(&after.0))
        })
        .await;

    let account = receiver.public_key().to_string();
    let ours: Vec<String> = receiving
        .store()
        .all(&account)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.operation_id)
        .collect();
    assert_eq!(ours, [gap.0.clone(), after.0.clone()], "{backend}");
    assert_eq!(
        delivered(&office),
        [gap.0.clone(), after.0.clone()],
        "{backend}"
    );
    assert!(
        !ours.contains(&created.0) && !ours.contains(&legacy.0),
        "{backend}"
    );
    // The legacy row is still the legacy bridge's, once.
    assert_eq!(harness._db.count("received_payment"), 4 + 2, "{backend}");
    receiving.shutdown().await;

    // A restart resumes from the stored cursor: nothing is recorded or delivered again.
    let (_url, restarted) = harness
        .restart(|c| {
            crate::common::receiving_config(c, &receiver.public_key(), &office);
            c.receiving.start_cursor = bridge::receive::ReceiveSettings::default().start_cursor;
        })
        .await;
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!(
        restarted.store().all(&account).await.unwrap().len(),
        2,
        "{backend}"
    );
    assert_eq!(delivered(&office).len(), 2, "{backend}");
    restarted.shutdown().await;
}
