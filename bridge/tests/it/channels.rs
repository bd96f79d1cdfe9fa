//! Channel accounts (`[channels]`): many payments from one paying account in each ledger,
//! each transaction carried by a leased channel, exactly once; channels that someone else
//! moved or drained; `bridge channels merge`; and the same load without channels. On every
//! backend, against the sandbox's admission rules (one transaction per source in the queue).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use crate::common::*;
use bridge::BridgeConfig;
use bridge::send::channels::{ChannelSettings, derive};
use service::database::Backend;
use stellar_base::transaction::Operation;
use stellar_base::{Asset, KeyPair, Memo, PublicKey};

/// The seed the test channels are derived from.
fn channel_seed() -> KeyPair {
    KeyPair::from_seed_bytes([42; 32])
}

fn with_channels(count: u32) -> impl FnOnce(&mut BridgeConfig) {
    move |config| {
        config.channels = Some(ChannelSettings {
            seed: channel_seed(),
            count,
            starting_balance: "5".parse().unwrap(),
        });
    }
}

/// `n` concurrent payments of 1 XLM to `dest`, ids `{prefix}-{i}`: each answer.
async fn pay_concurrently(
    bridge: &Arc<TestBridge>,
    dest: PublicKey,
    prefix: &str,
    n: usize,
) -> Vec<(u16, serde_json::Value)> {
    let tasks: Vec<_> = (0..n)
        .map(|i| {
            let bridge = bridge.clone();
            let id = format!("{prefix}-{i}");
            tokio::spawn(async move {
                bridge
                    .pay(&[
                        ("id", id.as_str()),
                        ("destination", &dest.to_string()),
                        ("amount", "1"),
                    ])
                    .await
            })
        })
        .collect();
    let mut answers = Vec::new();
    for task in tasks {
        answers.push(task.await.unwrap());
    }
    answers
}

service::backend_tests!(multi_thread two_hundred_concurrent_payments_through_twenty_channels_land_once);
/// 200 concurrent `/payment` calls from one paying account with 20 channels: every one lands
/// exactly once and answers 200 (no `tx_bad_seq`, no `TRY_AGAIN_LATER` reaches the app), each
/// transaction's source is a channel while the payment comes from the paying account, and no
/// ledger holds two transactions from one channel.
async fn two_hundred_concurrent_payments_through_twenty_channels_land_once(backend: Backend) {
    let bridge = Arc::new(TestBridge::start_with(backend, with_channels(20)).await);
    let channels: HashSet<String> = derive(&channel_seed(), 20)
        .iter()
        .map(|k| k.public_key().to_string())
        .collect();
    let payer = bridge.source.public_key().to_string();
    let dest = KeyPair::random().public_key();
    bridge.sandbox.fund(dest).await.unwrap();
    let answers = pay_concurrently(&bridge, dest, "ch", 200).await;
    let mut per_ledger_and_source = HashMap::new();
    let mut hashes = HashSet::new();
    for (status, body) in &answers {
        assert_eq!(*status, 200, "{backend}: {body}");
        let hash = body["hash"].as_str().unwrap();
        assert!(
            hashes.insert(hash.to_owned()),
            "one transaction per payment"
        );
        let tx = bridge.transaction(hash).await;
        let source = tx["source_account"].as_str().unwrap().to_owned();
        assert!(channels.contains(&source), "carried by a channel: {tx}");
        let operations: serde_json::Value = reqwest::get(format!(
            "{}/transactions/{hash}/operations",
            bridge.sandbox.url()
        ))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
        let payment = &operations["_embedded"]["records"][0];
        assert_eq!(
            payment["from"], payer,
            "paid by the paying account: {payment}"
        );
        *per_ledger_and_source
            .entry((tx["ledger"].as_i64().unwrap(), source))
            .or_insert(0) += 1;
    }
    assert!(
        per_ledger_and_source.values().all(|&n| n == 1),
        "at most one transaction per channel per ledger"
    );
    assert_eq!(
        bridge.balance(&dest, "native").await.unwrap(),
        "10200.0000000",
        "{backend}: every payment landed once"
    );
    let health: serde_json::Value = reqwest::get(format!("{}/health", bridge.url))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["channels"]["idle"], 20, "{health}");
    assert_eq!(
        health["channels"]["out_of_pool"],
        serde_json::json!([]),
        "{health}"
    );
    let (_, metrics) = bridge.get("/metrics").await;
    let metrics = metrics.as_str().unwrap();
    assert!(
        metrics.contains("bridge_channels{state=\"idle\"} 20"),
        "{metrics}"
    );
    assert!(
        metrics.contains("bridge_fee_bid_per_operation_stroops 100"),
        "{metrics}"
    );
}

service::backend_tests!(multi_thread two_hundred_concurrent_payments_without_channels_land_once);
/// The same 200 without channels: one transaction at a time from the paying account, so most
/// wait; none is paid twice or lost, each answer is 200 or 202 with its hash, and repeating a
/// 202 with the same id later gives the final outcome.
async fn two_hundred_concurrent_payments_without_channels_land_once(backend: Backend) {
    let bridge = Arc::new(
        TestBridge::start_with(backend, |c| {
            c.pending_wait_seconds = 120;
        })
        .await,
    );
    let dest = KeyPair::random().public_key();
    bridge.sandbox.fund(dest).await.unwrap();
    let answers = pay_concurrently(&bridge, dest, "direct", 200).await;
    let mut hashes = HashSet::new();
    for (i, (status, body)) in answers.iter().enumerate() {
        let hash = match status {
            200 => body["hash"].as_str().unwrap().to_owned(),
            202 => {
                let hash = body["data"]["hash"].as_str().unwrap().to_owned();
                let id = format!("direct-{i}");
                let (status, again) = bridge
                    .pay(&[
                        ("id", &id),
                        ("destination", &dest.to_string()),
                        ("amount", "1"),
                    ])
                    .await;
                assert_eq!(status, 200, "{backend}: {again}");
                assert_eq!(again["hash"], hash.as_str());
                hash
            }
            _ => panic!("{backend}: {status} {body}"),
        };
        assert!(hashes.insert(hash), "one transaction per payment");
    }
    assert_eq!(
        bridge.balance(&dest, "native").await.unwrap(),
        "10200.0000000",
        "{backend}: every payment landed once"
    );
}

service::backend_tests!(a_channel_moved_by_someone_else_is_resynced; sqlite, postgres);
/// Someone else used a channel's key (its sequence moved on): the next payment on it meets
/// `tx_bad_seq`, the bridge reloads the channel's sequence and the payment lands once.
async fn a_channel_moved_by_someone_else_is_resynced(backend: Backend) {
    let bridge = TestBridge::start_with(backend, with_channels(1)).await;
    let channel = derive(&channel_seed(), 1).remove(0);
    let dest = KeyPair::random().public_key();
    bridge.sandbox.fund(dest).await.unwrap();
    let (status, body) = bridge
        .pay(&[
            ("id", "first"),
            ("destination", &dest.to_string()),
            ("amount", "1"),
        ])
        .await;
    assert_eq!(status, 200, "{body}");
    bridge
        .submit_ops(&channel, Memo::None, vec![Operation::bump_sequence(0)])
        .await;
    let (status, body) = bridge
        .pay(&[
            ("id", "second"),
            ("destination", &dest.to_string()),
            ("amount", "1"),
        ])
        .await;
    assert_eq!(status, 200, "{backend}: {body}");
    assert_eq!(
        bridge.transaction(body["hash"].as_str().unwrap()).await["source_account"],
        channel.public_key().to_string()
    );
    assert_eq!(
        bridge.balance(&dest, "native").await.unwrap(),
        "10002.0000000"
    );
}

service::backend_tests!(a_drained_channel_is_topped_up_and_the_payment_lands_once; sqlite, mysql);
/// Someone drained a channel down to its reserve: its fee payment is refused
/// (`tx_insufficient_balance`, nothing applied), the bridge tops it up from the base account
/// and the payment lands once, on a channel that can pay.
async fn a_drained_channel_is_topped_up_and_the_payment_lands_once(backend: Backend) {
    let bridge = TestBridge::start_with(backend, with_channels(1)).await;
    let channel = derive(&channel_seed(), 1).remove(0);
    let sink = KeyPair::random().public_key();
    bridge.sandbox.fund(sink).await.unwrap();
    // 5 XLM, minus this transaction's fee, minus the 1 XLM reserve, leaves exactly the reserve.
    bridge
        .submit_ops(
            &channel,
            Memo::None,
            vec![Operation::payment(
                sink.into(),
                &Asset::Native,
                "3.9999900".parse().unwrap(),
            )],
        )
        .await;
    assert_eq!(
        bridge
            .balance(&channel.public_key(), "native")
            .await
            .unwrap(),
        "1.0000000"
    );
    let dest = KeyPair::random().public_key();
    bridge.sandbox.fund(dest).await.unwrap();
    let (status, body) = bridge
        .pay(&[
            ("id", "drained"),
            ("destination", &dest.to_string()),
            ("amount", "1"),
        ])
        .await;
    assert_eq!(status, 200, "{backend}: {body}");
    assert_eq!(
        bridge.balance(&dest, "native").await.unwrap(),
        "10001.0000000"
    );
    let balance = bridge
        .sandbox
        .account(&channel.public_key())
        .unwrap()
        .balance;
    assert!(
        balance > 4_9000000,
        "the channel was topped up back to about 5 XLM: {balance} stroops"
    );
}

service::backend_tests!(channels_merge_gives_everything_back_to_the_base_account; sqlite);
/// `bridge channels merge` merges every channel into the base account: the channels are gone
/// and their lumens are back.
async fn channels_merge_gives_everything_back_to_the_base_account(backend: Backend) {
    let bridge = TestBridge::start_with(backend, with_channels(3)).await;
    let channels = derive(&channel_seed(), 3);
    for channel in &channels {
        assert!(bridge.account(&channel.public_key()).await.is_some());
    }
    let file = tempfile::Builder::new().suffix(".cfg").tempfile().unwrap();
    std::fs::write(
        file.path(),
        format!(
            "port = 0\nhorizon = \"{}\"\nnetwork_passphrase = \"{}\"\n\n[database]\nurl = \"{}\"\n\n\
             [accounts]\nbase_seed = \"{}\"\n\n[channels]\nseed = \"{}\"\ncount = 3\n",
            bridge.sandbox.url(),
            bridge.sandbox.passphrase(),
            bridge._db.url(),
            bridge.source.secret_seed(),
            channel_seed().secret_seed(),
        ),
    )
    .unwrap();
    let before = bridge.sandbox.account(&bridge.source.public_key()).unwrap();
    let code = bridge::cli::channels_command(&[
        "merge".to_owned(),
        "-c".to_owned(),
        file.path().display().to_string(),
    ])
    .await;
    assert_eq!(code, std::process::ExitCode::SUCCESS);
    for channel in &channels {
        assert!(bridge.account(&channel.public_key()).await.is_none());
    }
    let after = bridge.sandbox.account(&bridge.source.public_key()).unwrap();
    assert_eq!(
        after.balance - before.balance,
        3 * 5_0000000 - 3 * 100,
        "each channel's 5 XLM back, less the fee of its merge"
    );
}

service::backend_tests!(multi_thread a_bridge_killed_with_channels_leased_loses_and_repeats_nothing; sqlite, postgres);
/// A bridge is killed (its runtime dropped: no shutdown, no code after the kill) while its
/// channels are leased and their transactions sit in the network's queue. Another bridge on the
/// same database (the restarted one) answers each repeated id with the transaction the dead one
/// built, frees the channels, and sends new payments on them: every payment lands once.
async fn a_bridge_killed_with_channels_leased_loses_and_repeats_nothing(backend: Backend) {
    let mut network = sandbox::SandboxConfig::for_tests();
    network.close_interval = std::time::Duration::from_millis(300);
    let survivor = TestBridge::start_on(backend, network, with_channels(5)).await;
    let dest = KeyPair::random().public_key();
    survivor.sandbox.fund(dest).await.unwrap();

    let doomed_config = config(
        &survivor._db,
        &survivor.sandbox,
        &survivor.source,
        &survivor.issuer,
        |c| {
            with_channels(5)(c);
            c.pending_wait_seconds = 0;
        },
    );
    let (url_tx, url_rx) = std::sync::mpsc::channel();
    let (kill_tx, kill_rx) = std::sync::mpsc::channel::<()>();
    let doomed = std::thread::spawn(move || {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        runtime.block_on(async {
            let app = bridge::Application::build(doomed_config).await.unwrap();
            url_tx.send(app.url()).unwrap();
            app.spawn();
        });
        kill_rx.recv().unwrap();
        runtime.shutdown_background();
    });
    let doomed_url = url_rx.recv().unwrap();
    let mut hashes = Vec::new();
    for i in 0..5 {
        let id = format!("before-kill-{i}");
        let (status, body) = post_payment(&doomed_url, &id, dest).await;
        assert!(status == 202 || status == 200, "{backend}: {status} {body}");
        let hash = body["hash"].as_str().or(body["data"]["hash"].as_str());
        hashes.push(hash.unwrap().to_owned());
    }
    kill_tx.send(()).unwrap();
    doomed.join().unwrap();

    for (i, hash) in hashes.iter().enumerate() {
        let id = format!("before-kill-{i}");
        let (status, body) = post_payment(&survivor.url, &id, dest).await;
        assert_eq!(status, 200, "{backend}: {body}");
        assert_eq!(
            body["hash"],
            hash.as_str(),
            "the envelope the dead bridge built"
        );
    }
    for i in 0..5 {
        let (status, body) = post_payment(&survivor.url, &format!("after-kill-{i}"), dest).await;
        assert_eq!(status, 200, "{backend}: {body}");
    }
    assert_eq!(
        survivor.balance(&dest, "native").await.unwrap(),
        "10010.0000000",
        "{backend}: every payment landed once"
    );
}

/// `/payment` of 1 XLM to `dest` under `id` on the bridge at `url`.
async fn post_payment(url: &str, id: &str, dest: PublicKey) -> (u16, serde_json::Value) {
    let res = reqwest::Client::new()
        .post(format!("{url}/payment"))
        .header("x-api-key", API_KEY)
        .form(&[
            ("id", id),
            ("destination", &dest.to_string()),
            ("amount", "1"),
        ])
        .send()
        .await
        .unwrap();
    (res.status().as_u16(), res.json().await.unwrap())
}
