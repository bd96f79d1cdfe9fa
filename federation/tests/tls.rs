//! In-process TLS from the legacy `[tls]` section, verified by a client that trusts a private
//! CA only through the `extra_ca_file` option.

use std::collections::BTreeMap;

use diesel::connection::SimpleConnection;
use federation::config::Queries;
use federation::{Application, FederationConfig};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use service::database::{Backend, Database};
use service::testing::TestDatabase;
use service::tls::TlsSettings;
use stellar_toml::{Resolver, StellarTomlSettings};

const BOB: &str = "GD2GJPL3UOK5LX7TWXOACK2ZPWPFSLBNKL3GTGH6BLBNISK4BGWMFBBG";

/// Writes a CA and a `localhost` certificate signed by it; returns (ca, cert, key) paths.
fn private_pki(dir: &std::path::Path) -> (std::path::PathBuf, TlsSettings) {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "federation test CA");
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca, ca_key);
    let key = KeyPair::generate().unwrap();
    let cert = CertificateParams::new(vec!["localhost".to_owned()])
        .unwrap()
        .signed_by(&key, &issuer)
        .unwrap();
    let paths = (
        dir.join("ca.pem"),
        dir.join("cert.pem"),
        dir.join("key.pem"),
    );
    std::fs::write(&paths.0, ca_cert.pem()).unwrap();
    std::fs::write(&paths.1, cert.pem()).unwrap();
    std::fs::write(&paths.2, key.serialize_pem()).unwrap();
    (
        paths.0,
        TlsSettings {
            certificate_file: paths.1,
            private_key_file: paths.2,
        },
    )
}

#[tokio::test]
async fn federation_serves_https_that_the_extra_ca_option_trusts() {
    let dir = tempfile::tempdir().unwrap();
    let (ca_file, tls) = private_pki(dir.path());
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
