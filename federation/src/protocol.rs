//! SEP-2 wire types.

use serde::{Deserialize, Deserializer, Serialize};

/// A federation answer, as SEP-2 defines it. `memo` is always a JSON string on the wire; when
/// reading other servers' answers a JSON number is accepted too (some send id memos that way).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FederationRecord {
    /// `name*domain`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stellar_address: Option<String>,
    /// The `G…` account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
    /// `text`, `id` or `hash`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memo_type: Option<String>,
    /// The memo (hash memos in base64).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "string_or_number"
    )]
    pub memo: Option<String>,
}

fn string_or_number<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Memo {
        Text(String),
        Number(u64),
    }
    Ok(match Option::<Memo>::deserialize(d)? {
        None => None,
        Some(Memo::Text(s)) => Some(s),
        Some(Memo::Number(n)) => Some(n.to_string()),
    })
}

/// A federation error body: the legacy `code` and `message`, plus SEP-2's `error`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FederationErrorBody {
    /// Stable machine-readable code (`invalid_request`, `invalid_query`, `not_found`…).
    pub code: String,
    /// For humans.
    pub message: String,
    /// SEP-2's field, the same text as `message`.
    pub error: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serializes_only_what_is_set_and_memo_as_a_string() {
        let record = FederationRecord {
            stellar_address: Some("bob*bank.test".into()),
            account_id: Some("GCQ4MQ4ZOS6P6RON4HH6FNWNABCLZUCNBSDE3QXFZOX5VYJDDKRQDQOJ".into()),
            memo_type: Some("id".into()),
            memo: Some("123".into()),
        };
        assert_eq!(
            serde_json::to_string(&record).unwrap(),
            r#"{"stellar_address":"bob*bank.test","account_id":"GCQ4MQ4ZOS6P6RON4HH6FNWNABCLZUCNBSDE3QXFZOX5VYJDDKRQDQOJ","memo_type":"id","memo":"123"}"#
        );
        let bare = FederationRecord {
            stellar_address: Some("a*b.c".into()),
            ..Default::default()
        };
        assert_eq!(
            serde_json::to_string(&bare).unwrap(),
            r#"{"stellar_address":"a*b.c"}"#
        );
    }

    #[test]
    fn reads_numeric_memos() {
        let r: FederationRecord =
            serde_json::from_str(r#"{"account_id":"G","memo_type":"id","memo":123}"#).unwrap();
        assert_eq!(r.memo.as_deref(), Some("123"));
        let r: FederationRecord =
            serde_json::from_str(r#"{"account_id":"G","memo":null}"#).unwrap();
        assert_eq!(r.memo, None);
        assert!(serde_json::from_str::<FederationRecord>(r#"{"memo":-1}"#).is_err());
    }
}
