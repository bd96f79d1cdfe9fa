//! Requests the HTTP codec refuses before any middleware runs (a malformed request line or
//! header, a head over the size limit) are counted in `http_rejected_requests_total{reason}`
//! and kept out of the error log.
//!
//! Run alone in a child process (`common::alone`): it installs the process's log subscriber and
//! metrics recorder, which would then print and count the other tests' requests too.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use service::Database;
use service::database::Backend;
use service::http::{BodyLimits, Health};
use service::telemetry::LogFormat;
use service::testing::TestDatabase;

use crate::common::alone;

fn exchange(addr: std::net::SocketAddr, request: &[u8]) -> String {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream.write_all(request).unwrap();
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    String::from_utf8_lossy(&answer).into_owned()
}

fn rejected(metrics: &str, reason: &str) -> u64 {
    metrics
        .lines()
        .find(|l| {
            l.starts_with("http_rejected_requests_total")
                && l.contains(&format!("reason=\"{reason}\""))
        })
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_the_codec_refuses_are_counted_by_reason() {
    if !alone("codec_rejections::requests_the_codec_refuses_are_counted_by_reason") {
        return;
    }
    service::telemetry::init(LogFormat::Text);
    service::metrics::install();
    let db = TestDatabase::new(Backend::Sqlite);
    let database = Database::connect(&db.settings()).unwrap();
    let health = Health::new(database);
    let listener = service::http::bind("127.0.0.1", 0).unwrap();
    let addr = service::http::local_addr(&listener);
    let server = service::http::serve(
        move || {
            service::http::app(
                BodyLimits::new(4096, 5),
                health.clone(),
                service::http::open_gate,
            )
            .route(
                "/metrics",
                actix_web::web::get().to(service::metrics::render),
            )
        },
        listener,
        None,
        1,
    )
    .unwrap();
    tokio::spawn(server);

    let metrics = || async move {
        tokio::task::spawn_blocking(move || {
            exchange(
                addr,
                b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            )
        })
        .await
        .unwrap()
    };
    let before = metrics().await;
    let answer = tokio::task::spawn_blocking(move || exchange(addr, b"NOT A REQUEST LINE\r\n\r\n"))
        .await
        .unwrap();
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    let huge_header = format!(
        "GET /health HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
        "a".repeat(256 * 1024)
    );
    let answer = tokio::task::spawn_blocking(move || exchange(addr, huge_header.as_bytes()))
        .await
        .unwrap();
    assert!(answer.starts_with("HTTP/1.1 431"), "{answer}");

    // Counted once each connection is closed (the codec reports then).
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let now = metrics().await;
        let malformed = rejected(&now, "malformed") > rejected(&before, "malformed");
        let too_large = rejected(&now, "head_too_large") > rejected(&before, "head_too_large");
        if malformed && too_large {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "not counted:\n{now}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
