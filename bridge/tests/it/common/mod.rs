//! A sandbox network and a bridge in one test process.

#![allow(dead_code, missing_debug_implementations)]

pub mod banks;

use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bridge::{Application, BridgeConfig};
use sandbox::{RunningSandbox, Sandbox, SandboxConfig};
use service::database::Backend;
use service::testing::TestDatabase;
use stellar_base::{KeyPair, PublicKey};
use stellar_toml::StellarTomlSettings;
use wiremock::matchers::any;
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

pub const API_KEY: &str = "bridge-api-key-0123456789";

/// POSTs a form with the API key to the bridge at `base`: status and JSON.
pub async fn post_to(base: &str, path: &str, form: &[(&str, &str)]) -> (u16, serde_json::Value) {
    let mut form = form.to_vec();
    form.push(("apiKey", API_KEY));
    let body = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(&form)
        .finish();
    let res = reqwest::Client::new()
        .post(format!("{base}{path}"))
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
    let file = config_file(db, sandbox, source, issuer);
    let path = tempfile::Builder::new().suffix(".cfg").tempfile().unwrap();
    std::fs::write(path.path(), file).unwrap();
    let mut config: BridgeConfig =
        service::config::load_from("BRIDGE", Some(path.path()), Vec::new()).unwrap();
    config.stellar_toml = StellarTomlSettings::default();
    edit(&mut config);
    config
}

/// The bridge.cfg behind [`config`]; it ends inside `[accounts]`.
pub fn config_file(
    db: &TestDatabase,
    sandbox: &RunningSandbox,
    source: &KeyPair,
    issuer: &KeyPair,
) -> String {
    format!(
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
    )
}

impl TestBridge {
    pub async fn start(backend: Backend) -> Self {
        Self::start_with(backend, |_| {}).await
    }

    pub async fn start_with(backend: Backend, edit: impl FnOnce(&mut BridgeConfig)) -> Self {
        Self::start_on(backend, SandboxConfig::for_tests(), edit).await
    }

    /// A bridge on a sandbox started with `sandbox_config` (queue limits, close interval).
    pub async fn start_on(
        backend: Backend,
        sandbox_config: SandboxConfig,
        edit: impl FnOnce(&mut BridgeConfig),
    ) -> Self {
        let sandbox = Sandbox::start(sandbox_config).await.unwrap();
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
        post_to(&self.url, path, form).await
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

// ---- Receiving side -------------------------------------------------------------------------

/// One request a [`BackOffice`] got.
#[derive(Debug, Clone)]
pub struct Callback {
    /// `/receive` or `/error`.
    pub path: String,
    /// The exact body.
    pub body: String,
    /// The body as a map.
    pub form: std::collections::HashMap<String, String>,
    /// `X-Payload-Mac`.
    pub mac: Option<String>,
    /// `X_PAYLOAD_MAC`.
    pub legacy_mac: Option<String>,
}

/// A back office for `callbacks.receive` (`/receive`) and `callbacks.error` (`/error`), a
/// wiremock server: keeps every request and answers `/receive` with the status in `status`
/// (200 unless [`answer`](BackOffice::answer) says otherwise) and `/error` with 200; or, started
/// [`hung`](BackOffice::hung), keeps every request and answers none of them.
#[derive(Clone)]
pub struct BackOffice {
    pub url: String,
    pub calls: Arc<Mutex<Vec<Callback>>>,
    pub status: Arc<AtomicU16>,
    pub error_status: Arc<AtomicU16>,
    _server: Arc<MockServer>,
}

/// Records each request as a [`Callback`], then answers it (or holds it forever).
struct Records {
    calls: Arc<Mutex<Vec<Callback>>>,
    status: Arc<AtomicU16>,
    error_status: Arc<AtomicU16>,
    /// How long each answer takes (a day: never, within any test's time).
    delay: Duration,
}

impl Respond for Records {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let header = |name: &str| {
            request
                .headers
                .get(name)
                .map(|v| v.to_str().unwrap().to_owned())
        };
        let text = String::from_utf8(request.body.clone()).unwrap();
        let call = Callback {
            path: request.url.path().to_owned(),
            form: url::form_urlencoded::parse(text.as_bytes())
                .into_owned()
                .collect(),
            mac: header("x-payload-mac"),
            legacy_mac: header("x_payload_mac"),
            body: text,
        };
        let code = if call.path == "/receive" {
            self.status.load(Ordering::SeqCst)
        } else {
            self.error_status.load(Ordering::SeqCst)
        };
        self.calls.lock().unwrap().push(call);
        // A body, so that what the bridge keeps of answers can be seen (the console).
        ResponseTemplate::new(code)
            .set_body_string(format!("back office answered {code}"))
            .set_delay(self.delay)
    }
}

impl BackOffice {
    pub async fn start() -> Self {
        Self::serve(Duration::ZERO).await
    }

    /// A back office that records every request and answers none of them (as a hung back
    /// office does: the answer never comes within any test's time).
    pub async fn hung() -> Self {
        Self::serve(Duration::from_secs(24 * 60 * 60)).await
    }

    /// A back office that takes `delay` to answer each request.
    pub async fn slow(delay: Duration) -> Self {
        Self::serve(delay).await
    }

    async fn serve(delay: Duration) -> Self {
        let calls: Arc<Mutex<Vec<Callback>>> = Arc::default();
        let status = Arc::new(AtomicU16::new(200));
        let error_status = Arc::new(AtomicU16::new(200));
        // Its own server (not one from wiremock's pool, which may still hold a hung request),
        // recording nothing beyond `calls`.
        let server = MockServer::builder()
            .disable_request_recording()
            .start()
            .await;
        Mock::given(any())
            .respond_with(Records {
                calls: calls.clone(),
                status: status.clone(),
                error_status: error_status.clone(),
                delay,
            })
            .mount(&server)
            .await;
        Self {
            url: server.uri(),
            calls,
            status,
            error_status,
            _server: Arc::new(server),
        }
    }

    /// Answer the error callback (`/error`) with `status` from now on (200 until then).
    pub fn answer_error(&self, status: u16) {
        self.error_status.store(status, Ordering::SeqCst);
    }

    /// Answer `/receive` with `status` from now on.
    pub fn answer(&self, status: u16) {
        self.status.store(status, Ordering::SeqCst);
    }

    /// The requests to `path` so far.
    pub fn calls_to(&self, path: &str) -> Vec<Callback> {
        self.calls
            .lock()
            .unwrap()
            .iter()
            .filter(|c| c.path == path)
            .cloned()
            .collect()
    }

    /// Waits (up to `secs`) until `/receive` has seen `count` distinct payment ids.
    pub async fn wait_for_distinct(&self, secs: u64, count: usize) {
        let what = format!("{count} distinct payments at /receive");
        self.wait_for(secs, &what, |calls| {
            calls
                .iter()
                .filter(|c| c.path == "/receive")
                .map(|c| c.form["id"].as_str())
                .collect::<std::collections::HashSet<_>>()
                .len()
                >= count
        })
        .await;
    }

    /// Waits (up to `secs`) until `done` holds for the `/receive` calls with a 2xx answer
    /// window, i.e. all `/receive` calls; panics with `what` on timeout.
    pub async fn wait_for(&self, secs: u64, what: &str, done: impl Fn(&[Callback]) -> bool) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
        loop {
            let calls = self.calls.lock().unwrap().clone();
            if done(&calls) {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "timed out waiting for {what}; got {} calls",
                calls.len()
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }
}

/// `[receiving]` and callbacks for fast tests: `account` watched from the beginning,
/// callbacks to `office`, retries in milliseconds.
pub fn receiving_config(config: &mut BridgeConfig, account: &PublicKey, office: &BackOffice) {
    config.accounts.receiving_account_id = Some(*account);
    config.callbacks.receive = Some(format!("{}/receive", office.url).parse().unwrap());
    config.callbacks.error = Some(format!("{}/error", office.url).parse().unwrap());
    config.receiving.start_cursor = bridge::receive::StartCursor::Beginning;
    config.receiving.reconnect_min_ms = 20;
    config.receiving.reconnect_max_ms = 200;
    config.receiving.retry_initial_ms = 20;
    config.receiving.retry_max_ms = 100;
    config.receiving.poll_ms = 20;
    config.receiving.callback_timeout_ms = 5_000;
    // A crashed instance's accounts are taken over (by its restart) within two seconds.
    config.receiving.lease_ttl = 2;
    config.horizon_client.stream_idle_timeout_seconds = 1;
}

impl TestBridge {
    /// Like [`TestBridge::start_with`], also returning the receiving side's handle. The
    /// watched accounts are created (funded) before the bridge starts.
    pub async fn start_receiving(
        backend: Backend,
        edit: impl FnOnce(&mut BridgeConfig),
    ) -> (Self, bridge::receive::Receiving) {
        let sandbox = Sandbox::start(SandboxConfig::for_tests()).await.unwrap();
        let (source, issuer) = (KeyPair::random(), KeyPair::random());
        sandbox.fund(source.public_key()).await.unwrap();
        sandbox.fund(issuer.public_key()).await.unwrap();
        let db = TestDatabase::new(backend);
        let config = config(&db, &sandbox, &source, &issuer, edit);
        // The bridge refuses to start for a receiving account that does not exist: create
        // them first (their create_account is the first payment each one receives).
        let accounts = &config.accounts;
        for account in bridge::receive::watched_accounts(
            accounts.receiving_account_id,
            &accounts.receiving_accounts,
        ) {
            if sandbox.account(&account).is_none() {
                sandbox.fund(account).await.unwrap();
            }
        }
        let app = Application::build(config).await.unwrap();
        let (url, receiving) = (app.url(), app.receiving());
        app.spawn();
        let bridge = Self {
            sandbox,
            url,
            source,
            issuer,
            _db: db,
        };
        (bridge, receiving)
    }

    /// Another bridge on the same database and sandbox (a restart); its receiving handle.
    pub async fn restart(
        &self,
        edit: impl FnOnce(&mut BridgeConfig),
    ) -> (String, bridge::receive::Receiving) {
        let app = Application::build(config(
            &self._db,
            &self.sandbox,
            &self.source,
            &self.issuer,
            edit,
        ))
        .await
        .unwrap();
        let (url, receiving) = (app.url(), app.receiving());
        app.spawn();
        (url, receiving)
    }

    /// GETs a path with the API key; status and JSON.
    pub async fn get(&self, path: &str) -> (u16, serde_json::Value) {
        let res = reqwest::Client::new()
            .get(format!("{}{path}", self.url))
            .header("x-api-key", API_KEY)
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

    /// Submits `operations` from `from` in one transaction with `memo`, directly to the
    /// sandbox; panics unless it succeeds.
    pub async fn submit_ops(
        &self,
        from: &KeyPair,
        memo: stellar_base::Memo,
        operations: Vec<stellar_base::transaction::Operation>,
    ) -> String {
        let account = self.sandbox.account(&from.public_key()).unwrap();
        let mut builder =
            stellar_base::TransactionBuilder::new(from.public_key().into(), account.sequence + 1)
                .time_bounds(0, u64::MAX / 2)
                .memo(memo);
        for op in operations {
            builder = builder.operation(op);
        }
        let envelope = builder.sign(&self.sandbox.network(), &[from]).unwrap();
        let result = self.sandbox.submit(&envelope).await.unwrap();
        assert!(
            matches!(
                result.result,
                stellar_base::xdr::TransactionResultResult::TxSuccess(_)
            ),
            "{result:?}"
        );
        envelope.hash_hex(&self.sandbox.network())
    }
}

impl TestBridge {
    /// Sends `count` lumen payments of one stroop to `to`, from the paying account, in
    /// transactions of 100 operations, straight to the sandbox.
    pub async fn flood(&self, to: &KeyPair, count: usize) {
        use stellar_base::transaction::Operation;
        let one_stroop: stellar_base::Amount = "0.0000001".parse().unwrap();
        let ops: Vec<Operation> = (0..count)
            .map(|_| {
                Operation::payment(
                    to.public_key().into(),
                    &stellar_base::Asset::Native,
                    one_stroop,
                )
            })
            .collect();
        for chunk in ops.chunks(100) {
            self.submit_ops(
                &self.source,
                stellar_base::Memo::Text("flood".into()),
                chunk.to_vec(),
            )
            .await;
        }
    }

    /// A second bridge (another bank) on the same sandbox with its own fresh database; its
    /// URL, receiving handle and database guard.
    pub async fn another(
        &self,
        backend: Backend,
        edit: impl FnOnce(&mut BridgeConfig),
    ) -> (String, bridge::receive::Receiving, TestDatabase) {
        let db = TestDatabase::new(backend);
        let app = Application::build(config(&db, &self.sandbox, &self.source, &self.issuer, edit))
            .await
            .unwrap();
        let (url, receiving) = (app.url(), app.receiving());
        app.spawn();
        (url, receiving, db)
    }
}
