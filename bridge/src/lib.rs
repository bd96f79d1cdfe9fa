//! The bridge server: the payment API for apps (`/payment`, `/authorize`, `/create-keypair`)
//! on top of an exactly-once submitter.

mod builder;
mod compliance;
pub mod config;
pub mod error;
pub mod payment;
pub mod receive;
pub mod schema;
pub mod store;
pub mod submitter;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use actix_web::body::BoxBody;
use actix_web::dev::{ServerHandle, ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{HttpResponse, ResponseError, web};
use diesel_migrations::{EmbeddedMigrations, embed_migrations};
use horizon::HorizonClient;
use service::database::{BackendMigrations, DatabaseSettings};
use service::http::Health;
use service::server::{Running, ServerConfig};
use service::telemetry::LogFormat;
use stellar_base::transaction::{Operation, flags};
use stellar_base::{Asset, KeyPair, Network, PublicKey, TransactionBuilder};
use stellar_toml::Resolver;
use url::Url;

pub use config::BridgeConfig;

use crate::error::Error;
use crate::payment::{Fields, field, respond};
use crate::store::Store;
use crate::submitter::{Draft, Submitter};

const SQLITE: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
const MYSQL: EmbeddedMigrations = embed_migrations!("migrations/mysql");
const POSTGRES: EmbeddedMigrations = embed_migrations!("migrations/postgres");

/// The bridge migrations for every backend.
pub fn migrations() -> BackendMigrations {
    BackendMigrations {
        sqlite: SQLITE,
        mysql: MYSQL,
        postgres: POSTGRES,
        sql: service::migration_sql![
            "2026-11-21-000001_sent_transaction",
            "2026-11-21-000002_received_payment",
        ],
    }
}

/// What the handlers share.
pub struct State {
    submitter: Submitter,
    federation: federation::FederationClient,
    http: reqwest::Client,
    compliance: Option<Url>,
    compliance_api_key: Option<String>,
    base_seed: Option<KeyPair>,
    authorizing_seed: Option<KeyPair>,
    issuing_account: Option<PublicKey>,
    assets: Vec<Asset>,
    api_key: Option<String>,
    store: Store,
    base_fee: u32,
    builder_timeout: u64,
}

impl std::fmt::Debug for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("bridge::State")
    }
}

pub use service::StartupError;

/// Connects to the database and applies pending migrations (`--migrate-db`).
///
/// # Errors
/// When the database is unreachable or a migration fails.
pub async fn migrate(config: &BridgeConfig) -> Result<Vec<String>, StartupError> {
    let (_, applied) = service::server::open_database::<Application>(&config.database).await?;
    Ok(applied)
}

/// Requires the API key, when one is configured, on every endpoint but `/health`: from
/// `X-API-Key`, `Authorization: Bearer` or the legacy `apiKey` form field. Wrong or missing is
/// 403, as legacy.
async fn require_api_key(
    mut req: ServiceRequest,
    next: Next<BoxBody>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let expected = req
        .app_data::<web::Data<State>>()
        .and_then(|s| s.api_key.clone());
    let Some(expected) = expected.filter(|_| req.path() != "/health") else {
        return next.call(req).await;
    };
    let mut given = service::auth::presented_key(req.request());
    let is_form = req
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if given.is_none() && is_form {
        let body = req.extract::<web::Bytes>().await?;
        given = url::form_urlencoded::parse(&body)
            .find(|(k, _)| k == "apiKey")
            .map(|(_, v)| v.into_owned());
        req.set_payload(actix_web::dev::Payload::from(body));
    }
    if given.is_some_and(|g| service::auth::keys_match(&expected, &g)) {
        next.call(req).await
    } else {
        Ok(req.into_response(Error::forbidden().error_response()))
    }
}

/// `POST /create-keypair`: a fresh random key pair.
async fn create_keypair() -> HttpResponse {
    let key = KeyPair::random();
    HttpResponse::Ok().json(serde_json::json!({
        "public_key": key.public_key().to_string(),
        "private_key": key.secret_seed(),
    }))
}

/// `POST /authorize`: authorizes `account_id`'s trustline to one of our assets.
async fn authorize(
    state: web::Data<State>,
    form: web::Form<Fields>,
) -> Result<HttpResponse, Error> {
    let (Some(key), Some(issuer)) = (state.authorizing_seed.clone(), state.issuing_account) else {
        let missing: Vec<&str> = [
            (
                state.authorizing_seed.is_none(),
                "accounts.authorizing_seed",
            ),
            (
                state.issuing_account.is_none(),
                "accounts.issuing_account_id",
            ),
        ]
        .into_iter()
        .filter_map(|(absent, key)| absent.then_some(key))
        .collect();
        return Err(Error::not_configured("/authorize", &missing));
    };
    let trustor: PublicKey = field(&form, "account_id")
        .ok_or_else(|| Error::missing("account_id"))?
        .parse()
        .map_err(|_| {
            Error::invalid(
                "account_id",
                "Account ID must start with `G` and contain 56 alphanum characters.",
            )
        })?;
    let code = field(&form, "asset_code").ok_or_else(|| Error::missing("asset_code"))?;
    let asset =
        Asset::credit(code, issuer).map_err(|e| Error::invalid("asset_code", e.to_string()))?;
    if !state.assets.contains(&asset) {
        return Err(Error::asset_not_allowed());
    }
    let source = key.public_key();
    let operation =
        Operation::set_trust_line_flags(trustor, &asset, 0, flags::TRUSTLINE_AUTHORIZED)
            .with_source(issuer.into());
    let draft = Draft {
        source,
        signers: vec![key],
        build: Arc::new(move |sequence, fee, max_time| {
            TransactionBuilder::new(source.into(), sequence)
                .base_fee(fee)
                .time_bounds(0, max_time)
                .operation(operation.clone())
                .build()
        }),
    };
    respond(state.submitter.send(&draft, None, None).await)
}

/// A running bridge: bound, not yet awaited.
pub struct Application {
    running: Running,
    address: SocketAddr,
    receiving: receive::Receiving,
}

impl std::fmt::Debug for Application {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "bridge::Application({})", self.address)
    }
}

impl Application {
    /// Connects and migrates the database and binds the port.
    ///
    /// # Errors
    /// [`StartupError`] naming what to fix.
    pub async fn build(config: BridgeConfig) -> Result<Self, StartupError> {
        let invalid = |e: &dyn std::fmt::Display| StartupError::Config(e.to_string());
        config.validate().map_err(|e| invalid(&e))?;
        let (db, _) = service::server::open_database::<Self>(&config.database).await?;
        let store = Store::new(db);
        let resolver = Resolver::new(&config.stellar_toml).map_err(|e| invalid(&e))?;
        let horizon =
            HorizonClient::new(&config.horizon, &config.horizon_client).map_err(|e| invalid(&e))?;
        let assets = config
            .assets
            .iter()
            .map(|a| a.asset())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| invalid(&e))?;
        receive::check_accounts(&config, &horizon)
            .await
            .map_err(|e| invalid(&e))?;
        let for_receiving = (horizon.clone(), assets.clone(), store.database().clone());
        let db_for_health = store.database().clone();
        let state = web::Data::new(State {
            submitter: Submitter::new(
                horizon,
                Network::new(config.network_passphrase.clone()),
                store.clone(),
                config.base_fee,
                config.transaction_timeout_seconds,
                std::time::Duration::from_secs(config.pending_wait_seconds),
            ),
            federation: federation::FederationClient::new(resolver.clone()),
            http: resolver.trusted_client(),
            compliance: config.compliance.clone().map(|mut url| {
                if !url.path().ends_with('/') {
                    url.set_path(&format!("{}/", url.path()));
                }
                url
            }),
            compliance_api_key: config.compliance_api_key.clone(),
            base_seed: config.accounts.base_seed.clone(),
            authorizing_seed: config.accounts.authorizing_seed.clone(),
            issuing_account: config.accounts.issuing_account_id,
            assets,
            api_key: config.api_key.clone(),
            store,
            base_fee: config.base_fee,
            builder_timeout: config.builder_timeout_seconds,
        });
        let listener = service::http::bind(&config.bind_address, config.port)?;
        let address = service::http::local_addr(&listener);
        let max_body = config.max_body_bytes;
        let grace = config.shutdown_grace_seconds;
        let (horizon, assets, db) = for_receiving;
        let receiving =
            receive::Receiving::start(&config, db, horizon, assets).map_err(|e| invalid(&e))?;
        let routes = receiving.clone();
        let listeners = receiving.clone();
        let health = Health::with(db_for_health, "listeners", move || {
            let receiving = listeners.clone();
            async move { receiving.health().await }
        });
        let factory = move || {
            service::http::app(max_body, health.clone(), require_api_key)
                .app_data(state.clone())
                .route("/payment", web::post().to(payment::payment))
                .route("/builder", web::post().to(builder::builder))
                .route("/create-keypair", web::post().to(create_keypair))
                .route("/authorize", web::post().to(authorize))
                .route("/metrics", web::get().to(service::metrics::render))
                .configure(|c| routes.configure(c))
        };
        let server = service::http::serve(factory, listener, None, grace)?;
        tracing::info!(%address, "bridge listening");
        let stopping = receiving.clone();
        Ok(Self {
            running: Running::new(Duration::from_secs(grace))
                .listener(server)
                .worker(async move { stopping.shutdown().await }),
            address,
            receiving,
        })
    }

    /// The receiving side (listeners, delivery worker, their store).
    pub fn receiving(&self) -> receive::Receiving {
        self.receiving.clone()
    }

    /// The base URL.
    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// Serves until SIGINT/SIGTERM, then stops within `shutdown_grace_seconds` (see
    /// [`Application::run_until`]).
    ///
    /// # Errors
    /// When the listener fails.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.running.run_until_stopped().await
    }

    /// Serves until `signal`, then stops the HTTP side (in-flight requests may finish) and the
    /// receiving side (listeners at once; receive callbacks in flight may finish) together,
    /// both within `shutdown_grace_seconds` ([`Running::run_until`]); callbacks still
    /// unanswered then leave their payments `pending` for the next start.
    ///
    /// # Errors
    /// When the listener fails.
    pub async fn run_until(
        self,
        signal: impl std::future::Future<Output = ()>,
    ) -> std::io::Result<()> {
        self.running.run_until(signal).await
    }

    /// Spawns the server on the current runtime (tests, embedding).
    pub fn spawn(self) -> Vec<ServerHandle> {
        self.running.spawn()
    }
}

impl service::server::Server for Application {
    const NAME: &'static str = "bridge";
    type Config = BridgeConfig;

    fn migrations() -> Option<BackendMigrations> {
        Some(migrations())
    }

    fn build(config: BridgeConfig) -> impl Future<Output = Result<Self, StartupError>> {
        Self::build(config)
    }

    fn listening(&self) -> String {
        format!("bridge listening on {}", self.url())
    }

    fn into_running(self) -> Running {
        self.running
    }
}

impl ServerConfig for BridgeConfig {
    fn load(file: Option<&std::path::Path>) -> Result<Self, service::ConfigError> {
        Self::load(file)
    }

    fn log_format(&self) -> LogFormat {
        self.log_format
    }

    fn database(&self) -> &DatabaseSettings {
        &self.database
    }

    fn warnings(&self) -> Vec<String> {
        Self::warnings(self)
    }
}
