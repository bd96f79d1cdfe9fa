//! `[receiving]`: where the listener starts the very first time, how it watches its streams,
//! and how hard the delivery worker tries. Every key has a default; times are milliseconds so
//! that tests can run them fast.

use serde::Deserialize;

/// Where a listener starts when the database holds no cursor for its account yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartCursor {
    /// Not configured (the default): for `accounts.receiving_account_id` on an adopted legacy
    /// database, after the newest payment the legacy bridge recorded in `received_payment`
    /// (where the legacy bridge itself would have resumed); otherwise as [`StartCursor::Now`].
    Auto,
    /// Only payments made from now on (legacy behaviour on an empty table).
    Now,
    /// Everything Horizon still has for the account.
    Beginning,
    /// After this paging token.
    Token(String),
}

impl<'de> Deserialize<'de> for StartCursor {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        match text.trim() {
            "" => Ok(Self::Auto),
            "now" => Ok(Self::Now),
            "beginning" | "0" => Ok(Self::Beginning),
            token if token.len() <= 64 && token.bytes().all(|b| b.is_ascii_digit()) => {
                Ok(Self::Token(token.to_owned()))
            }
            other => Err(serde::de::Error::custom(format!(
                "start_cursor {other:?}: expected \"now\", \"beginning\" or a paging token"
            ))),
        }
    }
}

/// `[receiving]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReceiveSettings {
    /// First start only: unset (after the newest legacy `received_payment` row on an adopted
    /// legacy database, else `now`), `now`, `beginning` or a paging token.
    pub start_cursor: StartCursor,
    /// A stream that delivers no payment for this long is closed and reopened from the stored
    /// cursor (default 300 000). Keep-alives do not count: they prove the connection, not that
    /// Horizon still ingests.
    pub stream_silence_ms: u64,
    /// First wait before reconnecting after a stream error (default 500), doubled up to
    /// `reconnect_max_ms` (default 30 000).
    pub reconnect_min_ms: u64,
    /// Longest wait between reconnections.
    pub reconnect_max_ms: u64,
    /// Delivery attempts after which a payment is given up (`failing`, then `failed` once the
    /// error callback was told); 0 (the default): no limit, only `give_up_after_seconds`.
    pub max_attempts: u32,
    /// Age (since it was recorded) after which a payment whose delivery keeps failing is given
    /// up (default 604 800: a week). Until then a back office that is down is retried every
    /// `retry_max_ms` at most, and its payments are delivered once it is back.
    pub give_up_after_seconds: u64,
    /// `/health` says `degraded` when a payment has waited this long for delivery, or one was
    /// given up (default 900).
    pub degraded_after_seconds: u64,
    /// Wait after the first failed delivery (default 1 000), doubled each time with jitter.
    pub retry_initial_ms: u64,
    /// Longest wait between two delivery attempts (default 600 000).
    pub retry_max_ms: u64,
    /// Timeout of one callback or compliance request (default 60 000, as legacy).
    pub callback_timeout_ms: u64,
    /// Callbacks in flight at once (default 8).
    pub delivery_concurrency: usize,
    /// How often the delivery worker looks for due payments when nothing wakes it (default
    /// 1 000).
    pub poll_ms: u64,
    /// Seconds an instance holds the right to stream a watched account without renewing it
    /// (default 10). With several instances on one database, another one takes over an
    /// account within about this long after its streamer dies; the holder renews every third
    /// of it.
    pub lease_ttl: u64,
}

impl Default for ReceiveSettings {
    fn default() -> Self {
        Self {
            start_cursor: StartCursor::Auto,
            stream_silence_ms: 300_000,
            reconnect_min_ms: 500,
            reconnect_max_ms: 30_000,
            max_attempts: 0,
            give_up_after_seconds: 604_800,
            degraded_after_seconds: 900,
            retry_initial_ms: 1_000,
            retry_max_ms: 600_000,
            callback_timeout_ms: 60_000,
            delivery_concurrency: 8,
            poll_ms: 1_000,
            lease_ttl: 10,
        }
    }
}

impl ReceiveSettings {
    /// `lease_ttl` as a duration (at least one second).
    pub fn lease_ttl(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.lease_ttl.max(1))
    }

    /// Whether a payment recorded at `recorded` whose delivery failed `attempts` times is
    /// given up.
    pub fn gives_up(&self, attempts: u32, recorded: time::PrimitiveDateTime) -> bool {
        let now = super::store::now_utc();
        let age = u64::try_from((now - recorded).whole_seconds()).unwrap_or(0);
        (self.max_attempts > 0 && attempts >= self.max_attempts)
            || age >= self.give_up_after_seconds
    }

    /// The wait before delivery attempt `attempts + 1`, after `attempts` failures: exponential,
    /// capped, with up to half of it taken off at random so that retries spread out.
    pub fn retry_delay(&self, attempts: u32) -> std::time::Duration {
        let backoff = stellar_toml::http::Backoff {
            first: std::time::Duration::from_millis(self.retry_initial_ms),
            max: std::time::Duration::from_millis(self.retry_max_ms.max(self.retry_initial_ms)),
        };
        let full = u64::try_from(backoff.delay(attempts.saturating_sub(1)).as_millis())
            .unwrap_or(u64::MAX);
        let jitter = if full > 1 {
            rand::random::<u64>() % (full / 2 + 1)
        } else {
            0
        };
        std::time::Duration::from_millis(full - jitter)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_cursor_forms() {
        let parse = |s: &str| serde_json::from_value::<StartCursor>(serde_json::json!(s));
        assert_eq!(parse("now").unwrap(), StartCursor::Now);
        assert_eq!(parse("").unwrap(), StartCursor::Auto);
        assert_eq!(parse("beginning").unwrap(), StartCursor::Beginning);
        assert_eq!(parse("1234").unwrap(), StartCursor::Token("1234".into()));
        assert!(parse("yesterday").is_err());
    }

    #[test]
    fn retry_delays_grow_and_are_capped() {
        let settings = ReceiveSettings {
            retry_initial_ms: 100,
            retry_max_ms: 1_000,
            ..ReceiveSettings::default()
        };
        for attempts in 1..40 {
            let delay = settings.retry_delay(attempts).as_millis() as u64;
            let full = (100u64 << (attempts - 1).min(30)).min(1_000);
            assert!(delay <= full && delay >= full / 2, "{attempts}: {delay}");
        }
    }
}
