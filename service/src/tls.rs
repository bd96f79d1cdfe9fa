//! In-process TLS from the legacy `[tls]` section (`certificate-file`, `private-key-file`).

use std::fs::File;
use std::io::BufReader;
use std::path::PathBuf;

use serde::Deserialize;

use crate::config::ConfigError;

/// The `[tls]` section; both files are PEM.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsSettings {
    /// Certificate chain, leaf first.
    #[serde(rename = "certificate-file", alias = "certificate_file")]
    pub certificate_file: PathBuf,
    /// The leaf's private key (PKCS#8, PKCS#1 or SEC1).
    #[serde(rename = "private-key-file", alias = "private_key_file")]
    pub private_key_file: PathBuf,
}

/// Reads the files into a rustls server configuration.
///
/// # Errors
/// [`ConfigError::Setting`] naming the file that is missing or holds no certificate/key.
pub fn server_config(settings: &TlsSettings) -> Result<rustls::ServerConfig, ConfigError> {
    let open = |key: &str, path: &PathBuf| {
        File::open(path)
            .map(BufReader::new)
            .map_err(|e| ConfigError::setting(key, format!("{}: {e}", path.display())))
    };
    let certs = rustls_pemfile::certs(&mut open(
        "tls.certificate-file",
        &settings.certificate_file,
    )?)
    .collect::<Result<Vec<_>, _>>()
    .map_err(|e| ConfigError::setting("tls.certificate-file", e.to_string()))?;
    if certs.is_empty() {
        return Err(ConfigError::setting(
            "tls.certificate-file",
            "holds no PEM certificate",
        ));
    }
    let key = rustls_pemfile::private_key(&mut open(
        "tls.private-key-file",
        &settings.private_key_file,
    )?)
    .map_err(|e| ConfigError::setting("tls.private-key-file", e.to_string()))?
    .ok_or_else(|| ConfigError::setting("tls.private-key-file", "holds no PEM private key"))?;
    // Several crates enable rustls; name the provider so rustls never has to guess.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| ConfigError::setting("tls", e.to_string()))
}
