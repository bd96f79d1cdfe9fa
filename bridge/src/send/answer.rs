//! The HTTP answer of every sending endpoint: a submitter outcome as the legacy JSON.

use actix_web::HttpResponse;

use super::draft::{Outcome, SendError};
use crate::error::Error;

/// The legacy 200 body of a sent payment (a SEP-31 payment adds its transaction's fields).
pub fn success_body(
    hash: &str,
    ledger: i64,
    envelope_xdr: &str,
    result_xdr: Option<&str>,
) -> serde_json::Value {
    serde_json::json!({
        "hash": hash,
        "ledger": ledger,
        "envelope_xdr": envelope_xdr,
        "result_xdr": result_xdr,
    })
}

/// Turns a submitter result into the HTTP answer: 200 with the hash and ledger, or the error
/// that says what became of the transaction.
///
/// # Errors
/// A failed or pending transaction, or why nothing was sent.
pub fn respond(result: Result<Outcome, SendError>) -> Result<HttpResponse, Error> {
    match result {
        Ok(Outcome::Success {
            hash,
            ledger,
            envelope_xdr,
            result_xdr,
        }) => Ok(HttpResponse::Ok().json(success_body(
            &hash,
            ledger,
            &envelope_xdr,
            result_xdr.as_deref(),
        ))),
        Ok(Outcome::Failed {
            hash,
            result_codes,
            result_xdr,
        }) => Err(Error::transaction_failed(
            &hash,
            &result_codes,
            result_xdr.as_deref(),
        )),
        Ok(Outcome::Pending {
            hash,
            fee_cap: None,
        }) => Err(Error::transaction_pending(&hash)),
        Ok(Outcome::Pending {
            hash,
            fee_cap: Some(cap),
        }) => Err(Error::transaction_pending_at_fee_cap(
            &hash,
            cap.max_fee,
            cap.network_fee,
        )),
        Err(SendError::Conflict) => Err(Error::conflict()),
        Err(SendError::SourceNotFound(_)) => Err(Error::source_not_exist()),
        Err(SendError::Build(e)) => Err(Error::invalid("transaction", e.to_string())),
        Err(SendError::Unavailable(e)) => Err(Error::unavailable(e)),
        Err(SendError::Busy(e)) => Err(Error::busy(e)),
        Err(SendError::Cosigning(e)) => Err(Error::cosigning(e)),
        Err(SendError::Database(e)) => Err(Error::internal(e)),
    }
}
