//! `POST /sign` and `GET /decisions`.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use base64::Engine as _;
use serde::Deserialize;
use stellar_base::transaction::{unix_now, unix_now_ms as now_ms};
use stellar_base::xdr::WriteXdr;
use stellar_base::{KeyPair, PublicKey};

use crate::error::Error;
use crate::policy::{Policy, Refusal};
use crate::protocol::{
    CLIENT_HEADER, MAX_PAYMENT_ID_LEN, Rule, SIGNATURE_HEADER, SignRequest, Signature, verify_body,
};
use crate::store::{Ask, Early, Store, Verdict};

/// The clock days are counted by: the system's, shifted in tests to open the next day's
/// window. Request ages and time bounds always use the system's.
#[derive(Debug, Clone, Default)]
pub struct Clock {
    shift_seconds: Arc<AtomicI64>,
}

impl Clock {
    /// Moves the clock by `seconds` (tests).
    pub fn shift(&self, seconds: i64) {
        self.shift_seconds.fetch_add(seconds, Ordering::SeqCst);
    }

    /// The UTC day now, `YYYY-MM-DD`.
    pub fn today(&self) -> String {
        utc_day(unix_now() as i64 + self.shift_seconds.load(Ordering::SeqCst))
    }
}

/// The UTC date of a Unix time, `YYYY-MM-DD` (the civil-from-days algorithm).
pub fn utc_day(unix_seconds: i64) -> String {
    let days = unix_seconds.div_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
}

/// What the handlers share.
#[derive(Debug)]
pub struct State {
    /// The rules.
    pub policy: Policy,
    /// The decisions.
    pub store: Store,
    /// The co-signer's key.
    pub key: KeyPair,
    /// Configured clients by key: their names.
    pub clients: HashMap<PublicKey, String>,
    /// `max_request_age_seconds`.
    pub max_request_age: u64,
    /// Days.
    pub clock: Clock,
    /// How many refusals of unauthenticated requests each address may have written to the
    /// decision log (the rest are counted in metrics only): strangers cannot fill the
    /// database or hold its write turn.
    pub early_log: service::rate_limit::RateLimiter,
}

/// What [`State::early_log`] allows per address: 5 a second on average, 50 at once.
pub fn early_log_limits() -> service::rate_limit::RateLimitSettings {
    service::rate_limit::RateLimitSettings {
        per_second: 5,
        burst: 50,
        ..Default::default()
    }
}

fn header<'a>(req: &'a HttpRequest, name: &str) -> Option<&'a str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}

/// `POST /sign`: authenticates the client, reviews the transaction, decides under the
/// payment id's history and the day's totals, records the decision, and signs or refuses.
///
/// # Errors
/// A refusal with its rule; 500 when the decision could not be recorded (nothing signed).
pub async fn sign(
    state: web::Data<State>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, Error> {
    let (client, client_key, request) = match authenticate(&state, &req, &body) {
        Ok(ok) => ok,
        Err(early) => {
            let refusal = early.refusal.clone();
            let peer = req.peer_addr().map(|a| a.ip());
            if peer.is_none_or(|ip| state.early_log.check(ip).is_ok()) {
                state.store.record_early(early, now_ms()).await?;
            } else {
                metrics::counter!("cosigner_unrecorded_refusals_total").increment(1);
            }
            return Err(counted(Error::Refused {
                refusal,
                retry_after: None,
            }));
        }
    };
    let reviewed = state.policy.review(&request.envelope_xdr, unix_now());
    // The hash the log names: the reviewed transaction's or, when a rule refused it, that of
    // the envelope decoded once more (refusals are the rare path).
    let tx_hash = match &reviewed {
        Ok(reviewed) => Some(reviewed.hash_hex()),
        Err(_) => state.policy.hash_of(&request.envelope_xdr),
    };
    let ask = Ask {
        client,
        client_key: client_key.to_string(),
        nonce: request.nonce,
        payment_id: request.payment_id,
        reviewed,
        tx_hash,
        now_ms: now_ms(),
        day: state.clock.today(),
        // A request is fresh for max_request_age either side of its timestamp, so a nonce is
        // replayable for up to twice that after it was first seen (and a margin for rounding).
        nonce_ttl_ms: 2_000 * state.max_request_age as i64 + 5_000,
    };
    let reviewed = ask.reviewed.clone();
    match state.store.decide(ask, &state.policy).await? {
        Verdict::Sign => {
            let reviewed = reviewed.expect("only a reviewed transaction is signed");
            metrics::counter!("cosigner_decisions_total", "outcome" => "signed", "rule" => "")
                .increment(1);
            let signature = state.key.sign_decorated(&reviewed.hash);
            let signature = signature
                .to_xdr(stellar_base::xdr::Limits::none())
                .expect("a signature encodes");
            Ok(HttpResponse::Ok().json(Signature {
                hash: reviewed.hash_hex(),
                public_key: state.key.public_key().to_string(),
                signature: base64::engine::general_purpose::STANDARD.encode(signature),
            }))
        }
        Verdict::Refuse {
            refusal,
            retry_after,
        } => Err(counted(Error::Refused {
            refusal,
            retry_after,
        })),
    }
}

fn counted(error: Error) -> Error {
    if let Error::Refused { refusal, .. } = &error {
        tracing::info!(rule = %refusal.rule, message = %refusal.message, "refused to sign");
        metrics::counter!("cosigner_decisions_total", "outcome" => "refused", "rule" => refusal.rule.as_str())
            .increment(1);
    }
    error
}

/// Who asks, proven by the signature over the body, with a fresh request.
fn authenticate(
    state: &State,
    req: &HttpRequest,
    body: &[u8],
) -> Result<(String, PublicKey, SignRequest), Early> {
    let presented = header(req, CLIENT_HEADER).map(str::to_owned);
    let early = |client: Option<String>, rule, message: String| Early {
        client,
        payment_id: None,
        refusal: Refusal::new(rule, message),
    };
    let Some((key, name)) = presented
        .as_deref()
        .and_then(|p| p.trim().parse::<PublicKey>().ok())
        .and_then(|key| state.clients.get(&key).map(|name| (key, name.clone())))
    else {
        return Err(early(
            presented.map(|p| format!("unknown {p}")),
            Rule::UnknownClient,
            format!("{CLIENT_HEADER} names no configured client"),
        ));
    };
    let signed = header(req, SIGNATURE_HEADER).is_some_and(|s| verify_body(&key, body, s));
    if !signed {
        return Err(early(
            Some(name),
            Rule::BadSignature,
            format!("{SIGNATURE_HEADER} is not the client's signature of this body"),
        ));
    }
    let request: SignRequest = serde_json::from_slice(body).map_err(|e| {
        early(
            Some(name.clone()),
            Rule::InvalidRequest,
            format!("the body is not a sign request: {e}"),
        )
    })?;
    let with_id = |rule, message: String| Early {
        client: Some(name.clone()),
        payment_id: Some(request.payment_id.clone()),
        refusal: Refusal::new(rule, message),
    };
    if let Err(message) = check_fields(&request) {
        return Err(with_id(Rule::InvalidRequest, message));
    }
    let age = unix_now().abs_diff(request.timestamp);
    if age > state.max_request_age {
        return Err(with_id(
            Rule::StaleRequest,
            format!(
                "the request's timestamp is {age} s from now (at most {} s)",
                state.max_request_age
            ),
        ));
    }
    Ok((name, key, request))
}

fn check_fields(request: &SignRequest) -> Result<(), String> {
    let id = &request.payment_id;
    if id.is_empty() || id.len() > MAX_PAYMENT_ID_LEN || id.chars().any(char::is_control) {
        return Err(format!(
            "payment_id must be 1 to {MAX_PAYMENT_ID_LEN} bytes without control characters"
        ));
    }
    let nonce = &request.nonce;
    if !(16..=64).contains(&nonce.len())
        || !nonce
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err("nonce must be 16 to 64 characters of [A-Za-z0-9_-]".into());
    }
    Ok(())
}

/// `GET /decisions` query.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DecisionsQuery {
    /// At most this many (default 100, at most 1000).
    #[serde(default)]
    pub limit: Option<i64>,
    /// Only decisions with a smaller id (the next page).
    #[serde(default)]
    pub before: Option<i64>,
    /// The day whose totals to show (default today), `YYYY-MM-DD`.
    #[serde(default)]
    pub day: Option<String>,
}

/// `GET /decisions` (admin key): the latest decisions, newest first, and a day's totals
/// against each asset's `per_day`.
///
/// # Errors
/// 400 for a bad query; 500 when the database fails.
pub async fn decisions(
    state: web::Data<State>,
    query: web::Query<DecisionsQuery>,
) -> Result<HttpResponse, Error> {
    let limit = query.limit.unwrap_or(100);
    if !(1..=1_000).contains(&limit) {
        return Err(Error::BadQuery("limit must be between 1 and 1000".into()));
    }
    let day = match &query.day {
        Some(day) if is_day(day) => day.clone(),
        Some(_) => return Err(Error::BadQuery("day must be YYYY-MM-DD".into())),
        None => state.clock.today(),
    };
    let decisions = state.store.decisions(limit, query.before).await?;
    let totals = state.store.day_totals(&day, &state.policy).await?;
    Ok(HttpResponse::build(StatusCode::OK).json(serde_json::json!({
        "decisions": decisions,
        "day": day,
        "totals": totals,
    })))
}

fn is_day(text: &str) -> bool {
    let b = text.as_bytes();
    b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_days_follow_the_calendar() {
        assert_eq!(utc_day(0), "1970-01-01");
        assert_eq!(utc_day(951_782_400), "2000-02-29");
        assert_eq!(utc_day(1_796_083_199), "2026-11-30");
        assert_eq!(utc_day(1_796_083_200), "2026-12-01");
    }

    #[test]
    fn payment_ids_and_nonces_are_checked_before_anything_is_stored() {
        let ok = SignRequest::new("p-1", "AAAA");
        assert!(check_fields(&ok).is_ok());
        for bad in [
            SignRequest {
                payment_id: String::new(),
                ..ok.clone()
            },
            SignRequest {
                payment_id: "a\0b".into(),
                ..ok.clone()
            },
            SignRequest {
                payment_id: "x".repeat(256),
                ..ok.clone()
            },
            SignRequest {
                nonce: "short".into(),
                ..ok.clone()
            },
            SignRequest {
                nonce: "ü".repeat(20),
                ..ok.clone()
            },
        ] {
            assert!(check_fields(&bad).is_err(), "{bad:?}");
        }
    }
}
