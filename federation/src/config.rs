//! `federation.cfg`: the legacy keys unchanged, plus a bind address and a metrics listener.
//!
//! Every key may also come from `FEDERATION__…` environment variables (see `service::config`).

use serde::Deserialize;
use service::ConfigError;
use service::database::DatabaseSettings;
use service::telemetry::LogFormat;
use service::tls::TlsSettings;

/// The whole configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FederationConfig {
    /// Public port (legacy: listens on all interfaces).
    pub port: u16,
    /// Interface to listen on. Default `0.0.0.0`: federation is a public service.
    #[serde(default = "default_bind_address")]
    pub bind_address: String,
    /// The operator's database.
    pub database: DatabaseSettings,
    /// The lookups, in the operator's SQL.
    pub queries: Queries,
    /// Serve HTTPS in-process.
    #[serde(default)]
    pub tls: Option<TlsSettings>,
    /// `text` (default) or `json`.
    #[serde(default)]
    pub log_format: LogFormat,
    /// Port for `/metrics` and `/health` on loopback (off when absent); kept off the public port.
    #[serde(default)]
    pub metrics_port: Option<u16>,
    /// Largest accepted request (federation requests are small GETs).
    #[serde(default = "default_max_body_bytes")]
    pub max_body_bytes: usize,
    /// Seconds a request body may take to arrive after its headers (408 beyond; default 5):
    /// a slow or stalled body cannot hold a connection longer.
    #[serde(default = "service::http::default_body_timeout_seconds")]
    pub request_body_timeout_seconds: u64,
    /// `[rate_limit]`: lookups per second per client address on the public port (429 beyond).
    #[serde(default)]
    pub rate_limit: service::rate_limit::RateLimitSettings,
}

/// The `[queries]` section.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Queries {
    /// Name lookup: two `?` parameters (name, then domain); columns `id` and optionally
    /// `memo_type` and `memo`.
    pub federation: String,
    /// Reverse lookup: one `?` parameter (the account id); columns `name` and `domain`.
    #[serde(default, rename = "reverse-federation", alias = "reverse_federation")]
    pub reverse_federation: Option<String>,
    /// Forward lookup: `:param` placeholders bound from the request's query parameters; columns
    /// as for `federation`.
    #[serde(default)]
    pub forward: Option<String>,
}

fn default_bind_address() -> String {
    "0.0.0.0".into()
}

fn default_max_body_bytes() -> usize {
    16 * 1024
}

impl FederationConfig {
    /// Checks what serde cannot.
    ///
    /// # Errors
    /// A [`ConfigError::Setting`] naming the key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.database.connection()?;
        if self.queries.federation.trim().is_empty() {
            return Err(ConfigError::setting("queries.federation", "is empty"));
        }
        Ok(())
    }
}
