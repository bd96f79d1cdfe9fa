//! Helpers shared by the HTTP tests: start a sandbox, build and submit transactions.

#![allow(dead_code)]

use serde_json::Value;
use stellar_base::{AccountAddress, Envelope, KeyPair, Network, Operation, TransactionBuilder};

pub use sandbox::{RunningSandbox, Sandbox, SandboxConfig};

pub async fn start() -> RunningSandbox {
    Sandbox::start(SandboxConfig::for_tests()).await.unwrap()
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().build().unwrap()
}

pub async fn funded(sandbox: &RunningSandbox) -> KeyPair {
    let key = KeyPair::random();
    sandbox.fund(key.public_key()).await.unwrap();
    key
}

pub fn next_seq(sandbox: &RunningSandbox, key: &KeyPair) -> i64 {
    sandbox.account(&key.public_key()).unwrap().sequence + 1
}

pub fn tx(sandbox: &RunningSandbox, key: &KeyPair, ops: Vec<Operation>) -> Envelope {
    let mut builder = TransactionBuilder::new(key.public_key().into(), next_seq(sandbox, key));
    for op in ops {
        builder = builder.operation(op);
    }
    builder.sign(&sandbox.network(), &[key]).unwrap()
}

pub fn addr(key: &KeyPair) -> AccountAddress {
    key.public_key().into()
}

pub fn network(sandbox: &RunningSandbox) -> Network {
    sandbox.network()
}

/// Percent-encodes a form value.
pub fn form_encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// POST /transactions: (status, JSON body).
pub async fn submit(sandbox: &RunningSandbox, envelope: &Envelope) -> (u16, Value) {
    submit_raw(sandbox, &envelope.to_base64()).await
}

pub async fn submit_raw(sandbox: &RunningSandbox, xdr: &str) -> (u16, Value) {
    let response = client()
        .post(format!("{}/transactions", sandbox.url()))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(format!("tx={}", form_encode(xdr)))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

pub async fn get(sandbox: &RunningSandbox, path: &str) -> (u16, Value) {
    let response = client()
        .get(format!("{}{path}", sandbox.url()))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

pub fn records(body: &Value) -> &Vec<Value> {
    body["_embedded"]["records"].as_array().unwrap()
}
