//! SEP-31 peering: paying modern anchors and being paid by them, behind the same `/payment`
//! and `/receive` as the legacy SEP-3 exchange.
//!
//! - Sending ([`send`], with [`client`]): when the destination's stellar.toml names a
//!   `DIRECT_PAYMENT_SERVER` (and no `AUTH_SERVER`, or `[peering] prefer = "sep31"`), the
//!   internal `/send` authenticates with SEP-10, registers the sender and the receiver with
//!   SEP-12 (their data from the `fetch_info` callback, see [`kyc::sep9_fields`]), creates the
//!   transaction (`sep31_outgoing`: the anchor's id stored with the payment id, under a
//!   compare-and-set, before anything is paid) and answers the bridge the payment to build;
//!   `/sep31/status` follows it afterwards.
//! - Receiving ([`auth`], [`kyc`], [`receive`]): with `[peering.anchor]` set, the external
//!   port serves SEP-10 (`/auth`), SEP-12 (`/kyc/customer`) and SEP-31 (`/sep31/info`,
//!   `/sep31/transactions`); the bridge finds a received payment's transaction by its hash memo
//!   through the internal `/receive`, and marks it completed once the back office took it.
//!
//! Everything that must happen once (a transaction created, a customer decided, a payment
//! matched) is decided in the database ([`store`]).

pub mod auth;
pub mod client;
pub mod kyc;
pub mod receive;
pub mod send;
pub mod store;

use serde::{Deserialize, Serialize};
use service::Secret;
use stellar_base::{Amount, PublicKey};
use url::Url;

/// `[peering]`: how we pay other banks, and whether we are a SEP-31 receiving anchor.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PeeringSettings {
    /// The protocol used with a domain that offers both (default `sep3`: the legacy banks'
    /// protocol keeps working unchanged).
    #[serde(default)]
    pub prefer: Protocol,
    /// `[peering.anchor]`: serve SEP-10, SEP-12 and SEP-31 on the external port.
    #[serde(default)]
    pub anchor: Option<AnchorSettings>,
}

/// A peering protocol.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// SEP-3 compliance (`AUTH_SERVER`).
    #[default]
    Sep3,
    /// SEP-31 direct payments (`DIRECT_PAYMENT_SERVER`).
    Sep31,
}

/// `[peering.anchor]`: us as a SEP-31 receiving anchor.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnchorSettings {
    /// The home domain senders authenticate for (our stellar.toml's domain).
    pub home_domain: String,
    /// Our `WEB_AUTH_ENDPOINT` as published: the tokens' issuer, and its host (with a port
    /// when it has one) the challenges' `web_auth_domain`.
    #[serde(deserialize_with = "url")]
    pub web_auth_endpoint: Url,
    /// The key that signs our tokens (HS256); every instance needs the same one.
    #[serde(default, deserialize_with = "service::secret::non_empty")]
    pub jwt_secret: Option<Secret<String>>,
    /// How long a token lasts (default one day, as the Anchor Platform and Polaris).
    #[serde(default = "default_jwt_seconds")]
    pub jwt_seconds: u64,
    /// A Horizon to read senders' account signers from; without one, or when the account
    /// does not exist, the challenge must carry the account's master key signature.
    #[serde(default, deserialize_with = "optional_url")]
    pub horizon: Option<Url>,
    /// The account senders pay (our bridge's receiving account).
    pub receiving_account: PublicKey,
    /// The assets we receive.
    pub assets: Vec<AnchorAsset>,
    /// SEP-9 fields a sender customer must provide (default first and last name).
    #[serde(default = "default_sender_fields")]
    pub sender_fields: Vec<String>,
    /// SEP-9 fields a receiver customer must provide (default first and last name and the
    /// bank account number: it is the route our back office credits).
    #[serde(default = "default_receiver_fields")]
    pub receiver_fields: Vec<String>,
}

impl AnchorSettings {
    /// At least one asset, each a valid credit asset named once, with limits in order.
    ///
    /// # Errors
    /// What is wrong, for the operator.
    pub fn check_assets(&self) -> Result<(), String> {
        if self.assets.is_empty() {
            return Err("names no asset".into());
        }
        for (i, asset) in self.assets.iter().enumerate() {
            stellar_base::Asset::credit(&asset.code, asset.issuer)
                .map_err(|e| format!("{:?}: {e}", asset.code))?;
            if self.assets[..i].iter().any(|a| a.code == asset.code) {
                return Err(format!(
                    "{} is listed twice: SEP-31 names assets by code",
                    asset.code
                ));
            }
            if let (Some(min), Some(max)) = (asset.min_amount, asset.max_amount)
                && min > max
            {
                return Err(format!("{}: min_amount is above max_amount", asset.code));
            }
        }
        Ok(())
    }
}

impl std::fmt::Debug for AnchorSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AnchorSettings")
            .field("home_domain", &self.home_domain)
            .field("web_auth_endpoint", &self.web_auth_endpoint.as_str())
            .field("receiving_account", &self.receiving_account.to_string())
            .field("assets", &self.assets)
            .finish_non_exhaustive()
    }
}

/// `[[peering.anchor.assets]]`: one asset we receive, with its fees and limits.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnchorAsset {
    /// The asset code.
    pub code: String,
    /// Its issuer.
    pub issuer: PublicKey,
    /// A fixed fee per transaction, in the asset (default 0).
    #[serde(default)]
    pub fee_fixed: Option<Amount>,
    /// A fee in percent of the amount, as a decimal string (default 0).
    #[serde(default)]
    pub fee_percent: Option<Amount>,
    /// The smallest amount accepted.
    #[serde(default)]
    pub min_amount: Option<Amount>,
    /// The largest amount accepted.
    #[serde(default)]
    pub max_amount: Option<Amount>,
}

impl AnchorAsset {
    /// The fee on `amount`: the fixed fee plus the percentage, rounded down to the stroop, in
    /// exact integer arithmetic.
    pub fn fee(&self, amount: Amount) -> Option<Amount> {
        let fixed = self.fee_fixed.map_or(0, Amount::stroops);
        let percent = self.fee_percent.map_or(0, Amount::stroops);
        // amount × percent / 100, both in stroops (1e7): divide by 100 × 1e7.
        let variable = i128::from(amount.stroops()) * i128::from(percent) / 1_000_000_000;
        Amount::from_stroops(i64::try_from(i128::from(fixed) + variable).ok()?).ok()
    }
}

fn url<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Url, D::Error> {
    let text = String::deserialize(d)?;
    Url::parse(text.trim()).map_err(|e| serde::de::Error::custom(format!("{text:?}: {e}")))
}

fn optional_url<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Url>, D::Error> {
    match Option::<String>::deserialize(d)?.filter(|s| !s.trim().is_empty()) {
        None => Ok(None),
        Some(text) => Url::parse(text.trim())
            .map(Some)
            .map_err(|e| serde::de::Error::custom(format!("{text:?}: {e}"))),
    }
}

fn default_jwt_seconds() -> u64 {
    86_400
}

fn default_sender_fields() -> Vec<String> {
    vec!["first_name".into(), "last_name".into()]
}

fn default_receiver_fields() -> Vec<String> {
    vec![
        "first_name".into(),
        "last_name".into(),
        "bank_account_number".into(),
    ]
}

/// An error on the SEP-10, SEP-12 and SEP-31 endpoints, in their wire shape
/// (`{"error": "…"}`, with `type` for `customer_info_needed`): what other anchors and SDKs
/// read, unlike the legacy `{"code","message"}` of the rest of this server.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{status}: {error}")]
pub struct SepError {
    /// The HTTP status.
    pub status: u16,
    /// What is wrong, for the other anchor's operators.
    pub error: String,
    /// The SEP-12 customer type a `customer_info_needed` asks for.
    pub kind: Option<String>,
}

impl SepError {
    /// A 400.
    pub fn bad_request(error: impl Into<String>) -> Self {
        Self::new(400, error)
    }

    /// An error with `status`.
    pub fn new(status: u16, error: impl Into<String>) -> Self {
        Self {
            status,
            error: error.into(),
            kind: None,
        }
    }

    /// 403, as SEP-31 answers a missing or invalid token.
    pub fn forbidden(why: impl Into<String>) -> Self {
        Self::new(403, why)
    }

    /// 404.
    pub fn not_found(what: impl Into<String>) -> Self {
        Self::new(404, what)
    }

    /// A 500, logging the cause: never sent to the other anchor.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!(cause = %cause, "SEP-31 request failed");
        Self::new(500, "internal error, please try again")
    }
}

impl From<service::DbError> for SepError {
    fn from(e: service::DbError) -> Self {
        Self::internal(e)
    }
}

impl actix_web::ResponseError for SepError {
    fn status_code(&self) -> actix_web::http::StatusCode {
        actix_web::http::StatusCode::from_u16(self.status)
            .unwrap_or(actix_web::http::StatusCode::INTERNAL_SERVER_ERROR)
    }

    fn error_response(&self) -> actix_web::HttpResponse {
        let mut body = serde_json::json!({ "error": self.error });
        if let Some(kind) = &self.kind {
            body["type"] = kind.clone().into();
        }
        actix_web::HttpResponse::build(self.status_code()).json(body)
    }
}

/// What the receiving side's handlers share.
#[derive(Debug)]
pub struct Anchor {
    /// `[peering.anchor]`.
    pub settings: AnchorSettings,
    /// Our SIGNING_KEY: signs challenges.
    pub signing_key: stellar_base::KeyPair,
    /// The network challenges are signed for.
    pub network: stellar_base::Network,
    /// The challenges' `web_auth_domain`: the endpoint's host, with its port if it has one.
    pub web_auth_domain: String,
    /// The tables.
    pub store: store::PeeringStore,
    /// Reads senders' signers, when configured.
    pub horizon: Option<horizon::HorizonClient>,
    /// The back office's decisions on customers.
    pub callbacks: crate::callbacks::Callbacks,
}

impl Anchor {
    /// The asset we receive with this code (and issuer, when given).
    pub fn asset(&self, code: &str, issuer: Option<&str>) -> Option<&AnchorAsset> {
        self.settings
            .assets
            .iter()
            .find(|a| a.code == code && issuer.is_none_or(|i| a.issuer.to_string() == i))
    }
}

/// Mounts SEP-10, SEP-12 and SEP-31 on the external port when we are a receiving anchor.
/// The port's gate answers CORS (SEP-10 and SEP-12 require it) for these as for the rest.
pub fn configure_external(
    anchor: Option<actix_web::web::Data<Anchor>>,
    cfg: &mut actix_web::web::ServiceConfig,
) {
    use actix_web::web;
    let Some(anchor) = anchor else { return };
    cfg.app_data(anchor)
        .route("/auth", web::get().to(auth::challenge))
        .route("/auth", web::post().to(auth::token))
        .route("/kyc/customer", web::put().to(kyc::put_customer))
        .route("/kyc/customer", web::get().to(kyc::get_customer))
        .route(
            "/kyc/customer/{account}",
            web::delete().to(kyc::delete_customer),
        )
        .route("/sep31/info", web::get().to(receive::info))
        .route("/sep31/transactions", web::post().to(receive::create))
        .route("/sep31/transactions/{id}", web::get().to(receive::show))
        .route("/sep31/transactions/{id}", web::patch().to(receive::patch));
}

/// Mounts the internal calls of the receiving side (the bridge's `/sep31/complete`, the back
/// office's `/sep31/request_info`) when we are a receiving anchor.
pub fn configure_internal(
    anchor: Option<actix_web::web::Data<Anchor>>,
    cfg: &mut actix_web::web::ServiceConfig,
) {
    use actix_web::web;
    let Some(anchor) = anchor else { return };
    cfg.app_data(anchor)
        .route("/sep31/complete", web::post().to(receive::complete))
        .route("/sep31/request_info", web::post().to(receive::request_info));
}

/// Whether a request's body is JSON (SEP-10 and SEP-12 take JSON or a form).
fn is_json(request: &actix_web::HttpRequest) -> bool {
    request
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"))
}

/// The host (and port, when the URL names one) of an endpoint: its `web_auth_domain`.
pub fn web_auth_domain(endpoint: &Url) -> String {
    let host = endpoint.host_str().unwrap_or_default();
    match endpoint.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_owned(),
    }
}

/// The SEP-12 customer types we use.
pub const SENDER: &str = "sep31-sender";
/// See [`SENDER`].
pub const RECEIVER: &str = "sep31-receiver";

/// Unix seconds.
pub fn now() -> u64 {
    stellar_base::transaction::unix_now()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fees_are_exact() {
        let asset = AnchorAsset {
            code: "USD".into(),
            issuer: stellar_base::KeyPair::random().public_key(),
            fee_fixed: Some("0.5".parse().unwrap()),
            fee_percent: Some("1.5".parse().unwrap()),
            min_amount: None,
            max_amount: None,
        };
        assert_eq!(
            asset.fee("100".parse().unwrap()).unwrap().to_string(),
            "2.0000000"
        );
        assert_eq!(
            asset.fee("0.0000001".parse().unwrap()).unwrap().to_string(),
            "0.5000000"
        );
    }
}
