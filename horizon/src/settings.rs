//! Timeouts and retry policy, as the operator configures them.
//!
//! Kept apart from the client so that a service can embed [`HorizonSettings`] in its own
//! configuration file (every field has a default; unknown keys are rejected to catch typos).

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Timeouts and retries of a [`crate::HorizonClient`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HorizonSettings {
    /// Whole-request timeout for reads, and connect timeout for everything (default 10).
    pub timeout_seconds: u64,
    /// Whole-request timeout for a submission (default 35). Horizon itself answers 504 after
    /// about 30 s, so this should be a little longer.
    pub submit_timeout_seconds: u64,
    /// Extra attempts for a read that failed with a retryable error (default 3). Submissions
    /// are never retried by this crate.
    pub retries: u32,
    /// First backoff between read attempts, doubled each time (default 250).
    pub retry_backoff_ms: u64,
    /// A stream that sends nothing, keep-alives included, for this long ends with
    /// [`crate::Error::StreamIdle`] (default 30).
    pub stream_idle_timeout_seconds: u64,
}

impl Default for HorizonSettings {
    fn default() -> Self {
        Self {
            timeout_seconds: 10,
            submit_timeout_seconds: 35,
            retries: 3,
            retry_backoff_ms: 250,
            stream_idle_timeout_seconds: 30,
        }
    }
}

impl HorizonSettings {
    /// The read timeout (at least one second).
    pub fn timeout(&self) -> Duration {
        Duration::from_secs(self.timeout_seconds.max(1))
    }

    /// The submission timeout (at least one second).
    pub fn submit_timeout(&self) -> Duration {
        Duration::from_secs(self.submit_timeout_seconds.max(1))
    }

    /// The stream idle timeout (at least one second).
    pub fn stream_idle_timeout(&self) -> Duration {
        Duration::from_secs(self.stream_idle_timeout_seconds.max(1))
    }

    /// The first retry backoff.
    pub fn retry_backoff(&self) -> Duration {
        Duration::from_millis(self.retry_backoff_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_unknown_keys() {
        let settings: HorizonSettings = serde_json::from_str(r#"{"retries": 1}"#).unwrap();
        assert_eq!(settings.retries, 1);
        assert_eq!(settings.submit_timeout_seconds, 35);
        assert!(serde_json::from_str::<HorizonSettings>(r#"{"retry": 1}"#).is_err());
        let zero = HorizonSettings {
            timeout_seconds: 0,
            ..HorizonSettings::default()
        };
        assert_eq!(zero.timeout(), Duration::from_secs(1));
    }
}
