//! The compliance path end to end: bridge A → compliance A → compliance B (with its back
//! office and federation) → approval → payment on the sandbox. Ok, pending then ok on repeat,
//! and denied.

mod common;

use common::banks::{COMPLIANCE_KEY, Web, compliance_config};
use diesel::connection::SimpleConnection;
use service::database::Database;
use service::testing::TestDatabase;
use stellar_base::KeyPair;
#[tokio::test]
async fn compliance_payments_are_approved_retried_and_denied() {
    for backend in service::testing::backends() {
        let web = Web::default();
        let web_base = web.start();
        let (key_a, key_b) = (KeyPair::random(), KeyPair::random());
        let (db_a, db_b, db_fed) = (
            TestDatabase::new(backend),
            TestDatabase::new(backend),
            TestDatabase::new(backend),
        );
        let bob = KeyPair::random().public_key();

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

        // Approved at once.
        web.set("/b/sanctions", &[(200, "")]);
        let (status, body) = pay("c-ok").await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(
            bridge.balance(&bob, "native").await.unwrap(),
            "10025.0000000"
        );
        // Bank B can read the attachment by the memo the ledger shows.
        let tx = bridge.transaction(body["hash"].as_str().unwrap()).await;
        assert_eq!(tx["memo_type"], "hash");
        let memo = tx["memo"].as_str().unwrap();
        let received = reqwest::Client::new()
            .post(format!("{b_internal}/receive"))
            .header("x-api-key", COMPLIANCE_KEY)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(
                url::form_urlencoded::Serializer::new(String::new())
                    .append_pair("memo", memo)
                    .finish(),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(received.status(), 200);
        let received: serde_json::Value = received.json().await.unwrap();
        assert!(
            received["data"]
                .as_str()
                .unwrap()
                .contains("alice*bank-a.test")
        );

        // Pending, then approved on repeat: paid once.
        web.set("/b/sanctions", &[(202, r#"{"pending":5}"#), (200, "")]);
        let (status, body) = pay("c-pending").await;
        assert_eq!(
            (status, body["code"].as_str()),
            (202, Some("pending")),
            "{body}"
        );
        assert_eq!(body["data"]["pending"], 5);
        assert_eq!(
            bridge.balance(&bob, "native").await.unwrap(),
            "10025.0000000"
        );
        let (status, body) = pay("c-pending").await;
        assert_eq!(status, 200, "{body}");
        let (status, again) = pay("c-pending").await;
        assert_eq!((status, &again["hash"]), (200, &body["hash"]));
        assert_eq!(
            bridge.balance(&bob, "native").await.unwrap(),
            "10050.0000000"
        );

        // Denied.
        web.set("/b/sanctions", &[(403, "")]);
        let (status, body) = pay("c-denied").await;
        assert_eq!(
            (status, body["code"].as_str()),
            (403, Some("denied")),
            "{body}"
        );
        assert_eq!(
            bridge.balance(&bob, "native").await.unwrap(),
            "10050.0000000"
        );

        // Without extra_memo the standard path pays the federation answer, memo included.
        let (status, body) = bridge
            .pay(&[
                ("destination", "bob*bank-b.test"),
                ("amount", "1"),
                ("id", "fed-1"),
            ])
            .await;
        assert_eq!(status, 200, "{body}");
        let tx = bridge.transaction(body["hash"].as_str().unwrap()).await;
        assert_eq!(
            (tx["memo_type"].as_str(), tx["memo"].as_str()),
            (Some("text"), Some("bob"))
        );
        assert_eq!(
            bridge.balance(&bob, "native").await.unwrap(),
            "10051.0000000"
        );
        let (status, body) = bridge
            .pay(&[
                ("destination", "bob*bank-b.test"),
                ("amount", "1"),
                ("memo_type", "id"),
                ("memo", "5"),
            ])
            .await;
        assert_eq!(
            (status, body["code"].as_str()),
            (400, Some("cannot_use_memo")),
            "{body}"
        );
        let (status, body) = bridge
            .pay(&[("destination", "nobody*bank-b.test"), ("amount", "1")])
            .await;
        assert_eq!(
            (status, body["code"].as_str()),
            (400, Some("cannot_resolve_destination")),
            "{body}"
        );
    }
}
