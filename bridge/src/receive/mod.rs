//! The receiving side of the bridge: payments to our accounts, recorded exactly once and
//! delivered to the back office at least once.
//!
//! - [`listener`]: one task per watched account streams Horizon's payments and records each
//!   record together with the account's cursor ([`store`]), classified by [`record`].
//! - [`delivery`]: a separate worker posts recorded payments to `callbacks.receive` (signed
//!   by [`mac`]), retries with backoff, and reports to `callbacks.error` after the last try.
//! - [`admin`]: `/reprocess`, `/admin/…` and the listener part of `/health`.
//!
//! [`Receiving`] owns the tasks: started by `Application::build`, stopped through a
//! cancellation token on shutdown. Because the cursor is saved with every recorded payment,
//! stopping (or crashing) at any point loses nothing.

pub mod admin;
pub mod delivery;
pub mod listener;
pub mod mac;
pub mod record;
pub mod settings;
pub mod store;

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use actix_web::web;
use horizon::HorizonClient;
use service::Database;
use stellar_base::{Asset, PublicKey};
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub use settings::{ReceiveSettings, StartCursor};
pub use store::{ReceiveStore, ReceivedPayment};

use crate::BridgeConfig;
use delivery::Deliverer;
use listener::{Listener, ListenerStatus, SharedStatus};

/// The receiving side: its tasks, its store, and what `/health` reports. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Receiving {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    store: ReceiveStore,
    deliverer: Option<Arc<Deliverer>>,
    statuses: Vec<SharedStatus>,
    cancel: CancellationToken,
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

/// The accounts to watch: `accounts.receiving_account_id` and `accounts.receiving_accounts`,
/// without duplicates.
pub fn watched_accounts(config: &BridgeConfig) -> Vec<PublicKey> {
    let mut accounts: Vec<PublicKey> = Vec::new();
    let all = config
        .accounts
        .receiving_account_id
        .iter()
        .chain(&config.accounts.receiving_accounts);
    for account in all {
        if !accounts.contains(account) {
            accounts.push(*account);
        }
    }
    accounts
}

/// The legacy start-up check: when the listener is to run (`callbacks.receive` and at least
/// one receiving account), every receiving account must exist on the network. A 404 from
/// Horizon fails start-up with the account named; a Horizon that cannot be asked (down,
/// slow, answering nonsense) only logs a warning, since the listener reconnects with backoff
/// once it is back. Each account is given Horizon's read timeout (`[horizon_client]
/// timeout_seconds`), retries included.
///
/// # Errors
/// The message for the operator, naming the missing account.
pub async fn check_accounts(config: &BridgeConfig, horizon: &HorizonClient) -> Result<(), String> {
    if config.callbacks.receive.is_none() {
        return Ok(());
    }
    let limit = horizon.settings().timeout();
    for account in watched_accounts(config) {
        match tokio::time::timeout(limit, horizon.account(&account)).await {
            Ok(Ok(Some(_))) => {}
            Ok(Ok(None)) => {
                return Err(format!(
                    "receiving account {account} does not exist on the network (Horizon {} \
                     answered 404 for it): create and fund it, or fix [accounts] \
                     receiving_account_id / receiving_accounts",
                    horizon.base_url()
                ));
            }
            Ok(Err(error)) => tracing::warn!(
                %account, %error,
                "could not check that the receiving account exists; starting anyway (the \
                 listener reconnects with backoff)"
            ),
            Err(_) => tracing::warn!(
                %account,
                "Horizon did not answer in time whether the receiving account exists; \
                 starting anyway (the listener reconnects with backoff)"
            ),
        }
    }
    Ok(())
}

impl Receiving {
    /// Starts the listeners and the delivery worker when `callbacks.receive` and at least one
    /// receiving account are configured; otherwise only the admin views work.
    ///
    /// # Errors
    /// When the callback HTTP client cannot be built.
    pub fn start(
        config: &BridgeConfig,
        db: Database,
        horizon: HorizonClient,
        assets: Vec<Asset>,
    ) -> Result<Self, String> {
        let settings = config.receiving.clone();
        let store = ReceiveStore::new(db);
        let http = reqwest::Client::builder()
            .timeout(Duration::from_millis(settings.callback_timeout_ms.max(1)))
            .build()
            .map_err(|e| format!("callback HTTP client: {e}"))?;
        let compliance = config
            .compliance
            .as_ref()
            .map(|base| {
                let mut base = base.clone();
                if !base.path().ends_with('/') {
                    base.set_path(&format!("{}/", base.path()));
                }
                base.join("receive")
            })
            .transpose()
            .map_err(|e| format!("compliance URL: {e}"))?;
        let deliverer = config.callbacks.receive.clone().map(|receive| {
            Arc::new(Deliverer {
                receive,
                error: config.callbacks.error.clone(),
                compliance,
                compliance_api_key: config.compliance_api_key.clone(),
                mac_key: config.mac_key.clone(),
                settings: settings.clone(),
                http: http.clone(),
                store: store.clone(),
            })
        });
        let cancel = CancellationToken::new();
        let mut tasks = Vec::new();
        let mut statuses = Vec::new();
        if let Some(deliverer) = &deliverer {
            let wake = Arc::new(Notify::new());
            for account in watched_accounts(config) {
                let status = Arc::new(Mutex::new(ListenerStatus {
                    account: account.to_string(),
                    state: "starting",
                    ..ListenerStatus::default()
                }));
                statuses.push(status.clone());
                let listener = Listener {
                    account,
                    horizon: horizon.clone(),
                    store: store.clone(),
                    assets: assets.clone(),
                    settings: settings.clone(),
                    wake: wake.clone(),
                    status,
                };
                tracing::info!(%account, "listening for payments");
                tasks.push(tokio::spawn(listener.run(cancel.child_token())));
            }
            if !statuses.is_empty() {
                tasks.push(tokio::spawn(
                    deliverer.clone().run(wake, cancel.child_token()),
                ));
            }
        }
        Ok(Self {
            inner: Arc::new(Inner {
                store,
                deliverer,
                statuses,
                cancel,
                tasks: Mutex::new(tasks),
            }),
        })
    }

    /// The tables (tests, tools).
    pub fn store(&self) -> &ReceiveStore {
        &self.inner.store
    }

    /// Registers `/reprocess`, `/admin/received-payments[/{id}]` and
    /// `/admin/sent-transactions`.
    pub fn configure(&self, cfg: &mut web::ServiceConfig) {
        cfg.app_data(web::Data::new(self.clone()))
            .route("/reprocess", web::post().to(admin::reprocess))
            .route(
                "/admin/received-payments",
                web::get().to(admin::received_payments),
            )
            .route(
                "/admin/received-payments/{id}",
                web::get().to(admin::received_payment),
            )
            .route(
                "/admin/sent-transactions",
                web::get().to(admin::sent_transactions),
            );
    }

    /// Per watched account: listener state, last event, cursor and delivery backlog.
    pub async fn health(&self) -> serde_json::Value {
        let mut accounts = Vec::new();
        for status in &self.inner.statuses {
            let status = status
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone();
            let backlog = self.inner.store.backlog(&status.account).await.ok();
            let mut value = serde_json::to_value(&status).unwrap_or_default();
            value["delivery_backlog"] = serde_json::json!(backlog);
            accounts.push(value);
        }
        serde_json::Value::Array(accounts)
    }

    /// Stops the tasks at the next await point and waits for them; nothing needs saving.
    pub async fn shutdown(&self) {
        self.inner.cancel.cancel();
        let tasks = std::mem::take(
            &mut *self
                .inner
                .tasks
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        );
        for task in tasks {
            let _ = task.await;
        }
    }

    /// Kills the tasks where they stand, as a crash would (tests).
    pub fn abort(&self) {
        for task in self
            .inner
            .tasks
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .drain(..)
        {
            task.abort();
        }
    }
}
