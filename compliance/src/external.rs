//! The external port: the AUTH_SERVER other banks call (`POST /`) and SEP-4 `GET /tx_status`.
//!
//! The request is checked completely before any network access (so garbage costs us nothing and
//! reaches no one), then the sender's stellar.toml is fetched (cached) for its `SIGNING_KEY`,
//! then the back office decides. An approval is stored before it is answered.

use std::collections::HashMap;

use actix_web::{HttpRequest, HttpResponse, web};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use stellar_base::transaction::{decode_transaction, to_hex, transaction_hash};
use stellar_base::{Amount, Asset, FederationAddress, Memo, xdr};

use crate::State;
use crate::callbacks::Decision;
use crate::error::Error;
use crate::protocol::{Attachment, AuthData, AuthResponse, Status, attachment_hash};
use crate::store::Authorized;

/// An auth request that passed every offline check.
struct CheckedRequest {
    data: String,
    auth: AuthData,
    sender: FederationAddress,
    signature: Vec<u8>,
    tx: xdr::Transaction,
    attachment: Attachment,
    memo: [u8; 32],
}

fn invalid(more_info: impl Into<String>) -> Error {
    Error::InvalidParameter {
        field: None,
        more_info: more_info.into(),
    }
}

/// Everything that can be checked without the network.
fn check(form: &HashMap<String, String>) -> Result<CheckedRequest, Error> {
    let data = form
        .get("data")
        .filter(|d| !d.is_empty())
        .ok_or_else(|| invalid("data is required"))?
        .clone();
    let sig = form
        .get("sig")
        .filter(|s| !s.is_empty())
        .ok_or_else(|| invalid("sig is required"))?;
    let signature = BASE64
        .decode(sig)
        .ok()
        .filter(|s| s.len() == 64)
        .ok_or_else(|| invalid("sig is not a base64 ed25519 signature"))?;
    let auth: AuthData = serde_json::from_str(&data)
        .map_err(|e| invalid(format!("data is not AuthData JSON: {e}")))?;
    let sender: FederationAddress = auth
        .sender
        .parse()
        .map_err(|e| invalid(format!("data.sender: {e}")))?;
    let tx = decode_transaction(&auth.tx).map_err(|e| invalid(format!("data.tx: {e}")))?;
    let attachment: Attachment = serde_json::from_str(&auth.attachment)
        .map_err(|e| invalid(format!("data.attachment is not an attachment: {e}")))?;
    let Memo::Hash(memo) = Memo::from_xdr(&tx.memo) else {
        return Err(invalid("data.tx: the memo must be a hash memo"));
    };
    if memo != attachment_hash(&auth.attachment) {
        return Err(invalid(
            "Attachment preimage hash does not equal Memo.Hash in Tx",
        ));
    }
    Ok(CheckedRequest {
        data,
        auth,
        sender,
        signature,
        tx,
        attachment,
        memo,
    })
}

/// The amount and asset of the first operation, as `ask_user` receives them.
fn first_payment(tx: &xdr::Transaction) -> (Amount, Asset) {
    let found = tx.operations.first().and_then(|op| match &op.body {
        xdr::OperationBody::Payment(p) => Some((p.amount, &p.asset)),
        xdr::OperationBody::PathPaymentStrictReceive(p) => Some((p.dest_amount, &p.dest_asset)),
        xdr::OperationBody::PathPaymentStrictSend(p) => Some((p.dest_min, &p.dest_asset)),
        _ => None,
    });
    match found {
        Some((amount, asset)) => (
            Amount::from_stroops(amount).unwrap_or_default(),
            Asset::from_xdr(asset).unwrap_or(Asset::Native),
        ),
        None => (Amount::ZERO, Asset::Native),
    }
}

fn status_of(decision: &Decision) -> Status {
    match decision {
        Decision::Ok => Status::Ok,
        Decision::Pending(_) => Status::Pending,
        Decision::Error(_) => Status::Error,
        Decision::Denied => Status::Denied,
    }
}

/// `POST /`: decide an auth request.
///
/// # Errors
/// An invalid or unverifiable request (400); the back office failing (500).
pub async fn authorize(
    state: web::Data<State>,
    form: web::Form<HashMap<String, String>>,
) -> Result<HttpResponse, Error> {
    let request = check(&form)?;
    verify_signature(&state, &request).await?;
    let transaction_id = to_hex(&transaction_hash(&request.tx, &state.network));
    // A repeat of an approved request: the same answer, no second row, no second decision.
    // The same transaction under other AuthData (another sender, say) is refused: the stored
    // AuthData is the record of what was disclosed to whom, and stays the one approved.
    if let Some(stored) = state.store.authorized(&transaction_id).await? {
        if stored.data == request.data {
            return Ok(answer(approval(dest_info(&state, &request).await?)));
        }
        tracing::warn!(%transaction_id, sender = %request.sender, "approved transaction sent again under other AuthData");
        return Err(Error::invalid(
            "data",
            "this transaction was already approved with other AuthData (sender or need_info); \
             send the AuthData that was approved",
        ));
    }
    let tx_decision = state
        .callbacks
        .sanctions(&request.attachment.sender_info_json())
        .await?;
    let info_decision = info_decision(&state, &request).await?;
    let mut response = combine(&tx_decision, &info_decision);
    if response.http_status() == 200 {
        response.dest_info = dest_info(&state, &request).await?;
        record_approval(&state, &request, transaction_id).await?;
    } else {
        tracing::info!(
            %transaction_id,
            sender = %request.sender,
            info = ?response.info_status,
            tx = ?response.tx_status,
            "payment not authorized"
        );
    }
    Ok(answer(response))
}

/// The request is signed with the `SIGNING_KEY` of the sender's stellar.toml.
async fn verify_signature(state: &State, request: &CheckedRequest) -> Result<(), Error> {
    let toml = state
        .resolver
        .stellar_toml(request.sender.domain())
        .await
        .map_err(|e| {
            // The detail (addresses refused, resolver errors) would tell a stranger about our
            // network; it goes to the log, the peer gets the domain only.
            let domain = request.sender.domain();
            tracing::warn!(%domain, error = %e, "cannot fetch the sender's stellar.toml");
            Error::invalid(
                "data.sender",
                format!("Cannot get stellar.toml of sender: cannot fetch stellar.toml of {domain}"),
            )
        })?;
    let key = toml.signing_key().map_err(|_| {
        Error::invalid(
            "data.sender",
            "SIGNING_KEY in stellar.toml of sender is invalid",
        )
    })?;
    if !key.verify(request.data.as_bytes(), &request.signature) {
        return Err(Error::invalid("sig", "Invalid signature."));
    }
    Ok(())
}

/// The KYC decision: ok unless the sender asks for the receiver's info; then the back
/// office's `ask_user`, or else the allow list.
async fn info_decision(state: &State, request: &CheckedRequest) -> Result<Decision, Error> {
    if !request.auth.need_info {
        return Ok(Decision::Ok);
    }
    if state.callbacks.has_ask_user() {
        let (amount, asset) = first_payment(&request.tx);
        let amount = amount.to_string();
        let code = asset.code().unwrap_or("").to_owned();
        let issuer = asset.issuer().map(|i| i.to_string()).unwrap_or_default();
        return state
            .callbacks
            .ask_user(&[
                ("amount", &amount),
                ("asset_code", &code),
                ("asset_issuer", &issuer),
                ("sender", &request.attachment.sender_info_json()),
                ("note", &request.attachment.transaction.note),
            ])
            .await;
    }
    let allowed = state
        .store
        .is_allowed(request.sender.domain(), request.sender.name())
        .await?;
    Ok(if allowed {
        Decision::Ok
    } else {
        Decision::Denied
    })
}

/// The receiving customer's KYC, when the sender asked for it.
async fn dest_info(state: &State, request: &CheckedRequest) -> Result<Option<String>, Error> {
    if request.auth.need_info {
        state
            .callbacks
            .fetch_info(&request.attachment.transaction.route)
            .await
    } else {
        Ok(None)
    }
}

/// Both decisions ok.
fn approval(dest_info: Option<String>) -> AuthResponse {
    AuthResponse {
        info_status: Status::Ok,
        tx_status: Status::Ok,
        dest_info,
        pending: None,
        error: None,
    }
}

/// The answer of two decisions: the longest wait of those pending, the first error.
fn combine(tx_decision: &Decision, info_decision: &Decision) -> AuthResponse {
    let both = [tx_decision, info_decision];
    AuthResponse {
        info_status: status_of(info_decision),
        tx_status: status_of(tx_decision),
        dest_info: None,
        pending: both
            .iter()
            .filter_map(|d| match d {
                Decision::Pending(s) => Some(*s),
                _ => None,
            })
            .max(),
        error: both.iter().find_map(|d| match d {
            Decision::Error(e) => Some(e.clone().unwrap_or_else(|| "rejected".into())),
            _ => None,
        }),
    }
}

/// Stores an approval before it is answered: `/receive` finds its AuthData by memo.
async fn record_approval(
    state: &State,
    request: &CheckedRequest,
    transaction_id: String,
) -> Result<(), Error> {
    state
        .store
        .save_authorized(
            Authorized {
                transaction_id: transaction_id.clone(),
                memo: BASE64.encode(request.memo),
                data: request.data.clone(),
            },
            request.auth.tx.clone(),
        )
        .await?;
    tracing::info!(%transaction_id, sender = %request.sender, "payment authorized");
    Ok(())
}

/// The response with the HTTP status SEP-3 prescribes.
fn answer(response: AuthResponse) -> HttpResponse {
    let status = actix_web::http::StatusCode::from_u16(response.http_status())
        .expect("SEP-3 statuses are valid");
    HttpResponse::build(status).json(response)
}

/// `GET /tx_status?id=` (SEP-4), behind basic auth.
pub async fn tx_status(
    state: web::Data<State>,
    req: HttpRequest,
    query: web::Query<HashMap<String, String>>,
) -> Result<HttpResponse, Error> {
    let Some(auth) = &state.tx_status_auth else {
        return Err(Error::TransactionNotFound);
    };
    let presented = req
        .headers()
        .get(actix_web::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|v| BASE64.decode(v.trim()).ok())
        .and_then(|v| String::from_utf8(v).ok());
    let expected = format!("{}:{}", auth.username, auth.password.expose());
    if !presented.is_some_and(|p| service::auth::keys_match(&expected, &p)) {
        return Err(Error::Unauthorized);
    }
    let id = query
        .get("id")
        .filter(|id| !id.is_empty())
        .ok_or(Error::MissingParameter("id"))?;
    Ok(HttpResponse::Ok().json(state.callbacks.tx_status(id).await?))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An AUTH request from anyone: checked or refused, never a panic; and a request that
    /// passes the checks has the attachment its memo commits to.
    #[test]
    fn the_auth_request_checks_hold_on_mutated_input() {
        let vector: serde_json::Value =
            serde_json::from_str(include_str!("../../vectors/compliance-send.json")).unwrap();
        let data = vector["data"].as_str().unwrap().to_owned();
        let sig = vector["sig"].as_str().unwrap().to_owned();
        let seeds: &[&[u8]] = &[data.as_bytes(), sig.as_bytes()];
        for (i, bytes) in stellar_base::fuzz::cases(seeds, 3_000) {
            let text = String::from_utf8_lossy(&bytes).into_owned();
            for form in [
                HashMap::from([
                    ("data".to_owned(), text.clone()),
                    ("sig".to_owned(), sig.clone()),
                ]),
                HashMap::from([
                    ("data".to_owned(), data.clone()),
                    ("sig".to_owned(), text.clone()),
                ]),
            ] {
                if let Ok(checked) = check(&form) {
                    assert_eq!(
                        checked.memo,
                        attachment_hash(&checked.auth.attachment),
                        "{}",
                        stellar_base::fuzz::replay_hint(i)
                    );
                }
            }
        }
    }
}
