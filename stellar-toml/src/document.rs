//! The parsed SEP-1 document.
//!
//! Only the general (top-level) fields get typed accessors; everything else, including the
//! `[DOCUMENTATION]`, `[[CURRENCIES]]`, `[[PRINCIPALS]]` and `[[VALIDATORS]]` tables and any
//! field a future SEP adds, is kept untouched in [`StellarToml::other`], so an anchor's
//! stellar.toml never fails to parse because of a field this crate does not know.

use serde::Deserialize;
use stellar_base::PublicKey;

use crate::Error;

/// A stellar.toml (SEP-1): the general fields, typed, and everything else kept as TOML.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct StellarToml {
    /// `VERSION`: the SEP-1 version the file follows.
    #[serde(rename = "VERSION")]
    pub version: Option<String>,
    /// `NETWORK_PASSPHRASE`.
    #[serde(rename = "NETWORK_PASSPHRASE")]
    pub network_passphrase: Option<String>,
    /// `FEDERATION_SERVER`: the SEP-2 endpoint.
    #[serde(rename = "FEDERATION_SERVER")]
    pub federation_server: Option<String>,
    /// `AUTH_SERVER`: the SEP-3 compliance endpoint.
    #[serde(rename = "AUTH_SERVER")]
    pub auth_server: Option<String>,
    /// `TRANSFER_SERVER` (SEP-6).
    #[serde(rename = "TRANSFER_SERVER")]
    pub transfer_server: Option<String>,
    /// `TRANSFER_SERVER_SEP0024` (SEP-24).
    #[serde(rename = "TRANSFER_SERVER_SEP0024")]
    pub transfer_server_sep0024: Option<String>,
    /// `KYC_SERVER` (SEP-12).
    #[serde(rename = "KYC_SERVER")]
    pub kyc_server: Option<String>,
    /// `WEB_AUTH_ENDPOINT` (SEP-10).
    #[serde(rename = "WEB_AUTH_ENDPOINT")]
    pub web_auth_endpoint: Option<String>,
    /// `SIGNING_KEY`: a `G…` key; see [`StellarToml::signing_key`].
    #[serde(rename = "SIGNING_KEY")]
    pub signing_key: Option<String>,
    /// `HORIZON_URL`.
    #[serde(rename = "HORIZON_URL")]
    pub horizon_url: Option<String>,
    /// `ACCOUNTS`: the `G…` accounts the organisation controls.
    #[serde(rename = "ACCOUNTS", default)]
    pub accounts: Vec<String>,
    /// `URI_REQUEST_SIGNING_KEY` (SEP-7).
    #[serde(rename = "URI_REQUEST_SIGNING_KEY")]
    pub uri_request_signing_key: Option<String>,
    /// `DIRECT_PAYMENT_SERVER` (SEP-31).
    #[serde(rename = "DIRECT_PAYMENT_SERVER")]
    pub direct_payment_server: Option<String>,
    /// Every other key and table, as found.
    #[serde(flatten)]
    pub other: toml::Table,
}

impl StellarToml {
    /// Parses the text of a stellar.toml.
    ///
    /// # Errors
    /// [`Error::InvalidToml`] when the text is not TOML or a general field has the wrong type
    /// (for example `ACCOUNTS` that is not an array of strings).
    pub fn parse(text: &str) -> Result<Self, Error> {
        toml::from_str(text).map_err(|e| Error::InvalidToml(e.message().to_owned()))
    }

    /// The `SIGNING_KEY` as a public key.
    ///
    /// # Errors
    /// [`Error::MissingField`] when absent, [`Error::InvalidField`] when it is not a `G…` key.
    pub fn signing_key(&self) -> Result<PublicKey, Error> {
        let key = self
            .signing_key
            .as_deref()
            .ok_or(Error::MissingField("SIGNING_KEY"))?;
        key.trim().parse().map_err(|_| Error::InvalidField {
            field: "SIGNING_KEY",
            reason: "not a G… public key".to_owned(),
        })
    }
}
