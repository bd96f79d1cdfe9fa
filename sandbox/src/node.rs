//! The node: the ledger, stellar-core's queue in front of it, the friendbot requests, and the
//! thread that closes ledgers.

use std::sync::mpsc;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::thread::JoinHandle;
use std::time::Instant;

use stellar_base::{PublicKey, xdr};
use tokio::sync::{oneshot, watch};

use crate::config::SandboxConfig;
use crate::faults::Faults;
use crate::ledger::{Ledger, Outcome, Submission, unix_now};
use crate::queue::{Admission, TxQueue, Waited};

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
    pub(crate) fn new(config: SandboxConfig) -> Self {
        let mut ledger = Ledger::new(&config.passphrase, unix_now());
        ledger.set_max_tx_set_size(config.limits.max_ops_per_ledger);
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
pub(crate) fn spawn_closer(
    shared: Arc<Shared>,
    stop: mpsc::Receiver<()>,
) -> std::io::Result<JoinHandle<()>> {
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
