//! `[cosigning]`: the co-signers' signatures on every transaction that pays from the guarded
//! account, collected before the envelope is stored (see `docs/cosigning.md`).
//!
//! The bridge signs with its own key, then asks every co-signer in parallel (`POST /sign`,
//! a request signed with the bridge's key, see [`cosigner::protocol`]) and adds exactly
//! `required` of the signatures that come back: stellar-core stops counting once an account's
//! threshold is met, and an envelope carrying a signature it never needed fails with
//! `tx_bad_auth_extra`. A refusal under a rule is final for this transaction
//! ([`CosignError::Refused`]); co-signers that cannot be reached or ask to wait are
//! [`CosignError::Unavailable`], and the same request may be repeated.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use futures_util::StreamExt as _;
use futures_util::stream::FuturesUnordered;
use serde::Deserialize;
use stellar_base::xdr::{self, ReadXdr};
use stellar_base::{Envelope, KeyPair, Network, PublicKey};
use url::Url;

use cosigner::protocol::{MAX_PAYMENT_ID_LEN, Rule, SignRequest, Signature};

/// `[cosigning]` in `bridge.cfg`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CosigningSettings {
    /// The co-signers' base URLs.
    #[serde(deserialize_with = "urls")]
    pub cosigners: Vec<Url>,
    /// How many co-signers' signatures a transaction needs beside the bridge's own.
    pub required: usize,
    /// Seconds to wait for each co-signer (default 10).
    #[serde(default = "default_timeout")]
    pub timeout_seconds: u64,
    /// Ceilings on what the paying account should hold, per asset (`XLM`, or `CODE:ISSUER`):
    /// `bridge accounts check` and every start warn above them (the production guide keeps only
    /// what a short period needs in the hot account).
    #[serde(default)]
    pub balance_ceilings: std::collections::BTreeMap<String, stellar_base::Amount>,
}

fn default_timeout() -> u64 {
    10
}

fn urls<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<Url>, D::Error> {
    Vec::<String>::deserialize(d)?
        .iter()
        .map(|s| {
            let mut url = Url::parse(s.trim())
                .map_err(|e| serde::de::Error::custom(format!("invalid URL {s:?}: {e}")))?;
            // A base URL: `/sign` is joined to it.
            if !url.path().ends_with('/') {
                url.set_path(&format!("{}/", url.path()));
            }
            Ok(url)
        })
        .collect()
}

impl CosigningSettings {
    /// Checks what serde cannot.
    ///
    /// # Errors
    /// The setting and why.
    pub fn validate(&self) -> Result<(), service::ConfigError> {
        if self.cosigners.is_empty() {
            return Err(service::ConfigError::setting(
                "cosigning.cosigners",
                "names no co-signer",
            ));
        }
        if self.required == 0 || self.required > self.cosigners.len() {
            return Err(service::ConfigError::setting(
                "cosigning.required",
                format!(
                    "must be between 1 and the number of co-signers ({})",
                    self.cosigners.len()
                ),
            ));
        }
        if !(1..=120).contains(&self.timeout_seconds) {
            return Err(service::ConfigError::setting(
                "cosigning.timeout_seconds",
                "must be between 1 and 120",
            ));
        }
        for asset in self.balance_ceilings.keys() {
            let (code, issuer) = asset.split_once(':').unwrap_or((asset, ""));
            stellar_base::Asset::from_code_and_issuer(code, issuer).map_err(|e| {
                service::ConfigError::setting("cosigning.balance_ceilings", format!("{asset}: {e}"))
            })?;
        }
        Ok(())
    }
}

/// Why the co-signers' signatures could not be collected. Nothing was stored or submitted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CosignError {
    /// A co-signer refused under a rule of its policy, and too few signed.
    #[error("co-signer {cosigner} refused ({rule}): {message}")]
    Refused {
        /// The co-signer's URL.
        cosigner: String,
        /// Its rule (`per_day`, `per_payment`, …).
        rule: String,
        /// What it said.
        message: String,
    },
    /// Too few co-signers could be reached or were ready; the same request may be repeated.
    #[error("{reason}")]
    Unavailable {
        /// Who failed and how.
        reason: String,
        /// When to try again, if a co-signer said.
        retry_after: Option<u64>,
    },
}

/// The co-signers of the paying account, asked by the bridge; cheap to clone.
#[derive(Clone)]
pub struct Cosigners {
    endpoints: Arc<Vec<Url>>,
    required: usize,
    timeout: Duration,
    key: KeyPair,
    guarded: PublicKey,
    signers: Arc<std::collections::HashSet<PublicKey>>,
    http: reqwest::Client,
    network: Network,
}

impl std::fmt::Debug for Cosigners {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cosigners")
            .field("endpoints", &self.endpoints)
            .field("required", &self.required)
            .finish_non_exhaustive()
    }
}

/// The payment id as the co-signer takes it (1 to 255 bytes, no control characters): the id
/// itself when it fits, else `sha256:` and its hash, the same for every request of the payment.
fn cosigner_payment_id(id: &str) -> String {
    if !id.is_empty() && id.len() <= MAX_PAYMENT_ID_LEN && !id.chars().any(char::is_control) {
        return id.to_owned();
    }
    use sha2::Digest as _;
    format!(
        "sha256:{}",
        stellar_base::transaction::to_hex(&sha2::Sha256::digest(id.as_bytes()))
    )
}

/// One co-signer's answer.
enum Answer {
    Signed(PublicKey, xdr::DecoratedSignature),
    Refused {
        rule: String,
        message: String,
    },
    Wait {
        reason: String,
        retry_after: Option<u64>,
    },
}

impl Cosigners {
    /// Co-signers for the transactions paying from `key`'s account, asked with requests signed
    /// by `key`; only signatures by `signers` (the account's other signers, read at start-up)
    /// are accepted: a co-signer restarted with another key would otherwise make payments fail
    /// on the network (`tx_bad_auth`) instead of being treated as unavailable.
    pub fn new(
        settings: &CosigningSettings,
        key: KeyPair,
        signers: Vec<PublicKey>,
        http: reqwest::Client,
        network: Network,
    ) -> Self {
        Self {
            endpoints: Arc::new(settings.cosigners.clone()),
            required: settings.required,
            timeout: Duration::from_secs(settings.timeout_seconds),
            guarded: key.public_key(),
            signers: Arc::new(signers.into_iter().collect()),
            key,
            http,
            network,
        }
    }

    /// True when transactions paying from `account` need the co-signers.
    pub fn guard(&self, account: PublicKey) -> bool {
        account == self.guarded
    }

    /// Asks every co-signer in parallel and adds `required` signatures to `envelope`, for
    /// `payment_id`.
    ///
    /// # Errors
    /// [`CosignError`] when fewer than `required` signed; `envelope` is unchanged then.
    pub async fn sign(&self, payment_id: &str, envelope: &mut Envelope) -> Result<(), CosignError> {
        let hash = envelope.hash(&self.network);
        let request = SignRequest::new(cosigner_payment_id(payment_id), envelope.to_base64());
        let (body, headers) = request.signed_by(&self.key);
        let mut asking: FuturesUnordered<_> = self
            .endpoints
            .iter()
            .map(|endpoint| {
                let (body, headers) = (body.clone(), headers.clone());
                async move { (endpoint, self.ask(endpoint, body, headers, &hash).await) }
            })
            .collect();
        let mut signatures = Vec::new();
        let mut signers = Vec::new();
        let mut refusal = None;
        let mut waits = Vec::new();
        let mut retry_after = None;
        while let Some((endpoint, answer)) = asking.next().await {
            match answer {
                // Two endpoints of one co-signer (instances sharing its key) sign with the same
                // key, which the network counts once: one of them is enough.
                Answer::Signed(key, _) if signers.contains(&key) => {
                    tracing::debug!(cosigner = %endpoint, "a second signature by the same key");
                }
                Answer::Signed(key, signature) => {
                    signers.push(key);
                    signatures.push(signature);
                    if signatures.len() == self.required {
                        break;
                    }
                }
                Answer::Refused { rule, message } => {
                    metrics::counter!("bridge_cosigner_refusals_total", "rule" => rule.clone())
                        .increment(1);
                    tracing::warn!(cosigner = %endpoint, %rule, %message, "co-signer refused");
                    refusal.get_or_insert(CosignError::Refused {
                        cosigner: endpoint.to_string(),
                        rule,
                        message,
                    });
                }
                Answer::Wait {
                    reason,
                    retry_after: after,
                } => {
                    tracing::warn!(cosigner = %endpoint, %reason, "co-signer unavailable");
                    waits.push(format!("{endpoint}: {reason}"));
                    retry_after = retry_after.max(after);
                }
            }
        }
        if signatures.len() < self.required {
            return Err(refusal.unwrap_or_else(|| CosignError::Unavailable {
                reason: format!(
                    "{} of {} co-signature(s) collected: {}",
                    signatures.len(),
                    self.required,
                    waits.join("; ")
                ),
                retry_after,
            }));
        }
        for signature in signatures {
            envelope
                .add_signature(signature)
                .map_err(|e| CosignError::Unavailable {
                    reason: e.to_string(),
                    retry_after: None,
                })?;
        }
        Ok(())
    }

    /// One co-signer's answer, its signature checked against the hash.
    async fn ask(
        &self,
        endpoint: &Url,
        body: Vec<u8>,
        headers: [(&'static str, String); 2],
        hash: &[u8; 32],
    ) -> Answer {
        let wait = |reason: String| Answer::Wait {
            reason,
            retry_after: None,
        };
        let Ok(url) = endpoint.join("sign") else {
            return wait("not a base URL".into());
        };
        let mut request = self
            .http
            .post(url)
            .timeout(self.timeout)
            .header("content-type", "application/json")
            .body(body);
        for (name, value) in headers {
            request = request.header(name, value);
        }
        let response = match request.send().await {
            Ok(response) => response,
            Err(e) => return wait(stellar_toml::http::error_chain(&e)),
        };
        let status = response.status();
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok());
        let Ok(text) = stellar_toml::http::read_capped(response, 64 * 1024).await else {
            return wait(format!("unreadable answer ({status})"));
        };
        match status.as_u16() {
            200 => match serde_json::from_slice::<Signature>(&text) {
                Ok(signed) => self.check_signature(&signed, hash),
                Err(e) => wait(format!("unreadable signature: {e}")),
            },
            403 => {
                let body: serde_json::Value = serde_json::from_slice(&text).unwrap_or_default();
                let message = body["message"].as_str().unwrap_or_default().to_owned();
                // Final only when a co-signer's rule says so; any other 403 (a proxy in front,
                // an address no longer allowed) is something an operator fixes: ask again later.
                match serde_json::from_value::<Rule>(body["data"]["rule"].clone()) {
                    Ok(rule) => Answer::Refused {
                        rule: rule.as_str().to_owned(),
                        message,
                    },
                    Err(_) => wait(format!("403 without a co-signer's rule: {message}")),
                }
            }
            409 => Answer::Wait {
                reason: "an earlier transaction for this payment id can still be applied".into(),
                retry_after,
            },
            _ => {
                let body: serde_json::Value = serde_json::from_slice(&text).unwrap_or_default();
                wait(format!(
                    "{status}: {}",
                    body["message"].as_str().unwrap_or_default()
                ))
            }
        }
    }

    /// A co-signer's signature, verified: a wrong one would only make the transaction fail.
    fn check_signature(&self, signed: &Signature, hash: &[u8; 32]) -> Answer {
        let wait = |reason: &str| Answer::Wait {
            reason: reason.into(),
            retry_after: None,
        };
        let Ok(key) = signed.public_key.parse::<PublicKey>() else {
            return wait("the answer names no valid key");
        };
        if !self.signers.contains(&key) {
            return Answer::Wait {
                reason: format!(
                    "its key {key} is not a signer of the paying account (as read at start-up)"
                ),
                retry_after: None,
            };
        }
        let Some(signature) = base64::engine::general_purpose::STANDARD
            .decode(&signed.signature)
            .ok()
            .and_then(|bytes| xdr::DecoratedSignature::from_xdr(bytes, xdr::Limits::len(256)).ok())
        else {
            return wait("the answer's signature is not a decorated signature");
        };
        if signature.hint.0 != key.hint() || !key.verify(hash, &signature.signature.0) {
            return wait("the signature does not verify for this transaction");
        }
        Answer::Signed(key, signature)
    }
}
