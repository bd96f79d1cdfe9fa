//! Logging through `tracing`: human-readable text by default, JSON with `log_format = "json"`
//! (the legacy key). The level comes from `RUST_LOG` (default `info`).
//!
//! `log_format` takes what the legacy servers took: they switched to JSON when the value was
//! `json` and logged text for anything else (an empty string, `text`, a typo). So does this
//! (`json` in any case is JSON); a value that is neither `json` nor `text` (nor empty) is
//! accepted and logged as text, with a warning once logging is up.

use serde::{Deserialize, Deserializer};
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::filter::filter_fn;
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Registry};

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
    let output: Box<dyn Layer<Registry> + Send + Sync> = match format {
        LogFormat::Text | LogFormat::Unrecognised => {
            tracing_subscriber::fmt::layer().with_filter(filter).boxed()
        }
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .json()
            .with_filter(filter)
            .boxed(),
    };
    let output = output.with_filter(filter_fn(|meta| !is_codec_error(meta)));
    let installed = tracing_subscriber::registry()
        .with(output)
        .with(CodecRejections)
        .try_init();
    if installed.is_ok() && format == LogFormat::Unrecognised {
        tracing::warn!(
            "log_format is neither \"json\" nor \"text\": logging text, as the legacy servers did \
             for any value but \"json\""
        );
    }
}

/// Where actix-http reports, at ERROR, a connection it closed because of what the client sent
/// (a malformed request line or header, a head over the size limit, a client that went away):
/// the client's fault, answered by the codec itself before any of our middleware runs.
const DISPATCHER: &str = "actix_http::h1::dispatcher";

fn is_codec_error(meta: &tracing::Metadata<'_>) -> bool {
    *meta.level() == Level::ERROR && meta.target() == DISPATCHER
}

/// Takes the HTTP codec's ERROR events out of the log output and turns them into what they
/// are: `http_rejected_requests_total{reason}` (`malformed`, `head_too_large`, `timeout`,
/// `io`, `other`), and a DEBUG line. An attacker sending garbage must not fill the error log,
/// and an operator must still see that it happens. The dispatcher's other errors (a response
/// body that failed) are logged again at WARN.
struct CodecRejections;

impl<S: Subscriber> Layer<S> for CodecRejections {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        if !is_codec_error(event.metadata()) {
            return;
        }
        let mut message = Message(String::new());
        event.record(&mut message);
        let message = message.0;
        let Some(error) = message.strip_prefix("stream error: ") else {
            tracing::warn!(target: "http", "HTTP connection: {message}");
            return;
        };
        let reason = rejection_reason(error);
        metrics::counter!("http_rejected_requests_total", "reason" => reason).increment(1);
        tracing::debug!(target: "http", reason, "request refused by the HTTP codec: {error}");
    }
}

/// The reason label for a dispatcher error's text (`DispatchError`'s `Display`).
fn rejection_reason(error: &str) -> &'static str {
    if error.contains("timeout") {
        "timeout"
    } else if error.contains("too large") {
        "head_too_large"
    } else if error.starts_with("request parse error: ") {
        "malformed"
    } else if error.starts_with("I/O error") {
        "io"
    } else {
        "other"
    }
}

/// The `message` field of an event, as written.
struct Message(String);

impl Visit for Message {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.0 = format!("{value:?}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codec_errors_are_named_by_cause() {
        for (text, reason) in [
            ("request parse error: invalid Header provided", "malformed"),
            ("request parse error: invalid method specified", "malformed"),
            (
                "request parse error: message head is too large",
                "head_too_large",
            ),
            ("request parse error: timeout", "timeout"),
            (
                "request did not complete within the specified timeout",
                "timeout",
            ),
            ("I/O error: connection reset by peer", "io"),
            ("service error", "other"),
        ] {
            assert_eq!(rejection_reason(text), reason, "{text}");
        }
    }

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
