//! The load client of `scripts/bench-payments.sh` (a benchmark, not a test; harness-less).
//!
//! `BENCH_MODE=setup`: funds a new paying account and a destination on the sandbox at
//! `SANDBOX_URL` (friendbot) and prints `BASE_SEED=…`, `BASE=…` and `DEST=…` for the script,
//! and `COSIGNER_SEEDS=…`/`COSIGNER_KEYS=…` (comma-separated) for `COSIGNERS` new keys.
//!
//! `BENCH_MODE=load` (default): `CONCURRENCY` clients post `/payment` (1 XLM to `DEST`, each
//! with its own id) to `BRIDGE_URL` for `DURATION_MS` (several bridge instances: a
//! comma-separated list, client `i` posting to instance `i mod n`), then wait for the answers
//! in flight, and
//! print one line: `payments=N other=N seconds=S p50_ms=… p99_ms=…` (latency of the 200s;
//! `other` counts every other answer, 202 included).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use stellar_base::KeyPair;

fn var(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set"))
}

fn number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

async fn setup() {
    let sandbox = var("SANDBOX_URL");
    let (base, dest) = (KeyPair::random(), KeyPair::random());
    for account in [base.public_key(), dest.public_key()] {
        let res = reqwest::get(format!("{sandbox}/friendbot?addr={account}"))
            .await
            .unwrap();
        assert!(res.status().is_success(), "{}", res.text().await.unwrap());
    }
    println!("BASE_SEED={}", base.secret_seed());
    println!("BASE={}", base.public_key());
    println!("DEST={}", dest.public_key());
    // Keys for the co-signers the script may start (`COSIGNERS`): seeds and public keys.
    let cosigners: Vec<KeyPair> = (0..number("COSIGNERS", 0))
        .map(|_| KeyPair::random())
        .collect();
    let seeds: Vec<String> = cosigners.iter().map(KeyPair::secret_seed).collect();
    let keys: Vec<String> = cosigners
        .iter()
        .map(|k| k.public_key().to_string())
        .collect();
    println!("COSIGNER_SEEDS={}", seeds.join(","));
    println!("COSIGNER_KEYS={}", keys.join(","));
}

async fn load() {
    let urls: Vec<String> = var("BRIDGE_URL")
        .split(',')
        .map(|base| format!("{base}/payment"))
        .collect();
    let dest = Arc::new(var("DEST"));
    let prefix = Arc::new(std::env::var("ID_PREFIX").unwrap_or_else(|_| "bench".into()));
    let concurrency = number("CONCURRENCY", 32) as usize;
    let duration = Duration::from_millis(number("DURATION_MS", 10_000));
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency)
        .build()
        .unwrap();
    let next = Arc::new(AtomicUsize::new(0));
    let other = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let end = started + duration;
    let workers: Vec<_> = (0..concurrency)
        .map(|worker| {
            let (client, url, dest, prefix, next, other) = (
                client.clone(),
                urls[worker % urls.len()].clone(),
                dest.clone(),
                prefix.clone(),
                next.clone(),
                other.clone(),
            );
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                while Instant::now() < end {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let t = Instant::now();
                    let res = client
                        .post(url.as_str())
                        .form(&[
                            ("id", format!("{prefix}-{i}").as_str()),
                            ("destination", dest.as_str()),
                            ("amount", "1"),
                        ])
                        .send()
                        .await
                        .unwrap();
                    if res.status() == 200 {
                        latencies.push(t.elapsed());
                    } else {
                        other.fetch_add(1, Ordering::Relaxed);
                        let status = res.status();
                        eprintln!("{status}: {}", res.text().await.unwrap_or_default());
                    }
                }
                latencies
            })
        })
        .collect();
    let mut latencies = Vec::new();
    for worker in workers {
        latencies.extend(worker.await.unwrap());
    }
    let seconds = started.elapsed().as_secs_f64();
    latencies.sort();
    let pct = |p: f64| {
        latencies
            .get(((latencies.len() as f64 * p) as usize).min(latencies.len().saturating_sub(1)))
            .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
    };
    println!(
        "payments={} other={} seconds={seconds:.2} p50_ms={:.0} p99_ms={:.0}",
        latencies.len(),
        other.load(Ordering::Relaxed),
        pct(0.5),
        pct(0.99)
    );
}

#[tokio::main]
async fn main() {
    match std::env::var("BENCH_MODE").as_deref() {
        Ok("setup") => setup().await,
        _ => load().await,
    }
}
