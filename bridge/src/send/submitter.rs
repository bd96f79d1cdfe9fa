//! Sending transactions exactly once.
//!
//! Per source account one sequence counter, kept with its lease, loaded from Horizon and
//! reloaded whenever a result leaves it in doubt. Every transaction has finite time bounds. The signed
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
//! The transaction's source account (a channel, or the paying account) is leased in the
//! database ([`Leases`]) until the outcome is known, so one source account has one transaction
//! in the network's queue, as stellar-core requires; channels give more throughput.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use horizon::{AsyncStatus, HorizonClient, ResultCodes};
use stellar_base::transaction::{Envelope, unix_now};
use stellar_base::{AccountAddress, KeyPair, Network, PublicKey, xdr};
use stellar_toml::http::Backoff;
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::cosigning::{CosignError, Cosigners};
use super::draft::{Draft, FeeCap, Outcome, SendError};
use super::fees::FeePolicy;
use super::leases::{Lease, LeaseError, Leases};
use super::store::{NewSent, SentStatus, SentTransaction, Store};

/// After a transaction's upper time bound, how long to keep expecting it (ledger close and
/// Horizon ingestion lag) before declaring that it can never land.
const EXPIRY_GRACE: Duration = Duration::from_secs(15);
/// How much longer than its transaction's validity a lease lasts when its holder vanishes.
const LEASE_MARGIN: Duration = Duration::from_secs(5);
/// A fee bump replaces a queued transaction only at this many times its fee per operation
/// (stellar-core's `FEE_MULTIPLIER`, TransactionQueue.cpp).
const FEE_BUMP_MULTIPLIER: i64 = 10;
/// How long a channel refused for its balance rests while it is topped up.
const CHANNEL_COOL_DOWN: Duration = Duration::from_secs(30);
/// Attempts at building a transaction when the sequence number was stale.
const BAD_SEQ_ATTEMPTS: usize = 3;
/// The wait before submitting an envelope again after `TRY_AGAIN_LATER` or a busy Horizon:
/// 100 ms, doubling up to 2 s between two submissions of an envelope that was not admitted.
const RETRY: Backoff = Backoff {
    first: Duration::from_millis(100),
    max: Duration::from_secs(2),
};
/// The wait before a follower asks again after a failure (Horizon or the database): 200 ms,
/// doubling up to the same 2 s as [`RETRY`].
const FOLLOW_RETRY: Backoff = Backoff {
    first: Duration::from_millis(200),
    max: RETRY.max,
};
/// How often a queued envelope is offered again (the queue may have dropped it).
const RESUBMIT_INTERVAL: Duration = Duration::from_secs(5);
/// First wait between two lookups by hash; it grows by half up to [`MAX_POLL_INTERVAL`].
const FIRST_POLL_INTERVAL: Duration = Duration::from_millis(50);
/// Longest wait between two lookups by hash.
const MAX_POLL_INTERVAL: Duration = Duration::from_secs(1);

/// The channel keys by account, for signing the transactions a channel carries.
pub type ChannelKeys = Arc<HashMap<PublicKey, KeyPair>>;

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
#[derive(Clone)]
struct Signed {
    hash: String,
    envelope: Envelope,
    max_time: i64,
    sequence: i64,
}

/// A transaction built and signed by us whose co-signatures could not all be collected, kept
/// with its source's lease (and so its sequence number) until shortly before its time bound:
/// a retry of the payment on this instance asks the co-signers again for this very
/// transaction, so a co-signer that signed it already signs it again instead of answering that
/// another transaction of the payment can still land.
struct Parked {
    lease: Lease,
    signed: Signed,
    digest: Option<String>,
}

/// Parked transactions by payment id.
type ParkedByPayment = Arc<std::sync::Mutex<HashMap<String, Parked>>>;

/// How long before its time bound a parked transaction is no longer offered again.
const PARKED_MARGIN_SECONDS: i64 = 5;

/// Counts a submission to be made again with the same envelope, by why.
fn retried(reason: &'static str) {
    metrics::counter!("bridge_submissions_retried_total", "reason" => reason).increment(1);
}

/// The sequence number of a stored envelope.
fn envelope_sequence(row: &SentTransaction) -> Option<i64> {
    Envelope::from_base64(&row.envelope_xdr)
        .ok()
        .map(|e| e.sequence())
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
    /// Not included yet, or the outcome is unknown (queued, or perhaps: a timeout, a 5xx).
    Waiting,
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

/// Where one attempt of [`Submitter::build_and_submit`] leaves the payment.
enum Settled {
    /// Its outcome (final, or pending while a follower watches it).
    Done(Outcome),
    /// Build it again under `row`, whose envelope can never land. `refusal` is the outcome
    /// should the attempts end here: a channel's refusal, not a stale sequence.
    Again {
        row: Box<SentTransaction>,
        refusal: Option<Outcome>,
    },
}

/// Sends transactions; shared by all requests.
#[derive(Clone)]
pub struct Submitter {
    horizon: HorizonClient,
    network: Network,
    store: Store,
    fees: FeePolicy,
    timeout: u64,
    pending_wait: Duration,
    leases: Leases,
    channel_keys: ChannelKeys,
    top_ups: Option<mpsc::UnboundedSender<PublicKey>>,
    cosigners: Option<Cosigners>,
    parked: ParkedByPayment,
}

impl std::fmt::Debug for Submitter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Submitter")
    }
}

impl Submitter {
    /// A submitter bidding what `fees` says per operation with `timeout` seconds of validity,
    /// waiting up to `pending_wait` for a transaction to be included; source accounts are
    /// leased from `leases`.
    pub fn new(
        horizon: HorizonClient,
        network: Network,
        store: Store,
        fees: FeePolicy,
        (timeout, pending_wait): (u64, Duration),
        leases: Leases,
    ) -> Self {
        Self {
            horizon,
            network,
            store,
            fees,
            timeout,
            pending_wait,
            leases,
            channel_keys: Arc::default(),
            top_ups: None,
            cosigners: None,
            parked: ParkedByPayment::default(),
        }
    }

    /// The same submitter collecting the co-signers' signatures on every transaction paying
    /// from the account they guard, before the envelope is stored.
    pub fn with_cosigners(self, cosigners: Cosigners) -> Self {
        Self {
            cosigners: Some(cosigners),
            ..self
        }
    }

    /// The same submitter carrying payments through the channels `keys` (their leases are in
    /// [`Leases`]); a channel whose fee payment is refused for its balance is sent to
    /// `top_ups`.
    pub fn with_channels(
        self,
        keys: &[KeyPair],
        top_ups: mpsc::UnboundedSender<PublicKey>,
    ) -> Self {
        Self {
            channel_keys: Arc::new(keys.iter().map(|k| (k.public_key(), k.clone())).collect()),
            top_ups: Some(top_ups),
            ..self
        }
    }

    /// The source-account leases.
    pub fn leases(&self) -> &Leases {
        &self.leases
    }

    /// The network.
    pub fn network(&self) -> &Network {
        &self.network
    }

    /// The Horizon client.
    pub fn horizon(&self) -> &HorizonClient {
        &self.horizon
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

    /// The outcome of the payment already stored under `payment_id`, sending nothing new:
    /// `None` when nothing is stored under it, or its envelope expired without landing (a new
    /// one may then be built). What a repeat answers before asking anyone else: once a
    /// payment is sent, its outcome is the answer, whatever the receiver says now.
    ///
    /// # Errors
    /// [`SendError::Conflict`] for a different request stored under this id; lookups that
    /// fail.
    pub async fn resume_payment(
        &self,
        payment_id: &str,
        digest: Option<&str>,
    ) -> Result<Option<Outcome>, SendError> {
        let Some(row) = self.store.by_payment_id(payment_id).await? else {
            return Ok(None);
        };
        if !row.is_legacy() && row.request_digest.as_deref() != digest {
            return Err(SendError::Conflict);
        }
        self.resume(&row).await
    }

    /// Continues a stored payment: its stored outcome, or the outcome of its envelope. `None`
    /// when the envelope expired without landing. An outcome learned here also ends the
    /// lease its transaction held on its source, if it still holds it.
    async fn resume(&self, row: &SentTransaction) -> Result<Option<Outcome>, SendError> {
        if let Some(outcome) = stored_outcome(row) {
            return Ok(Some(outcome));
        }
        let outcome = self.resume_envelope(row).await?;
        if let (Some(outcome), Ok(source)) = (&outcome, row.source.parse::<PublicKey>()) {
            let sequence = used_sequence(outcome)
                .then(|| envelope_sequence(row))
                .flatten();
            self.leases
                .release_hash(source, &row.hash, sequence)
                .await?;
        }
        Ok(outcome)
    }

    async fn resume_envelope(&self, row: &SentTransaction) -> Result<Option<Outcome>, SendError> {
        if let Some(outcome) = self.lookup(row).await? {
            return Ok(Some(outcome));
        }
        if self.expired(row.max_time) {
            return self.never_landed(row).await;
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
                None => self.never_landed(row).await,
            },
            Submitted::Waiting => Ok(Some(self.pending(row).await)),
            Submitted::Expired => self.never_landed(row).await,
        }
    }

    /// `None` (the envelope never landed: a new one may be built) only when Horizon answers
    /// that it does not know the hash; its outcome if it found it meanwhile. A Horizon that
    /// cannot be asked is no answer: building another envelope then could pay twice.
    ///
    /// # Errors
    /// [`SendError::Unavailable`] while Horizon cannot tell.
    async fn never_landed(&self, row: &SentTransaction) -> Result<Option<Outcome>, SendError> {
        match self.horizon.transaction(&row.hash).await {
            Ok(None) => {
                self.release_expired(row).await?;
                Ok(None)
            }
            Ok(Some(_)) => self.lookup(row).await,
            Err(e) => Err(SendError::Unavailable(format!(
                "cannot tell whether transaction {} landed: {e}",
                row.hash
            ))),
        }
    }

    /// Ends the lease of a transaction that can never land; the next holder of its source
    /// reads the sequence number from Horizon.
    async fn release_expired(&self, row: &SentTransaction) -> Result<(), SendError> {
        if let Ok(source) = row.source.parse::<PublicKey>() {
            self.leases.release_hash(source, &row.hash, None).await?;
        }
        Ok(())
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

    /// How long a lease lasts when its holder vanishes: the transaction's validity, the grace
    /// after it, and a margin for building and storing it.
    fn lease_hold(&self) -> Duration {
        Duration::from_secs(self.timeout) + EXPIRY_GRACE + LEASE_MARGIN
    }

    /// Builds, signs, stores and submits a new envelope for `draft` (under `row` when one
    /// exists) on a leased source account (a channel, or the paying account); a stale sequence
    /// is reloaded and the payment built again, [`BAD_SEQ_ATTEMPTS`] times at most.
    ///
    /// The lease is held until the outcome is known, so one source account has at most one
    /// transaction in the network's queue, as stellar-core requires. When the request stops
    /// waiting first, a follower task keeps the lease and watches the transaction.
    async fn build_and_submit(
        &self,
        draft: &Draft,
        mut row: Option<SentTransaction>,
        payment_id: Option<String>,
        digest: Option<String>,
    ) -> Result<Outcome, SendError> {
        // The refusal of the last channel that could not pay its fee, if the attempts end on
        // one: that is the payment's outcome, not a stale sequence.
        let mut channel_refusal = None;
        let mut parked = self.unpark(&payment_id, &digest).await?;
        for _ in 0..BAD_SEQ_ATTEMPTS {
            let (lease, signed) = match parked.take() {
                Some(parked) => (parked.lease, Some(parked.signed)),
                None => (self.lease_source(draft).await?, None),
            };
            let built = self
                .build_on(draft, lease, signed, (&payment_id, &digest))
                .await?;
            let Some((lease, signed)) = built else {
                continue;
            };
            let stored = self
                .store_envelope(row.take(), &signed, &lease, &payment_id, &digest)
                .await;
            let stored = match stored {
                Ok(stored) => stored,
                Err(e) => {
                    // Nothing was submitted: the sequence number is still free.
                    self.leases
                        .release(lease, Some(signed.sequence - 1))
                        .await?;
                    return Err(e);
                }
            };
            let submitted = self.submit_and_wait(&stored, false).await;
            match self
                .settle(draft, lease, &signed, stored, submitted)
                .await?
            {
                Settled::Done(outcome) => return Ok(outcome),
                Settled::Again {
                    row: stored,
                    refusal,
                } => {
                    row = Some(*stored);
                    channel_refusal = refusal;
                }
            }
        }
        if let Some(refusal) = channel_refusal {
            // Stored as this row's failure when it was refused.
            return Ok(refusal);
        }
        match row {
            Some(row) => self.give_up_on_sequence(row).await,
            // Every attempt's lease lapsed before its envelope was stored (a stalled database,
            // or co-signers slower than the lease): nothing was stored or submitted.
            None => Err(SendError::Busy(
                "the source account's lease lapsed before the transaction was stored".into(),
            )),
        }
    }

    /// Leases the draft's transaction source: a channel when one may carry it, else the
    /// paying account; waits up to `pending_wait` for one to come free.
    async fn lease_source(&self, draft: &Draft) -> Result<Lease, SendError> {
        self.leases
            .acquire(
                draft.source,
                draft.via_channel,
                self.pending_wait,
                self.lease_hold(),
            )
            .await
            .map_err(|e| match e {
                LeaseError::Database(e) => SendError::Database(e),
                other => SendError::Busy(other.to_string()),
            })
    }

    /// Builds and signs the draft on the leased source, then hands the lease over to the
    /// envelope's hash, so that whoever finds the lease later knows which transaction holds
    /// it. `None` when the lease lapsed meanwhile (a stalled database?) and someone else
    /// holds the account now: that envelope is never submitted.
    ///
    /// `signed` is a parked transaction to offer the co-signers again instead of building one.
    async fn build_on(
        &self,
        draft: &Draft,
        mut lease: Lease,
        signed: Option<Signed>,
        (payment_id, digest): (&Option<String>, &Option<String>),
    ) -> Result<Option<(Lease, Signed)>, SendError> {
        let signed = match signed {
            Some(signed) => signed,
            None => match self.sign_on(draft, &lease).await {
                Ok(signed) => signed,
                Err(e) => {
                    self.leases.release(lease, None).await?;
                    return Err(e);
                }
            },
        };
        let signed = match self.cosign(draft, &signed, payment_id.as_deref()).await {
            Ok(cosigned) => cosigned,
            Err(e) => {
                self.park_or_release(lease, signed, payment_id, digest, &e)
                    .await?;
                return Err(e.into());
            }
        };
        let until = signed.max_time + EXPIRY_GRACE.as_secs() as i64;
        if !self
            .leases
            .hand_over(&mut lease, &signed.hash, until)
            .await?
        {
            tracing::warn!(account = %lease.account, "lease lapsed before submission; building again");
            return Ok(None);
        }
        Ok(Some((lease, signed)))
    }

    /// Stores the signed envelope before it is ever submitted (what makes a repeat find it):
    /// in place of `row`'s, which can never be applied, or as a new row for `payment_id`.
    /// [`SendError::Conflict`] when another request stored that payment id first.
    async fn store_envelope(
        &self,
        row: Option<SentTransaction>,
        signed: &Signed,
        lease: &Lease,
        payment_id: &Option<String>,
        digest: &Option<String>,
    ) -> Result<SentTransaction, SendError> {
        if let Some(existing) = row {
            return self.replace_envelope(existing, signed).await;
        }
        let new = NewSent::sending(
            payment_id.clone(),
            signed.hash.clone(),
            lease.account.to_string(),
            signed.envelope.to_base64(),
            digest.clone(),
            signed.max_time,
        );
        match self.store.insert(new).await {
            Ok(Ok(stored)) => Ok(stored),
            Ok(Err(_)) => Err(SendError::Conflict),
            Err(e) => Err(e.into()),
        }
    }

    /// What a submission means for the payment, and for the lease its transaction holds:
    /// ended when the outcome is known or the envelope can never land, kept by a follower
    /// while the outcome is unknown. A channel that could not pay its fee is rested and the
    /// payment goes on another; a stale sequence builds the payment again.
    async fn settle(
        &self,
        draft: &Draft,
        lease: Lease,
        signed: &Signed,
        stored: SentTransaction,
        submitted: Result<Submitted, SendError>,
    ) -> Result<Settled, SendError> {
        match submitted {
            Ok(Submitted::Final(outcome)) => {
                if let Some(code) = self.channel_fault(&lease, draft, &outcome) {
                    self.retire_for_now(lease, code).await?;
                    return Ok(Settled::Again {
                        row: Box::new(stored),
                        refusal: Some(outcome),
                    });
                }
                let sequence = signed.sequence - i64::from(!used_sequence(&outcome));
                self.leases.release(lease, Some(sequence)).await?;
                Ok(Settled::Done(outcome))
            }
            Ok(Submitted::BadSequence) => {
                self.leases.release(lease, None).await?;
                Ok(Settled::Again {
                    row: Box::new(stored),
                    refusal: None,
                })
            }
            Ok(Submitted::Expired) => {
                self.leases.release(lease, None).await?;
                Ok(Settled::Done(self.pending(&stored).await))
            }
            Ok(Submitted::Waiting) => {
                let outcome = self.pending(&stored).await;
                self.follow(lease, stored);
                Ok(Settled::Done(outcome))
            }
            Err(e) => {
                self.follow(lease, stored);
                Err(e)
            }
        }
    }

    /// The channel's own fault in a refusal (its balance cannot pay the fee), when a channel
    /// carried the transaction: the payment goes on another channel.
    fn channel_fault(&self, lease: &Lease, draft: &Draft, outcome: &Outcome) -> Option<String> {
        let Outcome::Failed { result_codes, .. } = outcome else {
            return None;
        };
        (lease.account != draft.source && result_codes.transaction == "tx_insufficient_balance")
            .then(|| result_codes.transaction.clone())
    }

    /// Rests a channel that failed for its own reason and asks for it to be topped up.
    async fn retire_for_now(&self, lease: Lease, code: String) -> Result<(), SendError> {
        let account = lease.account;
        tracing::warn!(channel = %account, %code, "channel refused; trying another one");
        self.leases
            .release_failed(lease, &code, CHANNEL_COOL_DOWN)
            .await?;
        if let Some(top_ups) = &self.top_ups {
            let _ = top_ups.send(account);
        }
        Ok(())
    }

    /// Keeps watching a transaction whose request stopped waiting, holding its lease, until
    /// its outcome is known or its time bound has passed; then ends the lease.
    fn follow(&self, lease: Lease, row: SentTransaction) {
        let submitter = self.clone();
        tokio::spawn(async move {
            let mut failures = 0_u32;
            loop {
                match submitter.resume_envelope(&row).await {
                    Ok(Some(outcome)) => {
                        let sequence = used_sequence(&outcome)
                            .then(|| envelope_sequence(&row))
                            .flatten();
                        let _ = submitter.leases.release(lease, sequence).await;
                        return;
                    }
                    // Expired: `resume_envelope` ended the lease already.
                    Ok(None) => return,
                    Err(e) => {
                        tracing::warn!(hash = %row.hash, error = %e, "following a transaction");
                        if submitter.expired(row.max_time) {
                            return;
                        }
                        tokio::time::sleep(FOLLOW_RETRY.delay(failures)).await;
                        failures = failures.saturating_add(1);
                    }
                }
            }
        });
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

    /// The draft built on the leased source account's next sequence number, at the fee
    /// policy's price per operation and with a time bound `timeout` from now, signed by the
    /// draft's signers and by the channel when one carries it.
    async fn sign_on(&self, draft: &Draft, lease: &Lease) -> Result<Signed, SendError> {
        let sequence = self.next_sequence(lease.sequence, lease.account).await?;
        let fee = self.fees.price().await.fee;
        metrics::gauge!("bridge_fee_bid_per_operation_stroops").set(f64::from(fee));
        let max_time = unix_now() + self.timeout;
        let tx = (draft.build)(lease.account, sequence, fee, max_time)?;
        let mut envelope = Envelope::from_transaction(tx);
        for signer in &draft.signers {
            envelope.sign(signer, &self.network)?;
        }
        if lease.account != draft.source {
            let channel = self
                .channel_keys
                .get(&lease.account)
                .expect("a leased channel is one of ours");
            envelope.sign(channel, &self.network)?;
        }
        Ok(Signed {
            hash: envelope.hash_hex(&self.network),
            envelope,
            max_time: max_time as i64,
            sequence,
        })
    }

    /// `signed` with the co-signers' signatures when the paying account is guarded (asked for
    /// `payment_id`, or the hash when there is none); as it is otherwise.
    async fn cosign(
        &self,
        draft: &Draft,
        signed: &Signed,
        payment_id: Option<&str>,
    ) -> Result<Signed, CosignError> {
        let Some(cosigners) = self.cosigners.as_ref().filter(|c| c.guard(draft.source)) else {
            return Ok(signed.clone());
        };
        let mut cosigned = signed.clone();
        let id = payment_id.map_or_else(|| format!("tx:{}", signed.hash), str::to_owned);
        cosigners.sign(&id, &mut cosigned.envelope).await?;
        Ok(cosigned)
    }

    /// After co-signatures could not be collected: when co-signers were only unavailable and
    /// the payment has an id, the transaction is parked with its lease for a retry (see
    /// [`Parked`]); otherwise (refused, or no id to retry under) the lease is given back with
    /// its sequence number unused.
    async fn park_or_release(
        &self,
        lease: Lease,
        signed: Signed,
        payment_id: &Option<String>,
        digest: &Option<String>,
        error: &CosignError,
    ) -> Result<(), SendError> {
        let (Some(id), CosignError::Unavailable { .. }) = (payment_id, error) else {
            self.leases
                .release(lease, Some(signed.sequence - 1))
                .await?;
            return Ok(());
        };
        let (hash, max_time) = (signed.hash.clone(), signed.max_time);
        let replaced = self.parked.lock().expect("parked transactions").insert(
            id.clone(),
            Parked {
                lease,
                signed,
                digest: digest.clone(),
            },
        );
        if let Some(replaced) = replaced {
            self.leases.release(replaced.lease, None).await?;
        }
        // Never parked for longer than it can be offered: then the lease (and the local hold
        // on the account) goes back, whether or not the payment was retried.
        let submitter = self.clone();
        let id = id.clone();
        let left = (max_time - PARKED_MARGIN_SECONDS - unix_now() as i64).max(0) as u64;
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(left)).await;
            let stale = {
                let mut parked = submitter.parked.lock().expect("parked transactions");
                match parked.get(&id) {
                    Some(p) if p.signed.hash == hash => parked.remove(&id),
                    _ => None,
                }
            };
            if let Some(stale) = stale
                && let Err(e) = submitter.leases.release(stale.lease, None).await
            {
                tracing::warn!(payment_id = %id, error = %e, "giving back a parked transaction's lease");
            }
        });
        Ok(())
    }

    /// The transaction parked for this payment, if it is still worth offering again (the same
    /// request, and time left before its bound); a parked one that is not is given back.
    async fn unpark(
        &self,
        payment_id: &Option<String>,
        digest: &Option<String>,
    ) -> Result<Option<Parked>, SendError> {
        let Some(id) = payment_id else {
            return Ok(None);
        };
        let parked = self.parked.lock().expect("parked transactions").remove(id);
        let Some(parked) = parked else {
            return Ok(None);
        };
        let fresh = parked.signed.max_time - PARKED_MARGIN_SECONDS > unix_now() as i64;
        if fresh && parked.digest == *digest {
            return Ok(Some(parked));
        }
        self.leases.release(parked.lease, None).await?;
        Ok(None)
    }

    /// Stores a new envelope in place of one that can never be applied.
    async fn replace_envelope(
        &self,
        existing: SentTransaction,
        signed: &Signed,
    ) -> Result<SentTransaction, SendError> {
        let envelope_xdr = signed.envelope.to_base64();
        self.store
            .replace_envelope(
                existing.id,
                signed.hash.clone(),
                envelope_xdr.clone(),
                signed.max_time,
            )
            .await?;
        Ok(SentTransaction {
            hash: signed.hash.clone(),
            envelope_xdr,
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
        let mut row = row.clone();
        let row = &mut row;
        let deadline = Instant::now() + self.pending_wait;
        let mut next_submission = Some(Instant::now());
        // Submissions in a row that were not admitted, for the backoff between them.
        let mut refusals = 0_u32;
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
                        if admitted {
                            // Still queued a resubmission later: the network's price may have
                            // overtaken our bid.
                            self.bump_fee(row).await?;
                        } else {
                            admitted = true;
                            self.store
                                .set_outcome(row.id, SentStatus::Pending, None, None, None)
                                .await?;
                        }
                        last_error = None;
                        refusals = 0;
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
                        next_submission = Some(Instant::now() + RETRY.delay(refusals));
                        refusals = refusals.saturating_add(1);
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
                    _ => Ok(Submitted::Waiting),
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

    /// Fee-bumps a queued transaction whose bid the network's price has overtaken (surge
    /// pricing left it out of the ledgers since), when a channel carries it and the bump fits
    /// under `max_fee`: the channel pays a fee bump around the same signed transaction, at the
    /// current price and at least ten times the old bid per operation (what stellar-core
    /// requires to replace a queued transaction). The inner transaction, its hash and its
    /// sequence number are unchanged, so exactly-once holds: either the original or the bump is
    /// applied, never both, and Horizon finds either by the inner hash. The bump replaces the
    /// stored envelope only once the network has queued it. Without channels the paying key
    /// is not kept, so nothing is bumped; one bump per transaction.
    async fn bump_fee(&self, row: &mut SentTransaction) -> Result<(), SendError> {
        let Ok(envelope) = Envelope::from_base64(&row.envelope_xdr) else {
            return Ok(());
        };
        let xdr::TransactionEnvelope::Tx(v1) = envelope.as_xdr() else {
            return Ok(());
        };
        let operations = v1.tx.operations.len().max(1) as i64;
        let bid = i64::from(v1.tx.fee) / operations;
        let price = i64::from(self.fees.price().await.fee);
        let rate = price.max(bid * FEE_BUMP_MULTIPLIER);
        if price <= bid || rate > i64::from(self.fees.max_fee()) {
            return Ok(());
        }
        let carrier = AccountAddress::from_muxed_account(&v1.tx.source_account).account();
        let Some(channel) = self.channel_keys.get(&carrier) else {
            return Ok(());
        };
        let mut bump = envelope.fee_bump(carrier.into(), rate * (operations + 1))?;
        bump.sign(channel, &self.network)?;
        let bump_xdr = bump.to_base64();
        match self.horizon.submit_async(&bump_xdr).await {
            Ok(answer)
                if matches!(
                    answer.tx_status,
                    AsyncStatus::Pending | AsyncStatus::Duplicate
                ) =>
            {
                self.store.set_envelope(row.id, bump_xdr.clone()).await?;
                row.envelope_xdr = bump_xdr;
                metrics::counter!("bridge_fee_bumps_total").increment(1);
                tracing::info!(hash = %row.hash, bid, rate, "fee-bumped a transaction left out of the ledgers");
            }
            Ok(answer) => {
                tracing::debug!(hash = %row.hash, status = ?answer.tx_status, "fee bump not queued");
            }
            Err(e) => tracing::debug!(hash = %row.hash, error = %e, "fee bump not submitted"),
        }
        Ok(())
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
                retried("unknown_outcome");
                tracing::warn!(hash = %row.hash, error = %e, "submission outcome unknown");
                return Ok(Attempt::Later {
                    unknown: true,
                    error: None,
                });
            }
            Err(e) if e.is_retryable() => {
                retried("horizon_busy");
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
                retried("try_again_later");
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
                if codes.transaction == "tx_bad_seq"
                    || codes.inner_transaction.as_deref() == Some("tx_bad_seq")
                {
                    return Ok(Attempt::BadSequence);
                }
                // Queued before and refused now (its time bound passed, say): it may have been
                // applied in between; only the ledger can tell.
                if admitted && let Some(outcome) = self.lookup(row).await? {
                    return Ok(Attempt::Final(outcome));
                }
                // Refused at admission and not in the ledger, so never applied.
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
