//! Paged collections (payments, operations, transactions, ledgers): their query parameters
//! and their records, for the paged JSON answers and the event streams alike.

use actix_web::web;
use serde::Deserialize;
use serde_json::Value;
use stellar_base::PublicKey;

use crate::history::{Order, after, toid};
use crate::json;
use crate::ledger::Ledger;

/// The collections that can be paged and streamed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Collection {
    /// `/payments` or `/accounts/{id}/payments`.
    Payments(Option<PublicKey>),
    /// `/operations`.
    Operations,
    /// `/accounts/{id}/operations`.
    AccountOperations(PublicKey),
    /// `/accounts/{id}/transactions`.
    AccountTransactions(PublicKey),
    /// `/transactions/{hash}/operations`.
    TransactionOperations([u8; 32]),
    /// `/transactions`.
    Transactions,
    /// `/ledgers`.
    Ledgers,
}

/// Page parameters: `cursor`, `order`, `limit`, `include_failed`, `join`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Params {
    pub cursor: Option<i64>,
    pub order: Order,
    pub limit: usize,
    pub include_failed: bool,
    pub join: bool,
}

#[derive(Debug, Deserialize)]
struct RawParams {
    cursor: Option<String>,
    order: Option<String>,
    limit: Option<String>,
    include_failed: Option<String>,
    join: Option<String>,
}

/// The page parameters, or the 400 problem.
pub(crate) fn parse_params(query: &str, latest_ledger: u32) -> Result<Params, Value> {
    let raw: RawParams = web::Query::<RawParams>::from_query(query)
        .map_err(|e| json::bad_request("query", &e.to_string()))?
        .into_inner();
    let bad = json::bad_request;
    let cursor = match raw.cursor.as_deref() {
        None | Some("") => None,
        // Everything up to now: the next record will be in a later ledger.
        Some("now") => Some(toid(latest_ledger + 1, 0, 0) - 1),
        Some(text) => Some(
            text.parse::<i64>()
                .ok()
                .filter(|c| *c >= 0)
                .ok_or_else(|| bad("cursor", "cursor must be a positive integer or `now`"))?,
        ),
    };
    let order = match raw.order.as_deref() {
        None | Some("") | Some("asc") => Order::Asc,
        Some("desc") => Order::Desc,
        Some(_) => return Err(bad("order", "order must be `asc` or `desc`")),
    };
    let limit = match raw.limit.as_deref() {
        None | Some("") => 10,
        Some(text) => text
            .parse::<usize>()
            .ok()
            .filter(|l| (1..=200).contains(l))
            .ok_or_else(|| bad("limit", "limit must be between 1 and 200"))?,
    };
    let include_failed = match raw.include_failed.as_deref() {
        None | Some("") | Some("false") => false,
        Some("true") => true,
        Some(_) => {
            return Err(bad(
                "include_failed",
                "include_failed must be true or false",
            ));
        }
    };
    let join = match raw.join.as_deref() {
        None | Some("") => false,
        Some("transactions") => true,
        Some(_) => return Err(bad("join", "join must be `transactions`")),
    };
    Ok(Params {
        cursor,
        order,
        limit,
        include_failed,
        join,
    })
}

/// Up to `params.limit` records of `collection` after `params.cursor`: (paging token, JSON).
/// `None` when the collection's owner (a transaction) does not exist.
pub(crate) fn fetch(
    ledger: &Ledger,
    base: &str,
    collection: &Collection,
    params: &Params,
) -> Option<Vec<(i64, Value)>> {
    let history = ledger.history();
    let network = ledger.network();
    let op_json = |index: &u32| {
        let op = &history.operations[*index as usize];
        let tx = history.transaction_of(op);
        (op.id, json::operation(base, network, op, tx, params.join))
    };
    let keep = |index: &&u32| {
        params.include_failed
            || history
                .transaction_of(&history.operations[**index as usize])
                .successful
    };
    let op_key = |index: &u32| history.operations[*index as usize].id;
    let records = match collection {
        Collection::Payments(account) => {
            let indexes: &[u32] = match account {
                None => &history.payments,
                Some(id) => history.account_payments.get(id).map_or(&[], Vec::as_slice),
            };
            after(indexes, op_key, params.cursor, params.order)
                .filter(keep)
                .take(params.limit)
                .map(op_json)
                .collect()
        }
        Collection::Operations => {
            let ops = &history.operations;
            after(ops, |o| o.id, params.cursor, params.order)
                .filter(|o| params.include_failed || history.transaction_of(o).successful)
                .take(params.limit)
                .map(|op| {
                    let tx = history.transaction_of(op);
                    (op.id, json::operation(base, network, op, tx, params.join))
                })
                .collect()
        }
        Collection::TransactionOperations(hash) => {
            let index = *history.by_hash.get(hash)?;
            let (first, count) = history.tx_ops[index];
            let ops = &history.operations[first as usize..(first + count) as usize];
            after(ops, |o| o.id, params.cursor, params.order)
                .take(params.limit)
                .map(|op| {
                    let tx = history.transaction_of(op);
                    (op.id, json::operation(base, network, op, tx, params.join))
                })
                .collect()
        }
        Collection::AccountOperations(id) => {
            let indexes = history
                .account_operations
                .get(id)
                .map_or(&[][..], Vec::as_slice);
            after(indexes, op_key, params.cursor, params.order)
                .filter(keep)
                .take(params.limit)
                .map(op_json)
                .collect()
        }
        Collection::AccountTransactions(id) => {
            let indexes = history
                .account_transactions
                .get(id)
                .map_or(&[][..], Vec::as_slice);
            let tx_key = |i: &u32| history.transactions[*i as usize].paging_token();
            after(indexes, tx_key, params.cursor, params.order)
                .map(|i| &history.transactions[*i as usize])
                .filter(|tx| params.include_failed || tx.successful)
                .take(params.limit)
                .map(|tx| (tx.paging_token(), json::transaction(base, network, tx)))
                .collect()
        }
        Collection::Transactions => after(
            &history.transactions,
            crate::history::TxRecord::paging_token,
            params.cursor,
            params.order,
        )
        .filter(|tx| params.include_failed || tx.successful)
        .take(params.limit)
        .map(|tx| (tx.paging_token(), json::transaction(base, network, tx)))
        .collect(),
        Collection::Ledgers => after(
            &history.ledgers,
            |l| i64::from(l.sequence) << 32,
            params.cursor,
            params.order,
        )
        .take(params.limit)
        .map(|l| (i64::from(l.sequence) << 32, json::ledger(base, l)))
        .collect(),
    };
    Some(records)
}
