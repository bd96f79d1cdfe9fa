//! Throughput of the receiving side (a benchmark that also runs as a test): a backlog of
//! payments already in the ledger is caught up from `beginning`, recorded and delivered to a
//! fast local callback. `RECEIVE_BENCH_PAYMENTS` sets the backlog (default 2 000; the numbers
//! in docs/PERFORMANCE.md use 100 000), `RECEIVE_BENCH_BACKEND` the database (default sqlite).

mod common;

use std::collections::HashSet;
use std::time::{Duration, Instant};

use common::{BackOffice, TestBridge, receiving_config};
use service::database::Backend;
use stellar_base::transaction::Operation;
use stellar_base::{Asset, KeyPair, Memo};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backlog_is_caught_up_and_delivered() {
    let count: usize = std::env::var("RECEIVE_BENCH_PAYMENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2_000);
    let backend = match std::env::var("RECEIVE_BENCH_BACKEND").as_deref() {
        Ok("mysql") => Backend::Mysql,
        Ok("postgres") => Backend::Postgres,
        _ => Backend::Sqlite,
    };
    let bridge = TestBridge::start(backend).await;
    let receiver = KeyPair::random();
    bridge.sandbox.fund(receiver.public_key()).await.unwrap();
    let op = Operation::payment(
        receiver.public_key().into(),
        &Asset::Native,
        "0.0000001".parse().unwrap(),
    );
    let started = Instant::now();
    for _ in 0..count.div_ceil(100) {
        bridge
            .submit_ops(&bridge.source, Memo::Id(7), vec![op.clone(); 100])
            .await;
    }
    let total = count.div_ceil(100) * 100 + 1;
    eprintln!(
        "backlog of {total} payments built in {:?}",
        started.elapsed()
    );

    let office = BackOffice::start();
    let started = Instant::now();
    let (_url, receiving, _db) = bridge
        .another(backend, |c| {
            receiving_config(c, &receiver.public_key(), &office);
            c.receiving.delivery_concurrency = 32;
        })
        .await;
    let account = receiver.public_key().to_string();
    let deadline = started + Duration::from_secs(600);
    let mut recorded_at = None;
    // Polled cheaply (a COUNT, the number of callbacks), so that watching does not slow down
    // what is watched; distinct ids are counted once enough callbacks came.
    loop {
        if recorded_at.is_none() && receiving.store().count(&account).await.unwrap() >= total {
            recorded_at = Some(started.elapsed());
        }
        let calls = office.calls.lock().unwrap().len();
        let delivered = if calls >= total {
            office
                .calls
                .lock()
                .unwrap()
                .iter()
                .filter(|c| c.path == "/receive")
                .map(|c| c.form["id"].as_str())
                .collect::<HashSet<_>>()
                .len()
        } else {
            calls
        };
        if delivered >= total {
            break;
        }
        assert!(Instant::now() < deadline, "{delivered}/{total} delivered");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let delivered_at = started.elapsed();
    let recorded_at = recorded_at.unwrap_or(delivered_at);
    eprintln!(
        "{backend}: {total} payments recorded in {recorded_at:?} ({:.0}/s), delivered in \
         {delivered_at:?} ({:.0}/s)",
        total as f64 / recorded_at.as_secs_f64(),
        total as f64 / delivered_at.as_secs_f64(),
    );
    let rows = receiving.store().all(&account).await.unwrap();
    assert_eq!(rows.len(), total);
    assert_eq!(receiving.store().count(&account).await.unwrap(), total);
    assert!(rows.iter().all(|r| r.status == "success"));
    receiving.shutdown().await;
}
