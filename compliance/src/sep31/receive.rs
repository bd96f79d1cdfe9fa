//! SEP-31 as a receiving anchor: `/sep31/info` and `/sep31/transactions` on the external port,
//! and the internal calls through which our bridge matches a received payment to its
//! transaction ([`matched`], by hash memo), marks it completed once the back office took it,
//! and the back office asks a sender for updated customer information.

use std::collections::BTreeMap;

use actix_web::{HttpRequest, HttpResponse, web};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use stellar_base::Amount;

use super::auth::{Client, client};
use super::store::Received;
use super::{Anchor, RECEIVER, SENDER, SepError, now};
use crate::error::Error;
use crate::form::{Fields, field};
use crate::protocol::Sep31Received;

/// A random UUID (version 4), for customer and transaction ids.
pub fn new_id() -> String {
    let mut bytes = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut bytes);
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// An amount as a JSON number in `/info` (SEP-31 writes fees and limits as numbers), from
/// its exact decimal text.
fn number(amount: Amount) -> Value {
    let text = amount.to_string();
    let text = text.trim_end_matches('0').trim_end_matches('.');
    serde_json::from_str(text).unwrap_or(Value::Null)
}

/// `GET /sep31/info`: the assets we receive, their fees and limits, and the SEP-12 types.
pub async fn info(anchor: web::Data<Anchor>) -> HttpResponse {
    let receive: serde_json::Map<String, Value> = anchor
        .settings
        .assets
        .iter()
        .map(|asset| {
            let mut entry = serde_json::json!({
                "enabled": true,
                "quotes_supported": false,
                "quotes_required": false,
                "fee_fixed": number(asset.fee_fixed.unwrap_or_default()),
                "fee_percent": number(asset.fee_percent.unwrap_or_default()),
                "sep12": {
                    "sender": {"types": {SENDER: {"description": "the person or business sending the payment"}}},
                    "receiver": {"types": {RECEIVER: {"description": "our customer receiving the payment"}}},
                },
                "fields": {"transaction": {}},
            });
            if let Some(min) = asset.min_amount {
                entry["min_amount"] = number(min);
            }
            if let Some(max) = asset.max_amount {
                entry["max_amount"] = number(max);
            }
            (asset.code.clone(), entry)
        })
        .collect();
    HttpResponse::Ok().json(serde_json::json!({ "receive": receive }))
}

/// `POST /sep31/transactions` body (unknown fields ignored: newer and older senders add some).
#[derive(Debug, Deserialize)]
pub struct NewTransaction {
    amount: Value,
    asset_code: String,
    #[serde(default)]
    asset_issuer: Option<String>,
    #[serde(default)]
    sender_id: Option<String>,
    #[serde(default)]
    receiver_id: Option<String>,
}

/// `POST /sep31/transactions`: checks the asset, the amount and both customers; 201 with the
/// account to pay and a unique hash memo.
///
/// # Errors
/// 403 without a token; 400 for an asset we do not receive, an amount out of bounds, or
/// `customer_info_needed` (with its `type`) for a customer that is unknown or not accepted.
pub async fn create(
    anchor: web::Data<Anchor>,
    request: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, SepError> {
    let client = client(&anchor, &request)?;
    let body: NewTransaction = serde_json::from_slice(&body).map_err(|e| {
        SepError::bad_request(format!("the body must be a JSON transaction request: {e}"))
    })?;
    let amount: Amount = match &body.amount {
        Value::String(s) => s.parse().ok(),
        Value::Number(n) => n.to_string().parse().ok(),
        _ => None,
    }
    .filter(|a: &Amount| a.is_positive())
    .ok_or_else(|| {
        SepError::bad_request("amount must be a positive amount with at most 7 decimals")
    })?;
    let asset = anchor
        .asset(
            &body.asset_code,
            body.asset_issuer.as_deref().filter(|i| !i.is_empty()),
        )
        .ok_or_else(|| {
            SepError::bad_request(format!("asset {} is not received here", body.asset_code))
        })?
        .clone();
    if asset.min_amount.is_some_and(|min| amount < min) {
        return Err(SepError::bad_request("the amount is below the minimum"));
    }
    if asset.max_amount.is_some_and(|max| amount > max) {
        return Err(SepError::bad_request("the amount is above the maximum"));
    }
    let fee = asset
        .fee(amount)
        .filter(|fee| *fee < amount)
        .ok_or_else(|| SepError::bad_request("the amount does not cover the fee"))?;
    let sender_id = accepted(&anchor, &client, body.sender_id.as_deref(), SENDER).await?;
    let receiver_id = accepted(&anchor, &client, body.receiver_id.as_deref(), RECEIVER).await?;
    let mut memo = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut memo);
    let at = i64::try_from(now()).unwrap_or(i64::MAX);
    let received = Received {
        transaction_id: new_id(),
        client: client.sub(),
        sender_id,
        receiver_id,
        amount_in: amount.to_string(),
        amount_fee: fee.to_string(),
        asset_code: asset.code.clone(),
        asset_issuer: asset.issuer.to_string(),
        memo: STANDARD.encode(memo),
        status: "pending_sender".into(),
        message: None,
        stellar_transaction_id: None,
        stellar_operation_id: None,
        created_at: at,
        updated_at: at,
        completed_at: None,
    };
    anchor.store.create_received(received.clone()).await?;
    metrics::counter!("compliance_sep31_received_total", "event" => "created").increment(1);
    tracing::info!(id = %received.transaction_id, amount = %received.amount_in, "SEP-31 transaction created");
    Ok(HttpResponse::Created().json(serde_json::json!({
        "id": received.transaction_id,
        "stellar_account_id": anchor.settings.receiving_account.to_string(),
        "stellar_memo_type": "hash",
        "stellar_memo": received.memo,
    })))
}

/// The id of a customer of this client's (its account, and its memo when the token has one)
/// that we accepted, or `customer_info_needed` with the type (exactly that error: SEP-31
/// clients compare it).
async fn accepted(
    anchor: &Anchor,
    client: &Client,
    id: Option<&str>,
    kind: &'static str,
) -> Result<String, SepError> {
    let needed = || SepError {
        kind: Some(kind.to_owned()),
        ..SepError::bad_request("customer_info_needed")
    };
    let id = id.filter(|id| !id.is_empty()).ok_or_else(needed)?;
    let customer = anchor
        .store
        .customer(id)
        .await?
        .filter(|c| {
            c.account == client.account
                && (client.memo.is_empty() || c.memo == client.memo)
                && c.kind == kind
        })
        .ok_or_else(needed)?;
    match customer.status.as_str() {
        "ACCEPTED" => Ok(customer.customer_id),
        "REJECTED" => Err(SepError::bad_request(format!(
            "the {kind} customer was rejected: {}",
            customer.message.unwrap_or_default()
        ))),
        _ => Err(needed()),
    }
}

/// A transaction as SEP-31's `GET /transactions/:id` shows it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct TransactionView {
    /// Its id.
    pub id: String,
    /// The SEP-31 status.
    pub status: String,
    /// For the sender: why, or what to update.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_message: Option<String>,
    /// What the sender pays.
    #[serde(default)]
    pub amount_in: Option<String>,
    /// `stellar:CODE:ISSUER`.
    #[serde(default)]
    pub amount_in_asset: Option<String>,
    /// What the receiver gets.
    #[serde(default)]
    pub amount_out: Option<String>,
    /// `stellar:CODE:ISSUER`.
    #[serde(default)]
    pub amount_out_asset: Option<String>,
    /// Our fee.
    #[serde(default)]
    pub amount_fee: Option<String>,
    /// The account paid.
    #[serde(default)]
    pub stellar_account_id: Option<String>,
    /// `hash`.
    #[serde(default)]
    pub stellar_memo_type: Option<String>,
    /// The memo.
    #[serde(default)]
    pub stellar_memo: Option<String>,
    /// The payment's transaction hash.
    #[serde(default)]
    pub stellar_transaction_id: Option<String>,
    /// RFC 3339.
    #[serde(default)]
    pub started_at: Option<String>,
    /// RFC 3339.
    #[serde(default)]
    pub updated_at: Option<String>,
    /// RFC 3339.
    #[serde(default)]
    pub completed_at: Option<String>,
    /// The message for `pending_customer_info_update`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub required_info_message: Option<String>,
}

fn rfc3339(seconds: i64) -> Option<String> {
    time::OffsetDateTime::from_unix_timestamp(seconds)
        .ok()?
        .format(&time::format_description::well_known::Rfc3339)
        .ok()
}

fn view(anchor: &Anchor, t: &Received) -> TransactionView {
    let asset = format!("stellar:{}:{}", t.asset_code, t.asset_issuer);
    let amount_out = t
        .amount_in
        .parse::<Amount>()
        .ok()
        .zip(t.amount_fee.parse::<Amount>().ok())
        .and_then(|(a, f)| a.checked_sub(f))
        .map(|a| a.to_string());
    TransactionView {
        id: t.transaction_id.clone(),
        status: t.status.clone(),
        status_message: t.message.clone(),
        amount_in: Some(t.amount_in.clone()),
        amount_in_asset: Some(asset.clone()),
        amount_out,
        amount_out_asset: Some(asset),
        amount_fee: Some(t.amount_fee.clone()),
        stellar_account_id: Some(anchor.settings.receiving_account.to_string()),
        stellar_memo_type: Some("hash".into()),
        stellar_memo: Some(t.memo.clone()),
        stellar_transaction_id: t.stellar_transaction_id.clone(),
        started_at: rfc3339(t.created_at),
        updated_at: rfc3339(t.updated_at),
        completed_at: t.completed_at.and_then(rfc3339),
        required_info_message: (t.status == "pending_customer_info_update")
            .then(|| t.message.clone())
            .flatten(),
    }
}

/// `GET /sep31/transactions/{id}`.
///
/// # Errors
/// 403 without a token; 404 for an unknown id or another client's transaction.
pub async fn show(
    anchor: web::Data<Anchor>,
    request: HttpRequest,
    id: web::Path<String>,
) -> Result<HttpResponse, SepError> {
    let client = client(&anchor, &request)?;
    let transaction = anchor
        .store
        .received(&id)
        .await?
        .filter(|t| t.client == client.sub())
        .ok_or_else(|| SepError::not_found("transaction not found"))?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "transaction": view(&anchor, &transaction) })))
}

/// `PATCH /sep31/transactions/{id}` (deprecated by SEP-31 in favour of SEP-12): we never ask
/// for transaction fields (`pending_transaction_info_update`), so there is nothing it may
/// update; a customer's information is updated with `PUT /kyc/customer`.
///
/// # Errors
/// 403 without a token; 404 for an unknown id; 400 otherwise.
pub async fn patch(
    anchor: web::Data<Anchor>,
    request: HttpRequest,
    id: web::Path<String>,
) -> Result<HttpResponse, SepError> {
    let client = client(&anchor, &request)?;
    anchor
        .store
        .received(&id)
        .await?
        .filter(|t| t.client == client.sub())
        .ok_or_else(|| SepError::not_found("transaction not found"))?;
    Err(SepError::bad_request(
        "Supplied fields do not allow updates: update customer information with PUT /customer",
    ))
}

/// The payment the bridge received, as it describes it to `/receive`.
#[derive(Debug, Clone)]
pub struct Payment<'a> {
    /// The hash memo, base64.
    pub memo: &'a str,
    /// The amount received.
    pub amount: Option<&'a str>,
    /// Its asset code.
    pub asset_code: Option<&'a str>,
    /// Its asset issuer.
    pub asset_issuer: Option<&'a str>,
    /// The transaction's hash.
    pub transaction_hash: Option<&'a str>,
    /// The payment operation's id.
    pub operation_id: Option<&'a str>,
}

/// The SEP-31 transaction a received payment pays (by its memo), recorded as paid: `None`
/// when no transaction has this memo. The data JSON the back office receives carries the
/// transaction and both customers' fields.
///
/// # Errors
/// 409 `not_yet` while the transaction waits for a customer's information (the bridge
/// delivers later); 500 on database failures.
pub async fn matched(
    anchor: &Anchor,
    payment: &Payment<'_>,
) -> Result<Option<(Sep31Received, String)>, Error> {
    let Some(transaction) = anchor.store.received_by_memo(payment.memo).await? else {
        return Ok(None);
    };
    let id = transaction.transaction_id.clone();
    if transaction.status == "pending_customer_info_update" {
        return Err(Error::NotYet(format!(
            "SEP-31 transaction {id} waits for updated customer information"
        )));
    }
    if matches!(
        transaction.status.as_str(),
        "pending_sender" | "pending_stellar"
    ) {
        let (status, message) = match mismatch(&transaction, payment) {
            None => ("pending_receiver", None),
            Some(why) => ("error", Some(why)),
        };
        let event = if status == "error" {
            "mismatched"
        } else {
            "paid"
        };
        let moved = anchor
            .store
            .move_received(
                &id,
                &["pending_sender", "pending_stellar"],
                status,
                message,
                payment.transaction_hash.map(|hash| {
                    (
                        hash.to_owned(),
                        payment.operation_id.unwrap_or("").to_owned(),
                    )
                }),
            )
            .await?;
        if moved {
            metrics::counter!("compliance_sep31_received_total", "event" => event).increment(1);
        }
    }
    let transaction = anchor
        .store
        .received(&id)
        .await?
        .ok_or(Error::TransactionNotFound)?;
    // Asked for again in the meantime: not deliverable yet either.
    if matches!(
        transaction.status.as_str(),
        "pending_customer_info_update" | "pending_sender" | "pending_stellar"
    ) {
        return Err(Error::NotYet(format!(
            "SEP-31 transaction {id} is {}",
            transaction.status
        )));
    }
    // Another payment with a memo already paid (by another transaction, or another operation
    // of the same one): the transaction stays as it is, and the back office is told this one
    // is not its payment (to refund).
    let paid_by = (
        transaction.stellar_transaction_id.as_deref(),
        transaction.stellar_operation_id.as_deref().unwrap_or(""),
    );
    let this = (payment.transaction_hash, payment.operation_id.unwrap_or(""));
    let extra_payment = match paid_by {
        (Some(hash), operation) if (Some(hash), operation) != this => Some(format!(
            "transaction {id} was already paid by operation {operation} of {hash}: this \
             payment is not its payment (refund it)"
        )),
        _ => None,
    };
    let customer = |id: String| async move {
        match anchor.store.customer(&id).await? {
            Some(c) => super::kyc::decided_when_due(anchor, c)
                .await
                .map_err(|e| Error::internal(e.error)),
            None => Ok(None),
        }
    };
    let sender = customer(transaction.sender_id.clone()).await?;
    let receiver = customer(transaction.receiver_id.clone()).await?;
    // A payment to credit goes to the back office only while both customers stand accepted
    // (their data may have changed since it was paid). Otherwise it is never left waiting on
    // nothing: a customer rejected or deleted since ends the transaction in `error` (the
    // payment delivered as one to refund), one that needs information puts it in
    // `pending_customer_info_update` (the sender is asked), one being decided waits.
    let status = |c: &Option<super::store::Customer>| {
        c.as_ref()
            .map_or("DELETED", |c| c.status.as_str())
            .to_owned()
    };
    let (sender_status, receiver_status) = (status(&sender), status(&receiver));
    let mut transaction = transaction;
    if extra_payment.is_none()
        && transaction.status == "pending_receiver"
        && (sender_status != "ACCEPTED" || receiver_status != "ACCEPTED")
    {
        let blocking = if sender_status == "ACCEPTED" {
            ("receiver", receiver_status.as_str())
        } else {
            ("sender", sender_status.as_str())
        };
        match blocking.1 {
            "REJECTED" | "DELETED" => {
                let why = format!(
                    "the {} customer was {} after the payment: refund it",
                    blocking.0,
                    blocking.1.to_ascii_lowercase()
                );
                anchor
                    .store
                    .move_received(&id, &["pending_receiver"], "error", Some(why), None)
                    .await?;
                transaction = anchor
                    .store
                    .received(&id)
                    .await?
                    .ok_or(Error::TransactionNotFound)?;
            }
            "NEEDS_INFO" => {
                anchor
                    .store
                    .move_received(
                        &id,
                        &["pending_receiver"],
                        "pending_customer_info_update",
                        Some(format!(
                            "the {} customer's information is needed",
                            blocking.0
                        )),
                        None,
                    )
                    .await?;
                return Err(Error::NotYet(format!(
                    "SEP-31 transaction {id} waits for its {} customer's information",
                    blocking.0
                )));
            }
            _ => {
                return Err(Error::NotYet(format!(
                    "SEP-31 transaction {id} waits for its {} customer to be decided",
                    blocking.0
                )));
            }
        }
    }
    let fields = |c: Option<super::store::Customer>| {
        c.and_then(|c| serde_json::from_str::<BTreeMap<String, String>>(&c.fields).ok())
            .unwrap_or_default()
    };
    let (sender, receiver) = (fields(sender), fields(receiver));
    let data = serde_json::json!({
        "sep31": view(anchor, &transaction),
        "sender_id": transaction.sender_id,
        "receiver_id": transaction.receiver_id,
        "sender_info": sender,
        "receiver_info": receiver,
    });
    Ok(Some((
        Sep31Received {
            transaction_id: id,
            status: if extra_payment.is_some() {
                "error".to_owned()
            } else {
                transaction.status.clone()
            },
            message: extra_payment.or_else(|| transaction.message.clone()),
            sender_id: transaction.sender_id.clone(),
            receiver_id: transaction.receiver_id.clone(),
            route: receiver
                .get("bank_account_number")
                .cloned()
                .unwrap_or_default(),
        },
        data.to_string(),
    )))
}

/// Why a payment does not pay its transaction, if it does not: the exact amount in the
/// transaction's asset.
fn mismatch(transaction: &Received, payment: &Payment<'_>) -> Option<String> {
    let asset_matches = payment.asset_code == Some(transaction.asset_code.as_str())
        && payment.asset_issuer == Some(transaction.asset_issuer.as_str());
    if !asset_matches {
        return Some(format!(
            "paid in {}:{} instead of {}:{}",
            payment.asset_code.unwrap_or("native"),
            payment.asset_issuer.unwrap_or(""),
            transaction.asset_code,
            transaction.asset_issuer
        ));
    }
    let paid = payment.amount.and_then(|a| a.parse::<Amount>().ok());
    let expected = transaction.amount_in.parse::<Amount>().ok();
    (paid != expected).then(|| {
        format!(
            "received {} instead of {}",
            payment.amount.unwrap_or("nothing"),
            transaction.amount_in
        )
    })
}

/// `POST /sep31/complete` (internal, the bridge): the back office took the payment of
/// `transaction_id`; `pending_receiver` → `completed`.
///
/// # Errors
/// 404 for an unknown transaction; 400 when it is in another status.
pub async fn complete(
    anchor: web::Data<Anchor>,
    form: web::Form<Fields>,
) -> Result<HttpResponse, Error> {
    let id = field(&form, "transaction_id").ok_or(Error::MissingParameter("transaction_id"))?;
    if anchor
        .store
        .move_received(id, &["pending_receiver"], "completed", None, None)
        .await?
    {
        metrics::counter!("compliance_sep31_received_total", "event" => "completed").increment(1);
    }
    let transaction = anchor
        .store
        .received(id)
        .await?
        .ok_or(Error::TransactionNotFound)?;
    if transaction.status != "completed" {
        return Err(Error::invalid(
            "transaction_id",
            format!("the transaction is {}", transaction.status),
        ));
    }
    Ok(HttpResponse::Ok().json(serde_json::json!({ "status": transaction.status })))
}

/// `POST /sep31/request_info` (internal, the back office): a customer of a transaction must
/// send some fields again (`fields`, comma-separated, with a `message`); the transaction is
/// `pending_customer_info_update` until the sender does.
///
/// # Errors
/// 404 for an unknown transaction; 400 for a finished one or missing fields.
pub async fn request_info(
    anchor: web::Data<Anchor>,
    form: web::Form<Fields>,
) -> Result<HttpResponse, Error> {
    let id = field(&form, "transaction_id").ok_or(Error::MissingParameter("transaction_id"))?;
    let kind = match field(&form, "type").unwrap_or(RECEIVER) {
        SENDER => SENDER,
        RECEIVER => RECEIVER,
        _ => return Err(Error::invalid("type", "sep31-sender or sep31-receiver")),
    };
    let fields: Vec<&str> = field(&form, "fields")
        .ok_or(Error::MissingParameter("fields"))?
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    if fields.is_empty() || fields.iter().any(|f| f.chars().count() > 64) {
        return Err(Error::invalid(
            "fields",
            "comma-separated SEP-9 field names of at most 64 characters",
        ));
    }
    let message = field(&form, "message")
        .unwrap_or("please update the customer's information")
        .to_owned();
    if message.chars().count() > 1000 {
        return Err(Error::invalid("message", "at most 1000 characters"));
    }
    let transaction = anchor
        .store
        .received(id)
        .await?
        .ok_or(Error::TransactionNotFound)?;
    if !matches!(
        transaction.status.as_str(),
        "pending_sender" | "pending_receiver"
    ) {
        return Err(Error::invalid(
            "transaction_id",
            format!("the transaction is {}", transaction.status),
        ));
    }
    let customer_id = if kind == RECEIVER {
        &transaction.receiver_id
    } else {
        &transaction.sender_id
    };
    // The customer first (compare-and-set, as every customer write), then the transaction:
    // a transaction waiting on a customer always finds it asked for the fields.
    let mut asked = None;
    for _ in 0..5 {
        let customer = anchor.store.customer(customer_id).await?.ok_or_else(|| {
            Error::invalid("transaction_id", "the transaction's customer was deleted")
        })?;
        let mut needs = super::kyc::split(&customer.needs);
        for name in &fields {
            if !needs.iter().any(|n| n == name) {
                needs.push((*name).to_owned());
            }
        }
        let needs = needs.join(",");
        if needs.chars().count() > 1000 {
            return Err(Error::invalid("fields", "too many fields asked for again"));
        }
        let updated = super::store::Customer {
            status: "NEEDS_INFO".into(),
            message: Some(message.clone()),
            needs,
            ..customer.clone()
        };
        if anchor
            .store
            .update_customer(updated.clone(), &customer)
            .await?
        {
            asked = Some((customer, updated));
            break;
        }
    }
    let Some((before, updated)) = asked else {
        return Err(Error::NotYet(
            "the customer is being updated; try again".into(),
        ));
    };
    let moved = anchor
        .store
        .move_received(
            id,
            &["pending_sender", "pending_receiver"],
            "pending_customer_info_update",
            Some(message),
            None,
        )
        .await?;
    if moved {
        metrics::counter!("compliance_sep31_received_total", "event" => "info_requested")
            .increment(1);
        // A PUT that answered between the two writes found nothing waiting yet: if the
        // customer is accepted again already, the transaction goes on now.
        if let Some(now) = anchor.store.customer(customer_id).await?
            && now.status == "ACCEPTED"
        {
            super::kyc::release(&anchor, &now)
                .await
                .map_err(|e| Error::internal(e.error))?;
        }
    } else {
        // Finished meanwhile: the customer is left as it was, if nobody changed it since.
        anchor.store.update_customer(before, &updated).await?;
        return Err(Error::invalid(
            "transaction_id",
            "the transaction moved on meanwhile",
        ));
    }
    Ok(HttpResponse::Ok().json(serde_json::json!({ "status": "pending_customer_info_update" })))
}
