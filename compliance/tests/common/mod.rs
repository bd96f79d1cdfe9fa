//! Two banks in one process: stellar.toml hosting, a back office with scripted answers, a
//! federation server for bank B, and a compliance server per bank.

#![allow(dead_code, missing_debug_implementations)]

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use compliance::config::{BasicAuth, Callbacks, Keys};
use compliance::{Application, ComplianceConfig};
use diesel::connection::SimpleConnection;
use federation::config::Queries;
use service::database::{Backend, Database};
use service::testing::TestDatabase;
use stellar_base::{KeyPair, Network};
use stellar_toml::StellarTomlSettings;

pub const BOB_ACCOUNT: &str = "GD2GJPL3UOK5LX7TWXOACK2ZPWPFSLBNKL3GTGH6BLBNISK4BGWMFBBG";
pub const ISSUER: &str = "GCYMGWPZ6NC2U7SO6SMXOP5ZLXOEC5SYPKITDMVEONLCHFSCCQR2J4S3";
pub const API_KEY: &str = "internal-key-0123456789";

/// Starts a one-worker actix server on 127.0.0.1:0 and returns its base URL.
pub fn serve<F, T, B>(factory: F) -> String
where
    F: Fn() -> App<T> + Send + Clone + 'static,
    T: actix_web::dev::ServiceFactory<
            actix_web::dev::ServiceRequest,
            Config = (),
            Response = actix_web::dev::ServiceResponse<B>,
            Error = actix_web::Error,
            InitError = (),
        > + 'static,
    B: actix_web::body::MessageBody + 'static,
{
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = HttpServer::new(factory)
        .workers(1)
        .listen(listener)
        .unwrap()
        .run();
    tokio::spawn(server);
    format!("http://{addr}")
}

/// Serves `/{domain}/.well-known/stellar.toml` from a shared map that tests fill in.
#[derive(Clone, Default)]
pub struct TomlHost {
    pub base: String,
    files: Arc<Mutex<HashMap<String, String>>>,
}

impl TomlHost {
    pub fn start() -> Self {
        let files: Arc<Mutex<HashMap<String, String>>> = Arc::default();
        let shared = files.clone();
        let base = serve(move || {
            let files = shared.clone();
            App::new().route(
                "/{domain}/.well-known/stellar.toml",
                web::get().to(move |path: web::Path<String>| {
                    let body = files.lock().unwrap().get(path.as_str()).cloned();
                    async move {
                        match body {
                            Some(b) => HttpResponse::Ok().content_type("text/plain").body(b),
                            None => HttpResponse::NotFound().finish(),
                        }
                    }
                }),
            )
        });
        Self { base, files }
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

/// A back office whose callbacks answer from scripts (status, body), default 200 `{}`.
#[derive(Clone, Default)]
pub struct BackOffice {
    pub base: String,
    scripts: Scripts,
    pub calls: Calls,
}

impl BackOffice {
    pub fn start() -> Self {
        let scripts: Scripts = Arc::default();
        let calls: Calls = Arc::default();
        let (s, c) = (scripts.clone(), calls.clone());
        let base = serve(move || {
            let (scripts, calls) = (s.clone(), c.clone());
            App::new().default_service(web::to(move |req: HttpRequest, body: web::Bytes| {
                let name = req.path().trim_start_matches('/').to_owned();
                let mut form: BTreeMap<String, String> =
                    url::form_urlencoded::parse(&body).into_owned().collect();
                form.extend(
                    url::form_urlencoded::parse(req.query_string().as_bytes()).into_owned(),
                );
                calls.lock().unwrap().push((name.clone(), form));
                let (status, body) = scripts
                    .lock()
                    .unwrap()
                    .get_mut(&name)
                    .and_then(VecDeque::pop_front)
                    .unwrap_or((200, "{}".into()));
                async move {
                    HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap())
                        .content_type("application/json")
                        .body(body)
                }
            }))
        });
        Self {
            base,
            scripts,
            calls,
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
        max_body_bytes: 64 * 1024,
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
    let office = BackOffice::start();
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

/// Bank B's federation server: `bob*bank-b.test` → BOB_ACCOUNT with text memo `bob`.
pub async fn start_federation(backend: Backend) -> (String, TestDatabase) {
    let db = TestDatabase::new(backend);
    Database::connect(&db.settings())
        .unwrap()
        .run_blocking(|conn| {
            conn.batch_execute(&format!(
                "CREATE TABLE people (id VARCHAR(56), name VARCHAR(64), domain VARCHAR(64), \
                   memo_type VARCHAR(8), memo VARCHAR(64));
                 INSERT INTO people VALUES ('{BOB_ACCOUNT}', 'bob', 'bank-b.test', 'text', 'bob');
                 INSERT INTO people VALUES ('{BOB_ACCOUNT}', 'carol', 'bank-c.test', 'text', 'carol');"
            ))?;
            Ok(())
        })
        .unwrap();
    let app = federation::Application::build(federation::FederationConfig {
        port: 0,
        bind_address: "127.0.0.1".into(),
        database: db.settings(),
        queries: Queries {
            federation: "SELECT id, memo_type, memo FROM people WHERE name = ? AND domain = ?"
                .into(),
            reverse_federation: None,
            forward: None,
        },
        tls: None,
        log_format: Default::default(),
        metrics_port: None,
        max_body_bytes: 16 * 1024,
    })
    .await
    .unwrap();
    let url = format!("{}/federation", app.url());
    app.spawn();
    (url, db)
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
    pub _federation: TestDatabase,
}

impl TwoBanks {
    pub async fn start(backend: Backend, b_options: BankOptions) -> Self {
        let host = TomlHost::start();
        let a = start_bank("bank-a.test", backend, &host, &BankOptions::default()).await;
        let b = start_bank("bank-b.test", backend, &host, &b_options).await;
        let (federation_url, federation_db) = start_federation(backend).await;
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
            _federation: federation_db,
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
