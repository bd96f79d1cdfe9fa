//! No payment is sent twice: idempotent ids, concurrency on one source account, and the
//! sandbox's faults (504 after apply, 503 before apply, a submission stalled past its time
//! bound), on every backend.

use std::time::Duration;

use crate::common::*;
use service::database::Backend;
use stellar_base::KeyPair;

service::backend_tests!(a_repeated_id_returns_the_stored_outcome_and_a_changed_request_conflicts);
async fn a_repeated_id_returns_the_stored_outcome_and_a_changed_request_conflicts(
    backend: Backend,
) {
    let bridge = TestBridge::start(backend).await;
    let dest = KeyPair::random().public_key();
    bridge.sandbox.fund(dest).await.unwrap();
    let form = [
        ("id", "order-1"),
        ("destination", &dest.to_string()),
        ("amount", "7"),
    ];
    let (status, first) = bridge.pay(&form).await;
    assert_eq!(status, 200, "{backend}: {first}");
    let (status, again) = bridge.pay(&form).await;
    assert_eq!((status, &again["hash"]), (200, &first["hash"]));
    assert_eq!(
        bridge.balance(&dest, "native").await.unwrap(),
        "10007.0000000"
    );
    let (status, body) = bridge
        .pay(&[
            ("id", "order-1"),
            ("destination", &dest.to_string()),
            ("amount", "8"),
        ])
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("payment_id_conflict"))
    );
    assert_eq!(bridge.payments_to(&dest).await.len(), 1, "{backend}");
}

service::backend_tests!(a_hundred_concurrent_payments_from_one_account_all_land_once);
async fn a_hundred_concurrent_payments_from_one_account_all_land_once(backend: Backend) {
    let bridge = std::sync::Arc::new(TestBridge::start(backend).await);
    let dest = KeyPair::random().public_key();
    bridge.sandbox.fund(dest).await.unwrap();
    let tasks: Vec<_> = (0..100)
        .map(|i| {
            let bridge = bridge.clone();
            let dest = dest.to_string();
            tokio::spawn(async move {
                let id = format!("c{i}");
                bridge
                    .pay(&[("id", &id), ("destination", &dest), ("amount", "1")])
                    .await
            })
        })
        .collect();
    let mut hashes = std::collections::HashSet::new();
    for task in tasks {
        let (status, body) = task.await.unwrap();
        assert_eq!(status, 200, "{backend}: {body}");
        hashes.insert(body["hash"].as_str().unwrap().to_owned());
    }
    assert_eq!(hashes.len(), 100);
    assert_eq!(
        bridge.balance(&dest, "native").await.unwrap(),
        "10100.0000000",
        "{backend}"
    );
    assert_eq!(bridge.payments_to(&dest).await.len(), 100);
}

service::backend_tests!(a_504_after_apply_is_resolved_by_hash_and_paid_once);
async fn a_504_after_apply_is_resolved_by_hash_and_paid_once(backend: Backend) {
    let bridge = TestBridge::start(backend).await;
    let dest = KeyPair::random().public_key();
    bridge.sandbox.fund(dest).await.unwrap();
    bridge.sandbox.faults().timeout_next_submissions(1);
    let form = [
        ("id", "t504"),
        ("destination", &dest.to_string()),
        ("amount", "2"),
    ];
    let (status, first) = bridge.pay(&form).await;
    assert_eq!(
        bridge.sandbox.faults().submission_timeouts_left(),
        0,
        "the submission was queued and answered 504"
    );
    // Found by hash while the request waited, or reported pending with the hash.
    assert!(status == 200 || status == 202, "{backend}: {first}");
    let (status, last) = bridge.pay(&form).await;
    assert_eq!(status, 200, "{backend}: {last}");
    assert_eq!(
        bridge.balance(&dest, "native").await.unwrap(),
        "10002.0000000"
    );
    assert_eq!(bridge.payments_to(&dest).await.len(), 1);
}

service::backend_tests!(a_503_before_apply_is_retried_and_paid_once);
async fn a_503_before_apply_is_retried_and_paid_once(backend: Backend) {
    let bridge = TestBridge::start(backend).await;
    let dest = KeyPair::random().public_key();
    bridge.sandbox.fund(dest).await.unwrap();
    // Warm the sequence so the 503s hit the submission itself.
    bridge
        .pay(&[("destination", &dest.to_string()), ("amount", "1")])
        .await;
    bridge.sandbox.faults().fail_next_requests(503, 2);
    let (status, body) = bridge
        .pay(&[
            ("id", "t503"),
            ("destination", &dest.to_string()),
            ("amount", "2"),
        ])
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        bridge.balance(&dest, "native").await.unwrap(),
        "10003.0000000"
    );
    assert_eq!(bridge.payments_to(&dest).await.len(), 2);
}

#[tokio::test]
async fn a_submission_stalled_past_its_time_bound_is_rebuilt_only_after_expiry() {
    let bridge = TestBridge::start_with(service::database::Backend::Sqlite, |c| {
        c.horizon_client.submit_timeout_seconds = 2;
        c.pending_wait_seconds = 1;
    })
    .await;
    let dest = KeyPair::random().public_key();
    bridge.sandbox.fund(dest).await.unwrap();
    // Ledgers stop closing: the submission hangs until the client gives up.
    bridge.sandbox.faults().pause_closing(true);
    let form = [
        ("id", "stall"),
        ("destination", &dest.to_string()),
        ("amount", "4"),
    ];
    let (status, first) = bridge.pay(&form).await;
    assert_eq!(status, 202, "{first}");
    assert_eq!(first["code"], "transaction_pending");
    let first_hash = first["data"]["hash"].as_str().unwrap().to_owned();
    // Still within its time bound: a repeat must not build a second payment.
    let (status, again) = bridge.pay(&form).await;
    assert!(status == 202, "{again}");
    assert_eq!(again["data"]["hash"], first_hash);
    // Past the time bound (10 s) and the grace period, with ledgers closing again.
    tokio::time::sleep(Duration::from_secs(27)).await;
    bridge.sandbox.faults().pause_closing(false);
    let (status, last) = bridge.pay(&form).await;
    assert_eq!(status, 200, "{last}");
    assert_eq!(
        bridge.balance(&dest, "native").await.unwrap(),
        "10004.0000000"
    );
    assert_eq!(bridge.payments_to(&dest).await.len(), 1);
}

service::backend_tests!(a_sequence_moved_behind_the_bridges_back_is_resynced);
/// Someone else uses the source account (another tool holding the same seed, a second bridge):
/// the sequence the bridge holds is now behind the network's. The next payment meets
/// `tx_bad_seq`, reloads the sequence from Horizon and lands once; the caller never sees it.
async fn a_sequence_moved_behind_the_bridges_back_is_resynced(backend: Backend) {
    let bridge = TestBridge::start(backend).await;
    let dest = KeyPair::random().public_key();
    bridge.sandbox.fund(dest).await.unwrap();
    let pay = |id: &'static str| {
        let dest = dest.to_string();
        let bridge = &bridge;
        async move {
            bridge
                .pay(&[("id", id), ("destination", &dest), ("amount", "1")])
                .await
        }
    };
    let (status, body) = pay("before").await;
    assert_eq!(status, 200, "{body}");
    let held = bridge
        .sandbox
        .account(&bridge.source.public_key())
        .unwrap()
        .sequence;
    // Three transactions from the same account, not through the bridge.
    for _ in 0..3 {
        bridge
            .submit_ops(
                &bridge.source,
                stellar_base::Memo::None,
                vec![stellar_base::transaction::Operation::payment(
                    dest.into(),
                    &stellar_base::Asset::Native,
                    "0.5".parse().unwrap(),
                )],
            )
            .await;
    }
    assert_eq!(
        bridge
            .sandbox
            .account(&bridge.source.public_key())
            .unwrap()
            .sequence,
        held + 3
    );
    let (status, body) = pay("after").await;
    assert_eq!(status, 200, "{backend}: {body}");
    let tx = bridge.transaction(body["hash"].as_str().unwrap()).await;
    assert_eq!(
        tx["source_account_sequence"],
        (held + 4).to_string(),
        "{tx}"
    );
    assert_eq!(
        bridge.balance(&dest, "native").await.unwrap(),
        "10003.5000000",
        "each payment landed once"
    );
}
