//! From one Horizon payments record to one `received_payment` row: what was received, by
//! whom, with which memo and route, and whether it is ours to deliver.
//!
//! Records are read into [`Record`], which borrows its text from the stream's buffer and
//! skips every field the listener does not use (the embedded transaction's envelope above
//! all). Pure functions, so that every kind of record (and every malformed one) is unit-tested
//! without a network. Nothing here drops a record: whatever cannot be read becomes a row with
//! status `unparseable` and the reason in `last_error`.

use std::borrow::Cow;

use horizon::{PaymentRecord, TransactionRecord};
use serde::{Deserialize, Serialize};
use stellar_base::xdr::{
    AccountMergeResult, InnerTransactionResultResult, Limits, OperationResult, OperationResultTr,
    ReadXdr, TransactionResult, TransactionResultResult,
};
use stellar_base::{Amount, Asset, PublicKey};

use super::store::{NewReceived, ReceivedStatus};

/// A JSON string (or number: muxed ids are u64 and some servers send them as numbers),
/// borrowed from the input when it has no escapes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Text<'a>(pub Cow<'a, str>);

impl Text<'_> {
    fn as_str(&self) -> &str {
        &self.0
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = Text<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a string or an unsigned integer")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Text(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Text(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
                Ok(Text(Cow::Owned(v)))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
                Ok(Text(Cow::Owned(v.to_string())))
            }
        }
        d.deserialize_any(Visit)
    }
}

fn yes() -> bool {
    true
}

/// `transaction_successful`: a boolean, `true` when absent or null.
fn successful<'de, D: serde::Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    Ok(Option::<bool>::deserialize(d)?.unwrap_or(true))
}

/// One record of `/accounts/{id}/payments?join=transactions`: the fields the listener uses,
/// borrowed from the event's text. Unknown fields (links, the envelope…) are skipped.
/// Serializes (without the transaction) to the JSON stored as the row's `raw`.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Record<'a> {
    /// Operation id.
    #[serde(borrow)]
    pub id: Text<'a>,
    /// Paging token.
    #[serde(borrow)]
    pub paging_token: Text<'a>,
    /// Operation type.
    #[serde(borrow, rename = "type")]
    pub kind: Text<'a>,
    /// Transaction hash.
    #[serde(borrow)]
    pub transaction_hash: Text<'a>,
    /// Whether the transaction succeeded.
    #[serde(default = "yes", deserialize_with = "successful")]
    pub transaction_successful: bool,
    /// The operation's source account.
    #[serde(borrow)]
    pub source_account: Text<'a>,
    /// Payments: the sender.
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    pub from: Option<Text<'a>>,
    /// Payments: the destination.
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    pub to: Option<Text<'a>>,
    /// Payments to a muxed account: the `M…` address.
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    pub to_muxed: Option<Text<'a>>,
    /// Payments to a muxed account: the muxed id.
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    pub to_muxed_id: Option<Text<'a>>,
    /// Payments: the amount received.
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    pub amount: Option<Text<'a>>,
    /// Payments: the asset type.
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    pub asset_type: Option<Text<'a>>,
    /// Payments: the asset code.
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    pub asset_code: Option<Text<'a>>,
    /// Payments: the asset issuer.
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    pub asset_issuer: Option<Text<'a>>,
    /// create_account: the new account; account_merge: the merged account.
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    pub account: Option<Text<'a>>,
    /// create_account: the funder.
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    pub funder: Option<Text<'a>>,
    /// create_account: the starting balance.
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    pub starting_balance: Option<Text<'a>>,
    /// account_merge: the account merged into.
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    pub into: Option<Text<'a>>,
    /// When its ledger closed.
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<Text<'a>>,
    /// The embedded transaction (`join=transactions`).
    #[serde(borrow, default, skip_serializing)]
    pub transaction: Option<Tx<'a>>,
}

/// What the listener reads of an embedded transaction.
#[derive(Debug, Clone, Deserialize)]
pub struct Tx<'a> {
    /// `none`, `text`, `id`, `hash` or `return`.
    #[serde(borrow)]
    pub memo_type: Text<'a>,
    /// The memo as Horizon shows it.
    #[serde(borrow, default)]
    pub memo: Option<Text<'a>>,
    /// The `TransactionResult` (base64 XDR): account merge amounts.
    #[serde(borrow, default)]
    pub result_xdr: Option<Text<'a>>,
}

impl<'a> Tx<'a> {
    /// The part of Horizon's transaction record the listener reads.
    pub fn from_horizon(tx: &'a TransactionRecord) -> Self {
        Self {
            memo_type: Text(Cow::Borrowed(&tx.memo_type)),
            memo: tx.memo.as_deref().map(|m| Text(Cow::Borrowed(m))),
            result_xdr: Some(Text(Cow::Borrowed(&tx.result_xdr))),
        }
    }
}

impl<'a> Record<'a> {
    /// Decodes one event's data.
    ///
    /// # Errors
    /// When it is not a payments record (then see [`describe_unreadable`]).
    pub fn from_slice(data: &'a [u8]) -> Result<Self, serde_json::Error> {
        serde_json::from_slice(data)
    }

    /// The same fields, read from the Horizon client's record.
    pub fn from_horizon(record: &'a PaymentRecord) -> Self {
        let text = |s: &'a String| Text(Cow::Borrowed(s.as_str()));
        let opt = |s: &'a Option<String>| s.as_ref().map(text);
        Self {
            id: text(&record.id),
            paging_token: text(&record.paging_token),
            kind: text(&record.kind),
            transaction_hash: text(&record.transaction_hash),
            transaction_successful: record.transaction_successful,
            source_account: text(&record.source_account),
            from: opt(&record.from),
            to: opt(&record.to),
            to_muxed: opt(&record.to_muxed),
            to_muxed_id: opt(&record.to_muxed_id),
            amount: opt(&record.amount),
            asset_type: opt(&record.asset_type),
            asset_code: opt(&record.asset_code),
            asset_issuer: opt(&record.asset_issuer),
            account: opt(&record.account),
            funder: opt(&record.funder),
            starting_balance: opt(&record.starting_balance),
            into: opt(&record.into),
            created_at: opt(&record.created_at),
            transaction: record.transaction.as_ref().map(Tx::from_horizon),
        }
    }

    /// The asset received (payments), or `None` when the record has no readable asset.
    fn asset(&self) -> Option<Asset> {
        fn text<'b>(t: &'b Option<Text<'_>>) -> Option<&'b str> {
            t.as_ref().map(Text::as_str)
        }
        match text(&self.asset_type)? {
            "native" => Some(Asset::Native),
            _ => {
                let issuer = text(&self.asset_issuer)?.parse().ok()?;
                Asset::credit(text(&self.asset_code)?, issuer).ok()
            }
        }
    }
}

/// Why `data` (an event that [`Record::from_slice`] rejected) cannot be read, and what can
/// still be read of it: (operation id, paging token, transaction hash, type), as far as known.
/// The message names the field, as the Horizon client's decoder does.
pub fn describe_unreadable(data: &[u8], error: &serde_json::Error) -> Unreadable {
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(data) else {
        return Unreadable {
            why: format!("not JSON: {error}"),
            ..Unreadable::default()
        };
    };
    let text = |name: &str| value.get(name).and_then(|v| v.as_str()).map(str::to_owned);
    let why = match PaymentRecord::from_json(value.clone()) {
        Err(e) => e.to_string(),
        Ok(_) => error.to_string(),
    };
    Unreadable {
        id: text("id"),
        paging_token: text("paging_token"),
        transaction_hash: text("transaction_hash"),
        kind: text("type"),
        why,
    }
}

/// What is known of a record that cannot be read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Unreadable {
    /// Operation id.
    pub id: Option<String>,
    /// Paging token.
    pub paging_token: Option<String>,
    /// Transaction hash.
    pub transaction_hash: Option<String>,
    /// Operation type.
    pub kind: Option<String>,
    /// Why it cannot be read.
    pub why: String,
}

/// Turns a record of `account`'s payments stream into a row. `allowed` is `[[assets]]`.
pub fn classify(record: &Record<'_>, account: &PublicKey, allowed: &[Asset]) -> NewReceived {
    let text = |t: &Option<Text<'_>>| t.as_ref().map(|t| t.as_str().to_owned());
    let mut row = NewReceived {
        operation_id: record.id.as_str().to_owned(),
        paging_token: record.paging_token.as_str().to_owned(),
        status: ReceivedStatus::Pending,
        transaction_id: record.transaction_hash.as_str().to_owned(),
        account: account.to_string(),
        kind: record.kind.as_str().to_owned(),
        raw: serde_json::to_string(record).unwrap_or_default(),
        to_muxed_id: text(&record.to_muxed_id),
        ..NewReceived::default()
    };
    if let Some(tx) = &record.transaction {
        row.memo_type = Some(tx.memo_type.as_str().to_owned());
        row.memo = text(&tx.memo);
    }
    match read(record, account) {
        Ok(read) => {
            row.from = Some(read.from);
            row.amount = read.amount.map(|a| a.to_string());
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
                    ReceivedStatus::TransactionFailed,
                    "the transaction failed".to_owned(),
                )
            } else if !read.to_us {
                (
                    ReceivedStatus::Outgoing,
                    format!("not received by the watched account (to {})", read.to),
                )
            } else if !allowed.contains(&read.asset) {
                (
                    ReceivedStatus::AssetNotAllowed,
                    format!("asset {} is not in [[assets]]", read.asset),
                )
            } else {
                (ReceivedStatus::Pending, String::new())
            };
            row.status = status;
            row.last_error = (!why.is_empty()).then_some(why);
        }
        Err(Unparsed::NotAPayment) => {
            row.status = ReceivedStatus::NotAPayment;
            row.last_error = Some(format!(
                "operation type {} moves no payment",
                record.kind.as_str()
            ));
        }
        Err(Unparsed::Malformed(why)) => {
            row.status = ReceivedStatus::Unparseable;
            row.last_error = Some(why);
        }
    }
    // Deliverable, but not before the memo (and a merge's amount) is known: the delivery
    // worker reads the transaction first ([`with_transaction`]) and never delivers without.
    if row.status == ReceivedStatus::Pending && record.transaction.is_none() {
        row.last_error = Some(MEMO_UNKNOWN.into());
    }
    row.route = initial_route(
        row.memo_type.as_deref(),
        row.memo.as_deref(),
        row.to_muxed_id.as_deref(),
    );
    row
}

/// `last_error` of a payment recorded without its transaction.
pub const MEMO_UNKNOWN: &str =
    "memo not read yet: Horizon did not give the transaction; it is read before delivery";

/// The row for a stored record (`raw`, as [`classify`] wrote it) once its transaction has been
/// read from Horizon: memo, route and (for a merge) amount filled in.
///
/// # Errors
/// When `raw` is not a record this listener stored (an `unparseable` event).
pub fn with_transaction(
    raw: &str,
    transaction: &TransactionRecord,
    account: &PublicKey,
    allowed: &[Asset],
) -> Result<NewReceived, String> {
    let mut record = Record::from_slice(raw.as_bytes())
        .map_err(|e| format!("the stored Horizon record cannot be read: {e}"))?;
    record.transaction = Some(Tx::from_horizon(transaction));
    Ok(classify(&record, account, allowed))
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
    to_us: bool,
    /// `None` only for a merge whose transaction is not known yet.
    amount: Option<Amount>,
    asset: Asset,
}

enum Unparsed {
    NotAPayment,
    Malformed(String),
}

fn read(record: &Record<'_>, us: &PublicKey) -> Result<Read, Unparsed> {
    let kind = record.kind.as_str();
    let missing = |field: &str| Unparsed::Malformed(format!("{kind} without `{field}`"));
    let amount = |text: &Option<Text<'_>>, field: &str| {
        text.as_ref()
            .ok_or_else(|| missing(field))?
            .as_str()
            .parse::<Amount>()
            .map_err(|e| Unparsed::Malformed(format!("`{field}`: {e}")))
    };
    let account = |text: &Option<Text<'_>>, field: &str| {
        let text = text.as_ref().ok_or_else(|| missing(field))?.as_str();
        text.parse::<PublicKey>()
            .map(|key| (text.to_owned(), key))
            .map_err(|_| Unparsed::Malformed(format!("`{field}` is not an account: {text:?}")))
    };
    let (from, (to, to_key), amount, asset) = match kind {
        "payment" | "path_payment_strict_receive" | "path_payment_strict_send" => (
            account(&record.from, "from")?,
            account(&record.to, "to")?,
            Some(amount(&record.amount, "amount")?),
            record
                .asset()
                .ok_or_else(|| Unparsed::Malformed("unreadable asset".into()))?,
        ),
        "create_account" => (
            account(&record.funder, "funder")?,
            account(&record.account, "account")?,
            Some(amount(&record.starting_balance, "starting_balance")?),
            Asset::Native,
        ),
        "account_merge" => (
            account(&record.account, "account")?,
            account(&record.into, "into")?,
            match record.transaction {
                None => None,
                Some(_) => Some(merged_amount(record).map_err(Unparsed::Malformed)?),
            },
            Asset::Native,
        ),
        _ => return Err(Unparsed::NotAPayment),
    };
    Ok(Read {
        from: from.0,
        to_us: to_key == *us,
        to,
        amount,
        asset,
    })
}

/// An account merge's amount: Horizon's record lacks it (legacy read the `account_credited`
/// effect). It is the operation's `AccountMergeResult::Success` in the transaction's result,
/// which `join=transactions` embeds; the operation's index is the low 12 bits of its id
/// (Horizon's TOID), counted from 1.
fn merged_amount(record: &Record<'_>) -> Result<Amount, String> {
    let result_xdr = record
        .transaction
        .as_ref()
        .ok_or("account_merge without embedded transaction: amount unknown")?
        .result_xdr
        .as_ref()
        .ok_or("account_merge: the embedded transaction has no result_xdr")?;
    let id: i64 = record
        .id
        .as_str()
        .parse()
        .map_err(|_| format!("operation id {:?} is not a TOID", record.id.as_str()))?;
    let index = usize::try_from((id & 0xFFF) - 1).map_err(|_| "operation index 0")?;
    let result = TransactionResult::from_xdr_base64(result_xdr.as_str(), Limits::len(64 * 1024))
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

    /// Classifies `raw` read as the stream reads it, and checks that the Horizon client's
    /// view of the same record gives the same row.
    fn read_row(raw: &serde_json::Value, me: &PublicKey, allowed: &[Asset]) -> NewReceived {
        let text = raw.to_string();
        let record = Record::from_slice(text.as_bytes()).unwrap();
        let row = classify(&record, me, allowed);
        let horizon = PaymentRecord::from_json(raw.clone()).unwrap();
        assert_eq!(classify(&Record::from_horizon(&horizon), me, allowed), row);
        row
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
        let row = read_row(&base, &me, std::slice::from_ref(&usd));
        assert_eq!(row.status, ReceivedStatus::Pending);
        assert_eq!(row.route.as_deref(), Some("alice"));
        assert_eq!(row.amount.as_deref(), Some("1.5000000"));
        assert_eq!(row.from, Some(other.to_string()));
        let row = read_row(&base, &other, std::slice::from_ref(&usd));
        assert_eq!(row.status, ReceivedStatus::Outgoing);
        let row = read_row(&base, &me, &[Asset::Native]);
        assert_eq!(row.status, ReceivedStatus::AssetNotAllowed);
        let mut failed = base.clone();
        failed["transaction_successful"] = json!(false);
        assert_eq!(
            read_row(&failed, &me, std::slice::from_ref(&usd)).status,
            ReceivedStatus::TransactionFailed
        );
        let mut broken = base.clone();
        broken["amount"] = json!("1e5");
        let row = read_row(&broken, &me, std::slice::from_ref(&usd));
        assert_eq!(row.status, ReceivedStatus::Unparseable);
        assert!(row.last_error.unwrap().contains("amount"));
        let mut muxed = base;
        muxed["to_muxed_id"] = json!("77");
        muxed["transaction"] = tx("none", None, "");
        let row = read_row(&muxed, &me, &[usd]);
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
        let row = read_row(&raw, &me, &[Asset::Native]);
        assert_eq!(row.status, ReceivedStatus::Pending, "{:?}", row.last_error);
        assert_eq!(row.amount.as_deref(), Some("9.9999500"));
        assert_eq!(row.asset_code.as_deref(), Some("XLM"));
        assert_eq!(row.route.as_deref(), Some("42"));
        let mut no_result = raw;
        no_result["transaction"] = tx("id", Some("42"), "AAAA");
        assert_eq!(
            read_row(&no_result, &me, &[Asset::Native]).status,
            ReceivedStatus::Unparseable
        );
    }

    #[test]
    fn escapes_numbers_and_what_is_skipped() {
        let (me, other) = (
            KeyPair::random().public_key(),
            KeyPair::random().public_key(),
        );
        let mut tx = tx("text", Some("café \"1\""), "");
        tx["envelope_xdr"] = json!("A".repeat(20_000));
        let raw = json!({"id": "5", "paging_token": "5", "type": "payment",
            "transaction_hash": "ab", "source_account": other.to_string(),
            "from": other.to_string(), "to": me.to_string(), "to_muxed_id": 18446744073709551615u64,
            "amount": "2.0000000", "asset_type": "native", "transaction_successful": null,
            "_links": {"self": {"href": "http://h/operations/5"}}, "transaction": tx});
        let row = read_row(&raw, &me, &[Asset::Native]);
        assert_eq!(row.status, ReceivedStatus::Pending, "{:?}", row.last_error);
        assert_eq!(row.memo.as_deref(), Some("café \"1\""));
        assert_eq!(row.to_muxed_id.as_deref(), Some("18446744073709551615"));
        // The stored record: what was read, without the transaction and the links.
        let stored: serde_json::Value = serde_json::from_str(&row.raw).unwrap();
        assert_eq!(stored["amount"], "2.0000000");
        assert!(stored.get("transaction").is_none() && stored.get("_links").is_none());
        assert!(row.raw.len() < 1_000, "{}", row.raw);
    }

    #[test]
    fn without_its_transaction_a_payment_waits_for_its_memo() {
        let (me, other) = (
            KeyPair::random().public_key(),
            KeyPair::random().public_key(),
        );
        let raw = json!({"id": "5", "paging_token": "5", "type": "payment",
            "transaction_hash": "ab", "transaction_successful": true,
            "source_account": other.to_string(), "from": other.to_string(),
            "to": me.to_string(), "amount": "2.0000000", "asset_type": "native"});
        let row = read_row(&raw, &me, &[Asset::Native]);
        assert_eq!(row.status, ReceivedStatus::Pending);
        assert_eq!((row.memo_type, row.memo, row.route), (None, None, None));
        assert_eq!(row.last_error.as_deref(), Some(MEMO_UNKNOWN));
        // Once the transaction is read, the stored record gives the full row.
        let horizon: TransactionRecord =
            serde_json::from_value(tx("text", Some("alice"), "")).unwrap();
        let full = with_transaction(&row.raw, &horizon, &me, &[Asset::Native]).unwrap();
        assert_eq!(full.status, ReceivedStatus::Pending);
        assert_eq!(full.memo.as_deref(), Some("alice"));
        assert_eq!(full.route.as_deref(), Some("alice"));
        assert_eq!(full.amount.as_deref(), Some("2.0000000"));
        assert_eq!(full.last_error, None);
        // What was never a record cannot be completed.
        assert!(with_transaction(r#"{"type":3}"#, &horizon, &me, &[Asset::Native]).is_err());

        // A merge's amount is in the transaction's result: unknown until it is read.
        let merge = json!({"id": "12884905985", "paging_token": "12884905985",
            "type": "account_merge", "transaction_hash": "ab", "transaction_successful": true,
            "source_account": other.to_string(), "account": other.to_string(),
            "into": me.to_string()});
        let row = read_row(&merge, &me, &[Asset::Native]);
        assert_eq!((row.status, row.amount), (ReceivedStatus::Pending, None));
        let ops: VecM<OperationResult> = vec![OperationResult::OpInner(
            OperationResultTr::AccountMerge(AccountMergeResult::Success(30_000_000)),
        )]
        .try_into()
        .unwrap();
        let result = TransactionResult {
            fee_charged: 100,
            result: TransactionResultResult::TxSuccess(ops),
            ext: TransactionResultExt::V0,
        };
        let xdr = result.to_xdr_base64(Limits::none()).unwrap();
        let horizon: TransactionRecord = serde_json::from_value(tx("id", Some("9"), &xdr)).unwrap();
        let full = with_transaction(&row.raw, &horizon, &me, &[Asset::Native]).unwrap();
        assert_eq!(full.amount.as_deref(), Some("3.0000000"));
        assert_eq!(full.route.as_deref(), Some("9"));
    }

    #[test]
    fn unreadable_records_say_why_and_what_is_known() {
        let data = br#"{"id":"8589938689","paging_token":"8589938689","type":3}"#;
        let error = Record::from_slice(data).unwrap_err();
        let info = describe_unreadable(data, &error);
        assert_eq!(info.id.as_deref(), Some("8589938689"));
        assert_eq!(info.paging_token.as_deref(), Some("8589938689"));
        assert_eq!(info.kind, None);
        assert!(info.why.contains("`type`"), "{}", info.why);
        let error = Record::from_slice(b"{nope").unwrap_err();
        let info = describe_unreadable(b"{nope", &error);
        assert_eq!(info.id, None);
        assert!(info.why.starts_with("not JSON"), "{}", info.why);
    }
}
