//! Transaction memos and their string forms (`memo_type` + `memo`, as federation and Horizon
//! write them).

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use stellar_xdr as xdr;

/// Why a memo was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MemoError {
    /// `memo_type` is none of `none`, `text`, `id`, `hash`, `return`.
    #[error("invalid memo_type {0:?}: use text, id, hash or return")]
    UnknownType(String),
    /// Text memos hold at most 28 bytes.
    #[error("text memo is {0} bytes; the maximum is 28")]
    TextTooLong(usize),
    /// Id memos are unsigned 64-bit integers.
    #[error("id memo must be an unsigned 64-bit integer")]
    InvalidId,
    /// Hash and return memos are 32 bytes, as 64 hex digits or base64.
    #[error("hash memo must be 32 bytes written as 64 hex digits or base64")]
    InvalidHash,
    /// A memo type without a value.
    #[error("memo_type {0:?} needs a memo value")]
    MissingValue(String),
}

/// A transaction memo.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub enum Memo {
    /// No memo.
    #[default]
    None,
    /// Up to 28 bytes of text.
    Text(String),
    /// An unsigned 64-bit id.
    Id(u64),
    /// 32 bytes, e.g. the sha256 of a compliance attachment.
    Hash([u8; 32]),
    /// 32 bytes identifying a refunded transaction.
    Return([u8; 32]),
}

impl Memo {
    /// Parses a memo from its type and value strings. An empty type (or `none`) with an empty
    /// value is no memo.
    ///
    /// # Errors
    /// A [`MemoError`] naming what is wrong.
    pub fn parse(memo_type: &str, value: &str) -> Result<Self, MemoError> {
        match memo_type {
            "" | "none" if value.is_empty() => Ok(Self::None),
            "" | "none" => Err(MemoError::UnknownType(memo_type.to_owned())),
            _ if value.is_empty() => Err(MemoError::MissingValue(memo_type.to_owned())),
            "text" => {
                if value.len() > 28 {
                    return Err(MemoError::TextTooLong(value.len()));
                }
                Ok(Self::Text(value.to_owned()))
            }
            "id" => value
                .parse()
                .map(Self::Id)
                .map_err(|_| MemoError::InvalidId),
            "hash" => parse_hash(value).map(Self::Hash),
            "return" => parse_hash(value).map(Self::Return),
            other => Err(MemoError::UnknownType(other.to_owned())),
        }
    }

    /// `none`, `text`, `id`, `hash` or `return`, as Horizon names them.
    pub fn type_name(&self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Text(_) => "text",
            Self::Id(_) => "id",
            Self::Hash(_) => "hash",
            Self::Return(_) => "return",
        }
    }

    /// The value as a string (hash and return memos in base64, as SEP-2 and Horizon send them);
    /// `None` for no memo.
    pub fn value(&self) -> Option<String> {
        match self {
            Self::None => None,
            Self::Text(t) => Some(t.clone()),
            Self::Id(id) => Some(id.to_string()),
            Self::Hash(h) | Self::Return(h) => Some(BASE64.encode(h)),
        }
    }

    /// The XDR memo.
    pub fn to_xdr(&self) -> xdr::Memo {
        match self {
            Self::None => xdr::Memo::None,
            Self::Text(t) => xdr::Memo::Text(
                t.as_bytes()
                    .to_vec()
                    .try_into()
                    .expect("text memos are checked to be at most 28 bytes"),
            ),
            Self::Id(id) => xdr::Memo::Id(*id),
            Self::Hash(h) => xdr::Memo::Hash(xdr::Hash(*h)),
            Self::Return(h) => xdr::Memo::Return(xdr::Hash(*h)),
        }
    }

    /// Reads an XDR memo. Text memos that are not UTF-8 are kept lossily: they can still be
    /// shown, and the raw XDR stays available to whoever needs the bytes.
    pub fn from_xdr(memo: &xdr::Memo) -> Self {
        match memo {
            xdr::Memo::None => Self::None,
            xdr::Memo::Text(t) => Self::Text(String::from_utf8_lossy(t.as_slice()).into_owned()),
            xdr::Memo::Id(id) => Self::Id(*id),
            xdr::Memo::Hash(h) => Self::Hash(h.0),
            xdr::Memo::Return(h) => Self::Return(h.0),
        }
    }
}

/// A 32-byte hash from 64 hex digits (the legacy bridge's form) or base64 (SEP-2's form).
fn parse_hash(value: &str) -> Result<[u8; 32], MemoError> {
    if value.len() == 64 && value.bytes().all(|b| b.is_ascii_hexdigit()) {
        let mut out = [0u8; 32];
        for (i, chunk) in value.as_bytes().chunks(2).enumerate() {
            let pair = std::str::from_utf8(chunk).map_err(|_| MemoError::InvalidHash)?;
            out[i] = u8::from_str_radix(pair, 16).map_err(|_| MemoError::InvalidHash)?;
        }
        return Ok(out);
    }
    BASE64
        .decode(value)
        .ok()
        .and_then(|bytes| <[u8; 32]>::try_from(bytes).ok())
        .ok_or(MemoError::InvalidHash)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "bb706ec78dc0b3b96f5f5e0127e71899ebc4f9cad80ff3003bd4765ae53b6279";
    const B64: &str = "u3Bux43As7lvX14BJ+cYmevE+crYD/MAO9R2WuU7Ynk=";

    #[test]
    fn hash_memos_accept_hex_and_base64_and_print_base64() {
        let from_hex = Memo::parse("hash", HEX).unwrap();
        let from_b64 = Memo::parse("hash", B64).unwrap();
        assert_eq!(from_hex, from_b64);
        assert_eq!(from_hex.value().unwrap(), B64);
        assert_eq!(Memo::parse("hash", "abcd"), Err(MemoError::InvalidHash));
    }

    #[test]
    fn text_id_and_none() {
        assert_eq!(Memo::parse("", "").unwrap(), Memo::None);
        assert_eq!(
            Memo::parse("text", "hello").unwrap().value().unwrap(),
            "hello"
        );
        assert_eq!(
            Memo::parse("text", &"x".repeat(29)),
            Err(MemoError::TextTooLong(29))
        );
        // 28 bytes of multi-byte text is the limit, not 28 characters.
        assert!(Memo::parse("text", &"é".repeat(14)).is_ok());
        assert!(Memo::parse("text", &"é".repeat(15)).is_err());
        assert_eq!(
            Memo::parse("id", "18446744073709551615").unwrap(),
            Memo::Id(u64::MAX)
        );
        assert_eq!(Memo::parse("id", "-1"), Err(MemoError::InvalidId));
        assert_eq!(
            Memo::parse("id", ""),
            Err(MemoError::MissingValue("id".into()))
        );
        assert!(matches!(
            Memo::parse("blob", "x"),
            Err(MemoError::UnknownType(_))
        ));
    }

    #[test]
    fn xdr_round_trip() {
        for memo in [
            Memo::None,
            Memo::Text("hi".into()),
            Memo::Id(7),
            Memo::Hash([1; 32]),
            Memo::Return([2; 32]),
        ] {
            assert_eq!(Memo::from_xdr(&memo.to_xdr()), memo);
        }
    }
}
