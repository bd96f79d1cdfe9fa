//! `/payment` throughput and latency against the sandbox: one source account, then several.
//! A benchmark, not a test: `cargo bench -p bridge --bench payments`.
//!
//! The submitter holds a source account's lock while its transaction is submitted, so one
//! account sends one transaction per ledger; throughput per account is therefore bounded by the
//! ledger close interval (5 s on the real network, `LEDGER_MS` here).

use std::sync::Arc;
use std::time::{Duration, Instant};

use bridge::{Application, BridgeConfig};
use sandbox::{Sandbox, SandboxConfig};
use stellar_base::KeyPair;

const PAYMENTS: usize = 400;
const CONCURRENCY: usize = 32;

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

async fn run(sources: usize, ledger_ms: u64) {
    let sandbox = Sandbox::start(SandboxConfig {
        close_interval: Duration::from_millis(ledger_ms),
        ..SandboxConfig::default()
    })
    .await
    .unwrap();
    let keys: Vec<KeyPair> = (0..sources).map(|_| KeyPair::random()).collect();
    for key in &keys {
        sandbox.fund(key.public_key()).await.unwrap();
    }
    let dest = KeyPair::random().public_key();
    sandbox.fund(dest).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("bridge.cfg");
    std::fs::write(
        &cfg,
        format!(
            "port = 0\nhorizon = \"{}\"\nnetwork_passphrase = \"{}\"\n[database]\nurl = \"sqlite://{}\"\n",
            sandbox.url(),
            sandbox.passphrase(),
            dir.path().join("bridge.db").display()
        ),
    )
    .unwrap();
    let config: BridgeConfig =
        service::config::load_from("BRIDGE", Some(&cfg), Vec::new()).unwrap();
    let app = Application::build(config).await.unwrap();
    let url = Arc::new(format!("{}/payment", app.url()));
    app.spawn();
    let client = reqwest::Client::new();
    let seeds: Arc<Vec<String>> = Arc::new(keys.iter().map(KeyPair::secret_seed).collect());
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let started = Instant::now();
    let workers: Vec<_> = (0..CONCURRENCY)
        .map(|_| {
            let (client, url, seeds, next) =
                (client.clone(), url.clone(), seeds.clone(), next.clone());
            let dest = dest.to_string();
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    if i >= PAYMENTS {
                        return latencies;
                    }
                    let body = url::form_urlencoded::Serializer::new(String::new())
                        .append_pair("id", &format!("bench-{i}"))
                        .append_pair("source", &seeds[i % seeds.len()])
                        .append_pair("destination", &dest)
                        .append_pair("amount", "1")
                        .finish();
                    let t = Instant::now();
                    let res = client
                        .post(url.as_str())
                        .header("content-type", "application/x-www-form-urlencoded")
                        .body(body)
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
                    latencies.push(t.elapsed());
                }
            })
        })
        .collect();
    let mut latencies = Vec::new();
    for w in workers {
        latencies.extend(w.await.unwrap());
    }
    let elapsed = started.elapsed();
    latencies.sort();
    let pct = |p: f64| latencies[((latencies.len() as f64 * p) as usize).min(latencies.len() - 1)];
    println!(
        "| {sources} | {ledger_ms} ms | {PAYMENTS} | {:.0} | {:.0} ms | {:.0} ms |",
        PAYMENTS as f64 / elapsed.as_secs_f64(),
        pct(0.5).as_secs_f64() * 1000.0,
        pct(0.99).as_secs_f64() * 1000.0
    );
}

#[tokio::main]
async fn main() {
    let ledger_ms = env("LEDGER_MS", 100);
    println!("| source accounts | ledger interval | payments | payments/s | p50 | p99 |");
    println!("|---|---|---|---|---|---|");
    for sources in [1, 4, 16] {
        run(sources, ledger_ms).await;
    }
}
