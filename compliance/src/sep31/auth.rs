//! SEP-10 on the external port: `GET /auth` hands out a challenge signed with our
//! `signing_seed`, `POST /auth` counts the client's signatures (against the account's signers
//! on Horizon when it exists, its master key otherwise) and answers a JWT; [`client`] reads
//! that token back on every SEP-12 and SEP-31 request.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use stellar_base::{AccountAddress, PublicKey};

use super::{Anchor, SepError, now};
use crate::web_auth::{self, Claims, Signers};

/// `GET /auth` parameters.
#[derive(Debug, Deserialize)]
pub struct ChallengeQuery {
    account: Option<String>,
    memo: Option<String>,
    home_domain: Option<String>,
    /// Accepted and ignored: we do not verify client domains (SEP-10 says to ignore it then).
    #[serde(rename = "client_domain")]
    _client_domain: Option<String>,
}

/// `GET /auth`: a challenge for `account` (and `memo`).
///
/// # Errors
/// 400 for an account that is not `G…`/`M…`, a memo that is not an id (or comes with an
/// `M…` account), or another home domain.
pub async fn challenge(
    anchor: web::Data<Anchor>,
    query: web::Query<ChallengeQuery>,
) -> Result<HttpResponse, SepError> {
    let account: AccountAddress = query
        .account
        .as_deref()
        .ok_or_else(|| SepError::bad_request("account is required"))?
        .parse()
        .map_err(|_| SepError::bad_request("account is not a G… or M… account"))?;
    let memo = match query.memo.as_deref() {
        None | Some("") => None,
        Some(_) if matches!(account, AccountAddress::Muxed { .. }) => {
            return Err(SepError::bad_request("a memo cannot go with an M… account"));
        }
        Some(memo) => Some(
            memo.parse::<u64>()
                .map_err(|_| SepError::bad_request("memo must be an id (a 64-bit number)"))?,
        ),
    };
    let home = &anchor.settings.home_domain;
    if let Some(asked) = query.home_domain.as_deref()
        && !asked.eq_ignore_ascii_case(home)
    {
        return Err(SepError::bad_request(format!("home_domain must be {home}")));
    }
    let envelope = web_auth::build_challenge(
        &anchor.signing_key,
        &account,
        memo,
        home,
        &anchor.web_auth_domain,
        &anchor.network,
        now(),
    )
    .map_err(|e| SepError::internal(e.0))?;
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "transaction": envelope.to_base64(),
        "network_passphrase": anchor.network.passphrase(),
    })))
}

/// `POST /auth` body, as JSON or a form.
#[derive(Debug, Deserialize)]
struct SignedChallenge {
    transaction: String,
}

/// `POST /auth`: a JWT for the signed challenge.
///
/// # Errors
/// 400 naming the rule the challenge breaks.
pub async fn token(
    anchor: web::Data<Anchor>,
    request: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, SepError> {
    let is_json = super::is_json(&request);
    let signed: SignedChallenge = if is_json {
        serde_json::from_slice(&body)
            .map_err(|_| SepError::bad_request("transaction is required"))?
    } else {
        url::form_urlencoded::parse(&body)
            .find(|(k, _)| k == "transaction")
            .map(|(_, v)| SignedChallenge {
                transaction: v.into_owned(),
            })
            .ok_or_else(|| SepError::bad_request("transaction is required"))?
    };
    let now = now();
    let server = anchor.signing_key.public_key();
    let challenge = web_auth::read_challenge(
        &signed.transaction,
        &server,
        &[anchor.settings.home_domain.as_str()],
        &anchor.web_auth_domain,
        &anchor.network,
        now,
    )
    .map_err(refused_token)?;
    let signers = signers(&anchor, challenge.client.account(), &server).await?;
    web_auth::verify_signers(&challenge, &server, &signers).map_err(refused_token)?;
    let sub = match challenge.memo {
        Some(memo) => format!("{}:{memo}", challenge.client),
        None => challenge.client.to_string(),
    };
    let claims = Claims {
        iss: anchor.settings.web_auth_endpoint.to_string(),
        sub,
        iat: now,
        exp: now + anchor.settings.jwt_seconds,
        jti: stellar_base::transaction::to_hex(&challenge.hash),
        home_domain: Some(challenge.home_domain),
        client_domain: None,
    };
    tracing::info!(account = %claims.sub, "SEP-10 token issued");
    metrics::counter!("compliance_sep10_tokens_total", "outcome" => "issued").increment(1);
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "token": web_auth::issue_token(&claims, secret(&anchor)),
    })))
}

/// A challenge refused: 400 with the rule it broke, counted.
fn refused_token(why: web_auth::Refused) -> SepError {
    metrics::counter!("compliance_sep10_tokens_total", "outcome" => "refused").increment(1);
    SepError::bad_request(why.0)
}

/// The account's ed25519 signers other than our own key, at its medium threshold; its master
/// key when it does not exist (or no Horizon is configured).
async fn signers(
    anchor: &Anchor,
    account: PublicKey,
    server: &PublicKey,
) -> Result<Signers, SepError> {
    let Some(horizon) = &anchor.horizon else {
        return Ok(Signers::master_key(account));
    };
    let Some(found) = horizon
        .account(&account)
        .await
        .map_err(|e| SepError::internal(format!("reading the client's account: {e}")))?
    else {
        return Ok(Signers::master_key(account));
    };
    let keys = found
        .signers
        .iter()
        .filter(|s| s.kind == "ed25519_public_key" && s.weight > 0)
        .filter_map(|s| Some((s.key.parse::<PublicKey>().ok()?, s.weight)))
        .filter(|(key, _)| key != server)
        .collect();
    Ok(Signers {
        keys,
        threshold: u32::from(found.thresholds.med_threshold),
    })
}

fn secret(anchor: &Anchor) -> &[u8] {
    anchor
        .settings
        .jwt_secret
        .as_ref()
        .map_or(&[][..], |s| s.expose().as_bytes())
}

/// Who a request is from: the claims of its `Authorization: Bearer` token.
#[derive(Debug, Clone)]
pub struct Client {
    /// The account (`G…` or `M…`).
    pub account: String,
    /// The memo it authenticated with ("" for none).
    pub memo: String,
}

impl Client {
    /// The token's subject as issued (`G…`, `M…` or `G…:memo`): what owns a transaction.
    pub fn sub(&self) -> String {
        if self.memo.is_empty() {
            self.account.clone()
        } else {
            format!("{}:{}", self.account, self.memo)
        }
    }
}

/// The client of a request, from its token.
///
/// # Errors
/// 403 for a missing, forged or expired token.
pub fn client(anchor: &Anchor, request: &HttpRequest) -> Result<Client, SepError> {
    let token = request
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .ok_or_else(|| SepError::forbidden("a SEP-10 token is required"))?;
    let claims = web_auth::verify_token(token.trim(), secret(anchor), now())
        .map_err(|e| SepError::forbidden(e.0))?;
    let (account, memo) = match claims.sub.split_once(':') {
        Some((account, memo)) => (account.to_owned(), memo.to_owned()),
        None => (claims.sub, String::new()),
    };
    Ok(Client { account, memo })
}
