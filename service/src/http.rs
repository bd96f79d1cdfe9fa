//! HTTP scaffolding every server mounts: [`app`], the application each listener starts from
//! (the JSON error shape, also for actix's own errors; body limits; request ids with one log
//! line per request; CORS for public listeners; `/health`), [`serve`], binding (port 0 works)
//! and the shutdown signal.

use std::net::{SocketAddr, TcpListener};
use std::time::{Duration, Instant};

use std::pin::Pin;
use std::sync::Arc;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{Server, ServerHandle, ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::{self, ErrorHandlerResponse, ErrorHandlers, Next};
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, ResponseError, web};
use serde::Serialize;
use tracing::Instrument;

/// The error body all three servers send: `{"code","message","more_info"?,"data"?}`, the shape
/// the legacy servers used, so existing clients keep parsing it.
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq)]
pub struct ErrorBody {
    /// Machine-readable, stable.
    pub code: String,
    /// For humans.
    pub message: String,
    /// Details about what exactly was wrong (often the parameter).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub more_info: Option<String>,
    /// Structured details.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<serde_json::Value>,
}

impl ErrorBody {
    /// A body with a code and message.
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            code: code.into(),
            message: message.into(),
            more_info: None,
            data: None,
        }
    }
}

/// A JSON error response.
pub fn json_error(status: StatusCode, body: &ErrorBody) -> HttpResponse {
    HttpResponse::build(status).json(body)
}

fn code_for(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 => "bad_request",
        401 => "unauthorized",
        403 => "forbidden",
        404 => "not_found",
        405 => "method_not_allowed",
        408 => "request_timeout",
        413 => "payload_too_large",
        415 => "unsupported_media_type",
        429 => "too_many_requests",
        500..=599 => "internal_server_error",
        _ => "error",
    }
}

/// Turns the plain-text error responses actix produces itself (no route, wrong method, a body
/// that is too large or malformed) into [`ErrorBody`] JSON, so clients only ever parse one
/// shape.
pub fn jsonify_errors<B: MessageBody + 'static>() -> ErrorHandlers<B> {
    ErrorHandlers::new().default_handler(|res: ServiceResponse<B>| {
        let is_json = res
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/json"));
        if is_json {
            return Ok(ErrorHandlerResponse::Response(res.map_into_left_body()));
        }
        let mut status = res.status();
        let message = match res.response().error() {
            Some(e) if status.is_client_error() => e.to_string(),
            _ => status.canonical_reason().unwrap_or("error").to_owned(),
        };
        // A body cut by its deadline, read by an extractor without its own error handler.
        if message.contains(BODY_TIMED_OUT) {
            status = StatusCode::REQUEST_TIMEOUT;
        }
        let (req, mut old) = res.into_parts();
        let mut new = HttpResponse::build(status).json(ErrorBody::new(code_for(status), message));
        for (name, value) in old.headers_mut().drain() {
            if let Some(name) = name
                && name != header::CONTENT_TYPE
                && name != header::CONTENT_LENGTH
            {
                new.headers_mut().insert(name, value);
            }
        }
        let res = ServiceResponse::new(req, new).map_into_right_body();
        Ok(ErrorHandlerResponse::Response(res))
    })
}

/// The 404 answer for paths no route matches.
pub async fn not_found(req: HttpRequest) -> HttpResponse {
    json_error(
        StatusCode::NOT_FOUND,
        &ErrorBody::new(
            "not_found",
            format!("no such endpoint: {} {}", req.method(), req.path()),
        ),
    )
}

/// Registers body limits and JSON answers for malformed forms, queries and JSON bodies.
pub fn limits(cfg: &mut web::ServiceConfig, max_body_bytes: usize) {
    fn bad(e: &dyn ResponseError) -> actix_web::Error {
        let message = e.to_string();
        let body = ErrorBody {
            more_info: Some(message.clone()),
            ..ErrorBody::new("invalid_parameter", "the request could not be read")
        };
        // Keep actix's own status (413 for an oversized body), only the body changes; a body
        // cut by its deadline is 408.
        if message.contains(BODY_TIMED_OUT) {
            let body = ErrorBody::new("request_timeout", BODY_TIMED_OUT);
            return actix_web::error::InternalError::from_response(
                message,
                json_error(StatusCode::REQUEST_TIMEOUT, &body),
            )
            .into();
        }
        let status = match e.status_code() {
            StatusCode::PAYLOAD_TOO_LARGE => StatusCode::PAYLOAD_TOO_LARGE,
            _ => StatusCode::BAD_REQUEST,
        };
        actix_web::error::InternalError::from_response(message, json_error(status, &body)).into()
    }
    cfg.app_data(web::PayloadConfig::new(max_body_bytes))
        .app_data(
            web::FormConfig::default()
                .limit(max_body_bytes)
                .error_handler(|e, _| bad(&e)),
        )
        .app_data(
            web::JsonConfig::default()
                .limit(max_body_bytes)
                .error_handler(|e, _| bad(&e)),
        )
        .app_data(web::QueryConfig::default().error_handler(|e, _| bad(&e)));
}

/// The first field of a URL-encoded form or query whose name or value is not UTF-8, or holds a
/// NUL, once percent-decoded: its name (shown lossily) and what is wrong; `None` when every
/// field is plain text.
///
/// Actix and serde decode such bytes lossily, so `id=%FF%FE` and `id=%FE%FF` would both become
/// two replacement characters: two different payment ids collapsing into one idempotency key.
pub fn unreadable_field(encoded: &[u8]) -> Option<(String, &'static str)> {
    fn decode(part: &[u8]) -> Vec<u8> {
        let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
        let mut out = Vec::with_capacity(part.len());
        let mut i = 0;
        while i < part.len() {
            let escaped = match part.get(i..i + 3) {
                Some([b'%', h, l]) => hex(*h).zip(hex(*l)).map(|(h, l)| (h << 4) | l),
                _ => None,
            };
            match (escaped, part[i]) {
                (Some(byte), _) => {
                    out.push(byte);
                    i += 3;
                }
                (None, b'+') => {
                    out.push(b' ');
                    i += 1;
                }
                (None, b) => {
                    out.push(b);
                    i += 1;
                }
            }
        }
        out
    }
    encoded
        .split(|&b| b == b'&')
        .filter(|pair| !pair.is_empty())
        .find_map(|pair| {
            let mut halves = pair.splitn(2, |&b| b == b'=');
            let name = decode(halves.next().unwrap_or_default());
            let value = decode(halves.next().unwrap_or_default());
            let field = || String::from_utf8_lossy(&name).into_owned();
            if std::str::from_utf8(&name).is_err() || std::str::from_utf8(&value).is_err() {
                Some((field(), "is not valid UTF-8"))
            } else if name.contains(&0) || value.contains(&0) {
                // No text column of ours holds one (PostgreSQL refuses them outright), and no
                // protocol field needs one.
                Some((field(), "contains a NUL character"))
            } else {
                None
            }
        })
}

/// Middleware: 400 `invalid_parameter` for a query string or URL-encoded form body that is not
/// UTF-8 or holds a NUL character, naming the field, before any handler decodes it lossily or
/// a database refuses it.
///
/// Mount it inside the API-key check, so that unauthenticated bodies are never read.
pub async fn reject_invalid_utf8(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let mut bad = unreadable_field(req.query_string().as_bytes());
    let is_form = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.trim_start()
                .to_ascii_lowercase()
                .starts_with("application/x-www-form-urlencoded")
        });
    if bad.is_none() && is_form {
        // Read under the listener's PayloadConfig limit, then hand the same bytes on. A body
        // over the limit (or too slow) is answered here as a response, so that the JSON error
        // layer shapes it.
        let body = match req.extract::<web::Bytes>().await {
            Ok(body) => body,
            Err(error) => return Ok(req.error_response(error).map_into_boxed_body()),
        };
        bad = unreadable_field(&body);
        req.set_payload(actix_web::dev::Payload::from(body));
    }
    if let Some((field, why)) = bad {
        let body = ErrorBody {
            more_info: Some(format!("field {field:?} {why}")),
            data: Some(serde_json::json!({ "name": field })),
            ..ErrorBody::new("invalid_parameter", "Invalid parameter.")
        };
        return Ok(req.into_response(json_error(StatusCode::BAD_REQUEST, &body)));
    }
    Ok(next.call(req).await?.map_into_boxed_body())
}

/// How much of a request body a listener reads, and for how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BodyLimits {
    /// Largest accepted body (413 beyond).
    pub max_bytes: usize,
    /// How long the whole body may take to arrive, counted from the request's headers (408
    /// beyond): a slow or stalled body cannot hold a connection, and its memory, for longer.
    pub timeout: Duration,
}

impl BodyLimits {
    /// `max_bytes` within `timeout_seconds`.
    pub fn new(max_bytes: usize, timeout_seconds: u64) -> Self {
        Self {
            max_bytes,
            timeout: Duration::from_secs(timeout_seconds),
        }
    }
}

/// Connections one worker of a listener holds at once; past it that listener stops accepting
/// until some close, so a flood on a public listener exhausts neither the process's file
/// descriptors nor the other listeners (each has its own workers and cap).
pub const MAX_CONNECTIONS_PER_WORKER: usize = 2_048;

/// The default of every server's `request_body_timeout_seconds`.
pub const DEFAULT_BODY_TIMEOUT_SECONDS: u64 = 5;

/// The serde default of every server's `request_body_timeout_seconds`.
pub fn default_body_timeout_seconds() -> u64 {
    DEFAULT_BODY_TIMEOUT_SECONDS
}

/// The message a body cut by its deadline fails with; [`limits`] answers it with 408.
const BODY_TIMED_OUT: &str = "the request body did not arrive in time";

/// A request body that fails once its deadline has passed.
struct DeadlinePayload {
    inner: actix_web::dev::Payload,
    deadline: Pin<Box<tokio::time::Sleep>>,
}

impl futures_util::Stream for DeadlinePayload {
    type Item = Result<web::Bytes, actix_web::error::PayloadError>;

    fn poll_next(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        use std::task::Poll;
        if let Poll::Ready(item) = Pin::new(&mut self.inner).poll_next(cx) {
            return Poll::Ready(item);
        }
        match self.deadline.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Some(Err(actix_web::error::PayloadError::Io(
                std::io::Error::new(std::io::ErrorKind::TimedOut, BODY_TIMED_OUT),
            )))),
            Poll::Pending => Poll::Pending,
        }
    }
}

/// Middleware: the request body must arrive within `timeout` of the headers, whoever reads it
/// (a handler's extractor, or a gate reading a form field before the key check).
pub(crate) async fn body_deadline(
    timeout: Duration,
    mut req: ServiceRequest,
    next: Next<BoxBody>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let inner = actix_web::HttpMessage::take_payload(&mut req);
    let timed = DeadlinePayload {
        inner,
        deadline: Box::pin(tokio::time::sleep(timeout)),
    };
    req.set_payload(actix_web::dev::Payload::Stream {
        payload: Box::pin(timed),
    });
    next.call(req).await
}

/// Middleware: a request id (the caller's `X-Request-Id` or a new one) on a tracing span, echoed
/// in the response, one log line per request, and request metrics by route pattern.
pub async fn request_context(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let id = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 64 && v.bytes().all(|b| b.is_ascii_graphic()))
        .map_or_else(new_request_id, str::to_owned);
    let method = req.method().to_string();
    let path = req.path().to_owned();
    let route = req
        .match_pattern()
        .unwrap_or_else(|| "unmatched".to_owned());
    let span = tracing::info_span!("request", request_id = %id, %method, %path);
    let started = Instant::now();
    let mut res = next.call(req).instrument(span.clone()).await?;
    let status = res.status().as_u16();
    let elapsed = started.elapsed();
    span.in_scope(|| {
        tracing::info!(
            status,
            elapsed_ms = elapsed.as_secs_f64() * 1000.0,
            "handled"
        );
    });
    crate::metrics::record_request(&method, &route, status, elapsed);
    if let Ok(value) = HeaderValue::from_str(&id) {
        res.headers_mut()
            .insert(header::HeaderName::from_static("x-request-id"), value);
    }
    Ok(res)
}

fn new_request_id() -> String {
    use rand::Rng;
    format!("{:016x}", rand::thread_rng().r#gen::<u64>())
}

/// Middleware for public listeners: `Access-Control-Allow-Origin: *` on every response
/// (including errors) and an answer to CORS preflight requests.
pub async fn public_cors(
    req: ServiceRequest,
    next: Next<BoxBody>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    if req.method() == actix_web::http::Method::OPTIONS {
        let res = HttpResponse::NoContent()
            .insert_header((header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"))
            .insert_header((
                header::ACCESS_CONTROL_ALLOW_METHODS,
                "GET, POST, PUT, PATCH, DELETE, OPTIONS",
            ))
            // `*` does not cover `Authorization` (the Fetch standard): SEP-12 and SEP-31
            // requests carry a SEP-10 token in it.
            .insert_header((header::ACCESS_CONTROL_ALLOW_HEADERS, "Authorization, *"))
            .insert_header((header::ACCESS_CONTROL_MAX_AGE, "86400"))
            .finish();
        return Ok(req.into_response(res));
    }
    let mut res = next.call(req).await?;
    res.headers_mut().insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    Ok(res)
}

/// The gate of a listener that needs neither CORS nor a key: an operator's port bound to
/// loopback, such as federation's metrics port.
pub async fn open_gate(
    req: ServiceRequest,
    next: Next<BoxBody>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    next.call(req).await
}

/// The application every listener of every server starts from: body limits with JSON answers
/// ([`limits`]), the JSON 404 ([`not_found`]), `GET /health` ([`health_handler`]) and the middleware
/// stack, outermost first:
///
/// 1. [`request_context`]: request id, one log line, request metrics;
/// 2. [`jsonify_errors`]: actix's own errors as [`ErrorBody`] JSON;
/// 3. `gate`: [`public_cors`] on a public listener, the server's API-key check on an internal
///    one (anything with the same signature; the federation adds `Cache-Control` to CORS);
/// 4. [`reject_invalid_utf8`]: inside the gate, so unauthenticated bodies are never read.
///
/// The server adds its own routes (and `/metrics` where the listener is not public).
pub fn app<F, Fut>(
    body: BodyLimits,
    health: web::Data<Health>,
    gate: F,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
>
where
    F: Fn(ServiceRequest, Next<BoxBody>) -> Fut + 'static,
    Fut: Future<Output = Result<ServiceResponse<BoxBody>, actix_web::Error>> + 'static,
{
    App::new()
        .app_data(health)
        .configure(|c| limits(c, body.max_bytes))
        .wrap(middleware::from_fn(reject_invalid_utf8))
        .wrap(middleware::from_fn(gate))
        .wrap(middleware::from_fn(move |req, next| {
            body_deadline(body.timeout, req, next)
        }))
        .wrap(jsonify_errors())
        .wrap(middleware::from_fn(request_context))
        .route("/health", web::get().to(health_handler))
        .default_service(web::to(not_found))
}

/// One part of a [`Health`] answer.
pub type Check = dyn Fn() -> Pin<Box<dyn Future<Output = serde_json::Value>>> + Send + Sync;

/// What `GET /health` reports: the database, and any parts a server adds (the bridge's
/// listeners).
#[derive(Clone)]
pub struct Health {
    database: crate::Database,
    parts: Vec<(&'static str, Arc<Check>)>,
}

impl std::fmt::Debug for Health {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let parts: Vec<&str> = self.parts.iter().map(|(name, _)| *name).collect();
        write!(f, "Health({:?}, {parts:?})", self.database)
    }
}

impl Health {
    /// Health of `database` alone.
    pub fn new(database: crate::Database) -> web::Data<Self> {
        web::Data::new(Self {
            database,
            parts: Vec::new(),
        })
    }

    /// Health of `database`, with `name` in the answer reporting what `part` returns.
    pub fn with<P, Fut>(database: crate::Database, name: &'static str, part: P) -> web::Data<Self>
    where
        P: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = serde_json::Value> + 'static,
    {
        Self::parts(database, vec![Self::part(name, part)])
    }

    /// Health of `database`, with each of `parts` ([`Health::part`]) in the answer.
    pub fn parts(
        database: crate::Database,
        parts: Vec<(&'static str, Arc<Check>)>,
    ) -> web::Data<Self> {
        web::Data::new(Self { database, parts })
    }

    /// A part of the answer: `name`, reporting what `part` returns.
    pub fn part<P, Fut>(name: &'static str, part: P) -> (&'static str, Arc<Check>)
    where
        P: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = serde_json::Value> + 'static,
    {
        (name, Arc::new(move || Box::pin(part())))
    }

    /// `{"status":"ok", …parts}` when a trivial query succeeds (`"degraded"` when a part says
    /// so: up, but an operator should look), else `None`.
    pub async fn report(&self) -> Option<serde_json::Value> {
        if !self.database.is_healthy().await {
            return None;
        }
        let mut body = serde_json::json!({"status": "ok"});
        for (name, part) in &self.parts {
            let value = part().await;
            if is_degraded(&value) {
                body["status"] = serde_json::json!("degraded");
            }
            body[*name] = value;
        }
        Some(body)
    }
}

/// Whether a part reports `"status": "degraded"`, itself or in one of its list's items.
fn is_degraded(value: &serde_json::Value) -> bool {
    let says = |v: &serde_json::Value| v.get("status").and_then(|s| s.as_str()) == Some("degraded");
    says(value) || value.as_array().is_some_and(|items| items.iter().any(says))
}

/// `GET /health`: 200 with [`Health::report`], or 503 `unhealthy` when the database does not
/// answer. Mounted by [`app`] on every listener.
pub async fn health_handler(health: web::Data<Health>) -> HttpResponse {
    match health.report().await {
        Some(body) => HttpResponse::Ok().json(body),
        None => json_error(
            StatusCode::SERVICE_UNAVAILABLE,
            &ErrorBody::new("unhealthy", "database unreachable"),
        ),
    }
}

/// Starts an HTTP server on `listener` (HTTPS with `tls`), without actix's own signal handling
/// (see [`crate::server::Running`]), letting requests in flight finish for up to
/// `grace_seconds` when stopped.
///
/// # Errors
/// When the listener cannot be used.
pub fn serve<F, T, B>(
    factory: F,
    listener: TcpListener,
    tls: Option<rustls::ServerConfig>,
    grace_seconds: u64,
) -> std::io::Result<Server>
where
    F: Fn() -> App<T> + Send + Clone + 'static,
    T: ServiceFactory<
            ServiceRequest,
            Config = (),
            Response = ServiceResponse<B>,
            Error = actix_web::Error,
            InitError = (),
        > + 'static,
    B: MessageBody + 'static,
{
    let http = HttpServer::new(factory)
        .disable_signals()
        .max_connections(MAX_CONNECTIONS_PER_WORKER)
        .shutdown_timeout(grace_seconds);
    Ok(match tls {
        Some(tls) => http.listen_rustls_0_23(listener, tls)?,
        None => http.listen(listener)?,
    }
    .run())
}

/// Binds a TCP listener; port 0 picks a free port, read it back with `local_addr`.
///
/// # Errors
/// When the address is invalid or taken; the message names the address.
pub fn bind(host: &str, port: u16) -> std::io::Result<TcpListener> {
    let addr = format!("{host}:{port}");
    let listener = TcpListener::bind(&addr)
        .map_err(|e| std::io::Error::new(e.kind(), format!("cannot listen on {addr}: {e}")))?;
    Ok(listener)
}

/// The address a listener is bound to.
pub fn local_addr(listener: &TcpListener) -> SocketAddr {
    listener
        .local_addr()
        .expect("bound listeners have an address")
}

/// Waits for SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutdown requested: draining in-flight requests");
}

/// Stops servers gracefully (in-flight requests finish) when `signal` completes.
pub async fn stop_on(handles: Vec<ServerHandle>, signal: impl Future<Output = ()>) {
    signal.await;
    for handle in handles {
        handle.stop(true).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use actix_web::{App, middleware, test};

    #[actix_web::test]
    async fn actix_errors_become_json_with_cors_and_request_ids() {
        let app = test::init_service(
            App::new()
                .wrap(middleware::from_fn(public_cors))
                .wrap(jsonify_errors())
                .wrap(middleware::from_fn(request_context))
                .configure(|c| limits(c, 16))
                .route(
                    "/form",
                    web::post().to(
                        |f: web::Form<std::collections::HashMap<String, String>>| async move {
                            HttpResponse::Ok().json(f.into_inner())
                        },
                    ),
                )
                .default_service(web::to(not_found)),
        )
        .await;

        let res =
            test::call_service(&app, test::TestRequest::get().uri("/nope").to_request()).await;
        assert_eq!(res.status(), 404);
        assert_eq!(
            res.headers().get("access-control-allow-origin").unwrap(),
            "*"
        );
        assert!(res.headers().get("x-request-id").is_some());
        let body: ErrorBody = test::read_body_json(res).await;
        assert_eq!(body.code, "not_found");

        let res = test::call_service(
            &app,
            test::TestRequest::post()
                .uri("/form")
                .insert_header(("content-type", "application/x-www-form-urlencoded"))
                .insert_header(("x-request-id", "abc"))
                .set_payload("a=0123456789012345678901234567890")
                .to_request(),
        )
        .await;
        assert_eq!(res.status(), 413);
        assert_eq!(res.headers().get("x-request-id").unwrap(), "abc");
        let body: ErrorBody = test::read_body_json(res).await;
        assert_eq!(body.code, "invalid_parameter");

        let res =
            test::call_service(&app, test::TestRequest::get().uri("/form").to_request()).await;
        // A known path with the wrong method falls through to the JSON default service.
        assert_eq!(res.status(), 404);
        let body: ErrorBody = test::read_body_json(res).await;
        assert_eq!(body.code, "not_found");

        let res = test::call_service(
            &app,
            test::TestRequest::default()
                .method(actix_web::http::Method::OPTIONS)
                .uri("/form")
                .to_request(),
        )
        .await;
        assert_eq!(res.status(), 204);
        assert_eq!(
            res.headers().get("access-control-allow-origin").unwrap(),
            "*"
        );
    }
}

#[cfg(test)]
mod utf8_tests {
    use super::unreadable_field;

    #[test]
    fn invalid_utf8_and_nul_are_found_after_percent_decoding() {
        let field = |s: &[u8]| unreadable_field(s).map(|(name, _)| name);
        assert_eq!(field(b"id=abc&amount=1.5&memo=caf%C3%A9+x"), None);
        assert_eq!(field(b"a=1&id=%FF%FE"), Some("id".into()));
        assert_eq!(field(b"id=\xff"), Some("id".into()));
        assert_eq!(field(b"%FF=1"), Some("\u{fffd}".into()));
        assert_eq!(
            unreadable_field(b"memo=A%00B"),
            Some(("memo".into(), "contains a NUL character"))
        );
        // A stray percent sign is text, as form_urlencoded reads it.
        assert_eq!(field(b"memo=100%&x=%4"), None);
    }
}
