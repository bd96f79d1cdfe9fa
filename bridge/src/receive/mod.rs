//! The receiving side of the bridge: payments to our accounts, recorded exactly once and
//! delivered to the back office at least once.
//!
//! - [`listener`]: one task per watched account streams Horizon's payments and records each
//!   record together with the account's cursor ([`store`]), classified by [`record`], while
//!   this instance holds the account's [`lease`] (several instances on one database take
//!   turns; the others stand by); every such write is checked against the lease's [`fence`].
//! - [`delivery`]: a separate worker posts recorded payments to `callbacks.receive` (signed
//!   by [`mac`]), retries with backoff, and reports to `callbacks.error` after the last try;
//!   every instance's worker delivers, each payment claimed by one of them.
//! - [`admin`]: `/reprocess`, `/admin/…` and the listener part of `/health`.
//!
//! [`Receiving`] owns the tasks: started by `Application::build`, stopped through a
//! cancellation token on shutdown. Because the cursor is saved with every recorded payment,
//! stopping (or crashing) at any point loses nothing. Each task runs under a supervisor: one
//! that panics is logged and started again (after a pause), never left dead. On shutdown the
//! listeners stop at once and the delivery worker starts nothing new; callbacks in flight get
//! `shutdown_grace_seconds`, then are abandoned and their payments stay `pending`.

pub mod admin;
pub mod delivery;
pub mod fence;
pub mod lease;
pub mod listener;
pub mod mac;
pub mod record;
pub mod settings;
pub mod store;

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use actix_web::web;
use futures_util::FutureExt;
use horizon::HorizonClient;
use service::{Database, Secret};
use stellar_base::{Asset, KeyPair, PublicKey};
use stellar_toml::http::Backoff;
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use url::Url;

pub use settings::{ReceiveSettings, StartCursor};
pub use store::{ReceiveStore, ReceivedPayment};

use crate::compliance_client::ComplianceClient;
use delivery::{Deliverer, Stop};
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
    stop: Stop,
    grace: Duration,
    degraded_after_seconds: u64,
    tasks: Mutex<Vec<JoinHandle<()>>>,
    instance: String,
}

/// Once the grace is over and in-flight callbacks are abandoned, how long the tasks may still
/// take to write the outcomes they have (database work) before they are aborted.
const FLUSH: Duration = Duration::from_secs(5);

/// Waits for every task (each polled until it ends, not after).
async fn join_all(tasks: &mut [JoinHandle<()>]) {
    futures_util::future::join_all(tasks.iter_mut()).await;
}

/// The pause before a task that died is started again: 100 ms, doubled per restart up to
/// 30 s, so that a task dying at once on every start does not spin.
const RESTART: Backoff = Backoff {
    first: Duration::from_millis(100),
    max: Duration::from_secs(30),
};

/// Runs `make(token)` until `cancel`, starting it again whenever it panics or ends early:
/// a receiving task is never silently gone. Each restart is logged as an error and counted
/// in `bridge_receiving_task_restarts_total{task}`.
pub async fn supervise<F, Fut>(task: &'static str, cancel: CancellationToken, make: F)
where
    F: Fn(CancellationToken) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let mut restarts = 0_u32;
    loop {
        let run = std::panic::AssertUnwindSafe(make(cancel.child_token())).catch_unwind();
        let why = match run.await {
            Ok(()) if cancel.is_cancelled() => return,
            Ok(()) => "ended on its own".to_owned(),
            Err(panic) => {
                let text = panic
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_owned())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "a panic".into());
                format!("panicked: {text}")
            }
        };
        if cancel.is_cancelled() {
            return;
        }
        let pause = RESTART.delay(restarts);
        restarts = restarts.saturating_add(1);
        tracing::error!(task, %why, ?pause, "receiving task died; starting it again");
        metrics::counter!("bridge_receiving_task_restarts_total", "task" => task).increment(1);
        tokio::select! {
            () = cancel.cancelled() => return,
            () = tokio::time::sleep(pause) => {}
        }
    }
}

/// What the receiving side is configured with: its `[receiving]` settings and the parts of
/// the rest of `bridge.cfg` it reads, handed over by `Application::build`. The receiving side
/// takes these rather than the whole configuration because the configuration names the
/// side's own settings ([`ReceiveSettings`]): each depends on the other's types only one way.
#[derive(Clone)]
pub struct ReceivingConfig {
    /// `[receiving]`: the first cursor, the stream watchdog, delivery retries, leases.
    pub settings: ReceiveSettings,
    /// `accounts.receiving_account_id`: the one account the legacy bridge watched.
    pub receiving_account: Option<PublicKey>,
    /// `accounts.receiving_accounts`: more accounts to watch.
    pub receiving_accounts: Vec<PublicKey>,
    /// `callbacks.receive`: without it nothing is streamed or delivered.
    pub receive_callback: Option<Url>,
    /// `callbacks.error`: told about payments given up.
    pub error_callback: Option<Url>,
    /// `mac_key`: signs the callbacks' bodies (`X-Payload-Mac`).
    pub mac_key: Option<KeyPair>,
    /// `compliance`: the compliance server's internal port, to read hash memos' AuthData.
    pub compliance: Option<Url>,
    /// `compliance_api_key`: its API key, if it requires one.
    pub compliance_api_key: Option<Secret<String>>,
    /// `shutdown_grace_seconds`: how long callbacks in flight may still take on shutdown.
    pub shutdown_grace: Duration,
}

impl std::fmt::Debug for ReceivingConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReceivingConfig")
            .field("receiving_account", &self.receiving_account)
            .field("receiving_accounts", &self.receiving_accounts)
            .field("receive_callback", &self.receive_callback)
            .field("error_callback", &self.error_callback)
            .field("compliance", &self.compliance)
            .finish_non_exhaustive()
    }
}

impl ReceivingConfig {
    /// The accounts to watch ([`watched_accounts`]).
    pub fn watched_accounts(&self) -> Vec<PublicKey> {
        watched_accounts(self.receiving_account, &self.receiving_accounts)
    }
}

/// The accounts to watch: `accounts.receiving_account_id` and `accounts.receiving_accounts`,
/// without duplicates (one listener, one stream and one cursor per account).
pub fn watched_accounts(
    receiving_account: Option<PublicKey>,
    receiving_accounts: &[PublicKey],
) -> Vec<PublicKey> {
    let mut accounts: Vec<PublicKey> = Vec::new();
    for account in receiving_account.iter().chain(receiving_accounts) {
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
pub async fn check_accounts(
    config: &ReceivingConfig,
    horizon: &HorizonClient,
) -> Result<(), String> {
    if config.receive_callback.is_none() {
        return Ok(());
    }
    let limit = horizon.settings().timeout();
    for account in config.watched_accounts() {
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

/// What the listeners and the delivery worker of one instance share.
struct Shared {
    store: ReceiveStore,
    horizon: HorizonClient,
    assets: Vec<Asset>,
    instance: String,
}

/// The HTTP client of the callbacks and of compliance's `/receive`: the outbound policy for
/// URLs the operator configured (extra CA, no proxy, limited redirects: stellar_toml's
/// trusted client), with the callback timeout.
fn callback_client(
    resolver: &stellar_toml::Resolver,
    settings: &ReceiveSettings,
) -> Result<reqwest::Client, String> {
    resolver
        .trusted_client_builder()
        .timeout(Duration::from_millis(settings.callback_timeout_ms.max(1)))
        .build()
        .map_err(|e| format!("callback HTTP client: {e}"))
}

/// The delivery worker's state, when `callbacks.receive` is set.
fn deliverer(
    config: &ReceivingConfig,
    http: reqwest::Client,
    shared: &Shared,
) -> Option<Arc<Deliverer>> {
    let receive = config.receive_callback.clone()?;
    let compliance = config
        .compliance
        .as_ref()
        .map(|base| ComplianceClient::new(base, config.compliance_api_key.clone(), http.clone()));
    Some(Arc::new(Deliverer {
        receive,
        error: config.error_callback.clone(),
        compliance,
        mac_key: config.mac_key.clone(),
        settings: config.settings.clone(),
        http,
        store: shared.store.clone(),
        horizon: shared.horizon.clone(),
        assets: shared.assets.clone(),
        instance: shared.instance.clone(),
    }))
}

/// Starts one supervised listener for `account`, returning its task and its `/health` status.
fn spawn_listener(
    config: &ReceivingConfig,
    shared: &Shared,
    account: PublicKey,
    wake: &Arc<Notify>,
    stop: &Stop,
) -> (JoinHandle<()>, SharedStatus) {
    let status = Arc::new(Mutex::new(ListenerStatus {
        account: account.to_string(),
        state: "starting",
        ..ListenerStatus::default()
    }));
    let listener = Listener {
        account,
        horizon: shared.horizon.clone(),
        store: shared.store.clone(),
        assets: shared.assets.clone(),
        settings: config.settings.clone(),
        legacy_account: config.receiving_account == Some(account),
        wake: wake.clone(),
        status: status.clone(),
        instance: shared.instance.clone(),
    };
    tracing::info!(%account, "listening for payments");
    let task = tokio::spawn(supervise("listener", stop.stop.clone(), move |cancel| {
        listener.clone().run(cancel)
    }));
    (task, status)
}

/// Starts the supervised delivery worker, woken by the listeners through `wake`. Each restart
/// gets a fresh `stop` under the supervisor's token, with the same `abandon`.
fn spawn_delivery(deliverer: Arc<Deliverer>, wake: Arc<Notify>, stop: &Stop) -> JoinHandle<()> {
    let abandon = stop.abandon.clone();
    tokio::spawn(supervise("delivery", stop.stop.clone(), move |cancel| {
        let stop = Stop {
            stop: cancel,
            abandon: abandon.clone(),
        };
        deliverer.clone().run(wake.clone(), stop)
    }))
}

impl Receiving {
    /// Starts the listeners and the delivery worker when `callbacks.receive` and at least one
    /// receiving account are configured; otherwise only the admin views work.
    ///
    /// # Errors
    /// When the callback HTTP client cannot be built.
    pub fn start(
        config: ReceivingConfig,
        db: Database,
        horizon: HorizonClient,
        assets: Vec<Asset>,
        resolver: &stellar_toml::Resolver,
    ) -> Result<Self, String> {
        let shared = Shared {
            store: ReceiveStore::new(db),
            horizon,
            assets,
            instance: lease::instance_id(),
        };
        let http = callback_client(resolver, &config.settings)?;
        let deliverer = deliverer(&config, http, &shared);
        let stop = Stop::default();
        let (mut tasks, mut statuses) = (Vec::new(), Vec::new());
        if let Some(deliverer) = &deliverer {
            let wake = Arc::new(Notify::new());
            for account in config.watched_accounts() {
                let (task, status) = spawn_listener(&config, &shared, account, &wake, &stop);
                tasks.push(task);
                statuses.push(status);
            }
            if !statuses.is_empty() {
                tasks.push(spawn_delivery(deliverer.clone(), wake, &stop));
            }
        }
        Ok(Self {
            inner: Arc::new(Inner {
                store: shared.store,
                deliverer,
                statuses,
                stop,
                grace: config.shutdown_grace,
                degraded_after_seconds: config.settings.degraded_after_seconds,
                tasks: Mutex::new(tasks),
                instance: shared.instance,
            }),
        })
    }

    /// The tables (tests, tools).
    pub fn store(&self) -> &ReceiveStore {
        &self.inner.store
    }

    /// This instance's name in leases and delivery claims.
    pub fn instance(&self) -> &str {
        &self.inner.instance
    }

    /// The watched accounts this instance streams now (holds the lease of).
    pub fn leading(&self) -> Vec<String> {
        self.inner
            .statuses
            .iter()
            .map(|status| status.lock().unwrap_or_else(PoisonError::into_inner))
            .filter(|status| status.leader)
            .map(|status| status.account.clone())
            .collect()
    }

    /// What the operator's actions use (`/reprocess`, the console).
    pub fn admin(&self) -> admin::Admin {
        admin::Admin {
            store: self.inner.store.clone(),
            deliverer: self.inner.deliverer.clone(),
        }
    }

    /// Registers `/reprocess` and `/admin/received-payments[/{id}]`.
    pub fn configure(&self, cfg: &mut web::ServiceConfig) {
        let admin = self.admin();
        cfg.app_data(web::Data::new(self.clone()))
            .app_data(web::Data::new(admin))
            .route("/reprocess", web::post().to(admin::reprocess))
            .route(
                "/admin/received-payments",
                web::get().to(admin::received_payments),
            )
            .route(
                "/admin/received-payments/{id}",
                web::get().to(admin::received_payment),
            );
    }

    /// Per watched account: listener state, whether this instance holds its lease (and the
    /// holder otherwise), last event, cursor and delivery backlog.
    pub async fn health(&self) -> serde_json::Value {
        let mut accounts = Vec::new();
        for status in &self.inner.statuses {
            let status = status
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone();
            let mut value = serde_json::to_value(&status).unwrap_or_default();
            value["instance"] = serde_json::json!(self.inner.instance);
            match self.inner.store.delivery_status(&status.account).await {
                Ok(delivery) => {
                    let account = status.account.clone();
                    for (name, n) in [
                        ("bridge_delivery_backlog", delivery.backlog),
                        (
                            "bridge_delivery_oldest_undelivered_seconds",
                            delivery.oldest_undelivered_seconds,
                        ),
                        ("bridge_delivery_given_up", delivery.failed),
                    ] {
                        metrics::gauge!(name, "account" => account.clone()).set(n as f64);
                    }
                    let late = u64::try_from(delivery.oldest_undelivered_seconds).unwrap_or(0)
                        >= self.inner.degraded_after_seconds;
                    if late || delivery.failed > 0 {
                        value["status"] = serde_json::json!("degraded");
                    }
                    value["delivery_backlog"] = serde_json::json!(delivery.backlog);
                    value["delivery"] = serde_json::to_value(delivery).unwrap_or_default();
                }
                Err(e) => value["delivery"] = serde_json::json!({"error": e.to_string()}),
            }
            accounts.push(value);
        }
        serde_json::Value::Array(accounts)
    }

    /// Stops the tasks and waits for them, `shutdown_grace_seconds` at most (plus the time to
    /// write outcomes already known): the listeners stop at once (nothing needs saving), the
    /// delivery worker starts no new callback, and those still unanswered when the grace is
    /// over are abandoned, their payments left `pending` for the next start.
    pub async fn shutdown(&self) {
        self.inner.stop.stop.cancel();
        let mut tasks = std::mem::take(
            &mut *self
                .inner
                .tasks
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        );
        if tokio::time::timeout(self.inner.grace, join_all(&mut tasks))
            .await
            .is_ok()
        {
            return;
        }
        self.inner.stop.abandon.cancel();
        // Those that ended during the first wait have given their output: not polled again.
        tasks.retain(|task| !task.is_finished());
        if tokio::time::timeout(FLUSH, join_all(&mut tasks))
            .await
            .is_err()
        {
            tracing::error!("receiving tasks did not stop after the grace; aborting them");
            for task in &tasks {
                task.abort();
            }
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

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[tokio::test]
    async fn a_task_that_dies_is_started_again_until_cancelled() {
        let runs = Arc::new(AtomicUsize::new(0));
        let cancel = CancellationToken::new();
        let counted = runs.clone();
        let task = tokio::spawn(supervise("test", cancel.clone(), move |token| {
            let run = counted.fetch_add(1, Ordering::SeqCst);
            async move {
                match run {
                    0 => panic!("first run dies"),
                    1 => {} // the second ends on its own
                    _ => token.cancelled().await,
                }
            }
        }));
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while runs.load(Ordering::SeqCst) < 3 {
            assert!(std::time::Instant::now() < deadline, "not restarted");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        cancel.cancel();
        tokio::time::timeout(Duration::from_secs(5), task)
            .await
            .expect("the supervisor stops when cancelled")
            .expect("the panic stays inside the supervisor");
        assert_eq!(runs.load(Ordering::SeqCst), 3);
    }
}
