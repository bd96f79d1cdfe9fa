//! Throughput benchmark (not a test): transactions applied per second by the ledger, and
//! payment events streamed per second over HTTP. Run with
//! `cargo bench -p sandbox --bench throughput`; results go in `sandbox/PERFORMANCE.md`.

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use sandbox::{Ledger, Sandbox, SandboxConfig, Submission};
use stellar_base::{Amount, Asset, Envelope, KeyPair, Network, Operation, TransactionBuilder};

const ACCOUNTS: usize = 1_000;
const ROUNDS: usize = 10;
const STREAMED: usize = 20_000;

fn payments(ledger_next_seq: impl Fn(&KeyPair) -> i64, keys: &[KeyPair]) -> Vec<Envelope> {
    let network = Network::new(Network::STANDALONE);
    let stroop = Amount::from_stroops(1).unwrap();
    keys.iter()
        .enumerate()
        .map(|(i, key)| {
            let to = keys[(i + 1) % keys.len()].public_key().into();
            TransactionBuilder::new(key.public_key().into(), ledger_next_seq(key))
                .operation(Operation::payment(to, &Asset::Native, stroop))
                .sign(&network, &[key])
                .unwrap()
        })
        .collect()
}

fn apply_throughput() {
    let mut ledger = Ledger::new(Network::STANDALONE, 1_700_000_000);
    let keys: Vec<KeyPair> = (0..ACCOUNTS).map(|_| KeyPair::random()).collect();
    ledger.close(
        keys.iter()
            .map(|k| Submission::Friendbot(k.public_key()))
            .collect(),
        1_700_000_000,
    );
    let mut applied = 0usize;
    let mut spent = Duration::ZERO;
    for _ in 0..ROUNDS {
        let batch = payments(
            |k| ledger.account(&k.public_key()).unwrap().sequence + 1,
            &keys,
        );
        let submissions = batch
            .into_iter()
            .map(|e| Submission::Envelope(Box::new(e.into_xdr())))
            .collect();
        let started = Instant::now();
        let outcomes = ledger.close(submissions, 1_700_000_000);
        spent += started.elapsed();
        applied += outcomes.len();
    }
    println!(
        "apply: {applied} payment transactions in {spent:.2?} = {:.0} tx/s (signature checks included)",
        applied as f64 / spent.as_secs_f64()
    );
    // Memory held per transaction: apply more rounds and compare resident sizes.
    let before = resident_bytes();
    let extra_rounds = 50;
    for _ in 0..extra_rounds {
        let batch = payments(
            |k| ledger.account(&k.public_key()).unwrap().sequence + 1,
            &keys,
        );
        ledger.close(
            batch
                .into_iter()
                .map(|e| Submission::Envelope(Box::new(e.into_xdr())))
                .collect(),
            1_700_000_000,
        );
    }
    if let (Some(before), Some(after)) = (before, resident_bytes()) {
        let txs = extra_rounds * ACCOUNTS;
        println!(
            "memory: {} bytes of resident memory per single-payment transaction in history ({txs} transactions)",
            after.saturating_sub(before) / txs
        );
    }
}

/// Resident set size from /proc (Linux only).
fn resident_bytes() -> Option<usize> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: usize = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

async fn stream_throughput() {
    let sandbox = Sandbox::start(SandboxConfig {
        close_interval: Duration::from_millis(5),
        ..SandboxConfig::default()
    })
    .await
    .unwrap();
    let keys: Vec<KeyPair> = (0..ACCOUNTS).map(|_| KeyPair::random()).collect();
    futures_util::future::join_all(keys.iter().map(|k| sandbox.fund(k.public_key()))).await;
    let mut sent = ACCOUNTS;
    while sent < STREAMED {
        let batch = payments(
            |k| sandbox.account(&k.public_key()).unwrap().sequence + 1,
            &keys,
        );
        futures_util::future::join_all(batch.iter().map(|e| sandbox.submit(e))).await;
        sent += batch.len();
    }
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let started = Instant::now();
    let response = client
        .get(format!("{}/payments?cursor=0", sandbox.url()))
        .header("Accept", "text/event-stream")
        .send()
        .await
        .unwrap();
    let mut stream = response.bytes_stream();
    let mut events = 0usize;
    let mut partial = String::new();
    while events < sent {
        let Some(Ok(chunk)) = stream.next().await else {
            break;
        };
        partial.push_str(&String::from_utf8_lossy(&chunk));
        let mut lines: Vec<&str> = partial.split('\n').collect();
        let rest = lines.pop().unwrap_or_default().to_owned();
        events += lines.iter().filter(|l| l.starts_with("id: ")).count();
        partial = rest;
    }
    let spent = started.elapsed();
    println!(
        "stream: {events} payment events in {spent:.2?} = {:.0} events/s",
        events as f64 / spent.as_secs_f64()
    );
    sandbox.shutdown().await;
}

fn main() {
    apply_throughput();
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
        .block_on(stream_throughput());
}
