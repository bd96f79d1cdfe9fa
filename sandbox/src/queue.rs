//! stellar-core's transaction queue: what it admits, what goes into each ledger, and what it
//! drops.
//!
//! The rules, as stellar-core applies them on the public network (`src/herder/
//! TransactionQueue.cpp`, `canAdd`, and `SurgePricingUtils.cpp`):
//!
//! - **One transaction per source account** (enforced since stellar-core PR #3869; for a fee
//!   bump, the inner transaction's source). Another one from the same source is answered
//!   `TRY_AGAIN_LATER`, unless it is a fee bump of the queued transaction (same sequence number)
//!   bidding at least [`FEE_MULTIPLIER`] times its fee per operation, which replaces it; a lower
//!   bid is an `ERROR` with `txINSUFFICIENT_FEE`. The same envelope again is a `DUPLICATE`.
//! - **Validity at admission**: sequence, signatures, time bounds, fee, and the fee source's
//!   balance net of what its queued transactions already bid.
//! - **Capacity and surge pricing**: a ledger holds at most `max_ops_per_ledger` operations. When
//!   more is queued, the highest fee per operation goes first (ties by arrival) and every
//!   included transaction pays the lowest included bid per operation.
//! - **Ageing**: a transaction left out of `queue_ledgers` ledgers in a row is dropped and its
//!   hash banned for [`BAN_LEDGERS`] ledgers (a resubmission meanwhile is `TRY_AGAIN_LATER`), as
//!   is one whose time bounds have passed.

use std::cmp::Ordering;
use std::collections::HashMap;

use stellar_base::transaction::{fee_bump_hash, transaction_hash, v0_to_v1};
use stellar_base::{Network, PublicKey, xdr};
use tokio::sync::oneshot;

use crate::apply::muxed_key;
use crate::ledger::{Ledger, Outcome};
use crate::state::BASE_FEE;

/// A fee bump replaces a queued transaction only when it bids at least this many times its
/// fee per operation (stellar-core's `TransactionQueue::FEE_MULTIPLIER`).
pub const FEE_MULTIPLIER: i64 = 10;

/// How many ledgers a dropped transaction's hash stays banned (stellar-core's default
/// `TRANSACTION_QUEUE_BAN_LEDGERS`).
pub const BAN_LEDGERS: u32 = 10;

/// The network's limits on the queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueLimits {
    /// Most operations in one ledger (1 000 classic operations on mainnet).
    pub max_ops_per_ledger: u32,
    /// Ledgers a transaction may wait before it is dropped (stellar-core's
    /// `TRANSACTION_QUEUE_TIMEOUT_LEDGERS`, 4).
    pub queue_ledgers: u32,
}

impl Default for QueueLimits {
    fn default() -> Self {
        Self {
            max_ops_per_ledger: 1_000,
            queue_ledgers: 4,
        }
    }
}

/// What stellar-core answers a submission (Horizon's `tx_status`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Admission {
    /// Queued for a coming ledger.
    Pending,
    /// This very transaction is already queued.
    Duplicate,
    /// Not now: its source already has a transaction queued, or it was recently dropped.
    TryAgainLater,
    /// Invalid: the result says why.
    Error(Box<xdr::TransactionResult>),
}

/// What a waiter learns: the outcome once its ledger closed, or `None` when the queue
/// dropped the transaction (it will never be included; Horizon's submitter only times out).
pub type Waited = Option<Outcome>;

/// A transaction's facts the queue decides on.
#[derive(Debug, Clone)]
struct Candidate {
    envelope: Box<xdr::TransactionEnvelope>,
    hash: [u8; 32],
    /// The inner transaction's hash for a fee bump, else the hash.
    inner_hash: [u8; 32],
    /// The sequence-number source (the inner transaction's for a fee bump).
    source: PublicKey,
    fee_source: PublicKey,
    seq: i64,
    fee_bid: i64,
    /// Operations as the fee counts them (a fee bump adds one).
    ops: i64,
    is_fee_bump: bool,
    max_time: u64,
}

impl Candidate {
    fn new(envelope: Box<xdr::TransactionEnvelope>, network: &Network) -> Self {
        let (tx, outer) = match envelope.as_ref() {
            xdr::TransactionEnvelope::TxV0(e) => (v0_to_v1(&e.tx), None),
            xdr::TransactionEnvelope::Tx(e) => (e.tx.clone(), None),
            xdr::TransactionEnvelope::TxFeeBump(e) => {
                let xdr::FeeBumpTransactionInnerTx::Tx(inner) = &e.tx.inner_tx;
                (inner.tx.clone(), Some(&e.tx))
            }
        };
        let inner_hash = transaction_hash(&tx, network);
        let source = muxed_key(&tx.source_account);
        let max_time = match &tx.cond {
            xdr::Preconditions::Time(tb) => tb.max_time.0,
            xdr::Preconditions::V2(p) => p.time_bounds.as_ref().map_or(0, |tb| tb.max_time.0),
            xdr::Preconditions::None => 0,
        };
        let inner_ops = tx.operations.len() as i64;
        let (hash, fee_source, fee_bid, ops) = match outer {
            Some(outer) => (
                fee_bump_hash(outer, network),
                muxed_key(&outer.fee_source),
                outer.fee,
                inner_ops + 1,
            ),
            None => (inner_hash, source, i64::from(tx.fee), inner_ops),
        };
        Self {
            is_fee_bump: outer.is_some(),
            envelope,
            hash,
            inner_hash,
            source,
            fee_source,
            seq: tx.seq_num.0,
            fee_bid,
            ops: ops.max(1),
            max_time,
        }
    }

    /// Compares fee per operation, without division.
    fn rate_cmp(&self, other: &Self) -> Ordering {
        (i128::from(self.fee_bid) * i128::from(other.ops))
            .cmp(&(i128::from(other.fee_bid) * i128::from(self.ops)))
    }
}

#[derive(Debug)]
struct Queued {
    candidate: Candidate,
    arrival: u64,
    ledgers_waited: u32,
    waiters: Vec<oneshot::Sender<Waited>>,
}

/// What goes into the next ledger.
#[derive(Debug)]
pub struct LedgerSet {
    /// The envelopes, in arrival order, each with whoever waits for it.
    pub transactions: Vec<(Box<xdr::TransactionEnvelope>, Vec<oneshot::Sender<Waited>>)>,
    /// The fee per operation every included transaction pays.
    pub base_fee: i64,
}

/// The queue of one node.
#[derive(Debug, Default)]
pub struct TxQueue {
    limits: QueueLimits,
    by_source: HashMap<PublicKey, Queued>,
    arrivals: u64,
    /// Dropped hashes and the ledger their ban ends.
    banned: HashMap<[u8; 32], u32>,
}

fn error(fee_charged: i64, code: xdr::TransactionResultResult) -> Admission {
    Admission::Error(Box::new(xdr::TransactionResult {
        fee_charged,
        result: code,
        ext: xdr::TransactionResultExt::V0,
    }))
}

impl TxQueue {
    /// An empty queue with these limits.
    pub fn new(limits: QueueLimits) -> Self {
        Self {
            limits,
            ..Self::default()
        }
    }

    /// The limits.
    pub fn limits(&self) -> QueueLimits {
        self.limits
    }

    /// Operations queued now.
    pub fn queued_ops(&self) -> i64 {
        self.by_source.values().map(|q| q.candidate.ops).sum()
    }

    /// Decides on a submission as stellar-core's `canAdd` does, and queues it when admitted.
    /// `close_time` is when the next ledger would close.
    pub fn admit(
        &mut self,
        envelope: Box<xdr::TransactionEnvelope>,
        ledger: &Ledger,
        close_time: u64,
    ) -> ([u8; 32], Admission) {
        let candidate = Candidate::new(envelope, ledger.network());
        let hash = candidate.hash;
        let admission = self.check(&candidate, ledger, close_time);
        if admission == Admission::Pending {
            self.insert(candidate);
        }
        (hash, admission)
    }

    fn check(&self, candidate: &Candidate, ledger: &Ledger, close_time: u64) -> Admission {
        if self.banned.contains_key(&candidate.hash) {
            return Admission::TryAgainLater;
        }
        let mut replaced_fee = 0;
        if let Some(queued) = self.by_source.get(&candidate.source) {
            let current = &queued.candidate;
            if current.hash == candidate.hash
                || (current.is_fee_bump && current.inner_hash == candidate.hash)
            {
                return Admission::Duplicate;
            }
            if candidate.seq < current.seq {
                return error(0, xdr::TransactionResultResult::TxBadSeq);
            }
            if !candidate.is_fee_bump || candidate.seq != current.seq {
                return Admission::TryAgainLater;
            }
            // Replace-by-fee: at least FEE_MULTIPLIER times the queued rate.
            let needed = i128::from(current.fee_bid)
                * i128::from(FEE_MULTIPLIER)
                * i128::from(candidate.ops);
            if i128::from(candidate.fee_bid) * i128::from(current.ops) < needed {
                let ops = i128::from(current.ops);
                let min_fee = (needed + ops - 1) / ops;
                return error(
                    i64::try_from(min_fee).unwrap_or(i64::MAX),
                    xdr::TransactionResultResult::TxInsufficientFee,
                );
            }
            if current.fee_source == candidate.fee_source {
                replaced_fee = current.fee_bid;
            }
        }
        if let Err(result) = ledger.validate(&candidate.envelope, close_time) {
            return Admission::Error(Box::new(result));
        }
        // The fee source must cover this bid on top of what its queued transactions bid.
        let queued_fees: i64 = self
            .by_source
            .values()
            .filter(|q| q.candidate.fee_source == candidate.fee_source)
            .map(|q| q.candidate.fee_bid)
            .sum::<i64>()
            - replaced_fee;
        let available = ledger
            .account(&candidate.fee_source)
            .map_or(0, |a| a.balance - a.min_balance());
        if available - candidate.fee_bid < queued_fees {
            return error(
                candidate.fee_bid,
                xdr::TransactionResultResult::TxInsufficientBalance,
            );
        }
        Admission::Pending
    }

    fn insert(&mut self, candidate: Candidate) {
        self.arrivals += 1;
        let waiters = self
            .by_source
            .remove(&candidate.source)
            .map(|replaced| replaced.waiters)
            .unwrap_or_default();
        self.by_source.insert(
            candidate.source,
            Queued {
                candidate,
                arrival: self.arrivals,
                ledgers_waited: 0,
                waiters,
            },
        );
    }

    /// Registers a waiter for a queued transaction (by its hash, or a fee bump's inner hash);
    /// `None` when it is not queued.
    pub fn wait(&mut self, hash: &[u8; 32]) -> Option<oneshot::Receiver<Waited>> {
        let queued = self
            .by_source
            .values_mut()
            .find(|q| q.candidate.hash == *hash || q.candidate.inner_hash == *hash)?;
        let (tx, rx) = oneshot::channel();
        queued.waiters.push(tx);
        Some(rx)
    }

    /// Takes the next ledger's transactions: the best fee per operation first (ties by
    /// arrival) within `max_ops` operations (what the ledger has left), and the fee they pay.
    pub fn take_ledger_set(&mut self, max_ops: i64) -> LedgerSet {
        let mut order: Vec<&Queued> = self.by_source.values().collect();
        order.sort_by(|a, b| {
            b.candidate
                .rate_cmp(&a.candidate)
                .then(a.arrival.cmp(&b.arrival))
        });
        let mut room = max_ops;
        let mut chosen = Vec::new();
        let mut left_out = false;
        for queued in order {
            if queued.candidate.ops <= room {
                room -= queued.candidate.ops;
                chosen.push(queued.candidate.source);
            } else {
                left_out = true;
            }
        }
        let mut taken: Vec<Queued> = chosen
            .iter()
            .filter_map(|source| self.by_source.remove(source))
            .collect();
        // Surge pricing: when something did not fit, everyone pays the lowest included rate.
        let base_fee = if left_out {
            taken
                .iter()
                .map(|q| q.candidate.fee_bid / q.candidate.ops)
                .min()
                .unwrap_or(BASE_FEE)
                .max(BASE_FEE)
        } else {
            BASE_FEE
        };
        taken.sort_by_key(|q| q.arrival);
        LedgerSet {
            transactions: taken
                .into_iter()
                .map(|q| (q.candidate.envelope, q.waiters))
                .collect(),
            base_fee,
        }
    }

    /// After ledger `ledger_seq` closed at `close_time`: everything left waited one more
    /// ledger; what waited too long, or can no longer be valid, is dropped and banned.
    pub fn age(&mut self, ledger_seq: u32, close_time: u64) {
        self.banned.retain(|_, until| *until > ledger_seq);
        let limit = self.limits.queue_ledgers.max(1);
        let mut dropped = Vec::new();
        for (source, queued) in &mut self.by_source {
            queued.ledgers_waited += 1;
            let expired = queued.candidate.max_time != 0 && queued.candidate.max_time < close_time;
            if queued.ledgers_waited >= limit || expired {
                dropped.push(*source);
            }
        }
        for source in dropped {
            if let Some(queued) = self.by_source.remove(&source) {
                self.banned
                    .insert(queued.candidate.hash, ledger_seq + BAN_LEDGERS);
                for waiter in queued.waiters {
                    let _ = waiter.send(None);
                }
            }
        }
    }

    /// Whether `hash` is banned now.
    pub fn is_banned(&self, hash: &[u8; 32]) -> bool {
        self.banned.contains_key(hash)
    }
}
