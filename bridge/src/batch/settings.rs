//! `[batches]`: how large a bulk payout may be, who approves it, how its payments are packed
//! into transactions, and whom to tell when it ends. Every key has a default.

use serde::{Deserialize, Deserializer};
use service::Secret;
use url::Url;

/// `[batches]`.
#[derive(Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BatchSettings {
    /// Most payments in one batch (default 10 000).
    pub max_rows: usize,
    /// Largest `POST /batches` body, JSON or CSV (default 8 MiB: 10 000 rows with federation
    /// addresses and memos fit).
    pub max_body_bytes: usize,
    /// Payment operations per transaction (1–100, default 100, the protocol's limit).
    pub ops_per_transaction: usize,
    /// Whether a new batch waits in `awaiting_approval` for `POST /batches/{id}/approve` with
    /// `approver_key` (default false).
    pub require_approval: bool,
    /// The key that approves batches: distinct from `api_key`, so the one who uploads cannot
    /// approve (`BRIDGE__BATCHES__APPROVER_KEY_FILE` reads it from a file).
    #[serde(deserialize_with = "optional_secret")]
    pub approver_key: Option<Secret<String>>,
    /// Transactions of one batch in flight at once (default 10; each takes a channel).
    pub concurrency: usize,
    /// Federation lookups in flight at once while a batch is checked (default 16).
    pub resolve_concurrency: usize,
    /// Times a row goes back to `ready` after its transaction failed for a reason that was not
    /// its own (fee, sequence, a refused transaction) before it ends `failed` (default 5).
    pub max_attempts: i32,
    /// Called (POST, JSON, `X-Payload-Mac` with `mac_key`) when a batch ends: set here, not
    /// per batch, so that a client of the API cannot point the bridge at an internal address.
    #[serde(deserialize_with = "optional_url")]
    pub callback_url: Option<Url>,
    /// Seconds an instance holds a batch it works on without renewing (default 30): another
    /// instance takes over a batch within about this long after its worker dies.
    pub claim_ttl_seconds: u64,
    /// How often the worker looks for batches to send when nothing wakes it (default 500 ms).
    pub poll_ms: u64,
}

impl std::fmt::Debug for BatchSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BatchSettings")
            .field("max_rows", &self.max_rows)
            .field("ops_per_transaction", &self.ops_per_transaction)
            .field("require_approval", &self.require_approval)
            .field(
                "approver_key",
                &self.approver_key.as_ref().map(|_| "[redacted]"),
            )
            .field("concurrency", &self.concurrency)
            .field("callback_url", &self.callback_url.as_ref().map(Url::as_str))
            .finish_non_exhaustive()
    }
}

impl Default for BatchSettings {
    fn default() -> Self {
        Self {
            max_rows: 10_000,
            max_body_bytes: 8 * 1024 * 1024,
            ops_per_transaction: 100,
            require_approval: false,
            approver_key: None,
            concurrency: 10,
            resolve_concurrency: 16,
            max_attempts: 5,
            callback_url: None,
            claim_ttl_seconds: 30,
            poll_ms: 500,
        }
    }
}

impl BatchSettings {
    /// Checks what serde cannot; `api_key` is the bridge's, which the approver key must not be.
    ///
    /// # Errors
    /// The key and why.
    pub fn validate(&self, api_key: Option<&Secret<String>>) -> Result<(), (String, String)> {
        let bad = |key: &str, why: &str| Err((format!("batches.{key}"), why.to_owned()));
        if !(1..=100).contains(&self.ops_per_transaction) {
            return bad("ops_per_transaction", "must be between 1 and 100");
        }
        if self.max_rows == 0 || self.concurrency == 0 || self.resolve_concurrency == 0 {
            return bad(
                "max_rows",
                "max_rows, concurrency and resolve_concurrency must be > 0",
            );
        }
        match (&self.approver_key, self.require_approval) {
            (None, true) => return bad("approver_key", "is required with require_approval"),
            (Some(key), _) if key.expose().len() < 15 => {
                return bad("approver_key", "must be at least 15 characters");
            }
            (Some(key), _) if api_key.is_some_and(|api| api.matches(key.expose())) => {
                return bad(
                    "approver_key",
                    "must differ from api_key: the one who uploads a batch cannot approve it",
                );
            }
            _ => {}
        }
        Ok(())
    }
}

fn optional_secret<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Secret<String>>, D::Error> {
    let text = Option::<String>::deserialize(d)?;
    Ok(text
        .map(|t| t.trim().to_owned())
        .filter(|t| !t.is_empty())
        .map(Secret::new))
}

fn optional_url<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Url>, D::Error> {
    Option::<String>::deserialize(d)?
        .filter(|s| !s.trim().is_empty())
        .map(|s| {
            Url::parse(s.trim())
                .map_err(|e| serde::de::Error::custom(format!("invalid URL {s:?}: {e}")))
        })
        .transpose()
}
