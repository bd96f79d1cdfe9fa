//! Streamed payments against a real sandbox: live records, resuming, idle and closed streams.

use crate::common;

use std::time::Duration;

use common::*;
use futures_util::{Stream, StreamExt};
use horizon::{Error, HorizonClient, HorizonSettings, PaymentRecord, PaymentsQuery};
use sandbox::{Sandbox, SandboxConfig};
use tokio::sync::mpsc;

/// Drives `stream` on a task of its own, so that it connects now and keeps reading.
fn spawn_reader(
    stream: impl Stream<Item = Result<PaymentRecord, Error>> + Send + 'static,
) -> mpsc::UnboundedReceiver<Result<PaymentRecord, Error>> {
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut stream = std::pin::pin!(stream);
        while let Some(item) = stream.next().await {
            if tx.send(item).is_err() {
                break;
            }
        }
    });
    rx
}

const WAIT: Duration = Duration::from_secs(10);

/// Time given to a stream to connect before a payment it must see (cursor `now`).
const CONNECT: Duration = Duration::from_millis(800);

#[tokio::test]
async fn live_payments_then_resume_from_a_paging_token() {
    let sandbox = start().await;
    let horizon = client(&sandbox);
    let (alice, bob) = (funded(&sandbox).await, funded(&sandbox).await);
    let live = PaymentsQuery {
        account: Some(bob.public_key()),
        cursor: Some("now".into()),
        join_transactions: true,
        ..PaymentsQuery::default()
    };
    let mut records = spawn_reader(horizon.stream_payments(live));
    // Let the stream connect, so that "now" is before the payment.
    tokio::time::sleep(CONNECT).await;

    let first = pay(&sandbox, &horizon, &alice, &bob, "4", "live").await;
    let record = within(WAIT, records.recv()).await.unwrap().unwrap();
    assert_eq!(record.transaction_hash, first);
    assert_eq!(record.kind, "payment");
    assert_eq!(record.amount.as_deref(), Some("4.0000000"));
    let memo = record.transaction.as_ref().and_then(|t| t.memo.as_deref());
    assert_eq!(memo, Some("live"));

    let second = pay(&sandbox, &horizon, &alice, &bob, "5", "second").await;
    let third = pay(&sandbox, &horizon, &alice, &bob, "6", "third").await;
    let hashes: Vec<String> = [
        within(WAIT, records.recv()).await,
        within(WAIT, records.recv()).await,
    ]
    .into_iter()
    .map(|r| r.unwrap().unwrap().transaction_hash)
    .collect();
    assert_eq!(hashes, [second.clone(), third.clone()]);

    // Resuming after the first record yields exactly the two later ones.
    let resume = PaymentsQuery {
        account: Some(bob.public_key()),
        cursor: Some(record.paging_token.clone()),
        ..PaymentsQuery::default()
    };
    let mut resumed = spawn_reader(horizon.stream_payments(resume));
    let a = within(WAIT, resumed.recv()).await.unwrap().unwrap();
    let b = within(WAIT, resumed.recv()).await.unwrap().unwrap();
    assert_eq!([a.transaction_hash, b.transaction_hash], [second, third]);
    assert!(a.paging_token > record.paging_token);
    let quiet = tokio::time::timeout(Duration::from_millis(500), resumed.recv()).await;
    assert!(quiet.is_err(), "unexpected record {quiet:?}");

    // When Horizon closes the stream, it simply ends.
    sandbox.faults().close_streams();
    assert!(within(WAIT, resumed.recv()).await.is_none());
    assert!(within(WAIT, records.recv()).await.is_none());
    sandbox.shutdown().await;
}

#[tokio::test]
async fn a_stalled_stream_ends_with_stream_idle() {
    let sandbox = Sandbox::start(SandboxConfig {
        keepalive_interval: Duration::from_millis(200),
        ..SandboxConfig::for_tests()
    })
    .await
    .unwrap();
    let horizon = HorizonClient::new(
        &sandbox.url(),
        &HorizonSettings {
            stream_idle_timeout_seconds: 1,
            ..settings()
        },
    )
    .unwrap();
    let (alice, bob) = (funded(&sandbox).await, funded(&sandbox).await);
    let mut records = spawn_reader(horizon.stream_payments(PaymentsQuery {
        account: Some(bob.public_key()),
        cursor: Some("now".into()),
        ..PaymentsQuery::default()
    }));
    tokio::time::sleep(CONNECT).await;
    let hash = pay(&sandbox, &horizon, &alice, &bob, "1", "before the stall").await;
    let record = within(WAIT, records.recv()).await.unwrap().unwrap();
    assert_eq!(record.transaction_hash, hash);

    // Keep-alives alone keep a quiet stream open past the idle timeout…
    let quiet = tokio::time::timeout(Duration::from_millis(1_800), records.recv()).await;
    assert!(quiet.is_err(), "unexpected item {quiet:?}");

    // …but a stream that sends nothing at all ends with StreamIdle.
    sandbox.faults().stall_streams(true);
    let ended = within(Duration::from_secs(5), records.recv()).await;
    assert_eq!(ended, Some(Err(Error::StreamIdle)));
    assert!(within(WAIT, records.recv()).await.is_none());
    sandbox.shutdown().await;
}

#[tokio::test]
async fn a_stream_refused_by_horizon_yields_the_error() {
    let sandbox = start().await;
    let horizon = client(&sandbox);
    sandbox.faults().fail_next_requests(503, 1);
    let mut stream = std::pin::pin!(horizon.stream_payments(PaymentsQuery::default()));
    let first = within(WAIT, stream.next()).await;
    assert!(
        matches!(first, Some(Err(Error::Unavailable { status: 503, .. }))),
        "{first:?}"
    );
    assert!(within(WAIT, stream.next()).await.is_none());

    let mut bad = std::pin::pin!(horizon.stream_payments(PaymentsQuery {
        cursor: Some("tomorrow".into()),
        ..PaymentsQuery::default()
    }));
    let first = within(WAIT, bad.next()).await;
    assert!(
        matches!(first, Some(Err(Error::BadRequest { status: 400, .. }))),
        "{first:?}"
    );
    sandbox.shutdown().await;
}
