//! A local actix-web test server on 127.0.0.1:0 that counts the requests it gets per path.

#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap};
use std::net::{SocketAddr, TcpListener};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::dev::{ServerHandle, Service};
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use stellar_toml::{Resolver, StellarTomlSettings};

pub const TOML: &str = r#"
VERSION = "2.7.0"
NETWORK_PASSPHRASE = "Test SDF Network ; September 2015"
FEDERATION_SERVER = "http://127.0.0.1:1/federation"
SIGNING_KEY = "GBBHQ7H4V6RRORKYLHTCAWP6MOHNORRFJSDPXDFYDGJB2LPZUFPXUEW3"
"#;

type Hits = Arc<Mutex<HashMap<String, usize>>>;

pub struct TestServer {
    pub addr: SocketAddr,
    hits: Hits,
    handle: ServerHandle,
}

impl TestServer {
    /// `http://127.0.0.1:PORT` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn hits(&self, path: &str) -> usize {
        self.hits.lock().unwrap().get(path).copied().unwrap_or(0)
    }

    pub async fn stop(&self) {
        self.handle.stop(false).await;
    }
}

/// Routes every test uses:
/// - `/.well-known/stellar.toml` serves `toml`;
/// - `/missing` 404, `/error` 500;
/// - `/redirect/{n}` redirects to `/redirect/{n-1}`, `/redirect/0` answers "done";
/// - `/redirect-to?to=URL&status=S` redirects to URL with status S (default 302);
/// - `/big` streams 200 KiB without Content-Length, `/slow` answers after 3 s;
/// - `/echo` answers the method, Content-Type and body it got.
pub fn routes(cfg: &mut web::ServiceConfig, toml: String) {
    cfg.route(
        "/.well-known/stellar.toml",
        web::get().to(move || {
            let toml = toml.clone();
            async move { HttpResponse::Ok().content_type("text/plain").body(toml) }
        }),
    )
    .route("/missing", web::get().to(HttpResponse::NotFound))
    .route("/error", web::get().to(HttpResponse::InternalServerError))
    .route("/redirect/{n}", web::get().to(redirect_chain))
    .route("/redirect-to", web::to(redirect_to))
    .route("/big", web::get().to(big))
    .route("/slow", web::get().to(slow))
    .route("/echo", web::to(echo));
}

async fn redirect_chain(path: web::Path<u32>) -> HttpResponse {
    match path.into_inner() {
        0 => HttpResponse::Ok().body("done"),
        n => HttpResponse::Found()
            .insert_header(("Location", format!("/redirect/{}", n - 1)))
            .finish(),
    }
}

async fn redirect_to(query: web::Query<BTreeMap<String, String>>) -> HttpResponse {
    let status = query
        .get("status")
        .and_then(|s| s.parse().ok())
        .unwrap_or(302);
    HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap())
        .insert_header(("Location", query.get("to").cloned().unwrap_or_default()))
        .finish()
}

async fn big() -> HttpResponse {
    let chunks = (0..200).map(|_| Ok::<_, actix_web::Error>(web::Bytes::from(vec![b'#'; 1024])));
    HttpResponse::Ok().streaming(futures_util::stream::iter(chunks))
}

async fn slow() -> HttpResponse {
    actix_web::rt::time::sleep(Duration::from_secs(3)).await;
    HttpResponse::Ok().body("late")
}

async fn echo(req: HttpRequest, body: web::Bytes) -> HttpResponse {
    let content_type = req
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    HttpResponse::Ok().body(format!(
        "{} {} {}",
        req.method(),
        content_type,
        String::from_utf8_lossy(&body)
    ))
}

/// Starts a plain-http server with [`routes`]; `tls` makes it https with that config.
pub fn start_with(toml: &str, tls: Option<rustls::ServerConfig>) -> TestServer {
    let hits: Hits = Arc::default();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let toml = toml.to_owned();
    let counter = Arc::clone(&hits);
    let server = HttpServer::new(move || {
        let counter = Arc::clone(&counter);
        let toml = toml.clone();
        App::new()
            .wrap_fn(move |req, srv| {
                *counter
                    .lock()
                    .unwrap()
                    .entry(req.path().to_owned())
                    .or_default() += 1;
                srv.call(req)
            })
            .configure(|cfg| routes(cfg, toml))
    })
    .workers(1)
    .disable_signals();
    let server = match tls {
        Some(config) => server.listen_rustls_0_23(listener, config),
        None => server.listen(listener),
    }
    .unwrap()
    .run();
    let handle = server.handle();
    actix_web::rt::spawn(server);
    TestServer { addr, hits, handle }
}

pub fn start(toml: &str) -> TestServer {
    start_with(toml, None)
}

/// Settings with `domain` overridden to `url`.
pub fn overridden(domain: &str, url: &str) -> StellarTomlSettings {
    let mut settings = StellarTomlSettings::default();
    settings.overrides.insert(domain.to_owned(), url.to_owned());
    settings
}

pub fn resolver(settings: &StellarTomlSettings) -> Resolver {
    Resolver::new(settings).unwrap()
}
