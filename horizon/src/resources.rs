//! Horizon's JSON resources as typed structs, and the query types for collections.
//!
//! This module owns the shapes: which fields are read, how Horizon's string-encoded numbers
//! become integers, and how amounts become exact [`Amount`]s. Fields that this client does not
//! need are ignored (Horizon adds fields over time), except for payments, which also keep the
//! record's raw JSON so that nothing Horizon sends is lost.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;
use stellar_base::{Amount, Asset, PublicKey};

use crate::Error;

/// Accepts a JSON integer or a string holding one (Horizon encodes 64-bit values as strings,
/// and has changed a few fields from one to the other over the years).
fn int_or_string<'de, D: Deserializer<'de>, T>(d: D) -> Result<T, D::Error>
where
    T: TryFrom<i64> + std::str::FromStr,
{
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Int(i64),
        Text(String),
    }
    let invalid = || serde::de::Error::custom("expected an integer or a string holding one");
    match Raw::deserialize(d)? {
        Raw::Int(i) => T::try_from(i).map_err(|_| invalid()),
        Raw::Text(s) => s.parse().map_err(|_| invalid()),
    }
}

/// `GET /`: the server's identity and how far it has ingested.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Root {
    /// The network passphrase; compare it with the configured one before signing anything.
    pub network_passphrase: String,
    /// Latest ledger ingested into Horizon's history.
    pub history_latest_ledger: u32,
    /// Latest ledger known to the Stellar Core node behind Horizon.
    #[serde(default)]
    pub core_latest_ledger: u32,
    /// Horizon's version string.
    #[serde(default)]
    pub horizon_version: String,
    /// Stellar Core's version string.
    #[serde(default)]
    pub core_version: String,
    /// The protocol version of the network.
    #[serde(default)]
    pub current_protocol_version: u32,
}

/// One entry of an account's `balances`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Balance {
    /// `native`, `credit_alphanum4`, `credit_alphanum12` or `liquidity_pool_shares`.
    pub asset_type: String,
    /// The asset code (credit assets only).
    #[serde(default)]
    pub asset_code: Option<String>,
    /// The issuer (credit assets only).
    #[serde(default)]
    pub asset_issuer: Option<String>,
    /// The balance.
    pub balance: Amount,
    /// The trustline's limit (trustlines only).
    #[serde(default)]
    pub limit: Option<Amount>,
    /// Whether the issuer authorized the trustline (trustlines only).
    #[serde(default)]
    pub is_authorized: Option<bool>,
}

impl Balance {
    /// The balance's asset; `None` for liquidity pool shares or an unreadable code/issuer.
    pub fn asset(&self) -> Option<Asset> {
        match self.asset_type.as_str() {
            "native" => Some(Asset::Native),
            "credit_alphanum4" | "credit_alphanum12" => Asset::from_code_and_issuer(
                self.asset_code.as_deref()?,
                self.asset_issuer.as_deref()?,
            )
            .ok(),
            _ => None,
        }
    }
}

/// An account's thresholds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Thresholds {
    /// Low threshold.
    pub low_threshold: u8,
    /// Medium threshold (payments).
    pub med_threshold: u8,
    /// High threshold.
    pub high_threshold: u8,
}

/// An account's flags.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Flags {
    /// Trustlines need the issuer's authorization.
    pub auth_required: bool,
    /// The issuer may revoke authorization.
    pub auth_revocable: bool,
    /// The flags can no longer change.
    pub auth_immutable: bool,
    /// The issuer may claw back.
    pub auth_clawback_enabled: bool,
}

/// One of an account's signers (the master key included).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Signer {
    /// The signer key (a `G…` strkey for ed25519 keys).
    pub key: String,
    /// Its weight.
    pub weight: u32,
    /// `ed25519_public_key`, `sha256_hash`, `preauth_tx`…
    #[serde(rename = "type", default)]
    pub kind: String,
}

/// `GET /accounts/{id}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    /// The account id (`G…`).
    pub id: String,
    /// The current sequence number; the next transaction uses `sequence + 1`.
    #[serde(deserialize_with = "int_or_string")]
    pub sequence: i64,
    /// Native and trustline balances.
    #[serde(default)]
    pub balances: Vec<Balance>,
    /// Trustlines, signers, data entries and offers owned.
    #[serde(default)]
    pub subentry_count: u32,
    /// Thresholds.
    #[serde(default)]
    pub thresholds: Thresholds,
    /// Flags.
    #[serde(default)]
    pub flags: Flags,
    /// Signers, the master key included.
    #[serde(default)]
    pub signers: Vec<Signer>,
    /// The home domain, if set.
    #[serde(default)]
    pub home_domain: Option<String>,
    /// Data entries: name → base64 value.
    #[serde(default)]
    pub data: BTreeMap<String, String>,
}

impl Account {
    /// The balance held in `asset`, if the account holds it (has a trustline for it).
    pub fn balance(&self, asset: &Asset) -> Option<&Balance> {
        self.balances
            .iter()
            .find(|b| b.asset().as_ref() == Some(asset))
    }
}

/// The answer to a successful `POST /transactions`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubmitResponse {
    /// The transaction hash (hex).
    pub hash: String,
    /// The ledger that included it.
    pub ledger: u32,
    /// True: a failed transaction is [`Error::TransactionFailed`]. Older Horizons omit it.
    #[serde(default = "yes")]
    pub successful: bool,
    /// The envelope as applied (base64 XDR).
    pub envelope_xdr: String,
    /// The `TransactionResult` (base64 XDR).
    pub result_xdr: String,
}

fn yes() -> bool {
    true
}

/// `tx_status` in the answer to `POST /transactions_async` (Horizon 2.x), relaying
/// stellar-core's admission.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AsyncStatus {
    /// 201: admitted to the queue; it may be included in a coming ledger (or dropped).
    Pending,
    /// 409: this very transaction is already in the queue.
    Duplicate,
    /// 503: not now (its source already has a transaction queued, the queue is full, or it
    /// was recently dropped): send the same envelope again later.
    TryAgainLater,
    /// 400: invalid; `error_result_xdr` says why. Not applied.
    Error,
}

/// The answer to `POST /transactions_async`, whatever its status (201, 409, 503 or 400).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AsyncSubmitResponse {
    /// What stellar-core said.
    pub tx_status: AsyncStatus,
    /// The transaction hash (hex).
    #[serde(default)]
    pub hash: String,
    /// With [`AsyncStatus::Error`]: the `TransactionResult` (base64 XDR), for
    /// [`crate::ResultCodes::from_result_xdr`].
    #[serde(default)]
    pub error_result_xdr: Option<String>,
}

/// `GET /transactions/{hash}`, also embedded in payments with `join=transactions`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransactionRecord {
    /// Same as `hash`.
    pub id: String,
    /// The transaction hash (hex).
    pub hash: String,
    /// The ledger that included it.
    pub ledger: u32,
    /// False for a transaction that was applied and failed.
    pub successful: bool,
    /// `none`, `text`, `id`, `hash` or `return`.
    pub memo_type: String,
    /// The memo as Horizon shows it: text, a decimal id, or base64 for hash and return.
    #[serde(default)]
    pub memo: Option<String>,
    /// A text memo's exact bytes, base64 (text memos need not be UTF-8).
    #[serde(default)]
    pub memo_bytes: Option<String>,
    /// The envelope (base64 XDR).
    pub envelope_xdr: String,
    /// The `TransactionResult` (base64 XDR).
    pub result_xdr: String,
    /// The fee charged, in stroops.
    #[serde(deserialize_with = "int_or_string")]
    pub fee_charged: i64,
    /// When its ledger closed (`2006-01-02T15:04:05Z`).
    pub created_at: String,
    /// Its paging token.
    pub paging_token: String,
    /// The source account (`G…`).
    pub source_account: String,
}

/// One record of `/payments`: payments, path payments, create_account and account_merge.
///
/// Both a typed view and the raw JSON: fields that do not apply to the record's `kind` are
/// `None`, and whatever else Horizon sent is in `raw`. With serde, a record is its raw JSON:
/// serializing writes `raw`, deserializing goes through [`PaymentRecord::from_json`].
#[derive(Debug, Clone, PartialEq)]
pub struct PaymentRecord {
    /// The operation id.
    pub id: String,
    /// The paging token (the cursor to resume after this record).
    pub paging_token: String,
    /// Horizon's `type`: `payment`, `create_account`, `path_payment_strict_receive`…
    pub kind: String,
    /// The transaction's hash.
    pub transaction_hash: String,
    /// Whether the transaction succeeded (Horizon omits failed ones unless asked).
    pub transaction_successful: bool,
    /// The operation's source account.
    pub source_account: String,
    /// Payments: the sender.
    pub from: Option<String>,
    /// Payments: the destination (`G…`).
    pub to: Option<String>,
    /// Payments to a muxed account: the `M…` address.
    pub to_muxed: Option<String>,
    /// Payments to a muxed account: the muxed id (decimal).
    pub to_muxed_id: Option<String>,
    /// Payments: the amount received (7 decimals); parse with [`Amount`].
    pub amount: Option<String>,
    /// Payments: the asset type received.
    pub asset_type: Option<String>,
    /// Payments: the asset code received.
    pub asset_code: Option<String>,
    /// Payments: the asset issuer.
    pub asset_issuer: Option<String>,
    /// create_account: the new account.
    pub account: Option<String>,
    /// create_account: the funder.
    pub funder: Option<String>,
    /// create_account: the starting balance.
    pub starting_balance: Option<String>,
    /// account_merge: the account merged into.
    pub into: Option<String>,
    /// When its ledger closed.
    pub created_at: Option<String>,
    /// The transaction, with `join=transactions`.
    pub transaction: Option<TransactionRecord>,
    /// The record exactly as Horizon sent it.
    pub raw: Value,
}

impl PaymentRecord {
    /// Reads a record from Horizon's JSON, keeping it as `raw`.
    ///
    /// # Errors
    /// [`Error::Decode`] when a field of the typed view is missing (`id`, `paging_token`,
    /// `type`, `transaction_hash`, `source_account`) or of the wrong type. The message names
    /// the record's paging token when there is one, so that it can be recorded as unreadable.
    pub fn from_json(raw: Value) -> Result<Self, Error> {
        let token = raw.get("paging_token").and_then(Value::as_str);
        let fail = |why: String| {
            let token = token.unwrap_or("without paging_token");
            Error::Decode(format!("payment record {token}: {why}"))
        };
        let opt = |name: &str| match raw.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            // Muxed ids are u64: some servers may send them as numbers.
            Some(Value::Number(n)) if name == "to_muxed_id" => Ok(Some(n.to_string())),
            Some(_) => Err(fail(format!("`{name}` is not a string"))),
        };
        let required = |name: &str| opt(name)?.ok_or_else(|| fail(format!("no `{name}`")));
        let transaction_successful = match raw.get("transaction_successful") {
            None | Some(Value::Null) => true,
            Some(Value::Bool(b)) => *b,
            Some(_) => return Err(fail("`transaction_successful` is not a boolean".into())),
        };
        let transaction = match raw.get("transaction") {
            None | Some(Value::Null) => None,
            Some(tx) => Some(
                TransactionRecord::deserialize(tx)
                    .map_err(|e| fail(format!("embedded transaction: {e}")))?,
            ),
        };
        Ok(Self {
            id: required("id")?,
            paging_token: required("paging_token")?,
            kind: required("type")?,
            transaction_hash: required("transaction_hash")?,
            transaction_successful,
            source_account: required("source_account")?,
            from: opt("from")?,
            to: opt("to")?,
            to_muxed: opt("to_muxed")?,
            to_muxed_id: opt("to_muxed_id")?,
            amount: opt("amount")?,
            asset_type: opt("asset_type")?,
            asset_code: opt("asset_code")?,
            asset_issuer: opt("asset_issuer")?,
            account: opt("account")?,
            funder: opt("funder")?,
            starting_balance: opt("starting_balance")?,
            into: opt("into")?,
            created_at: opt("created_at")?,
            transaction,
            raw,
        })
    }

    /// The asset received (payments), or `None` when the record has no readable asset.
    pub fn asset(&self) -> Option<Asset> {
        match self.asset_type.as_deref()? {
            "native" => Some(Asset::Native),
            _ => Asset::from_code_and_issuer(
                self.asset_code.as_deref()?,
                self.asset_issuer.as_deref()?,
            )
            .ok(),
        }
    }
}

impl Serialize for PaymentRecord {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.raw.serialize(s)
    }
}

impl<'de> Deserialize<'de> for PaymentRecord {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Self::from_json(Value::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

/// One page of a collection.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    /// The records, in the requested order.
    pub records: Vec<T>,
    /// The cursor for the next page in the same order: the last record's paging token, or
    /// `None` when the page is empty (keep the previous cursor and ask again later).
    pub next_cursor: Option<String>,
}

/// Order of a collection.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Order {
    /// Oldest first.
    #[default]
    Asc,
    /// Newest first.
    Desc,
}

impl Order {
    /// `asc` or `desc`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Asc => "asc",
            Self::Desc => "desc",
        }
    }
}

/// What to ask of `/payments` (or `/accounts/{id}/payments`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentsQuery {
    /// Only payments involving this account; all payments when `None`.
    pub account: Option<PublicKey>,
    /// Start after this paging token, or `now`; from the beginning (or, streamed, as Horizon
    /// decides) when `None`.
    pub cursor: Option<String>,
    /// Records per page, 1 to 200 (clamped; the default is 10). Ignored by streams.
    pub limit: u32,
    /// Paging order. Streams are always ascending.
    pub order: Order,
    /// Embed each record's transaction (`join=transactions`), e.g. to read its memo.
    pub join_transactions: bool,
}

impl Default for PaymentsQuery {
    fn default() -> Self {
        Self {
            account: None,
            cursor: None,
            limit: 10,
            order: Order::Asc,
            join_transactions: false,
        }
    }
}

/// A fee distribution from `/fee_stats`, in stroops.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeeDistribution {
    /// Highest.
    #[serde(deserialize_with = "int_or_string")]
    pub max: i64,
    /// Lowest.
    #[serde(deserialize_with = "int_or_string")]
    pub min: i64,
    /// Most common.
    #[serde(deserialize_with = "int_or_string")]
    pub mode: i64,
    /// 10th percentile (absent from very old Horizons: 0).
    #[serde(default, deserialize_with = "int_or_string")]
    pub p10: i64,
    /// 20th percentile.
    #[serde(default, deserialize_with = "int_or_string")]
    pub p20: i64,
    /// 30th percentile.
    #[serde(default, deserialize_with = "int_or_string")]
    pub p30: i64,
    /// 40th percentile.
    #[serde(default, deserialize_with = "int_or_string")]
    pub p40: i64,
    /// 50th percentile.
    #[serde(deserialize_with = "int_or_string")]
    pub p50: i64,
    /// 60th percentile.
    #[serde(default, deserialize_with = "int_or_string")]
    pub p60: i64,
    /// 70th percentile.
    #[serde(default, deserialize_with = "int_or_string")]
    pub p70: i64,
    /// 80th percentile.
    #[serde(default, deserialize_with = "int_or_string")]
    pub p80: i64,
    /// 90th percentile.
    #[serde(deserialize_with = "int_or_string")]
    pub p90: i64,
    /// 95th percentile.
    #[serde(deserialize_with = "int_or_string")]
    pub p95: i64,
    /// 99th percentile.
    #[serde(deserialize_with = "int_or_string")]
    pub p99: i64,
}

impl FeeDistribution {
    /// The percentiles Horizon gives, in order: 10, 20, …, 90, 95, 99.
    pub const PERCENTILES: [u8; 11] = [10, 20, 30, 40, 50, 60, 70, 80, 90, 95, 99];

    /// The `p{percentile}` field; `None` for a percentile Horizon does not give (see
    /// [`FeeDistribution::PERCENTILES`]).
    pub fn percentile(&self, percentile: u8) -> Option<i64> {
        Some(match percentile {
            10 => self.p10,
            20 => self.p20,
            30 => self.p30,
            40 => self.p40,
            50 => self.p50,
            60 => self.p60,
            70 => self.p70,
            80 => self.p80,
            90 => self.p90,
            95 => self.p95,
            99 => self.p99,
            _ => return None,
        })
    }
}

/// `GET /fee_stats`: recent fees, to choose a base fee under surge pricing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeeStats {
    /// The latest ledger.
    #[serde(deserialize_with = "int_or_string")]
    pub last_ledger: u32,
    /// Its base fee in stroops (100 on the public network).
    #[serde(deserialize_with = "int_or_string")]
    pub last_ledger_base_fee: u32,
    /// How full recent ledgers were, `0.00` to `1.00`.
    #[serde(default)]
    pub ledger_capacity_usage: String,
    /// Fees actually charged per operation.
    pub fee_charged: FeeDistribution,
    /// Maximum fees offered per operation.
    pub max_fee: FeeDistribution,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn numbers_as_strings_or_integers() {
        let dist = json!({"max": "300", "min": 100, "mode": "100", "p50": "100", "p90": 200, "p95": "250", "p99": "300"});
        let stats: FeeStats = serde_json::from_value(json!({
            "last_ledger": "7", "last_ledger_base_fee": 100, "fee_charged": dist, "max_fee": dist
        }))
        .unwrap();
        assert_eq!(stats.last_ledger, 7);
        assert_eq!(stats.fee_charged.p90, 200);
        assert_eq!(stats.max_fee.p99, 300);
        let negative = json!({"last_ledger": "-1", "last_ledger_base_fee": 100, "fee_charged": dist, "max_fee": dist});
        assert!(serde_json::from_value::<FeeStats>(negative).is_err());
    }

    #[test]
    fn payment_records_keep_raw_json() {
        let raw = json!({
            "id": "12884905985", "paging_token": "12884905985", "type": "payment",
            "transaction_hash": "ab", "transaction_successful": true, "source_account": "GA",
            "from": "GA", "to": "GB", "to_muxed": "MB", "to_muxed_id": 42,
            "amount": "1.5000000", "asset_type": "native", "something_new": [1, 2]
        });
        let record = PaymentRecord::from_json(raw.clone()).unwrap();
        assert_eq!(record.kind, "payment");
        assert_eq!(record.to_muxed_id.as_deref(), Some("42"));
        assert_eq!(record.asset(), Some(Asset::Native));
        assert_eq!(record.raw, raw);
        let broken = json!({"paging_token": "5", "type": 3});
        let error = PaymentRecord::from_json(broken).unwrap_err();
        assert!(
            matches!(&error, Error::Decode(m) if m.contains("record 5")),
            "{error:?}"
        );
        assert!(PaymentRecord::from_json(json!("hello")).is_err());
    }

    #[test]
    fn account_amounts_are_exact() {
        let account: Account = serde_json::from_value(json!({
            "id": "GA", "sequence": "8589934592",
            "balances": [{"asset_type": "native", "balance": "0.1000001"}]
        }))
        .unwrap();
        assert_eq!(account.sequence, 8_589_934_592);
        let native = account.balance(&Asset::Native).unwrap();
        assert_eq!(native.balance.stroops(), 1_000_001);
        let float = json!({"id": "GA", "sequence": "1", "balances": [{"asset_type": "native", "balance": "1e3"}]});
        assert!(serde_json::from_value::<Account>(float).is_err());
    }
}
