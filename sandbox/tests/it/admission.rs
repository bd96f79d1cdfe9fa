//! stellar-core's admission rules, always on: one transaction per source account in the
//! queue, ledger capacity with surge pricing, ageing out, fee-bump replacement, and Horizon's
//! answers to `/transactions_async` and `/transactions`.

use std::time::Duration;

use crate::common::*;
use serde_json::Value;
use stellar_base::xdr::{self, ReadXdr};
use stellar_base::{Envelope, KeyPair, Operation, TransactionBuilder};

async fn start_with(edit: impl FnOnce(&mut SandboxConfig)) -> RunningSandbox {
    let mut config = SandboxConfig::for_tests();
    edit(&mut config);
    Sandbox::start(config).await.unwrap()
}

/// A one-payment transaction from `key` with sequence `seq`, bidding `fee` per operation.
fn payment(sandbox: &RunningSandbox, key: &KeyPair, seq: i64, fee: u32) -> Envelope {
    TransactionBuilder::new(key.public_key().into(), seq)
        .base_fee(fee)
        .operation(Operation::payment(
            addr(key),
            &stellar_base::Asset::Native,
            "1".parse().unwrap(),
        ))
        .sign(&sandbox.network(), &[key])
        .unwrap()
}

async fn submit_async(sandbox: &RunningSandbox, envelope: &Envelope) -> (u16, Value) {
    let response = client()
        .post(format!("{}/transactions_async", sandbox.url()))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(format!("tx={}", form_encode(&envelope.to_base64())))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

fn result_of(body: &Value) -> xdr::TransactionResult {
    xdr::TransactionResult::from_xdr_base64(
        body["error_result_xdr"].as_str().unwrap(),
        xdr::Limits::none(),
    )
    .unwrap()
}

#[tokio::test]
async fn one_transaction_per_source_account_with_horizons_async_answers() {
    let sandbox = start().await;
    let alice = funded(&sandbox).await;
    let bob = funded(&sandbox).await;
    sandbox.faults().pause_closing(true);
    let seq = next_seq(&sandbox, &alice);
    let first = payment(&sandbox, &alice, seq, 100);
    let (status, body) = submit_async(&sandbox, &first).await;
    assert_eq!(
        (status, body["tx_status"].as_str()),
        (201, Some("PENDING")),
        "{body}"
    );
    assert_eq!(body["hash"], first.hash_hex(&sandbox.network()));
    // The same envelope again.
    let (status, body) = submit_async(&sandbox, &first).await;
    assert_eq!(
        (status, body["tx_status"].as_str()),
        (409, Some("DUPLICATE")),
        "{body}"
    );
    // A second transaction from the same source, even with the next sequence number.
    let second = payment(&sandbox, &alice, seq + 1, 100);
    let (status, body) = submit_async(&sandbox, &second).await;
    assert_eq!(
        (status, body["tx_status"].as_str()),
        (503, Some("TRY_AGAIN_LATER")),
        "{body}"
    );
    // An older sequence number is an error, with stellar-core's result.
    let stale = payment(&sandbox, &alice, seq - 1, 100);
    let (status, body) = submit_async(&sandbox, &stale).await;
    assert_eq!(
        (status, body["tx_status"].as_str()),
        (400, Some("ERROR")),
        "{body}"
    );
    assert!(matches!(
        result_of(&body).result,
        xdr::TransactionResultResult::TxBadSeq
    ));
    // Invalid at admission: a bad signature never reaches the queue.
    let mallory = KeyPair::random();
    let forged = TransactionBuilder::new(bob.public_key().into(), next_seq(&sandbox, &bob))
        .operation(Operation::payment(
            addr(&alice),
            &stellar_base::Asset::Native,
            "1".parse().unwrap(),
        ))
        .sign(&sandbox.network(), &[&mallory])
        .unwrap();
    let (status, body) = submit_async(&sandbox, &forged).await;
    assert_eq!(
        (status, body["tx_status"].as_str()),
        (400, Some("ERROR")),
        "{body}"
    );
    assert!(matches!(
        result_of(&body).result,
        xdr::TransactionResultResult::TxBadAuth
    ));

    sandbox.close_ledger();
    let (status, tx) = get(
        &sandbox,
        &format!("/transactions/{}", first.hash_hex(&sandbox.network())),
    )
    .await;
    assert_eq!(
        (status, tx["successful"].as_bool()),
        (200, Some(true)),
        "{tx}"
    );
    // Once the first is in, the next one is admitted.
    let (status, body) = submit_async(&sandbox, &second).await;
    assert_eq!(
        (status, body["tx_status"].as_str()),
        (201, Some("PENDING")),
        "{body}"
    );
    sandbox.close_ledger();
    assert_eq!(
        sandbox.account(&alice.public_key()).unwrap().sequence,
        seq + 1
    );
    sandbox.shutdown().await;
}

#[tokio::test]
async fn the_synchronous_endpoint_times_out_like_horizon_when_the_source_is_busy() {
    let sandbox = start_with(|c| c.submission_timeout = Duration::from_millis(300)).await;
    let alice = funded(&sandbox).await;
    sandbox.faults().pause_closing(true);
    let seq = next_seq(&sandbox, &alice);
    let first = payment(&sandbox, &alice, seq, 100);
    assert_eq!(submit_async(&sandbox, &first).await.0, 201);
    let second = payment(&sandbox, &alice, seq + 1, 100);
    let started = std::time::Instant::now();
    let (status, body) = submit(&sandbox, &second).await;
    assert_eq!(
        (status, body["type"].as_str()),
        (504, Some("https://stellar.org/horizon-errors/timeout")),
        "{body}"
    );
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "Horizon holds the request until its timeout"
    );
    // A queued transaction that never closes also times out; it is not lost for that.
    let (status, _) = submit(&sandbox, &first).await;
    assert_eq!(status, 504);
    sandbox.faults().pause_closing(false);
    let (status, body) = submit(&sandbox, &first).await;
    assert_eq!(
        (status, body["successful"].as_bool()),
        (200, Some(true)),
        "{body}"
    );
    sandbox.shutdown().await;
}

#[tokio::test]
async fn ledgers_hold_their_capacity_and_surge_pricing_charges_the_lowest_included_bid() {
    let sandbox = start_with(|c| c.limits.max_ops_per_ledger = 3).await;
    let mut keys = Vec::new();
    for _ in 0..5 {
        keys.push(funded(&sandbox).await);
    }
    sandbox.faults().pause_closing(true);
    let mut hashes = Vec::new();
    for (key, fee) in keys.iter().zip([100u32, 500, 200, 400, 300]) {
        let envelope = payment(&sandbox, key, next_seq(&sandbox, key), fee);
        assert_eq!(submit_async(&sandbox, &envelope).await.0, 201);
        hashes.push((fee, envelope.hash_hex(&sandbox.network())));
    }
    let ledger = sandbox.latest_ledger() + 1;
    sandbox.close_ledger();
    let mut included = Vec::new();
    for (fee, hash) in &hashes {
        let (status, tx) = get(&sandbox, &format!("/transactions/{hash}")).await;
        if status == 200 {
            assert_eq!(tx["ledger"], ledger);
            // Everyone pays the lowest included bid per operation, never more than their own.
            assert_eq!(tx["fee_charged"], "300", "bid {fee}: {tx}");
            included.push(*fee);
        }
    }
    included.sort_unstable();
    assert_eq!(included, [300, 400, 500], "the highest bids went first");
    // The rest fit the next ledger, which is not surging: the network's base fee.
    sandbox.close_ledger();
    for (fee, hash) in &hashes[..] {
        if *fee <= 200 {
            let (status, tx) = get(&sandbox, &format!("/transactions/{hash}")).await;
            assert_eq!(
                (status, tx["fee_charged"].as_str()),
                (200, Some("100")),
                "{tx}"
            );
        }
    }
    sandbox.shutdown().await;
}

#[tokio::test]
async fn a_transaction_left_out_too_long_is_dropped_and_banned_for_a_while() {
    let sandbox = start_with(|c| {
        c.limits.max_ops_per_ledger = 1;
        c.limits.queue_ledgers = 2;
    })
    .await;
    let keys = [
        funded(&sandbox).await,
        funded(&sandbox).await,
        funded(&sandbox).await,
    ];
    sandbox.faults().pause_closing(true);
    let envelopes: Vec<Envelope> = keys
        .iter()
        .map(|k| payment(&sandbox, k, next_seq(&sandbox, k), 100))
        .collect();
    for envelope in &envelopes {
        assert_eq!(submit_async(&sandbox, envelope).await.0, 201);
    }
    sandbox.close_ledger();
    sandbox.close_ledger();
    let hash = envelopes[2].hash_hex(&sandbox.network());
    let (status, _) = get(&sandbox, &format!("/transactions/{hash}")).await;
    assert_eq!(
        status, 404,
        "left out of two ledgers: dropped, never applied"
    );
    let (status, body) = submit_async(&sandbox, &envelopes[2]).await;
    assert_eq!(
        (status, body["tx_status"].as_str()),
        (503, Some("TRY_AGAIN_LATER")),
        "banned"
    );
    // The same payment under a new envelope (another fee) is a new transaction.
    let again = payment(&sandbox, &keys[2], next_seq(&sandbox, &keys[2]), 101);
    assert_eq!(submit_async(&sandbox, &again).await.0, 201);
    sandbox.close_ledger();
    let (status, _) = get(
        &sandbox,
        &format!("/transactions/{}", again.hash_hex(&sandbox.network())),
    )
    .await;
    assert_eq!(status, 200);
    sandbox.shutdown().await;
}

#[tokio::test]
async fn a_fee_bump_replaces_a_queued_transaction_only_at_ten_times_its_rate() {
    let sandbox = start().await;
    let alice = funded(&sandbox).await;
    let sponsor = funded(&sandbox).await;
    sandbox.faults().pause_closing(true);
    let inner_seq = next_seq(&sandbox, &alice);
    let inner = payment(&sandbox, &alice, inner_seq, 100);
    assert_eq!(submit_async(&sandbox, &inner).await.0, 201);
    let bump = |fee: i64| {
        let mut envelope = inner.fee_bump(addr(&sponsor), fee).unwrap();
        envelope.sign(&sponsor, &sandbox.network()).unwrap();
        envelope
    };
    // Two operations' worth (inner + the bump) at 10x the queued 100 per operation: 2 000.
    let (status, body) = submit_async(&sandbox, &bump(1_999)).await;
    assert_eq!(
        (status, body["tx_status"].as_str()),
        (400, Some("ERROR")),
        "{body}"
    );
    let result = result_of(&body);
    assert!(matches!(
        result.result,
        xdr::TransactionResultResult::TxInsufficientFee
    ));
    assert_eq!(result.fee_charged, 2_000, "the fee that would replace it");
    let replacement = bump(2_000);
    let (status, body) = submit_async(&sandbox, &replacement).await;
    assert_eq!(
        (status, body["tx_status"].as_str()),
        (201, Some("PENDING")),
        "{body}"
    );
    let sponsor_before = sandbox.account(&sponsor.public_key()).unwrap().balance;
    let alice_before = sandbox.account(&alice.public_key()).unwrap().balance;
    sandbox.close_ledger();
    let hash = replacement.hash_hex(&sandbox.network());
    let (status, tx) = get(&sandbox, &format!("/transactions/{hash}")).await;
    assert_eq!(
        (status, tx["successful"].as_bool()),
        (200, Some(true)),
        "{tx}"
    );
    // The fee source paid (the base fee for two operations: no surge), not alice.
    assert_eq!(
        sponsor_before - sandbox.account(&sponsor.public_key()).unwrap().balance,
        200
    );
    assert_eq!(
        sandbox.account(&alice.public_key()).unwrap().balance,
        alice_before
    );
    // The inner transaction was applied once, under the fee bump: one sequence number used.
    assert_eq!(
        sandbox.account(&alice.public_key()).unwrap().sequence,
        inner_seq
    );
    sandbox.shutdown().await;
}

/// `fee_charged` and `max_fee` of `/fee_stats` as `[min, max, mode, p10 … p99]`.
fn distribution(fees: &Value, name: &str) -> Vec<i64> {
    [
        "min", "max", "mode", "p10", "p20", "p30", "p40", "p50", "p60", "p70", "p80", "p90",
    ]
    .iter()
    .chain(&["p95", "p99"])
    .map(|key| fees[name][key].as_str().unwrap().parse().unwrap())
    .collect()
}

#[tokio::test]
async fn fee_stats_are_horizons_over_the_last_five_ledgers_under_surge() {
    // Capacity 3 operations a ledger.
    let sandbox = start_with(|c| c.limits.max_ops_per_ledger = 3).await;
    let bidders: Vec<KeyPair> = {
        let mut keys = Vec::new();
        for _ in 0..5 {
            keys.push(funded(&sandbox).await);
        }
        keys
    };
    let (two_ops, inner_source, sponsor) = (
        funded(&sandbox).await,
        funded(&sandbox).await,
        funded(&sandbox).await,
    );
    sandbox.faults().pause_closing(true);
    // Five empty ledgers: the window Horizon looks at holds none of the funding.
    for _ in 0..5 {
        sandbox.close_ledger();
    }
    let (_, fees) = get(&sandbox, "/fee_stats").await;
    assert_eq!(distribution(&fees, "fee_charged"), [100; 14], "{fees}");
    assert_eq!(distribution(&fees, "max_fee"), [100; 14], "{fees}");
    assert_eq!(fees["ledger_capacity_usage"], "0", "{fees}");

    // Ledger A: bids 100, 500, 200, 400, 300 for one operation each; 500, 400 and 300 fit
    // and pay 300.
    for (key, fee) in bidders.iter().zip([100u32, 500, 200, 400, 300]) {
        let envelope = payment(&sandbox, key, next_seq(&sandbox, key), fee);
        assert_eq!(submit_async(&sandbox, &envelope).await.0, 201);
    }
    sandbox.close_ledger();
    // Ledger B: a two-operation transaction bidding 1 000 (500 per operation) and the 200
    // fit (3 operations); the 100 waits again. Both pay 200 per operation.
    let pay = || {
        Operation::payment(
            addr(&two_ops),
            &stellar_base::Asset::Native,
            "1".parse().unwrap(),
        )
    };
    let envelope =
        TransactionBuilder::new(two_ops.public_key().into(), next_seq(&sandbox, &two_ops))
            .base_fee(500)
            .operation(pay())
            .operation(pay())
            .sign(&sandbox.network(), &[&two_ops])
            .unwrap();
    assert_eq!(submit_async(&sandbox, &envelope).await.0, 201);
    sandbox.close_ledger();
    // Ledger C: the 100 and a fee bump (2 000 for inner + bump = 1 000 per operation) that
    // replaced a 100 bid: 3 operations, no surge, both pay 100 per operation.
    let inner = payment(
        &sandbox,
        &inner_source,
        next_seq(&sandbox, &inner_source),
        100,
    );
    assert_eq!(submit_async(&sandbox, &inner).await.0, 201);
    let mut bump = inner.fee_bump(addr(&sponsor), 2_000).unwrap();
    bump.sign(&sponsor, &sandbox.network()).unwrap();
    assert_eq!(submit_async(&sandbox, &bump).await.0, 201);
    let last = sandbox.latest_ledger() + 1;
    sandbox.close_ledger();
    let (_, tx) = get(
        &sandbox,
        &format!("/transactions/{}", bump.hash_hex(&sandbox.network())),
    )
    .await;
    assert_eq!(tx["fee_charged"], "200", "{tx}");

    // Per operation (fee / operations, plus one for the fee bump, integer division):
    // fee_charged 300 300 300 | 200 200 | 100 100 -> sorted 100 100 200 200 300 300 300
    // max_fee     500 400 300 | 500 200 | 100 1000 -> sorted 100 200 300 400 500 500 1000
    // percentile_disc(p) over 7 rows takes row ceil(7p): p10 1, p20 2, p30 3, p40 3, p50 4,
    // p60 5, p70 5, p80 6, p90 7, p95 7, p99 7.
    let (status, fees) = get(&sandbox, "/fee_stats").await;
    assert_eq!(status, 200);
    assert_eq!(fees["last_ledger"], last.to_string(), "{fees}");
    // The header's base fee, which surge pricing does not change.
    assert_eq!(fees["last_ledger_base_fee"], "100", "{fees}");
    assert_eq!(
        distribution(&fees, "fee_charged"),
        [
            100, 300, 300, 100, 100, 200, 200, 200, 300, 300, 300, 300, 300, 300
        ],
        "{fees}"
    );
    assert_eq!(
        distribution(&fees, "max_fee"),
        [
            100, 1000, 500, 100, 200, 300, 300, 400, 500, 500, 500, 1000, 1000, 1000
        ],
        "{fees}"
    );
    // Operations over capacity in the last 5 ledgers (two empty, A, B, C), as Horizon counts
    // them (a fee bump's inner operations): (0 + 0 + 3 + 3 + 2) / (5 * 3) = 0.53.
    assert_eq!(fees["ledger_capacity_usage"], "0.53", "{fees}");
    let (_, ledger) = get(&sandbox, &format!("/ledgers/{last}")).await;
    assert_eq!(ledger["max_tx_set_size"], 3, "{ledger}");

    // Five quiet ledgers later the window is empty again: every figure is the base fee.
    for _ in 0..5 {
        sandbox.close_ledger();
    }
    let (_, fees) = get(&sandbox, "/fee_stats").await;
    assert_eq!(distribution(&fees, "fee_charged"), [100; 14], "{fees}");
    assert_eq!(distribution(&fees, "max_fee"), [100; 14], "{fees}");
    assert_eq!(fees["ledger_capacity_usage"], "0", "{fees}");
    sandbox.shutdown().await;
}
