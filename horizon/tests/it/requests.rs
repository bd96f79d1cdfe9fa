//! The client against a real sandbox: reads, submissions, failures and injected faults.

use crate::common;

use std::time::{Duration, Instant};

use common::*;
use horizon::{Error, HorizonClient, HorizonSettings, Order, PaymentsQuery, ResultCodes};
use stellar_base::{Asset, KeyPair, Memo};

#[tokio::test]
async fn root_fee_stats_and_accounts() {
    let sandbox = start().await;
    let horizon = client(&sandbox);
    let root = horizon.root().await.unwrap();
    assert_eq!(root.network_passphrase, sandbox.passphrase());
    assert!(root.history_latest_ledger >= 1);
    assert!(root.core_latest_ledger >= 1);
    assert!(!root.horizon_version.is_empty());

    let fees = horizon.fee_stats().await.unwrap();
    assert_eq!(fees.last_ledger_base_fee, 100);
    assert_eq!(fees.fee_charged.p50, 100);
    assert_eq!(fees.max_fee.p99, 100);
    assert!(fees.last_ledger >= 1);

    let stranger = KeyPair::random();
    assert_eq!(horizon.account(&stranger.public_key()).await.unwrap(), None);

    let key = funded(&sandbox).await;
    let account = horizon.account(&key.public_key()).await.unwrap().unwrap();
    assert_eq!(account.id, key.public_key().to_string());
    assert_eq!(
        account.sequence,
        sandbox.account(&key.public_key()).unwrap().sequence
    );
    assert!(account.sequence > 0);
    let native = account.balance(&Asset::Native).unwrap();
    assert_eq!(native.balance.to_string(), "10000.0000000");
    assert_eq!(account.signers[0].key, key.public_key().to_string());
    assert_eq!(account.signers[0].weight, 1);
    assert_eq!(account.thresholds.med_threshold, 0);
    assert!(!account.flags.auth_required);
    sandbox.shutdown().await;
}

#[tokio::test]
async fn submitted_payment_is_found_by_hash() {
    let sandbox = start().await;
    let horizon = client(&sandbox);
    let network = stellar_base::Network::new(horizon.root().await.unwrap().network_passphrase);
    let (alice, bob) = (funded(&sandbox).await, funded(&sandbox).await);
    let sequence = next_sequence(&horizon, &alice).await;
    let envelope = payment(
        &network,
        &alice,
        sequence,
        &bob,
        "12.5",
        Memo::Text("invoice 7".into()),
    );

    let answer = horizon.submit(&envelope.to_base64()).await.unwrap();
    assert_eq!(answer.hash, envelope.hash_hex(&network));
    assert!(answer.successful);
    assert!(answer.ledger > 1);
    assert_eq!(answer.envelope_xdr, envelope.to_base64());
    assert!(!answer.result_xdr.is_empty());

    let tx = horizon.transaction(&answer.hash).await.unwrap().unwrap();
    assert_eq!(tx.hash, answer.hash);
    assert_eq!(tx.id, answer.hash);
    assert_eq!(tx.ledger, answer.ledger);
    assert!(tx.successful);
    assert_eq!(tx.memo_type, "text");
    assert_eq!(tx.memo.as_deref(), Some("invoice 7"));
    assert_eq!(tx.envelope_xdr, answer.envelope_xdr);
    assert_eq!(tx.result_xdr, answer.result_xdr);
    assert_eq!(tx.fee_charged, 100);
    assert_eq!(tx.source_account, alice.public_key().to_string());
    assert!(tx.created_at.ends_with('Z'));

    let operations = horizon.transaction_operations(&answer.hash).await.unwrap();
    assert_eq!(operations.len(), 1);
    assert_eq!(operations[0]["type"], "payment");
    assert_eq!(operations[0]["amount"], "12.5000000");

    let bob_account = horizon.account(&bob.public_key()).await.unwrap().unwrap();
    let balance = bob_account.balance(&Asset::Native).unwrap().balance;
    assert_eq!(balance.to_string(), "10012.5000000");

    // Unknown and hostile hashes are simply not found.
    assert_eq!(horizon.transaction(&"0".repeat(64)).await.unwrap(), None);
    assert_eq!(horizon.transaction("../../accounts").await.unwrap(), None);
    assert_eq!(
        horizon.transaction_operations(&"0".repeat(64)).await,
        Err(Error::NotFound)
    );
    sandbox.shutdown().await;
}

#[tokio::test]
async fn failed_submissions_carry_result_codes() {
    let sandbox = start().await;
    let horizon = client(&sandbox);
    let network = sandbox.network();
    let (alice, bob) = (funded(&sandbox).await, funded(&sandbox).await);
    let sequence = next_sequence(&horizon, &alice).await;

    let bad_seq = payment(&network, &alice, sequence + 5, &bob, "1", Memo::None);
    match horizon.submit(&bad_seq.to_base64()).await {
        Err(
            ref error @ Error::TransactionFailed {
                status,
                ref result_codes,
                ref envelope_xdr,
                ref result_xdr,
                ..
            },
        ) => {
            assert_eq!(status, 400);
            assert_eq!(result_codes.transaction, "tx_bad_seq");
            assert!(result_codes.operations.is_empty());
            assert_eq!(envelope_xdr.as_deref(), Some(bad_seq.to_base64().as_str()));
            let decoded = ResultCodes::from_result_xdr(result_xdr.as_deref().unwrap()).unwrap();
            assert_eq!(&decoded, result_codes.as_ref());
            assert!(!error.outcome_unknown() && !error.is_retryable());
        }
        other => panic!("expected tx_bad_seq, got {other:?}"),
    }

    let underfunded = payment(&network, &alice, sequence, &bob, "20000", Memo::None);
    match horizon.submit(&underfunded.to_base64()).await {
        Err(Error::TransactionFailed { result_codes, .. }) => {
            assert_eq!(result_codes.transaction, "tx_failed");
            assert_eq!(result_codes.operations, ["op_underfunded"]);
        }
        other => panic!("expected op_underfunded, got {other:?}"),
    }
    // It failed in a ledger (fee and sequence spent): found by hash, with the same codes.
    let failed = horizon
        .transaction(&underfunded.hash_hex(&network))
        .await
        .unwrap()
        .unwrap();
    assert!(!failed.successful);
    let codes = ResultCodes::from_result_xdr(&failed.result_xdr).unwrap();
    assert_eq!(codes.operations, ["op_underfunded"]);

    match horizon.submit("AAAA not an envelope").await {
        Err(Error::BadRequest { status, title, .. }) => {
            assert_eq!(status, 400);
            assert_eq!(title, "Transaction Malformed");
        }
        other => panic!("expected a malformed transaction, got {other:?}"),
    }
    sandbox.shutdown().await;
}

#[tokio::test]
async fn gateway_timeout_after_apply_is_an_unknown_outcome() {
    let sandbox = start().await;
    let horizon = client(&sandbox);
    let network = sandbox.network();
    let (alice, bob) = (funded(&sandbox).await, funded(&sandbox).await);
    let sequence = next_sequence(&horizon, &alice).await;
    let envelope = payment(&network, &alice, sequence, &bob, "3", Memo::Id(99));
    let hash = envelope.hash_hex(&network);

    sandbox.faults().timeout_next_submissions(1);
    let error = horizon.submit(&envelope.to_base64()).await.unwrap_err();
    assert_eq!(error, Error::Timeout);
    assert!(error.outcome_unknown());

    // It was applied: found by hash, and the same envelope again answers its result.
    let tx = horizon.transaction(&hash).await.unwrap().unwrap();
    assert!(tx.successful);
    assert_eq!(tx.memo.as_deref(), Some("99"));
    let again = horizon.submit(&envelope.to_base64()).await.unwrap();
    assert_eq!(again.hash, hash);
    assert_eq!(again.ledger, tx.ledger);
    sandbox.shutdown().await;
}

#[tokio::test]
async fn rate_limits_and_unavailability() {
    let sandbox = start().await;
    let no_retries = HorizonClient::new(
        &sandbox.url(),
        &HorizonSettings {
            retries: 0,
            ..settings()
        },
    )
    .unwrap();

    sandbox.faults().fail_next_requests(429, 1);
    let error = no_retries.root().await.unwrap_err();
    assert_eq!(
        error,
        Error::RateLimited {
            retry_after: Some(Duration::from_secs(1))
        }
    );
    assert!(error.is_retryable() && !error.outcome_unknown());

    sandbox.faults().fail_next_requests(503, 1);
    let error = no_retries.fee_stats().await.unwrap_err();
    assert!(
        matches!(error, Error::Unavailable { status: 503, .. }),
        "{error:?}"
    );
    assert!(error.is_retryable() && !error.outcome_unknown());

    // With retries, a read gets through once the faults are used up (honouring Retry-After).
    let horizon = client(&sandbox);
    for status in [429, 503] {
        sandbox.faults().fail_next_requests(status, 2);
        let started = Instant::now();
        let root = horizon.root().await.unwrap();
        assert_eq!(root.network_passphrase, sandbox.passphrase());
        assert!(
            started.elapsed() >= Duration::from_secs(2),
            "Retry-After ignored"
        );
    }

    // More failures than retries: the error comes back.
    sandbox.faults().fail_next_requests(503, 5);
    let error = horizon.account(&KeyPair::random().public_key()).await;
    assert!(
        matches!(error, Err(Error::Unavailable { status: 503, .. })),
        "{error:?}"
    );
    sandbox.faults().reset();

    // A submission is never retried here: a 503 comes straight back, nothing applied.
    let (alice, bob) = (funded(&sandbox).await, funded(&sandbox).await);
    let sequence = next_sequence(&horizon, &alice).await;
    let envelope = payment(&sandbox.network(), &alice, sequence, &bob, "1", Memo::None);
    sandbox.faults().fail_next_requests(503, 1);
    let error = horizon.submit(&envelope.to_base64()).await.unwrap_err();
    assert!(
        matches!(error, Error::Unavailable { status: 503, .. }),
        "{error:?}"
    );
    assert!(!error.outcome_unknown());
    assert_eq!(next_sequence(&horizon, &alice).await, sequence);
    sandbox.faults().fail_next_requests(429, 1);
    let error = horizon.submit(&envelope.to_base64()).await.unwrap_err();
    assert!(matches!(error, Error::RateLimited { .. }), "{error:?}");
    // The caller's own retry goes through.
    assert!(
        horizon
            .submit(&envelope.to_base64())
            .await
            .unwrap()
            .successful
    );
    sandbox.shutdown().await;
}

#[tokio::test]
async fn payments_pages_with_cursor_order_and_join() {
    let sandbox = start().await;
    let horizon = client(&sandbox);
    let (alice, bob) = (funded(&sandbox).await, funded(&sandbox).await);
    let mut hashes = Vec::new();
    for (amount, memo) in [("1", "p1"), ("2", "p2"), ("3", "p3")] {
        hashes.push(pay(&sandbox, &horizon, &alice, &bob, amount, memo).await);
    }

    // Bob's payments: his creation by friendbot, then alice's three payments.
    let mut query = PaymentsQuery {
        account: Some(bob.public_key()),
        limit: 2,
        join_transactions: true,
        ..PaymentsQuery::default()
    };
    let first = horizon.payments(&query).await.unwrap();
    assert_eq!(first.records.len(), 2);
    let created = &first.records[0];
    assert_eq!(created.kind, "create_account");
    assert_eq!(
        created.account.as_deref(),
        Some(bob.public_key().to_string().as_str())
    );
    assert_eq!(
        created.funder.as_deref(),
        Some(sandbox.root_keypair().public_key().to_string().as_str())
    );
    assert_eq!(created.starting_balance.as_deref(), Some("10000.0000000"));
    assert_eq!(created.amount, None);
    let p1 = &first.records[1];
    assert_eq!(p1.kind, "payment");
    assert_eq!(p1.transaction_hash, hashes[0]);
    assert!(p1.transaction_successful);
    assert_eq!(
        p1.from.as_deref(),
        Some(alice.public_key().to_string().as_str())
    );
    assert_eq!(
        p1.to.as_deref(),
        Some(bob.public_key().to_string().as_str())
    );
    assert_eq!(p1.amount.as_deref(), Some("1.0000000"));
    assert_eq!(p1.asset(), Some(Asset::Native));
    assert_eq!(p1.raw["type"], "payment");
    let joined = p1.transaction.as_ref().unwrap();
    assert_eq!(joined.hash, hashes[0]);
    assert_eq!(joined.memo.as_deref(), Some("p1"));
    assert_eq!(first.next_cursor.as_deref(), Some(p1.paging_token.as_str()));

    query.cursor = first.next_cursor.clone();
    let second = horizon.payments(&query).await.unwrap();
    let memos: Vec<_> = second
        .records
        .iter()
        .map(|r| r.transaction.as_ref().unwrap().memo.clone().unwrap())
        .collect();
    assert_eq!(memos, ["p2", "p3"]);
    query.cursor = second.next_cursor.clone();
    let third = horizon.payments(&query).await.unwrap();
    assert!(third.records.is_empty());
    assert_eq!(third.next_cursor, None);

    // Newest first, without the join.
    let newest = horizon
        .payments(&PaymentsQuery {
            account: Some(bob.public_key()),
            limit: 1,
            order: Order::Desc,
            ..PaymentsQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(newest.records[0].transaction_hash, hashes[2]);
    assert_eq!(newest.records[0].transaction, None);

    // The global collection holds them too; a bad cursor is the caller's mistake.
    let all = horizon
        .payments(&PaymentsQuery {
            limit: 200,
            ..PaymentsQuery::default()
        })
        .await
        .unwrap();
    assert!(all.records.len() >= 5);
    let bad = horizon
        .payments(&PaymentsQuery {
            cursor: Some("yesterday".into()),
            ..PaymentsQuery::default()
        })
        .await;
    assert!(
        matches!(bad, Err(Error::BadRequest { status: 400, .. })),
        "{bad:?}"
    );
    sandbox.shutdown().await;
}

#[tokio::test]
async fn async_submission_answers_every_tx_status() {
    use horizon::AsyncStatus;
    let sandbox = start().await;
    let horizon = client(&sandbox);
    let network = sandbox.network();
    let (alice, bob) = (funded(&sandbox).await, funded(&sandbox).await);
    let sequence = next_sequence(&horizon, &alice).await;
    sandbox.faults().pause_closing(true);

    let first = payment(&network, &alice, sequence, &bob, "1", Memo::None);
    let answer = horizon.submit_async(&first.to_base64()).await.unwrap();
    assert_eq!(answer.tx_status, AsyncStatus::Pending);
    assert_eq!(answer.hash, first.hash_hex(&network));
    assert_eq!(answer.error_result_xdr, None);
    let again = horizon.submit_async(&first.to_base64()).await.unwrap();
    assert_eq!(again.tx_status, AsyncStatus::Duplicate);
    // One transaction per source account in the queue.
    let second = payment(&network, &alice, sequence + 1, &bob, "1", Memo::None);
    let busy = horizon.submit_async(&second.to_base64()).await.unwrap();
    assert_eq!(busy.tx_status, AsyncStatus::TryAgainLater);
    assert_eq!(busy.hash, second.hash_hex(&network));
    // Refused at admission: the result says why.
    let bad_seq = payment(&network, &bob, sequence + 100, &alice, "1", Memo::None);
    let refused = horizon.submit_async(&bad_seq.to_base64()).await.unwrap();
    assert_eq!(refused.tx_status, AsyncStatus::Error);
    let codes = ResultCodes::from_result_xdr(refused.error_result_xdr.as_deref().unwrap()).unwrap();
    assert_eq!(codes.transaction, "tx_bad_seq");
    // Not an envelope: Horizon's problem, not a tx_status.
    assert!(matches!(
        horizon.submit_async("AAAA not an envelope").await,
        Err(Error::BadRequest { status: 400, .. })
    ));

    sandbox.faults().pause_closing(false);
    let found = within(Duration::from_secs(10), async {
        loop {
            if let Some(tx) = horizon.transaction(&answer.hash).await.unwrap() {
                return tx;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(found.successful);
    sandbox.shutdown().await;
}
