//! SEP-3 compliance: both sides of the signed attachment exchange.
//!
//! The external port is the AUTH_SERVER other banks call (`POST /`, and SEP-4 `GET /tx_status`
//! when enabled); the internal port is what our own bridge calls to ask another bank (`/send`),
//! to read the attachment of a received payment (`/receive`), and to manage the allow lists.

pub mod callbacks;
pub mod config;
pub mod error;
mod external;
pub mod form;
mod internal;
pub mod protocol;
pub mod schema;
pub mod store;

use std::net::SocketAddr;

use actix_web::dev::{Server, ServerHandle};
use actix_web::middleware::{self, Next};
use actix_web::{App, HttpResponse, HttpServer, web};
use diesel_migrations::{EmbeddedMigrations, embed_migrations};
use service::Database;
use service::database::BackendMigrations;
use service::http::{ErrorBody, jsonify_errors, limits, not_found, public_cors, request_context};
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
}

pub use service::StartupError;

/// Connects to the database and applies pending migrations (`--migrate-db`).
///
/// # Errors
/// When the database is unreachable or a migration fails.
pub async fn migrate(config: &ComplianceConfig) -> Result<Vec<String>, StartupError> {
    let settings = config.database.clone();
    let applied = tokio::task::spawn_blocking(move || {
        let db = Database::connect(&settings)?;
        db.migrate(migrations())
    })
    .await
    .map_err(|e| StartupError::Config(e.to_string()))??;
    Ok(applied)
}

async fn health(state: web::Data<State>) -> HttpResponse {
    if state.store.database().is_healthy().await {
        HttpResponse::Ok().json(serde_json::json!({"status": "ok"}))
    } else {
        HttpResponse::ServiceUnavailable().json(ErrorBody::new("unhealthy", "database unreachable"))
    }
}

/// Refuses internal requests without the configured API key.
async fn require_api_key(
    req: actix_web::dev::ServiceRequest,
    next: Next<actix_web::body::BoxBody>,
) -> Result<actix_web::dev::ServiceResponse<actix_web::body::BoxBody>, actix_web::Error> {
    let expected = req
        .app_data::<web::Data<ApiKey>>()
        .and_then(|k| k.0.clone());
    if let Some(expected) = expected
        && req.path() != "/health"
    {
        let given = service::auth::presented_key(req.request()).unwrap_or_default();
        if !service::auth::keys_match(&expected, &given) {
            let res = HttpResponse::Unauthorized().json(ErrorBody::new(
                "unauthorized",
                "a valid X-API-Key header is required",
            ));
            return Ok(req.into_response(res));
        }
    }
    next.call(req).await
}

struct ApiKey(Option<String>);

/// A running compliance server: both ports bound, not yet awaited.
pub struct Application {
    external: Server,
    internal: Server,
    external_address: SocketAddr,
    internal_address: SocketAddr,
    tls: bool,
    handles: Vec<ServerHandle>,
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
        config
            .validate()
            .map_err(|e| StartupError::Config(e.to_string()))?;
        let db = {
            let settings = config.database.clone();
            tokio::task::spawn_blocking(move || {
                let db = Database::connect(&settings)?;
                db.migrate(migrations())?;
                Ok::<_, service::DbError>(db)
            })
            .await
            .map_err(|e| StartupError::Config(e.to_string()))??
        };
        let resolver =
            Resolver::new(&config.stellar_toml).map_err(|e| StartupError::Config(e.to_string()))?;
        let tls = config
            .tls
            .as_ref()
            .map(service::tls::server_config)
            .transpose()
            .map_err(|e| StartupError::Config(e.to_string()))?;
        let state = web::Data::new(State {
            store: Store::new(db),
            federation: federation::FederationClient::new(resolver.clone()),
            callbacks: Callbacks::new(resolver.trusted_client(), config.callbacks.clone()),
            resolver,
            network: Network::new(config.network_passphrase.clone()),
            signing_key: config.keys.signing_seed.clone(),
            needs_auth: config.needs_auth,
            tx_status_auth: config.tx_status_auth.clone(),
        });
        let max_body = config.max_body_bytes;

        let external_listener =
            service::http::bind(&config.external_bind_address, config.external_port)?;
        let external_address = service::http::local_addr(&external_listener);
        let with_tx_status = config.tx_status_auth.is_some();
        let external_state = state.clone();
        let external = HttpServer::new(move || {
            let app = App::new()
                .app_data(external_state.clone())
                .configure(|c| limits(c, max_body))
                .wrap(middleware::from_fn(service::http::reject_invalid_utf8))
                .wrap(middleware::from_fn(public_cors))
                .wrap(jsonify_errors())
                .wrap(middleware::from_fn(request_context))
                .route("/", web::post().to(external::authorize))
                .route("/health", web::get().to(health));
            let app = if with_tx_status {
                app.route("/tx_status", web::get().to(external::tx_status))
            } else {
                app
            };
            app.default_service(web::to(not_found))
        })
        .disable_signals()
        .shutdown_timeout(10);
        let is_tls = tls.is_some();
        let external = match tls {
            Some(tls) => external.listen_rustls_0_23(external_listener, tls)?,
            None => external.listen(external_listener)?,
        }
        .run();

        let internal_listener =
            service::http::bind(&config.internal_bind_address, config.internal_port)?;
        let internal_address = service::http::local_addr(&internal_listener);
        let api_key = web::Data::new(ApiKey(config.api_key.clone()));
        let internal = HttpServer::new(move || {
            App::new()
                .app_data(state.clone())
                .app_data(api_key.clone())
                .configure(|c| limits(c, max_body))
                .wrap(middleware::from_fn(service::http::reject_invalid_utf8))
                .wrap(middleware::from_fn(require_api_key))
                .wrap(jsonify_errors())
                .wrap(middleware::from_fn(request_context))
                .route("/send", web::post().to(internal::send))
                .route("/receive", web::post().to(internal::receive))
                .route("/allow_access", web::post().to(internal::allow_access))
                .route("/remove_access", web::post().to(internal::remove_access))
                .route("/health", web::get().to(health))
                .route("/metrics", web::get().to(service::metrics::render))
                .default_service(web::to(not_found))
        })
        .disable_signals()
        .shutdown_timeout(10)
        .listen(internal_listener)?
        .run();
        tracing::info!(%external_address, %internal_address, tls = is_tls, "compliance server listening");
        let handles = vec![external.handle(), internal.handle()];
        Ok(Self {
            external,
            internal,
            external_address,
            internal_address,
            tls: is_tls,
            handles,
        })
    }

    /// The AUTH_SERVER base URL.
    pub fn external_url(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}", self.external_address)
    }

    /// The internal base URL.
    pub fn internal_url(&self) -> String {
        format!("http://{}", self.internal_address)
    }

    /// Serves until SIGINT/SIGTERM, then drains in-flight requests.
    ///
    /// # Errors
    /// When a listener fails.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let stopper = tokio::spawn(service::http::stop_on(
            self.handles.clone(),
            service::http::shutdown_signal(),
        ));
        let result = tokio::try_join!(self.external, self.internal).map(|_| ());
        stopper.abort();
        result
    }

    /// Spawns both servers on the current runtime (tests, embedding).
    pub fn spawn(self) -> Vec<ServerHandle> {
        tokio::spawn(self.external);
        tokio::spawn(self.internal);
        self.handles
    }
}
