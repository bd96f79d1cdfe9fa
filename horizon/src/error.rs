//! What can go wrong talking to Horizon, sorted by what the caller may do next.
//!
//! This module owns the mapping from an HTTP answer (status, `Retry-After`, Horizon's problem
//! JSON) or a transport failure to one [`Error`]. The distinction that matters most is between
//! *definite* failures (the request was refused; for a submission: the transaction was not
//! applied, or failed with [`ResultCodes`]) and *unknown outcomes* (a 504, a timeout, a broken
//! connection after the body may have been sent), where a submission must be looked up by hash
//! rather than rebuilt.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Horizon's `extras.result_codes` for a failed transaction.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResultCodes {
    /// The transaction result code, e.g. `tx_bad_seq`, `tx_failed`.
    #[serde(default)]
    pub transaction: String,
    /// One code per operation when the transaction got as far as applying them, e.g.
    /// `["op_underfunded"]`; empty otherwise.
    #[serde(default)]
    pub operations: Vec<String>,
    /// For a fee bump whose inner transaction failed (`tx_fee_bump_inner_failed`), the inner
    /// transaction's code, e.g. `tx_bad_seq` (Horizon's `result_codes.inner_transaction`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inner_transaction: Option<String>,
}

/// A failed Horizon call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// 404: the resource does not exist (yet).
    #[error("not found")]
    NotFound,
    /// Horizon's problem JSON for a failed submission (400 with `extras.result_codes`). The
    /// transaction was not applied, or was applied and failed (fee and sequence consumed);
    /// either way the outcome is final.
    #[error("transaction failed ({status}): {}", result_codes.transaction)]
    TransactionFailed {
        /// HTTP status (400).
        status: u16,
        /// `extras.result_codes`.
        result_codes: Box<ResultCodes>,
        /// `extras.result_xdr`.
        result_xdr: Option<String>,
        /// `extras.envelope_xdr`.
        envelope_xdr: Option<String>,
        /// The problem's `detail`.
        detail: String,
    },
    /// 429: not sent / not applied; safe to retry later.
    #[error("rate limited by Horizon")]
    RateLimited {
        /// The `Retry-After` delay, when Horizon gave one in seconds.
        retry_after: Option<Duration>,
    },
    /// 503, or another 5xx that is not 504.
    #[error("Horizon unavailable ({status}): {detail}")]
    Unavailable {
        /// HTTP status.
        status: u16,
        /// The problem's `detail`, or the start of the body.
        detail: String,
    },
    /// 504, or a timeout or transport error after the request may have been sent: for a
    /// submission the outcome is UNKNOWN.
    #[error("Horizon timed out; the outcome is unknown")]
    Timeout,
    /// Other 4xx problems (malformed request, bad query parameter…), and unexpected statuses.
    #[error("Horizon refused the request ({status} {title}): {detail}")]
    BadRequest {
        /// HTTP status.
        status: u16,
        /// The problem's `title`.
        title: String,
        /// The problem's `detail`, with `extras.invalid_field` / `extras.reason` when given.
        detail: String,
    },
    /// The request could not be completed: connection refused, DNS, TLS, or (for reads) a
    /// connection dropped mid-answer. From [`crate::HorizonClient::submit`] only when the
    /// connection was never made, so nothing reached Horizon.
    #[error("cannot reach Horizon: {0}")]
    Transport(String),
    /// Horizon answered something this client cannot read (not JSON, a missing field, too
    /// large, a malformed event stream).
    #[error("cannot read Horizon's answer: {0}")]
    Decode(String),
    /// A stream sent nothing, not even a keep-alive, for longer than the idle timeout.
    #[error("the Horizon stream went silent")]
    StreamIdle,
    /// The client could not be set up (an invalid base URL…).
    #[error("invalid Horizon client configuration: {0}")]
    Config(String),
}

impl Error {
    /// True when a submission may or may not have been applied: 504, timeouts, transport errors
    /// after sending, 5xx other than 503, and answers that could not be read. The caller must
    /// then ask by hash (or resubmit the very same envelope), never build a new transaction.
    ///
    /// Only meaningful for a submission; a GET changes nothing on the ledger.
    pub fn outcome_unknown(&self) -> bool {
        match self {
            Self::Timeout | Self::Decode(_) => true,
            Self::Unavailable { status, .. } => *status != 503,
            _ => false,
        }
    }

    /// True when it is safe to send the same request again: 429, 5xx, timeouts and transport
    /// errors. For a submission, "the same request" means the same signed envelope: Stellar
    /// applies a transaction at most once, so resubmitting it cannot pay twice.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            Self::RateLimited { .. }
                | Self::Unavailable { .. }
                | Self::Timeout
                | Self::Transport(_)
        )
    }
}

/// The fields of a Horizon problem document that this crate uses.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Problem {
    title: String,
    detail: String,
    extras: Option<Extras>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Extras {
    result_codes: Option<ResultCodes>,
    result_xdr: Option<String>,
    envelope_xdr: Option<String>,
    invalid_field: Option<String>,
    reason: Option<String>,
}

/// Longest piece of a non-JSON error body kept in an error message.
const MAX_DETAIL_CHARS: usize = 500;

/// The error for a non-2xx answer with `status` and `body`.
pub(crate) fn from_status(status: u16, retry_after: Option<Duration>, body: &[u8]) -> Error {
    let problem = serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| Problem::deserialize(&v).ok());
    let detail = || match &problem {
        Some(p) => p.detail.clone(),
        None => String::from_utf8_lossy(body)
            .chars()
            .take(MAX_DETAIL_CHARS)
            .collect(),
    };
    match status {
        404 => Error::NotFound,
        429 => Error::RateLimited { retry_after },
        504 => Error::Timeout,
        500..=599 => Error::Unavailable {
            status,
            detail: detail(),
        },
        _ => {
            let extras = problem.as_ref().and_then(|p| p.extras.as_ref());
            if let Some(codes) = extras.and_then(|e| e.result_codes.clone()) {
                return Error::TransactionFailed {
                    status,
                    result_codes: Box::new(codes),
                    result_xdr: extras.and_then(|e| e.result_xdr.clone()),
                    envelope_xdr: extras.and_then(|e| e.envelope_xdr.clone()),
                    detail: detail(),
                };
            }
            let mut detail = detail();
            if let Some(Extras {
                invalid_field: Some(field),
                reason,
                ..
            }) = extras
            {
                detail = format!("{detail} ({field}: {})", reason.as_deref().unwrap_or("?"));
            }
            let title = match problem {
                Some(p) if !p.title.is_empty() => p.title,
                _ => reqwest::StatusCode::from_u16(status)
                    .ok()
                    .and_then(|s| s.canonical_reason())
                    .unwrap_or_default()
                    .to_owned(),
            };
            Error::BadRequest {
                status,
                title,
                detail,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn problems_become_typed_errors() {
        let failed = br#"{"type":"https://stellar.org/horizon-errors/transaction_failed","title":"Transaction Failed","status":400,"detail":"d","extras":{"envelope_xdr":"E","result_xdr":"R","result_codes":{"transaction":"tx_failed","operations":["op_underfunded"]}}}"#;
        match from_status(400, None, failed) {
            Error::TransactionFailed {
                status,
                result_codes,
                result_xdr,
                envelope_xdr,
                detail,
            } => {
                assert_eq!(status, 400);
                assert_eq!(result_codes.transaction, "tx_failed");
                assert_eq!(result_codes.operations, ["op_underfunded"]);
                assert_eq!(result_xdr.as_deref(), Some("R"));
                assert_eq!(envelope_xdr.as_deref(), Some("E"));
                assert_eq!(detail, "d");
            }
            other => panic!("{other:?}"),
        }
        let bad = br#"{"title":"Bad Request","detail":"invalid","extras":{"invalid_field":"cursor","reason":"nope"}}"#;
        assert_eq!(
            from_status(400, None, bad),
            Error::BadRequest {
                status: 400,
                title: "Bad Request".into(),
                detail: "invalid (cursor: nope)".into()
            }
        );
        assert_eq!(from_status(404, None, b""), Error::NotFound);
        let redirect = from_status(301, None, b"moved");
        assert!(
            matches!(redirect, Error::BadRequest { title, .. } if title == "Moved Permanently")
        );
        assert_eq!(from_status(504, None, b"<html>"), Error::Timeout);
        let wait = Some(Duration::from_secs(3));
        assert_eq!(
            from_status(429, wait, b""),
            Error::RateLimited { retry_after: wait }
        );
        let html = "é".repeat(2000);
        let Error::Unavailable { status, detail } = from_status(502, None, html.as_bytes()) else {
            panic!("not unavailable");
        };
        assert_eq!(status, 502);
        assert_eq!(detail.chars().count(), MAX_DETAIL_CHARS);
    }

    #[test]
    fn classification() {
        let unavailable = |status| Error::Unavailable {
            status,
            detail: String::new(),
        };
        assert!(Error::Timeout.outcome_unknown() && Error::Timeout.is_retryable());
        assert!(!unavailable(503).outcome_unknown() && unavailable(503).is_retryable());
        assert!(unavailable(500).outcome_unknown());
        let limited = Error::RateLimited { retry_after: None };
        assert!(!limited.outcome_unknown() && limited.is_retryable());
        let transport = Error::Transport("refused".into());
        assert!(!transport.outcome_unknown() && transport.is_retryable());
        assert!(!Error::NotFound.is_retryable() && !Error::NotFound.outcome_unknown());
        let failed = from_status(
            400,
            None,
            br#"{"extras":{"result_codes":{"transaction":"tx_bad_seq"}}}"#,
        );
        assert!(!failed.is_retryable() && !failed.outcome_unknown());
    }
}
