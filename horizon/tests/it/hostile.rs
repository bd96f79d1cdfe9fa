//! A broken or hostile Horizon (a wiremock server with scripted answers, not the sandbox):
//! oversized, garbled and missing answers become typed errors, never a panic or unbounded
//! memory.

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use horizon::{Error, HorizonClient, HorizonSettings, MAX_BODY_BYTES, PaymentsQuery};
use tokio::net::TcpListener;
use wiremock::{Mock, MockServer, ResponseTemplate, matchers::any};

/// A server that gives `answer` to every request; kept running while the value lives.
async fn serve(answer: ResponseTemplate) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(any()).respond_with(answer).mount(&server).await;
    server
}

/// `status` with `body` as `content_type`.
fn response(status: u16, content_type: &str, body: &[u8]) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_raw(body.to_vec(), content_type)
}

/// A server that reads each request and does not answer (for longer than any client waits).
fn silence() -> ResponseTemplate {
    ResponseTemplate::new(200).set_delay(Duration::from_secs(30))
}

fn client(url: &str) -> HorizonClient {
    let settings = HorizonSettings {
        timeout_seconds: 1,
        submit_timeout_seconds: 1,
        retries: 0,
        stream_idle_timeout_seconds: 1,
        ..HorizonSettings::default()
    };
    HorizonClient::new(url, &settings).unwrap()
}

#[tokio::test]
async fn oversized_garbled_and_silent_answers() {
    let huge = vec![b' '; MAX_BODY_BYTES + 1];
    let server = serve(response(200, "application/json", &huge)).await;
    let url = server.uri();
    let error = client(&url).root().await.unwrap_err();
    assert!(
        matches!(&error, Error::Decode(m) if m.contains("larger")),
        "{error:?}"
    );

    let server = serve(response(200, "application/json", b"{\"network")).await;
    let url = server.uri();
    let error = client(&url).fee_stats().await.unwrap_err();
    assert!(matches!(error, Error::Decode(_)), "{error:?}");
    // An unreadable answer to a submission leaves its outcome unknown.
    let error = client(&url).submit("AAAA").await.unwrap_err();
    assert!(matches!(error, Error::Decode(_)) && error.outcome_unknown());

    let html = response(502, "text/html", b"<html>bad gateway</html>");
    let server = serve(html).await;
    let url = server.uri();
    let error = client(&url).submit("AAAA").await.unwrap_err();
    assert_eq!(
        error,
        Error::Unavailable {
            status: 502,
            detail: "<html>bad gateway</html>".into()
        }
    );
    assert!(error.outcome_unknown());

    let server = serve(silence()).await;
    let url = server.uri();
    let started = Instant::now();
    let error = client(&url).submit("AAAA").await.unwrap_err();
    assert_eq!(error, Error::Timeout);
    assert!(error.outcome_unknown());
    assert!(started.elapsed() < Duration::from_secs(5));
    let error = client(&url).root().await.unwrap_err();
    assert_eq!(error, Error::Timeout);
}

#[tokio::test]
async fn unreachable_horizon_is_a_definite_transport_error() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let error = client(&url).submit("AAAA").await.unwrap_err();
    assert!(matches!(error, Error::Transport(_)), "{error:?}");
    assert!(!error.outcome_unknown() && error.is_retryable());
}

#[tokio::test]
async fn hostile_event_streams() {
    // A single event larger than the cap ends the stream instead of growing a buffer.
    let mut body = b"retry: 1000\nevent: open\ndata: \"hello\"\n\ndata: ".to_vec();
    body.extend(std::iter::repeat_n(b'x', horizon::MAX_EVENT_BYTES + 10));
    let server = serve(response(200, "text/event-stream", &body)).await;
    let url = server.uri();
    let mut stream = std::pin::pin!(client(&url).stream_payments(PaymentsQuery::default()));
    let first = stream.next().await;
    assert!(
        matches!(&first, Some(Err(Error::Decode(m))) if m.contains("larger")),
        "{first:?}"
    );
    assert!(stream.next().await.is_none());

    // A record that is not a payment record is an error, and the stream goes on.
    let body = b"id: 1\ndata: {\"nonsense\": true}\n\nid: 2\ndata: [not json\n\n";
    let server = serve(response(200, "text/event-stream", body)).await;
    let url = server.uri();
    let items: Vec<_> = client(&url)
        .stream_payments(PaymentsQuery::default())
        .collect()
        .await;
    assert_eq!(items.len(), 2, "{items:?}");
    assert!(items.iter().all(|i| matches!(i, Err(Error::Decode(_)))));

    // JSON where an event stream was expected.
    let server = serve(response(200, "application/json", b"{}")).await;
    let url = server.uri();
    let items: Vec<_> = client(&url)
        .stream_payments(PaymentsQuery::default())
        .collect()
        .await;
    assert!(
        matches!(items.as_slice(), [Err(Error::Decode(_))]),
        "{items:?}"
    );

    // No answer at all: the connection attempt times out.
    let server = serve(silence()).await;
    let url = server.uri();
    let items: Vec<_> = client(&url)
        .stream_payments(PaymentsQuery::default())
        .collect()
        .await;
    assert_eq!(items, [Err(Error::Timeout)]);

    let error = HorizonClient::new("ftp://example.com", &HorizonSettings::default()).unwrap_err();
    assert!(matches!(error, Error::Config(_)));
}
