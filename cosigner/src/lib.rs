//! The co-signer: an independent second key for the bank's payments.
//!
//! It runs on its own host with its own key and database, and signs a transaction only when
//! a configured client asked for it (a signed, fresh request) and every rule of its own policy
//! holds: payments only, from the accounts it guards, within per-payment and per-day limits,
//! finite and short time bounds, a capped fee, no denied destination, and one payment per
//! payment id. With the distribution account's thresholds set so that the bridge's key alone
//! is not enough, a compromised bridge can take at most what these limits allow.
//! See `docs/cosigning.md`.
//!
//! - [`protocol`]: the wire types and request signatures (the bridge's client uses them);
//! - [`policy`]: the rules a transaction alone decides;
//! - [`store`]: the rules its history decides (the day's totals, the payment id), and the
//!   decision log;
//! - [`api`]: `POST /sign`, `GET /decisions`.

pub mod api;
pub mod config;
pub mod error;
pub mod policy;
pub mod protocol;
pub mod schema;
pub mod store;
#[cfg(feature = "testing")]
pub mod testing;

use std::net::SocketAddr;
use std::time::Duration;

use actix_web::body::BoxBody;
use actix_web::dev::{ServerHandle, ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::web;
use diesel_migrations::{EmbeddedMigrations, embed_migrations};
use service::StartupError;
use service::database::BackendMigrations;
use service::http::Health;
use service::server::Running;

pub use api::Clock;
pub use config::CosignerConfig;

const SQLITE: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
const MYSQL: EmbeddedMigrations = embed_migrations!("migrations/mysql");
const POSTGRES: EmbeddedMigrations = embed_migrations!("migrations/postgres");

/// How long requests in flight may take to finish once the server is told to stop.
const GRACE_SECONDS: u64 = 10;

/// The co-signer's migrations for every backend.
pub fn migrations() -> BackendMigrations {
    BackendMigrations {
        sqlite: SQLITE,
        mysql: MYSQL,
        postgres: POSTGRES,
        sql: service::migration_sql!["2026-12-04-000001_init"],
    }
}

/// A running co-signer: its port bound, not yet awaited.
pub struct Application {
    running: Running,
    address: SocketAddr,
}

impl std::fmt::Debug for Application {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "cosigner::Application({})", self.address)
    }
}

/// The admin key on everything but `/sign` (which the client's signature authenticates) and
/// `/health`.
async fn admin_gate(
    req: ServiceRequest,
    next: Next<BoxBody>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    if req.path() == "/sign" {
        next.call(req).await
    } else {
        service::auth::require_key(req, next).await
    }
}

impl Application {
    /// Connects and migrates the database, then binds the port.
    ///
    /// # Errors
    /// [`StartupError`] naming what to fix.
    pub async fn build(config: CosignerConfig) -> Result<Self, StartupError> {
        Self::build_with_clock(config, Clock::default()).await
    }

    /// As [`Application::build`], counting days by `clock` (tests move it to the next day).
    ///
    /// # Errors
    /// As [`Application::build`].
    pub async fn build_with_clock(
        config: CosignerConfig,
        clock: Clock,
    ) -> Result<Self, StartupError> {
        service::metrics::install();
        config
            .validate()
            .map_err(|e| StartupError::Config(e.to_string()))?;
        let policy =
            policy::Policy::new(&config).map_err(|e| StartupError::Config(e.to_string()))?;
        let (db, _) = service::server::open_database::<Self>(&config.database).await?;
        let sqlite_lock = db.lock_single_instance().map_err(StartupError::Config)?;
        let health = Health::new(db.clone());
        let state = web::Data::new(api::State {
            policy,
            store: store::Store::new(db),
            key: config.signing_seed.clone(),
            clients: config
                .clients
                .iter()
                .map(|c| (c.public_key, c.name.clone()))
                .collect(),
            max_request_age: config.max_request_age_seconds,
            clock,
            early_log: service::rate_limit::RateLimiter::new(&api::early_log_limits()),
        });
        let admin_key = web::Data::new(service::auth::RequiredKey::new(
            config.admin_key.clone(),
            actix_web::http::StatusCode::UNAUTHORIZED,
            "a valid X-API-Key header (the admin key) is required",
        ));
        let limits = service::http::BodyLimits::new(
            config.max_body_bytes,
            config.request_body_timeout_seconds,
        );
        let listener = service::http::bind(&config.bind_address, config.port)?;
        let address = service::http::local_addr(&listener);
        let app = move || {
            service::http::app(limits, health.clone(), admin_gate)
                .app_data(state.clone())
                .app_data(admin_key.clone())
                .route("/sign", web::post().to(api::sign))
                .route("/decisions", web::get().to(api::decisions))
                .route("/metrics", web::get().to(service::metrics::render))
        };
        let server = service::http::serve(app, listener, None, GRACE_SECONDS)?;
        tracing::info!(
            %address,
            key = %config.signing_seed.public_key(),
            accounts = config.accounts.len(),
            clients = config.clients.len(),
            "co-signer listening"
        );
        Ok(Self {
            running: Running::new(Duration::from_secs(GRACE_SECONDS))
                .listener(server)
                .worker(async move { drop(sqlite_lock) }),
            address,
        })
    }

    /// The base URL.
    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// Spawns the server on the current runtime (tests, embedding).
    pub fn spawn(self) -> Vec<ServerHandle> {
        self.running.spawn()
    }
}

impl service::server::Server for Application {
    const NAME: &'static str = "cosigner";
    type Config = CosignerConfig;

    fn migrations() -> Option<BackendMigrations> {
        Some(migrations())
    }

    fn build(config: CosignerConfig) -> impl Future<Output = Result<Self, StartupError>> {
        Self::build(config)
    }

    fn listening(&self) -> String {
        format!("cosigner listening: {}", self.url())
    }

    fn into_running(self) -> Running {
        self.running
    }
}

service::server_config!(CosignerConfig, "COSIGNER", warnings);
