//! What happened: closed ledgers, included transactions and their operations, with the indexes
//! the API pages through.
//!
//! Records are appended in ledger order, so every vector is sorted by paging token and a page
//! is a binary search plus a slice. A record keeps only what the API shows: the envelope and
//! result XDR of its transaction (bounded by the 100 KiB envelope limit) and the operation body.

use std::collections::HashMap;

use stellar_base::xdr;
use stellar_base::{AccountAddress, PublicKey};

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
    /// Lumens in existence, in stroops.
    pub total_coins: i64,
    /// Fees collected so far, in stroops.
    pub fee_pool: i64,
}

/// An included transaction.
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
    /// The decoded envelope.
    pub envelope: xdr::TransactionEnvelope,
    /// The result.
    pub result: xdr::TransactionResult,
    /// True when every operation succeeded.
    pub successful: bool,
}

impl TxRecord {
    /// The paging token (TOID with operation index 0).
    pub fn paging_token(&self) -> i64 {
        toid(self.ledger, self.index, 0)
    }
}

/// An operation of an included transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpRecord {
    /// TOID, which is also its paging token.
    pub id: i64,
    /// Index of its transaction in [`History::transactions`].
    pub tx: usize,
    /// Source account (the transaction's when the operation has none).
    pub source: AccountAddress,
    /// The operation.
    pub body: xdr::OperationBody,
    /// Merged lumens for account_merge, amount sent for path payments.
    pub amount: i64,
}

impl OpRecord {
    /// True for the operation types Horizon lists under `/payments`.
    pub fn is_payment(&self) -> bool {
        matches!(
            self.body,
            xdr::OperationBody::CreateAccount(_)
                | xdr::OperationBody::Payment(_)
                | xdr::OperationBody::PathPaymentStrictReceive(_)
                | xdr::OperationBody::PathPaymentStrictSend(_)
                | xdr::OperationBody::AccountMerge(_)
        )
    }

    /// Accounts a payment touches (sender and receiver).
    pub fn participants(&self) -> Vec<PublicKey> {
        let mut out = vec![self.source.account()];
        let other = match &self.body {
            xdr::OperationBody::CreateAccount(op) => {
                Some(PublicKey::from_account_id(&op.destination))
            }
            xdr::OperationBody::Payment(op) => Some(crate::apply::muxed_key(&op.destination)),
            xdr::OperationBody::PathPaymentStrictReceive(op) => {
                Some(crate::apply::muxed_key(&op.destination))
            }
            xdr::OperationBody::PathPaymentStrictSend(op) => {
                Some(crate::apply::muxed_key(&op.destination))
            }
            xdr::OperationBody::AccountMerge(dest) => Some(crate::apply::muxed_key(dest)),
            _ => None,
        };
        if let Some(other) = other
            && other != out[0]
        {
            out.push(other);
        }
        out
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
    /// Indexes into `operations` per transaction (first, count).
    pub tx_ops: Vec<(u32, u32)>,
    /// Transaction index by hash.
    pub by_hash: HashMap<[u8; 32], usize>,
}

impl History {
    /// Records an included transaction and its operations.
    pub fn push_transaction(&mut self, record: TxRecord, op_amounts: &[i64]) {
        let tx = self.transactions.len();
        let (source, ops) = tx_source_and_ops(&record.envelope);
        let first = self.operations.len() as u32;
        for (i, op) in ops.iter().enumerate() {
            let op_source = op
                .source_account
                .as_ref()
                .map_or(source, AccountAddress::from_muxed_account);
            let op_record = OpRecord {
                id: toid(record.ledger, record.index, i as u32 + 1),
                tx,
                source: op_source,
                body: op.body.clone(),
                amount: op_amounts.get(i).copied().unwrap_or(0),
            };
            let index = self.operations.len() as u32;
            if op_record.is_payment() {
                self.payments.push(index);
                for account in op_record.participants() {
                    self.account_payments
                        .entry(account)
                        .or_default()
                        .push(index);
                }
            }
            self.operations.push(op_record);
        }
        self.tx_ops.push((first, ops.len() as u32));
        self.by_hash.insert(record.hash, tx);
        self.transactions.push(record);
    }

    /// A transaction by hash.
    pub fn transaction(&self, hash: &[u8; 32]) -> Option<&TxRecord> {
        self.by_hash.get(hash).map(|i| &self.transactions[*i])
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
