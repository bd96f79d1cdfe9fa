//! SEP-3 compliance: both sides of the signed attachment exchange.
//!
//! The external port is the AUTH_SERVER other banks call (`POST /`, and SEP-4 `GET /tx_status`
//! when enabled); the internal port is what our own bridge calls to ask another bank (`/send`),
//! to read the attachment of a received payment (`/receive`), and to manage the allow lists.

pub mod callbacks;
pub mod config;
pub mod console;
pub mod error;
mod external;
pub mod form;
mod internal;
pub mod protocol;
pub mod schema;
pub mod sep31;
pub mod store;
pub mod web_auth;

use std::net::SocketAddr;
use std::time::Duration;

use actix_web::dev::ServerHandle;
use actix_web::web;
use diesel_migrations::{EmbeddedMigrations, embed_migrations};
use service::database::BackendMigrations;
use service::http::Health;
use service::server::Running;
use stellar_base::{KeyPair, Network};
use stellar_toml::Resolver;

pub use config::ComplianceConfig;

use crate::callbacks::Callbacks;
use crate::config::BasicAuth;
use crate::store::Store;

const SQLITE: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
const MYSQL: EmbeddedMigrations = embed_migrations!("migrations/mysql");
const POSTGRES: EmbeddedMigrations = embed_migrations!("migrations/postgres");

/// The compliance migrations for every backend.
pub fn migrations() -> BackendMigrations {
    BackendMigrations {
        sqlite: SQLITE,
        mysql: MYSQL,
        postgres: POSTGRES,
        sql: service::migration_sql![
            "2026-11-21-000001_init",
            "2026-11-30-000001_auth_data_request_digest",
            "2026-12-01-000001_wide_text",
            "2026-12-05-000001_console",
            "2026-12-06-000001_sep31",
        ],
    }
}

/// What the handlers share.
#[derive(Debug)]
pub struct State {
    store: Store,
    resolver: Resolver,
    federation: federation::FederationClient,
    callbacks: Callbacks,
    network: Network,
    signing_key: KeyPair,
    needs_auth: bool,
    tx_status_auth: Option<BasicAuth>,
    /// Paying SEP-31 anchors.
    sep31: sep31::send::Sending,
}

pub use service::StartupError;

/// How long requests in flight may take to finish once the server is told to stop.
const GRACE_SECONDS: u64 = 10;

/// Connects to the database and applies pending migrations (`--migrate-db`).
///
/// # Errors
/// When the database is unreachable or a migration fails.
pub async fn migrate(config: &ComplianceConfig) -> Result<Vec<String>, StartupError> {
    let (_, applied) = service::server::open_database::<Application>(&config.database).await?;
    Ok(applied)
}

/// A running compliance server: both ports bound, not yet awaited.
pub struct Application {
    running: Running,
    console_address: Option<SocketAddr>,
    external_address: SocketAddr,
    internal_address: SocketAddr,
    tls: bool,
}

impl std::fmt::Debug for Application {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "compliance::Application(external {}, internal {})",
            self.external_address, self.internal_address
        )
    }
}

impl Application {
    /// Connects and migrates the database, then binds both ports.
    ///
    /// # Errors
    /// [`StartupError`] naming what to fix.
    pub async fn build(config: ComplianceConfig) -> Result<Self, StartupError> {
        service::metrics::install();
        config
            .validate()
            .map_err(|e| StartupError::Config(e.to_string()))?;
        let (db, _) = service::server::open_database::<Self>(&config.database).await?;
        // Held until the server has stopped: a second instance on one SQLite file refuses.
        let sqlite_lock = db.lock_single_instance().map_err(StartupError::Config)?;
        let resolver =
            Resolver::new(&config.stellar_toml).map_err(|e| StartupError::Config(e.to_string()))?;
        let tls = config
            .tls
            .as_ref()
            .map(service::tls::server_config)
            .transpose()
            .map_err(|e| StartupError::Config(e.to_string()))?;
        let health = Health::new(db.clone());
        let console_store = Store::new(db.clone());
        let peering_store = sep31::store::PeeringStore::new(db.clone());
        let network = Network::new(config.network_passphrase.clone());
        let callbacks = Callbacks::new(resolver.trusted_client(), config.callbacks.clone());
        let anchor = match &config.peering.anchor {
            None => None,
            Some(settings) => Some(web::Data::new(sep31::Anchor {
                web_auth_domain: sep31::web_auth_domain(&settings.web_auth_endpoint),
                settings: settings.clone(),
                signing_key: config.keys.signing_seed.clone(),
                network: network.clone(),
                store: peering_store.clone(),
                horizon: settings
                    .horizon
                    .as_ref()
                    .map(|url| {
                        horizon::HorizonClient::with_client(
                            url.as_str(),
                            &horizon::HorizonSettings::default(),
                            resolver.trusted_client(),
                        )
                    })
                    .transpose()
                    .map_err(|e| StartupError::Config(format!("peering.anchor.horizon: {e}")))?,
                callbacks: callbacks.clone(),
            })),
        };
        let state = web::Data::new(State {
            store: Store::new(db),
            federation: federation::FederationClient::new(resolver.clone()),
            callbacks,
            sep31: sep31::send::Sending {
                client: sep31::client::AnchorClient::new(
                    resolver.clone(),
                    config.keys.signing_seed.clone(),
                    network.clone(),
                ),
                store: peering_store,
                prefer: config.peering.prefer,
            },
            resolver,
            network,
            signing_key: config.keys.signing_seed.clone(),
            needs_auth: config.needs_auth,
            tx_status_auth: config.tx_status_auth.clone(),
        });
        let max_body = service::http::BodyLimits::new(
            config.max_body_bytes,
            config.request_body_timeout_seconds,
        );

        let external_listener =
            service::http::bind(&config.external_bind_address, config.external_port)?;
        let external_address = service::http::local_addr(&external_listener);
        let with_tx_status = config.tx_status_auth.is_some();
        let (external_state, external_health) = (state.clone(), health.clone());
        let (external_anchor, internal_anchor) = (anchor.clone(), anchor);
        let is_tls = tls.is_some();
        let limiter = service::rate_limit::RateLimiter::new(&config.rate_limit);
        let external = move || {
            let limiter = limiter.clone();
            let gate =
                move |req, next| service::rate_limit::public_gate(limiter.clone(), req, next);
            let app = service::http::app(max_body, external_health.clone(), gate)
                .app_data(external_state.clone())
                .route("/", web::post().to(external::authorize))
                .configure(|c| sep31::configure_external(external_anchor.clone(), c));
            if with_tx_status {
                app.route("/tx_status", web::get().to(external::tx_status))
            } else {
                app
            }
        };
        let external = service::http::serve(external, external_listener, tls, GRACE_SECONDS)?;

        let internal_listener =
            service::http::bind(&config.internal_bind_address, config.internal_port)?;
        let internal_address = service::http::local_addr(&internal_listener);
        let api_key = web::Data::new(service::auth::RequiredKey::new(
            config.api_key.clone(),
            actix_web::http::StatusCode::UNAUTHORIZED,
            "a valid X-API-Key header is required",
        ));
        let internal = move || {
            service::http::app(max_body, health.clone(), service::auth::require_key)
                .app_data(state.clone())
                .app_data(api_key.clone())
                .route("/send", web::post().to(internal::send))
                .route("/receive", web::post().to(internal::receive))
                .route("/allow_access", web::post().to(internal::allow_access))
                .route("/remove_access", web::post().to(internal::remove_access))
                .route("/metrics", web::get().to(service::metrics::render))
                .route("/sep31/status", web::post().to(internal::sep31_status))
                .configure(|c| sep31::configure_internal(internal_anchor.clone(), c))
        };
        let internal = service::http::serve(internal, internal_listener, None, GRACE_SECONDS)?;
        tracing::info!(%external_address, %internal_address, tls = is_tls, "compliance server listening");
        let mut running = Running::new(Duration::from_secs(GRACE_SECONDS))
            .listener(external)
            .listener(internal);
        let mut console_address = None;
        if let Some(port) = config.console.port {
            let console = service::console::Console::new(
                config.console.clone(),
                console_store.database().clone(),
                "Compliance",
                console::NAV.to_vec(),
            );
            let listener = service::http::bind(&config.console.bind_address, port)?;
            console_address = Some(service::http::local_addr(&listener));
            let body =
                service::http::BodyLimits::new(64 * 1024, config.request_body_timeout_seconds);
            let factory = move || {
                let store = console_store.clone();
                service::console::app(console.clone(), body, |c| console::configure(store, c))
            };
            running = running.listener(service::http::serve(
                factory,
                listener,
                None,
                GRACE_SECONDS,
            )?);
            tracing::info!(address = ?console_address, "compliance console listening");
        }
        Ok(Self {
            console_address,
            running: running.worker(async move { drop(sqlite_lock) }),
            external_address,
            internal_address,
            tls: is_tls,
        })
    }

    /// The AUTH_SERVER base URL.
    pub fn external_url(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}", self.external_address)
    }

    /// The console's base URL, when `[console]` has a port.
    pub fn console_url(&self) -> Option<String> {
        self.console_address.map(|a| format!("http://{a}"))
    }

    /// The internal base URL.
    pub fn internal_url(&self) -> String {
        format!("http://{}", self.internal_address)
    }

    /// Serves until SIGINT/SIGTERM, then drains in-flight requests on both ports (see
    /// [`Running::run_until`]).
    ///
    /// # Errors
    /// When a listener fails.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.running.run_until_stopped().await
    }

    /// Spawns both servers on the current runtime (tests, embedding).
    pub fn spawn(self) -> Vec<ServerHandle> {
        self.running.spawn()
    }
}

impl service::server::Server for Application {
    const NAME: &'static str = "compliance";
    type Config = ComplianceConfig;

    fn migrations() -> Option<BackendMigrations> {
        Some(migrations())
    }

    fn build(config: ComplianceConfig) -> impl Future<Output = Result<Self, StartupError>> {
        Self::build(config)
    }

    fn listening(&self) -> String {
        format!(
            "compliance listening: external {} internal {}",
            self.external_url(),
            self.internal_url()
        )
    }

    fn into_running(self) -> Running {
        self.running
    }
}

service::server_config!(ComplianceConfig, "COMPLIANCE", warnings);
