//! Horizon's JSON resources: field names, string-encoded numbers, HAL `_links`, problems.
//!
//! Everything is rendered with `serde_json::json!` from ledger state and history records, so
//! the shapes can be compared line by line with Horizon's documentation.

use std::borrow::Cow;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Map, Value, json};
use stellar_base::transaction::{to_base64, to_hex, v0_to_v1};
use stellar_base::xdr;
use stellar_base::{AccountAddress, Memo, PublicKey};

use crate::codes::result_codes;
use crate::fee_stats::{Distribution, FeeStats, PERCENTILES};
use crate::history::{LedgerRecord, OpRecord, TxRecord, operation_details};
use crate::ledger::Ledger;
use crate::queue::Admission;
use crate::state::{Account, BASE_FEE, BASE_RESERVE, Offer, account_flags, trustline_flags};

/// The protocol version the sandbox reports.
pub const PROTOCOL_VERSION: u32 = 23;

/// Unix seconds as Horizon's `2006-01-02T15:04:05Z`.
pub fn iso8601(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        (rem / 60) % 60,
        rem % 60
    )
}

/// Standard base64, as Horizon shows binary values.
pub fn base64(bytes: &[u8]) -> String {
    BASE64.encode(bytes)
}

/// Stroops as Horizon's 7-decimal string.
pub fn amount(stroops: i64) -> String {
    let sign = if stroops < 0 { "-" } else { "" };
    let abs = stroops.unsigned_abs();
    format!("{sign}{}.{:07}", abs / 10_000_000, abs % 10_000_000)
}

fn link(href: String) -> Value {
    json!({ "href": href })
}

fn templated(href: String) -> Value {
    json!({ "href": href, "templated": true })
}

/// Adds `{prefix}asset_type`, `asset_code` and `asset_issuer` for an XDR asset.
fn asset_fields(map: &mut Map<String, Value>, prefix: &str, asset: &xdr::Asset) {
    let (kind, code, issuer): (&str, &[u8], Option<&xdr::AccountId>) = match asset {
        xdr::Asset::Native => ("native", &[], None),
        xdr::Asset::CreditAlphanum4(a) => ("credit_alphanum4", &a.asset_code.0, Some(&a.issuer)),
        xdr::Asset::CreditAlphanum12(a) => ("credit_alphanum12", &a.asset_code.0, Some(&a.issuer)),
    };
    map.insert(format!("{prefix}asset_type"), json!(kind));
    if let Some(issuer) = issuer {
        let end = code.iter().position(|b| *b == 0).unwrap_or(code.len());
        map.insert(
            format!("{prefix}asset_code"),
            json!(String::from_utf8_lossy(&code[..end])),
        );
        map.insert(
            format!("{prefix}asset_issuer"),
            json!(PublicKey::from_account_id(issuer).to_string()),
        );
    }
}

/// Adds `{name}` (G…) and, for a muxed account, `{name}_muxed` and `{name}_muxed_id`.
fn account_fields(map: &mut Map<String, Value>, name: &str, account: AccountAddress) {
    map.insert(name.to_owned(), json!(account.account().to_string()));
    if let Some(id) = account.muxed_id() {
        map.insert(format!("{name}_muxed"), json!(account.to_string()));
        map.insert(format!("{name}_muxed_id"), json!(id.to_string()));
    }
}

fn muxed(account: &xdr::MuxedAccount) -> AccountAddress {
    AccountAddress::from_muxed_account(account)
}

/// `GET /accounts/{id}`.
pub fn account(base: &str, account: &Account) -> Value {
    let id = account.id.to_string();
    let href = format!("{base}/accounts/{id}");
    let mut balances: Vec<Value> = account
        .trustlines
        .iter()
        .map(|line| {
            let mut map = Map::new();
            map.insert("balance".into(), json!(amount(line.balance)));
            map.insert("limit".into(), json!(amount(line.limit)));
            map.insert(
                "buying_liabilities".into(),
                json!(amount(line.buying_liabilities)),
            );
            map.insert(
                "selling_liabilities".into(),
                json!(amount(line.selling_liabilities)),
            );
            map.insert(
                "last_modified_ledger".into(),
                json!(line.last_modified_ledger),
            );
            map.insert("is_authorized".into(), json!(line.is_authorized()));
            map.insert(
                "is_authorized_to_maintain_liabilities".into(),
                json!(
                    line.flags
                        & (trustline_flags::AUTHORIZED
                            | trustline_flags::AUTHORIZED_TO_MAINTAIN_LIABILITIES)
                        != 0
                ),
            );
            map.insert(
                "is_clawback_enabled".into(),
                json!(line.flags & trustline_flags::CLAWBACK_ENABLED != 0),
            );
            asset_fields(&mut map, "", &line.asset.to_xdr());
            Value::Object(map)
        })
        .collect();
    balances.push(json!({
        "balance": amount(account.balance),
        "buying_liabilities": amount(account.buying_liabilities),
        "selling_liabilities": amount(account.selling_liabilities),
        "asset_type": "native",
    }));
    let mut signers: Vec<Value> = account
        .signers
        .iter()
        .map(
            |s| json!({"weight": s.weight, "key": s.key.to_string(), "type": "ed25519_public_key"}),
        )
        .collect();
    signers.push(json!({"weight": account.master_weight, "key": id, "type": "ed25519_public_key"}));
    let data: Map<String, Value> = account
        .data
        .iter()
        .map(|(k, v)| (k.clone(), json!(BASE64.encode(v))))
        .collect();
    let mut out = json!({
        "_links": {
            "self": link(href.clone()),
            "transactions": templated(format!("{href}/transactions{{?cursor,limit,order}}")),
            "operations": templated(format!("{href}/operations{{?cursor,limit,order}}")),
            "payments": templated(format!("{href}/payments{{?cursor,limit,order}}")),
            "effects": templated(format!("{href}/effects{{?cursor,limit,order}}")),
            "offers": templated(format!("{href}/offers{{?cursor,limit,order}}")),
            "trades": templated(format!("{href}/trades{{?cursor,limit,order}}")),
            "data": templated(format!("{href}/data/{{key}}")),
        },
        "id": id,
        "account_id": id,
        "sequence": account.sequence.to_string(),
        "subentry_count": account.num_subentries,
        "last_modified_ledger": account.last_modified_ledger,
        "thresholds": {
            "low_threshold": account.thresholds.low,
            "med_threshold": account.thresholds.med,
            "high_threshold": account.thresholds.high,
        },
        "flags": {
            "auth_required": account.flags & account_flags::AUTH_REQUIRED != 0,
            "auth_revocable": account.flags & account_flags::AUTH_REVOCABLE != 0,
            "auth_immutable": account.flags & account_flags::AUTH_IMMUTABLE != 0,
            "auth_clawback_enabled": account.flags & account_flags::AUTH_CLAWBACK_ENABLED != 0,
        },
        "balances": balances,
        "signers": signers,
        "data": data,
        "num_sponsoring": 0,
        "num_sponsored": 0,
        "paging_token": id,
    });
    if !account.home_domain.is_empty()
        && let Some(map) = out.as_object_mut()
    {
        map.insert("home_domain".into(), json!(account.home_domain));
    }
    out
}

/// The v1 form of an envelope's (inner) transaction.
fn inner_transaction(envelope: &xdr::TransactionEnvelope) -> Cow<'_, xdr::Transaction> {
    match envelope {
        xdr::TransactionEnvelope::TxV0(e) => Cow::Owned(v0_to_v1(&e.tx)),
        xdr::TransactionEnvelope::Tx(e) => Cow::Borrowed(&e.tx),
        xdr::TransactionEnvelope::TxFeeBump(e) => {
            let xdr::FeeBumpTransactionInnerTx::Tx(inner) = &e.tx.inner_tx;
            Cow::Borrowed(&inner.tx)
        }
    }
}

fn signatures(signatures: &[xdr::DecoratedSignature]) -> Vec<String> {
    signatures
        .iter()
        .map(|s| BASE64.encode(s.signature.0.as_slice()))
        .collect()
}

/// `GET /transactions/{hash}` where `requested` may be the hash of the transaction a fee bump
/// wraps: then, as Horizon's `PopulateTransaction` does (services/horizon/internal/
/// resourceadapter/transaction.go), `id`, `hash` and `signatures` are the inner transaction's;
/// `fee_bump_transaction` and `inner_transaction` still give both.
pub fn transaction_as_requested(
    base: &str,
    network: &stellar_base::Network,
    tx: &TxRecord,
    requested: &[u8; 32],
) -> Value {
    let mut value = transaction(base, network, tx);
    if *requested != tx.hash
        && let Some(inner) = value.get("inner_transaction").cloned()
    {
        value["id"] = inner["hash"].clone();
        value["hash"] = inner["hash"].clone();
        value["signatures"] = inner["signatures"].clone();
    }
    value
}

/// `GET /transactions/{hash}` and the body of a successful submission.
pub fn transaction(base: &str, network: &stellar_base::Network, tx: &TxRecord) -> Value {
    let hash = to_hex(&tx.hash);
    let token = tx.paging_token().to_string();
    let envelope = tx.envelope();
    let inner = inner_transaction(&envelope);
    let source = muxed(&inner.source_account);
    let mut map = Map::new();
    map.insert(
        "_links".into(),
        json!({
            "self": link(format!("{base}/transactions/{hash}")),
            "account": link(format!("{base}/accounts/{}", source.account())),
            "ledger": link(format!("{base}/ledgers/{}", tx.ledger)),
            "operations": templated(format!("{base}/transactions/{hash}/operations{{?cursor,limit,order}}")),
            "effects": templated(format!("{base}/transactions/{hash}/effects{{?cursor,limit,order}}")),
            "precedes": link(format!("{base}/transactions?order=asc&cursor={token}")),
            "succeeds": link(format!("{base}/transactions?order=desc&cursor={token}")),
            "transaction": link(format!("{base}/transactions/{hash}")),
        }),
    );
    map.insert("id".into(), json!(hash));
    map.insert("paging_token".into(), json!(token));
    map.insert("successful".into(), json!(tx.successful));
    map.insert("hash".into(), json!(hash));
    map.insert("ledger".into(), json!(tx.ledger));
    map.insert("created_at".into(), json!(iso8601(tx.created_at)));
    account_fields(&mut map, "source_account", source);
    if let Some(id) = source.muxed_id() {
        map.insert("account_muxed".into(), json!(source.to_string()));
        map.insert("account_muxed_id".into(), json!(id.to_string()));
    }
    map.insert(
        "source_account_sequence".into(),
        json!(inner.seq_num.0.to_string()),
    );
    let (fee_account, max_fee) = match &envelope {
        xdr::TransactionEnvelope::TxFeeBump(e) => (muxed(&e.tx.fee_source), e.tx.fee),
        _ => (source, i64::from(inner.fee)),
    };
    account_fields(&mut map, "fee_account", fee_account);
    map.insert(
        "fee_charged".into(),
        json!(tx.result().fee_charged.to_string()),
    );
    map.insert("max_fee".into(), json!(max_fee.to_string()));
    map.insert("operation_count".into(), json!(inner.operations.len()));
    map.insert("envelope_xdr".into(), json!(tx.envelope_base64()));
    map.insert("result_xdr".into(), json!(tx.result_base64()));
    let memo = Memo::from_xdr(&inner.memo);
    map.insert("memo_type".into(), json!(memo.type_name()));
    if let Some(value) = memo.value() {
        map.insert("memo".into(), json!(value));
    }
    if let xdr::Memo::Text(text) = &inner.memo {
        map.insert("memo_bytes".into(), json!(BASE64.encode(text.as_slice())));
    }
    let outer_signatures = match &envelope {
        xdr::TransactionEnvelope::TxV0(e) => signatures(&e.signatures),
        xdr::TransactionEnvelope::Tx(e) => signatures(&e.signatures),
        xdr::TransactionEnvelope::TxFeeBump(e) => signatures(&e.signatures),
    };
    map.insert("signatures".into(), json!(outer_signatures));
    if let xdr::TransactionEnvelope::TxFeeBump(e) = &envelope {
        let xdr::FeeBumpTransactionInnerTx::Tx(inner_env) = &e.tx.inner_tx;
        let inner_hash = stellar_base::transaction::transaction_hash(&inner_env.tx, network);
        map.insert(
            "fee_bump_transaction".into(),
            json!({"hash": hash, "signatures": outer_signatures}),
        );
        map.insert(
            "inner_transaction".into(),
            json!({
                "hash": to_hex(&inner_hash),
                "signatures": signatures(&inner_env.signatures),
                "max_fee": inner_env.tx.fee.to_string(),
            }),
        );
    }
    let time_bounds = match &inner.cond {
        xdr::Preconditions::Time(tb) => Some(tb.clone()),
        xdr::Preconditions::V2(p) => p.time_bounds.clone(),
        xdr::Preconditions::None => None,
    };
    if let Some(tb) = time_bounds {
        map.insert(
            "preconditions".into(),
            json!({"timebounds": {"min_time": tb.min_time.0.to_string(), "max_time": tb.max_time.0.to_string()}}),
        );
        map.insert("valid_after".into(), json!(iso8601(tb.min_time.0)));
        if tb.max_time.0 != 0 {
            map.insert("valid_before".into(), json!(iso8601(tb.max_time.0)));
        }
    }
    Value::Object(map)
}

/// Horizon's name of an operation type (`type`), by `type_i`.
pub fn operation_type(body: &xdr::OperationBody) -> &'static str {
    use xdr::OperationBody as B;
    match body {
        B::CreateAccount(_) => "create_account",
        B::Payment(_) => "payment",
        B::PathPaymentStrictReceive(_) => "path_payment_strict_receive",
        B::ManageSellOffer(_) => "manage_sell_offer",
        B::CreatePassiveSellOffer(_) => "create_passive_sell_offer",
        B::SetOptions(_) => "set_options",
        B::ChangeTrust(_) => "change_trust",
        B::AllowTrust(_) => "allow_trust",
        B::AccountMerge(_) => "account_merge",
        B::Inflation => "inflation",
        B::ManageData(_) => "manage_data",
        B::BumpSequence(_) => "bump_sequence",
        B::ManageBuyOffer(_) => "manage_buy_offer",
        B::PathPaymentStrictSend(_) => "path_payment_strict_send",
        B::CreateClaimableBalance(_) => "create_claimable_balance",
        B::ClaimClaimableBalance(_) => "claim_claimable_balance",
        B::BeginSponsoringFutureReserves(_) => "begin_sponsoring_future_reserves",
        B::EndSponsoringFutureReserves => "end_sponsoring_future_reserves",
        B::RevokeSponsorship(_) => "revoke_sponsorship",
        B::Clawback(_) => "clawback",
        B::ClawbackClaimableBalance(_) => "clawback_claimable_balance",
        B::SetTrustLineFlags(_) => "set_trust_line_flags",
        B::LiquidityPoolDeposit(_) => "liquidity_pool_deposit",
        B::LiquidityPoolWithdraw(_) => "liquidity_pool_withdraw",
        B::InvokeHostFunction(_) => "invoke_host_function",
        B::ExtendFootprintTtl(_) => "extend_footprint_ttl",
        B::RestoreFootprint(_) => "restore_footprint",
    }
}

fn flag_names(bits: u32, names: &[(u32, &'static str)]) -> (Vec<u32>, Vec<&'static str>) {
    names
        .iter()
        .filter(|(bit, _)| bits & bit != 0)
        .map(|(bit, name)| (*bit, *name))
        .unzip()
}

const ACCOUNT_FLAG_NAMES: &[(u32, &str)] = &[
    (account_flags::AUTH_REQUIRED, "auth_required"),
    (account_flags::AUTH_REVOCABLE, "auth_revocable"),
    (account_flags::AUTH_IMMUTABLE, "auth_immutable"),
    (
        account_flags::AUTH_CLAWBACK_ENABLED,
        "auth_clawback_enabled",
    ),
];

const TRUSTLINE_FLAG_NAMES: &[(u32, &str)] = &[
    (trustline_flags::AUTHORIZED, "authorized"),
    (
        trustline_flags::AUTHORIZED_TO_MAINTAIN_LIABILITIES,
        "authorized_to_maintain_liabilites",
    ),
    (trustline_flags::CLAWBACK_ENABLED, "clawback_enabled"),
];

fn insert_flags(
    map: &mut Map<String, Value>,
    prefix: &str,
    bits: u32,
    names: &[(u32, &'static str)],
) {
    let (ints, strs) = flag_names(bits, names);
    map.insert(prefix.to_owned(), json!(ints));
    map.insert(format!("{prefix}_s"), json!(strs));
}

/// An operation record (`/operations/{id}`, `/payments`…); `join` embeds the transaction.
pub fn operation(
    base: &str,
    network: &stellar_base::Network,
    op: &OpRecord,
    tx: &TxRecord,
    join: bool,
) -> Value {
    use xdr::OperationBody as B;
    let envelope = tx.envelope();
    let Some(details) = operation_details(&envelope, op.index()) else {
        return Value::Null;
    };
    let source = details.source;
    let id = op.id.to_string();
    let hash = to_hex(&tx.hash);
    let mut map = Map::new();
    map.insert(
        "_links".into(),
        json!({
            "self": link(format!("{base}/operations/{id}")),
            "transaction": link(format!("{base}/transactions/{hash}")),
            "effects": link(format!("{base}/operations/{id}/effects")),
            "succeeds": link(format!("{base}/effects?order=desc&cursor={id}")),
            "precedes": link(format!("{base}/effects?order=asc&cursor={id}")),
        }),
    );
    map.insert("id".into(), json!(id));
    map.insert("paging_token".into(), json!(id));
    map.insert("transaction_successful".into(), json!(tx.successful));
    account_fields(&mut map, "source_account", source);
    map.insert("type".into(), json!(operation_type(&details.body)));
    map.insert("type_i".into(), json!(details.body.discriminant() as i32));
    map.insert("created_at".into(), json!(iso8601(tx.created_at)));
    map.insert("transaction_hash".into(), json!(hash));
    match &details.body {
        B::CreateAccount(o) => {
            map.insert("starting_balance".into(), json!(amount(o.starting_balance)));
            account_fields(&mut map, "funder", source);
            map.insert(
                "account".into(),
                json!(PublicKey::from_account_id(&o.destination).to_string()),
            );
        }
        B::Payment(o) => {
            asset_fields(&mut map, "", &o.asset);
            account_fields(&mut map, "from", source);
            account_fields(&mut map, "to", muxed(&o.destination));
            map.insert("amount".into(), json!(amount(o.amount)));
        }
        B::PathPaymentStrictReceive(o) => {
            asset_fields(&mut map, "", &o.dest_asset);
            account_fields(&mut map, "from", source);
            account_fields(&mut map, "to", muxed(&o.destination));
            map.insert("amount".into(), json!(amount(o.dest_amount)));
            map.insert("path".into(), path(&o.path));
            map.insert("source_amount".into(), json!(amount(op.amount)));
            map.insert("source_max".into(), json!(amount(o.send_max)));
            asset_fields(&mut map, "source_", &o.send_asset);
        }
        B::PathPaymentStrictSend(o) => {
            asset_fields(&mut map, "", &o.dest_asset);
            account_fields(&mut map, "from", source);
            account_fields(&mut map, "to", muxed(&o.destination));
            map.insert("amount".into(), json!(amount(op.amount)));
            map.insert("path".into(), path(&o.path));
            map.insert("source_amount".into(), json!(amount(o.send_amount)));
            map.insert("destination_min".into(), json!(amount(o.dest_min)));
            asset_fields(&mut map, "source_", &o.send_asset);
        }
        B::AccountMerge(dest) => {
            account_fields(&mut map, "account", source);
            account_fields(&mut map, "into", muxed(dest));
        }
        B::ChangeTrust(o) => {
            match &o.line {
                xdr::ChangeTrustAsset::CreditAlphanum4(a) => {
                    asset_fields(&mut map, "", &xdr::Asset::CreditAlphanum4(a.clone()));
                    map.insert(
                        "trustee".into(),
                        json!(PublicKey::from_account_id(&a.issuer).to_string()),
                    );
                }
                xdr::ChangeTrustAsset::CreditAlphanum12(a) => {
                    asset_fields(&mut map, "", &xdr::Asset::CreditAlphanum12(a.clone()));
                    map.insert(
                        "trustee".into(),
                        json!(PublicKey::from_account_id(&a.issuer).to_string()),
                    );
                }
                xdr::ChangeTrustAsset::Native => {
                    map.insert("asset_type".into(), json!("native"));
                }
                xdr::ChangeTrustAsset::PoolShare(_) => {
                    map.insert("asset_type".into(), json!("liquidity_pool_shares"));
                }
            }
            account_fields(&mut map, "trustor", source);
            map.insert("limit".into(), json!(amount(o.limit)));
        }
        B::AllowTrust(o) => {
            let asset = match &o.asset {
                xdr::AssetCode::CreditAlphanum4(code) => {
                    xdr::Asset::CreditAlphanum4(xdr::AlphaNum4 {
                        asset_code: code.clone(),
                        issuer: source.account().to_account_id(),
                    })
                }
                xdr::AssetCode::CreditAlphanum12(code) => {
                    xdr::Asset::CreditAlphanum12(xdr::AlphaNum12 {
                        asset_code: code.clone(),
                        issuer: source.account().to_account_id(),
                    })
                }
            };
            asset_fields(&mut map, "", &asset);
            map.insert(
                "trustor".into(),
                json!(PublicKey::from_account_id(&o.trustor).to_string()),
            );
            account_fields(&mut map, "trustee", source);
            map.insert(
                "authorize".into(),
                json!(o.authorize == trustline_flags::AUTHORIZED),
            );
            map.insert(
                "authorize_to_maintain_liabilities".into(),
                json!(o.authorize == trustline_flags::AUTHORIZED_TO_MAINTAIN_LIABILITIES),
            );
        }
        B::SetTrustLineFlags(o) => {
            asset_fields(&mut map, "", &o.asset);
            map.insert(
                "trustor".into(),
                json!(PublicKey::from_account_id(&o.trustor).to_string()),
            );
            if o.set_flags != 0 {
                insert_flags(&mut map, "set_flags", o.set_flags, TRUSTLINE_FLAG_NAMES);
            }
            if o.clear_flags != 0 {
                insert_flags(&mut map, "clear_flags", o.clear_flags, TRUSTLINE_FLAG_NAMES);
            }
        }
        B::SetOptions(o) => {
            if let Some(domain) = &o.home_domain {
                map.insert(
                    "home_domain".into(),
                    json!(String::from_utf8_lossy(domain.0.as_slice())),
                );
            }
            if let Some(signer) = &o.signer {
                if let xdr::SignerKey::Ed25519(key) = &signer.key {
                    map.insert("signer_key".into(), json!(PublicKey(key.0).to_string()));
                }
                map.insert("signer_weight".into(), json!(signer.weight));
            }
            for (name, value) in [
                ("master_key_weight", o.master_weight),
                ("low_threshold", o.low_threshold),
                ("med_threshold", o.med_threshold),
                ("high_threshold", o.high_threshold),
            ] {
                if let Some(value) = value {
                    map.insert(name.into(), json!(value));
                }
            }
            if let Some(bits) = o.set_flags {
                insert_flags(&mut map, "set_flags", bits, ACCOUNT_FLAG_NAMES);
            }
            if let Some(bits) = o.clear_flags {
                insert_flags(&mut map, "clear_flags", bits, ACCOUNT_FLAG_NAMES);
            }
        }
        B::ManageData(o) => {
            map.insert(
                "name".into(),
                json!(String::from_utf8_lossy(o.data_name.0.as_slice())),
            );
            map.insert(
                "value".into(),
                json!(o.data_value.as_ref().map(|v| BASE64.encode(v.0.as_slice()))),
            );
        }
        B::BumpSequence(o) => {
            map.insert("bump_to".into(), json!(o.bump_to.0.to_string()));
        }
        B::ManageSellOffer(o) => {
            offer_op_fields(&mut map, o.amount, &o.price, &o.buying, &o.selling);
            map.insert("offer_id".into(), json!(o.offer_id.to_string()));
        }
        B::ManageBuyOffer(o) => {
            offer_op_fields(&mut map, o.buy_amount, &o.price, &o.buying, &o.selling);
            map.insert("offer_id".into(), json!(o.offer_id.to_string()));
        }
        B::CreatePassiveSellOffer(o) => {
            offer_op_fields(&mut map, o.amount, &o.price, &o.buying, &o.selling);
        }
        _ => {}
    }
    if join {
        map.insert("transaction".into(), transaction(base, network, tx));
    }
    Value::Object(map)
}

/// The fields Horizon gives the three offer operations: `amount`, `price`, `price_r` and the
/// `buying_`/`selling_` asset fields.
fn offer_op_fields(
    map: &mut Map<String, Value>,
    stroops: i64,
    p: &xdr::Price,
    buying: &xdr::Asset,
    selling: &xdr::Asset,
) {
    map.insert("amount".into(), json!(amount(stroops)));
    map.insert("price".into(), json!(price(p)));
    map.insert("price_r".into(), json!({"n": p.n, "d": p.d}));
    asset_fields(map, "buying_", buying);
    asset_fields(map, "selling_", selling);
}

/// A price `n/d` as Horizon writes it: 7 decimals, rounded half away from zero (Go's
/// `big.Rat.FloatString(7)`).
pub fn price(p: &xdr::Price) -> String {
    let (n, d) = (i128::from(p.n), i128::from(p.d));
    if d == 0 {
        return "0.0000000".into();
    }
    let negative = (n < 0) != (d < 0);
    let (n, d) = (n.abs(), d.abs());
    let scaled = (2 * n * 10_000_000 + d) / (2 * d);
    let sign = if negative && scaled != 0 { "-" } else { "" };
    format!("{sign}{}.{:07}", scaled / 10_000_000, scaled % 10_000_000)
}

/// An asset as the nested object of Horizon's offer resources (`{"asset_type": …}`).
fn asset_object(asset: &xdr::Asset) -> Value {
    let mut map = Map::new();
    asset_fields(&mut map, "", asset);
    Value::Object(map)
}

/// `GET /offers/{id}` and the records of `GET /offers` and `GET /accounts/{id}/offers`.
pub fn offer(base: &str, offer: &Offer, ledger: &Ledger) -> Value {
    let id = offer.id.to_string();
    let seller = offer.seller.to_string();
    let modified_at = ledger
        .history()
        .ledgers
        .iter()
        .rev()
        .find(|l| l.sequence == offer.last_modified_ledger)
        .map(|l| iso8601(l.closed_at));
    json!({
        "_links": {
            "self": link(format!("{base}/offers/{id}")),
            "offer_maker": link(format!("{base}/accounts/{seller}")),
        },
        "id": id,
        "paging_token": id,
        "seller": seller,
        "selling": asset_object(&offer.selling.to_xdr()),
        "buying": asset_object(&offer.buying.to_xdr()),
        "amount": amount(offer.amount),
        "price_r": {"n": offer.price.n, "d": offer.price.d},
        "price": price(&offer.price),
        "last_modified_ledger": offer.last_modified_ledger,
        "last_modified_time": modified_at,
    })
}

fn path(assets: &[xdr::Asset]) -> Value {
    Value::Array(
        assets
            .iter()
            .map(|a| {
                let mut map = Map::new();
                asset_fields(&mut map, "", a);
                Value::Object(map)
            })
            .collect(),
    )
}

/// `GET /ledgers/{seq}`.
pub fn ledger(base: &str, record: &LedgerRecord) -> Value {
    let seq = record.sequence;
    let hash = to_hex(&record.hash);
    json!({
        "_links": {
            "self": link(format!("{base}/ledgers/{seq}")),
            "transactions": templated(format!("{base}/ledgers/{seq}/transactions{{?cursor,limit,order}}")),
            "operations": templated(format!("{base}/ledgers/{seq}/operations{{?cursor,limit,order}}")),
            "payments": templated(format!("{base}/ledgers/{seq}/payments{{?cursor,limit,order}}")),
            "effects": templated(format!("{base}/ledgers/{seq}/effects{{?cursor,limit,order}}")),
        },
        "id": hash,
        "paging_token": (i64::from(seq) << 32).to_string(),
        "hash": hash,
        "prev_hash": if seq > 1 { json!(to_hex(&record.prev_hash)) } else { json!("") },
        "sequence": seq,
        "successful_transaction_count": record.successful_transaction_count,
        "failed_transaction_count": record.failed_transaction_count,
        "operation_count": record.operation_count,
        "tx_set_operation_count": record.tx_set_operation_count,
        "closed_at": iso8601(record.closed_at),
        "total_coins": amount(record.total_coins),
        "fee_pool": amount(record.fee_pool),
        "base_fee_in_stroops": BASE_FEE,
        "base_reserve_in_stroops": BASE_RESERVE,
        "max_tx_set_size": record.max_tx_set_size,
        "protocol_version": PROTOCOL_VERSION,
    })
}

/// `GET /`.
pub fn root(base: &str, ledger: &Ledger) -> Value {
    let latest = ledger.latest();
    json!({
        "_links": {
            "account": templated(format!("{base}/accounts/{{account_id}}")),
            "fee_stats": link(format!("{base}/fee_stats")),
            "friendbot": templated(format!("{base}/friendbot{{?addr}}")),
            "ledger": templated(format!("{base}/ledgers/{{sequence}}")),
            "ledgers": templated(format!("{base}/ledgers{{?cursor,limit,order}}")),
            "operation": templated(format!("{base}/operations/{{id}}")),
            "operations": templated(format!("{base}/operations{{?cursor,limit,order,include_failed}}")),
            "payments": templated(format!("{base}/payments{{?cursor,limit,order,include_failed}}")),
            "self": link(format!("{base}/")),
            "transaction": templated(format!("{base}/transactions/{{hash}}")),
            "transactions": templated(format!("{base}/transactions{{?cursor,limit,order}}")),
        },
        "horizon_version": concat!("sandbox-", env!("CARGO_PKG_VERSION")),
        "core_version": concat!("sandbox-", env!("CARGO_PKG_VERSION")),
        "ingest_latest_ledger": latest.sequence,
        "history_latest_ledger": latest.sequence,
        "history_latest_ledger_closed_at": iso8601(latest.closed_at),
        "history_elder_ledger": 1,
        "core_latest_ledger": latest.sequence,
        "network_passphrase": ledger.network().passphrase(),
        "current_protocol_version": PROTOCOL_VERSION,
        "supported_protocol_version": PROTOCOL_VERSION,
        "core_supported_protocol_version": PROTOCOL_VERSION,
    })
}

/// `GET /fee_stats`: the last 5 ledgers' fees per operation and capacity usage, as Horizon
/// computes them (see [`crate::fee_stats`] for the Horizon code followed).
pub fn fee_stats(ledger: &Ledger) -> Value {
    let stats = FeeStats::of(ledger.history());
    let dist = |d: &Distribution| {
        let mut map = Map::new();
        map.insert("max".into(), json!(d.max.to_string()));
        map.insert("min".into(), json!(d.min.to_string()));
        map.insert("mode".into(), json!(d.mode.to_string()));
        for (p, value) in PERCENTILES.iter().zip(d.percentiles) {
            map.insert(format!("p{p}"), json!(value.to_string()));
        }
        Value::Object(map)
    };
    json!({
        "last_ledger": stats.last_ledger.to_string(),
        "last_ledger_base_fee": stats.last_ledger_base_fee.to_string(),
        "ledger_capacity_usage": stats.capacity_usage(),
        "fee_charged": dist(&stats.fee_charged),
        "max_fee": dist(&stats.max_fee),
    })
}

/// A Horizon problem document.
pub fn problem(status: u16, kind: &str, title: &str, detail: &str, extras: Option<Value>) -> Value {
    let mut out = json!({
        "type": format!("https://stellar.org/horizon-errors/{kind}"),
        "title": title,
        "status": status,
        "detail": detail,
    });
    if let (Some(extras), Some(map)) = (extras, out.as_object_mut()) {
        map.insert("extras".into(), extras);
    }
    out
}

/// The 400 `transaction_failed` problem for a rejected or failed transaction.
pub fn transaction_failed(
    envelope: &xdr::TransactionEnvelope,
    result: &xdr::TransactionResult,
) -> Value {
    problem(
        400,
        "transaction_failed",
        "Transaction Failed",
        "The transaction failed when submitted to the stellar network. The `extras.result_codes` field on this response contains further details.  Descriptions of each code can be found at: https://developers.stellar.org/docs/data/apis/horizon/api-reference/errors/http-status-codes/horizon-specific/transaction-failed",
        Some(json!({
            "envelope_xdr": to_base64(envelope),
            "result_xdr": to_base64(result),
            "result_codes": result_codes(result),
        })),
    )
}

/// Horizon's answer to `POST /transactions_async` for stellar-core's admission: status code
/// and body (stellar/go `services/horizon/internal/actions/submit_transaction_async.go`).
pub fn async_submission(hash: &[u8; 32], admission: &Admission) -> (u16, Value) {
    let hash = to_hex(hash);
    match admission {
        Admission::Pending => (201, json!({"tx_status": "PENDING", "hash": hash})),
        Admission::Duplicate => (409, json!({"tx_status": "DUPLICATE", "hash": hash})),
        Admission::TryAgainLater => (503, json!({"tx_status": "TRY_AGAIN_LATER", "hash": hash})),
        Admission::Error(result) => (
            400,
            json!({
                "tx_status": "ERROR",
                "hash": hash,
                "error_result_xdr": to_base64(result.as_ref()),
            }),
        ),
    }
}

/// The 404 problem.
pub fn not_found() -> Value {
    problem(
        404,
        "not_found",
        "Resource Missing",
        "The resource at the url requested was not found.  This usually occurs for one of two reasons:  The url requested is not valid, or no data in our database could be found with the parameters provided.",
        None,
    )
}

/// The 400 problem for an invalid query or form field.
pub fn bad_request(field: &str, reason: &str) -> Value {
    problem(
        400,
        "bad_request",
        "Bad Request",
        "The request you sent was invalid in some way.",
        Some(json!({"invalid_field": field, "reason": reason})),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prices_round_like_horizon() {
        assert_eq!(price(&xdr::Price { n: 1, d: 2 }), "0.5000000");
        assert_eq!(price(&xdr::Price { n: 2, d: 3 }), "0.6666667");
        assert_eq!(price(&xdr::Price { n: 1, d: 3 }), "0.3333333");
        assert_eq!(price(&xdr::Price { n: 7, d: 1 }), "7.0000000");
        assert_eq!(
            price(&xdr::Price {
                n: 1,
                d: 20_000_000
            }),
            "0.0000001"
        );
    }

    #[test]
    fn formats_like_horizon() {
        assert_eq!(iso8601(0), "1970-01-01T00:00:00Z");
        assert_eq!(iso8601(1_554_840_054), "2019-04-09T20:00:54Z");
        assert_eq!(amount(200_000_000), "20.0000000");
        assert_eq!(amount(1), "0.0000001");
        assert_eq!(amount(-15), "-0.0000015");
    }
}
