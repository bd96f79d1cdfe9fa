//! The `[stellar_toml]` configuration section shared by every server.
//!
//! Kept apart from the resolver so that the servers' config structs can embed it without
//! pulling in any behaviour; the field-by-field reference is in the crate documentation.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;

/// The `[stellar_toml]` section of every server's configuration.
///
/// Missing keys take the values of [`StellarTomlSettings::default`]; unknown keys are rejected.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StellarTomlSettings {
    /// Domain → full URL of its stellar.toml. Overridden domains may use plain `http://` and are
    /// exempt from the SSRF guard. Keys are matched case-insensitively.
    pub overrides: BTreeMap<String, String>,
    /// Allow loopback, private, link-local, … addresses for every domain (intranet deployments).
    pub allow_private_addresses: bool,
    /// A PEM bundle of CA certificates trusted in addition to the system roots.
    pub extra_ca_file: Option<PathBuf>,
    /// How long a fetched stellar.toml is reused, in seconds.
    pub cache_ttl_seconds: u64,
    /// How long a failed stellar.toml fetch is remembered, in seconds (0 disables).
    pub negative_cache_ttl_seconds: u64,
    /// Timeout for establishing a connection, in seconds.
    pub connect_timeout_seconds: u64,
    /// Timeout for a whole request (connect, redirects and body), in seconds.
    pub timeout_seconds: u64,
}

impl Default for StellarTomlSettings {
    fn default() -> Self {
        Self {
            overrides: BTreeMap::new(),
            allow_private_addresses: false,
            extra_ca_file: None,
            cache_ttl_seconds: 300,
            negative_cache_ttl_seconds: 30,
            connect_timeout_seconds: 5,
            timeout_seconds: 10,
        }
    }
}
