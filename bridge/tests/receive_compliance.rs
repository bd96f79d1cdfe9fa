//! The receiving side of the compliance path: a payment sent by bank A's bridge through
//! compliance A and B reaches bank B's receive callback with `route` and `data` from the
//! attachment that bank B's compliance server stored.

mod common;

use common::banks::{COMPLIANCE_KEY, Web, compliance_config};
use diesel::connection::SimpleConnection;
use service::database::{Backend, Database};
use service::testing::TestDatabase;
use stellar_base::KeyPair;
#[tokio::test]
async fn a_compliance_payment_reaches_bank_b_with_route_and_data() {
    let backend = Backend::Sqlite;
    let web = Web::default();
    let web_base = web.start();
    let (key_a, key_b) = (KeyPair::random(), KeyPair::random());
    let (db_a, db_b, db_fed) = (
        TestDatabase::new(backend),
        TestDatabase::new(backend),
        TestDatabase::new(backend),
    );
    let bob_key = KeyPair::random();
    let bob = bob_key.public_key();

    // Bank B's federation: bob*bank-b.test → bob's account, route "bob".
    Database::connect(&db_fed.settings())
        .unwrap()
        .run_blocking(move |conn| {
            conn.batch_execute(&format!(
                "CREATE TABLE people (id TEXT, name TEXT, domain TEXT, memo_type TEXT, memo TEXT);
                 INSERT INTO people VALUES ('{bob}', 'bob', 'bank-b.test', 'text', 'bob');"
            ))?;
            Ok(())
        })
        .unwrap();
    let fed = federation::Application::build(federation::FederationConfig {
        port: 0,
        bind_address: "127.0.0.1".into(),
        database: db_fed.settings(),
        queries: federation::config::Queries {
            federation: "SELECT id, memo_type, memo FROM people WHERE name = ? AND domain = ?"
                .into(),
            reverse_federation: None,
            forward: Some("SELECT id, memo_type, memo FROM people WHERE name = :acct".into()),
        },
        tls: None,
        log_format: Default::default(),
        metrics_port: None,
        max_body_bytes: 16 * 1024,
    })
    .await
    .unwrap();
    let fed_url = format!("{}/federation", fed.url());
    fed.spawn();

    // The compliance servers hash for the sandbox's network.
    let mut compliance_a_url = String::new();
    let passphrase = stellar_base::Network::STANDALONE;
    let a = compliance::Application::build(compliance_config(
        &db_a, &key_a, passphrase, &web_base, true,
    ))
    .await
    .unwrap();
    let b = compliance::Application::build(compliance_config(
        &db_b, &key_b, passphrase, &web_base, true,
    ))
    .await
    .unwrap();
    compliance_a_url.push_str(&a.internal_url());
    let b_internal = b.internal_url();
    web.set(
        "/bank-a.test/.well-known/stellar.toml",
        &[(
            200,
            &format!(
                "SIGNING_KEY = \"{}\"\nAUTH_SERVER = \"{}\"\n",
                key_a.public_key(),
                a.external_url()
            ),
        )],
    );
    web.set(
        "/bank-b.test/.well-known/stellar.toml",
        &[(
            200,
            &format!(
                "SIGNING_KEY = \"{}\"\nAUTH_SERVER = \"{}\"\nFEDERATION_SERVER = \"{fed_url}\"\n",
                key_b.public_key(),
                b.external_url()
            ),
        )],
    );
    web.set("/a/fetch_info", &[(200, r#"{"first_name":"Alice"}"#)]);
    a.spawn();
    b.spawn();

    let bridge = common::TestBridge::start_with(backend, |c| {
        c.compliance = Some(compliance_a_url.parse().unwrap());
        c.compliance_api_key = Some(COMPLIANCE_KEY.into());
        c.stellar_toml.overrides = [(
            "bank-b.test".to_owned(),
            format!("{web_base}/bank-b.test/.well-known/stellar.toml"),
        )]
        .into();
    })
    .await;
    bridge.sandbox.fund(bob).await.unwrap();
    let pay = |id: &'static str| {
        let bridge = &bridge;
        async move {
            bridge
                .pay(&[
                    ("id", id),
                    ("sender", "alice*bank-a.test"),
                    ("destination", "bob*bank-b.test"),
                    ("amount", "25"),
                    ("extra_memo", "rent"),
                ])
                .await
        }
    };

    // Bank B's bridge watches bob's account and asks compliance B for attachments.
    let office = common::BackOffice::start();
    let (_b_url, _receiving, _db_bridge_b) = bridge
        .another(backend, |c| {
            common::receiving_config(c, &bob, &office);
            c.compliance = Some(b_internal.parse().unwrap());
            c.compliance_api_key = Some(COMPLIANCE_KEY.into());
            c.receiving.start_cursor = bridge::receive::StartCursor::Now;
        })
        .await;
    web.set("/b/sanctions", &[(200, "")]);
    let (status, body) = pay("c-ok").await;
    assert_eq!(status, 200, "{body}");
    office
        .wait_for(20, "bank B's receive callback", |calls| {
            calls.iter().any(|c| c.path == "/receive")
        })
        .await;
    let call = &office.calls_to("/receive")[0];
    assert_eq!(call.form["route"], "bob");
    assert_eq!(call.form["memo_type"], "hash");
    assert_eq!(call.form["amount"], "25.0000000");
    assert_eq!(call.form["transaction_id"], body["hash"].as_str().unwrap());
    let data: serde_json::Value = serde_json::from_str(&call.form["data"]).unwrap();
    assert_eq!(data["sender"], "alice*bank-a.test");
    let attachment: serde_json::Value =
        serde_json::from_str(data["attachment"].as_str().unwrap()).unwrap();
    assert_eq!(attachment["transaction"]["extra"], "rent");
}
