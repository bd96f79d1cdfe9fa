//! Two banks' shared pieces for compliance tests: a web host for stellar.toml files and
//! scripted callbacks, and a compliance server configuration.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use service::testing::TestDatabase;
use stellar_base::KeyPair;
use stellar_toml::StellarTomlSettings;

pub const COMPLIANCE_KEY: &str = "compliance-internal-key";

/// Answers queued per path: the last one repeats.
pub type Answers = Arc<Mutex<HashMap<String, Vec<(u16, String)>>>>;

/// Serves fixed bodies by path, with a queue of (status, body) per path for scripted answers.
#[derive(Clone, Default)]
pub struct Web {
    files: Answers,
}

impl Web {
    pub fn start(&self) -> String {
        let files = self.files.clone();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = HttpServer::new(move || {
            let files = files.clone();
            App::new().default_service(web::to(move |req: HttpRequest| {
                let answer = {
                    let mut files = files.lock().unwrap();
                    match files.get_mut(req.path()) {
                        Some(queue) if queue.len() > 1 => Some(queue.remove(0)),
                        Some(queue) => queue.first().cloned(),
                        None => None,
                    }
                };
                async move {
                    match answer {
                        Some((status, body)) => HttpResponse::build(
                            actix_web::http::StatusCode::from_u16(status).unwrap(),
                        )
                        .body(body),
                        None => HttpResponse::NotFound().finish(),
                    }
                }
            }))
        })
        .workers(1)
        .listen(listener)
        .unwrap()
        .run();
        tokio::spawn(server);
        format!("http://{addr}")
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
            ]
            .into(),
            ..StellarTomlSettings::default()
        },
        api_key: Some(COMPLIANCE_KEY.into()),
        max_body_bytes: 64 * 1024,
    }
}
