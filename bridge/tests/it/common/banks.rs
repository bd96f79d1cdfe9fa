//! Two banks' shared pieces for compliance tests: a web host for stellar.toml files and
//! scripted callbacks, and a compliance server configuration.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use federation::testing::{BANK_B_BOB, BANK_B_BOB_SEED, FederationServer};
use service::testing::TestDatabase;
use stellar_base::KeyPair;
use stellar_toml::StellarTomlSettings;
use wiremock::matchers::any;
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

pub const COMPLIANCE_KEY: &str = "compliance-internal-key";

/// Answers queued per path: the last one repeats.
pub type Answers = Arc<Mutex<HashMap<String, Vec<(u16, String)>>>>;

/// Serves fixed bodies by path, with a queue of (status, body) per path for scripted answers
/// (a wiremock server; unknown paths are 404).
#[derive(Clone)]
pub struct Web {
    /// Its base URL.
    pub base: String,
    files: Answers,
    hits: Arc<Mutex<HashMap<String, usize>>>,
    _server: Arc<MockServer>,
}

/// Counts each request by path and answers with the next queued answer for it.
struct Scripted {
    files: Answers,
    hits: Arc<Mutex<HashMap<String, usize>>>,
}

impl Respond for Scripted {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let path = request.url.path();
        *self
            .hits
            .lock()
            .unwrap()
            .entry(path.to_owned())
            .or_default() += 1;
        let mut files = self.files.lock().unwrap();
        let answer = match files.get_mut(path) {
            Some(queue) if queue.len() > 1 => Some(queue.remove(0)),
            Some(queue) => queue.first().cloned(),
            None => None,
        };
        match answer {
            Some((status, body)) => ResponseTemplate::new(status).set_body_string(body),
            None => ResponseTemplate::new(404),
        }
    }
}

impl Web {
    /// Serves nothing yet: every path is 404 until [`set`](Web::set).
    pub async fn start() -> Self {
        let (files, hits) = (Answers::default(), Arc::default());
        let server = MockServer::start().await;
        Mock::given(any())
            .respond_with(Scripted {
                files: Arc::clone(&files),
                hits: Arc::clone(&hits),
            })
            .mount(&server)
            .await;
        Self {
            base: server.uri(),
            files,
            hits,
            _server: Arc::new(server),
        }
    }

    /// How many requests reached `path` so far.
    pub fn calls(&self, path: &str) -> usize {
        self.hits.lock().unwrap().get(path).copied().unwrap_or(0)
    }

    pub fn set(&self, path: &str, answers: &[(u16, &str)]) {
        self.files.lock().unwrap().insert(
            path.into(),
            answers.iter().map(|(s, b)| (*s, b.to_string())).collect(),
        );
    }
}

pub fn compliance_config(
    db: &TestDatabase,
    key: &KeyPair,
    passphrase: &str,
    web_base: &str,
    callbacks: bool,
) -> compliance::ComplianceConfig {
    let url = |p: &str| callbacks.then(|| format!("{web_base}/{p}").parse().unwrap());
    compliance::ComplianceConfig {
        external_port: 0,
        internal_port: 0,
        external_bind_address: "127.0.0.1".into(),
        internal_bind_address: "127.0.0.1".into(),
        needs_auth: false,
        network_passphrase: passphrase.into(),
        log_format: Default::default(),
        database: db.settings(),
        keys: compliance::config::Keys {
            signing_seed: key.clone(),
            encryption_key: None,
        },
        callbacks: compliance::config::Callbacks {
            sanctions: url("b/sanctions"),
            ask_user: None,
            fetch_info: url("a/fetch_info"),
            tx_status: None,
        },
        tls: None,
        tx_status_auth: None,
        stellar_toml: StellarTomlSettings {
            overrides: [
                (
                    "bank-a.test".to_owned(),
                    format!("{web_base}/bank-a.test/.well-known/stellar.toml"),
                ),
                (
                    "bank-b.test".to_owned(),
                    format!("{web_base}/bank-b.test/.well-known/stellar.toml"),
                ),
                (
                    "bank-c.test".to_owned(),
                    format!("{web_base}/bank-c.test/.well-known/stellar.toml"),
                ),
                (
                    "bank-d.test".to_owned(),
                    format!("{web_base}/bank-d.test/.well-known/stellar.toml"),
                ),
                (
                    "bank-e.test".to_owned(),
                    format!("{web_base}/bank-e.test/.well-known/stellar.toml"),
                ),
                (
                    "bank-f.test".to_owned(),
                    format!("{web_base}/bank-f.test/.well-known/stellar.toml"),
                ),
                (
                    "bank-g.test".to_owned(),
                    format!("{web_base}/bank-g.test/.well-known/stellar.toml"),
                ),
            ]
            .into(),
            ..StellarTomlSettings::default()
        },
        api_key: Some(COMPLIANCE_KEY.into()),
        max_body_bytes: 64 * 1024,
        allow_unauthenticated: false,
        request_body_timeout_seconds: 5,
        rate_limit: service::rate_limit::RateLimitSettings::unlimited(),
        console: service::console::ConsoleSettings::default(),
        peering: Default::default(),
    }
}

/// Bank A's bridge (on its own sandbox) wired to compliance A, and compliance B with bank B's
/// federation (`federation::testing`'s server: `bob*bank-b.test` → `bob`, memo text `bob`, also
/// by forward `acct=bob`; `carol*bank-c.test` → `bob`, memo text `carol`). Bank B's sanctions
/// answer from `web` at `/b/sanctions`; bank A's customer KYC from `/a/fetch_info`.
pub struct TwoBanks {
    /// Serves both stellar.toml files and the scripted callbacks.
    pub web: Web,
    /// Bank A's bridge.
    pub bridge: super::TestBridge,
    /// Bob's account at bank B (funded).
    pub bob: stellar_base::PublicKey,
    /// Bob's keys (to open trustlines).
    pub bob_key: KeyPair,
    /// Compliance A's signing key: the account it authenticates as with SEP-10.
    pub a_key: stellar_base::PublicKey,
    /// Compliance A's internal URL (`/send`).
    pub a_internal: String,
    /// Compliance B's internal URL (`/receive`).
    pub b_internal: String,
    _federation: FederationServer,
    _databases: [TestDatabase; 2],
}

impl TwoBanks {
    pub async fn start(backend: service::database::Backend) -> Self {
        let web = Web::start().await;
        let web_base = web.base.clone();
        let (key_a, key_b) = (KeyPair::random(), KeyPair::random());
        let databases = [TestDatabase::new(backend), TestDatabase::new(backend)];
        let [db_a, db_b] = &databases;
        let bob_key = KeyPair::from_secret_seed(BANK_B_BOB_SEED).unwrap();
        let bob = bob_key.public_key();
        assert_eq!(bob.to_string(), BANK_B_BOB);

        // Bank B's federation: the fixture's people, and forward lookups by bank B's `acct`.
        let federation = FederationServer::start_with(
            federation::testing::people(backend),
            federation::config::Queries {
                forward: Some(
                    "SELECT id, memo_type, memo FROM people \
                     WHERE name = :acct AND domain = 'bank-b.test'"
                        .into(),
                ),
                ..federation::testing::queries()
            },
        )
        .await;
        let fed_url = federation.federation_url();

        // The compliance servers hash for the sandbox's network.
        let passphrase = stellar_base::Network::STANDALONE;
        let a = compliance::Application::build(compliance_config(
            db_a, &key_a, passphrase, &web_base, true,
        ))
        .await
        .unwrap();
        let b = compliance::Application::build(compliance_config(
            db_b, &key_b, passphrase, &web_base, true,
        ))
        .await
        .unwrap();
        let a_internal = a.internal_url();
        let b_internal = b.internal_url();
        web.set(
            "/bank-a.test/.well-known/stellar.toml",
            &[(
                200,
                &format!(
                    "SIGNING_KEY = \"{}\"\nAUTH_SERVER = \"{}\"\n",
                    key_a.public_key(),
                    a.external_url()
                ),
            )],
        );
        web.set(
            "/bank-b.test/.well-known/stellar.toml",
            &[(
                200,
                &format!(
                    "SIGNING_KEY = \"{}\"\nAUTH_SERVER = \"{}\"\nFEDERATION_SERVER = \"{fed_url}\"\n",
                    key_b.public_key(),
                    b.external_url()
                ),
            )],
        );
        // Bank C resolves names but takes no compliance payments: no AUTH_SERVER.
        web.set(
            "/bank-c.test/.well-known/stellar.toml",
            &[(200, &format!("FEDERATION_SERVER = \"{fed_url}\"\n"))],
        );
        web.set("/a/fetch_info", &[(200, r#"{"first_name":"Alice"}"#)]);
        a.spawn();
        b.spawn();

        let bridge = super::TestBridge::start_with(backend, |c| {
            c.compliance = Some(a_internal.parse().unwrap());
            c.compliance_api_key = Some(COMPLIANCE_KEY.into());
            c.stellar_toml.overrides = [(
                "bank-b.test".to_owned(),
                format!("{web_base}/bank-b.test/.well-known/stellar.toml"),
            )]
            .into();
        })
        .await;
        bridge.sandbox.fund(bob).await.unwrap();
        Self {
            web,
            bridge,
            bob,
            bob_key,
            a_key: key_a.public_key(),
            a_internal,
            b_internal,
            _federation: federation,
            _databases: databases,
        }
    }

    /// Alice pays bob 25 XLM through compliance (`extra_memo`), with payment id `id`.
    pub async fn pay(&self, id: &str) -> (u16, serde_json::Value) {
        self.bridge
            .pay(&[
                ("id", id),
                ("sender", "alice*bank-a.test"),
                ("destination", "bob*bank-b.test"),
                ("amount", "25"),
                ("extra_memo", "rent"),
            ])
            .await
    }
}
