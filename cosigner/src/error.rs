//! The co-signer's error: `{"code","message","data":{"rule"}}`, the shape of the other servers'
//! errors, with the rule that refused in `data.rule`.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use service::DbError;
use service::http::ErrorBody;

use crate::policy::Refusal;

/// Everything an endpoint answers besides success.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Not signed: 401 (who asks), 400 (what was asked), 403 (a rule), 409 (ask later).
    #[error("{}", refusal.message)]
    Refused {
        /// The rule and what broke it.
        refusal: Refusal,
        /// Seconds until asking again may succeed (`Retry-After`).
        retry_after: Option<u64>,
    },
    /// 400: a bad query string.
    #[error("{0}")]
    BadQuery(String),
    /// 500: the database failed; nothing was signed.
    #[error("database: {0}")]
    Database(#[from] DbError),
}

impl ResponseError for Error {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::Refused { refusal, .. } => {
                StatusCode::from_u16(refusal.rule.status()).unwrap_or(StatusCode::FORBIDDEN)
            }
            Self::BadQuery(_) => StatusCode::BAD_REQUEST,
            Self::Database(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        let mut response = HttpResponse::build(status);
        let body = match self {
            Self::Refused {
                refusal,
                retry_after,
            } => {
                if let Some(seconds) = retry_after {
                    response.insert_header(("Retry-After", seconds.to_string()));
                }
                let code = match status.as_u16() {
                    401 => "unauthorized",
                    400 => "invalid_request",
                    _ => "refused",
                };
                let mut body = ErrorBody::new(code, &refusal.message);
                body.data = Some(serde_json::json!({ "rule": refusal.rule }));
                body
            }
            Self::BadQuery(message) => ErrorBody::new("bad_request", message),
            Self::Database(e) => {
                tracing::error!(error = %e, "co-signer database failure");
                ErrorBody::new(
                    "internal_error",
                    "The decision could not be recorded; nothing was signed.",
                )
            }
        };
        response.json(body)
    }
}
