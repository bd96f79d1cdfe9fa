//! Helpers shared by the integration tests: a sandbox on port 0, funded accounts, payments.

#![allow(dead_code)]

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use horizon::{HorizonClient, HorizonSettings};
use sandbox::{RunningSandbox, Sandbox, SandboxConfig};
use stellar_base::{Asset, Envelope, KeyPair, Memo, Network, Operation, TransactionBuilder};

/// A sandbox closing ledgers every 10 ms, faults on.
pub async fn start() -> RunningSandbox {
    Sandbox::start(SandboxConfig::for_tests()).await.unwrap()
}

/// Fast retries, a stream idle timeout well above the sandbox's 1 s keep-alives.
pub fn settings() -> HorizonSettings {
    HorizonSettings {
        retry_backoff_ms: 10,
        stream_idle_timeout_seconds: 5,
        ..HorizonSettings::default()
    }
}

pub fn client(sandbox: &RunningSandbox) -> HorizonClient {
    HorizonClient::new(&sandbox.url(), &settings()).unwrap()
}

/// A new account funded through `GET /friendbot?addr=`.
pub async fn funded(sandbox: &RunningSandbox) -> KeyPair {
    let key = KeyPair::random();
    let url = format!("{}/friendbot?addr={}", sandbox.url(), key.public_key());
    let response = reqwest::Client::builder()
        .no_proxy()
        .build()
        .unwrap()
        .get(url)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
    key
}

pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// A native payment of `amount` XLM from `from` (at `sequence`) to `to`, valid for a minute.
pub fn payment(
    network: &Network,
    from: &KeyPair,
    sequence: i64,
    to: &KeyPair,
    amount: &str,
    memo: Memo,
) -> Envelope {
    TransactionBuilder::new(from.public_key().into(), sequence)
        .memo(memo)
        .timeout(now(), 60)
        .operation(Operation::payment(
            to.public_key().into(),
            &Asset::Native,
            amount.parse().unwrap(),
        ))
        .sign(network, &[from])
        .unwrap()
}

/// The next sequence number of `key`, from Horizon.
pub async fn next_sequence(horizon: &HorizonClient, key: &KeyPair) -> i64 {
    horizon
        .account(&key.public_key())
        .await
        .unwrap()
        .unwrap()
        .sequence
        + 1
}

/// Pays `amount` XLM with a text memo and returns the transaction hash.
pub async fn pay(
    sandbox: &RunningSandbox,
    horizon: &HorizonClient,
    from: &KeyPair,
    to: &KeyPair,
    amount: &str,
    memo: &str,
) -> String {
    let sequence = next_sequence(horizon, from).await;
    let envelope = payment(
        &sandbox.network(),
        from,
        sequence,
        to,
        amount,
        Memo::Text(memo.into()),
    );
    horizon.submit(&envelope.to_base64()).await.unwrap().hash
}

/// Waits at most `limit` for `future`.
pub async fn within<T>(limit: Duration, future: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(limit, future)
        .await
        .expect("timed out")
}
