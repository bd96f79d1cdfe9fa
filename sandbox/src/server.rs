//! The running sandbox: configuration, the ledger-closing task, and the HTTP server's
//! lifecycle.
//!
//! [`Sandbox::start`] binds, spawns the closing task and the actix-web server on the current
//! tokio runtime, and returns a [`RunningSandbox`] that tests drive (fund accounts, inject
//! faults) and shut down.

use std::net::{SocketAddr, TcpListener};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

use actix_web::{App, HttpServer, web};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Instant;
use stellar_base::{KeyPair, Network, PublicKey, xdr};

use tokio::sync::{oneshot, watch};

use crate::faults::Faults;
use crate::ledger::{Ledger, Outcome, Submission, unix_now};
use crate::queue::{Admission, QueueLimits, TxQueue, Waited};
use crate::state::Account;

/// How to run the sandbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SandboxConfig {
    /// Network passphrase (default: `Standalone Network ; February 2017`).
    pub passphrase: String,
    /// Time between ledger closes (default 1 s).
    pub close_interval: Duration,
    /// Address to bind (default `127.0.0.1:0`, any free port).
    pub bind: SocketAddr,
    /// Serve the fault-injection admin route `POST /_sandbox/faults` (default false).
    pub faults_enabled: bool,
    /// Time between keep-alive comments on idle streams (default 5 s).
    pub keepalive_interval: Duration,
    /// The network's queue limits: operations per ledger and ledgers a transaction may wait.
    pub limits: QueueLimits,
    /// How long `POST /transactions` waits for its transaction's ledger before answering 504
    /// `timeout`, as Horizon does (default 30 s).
    pub submission_timeout: Duration,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        Self {
            passphrase: Network::STANDALONE.to_owned(),
            close_interval: Duration::from_secs(1),
            bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            faults_enabled: false,
            keepalive_interval: Duration::from_secs(5),
            limits: QueueLimits::default(),
            submission_timeout: Duration::from_secs(30),
        }
    }
}

impl SandboxConfig {
    /// Defaults suited to tests: any free port on 127.0.0.1, ledgers every 10 ms, faults on.
    pub fn for_tests() -> Self {
        Self {
            close_interval: Duration::from_millis(10),
            faults_enabled: true,
            keepalive_interval: Duration::from_secs(1),
            ..Self::default()
        }
    }
}

/// Why the sandbox could not start or a library call failed.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    /// Binding or starting the HTTP server failed.
    #[error("cannot start the sandbox: {0}")]
    Io(#[from] std::io::Error),
    /// The sandbox stopped before answering.
    #[error("the sandbox is shutting down")]
    ShuttingDown,
    /// A friendbot funding transaction failed (e.g. the account already exists).
    #[error("funding failed: {0}")]
    FundingFailed(String),
    /// The queue already holds a transaction from this source (stellar-core's
    /// `TRY_AGAIN_LATER`), or this one was dropped recently.
    #[error("try again later: the source account already has a transaction in the queue")]
    TryAgainLater,
    /// The queue dropped the transaction before any ledger included it (it waited too long,
    /// or its time bounds passed).
    #[error("the transaction was dropped from the queue")]
    Dropped,
}

/// Most transactions applied in one ledger; the rest wait for the next one. Keeps the
/// transaction index well inside the 20 bits a TOID gives it.
pub const MAX_TRANSACTIONS_PER_LEDGER: usize = 10_000;

type FriendbotRequests = Vec<(PublicKey, oneshot::Sender<Waited>)>;

/// The node: the ledger, stellar-core's queue in front of it, and who waits for what. Shared
/// by the HTTP handlers and the closing thread.
#[derive(Debug)]
pub(crate) struct Shared {
    ledger: RwLock<Ledger>,
    queue: Mutex<TxQueue>,
    friendbot: Mutex<FriendbotRequests>,
    closed: watch::Sender<u32>,
    pub(crate) faults: Faults,
    pub(crate) config: SandboxConfig,
}

impl Shared {
    fn new(config: SandboxConfig) -> Self {
        let ledger = Ledger::new(&config.passphrase, unix_now());
        Self {
            closed: watch::Sender::new(ledger.latest().sequence),
            ledger: RwLock::new(ledger),
            queue: Mutex::new(TxQueue::new(config.limits)),
            friendbot: Mutex::new(Vec::new()),
            faults: Faults::default(),
            config,
        }
    }

    /// Read access to the ledger.
    pub(crate) fn ledger(&self) -> RwLockReadGuard<'_, Ledger> {
        self.ledger.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn ledger_mut(&self) -> RwLockWriteGuard<'_, Ledger> {
        self.ledger.write().unwrap_or_else(PoisonError::into_inner)
    }

    /// The queue. Lock order: the queue before the ledger, always.
    fn queue(&self) -> MutexGuard<'_, TxQueue> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The network's clock: the wall clock, or ahead of it when a test moved it.
    pub(crate) fn now(&self) -> u64 {
        unix_now() + self.faults.clock_ahead_secs()
    }

    /// Changes whenever a ledger closes (holds its sequence).
    pub(crate) fn ledger_closed(&self) -> watch::Receiver<u32> {
        self.closed.subscribe()
    }

    /// Offers an envelope to the queue: its hash, stellar-core's answer, and (when it is
    /// queued) a receiver for its outcome.
    pub(crate) fn offer(
        &self,
        envelope: Box<xdr::TransactionEnvelope>,
    ) -> ([u8; 32], Admission, Option<oneshot::Receiver<Waited>>) {
        let mut queue = self.queue();
        let (hash, admission) = {
            let ledger = self.ledger();
            queue.admit(envelope, &ledger, self.now())
        };
        let waiter = match admission {
            Admission::Pending | Admission::Duplicate => queue.wait(&hash),
            _ => None,
        };
        (hash, admission, waiter)
    }

    /// Friendbot funding, applied in the next ledger. Friendbot spreads its transactions over
    /// accounts of its own, so it is never held back by the one-per-account rule.
    pub(crate) async fn fund(&self, account: PublicKey) -> Option<Outcome> {
        let (tx, rx) = oneshot::channel();
        self.friendbot
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push((account, tx));
        rx.await.ok().flatten()
    }

    /// Closes a ledger with what the queue selects, answers who waits, and ages the rest.
    pub(crate) fn close_now(&self) {
        // The queue stays locked until the ledger has closed: a transaction taken for this
        // ledger is never replaced by another one from its source meanwhile.
        let mut queue = self.queue();
        let max_ops = i64::from(queue.limits().max_ops_per_ledger);
        let funding: FriendbotRequests = {
            let mut requests = self
                .friendbot
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            let take = requests
                .len()
                .min(MAX_TRANSACTIONS_PER_LEDGER)
                .min(usize::try_from(max_ops).unwrap_or(usize::MAX));
            requests.drain(..take).collect()
        };
        let room = (max_ops - funding.len() as i64)
            .min((MAX_TRANSACTIONS_PER_LEDGER - funding.len()) as i64);
        let set = queue.take_ledger_set(room);
        let mut submissions = Vec::with_capacity(funding.len() + set.transactions.len());
        let mut waiters = Vec::with_capacity(submissions.capacity());
        for (account, waiter) in funding {
            submissions.push(Submission::Friendbot(account));
            waiters.push(vec![waiter]);
        }
        for (envelope, waiting) in set.transactions {
            submissions.push(Submission::Envelope(envelope));
            waiters.push(waiting);
        }
        let (outcomes, sequence, closed_at) = {
            let mut ledger = self.ledger_mut();
            let outcomes = ledger.close_charging(submissions, self.now(), set.base_fee);
            let latest = ledger.latest();
            let (sequence, closed_at) = (latest.sequence, latest.closed_at);
            // Under the lock, so that concurrent closes announce sequences in order.
            self.closed.send_replace(sequence);
            (outcomes, sequence, closed_at)
        };
        queue.age(sequence, closed_at);
        drop(queue);
        if !outcomes.is_empty() {
            tracing::debug!(
                ledger = sequence,
                transactions = outcomes.len(),
                base_fee = set.base_fee,
                "ledger closed"
            );
        }
        for (waiting, outcome) in waiters.into_iter().zip(outcomes) {
            for waiter in waiting {
                let _ = waiter.send(Some(outcome.clone()));
            }
        }
    }
}

/// Closes a ledger every `close_interval` on a thread of its own, so that a caller whose
/// runtime is blocked (or a current-thread test runtime busy elsewhere) never holds ledgers
/// back. Ends when `stop` receives or disconnects.
fn spawn_closer(shared: Arc<Shared>, stop: mpsc::Receiver<()>) -> std::io::Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name("sandbox-close".into())
        .spawn(move || {
            let interval = shared.config.close_interval;
            let mut next = Instant::now() + interval;
            while let Err(mpsc::RecvTimeoutError::Timeout) =
                stop.recv_timeout(next.saturating_duration_since(Instant::now()))
            {
                // A late tick delays the next one rather than bunching closes.
                next = (next + interval).max(Instant::now());
                if !shared.faults.closing_paused() {
                    shared.close_now();
                }
            }
        })
}

/// Entry point of the library.
#[derive(Debug, Clone, Copy, Default)]
pub struct Sandbox;

impl Sandbox {
    /// Binds `config.bind`, starts closing ledgers (on a thread of its own) and serving HTTP
    /// (actix-web's own threads, driven from the current tokio runtime).
    ///
    /// # Errors
    /// [`SandboxError::Io`] when the address cannot be bound.
    pub async fn start(config: SandboxConfig) -> Result<RunningSandbox, SandboxError> {
        let listener = TcpListener::bind(config.bind)?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared::new(config));
        let data = web::Data::from(shared.clone());
        let faults_enabled = shared.config.faults_enabled;
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .configure(|cfg| crate::http::configure(cfg, faults_enabled))
        })
        .workers(2)
        .disable_signals()
        .shutdown_timeout(1)
        .listen(listener)?
        .run();
        let handle = server.handle();
        let server_task = tokio::spawn(async move {
            if let Err(error) = server.await {
                tracing::error!(%error, "sandbox HTTP server stopped");
            }
        });
        let (stop_closer, stop_rx) = mpsc::channel();
        let closer = spawn_closer(shared.clone(), stop_rx)?;
        Ok(RunningSandbox {
            addr,
            shared,
            handle,
            server_task: Some(server_task),
            stop_closer,
            closer: Some(closer),
        })
    }
}

/// A started sandbox. Dropping it stops the server without waiting.
#[derive(Debug)]
pub struct RunningSandbox {
    addr: SocketAddr,
    shared: Arc<Shared>,
    handle: actix_web::dev::ServerHandle,
    server_task: Option<tokio::task::JoinHandle<()>>,
    stop_closer: mpsc::Sender<()>,
    closer: Option<JoinHandle<()>>,
}

impl RunningSandbox {
    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The Horizon URL, e.g. `http://127.0.0.1:8000` (no trailing slash).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The network passphrase.
    pub fn passphrase(&self) -> &str {
        &self.shared.config.passphrase
    }

    /// The network.
    pub fn network(&self) -> Network {
        Network::new(self.shared.config.passphrase.clone())
    }

    /// The root account's key pair (holds every lumen not yet given away).
    pub fn root_keypair(&self) -> KeyPair {
        self.shared.ledger().root_keypair().clone()
    }

    /// The fault-injection handle.
    pub fn faults(&self) -> Faults {
        self.shared.faults.clone()
    }

    /// Creates `account` with 10 000 XLM from the root account, as `GET /friendbot` does, and
    /// returns once its ledger has closed.
    ///
    /// # Errors
    /// [`SandboxError::FundingFailed`] (e.g. the account exists) or
    /// [`SandboxError::ShuttingDown`].
    pub async fn fund(&self, account: PublicKey) -> Result<(), SandboxError> {
        match self.shared.fund(account).await {
            None => Err(SandboxError::ShuttingDown),
            Some(Outcome::Included(i)) => {
                let ledger = self.shared.ledger();
                let tx = &ledger.history().transactions[i];
                if tx.successful {
                    Ok(())
                } else {
                    let codes = crate::codes::result_codes(&tx.result());
                    Err(SandboxError::FundingFailed(format!("{codes:?}")))
                }
            }
            Some(Outcome::Rejected { result, .. }) => {
                let codes = crate::codes::result_codes(&result);
                Err(SandboxError::FundingFailed(format!("{codes:?}")))
            }
        }
    }

    /// Submits an envelope without HTTP and waits for its ledger to close. The result says
    /// whether it succeeded (`sandbox::codes::result_codes` gives Horizon's codes).
    ///
    /// # Errors
    /// [`SandboxError::ShuttingDown`].
    pub async fn submit(
        &self,
        envelope: &stellar_base::Envelope,
    ) -> Result<stellar_base::xdr::TransactionResult, SandboxError> {
        let (_, admission, waiter) = self.shared.offer(Box::new(envelope.as_xdr().clone()));
        match admission {
            Admission::Error(result) => return Ok(*result),
            Admission::TryAgainLater => return Err(SandboxError::TryAgainLater),
            Admission::Pending | Admission::Duplicate => {}
        }
        let waited = match waiter {
            Some(waiter) => waiter.await.map_err(|_| SandboxError::ShuttingDown)?,
            None => return Err(SandboxError::Dropped),
        };
        match waited {
            None => Err(SandboxError::Dropped),
            Some(Outcome::Included(i)) => {
                Ok(self.shared.ledger().history().transactions[i].result())
            }
            Some(Outcome::Rejected { result, .. }) => Ok(result),
        }
    }

    /// A copy of an account's current state.
    pub fn account(&self, id: &PublicKey) -> Option<Account> {
        self.shared.ledger().account(id).cloned()
    }

    /// The latest closed ledger's sequence.
    pub fn latest_ledger(&self) -> u32 {
        self.shared.ledger().latest().sequence
    }

    /// Runs `f` with read access to the whole ledger (state and history).
    pub fn with_ledger<R>(&self, f: impl FnOnce(&Ledger) -> R) -> R {
        f(&self.shared.ledger())
    }

    /// Closes a ledger now, with whatever is queued (also while closing is paused).
    pub fn close_ledger(&self) {
        self.shared.close_now();
    }

    /// Stops closing ledgers and the HTTP server (open streams are dropped), and waits for
    /// both.
    pub async fn shutdown(mut self) {
        self.stop();
        self.handle.stop(false).await;
        if let Some(task) = self.server_task.take() {
            let _ = task.await;
        }
        if let Some(closer) = self.closer.take() {
            let _ = tokio::task::spawn_blocking(move || closer.join()).await;
        }
    }

    fn stop(&self) {
        let _ = self.stop_closer.send(());
        self.shared.faults.close_streams();
    }
}

impl Drop for RunningSandbox {
    fn drop(&mut self) {
        self.stop();
        // Sends the stop command right away; the returned future only waits for completion.
        // The server task is left to process it; the closing thread ends on its own.
        drop(self.handle.stop(false));
    }
}

/// Helper for `main`: the configuration from command-line arguments.
///
/// # Errors
/// A usage message for unknown flags or bad values.
pub fn config_from_args(args: impl IntoIterator<Item = String>) -> Result<SandboxConfig, String> {
    let mut config = SandboxConfig::default();
    let mut port: u16 = 8000;
    let mut host = std::net::IpAddr::from([127, 0, 0, 1]);
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().ok_or_else(|| format!("{name} needs a value"));
        match arg.as_str() {
            "--port" => {
                port = value("--port")?
                    .parse()
                    .map_err(|e| format!("--port: {e}"))?
            }
            "--host" => {
                host = value("--host")?
                    .parse()
                    .map_err(|e| format!("--host: {e}"))?
            }
            "--passphrase" => config.passphrase = value("--passphrase")?,
            "--close-interval-ms" => {
                let ms: u64 = value("--close-interval-ms")?
                    .parse()
                    .map_err(|e| format!("--close-interval-ms: {e}"))?;
                config.close_interval = Duration::from_millis(ms.max(1));
            }
            "--max-ops-per-ledger" => {
                config.limits.max_ops_per_ledger = value("--max-ops-per-ledger")?
                    .parse()
                    .map_err(|e| format!("--max-ops-per-ledger: {e}"))?;
            }
            "--queue-ledgers" => {
                config.limits.queue_ledgers = value("--queue-ledgers")?
                    .parse()
                    .map_err(|e| format!("--queue-ledgers: {e}"))?;
            }
            "--submission-timeout-ms" => {
                let ms: u64 = value("--submission-timeout-ms")?
                    .parse()
                    .map_err(|e| format!("--submission-timeout-ms: {e}"))?;
                config.submission_timeout = Duration::from_millis(ms);
            }
            "--enable-faults" => config.faults_enabled = true,
            other => return Err(format!("unknown argument {other:?}\n{USAGE}")),
        }
    }
    config.bind = SocketAddr::new(host, port);
    Ok(config)
}

/// Command-line usage.
pub const USAGE: &str = "usage: sandbox [--port 8000] [--host 127.0.0.1] [--passphrase TEXT] \
                         [--close-interval-ms 1000] [--max-ops-per-ledger 1000] \
                         [--queue-ledgers 4] [--submission-timeout-ms 30000] [--enable-faults]";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_arguments() {
        let args = [
            "--port",
            "0",
            "--close-interval-ms",
            "5",
            "--max-ops-per-ledger",
            "50",
            "--queue-ledgers",
            "2",
            "--submission-timeout-ms",
            "700",
            "--enable-faults",
        ];
        let config = config_from_args(args.iter().map(|s| (*s).to_owned())).unwrap();
        assert_eq!(config.limits.max_ops_per_ledger, 50);
        assert_eq!(config.limits.queue_ledgers, 2);
        assert_eq!(config.submission_timeout, Duration::from_millis(700));
        assert_eq!(config.bind.port(), 0);
        assert_eq!(config.close_interval, Duration::from_millis(5));
        assert!(config.faults_enabled);
        assert!(config_from_args(["--nope".to_owned()]).is_err());
    }
}
