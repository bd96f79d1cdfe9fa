//! A sandbox network and a bridge in one test process.

#![allow(dead_code, missing_debug_implementations)]

use bridge::{Application, BridgeConfig};
use sandbox::{RunningSandbox, Sandbox, SandboxConfig};
use service::database::Backend;
use service::testing::TestDatabase;
use stellar_base::{KeyPair, PublicKey};
use stellar_toml::StellarTomlSettings;

pub const API_KEY: &str = "bridge-api-key-0123456789";

pub struct TestBridge {
    pub sandbox: RunningSandbox,
    pub url: String,
    pub source: KeyPair,
    pub issuer: KeyPair,
    pub _db: TestDatabase,
}

pub fn config(
    db: &TestDatabase,
    sandbox: &RunningSandbox,
    source: &KeyPair,
    issuer: &KeyPair,
    edit: impl FnOnce(&mut BridgeConfig),
) -> BridgeConfig {
    let file = format!(
        r#"
port = 0
horizon = "{}"
network_passphrase = "{}"
api_key = "{API_KEY}"
transaction_timeout_seconds = 10

[[assets]]
code = "USD"
issuer = "{}"

[[assets]]
code = "XLM"

[database]
url = "{}"

[accounts]
base_seed = "{}"
authorizing_seed = "{}"
issuing_account_id = "{}"
"#,
        sandbox.url(),
        sandbox.passphrase(),
        issuer.public_key(),
        db.url(),
        source.secret_seed(),
        issuer.secret_seed(),
        issuer.public_key(),
    );
    let path = tempfile::Builder::new().suffix(".cfg").tempfile().unwrap();
    std::fs::write(path.path(), file).unwrap();
    let mut config: BridgeConfig =
        service::config::load_from("BRIDGE", Some(path.path()), Vec::new()).unwrap();
    config.stellar_toml = StellarTomlSettings::default();
    edit(&mut config);
    config
}

impl TestBridge {
    pub async fn start(backend: Backend) -> Self {
        Self::start_with(backend, |_| {}).await
    }

    pub async fn start_with(backend: Backend, edit: impl FnOnce(&mut BridgeConfig)) -> Self {
        let sandbox = Sandbox::start(SandboxConfig::for_tests()).await.unwrap();
        let (source, issuer) = (KeyPair::random(), KeyPair::random());
        sandbox.fund(source.public_key()).await.unwrap();
        sandbox.fund(issuer.public_key()).await.unwrap();
        let db = TestDatabase::new(backend);
        let app = Application::build(config(&db, &sandbox, &source, &issuer, edit))
            .await
            .unwrap();
        let url = app.url();
        app.spawn();
        Self {
            sandbox,
            url,
            source,
            issuer,
            _db: db,
        }
    }

    /// POSTs a form with the API key.
    pub async fn post(&self, path: &str, form: &[(&str, &str)]) -> (u16, serde_json::Value) {
        let mut form = form.to_vec();
        form.push(("apiKey", API_KEY));
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(&form)
            .finish();
        let res = reqwest::Client::new()
            .post(format!("{}{path}", self.url))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .unwrap();
        let status = res.status().as_u16();
        let text = res.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text)),
        )
    }

    pub async fn pay(&self, form: &[(&str, &str)]) -> (u16, serde_json::Value) {
        self.post("/payment", form).await
    }

    /// Horizon's JSON for an account, or None.
    pub async fn account(&self, id: &PublicKey) -> Option<serde_json::Value> {
        let res = reqwest::get(format!("{}/accounts/{id}", self.sandbox.url()))
            .await
            .unwrap();
        if res.status() != 200 {
            return None;
        }
        Some(res.json().await.unwrap())
    }

    /// The balance of `code` (`native` for lumens) as Horizon shows it.
    pub async fn balance(&self, id: &PublicKey, code: &str) -> Option<String> {
        let account = self.account(id).await?;
        account["balances"].as_array()?.iter().find_map(|b| {
            let matches = if code == "native" {
                b["asset_type"] == "native"
            } else {
                b["asset_code"] == code
            };
            matches.then(|| b["balance"].as_str().unwrap().to_owned())
        })
    }

    pub async fn transaction(&self, hash: &str) -> serde_json::Value {
        reqwest::get(format!("{}/transactions/{hash}", self.sandbox.url()))
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// The payments (and account creations) our source account made to `to`, per the ledger.
    pub async fn payments_to(&self, to: &PublicKey) -> Vec<serde_json::Value> {
        let body: serde_json::Value = reqwest::get(format!(
            "{}/accounts/{to}/payments?limit=200&order=asc",
            self.sandbox.url()
        ))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
        body["_embedded"]["records"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["to"] == to.to_string() || r["account"] == to.to_string())
            .filter(|r| {
                let source = self.source.public_key().to_string();
                r["from"] == source || r["funder"] == source
            })
            .cloned()
            .collect()
    }

    /// Gives `holder` a trustline to USD (and authorization when the issuer requires it).
    pub async fn trust_usd(&self, holder: &KeyPair) {
        use stellar_base::transaction::Operation;
        let usd = stellar_base::Asset::credit("USD", self.issuer.public_key()).unwrap();
        let account = self.account(&holder.public_key()).await.unwrap();
        let sequence: i64 = account["sequence"].as_str().unwrap().parse().unwrap();
        let envelope =
            stellar_base::TransactionBuilder::new(holder.public_key().into(), sequence + 1)
                .time_bounds(0, u64::MAX / 2)
                .operation(Operation::change_trust(&usd, "1000000".parse().unwrap()))
                .sign(&self.sandbox.network(), &[holder])
                .unwrap();
        let res = reqwest::Client::new()
            .post(format!("{}/transactions", self.sandbox.url()))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(
                url::form_urlencoded::Serializer::new(String::new())
                    .append_pair("tx", &envelope.to_base64())
                    .finish(),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    }
}
