//! The compliance server's error: the legacy JSON shape `{"code","message","more_info"?,
//! "data"?}` with the legacy codes, so a bridge written for the Go server keeps working.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use service::http::ErrorBody;

/// Everything a compliance endpoint can answer besides success.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// 400 `invalid_parameter`; `field` goes to `data.name`.
    #[error("Invalid parameter.")]
    InvalidParameter {
        /// The parameter, as legacy named it (`data.sender`, `sig`…).
        field: Option<&'static str>,
        /// What exactly is wrong.
        more_info: String,
    },
    /// 400 `missing_parameter`.
    #[error("Required parameter is missing.")]
    MissingParameter(&'static str),
    /// 400 `cannot_resolve_destination`.
    #[error("Cannot resolve federated Stellar address.")]
    CannotResolveDestination(String),
    /// 400 `auth_server_not_defined`.
    #[error("No AUTH_SERVER defined in stellar.toml file.")]
    AuthServerNotDefined,
    /// 409 `payment_id_conflict`: the id was used for a different request, which was kept.
    #[error("This id was already used for a different payment.")]
    PaymentIdConflict,
    /// 404 `transaction_not_found`.
    #[error("Transaction not found.")]
    TransactionNotFound,
    /// 409 `not_yet`: the transaction cannot be handled yet (a SEP-31 transaction waiting for
    /// a customer's information); ask again later.
    #[error("Not yet: ask again later.")]
    NotYet(String),
    /// 401 `unauthorized`.
    #[error("Missing or invalid credentials.")]
    Unauthorized,
    /// 500: a callback, a peer or the database failed; the cause is logged and summarised.
    #[error("Internal Server Error, please try again.")]
    Internal(String),
}

impl Error {
    /// A 400 naming the parameter.
    pub fn invalid(field: &'static str, more_info: impl Into<String>) -> Self {
        Self::InvalidParameter {
            field: Some(field),
            more_info: more_info.into(),
        }
    }

    /// A 500, logging the cause.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        let cause = cause.to_string();
        tracing::error!(%cause, "compliance request failed");
        Self::Internal(cause)
    }
}

impl From<crate::form::InvalidField> for Error {
    fn from(e: crate::form::InvalidField) -> Self {
        Self::invalid(e.name, e.reason)
    }
}

impl From<service::DbError> for Error {
    fn from(e: service::DbError) -> Self {
        Self::internal(e)
    }
}

impl ResponseError for Error {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::InvalidParameter { .. }
            | Self::MissingParameter(_)
            | Self::CannotResolveDestination(_)
            | Self::AuthServerNotDefined => StatusCode::BAD_REQUEST,
            Self::TransactionNotFound => StatusCode::NOT_FOUND,
            Self::PaymentIdConflict | Self::NotYet(_) => StatusCode::CONFLICT,
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let (code, more_info, name) = match self {
            Self::InvalidParameter { field, more_info } => {
                ("invalid_parameter", Some(more_info.clone()), *field)
            }
            Self::MissingParameter(field) => ("missing_parameter", None, Some(*field)),
            Self::CannotResolveDestination(why) => {
                ("cannot_resolve_destination", Some(why.clone()), None)
            }
            Self::AuthServerNotDefined => ("auth_server_not_defined", None, None),
            Self::TransactionNotFound => ("transaction_not_found", None, None),
            Self::PaymentIdConflict => ("payment_id_conflict", None, None),
            Self::NotYet(why) => ("not_yet", Some(why.clone()), None),
            Self::Unauthorized => ("unauthorized", None, None),
            // The cause is logged, never sent: the AUTH_SERVER answers other banks.
            Self::Internal(_) => ("internal_server_error", None, None),
        };
        let body = ErrorBody {
            more_info,
            data: name.map(|n| serde_json::json!({ "name": n })),
            ..ErrorBody::new(code, self.to_string())
        };
        let mut res = HttpResponse::build(self.status_code());
        if matches!(self, Self::Unauthorized) {
            res.insert_header(("WWW-Authenticate", "Basic realm=\"tx_status\""));
        }
        res.json(body)
    }
}
