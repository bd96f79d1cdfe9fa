//! stellar-core's admission rules, always on: one transaction per source account in the
//! queue, ledger capacity with surge pricing, ageing out, fee-bump replacement, and Horizon's
//! answers to `/transactions_async` and `/transactions`.

mod common;

use std::time::Duration;

use common::*;
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
