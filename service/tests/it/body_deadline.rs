//! A request body that does not arrive in time is cut with 408 (`request_timeout`), whoever
//! reads it, and a listener flooded with stalled bodies leaves another listener of the same
//! process answering.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use actix_web::{HttpResponse, web};
use service::Database;
use service::database::Backend;
use service::http::{BodyLimits, Health};
use service::testing::TestDatabase;

/// Starts a listener whose `POST /echo` reads the whole body, with bodies cut after 1 s; its
/// address.
fn start(db: &Database) -> std::net::SocketAddr {
    let health = Health::new(db.clone());
    let listener = service::http::bind("127.0.0.1", 0).unwrap();
    let addr = service::http::local_addr(&listener);
    let server = service::http::serve(
        move || {
            service::http::app(
                BodyLimits::new(4096, 1),
                health.clone(),
                service::http::open_gate,
            )
            .route(
                "/echo",
                web::post().to(|body: web::Bytes| async move { HttpResponse::Ok().body(body) }),
            )
        },
        listener,
        None,
        1,
    )
    .unwrap();
    tokio::spawn(server);
    addr
}

/// Sends headers announcing 100 bytes and only 3 of them; the whole answer, once the server
/// closes or answers.
fn stalled_request(addr: std::net::SocketAddr) -> TcpStream {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .write_all(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc")
        .unwrap();
    stream
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_body_is_cut_with_408_and_other_listeners_keep_answering() {
    let db = TestDatabase::new(Backend::Sqlite);
    let database = Database::connect(&db.settings()).unwrap();
    let attacked = start(&database);
    let other = start(&database);

    // Many stalled bodies on one listener.
    let stalled: Vec<TcpStream> =
        tokio::task::spawn_blocking(move || (0..200).map(|_| stalled_request(attacked)).collect())
            .await
            .unwrap();
    // The other listener still answers at once.
    let health = exchange(
        other,
        "GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(health.starts_with("HTTP/1.1 200"), "{health}");

    // Each stalled request gets 408 in JSON once its second has passed.
    let answers = tokio::task::spawn_blocking(move || {
        stalled
            .into_iter()
            .map(|mut stream| {
                stream
                    .set_read_timeout(Some(Duration::from_secs(30)))
                    .unwrap();
                let mut answer = Vec::new();
                let mut buf = [0u8; 1024];
                // Read until the end of the JSON body (the connection may stay open).
                while !answer.ends_with(b"}") {
                    match stream.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => answer.extend_from_slice(&buf[..n]),
                    }
                }
                String::from_utf8_lossy(&answer).into_owned()
            })
            .collect::<Vec<_>>()
    })
    .await
    .unwrap();
    for answer in answers {
        assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
        assert!(answer.contains("\"code\":\"request_timeout\""), "{answer}");
    }

    // A body that arrives in time is read as before.
    let echo = exchange(
        attacked,
        "POST /echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 5\r\n\r\nhello",
    )
    .await;
    assert!(
        echo.starts_with("HTTP/1.1 200") && echo.ends_with("hello"),
        "{echo}"
    );
}

/// Sends `request` (which asks for `Connection: close`) and reads the answer to its end.
async fn exchange(addr: std::net::SocketAddr, request: &'static str) -> String {
    tokio::task::spawn_blocking(move || {
        let mut stream = TcpStream::connect(addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        stream.write_all(request.as_bytes()).unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).unwrap();
        answer
    })
    .await
    .unwrap()
}
