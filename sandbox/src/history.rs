//! What happened: closed ledgers, included transactions and their operations, with the indexes
//! the API pages through.
//!
//! Records are appended in ledger order, so every vector is sorted by paging token and a page
//! is a binary search plus a slice. A transaction keeps its envelope and result as XDR bytes
//! (bounded by the 100 KiB envelope limit); an operation is 24 bytes pointing into its
//! transaction, so a million operations take a few hundred megabytes at most.

use std::collections::HashMap;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use stellar_base::xdr::{self, Limits, ReadXdr, WriteXdr};
use stellar_base::{AccountAddress, PublicKey};

use crate::apply::muxed_key;

/// Horizon's TOID: `ledger << 32 | tx_index << 12 | op_index`.
pub fn toid(ledger: u32, tx_index: u32, op_index: u32) -> i64 {
    (i64::from(ledger) << 32) | (i64::from(tx_index) << 12) | i64::from(op_index)
}

/// A closed ledger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerRecord {
    /// Sequence number.
    pub sequence: u32,
    /// Hash of this ledger.
    pub hash: [u8; 32],
    /// Hash of the previous ledger.
    pub prev_hash: [u8; 32],
    /// Close time (unix seconds).
    pub closed_at: u64,
    /// Transactions that succeeded.
    pub successful_transaction_count: u32,
    /// Transactions included but failed.
    pub failed_transaction_count: u32,
    /// Operations of successful transactions.
    pub operation_count: u32,
    /// Operations of all included transactions.
    pub tx_set_operation_count: u32,
    /// Most operations the ledger could hold (the header's `max_tx_set_size`).
    pub max_tx_set_size: u32,
    /// Lumens in existence, in stroops.
    pub total_coins: i64,
    /// Fees collected so far, in stroops.
    pub fee_pool: i64,
}

/// An included transaction. The envelope and result are kept as XDR bytes (a few hundred
/// bytes for a payment) and decoded when shown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxRecord {
    /// Transaction hash (the outer hash for a fee bump).
    pub hash: [u8; 32],
    /// Ledger it was applied in.
    pub ledger: u32,
    /// 1-based position in the ledger.
    pub index: u32,
    /// Close time of its ledger.
    pub created_at: u64,
    /// True when every operation succeeded.
    pub successful: bool,
    /// What the fee source paid, in stroops (the result's `fee_charged`).
    pub fee_charged: i64,
    /// The fee bid, in stroops: the outer bid for a fee bump (Horizon's
    /// `COALESCE(new_max_fee, max_fee)`).
    pub max_fee: i64,
    /// Operations as the fee counts them: the inner transaction's plus one for a fee bump
    /// (Horizon's fee-stats divisor).
    pub fee_operations: u32,
    envelope_xdr: Box<[u8]>,
    result_xdr: Box<[u8]>,
}

fn encode<T: WriteXdr>(value: &T) -> Box<[u8]> {
    value
        .to_xdr(Limits::none())
        .expect("in-memory XDR values always encode")
        .into_boxed_slice()
}

impl TxRecord {
    /// A record of an included transaction.
    pub fn new(
        hash: [u8; 32],
        ledger: u32,
        index: u32,
        created_at: u64,
        successful: bool,
        envelope: &xdr::TransactionEnvelope,
        result: &xdr::TransactionResult,
    ) -> Self {
        let (_, ops) = tx_source_and_ops(envelope);
        let (max_fee, bump) = match envelope {
            xdr::TransactionEnvelope::TxV0(e) => (i64::from(e.tx.fee), 0),
            xdr::TransactionEnvelope::Tx(e) => (i64::from(e.tx.fee), 0),
            xdr::TransactionEnvelope::TxFeeBump(e) => (e.tx.fee, 1),
        };
        Self {
            hash,
            ledger,
            index,
            created_at,
            successful,
            fee_charged: result.fee_charged,
            max_fee,
            fee_operations: ops.len() as u32 + bump,
            envelope_xdr: encode(envelope),
            result_xdr: encode(result),
        }
    }

    /// The paging token (TOID with operation index 0).
    pub fn paging_token(&self) -> i64 {
        toid(self.ledger, self.index, 0)
    }

    /// The envelope.
    pub fn envelope(&self) -> xdr::TransactionEnvelope {
        xdr::TransactionEnvelope::from_xdr(&self.envelope_xdr, Limits::none())
            .expect("the sandbox encoded this envelope itself")
    }

    /// The result.
    pub fn result(&self) -> xdr::TransactionResult {
        xdr::TransactionResult::from_xdr(&self.result_xdr, Limits::none())
            .expect("the sandbox encoded this result itself")
    }

    /// The envelope as base64 XDR.
    pub fn envelope_base64(&self) -> String {
        BASE64.encode(&self.envelope_xdr)
    }

    /// The result as base64 XDR.
    pub fn result_base64(&self) -> String {
        BASE64.encode(&self.result_xdr)
    }
}

/// An operation of an included transaction: where to find it, and what the result said.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpRecord {
    /// TOID, which is also its paging token.
    pub id: i64,
    /// Index of its transaction in [`History::transactions`].
    pub tx: u32,
    /// Merged lumens for account_merge, amount sent for path payments.
    pub amount: i64,
}

impl OpRecord {
    /// Position of the operation in its transaction (0-based).
    pub fn index(&self) -> usize {
        ((self.id & 0xfff) - 1).max(0) as usize
    }
}

/// An operation with its effective source account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpDetails {
    /// Source account (the transaction's when the operation has none).
    pub source: AccountAddress,
    /// The operation.
    pub body: xdr::OperationBody,
}

/// The `index`-th operation of an envelope with its effective source.
pub fn operation_details(envelope: &xdr::TransactionEnvelope, index: usize) -> Option<OpDetails> {
    let (source, ops) = tx_source_and_ops(envelope);
    let op = ops.get(index)?;
    Some(OpDetails {
        source: op
            .source_account
            .as_ref()
            .map_or(source, AccountAddress::from_muxed_account),
        body: op.body.clone(),
    })
}

/// True for the operation types Horizon lists under `/payments`.
fn is_payment(body: &xdr::OperationBody) -> bool {
    matches!(
        body,
        xdr::OperationBody::CreateAccount(_)
            | xdr::OperationBody::Payment(_)
            | xdr::OperationBody::PathPaymentStrictReceive(_)
            | xdr::OperationBody::PathPaymentStrictSend(_)
            | xdr::OperationBody::AccountMerge(_)
    )
}

/// The accounts an operation involves: its source and any account it names.
fn participants(source: PublicKey, body: &xdr::OperationBody) -> Vec<PublicKey> {
    let other = match body {
        xdr::OperationBody::CreateAccount(op) => Some(PublicKey::from_account_id(&op.destination)),
        xdr::OperationBody::Payment(op) => Some(muxed_key(&op.destination)),
        xdr::OperationBody::PathPaymentStrictReceive(op) => Some(muxed_key(&op.destination)),
        xdr::OperationBody::PathPaymentStrictSend(op) => Some(muxed_key(&op.destination)),
        xdr::OperationBody::AccountMerge(dest) => Some(muxed_key(dest)),
        xdr::OperationBody::AllowTrust(op) => Some(PublicKey::from_account_id(&op.trustor)),
        xdr::OperationBody::SetTrustLineFlags(op) => Some(PublicKey::from_account_id(&op.trustor)),
        _ => None,
    };
    match other {
        Some(other) if other != source => vec![source, other],
        _ => vec![source],
    }
}

/// Appends `index` to `account`'s list unless it is already its last entry.
fn index_for(map: &mut HashMap<PublicKey, Vec<u32>>, account: PublicKey, index: u32) {
    let list = map.entry(account).or_default();
    if list.last() != Some(&index) {
        list.push(index);
    }
}

/// All history, with indexes.
#[derive(Debug, Default)]
pub struct History {
    /// Closed ledgers; index `i` holds ledger `i + 1`.
    pub ledgers: Vec<LedgerRecord>,
    /// Included transactions in application order.
    pub transactions: Vec<TxRecord>,
    /// Operations in application order.
    pub operations: Vec<OpRecord>,
    /// Indexes into `operations` of payment operations.
    pub payments: Vec<u32>,
    /// Indexes into `operations` of payments per participating account.
    pub account_payments: HashMap<PublicKey, Vec<u32>>,
    /// Indexes into `operations` of every operation per participating account.
    pub account_operations: HashMap<PublicKey, Vec<u32>>,
    /// Indexes into `transactions` per participating account (source, fee source, and the
    /// accounts its operations involve).
    pub account_transactions: HashMap<PublicKey, Vec<u32>>,
    /// Indexes into `operations` per transaction (first, count).
    pub tx_ops: Vec<(u32, u32)>,
    /// Transaction index by hash.
    pub by_hash: HashMap<[u8; 32], usize>,
    /// Fee-bump transaction index by the hash of the transaction it wraps: Horizon finds a fee
    /// bump by either hash (`TransactionByHash` in services/horizon/internal/db2/history
    /// matches `transaction_hash` or `inner_transaction_hash`).
    pub by_inner_hash: HashMap<[u8; 32], usize>,
}

impl History {
    /// Records an included transaction (whose decoded envelope is `envelope`) and its
    /// operations.
    pub fn push_transaction(
        &mut self,
        record: TxRecord,
        envelope: &xdr::TransactionEnvelope,
        op_amounts: &[i64],
    ) {
        let tx = self.transactions.len() as u32;
        let (source, ops) = tx_source_and_ops(envelope);
        index_for(&mut self.account_transactions, source.account(), tx);
        if let xdr::TransactionEnvelope::TxFeeBump(e) = envelope {
            index_for(
                &mut self.account_transactions,
                muxed_key(&e.tx.fee_source),
                tx,
            );
        }
        let first = self.operations.len() as u32;
        for (i, op) in ops.iter().enumerate() {
            let op_source = op
                .source_account
                .as_ref()
                .map_or(source.account(), muxed_key);
            let index = self.operations.len() as u32;
            let accounts = participants(op_source, &op.body);
            if is_payment(&op.body) {
                self.payments.push(index);
                for account in &accounts {
                    index_for(&mut self.account_payments, *account, index);
                }
            }
            for account in accounts {
                index_for(&mut self.account_operations, account, index);
                index_for(&mut self.account_transactions, account, tx);
            }
            self.operations.push(OpRecord {
                id: toid(record.ledger, record.index, i as u32 + 1),
                tx,
                amount: op_amounts.get(i).copied().unwrap_or(0),
            });
        }
        self.tx_ops.push((first, ops.len() as u32));
        self.by_hash.insert(record.hash, tx as usize);
        self.transactions.push(record);
    }

    /// The transaction an operation belongs to.
    pub fn transaction_of(&self, op: &OpRecord) -> &TxRecord {
        &self.transactions[op.tx as usize]
    }

    /// A transaction by hash, or a fee bump by the hash of the transaction it wraps.
    pub fn transaction(&self, hash: &[u8; 32]) -> Option<&TxRecord> {
        self.by_hash
            .get(hash)
            .or_else(|| self.by_inner_hash.get(hash))
            .map(|i| &self.transactions[*i])
    }

    /// Indexes the fee bump `tx` (an index into `transactions`) by its inner hash.
    pub fn index_inner_hash(&mut self, inner_hash: [u8; 32], tx: usize) {
        self.by_inner_hash.insert(inner_hash, tx);
    }

    /// An operation by id.
    pub fn operation(&self, id: i64) -> Option<&OpRecord> {
        let i = self.operations.partition_point(|o| o.id < id);
        self.operations.get(i).filter(|o| o.id == id)
    }

    /// The latest closed ledger.
    pub fn latest_ledger(&self) -> Option<&LedgerRecord> {
        self.ledgers.last()
    }

    /// A ledger by sequence.
    pub fn ledger(&self, sequence: u32) -> Option<&LedgerRecord> {
        sequence
            .checked_sub(1)
            .and_then(|i| self.ledgers.get(i as usize))
    }
}

/// The source and operations of any envelope (the inner transaction's for a fee bump).
pub fn tx_source_and_ops(
    envelope: &xdr::TransactionEnvelope,
) -> (AccountAddress, &[xdr::Operation]) {
    match envelope {
        xdr::TransactionEnvelope::TxV0(e) => (
            AccountAddress::Account(PublicKey(e.tx.source_account_ed25519.0)),
            &e.tx.operations,
        ),
        xdr::TransactionEnvelope::Tx(e) => (
            AccountAddress::from_muxed_account(&e.tx.source_account),
            &e.tx.operations,
        ),
        xdr::TransactionEnvelope::TxFeeBump(e) => {
            let xdr::FeeBumpTransactionInnerTx::Tx(inner) = &e.tx.inner_tx;
            (
                AccountAddress::from_muxed_account(&inner.tx.source_account),
                &inner.tx.operations,
            )
        }
    }
}

/// Which end of a list a page starts from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    /// Oldest first.
    Asc,
    /// Newest first.
    Desc,
}

/// The items of a list sorted by `key` that come strictly after `cursor` in `order`
/// (`None` = from the start of that order), lazily, in that order.
pub fn after<'a, T>(
    items: &'a [T],
    key: impl Fn(&T) -> i64,
    cursor: Option<i64>,
    order: Order,
) -> Box<dyn Iterator<Item = &'a T> + 'a> {
    match order {
        Order::Asc => {
            let start = cursor.map_or(0, |c| items.partition_point(|i| key(i) <= c));
            Box::new(items[start..].iter())
        }
        Order::Desc => {
            let end = cursor.map_or(items.len(), |c| items.partition_point(|i| key(i) < c));
            Box::new(items[..end].iter().rev())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn toid_matches_horizon() {
        assert_eq!(toid(2, 1, 1), (2i64 << 32) | (1 << 12) | 1);
        assert!(toid(3, 1, 1) > toid(2, 4095, 4095));
    }

    fn page(items: &[i64], cursor: Option<i64>, order: Order, limit: usize) -> Vec<i64> {
        after(items, |x| *x, cursor, order)
            .take(limit)
            .copied()
            .collect()
    }

    #[test]
    fn pages_in_both_orders() {
        let items = [1i64, 2, 3, 4, 5];
        assert_eq!(page(&items, None, Order::Asc, 2), vec![1, 2]);
        assert_eq!(page(&items, Some(2), Order::Asc, 2), vec![3, 4]);
        assert_eq!(page(&items, None, Order::Desc, 2), vec![5, 4]);
        assert_eq!(page(&items, Some(4), Order::Desc, 5), vec![3, 2, 1]);
        assert!(page(&items, Some(5), Order::Asc, 5).is_empty());
    }
}
