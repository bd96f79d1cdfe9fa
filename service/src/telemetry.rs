//! Logging through `tracing`: human-readable text by default, JSON with `log_format = "json"`
//! (the legacy key). The level comes from `RUST_LOG` (default `info`).
//!
//! `log_format` takes what the legacy servers took: they switched to JSON when the value was
//! `json` and logged text for anything else (an empty string, `text`, a typo). So does this
//! (`json` in any case is JSON); a value that is neither `json` nor `text` (nor empty) is
//! accepted and logged as text, with a warning once logging is up.

use serde::{Deserialize, Deserializer};
use tracing_subscriber::EnvFilter;

/// Log output format.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum LogFormat {
    /// One readable line per event.
    #[default]
    Text,
    /// One JSON object per event.
    Json,
    /// A value the legacy servers also took and logged as text (`logfmt`, `pretty`…): text,
    /// and a warning at start-up.
    Unrecognised,
}

impl LogFormat {
    /// Reads a `log_format` value as the legacy servers did: `json` is JSON, anything else text.
    pub fn parse(value: &str) -> Self {
        match value.trim().to_ascii_lowercase().as_str() {
            "json" => Self::Json,
            "" | "text" => Self::Text,
            _ => Self::Unrecognised,
        }
    }
}

impl<'de> Deserialize<'de> for LogFormat {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Self::parse(&String::deserialize(d)?))
    }
}

/// Installs the global subscriber; later calls are no-ops (tests start many servers).
pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    let installed = match format {
        LogFormat::Text | LogFormat::Unrecognised => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
    if installed.is_ok() && format == LogFormat::Unrecognised {
        tracing::warn!(
            "log_format is neither \"json\" nor \"text\": logging text, as the legacy servers did \
             for any value but \"json\""
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    struct Settings {
        #[serde(default)]
        log_format: LogFormat,
    }

    fn read(toml: &str) -> LogFormat {
        config::Config::builder()
            .add_source(config::File::from_str(toml, config::FileFormat::Toml))
            .build()
            .and_then(config::Config::try_deserialize::<Settings>)
            .unwrap()
            .log_format
    }

    #[test]
    fn every_legacy_log_format_value_is_taken() {
        assert_eq!(read(""), LogFormat::Text);
        assert_eq!(read("log_format = \"json\""), LogFormat::Json);
        assert_eq!(read("log_format = \"JSON\""), LogFormat::Json);
        assert_eq!(read("log_format = \"\""), LogFormat::Text);
        assert_eq!(read("log_format = \"text\""), LogFormat::Text);
        assert_eq!(read("log_format = \"logfmt\""), LogFormat::Unrecognised);
        assert_eq!(read("log_format = \"pretty\""), LogFormat::Unrecognised);
    }
}
