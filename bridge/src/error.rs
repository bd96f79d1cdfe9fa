//! The bridge's error: the legacy JSON shape `{"code","message","more_info"?,"data"?}` with the
//! legacy codes, so apps written for the Go bridge keep parsing it.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use horizon::ResultCodes;
use service::http::ErrorBody;

/// An error answer: a status and the body.
#[derive(Debug)]
pub struct Error {
    status: StatusCode,
    body: ErrorBody,
    /// `Retry-After` seconds (two bytes: the error stays small enough to return by value).
    retry_after: Option<std::num::NonZeroU16>,
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.status.as_u16(),
            self.body.code,
            self.body.message
        )
    }
}

impl Error {
    /// What a person is told (the console shows it).
    pub fn message(&self) -> &str {
        &self.body.message
    }

    fn new(status: StatusCode, code: &str, message: &str) -> Self {
        Self {
            status,
            body: ErrorBody::new(code, message),
            retry_after: None,
        }
    }

    /// True for a refusal of the request as written (a bad or missing field, a destination
    /// that cannot be resolved or takes no compliance payments): nothing reached the network
    /// or the receiving bank's AUTH_SERVER, so the app may fix the request and reuse its id.
    pub fn is_request_refused(&self) -> bool {
        self.status == StatusCode::BAD_REQUEST
            && matches!(
                self.body.code.as_str(),
                "invalid_parameter"
                    | "missing_parameter"
                    | "cannot_resolve_destination"
                    | "auth_server_not_defined"
                    | "cannot_use_memo"
            )
    }

    /// 400 `invalid_parameter` naming the field.
    pub fn invalid(field: &str, more_info: impl Into<String>) -> Self {
        let mut e = Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_parameter",
            "Invalid parameter.",
        );
        e.body.more_info = Some(more_info.into());
        e.body.data = Some(serde_json::json!({ "name": field }));
        e
    }

    /// 400 `invalid_batch`: every bad row of a batch, with its number, id and field; nothing
    /// of the batch was stored.
    pub fn invalid_batch(errors: impl serde::Serialize) -> Self {
        let mut e = Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_batch",
            "Some rows are invalid; nothing of the batch was stored.",
        );
        e.body.data = Some(serde_json::json!({ "errors": errors }));
        e
    }

    /// 404 `not_found`: no batch under this id.
    pub fn batch_not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", "No batch with this id.")
    }

    /// 409 `batch_id_conflict`: the id names a stored batch with other content.
    pub fn batch_conflict() -> Self {
        Self::new(
            StatusCode::CONFLICT,
            "batch_id_conflict",
            "A batch with this id and other content already exists.",
        )
    }

    /// 409 `batch_state`: the batch is not in a state that allows this.
    pub fn batch_state(state: &str) -> Self {
        let mut e = Self::new(
            StatusCode::CONFLICT,
            "batch_state",
            "The batch is not in a state that allows this.",
        );
        e.body.more_info = Some(format!("the batch is {state}"));
        e
    }

    /// 403 `approver_key_required`: approving takes the approver key, which the API key is
    /// not.
    pub fn approver_required() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "approver_key_required",
            "Approving a batch takes the approver key (X-Approver-Key); the API key cannot approve.",
        )
    }

    /// 400 `missing_parameter` naming the field.
    pub fn missing(field: &str) -> Self {
        let mut e = Self::new(
            StatusCode::BAD_REQUEST,
            "missing_parameter",
            "Required parameter is missing.",
        );
        e.body.data = Some(serde_json::json!({ "name": field }));
        e
    }

    /// 400 `cannot_resolve_destination`.
    pub fn cannot_resolve(more_info: impl Into<String>) -> Self {
        let mut e = Self::new(
            StatusCode::BAD_REQUEST,
            "cannot_resolve_destination",
            "Cannot resolve federated Stellar address.",
        );
        e.body.more_info = Some(more_info.into());
        e
    }

    /// 400 `auth_server_not_defined`: the receiver's stellar.toml names no AUTH_SERVER, so it
    /// cannot take a compliance payment.
    pub fn auth_server_not_defined() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "auth_server_not_defined",
            "No AUTH_SERVER defined in stellar.toml file.",
        )
    }

    /// 400 `cannot_use_memo`.
    pub fn cannot_use_memo() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "cannot_use_memo",
            "Memo given in request but federation returned memo fields.",
        )
    }

    /// 400 `source_not_exist`.
    pub fn source_not_exist() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "source_not_exist",
            "Source account does not exist.",
        )
    }

    /// 400 `asset_code_not_allowed`.
    pub fn asset_not_allowed() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "asset_code_not_allowed",
            "Given asset_code not allowed.",
        )
    }

    /// 202 `pending` (compliance): repeat after `seconds`.
    pub fn compliance_pending(seconds: u64) -> Self {
        let mut e = Self::new(
            StatusCode::ACCEPTED,
            "pending",
            "Transaction pending. Repeat your request after given time.",
        );
        e.body.data = Some(serde_json::json!({ "pending": seconds }));
        e
    }

    /// 403 `denied` (compliance).
    pub fn denied() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "denied",
            "Transaction denied by destination.",
        )
    }

    /// 403 `denied` with the receiver's reason (a SEP-31 anchor's KYC rejection).
    pub fn denied_because(reason: Option<String>) -> Self {
        let mut e = Self::denied();
        e.body.more_info = reason;
        e
    }

    /// 202 `pending`: the payment to a SEP-31 anchor is in a ledger, and the anchor has not
    /// completed it yet; the same request again answers where it stands.
    pub fn sep31_pending(hash: &str, sep31: &compliance::protocol::Sep31Status) -> Self {
        let mut e = Self::new(
            StatusCode::ACCEPTED,
            "pending",
            "Payment sent; the receiving anchor has not completed it yet. Repeat your request to follow it.",
        );
        e.body.more_info = sep31.message.clone();
        e.body.data = Some(serde_json::json!({
            "pending": 5,
            "hash": hash,
            "sep31_transaction_id": sep31.transaction_id,
            "sep31_status": sep31.status,
        }));
        e
    }

    /// 400 `compliance_error`: a SEP-31 anchor ended the transaction without completing it
    /// (`error`, `refunded`, `expired`), with its reason.
    pub fn sep31_failed(hash: Option<&str>, sep31: &compliance::protocol::Sep31Status) -> Self {
        let mut e = Self::compliance_error(Some(format!(
            "the receiving anchor's transaction is {}: {}",
            sep31.status,
            sep31.message.clone().unwrap_or_default()
        )));
        e.body.data = Some(serde_json::json!({
            "hash": hash,
            "sep31_transaction_id": sep31.transaction_id,
            "sep31_status": sep31.status,
        }));
        e
    }

    /// 400 `compliance_error`: the receiver cannot decide the request as sent.
    pub fn compliance_error(detail: Option<String>) -> Self {
        let mut e = Self::new(
            StatusCode::BAD_REQUEST,
            "compliance_error",
            "The destination cannot process the compliance request.",
        );
        e.body.more_info = detail;
        e
    }

    /// 202 `transaction_pending`: submitted, outcome unknown; repeat with the same id.
    pub fn transaction_pending(hash: &str) -> Self {
        let mut e = Self::new(
            StatusCode::ACCEPTED,
            "transaction_pending",
            "Transaction submitted; its outcome is not known yet. Repeat the request with the same id.",
        );
        e.body.data = Some(serde_json::json!({ "hash": hash }));
        e
    }

    /// 202 `transaction_pending` because of the fee cap: submitted bidding `max_fee` per
    /// operation while the network charges more (`network_fee`); it waits for the price to
    /// fall. `data`: `{"hash", "reason": "fee_cap", "max_fee", "network_fee"}`.
    pub fn transaction_pending_at_fee_cap(hash: &str, max_fee: u32, network_fee: i64) -> Self {
        let mut e = Self::new(
            StatusCode::ACCEPTED,
            "transaction_pending",
            "Transaction submitted at the fee cap (max_fee), below the network's current fee; \
             it waits for fees to fall. Repeat the request with the same id.",
        );
        e.body.data = Some(serde_json::json!({
            "hash": hash,
            "reason": "fee_cap",
            "max_fee": max_fee,
            "network_fee": network_fee,
        }));
        e
    }

    /// 409 `payment_id_conflict`.
    pub fn conflict() -> Self {
        Self::new(
            StatusCode::CONFLICT,
            "payment_id_conflict",
            "This id was already used for a different payment.",
        )
    }

    /// 403 `cosigner_refused` with the co-signer's rule in `data.rule`, or 503
    /// `cosigner_unavailable` (with `Retry-After` when a co-signer asked to wait): nothing was
    /// stored or sent, and the same request (same `id`) may be repeated after a 503.
    pub fn cosigning(error: crate::send::cosigning::CosignError) -> Self {
        use crate::send::cosigning::CosignError;
        match error {
            CosignError::Refused {
                cosigner,
                rule,
                message,
            } => {
                let mut e = Self::new(
                    StatusCode::FORBIDDEN,
                    "cosigner_refused",
                    "A co-signer refused to sign this payment; nothing was sent.",
                );
                e.body.more_info = Some(message);
                e.body.data = Some(serde_json::json!({ "rule": rule, "cosigner": cosigner }));
                e
            }
            CosignError::Unavailable {
                reason,
                retry_after,
            } => {
                let mut e = Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "cosigner_unavailable",
                    "Too few co-signers signed; nothing was sent. Try again later.",
                );
                e.body.more_info = Some(reason);
                e.retry_after = retry_after.and_then(|s| {
                    std::num::NonZeroU16::new(s.clamp(1, u64::from(u16::MAX)) as u16)
                });
                e
            }
        }
    }

    /// 503 `horizon_unavailable`: nothing was sent.
    pub fn unavailable(more_info: impl Into<String>) -> Self {
        let mut e = Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "horizon_unavailable",
            "Horizon is unavailable; nothing was sent. Try again later.",
        );
        e.body.more_info = Some(more_info.into());
        e
    }

    /// 503 `source_busy`: every source account (channel, or the paying account) carried a
    /// transaction for the whole wait; nothing was built. The same request (same `id`) may be
    /// repeated.
    pub fn busy(more_info: impl Into<String>) -> Self {
        let mut e = Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "source_busy",
            "Every source account is busy; nothing was sent. Try again later.",
        );
        e.body.more_info = Some(more_info.into());
        e
    }

    /// 500 `not_configured`: the endpoint needs settings that `bridge.cfg` lacks (the
    /// operator's to fix, not the caller's); `more_info` and `data.missing` name the keys.
    pub fn not_configured(endpoint: &str, missing: &[&str]) -> Self {
        let keys = missing.join(", ");
        tracing::error!(endpoint, missing = %keys, "endpoint called but not configured");
        let mut e = Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "not_configured",
            "This endpoint is not configured on this server.",
        );
        e.body.more_info = Some(format!(
            "{endpoint} needs {keys} in the bridge configuration"
        ));
        e.body.data = Some(serde_json::json!({ "missing": missing }));
        e
    }

    /// 403 `forbidden`: missing or wrong API key.
    pub fn forbidden() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "A valid API key is required.",
        )
    }

    /// 500, logging the cause (which is not sent).
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!(%cause, "bridge request failed");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_server_error",
            "Internal Server Error, please try again.",
        )
    }

    /// 400 for a transaction the network refused, with the legacy code and Horizon's codes.
    pub fn transaction_failed(hash: &str, codes: &ResultCodes, result_xdr: Option<&str>) -> Self {
        let code = legacy_code(codes);
        let mut e = Self::new(StatusCode::BAD_REQUEST, &code, "Transaction failed.");
        e.body.more_info = Some(format!(
            "transaction: {}, operations: [{}]",
            codes.transaction,
            codes.operations.join(", ")
        ));
        e.body.data = Some(serde_json::json!({
            "hash": hash,
            "result_codes": {"transaction": codes.transaction, "operations": codes.operations},
            "result_xdr": result_xdr,
        }));
        e
    }
}

/// The legacy bridge's name for a Horizon result.
pub fn legacy_code(codes: &ResultCodes) -> String {
    let op = codes
        .operations
        .iter()
        .find(|c| c.as_str() != "op_success")
        .map(String::as_str);
    match (codes.transaction.as_str(), op) {
        ("tx_failed", Some(op)) => match op {
            "op_over_source_max" => "payment_over_sendmax".into(),
            // Signatures too weak for the operation: the legacy name is the transaction's.
            "op_bad_auth" => "transaction_bad_auth".into(),
            "op_low_reserve" => "create_account_low_reserve".into(),
            "op_already_exists" => "create_account_already_exist".into(),
            "op_under_dest_min" => "payment_under_destmin".into(),
            other => format!("payment_{}", other.trim_start_matches("op_")),
        },
        ("tx_failed", None) => "transaction_failed".into(),
        ("tx_no_source_account", _) => "transaction_no_account".into(),
        (tx, _) => format!("transaction_{}", tx.trim_start_matches("tx_")),
    }
}

impl ResponseError for Error {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status);
        if let Some(seconds) = self.retry_after {
            response.insert_header(("Retry-After", seconds.to_string()));
        }
        response.json(&self.body)
    }
}

impl From<compliance::form::InvalidField> for Error {
    fn from(e: compliance::form::InvalidField) -> Self {
        Self::invalid(e.name, e.reason)
    }
}

impl From<service::DbError> for Error {
    fn from(e: service::DbError) -> Self {
        Self::internal(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn codes(tx: &str, ops: &[&str]) -> ResultCodes {
        serde_json::from_value(serde_json::json!({"transaction": tx, "operations": ops})).unwrap()
    }

    #[test]
    fn horizon_results_keep_their_legacy_names() {
        assert_eq!(
            legacy_code(&codes("tx_bad_seq", &[])),
            "transaction_bad_seq"
        );
        assert_eq!(
            legacy_code(&codes("tx_no_source_account", &[])),
            "transaction_no_account"
        );
        assert_eq!(
            legacy_code(&codes("tx_failed", &["op_underfunded"])),
            "payment_underfunded"
        );
        assert_eq!(
            legacy_code(&codes("tx_failed", &["op_success", "op_no_trust"])),
            "payment_no_trust"
        );
        assert_eq!(
            legacy_code(&codes("tx_failed", &["op_no_destination"])),
            "payment_no_destination"
        );
        assert_eq!(
            legacy_code(&codes("tx_failed", &["op_line_full"])),
            "payment_line_full"
        );
        assert_eq!(
            legacy_code(&codes("tx_failed", &["op_over_source_max"])),
            "payment_over_sendmax"
        );
    }
}
