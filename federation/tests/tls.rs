//! In-process TLS from the legacy `[tls]` section, verified by a client that trusts a private
//! CA only through the `extra_ca_file` option.

mod common;

use std::collections::BTreeMap;

use diesel::connection::SimpleConnection;
use federation::config::Queries;
use federation::{Application, FederationConfig};
use service::database::{Backend, Database};
use service::testing::TestDatabase;
use service::tls::TlsSettings;
use stellar_toml::{Resolver, StellarTomlSettings};

const BOB: &str = "GD2GJPL3UOK5LX7TWXOACK2ZPWPFSLBNKL3GTGH6BLBNISK4BGWMFBBG";

#[tokio::test]
async fn federation_serves_https_that_the_extra_ca_option_trusts() {
    let dir = tempfile::tempdir().unwrap();
    let pki = common::private_pki(dir.path());
    let (ca_file, tls) = (
        pki.ca,
        TlsSettings {
            certificate_file: pki.cert,
            private_key_file: pki.key,
        },
    );
    let db = TestDatabase::new(Backend::Sqlite);
    Database::connect(&db.settings())
        .unwrap()
        .run_blocking(|conn| {
            conn.batch_execute(&format!(
                "CREATE TABLE people (id TEXT, name TEXT, domain TEXT);
                 INSERT INTO people VALUES ('{BOB}', 'bob', 'bank.test');"
            ))?;
            Ok(())
        })
        .unwrap();
    let app = Application::build(FederationConfig {
        port: 0,
        bind_address: "127.0.0.1".into(),
        database: db.settings(),
        queries: Queries {
            federation: "SELECT id FROM people WHERE name = ? AND domain = ?".into(),
            reverse_federation: None,
            forward: None,
        },
        tls: Some(tls),
        log_format: Default::default(),
        metrics_port: None,
        max_body_bytes: 16 * 1024,
    })
    .await
    .unwrap();
    assert!(app.url().starts_with("https://"));
    let url = format!(
        "https://localhost:{}/federation?q=bob*bank.test&type=name",
        app.address().port()
    );
    let _handles = app.spawn();

    let without_ca = Resolver::new(&StellarTomlSettings::default()).unwrap();
    assert!(without_ca.trusted_client().get(&url).send().await.is_err());

    let with_ca = Resolver::new(&StellarTomlSettings {
        extra_ca_file: Some(ca_file),
        overrides: BTreeMap::new(),
        ..StellarTomlSettings::default()
    })
    .unwrap();
    let body: serde_json::Value = with_ca
        .trusted_client()
        .get(&url)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["account_id"], BOB);
}
