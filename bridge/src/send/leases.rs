//! Who may use an account's next sequence number: a lease decided in the database.
//!
//! stellar-core queues at most one transaction per source account, and two transactions built
//! on one sequence number means one of them fails. So an account used as a transaction source
//! (a channel, or without channels the paying account itself) is leased from the moment its
//! sequence number is read until the outcome of the transaction built on it is known: applied,
//! refused, or its time bound passed. The `source_lease` table decides, with a compare-and-set
//! on the `lease` column, so that two requests in one process, or two bridge instances on one
//! database, never hold the same account. A lease whose holder vanished (a crash) ends on its
//! own at `leased_until`, the transaction's upper time bound plus a margin: after that the
//! transaction can never be applied, and the next holder reads the sequence from Horizon.
//!
//! In front of the database, each process keeps a local queue (a semaphore for the channel
//! pool, a mutex per paying account), so that waiting requests do not poll the database.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use serde::Serialize;
use service::{Database, DbError};
use stellar_base::PublicKey;
use stellar_base::transaction::unix_now;
use stellar_toml::http::Backoff;
use tokio::sync::{OwnedMutexGuard, OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

use crate::schema::source_lease as sl;

/// Refusals in a row, for reasons that are the channel's own (its signers, its balance), after
/// which a channel is taken out of the pool.
pub const FAILURES_BEFORE_REMOVAL: i32 = 3;
/// The `lease` of an account resting after a refusal of its own (see
/// [`Leases::release_failed`]).
const COOLING_DOWN: &str = "cooling-down";
/// The wait before asking the database again for an account another holder has: 20 ms,
/// doubling up to 500 ms between two attempts.
const POLL: Backoff = Backoff {
    first: Duration::from_millis(20),
    max: Duration::from_millis(500),
};

/// What the process holds locally while it holds a lease.
#[derive(Debug)]
enum LocalHold {
    Channel(#[allow(dead_code)] OwnedSemaphorePermit),
    Account(#[allow(dead_code)] OwnedMutexGuard<bool>),
}

/// An account leased for one transaction: until [`Leases::release`] or `leased_until`.
#[derive(Debug)]
pub struct Lease {
    /// The transaction's source account.
    pub account: PublicKey,
    /// The last sequence number used, when the previous holder knew it; `None`: ask Horizon.
    pub sequence: Option<i64>,
    /// What the `lease` column holds for us.
    token: String,
    _local: LocalHold,
}

impl Lease {
    /// The token the database knows this lease by (a transaction hash once one is stored).
    pub fn token(&self) -> &str {
        &self.token
    }
}

/// How the channel pool stands, for `/health` and metrics.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PoolStatus {
    /// Channels carrying a transaction.
    pub leased: usize,
    /// Channels ready for the next payment.
    pub idle: usize,
    /// Channels taken out of the pool, with why.
    pub out_of_pool: Vec<OutOfPool>,
}

/// A channel taken out of the pool.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OutOfPool {
    /// The channel account.
    pub account: String,
    /// Why (the refusals that took it out).
    pub reason: String,
}

/// One channel as the console shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChannelState {
    /// The channel account.
    pub account: String,
    /// `leased` (carrying a transaction), `idle` or `out_of_pool`.
    pub state: &'static str,
    /// Why it is out of the pool.
    pub reason: Option<String>,
}

/// Why no lease could be had.
#[derive(Debug, thiserror::Error)]
pub enum LeaseError {
    /// Every account was held for the whole wait.
    #[error("every source account was busy for {0:?}; nothing was sent")]
    Busy(Duration),
    /// Every channel is out of the pool.
    #[error("every channel account is out of the pool; see /health")]
    NoChannels,
    /// Storage failed.
    #[error(transparent)]
    Database(#[from] DbError),
}

/// The leases of one process; cheap to clone.
#[derive(Clone)]
pub struct Leases {
    db: Database,
    channels: Option<Arc<Channels>>,
    /// Per paying account: its local queue, holding whether its row is known to exist.
    accounts: Arc<Mutex<HashMap<PublicKey, Arc<tokio::sync::Mutex<bool>>>>>,
}

struct Channels {
    accounts: Vec<PublicKey>,
    local: Arc<Semaphore>,
    next: AtomicUsize,
}

impl std::fmt::Debug for Leases {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Leases")
    }
}

impl Leases {
    /// Leases over `db`; `channels` are the channel accounts, when there are some.
    ///
    /// # Errors
    /// When the channels' rows cannot be stored.
    pub async fn new(db: Database, channels: Vec<PublicKey>) -> Result<Self, DbError> {
        let leases = Self {
            db,
            channels: None,
            accounts: Arc::default(),
        };
        for account in &channels {
            leases.ensure_row(*account).await?;
        }
        Ok(Self {
            channels: (!channels.is_empty()).then(|| {
                Arc::new(Channels {
                    local: Arc::new(Semaphore::new(channels.len())),
                    accounts: channels,
                    next: AtomicUsize::new(0),
                })
            }),
            ..leases
        })
    }

    /// Whether transactions go through channel accounts.
    pub fn has_channels(&self) -> bool {
        self.channels.is_some()
    }

    /// Leases a channel (when there are channels and `via_channel`), or else `account`
    /// itself, waiting up to `wait`. The lease lasts `hold` unless handed over or released
    /// earlier.
    ///
    /// # Errors
    /// [`LeaseError::Busy`] after `wait`; database failures.
    pub async fn acquire(
        &self,
        account: PublicKey,
        via_channel: bool,
        wait: Duration,
        hold: Duration,
    ) -> Result<Lease, LeaseError> {
        let deadline = Instant::now() + wait;
        match &self.channels {
            Some(channels) if via_channel => {
                self.acquire_channel(channels, deadline, wait, hold).await
            }
            _ => self.acquire_account(account, deadline, wait, hold).await,
        }
    }

    async fn acquire_account(
        &self,
        account: PublicKey,
        deadline: Instant,
        wait: Duration,
        hold: Duration,
    ) -> Result<Lease, LeaseError> {
        let local = self
            .accounts
            .lock()
            .expect("lease map lock")
            .entry(account)
            .or_default()
            .clone();
        let mut guard = tokio::time::timeout_at(deadline, local.lock_owned())
            .await
            .map_err(|_| LeaseError::Busy(wait))?;
        if !*guard {
            self.ensure_row(account).await?;
            *guard = true;
        }
        let mut polls = 0_u32;
        loop {
            if let Some((token, sequence)) = self.try_take(account, hold).await? {
                return Ok(Lease {
                    account,
                    sequence,
                    token,
                    _local: LocalHold::Account(guard),
                });
            }
            pause(&mut polls, deadline)
                .await
                .ok_or(LeaseError::Busy(wait))?;
        }
    }

    async fn acquire_channel(
        &self,
        channels: &Channels,
        deadline: Instant,
        wait: Duration,
        hold: Duration,
    ) -> Result<Lease, LeaseError> {
        let permit = tokio::time::timeout_at(deadline, channels.local.clone().acquire_owned())
            .await
            .map_err(|_| LeaseError::Busy(wait))?
            .expect("the channel semaphore is never closed");
        let mut polls = 0_u32;
        loop {
            let candidates = self.free_channels(channels).await?;
            if candidates.is_empty() && self.pool_status(channels).await?.is_exhausted() {
                return Err(LeaseError::NoChannels);
            }
            for account in candidates {
                if let Some((token, sequence)) = self.try_take(account, hold).await? {
                    return Ok(Lease {
                        account,
                        sequence,
                        token,
                        _local: LocalHold::Channel(permit),
                    });
                }
            }
            pause(&mut polls, deadline)
                .await
                .ok_or(LeaseError::Busy(wait))?;
        }
    }

    /// Channels that are free now (or whose lease has lapsed), least recently used first,
    /// rotated so that concurrent requests try different ones first.
    async fn free_channels(&self, channels: &Channels) -> Result<Vec<PublicKey>, DbError> {
        let pool: Vec<String> = channels.accounts.iter().map(|a| a.to_string()).collect();
        let now = unix_now() as i64;
        let mut free: Vec<PublicKey> = self
            .db
            .run(move |conn| {
                Ok(sl::table
                    .filter(sl::account.eq_any(pool))
                    .filter(sl::out_of_pool.is_null())
                    .filter(sl::lease.is_null().or(sl::leased_until.lt(now)))
                    .order(sl::leased_until.asc())
                    .select(sl::account)
                    .load::<String>(conn)?)
            })
            .await?
            .iter()
            .filter_map(|a| a.parse().ok())
            .collect();
        if !free.is_empty() {
            let turn = channels.next.fetch_add(1, Ordering::Relaxed) % free.len();
            free.rotate_left(turn);
        }
        Ok(free)
    }

    /// Takes `account` if it is free or its lease has lapsed: the new token and the sequence
    /// number to start from (`None` after a lapsed lease: its holder's outcome is unknown).
    async fn try_take(
        &self,
        account: PublicKey,
        hold: Duration,
    ) -> Result<Option<(String, Option<i64>)>, DbError> {
        let id = account.to_string();
        let token = new_token();
        let until = (unix_now() + hold.as_secs()) as i64;
        let taken_token = token.clone();
        self.db
            .run(move |conn| {
                let now = unix_now() as i64;
                let Some((holder, sequence, out)) = sl::table
                    .find(&id)
                    .select((sl::lease, sl::sequence, sl::out_of_pool))
                    .get_result::<(Option<String>, Option<i64>, Option<String>)>(conn)
                    .optional()?
                else {
                    return Ok(None);
                };
                if out.is_some() {
                    return Ok(None);
                }
                let taken = match &holder {
                    None => diesel::update(sl::table.find(&id).filter(sl::lease.is_null()))
                        .set((sl::lease.eq(&token), sl::leased_until.eq(until)))
                        .execute(conn)?,
                    Some(old) => diesel::update(
                        sl::table
                            .find(&id)
                            .filter(sl::lease.eq(old))
                            .filter(sl::leased_until.lt(now)),
                    )
                    .set((
                        sl::lease.eq(&token),
                        sl::leased_until.eq(until),
                        sl::sequence.eq(None::<i64>),
                    ))
                    .execute(conn)?,
                };
                Ok((taken == 1).then(|| {
                    let sequence = if holder.is_none() { sequence } else { None };
                    (taken_token, sequence)
                }))
            })
            .await
    }

    /// Hands the lease over to the transaction `hash`, valid until `until` (unix seconds), so
    /// that whoever learns that transaction's outcome can release it.
    ///
    /// # Errors
    /// `Ok(false)` when the lease is no longer ours (it lapsed and was taken): the transaction
    /// must not be submitted. Database failures.
    pub async fn hand_over(
        &self,
        lease: &mut Lease,
        hash: &str,
        until: i64,
    ) -> Result<bool, DbError> {
        let (id, old, new) = (
            lease.account.to_string(),
            lease.token.clone(),
            hash.to_owned(),
        );
        let moved = self
            .db
            .run(move |conn| {
                Ok(
                    diesel::update(sl::table.find(&id).filter(sl::lease.eq(&old)))
                        .set((sl::lease.eq(&new), sl::leased_until.eq(until)))
                        .execute(conn)?,
                )
            })
            .await?;
        if moved == 1 {
            lease.token = hash.to_owned();
        }
        Ok(moved == 1)
    }

    /// Ends a lease: `sequence` is the last sequence number used when it is known for sure
    /// (the transaction was applied), `None` when the next holder must ask Horizon.
    ///
    /// # Errors
    /// Database failures.
    pub async fn release(&self, lease: Lease, sequence: Option<i64>) -> Result<(), DbError> {
        self.release_token(lease.account, lease.token.clone(), sequence, true)
            .await
    }

    /// Ends the lease held by transaction `hash` on `account`, if it still is: for whoever
    /// learns the outcome of a transaction after its request stopped waiting.
    ///
    /// # Errors
    /// Database failures.
    pub async fn release_hash(
        &self,
        account: PublicKey,
        hash: &str,
        sequence: Option<i64>,
    ) -> Result<(), DbError> {
        self.release_token(account, hash.to_owned(), sequence, true)
            .await
    }

    /// Ends a lease after a refusal that is the account's own fault (its balance too low for
    /// the fee): the account rests for `cool_down` (while it is topped up), and after
    /// [`FAILURES_BEFORE_REMOVAL`] in a row a channel leaves the pool with `reason`.
    ///
    /// # Errors
    /// Database failures.
    pub async fn release_failed(
        &self,
        lease: Lease,
        reason: &str,
        cool_down: Duration,
    ) -> Result<(), DbError> {
        let (id, token, reason) = (
            lease.account.to_string(),
            lease.token.clone(),
            reason.to_owned(),
        );
        let is_channel = self.has_channels();
        let until = (unix_now() + cool_down.as_secs()) as i64;
        self.db
            .run(move |conn| {
                let mine = sl::table.find(&id).filter(sl::lease.eq(&token));
                diesel::update(mine)
                    .set((
                        sl::lease.eq(Some(COOLING_DOWN)),
                        sl::leased_until.eq(until),
                        sl::sequence.eq(None::<i64>),
                        sl::failures.eq(sl::failures + 1),
                    ))
                    .execute(conn)?;
                if is_channel {
                    diesel::update(
                        sl::table
                            .find(&id)
                            .filter(sl::failures.ge(FAILURES_BEFORE_REMOVAL)),
                    )
                    .set(sl::out_of_pool.eq(Some(reason)))
                    .execute(conn)?;
                }
                Ok(())
            })
            .await?;
        if is_channel && self.is_out_of_pool(lease.account).await? {
            tracing::error!(
                channel = %lease.account,
                "channel taken out of the pool after {FAILURES_BEFORE_REMOVAL} refusals in a row"
            );
        }
        Ok(())
    }

    async fn release_token(
        &self,
        account: PublicKey,
        token: String,
        sequence: Option<i64>,
        succeeded: bool,
    ) -> Result<(), DbError> {
        let id = account.to_string();
        self.db
            .run(move |conn| {
                let mine = sl::table.find(&id).filter(sl::lease.eq(&token));
                diesel::update(mine)
                    .set((
                        sl::lease.eq(None::<String>),
                        sl::leased_until.eq(0),
                        sl::sequence.eq(sequence),
                    ))
                    .execute(conn)?;
                if succeeded {
                    diesel::update(sl::table.find(&id))
                        .set(sl::failures.eq(0))
                        .execute(conn)?;
                }
                Ok(())
            })
            .await
    }

    async fn is_out_of_pool(&self, account: PublicKey) -> Result<bool, DbError> {
        let id = account.to_string();
        self.db
            .run(move |conn| {
                Ok(sl::table
                    .find(&id)
                    .select(sl::out_of_pool)
                    .get_result::<Option<String>>(conn)
                    .optional()?
                    .flatten()
                    .is_some())
            })
            .await
    }

    /// Puts an account back in use once what made it fail is fixed (a channel topped up):
    /// ends its rest, puts it back in the pool and forgets its failures.
    ///
    /// # Errors
    /// Database failures.
    pub async fn restore(&self, account: PublicKey) -> Result<(), DbError> {
        let id = account.to_string();
        self.db
            .run(move |conn| {
                diesel::update(sl::table.find(&id).filter(sl::lease.eq(COOLING_DOWN)))
                    .set((
                        sl::lease.eq(None::<String>),
                        sl::leased_until.eq(0),
                        sl::sequence.eq(None::<i64>),
                    ))
                    .execute(conn)?;
                diesel::update(sl::table.find(&id))
                    .set((sl::out_of_pool.eq(None::<String>), sl::failures.eq(0)))
                    .execute(conn)?;
                Ok(())
            })
            .await
    }

    /// How the channel pool stands; `None` without channels.
    ///
    /// # Errors
    /// Database failures.
    pub async fn status(&self) -> Result<Option<PoolStatus>, DbError> {
        match &self.channels {
            Some(channels) => Ok(Some(self.pool_status(channels).await?)),
            None => Ok(None),
        }
    }

    /// Every channel and its state, in the configured order (empty without channels).
    ///
    /// # Errors
    /// Database failures.
    pub async fn channel_states(&self) -> Result<Vec<ChannelState>, DbError> {
        match &self.channels {
            Some(channels) => self.states(channels).await,
            None => Ok(Vec::new()),
        }
    }

    /// Every channel of `channels` and its state, in their order.
    async fn states(&self, channels: &Channels) -> Result<Vec<ChannelState>, DbError> {
        let pool: Vec<String> = channels.accounts.iter().map(|a| a.to_string()).collect();
        let wanted = pool.clone();
        let rows = self
            .db
            .run(move |conn| {
                Ok(sl::table
                    .filter(sl::account.eq_any(wanted))
                    .select((sl::account, sl::lease, sl::leased_until, sl::out_of_pool))
                    .load::<(String, Option<String>, i64, Option<String>)>(conn)?)
            })
            .await?;
        let now = unix_now() as i64;
        let rows: HashMap<String, (Option<String>, i64, Option<String>)> = rows
            .into_iter()
            .map(|(account, lease, until, out)| (account, (lease, until, out)))
            .collect();
        Ok(pool
            .into_iter()
            .map(|account| {
                let (state, reason) = match rows.get(&account) {
                    Some((_, _, Some(reason))) => ("out_of_pool", Some(reason.clone())),
                    Some((Some(_), until, None)) if *until >= now => ("leased", None),
                    _ => ("idle", None),
                };
                ChannelState {
                    account,
                    state,
                    reason,
                }
            })
            .collect())
    }

    async fn pool_status(&self, channels: &Channels) -> Result<PoolStatus, DbError> {
        let mut status = PoolStatus::default();
        for channel in self.states(channels).await? {
            match channel.state {
                "out_of_pool" => status.out_of_pool.push(OutOfPool {
                    account: channel.account,
                    reason: channel.reason.unwrap_or_default(),
                }),
                "leased" => status.leased += 1,
                _ => status.idle += 1,
            }
        }
        Ok(status)
    }

    /// Stores a free row for `account` unless it has one.
    async fn ensure_row(&self, account: PublicKey) -> Result<(), DbError> {
        let id = account.to_string();
        self.db
            .run(move |conn| {
                let exists = sl::table
                    .find(&id)
                    .select(sl::account)
                    .get_result::<String>(conn)
                    .optional()?
                    .is_some();
                if exists {
                    return Ok(());
                }
                match diesel::insert_into(sl::table)
                    .values((
                        sl::account.eq(&id),
                        sl::leased_until.eq(0),
                        sl::failures.eq(0),
                    ))
                    .execute(conn)
                {
                    Ok(_)
                    | Err(DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _)) => {
                        Ok(())
                    }
                    Err(e) => Err(e.into()),
                }
            })
            .await
    }
}

impl PoolStatus {
    /// Whether no channel is left in the pool.
    fn is_exhausted(&self) -> bool {
        self.leased == 0 && self.idle == 0
    }
}

/// Sleeps the [`POLL`] wait after `polls` attempts (never past `deadline`) and counts this
/// one; `None` once the deadline has passed.
async fn pause(polls: &mut u32, deadline: Instant) -> Option<()> {
    if Instant::now() >= deadline {
        return None;
    }
    tokio::time::sleep_until((Instant::now() + POLL.delay(*polls)).min(deadline)).await;
    *polls = polls.saturating_add(1);
    Some(())
}

/// A token no other holder has: 128 random bits, hex.
fn new_token() -> String {
    let bytes: [u8; 16] = rand::random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
