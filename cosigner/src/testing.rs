//! A co-signer started in-process on loopback, for tests (feature `testing`).

use actix_web::dev::ServerHandle;
use service::database::DatabaseSettings;
use stellar_base::{KeyPair, PublicKey};

use crate::config::{Client, CosignerConfig, Limit};
use crate::{Application, Clock};

/// The admin key of every test co-signer.
pub const ADMIN_KEY: &str = "cosigner-admin-key-0123456789";

/// A running co-signer.
#[derive(Debug)]
pub struct TestCosigner {
    /// Its base URL.
    pub url: String,
    /// Its key.
    pub key: KeyPair,
    /// Its day clock.
    pub clock: Clock,
    handles: Vec<ServerHandle>,
}

/// A configuration guarding `account` for `client`, with an XLM limit of `per_payment` and
/// `per_day` lumens, on the database at `database_url`.
pub fn config(
    database_url: &str,
    passphrase: &str,
    account: PublicKey,
    client: PublicKey,
    (per_payment, per_day): (&str, &str),
) -> CosignerConfig {
    CosignerConfig {
        port: 0,
        bind_address: "127.0.0.1".into(),
        horizon: None,
        network_passphrase: passphrase.into(),
        signing_seed: KeyPair::random(),
        database: DatabaseSettings::from_url(database_url),
        accounts: vec![account],
        clients: vec![Client {
            name: "bank-a-bridge".into(),
            public_key: client,
        }],
        limits: vec![Limit {
            asset_code: "XLM".into(),
            asset_issuer: String::new(),
            per_payment: per_payment.parse().expect("an amount"),
            per_day: per_day.parse().expect("an amount"),
        }],
        deny: Vec::new(),
        max_fee: 10_000,
        max_validity_seconds: 300,
        max_request_age_seconds: 60,
        admin_key: Some(service::Secret::new(ADMIN_KEY.into())),
        allow_unauthenticated: false,
        log_format: service::telemetry::LogFormat::default(),
        max_body_bytes: 64 * 1024,
        request_body_timeout_seconds: 5,
    }
}

impl TestCosigner {
    /// Starts a co-signer with `config` on the current runtime.
    ///
    /// # Panics
    /// When it cannot start.
    pub async fn start(config: CosignerConfig) -> Self {
        let key = config.signing_seed.clone();
        let clock = Clock::default();
        let app = Application::build_with_clock(config, clock.clone())
            .await
            .expect("the co-signer starts");
        let url = app.url();
        Self {
            url,
            key,
            clock,
            handles: app.spawn(),
        }
    }

    /// Stops it (as a crash would: nothing more is answered).
    pub async fn stop(&self) {
        for handle in &self.handles {
            handle.stop(false).await;
        }
    }
}
