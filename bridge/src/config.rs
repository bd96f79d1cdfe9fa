//! `bridge.cfg`: the legacy keys unchanged, plus safe defaults for what the legacy server left
//! open (fees, time bounds, bind address). Every key may come from `BRIDGE__…` environment
//! variables (`BRIDGE__ACCOUNTS__BASE_SEED_FILE` for a seed).

use std::fmt;

use horizon::HorizonSettings;
use serde::{Deserialize, Deserializer};
use service::database::DatabaseSettings;
use service::telemetry::LogFormat;
use service::{ConfigError, Secret};
use stellar_base::{Asset, KeyPair, PublicKey};
use stellar_toml::StellarTomlSettings;
use url::Url;

/// The whole configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BridgeConfig {
    /// The API port.
    pub port: u16,
    /// Interface to listen on. Default loopback: the bridge moves money and must not be public.
    #[serde(default = "loopback")]
    pub bind_address: String,
    /// Horizon's URL.
    pub horizon: String,
    /// The network's passphrase.
    pub network_passphrase: String,
    /// Base URL of the compliance server's internal port.
    #[serde(default, deserialize_with = "optional_url")]
    pub compliance: Option<Url>,
    /// API key for the compliance server's internal port, when it requires one (empty: none).
    #[serde(default, deserialize_with = "service::secret::non_empty")]
    pub compliance_api_key: Option<Secret<String>>,
    /// When set (15+ characters), every endpoint requires it (`apiKey` form field, `X-API-Key`
    /// or `Authorization: Bearer`). Empty (`api_key = ""`, as in the legacy example) means no
    /// key, as it did for the legacy server; start-up then warns.
    #[serde(default, deserialize_with = "service::secret::non_empty")]
    pub api_key: Option<Secret<String>>,
    /// Lets the bridge listen on a non-loopback address without `api_key`: refused at start-up
    /// otherwise, since anyone who reaches the port could send payments.
    #[serde(default)]
    pub allow_unauthenticated: bool,
    /// `S…` seed whose raw bytes key the `X-Payload-Mac` of receive callbacks.
    #[serde(default, deserialize_with = "optional_seed")]
    pub mac_key: Option<KeyPair>,
    /// `json`, or text for anything else (as legacy).
    #[serde(default)]
    pub log_format: LogFormat,
    /// Legacy; accepted and ignored.
    #[serde(default)]
    pub develop: bool,
    /// Assets we accept and may authorize.
    #[serde(default)]
    pub assets: Vec<AssetSetting>,
    /// Our database (never the compliance server's).
    pub database: DatabaseSettings,
    /// Our accounts.
    #[serde(default)]
    pub accounts: Accounts,
    /// The back office.
    #[serde(default)]
    pub callbacks: Callbacks,
    /// The outbound policy for federation lookups.
    #[serde(default)]
    pub stellar_toml: StellarTomlSettings,
    /// Timeouts and retries towards Horizon.
    #[serde(default)]
    pub horizon_client: HorizonSettings,
    /// Fee per operation in stroops.
    #[serde(default = "default_base_fee")]
    pub base_fee: u32,
    /// The most we ever pay per operation, in stroops (the fee policy's cap).
    #[serde(default = "default_max_fee")]
    pub max_fee: u32,
    /// `[channels]`: channel accounts carrying payment transactions, so that one paying
    /// account can have up to `count` payments in each ledger. Absent: one transaction in
    /// flight per paying account.
    #[serde(default)]
    pub channels: Option<crate::send::channels::ChannelSettings>,
    /// `[cosigning]`: co-signers whose signatures every payment from the base account needs
    /// beside the bridge's own (see `docs/cosigning.md`). Absent: the bridge's key alone signs.
    #[serde(default)]
    pub cosigning: Option<crate::send::cosigning::CosigningSettings>,
    /// `[fees]`: how the fee per operation follows the network's (`/fee_stats`), between
    /// `base_fee` and `max_fee`.
    #[serde(default)]
    pub fees: FeeSettings,
    /// Seconds a transaction stays valid; after that it can never be applied, which is what
    /// makes rebuilding a payment whose outcome was unknown safe.
    #[serde(default = "default_transaction_timeout")]
    pub transaction_timeout_seconds: u64,
    /// Seconds an envelope built by `/builder` stays valid when the request names no time
    /// bounds: its users collect signatures from several key holders, often over hours.
    #[serde(default = "default_builder_timeout")]
    pub builder_timeout_seconds: u64,
    /// How long a request waits for a submission whose outcome is unknown (Horizon timed
    /// out) before answering 202 `transaction_pending`.
    #[serde(default = "default_pending_wait")]
    pub pending_wait_seconds: u64,
    /// Largest accepted request body.
    #[serde(default = "default_max_body_bytes")]
    pub max_body_bytes: usize,
    /// Seconds a request body may take to arrive after its headers (408 beyond; default 5):
    /// a slow or stalled body cannot hold a connection longer.
    #[serde(default = "service::http::default_body_timeout_seconds")]
    pub request_body_timeout_seconds: u64,
    /// `[receiving]`: the payment listener's first cursor, stream watchdog and delivery
    /// retries.
    #[serde(default)]
    pub receiving: crate::receive::settings::ReceiveSettings,
    /// `[batches]`: bulk payouts (`POST /batches`), their approval and packing.
    #[serde(default)]
    pub batches: crate::batch::BatchSettings,
    /// `[console]`: the operations console's listener and who may sign in (off by default;
    /// see `docs/console.md`).
    #[serde(default)]
    pub console: service::console::ConsoleSettings,
    /// On SIGINT/SIGTERM, how long in-flight requests and receive callbacks may still take
    /// (default 30, at most 3600). Callbacks still unanswered then are abandoned and their
    /// payments stay `pending`, delivered after the next start.
    #[serde(default = "default_shutdown_grace")]
    pub shutdown_grace_seconds: u64,
}

/// `[fees]`: the fee policy of submitted payments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeeSettings {
    /// Which percentile of the fees recently charged per operation (Horizon's
    /// `/fee_stats` `fee_charged`) to bid: 10, 20, …, 90, 95 or 99 (default 70).
    #[serde(default = "default_fee_percentile")]
    pub percentile: u8,
}

impl Default for FeeSettings {
    fn default() -> Self {
        Self {
            percentile: default_fee_percentile(),
        }
    }
}

fn default_fee_percentile() -> u8 {
    70
}

/// One `[[assets]]` entry.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AssetSetting {
    /// 1–12 alphanumerics; `XLM` without issuer means lumens.
    pub code: String,
    /// The issuer (`G…`).
    #[serde(default)]
    pub issuer: Option<String>,
}

impl AssetSetting {
    /// The asset this entry names.
    ///
    /// # Errors
    /// When the code or issuer is invalid.
    pub fn asset(&self) -> Result<Asset, ConfigError> {
        Asset::from_code_and_issuer(&self.code, self.issuer.as_deref().unwrap_or(""))
            .map_err(|e| ConfigError::setting("assets", e.to_string()))
    }
}

/// `[accounts]`.
#[derive(Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Accounts {
    /// Default source of `/payment`.
    #[serde(default, deserialize_with = "optional_seed")]
    pub base_seed: Option<KeyPair>,
    /// Signs `/authorize` transactions (a signer of the issuing account).
    #[serde(default, deserialize_with = "optional_seed")]
    pub authorizing_seed: Option<KeyPair>,
    /// The issuer of our assets.
    #[serde(default, deserialize_with = "optional_key")]
    pub issuing_account_id: Option<PublicKey>,
    /// The account whose incoming payments are delivered to `callbacks.receive`.
    #[serde(default, deserialize_with = "optional_key")]
    pub receiving_account_id: Option<PublicKey>,
    /// More accounts to watch, each with its own stream and cursor.
    #[serde(default)]
    pub receiving_accounts: Vec<PublicKey>,
}

impl fmt::Debug for Accounts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Accounts")
            .field("base_seed", &self.base_seed)
            .field("authorizing_seed", &self.authorizing_seed)
            .field("issuing_account_id", &self.issuing_account_id)
            .field("receiving_account_id", &self.receiving_account_id)
            .field("receiving_accounts", &self.receiving_accounts)
            .finish()
    }
}

/// `[callbacks]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Callbacks {
    /// Called for each received payment.
    #[serde(default, deserialize_with = "optional_url")]
    pub receive: Option<Url>,
    /// Called when a received payment cannot be delivered.
    #[serde(default, deserialize_with = "optional_url")]
    pub error: Option<Url>,
}

fn loopback() -> String {
    "127.0.0.1".into()
}
fn default_base_fee() -> u32 {
    100
}
fn default_max_fee() -> u32 {
    10_000
}
fn default_transaction_timeout() -> u64 {
    60
}
fn default_builder_timeout() -> u64 {
    86_400
}
fn default_pending_wait() -> u64 {
    10
}
fn default_max_body_bytes() -> usize {
    64 * 1024
}
fn default_shutdown_grace() -> u64 {
    30
}

fn non_empty<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(Option::<String>::deserialize(d)?.filter(|s| !s.trim().is_empty()))
}

fn optional_url<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Url>, D::Error> {
    non_empty(d)?
        .map(|s| {
            Url::parse(s.trim())
                .map_err(|e| serde::de::Error::custom(format!("invalid URL {s:?}: {e}")))
        })
        .transpose()
}

fn optional_seed<'de, D: Deserializer<'de>>(d: D) -> Result<Option<KeyPair>, D::Error> {
    non_empty(d)?
        .map(|s| {
            KeyPair::from_secret_seed(&s)
                .map_err(|_| serde::de::Error::custom("not a valid S… secret seed"))
        })
        .transpose()
}

fn optional_key<'de, D: Deserializer<'de>>(d: D) -> Result<Option<PublicKey>, D::Error> {
    non_empty(d)?
        .map(|s| {
            s.parse().map_err(|_| {
                serde::de::Error::custom(format!("{s:?} is not a valid G… account id"))
            })
        })
        .transpose()
}

impl BridgeConfig {
    /// Checks what serde cannot.
    ///
    /// # Errors
    /// A [`ConfigError::Setting`] naming the key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.database.connection()?;
        self.console
            .validate()
            .map_err(|e| ConfigError::setting("console", e))?;
        Url::parse(&self.horizon)
            .map_err(|e| ConfigError::setting("horizon", format!("is not a URL: {e}")))?;
        if self.network_passphrase.trim().is_empty() {
            return Err(ConfigError::setting("network_passphrase", "is empty"));
        }
        service::config::ApiKeyPolicy {
            key_setting: "api_key",
            key: self.api_key.as_ref(),
            min_len: 15,
            address_setting: "bind_address",
            address: &self.bind_address,
            allow_unauthenticated: self.allow_unauthenticated,
            exposure: "send payments",
        }
        .check()?;
        self.batches
            .validate(self.api_key.as_ref())
            .map_err(|(key, reason)| ConfigError::setting(key, reason))?;
        for asset in &self.assets {
            asset.asset()?;
        }
        if self.base_fee < 100 || self.max_fee < self.base_fee {
            return Err(ConfigError::setting(
                "base_fee",
                "must be at least 100 stroops and at most max_fee",
            ));
        }
        if !horizon::FeeDistribution::PERCENTILES.contains(&self.fees.percentile) {
            return Err(ConfigError::setting(
                "fees.percentile",
                "must be one of Horizon's fee_stats percentiles: 10, 20, 30, 40, 50, 60, 70, 80, 90, 95 or 99",
            ));
        }
        if self.builder_timeout_seconds == 0 {
            return Err(ConfigError::setting(
                "builder_timeout_seconds",
                "must be at least 1 (a request may still ask for no upper bound with max_time 0)",
            ));
        }
        if let Some(cosigning) = &self.cosigning {
            cosigning.validate()?;
            if cosigning.timeout_seconds >= self.transaction_timeout_seconds {
                return Err(ConfigError::setting(
                    "cosigning.timeout_seconds",
                    "must be shorter than transaction_timeout_seconds: the transaction's validity \
                     starts before the co-signers are asked",
                ));
            }
            if self.accounts.base_seed.is_none() {
                return Err(ConfigError::setting(
                    "cosigning",
                    "needs accounts.base_seed: the co-signers guard the base account",
                ));
            }
        }
        if let Some(channels) = &self.channels {
            if !(1..=1_000).contains(&channels.count) {
                return Err(ConfigError::setting(
                    "channels.count",
                    "must be between 1 and 1000",
                ));
            }
            if channels.starting_balance.stroops() < 2 * stellar_base::amount::STROOPS_PER_UNIT {
                return Err(ConfigError::setting(
                    "channels.starting_balance",
                    "must be at least 2 (lumens): a channel's reserve is 1, the rest pays fees",
                ));
            }
            if self.accounts.base_seed.is_none() {
                return Err(ConfigError::setting(
                    "channels",
                    "needs accounts.base_seed: the base account creates and funds the channels",
                ));
            }
        }
        if self.shutdown_grace_seconds > 3_600 {
            return Err(ConfigError::setting(
                "shutdown_grace_seconds",
                "must be at most 3600",
            ));
        }
        if !(5..=86_400).contains(&self.transaction_timeout_seconds) {
            return Err(ConfigError::setting(
                "transaction_timeout_seconds",
                "must be between 5 and 86400",
            ));
        }
        Ok(())
    }

    /// What is accepted (the legacy server accepted it) but weak; the server logs each line
    /// at start-up.
    pub fn warnings(&self) -> Vec<String> {
        let mut warnings = Vec::new();
        if self.api_key.is_none() {
            let exposure = if service::config::is_loopback(&self.bind_address) {
                "any process on this host"
            } else {
                "anyone who can reach the port"
            };
            warnings.push(format!(
                "api_key is not set: {exposure} can call every endpoint, /payment included, \
                 without a key; set api_key (15+ characters)"
            ));
        }
        let accounts = &self.accounts;
        match (&accounts.authorizing_seed, &accounts.issuing_account_id) {
            (Some(_), None) => warnings.push(
                "accounts.authorizing_seed is set but accounts.issuing_account_id is not: \
                 /authorize will answer 500 not_configured until it is"
                    .into(),
            ),
            (None, Some(_)) => warnings.push(
                "accounts.issuing_account_id is set but accounts.authorizing_seed is not: \
                 /authorize will answer 500 not_configured until it is"
                    .into(),
            ),
            _ => {}
        }
        if self.callbacks.receive.is_some() && self.mac_key.is_none() {
            warnings.push(
                "callbacks.receive is set without mac_key: the back office cannot tell the \
                 bridge's callbacks from anyone else's; set mac_key"
                    .into(),
            );
        }
        warnings
    }
}
