//! `nginx/stellar.conf`, rendered as an operator would, in front of a real federation server and
//! a stand-in AUTH_SERVER, over TLS with a private CA that our resolver trusts only through
//! `extra_ca_file`.
//!
//! Needs Debian's nginx (`scripts/test.sh` installs it). Without it the test fails: a deployment
//! file that is never exercised is worse than none.

use crate::common;

use std::collections::BTreeMap;
use std::io::Read;
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use federation::FederationClient;
use federation::testing::{BOB, FederationServer, people};
use service::database::Backend;
use service::testing::free_port;
use stellar_base::Memo;
use stellar_toml::{Resolver, StellarToml, StellarTomlSettings};
use wiremock::matchers::any;
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

const NGINX: &str = "/usr/sbin/nginx";
const TEMPLATE: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../nginx/stellar.conf"
));
const UPSTREAMS: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../nginx/upstreams.conf"
));
const SIGNING_KEY: &str = "GCYMGWPZ6NC2U7SO6SMXOP5ZLXOEC5SYPKITDMVEONLCHFSCCQR2J4S3";

/// A stand-in for an upstream of nginx (the compliance server's external port, a bridge): a
/// wiremock server that records every request and answers 200. Not from wiremock's pool
/// (`MockServer::builder`), so that dropping it closes its port, as a stopped instance does.
async fn fake_upstream() -> MockServer {
    let server = MockServer::builder().start().await;
    Mock::given(any())
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(serde_json::json!({"info_status": "ok", "tx_status": "ok"})),
        )
        .mount(&server)
        .await;
    server
}

/// An upstream instance that takes each request and closes the connection without answering,
/// as one that fails mid-request; returns its address and the request lines it took.
fn broken_upstream() -> (std::net::SocketAddr, Arc<Mutex<Vec<String>>>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    let taken = Arc::new(Mutex::new(Vec::new()));
    let record = Arc::clone(&taken);
    // Detached: it blocks in accept until the test binary exits.
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
            let mut head = Vec::new();
            let mut buffer = [0u8; 4096];
            while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                match stream.read(&mut buffer) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => head.extend_from_slice(&buffer[..n]),
                }
            }
            let line = String::from_utf8_lossy(&head)
                .lines()
                .next()
                .unwrap_or_default()
                .to_owned();
            record.lock().unwrap().push(line);
            // Dropped: the connection closes with no answer.
        }
    });
    (address, taken)
}

/// The requests `upstream` received so far.
async fn seen(upstream: &MockServer) -> Vec<Request> {
    upstream.received_requests().await.unwrap()
}

/// The value of header `name` of `request`.
fn header_of<'r>(request: &'r Request, name: &str) -> Option<&'r str> {
    request.headers.get(name).map(|v| v.to_str().unwrap())
}

/// Stops `upstream` and waits until its port refuses connections.
async fn stop(upstream: MockServer) {
    let address = *upstream.address();
    drop(upstream);
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(address).is_ok() {
        assert!(Instant::now() < deadline, "{address} still accepts");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The running nginx; stopped when dropped, even when an assertion fails.
struct Nginx {
    child: Child,
    /// `-c … -p … -e …`, to send it signals with `nginx -s`.
    args: Vec<String>,
    error_log: PathBuf,
}

impl Nginx {
    fn error_log(&self) -> String {
        std::fs::read_to_string(&self.error_log).unwrap_or_default()
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        // Killing the master outright would orphan its workers, which keep the port: ask for a
        // fast shutdown (the master stops its workers, then exits), and kill only as a fallback.
        let _ = Command::new(NGINX)
            .args(&self.args)
            .args(["-s", "stop"])
            .stderr(Stdio::null())
            .status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Replaces the template's placeholders; fails on any it does not know.
fn render(template: &str, values: &[(&str, String)]) -> String {
    let mut text = template.to_owned();
    for (name, value) in values {
        let placeholder = format!("@{name}@");
        assert!(
            text.contains(&placeholder),
            "the nginx template no longer has {placeholder}"
        );
        text = text.replace(&placeholder, value);
    }
    // Comments may mention `@NAME@`; directives must not.
    let leftover: Vec<&str> = text
        .lines()
        .filter(|l| !l.trim_start().starts_with('#') && l.contains('@'))
        .collect();
    assert!(
        leftover.is_empty(),
        "placeholders the test does not fill (document them in nginx/README.md): {leftover:?}"
    );
    text
}

/// A directory for nginx's files with a certificate from a throwaway CA; fails when nginx is
/// not installed.
fn nginx_root() -> (tempfile::TempDir, common::Pki) {
    assert!(
        Path::new(NGINX).exists(),
        "nginx is not installed: apt-get install nginx (scripts/test.sh installs it)"
    );
    let dir = tempfile::tempdir().unwrap();
    // nginx's workers drop to `nobody` when the test runs as root: they must be able to read
    // the web root.
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let pki = common::private_pki(dir.path());
    (dir, pki)
}

/// Writes an nginx.conf around `blocks` (the rendered templates) under `root`, checks it with
/// `nginx -t`, starts nginx and waits until it listens on `port`.
async fn launch(root: &Path, blocks: &str, port: u16) -> Nginx {
    let p = root.display();
    let conf = root.join("nginx.conf");
    std::fs::write(
        &conf,
        format!(
            "daemon off;\n\
             worker_processes 1;\n\
             pid {p}/nginx.pid;\n\
             error_log {p}/error.log info;\n\
             events {{ worker_connections 64; }}\n\
             http {{\n\
             access_log {p}/access.log;\n\
             client_body_temp_path {p}/client_body;\n\
             proxy_temp_path {p}/proxy;\n\
             fastcgi_temp_path {p}/fastcgi;\n\
             uwsgi_temp_path {p}/uwsgi;\n\
             scgi_temp_path {p}/scgi;\n\
             {blocks}\n\
             }}\n"
        ),
    )
    .unwrap();
    let error_log = root.join("error.log");
    let args = |extra: &[&str]| {
        let mut args = vec![
            "-c".to_owned(),
            conf.display().to_string(),
            "-p".to_owned(),
            format!("{p}/"),
            "-e".to_owned(),
            error_log.display().to_string(),
        ];
        args.extend(extra.iter().map(|s| (*s).to_owned()));
        args
    };

    // `nginx -t`: the rendered template is a valid configuration.
    let check = Command::new(NGINX).args(args(&["-t"])).output().unwrap();
    assert!(
        check.status.success(),
        "nginx -t failed:\n{}",
        String::from_utf8_lossy(&check.stderr)
    );

    let mut nginx = Nginx {
        child: Command::new(NGINX)
            .args(args(&[]))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
        args: args(&[]),
        error_log,
    };
    let deadline = Instant::now() + Duration::from_secs(15);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        if let Some(status) = nginx.child.try_wait().unwrap() {
            panic!("nginx exited ({status}):\n{}", nginx.error_log());
        }
        assert!(
            Instant::now() < deadline,
            "nginx did not listen on {port}:\n{}",
            nginx.error_log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    nginx
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nginx_serves_stellar_toml_and_proxies_federation_and_auth_over_tls() {
    let (dir, common::Pki { ca, cert, key }) = nginx_root();
    let root = dir.path();

    let federation = FederationServer::start(Backend::Sqlite).await;
    let federation_url = federation.url.clone();
    let auth = fake_upstream().await;

    let port = free_port();
    let public = format!("https://localhost:{port}");
    let www = root.join("www");
    std::fs::create_dir_all(www.join(".well-known")).unwrap();
    std::fs::write(
        www.join(".well-known/stellar.toml"),
        format!(
            "VERSION = \"2.0.0\"\n\
             NETWORK_PASSPHRASE = \"Test SDF Network ; September 2015\"\n\
             FEDERATION_SERVER = \"{public}/federation\"\n\
             AUTH_SERVER = \"{public}/auth\"\n\
             SIGNING_KEY = \"{SIGNING_KEY}\"\n"
        ),
    )
    .unwrap();

    let server_blocks = render(
        TEMPLATE,
        &[
            ("LISTEN", format!("127.0.0.1:{port}")),
            ("SERVER_NAME", "localhost".into()),
            ("CERT", cert.display().to_string()),
            ("KEY", key.display().to_string()),
            ("ROOT", www.display().to_string()),
            ("FEDERATION", federation_url),
            ("AUTH", auth.uri()),
        ],
    );
    let nginx = launch(root, &server_blocks, port).await;

    let stellar_toml_url = format!("{public}/.well-known/stellar.toml");
    let resolver = Resolver::new(&StellarTomlSettings {
        extra_ca_file: Some(ca),
        overrides: BTreeMap::from([("bank.test".to_owned(), stellar_toml_url.clone())]),
        ..StellarTomlSettings::default()
    })
    .unwrap();
    let client = resolver.trusted_client();

    // Without the private CA the certificate is refused: verification is real.
    let untrusted = Resolver::new(&StellarTomlSettings::default()).unwrap();
    let refused = untrusted
        .trusted_client()
        .get(&stellar_toml_url)
        .send()
        .await;
    assert!(
        refused.is_err(),
        "nginx's certificate must not be trusted without the test CA: {refused:?}"
    );

    // SEP-1: the stellar.toml, with CORS `*` and text/plain.
    let response = client.get(&stellar_toml_url).send().await.unwrap();
    assert_eq!(response.status(), 200, "{}", nginx.error_log());
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
    };
    assert_eq!(header("access-control-allow-origin").as_deref(), Some("*"));
    let content_type = header("content-type").unwrap_or_default();
    assert!(
        content_type.starts_with("text/plain"),
        "content-type: {content_type}"
    );
    let toml = StellarToml::parse(&response.text().await.unwrap()).unwrap();
    assert_eq!(
        toml.federation_server.as_deref(),
        Some(format!("{public}/federation").as_str())
    );
    // Only that one file is served from the web root.
    let missing = client
        .get(format!("{public}/.well-known/other.toml"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);

    // SEP-2 through nginx: stellar.toml → FEDERATION_SERVER → the federation server.
    let destination = FederationClient::new(resolver.clone())
        .resolve("bob*bank.test")
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", nginx.error_log()));
    assert_eq!(destination.account.to_string(), BOB);
    assert_eq!(destination.memo, Memo::Id(42));
    let not_found = client
        .get(format!("{public}/federation?q=nobody*bank.test&type=name"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        not_found.status(),
        404,
        "federation's own 404 passes through"
    );

    // SEP-3: AUTH_SERVER `/auth` reaches the compliance external port's `/`, with the body and
    // both spellings of the MAC header.
    let posted = client
        .post(format!("{public}/auth"))
        .header("X-Payload-Mac", "bWFjLW9uZQ==")
        .header("X_PAYLOAD_MAC", "bWFjLXR3bw==")
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body("data=%7B%22sender%22%3A%22alice%2Abank-a.test%22%7D&sig=c2ln")
        .send()
        .await
        .unwrap();
    assert_eq!(posted.status(), 200, "{}", nginx.error_log());
    let tx_status = client
        .get(format!("{public}/auth/tx_status?id=abcd"))
        .send()
        .await
        .unwrap();
    assert_eq!(tx_status.status(), 200);
    {
        let seen = seen(&auth).await;
        assert_eq!(seen.len(), 2, "{seen:?}");
        let post = &seen[0];
        assert_eq!((post.method.as_str(), post.url.path()), ("POST", "/"));
        assert!(
            String::from_utf8_lossy(&post.body).contains("sig=c2ln"),
            "{post:?}"
        );
        assert_eq!(header_of(post, "x-payload-mac"), Some("bWFjLW9uZQ=="));
        assert_eq!(
            header_of(post, "x_payload_mac"),
            Some("bWFjLXR3bw=="),
            "underscores_in_headers keeps the legacy header"
        );
        assert_eq!(header_of(post, "x-forwarded-proto"), Some("https"));
        assert_eq!(
            (seen[1].url.path(), seen[1].url.query()),
            ("/tx_status", Some("id=abcd"))
        );
    }

    // SEP-10, SEP-12 and SEP-31 (a compliance server with `[peering.anchor]`): WEB_AUTH_ENDPOINT
    // `/web_auth` reaches the external port's `/auth`, KYC_SERVER `/kyc/…` and
    // DIRECT_PAYMENT_SERVER `/sep31/…` its same paths, with the query, the body, the bearer
    // token, and CORS preflights (the compliance server answers CORS itself).
    const BEARER: &str = "Bearer eyJhbGciOiJIUzI1NiJ9.e30.c2lnbmF0dXJl";
    /// Method, public path, upstream path, query, body.
    type AnchorCall = (
        &'static str,
        &'static str,
        &'static str,
        Option<&'static str>,
        Option<&'static str>,
    );
    let anchor_calls: [AnchorCall; 12] = [
        (
            "GET",
            "/web_auth?account=GA&home_domain=localhost",
            "/auth",
            Some("account=GA&home_domain=localhost"),
            None,
        ),
        (
            "POST",
            "/web_auth",
            "/auth",
            None,
            Some(r#"{"transaction":"AAAA"}"#),
        ),
        ("OPTIONS", "/web_auth", "/auth", None, None),
        (
            "PUT",
            "/kyc/customer",
            "/kyc/customer",
            None,
            Some(r#"{"type":"sep31-sender","first_name":"Alice"}"#),
        ),
        (
            "GET",
            "/kyc/customer?id=c-1&type=sep31-sender",
            "/kyc/customer",
            Some("id=c-1&type=sep31-sender"),
            None,
        ),
        ("OPTIONS", "/kyc/customer", "/kyc/customer", None, None),
        (
            "DELETE",
            "/kyc/customer/GABC",
            "/kyc/customer/GABC",
            None,
            None,
        ),
        ("GET", "/sep31/info", "/sep31/info", None, None),
        (
            "POST",
            "/sep31/transactions",
            "/sep31/transactions",
            None,
            Some(r#"{"amount":"25","asset_code":"USD"}"#),
        ),
        (
            "OPTIONS",
            "/sep31/transactions",
            "/sep31/transactions",
            None,
            None,
        ),
        (
            "GET",
            "/sep31/transactions/t-1",
            "/sep31/transactions/t-1",
            None,
            None,
        ),
        (
            "PATCH",
            "/sep31/transactions/t-1",
            "/sep31/transactions/t-1",
            None,
            Some(r#"{"transaction":{}}"#),
        ),
    ];
    for (method, path, _, _, body) in anchor_calls {
        let mut request = client
            .request(
                reqwest::Method::from_bytes(method.as_bytes()).unwrap(),
                format!("{public}{path}"),
            )
            .header("Authorization", BEARER)
            .header("Origin", "https://wallet.example");
        if method == "OPTIONS" {
            request = request
                .header("Access-Control-Request-Method", "PUT")
                .header("Access-Control-Request-Headers", "authorization");
        }
        if let Some(body) = body {
            request = request
                .header("Content-Type", "application/json")
                .body(body);
        }
        let response = request.send().await.unwrap();
        assert_eq!(
            response.status(),
            200,
            "{method} {path}: {}",
            nginx.error_log()
        );
    }
    {
        let seen = seen(&auth).await;
        assert_eq!(seen.len(), 2 + anchor_calls.len(), "{seen:?}");
        for (request, (method, path, upstream_path, query, body)) in
            seen[2..].iter().zip(anchor_calls)
        {
            assert_eq!(
                (
                    request.method.as_str(),
                    request.url.path(),
                    request.url.query()
                ),
                (method, upstream_path, query),
                "{method} {path}"
            );
            assert_eq!(
                header_of(request, "authorization"),
                Some(BEARER),
                "{method} {path}"
            );
            assert_eq!(header_of(request, "origin"), Some("https://wallet.example"));
            assert_eq!(header_of(request, "x-forwarded-proto"), Some("https"));
            assert_eq!(
                String::from_utf8_lossy(&request.body),
                body.unwrap_or_default(),
                "{method} {path}"
            );
            if method == "OPTIONS" {
                assert_eq!(
                    header_of(request, "access-control-request-method"),
                    Some("PUT")
                );
            }
        }
    }
    let received = seen(&auth).await.len();

    // Nothing else is public: internal endpoints and health/metrics answer 404 from nginx and
    // never reach an upstream, nor do paths that climb out of /kyc/ and /sep31/.
    for path in [
        "/send",
        "/receive",
        "/payment",
        "/allow_access",
        "/health",
        "/metrics",
        "/auth/send",
        "/auth/kyc/customer",
        "/federation/metrics",
        "/.well-known/",
        "/web_auth/x",
        "/_kyc_customer_put",
        "/kyc/..%2Fmetrics",
        "/sep31/..%2Fhealth",
        "/sep31/..%2F..%2Fsend",
    ] {
        let response = client.get(format!("{public}{path}")).send().await.unwrap();
        assert!(
            [400, 404].contains(&response.status().as_u16()),
            "{path} must not be public: {}",
            response.status()
        );
    }
    assert_eq!(
        seen(&auth).await.len(),
        received,
        "no request leaked upstream"
    );

    // Rate limits per address: a burst past `rate + burst` on /federation is answered 429 in
    // JSON with Retry-After, by nginx, without reaching the federation server.
    let mut limited = None;
    for _ in 0..200 {
        let response = client
            .get(format!("{public}/federation?q=bob*bank.test&type=name"))
            .send()
            .await
            .unwrap();
        if response.status() == 429 {
            limited = Some(response);
            break;
        }
    }
    let limited = limited.expect("200 lookups at once are rate-limited");
    assert_eq!(
        limited
            .headers()
            .get("retry-after")
            .map(|v| v.to_str().unwrap()),
        Some("1")
    );
    let body: serde_json::Value = limited.json().await.unwrap();
    assert_eq!(body["code"], "rate_limited", "{body}");

    drop(nginx);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
/// `nginx/upstreams.conf` with two instances of each server: two federation servers on one
/// database answer alike, nginx spreads lookups over both and keeps answering when one is
/// stopped (passive health checks); the private bridge and compliance ports reach a live
/// instance when the other refuses connections.
async fn nginx_spreads_over_two_instances_and_skips_one_that_is_down() {
    let (dir, common::Pki { ca, cert, key }) = nginx_root();
    let root = dir.path();

    // Two federation instances on one database: stateless, they answer alike.
    let first = FederationServer::start(Backend::Sqlite).await;
    let second_app = federation::Application::build(federation::testing::config(
        &first.db,
        federation::testing::queries(),
    ))
    .await
    .unwrap();
    let second_url = second_app.url();
    let second_handles = second_app.spawn();
    let lookup = |base: String| async move {
        let response = reqwest::get(format!("{base}/federation?q=bob*bank.test&type=name"))
            .await
            .unwrap();
        (response.status().as_u16(), response.text().await.unwrap())
    };
    let direct = lookup(first.url.clone()).await;
    assert_eq!(direct.0, 200, "{direct:?}");
    assert_eq!(
        direct,
        lookup(second_url.clone()).await,
        "two instances answer alike"
    );

    // The compliance external ports: one that breaks every connection, one that answers.
    let (auth_1, auth_1_took) = broken_upstream();
    let auth_2 = fake_upstream().await;
    let (bridge_1, bridge_2) = (fake_upstream().await, fake_upstream().await);
    let (internal_1, internal_2) = (fake_upstream().await, fake_upstream().await);

    let (port, bridge_port, internal_port) = (free_port(), free_port(), free_port());
    let host_port = |url: &str| url.trim_start_matches("http://").to_owned();
    let upstreams = render(
        UPSTREAMS,
        &[
            ("FEDERATION_1", host_port(&first.url)),
            ("FEDERATION_2", host_port(&second_url)),
            ("AUTH_1", auth_1.to_string()),
            ("AUTH_2", auth_2.address().to_string()),
            ("COMPLIANCE_INTERNAL_1", internal_1.address().to_string()),
            ("COMPLIANCE_INTERNAL_2", internal_2.address().to_string()),
            ("BRIDGE_1", bridge_1.address().to_string()),
            ("BRIDGE_2", bridge_2.address().to_string()),
            (
                "PRIVATE_COMPLIANCE_LISTEN",
                format!("127.0.0.1:{internal_port}"),
            ),
            ("PRIVATE_BRIDGE_LISTEN", format!("127.0.0.1:{bridge_port}")),
        ],
    );
    let www = root.join("www");
    std::fs::create_dir_all(&www).unwrap();
    let public_blocks = render(
        TEMPLATE,
        &[
            ("LISTEN", format!("127.0.0.1:{port}")),
            ("SERVER_NAME", "localhost".into()),
            ("CERT", cert.display().to_string()),
            ("KEY", key.display().to_string()),
            ("ROOT", www.display().to_string()),
            ("FEDERATION", "http://stellar_federation".into()),
            ("AUTH", "http://stellar_auth".into()),
        ],
    );
    let nginx = launch(root, &format!("{upstreams}\n{public_blocks}"), port).await;
    let client = Resolver::new(&StellarTomlSettings {
        extra_ca_file: Some(ca),
        ..StellarTomlSettings::default()
    })
    .unwrap()
    .trusted_client();
    let public = format!("https://localhost:{port}");
    let through_nginx = || async {
        let response = client
            .get(format!("{public}/federation?q=bob*bank.test&type=name"))
            .send()
            .await
            .unwrap();
        (response.status().as_u16(), response.text().await.unwrap())
    };
    for _ in 0..6 {
        assert_eq!(through_nginx().await, direct, "{}", nginx.error_log());
    }
    // One instance stops: every lookup is still answered, by the other.
    for handle in second_handles {
        handle.stop(false).await;
    }
    for _ in 0..6 {
        assert_eq!(through_nginx().await, direct, "{}", nginx.error_log());
    }

    // The private bridge port: a request reaches one instance; with the first one refusing
    // connections, the other.
    let post = |port: u16| async move {
        reqwest::Client::new()
            .post(format!("http://127.0.0.1:{port}/payment"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body("id=p-1&amount=1")
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    };
    assert_eq!(post(bridge_port).await, 200);
    let one = seen(&bridge_1).await.len();
    stop(bridge_1).await;
    for _ in 0..4 {
        assert_eq!(post(bridge_port).await, 200, "{}", nginx.error_log());
    }
    let two = seen(&bridge_2).await.len();
    assert_eq!(one + two, 5, "each request reached one instance once");
    assert!(two >= 4, "the live instance took over ({one} + {two})");
    assert_eq!(post(internal_port).await, 200, "{}", nginx.error_log());

    // The public SEP-12 and SEP-31 writes never go to a second instance: a PUT /kyc/customer or
    // POST /sep31/transactions the broken instance took answers 502 and the live instance never
    // sees it (the sending anchor repeats or asks). Round robin gives the broken one a request
    // of each kind before max_fails leaves it out.
    let write = |method: &'static str, path: &'static str| {
        let client = client.clone();
        let url = format!("{public}{path}");
        async move {
            client
                .request(reqwest::Method::from_bytes(method.as_bytes()).unwrap(), url)
                .header("Authorization", "Bearer t")
                .header("Content-Type", "application/json")
                .body(r#"{"type":"sep31-sender"}"#)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    let mut answers = Vec::new();
    for (method, path) in [
        ("PUT", "/kyc/customer"),
        ("PUT", "/kyc/customer"),
        ("POST", "/sep31/transactions"),
        ("POST", "/sep31/transactions"),
    ] {
        answers.push((method, path, write(method, path).await));
    }
    let took = auth_1_took.lock().unwrap().clone();
    let live = seen(&auth_2).await;
    for (method, path) in [("PUT", "/kyc/customer"), ("POST", "/sep31/transactions")] {
        let line = format!("{method} {path} HTTP/1.1");
        let broken = took.iter().filter(|l| **l == line).count();
        let answered = live
            .iter()
            .filter(|r| r.method.as_str() == method && r.url.path() == path)
            .count();
        let statuses: Vec<u16> = answers
            .iter()
            .filter(|(m, p, _)| *m == method && *p == path)
            .map(|(_, _, status)| *status)
            .collect();
        assert_eq!(
            broken, 1,
            "{method} {path}: the broken instance took one ({took:?})"
        );
        assert_eq!(
            answered, 1,
            "{method} {path}: that one was not sent again to the live instance"
        );
        let mut sorted = statuses.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, [200, 502], "{method} {path}: {}", nginx.error_log());
    }
    // Reads go on to the live instance.
    for _ in 0..4 {
        let response = client
            .get(format!("{public}/kyc/customer?id=c-1"))
            .header("Authorization", "Bearer t")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{}", nginx.error_log());
        let info = client
            .get(format!("{public}/sep31/info"))
            .send()
            .await
            .unwrap();
        assert_eq!(info.status(), 200, "{}", nginx.error_log());
    }
}

fn repo_file(path: &str) -> String {
    let full = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(path);
    std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{}: {e}", full.display()))
}

/// The example and deployed stellar.toml files follow the rules of stellar-toml/examples/README.md.
#[test]
fn example_stellar_toml_files_follow_the_rules() {
    for path in [
        "stellar-toml/examples/bank-a.stellar.toml",
        "stellar-toml/examples/bank-b.stellar.toml",
        "deploy/testnet.stellar.toml",
        "deploy/mainnet.stellar.toml",
    ] {
        let text = repo_file(path);
        assert!(text.len() <= 100 * 1024, "{path}: over 100 KiB");
        let toml = StellarToml::parse(&text).unwrap_or_else(|e| panic!("{path}: {e}"));
        toml.signing_key()
            .unwrap_or_else(|e| panic!("{path}: SIGNING_KEY: {e}"));
        assert!(!toml.accounts.is_empty(), "{path}: ACCOUNTS");
        for account in &toml.accounts {
            account
                .parse::<stellar_base::PublicKey>()
                .unwrap_or_else(|_| panic!("{path}: {account} is not an account id"));
        }
        let federation = toml.federation_server.clone().unwrap_or_default();
        let auth = toml.auth_server.clone().unwrap_or_default();
        assert!(
            federation.starts_with("https://") && federation.ends_with("/federation"),
            "{path}: FEDERATION_SERVER is the public HTTPS URL + /federation: {federation}"
        );
        assert!(
            auth.starts_with("https://") && auth.ends_with("/auth"),
            "{path}: AUTH_SERVER is nginx's /auth: {auth}"
        );
        // SEP-10, SEP-12 and SEP-31: published (with `[peering.anchor]`) or commented out, all
        // three, at nginx's /web_auth, /kyc and /sep31 on the same host.
        let uncommented: Vec<&str> = text
            .lines()
            .map(|line| match line.strip_prefix("# ") {
                Some(key)
                    if [
                        "WEB_AUTH_ENDPOINT = ",
                        "KYC_SERVER = ",
                        "DIRECT_PAYMENT_SERVER = ",
                    ]
                    .iter()
                    .any(|k| key.starts_with(k)) =>
                {
                    key
                }
                _ => line,
            })
            .collect();
        let anchor = StellarToml::parse(&uncommented.join("\n"))
            .unwrap_or_else(|e| panic!("{path} with the SEP-31 keys uncommented: {e}"));
        let base = federation.trim_end_matches("/federation");
        assert_eq!(
            (
                anchor.web_auth_endpoint.as_deref(),
                anchor.kyc_server.as_deref(),
                anchor.direct_payment_server.as_deref(),
            ),
            (
                Some(format!("{base}/web_auth").as_str()),
                Some(format!("{base}/kyc").as_str()),
                Some(format!("{base}/sep31").as_str()),
            ),
            "{path}: WEB_AUTH_ENDPOINT, KYC_SERVER and DIRECT_PAYMENT_SERVER are nginx's \
             /web_auth, /kyc and /sep31 (commented out until [peering.anchor])"
        );
        let published = [
            &toml.web_auth_endpoint,
            &toml.kyc_server,
            &toml.direct_payment_server,
        ]
        .iter()
        .filter(|k| k.is_some())
        .count();
        assert!(
            published == 0 || published == 3,
            "{path}: the three SEP-31 keys go together"
        );
        let passphrase = toml.network_passphrase.clone().unwrap_or_default();
        let horizon = toml.horizon_url.clone().unwrap_or_default();
        let testnet = (
            "Test SDF Network ; September 2015",
            "https://horizon-testnet.stellar.org",
        );
        let mainnet = (
            "Public Global Stellar Network ; September 2015",
            "https://horizon.stellar.org",
        );
        let expected = if path.contains("mainnet") {
            mainnet
        } else {
            testnet
        };
        assert_eq!((passphrase.as_str(), horizon.as_str()), expected, "{path}");
        assert!(toml.other.contains_key("DOCUMENTATION"), "{path}");
    }
    // The two deployments differ in network and keys only, and never share a key.
    let testnet = StellarToml::parse(&repo_file("deploy/testnet.stellar.toml")).unwrap();
    let mainnet = StellarToml::parse(&repo_file("deploy/mainnet.stellar.toml")).unwrap();
    assert_ne!(testnet.signing_key, mainnet.signing_key);
    assert_eq!(testnet.federation_server, mainnet.federation_server);
    assert_eq!(testnet.auth_server, mainnet.auth_server);
    // docker-compose.yml configures no `[peering.anchor]` (its assets are read from a file
    // only): the deployed files must not send SEP-31 senders to endpoints that answer 404.
    if !repo_file("docker-compose.yml").contains("PEERING__ANCHOR") {
        for toml in [&testnet, &mainnet] {
            assert_eq!(
                (
                    &toml.web_auth_endpoint,
                    &toml.kyc_server,
                    &toml.direct_payment_server
                ),
                (&None, &None, &None),
                "deploy/*.stellar.toml: SEP-31 keys without [peering.anchor] in docker-compose.yml"
            );
        }
    }
    assert!(
        testnet
            .accounts
            .iter()
            .all(|a| !mainnet.accounts.contains(a))
    );
    // Each env file's receiving account is published in its stellar.toml.
    for (env, toml) in [
        ("deploy/testnet.env", &testnet),
        ("deploy/mainnet.env", &mainnet),
    ] {
        let receiving = repo_file(env)
            .lines()
            .find_map(|l| l.strip_prefix("RECEIVING_ACCOUNT_ID=").map(str::to_owned))
            .unwrap_or_else(|| panic!("{env}: RECEIVING_ACCOUNT_ID"));
        assert!(
            toml.accounts.contains(&receiving),
            "{env}: {receiving} not in ACCOUNTS"
        );
    }
}

/// docker-compose.yml renders every placeholder of nginx/stellar.conf, and its `FEDERATION__…`
/// variables are a configuration the federation server accepts (Docker is not run here).
#[test]
fn docker_compose_fills_the_template_and_configures_federation() {
    let compose = repo_file("docker-compose.yml");
    for template in [TEMPLATE, UPSTREAMS] {
        for line in template
            .lines()
            .filter(|l| !l.trim_start().starts_with('#'))
        {
            for (i, part) in line.split('@').enumerate() {
                if i % 2 == 1 {
                    assert!(
                        compose.contains(&format!("s|@{part}@|"))
                            || compose.contains(&format!("/@{part}@/d")),
                        "docker-compose.yml neither replaces nor drops @{part}@"
                    );
                }
            }
        }
    }
    // Several instances: bridge and compliance scale, so nothing pins them to one container.
    for pinned in ["network_mode:", "container_name:"] {
        assert!(
            !compose.contains(pinned),
            "docker-compose.yml: {pinned} prevents --scale"
        );
    }

    // `      FEDERATION__KEY: value` lines of the federation service; secrets become files.
    let dir = tempfile::tempdir().unwrap();
    let db = people(Backend::Sqlite);
    let mut env = Vec::new();
    for line in compose.lines().map(str::trim) {
        let Some((name, value)) = line.split_once(": ") else {
            continue;
        };
        if !name.starts_with("FEDERATION__") {
            continue;
        }
        let value = value.trim_matches('"').to_owned();
        let value = match value.strip_prefix("/run/secrets/") {
            Some(secret) => {
                assert_eq!(secret, "federation_db_url", "unexpected secret {secret}");
                let file = dir.path().join(secret);
                std::fs::write(&file, format!("{}\n", db.settings().url.unwrap())).unwrap();
                file.display().to_string()
            }
            None => value,
        };
        env.push((name.to_owned(), value));
    }
    assert!(env.len() >= 5, "found {env:?}");
    let config: federation::FederationConfig = service::config::load_from("FEDERATION", None, env)
        .unwrap_or_else(|e| panic!("docker-compose.yml's federation environment: {e}"));
    config.validate().unwrap();
    assert_eq!(config.bind_address, "0.0.0.0");
    assert!(config.queries.reverse_federation.is_some());
}
