//! The client side of SEP-10, SEP-12 and SEP-31: what we call on another anchor, every request
//! through the [`Resolver`]'s outbound policy (HTTPS, SSRF guard, size caps).
//!
//! A token is kept per domain until shortly before it expires; the challenge behind it is
//! read in full first ([`crate::web_auth::read_challenge`]) and signed with our
//! `signing_seed`, the account we authenticate as.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use reqwest::Method;
use serde::Deserialize;
use serde_json::Value;
use stellar_base::{KeyPair, Network, PublicKey};
use stellar_toml::Resolver;
use url::Url;

use super::now;
use super::receive::TransactionView;
use crate::web_auth;

/// The largest answer read from another anchor.
const MAX_ANSWER_BYTES: usize = 256 * 1024;

/// A token is renewed this long before its `exp`.
const RENEW_BEFORE_SECONDS: u64 = 60;

/// Why a call to another anchor gave no usable answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PeerError {
    /// Its stellar.toml, or a URL in it, is missing or refused.
    #[error("{0}")]
    Discovery(String),
    /// It answered a 4xx: the request as sent will not succeed. `error` is its reason.
    #[error("the anchor refused ({status}): {error}")]
    Refused {
        /// The HTTP status.
        status: u16,
        /// Its `error`.
        error: String,
        /// Its `type`, for `customer_info_needed`.
        kind: Option<String>,
    },
    /// No answer, a 5xx, or an answer we cannot read: the outcome of the request is unknown.
    #[error("the anchor did not answer: {0}")]
    Unavailable(String),
    /// It answered something that breaks the protocol (a challenge that fails a rule, a
    /// transaction to pay that is not its own): refused, nothing paid.
    #[error("the anchor's answer is refused: {0}")]
    Hostile(String),
}

/// What a SEP-31 anchor's stellar.toml names.
#[derive(Debug, Clone)]
pub struct Peer {
    /// Its domain.
    pub domain: String,
    /// `WEB_AUTH_ENDPOINT`.
    pub web_auth: Url,
    /// `SIGNING_KEY`: signs its challenges.
    pub signing_key: PublicKey,
    /// `KYC_SERVER` (or `TRANSFER_SERVER`).
    pub kyc: Url,
    /// `DIRECT_PAYMENT_SERVER`.
    pub direct_payment: Url,
    /// `ACCOUNTS`: the accounts it may ask to be paid on.
    pub accounts: Vec<PublicKey>,
}

/// A customer's state at the anchor.
#[derive(Debug, Clone, Deserialize)]
pub struct CustomerState {
    /// Its id.
    #[serde(default)]
    pub id: Option<String>,
    /// `ACCEPTED`, `PROCESSING`, `NEEDS_INFO`, `REJECTED`.
    pub status: String,
    /// Fields still wanted.
    #[serde(default)]
    pub fields: BTreeMap<String, Value>,
    /// Why.
    #[serde(default)]
    pub message: Option<String>,
}

/// `POST /transactions`' answer.
#[derive(Debug, Clone, Deserialize)]
pub struct Created {
    /// Its id.
    pub id: String,
    /// The account to pay (optional since SEP-31 v2: then read it from the transaction).
    #[serde(default)]
    pub stellar_account_id: Option<String>,
    /// The memo type.
    #[serde(default)]
    pub stellar_memo_type: Option<String>,
    /// The memo.
    #[serde(default)]
    pub stellar_memo: Option<String>,
}

/// The SEP-10/12/31 client; one per server, shared.
#[derive(Debug)]
pub struct AnchorClient {
    resolver: Resolver,
    signing_key: KeyPair,
    network: Network,
    tokens: Mutex<HashMap<String, (String, u64)>>,
}

fn answer_error(status: u16, body: &[u8]) -> PeerError {
    let json: Option<Value> = serde_json::from_slice(body).ok();
    let text = |name: &str| {
        json.as_ref()
            .and_then(|j| j.get(name))
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    if (400..500).contains(&status) {
        PeerError::Refused {
            status,
            error: text("error")
                .unwrap_or_else(|| String::from_utf8_lossy(body).chars().take(200).collect()),
            kind: text("type"),
        }
    } else {
        PeerError::Unavailable(format!("answered {status}"))
    }
}

impl AnchorClient {
    /// A client signing challenges with `signing_key` for `network`.
    pub fn new(resolver: Resolver, signing_key: KeyPair, network: Network) -> Self {
        Self {
            resolver,
            signing_key,
            network,
            tokens: Mutex::new(HashMap::new()),
        }
    }

    /// The SEP-31 endpoints of `domain`.
    ///
    /// # Errors
    /// [`PeerError::Discovery`] when a field is missing or a URL refused.
    pub async fn peer(&self, domain: &str) -> Result<Peer, PeerError> {
        let toml = self
            .resolver
            .stellar_toml(domain)
            .await
            .map_err(|e| PeerError::Discovery(e.to_string()))?;
        let url = |name: &str, value: Option<&String>| {
            let value = value.ok_or_else(|| {
                PeerError::Discovery(format!("no {name} in the stellar.toml of {domain}"))
            })?;
            self.resolver
                .check_url(domain, value)
                .map_err(|e| PeerError::Discovery(format!("{name}: {e}")))
        };
        Ok(Peer {
            domain: domain.to_owned(),
            web_auth: url("WEB_AUTH_ENDPOINT", toml.web_auth_endpoint.as_ref())?,
            signing_key: toml
                .signing_key()
                .map_err(|e| PeerError::Discovery(e.to_string()))?,
            kyc: url(
                "KYC_SERVER",
                toml.kyc_server.as_ref().or(toml.transfer_server.as_ref()),
            )?,
            direct_payment: url("DIRECT_PAYMENT_SERVER", toml.direct_payment_server.as_ref())?,
            accounts: toml
                .accounts
                .iter()
                .filter_map(|a| a.trim().parse().ok())
                .collect(),
        })
    }

    async fn call(
        &self,
        peer: &Peer,
        method: Method,
        url: &Url,
        token: Option<&str>,
        json: Option<Value>,
    ) -> Result<(u16, Vec<u8>), PeerError> {
        let answer = self
            .resolver
            .send_json(
                &peer.domain,
                method,
                url,
                token,
                json.map(|j| j.to_string()),
                MAX_ANSWER_BYTES,
            )
            .await
            .map_err(|e| PeerError::Unavailable(e.to_string()))?;
        Ok((answer.status, answer.body))
    }

    /// A JSON answer with a 2xx status, or the error it means.
    async fn json<T: serde::de::DeserializeOwned>(
        &self,
        peer: &Peer,
        method: Method,
        url: &Url,
        token: Option<&str>,
        json: Option<Value>,
    ) -> Result<T, PeerError> {
        let (status, body) = self.call(peer, method, url, token, json).await?;
        if !(200..300).contains(&status) {
            return Err(answer_error(status, &body));
        }
        serde_json::from_slice(&body)
            .map_err(|e| PeerError::Unavailable(format!("unreadable answer from {url}: {e}")))
    }

    /// A SEP-10 token for `peer`: the one kept while it lasts, else a new one.
    ///
    /// # Errors
    /// [`PeerError::Hostile`] for a challenge that breaks a rule; others as the calls fail.
    pub async fn token(&self, peer: &Peer) -> Result<String, PeerError> {
        let now = now();
        if let Some((token, exp)) = self.tokens.lock().expect("not poisoned").get(&peer.domain)
            && *exp > now + RENEW_BEFORE_SECONDS
        {
            return Ok(token.clone());
        }
        let account = self.signing_key.public_key();
        let mut url = peer.web_auth.clone();
        url.query_pairs_mut()
            .append_pair("account", &account.to_string())
            .append_pair("home_domain", &peer.domain);
        #[derive(Deserialize)]
        struct ChallengeAnswer {
            transaction: String,
            #[serde(default)]
            network_passphrase: Option<String>,
        }
        let challenge: ChallengeAnswer = self.json(peer, Method::GET, &url, None, None).await?;
        if challenge
            .network_passphrase
            .as_deref()
            .is_some_and(|p| p != self.network.passphrase())
        {
            return Err(PeerError::Hostile(
                "the challenge is for another network".into(),
            ));
        }
        let mut read = web_auth::read_challenge(
            &challenge.transaction,
            &peer.signing_key,
            &[peer.domain.as_str()],
            &super::web_auth_domain(&peer.web_auth),
            &self.network,
            now,
        )
        .map_err(|e| PeerError::Hostile(e.0))?;
        if read.client.account() != account || read.memo.is_some() {
            return Err(PeerError::Hostile(
                "the challenge is for another account".into(),
            ));
        }
        read.envelope
            .sign(&self.signing_key, &self.network)
            .map_err(|e| PeerError::Hostile(e.to_string()))?;
        #[derive(Deserialize)]
        struct TokenAnswer {
            token: String,
        }
        let answer: TokenAnswer = self
            .json(
                peer,
                Method::POST,
                &peer.web_auth,
                None,
                Some(serde_json::json!({ "transaction": read.envelope.to_base64() })),
            )
            .await?;
        let exp = web_auth::expiry_unverified(&answer.token).unwrap_or(now + 300);
        self.tokens
            .lock()
            .expect("not poisoned")
            .insert(peer.domain.clone(), (answer.token.clone(), exp));
        Ok(answer.token)
    }

    /// `GET /info`'s entry for `asset_code`.
    ///
    /// # Errors
    /// [`PeerError::Refused`] when the anchor does not receive the asset.
    pub async fn asset_info(
        &self,
        peer: &Peer,
        token: &str,
        asset_code: &str,
    ) -> Result<Value, PeerError> {
        let url = join(&peer.direct_payment, "info")?;
        let info: Value = self
            .json(peer, Method::GET, &url, Some(token), None)
            .await?;
        info.get("receive")
            .and_then(|r| r.get(asset_code))
            .filter(|entry| entry.get("enabled").and_then(Value::as_bool) != Some(false))
            .cloned()
            .ok_or_else(|| PeerError::Refused {
                status: 400,
                error: format!("{} does not receive {asset_code}", peer.domain),
                kind: None,
            })
    }

    /// `PUT /customer`: registers (or updates, with `id`) a customer; its id.
    ///
    /// # Errors
    /// As the call fails.
    pub async fn put_customer(
        &self,
        peer: &Peer,
        token: &str,
        id: Option<&str>,
        kind: &str,
        memo: &str,
        fields: &BTreeMap<String, String>,
    ) -> Result<String, PeerError> {
        let mut body: serde_json::Map<String, Value> = fields
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect();
        match id {
            Some(id) => {
                body.insert("id".into(), id.into());
            }
            None => {
                body.insert("type".into(), kind.into());
                body.insert("memo".into(), memo.into());
                body.insert("memo_type".into(), "id".into());
            }
        }
        #[derive(Deserialize)]
        struct Id {
            id: String,
        }
        let url = join(&peer.kyc, "customer")?;
        let answer: Id = self
            .json(
                peer,
                Method::PUT,
                &url,
                Some(token),
                Some(Value::Object(body)),
            )
            .await?;
        Ok(answer.id)
    }

    /// `GET /customer?id=&type=`.
    ///
    /// # Errors
    /// As the call fails.
    pub async fn customer(
        &self,
        peer: &Peer,
        token: &str,
        id: &str,
        kind: &str,
    ) -> Result<CustomerState, PeerError> {
        let mut url = join(&peer.kyc, "customer")?;
        url.query_pairs_mut()
            .append_pair("id", id)
            .append_pair("type", kind);
        self.json(peer, Method::GET, &url, Some(token), None).await
    }

    /// `POST /transactions`.
    ///
    /// # Errors
    /// [`PeerError::Refused`] when it was not created; [`PeerError::Unavailable`] when
    /// whether it was is unknown.
    pub async fn create(
        &self,
        peer: &Peer,
        token: &str,
        request: Value,
    ) -> Result<Created, PeerError> {
        let url = join(&peer.direct_payment, "transactions")?;
        self.json(peer, Method::POST, &url, Some(token), Some(request))
            .await
    }

    /// `GET /transactions/:id`.
    ///
    /// # Errors
    /// As the call fails.
    pub async fn transaction(
        &self,
        peer: &Peer,
        token: &str,
        id: &str,
    ) -> Result<TransactionView, PeerError> {
        let url = join(&peer.direct_payment, &format!("transactions/{id}"))?;
        #[derive(Deserialize)]
        struct Wrapped {
            transaction: TransactionView,
        }
        let answer: Wrapped = self
            .json(peer, Method::GET, &url, Some(token), None)
            .await?;
        Ok(answer.transaction)
    }

    /// Forgets `domain`'s token (after the anchor refused it).
    pub fn forget_token(&self, domain: &str) {
        self.tokens.lock().expect("not poisoned").remove(domain);
    }
}

/// `base` + `/path`, whether or not `base` ends with a slash.
fn join(base: &Url, path: &str) -> Result<Url, PeerError> {
    let mut base = base.clone();
    if !base.path().ends_with('/') {
        let with_slash = format!("{}/", base.path());
        base.set_path(&with_slash);
    }
    base.join(path)
        .map_err(|e| PeerError::Discovery(format!("{base}{path}: {e}")))
}
