//! `cosigner.cfg`: who may ask, what it guards, and its limits.
//!
//! Every key may also come from `COSIGNER__…` environment variables, and the seed from a file
//! (`COSIGNER__SIGNING_SEED_FILE=/run/secrets/cosigner-seed`; see `service::config`).

use std::fmt;

use serde::{Deserialize, Deserializer};
use service::database::DatabaseSettings;
use service::telemetry::LogFormat;
use service::{ConfigError, Secret};
use stellar_base::{Amount, Asset, KeyPair, PublicKey};

/// The whole configuration.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CosignerConfig {
    /// The one port: `POST /sign` for the clients, `GET /decisions` and `/metrics` behind
    /// `admin_key`, `GET /health`.
    pub port: u16,
    /// Interface to listen on. Default `0.0.0.0`: the bridge calls from another host; every
    /// endpoint but `/health` is authenticated.
    #[serde(default = "default_bind_address")]
    pub bind_address: String,
    /// The Horizon the guarded accounts live on. Informational: the co-signer decides from the
    /// transaction alone and never needs the network to refuse.
    #[serde(default)]
    pub horizon: Option<String>,
    /// What every transaction is signed for.
    pub network_passphrase: String,
    /// This co-signer's key: one of the guarded accounts' signers.
    #[serde(deserialize_with = "seed")]
    pub signing_seed: KeyPair,
    /// Its own database (SQLite by default: `sqlite://cosigner.db`).
    #[serde(default = "default_database")]
    pub database: DatabaseSettings,
    /// The accounts whose payments it co-signs; operations from any other source are refused.
    pub accounts: Vec<PublicKey>,
    /// `[[clients]]`: who may ask (their requests are signed with these keys).
    pub clients: Vec<Client>,
    /// `[[limits]]`: per asset; an asset without a limit is never signed for.
    pub limits: Vec<Limit>,
    /// Destinations never paid.
    #[serde(default)]
    pub deny: Vec<PublicKey>,
    /// The highest fee per operation signed, in stroops.
    #[serde(default = "default_max_fee")]
    pub max_fee: u32,
    /// The longest validity signed: the transaction's upper time bound at most this many
    /// seconds ahead (and never unbounded).
    #[serde(default = "default_max_validity")]
    pub max_validity_seconds: u64,
    /// How old (or how far ahead) a request's timestamp may be; older requests are refused as
    /// stale, and nonces are remembered for twice as long to refuse replays.
    #[serde(default = "default_max_request_age")]
    pub max_request_age_seconds: u64,
    /// Required on `GET /decisions` and `/metrics` (`X-API-Key` or `Authorization: Bearer`).
    #[serde(default, deserialize_with = "service::secret::non_empty")]
    pub admin_key: Option<Secret<String>>,
    /// Lets the co-signer listen on a non-loopback address without `admin_key`.
    #[serde(default)]
    pub allow_unauthenticated: bool,
    /// `text` (default) or `json`.
    #[serde(default)]
    pub log_format: LogFormat,
    /// Largest accepted request body.
    #[serde(default = "default_max_body_bytes")]
    pub max_body_bytes: usize,
    /// Seconds a request body may take to arrive after its headers (408 beyond).
    #[serde(default = "service::http::default_body_timeout_seconds")]
    pub request_body_timeout_seconds: u64,
}

impl fmt::Debug for CosignerConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CosignerConfig")
            .field("port", &self.port)
            .field("bind_address", &self.bind_address)
            .field("signing_key", &self.signing_seed.public_key())
            .field("accounts", &self.accounts)
            .field("clients", &self.clients)
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

/// `[[clients]]`: one who may ask.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Client {
    /// How decisions name it.
    pub name: String,
    /// The key its requests are signed with (the bridge's `base_seed`).
    pub public_key: PublicKey,
}

/// `[[limits]]`: what may be paid in one asset.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limit {
    /// `XLM` (or `native`), or a credit asset's code.
    pub asset_code: String,
    /// The credit asset's issuer; empty or absent for XLM.
    #[serde(default)]
    pub asset_issuer: String,
    /// The most one operation may pay.
    pub per_payment: Amount,
    /// The most all signed transactions may pay in one UTC day.
    pub per_day: Amount,
}

impl Limit {
    /// The asset it limits.
    ///
    /// # Errors
    /// When the code or issuer is invalid.
    pub fn asset(&self) -> Result<Asset, ConfigError> {
        Asset::from_code_and_issuer(&self.asset_code, &self.asset_issuer)
            .map_err(|e| ConfigError::setting("limits.asset_code", e.to_string()))
    }
}

fn default_bind_address() -> String {
    "0.0.0.0".into()
}
fn default_database() -> DatabaseSettings {
    DatabaseSettings::from_url("sqlite://cosigner.db")
}
fn default_max_fee() -> u32 {
    10_000
}
fn default_max_validity() -> u64 {
    300
}
fn default_max_request_age() -> u64 {
    60
}
fn default_max_body_bytes() -> usize {
    // A transaction of 100 operations is about 10 KiB of base64.
    64 * 1024
}

fn seed<'de, D: Deserializer<'de>>(d: D) -> Result<KeyPair, D::Error> {
    let s = String::deserialize(d)?;
    KeyPair::from_secret_seed(&s)
        .map_err(|_| serde::de::Error::custom("signing_seed is not a valid S… seed"))
}

impl CosignerConfig {
    /// Checks what serde cannot.
    ///
    /// # Errors
    /// A [`ConfigError::Setting`] naming the key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.database.connection()?;
        if self.network_passphrase.trim().is_empty() {
            return Err(ConfigError::setting("network_passphrase", "is empty"));
        }
        if self.accounts.is_empty() {
            return Err(ConfigError::setting(
                "accounts",
                "names no account: nothing would ever be signed",
            ));
        }
        if self.clients.is_empty() {
            return Err(ConfigError::setting(
                "clients",
                "names no client: nobody could ask",
            ));
        }
        let mut names = std::collections::HashSet::new();
        for client in &self.clients {
            if client.name.trim().is_empty() || !names.insert(client.name.as_str()) {
                return Err(ConfigError::setting(
                    "clients.name",
                    format!("`{}` is empty or used twice", client.name),
                ));
            }
        }
        let mut assets = std::collections::HashSet::new();
        for limit in &self.limits {
            let asset = limit.asset()?;
            if !assets.insert(asset.to_string()) {
                return Err(ConfigError::setting(
                    "limits",
                    format!("{asset} is limited twice"),
                ));
            }
            if limit.per_payment > limit.per_day {
                return Err(ConfigError::setting(
                    "limits.per_payment",
                    format!("is above per_day for {asset}"),
                ));
            }
        }
        if !(10..=86_400).contains(&self.max_validity_seconds) {
            return Err(ConfigError::setting(
                "max_validity_seconds",
                "must be between 10 and 86400",
            ));
        }
        if !(5..=3_600).contains(&self.max_request_age_seconds) {
            return Err(ConfigError::setting(
                "max_request_age_seconds",
                "must be between 5 and 3600",
            ));
        }
        service::config::ApiKeyPolicy {
            key_setting: "admin_key",
            key: self.admin_key.as_ref(),
            min_len: 16,
            address_setting: "bind_address",
            address: &self.bind_address,
            allow_unauthenticated: self.allow_unauthenticated,
            exposure: "read the decision log",
        }
        .check()?;
        Ok(())
    }

    /// What is accepted but weak, logged at start-up.
    pub fn warnings(&self) -> Vec<String> {
        let mut warnings = Vec::new();
        if self.limits.is_empty() {
            warnings.push("no [[limits]]: every payment will be refused".into());
        }
        if self
            .clients
            .iter()
            .any(|c| c.public_key == self.signing_seed.public_key())
        {
            warnings.push(
                "a client's key is the co-signer's own key: the co-signer no longer adds an \
                 independent key"
                    .into(),
            );
        }
        warnings
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(extra: &str) -> Result<CosignerConfig, ConfigError> {
        let seed = KeyPair::random().secret_seed();
        let client = KeyPair::random().public_key();
        let account = KeyPair::random().public_key();
        let file = format!(
            "port = 8010\nnetwork_passphrase = \"Test SDF Network ; September 2015\"\n\
             signing_seed = \"{seed}\"\naccounts = [\"{account}\"]\nadmin_key = \"0123456789abcdef\"\n\
             {extra}\n[[clients]]\nname = \"bridge\"\npublic_key = \"{client}\"\n\
             [[limits]]\nasset_code = \"XLM\"\nper_payment = \"1000\"\nper_day = \"20000\"\n"
        );
        let config = toml_config(&file)?;
        config.validate()?;
        Ok(config)
    }

    fn toml_config(file: &str) -> Result<CosignerConfig, ConfigError> {
        let dir = tempfile_dir();
        let path = dir.join("cosigner.cfg");
        std::fs::write(&path, file).unwrap();
        service::config::load_from("COSIGNER", Some(&path), std::iter::empty())
    }

    fn tempfile_dir() -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("cosigner-config-{}", rand::random::<u64>()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn the_documented_example_loads_with_sqlite_by_default() {
        let config = parse("").unwrap();
        assert_eq!(config.limits[0].per_day.to_string(), "20000.0000000");
        assert_eq!(config.max_validity_seconds, 300);
        assert!(config.database.connection().is_ok());
    }

    #[test]
    fn per_payment_above_per_day_is_refused() {
        let e = toml_config(&format!(
            "port = 1\nnetwork_passphrase = \"n\"\nsigning_seed = \"{}\"\naccounts = [\"{}\"]\n\
             bind_address = \"127.0.0.1\"\n[[clients]]\nname = \"b\"\npublic_key = \"{}\"\n\
             [[limits]]\nasset_code = \"XLM\"\nper_payment = \"10\"\nper_day = \"5\"\n",
            KeyPair::random().secret_seed(),
            KeyPair::random().public_key(),
            KeyPair::random().public_key()
        ))
        .unwrap()
        .validate()
        .unwrap_err();
        assert!(e.to_string().contains("per_payment"), "{e}");
    }

    #[test]
    fn a_public_address_without_admin_key_is_refused() {
        let e = toml_config(&format!(
            "port = 1\nnetwork_passphrase = \"n\"\nsigning_seed = \"{}\"\naccounts = [\"{}\"]\n\
             limits = []\n[[clients]]\nname = \"b\"\npublic_key = \"{}\"\n",
            KeyPair::random().secret_seed(),
            KeyPair::random().public_key(),
            KeyPair::random().public_key()
        ));
        let e = e.unwrap().validate().unwrap_err();
        assert!(
            e.to_string().contains("admin_key") && e.to_string().contains("bind_address"),
            "{e}"
        );
    }
}
