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

use actix_web::dev::{Server, ServerHandle};
use actix_web::http::StatusCode;
use actix_web::middleware::{self, DefaultHeaders};
use actix_web::{App, HttpResponse, HttpServer, ResponseError, web};
use service::Database;
use service::http::{ErrorBody, jsonify_errors, limits, not_found, public_cors, request_context};
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

async fn health(db: web::Data<Database>) -> HttpResponse {
    if db.is_healthy().await {
        HttpResponse::Ok().json(serde_json::json!({"status": "ok"}))
    } else {
        HttpResponse::ServiceUnavailable().json(ErrorBody::new("unhealthy", "database unreachable"))
    }
}

/// A running federation server: bound, with its address known, not yet awaited.
pub struct Application {
    server: Server,
    address: SocketAddr,
    metrics_address: Option<SocketAddr>,
    tls: bool,
    handles: Vec<ServerHandle>,
    metrics_server: Option<Server>,
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
        config
            .validate()
            .map_err(|e| StartupError::Config(e.to_string()))?;
        let db = {
            let settings = config.database.clone();
            tokio::task::spawn_blocking(move || Database::connect(&settings))
                .await
                .map_err(|e| StartupError::Config(e.to_string()))??
        };
        let store = {
            let (db, queries) = (db.clone(), config.queries.clone());
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
        let db_data = web::Data::new(db);
        let max_body = config.max_body_bytes;
        let factory = move || {
            App::new()
                .app_data(store.clone())
                .app_data(db_data.clone())
                .configure(|c| limits(c, max_body))
                .wrap(middleware::from_fn(service::http::reject_invalid_utf8))
                .wrap(middleware::from_fn(public_cors))
                .wrap(DefaultHeaders::new().add(("Cache-Control", "no-store")))
                .wrap(jsonify_errors())
                .wrap(middleware::from_fn(request_context))
                .route("/federation", web::get().to(lookup))
                .route("/federation/", web::get().to(lookup))
                .route("/health", web::get().to(health))
                .default_service(web::to(not_found))
        };
        let http = HttpServer::new(factory)
            .disable_signals()
            .shutdown_timeout(10);
        let is_tls = tls.is_some();
        let server = match tls {
            Some(tls) => http.listen_rustls_0_23(listener, tls)?,
            None => http.listen(listener)?,
        }
        .run();
        let mut handles = vec![server.handle()];
        let (metrics_server, metrics_address) = match config.metrics_port {
            Some(port) => {
                let listener = service::http::bind("127.0.0.1", port)?;
                let addr = service::http::local_addr(&listener);
                let server = HttpServer::new(|| {
                    App::new().route("/metrics", web::get().to(service::metrics::render))
                })
                .disable_signals()
                .workers(1)
                .listen(listener)?
                .run();
                handles.push(server.handle());
                (Some(server), Some(addr))
            }
            None => (None, None),
        };
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
            server,
            address,
            metrics_address,
            tls: is_tls,
            handles,
            metrics_server,
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
        self.handles.clone()
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
        let result = match self.metrics_server {
            Some(metrics) => tokio::try_join!(self.server, metrics).map(|_| ()),
            None => self.server.await,
        };
        stopper.abort();
        result
    }

    /// Spawns the server on the current runtime (for tests and embedding).
    pub fn spawn(self) -> Vec<ServerHandle> {
        let handles = self.handles.clone();
        let server = self.server;
        tokio::spawn(server);
        if let Some(metrics) = self.metrics_server {
            tokio::spawn(metrics);
        }
        handles
    }
}
