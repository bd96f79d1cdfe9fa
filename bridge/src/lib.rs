//! The bridge server: the payment API for apps (`/payment`, `/authorize`, `/create-keypair`)
//! on top of an exactly-once submitter.
//!
//! Two sides, each a folder with its handlers, workers and store: [`send`] (what apps send,
//! exactly once) and [`receive`] (payments to our accounts, delivered to the back office).
//! Both read compliance's internal API through [`compliance_client`].

mod admin;
pub mod batch;
pub mod cli;
pub mod compliance_client;
pub mod config;
pub mod console;
pub mod error;
pub mod receive;
pub mod schema;
pub mod send;

use std::net::SocketAddr;
use std::time::Duration;

use actix_web::dev::ServerHandle;
use actix_web::http::StatusCode;
use actix_web::web;
use diesel_migrations::{EmbeddedMigrations, embed_migrations};
use horizon::HorizonClient;
use service::auth::{RequiredKey, require_key};
use service::database::BackendMigrations;
use service::http::Health;
use service::server::Running;
use stellar_toml::Resolver;

pub use config::BridgeConfig;

use crate::send::Sending;
use crate::send::store::Store;

const SQLITE: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
const MYSQL: EmbeddedMigrations = embed_migrations!("migrations/mysql");
const POSTGRES: EmbeddedMigrations = embed_migrations!("migrations/postgres");

/// The bridge migrations for every backend.
pub fn migrations() -> BackendMigrations {
    BackendMigrations {
        sqlite: SQLITE,
        mysql: MYSQL,
        postgres: POSTGRES,
        sql: service::migration_sql![
            "2026-11-21-000001_sent_transaction",
            "2026-11-21-000002_received_payment",
            "2026-11-30-000001_payment_request",
            "2026-12-01-000001_source_lease",
            "2026-12-01-000002_wide_text",
            "2026-12-02-000001_instances",
            "2026-12-03-000001_batches",
            "2026-12-05-000001_console",
        ],
    }
}

pub use service::StartupError;

/// Connects to the database and applies pending migrations (`--migrate-db`).
///
/// # Errors
/// When the database is unreachable or a migration fails.
pub async fn migrate(config: &BridgeConfig) -> Result<Vec<String>, StartupError> {
    let (_, applied) = migrate_and_open(config).await?;
    Ok(applied)
}

/// Connects to the database, applies pending migrations, and returns it with their names.
///
/// # Errors
/// When the database is unreachable or a migration fails.
pub async fn migrate_and_open(
    config: &BridgeConfig,
) -> Result<(service::Database, Vec<String>), StartupError> {
    service::server::open_database::<Application>(&config.database).await
}

/// The parts of the configuration the sending side reads: it is handed these, not the whole
/// configuration, so that `send` and `config` do not depend on each other.
fn sending_config(
    config: &BridgeConfig,
    cosigner_keys: Vec<stellar_base::PublicKey>,
) -> send::SendingConfig {
    send::SendingConfig {
        network_passphrase: config.network_passphrase.clone(),
        channels: config.channels.clone(),
        cosigning: config.cosigning.clone(),
        cosigner_keys,
        fee_percentile: config.fees.percentile,
        base_fee: config.base_fee,
        max_fee: config.max_fee,
        transaction_timeout_seconds: config.transaction_timeout_seconds,
        pending_wait: Duration::from_secs(config.pending_wait_seconds),
        builder_timeout_seconds: config.builder_timeout_seconds,
        base_seed: config.accounts.base_seed.clone(),
        authorizing_seed: config.accounts.authorizing_seed.clone(),
        issuing_account: config.accounts.issuing_account_id,
        compliance: config.compliance.clone(),
        compliance_api_key: config.compliance_api_key.clone(),
    }
}

/// The paying account's separation as the network shows it ([`send::custody`]): what
/// `bridge accounts check` prints and every start checks. Without `accounts.base_seed` there is
/// nothing to check.
///
/// # Errors
/// When Horizon cannot be asked and `[cosigning]` is configured (a setup that cannot be
/// checked is not trusted); without it, that is only a warning.
pub async fn custody_findings(
    config: &BridgeConfig,
    horizon: &HorizonClient,
) -> Result<send::custody::Findings, String> {
    let Some(base) = &config.accounts.base_seed else {
        return Ok(send::custody::Findings::default());
    };
    let custody = send::custody::Custody {
        base: base.public_key(),
        issuing: config.accounts.issuing_account_id,
        authorizing: config
            .accounts
            .authorizing_seed
            .as_ref()
            .map(|k| k.public_key()),
        cosigning: config.cosigning.clone(),
    };
    match horizon.account(&custody.base).await {
        Ok(account) => Ok(custody.review(account.as_ref())),
        Err(e) if config.cosigning.is_some() => Err(format!(
            "cannot read the paying account {} from Horizon to check its signers: {e}",
            custody.base
        )),
        Err(e) => {
            let mut findings = custody.review(None);
            findings
                .warnings
                .push(format!("cannot read the paying account from Horizon: {e}"));
            Ok(findings)
        }
    }
}

/// The parts of the configuration the receiving side reads (see [`sending_config`]).
fn receiving_config(config: &BridgeConfig) -> receive::ReceivingConfig {
    receive::ReceivingConfig {
        settings: config.receiving.clone(),
        receiving_account: config.accounts.receiving_account_id,
        receiving_accounts: config.accounts.receiving_accounts.clone(),
        receive_callback: config.callbacks.receive.clone(),
        error_callback: config.callbacks.error.clone(),
        mac_key: config.mac_key.clone(),
        compliance: config.compliance.clone(),
        compliance_api_key: config.compliance_api_key.clone(),
        shutdown_grace: Duration::from_secs(config.shutdown_grace_seconds),
    }
}

/// A running bridge: bound, not yet awaited.
pub struct Application {
    running: Running,
    address: SocketAddr,
    console_address: Option<SocketAddr>,
    receiving: receive::Receiving,
}

impl std::fmt::Debug for Application {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "bridge::Application({})", self.address)
    }
}

impl Application {
    /// Connects and migrates the database and binds the port.
    ///
    /// # Errors
    /// [`StartupError`] naming what to fix.
    pub async fn build(config: BridgeConfig) -> Result<Self, StartupError> {
        service::metrics::install();
        let invalid = |e: &dyn std::fmt::Display| StartupError::Config(e.to_string());
        config.validate().map_err(|e| invalid(&e))?;
        let (db, _) = service::server::open_database::<Self>(&config.database).await?;
        // Held until the server has stopped: a second bridge on one SQLite file refuses.
        let sqlite_lock = db.lock_single_instance().map_err(StartupError::Config)?;
        let store = Store::new(db);
        let resolver = Resolver::new(&config.stellar_toml).map_err(|e| invalid(&e))?;
        let horizon =
            HorizonClient::new(&config.horizon, &config.horizon_client).map_err(|e| invalid(&e))?;
        let assets = config
            .assets
            .iter()
            .map(|a| a.asset())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| invalid(&e))?;
        let receiving_config = receiving_config(&config);
        receive::check_accounts(&receiving_config, &horizon)
            .await
            .map_err(|e| invalid(&e))?;
        let findings = custody_findings(&config, &horizon)
            .await
            .map_err(|e| invalid(&e))?;
        for warning in &findings.warnings {
            tracing::warn!("accounts: {warning}");
        }
        if !findings.refusals.is_empty() {
            return Err(StartupError::Config(format!(
                "accounts: {} (see `bridge accounts check`)",
                findings.refusals.join("; ")
            )));
        }
        let for_receiving = (horizon.clone(), assets.clone(), store.database().clone());
        let sending = Sending::start(
            sending_config(&config, findings.cosigner_keys),
            store.clone(),
            horizon,
            &resolver,
            assets,
        )
        .await
        .map_err(|e| invalid(&e))?;
        // Wrong or missing is 403, as legacy; legacy clients may send it as the `apiKey` field.
        let api_key = web::Data::new(
            RequiredKey::new(
                config.api_key.clone(),
                StatusCode::FORBIDDEN,
                "A valid API key is required.",
            )
            .or_form_field("apiKey"),
        );
        let batches = batch::Batches::new(
            store.database().clone(),
            config.batches.clone(),
            sending.clone(),
            resolver.clone(),
            config.mac_key.clone(),
            resolver
                .trusted_client_builder()
                .build()
                .map_err(|e| invalid(&e))?,
            receive::lease::instance_id(),
        );
        let batch_stop = tokio_util::sync::CancellationToken::new();
        let batch_worker = batches.start(batch_stop.clone());
        let listener = service::http::bind(&config.bind_address, config.port)?;
        let address = service::http::local_addr(&listener);
        let max_body = service::http::BodyLimits::new(
            config.max_body_bytes,
            config.request_body_timeout_seconds,
        );
        let grace = config.shutdown_grace_seconds;
        let (horizon, assets, db) = for_receiving;
        let receiving = receive::Receiving::start(receiving_config, db, horizon, assets, &resolver)
            .map_err(|e| invalid(&e))?;
        let routes = receiving.clone();
        let listeners = receiving.clone();
        let pool = sending.clone();
        let (sending_pages, batches_pages) = (sending.clone(), batches.clone());
        let health = Health::parts(
            store.database().clone(),
            vec![
                Health::part("listeners", move || {
                    let receiving = listeners.clone();
                    async move { receiving.health().await }
                }),
                Health::part("channels", move || {
                    let sending = pool.clone();
                    async move { sending.channels_health().await }
                }),
            ],
        );
        let factory = move || {
            service::http::app(max_body, health.clone(), require_key)
                .app_data(api_key.clone())
                .configure(|c| send::configure(&sending, c))
                .route("/metrics", web::get().to(Sending::metrics))
                .configure(|c| routes.configure(c))
                .configure(|c| batch::configure(&batches, c))
        };
        let server = service::http::serve(factory, listener, None, grace)?;
        tracing::info!(%address, "bridge listening");
        let mut running = Running::new(Duration::from_secs(grace)).listener(server);
        let mut console_address = None;
        if let Some(port) = config.console.port {
            let console = service::console::Console::new(
                config.console.clone(),
                store.database().clone(),
                "Bridge",
                console::NAV.to_vec(),
            );
            let pages = console::Pages {
                receiving: receiving.clone(),
                sending: sending_pages,
                batches: batches_pages,
            };
            let listener = service::http::bind(&config.console.bind_address, port)?;
            console_address = Some(service::http::local_addr(&listener));
            let console_body =
                service::http::BodyLimits::new(64 * 1024, config.request_body_timeout_seconds);
            let factory = move || {
                let pages = pages.clone();
                service::console::app(console.clone(), console_body, |c| {
                    console::configure(pages, c)
                })
            };
            running = running.listener(service::http::serve(factory, listener, None, grace)?);
            tracing::info!(address = ?console_address, "bridge console listening");
        }
        let stopping = receiving.clone();
        Ok(Self {
            running: running.worker(async move {
                // Between transactions: what is in flight resumes at the next start.
                batch_stop.cancel();
                let _ = batch_worker.await;
                stopping.shutdown().await;
                drop(sqlite_lock);
            }),
            address,
            console_address,
            receiving,
        })
    }

    /// The receiving side (listeners, delivery worker, their store).
    pub fn receiving(&self) -> receive::Receiving {
        self.receiving.clone()
    }

    /// The console's base URL, when `[console]` has a port.
    pub fn console_url(&self) -> Option<String> {
        self.console_address.map(|a| format!("http://{a}"))
    }

    /// The base URL.
    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// Serves until SIGINT/SIGTERM, then stops within `shutdown_grace_seconds` (see
    /// [`Application::run_until`]).
    ///
    /// # Errors
    /// When the listener fails.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.running.run_until_stopped().await
    }

    /// Serves until `signal`, then stops the HTTP side (in-flight requests may finish) and the
    /// receiving side (listeners at once; receive callbacks in flight may finish) together,
    /// both within `shutdown_grace_seconds` ([`Running::run_until`]); callbacks still
    /// unanswered then leave their payments `pending` for the next start.
    ///
    /// # Errors
    /// When the listener fails.
    pub async fn run_until(
        self,
        signal: impl std::future::Future<Output = ()>,
    ) -> std::io::Result<()> {
        self.running.run_until(signal).await
    }

    /// Spawns the server on the current runtime (tests, embedding).
    pub fn spawn(self) -> Vec<ServerHandle> {
        self.running.spawn()
    }
}

impl service::server::Server for Application {
    const NAME: &'static str = "bridge";
    type Config = BridgeConfig;

    fn migrations() -> Option<BackendMigrations> {
        Some(migrations())
    }

    fn build(config: BridgeConfig) -> impl Future<Output = Result<Self, StartupError>> {
        Self::build(config)
    }

    fn listening(&self) -> String {
        format!("bridge listening on {}", self.url())
    }

    fn into_running(self) -> Running {
        self.running
    }
}

service::server_config!(BridgeConfig, "BRIDGE", warnings);
