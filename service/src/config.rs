//! Layered configuration: a TOML file (the legacy `*.cfg` files are TOML) under environment
//! variables.
//!
//! A server with prefix `BRIDGE` reads `BRIDGE__PORT` as `port` and `BRIDGE__DATABASE__URL` as
//! `[database] url`; `BRIDGE__KEYS__SIGNING_SEED_FILE=/run/secrets/seed` reads that key from a
//! file, so secrets need not sit in the environment or the config file. Keys are matched
//! case-insensitively in the environment, and `_` in a variable also matches a `-` in a legacy
//! key (`FEDERATION__QUERIES__REVERSE_FEDERATION` is `reverse-federation`) through serde aliases
//! on the settings structs. Unknown keys are rejected by the structs (`deny_unknown_fields`), so
//! a typo names itself instead of being silently ignored.

use std::collections::HashMap;
use std::path::Path;

use serde::de::DeserializeOwned;

/// Why configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file or the environment could not be read or parsed into the settings.
    #[error("configuration: {0}")]
    Invalid(String),
    /// A setting is present but its value is not acceptable.
    #[error("configuration: `{key}` {reason}")]
    Setting {
        /// The setting, as written in the file.
        key: String,
        /// What is wrong with it.
        reason: String,
    },
}

impl ConfigError {
    /// A complaint about one setting.
    pub fn setting(key: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::Setting {
            key: key.into(),
            reason: reason.into(),
        }
    }
}

/// Whether a bind address (`127.0.0.1`, `::1`, `[::1]`, `localhost`) only listens on this host;
/// used to word start-up warnings about endpoints without a key.
pub fn is_loopback(address: &str) -> bool {
    let host = address.trim().trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// The key that guards an internal API, and where that API listens: what
/// [`ApiKeyPolicy::check`] needs to refuse a weak key, or no key on a reachable port.
#[derive(Debug)]
pub struct ApiKeyPolicy<'a> {
    /// The key's setting, as errors name it (`api_key`, the co-signer's `admin_key`).
    pub key_setting: &'static str,
    /// Its value, when set.
    pub key: Option<&'a crate::Secret<String>>,
    /// The shortest key accepted (the legacy servers' own minimum).
    pub min_len: usize,
    /// The setting that names the address (`bind_address`, `internal_bind_address`).
    pub address_setting: &'static str,
    /// Its value.
    pub address: &'a str,
    /// `allow_unauthenticated`: the operator accepts an open API on a reachable address.
    pub allow_unauthenticated: bool,
    /// What a stranger who reaches the port could do, for the error ("send payments").
    pub exposure: &'static str,
}

impl ApiKeyPolicy<'_> {
    /// Refuses a key shorter than `min_len`, and a missing key while the API listens beyond
    /// this host unless `allow_unauthenticated` says so: an open payment API must be a choice
    /// written in the config, never an omission.
    ///
    /// # Errors
    /// [`ConfigError::Setting`] on the key's setting, with the reason and the ways out.
    pub fn check(&self) -> Result<(), ConfigError> {
        if self.key.is_some_and(|k| k.expose().len() < self.min_len) {
            return Err(ConfigError::setting(
                self.key_setting,
                format!("must be at least {} characters", self.min_len),
            ));
        }
        if self.key.is_none() && !is_loopback(self.address) && !self.allow_unauthenticated {
            return Err(ConfigError::setting(
                self.key_setting,
                format!(
                    "is not set while the API listens on {address}: anyone who reaches it could \
                     {exposure}; set {key} ({min}+ characters), bind {setting} to 127.0.0.1, \
                     or set allow_unauthenticated = true to accept that",
                    key = self.key_setting,
                    address = self.address,
                    exposure = self.exposure,
                    min = self.min_len,
                    setting = self.address_setting,
                ),
            ));
        }
        Ok(())
    }
}

/// Keys whose own names end in `_file` and hold a path (`[tls] certificate-file`,
/// `[stellar_toml] extra_ca_file`…): `…__CERTIFICATE_FILE=/etc/cert.pem` sets the path itself
/// rather than reading a `certificate` key from a file.
const PATH_KEYS: &[&str] = &[
    "CERTIFICATE_FILE",
    "PRIVATE_KEY_FILE",
    "EXTRA_CA_FILE",
    "CUSTOMERS_FILE",
];

fn names_a_path(variable: &str) -> bool {
    let last = variable.rsplit("__").next().unwrap_or(variable);
    PATH_KEYS.contains(&last)
}

/// Loads settings from `file` (if any) and the process environment under `prefix`.
///
/// # Errors
/// [`ConfigError::Invalid`] naming the file, variable or key that is wrong.
pub fn load<T: DeserializeOwned>(prefix: &str, file: Option<&Path>) -> Result<T, ConfigError> {
    load_from(prefix, file, std::env::vars())
}

/// As [`load`], with the environment given explicitly (for tests and embedding).
///
/// # Errors
/// As [`load`].
pub fn load_from<T: DeserializeOwned>(
    prefix: &str,
    file: Option<&Path>,
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<T, ConfigError> {
    let mut builder = config::Config::builder();
    if let Some(file) = file {
        if !file.exists() {
            return Err(ConfigError::Invalid(format!(
                "config file {} does not exist",
                file.display()
            )));
        }
        builder = builder.add_source(
            config::File::from(file)
                .format(config::FileFormat::Toml)
                .required(true),
        );
    }
    let marker = format!("{}__", prefix.to_ascii_uppercase());
    let ours: HashMap<String, String> = env
        .into_iter()
        .filter(|(name, _)| name.starts_with(&marker))
        .collect();
    let mut plain = HashMap::new();
    for (name, value) in &ours {
        let rest = &name[marker.len()..];
        if let Some(key) = rest.strip_suffix("_FILE").filter(|_| !names_a_path(rest)) {
            let path = key.split("__").collect::<Vec<_>>().join(".").to_lowercase();
            if ours.contains_key(&format!("{marker}{key}")) {
                return Err(ConfigError::Invalid(format!(
                    "both {marker}{key} and {name} are set; use one"
                )));
            }
            let content = std::fs::read_to_string(value)
                .map_err(|e| ConfigError::Invalid(format!("{name}: cannot read {value}: {e}")))?;
            builder = builder
                .set_override(path, content.trim_end_matches(['\n', '\r']).to_owned())
                .map_err(|e| ConfigError::Invalid(e.to_string()))?;
        } else {
            plain.insert(name.clone(), value.clone());
        }
    }
    builder = builder.add_source(
        config::Environment::with_prefix(prefix)
            .prefix_separator("__")
            .separator("__")
            .source(Some(plain)),
    );
    builder
        .build()
        .and_then(config::Config::try_deserialize)
        .map_err(|e| ConfigError::Invalid(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Settings {
        port: u16,
        #[serde(default)]
        database: Database,
        #[serde(default)]
        queries: Queries,
    }

    #[derive(Debug, Default, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Database {
        url: Option<String>,
        #[serde(default)]
        sqlite_inline_reads: Option<bool>,
    }

    #[derive(Debug, Default, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Queries {
        #[serde(rename = "reverse-federation", alias = "reverse_federation")]
        reverse: Option<String>,
    }

    fn write(contents: &str) -> tempfile::NamedTempFile {
        let file = tempfile::Builder::new().suffix(".cfg").tempfile().unwrap();
        std::fs::write(file.path(), contents).unwrap();
        file
    }

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn environment_overrides_the_file_with_nesting() {
        let file = write("port = 8000\n[database]\nurl = \"sqlite://a.db\"\n");
        let s: Settings = load_from(
            "FEDERATION",
            Some(file.path()),
            env(&[
                ("FEDERATION__PORT", "9000"),
                ("FEDERATION__DATABASE__URL", "sqlite://b.db"),
                ("FEDERATION__QUERIES__REVERSE_FEDERATION", "SELECT 1"),
                ("FEDERATION__DATABASE__SQLITE_INLINE_READS", "false"),
                ("BRIDGE__PORT", "1"),
            ]),
        )
        .unwrap();
        assert_eq!(s.port, 9000);
        assert_eq!(s.database.sqlite_inline_reads, Some(false));
        assert_eq!(s.database.url.as_deref(), Some("sqlite://b.db"));
        assert_eq!(s.queries.reverse.as_deref(), Some("SELECT 1"));
    }

    #[test]
    fn loopback_addresses() {
        for address in ["127.0.0.1", "::1", "[::1]", "localhost", "127.0.0.2"] {
            assert!(is_loopback(address), "{address}");
        }
        for address in ["0.0.0.0", "::", "10.0.0.1", "bank.example"] {
            assert!(!is_loopback(address), "{address}");
        }
    }

    #[test]
    fn dashed_legacy_keys_are_read_from_files() {
        let file = write("port = 1\n[queries]\nreverse-federation = \"SELECT 2\"\n");
        let s: Settings = load_from("FEDERATION", Some(file.path()), env(&[])).unwrap();
        assert_eq!(s.queries.reverse.as_deref(), Some("SELECT 2"));
    }

    #[test]
    fn secrets_come_from_files() {
        let secret = write("sqlite://secret.db\n");
        let s: Settings = load_from(
            "FEDERATION",
            None,
            env(&[
                ("FEDERATION__PORT", "1"),
                (
                    "FEDERATION__DATABASE__URL_FILE",
                    secret.path().to_str().unwrap(),
                ),
            ]),
        )
        .unwrap();
        assert_eq!(s.database.url.as_deref(), Some("sqlite://secret.db"));
    }

    #[test]
    fn keys_that_are_paths_are_not_read_from_files() {
        #[derive(Debug, Deserialize)]
        #[serde(deny_unknown_fields)]
        struct WithTls {
            tls: Tls,
        }
        #[derive(Debug, Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Tls {
            #[serde(rename = "certificate-file", alias = "certificate_file")]
            certificate_file: String,
        }
        let s: WithTls = load_from(
            "FEDERATION",
            None,
            env(&[("FEDERATION__TLS__CERTIFICATE_FILE", "/etc/cert.pem")]),
        )
        .unwrap();
        assert_eq!(s.tls.certificate_file, "/etc/cert.pem");
    }

    #[test]
    fn unknown_keys_and_missing_files_are_named() {
        let file = write("port = 1\nprot = 2\n");
        let err = load_from::<Settings>("FEDERATION", Some(file.path()), env(&[]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("prot"), "{err}");
        let err = load_from::<Settings>(
            "FEDERATION",
            None,
            env(&[("FEDERATION__PORT", "1"), ("FEDERATION__DATABSE__URL", "x")]),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("databse"), "{err}");
        let err = load_from::<Settings>("FEDERATION", Some(Path::new("/nope.cfg")), env(&[]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("/nope.cfg"), "{err}");
        let err = load_from::<Settings>("FEDERATION", None, env(&[("FEDERATION__PORT", "eighty")]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("port"), "{err}");
    }
}
