//! The federation server: `GET /federation?q=…&type=…` answered from the operator's SQL.
//!
//! Answers follow SEP-2: `stellar_address` is always present on name and id answers (the
//! legacy server left it out), `memo` is always a string and hash memos are base64. Every
//! response, errors and preflight included, carries `Access-Control-Allow-Origin: *` and
//! `Cache-Control: no-store`. Errors carry the legacy `code` and `message` plus SEP-2's `error`.
//!
//! Matching: the domain is bound as received, as the legacy server did, and when that finds
//! nothing and it has upper-case letters the query runs once more with it lower-cased (SEP-2
//! domains are case-insensitive): `bob*Bank.Test` finds a row stored as `Bank.Test` or as
//! `bank.test`. The name is bound exactly as received, so whether `Bob` finds `bob` is up to the
//! operator's query and column collation (MySQL's default collation ignores case, SQLite and
//! PostgreSQL do not; write `lower(name) = lower(?)` to ignore case everywhere). Answers carry
//! the address with its domain lower-cased.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use actix_web::body::BoxBody;
use actix_web::dev::{ServerHandle, ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::http::header::{CACHE_CONTROL, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{HttpResponse, ResponseError, web};
use service::database::BackendMigrations;
use service::http::Health;
use service::rate_limit::RateLimiter;
use service::server::Running;
use stellar_base::{FederationAddress, Memo, PublicKey};

use crate::config::FederationConfig;
use crate::protocol::{FederationErrorBody, FederationRecord};
use crate::store::{AccountRow, LookupError, Store};

pub use service::StartupError;

/// A federation error, rendered as `{"code","message","error"}`.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// 400 `invalid_request`: blank `q`, unknown `type`, a missing forward parameter.
    #[error("{0}")]
    InvalidRequest(String),
    /// 400 `invalid_query`: `q` is not a valid address or account id.
    #[error("{0}")]
    InvalidQuery(String),
    /// 404 `not_found`.
    #[error("Account not found")]
    NotFound,
    /// 501 `not_implemented`.
    #[error("{0}")]
    NotImplemented(String),
    /// 500 `server_error`: the cause is logged, not sent.
    #[error("An internal error occurred")]
    Internal,
}

impl ResponseError for ServerError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::InvalidRequest(_) | Self::InvalidQuery(_) => StatusCode::BAD_REQUEST,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::NotImplemented(_) => StatusCode::NOT_IMPLEMENTED,
            Self::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let code = match self {
            Self::InvalidRequest(_) => "invalid_request",
            Self::InvalidQuery(_) => "invalid_query",
            Self::NotFound => "not_found",
            Self::NotImplemented(_) => "not_implemented",
            Self::Internal => "server_error",
        };
        HttpResponse::build(self.status_code()).json(FederationErrorBody {
            code: code.into(),
            message: self.to_string(),
            error: self.to_string(),
        })
    }
}

impl From<LookupError> for ServerError {
    fn from(e: LookupError) -> Self {
        match e {
            LookupError::MissingParameter(p) => {
                Self::InvalidRequest(format!("missing forward parameter: {p}"))
            }
            LookupError::Database(e) => {
                tracing::error!(error = %e, "federation lookup failed");
                Self::Internal
            }
        }
    }
}

/// Turns a row of the operator's table into a SEP-2 answer, checking the data on the way: a
/// bad account id or memo in the table is the operator's bug, answered 500 and logged, never
/// passed on to a paying client.
fn record(stellar_address: String, row: AccountRow) -> Result<FederationRecord, ServerError> {
    let invalid = |what: String| {
        tracing::error!(%stellar_address, "federation table holds {what}");
        ServerError::Internal
    };
    row.id
        .parse::<PublicKey>()
        .map_err(|_| invalid(format!("an invalid account id {:?}", row.id)))?;
    let memo = Memo::parse(
        row.memo_type.as_deref().unwrap_or(""),
        row.memo.as_deref().unwrap_or(""),
    )
    .map_err(|e| invalid(format!("an invalid memo ({e})")))?;
    Ok(FederationRecord {
        stellar_address: Some(stellar_address),
        account_id: Some(row.id),
        memo_type: memo.value().map(|_| memo.type_name().to_owned()),
        memo: memo.value(),
    })
}

async fn lookup(
    store: web::Data<Store>,
    params: web::Query<HashMap<String, String>>,
) -> Result<HttpResponse, ServerError> {
    let kind = params.get("type").map(String::as_str).unwrap_or("");
    let q = params.get("q").map(String::as_str).unwrap_or("").trim();
    if kind != "forward" && q.is_empty() {
        return Err(ServerError::InvalidRequest("q parameter is blank".into()));
    }
    let answer = match kind {
        "name" => {
            let address: FederationAddress = q.parse().map_err(|_| {
                ServerError::InvalidQuery(
                    "Please use an address of the form name*domain.com".into(),
                )
            })?;
            // The domain as sent (`address.domain()` is lower-cased).
            let domain = q
                .split_once('*')
                .map_or(address.domain(), |(_, domain)| domain);
            let row = store.by_name(address.name(), domain).await?;
            record(address.to_string(), row.ok_or(ServerError::NotFound)?)?
        }
        "id" => {
            if !store.has_reverse() {
                return Err(ServerError::NotImplemented(
                    "id type queries are not supported".into(),
                ));
            }
            q.parse::<PublicKey>()
                .map_err(|_| ServerError::InvalidQuery("q must be an account id (G…)".into()))?;
            let (name, domain) = store.by_account(q).await?.ok_or(ServerError::NotFound)?;
            FederationRecord {
                stellar_address: Some(format!("{name}*{}", domain.to_ascii_lowercase())),
                account_id: Some(q.to_owned()),
                ..FederationRecord::default()
            }
        }
        "forward" => {
            if !store.has_forward() {
                return Err(ServerError::NotImplemented(
                    "forward type queries are not supported".into(),
                ));
            }
            let row = store.forward(&params).await?.ok_or(ServerError::NotFound)?;
            let mut answer = record(String::new(), row)?;
            answer.stellar_address = None;
            answer
        }
        "txid" => {
            return Err(ServerError::NotImplemented(
                "txid type queries are not supported".into(),
            ));
        }
        other => {
            return Err(ServerError::InvalidRequest(format!(
                "invalid type: '{other}'"
            )));
        }
    };
    Ok(HttpResponse::Ok().json(answer))
}

/// How long requests in flight may take to finish once the server is told to stop.
const GRACE_SECONDS: u64 = 10;

/// The public listener's gate: the rate limit per client, CORS, and `Cache-Control: no-store`
/// on every answer (a lookup must not be cached past a change of the operator's table).
async fn public_no_store(
    limiter: RateLimiter,
    req: ServiceRequest,
    next: Next<BoxBody>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let mut res = service::rate_limit::public_gate(limiter, req, next).await?;
    if !res.headers().contains_key(CACHE_CONTROL) {
        res.headers_mut()
            .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    Ok(res)
}

/// A running federation server: bound, with its address known, not yet awaited.
pub struct Application {
    running: Running,
    address: SocketAddr,
    metrics_address: Option<SocketAddr>,
    tls: bool,
}

impl std::fmt::Debug for Application {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "federation::Application({})", self.url())
    }
}

impl Application {
    /// Connects to the database, test-runs the queries and binds the listeners.
    ///
    /// # Errors
    /// [`StartupError`] with a message naming what to fix.
    pub async fn build(config: FederationConfig) -> Result<Self, StartupError> {
        service::metrics::install();
        config
            .validate()
            .map_err(|e| StartupError::Config(e.to_string()))?;
        let (db, _) = service::server::open_database::<Self>(&config.database).await?;
        let health = Health::new(db.clone());
        let metrics_health = health.clone();
        let store = {
            let queries = config.queries.clone();
            tokio::task::spawn_blocking(move || Store::prepare(db, &queries))
                .await
                .map_err(|e| StartupError::Config(e.to_string()))?
                .map_err(StartupError::Config)?
        };
        let tls = config
            .tls
            .as_ref()
            .map(service::tls::server_config)
            .transpose()
            .map_err(|e| StartupError::Config(e.to_string()))?;
        let listener = service::http::bind(&config.bind_address, config.port)?;
        let address = service::http::local_addr(&listener);
        let store = web::Data::new(store);
        let max_body = service::http::BodyLimits::new(
            config.max_body_bytes,
            config.request_body_timeout_seconds,
        );
        let limiter = RateLimiter::new(&config.rate_limit);
        let factory = move || {
            let limiter = limiter.clone();
            let gate = move |req, next| public_no_store(limiter.clone(), req, next);
            service::http::app(max_body, health.clone(), gate)
                .app_data(store.clone())
                .route("/federation", web::get().to(lookup))
                .route("/federation/", web::get().to(lookup))
        };
        let is_tls = tls.is_some();
        let server = service::http::serve(factory, listener, tls, GRACE_SECONDS)?;
        let mut running = Running::new(Duration::from_secs(GRACE_SECONDS)).listener(server);
        let mut metrics_address = None;
        if let Some(port) = config.metrics_port {
            // Loopback only, like the other servers' internal ports, with the same stack.
            let listener = service::http::bind("127.0.0.1", port)?;
            metrics_address = Some(service::http::local_addr(&listener));
            let health = metrics_health;
            let factory = move || {
                service::http::app(max_body, health.clone(), service::http::open_gate)
                    .route("/metrics", web::get().to(service::metrics::render))
            };
            let server = service::http::serve(factory, listener, None, GRACE_SECONDS)?;
            running = running.listener(server);
        }
        tracing::info!(%address, tls = is_tls, "federation server listening");
        if !is_tls && !service::config::is_loopback(&config.bind_address) {
            // The legacy server started the same way; say what it takes to be reachable.
            tracing::warn!(
                %address,
                "federation is served over plain HTTP on a non-loopback interface, but SEP-2 \
                 clients reach FEDERATION_SERVER only over https: put a TLS proxy in front \
                 (docs/deployment.md) or configure [tls]"
            );
        }
        Ok(Self {
            running,
            address,
            metrics_address,
            tls: is_tls,
        })
    }

    /// The bound public address (the real port when configured with 0).
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// The public base URL.
    pub fn url(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}", self.address)
    }

    /// The metrics listener's address, when enabled.
    pub fn metrics_address(&self) -> Option<SocketAddr> {
        self.metrics_address
    }

    /// Handles to stop the listeners (tests use this; the binary stops on signals).
    pub fn handles(&self) -> Vec<ServerHandle> {
        self.running.handles()
    }

    /// Serves until SIGINT/SIGTERM, then drains in-flight requests (see
    /// [`Running::run_until`]).
    ///
    /// # Errors
    /// When a listener fails.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.running.run_until_stopped().await
    }

    /// Spawns the server on the current runtime (for tests and embedding).
    pub fn spawn(self) -> Vec<ServerHandle> {
        self.running.spawn()
    }
}

impl service::server::Server for Application {
    const NAME: &'static str = "federation";
    const NO_MIGRATIONS: &'static str =
        "it reads the operator's own tables and has none to migrate";
    type Config = FederationConfig;

    fn migrations() -> Option<BackendMigrations> {
        None
    }

    fn build(config: FederationConfig) -> impl Future<Output = Result<Self, StartupError>> {
        Self::build(config)
    }

    fn listening(&self) -> String {
        format!("federation listening on {}", self.url())
    }

    fn into_running(self) -> Running {
        self.running
    }
}

service::server_config!(FederationConfig, "FEDERATION");
