//! The receiving side of the compliance path: a payment sent by bank A's bridge through
//! compliance A and B reaches bank B's receive callback with `route` and `data` from the
//! attachment that bank B's compliance server stored.

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use diesel::connection::SimpleConnection;
use service::database::{Backend, Database};
use service::testing::TestDatabase;
use stellar_base::KeyPair;
use stellar_toml::StellarTomlSettings;

const COMPLIANCE_KEY: &str = "compliance-internal-key";

/// Answers queued per path: the last one repeats.
type Answers = Arc<Mutex<HashMap<String, Vec<(u16, String)>>>>;

/// Serves fixed bodies by path, with a queue of (status, body) per path for scripted answers.
#[derive(Clone, Default)]
struct Web {
    files: Answers,
}

impl Web {
    fn start(&self) -> String {
        let files = self.files.clone();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = HttpServer::new(move || {
            let files = files.clone();
            App::new().default_service(web::to(move |req: HttpRequest| {
                let answer = {
                    let mut files = files.lock().unwrap();
                    match files.get_mut(req.path()) {
                        Some(queue) if queue.len() > 1 => Some(queue.remove(0)),
                        Some(queue) => queue.first().cloned(),
                        None => None,
                    }
                };
                async move {
                    match answer {
                        Some((status, body)) => HttpResponse::build(
                            actix_web::http::StatusCode::from_u16(status).unwrap(),
                        )
                        .body(body),
                        None => HttpResponse::NotFound().finish(),
                    }
                }
            }))
        })
        .workers(1)
        .listen(listener)
        .unwrap()
        .run();
        tokio::spawn(server);
        format!("http://{addr}")
    }

    fn set(&self, path: &str, answers: &[(u16, &str)]) {
        self.files.lock().unwrap().insert(
            path.into(),
            answers.iter().map(|(s, b)| (*s, b.to_string())).collect(),
        );
    }
}

fn compliance_config(
    db: &TestDatabase,
    key: &KeyPair,
    passphrase: &str,
    web_base: &str,
    callbacks: bool,
) -> compliance::ComplianceConfig {
    let url = |p: &str| callbacks.then(|| format!("{web_base}/{p}").parse().unwrap());
    compliance::ComplianceConfig {
        external_port: 0,
        internal_port: 0,
        external_bind_address: "127.0.0.1".into(),
        internal_bind_address: "127.0.0.1".into(),
        needs_auth: false,
        network_passphrase: passphrase.into(),
        log_format: Default::default(),
        database: db.settings(),
        keys: compliance::config::Keys {
            signing_seed: key.clone(),
            encryption_key: None,
        },
        callbacks: compliance::config::Callbacks {
            sanctions: url("b/sanctions"),
            ask_user: None,
            fetch_info: url("a/fetch_info"),
            tx_status: None,
        },
        tls: None,
        tx_status_auth: None,
        stellar_toml: StellarTomlSettings {
            overrides: [
                (
                    "bank-a.test".to_owned(),
                    format!("{web_base}/bank-a.test/.well-known/stellar.toml"),
                ),
                (
                    "bank-b.test".to_owned(),
                    format!("{web_base}/bank-b.test/.well-known/stellar.toml"),
                ),
            ]
            .into(),
            ..StellarTomlSettings::default()
        },
        api_key: Some(COMPLIANCE_KEY.into()),
        max_body_bytes: 64 * 1024,
    }
}

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
