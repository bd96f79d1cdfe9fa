//! In-process TLS from the legacy `[tls]` section, verified by a client that trusts a private
//! CA only through the `extra_ca_file` option.

use crate::common;

use std::collections::BTreeMap;

use federation::Application;
use federation::testing::{BOB, config, people, queries};
use service::database::Backend;
use service::tls::TlsSettings;
use stellar_toml::{Resolver, StellarTomlSettings};

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
    let db = people(Backend::Sqlite);
    let mut config = config(&db, queries());
    config.tls = Some(tls);
    let app = Application::build(config).await.unwrap();
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
