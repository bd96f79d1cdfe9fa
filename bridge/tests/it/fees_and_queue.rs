//! Sending under stellar-core's admission rules (beside `exactly_once.rs`): the fee follows
//! `/fee_stats` within `max_fee` when other traffic fills the ledgers at a higher fee, a
//! payment priced out by the cap waits and answers 202 with the fee-cap reason and never pays
//! more than the cap, and `TRY_AGAIN_LATER` (the source's slot in the queue taken) is retried
//! with the same envelope; on every backend.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::common::*;
use sandbox::SandboxConfig;
use service::database::Backend;
use stellar_base::transaction::{Operation, unix_now};
use stellar_base::xdr;
use stellar_base::{Asset, Envelope, KeyPair, Memo, PublicKey, TransactionBuilder};

/// What the traffic bids per operation.
const TRAFFIC_FEE: u32 = 1_000;

/// A network of two operations per ledger, closing every 200 ms.
fn small_network() -> SandboxConfig {
    let mut config = SandboxConfig::for_tests();
    config.close_interval = Duration::from_millis(200);
    config.limits.max_ops_per_ledger = 2;
    config
}

/// Other traffic: `accounts` accounts each keeping one payment bidding [`TRAFFIC_FEE`] in the
/// queue, so that every ledger is full at that price. Stops when the flag is set.
async fn start_traffic(bridge: &Arc<TestBridge>, accounts: usize) -> Arc<AtomicBool> {
    let traffic = fund_traffic(bridge, accounts).await;
    run_traffic(bridge, traffic)
}

/// The accounts of [`start_traffic`], funded, and the account they pay.
async fn fund_traffic(bridge: &TestBridge, accounts: usize) -> (Vec<KeyPair>, PublicKey) {
    let sink = KeyPair::random().public_key();
    bridge.sandbox.fund(sink).await.unwrap();
    let mut keys = Vec::new();
    for _ in 0..accounts {
        let key = KeyPair::random();
        bridge.sandbox.fund(key.public_key()).await.unwrap();
        keys.push(key);
    }
    (keys, sink)
}

/// Starts the traffic of funded accounts; stops when the flag is set.
fn run_traffic(
    bridge: &Arc<TestBridge>,
    (keys, sink): (Vec<KeyPair>, PublicKey),
) -> Arc<AtomicBool> {
    let stop = Arc::new(AtomicBool::new(false));
    for key in keys {
        let (bridge, stop) = (bridge.clone(), stop.clone());
        tokio::spawn(async move {
            let mut n = 0u64;
            while !stop.load(Ordering::SeqCst) {
                n += 1;
                let sequence = bridge.sandbox.account(&key.public_key()).unwrap().sequence;
                let envelope = TransactionBuilder::new(key.public_key().into(), sequence + 1)
                    .base_fee(TRAFFIC_FEE)
                    .time_bounds(0, u64::MAX / 2)
                    .memo(Memo::Id(n))
                    .operation(Operation::payment(
                        sink.into(),
                        &Asset::Native,
                        "0.0000001".parse().unwrap(),
                    ))
                    .sign(&bridge.sandbox.network(), &[&key])
                    .unwrap();
                if bridge.sandbox.submit(&envelope).await.is_err() {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        });
    }
    stop
}

/// Waits until the network's `fee_charged` p70 is the traffic's fee: every recent ledger
/// full of it.
async fn wait_for_surge(bridge: &TestBridge) {
    for _ in 0..200 {
        let stats: serde_json::Value = reqwest::get(format!("{}/fee_stats", bridge.sandbox.url()))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let p10: i64 = stats["fee_charged"]["p10"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        if p10 >= i64::from(TRAFFIC_FEE) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the traffic never filled the ledgers");
}

/// The transactions our source account sent, per the ledger.
async fn sent_by_source(bridge: &TestBridge) -> Vec<serde_json::Value> {
    let body: serde_json::Value = reqwest::get(format!(
        "{}/accounts/{}/transactions?limit=200&order=asc",
        bridge.sandbox.url(),
        bridge.source.public_key()
    ))
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    body["_embedded"]["records"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|tx| tx["source_account"] == bridge.source.public_key().to_string())
        .cloned()
        .collect()
}

fn number(value: &serde_json::Value) -> i64 {
    value.as_str().unwrap().parse().unwrap()
}

service::backend_tests!(under_surge_the_fee_rises_within_max_fee_and_the_payment_lands);
async fn under_surge_the_fee_rises_within_max_fee_and_the_payment_lands(backend: Backend) {
    let bridge = Arc::new(
        TestBridge::start_on(backend, small_network(), |c| {
            c.max_fee = 5_000;
        })
        .await,
    );
    let dest = KeyPair::random().public_key();
    bridge.sandbox.fund(dest).await.unwrap();
    let stop = start_traffic(&bridge, 6).await;
    wait_for_surge(&bridge).await;
    let (status, body) = bridge
        .pay(&[
            ("id", "surge-1"),
            ("destination", &dest.to_string()),
            ("amount", "3"),
        ])
        .await;
    stop.store(true, Ordering::SeqCst);
    assert_eq!(status, 200, "{backend}: {body}");
    let tx = bridge.transaction(body["hash"].as_str().unwrap()).await;
    let (bid, charged) = (number(&tx["max_fee"]), number(&tx["fee_charged"]));
    assert!(
        (i64::from(TRAFFIC_FEE)..=5_000).contains(&bid),
        "{backend}: the bid follows fee_stats within max_fee: {tx}"
    );
    assert!(charged <= 5_000 && charged > 100, "{backend}: {tx}");
    assert_eq!(
        bridge.balance(&dest, "native").await.unwrap(),
        "10003.0000000",
        "{backend}"
    );
}

service::backend_tests!(
    priced_out_by_max_fee_a_payment_waits_answers_202_fee_cap_and_never_pays_more
);
async fn priced_out_by_max_fee_a_payment_waits_answers_202_fee_cap_and_never_pays_more(
    backend: Backend,
) {
    let bridge = Arc::new(
        TestBridge::start_on(backend, small_network(), |c| {
            c.max_fee = 500;
            c.pending_wait_seconds = 2;
        })
        .await,
    );
    let dest = KeyPair::random().public_key();
    bridge.sandbox.fund(dest).await.unwrap();
    let stop = start_traffic(&bridge, 6).await;
    wait_for_surge(&bridge).await;
    let form = [
        ("id", "capped-1"),
        ("destination", &dest.to_string()),
        ("amount", "5"),
    ];
    let (status, body) = bridge.pay(&form).await;
    assert_eq!(status, 202, "{backend}: {body}");
    assert_eq!(body["code"], "transaction_pending", "{body}");
    assert_eq!(body["data"]["reason"], "fee_cap", "{body}");
    assert_eq!(body["data"]["max_fee"], 500, "{body}");
    assert_eq!(body["data"]["network_fee"], TRAFFIC_FEE, "{body}");
    assert!(body["data"]["hash"].is_string(), "{body}");
    assert!(bridge.payments_to(&dest).await.is_empty(), "{backend}");
    // The surge ends: a repeat of the same id finds the payment landed, at the cap or less.
    stop.store(true, Ordering::SeqCst);
    let mut last = (0, serde_json::Value::Null);
    for _ in 0..20 {
        last = bridge.pay(&form).await;
        if last.0 == 200 {
            break;
        }
    }
    assert_eq!(last.0, 200, "{backend}: {}", last.1);
    assert_eq!(
        bridge.balance(&dest, "native").await.unwrap(),
        "10005.0000000",
        "{backend}: paid once"
    );
    let sent = sent_by_source(&bridge).await;
    assert!(!sent.is_empty());
    for tx in sent {
        assert!(
            number(&tx["max_fee"]) <= 500,
            "{backend}: bid above the cap: {tx}"
        );
        assert!(
            number(&tx["fee_charged"]) <= 500,
            "{backend}: paid above the cap: {tx}"
        );
    }
}

service::backend_tests!(try_again_later_is_retried_with_the_same_envelope);
async fn try_again_later_is_retried_with_the_same_envelope(backend: Backend) {
    let bridge = Arc::new(TestBridge::start(backend).await);
    let dest = KeyPair::random().public_key();
    bridge.sandbox.fund(dest).await.unwrap();
    // The bridge's sequence is warm: its next payment is built from what it holds.
    let (status, body) = bridge
        .pay(&[("destination", &dest.to_string()), ("amount", "1")])
        .await;
    assert_eq!(status, 200, "{body}");
    let held = bridge
        .sandbox
        .account(&bridge.source.public_key())
        .unwrap()
        .sequence;
    // Ledgers stop; another transaction from the same source (valid for 2 seconds, so it
    // never lands and leaves the sequence to the bridge) takes its slot in the queue.
    bridge.sandbox.faults().pause_closing(true);
    let outside = TransactionBuilder::new(bridge.source.public_key().into(), held + 1)
        .time_bounds(0, unix_now() + 2)
        .operation(Operation::payment(
            dest.into(),
            &Asset::Native,
            "0.5".parse().unwrap(),
        ))
        .sign(&bridge.sandbox.network(), &[&bridge.source])
        .unwrap();
    let res = reqwest::Client::new()
        .post(format!("{}/transactions_async", bridge.sandbox.url()))
        .form(&[("tx", outside.to_base64())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());
    let started = unix_now();
    let paying = {
        let (bridge, dest) = (bridge.clone(), dest.to_string());
        tokio::spawn(async move {
            bridge
                .pay(&[("id", "tal"), ("destination", &dest), ("amount", "2")])
                .await
        })
    };
    // The bridge meets TRY_AGAIN_LATER for a while.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(!paying.is_finished());
    bridge.sandbox.faults().pause_closing(false);
    let (status, body) = paying.await.unwrap();
    assert_eq!(status, 200, "{backend}: {body}");
    let tx = bridge.transaction(body["hash"].as_str().unwrap()).await;
    // Built once, before the queue freed up: the time bound of the first build
    // (transaction_timeout_seconds = 10), the sequence the outside transaction held.
    assert_eq!(
        tx["source_account_sequence"],
        (held + 1).to_string(),
        "{tx}"
    );
    let envelope = Envelope::from_base64(tx["envelope_xdr"].as_str().unwrap()).unwrap();
    let xdr::TransactionEnvelope::Tx(v1) = envelope.as_xdr() else {
        panic!("not a v1 envelope");
    };
    let xdr::Preconditions::Time(bounds) = &v1.tx.cond else {
        panic!("no time bounds: {:?}", v1.tx.cond);
    };
    assert!(
        bounds.max_time.0 <= started + 10 + 1,
        "{backend}: the envelope was rebuilt after TRY_AGAIN_LATER"
    );
    assert_eq!(
        bridge.balance(&dest, "native").await.unwrap(),
        "10003.0000000",
        "{backend}: the outside transaction expired unapplied, the payment landed once"
    );
}

service::backend_tests!(multi_thread a_transaction_left_out_by_a_surge_is_fee_bumped_within_max_fee; sqlite, postgres);
/// A payment signed at the quiet network's price, then overtaken by a surge (other traffic
/// fills every ledger at ten times its bid): the bridge wraps the same transaction in a fee bump
/// paid by its channel, at the new price and within `max_fee`, which replaces it in the queue;
/// it lands once, found by the inner hash the app was given.
async fn a_transaction_left_out_by_a_surge_is_fee_bumped_within_max_fee(backend: Backend) {
    let mut network = SandboxConfig::for_tests();
    network.close_interval = Duration::from_millis(1_000);
    network.limits.max_ops_per_ledger = 2;
    let channel = bridge::send::channels::derive(&KeyPair::from_seed_bytes([9; 32]), 1).remove(0);
    let bridge = Arc::new(
        TestBridge::start_on(backend, network, |c| {
            c.max_fee = 2_000;
            c.pending_wait_seconds = 50;
            c.transaction_timeout_seconds = 40;
            c.channels = Some(bridge::send::channels::ChannelSettings {
                seed: KeyPair::from_seed_bytes([9; 32]),
                count: 1,
                starting_balance: "5".parse().unwrap(),
            });
        })
        .await,
    );
    let dest = KeyPair::random().public_key();
    bridge.sandbox.fund(dest).await.unwrap();
    let traffic = fund_traffic(&bridge, 6).await;
    let paying = {
        let (bridge, dest) = (bridge.clone(), dest.to_string());
        tokio::spawn(async move {
            bridge
                .pay(&[("id", "bumped-1"), ("destination", &dest), ("amount", "2")])
                .await
        })
    };
    // The payment is signed at 100 per operation before the surge shows in the fee stats.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let stop = run_traffic(&bridge, traffic);
    let (status, body) = paying.await.unwrap();
    stop.store(true, Ordering::SeqCst);
    assert_eq!(status, 200, "{backend}: {body}");
    let hash = body["hash"].as_str().unwrap();
    let tx = bridge.transaction(hash).await;
    assert_eq!(tx["hash"], hash, "found by the inner hash: {tx}");
    assert!(
        tx["fee_bump_transaction"].is_object(),
        "{backend}: not bumped: {tx}"
    );
    assert_eq!(tx["fee_account"], channel.public_key().to_string(), "{tx}");
    assert_eq!(number(&tx["inner_transaction"]["max_fee"]), 100, "{tx}");
    let bid = number(&tx["max_fee"]);
    assert!(
        (2 * 1_000..=2 * 2_000).contains(&bid),
        "{backend}: ten times the old bid at least, within max_fee per operation: {tx}"
    );
    assert_eq!(
        bridge.balance(&dest, "native").await.unwrap(),
        "10002.0000000",
        "{backend}: paid once"
    );
}
