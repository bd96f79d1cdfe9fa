//! Sending transactions exactly once.
//!
//! Per source account one sequence counter under a lock, loaded from Horizon and reloaded
//! whenever a result leaves it in doubt. Every transaction has finite time bounds. The signed
//! envelope and its hash are stored before submission; a caller's payment id finds them again,
//! so a repeat resubmits the same envelope (the network applies a hash at most once) instead of
//! building a new payment. Only when the envelope can never be applied (its time bound has
//! passed, or it was refused before it was ever queued) may a new envelope be built for that
//! payment id.
//!
//! Submission is asynchronous (`POST /transactions_async`): stellar-core admits the envelope
//! to its queue (`PENDING`, `DUPLICATE`) or not (`TRY_AGAIN_LATER`, `ERROR`), and inclusion is
//! confirmed by asking Horizon for the hash (`GET /transactions/{hash}`) until it is found,
//! the envelope's time bound has passed, or the request has waited `pending_wait` (then the
//! answer is [`Outcome::Pending`] with the hash). `TRY_AGAIN_LATER`, 429, 5xx and timeouts are
//! retried with the same signed envelope, never a new one; a queued envelope is offered again
//! now and then (a full queue drops what it cannot include; `DUPLICATE` when it is still
//! there). A `tx_bad_seq` for an envelope never admitted means its sequence number went to
//! another transaction: the sequence is reloaded and the payment built again; for an envelope
//! that was queued it may mean that it was applied, so it is only looked up.
//!
//! The fee per operation comes from the [`FeePolicy`] (fee stats, `base_fee..=max_fee`).
//!
//! The lock is held until the transaction is included (or the request stops waiting), so one
//! source account has one transaction in the network's queue, as stellar-core requires; use
//! several source accounts for more throughput.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use horizon::{AsyncStatus, HorizonClient, ResultCodes};
use stellar_base::transaction::{Envelope, Operation, TransactionError, unix_now};
use stellar_base::{KeyPair, Memo, Network, PublicKey, TransactionBuilder, xdr};
use tokio::time::Instant;

use super::fees::FeePolicy;
use super::store::{NewSent, SentStatus, SentTransaction, Store};

/// After a transaction's upper time bound, how long to keep expecting it (ledger close and
/// Horizon ingestion lag) before declaring that it can never land.
const EXPIRY_GRACE: Duration = Duration::from_secs(15);
/// Attempts at building a transaction when the sequence number was stale.
const BAD_SEQ_ATTEMPTS: usize = 3;
/// First wait before submitting an envelope again after `TRY_AGAIN_LATER` or a busy Horizon;
/// it doubles up to [`MAX_RETRY_DELAY`].
const FIRST_RETRY_DELAY: Duration = Duration::from_millis(100);
/// Longest wait between two submissions of an envelope that was not admitted.
const MAX_RETRY_DELAY: Duration = Duration::from_secs(2);
/// How often a queued envelope is offered again (the queue may have dropped it).
const RESUBMIT_INTERVAL: Duration = Duration::from_secs(5);
/// First wait between two lookups by hash; it grows by half up to [`MAX_POLL_INTERVAL`].
const FIRST_POLL_INTERVAL: Duration = Duration::from_millis(50);
/// Longest wait between two lookups by hash.
const MAX_POLL_INTERVAL: Duration = Duration::from_secs(1);

/// Builds the unsigned transaction for a sequence number, fee per operation and upper time
/// bound.
pub type Build =
    Arc<dyn Fn(i64, u32, u64) -> Result<xdr::Transaction, TransactionError> + Send + Sync>;

/// A payment to send, before it has a sequence number.
#[derive(Clone)]
pub struct Draft {
    /// The transaction's source account (its sequence is used).
    pub source: PublicKey,
    /// Who signs.
    pub signers: Vec<KeyPair>,
    /// The transaction without sequence and time bounds.
    pub build: Build,
}

impl Draft {
    /// A transaction of one operation from `signer`'s account, signed by it.
    pub fn one_operation(signer: KeyPair, memo: Memo, operation: Operation) -> Self {
        let source = signer.public_key();
        Self {
            source,
            signers: vec![signer],
            build: Arc::new(move |sequence, fee, max_time| {
                TransactionBuilder::new(source.into(), sequence)
                    .base_fee(fee)
                    .memo(memo.clone())
                    .time_bounds(0, max_time)
                    .operation(operation.clone())
                    .build()
            }),
        }
    }
}

impl std::fmt::Debug for Draft {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Draft(source {})", self.source)
    }
}

/// How a payment ended (or stands).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// In the ledger and successful.
    Success {
        /// Hex hash.
        hash: String,
        /// Ledger.
        ledger: i64,
        /// Signed envelope.
        envelope_xdr: String,
        /// Result XDR.
        result_xdr: Option<String>,
    },
    /// Refused, or in the ledger with a failed result.
    Failed {
        /// Hex hash.
        hash: String,
        /// Horizon's result codes.
        result_codes: ResultCodes,
        /// Result XDR.
        result_xdr: Option<String>,
    },
    /// Submitted, outcome not known yet: repeat the request with the same id.
    Pending {
        /// Hex hash.
        hash: String,
        /// Set when the network's price is above `max_fee`: the envelope bids the cap and
        /// waits for the price to fall.
        fee_cap: Option<FeeCap>,
    },
}

/// Why a pending payment waits: the network's price per operation is above our cap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FeeCap {
    /// Our cap, `max_fee`, in stroops per operation.
    pub max_fee: u32,
    /// The network's price per operation (the configured percentile of `fee_charged`).
    pub network_fee: i64,
}

/// Why a payment could not be sent at all.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// The same payment id with a different request.
    #[error("payment id already used for a different request")]
    Conflict,
    /// The source account does not exist.
    #[error("source account {0} does not exist")]
    SourceNotFound(PublicKey),
    /// The transaction could not be built.
    #[error("{0}")]
    Build(#[from] TransactionError),
    /// Horizon is busy or down; nothing was applied. Repeat later.
    #[error("Horizon is unavailable: {0}")]
    Unavailable(String),
    /// Storage failed.
    #[error(transparent)]
    Database(#[from] service::DbError),
}

fn codes_json(codes: &ResultCodes) -> String {
    serde_json::to_string(codes).expect("result codes serialise")
}

/// Stored codes; a row written without them (a failure seen by hash) reads as `tx_failed`.
fn codes_from_json(json: Option<&str>) -> ResultCodes {
    json.and_then(|j| serde_json::from_str(j).ok())
        .unwrap_or_else(|| ResultCodes {
            transaction: "tx_failed".into(),
            ..ResultCodes::default()
        })
}

fn stored_outcome(row: &SentTransaction) -> Option<Outcome> {
    match row.status {
        SentStatus::Success => Some(Outcome::Success {
            hash: row.hash.clone(),
            ledger: row.ledger.unwrap_or_default(),
            envelope_xdr: row.envelope_xdr.clone(),
            result_xdr: row.result_xdr.clone(),
        }),
        SentStatus::Failure => Some(Outcome::Failed {
            hash: row.hash.clone(),
            result_codes: codes_from_json(row.result_codes.as_deref()),
            result_xdr: row.result_xdr.clone(),
        }),
        SentStatus::Sending | SentStatus::Pending => None,
    }
}

/// A draft built and signed, not yet stored.
struct Signed {
    hash: String,
    envelope_xdr: String,
    max_time: i64,
}

/// Whether a final outcome used the transaction's sequence number: it was applied
/// (successfully or with `tx_failed`), not rejected before.
fn used_sequence(outcome: &Outcome) -> bool {
    match outcome {
        Outcome::Failed { result_codes, .. } => result_codes.transaction == "tx_failed",
        _ => true,
    }
}

/// How submitting one envelope (and waiting for it) ended.
enum Submitted {
    /// Applied (successfully or not) or refused for good.
    Final(Outcome),
    /// Refused with `tx_bad_seq` before it was ever queued: its sequence number went to
    /// another transaction, so this envelope can never be applied.
    BadSequence,
    /// Not included yet, or the outcome is unknown; `admitted` when the network queued it
    /// (or may have: a timeout, a 5xx).
    Waiting { admitted: bool },
    /// Its time bound (and the grace) passed without it being found: it can never land.
    Expired,
}

/// What one submission of an envelope said.
enum Attempt {
    /// Refused for good (not applied), or found applied.
    Final(Outcome),
    /// `tx_bad_seq`.
    BadSequence,
    /// `PENDING` or `DUPLICATE`: in the queue.
    Queued,
    /// Submit the same envelope again later: `TRY_AGAIN_LATER`, 429, 5xx, a timeout (then
    /// `unknown`: it may have been queued). `error` when Horizon itself failed.
    Later {
        unknown: bool,
        error: Option<String>,
    },
}

/// One sequence counter (and lock) per source account; `None` means "reload from Horizon".
type Sequences = Arc<Mutex<HashMap<PublicKey, Arc<tokio::sync::Mutex<Option<i64>>>>>>;

/// Sends transactions; shared by all requests.
#[derive(Clone)]
pub struct Submitter {
    horizon: HorizonClient,
    network: Network,
    store: Store,
    fees: FeePolicy,
    timeout: u64,
    pending_wait: Duration,
    sequences: Sequences,
}

impl std::fmt::Debug for Submitter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Submitter")
    }
}

impl Submitter {
    /// A submitter bidding what `fees` says per operation with `timeout` seconds of validity,
    /// waiting up to `pending_wait` for a transaction to be included.
    pub fn new(
        horizon: HorizonClient,
        network: Network,
        store: Store,
        fees: FeePolicy,
        timeout: u64,
        pending_wait: Duration,
    ) -> Self {
        Self {
            horizon,
            network,
            store,
            fees,
            timeout,
            pending_wait,
            sequences: Arc::default(),
        }
    }

    /// The network.
    pub fn network(&self) -> &Network {
        &self.network
    }

    /// The Horizon client.
    pub fn horizon(&self) -> &HorizonClient {
        &self.horizon
    }

    fn sequence_lock(&self, account: PublicKey) -> Arc<tokio::sync::Mutex<Option<i64>>> {
        self.sequences
            .lock()
            .expect("sequence map lock")
            .entry(account)
            .or_default()
            .clone()
    }

    /// Sends `draft`, exactly once per `payment_id`.
    ///
    /// # Errors
    /// [`SendError`] when nothing could be sent; a transaction the network refused is an
    /// [`Outcome::Failed`], not an error.
    pub async fn send(
        &self,
        draft: &Draft,
        payment_id: Option<String>,
        digest: Option<String>,
    ) -> Result<Outcome, SendError> {
        let mut existing = match &payment_id {
            Some(id) => self.store.by_payment_id(id).await?,
            None => None,
        };
        loop {
            if let Some(row) = existing.take() {
                if row.is_legacy() {
                    // Stored by the legacy bridge: no digest to compare, so the repeat gets
                    // what was sent under this id (legacy resubmitted the stored envelope);
                    // never a new transaction.
                    return self.resume(&row).await?.ok_or(SendError::Conflict);
                }
                if row.request_digest != digest {
                    return Err(SendError::Conflict);
                }
                match self.resume(&row).await? {
                    Some(outcome) => return Ok(outcome),
                    // Expired without landing: rebuilding under the same row is safe.
                    None => {
                        return self
                            .build_and_submit(draft, Some(row), payment_id, digest)
                            .await;
                    }
                }
            }
            match self
                .build_and_submit(draft, None, payment_id.clone(), digest.clone())
                .await
            {
                Err(SendError::Conflict) => {
                    // Another request stored this payment id first: follow it.
                    existing = match &payment_id {
                        Some(id) => self.store.by_payment_id(id).await?,
                        None => None,
                    };
                }
                other => return other,
            }
        }
    }

    /// Continues a stored payment: its stored outcome, or the outcome of its envelope. `None`
    /// when the envelope expired without landing.
    async fn resume(&self, row: &SentTransaction) -> Result<Option<Outcome>, SendError> {
        if let Some(outcome) = stored_outcome(row) {
            return Ok(Some(outcome));
        }
        if let Some(outcome) = self.lookup(row).await? {
            return Ok(Some(outcome));
        }
        if self.expired(row.max_time) {
            return Ok(None);
        }
        // An envelope stored as pending was queued (or may have been): a `tx_bad_seq` for it
        // may mean that it was applied, so it is only looked up until its time bound passes.
        let admitted = row.status == SentStatus::Pending;
        match self.submit_and_wait(row, admitted).await? {
            Submitted::Final(outcome) => Ok(Some(outcome)),
            // The stored envelope's sequence is used: by this very transaction (then the lookup
            // finds it) or by another one (then this envelope can never land).
            Submitted::BadSequence => match self.lookup(row).await? {
                Some(outcome) => Ok(Some(outcome)),
                None => {
                    self.invalidate_sequence(row).await;
                    Ok(None)
                }
            },
            Submitted::Waiting { .. } => Ok(Some(self.pending(row).await)),
            Submitted::Expired => Ok(None),
        }
    }

    /// The pending outcome of `row`, saying whether the fee cap is why it waits.
    async fn pending(&self, row: &SentTransaction) -> Outcome {
        let price = self.fees.price().await;
        Outcome::Pending {
            hash: row.hash.clone(),
            fee_cap: price.over_cap.map(|network_fee| FeeCap {
                max_fee: self.fees.max_fee(),
                network_fee,
            }),
        }
    }

    fn expired(&self, max_time: i64) -> bool {
        max_time > 0 && unix_now() > max_time as u64 + EXPIRY_GRACE.as_secs()
    }

    async fn invalidate_sequence(&self, row: &SentTransaction) {
        if let Ok(source) = row.source.parse::<PublicKey>() {
            *self.sequence_lock(source).lock().await = None;
        }
    }

    /// Builds, signs, stores and submits a new envelope for `draft` (under `row` when one
    /// exists) while holding the source account's sequence; a stale sequence is reloaded and
    /// the payment built again, [`BAD_SEQ_ATTEMPTS`] times at most.
    async fn build_and_submit(
        &self,
        draft: &Draft,
        mut row: Option<SentTransaction>,
        payment_id: Option<String>,
        digest: Option<String>,
    ) -> Result<Outcome, SendError> {
        let lock = self.sequence_lock(draft.source);
        let mut sequence = lock.lock().await;
        for _ in 0..BAD_SEQ_ATTEMPTS {
            let next = self.next_sequence(*sequence, draft.source).await?;
            let fee = self.fees.price().await.fee;
            let signed = self.sign(draft, next, fee)?;
            let stored = match row.take() {
                Some(existing) => self.replace_envelope(existing, signed).await?,
                None => {
                    let new = NewSent::sending(
                        payment_id.clone(),
                        signed.hash,
                        draft.source.to_string(),
                        signed.envelope_xdr,
                        digest.clone(),
                        signed.max_time,
                    );
                    self.store
                        .insert(new)
                        .await?
                        .map_err(|_| SendError::Conflict)?
                }
            };
            *sequence = Some(next);
            // The lock is held until the transaction is included or the request stops
            // waiting: stellar-core queues one transaction per source account.
            let submitted = self.submit_and_wait(&stored, false).await;
            // Unless the network applied the transaction (successful or not) or holds it in
            // its queue, the sequence is in doubt: reload it next time.
            let keep = match &submitted {
                Ok(Submitted::Final(outcome)) => used_sequence(outcome),
                Ok(Submitted::Waiting { admitted }) => *admitted,
                _ => false,
            };
            if !keep {
                *sequence = None;
            }
            match submitted? {
                Submitted::Final(outcome) => return Ok(outcome),
                Submitted::BadSequence => row = Some(stored),
                Submitted::Waiting { .. } | Submitted::Expired => {
                    drop(sequence);
                    return Ok(self.pending(&stored).await);
                }
            }
        }
        let row = row.expect("a bad sequence leaves the row to retry");
        self.give_up_on_sequence(row).await
    }

    /// The sequence number of the source's next transaction: one after the last we used, or
    /// after the account's current one on the network.
    async fn next_sequence(&self, last: Option<i64>, source: PublicKey) -> Result<i64, SendError> {
        let current = match last {
            Some(s) => s,
            None => {
                self.horizon
                    .account(&source)
                    .await
                    .map_err(|e| SendError::Unavailable(e.to_string()))?
                    .ok_or(SendError::SourceNotFound(source))?
                    .sequence
            }
        };
        Ok(current + 1)
    }

    /// The draft built with `sequence`, `fee` per operation and a time bound `timeout` from
    /// now, signed.
    fn sign(&self, draft: &Draft, sequence: i64, fee: u32) -> Result<Signed, SendError> {
        let max_time = unix_now() + self.timeout;
        let tx = (draft.build)(sequence, fee, max_time)?;
        let mut envelope = Envelope::from_transaction(tx);
        for signer in &draft.signers {
            envelope.sign(signer, &self.network)?;
        }
        Ok(Signed {
            hash: envelope.hash_hex(&self.network),
            envelope_xdr: envelope.to_base64(),
            max_time: max_time as i64,
        })
    }

    /// Stores a new envelope in place of one that can never be applied.
    async fn replace_envelope(
        &self,
        existing: SentTransaction,
        signed: Signed,
    ) -> Result<SentTransaction, SendError> {
        self.store
            .replace_envelope(
                existing.id,
                signed.hash.clone(),
                signed.envelope_xdr.clone(),
                signed.max_time,
            )
            .await?;
        Ok(SentTransaction {
            hash: signed.hash,
            envelope_xdr: signed.envelope_xdr,
            max_time: signed.max_time,
            status: SentStatus::Sending,
            ..existing
        })
    }

    /// After [`BAD_SEQ_ATTEMPTS`] stale sequences: the payment failed with `tx_bad_seq`.
    async fn give_up_on_sequence(&self, row: SentTransaction) -> Result<Outcome, SendError> {
        let codes = ResultCodes {
            transaction: "tx_bad_seq".into(),
            ..ResultCodes::default()
        };
        self.store
            .set_outcome(
                row.id,
                SentStatus::Failure,
                None,
                None,
                Some(codes_json(&codes)),
            )
            .await?;
        Ok(Outcome::Failed {
            hash: row.hash,
            result_codes: codes,
            result_xdr: None,
        })
    }

    /// Submits a stored envelope (again; the same hash can be applied at most once) through
    /// `/transactions_async` and waits for it: looked up by hash until it is found, its time
    /// bound has passed, or `pending_wait` is over. `admitted` says whether an earlier
    /// submission may have queued it.
    async fn submit_and_wait(
        &self,
        row: &SentTransaction,
        mut admitted: bool,
    ) -> Result<Submitted, SendError> {
        let deadline = Instant::now() + self.pending_wait;
        let mut next_submission = Some(Instant::now());
        let mut retry_delay = FIRST_RETRY_DELAY;
        let mut poll = FIRST_POLL_INTERVAL;
        let mut last_error = None;
        loop {
            if next_submission.is_some_and(|at| Instant::now() >= at) {
                match self.submit_once(row, admitted).await? {
                    Attempt::Final(outcome) => return Ok(Submitted::Final(outcome)),
                    Attempt::BadSequence if !admitted => return Ok(Submitted::BadSequence),
                    // Queued before, refused for its sequence now: applied, or overtaken.
                    // Only the lookup can tell; offering it again is pointless.
                    Attempt::BadSequence => next_submission = None,
                    Attempt::Queued => {
                        if !admitted {
                            admitted = true;
                            self.store
                                .set_outcome(row.id, SentStatus::Pending, None, None, None)
                                .await?;
                        }
                        last_error = None;
                        retry_delay = FIRST_RETRY_DELAY;
                        next_submission = Some(Instant::now() + RESUBMIT_INTERVAL);
                    }
                    Attempt::Later { unknown, error } => {
                        if unknown && !admitted {
                            admitted = true;
                            self.store
                                .set_outcome(row.id, SentStatus::Pending, None, None, None)
                                .await?;
                        }
                        last_error = error;
                        next_submission = Some(Instant::now() + retry_delay);
                        retry_delay = (retry_delay * 2).min(MAX_RETRY_DELAY);
                    }
                }
            }
            if admitted && let Some(outcome) = self.lookup(row).await? {
                return Ok(Submitted::Final(outcome));
            }
            if self.expired(row.max_time) {
                return Ok(Submitted::Expired);
            }
            let now = Instant::now();
            if now >= deadline {
                return match last_error {
                    // Horizon never took it: nothing was sent, say so.
                    Some(error) if !admitted => Err(SendError::Unavailable(error)),
                    _ => Ok(Submitted::Waiting { admitted }),
                };
            }
            let mut wake = (now + poll).min(deadline);
            if !admitted && let Some(at) = next_submission {
                wake = at.min(deadline);
            }
            tokio::time::sleep_until(wake).await;
            poll = (poll * 3 / 2).min(MAX_POLL_INTERVAL);
        }
    }

    /// One `/transactions_async` of a stored envelope, and what it means for the payment.
    async fn submit_once(
        &self,
        row: &SentTransaction,
        admitted: bool,
    ) -> Result<Attempt, SendError> {
        let answer = match self.horizon.submit_async(&row.envelope_xdr).await {
            Ok(answer) => answer,
            Err(e) if e.outcome_unknown() => {
                tracing::warn!(hash = %row.hash, error = %e, "submission outcome unknown");
                return Ok(Attempt::Later {
                    unknown: true,
                    error: None,
                });
            }
            Err(e) if e.is_retryable() => {
                tracing::warn!(hash = %row.hash, error = %e, "Horizon busy, submitting again later");
                return Ok(Attempt::Later {
                    unknown: false,
                    error: Some(e.to_string()),
                });
            }
            Err(e) if admitted => {
                tracing::warn!(hash = %row.hash, error = %e, "resubmission refused");
                return Ok(Attempt::Later {
                    unknown: false,
                    error: None,
                });
            }
            Err(e) => return Err(SendError::Unavailable(e.to_string())),
        };
        match answer.tx_status {
            AsyncStatus::Pending | AsyncStatus::Duplicate => Ok(Attempt::Queued),
            AsyncStatus::TryAgainLater => {
                tracing::debug!(hash = %row.hash, "TRY_AGAIN_LATER, submitting the same envelope again later");
                Ok(Attempt::Later {
                    unknown: false,
                    error: None,
                })
            }
            AsyncStatus::Error => {
                let result_xdr = answer.error_result_xdr;
                let codes = result_xdr
                    .as_deref()
                    .and_then(|xdr| ResultCodes::from_result_xdr(xdr).ok())
                    .unwrap_or_else(|| ResultCodes {
                        transaction: "tx_failed".into(),
                        ..ResultCodes::default()
                    });
                if codes.transaction == "tx_bad_seq" {
                    return Ok(Attempt::BadSequence);
                }
                // Refused at admission, so not applied: an applied envelope offered again is
                // refused for its sequence, which is handled above.
                self.store
                    .set_outcome(
                        row.id,
                        SentStatus::Failure,
                        None,
                        result_xdr.clone(),
                        Some(codes_json(&codes)),
                    )
                    .await?;
                Ok(Attempt::Final(Outcome::Failed {
                    hash: row.hash.clone(),
                    result_codes: codes,
                    result_xdr,
                }))
            }
        }
    }

    /// Looks a stored envelope up by hash and records what Horizon knows.
    async fn lookup(&self, row: &SentTransaction) -> Result<Option<Outcome>, SendError> {
        let record = match self.horizon.transaction(&row.hash).await {
            Ok(record) => record,
            Err(e) => {
                tracing::warn!(hash = %row.hash, error = %e, "lookup by hash failed");
                return Ok(None);
            }
        };
        let Some(record) = record else {
            return Ok(None);
        };
        if record.successful {
            self.store
                .set_outcome(
                    row.id,
                    SentStatus::Success,
                    Some(record.ledger as i64),
                    Some(record.result_xdr.clone()),
                    None,
                )
                .await?;
            Ok(Some(Outcome::Success {
                hash: row.hash.clone(),
                ledger: record.ledger as i64,
                envelope_xdr: row.envelope_xdr.clone(),
                result_xdr: Some(record.result_xdr),
            }))
        } else {
            // The ledger's own result names the failing operation (e.g. op_underfunded).
            let codes =
                ResultCodes::from_result_xdr(&record.result_xdr).unwrap_or_else(|_| ResultCodes {
                    transaction: "tx_failed".into(),
                    ..ResultCodes::default()
                });
            self.store
                .set_outcome(
                    row.id,
                    SentStatus::Failure,
                    Some(record.ledger as i64),
                    Some(record.result_xdr.clone()),
                    Some(codes_json(&codes)),
                )
                .await?;
            Ok(Some(Outcome::Failed {
                hash: row.hash.clone(),
                result_codes: codes,
                result_xdr: Some(record.result_xdr),
            }))
        }
    }
}
