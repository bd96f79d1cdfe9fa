//! `POST /create-keypair` and `POST /authorize`: a fresh key pair for an app, and our issuer
//! authorizing an account's trustline to one of our assets.

use actix_web::{HttpResponse, web};
use compliance::form::{Fields, field};
use stellar_base::transaction::{Operation, flags};
use stellar_base::{Asset, KeyPair, Memo, PublicKey};

use super::answer::respond;
use super::draft::Draft;
use super::sending::Sending;
use crate::error::Error;

/// `POST /create-keypair`: a fresh random key pair.
pub async fn create_keypair() -> HttpResponse {
    let key = KeyPair::random();
    HttpResponse::Ok().json(serde_json::json!({
        "public_key": key.public_key().to_string(),
        "private_key": key.secret_seed(),
    }))
}

/// `POST /authorize`: authorizes `account_id`'s trustline to one of our assets.
///
/// # Errors
/// `not_configured` without the authorizing seed and issuer; the request's invalid fields;
/// what became of the transaction.
pub async fn authorize(
    sending: web::Data<Sending>,
    form: web::Form<Fields>,
) -> Result<HttpResponse, Error> {
    let (key, issuer) = authorizing_keys(&sending)?;
    let trustor = trustor(&form)?;
    let asset = our_asset(&sending, &form, issuer)?;
    let operation =
        Operation::set_trust_line_flags(trustor, &asset, 0, flags::TRUSTLINE_AUTHORIZED)
            .with_source(issuer.into());
    let draft = Draft::one_operation(key, Memo::None, operation);
    respond(sending.submitter.send(&draft, None, None).await)
}

/// The key that signs and the issuer whose asset it authorizes, or which settings are missing.
fn authorizing_keys(sending: &Sending) -> Result<(KeyPair, PublicKey), Error> {
    if let (Some(key), Some(issuer)) = (&sending.authorizing_seed, sending.issuing_account) {
        return Ok((key.clone(), issuer));
    }
    let missing: Vec<&str> = [
        (
            sending.authorizing_seed.is_none(),
            "accounts.authorizing_seed",
        ),
        (
            sending.issuing_account.is_none(),
            "accounts.issuing_account_id",
        ),
    ]
    .into_iter()
    .filter_map(|(absent, key)| absent.then_some(key))
    .collect();
    Err(Error::not_configured("/authorize", &missing))
}

/// `account_id`: whose trustline is authorized.
fn trustor(form: &Fields) -> Result<PublicKey, Error> {
    field(form, "account_id")
        .ok_or_else(|| Error::missing("account_id"))?
        .parse()
        .map_err(|_| {
            Error::invalid(
                "account_id",
                "Account ID must start with `G` and contain 56 alphanum characters.",
            )
        })
}

/// `asset_code` of our issuer, one of `[[assets]]`.
fn our_asset(sending: &Sending, form: &Fields, issuer: PublicKey) -> Result<Asset, Error> {
    let code = field(form, "asset_code").ok_or_else(|| Error::missing("asset_code"))?;
    let asset =
        Asset::credit(code, issuer).map_err(|e| Error::invalid("asset_code", e.to_string()))?;
    if !sending.assets.contains(&asset) {
        return Err(Error::asset_not_allowed());
    }
    Ok(asset)
}
