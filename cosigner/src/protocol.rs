//! What travels between a client (the bridge) and the co-signer: `POST /sign`, its signed
//! request, and the answers. Pure: the bridge's client and the server both use it.
//!
//! A request is a JSON [`SignRequest`] whose exact bytes are signed with the client's ed25519
//! key; the key goes in [`CLIENT_HEADER`] (`G…`) and the signature, base64, in
//! [`SIGNATURE_HEADER`]. What is signed is [`SIGNING_CONTEXT`] followed by the body, so that a
//! request signature can never stand for anything else the same key signs (a transaction's
//! signature covers a 32-byte hash). The body's `timestamp` and `nonce` make a captured request
//! useless: the co-signer refuses it when stale, and remembers nonces to refuse a replay.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};
use stellar_base::{KeyPair, PublicKey};

/// The client's public key, `G…`.
pub const CLIENT_HEADER: &str = "X-Cosigner-Client";
/// The base64 ed25519 signature of [`SIGNING_CONTEXT`] followed by the body.
pub const SIGNATURE_HEADER: &str = "X-Cosigner-Signature";
/// What precedes the body in the signed message.
pub const SIGNING_CONTEXT: &[u8] = b"stellar-trio cosigner request v1\n";
/// The longest payment id accepted (the bridge's own limit).
pub const MAX_PAYMENT_ID_LEN: usize = 255;

/// `POST /sign`: sign this transaction for this payment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignRequest {
    /// The payment the transaction makes: one transaction per payment id, except a rebuild of
    /// the same payment that can never be applied together with the earlier one.
    pub payment_id: String,
    /// The transaction envelope, base64 XDR (its signatures are ignored).
    pub envelope_xdr: String,
    /// When the request was made, Unix seconds.
    pub timestamp: u64,
    /// Random, never reused: 16 to 64 characters.
    pub nonce: String,
}

impl SignRequest {
    /// A request made now with a fresh nonce.
    pub fn new(payment_id: impl Into<String>, envelope_xdr: impl Into<String>) -> Self {
        Self {
            payment_id: payment_id.into(),
            envelope_xdr: envelope_xdr.into(),
            timestamp: stellar_base::transaction::unix_now(),
            nonce: stellar_base::transaction::to_hex(&rand::random::<[u8; 16]>()),
        }
    }

    /// The body and its two headers, signed by `client`.
    pub fn signed_by(&self, client: &KeyPair) -> (Vec<u8>, [(&'static str, String); 2]) {
        let body = serde_json::to_vec(self).expect("a sign request serialises");
        let signature = sign_body(client, &body);
        (
            body,
            [
                (CLIENT_HEADER, client.public_key().to_string()),
                (SIGNATURE_HEADER, signature),
            ],
        )
    }
}

/// The base64 signature of a request body by `client`.
pub fn sign_body(client: &KeyPair, body: &[u8]) -> String {
    STANDARD.encode(client.sign(&signed_message(body)))
}

/// True when `signature` (base64) is `client`'s signature of `body`.
pub fn verify_body(client: &PublicKey, body: &[u8], signature: &str) -> bool {
    STANDARD
        .decode(signature.trim())
        .is_ok_and(|s| client.verify(&signed_message(body), &s))
}

fn signed_message(body: &[u8]) -> Vec<u8> {
    [SIGNING_CONTEXT, body].concat()
}

/// `200` to `POST /sign`: the co-signer's signature of the transaction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Signature {
    /// The transaction's hash, hex: what was signed.
    pub hash: String,
    /// The co-signer's public key, `G…`.
    pub public_key: String,
    /// The decorated signature (hint and signature), base64 XDR, to add to the envelope.
    pub signature: String,
}

/// Why the co-signer refused: `data.rule` of its error answers, stable and machine-readable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Rule {
    /// 401: the client key is not configured.
    UnknownClient,
    /// 401: the signature does not match the body and the client key.
    BadSignature,
    /// 401: the timestamp is too old or too far ahead.
    StaleRequest,
    /// 401: the nonce was seen before.
    ReplayedRequest,
    /// 400: the body is not a sign request, or the envelope cannot be decoded.
    InvalidRequest,
    /// 403: not a v1 transaction (fee bumps and v0 envelopes are not co-signed).
    EnvelopeType,
    /// 403: an operation that is not a payment (payment, path payments, create account).
    OperationType,
    /// 403: an operation from an account the co-signer does not guard.
    SourceAccount,
    /// 403: a destination on the deny list.
    DenyList,
    /// 403: an asset without `[[limits]]`.
    Asset,
    /// 403: an amount that is not positive (or a negative starting balance), or totals that
    /// overflow.
    Amount,
    /// 403: one operation above `per_payment`.
    PerPayment,
    /// 403: the day's total would pass `per_day`.
    PerDay,
    /// 403: no upper time bound, one too far ahead or already passed, or other
    /// preconditions.
    TimeBounds,
    /// 403: a fee per operation above `max_fee`.
    Fee,
    /// 403: the payment id was signed for a transaction making another payment.
    PaymentId,
    /// 409: the payment id's earlier transaction can still be applied; ask again after
    /// `Retry-After` (or rebuild it on the same source account and sequence number).
    EarlierTransaction,
}

impl Rule {
    /// The name in answers and in the decision log.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::UnknownClient => "unknown_client",
            Self::BadSignature => "bad_signature",
            Self::StaleRequest => "stale_request",
            Self::ReplayedRequest => "replayed_request",
            Self::InvalidRequest => "invalid_request",
            Self::EnvelopeType => "envelope_type",
            Self::OperationType => "operation_type",
            Self::SourceAccount => "source_account",
            Self::DenyList => "deny_list",
            Self::Asset => "asset",
            Self::Amount => "amount",
            Self::PerPayment => "per_payment",
            Self::PerDay => "per_day",
            Self::TimeBounds => "time_bounds",
            Self::Fee => "fee",
            Self::PaymentId => "payment_id",
            Self::EarlierTransaction => "earlier_transaction",
        }
    }

    /// The HTTP status of a refusal under this rule.
    pub fn status(self) -> u16 {
        match self {
            Self::UnknownClient
            | Self::BadSignature
            | Self::StaleRequest
            | Self::ReplayedRequest => 401,
            Self::InvalidRequest => 400,
            Self::EarlierTransaction => 409,
            _ => 403,
        }
    }
}

impl std::fmt::Display for Rule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signed_request_verifies_and_any_change_breaks_it() {
        let client = KeyPair::random();
        let request = SignRequest::new("p-1", "AAAA");
        let (body, [(_, key), (_, signature)]) = request.signed_by(&client);
        assert_eq!(key, client.public_key().to_string());
        assert!(verify_body(&client.public_key(), &body, &signature));
        let mut changed = body.clone();
        changed[10] ^= 1;
        assert!(!verify_body(&client.public_key(), &changed, &signature));
        let other = KeyPair::random().public_key();
        assert!(!verify_body(&other, &body, &signature));
        assert!(!verify_body(&client.public_key(), &body, "not base64"));
    }

    #[test]
    fn a_request_signature_is_not_a_signature_of_the_bare_body() {
        let client = KeyPair::random();
        let body = b"{}";
        let bare = STANDARD.encode(client.sign(body));
        assert!(!verify_body(&client.public_key(), body, &bare));
    }

    #[test]
    fn rule_names_match_their_serde_names() {
        for rule in [
            Rule::UnknownClient,
            Rule::BadSignature,
            Rule::StaleRequest,
            Rule::ReplayedRequest,
            Rule::InvalidRequest,
            Rule::EnvelopeType,
            Rule::OperationType,
            Rule::SourceAccount,
            Rule::DenyList,
            Rule::Asset,
            Rule::Amount,
            Rule::PerPayment,
            Rule::PerDay,
            Rule::TimeBounds,
            Rule::Fee,
            Rule::PaymentId,
            Rule::EarlierTransaction,
        ] {
            assert_eq!(
                serde_json::to_value(rule).unwrap(),
                serde_json::json!(rule.as_str())
            );
        }
    }
}
