//! The ledger: accounts, history and the closing of ledgers, without any I/O.
//!
//! [`Ledger::close`] applies a batch of submissions in order, as one ledger, and records what
//! was included. The server calls it on a timer; tests can call it directly.

use sha2::{Digest, Sha256};
use stellar_base::transaction::transaction_hash;
use stellar_base::xdr;
use stellar_base::{Amount, KeyPair, Network, Operation, PublicKey};

use crate::apply::{Applied, CloseContext, apply_envelope, envelope_hash};
use crate::history::{History, LedgerRecord, TxRecord};
use crate::state::{Account, Accounts, BASE_FEE, Offer, TOTAL_COINS};

/// What friendbot gives a new account: 10 000 XLM, in stroops.
pub const FRIENDBOT_AMOUNT: i64 = 10_000 * 10_000_000;

/// Something to apply in the next ledger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Submission {
    /// A client's transaction envelope.
    Envelope(Box<xdr::TransactionEnvelope>),
    /// Friendbot funding: a create_account from the root account, built at close time so
    /// that concurrent requests never collide on the root's sequence number.
    Friendbot(PublicKey),
}

/// What became of a submission.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Included in the ledger (successful or failed): index into `History::transactions`.
    Included(usize),
    /// Rejected before application; nothing changed.
    Rejected {
        /// The envelope as submitted.
        envelope: Box<xdr::TransactionEnvelope>,
        /// Why.
        result: xdr::TransactionResult,
    },
}

/// The in-memory ledger.
#[derive(Debug)]
pub struct Ledger {
    network: Network,
    root: KeyPair,
    accounts: Accounts,
    history: History,
    fee_pool: i64,
    max_tx_set_size: u32,
}

/// The `max_tx_set_size` ledgers record unless [`Ledger::set_max_tx_set_size`] says otherwise
/// (1 000 operations, as on mainnet).
pub const DEFAULT_MAX_TX_SET_SIZE: u32 = 1_000;

/// The root account's key, derived as stellar-core does in standalone mode: the network
/// passphrase's sha256 used as the ed25519 seed.
pub fn root_keypair(passphrase: &str) -> KeyPair {
    KeyPair::from_seed_bytes(Sha256::digest(passphrase.as_bytes()).into())
}

pub use stellar_base::transaction::unix_now;

impl Ledger {
    /// A ledger whose genesis (ledger 1) gives every lumen to the root account.
    pub fn new(passphrase: &str, genesis_time: u64) -> Self {
        let root = root_keypair(passphrase);
        let mut root_account = Account::new(root.public_key(), TOTAL_COINS, 1);
        root_account.sequence = 0;
        let mut accounts = Accounts::new();
        accounts.insert(root.public_key(), root_account);
        let mut history = History::default();
        history.ledgers.push(LedgerRecord {
            sequence: 1,
            hash: Sha256::digest(passphrase.as_bytes()).into(),
            prev_hash: [0; 32],
            closed_at: genesis_time,
            successful_transaction_count: 0,
            failed_transaction_count: 0,
            operation_count: 0,
            tx_set_operation_count: 0,
            max_tx_set_size: DEFAULT_MAX_TX_SET_SIZE,
            total_coins: TOTAL_COINS,
            fee_pool: 0,
        });
        Self {
            network: Network::new(passphrase),
            root,
            accounts,
            history,
            fee_pool: 0,
            max_tx_set_size: DEFAULT_MAX_TX_SET_SIZE,
        }
    }

    /// The capacity, in operations, that ledgers closed from now on record as their
    /// `max_tx_set_size` (the node sets its `max_ops_per_ledger`). Recorded only: what goes
    /// into a ledger is the queue's decision.
    pub fn set_max_tx_set_size(&mut self, operations: u32) {
        self.max_tx_set_size = operations;
    }

    /// The network (passphrase and id).
    pub fn network(&self) -> &Network {
        &self.network
    }

    /// The root account's key pair.
    pub fn root_keypair(&self) -> &KeyPair {
        &self.root
    }

    /// An account.
    pub fn account(&self, id: &PublicKey) -> Option<&Account> {
        self.accounts.get(id)
    }

    /// Number of accounts.
    pub fn account_count(&self) -> usize {
        self.accounts.len()
    }

    /// One offer of the order book.
    pub fn offer(&self, id: i64) -> Option<&Offer> {
        self.accounts.offer(id)
    }

    /// Every offer of the order book, by id (what `GET /offers` lists).
    pub fn offers(&self) -> impl Iterator<Item = &Offer> {
        self.accounts.offers()
    }

    /// The offers selling `selling` for `buying`, best (lowest price, then oldest) first: the
    /// order in which they are crossed.
    pub fn order_book(
        &self,
        selling: &stellar_base::Asset,
        buying: &stellar_base::Asset,
    ) -> Vec<&Offer> {
        self.accounts.book(selling, buying)
    }

    /// The history.
    pub fn history(&self) -> &History {
        &self.history
    }

    /// The latest closed ledger.
    pub fn latest(&self) -> &LedgerRecord {
        // The genesis ledger is pushed in `new`, so the list is never empty.
        &self.history.ledgers[self.history.ledgers.len() - 1]
    }

    /// Closes the next ledger with `submissions`, applied in order, at `close_time` (never
    /// before the previous close), charging the network's base fee.
    pub fn close(&mut self, submissions: Vec<Submission>, close_time: u64) -> Vec<Outcome> {
        self.close_charging(submissions, close_time, BASE_FEE)
    }

    /// The context the next ledger would close in at `close_time`.
    fn next_context(&self, close_time: u64, base_fee: i64) -> CloseContext {
        let previous = self.latest();
        CloseContext {
            ledger_seq: previous.sequence + 1,
            close_time: close_time.max(previous.closed_at),
            base_fee: base_fee.max(BASE_FEE),
        }
    }

    /// stellar-core's checks of `envelope` against the current state, as if it were applied in
    /// the next ledger at `close_time`: what the queue runs before admitting it.
    ///
    /// # Errors
    /// The result stellar-core would report.
    pub fn validate(
        &self,
        envelope: &xdr::TransactionEnvelope,
        close_time: u64,
    ) -> Result<(), xdr::TransactionResult> {
        crate::apply::validate(
            &self.accounts,
            envelope,
            &self.network,
            self.next_context(close_time, BASE_FEE),
        )
    }

    /// As [`Ledger::close`], charging `base_fee` per operation (surge pricing: the lowest bid
    /// per operation included; never below the network's base fee, never above a bid).
    pub fn close_charging(
        &mut self,
        submissions: Vec<Submission>,
        close_time: u64,
        base_fee: i64,
    ) -> Vec<Outcome> {
        let previous = self.latest().clone();
        let ctx = self.next_context(close_time, base_fee);
        let mut hasher = Sha256::new();
        hasher.update(previous.hash);
        hasher.update(ctx.ledger_seq.to_be_bytes());
        hasher.update(ctx.close_time.to_be_bytes());
        let mut record = LedgerRecord {
            sequence: ctx.ledger_seq,
            hash: [0; 32],
            prev_hash: previous.hash,
            closed_at: ctx.close_time,
            successful_transaction_count: 0,
            failed_transaction_count: 0,
            operation_count: 0,
            tx_set_operation_count: 0,
            max_tx_set_size: self.max_tx_set_size,
            total_coins: TOTAL_COINS,
            fee_pool: 0,
        };
        let mut outcomes = Vec::with_capacity(submissions.len());
        let mut index = 0u32;
        for submission in submissions {
            let envelope = match submission {
                Submission::Envelope(envelope) => envelope,
                Submission::Friendbot(destination) => {
                    Box::new(self.friendbot_envelope(destination))
                }
            };
            let hash = envelope_hash(&envelope, &self.network);
            let Applied {
                result,
                included,
                successful,
                op_amounts,
            } = apply_envelope(
                &mut self.accounts,
                &mut self.fee_pool,
                &envelope,
                &self.network,
                ctx,
            );
            if !included {
                outcomes.push(Outcome::Rejected { envelope, result });
                continue;
            }
            index += 1;
            hasher.update(hash);
            let ops = op_amounts.len() as u32;
            record.tx_set_operation_count += ops;
            if successful {
                record.successful_transaction_count += 1;
                record.operation_count += ops;
            } else {
                record.failed_transaction_count += 1;
            }
            let record = TxRecord::new(
                hash,
                ctx.ledger_seq,
                index,
                ctx.close_time,
                successful,
                &envelope,
                &result,
            );
            self.history
                .push_transaction(record, &envelope, &op_amounts);
            if let xdr::TransactionEnvelope::TxFeeBump(bump) = envelope.as_ref() {
                let xdr::FeeBumpTransactionInnerTx::Tx(inner) = &bump.tx.inner_tx;
                let inner_hash = transaction_hash(&inner.tx, &self.network);
                let tx = self.history.transactions.len() - 1;
                self.history.index_inner_hash(inner_hash, tx);
            }
            outcomes.push(Outcome::Included(self.history.transactions.len() - 1));
        }
        record.hash = hasher.finalize().into();
        record.fee_pool = self.fee_pool;
        self.history.ledgers.push(record);
        outcomes
    }

    /// A create_account of [`FRIENDBOT_AMOUNT`] from the root account, signed by it.
    fn friendbot_envelope(&self, destination: PublicKey) -> xdr::TransactionEnvelope {
        let root = self.root.public_key();
        let sequence = self.accounts.get(&root).map_or(0, |a| a.sequence) + 1;
        let amount = Amount::from_stroops(FRIENDBOT_AMOUNT).unwrap_or(Amount::ZERO);
        let tx = xdr::Transaction {
            source_account: root.to_muxed_account(),
            fee: 100,
            seq_num: xdr::SequenceNumber(sequence),
            cond: xdr::Preconditions::None,
            memo: xdr::Memo::None,
            operations: vec![Operation::create_account(destination, amount).0]
                .try_into()
                .unwrap_or_default(),
            ext: xdr::TransactionExt::V0,
        };
        let mut envelope = stellar_base::Envelope::from_transaction(tx);
        // One signature never exceeds the 20-signature limit.
        let _ = envelope.sign(&self.root, &self.network);
        envelope.into_xdr()
    }
}
