//! `compliance.cfg`: the legacy keys unchanged, plus bind addresses, an API key for the internal
//! port, the outbound HTTP policy and limits. Every key may come from `COMPLIANCE__…`
//! environment variables (`COMPLIANCE__KEYS__SIGNING_SEED_FILE` for the seed).

use std::fmt;

use serde::Deserialize;
use service::database::DatabaseSettings;
use service::telemetry::LogFormat;
use service::tls::TlsSettings;
use service::{ConfigError, Secret};
use stellar_base::KeyPair;
use stellar_toml::StellarTomlSettings;
use url::Url;

/// The whole configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ComplianceConfig {
    /// The AUTH_SERVER port (public).
    pub external_port: u16,
    /// The port our bridge calls (private).
    pub internal_port: u16,
    /// Interface of the external port (default all: it is public).
    #[serde(default = "all_interfaces")]
    pub external_bind_address: String,
    /// Interface of the internal port (default loopback: never expose it).
    #[serde(default = "loopback")]
    pub internal_bind_address: String,
    /// Ask receivers for their customer's KYC (`need_info`) when sending.
    #[serde(default)]
    pub needs_auth: bool,
    /// The network whose transaction hashes we compute.
    pub network_passphrase: String,
    /// `json`, or text for anything else (as legacy).
    #[serde(default)]
    pub log_format: LogFormat,
    /// Our database (never the bridge's).
    pub database: DatabaseSettings,
    /// Our signing key.
    pub keys: Keys,
    /// The back office's decision and KYC endpoints.
    #[serde(default)]
    pub callbacks: Callbacks,
    /// Serve the external port over TLS in-process.
    #[serde(default)]
    pub tls: Option<TlsSettings>,
    /// Enables SEP-4 `GET /tx_status` behind HTTP basic auth.
    #[serde(default)]
    pub tx_status_auth: Option<BasicAuth>,
    /// The outbound HTTP policy (overrides, extra CA, SSRF guard).
    #[serde(default)]
    pub stellar_toml: StellarTomlSettings,
    /// When set, the internal port requires it in `X-API-Key` (or `Authorization: Bearer`).
    /// Empty means none (start-up then warns).
    #[serde(default, deserialize_with = "service::secret::non_empty")]
    pub api_key: Option<Secret<String>>,
    /// Lets the internal port listen on a non-loopback address without `api_key`: refused at
    /// start-up otherwise, since anyone who reaches it could send compliance requests and edit
    /// the allow lists.
    #[serde(default)]
    pub allow_unauthenticated: bool,
    /// Largest accepted request body.
    #[serde(default = "default_max_body_bytes")]
    pub max_body_bytes: usize,
    /// Seconds a request body may take to arrive after its headers (408 beyond; default 5):
    /// a slow or stalled body cannot hold a connection longer.
    #[serde(default = "service::http::default_body_timeout_seconds")]
    pub request_body_timeout_seconds: u64,
    /// `[rate_limit]`: AUTH requests per second per client address on the external port (429
    /// beyond).
    #[serde(default)]
    pub rate_limit: service::rate_limit::RateLimitSettings,
    /// `[peering]`: SEP-31 peering, sending (`prefer`) and receiving (`[peering.anchor]`);
    /// see `docs/peering.md`.
    #[serde(default)]
    pub peering: crate::sep31::PeeringSettings,
    /// `[console]`: the operations console's listener (allow lists, authorized transactions)
    /// and who may sign in; off by default (see `docs/console.md`).
    #[serde(default)]
    pub console: service::console::ConsoleSettings,
}

/// `[keys]`.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Keys {
    /// `S…` seed whose public key is `SIGNING_KEY` in our stellar.toml.
    #[serde(deserialize_with = "seed")]
    pub signing_seed: KeyPair,
    /// Documented by the legacy server but never used; accepted and ignored.
    #[serde(default)]
    pub encryption_key: Option<String>,
}

impl fmt::Debug for Keys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keys")
            .field("signing_seed", &self.signing_seed)
            .finish_non_exhaustive()
    }
}

fn seed<'de, D: serde::Deserializer<'de>>(d: D) -> Result<KeyPair, D::Error> {
    let s = String::deserialize(d)?;
    KeyPair::from_secret_seed(&s)
        .map_err(|_| serde::de::Error::custom("keys.signing_seed is not a valid S… seed"))
}

/// `[callbacks]`: URLs of the operator's back office (plain http allowed: they are the
/// operator's own).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Callbacks {
    /// Decides `tx_status`.
    #[serde(default, deserialize_with = "optional_url")]
    pub sanctions: Option<Url>,
    /// Decides `info_status` (else the allow lists do).
    #[serde(default, deserialize_with = "optional_url")]
    pub ask_user: Option<Url>,
    /// Returns a customer's KYC JSON.
    #[serde(default, deserialize_with = "optional_url")]
    pub fetch_info: Option<Url>,
    /// Answers SEP-4 status queries.
    #[serde(default, deserialize_with = "optional_url")]
    pub tx_status: Option<Url>,
}

/// An optional URL; an empty string (as legacy sample configs have) means none.
fn optional_url<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Url>, D::Error> {
    match Option::<String>::deserialize(d)?.filter(|s| !s.trim().is_empty()) {
        None => Ok(None),
        Some(s) => Url::parse(s.trim())
            .map(Some)
            .map_err(|e| serde::de::Error::custom(format!("invalid callback URL {s:?}: {e}"))),
    }
}

/// `[tx_status_auth]`.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BasicAuth {
    /// User name.
    pub username: String,
    /// Password (never printed).
    pub password: Secret<String>,
}

impl fmt::Debug for BasicAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BasicAuth({}, password: <redacted>)", self.username)
    }
}

fn all_interfaces() -> String {
    "0.0.0.0".into()
}

fn loopback() -> String {
    "127.0.0.1".into()
}

fn default_max_body_bytes() -> usize {
    256 * 1024
}

impl ComplianceConfig {
    /// Checks what serde cannot.
    ///
    /// # Errors
    /// A [`ConfigError::Setting`] naming the key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.database.connection()?;
        self.console
            .validate()
            .map_err(|e| ConfigError::setting("console", e))?;
        if let Some(anchor) = &self.peering.anchor {
            let secret_len = anchor
                .jwt_secret
                .as_ref()
                .map_or(0, |s| s.expose().chars().count());
            if secret_len < 32 {
                return Err(ConfigError::setting(
                    "peering.anchor.jwt_secret",
                    "is required, at least 32 characters (it signs the SEP-10 tokens)",
                ));
            }
            if !stellar_base::address::is_dns_name(&anchor.home_domain) {
                return Err(ConfigError::setting(
                    "peering.anchor.home_domain",
                    "is not a domain",
                ));
            }
            if anchor.assets.is_empty() {
                return Err(ConfigError::setting(
                    "peering.anchor.assets",
                    "names no asset",
                ));
            }
        }
        if self.network_passphrase.trim().is_empty() {
            return Err(ConfigError::setting("network_passphrase", "is empty"));
        }
        service::config::ApiKeyPolicy {
            key_setting: "api_key",
            key: self.api_key.as_ref(),
            min_len: 16,
            address_setting: "internal_bind_address",
            address: &self.internal_bind_address,
            allow_unauthenticated: self.allow_unauthenticated,
            exposure: "send compliance requests and edit the allow lists",
        }
        .check()?;
        Ok(())
    }

    /// What is accepted (the legacy server accepted it) but weak; the server logs each line
    /// at start-up.
    pub fn warnings(&self) -> Vec<String> {
        let mut warnings = Vec::new();
        if let Some(auth) = &self.tx_status_auth {
            // The legacy README asked for 10+ characters; the legacy code took anything.
            if auth.password.expose().chars().count() < 10 {
                warnings.push(
                    "tx_status_auth.password is shorter than 10 characters: GET /tx_status on \
                     the public port is easy to guess into; use a longer password"
                        .into(),
                );
            }
            if auth.username.is_empty() {
                warnings.push(
                    "tx_status_auth.username is empty: GET /tx_status only checks the password"
                        .into(),
                );
            }
        }
        if self.api_key.is_none() {
            let exposure = if service::config::is_loopback(&self.internal_bind_address) {
                "any process on this host"
            } else {
                "anyone who can reach it"
            };
            warnings.push(format!(
                "api_key is not set: {exposure} can use the internal port (/send, \
                 /allow_access…) without a key; set api_key (16+ characters)"
            ));
        }
        warnings
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_legacy_compliance_cfg_loads_unchanged() {
        let file = tempfile::Builder::new().suffix(".cfg").tempfile().unwrap();
        std::fs::write(
            file.path(),
            r#"
external_port = 8003
internal_port = 8004
needs_auth = false
network_passphrase = "Test SDF Network ; September 2015"

[database]
type = "postgres"
url = "postgres://localhost:5432/compliance?sslmode=disable"

[keys]
signing_seed = "SDWTLFPALQSP225BSMX7HPZ7ZEAYSUYNDLJ5QI3YGVBNRUIIELWH3XUV"
encryption_key = "SDWTLFPALQSP225BSMX7HPZ7ZEAYSUYNDLJ5QI3YGVBNRUIIELWH3XUV"

[callbacks]
sanctions = "http://localhost/sanctions"
ask_user = "http://localhost/ask_user"
fetch_info = "http://localhost/fetch_info"
tx_status = ""

[tls]
certificate_file = "server.crt"
private_key_file = "server.key"

[tx_status_auth]
username = "username"
password = "password123"
"#,
        )
        .unwrap();
        let config: ComplianceConfig =
            service::config::load_from("COMPLIANCE", Some(file.path()), Vec::new()).unwrap();
        config.validate().unwrap();
        assert_eq!((config.external_port, config.internal_port), (8003, 8004));
        assert_eq!(config.internal_bind_address, "127.0.0.1");
        assert!(config.callbacks.sanctions.is_some() && config.callbacks.tx_status.is_none());
        assert_eq!(
            config.keys.signing_seed.public_key().to_string(),
            "GBYJZW5XFAI6XV73H5SAIUYK6XZI4CGGVBUBO3ANA2SV7KKDAXTV6AEB"
        );
        assert!(
            !format!("{config:?}").contains("SDWTLFPALQSP"),
            "seeds never printed"
        );
        assert!(!format!("{config:?}").contains("password123"));
    }

    #[test]
    fn bad_values_are_named() {
        let load = |toml: &str| {
            let file = tempfile::Builder::new().suffix(".cfg").tempfile().unwrap();
            std::fs::write(file.path(), toml).unwrap();
            service::config::load_from::<ComplianceConfig>(
                "COMPLIANCE",
                Some(file.path()),
                Vec::new(),
            )
            .and_then(|c| c.validate().map(|()| c))
            .unwrap_err()
            .to_string()
        };
        let base = "external_port = 1\ninternal_port = 2\nnetwork_passphrase = \"x\"\n[database]\nurl = \"sqlite://x.db\"\n";
        let err = load(&format!("{base}[keys]\nsigning_seed = \"GBYJ\"\n"));
        assert!(err.contains("signing_seed"), "{err}");
        let err = load(&format!(
            "{base}[keys]\nsigning_seed = \"SDWTLFPALQSP225BSMX7HPZ7ZEAYSUYNDLJ5QI3YGVBNRUIIELWH3XUV\"\n[callbacks]\nsanctons = \"http://x\"\n"
        ));
        assert!(err.contains("sanctons"), "{err}");
        assert!(
            !err.contains("SDWTLFPALQSP"),
            "the seed never appears in errors: {err}"
        );
        // A reachable internal port without a key is refused, unless the operator says so.
        let keys =
            "[keys]\nsigning_seed = \"SDWTLFPALQSP225BSMX7HPZ7ZEAYSUYNDLJ5QI3YGVBNRUIIELWH3XUV\"\n";
        let open = format!("internal_bind_address = \"0.0.0.0\"\n{base}{keys}");
        let err = load(&open);
        assert!(
            err.contains("api_key")
                && err.contains("0.0.0.0")
                && err.contains("allow_unauthenticated"),
            "{err}"
        );
        let file = tempfile::Builder::new().suffix(".cfg").tempfile().unwrap();
        std::fs::write(file.path(), format!("allow_unauthenticated = true\n{open}")).unwrap();
        let accepted: ComplianceConfig =
            service::config::load_from("COMPLIANCE", Some(file.path()), Vec::new()).unwrap();
        accepted.validate().unwrap();
    }
}
