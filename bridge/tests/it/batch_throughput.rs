//! Throughput of bulk payouts (a benchmark that also runs as a test; results in
//! docs/PERFORMANCE.md, "Bulk payouts").
//!
//! 1. Sending: a batch of `BATCH_BENCH_ROWS` payments (default 300; the benchmark uses
//!    10 000) to 20 accounts, packed 100 to a transaction over 10 channels, on a sandbox that
//!    closes a ledger every `BATCH_BENCH_LEDGER_MS` (default 500; the benchmark: 5 000) and
//!    takes at most 1 000 operations per ledger (the network's limit at the time of writing):
//!    the floor is `rows / 1 000` ledgers. Reported: the ledgers the batch took (first to last
//!    paying ledger, plus the wait for the first), the time, and the process's CPU per row
//!    (bridge and sandbox together: an upper bound for the bridge).
//! 2. Checking: an upload of `BATCH_BENCH_NAMES` rows (default 200; the benchmark: 10 000),
//!    each to a distinct federation address, checked and resolved and stored (nothing sent):
//!    the time the `POST /batches` takes.

use std::time::{Duration, Instant};

use bridge::BridgeConfig;
use bridge::send::channels::ChannelSettings;
use service::database::Backend;
use stellar_base::KeyPair;

use crate::common::banks::Web;
use crate::common::*;

fn knob(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// User + system CPU of this process, from /proc/self/stat.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or("", |(_, rest)| rest)
        .split_whitespace()
        .collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / 100.0
}

async fn upload(url: &str, body: &serde_json::Value) -> (u16, serde_json::Value) {
    let res = reqwest::Client::new()
        .post(format!("{url}/batches"))
        .header("x-api-key", API_KEY)
        .json(body)
        .send()
        .await
        .unwrap();
    (res.status().as_u16(), res.json().await.unwrap_or_default())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_fills_the_ledgers() {
    let rows = knob("BATCH_BENCH_ROWS", 300);
    let ledger_ms = knob("BATCH_BENCH_LEDGER_MS", 500) as u64;
    let mut network = sandbox::SandboxConfig::for_tests();
    network.close_interval = Duration::from_millis(ledger_ms);
    network.limits.max_ops_per_ledger = 1_000;
    let bridge = TestBridge::start_on(Backend::Sqlite, network, |c: &mut BridgeConfig| {
        c.channels = Some(ChannelSettings {
            seed: KeyPair::from_seed_bytes([43; 32]),
            count: 10,
            starting_balance: "50".parse().unwrap(),
        });
        c.batches.concurrency = 10;
    })
    .await;
    let payees: Vec<KeyPair> = (0..20).map(|_| KeyPair::random()).collect();
    for payee in &payees {
        bridge.sandbox.fund(payee.public_key()).await.unwrap();
    }
    let payments: Vec<_> = (0..rows)
        .map(|i| {
            serde_json::json!({"id": i.to_string(),
                "destination": payees[i % payees.len()].public_key().to_string(), "amount": "0.01"})
        })
        .collect();
    let (cpu0, started) = (cpu_seconds(), Instant::now());
    let (status, created) = upload(
        &bridge.url,
        &serde_json::json!({"id": "bench", "payments": payments}),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let accepted = started.elapsed();
    let summary = loop {
        let (_, summary) = bridge.get("/batches/bench").await;
        if summary["state"] == "finished" {
            break summary;
        }
        assert!(started.elapsed() < Duration::from_secs(600), "{summary}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let (elapsed, cpu) = (started.elapsed(), cpu_seconds() - cpu0);
    assert_eq!(summary["counts"]["succeeded"], rows, "{summary}");
    let mut ledgers = Vec::new();
    let mut after = 0;
    loop {
        let (_, page) = bridge
            .get(&format!("/batches/bench/payments?after={after}&limit=1000"))
            .await;
        let page = page["payments"].as_array().unwrap().clone();
        let Some(last) = page.last() else { break };
        after = last["row"].as_i64().unwrap();
        ledgers.extend(page.iter().map(|p| p["ledger"].as_i64().unwrap()));
    }
    let (first, last) = (
        *ledgers.iter().min().unwrap(),
        *ledgers.iter().max().unwrap(),
    );
    let floor = rows.div_ceil(1_000);
    println!(
        "batch of {rows} rows, ledgers of {ledger_ms} ms, 1 000 ops each: accepted in {:.2} s; \
         paid in ledgers {first}..={last} ({} ledgers with payments, floor {floor}); \
         {:.1} s from upload to finished ({:.1} ledger intervals); CPU {:.3} s ({:.0} µs per row, \
         bridge + sandbox)",
        accepted.as_secs_f64(),
        last - first + 1,
        elapsed.as_secs_f64(),
        elapsed.as_secs_f64() * 1000.0 / ledger_ms as f64,
        cpu,
        cpu * 1e6 / rows as f64,
    );
    // Each payee got exactly its share.
    let expected = rows / payees.len();
    let paid = bridge.payments_to(&payees[1].public_key()).await;
    if expected <= 200 {
        assert_eq!(paid.len(), expected);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_of_federation_addresses_is_checked_and_resolved() {
    let names = knob("BATCH_BENCH_NAMES", 200);
    // A federation server that answers every name of `payroll.test` (its memo is the name).
    let federation = federation::testing::FederationServer::start_with(
        federation::testing::people(Backend::Sqlite),
        federation::config::Queries {
            federation: format!(
                "SELECT '{}' AS id, 'text' AS memo_type, ? AS memo WHERE ? = 'payroll.test'",
                federation::testing::BANK_B_BOB
            ),
            ..federation::testing::queries()
        },
    )
    .await;
    let web = Web::start().await;
    web.set(
        "/payroll.test/.well-known/stellar.toml",
        &[(
            200,
            &format!("FEDERATION_SERVER = \"{}\"\n", federation.federation_url()),
        )],
    );
    let web_base = web.base.clone();
    let bridge = TestBridge::start_with(Backend::Sqlite, |c| {
        c.batches.require_approval = true;
        c.batches.approver_key = Some(service::Secret::new("bench-approver-key-0123".into()));
        c.stellar_toml.overrides = [(
            "payroll.test".to_owned(),
            format!("{web_base}/payroll.test/.well-known/stellar.toml"),
        )]
        .into();
    })
    .await;
    let payments: Vec<_> = (0..names)
        .map(|i| serde_json::json!({"id": i.to_string(), "destination": format!("user{i}*payroll.test"), "amount": "1"}))
        .collect();
    let (cpu0, started) = (cpu_seconds(), Instant::now());
    let (status, created) = upload(
        &bridge.url,
        &serde_json::json!({"id": "names", "payments": payments}),
    )
    .await;
    let (elapsed, cpu) = (started.elapsed(), cpu_seconds() - cpu0);
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["state"], "awaiting_approval");
    let (_, page) = bridge.get("/batches/names/payments?limit=1").await;
    assert_eq!(page["payments"][0]["memo"], "user0", "{page}");
    println!(
        "upload of {names} rows to distinct federation addresses: checked, resolved and stored \
         in {:.2} s ({:.0} rows/s); CPU {:.2} s (bridge + federation + SQLite)",
        elapsed.as_secs_f64(),
        names as f64 / elapsed.as_secs_f64(),
        cpu
    );
}
