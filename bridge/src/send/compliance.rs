//! The compliance path of `/payment`: ask the receiving bank through our compliance server's
//! `/send`, and turn its decision into an answer or a draft to sign.

use std::sync::Arc;

use compliance::form::Fields;
use compliance::protocol::{SendResponse, Sep31Status};
use stellar_base::transaction::{TransactionError, decode_transaction};
use stellar_base::{AccountAddress, KeyPair, xdr};

use super::draft::Draft;
use crate::compliance_client::{ComplianceCallError, ComplianceClient, Refusal, SendRequest};
use crate::error::Error;

/// Fields passed on to compliance `/send` as they came.
fn passed_on(key: &str) -> bool {
    matches!(
        key,
        "sender"
            | "destination"
            | "amount"
            | "asset_code"
            | "asset_issuer"
            | "send_max"
            | "dest_min"
            | "send_asset_code"
            | "send_asset_issuer"
            | "extra_memo"
    ) || key.starts_with("forward_destination[")
        || key.starts_with("path[")
}

/// What compliance `/send` refusing a request means for the app that posted `/payment`.
///
/// Its errors name *its* parameters; most are the app's own fields passed on, some (`id`,
/// `source`, the API key) are ours to get right, and those are our failure, not the app's.
/// `text` is the whole answer, `error` the same read as compliance's JSON error.
fn refused(status: u16, error: Option<&Refusal>, text: &str) -> Error {
    let Some(error) = error else {
        return Error::internal(format!("compliance server answered {status}: {text}"));
    };
    let more_info = error
        .more_info
        .clone()
        .unwrap_or_else(|| error.message.clone());
    match (status, error.code.as_str(), error.parameter()) {
        (401 | 403, _, _) => Error::internal(
            "compliance server refused our API key: set `compliance_api_key` (or \
             BRIDGE__COMPLIANCE_API_KEY) to the compliance server's internal `api_key`",
        ),
        (409, "payment_id_conflict", _) => Error::conflict(),
        (_, "cannot_resolve_destination", _) => Error::cannot_resolve(more_info),
        (_, "auth_server_not_defined", _) => Error::auth_server_not_defined(),
        // Fields we fill in ourselves: a refusal is our bug, not the app's.
        (_, _, Some("id" | "source")) => Error::internal(format!(
            "compliance server refused the bridge's own field: {text}"
        )),
        (400, "missing_parameter", Some(field)) => Error::missing(field),
        (400, "invalid_parameter", Some(field)) => Error::invalid(field, more_info),
        _ => Error::internal(format!("compliance server answered {status}: {text}")),
    }
}

/// What `/payment` does after asking the receiver.
#[derive(Debug)]
pub enum Approval {
    /// Sign and send this draft; when the receiver is a SEP-31 anchor, the transaction it pays
    /// (followed after paying).
    Pay(Draft, Option<Sep31Status>),
    /// The SEP-31 anchor ended the transaction without completing it (`error`, `refunded`,
    /// `expired`): nothing more is paid, and the answer says whether it was paid.
    Ended(Sep31Status),
}

/// Asks the receiver: ok → a draft of the approved transaction.
///
/// # Errors
/// 202 `pending`, 403 `denied`, 400 `compliance_error`, or 500 when compliance fails.
pub async fn approve(
    compliance: &ComplianceClient,
    fields: &Fields,
    id: &str,
    source: &KeyPair,
) -> Result<Approval, Error> {
    let answer = ask_receiver(compliance, fields, id, source).await?;
    if let Some(sep31) = answer
        .sep31
        .as_ref()
        .filter(|s| s.is_final() && s.status != "completed")
    {
        return Ok(Approval::Ended(sep31.clone()));
    }
    decision(&answer)?;
    let draft = draft_from_compliance(&answer.transaction_xdr, source.clone())?;
    Ok(Approval::Pay(draft, answer.sep31))
}

/// What the receiving bank decided, as the batch worker acts on it (where `/payment`
/// answers each as its HTTP error).
#[derive(Debug)]
pub enum Decision {
    /// Approved: the transaction to sign and send.
    Approved(Draft),
    /// Ask again after this many seconds.
    Pending(u64),
    /// Denied.
    Denied,
    /// Refused as written (the receiver's error, or a field it refused): asking again will
    /// not change it.
    Refused(String),
    /// Compliance or the receiver could not be reached or failed: ask again later.
    Unavailable(String),
}

/// As [`approve`], with the outcome as a [`Decision`].
pub async fn decide(
    compliance: &ComplianceClient,
    fields: &Fields,
    id: &str,
    source: &KeyPair,
) -> Decision {
    let answer = match ask_receiver(compliance, fields, id, source).await {
        Ok(answer) => answer,
        Err(error) if error.is_request_refused() => return Decision::Refused(error.to_string()),
        Err(error) => return Decision::Unavailable(error.to_string()),
    };
    let auth = &answer.auth_response;
    match auth.http_status() {
        403 => Decision::Denied,
        400 => Decision::Refused(auth.error.clone().unwrap_or_default()),
        202 => Decision::Pending(auth.pending.unwrap_or(600)),
        _ => match draft_from_compliance(&answer.transaction_xdr, source.clone()) {
            Ok(draft) => Decision::Approved(draft),
            Err(error) => Decision::Refused(error.to_string()),
        },
    }
}

/// Compliance `/send` with our `id` and `source` and the app's fields passed on.
async fn ask_receiver(
    compliance: &ComplianceClient,
    fields: &Fields,
    id: &str,
    source: &KeyPair,
) -> Result<SendResponse, Error> {
    let request = SendRequest {
        id: id.to_owned(),
        source: source.public_key(),
        passed_on: fields
            .iter()
            .filter(|(k, v)| passed_on(k) && !v.is_empty())
            .cloned()
            .collect(),
    };
    compliance.send(&request).await.map_err(|e| match e {
        ComplianceCallError::Refused {
            status,
            body,
            error,
            ..
        } => refused(status, error.as_ref(), &body),
        other => Error::internal(other.to_string()),
    })
}

/// The receiver's decision, in SEP-3's precedence: any denied, then any error, then any
/// pending; both ok is approval.
fn decision(answer: &SendResponse) -> Result<(), Error> {
    let auth = &answer.auth_response;
    match auth.http_status() {
        403 => Err(Error::denied_because(auth.error.clone())),
        400 => Err(Error::compliance_error(auth.error.clone())),
        202 => Err(Error::compliance_pending(auth.pending.unwrap_or(600))),
        _ => Ok(()),
    }
}

/// A draft from the compliance server's transaction: we set sequence, fee and time bounds.
///
/// # Errors
/// When the transaction is not ours to sign.
pub fn draft_from_compliance(xdr_base64: &str, source: KeyPair) -> Result<Draft, Error> {
    let tx = decode_transaction(xdr_base64).map_err(Error::internal)?;
    let account = source.public_key();
    if AccountAddress::from_muxed_account(&tx.source_account).account() != account {
        return Err(Error::internal(
            "compliance built a transaction for another source",
        ));
    }
    let operations = tx.operations.len() as u32;
    Ok(Draft {
        source: account,
        signers: vec![source],
        build: Arc::new(move |carrier, sequence, fee, max_time| {
            let mut tx = tx.clone();
            if carrier != account {
                // A channel carries it: the operations keep the paying account.
                let payer = tx.source_account.clone();
                let mut operations = tx.operations.to_vec();
                for operation in &mut operations {
                    operation
                        .source_account
                        .get_or_insert_with(|| payer.clone());
                }
                tx.operations = operations.try_into().map_err(|_| {
                    TransactionError::InvalidOperation("too many operations".into())
                })?;
                tx.source_account = AccountAddress::Account(carrier).to_muxed_account();
            }
            tx.seq_num = xdr::SequenceNumber(sequence);
            tx.fee = fee
                .checked_mul(operations)
                .ok_or_else(|| TransactionError::InvalidOperation("fee overflows".into()))?;
            tx.cond = xdr::Preconditions::Time(xdr::TimeBounds {
                min_time: xdr::TimePoint(0),
                max_time: xdr::TimePoint(max_time),
            });
            Ok(tx)
        }),
        via_channel: true,
    })
}
