//! From one Horizon payments record to one `received_payment` row: what was received, by
//! whom, with which memo and route, and whether it is ours to deliver.
//!
//! Pure functions, so that every kind of record (and every malformed one) is unit-tested
//! without a network. Nothing here drops a record: whatever cannot be read becomes a row with
//! status `unparseable` and the reason in `last_error`.

use horizon::PaymentRecord;
use stellar_base::xdr::{
    AccountMergeResult, InnerTransactionResultResult, Limits, OperationResult, OperationResultTr,
    ReadXdr, TransactionResult, TransactionResultResult,
};
use stellar_base::{Amount, Asset, PublicKey};

use super::store::{NewReceived, status};

/// Turns a record of `account`'s payments stream into a row. `allowed` is `[[assets]]`.
pub fn classify(record: &PaymentRecord, account: &PublicKey, allowed: &[Asset]) -> NewReceived {
    let mut row = NewReceived {
        operation_id: record.id.clone(),
        paging_token: record.paging_token.clone(),
        status: status::PENDING,
        transaction_id: record.transaction_hash.clone(),
        account: account.to_string(),
        kind: record.kind.clone(),
        raw: without_transaction(&record.raw),
        to_muxed_id: record.to_muxed_id.clone(),
        ..NewReceived::default()
    };
    if let Some(tx) = &record.transaction {
        row.memo_type = Some(tx.memo_type.clone());
        row.memo = tx.memo.clone();
    }
    match read(record) {
        Ok(read) => {
            row.from = Some(read.from);
            row.amount = Some(read.amount.to_string());
            let (code, issuer) = match &read.asset {
                Asset::Native => ("XLM".to_owned(), String::new()),
                other => (
                    other.code().unwrap_or_default().to_owned(),
                    other.issuer().map(|i| i.to_string()).unwrap_or_default(),
                ),
            };
            row.asset_code = Some(code);
            row.asset_issuer = Some(issuer);
            let (status, why) = if !record.transaction_successful {
                (
                    status::TRANSACTION_FAILED,
                    "the transaction failed".to_owned(),
                )
            } else if read.to != account.to_string() {
                (
                    status::OUTGOING,
                    format!("not received by the watched account (to {})", read.to),
                )
            } else if !allowed.contains(&read.asset) {
                (
                    status::ASSET_NOT_ALLOWED,
                    format!("asset {} is not in [[assets]]", read.asset),
                )
            } else {
                (status::PENDING, String::new())
            };
            row.status = status;
            row.last_error = (!why.is_empty()).then_some(why);
        }
        Err(Unreadable::NotAPayment) => {
            row.status = status::NOT_A_PAYMENT;
            row.last_error = Some(format!("operation type {} moves no payment", record.kind));
        }
        Err(Unreadable::Malformed(why)) => {
            row.status = status::UNPARSEABLE;
            row.last_error = Some(why);
        }
    }
    if row.status == status::PENDING && record.transaction.is_none() {
        row.status = status::UNPARSEABLE;
        row.last_error = Some("the record has no embedded transaction (memo unknown)".into());
    }
    row.route = initial_route(
        row.memo_type.as_deref(),
        row.memo.as_deref(),
        row.to_muxed_id.as_deref(),
    );
    row
}

/// The record as Horizon sent it, minus the embedded transaction (its memo is kept in
/// columns; its envelope would multiply the row's size by the number of operations).
fn without_transaction(raw: &serde_json::Value) -> String {
    match raw {
        serde_json::Value::Object(map) if map.contains_key("transaction") => {
            let mut map = map.clone();
            map.remove("transaction");
            serde_json::Value::Object(map).to_string()
        }
        other => other.to_string(),
    }
}

/// The route known without compliance: a text or id memo, else the muxed id. A hash memo's
/// route comes from the compliance attachment at delivery.
pub fn initial_route(
    memo_type: Option<&str>,
    memo: Option<&str>,
    muxed_id: Option<&str>,
) -> Option<String> {
    match (memo_type, memo) {
        (Some("text" | "id"), Some(memo)) => Some(memo.to_owned()),
        (Some("hash" | "return"), _) => None,
        _ => muxed_id.map(str::to_owned),
    }
}

/// The money side of a record.
struct Read {
    from: String,
    to: String,
    amount: Amount,
    asset: Asset,
}

enum Unreadable {
    NotAPayment,
    Malformed(String),
}

fn read(record: &PaymentRecord) -> Result<Read, Unreadable> {
    let missing = |field: &str| Unreadable::Malformed(format!("{} without `{field}`", record.kind));
    let amount = |text: Option<&String>, field: &str| {
        text.ok_or_else(|| missing(field))?
            .parse::<Amount>()
            .map_err(|e| Unreadable::Malformed(format!("`{field}`: {e}")))
    };
    let account = |text: Option<&String>, field: &str| {
        let text = text.ok_or_else(|| missing(field))?;
        text.parse::<PublicKey>()
            .map(|k| k.to_string())
            .map_err(|_| Unreadable::Malformed(format!("`{field}` is not an account: {text:?}")))
    };
    match record.kind.as_str() {
        "payment" | "path_payment_strict_receive" | "path_payment_strict_send" => Ok(Read {
            from: account(record.from.as_ref(), "from")?,
            to: account(record.to.as_ref(), "to")?,
            amount: amount(record.amount.as_ref(), "amount")?,
            asset: record
                .asset()
                .ok_or_else(|| Unreadable::Malformed("unreadable asset".into()))?,
        }),
        "create_account" => Ok(Read {
            from: account(record.funder.as_ref(), "funder")?,
            to: account(record.account.as_ref(), "account")?,
            amount: amount(record.starting_balance.as_ref(), "starting_balance")?,
            asset: Asset::Native,
        }),
        "account_merge" => Ok(Read {
            from: account(record.account.as_ref(), "account")?,
            to: account(record.into.as_ref(), "into")?,
            amount: merged_amount(record).map_err(Unreadable::Malformed)?,
            asset: Asset::Native,
        }),
        _ => Err(Unreadable::NotAPayment),
    }
}

/// An account merge's amount: Horizon's record lacks it (legacy read the `account_credited`
/// effect). It is the operation's `AccountMergeResult::Success` in the transaction's result,
/// which `join=transactions` embeds; the operation's index is the low 12 bits of its id
/// (Horizon's TOID), counted from 1.
fn merged_amount(record: &PaymentRecord) -> Result<Amount, String> {
    let tx = record
        .transaction
        .as_ref()
        .ok_or("account_merge without embedded transaction: amount unknown")?;
    let id: i64 = record
        .id
        .parse()
        .map_err(|_| format!("operation id {:?} is not a TOID", record.id))?;
    let index = usize::try_from((id & 0xFFF) - 1).map_err(|_| "operation index 0")?;
    let result = TransactionResult::from_xdr_base64(&tx.result_xdr, Limits::len(64 * 1024))
        .map_err(|e| format!("result_xdr: {e}"))?;
    let results: &[OperationResult] = match &result.result {
        TransactionResultResult::TxSuccess(ops) | TransactionResultResult::TxFailed(ops) => ops,
        TransactionResultResult::TxFeeBumpInnerSuccess(inner)
        | TransactionResultResult::TxFeeBumpInnerFailed(inner) => match &inner.result.result {
            InnerTransactionResultResult::TxSuccess(ops)
            | InnerTransactionResultResult::TxFailed(ops) => ops,
            _ => return Err("inner transaction has no operation results".into()),
        },
        _ => return Err("transaction has no operation results".into()),
    };
    match results.get(index) {
        Some(OperationResult::OpInner(OperationResultTr::AccountMerge(
            AccountMergeResult::Success(stroops),
        ))) => Amount::from_stroops(*stroops).map_err(|e| e.to_string()),
        _ => Err(format!(
            "operation {index} of the result is not a successful merge"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use stellar_base::KeyPair;
    use stellar_base::xdr::{TransactionResultExt, VecM, WriteXdr};

    fn record(raw: serde_json::Value) -> PaymentRecord {
        PaymentRecord::from_json(raw).unwrap()
    }

    fn tx(memo_type: &str, memo: Option<&str>, result_xdr: &str) -> serde_json::Value {
        json!({"id": "ab", "hash": "ab", "ledger": 3, "successful": true, "memo_type": memo_type,
               "memo": memo, "envelope_xdr": "", "result_xdr": result_xdr, "fee_charged": "100",
               "created_at": "2026-01-01T00:00:00Z", "paging_token": "1", "source_account": "GA"})
    }

    #[test]
    fn incoming_outgoing_and_assets() {
        let (me, other) = (
            KeyPair::random().public_key(),
            KeyPair::random().public_key(),
        );
        let issuer = KeyPair::random().public_key();
        let usd = Asset::credit("USD", issuer).unwrap();
        let base = json!({"id": "12884905985", "paging_token": "12884905985", "type": "payment",
            "transaction_hash": "ab", "transaction_successful": true,
            "source_account": other.to_string(), "from": other.to_string(),
            "to": me.to_string(), "amount": "1.5000000", "asset_type": "credit_alphanum4",
            "asset_code": "USD", "asset_issuer": issuer.to_string(),
            "transaction": tx("text", Some("alice"), "")});
        let row = classify(&record(base.clone()), &me, std::slice::from_ref(&usd));
        assert_eq!(row.status, status::PENDING);
        assert_eq!(row.route.as_deref(), Some("alice"));
        assert_eq!(row.amount.as_deref(), Some("1.5000000"));
        assert_eq!(row.from, Some(other.to_string()));
        let row = classify(&record(base.clone()), &other, std::slice::from_ref(&usd));
        assert_eq!(row.status, status::OUTGOING);
        let row = classify(&record(base.clone()), &me, &[Asset::Native]);
        assert_eq!(row.status, status::ASSET_NOT_ALLOWED);
        let mut failed = base.clone();
        failed["transaction_successful"] = json!(false);
        assert_eq!(
            classify(&record(failed), &me, std::slice::from_ref(&usd)).status,
            status::TRANSACTION_FAILED
        );
        let mut broken = base.clone();
        broken["amount"] = json!("1e5");
        let row = classify(&record(broken), &me, std::slice::from_ref(&usd));
        assert_eq!(row.status, status::UNPARSEABLE);
        assert!(row.last_error.unwrap().contains("amount"));
        let mut muxed = base;
        muxed["to_muxed_id"] = json!("77");
        muxed["transaction"] = tx("none", None, "");
        let row = classify(&record(muxed), &me, &[usd]);
        assert_eq!(row.route.as_deref(), Some("77"));
    }

    #[test]
    fn account_merge_amount_from_the_result() {
        let (me, gone) = (
            KeyPair::random().public_key(),
            KeyPair::random().public_key(),
        );
        let ops: VecM<OperationResult> = vec![
            OperationResult::OpInner(OperationResultTr::AccountMerge(
                AccountMergeResult::Success(10),
            )),
            OperationResult::OpInner(OperationResultTr::AccountMerge(
                AccountMergeResult::Success(99_999_500),
            )),
        ]
        .try_into()
        .unwrap();
        let result = TransactionResult {
            fee_charged: 100,
            result: TransactionResultResult::TxSuccess(ops),
            ext: TransactionResultExt::V0,
        };
        let xdr = result.to_xdr_base64(Limits::none()).unwrap();
        let raw = json!({"id": "12884905986", "paging_token": "12884905986",
            "type": "account_merge", "transaction_hash": "ab", "transaction_successful": true,
            "source_account": gone.to_string(), "account": gone.to_string(),
            "into": me.to_string(), "transaction": tx("id", Some("42"), &xdr)});
        let row = classify(&record(raw.clone()), &me, &[Asset::Native]);
        assert_eq!(row.status, status::PENDING, "{:?}", row.last_error);
        assert_eq!(row.amount.as_deref(), Some("9.9999500"));
        assert_eq!(row.asset_code.as_deref(), Some("XLM"));
        assert_eq!(row.route.as_deref(), Some("42"));
        let mut no_result = raw;
        no_result["transaction"] = tx("id", Some("42"), "AAAA");
        assert_eq!(
            classify(&record(no_result), &me, &[Asset::Native]).status,
            status::UNPARSEABLE
        );
    }
}
