//! SEP-3 wire types: the auth request (`data` + `sig`), the attachment and the auth response.
//!
//! Field order and names follow the legacy Go structs, so a bank on the legacy server reads
//! what we send and we read what it sends. Signatures are always checked over the bytes as
//! received, never over re-serialised JSON.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize};
use sha2::{Digest, Sha256};

/// The signed part of an auth request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthData {
    /// The sending customer's `name*domain`.
    pub sender: String,
    /// Whether the sender wants the receiver's KYC (`dest_info`).
    pub need_info: bool,
    /// Base64 XDR of the unsigned `Transaction` (sequence 0).
    pub tx: String,
    /// The attachment JSON, as a string; its sha256 is the transaction's hash memo.
    pub attachment: String,
}

/// The Stellar attachment convention.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attachment {
    /// Unique per payment (unix nanoseconds, as legacy); kept across `pending` retries.
    pub nonce: String,
    /// What describes the whole transaction.
    pub transaction: AttachmentTransaction,
    /// Per-operation overrides (legacy senders put `null`).
    #[serde(default)]
    pub operations: Option<Vec<AttachmentOperation>>,
}

/// The transaction part of an attachment.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttachmentTransaction {
    /// KYC of the sending customer (keys sorted, as Go marshals maps).
    #[serde(default)]
    pub sender_info: Option<BTreeMap<String, serde_json::Value>>,
    /// Routing information at the receiver: the federation memo of the destination.
    #[serde(default, deserialize_with = "string_or_number")]
    pub route: String,
    /// A note for the receiver.
    #[serde(default)]
    pub note: String,
    /// The bridge's `extra_memo`.
    #[serde(default)]
    pub extra: String,
}

/// Per-operation attachment fields.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttachmentOperation {
    /// KYC of this operation's sender.
    #[serde(default)]
    pub sender_info: Option<BTreeMap<String, serde_json::Value>>,
    /// Routing information.
    #[serde(default, deserialize_with = "string_or_number")]
    pub route: String,
    /// A note.
    #[serde(default)]
    pub note: String,
}

fn string_or_number<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(match Option::<serde_json::Value>::deserialize(d)? {
        None | Some(serde_json::Value::Null) => String::new(),
        Some(serde_json::Value::String(s)) => s,
        Some(serde_json::Value::Number(n)) => n.to_string(),
        Some(other) => {
            return Err(serde::de::Error::custom(format!(
                "route must be a string or number, not {other}"
            )));
        }
    })
}

impl Attachment {
    /// The JSON text that is hashed into the memo and sent.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("attachments always serialise")
    }

    /// `sender_info` as the JSON object the callbacks receive (`{}` when absent).
    pub fn sender_info_json(&self) -> String {
        serde_json::to_string(&self.transaction.sender_info.clone().unwrap_or_default())
            .expect("maps always serialise")
    }
}

/// sha256 of the exact attachment bytes: what the transaction's hash memo must be.
pub fn attachment_hash(attachment: &str) -> [u8; 32] {
    Sha256::digest(attachment.as_bytes()).into()
}

/// A decision by one side (`info_status`, `tx_status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Approved.
    Ok,
    /// Refused.
    Denied,
    /// Not decided yet; ask again after `pending` seconds.
    Pending,
    /// The request cannot be decided as sent.
    Error,
}

/// The receiver's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthResponse {
    /// KYC decision.
    pub info_status: Status,
    /// Sanctions decision.
    pub tx_status: Status,
    /// The receiving customer's KYC JSON, as a string (when asked for and approved).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dest_info: Option<String>,
    /// Seconds to wait before asking again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending: Option<u64>,
    /// Why the request cannot be decided.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl AuthResponse {
    /// The HTTP status SEP-3 prescribes: any denied 403, any error 400, any pending 202,
    /// both ok 200.
    pub fn http_status(&self) -> u16 {
        let both = [self.info_status, self.tx_status];
        if both.contains(&Status::Denied) {
            403
        } else if both.contains(&Status::Error) {
            400
        } else if both.contains(&Status::Pending) {
            202
        } else {
            200
        }
    }
}

/// The internal `/send` answer: the receiver's decision and the sequence-0 transaction for
/// the bridge to complete, sign and submit (for `pending` and `denied` too, as legacy).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SendResponse {
    /// The receiver's decision.
    pub auth_response: AuthResponse,
    /// Base64 XDR of the transaction, sequence number 0.
    pub transaction_xdr: String,
    /// When the receiver is a SEP-31 anchor: the transaction this payment pays. The bridge
    /// follows it with `/sep31/status` once the payment is in a ledger.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sep31: Option<Sep31Status>,
}

/// A SEP-31 transaction at another anchor, as the internal `/send` and `/sep31/status` tell
/// the bridge.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sep31Status {
    /// The anchor's transaction id.
    pub transaction_id: String,
    /// Its SEP-31 status (`pending_sender`, `pending_receiver`, `completed`, `error`…).
    pub status: String,
    /// The anchor's message (why `error`, what to update).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

impl Sep31Status {
    /// A status after which nothing more happens to the transaction.
    pub fn is_final(&self) -> bool {
        matches!(
            self.status.as_str(),
            "completed" | "refunded" | "expired" | "error"
        )
    }
}

/// What the internal `/receive` adds for a payment that pays a SEP-31 transaction we
/// received.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sep31Received {
    /// The transaction's id.
    pub transaction_id: String,
    /// Its status once the payment is recorded: `pending_receiver`, `completed` (delivered
    /// before), or `error` when the payment does not match it (amount or asset).
    pub status: String,
    /// Why `error`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The sender customer's id.
    pub sender_id: String,
    /// The receiver customer's id.
    pub receiver_id: String,
    /// The receiver's `bank_account_number`: the route our back office credits.
    pub route: String,
}

/// The internal `/receive` answer: the AuthData of an approved transaction, found by its memo.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceiveResponse {
    /// The AuthData JSON, as the sending bank signed it; for a SEP-31 payment, the
    /// transaction and both customers' fields.
    pub data: String,
    /// For a payment that pays a SEP-31 transaction.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sep31: Option<Sep31Received>,
}

/// SEP-4 `tx_status` answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TxStatusResponse {
    /// `unknown`, `approved`, `not_approved`, `pending`, `failed`, `refunded`, `claimable`,
    /// `delivered`.
    #[serde(default)]
    pub status: String,
    /// Code the receiver gives the recipient.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recv_code: Option<String>,
    /// The refund transaction, when refunded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refund_tx: Option<String>,
    /// A message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub msg: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attachment_marshals_like_go_and_reads_numeric_routes() {
        let a = Attachment {
            nonce: "nonce".into(),
            transaction: AttachmentTransaction {
                sender_info: Some(BTreeMap::from([
                    ("last_name".into(), "Doe".into()),
                    ("first_name".into(), "John".into()),
                ])),
                route: "bob".into(),
                note: String::new(),
                extra: "hello world".into(),
            },
            operations: None,
        };
        // Byte for byte the attachment of the shared vector.
        assert_eq!(
            a.to_json(),
            r#"{"nonce":"nonce","transaction":{"sender_info":{"first_name":"John","last_name":"Doe"},"route":"bob","note":"","extra":"hello world"},"operations":null}"#
        );
        let t: AttachmentTransaction = serde_json::from_str(r#"{"route":15}"#).unwrap();
        assert_eq!(t.route, "15");
        assert!(serde_json::from_str::<AttachmentTransaction>(r#"{"route":[1]}"#).is_err());
    }

    #[test]
    fn statuses_map_to_sep3_http_codes() {
        let r = |info, tx| AuthResponse {
            info_status: info,
            tx_status: tx,
            dest_info: None,
            pending: None,
            error: None,
        };
        use Status::*;
        assert_eq!(r(Ok, Ok).http_status(), 200);
        assert_eq!(r(Ok, Pending).http_status(), 202);
        assert_eq!(r(Pending, Error).http_status(), 400);
        assert_eq!(r(Denied, Error).http_status(), 403);
        assert_eq!(
            serde_json::to_string(&r(Ok, Denied)).unwrap(),
            r#"{"info_status":"ok","tx_status":"denied"}"#
        );
    }
}
