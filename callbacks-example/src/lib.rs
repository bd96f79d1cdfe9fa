//! A reference back office: the six callbacks the bridge and compliance servers call, in one
//! small server an operator can read in ten minutes and copy.
//!
//! - `POST /receive`: verifies `X-Payload-Mac`, credits each payment once (the operation id is
//!   the idempotency key: the bridge delivers at least once), answers 200.
//! - `POST /error`: a payment the bridge could not deliver; logged for a human.
//! - `POST /sanctions`, `POST /ask_user`: decisions from `rules` in the config: a deny list,
//!   senders asked to wait once (202 with `pending`), amounts above a limit that need a person
//!   (202), everything else 200.
//! - `POST /fetch_info`: customer KYC from a JSON file, by route or address.
//! - `GET /tx_status`: what we know of a payment (SEP-4).
//!
//! Each call is logged in one readable line.

use std::collections::{BTreeMap, HashSet};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Mutex;

use actix_web::dev::{Server, ServerHandle};
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use diesel::RunQueryDsl;
use diesel::sql_types::{BigInt, Text};
use hmac::{Hmac, Mac};
use serde::Deserialize;
use service::{Database, DatabaseSettings};
use sha2::Sha256;
use stellar_base::{Amount, KeyPair};

/// The configuration (`callbacks.toml`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Port.
    pub port: u16,
    /// Address to listen on (default `127.0.0.1`: the servers calling us run next to us). In
    /// a container on a private network shared with the bridge and compliance servers,
    /// `0.0.0.0`.
    #[serde(default = "loopback")]
    pub bind_address: String,
    /// SQLite file where credits are recorded.
    pub database: PathBuf,
    /// The bridge's `mac_key`; without it `X-Payload-Mac` is not checked.
    #[serde(default, deserialize_with = "seed")]
    pub mac_key: Option<KeyPair>,
    /// Customers' KYC, a JSON object keyed by route (`bob`) or address (`alice*bank.test`).
    #[serde(default)]
    pub customers_file: Option<PathBuf>,
    /// Decision rules.
    #[serde(default)]
    pub rules: Rules,
}

fn loopback() -> String {
    "127.0.0.1".to_owned()
}

/// How `sanctions` and `ask_user` decide.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rules {
    /// Sender names (as in `sender_info`: `first_name last_name`) that are refused (403).
    #[serde(default)]
    pub deny: Vec<String>,
    /// Senders whose first check is answered "pending" (202), as if a person had to look.
    #[serde(default)]
    pub pending_once: Vec<String>,
    /// Seconds to tell the sender to wait.
    #[serde(default = "default_pending")]
    pub pending_seconds: u64,
    /// `ask_user` answers 202 above this amount (a person must decide).
    #[serde(default)]
    pub manual_above: Option<String>,
}

fn default_pending() -> u64 {
    5
}

fn seed<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<KeyPair>, D::Error> {
    Option::<String>::deserialize(d)?
        .filter(|s| !s.is_empty())
        .map(|s| {
            KeyPair::from_secret_seed(&s)
                .map_err(|_| serde::de::Error::custom("mac_key is not an S… seed"))
        })
        .transpose()
}

struct State {
    db: Database,
    mac_key: Option<[u8; 32]>,
    customers: serde_json::Map<String, serde_json::Value>,
    rules: Rules,
    asked: Mutex<HashSet<String>>,
}

type Form = web::Form<BTreeMap<String, String>>;

/// `X-Payload-Mac`: base64 HMAC-SHA256 of the exact body, keyed with the raw seed bytes.
pub fn payload_mac(key: &[u8; 32], body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(body);
    BASE64.encode(mac.finalize().into_bytes())
}

fn mac_is_valid(state: &State, req: &HttpRequest, body: &[u8]) -> bool {
    let Some(key) = &state.mac_key else {
        return true;
    };
    let Some(given) = req
        .headers()
        .get("x-payload-mac")
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let Ok(given) = BASE64.decode(given) else {
        return false;
    };
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(body);
    mac.verify_slice(&given).is_ok()
}

#[derive(diesel::QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

async fn receive(state: web::Data<State>, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    if !mac_is_valid(&state, &req, &body) {
        tracing::warn!("receive: refused, X-Payload-Mac does not match");
        return HttpResponse::Forbidden().body("bad X-Payload-Mac");
    }
    let form: BTreeMap<String, String> = url::form_urlencoded::parse(&body).into_owned().collect();
    let get = |k: &str| form.get(k).cloned().unwrap_or_default();
    let (id, route, amount, code) = (get("id"), get("route"), get("amount"), get("asset_code"));
    if id.is_empty() {
        return HttpResponse::BadRequest().body("missing id");
    }
    let fields = (
        id.clone(),
        route.clone(),
        amount.clone(),
        code.clone(),
        get("from"),
        get("transaction_id"),
    );
    let inserted = state
        .db
        .run(move |conn| {
            Ok(diesel::sql_query(
                "INSERT OR IGNORE INTO credits (operation_id, route, amount, asset_code, sender, transaction_id) \
                 VALUES (?, ?, ?, ?, ?, ?)",
            )
            .bind::<Text, _>(fields.0)
            .bind::<Text, _>(fields.1)
            .bind::<Text, _>(fields.2)
            .bind::<Text, _>(fields.3)
            .bind::<Text, _>(fields.4)
            .bind::<Text, _>(fields.5)
            .execute(conn)?)
        })
        .await;
    match inserted {
        Ok(1) => tracing::info!("receive: credited {amount} {code} to {route:?} (operation {id})"),
        Ok(_) => tracing::info!("receive: operation {id} already credited, not again"),
        Err(e) => {
            tracing::error!("receive: cannot record operation {id}: {e}");
            return HttpResponse::InternalServerError().finish();
        }
    }
    HttpResponse::Ok().finish()
}

async fn error(form: Form) -> HttpResponse {
    tracing::warn!(
        "error: payment could not be delivered: {:?}",
        form.into_inner()
    );
    HttpResponse::Ok().finish()
}

fn sender_name(form: &BTreeMap<String, String>) -> String {
    let info: serde_json::Value =
        serde_json::from_str(form.get("sender").map_or("{}", String::as_str)).unwrap_or_default();
    let part = |k: &str| {
        info.get(k)
            .and_then(|v| v.as_str())
            .unwrap_or("")
            .to_owned()
    };
    format!("{} {}", part("first_name"), part("last_name"))
        .trim()
        .to_owned()
}

fn decide(state: &State, callback: &str, form: &BTreeMap<String, String>) -> HttpResponse {
    let name = sender_name(form);
    if state.rules.deny.contains(&name) {
        tracing::info!("{callback}: {name:?} is on the deny list: denied");
        return HttpResponse::Forbidden().finish();
    }
    if state.rules.pending_once.contains(&name)
        && state
            .asked
            .lock()
            .expect("lock")
            .insert(format!("{callback}:{name}"))
    {
        tracing::info!(
            "{callback}: {name:?} needs a look: pending {} s",
            state.rules.pending_seconds
        );
        return HttpResponse::Accepted()
            .json(serde_json::json!({"pending": state.rules.pending_seconds}));
    }
    if callback == "ask_user"
        && let (Some(limit), Some(amount)) = (&state.rules.manual_above, form.get("amount"))
        && let (Ok(limit), Ok(amount)) = (limit.parse::<Amount>(), amount.parse::<Amount>())
        && amount > limit
    {
        tracing::info!("{callback}: {amount} is above {limit}: a person decides, pending");
        return HttpResponse::Accepted()
            .json(serde_json::json!({"pending": state.rules.pending_seconds}));
    }
    tracing::info!("{callback}: {name:?} ok");
    HttpResponse::Ok().finish()
}

async fn sanctions(state: web::Data<State>, form: Form) -> HttpResponse {
    decide(&state, "sanctions", &form)
}

async fn ask_user(state: web::Data<State>, form: Form) -> HttpResponse {
    decide(&state, "ask_user", &form)
}

async fn fetch_info(state: web::Data<State>, form: Form) -> HttpResponse {
    let address = form.get("address").cloned().unwrap_or_default();
    let key = address.split('*').next().unwrap_or_default();
    match state
        .customers
        .get(&address)
        .or_else(|| state.customers.get(key))
    {
        Some(kyc) => {
            tracing::info!("fetch_info: {address:?} found");
            HttpResponse::Ok().json(kyc)
        }
        None => {
            tracing::info!("fetch_info: {address:?} unknown");
            HttpResponse::NotFound().finish()
        }
    }
}

async fn tx_status(
    state: web::Data<State>,
    query: web::Query<BTreeMap<String, String>>,
) -> HttpResponse {
    let id = query.get("id").cloned().unwrap_or_default();
    let lookup = id.clone();
    let credited = state
        .db
        .run(move |conn| {
            Ok(
                diesel::sql_query("SELECT COUNT(*) AS n FROM credits WHERE transaction_id = ?")
                    .bind::<Text, _>(lookup)
                    .get_result::<Count>(conn)?
                    .n,
            )
        })
        .await
        .unwrap_or(0);
    let status = if credited > 0 { "delivered" } else { "unknown" };
    tracing::info!("tx_status: {id} is {status}");
    HttpResponse::Ok().json(serde_json::json!({"status": status}))
}

/// A running back office.
pub struct CallbacksServer {
    server: Server,
    address: SocketAddr,
    db: Database,
}

impl std::fmt::Debug for CallbacksServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CallbacksServer({})", self.address)
    }
}

impl CallbacksServer {
    /// Opens the database and binds `bind_address:port`.
    ///
    /// # Errors
    /// A readable message when the database, the customers file or the port cannot be used.
    pub async fn start(config: Config) -> Result<Self, String> {
        let url = format!("sqlite://{}", config.database.display());
        let db = Database::connect(&DatabaseSettings::from_url(url)).map_err(|e| e.to_string())?;
        db.run(|conn| {
            diesel::sql_query(
                "CREATE TABLE IF NOT EXISTS credits (operation_id TEXT PRIMARY KEY, route TEXT, \
                 amount TEXT, asset_code TEXT, sender TEXT, transaction_id TEXT, \
                 credited_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP)",
            )
            .execute(conn)?;
            Ok(())
        })
        .await
        .map_err(|e| e.to_string())?;
        let customers = match &config.customers_file {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| format!("{}: {e}", path.display()))?;
                serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?
            }
            None => serde_json::Map::new(),
        };
        let state = web::Data::new(State {
            db: db.clone(),
            mac_key: config.mac_key.as_ref().map(KeyPair::seed_bytes),
            customers,
            rules: config.rules,
            asked: Mutex::new(HashSet::new()),
        });
        let listener =
            service::http::bind(&config.bind_address, config.port).map_err(|e| e.to_string())?;
        let address = service::http::local_addr(&listener);
        let server = HttpServer::new(move || {
            App::new()
                .app_data(state.clone())
                .route("/receive", web::post().to(receive))
                .route("/error", web::post().to(error))
                .route("/sanctions", web::post().to(sanctions))
                .route("/ask_user", web::post().to(ask_user))
                .route("/fetch_info", web::post().to(fetch_info))
                .route("/tx_status", web::get().to(tx_status))
        })
        .workers(1)
        .disable_signals()
        .listen(listener)
        .map_err(|e| e.to_string())?
        .run();
        Ok(Self {
            server,
            address,
            db,
        })
    }

    /// The base URL (`http://127.0.0.1:PORT`).
    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// The book of credits, readable while the server runs.
    pub fn credits(&self) -> Credits {
        Credits(self.db.clone())
    }

    /// Spawns it on the current runtime.
    pub fn spawn(self) -> ServerHandle {
        let handle = self.server.handle();
        tokio::spawn(self.server);
        handle
    }

    /// Serves until SIGINT/SIGTERM.
    ///
    /// # Errors
    /// When the listener fails.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let stopper = tokio::spawn(service::http::stop_on(
            vec![self.server.handle()],
            service::http::shutdown_signal(),
        ));
        let result = self.server.await;
        stopper.abort();
        result
    }
}

/// The credits recorded by `/receive`.
#[derive(Debug, Clone)]
pub struct Credits(Database);

impl Credits {
    /// `(operation_id, amount)` of every credit to `route`; each operation appears once.
    ///
    /// # Errors
    /// Database failures.
    pub async fn for_route(&self, route: &str) -> Result<Vec<(String, String)>, String> {
        #[derive(diesel::QueryableByName)]
        struct Credit {
            #[diesel(sql_type = Text)]
            operation_id: String,
            #[diesel(sql_type = Text)]
            amount: String,
        }
        let route = route.to_owned();
        self.0
            .run(move |conn| {
                Ok(
                    diesel::sql_query("SELECT operation_id, amount FROM credits WHERE route = ?")
                        .bind::<Text, _>(route)
                        .load::<Credit>(conn)?
                        .into_iter()
                        .map(|c| (c.operation_id, c.amount))
                        .collect(),
                )
            })
            .await
            .map_err(|e| e.to_string())
    }
}
