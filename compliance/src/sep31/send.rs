//! The internal `/send` for a SEP-31 anchor, and `/sep31/status` after the payment.
//!
//! Each `/send` with a payment id moves `sep31_outgoing` one step further and answers where
//! it stands, so a repeat (after `pending`, after a crash, on another instance) continues
//! rather than starts again: customers registered (ids stored), both accepted, the
//! transaction created once (`new` → `creating` → `created` under a compare-and-set: the
//! anchor's id is stored before anything is paid), then the payment to build, checked first
//! (the anchor's own account, a memo of a known type).

use std::collections::BTreeMap;

use actix_web::HttpResponse;
use serde::{Deserialize, Serialize};
use stellar_base::transaction::to_base64;
use stellar_base::{AccountAddress, Amount, Asset, Memo, PublicKey, TransactionBuilder};

use super::client::{AnchorClient, Peer, PeerError};
use super::kyc::sep9_fields;
use super::store::{Outgoing, PeeringStore};
use super::{Protocol, RECEIVER, SENDER};
use crate::callbacks::Callbacks;
use crate::error::Error;
use crate::protocol::{AuthResponse, SendResponse, Sep31Status, Status};

/// What the sending side needs; part of the server's state.
#[derive(Debug)]
pub struct Sending {
    /// The other anchors' client.
    pub client: AnchorClient,
    /// `sep31_outgoing`.
    pub store: PeeringStore,
    /// `[peering] prefer`.
    pub prefer: Protocol,
}

/// The `/send` fields a SEP-31 payment keeps, stored with it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OutgoingRequest {
    /// Our paying account.
    pub source: PublicKey,
    /// Our customer, `name*domain`: whose KYC `fetch_info` gives.
    pub sender: String,
    /// The receiver, `name*domain`: whose KYC `fetch_info` gives.
    pub destination: String,
    /// What the anchor receives.
    pub amount: Amount,
    /// In this asset: its code.
    pub asset_code: String,
    /// Its issuer.
    pub asset_issuer: String,
}

impl OutgoingRequest {
    fn asset(&self) -> Result<Asset, PeerError> {
        Asset::from_code_and_issuer(&self.asset_code, &self.asset_issuer)
            .map_err(|e| PeerError::Unavailable(format!("stored asset: {e}")))
    }
}

/// Whether `domain` is paid over SEP-31: it names a `DIRECT_PAYMENT_SERVER`, and no
/// `AUTH_SERVER` or we prefer SEP-31.
///
/// # Errors
/// When its stellar.toml cannot be read.
pub async fn chosen(
    resolver: &stellar_toml::Resolver,
    prefer: Protocol,
    domain: &str,
) -> Result<bool, Error> {
    let toml = resolver
        .stellar_toml(domain)
        .await
        .map_err(|e| Error::CannotResolveDestination(e.to_string()))?;
    Ok(toml.direct_payment_server.is_some()
        && (toml.auth_server.is_none() || prefer == Protocol::Sep31))
}

/// The answer for a decision that is not (yet) a payment.
fn decided(
    status: Status,
    pending: Option<u64>,
    error: Option<String>,
    sep31: Option<Sep31Status>,
) -> HttpResponse {
    HttpResponse::Ok().json(SendResponse {
        auth_response: AuthResponse {
            info_status: Status::Ok,
            tx_status: status,
            dest_info: None,
            pending,
            error,
        },
        transaction_xdr: String::new(),
        sep31,
    })
}

fn pending(seconds: u64, sep31: Option<Sep31Status>) -> HttpResponse {
    decided(Status::Pending, Some(seconds), None, sep31)
}

fn refused(why: String, sep31: Option<Sep31Status>) -> HttpResponse {
    decided(Status::Error, None, Some(why), sep31)
}

/// A failed call as the answer to `/send`: the anchor's refusal is the app's 400, a broken
/// answer is refused (nothing paid), no answer is our 500.
fn peer_failure(domain: &str, error: PeerError) -> Result<HttpResponse, Error> {
    match error {
        PeerError::Refused { error, .. } => Ok(refused(format!("{domain} refused: {error}"), None)),
        PeerError::Hostile(why) => {
            metrics::counter!("compliance_sep31_sent_total", "event" => "hostile_refused")
                .increment(1);
            Ok(refused(format!("{domain}: {why}; nothing was paid"), None))
        }
        PeerError::Discovery(why) => Err(Error::CannotResolveDestination(why)),
        PeerError::Unavailable(why) => Err(Error::internal(format!("{domain}: {why}"))),
    }
}

/// Moves the payment on; see the module.
///
/// # Errors
/// 500 when the anchor or the back office cannot be reached.
pub async fn proceed(
    sending: &Sending,
    callbacks: &Callbacks,
    outgoing: Outgoing,
) -> Result<HttpResponse, Error> {
    let request: OutgoingRequest =
        serde_json::from_str(&outgoing.request).map_err(Error::internal)?;
    let domain = outgoing.domain.clone();
    let peer = match sending.client.peer(&domain).await {
        Ok(peer) => peer,
        Err(e) => return peer_failure(&domain, e),
    };
    let first = step(sending, callbacks, &peer, &request, outgoing.clone()).await;
    let answer = match first {
        Err(PeerError::Refused {
            status: 401 | 403, ..
        }) => {
            // The kept token was refused (expired early, a restarted anchor): once more with
            // a new one; refused again, the anchor's reason is the answer.
            sending.client.forget_token(&domain);
            let outgoing = sending
                .store
                .outgoing(&outgoing.payment_id)
                .await?
                .ok_or(Error::TransactionNotFound)?;
            step(sending, callbacks, &peer, &request, outgoing).await
        }
        other => other,
    };
    answer.or_else(|e| peer_failure(&domain, e))
}

async fn step(
    sending: &Sending,
    callbacks: &Callbacks,
    peer: &Peer,
    request: &OutgoingRequest,
    outgoing: Outgoing,
) -> Result<HttpResponse, PeerError> {
    let client = &sending.client;
    let token = client.token(peer).await?;
    let asset_code = request.asset_code.clone();
    let (sender_id, receiver_id) = match (&outgoing.sender_id, &outgoing.receiver_id) {
        (Some(s), Some(r)) => (s.clone(), r.clone()),
        _ => {
            let info = client.asset_info(peer, &token, &asset_code).await?;
            if let Some(why) = out_of_bounds(&info, request.amount) {
                return Ok(refused(format!("{}: {why}", peer.domain), None));
            }
            let sender = register(
                sending,
                callbacks,
                peer,
                &token,
                None,
                SENDER,
                &request.sender,
            )
            .await?;
            let receiver = register(
                sending,
                callbacks,
                peer,
                &token,
                None,
                RECEIVER,
                &request.destination,
            )
            .await?;
            sending
                .store
                .set_customers(&outgoing.payment_id, sender.clone(), receiver.clone())
                .await
                .map_err(|e| PeerError::Unavailable(e.to_string()))?;
            (sender, receiver)
        }
    };
    let Some(transaction_id) = outgoing.transaction_id.clone() else {
        if outgoing.state == "creating" {
            return Ok(creating(&outgoing));
        }
        for (id, kind) in [(&sender_id, SENDER), (&receiver_id, RECEIVER)] {
            let state = client.customer(peer, &token, id, kind).await?;
            match state.status.as_str() {
                "ACCEPTED" => {}
                "REJECTED" => {
                    return Ok(decided(
                        Status::Denied,
                        None,
                        Some(format!(
                            "{} rejected the {kind}: {}",
                            peer.domain,
                            state.message.unwrap_or_default()
                        )),
                        None,
                    ));
                }
                "NEEDS_INFO" => {
                    let fields: Vec<&str> = state.fields.keys().map(String::as_str).collect();
                    return Ok(refused(
                        format!(
                            "{} needs more information on the {kind} ({}): {}",
                            peer.domain,
                            fields.join(", "),
                            state.message.unwrap_or_default()
                        ),
                        None,
                    ));
                }
                _ => return Ok(pending(5, None)),
            }
        }
        return create(
            sending,
            peer,
            &token,
            request,
            &outgoing,
            sender_id,
            receiver_id,
        )
        .await;
    };
    let status = client.transaction(peer, &token, &transaction_id).await?;
    if status.status == "pending_customer_info_update" {
        refresh_customers(
            sending,
            callbacks,
            peer,
            &token,
            request,
            &sender_id,
            &receiver_id,
        )
        .await?;
    }
    let sep31 = Sep31Status {
        transaction_id: transaction_id.clone(),
        status: status.status.clone(),
        message: status
            .status_message
            .clone()
            .or(status.required_info_message.clone()),
    };
    // Never paid once the anchor gave up on it.
    if sep31.is_final() && sep31.status != "completed" {
        return Ok(refused(
            format!(
                "the transaction is {}: {}",
                sep31.status,
                sep31.message.clone().unwrap_or_default()
            ),
            Some(sep31),
        ));
    }
    // Paid only while the anchor waits for the payment (SEP-31: `pending_sender`). A repeat
    // after paying never needs it: the bridge answers those from its record of the payment.
    if sep31.status != "pending_sender" {
        return Ok(pending(5, Some(sep31)));
    }
    let pay_to = match (&outgoing.account, &outgoing.memo_type, &outgoing.memo) {
        (Some(a), Some(t), Some(m)) => (a.clone(), t.clone(), m.clone()),
        _ => match (
            &status.stellar_account_id,
            &status.stellar_memo_type,
            &status.stellar_memo,
        ) {
            (Some(a), Some(t), Some(m)) => {
                let pay_to = checked_pay_to(peer, (a.clone(), t.clone(), m.clone()))?;
                sending
                    .store
                    .set_pay_to(
                        &outgoing.payment_id,
                        pay_to.0.clone(),
                        pay_to.1.clone(),
                        pay_to.2.clone(),
                    )
                    .await
                    .map_err(|e| PeerError::Unavailable(e.to_string()))?;
                pay_to
            }
            _ => return Ok(pending(5, Some(sep31))),
        },
    };
    payment(peer, request, &pay_to, sep31)
}

/// Why `amount` is outside the anchor's `min_amount`/`max_amount` for the asset, if it is
/// (read from `/info`, numbers or strings, compared exactly).
fn out_of_bounds(info: &serde_json::Value, amount: Amount) -> Option<String> {
    let bound = |name: &str| -> Option<Amount> {
        match info.get(name)? {
            serde_json::Value::Number(n) => n.to_string().parse().ok(),
            serde_json::Value::String(s) => s.parse().ok(),
            _ => None,
        }
    };
    if let Some(min) = bound("min_amount").filter(|min| amount < *min) {
        return Some(format!("{amount} is below the anchor's minimum of {min}"));
    }
    if let Some(max) = bound("max_amount").filter(|max| amount > *max) {
        return Some(format!("{amount} is above the anchor's maximum of {max}"));
    }
    None
}

/// An outgoing payment whose `POST /transactions` is out (another request's) or whose
/// outcome is unknown: wait a little, then it is the operator's to resolve.
fn creating(outgoing: &Outgoing) -> HttpResponse {
    let age = i64::try_from(super::now()).unwrap_or(i64::MAX) - outgoing.updated_at;
    if age < 120 {
        return pending(5, None);
    }
    refused(
        format!(
            "whether the anchor created the SEP-31 transaction of payment {} is unknown (no \
             answer to POST /transactions); nothing was paid. Check with the anchor, then see \
             docs/peering.md to release it",
            outgoing.payment_id
        ),
        None,
    )
}

/// Registers (or, with `id`, updates) one customer, its fields from `fetch_info`.
async fn register(
    sending: &Sending,
    callbacks: &Callbacks,
    peer: &Peer,
    token: &str,
    id: Option<&str>,
    kind: &str,
    address: &str,
) -> Result<String, PeerError> {
    let info = callbacks
        .sender_info(address)
        .await
        .map_err(|e| PeerError::Unavailable(format!("fetch_info for {address}: {e}")))?
        .unwrap_or_default();
    let fields: BTreeMap<String, String> = sep9_fields(&info);
    let id = sending
        .client
        .put_customer(
            peer,
            token,
            id,
            kind,
            &customer_memo(kind, address),
            &fields,
        )
        .await?;
    if !is_safe_id(&id) {
        return Err(PeerError::Hostile(format!(
            "the customer id {id:?} is not a plain id"
        )));
    }
    Ok(id)
}

/// A memo of our own for each customer, so that the anchor keeps our customers apart
/// (SEP-12: one account, many customers): a number from the hash of the address and type.
fn customer_memo(kind: &str, address: &str) -> String {
    use sha2::{Digest, Sha256};
    let hash = Sha256::digest(format!("{kind}\n{address}").as_bytes());
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(&hash[..8]);
    (u64::from_be_bytes(bytes) >> 1).to_string()
}

/// `POST /transactions`, once: this request takes `new` → `creating`, stores the id the
/// anchor answers, and releases it to `new` only when the anchor refused (nothing created).
async fn create(
    sending: &Sending,
    peer: &Peer,
    token: &str,
    request: &OutgoingRequest,
    outgoing: &Outgoing,
    sender_id: String,
    receiver_id: String,
) -> Result<HttpResponse, PeerError> {
    // SEP-31 v3.1: the anchor names how it delivers; some servers refuse a transaction
    // without one of them. The first it lists.
    let funding_method = sending
        .client
        .asset_info(peer, token, &request.asset_code)
        .await?
        .get("funding_methods")
        .and_then(|m| m.get(0))
        .and_then(serde_json::Value::as_str)
        .map(str::to_owned);
    let store = &sending.store;
    let db = |e: service::DbError| PeerError::Unavailable(e.to_string());
    if !store
        .move_outgoing(&outgoing.payment_id, "new", "creating")
        .await
        .map_err(db)?
    {
        return Ok(pending(5, None));
    }
    let mut body = serde_json::json!({
        "amount": request.amount.to_string(),
        "asset_code": request.asset_code,
        "asset_issuer": request.asset_issuer,
        "sender_id": sender_id,
        "receiver_id": receiver_id,
        // Deprecated by SEP-31 but still required by some servers; empty is harmless.
        "fields": {"transaction": {}},
    });
    if let Some(method) = funding_method {
        body["funding_method"] = method.into();
    }
    let created = match sending.client.create(peer, token, body).await {
        Ok(created) => created,
        Err(e @ PeerError::Refused { .. }) => {
            store
                .move_outgoing(&outgoing.payment_id, "creating", "new")
                .await
                .map_err(db)?;
            return Err(e);
        }
        // No answer: whether it was created is unknown, and stays `creating`.
        Err(e) => return Err(e),
    };
    if !is_safe_id(&created.id) {
        store
            .move_outgoing(&outgoing.payment_id, "creating", "new")
            .await
            .map_err(db)?;
        return Err(PeerError::Hostile(format!(
            "the transaction id {:?} is not a plain id",
            created.id
        )));
    }
    let pay_to = match (
        created.stellar_account_id,
        created.stellar_memo_type,
        created.stellar_memo,
    ) {
        (Some(a), Some(t), Some(m)) => Some(checked_pay_to(peer, (a, t, m))),
        _ => None,
    };
    // The anchor's id is kept even when where it asks to be paid is refused: the transaction
    // exists there, and a repeat must not create another.
    store
        .set_created(
            &outgoing.payment_id,
            created.id.clone(),
            pay_to.clone().and_then(Result::ok),
        )
        .await
        .map_err(db)?;
    let pay_to = pay_to.transpose()?;
    metrics::counter!("compliance_sep31_sent_total", "event" => "created").increment(1);
    tracing::info!(payment_id = %outgoing.payment_id, domain = %peer.domain, transaction = %created.id, "SEP-31 transaction created");
    let sep31 = Sep31Status {
        transaction_id: created.id,
        status: "pending_sender".into(),
        message: None,
    };
    match pay_to {
        Some(pay_to) => payment(peer, request, &pay_to, sep31),
        None => Ok(pending(5, Some(sep31))),
    }
}

/// Ids we put in URL paths and columns: letters, digits, `-`, `_`, `.`, at most 64.
fn is_safe_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id != "."
        && id != ".."
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// Where the anchor asks to be paid, refused (nothing paid) unless it is one of the anchor's
/// own accounts (its stellar.toml `ACCOUNTS`) with a valid memo of a type SEP-31 uses (`id`,
/// `text`, `hash`): checked before it is stored.
fn checked_pay_to(
    peer: &Peer,
    (account, memo_type, memo): (String, String, String),
) -> Result<(String, String, String), PeerError> {
    let key: PublicKey = account
        .parse()
        .map_err(|_| PeerError::Hostile(format!("{account:?} is not a G… account")))?;
    if !peer.accounts.contains(&key) {
        return Err(PeerError::Hostile(format!(
            "{key} is not one of the ACCOUNTS in the stellar.toml of {}",
            peer.domain
        )));
    }
    if !matches!(memo_type.as_str(), "id" | "text" | "hash") {
        return Err(PeerError::Hostile(format!(
            "memo type {memo_type:?} is not id, text or hash"
        )));
    }
    if memo.len() > 64 || Memo::parse(&memo_type, &memo).map_or(true, |m| m == Memo::None) {
        return Err(PeerError::Hostile(format!(
            "{memo:?} is not a valid {memo_type} memo"
        )));
    }
    Ok((account, memo_type, memo))
}

/// The payment to the anchor, where it asks (checked again with [`checked_pay_to`]).
fn payment(
    peer: &Peer,
    request: &OutgoingRequest,
    pay_to: &(String, String, String),
    sep31: Sep31Status,
) -> Result<HttpResponse, PeerError> {
    let (account, memo_type, memo) = checked_pay_to(peer, pay_to.clone())?;
    let account: PublicKey = account
        .parse()
        .map_err(|_| PeerError::Hostile("not a G… account".into()))?;
    let memo = Memo::parse(&memo_type, &memo).map_err(|e| PeerError::Hostile(e.to_string()))?;
    let tx = TransactionBuilder::new(request.source.into(), 0)
        .memo(memo)
        .time_bounds(0, 0)
        .operation(stellar_base::transaction::Operation::payment(
            AccountAddress::Account(account),
            &request.asset()?,
            request.amount,
        ))
        .build()
        .map_err(|e| PeerError::Hostile(e.to_string()))?;
    Ok(HttpResponse::Ok().json(SendResponse {
        auth_response: AuthResponse {
            info_status: Status::Ok,
            tx_status: Status::Ok,
            dest_info: None,
            pending: None,
            error: None,
        },
        transaction_xdr: to_base64(&tx),
        sep31: Some(sep31),
    }))
}

/// `/sep31/status`: the anchor's status of the transaction a payment id paid; for
/// `pending_customer_info_update` and with `refresh` (the first look of each `/payment`, not
/// every poll after it), the customers the anchor marks `NEEDS_INFO` are fetched from the back
/// office again and sent.
///
/// # Errors
/// 404 for a payment id with no SEP-31 transaction; 500 when the anchor cannot be reached.
pub async fn status(
    sending: &Sending,
    callbacks: &Callbacks,
    payment_id: &str,
    refresh: bool,
) -> Result<Sep31Status, Error> {
    let outgoing = sending
        .store
        .outgoing(payment_id)
        .await?
        .ok_or(Error::TransactionNotFound)?;
    let (Some(transaction_id), Some(sender_id), Some(receiver_id)) = (
        &outgoing.transaction_id,
        &outgoing.sender_id,
        &outgoing.receiver_id,
    ) else {
        return Err(Error::TransactionNotFound);
    };
    let request: OutgoingRequest =
        serde_json::from_str(&outgoing.request).map_err(Error::internal)?;
    let failed = |e: PeerError| {
        if let PeerError::Refused {
            status: 401 | 403, ..
        } = e
        {
            // The token was refused: the next call authenticates again.
            sending.client.forget_token(&outgoing.domain);
        }
        Error::internal(format!("{}: {e}", outgoing.domain))
    };
    let peer = sending
        .client
        .peer(&outgoing.domain)
        .await
        .map_err(failed)?;
    let token = sending.client.token(&peer).await.map_err(failed)?;
    let view = sending
        .client
        .transaction(&peer, &token, transaction_id)
        .await
        .map_err(failed)?;
    if refresh && view.status == "pending_customer_info_update" {
        refresh_customers(
            sending,
            callbacks,
            &peer,
            &token,
            &request,
            sender_id,
            receiver_id,
        )
        .await
        .map_err(failed)?;
        tracing::info!(%payment_id, "SEP-31 customer information sent again");
    }
    Ok(Sep31Status {
        transaction_id: transaction_id.clone(),
        status: view.status,
        message: view.status_message.or(view.required_info_message),
    })
}

/// For `pending_customer_info_update`: each customer the anchor marks `NEEDS_INFO` is sent
/// again, its data fetched from the back office anew.
async fn refresh_customers(
    sending: &Sending,
    callbacks: &Callbacks,
    peer: &Peer,
    token: &str,
    request: &OutgoingRequest,
    sender_id: &str,
    receiver_id: &str,
) -> Result<(), PeerError> {
    for (id, kind, address) in [
        (sender_id, SENDER, &request.sender),
        (receiver_id, RECEIVER, &request.destination),
    ] {
        let state = sending.client.customer(peer, token, id, kind).await?;
        if state.status == "NEEDS_INFO" {
            register(sending, callbacks, peer, token, Some(id), kind, address).await?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_that_could_leave_the_path_are_refused() {
        assert!(is_safe_id("82fhs729f63dh0v4"));
        assert!(is_safe_id("1e2c6a3e-4c1b-4c8e-9b0e-1f0b8c1d2e3f"));
        for id in ["", "..", "a/b", "a?b", "a%2F", &"x".repeat(65)] {
            assert!(!is_safe_id(id), "{id}");
        }
    }

    #[test]
    fn amounts_outside_the_anchors_bounds_are_refused() {
        let info = serde_json::json!({"min_amount": 1, "max_amount": "1000.5"});
        let amount = |a: &str| a.parse::<Amount>().unwrap();
        assert!(out_of_bounds(&info, amount("0.9999999")).is_some());
        assert!(out_of_bounds(&info, amount("1")).is_none());
        assert!(out_of_bounds(&info, amount("1000.5")).is_none());
        assert!(out_of_bounds(&info, amount("1000.5000001")).is_some());
        assert!(out_of_bounds(&serde_json::json!({}), amount("5")).is_none());
    }

    #[test]
    fn customers_get_distinct_stable_memos() {
        let a = customer_memo(SENDER, "alice*bank.a");
        assert_eq!(a, customer_memo(SENDER, "alice*bank.a"));
        assert_ne!(a, customer_memo(RECEIVER, "alice*bank.a"));
        assert_ne!(a, customer_memo(SENDER, "bob*bank.a"));
        assert!(a.parse::<u64>().is_ok());
    }
}
