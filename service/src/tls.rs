//! In-process TLS from the legacy `[tls]` section (`certificate-file`, `private-key-file`).

use std::path::{Path, PathBuf};

use rustls_pki_types::pem::{self, PemObject};
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

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
    let certs = CertificateDer::pem_file_iter(&settings.certificate_file)
        .map_err(failed("tls.certificate-file", &settings.certificate_file))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(failed("tls.certificate-file", &settings.certificate_file))?;
    if certs.is_empty() {
        return Err(ConfigError::setting(
            "tls.certificate-file",
            "holds no PEM certificate",
        ));
    }
    let key = PrivateKeyDer::from_pem_file(&settings.private_key_file).map_err(|e| match e {
        pem::Error::NoItemsFound => {
            ConfigError::setting("tls.private-key-file", "holds no PEM private key")
        }
        e => failed("tls.private-key-file", &settings.private_key_file)(e),
    })?;
    // Several crates enable rustls; name the provider so rustls never has to guess.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| ConfigError::setting("tls", e.to_string()))
}

/// The error for `key` when reading the PEM file at `path` failed.
fn failed<'a>(key: &'static str, path: &'a Path) -> impl Fn(pem::Error) -> ConfigError + 'a {
    move |e| ConfigError::setting(key, format!("{}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(cert: &Path, key: &Path) -> TlsSettings {
        TlsSettings {
            certificate_file: cert.to_path_buf(),
            private_key_file: key.to_path_buf(),
        }
    }

    #[test]
    fn a_missing_file_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.pem");
        let err = server_config(&settings(&missing, &missing)).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("tls.certificate-file"), "{text}");
        assert!(text.contains("missing.pem"), "{text}");
    }

    #[test]
    fn files_without_pem_sections_say_so() {
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "not PEM\n").unwrap();
        let err = server_config(&settings(&empty, &empty)).unwrap_err();
        assert!(
            err.to_string().contains("holds no PEM certificate"),
            "{err}"
        );
    }
}
