//! The compliance path of `/payment`: ask the receiving bank through our compliance server's
//! `/send`, and turn its decision into an answer or a draft to sign.

use stellar_base::KeyPair;

use crate::State;
use crate::error::Error;
use compliance::protocol::SendResponse;

use crate::payment::{Fields, draft_from_compliance};
use crate::submitter::Draft;

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
fn refused(status: u16, text: &str) -> Error {
    let Ok(body) = serde_json::from_str::<service::ErrorBody>(text) else {
        return Error::internal(format!("compliance server answered {status}: {text}"));
    };
    let name = body
        .data
        .as_ref()
        .and_then(|d| d["name"].as_str())
        .map(str::to_owned);
    let more_info = body
        .more_info
        .clone()
        .unwrap_or_else(|| body.message.clone());
    match (status, body.code.as_str(), name.as_deref()) {
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

/// Asks the receiver; ok → a draft of the approved transaction.
///
/// # Errors
/// 202 `pending`, 403 `denied`, 400 `compliance_error`, or 500 when compliance fails.
pub async fn approve(
    state: &State,
    fields: &Fields,
    id: &str,
    source: &KeyPair,
) -> Result<Draft, Error> {
    let base = state.compliance.as_ref().expect("checked by the caller");
    let url = base.join("send").map_err(Error::internal)?;
    let public = source.public_key().to_string();
    let mut form: Vec<(&str, &str)> = vec![("id", id), ("source", &public)];
    form.extend(
        fields
            .iter()
            .filter(|(k, v)| passed_on(k) && !v.is_empty())
            .map(|(k, v)| (k.as_str(), v.as_str())),
    );
    let body = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(&form)
        .finish();
    let mut request = state
        .http
        .post(url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body);
    if let Some(key) = &state.compliance_api_key {
        request = request.header("x-api-key", key);
    }
    let response = request
        .send()
        .await
        .map_err(|e| Error::internal(format!("compliance server unreachable: {e}")))?;
    let status = response.status().as_u16();
    let text = response
        .text()
        .await
        .map_err(|e| Error::internal(format!("compliance server: {e}")))?;
    if status != 200 {
        return Err(refused(status, &text));
    }
    let answer: SendResponse = serde_json::from_str(&text)
        .map_err(|e| Error::internal(format!("compliance server answered {e}")))?;
    // SEP-3's precedence: any denied, then any error, then any pending; both ok is 200.
    match answer.auth_response.http_status() {
        403 => return Err(Error::denied()),
        400 => return Err(Error::compliance_error(answer.auth_response.error)),
        202 => {
            return Err(Error::compliance_pending(
                answer.auth_response.pending.unwrap_or(600),
            ));
        }
        _ => {}
    }
    draft_from_compliance(&answer.transaction_xdr, source.clone())
}
