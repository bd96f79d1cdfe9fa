//! The SEP-2 client: turns whatever a user typed as a destination into an account and memo.
//!
//! `G…` resolves to itself without a request; `M…` to its account plus an id memo;
//! `name*domain` through the domain's stellar.toml (`FEDERATION_SERVER`). Every request goes
//! through the `stellar-toml` policy (HTTPS unless the domain is overridden, SSRF guard, size
//! cap, timeouts), and every answer is checked before anyone pays it.

use std::fmt;

use stellar_base::address::AddressError;
use stellar_base::{AccountAddress, FederationAddress, Memo, PublicKey};
use stellar_toml::Resolver;
use url::Url;

use crate::protocol::FederationRecord;

/// The cap on a federation answer, as SEP-2 clients agree (100 KiB).
pub const MAX_RESPONSE_BYTES: usize = 100 * 1024;

/// Why a destination could not be resolved.
#[derive(Debug, thiserror::Error)]
pub enum FederationError {
    /// Neither an account nor a valid `name*domain`.
    #[error("invalid destination: {0}")]
    InvalidAddress(#[from] AddressError),
    /// The domain's stellar.toml could not be used.
    #[error("stellar.toml: {0}")]
    StellarToml(#[from] stellar_toml::Error),
    /// The stellar.toml has no `FEDERATION_SERVER`.
    #[error("stellar.toml of {0} has no FEDERATION_SERVER")]
    NoFederationServer(String),
    /// The federation server knows no such record.
    #[error("federation record not found")]
    NotFound,
    /// The federation server answered with an error.
    #[error("federation server answered {status}: {message}")]
    Server {
        /// HTTP status.
        status: u16,
        /// Its `error` or `message`, or the raw body start.
        message: String,
    },
    /// The answer is not a valid SEP-2 record.
    #[error("invalid federation response: {0}")]
    InvalidResponse(String),
}

/// Where to pay: the account, the memo the receiver asked for, and the address when known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Destination {
    /// The account that receives the payment.
    pub account: PublicKey,
    /// The memo the receiver requires (none for plain accounts).
    pub memo: Memo,
    /// The `name*domain` this came from, if any.
    pub stellar_address: Option<String>,
}

/// A SEP-2 client; cheap to clone.
#[derive(Clone)]
pub struct FederationClient {
    resolver: Resolver,
}

impl fmt::Debug for FederationClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("FederationClient")
    }
}

impl FederationClient {
    /// A client fetching through `resolver`'s policy.
    pub fn new(resolver: Resolver) -> Self {
        Self { resolver }
    }

    /// Resolves `G…`, `M…` or `name*domain`.
    ///
    /// # Errors
    /// A [`FederationError`] saying which step failed.
    pub async fn resolve(&self, destination: &str) -> Result<Destination, FederationError> {
        let destination = destination.trim();
        if let Ok(account) = destination.parse::<AccountAddress>() {
            return Ok(Destination {
                account: account.account(),
                memo: account.muxed_id().map_or(Memo::None, Memo::Id),
                stellar_address: None,
            });
        }
        let address: FederationAddress = destination.parse()?;
        // `q` carries the address as typed: the legacy server matched the domain as given, so
        // a row stored as `Bank.Test` is found only if it is sent that way.
        self.lookup_name(&address, destination).await
    }

    /// Looks up `name*domain` (as the user typed it) at the domain's federation server.
    ///
    /// The stellar.toml is the lower-cased domain's (domains are case-insensitive, SEP-2), but
    /// `q` carries the address as typed, as the legacy servers sent it: an operator's row
    /// stored as `Bank.Test` is found only if it is asked for that way. Unlike
    /// [`FederationClient::resolve`], an account (`G…`, `M…`) is not a federation address.
    ///
    /// # Errors
    /// [`FederationError::InvalidAddress`] when `address` is not a `name*domain`, else a
    /// [`FederationError`] saying which step failed.
    pub async fn lookup_address(&self, address: &str) -> Result<Destination, FederationError> {
        let typed = address.trim();
        let parsed: FederationAddress = typed.parse()?;
        self.lookup_name(&parsed, typed).await
    }

    /// Looks up `address` at its domain's federation server, sending `q` (the same address,
    /// possibly with another letter case in its domain).
    async fn lookup_name(
        &self,
        address: &FederationAddress,
        q: &str,
    ) -> Result<Destination, FederationError> {
        let server = self.federation_server(address.domain()).await?;
        let record = self
            .query(address.domain(), &server, &[("q", q), ("type", "name")])
            .await?;
        destination_from(record, Some(address.to_string()))
    }

    /// Reverse lookup of an account at `domain`'s federation server.
    ///
    /// # Errors
    /// A [`FederationError`]; an answer without a valid `stellar_address` is invalid.
    pub async fn lookup_account(
        &self,
        account: &PublicKey,
        domain: &str,
    ) -> Result<FederationAddress, FederationError> {
        let server = self.federation_server(domain).await?;
        self.lookup_account_at(account, domain, &server).await
    }

    /// Reverse lookup at a known federation server URL; `domain` is whose policy applies.
    ///
    /// # Errors
    /// As [`FederationClient::lookup_account`].
    pub async fn lookup_account_at(
        &self,
        account: &PublicKey,
        domain: &str,
        server: &Url,
    ) -> Result<FederationAddress, FederationError> {
        let record = self
            .query(
                domain,
                server,
                &[("q", &account.to_string()), ("type", "id")],
            )
            .await?;
        let address = record
            .stellar_address
            .ok_or_else(|| FederationError::InvalidResponse("no stellar_address".into()))?;
        address
            .parse()
            .map_err(|e: AddressError| FederationError::InvalidResponse(e.to_string()))
    }

    /// A forward request (`type=forward` plus institution-specific parameters) to `domain`.
    ///
    /// # Errors
    /// A [`FederationError`].
    pub async fn forward(
        &self,
        domain: &str,
        params: &[(String, String)],
    ) -> Result<Destination, FederationError> {
        let server = self.federation_server(domain).await?;
        let mut pairs: Vec<(&str, &str)> = params
            .iter()
            .filter(|(k, _)| k != "type")
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        pairs.push(("type", "forward"));
        let record = self.query(domain, &server, &pairs).await?;
        let stellar_address = record.stellar_address.clone();
        destination_from(record, stellar_address)
    }

    async fn federation_server(&self, domain: &str) -> Result<Url, FederationError> {
        match self.resolver.federation_server(domain).await {
            Err(stellar_toml::Error::MissingField(_)) => {
                Err(FederationError::NoFederationServer(domain.to_owned()))
            }
            other => Ok(other?),
        }
    }

    async fn query(
        &self,
        domain: &str,
        server: &Url,
        pairs: &[(&str, &str)],
    ) -> Result<FederationRecord, FederationError> {
        let mut url = server.clone();
        url.query_pairs_mut().extend_pairs(pairs);
        let response = self.resolver.get(domain, &url, MAX_RESPONSE_BYTES).await?;
        match response.status {
            200..=299 => serde_json::from_slice(&response.body)
                .map_err(|e| FederationError::InvalidResponse(e.to_string())),
            404 => Err(FederationError::NotFound),
            status => {
                let message = serde_json::from_slice::<serde_json::Value>(&response.body)
                    .ok()
                    .and_then(|v| {
                        v.get("error")
                            .or_else(|| v.get("message"))
                            .and_then(|m| m.as_str())
                            .map(str::to_owned)
                    })
                    .unwrap_or_else(|| {
                        String::from_utf8_lossy(&response.body[..response.body.len().min(200)])
                            .into_owned()
                    });
                Err(FederationError::Server { status, message })
            }
        }
    }
}

/// Checks an answer: a valid `G…` account, and a memo type and memo that belong together.
fn destination_from(
    record: FederationRecord,
    stellar_address: Option<String>,
) -> Result<Destination, FederationError> {
    let invalid = FederationError::InvalidResponse;
    let account = record
        .account_id
        .as_deref()
        .ok_or_else(|| invalid("no account_id".into()))?
        .parse::<PublicKey>()
        .map_err(|_| invalid("account_id is not a valid G… account".into()))?;
    let memo = match (record.memo_type.as_deref(), record.memo.as_deref()) {
        (None | Some(""), None | Some("")) => Memo::None,
        (None | Some(""), Some(_)) => return Err(invalid("memo without memo_type".into())),
        (Some(t), None | Some("")) => return Err(invalid(format!("memo_type {t} without memo"))),
        (Some(t), Some(m)) => Memo::parse(t, m).map_err(|e| invalid(e.to_string()))?,
    };
    Ok(Destination {
        account,
        memo,
        stellar_address,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const ACCOUNT: &str = "GCQ4MQ4ZOS6P6RON4HH6FNWNABCLZUCNBSDE3QXFZOX5VYJDDKRQDQOJ";

    fn rec(memo_type: Option<&str>, memo: Option<&str>) -> FederationRecord {
        FederationRecord {
            stellar_address: None,
            account_id: Some(ACCOUNT.into()),
            memo_type: memo_type.map(Into::into),
            memo: memo.map(Into::into),
        }
    }

    #[test]
    fn answers_are_validated() {
        assert_eq!(
            destination_from(rec(None, None), None).unwrap().memo,
            Memo::None
        );
        assert_eq!(
            destination_from(rec(Some("id"), Some("7")), None)
                .unwrap()
                .memo,
            Memo::Id(7)
        );
        for (t, m) in [
            (Some("id"), None),
            (None, Some("7")),
            (Some("id"), Some("x")),
            (Some("hash"), Some("short")),
            (
                Some("text"),
                Some("this text memo is far longer than 28 bytes"),
            ),
        ] {
            assert!(destination_from(rec(t, m), None).is_err(), "{t:?} {m:?}");
        }
        let mut bad = rec(None, None);
        bad.account_id = Some("GNOTANACCOUNT".into());
        assert!(destination_from(bad, None).is_err());
        bad = rec(None, None);
        bad.account_id = None;
        assert!(destination_from(bad, None).is_err());
    }
}
