//! Two banks in one process: stellar.toml hosting, a back office with scripted answers, a
//! federation server for bank B, and a compliance server per bank.

#![allow(dead_code, missing_debug_implementations)]

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use compliance::config::{BasicAuth, Callbacks, Keys};
use compliance::{Application, ComplianceConfig};
use federation::testing::FederationServer;
use service::database::Backend;
use service::testing::TestDatabase;
use stellar_base::{KeyPair, Network};
use stellar_toml::StellarTomlSettings;
use wiremock::matchers::{method, path_regex};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

/// Bank B's customer: `bob*bank-b.test` at its federation server.
pub const BOB_ACCOUNT: &str = federation::testing::BANK_B_BOB;
pub const ISSUER: &str = "GCYMGWPZ6NC2U7SO6SMXOP5ZLXOEC5SYPKITDMVEONLCHFSCCQR2J4S3";
pub const API_KEY: &str = "internal-key-0123456789";

/// Serves `/{domain}/.well-known/stellar.toml` from a shared map that tests fill in (a
/// wiremock server; unknown domains are 404).
#[derive(Clone)]
pub struct TomlHost {
    pub base: String,
    files: Arc<Mutex<HashMap<String, String>>>,
    _server: Arc<MockServer>,
}

/// Answers from the current contents of the map, so that a domain's file can be replaced.
struct TomlFiles(Arc<Mutex<HashMap<String, String>>>);

impl Respond for TomlFiles {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let domain = request.url.path().split('/').nth(1).unwrap_or_default();
        match self.0.lock().unwrap().get(domain) {
            Some(body) => ResponseTemplate::new(200).set_body_raw(body.clone(), "text/plain"),
            None => ResponseTemplate::new(404),
        }
    }
}

impl TomlHost {
    pub async fn start() -> Self {
        let files: Arc<Mutex<HashMap<String, String>>> = Arc::default();
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path_regex(r"^/[^/]+/\.well-known/stellar\.toml$"))
            .respond_with(TomlFiles(files.clone()))
            .mount(&server)
            .await;
        Self {
            base: server.uri(),
            files,
            _server: Arc::new(server),
        }
    }

    pub fn set(&self, domain: &str, toml: String) {
        self.files.lock().unwrap().insert(domain.into(), toml);
    }

    pub fn url(&self, domain: &str) -> String {
        format!("{}/{domain}/.well-known/stellar.toml", self.base)
    }
}

/// Queued answers per callback name.
type Scripts = Arc<Mutex<HashMap<String, VecDeque<(u16, String)>>>>;
/// Every call received: callback name and form fields.
type Calls = Arc<Mutex<Vec<(String, BTreeMap<String, String>)>>>;

/// A back office whose callbacks answer from scripts (status, body), default 200 `{}` (a
/// wiremock server).
#[derive(Clone)]
pub struct BackOffice {
    pub base: String,
    scripts: Scripts,
    pub calls: Calls,
    _server: Arc<MockServer>,
}

/// Records each call (its form and query fields) and answers with the next scripted answer.
struct Scripted {
    scripts: Scripts,
    calls: Calls,
}

impl Respond for Scripted {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let name = request.url.path().trim_start_matches('/').to_owned();
        let mut form: BTreeMap<String, String> = url::form_urlencoded::parse(&request.body)
            .into_owned()
            .collect();
        form.extend(request.url.query_pairs().into_owned());
        self.calls.lock().unwrap().push((name.clone(), form));
        let (status, body) = self
            .scripts
            .lock()
            .unwrap()
            .get_mut(&name)
            .and_then(VecDeque::pop_front)
            .unwrap_or((200, "{}".into()));
        ResponseTemplate::new(status).set_body_raw(body, "application/json")
    }
}

impl BackOffice {
    pub async fn start() -> Self {
        let scripts: Scripts = Arc::default();
        let calls: Calls = Arc::default();
        let server = MockServer::start().await;
        Mock::given(wiremock::matchers::any())
            .respond_with(Scripted {
                scripts: scripts.clone(),
                calls: calls.clone(),
            })
            .mount(&server)
            .await;
        Self {
            base: server.uri(),
            scripts,
            calls,
            _server: Arc::new(server),
        }
    }

    /// Queues answers for one callback (`sanctions`, `ask_user`, `fetch_info`, `tx_status`).
    pub fn script(&self, callback: &str, answers: &[(u16, &str)]) {
        self.scripts.lock().unwrap().insert(
            callback.into(),
            answers.iter().map(|(s, b)| (*s, b.to_string())).collect(),
        );
    }

    pub fn calls_to(&self, callback: &str) -> Vec<BTreeMap<String, String>> {
        self.calls
            .lock()
            .unwrap()
            .iter()
            .filter(|(n, _)| n == callback)
            .map(|(_, f)| f.clone())
            .collect()
    }

    pub fn url(&self, callback: &str) -> url::Url {
        format!("{}/{callback}", self.base).parse().unwrap()
    }
}

pub struct Bank {
    pub domain: String,
    pub key: KeyPair,
    pub external: String,
    pub internal: String,
    pub office: BackOffice,
    pub _db: TestDatabase,
}

pub fn overrides(host: &TomlHost, domains: &[&str]) -> StellarTomlSettings {
    StellarTomlSettings {
        overrides: domains
            .iter()
            .map(|d| (d.to_string(), host.url(d)))
            .collect(),
        ..StellarTomlSettings::default()
    }
}

pub struct BankOptions {
    pub needs_auth: bool,
    pub callbacks: &'static [&'static str],
    pub network: &'static str,
}

impl Default for BankOptions {
    fn default() -> Self {
        Self {
            needs_auth: true,
            callbacks: &["sanctions", "ask_user", "fetch_info", "tx_status"],
            network: Network::TESTNET,
        }
    }
}

pub fn config(
    db: &TestDatabase,
    key: &KeyPair,
    office: &BackOffice,
    host: &TomlHost,
    options: &BankOptions,
) -> ComplianceConfig {
    let url = |name: &str| options.callbacks.contains(&name).then(|| office.url(name));
    ComplianceConfig {
        external_port: 0,
        internal_port: 0,
        external_bind_address: "127.0.0.1".into(),
        internal_bind_address: "127.0.0.1".into(),
        needs_auth: options.needs_auth,
        network_passphrase: options.network.into(),
        log_format: Default::default(),
        database: db.settings(),
        keys: Keys {
            signing_seed: key.clone(),
            encryption_key: None,
        },
        callbacks: Callbacks {
            sanctions: url("sanctions"),
            ask_user: url("ask_user"),
            fetch_info: url("fetch_info"),
            tx_status: url("tx_status"),
        },
        tls: None,
        tx_status_auth: Some(BasicAuth {
            username: "sep4".into(),
            password: "status-password".into(),
        }),
        stellar_toml: overrides(
            host,
            &["bank-a.test", "bank-b.test", "bank-c.test", "stellar.org"],
        ),
        api_key: Some(API_KEY.into()),
        max_body_bytes: 256 * 1024,
        allow_unauthenticated: false,
        request_body_timeout_seconds: 5,
        rate_limit: service::rate_limit::RateLimitSettings::unlimited(),
        console: service::console::ConsoleSettings::default(),
        peering: Default::default(),
    }
}

pub async fn start_bank(
    domain: &str,
    backend: Backend,
    host: &TomlHost,
    options: &BankOptions,
) -> Bank {
    let db = TestDatabase::new(backend);
    let key = KeyPair::random();
    let office = BackOffice::start().await;
    let app = Application::build(config(&db, &key, &office, host, options))
        .await
        .unwrap();
    let (external, internal) = (app.external_url(), app.internal_url());
    app.spawn();
    Bank {
        domain: domain.into(),
        key,
        external,
        internal,
        office,
        _db: db,
    }
}

/// Two banks wired together: A sends, B receives.
pub struct TwoBanks {
    pub host: TomlHost,
    /// Bank A's paying account (the same on every request, as a repeat must be).
    pub source: stellar_base::PublicKey,
    /// Bank B's federation endpoint.
    pub federation_url: String,
    pub a: Bank,
    pub b: Bank,
    pub _federation: FederationServer,
}

impl TwoBanks {
    pub async fn start(backend: Backend, b_options: BankOptions) -> Self {
        let host = TomlHost::start().await;
        let a = start_bank("bank-a.test", backend, &host, &BankOptions::default()).await;
        let b = start_bank("bank-b.test", backend, &host, &b_options).await;
        // Bank B's federation server: `bob*bank-b.test` → BOB_ACCOUNT with text memo `bob`.
        let federation = FederationServer::start(backend).await;
        let federation_url = federation.federation_url();
        host.set(
            "bank-a.test",
            format!(
                "SIGNING_KEY = \"{}\"\nAUTH_SERVER = \"{}\"\n",
                a.key.public_key(),
                a.external
            ),
        );
        host.set(
            "bank-b.test",
            format!(
                "SIGNING_KEY = \"{}\"\nAUTH_SERVER = \"{}\"\nFEDERATION_SERVER = \"{federation_url}\"\n",
                b.key.public_key(),
                b.external
            ),
        );
        // A's back office knows its customer.
        a.office.script(
            "fetch_info",
            &[(200, r#"{"first_name":"Alice","last_name":"Smith"}"#); 8],
        );
        Self {
            host,
            source: KeyPair::random().public_key(),
            federation_url,
            a,
            b,
            _federation: federation,
        }
    }

    /// POSTs `/send` at bank A.
    pub async fn send(&self, id: &str, extra: &[(&str, &str)]) -> (u16, serde_json::Value) {
        let source = self.source.to_string();
        let mut form = vec![
            ("id", id),
            ("source", source.as_str()),
            ("sender", "alice*bank-a.test"),
            ("destination", "bob*bank-b.test"),
            ("amount", "20"),
            ("asset_code", "USD"),
            ("asset_issuer", ISSUER),
            ("extra_memo", "invoice 7"),
        ];
        form.retain(|(k, _)| !extra.iter().any(|(e, _)| e == k));
        form.extend_from_slice(extra);
        post_form(&format!("{}/send", self.a.internal), &form, Some(API_KEY)).await
    }
}

pub async fn post_form(
    url: &str,
    form: &[(&str, &str)],
    api_key: Option<&str>,
) -> (u16, serde_json::Value) {
    let body = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(form)
        .finish();
    let mut req = reqwest::Client::new()
        .post(url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body);
    if let Some(key) = api_key {
        req = req.header("x-api-key", key);
    }
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    let text = res.text().await.unwrap();
    let json = serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text));
    (status, json)
}
