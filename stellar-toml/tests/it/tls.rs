//! HTTPS with a private CA: a self-signed CA made in the test, trusted only through
//! `extra_ca_file`.

use crate::common;

use std::io::Write;

use common::{TOML, overridden, resolver, start_with};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use stellar_toml::{Error, StellarTomlSettings, Url};

/// A CA (returned as PEM) and a TLS server config for `localhost` signed by it.
fn private_pki() -> (String, rustls::ServerConfig) {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "stellar-toml test CA");
    ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);

    let server_key = KeyPair::generate().unwrap();
    let mut server_params = CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
    server_params
        .distinguished_name
        .push(DnType::CommonName, "localhost");
    let server_cert = server_params.signed_by(&server_key, &issuer).unwrap();

    stellar_toml::install_crypto_provider();
    let config = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(
            vec![CertificateDer::from(server_cert.der().to_vec())],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(server_key.serialize_der())),
        )
        .unwrap();
    (ca_cert.pem(), config)
}

#[actix_web::test]
async fn an_https_override_works_only_with_the_extra_ca() {
    let (ca_pem, tls) = private_pki();
    let server = start_with(TOML, Some(tls));
    let toml_url = format!(
        "https://localhost:{}/.well-known/stellar.toml",
        server.addr.port()
    );

    let without_ca = resolver(&overridden("tls.test", &toml_url));
    let refused = without_ca.stellar_toml("tls.test").await;
    assert!(
        matches!(&refused, Err(Error::Transport(m)) if m.contains("certificate")),
        "{refused:?}"
    );
    assert_eq!(server.hits("/.well-known/stellar.toml"), 0);

    let mut ca_file = tempfile::NamedTempFile::new().unwrap();
    ca_file.write_all(ca_pem.as_bytes()).unwrap();
    let with_ca = resolver(&StellarTomlSettings {
        extra_ca_file: Some(ca_file.path().to_owned()),
        ..overridden("tls.test", &toml_url)
    });
    let toml = with_ca.stellar_toml("tls.test").await.unwrap();
    assert_eq!(toml.version.as_deref(), Some("2.7.0"));

    // The trusted client shares the extra CA.
    let body = with_ca
        .trusted_client()
        .get(&toml_url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(body, TOML);
    assert!(
        without_ca
            .trusted_client()
            .get(&toml_url)
            .send()
            .await
            .is_err()
    );
    server.stop().await;
}

#[actix_web::test]
async fn https_to_localhost_needs_allow_private_addresses() {
    let (ca_pem, tls) = private_pki();
    let server = start_with(TOML, Some(tls));
    let target = Url::parse(&format!(
        "https://localhost:{}/.well-known/stellar.toml",
        server.addr.port()
    ))
    .unwrap();
    let mut ca_file = tempfile::NamedTempFile::new().unwrap();
    ca_file.write_all(ca_pem.as_bytes()).unwrap();
    let guarded = resolver(&StellarTomlSettings {
        extra_ca_file: Some(ca_file.path().to_owned()),
        ..StellarTomlSettings::default()
    });
    assert!(matches!(
        guarded.get("example.com", &target, 1024).await,
        Err(Error::RefusedAddress(_))
    ));
    let intranet = resolver(&StellarTomlSettings {
        extra_ca_file: Some(ca_file.path().to_owned()),
        allow_private_addresses: true,
        ..StellarTomlSettings::default()
    });
    let answer = intranet.get("example.com", &target, 1024).await.unwrap();
    assert_eq!(
        (answer.status, answer.body.as_slice()),
        (200, TOML.as_bytes())
    );
    server.stop().await;
}

#[test]
fn an_unusable_ca_file_is_a_config_error() {
    let empty = tempfile::NamedTempFile::new().unwrap();
    for path in [empty.path().to_owned(), "/nonexistent/ca.pem".into()] {
        let settings = StellarTomlSettings {
            extra_ca_file: Some(path),
            ..StellarTomlSettings::default()
        };
        assert!(matches!(
            stellar_toml::Resolver::new(&settings),
            Err(Error::Config(_))
        ));
    }
}
