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

use actix_web::body::BoxBody;
use actix_web::dev::{Server, ServerHandle, ServiceRequest, ServiceResponse};
use actix_web::middleware::{self, Next};
use actix_web::{App, HttpResponse, HttpServer, ResponseError, web};
use diesel_migrations::{EmbeddedMigrations, embed_migrations};
use horizon::HorizonClient;
use service::Database;
use service::database::BackendMigrations;
use service::http::{ErrorBody, jsonify_errors, limits, not_found, request_context};
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
    let settings = config.database.clone();
    Ok(
        tokio::task::spawn_blocking(move || Database::connect(&settings)?.migrate(migrations()))
            .await
            .map_err(|e| StartupError::Config(e.to_string()))??,
    )
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

async fn health(
    state: web::Data<State>,
    receiving: Option<web::Data<receive::Receiving>>,
) -> HttpResponse {
    if state.store.database().is_healthy().await {
        let mut body = serde_json::json!({"status": "ok"});
        if let Some(receiving) = receiving {
            body["listeners"] = receiving.health().await;
        }
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(ErrorBody::new("unhealthy", "database unreachable"))
    }
}

/// A running bridge: bound, not yet awaited.
pub struct Application {
    server: Server,
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
        let db = {
            let settings = config.database.clone();
            tokio::task::spawn_blocking(move || {
                let db = Database::connect(&settings)?;
                db.migrate(migrations())?;
                Ok::<_, service::DbError>(db)
            })
            .await
            .map_err(|e| invalid(&e))??
        };
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
        let server = HttpServer::new(move || {
            App::new()
                .app_data(state.clone())
                .configure(|c| limits(c, max_body))
                .wrap(middleware::from_fn(service::http::reject_invalid_utf8))
                .wrap(middleware::from_fn(require_api_key))
                .wrap(jsonify_errors())
                .wrap(middleware::from_fn(request_context))
                .route("/payment", web::post().to(payment::payment))
                .route("/builder", web::post().to(builder::builder))
                .route("/create-keypair", web::post().to(create_keypair))
                .route("/authorize", web::post().to(authorize))
                .route("/health", web::get().to(health))
                .route("/metrics", web::get().to(service::metrics::render))
                .configure(|c| routes.configure(c))
                .default_service(web::to(not_found))
        })
        .disable_signals()
        .shutdown_timeout(grace)
        .listen(listener)?
        .run();
        tracing::info!(%address, "bridge listening");
        Ok(Self {
            server,
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
        self.run_until(service::http::shutdown_signal()).await
    }

    /// Serves until `signal`, then stops the HTTP side (in-flight requests may finish) and the
    /// receiving side (listeners at once; receive callbacks in flight may finish) together,
    /// both within `shutdown_grace_seconds`; callbacks still unanswered then leave their
    /// payments `pending` for the next start.
    ///
    /// # Errors
    /// When the listener fails.
    pub async fn run_until(
        self,
        signal: impl std::future::Future<Output = ()>,
    ) -> std::io::Result<()> {
        let handle = self.server.handle();
        let mut server = std::pin::pin!(self.server);
        tokio::select! {
            result = &mut server => {
                self.receiving.shutdown().await;
                return result;
            }
            () = signal => {}
        }
        tracing::info!("stopping: HTTP requests and receive callbacks in flight may finish");
        let ((), result, ()) =
            tokio::join!(handle.stop(true), &mut server, self.receiving.shutdown());
        tracing::info!("stopped");
        result
    }

    /// Spawns the server on the current runtime (tests, embedding).
    pub fn spawn(self) -> ServerHandle {
        let handle = self.server.handle();
        tokio::spawn(self.server);
        handle
    }
}
