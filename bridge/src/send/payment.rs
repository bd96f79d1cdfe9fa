//! `POST /payment`: the legacy form, resolved, built, signed and sent exactly once.
//!
//! Destinations are a `G…` or `M…` account, a `name*domain` resolved with federation, or a
//! forward destination; the resolved account (and its federation memo) is what the transaction
//! pays. With `compliance` configured and `extra_memo` or `use_compliance`, the receiving bank
//! approves first through our compliance server.

use actix_web::{HttpResponse, web};
use compliance::form::{Fields, asset, field, forward_fields, path, request_digest};
use stellar_base::transaction::Operation;
use stellar_base::{AccountAddress, Amount, Asset, KeyPair, Memo};

use super::answer::{respond, success_body};
use super::compliance::{Approval, approve};
use super::draft::{Draft, Outcome};
use super::sending::Sending;
use super::store::{Claim, SentStatus, Store};
use crate::compliance_client::ComplianceClient;
use crate::error::Error;

/// A `/payment` form, read and checked (before any network access).
struct PaymentRequest {
    /// Who pays and signs: `source`, or `accounts.base_seed`.
    source: KeyPair,
    amount: Amount,
    /// The asset the destination receives.
    dest_asset: Asset,
    /// Strict receive: at most this much of `send_asset`.
    send_max: Option<Amount>,
    /// Strict send: at least this much of `dest_asset`.
    dest_min: Option<Amount>,
    send_asset: Asset,
    path: Vec<Asset>,
    /// `memo_type` and `memo`.
    memo: Memo,
    /// The app's payment id: the same id is sent once.
    id: Option<String>,
    /// sha256 of the form: a different request under a stored id is 409.
    digest: Option<String>,
    /// `extra_memo` or `use_compliance`: the receiving bank approves first.
    wants_compliance: bool,
}

/// `POST /payment`.
///
/// # Errors
/// The request's invalid fields; the receiver's refusal; what became of the transaction.
pub async fn payment(
    sending: web::Data<Sending>,
    form: web::Form<Fields>,
) -> Result<HttpResponse, Error> {
    let fields = form.into_inner();
    let request = PaymentRequest::read(&fields, sending.base_seed.as_ref())?;
    let claim = match (&request.id, &request.digest) {
        (Some(id), Some(digest)) => Some((
            id.clone(),
            digest.clone(),
            claim_id(
                &sending.store,
                id,
                digest,
                &without_secrets(&fields, &request),
            )
            .await?,
        )),
        _ => None,
    };
    let answer = send(&sending, &fields, request).await;
    // Refused as written before anything was sent: the app may correct it and reuse the id.
    if let (Err(error), Some((id, digest, Claim::New))) = (&answer, &claim)
        && error.is_request_refused()
    {
        sending
            .store
            .release(id, digest)
            .await
            .map_err(Error::internal)?;
    }
    answer
}

/// The compliance path or the direct one.
async fn send(
    sending: &Sending,
    fields: &Fields,
    request: PaymentRequest,
) -> Result<HttpResponse, Error> {
    if request.wants_compliance
        && let Some(compliance) = &sending.compliance
    {
        return with_compliance(sending, compliance, fields, request).await;
    }
    let (destination, memo) = destination_and_memo(sending, fields, request.memo.clone()).await?;
    let exists = account_exists(sending, &destination).await?;
    let operation = operation(&request, destination, exists)?;
    let draft = Draft::one_operation(request.source, memo, operation);
    respond(
        sending
            .submitter
            .send(&draft, request.id, request.digest)
            .await,
    )
}

impl PaymentRequest {
    /// Reads the form; `base_seed` pays when it names no `source`.
    fn read(fields: &Fields, base_seed: Option<&KeyPair>) -> Result<Self, Error> {
        let source = match field(fields, "source") {
            Some(seed) => KeyPair::from_secret_seed(seed).map_err(|_| {
                Error::invalid(
                    "source",
                    "Account secret must start with `S` and contain 56 alphanum characters.",
                )
            })?,
            None => base_seed.cloned().ok_or_else(|| Error::missing("source"))?,
        };
        let id = field(fields, "id").map(str::to_owned);
        // Stored in VARCHAR(255) columns: refused beyond, the same on every backend.
        if id.as_ref().is_some_and(|id| id.chars().count() > 255) {
            return Err(Error::invalid("id", "at most 255 characters"));
        }
        let amount = positive_amount(fields, "amount")?.ok_or_else(|| Error::missing("amount"))?;
        let dest_asset = asset(fields, "asset_code", "asset_issuer")?;
        let send_max = positive_amount(fields, "send_max")?;
        let dest_min = positive_amount(fields, "dest_min")?;
        if send_max.is_some() && dest_min.is_some() {
            return Err(Error::invalid(
                "dest_min",
                "use send_max (strict receive) or dest_min (strict send), not both",
            ));
        }
        let send_asset = asset(fields, "send_asset_code", "send_asset_issuer")?;
        let path = path(fields)?;
        let memo = Memo::parse(
            field(fields, "memo_type").unwrap_or(""),
            field(fields, "memo").unwrap_or(""),
        )
        .map_err(|e| Error::invalid("memo", e.to_string()))?;
        Ok(Self {
            source,
            amount,
            dest_asset,
            send_max,
            dest_min,
            send_asset,
            path,
            memo,
            id,
            digest: Some(request_digest(fields)),
            wants_compliance: field(fields, "extra_memo").is_some()
                || is_true(fields, "use_compliance"),
        })
    }
}

fn positive_amount(fields: &Fields, name: &str) -> Result<Option<Amount>, Error> {
    field(fields, name)
        .map(|v| {
            v.parse::<Amount>()
                .ok()
                .filter(|a| a.is_positive())
                .ok_or_else(|| {
                    Error::invalid(
                        name,
                        "Amount must be positive and have up to 7 decimal places.",
                    )
                })
        })
        .transpose()
}

fn is_true(fields: &Fields, name: &str) -> bool {
    matches!(field(fields, name), Some("true" | "1" | "on" | "yes"))
}

/// The compliance path: the receiving bank approves through our compliance server, which
/// builds the transaction; we sign and send it under the app's `id` (required here).
async fn with_compliance(
    sending: &Sending,
    compliance: &ComplianceClient,
    fields: &Fields,
    request: PaymentRequest,
) -> Result<HttpResponse, Error> {
    let id = request.id.ok_or_else(|| Error::missing("id"))?;
    if let Some(answer) = resume_sep31(sending, compliance, &id, request.digest.as_deref()).await? {
        return answer;
    }
    let (draft, sep31) = match approve(compliance, fields, &id, &request.source).await? {
        Approval::Pay(draft, sep31) => (draft, sep31),
        Approval::Ended(sep31) => {
            // Paid or not, by what the submitter recorded under this id.
            let paid = sending
                .store
                .by_payment_id(&id)
                .await
                .map_err(Error::internal)?
                .filter(|sent| sent.status == SentStatus::Success)
                .map(|sent| sent.hash);
            return Err(Error::sep31_failed(paid.as_deref(), &sep31));
        }
    };
    let sent = sending
        .submitter
        .send(&draft, Some(id.clone()), request.digest)
        .await;
    match (sep31, sent) {
        (
            Some(sep31),
            Ok(Outcome::Success {
                hash,
                ledger,
                envelope_xdr,
                result_xdr,
            }),
        ) => {
            let sent = success_body(&hash, ledger, &envelope_xdr, result_xdr.as_deref());
            follow_sep31(compliance, &id, sent, sep31).await
        }
        (_, sent) => respond(sent),
    }
}

/// A repeat of a SEP-31 payment we already sent: answered from our record of it (its outcome,
/// resubmitted if it is still out) and followed at the anchor, which is not asked to offer
/// the payment again (it no longer does once paid). `None` when this id has sent nothing, is
/// not a SEP-31 payment, or its envelope expired without landing (then it is built anew, if
/// the anchor still waits for it).
async fn resume_sep31(
    sending: &Sending,
    compliance: &ComplianceClient,
    id: &str,
    digest: Option<&str>,
) -> Result<Option<Result<HttpResponse, Error>>, Error> {
    let Some(stored) = sending
        .store
        .by_payment_id(id)
        .await
        .map_err(Error::internal)?
    else {
        return Ok(None);
    };
    // Not a SEP-31 payment (404), or compliance out of reach: the usual path decides.
    let Ok(sep31) = compliance.sep31_status(id, true).await else {
        return Ok(None);
    };
    // Ended by the anchor: nothing is submitted again; the answer says whether we paid.
    if sep31.is_final() && sep31.status != "completed" {
        let paid = (stored.status == SentStatus::Success).then_some(stored.hash);
        return Ok(Some(Err(Error::sep31_failed(paid.as_deref(), &sep31))));
    }
    match sending.submitter.resume_payment(id, digest).await {
        Ok(None) => Ok(None),
        Ok(Some(Outcome::Success {
            hash,
            ledger,
            envelope_xdr,
            result_xdr,
        })) => {
            let sent = success_body(&hash, ledger, &envelope_xdr, result_xdr.as_deref());
            Ok(Some(follow_sep31(compliance, id, sent, sep31).await))
        }
        Ok(Some(outcome)) => Ok(Some(respond(Ok(outcome)))),
        Err(error) => Ok(Some(respond(Err(error)))),
    }
}

/// How long `/payment` follows a SEP-31 transaction after paying it before answering 202.
const FOLLOW_SEP31: std::time::Duration = std::time::Duration::from_secs(10);

/// After the payment to a SEP-31 anchor is in a ledger: 200 once the anchor says `completed`
/// (the legacy success body, with `sep31_transaction_id` and `sep31_status`),
/// the anchor's reason (400) for `error`, `refunded` or `expired`, 202 with its status while it
/// is pending (the same request again follows it further).
async fn follow_sep31(
    compliance: &ComplianceClient,
    id: &str,
    mut sent: serde_json::Value,
    mut sep31: compliance::protocol::Sep31Status,
) -> Result<HttpResponse, Error> {
    let hash = sent["hash"].as_str().unwrap_or_default().to_owned();
    let deadline = tokio::time::Instant::now() + FOLLOW_SEP31;
    while !sep31.is_final() && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
        // The first look (before this loop) sent updated customer information when the anchor
        // asked for it; these polls only read.
        match compliance.sep31_status(id, false).await {
            Ok(status) => sep31 = status,
            Err(e) => {
                tracing::warn!(%id, error = %e, "following a SEP-31 transaction");
                break;
            }
        }
    }
    match sep31.status.as_str() {
        "completed" => {
            sent["sep31_transaction_id"] = sep31.transaction_id.into();
            sent["sep31_status"] = sep31.status.into();
            Ok(HttpResponse::Ok().json(sent))
        }
        _ if sep31.is_final() => Err(Error::sep31_failed(Some(&hash), &sep31)),
        _ => Err(Error::sep31_pending(&hash, &sep31)),
    }
}

/// The request's fields as JSON `[[name, value]…]` for the console, without what is secret:
/// the API key is left out, and a secret seed given as `source` is replaced by its account.
fn without_secrets(fields: &Fields, request: &PaymentRequest) -> String {
    let kept: Vec<(&str, String)> = fields
        .iter()
        .filter(|(name, _)| name != "apiKey")
        .map(|(name, value)| match name.as_str() {
            "source" => (
                name.as_str(),
                format!("(the secret seed of {})", request.source.public_key()),
            ),
            _ => (name.as_str(), value.clone()),
        })
        .collect();
    serde_json::to_string(&kept).unwrap_or_default()
}

/// Claims the payment id for this request before anything is sent, on either path: another
/// request under the same id is a 409 even while the first one waits on the receiving bank.
/// Ids sent by the legacy server kept no request to compare; the submitter answers those with
/// their stored outcome.
async fn claim_id(store: &Store, id: &str, digest: &str, request: &str) -> Result<Claim, Error> {
    match store.by_payment_id(id).await.map_err(Error::internal)? {
        Some(row) if row.is_legacy() => return Ok(Claim::Same),
        // Sent before ids were claimed: its stored digest decides.
        Some(row) if row.request_digest.as_deref() != Some(digest) => {
            return Err(Error::conflict());
        }
        _ => {}
    }
    match store
        .claim(id, digest, request)
        .await
        .map_err(Error::internal)?
    {
        Claim::Different => Err(Error::conflict()),
        claim => Ok(claim),
    }
}

/// Where the money goes and the memo it carries: the request's memo or the one the
/// destination's federation answer requires, not both.
async fn destination_and_memo(
    sending: &Sending,
    fields: &Fields,
    request_memo: Memo,
) -> Result<(AccountAddress, Memo), Error> {
    let (destination, federation_memo) = resolve(sending, fields).await?;
    let memo = match (federation_memo, request_memo) {
        (Memo::None, memo) => memo,
        (memo, Memo::None) => memo,
        _ => return Err(Error::cannot_use_memo()),
    };
    Ok((destination, memo))
}

/// The account to pay and the memo its owner requires.
async fn resolve(sending: &Sending, fields: &Fields) -> Result<(AccountAddress, Memo), Error> {
    if let Some(destination) = field(fields, "destination") {
        // An M… account is paid as is: the muxed id travels in the operation, not a memo.
        if let Ok(account) = destination.parse::<AccountAddress>() {
            return Ok((account, Memo::None));
        }
        let resolved = sending
            .federation
            .resolve(destination)
            .await
            .map_err(|e| Error::cannot_resolve(e.to_string()))?;
        return Ok((resolved.account.into(), resolved.memo));
    }
    let domain = field(fields, "forward_destination[domain]")
        .ok_or_else(|| Error::missing("destination"))?;
    let forward = forward_fields(fields)?;
    if forward.is_empty() {
        return Err(Error::missing("forward_destination[fields]"));
    }
    let resolved = sending
        .federation
        .forward(&domain.to_ascii_lowercase(), &forward)
        .await
        .map_err(|e| Error::cannot_resolve(e.to_string()))?;
    Ok((resolved.account.into(), resolved.memo))
}

/// Whether the destination's account exists (else only lumens can create it).
async fn account_exists(sending: &Sending, destination: &AccountAddress) -> Result<bool, Error> {
    Ok(sending
        .submitter
        .horizon()
        .account(&destination.account())
        .await
        .map_err(|e| Error::unavailable(e.to_string()))?
        .is_some())
}

/// The operation: `create_account` for a new account paid in lumens, else a payment, or a
/// path payment with `send_max` (strict receive) or `dest_min` (strict send).
fn operation(
    request: &PaymentRequest,
    destination: AccountAddress,
    exists: bool,
) -> Result<Operation, Error> {
    let is_path = request.send_max.is_some() || request.dest_min.is_some();
    match (exists, &request.dest_asset, is_path) {
        // create_account has no muxed destination: the id would be silently dropped.
        (false, _, _) if matches!(destination, AccountAddress::Muxed { .. }) => {
            Err(Error::invalid(
                "destination",
                "The muxed account's base account does not exist; create_account cannot carry \
                 the muxed id. Create the base account first, then pay the M… address.",
            ))
        }
        (false, Asset::Native, false) => Ok(Operation::create_account(
            destination.account(),
            request.amount,
        )),
        (false, _, _) => Err(Error::invalid(
            "destination",
            "Can not send custom asset or path payment to inactive destination.",
        )),
        (true, _, false) => Ok(Operation::payment(
            destination,
            &request.dest_asset,
            request.amount,
        )),
        (true, _, true) => path_payment(request, destination),
    }
}

/// A path payment: strict receive with `send_max`, strict send with `dest_min`.
fn path_payment(request: &PaymentRequest, destination: AccountAddress) -> Result<Operation, Error> {
    let r = request;
    match (r.send_max, r.dest_min) {
        (Some(send_max), _) => Operation::path_payment_strict_receive(
            &r.send_asset,
            send_max,
            destination,
            &r.dest_asset,
            r.amount,
            &r.path,
        ),
        (None, Some(dest_min)) => Operation::path_payment_strict_send(
            &r.send_asset,
            r.amount,
            destination,
            &r.dest_asset,
            dest_min,
            &r.path,
        ),
        (None, None) => unreachable!("a path payment has send_max or dest_min"),
    }
    .map_err(|e| Error::invalid("path", e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A `/payment` form from any app: read or refused, never a panic; what is read is a
    /// positive amount with at most one of `send_max` and `dest_min`.
    #[test]
    fn the_payment_form_holds_on_mutated_input() {
        let base = KeyPair::from_seed_bytes([5; 32]);
        let issuer = KeyPair::from_seed_bytes([6; 32]).public_key();
        let seeds = [
            format!(
                "id=p-1&destination=bob*bank.example&amount=10.5&asset_code=USD&asset_issuer={issuer}&memo_type=text&memo=hello&send_max=11&send_asset_code=XLM&path[0][asset_code]=EUR&path[0][asset_issuer]={issuer}"
            ),
            format!(
                "id=p-2&destination={issuer}&amount=1&dest_min=0.5&forward_destination[domain]=bank.example&forward_destination[fields][name]=x&extra_memo=hi&use_compliance=true"
            ),
        ];
        let seeds: Vec<&[u8]> = seeds.iter().map(|s| s.as_bytes()).collect();
        for (i, bytes) in stellar_base::fuzz::cases(&seeds, 3_000) {
            let fields: Fields = url::form_urlencoded::parse(&bytes).into_owned().collect();
            if let Ok(request) = PaymentRequest::read(&fields, Some(&base)) {
                let hint = stellar_base::fuzz::replay_hint(i);
                assert!(request.amount.is_positive(), "{hint}");
                assert!(
                    request.send_max.is_none() || request.dest_min.is_none(),
                    "{hint}"
                );
            }
        }
    }
}
