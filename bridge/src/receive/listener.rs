//! One listener per watched account: streams `/accounts/{id}/payments?join=transactions`
//! from the stored cursor and records every record it gets, cursor and rows together.
//!
//! The listener never decides that a record can be skipped: a record Horizon sends that
//! cannot be read is fetched again as raw JSON and stored as `unparseable`; when even that
//! fails, the listener stops advancing (it reconnects from the same cursor, with backoff) and
//! says so in `/health`. Streams that end are reopened, errors back off exponentially, and a
//! stream that brings no payment for `stream_silence_ms` is reopened as well.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use futures_util::StreamExt;
use horizon::{HorizonClient, Order, PaymentRecord, PaymentsQuery};
use serde::Serialize;
use stellar_base::{Asset, PublicKey};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::record::classify;
use super::settings::{ReceiveSettings, StartCursor};
use super::store::{NewReceived, ReceiveStore, now_ms, status};

/// Records recorded per database transaction at most.
const CHUNK: usize = 500;

/// What `/health` shows for one account.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ListenerStatus {
    /// The watched account.
    pub account: String,
    /// `starting`, `streaming`, `reconnecting` or `stopped`.
    pub state: &'static str,
    /// Unix milliseconds of the last payment recorded.
    pub last_event_at: Option<i64>,
    /// The stored cursor.
    pub last_paging_token: Option<String>,
    /// The last error, until the next record.
    pub last_error: Option<String>,
    /// Reconnections since start.
    pub reconnects: u64,
}

/// A shared, updatable [`ListenerStatus`].
pub type SharedStatus = Arc<Mutex<ListenerStatus>>;

/// Everything one listener needs.
#[derive(Debug)]
pub struct Listener {
    /// The watched account.
    pub account: PublicKey,
    /// Horizon.
    pub horizon: HorizonClient,
    /// Plain HTTP, to re-read a record that cannot be decoded.
    pub http: reqwest::Client,
    /// The tables.
    pub store: ReceiveStore,
    /// `[[assets]]`.
    pub assets: Vec<Asset>,
    /// Timings.
    pub settings: ReceiveSettings,
    /// Notified after deliverable payments are recorded.
    pub wake: Arc<Notify>,
    /// Reported in `/health`.
    pub status: SharedStatus,
}

/// Stops the stream reader when the stream is given up (or the listener is aborted).
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Why a stream was given up.
enum Ended {
    /// Horizon closed it, or it was silent: reopen now.
    Closed,
    /// Something failed: reopen after a backoff.
    Failed(String),
}

impl Listener {
    fn update(&self, f: impl FnOnce(&mut ListenerStatus)) {
        f(&mut self.status.lock().unwrap_or_else(PoisonError::into_inner));
    }

    /// Streams until `cancel`.
    pub async fn run(self, cancel: CancellationToken) {
        let min = Duration::from_millis(self.settings.reconnect_min_ms.max(1));
        let max = Duration::from_millis(self.settings.reconnect_max_ms).max(min);
        let mut backoff = min;
        loop {
            let ended = tokio::select! {
                () = cancel.cancelled() => break,
                ended = self.stream_once() => ended,
            };
            let wait = match ended {
                Ended::Closed => {
                    backoff = min;
                    min
                }
                Ended::Failed(error) => {
                    tracing::warn!(account = %self.account, %error, "payment stream failed");
                    self.update(|s| s.last_error = Some(error));
                    let wait = backoff;
                    backoff = (backoff * 2).min(max);
                    wait
                }
            };
            metrics::counter!("bridge_listener_reconnects_total", "account" => self.account.to_string())
                .increment(1);
            self.update(|s| {
                s.state = "reconnecting";
                s.reconnects += 1;
            });
            tokio::select! {
                () = cancel.cancelled() => break,
                () = tokio::time::sleep(wait) => {}
            }
        }
        self.update(|s| s.state = "stopped");
    }

    /// The stored cursor, or on the very first start the configured one, resolved to a
    /// concrete paging token and stored so that a restart never falls back to `now`.
    async fn cursor(&self) -> Result<String, String> {
        let account = self.account.to_string();
        if let Some(token) = self
            .store
            .cursor(&account)
            .await
            .map_err(|e| e.to_string())?
        {
            return Ok(token);
        }
        let token = match &self.settings.start_cursor {
            StartCursor::Beginning => "0".to_owned(),
            StartCursor::Token(token) => token.clone(),
            StartCursor::Now => {
                let newest = self
                    .horizon
                    .payments(&PaymentsQuery {
                        account: Some(self.account),
                        limit: 1,
                        order: Order::Desc,
                        ..PaymentsQuery::default()
                    })
                    .await
                    .map_err(|e| format!("reading the newest payment: {e}"))?;
                newest.next_cursor.unwrap_or_else(|| "0".to_owned())
            }
        };
        self.store
            .set_cursor(&account, &token)
            .await
            .map_err(|e| e.to_string())?;
        Ok(token)
    }

    /// One stream, from the stored cursor, until it ends.
    async fn stream_once(&self) -> Ended {
        let mut cursor = match self.cursor().await {
            Ok(cursor) => cursor,
            Err(error) => return Ended::Failed(error),
        };
        self.update(|s| {
            s.state = "streaming";
            s.last_paging_token = Some(cursor.clone());
        });
        let stream = self.horizon.stream_payments(PaymentsQuery {
            account: Some(self.account),
            cursor: Some(cursor.clone()),
            join_transactions: true,
            ..PaymentsQuery::default()
        });
        // A reader task decodes the stream while this one writes to the database, so that a
        // backlog is recorded in large batches (one transaction each).
        let (sender, mut receiver) = tokio::sync::mpsc::channel(CHUNK * 2);
        let _reader = AbortOnDrop(tokio::spawn(async move {
            let mut stream = std::pin::pin!(stream);
            while let Some(item) = stream.next().await {
                if sender.send(item).await.is_err() {
                    break;
                }
            }
        }));
        let silence = Duration::from_millis(self.settings.stream_silence_ms.max(1));
        loop {
            let mut chunk = Vec::with_capacity(CHUNK);
            match tokio::time::timeout(silence, receiver.recv_many(&mut chunk, CHUNK)).await {
                Err(_) => {
                    tracing::info!(account = %self.account, "payment stream silent; reopening");
                    return Ended::Closed;
                }
                Ok(0) => return Ended::Closed,
                Ok(_) => {}
            }
            let mut rows = Vec::new();
            for item in chunk {
                match item {
                    Ok(record) => rows.push(self.row(record).await),
                    Err(horizon::Error::Decode(why)) => {
                        // Record what came before it, then the unreadable record itself.
                        if let Err(error) = self.save(&mut rows, &mut cursor).await {
                            return Ended::Failed(error);
                        }
                        match self.unreadable(&cursor, &why).await {
                            Ok(row) => rows.push(row),
                            Err(error) => return Ended::Failed(error),
                        }
                    }
                    Err(error) => {
                        if let Err(error) = self.save(&mut rows, &mut cursor).await {
                            return Ended::Failed(error);
                        }
                        return Ended::Failed(error.to_string());
                    }
                }
            }
            if let Err(error) = self.save(&mut rows, &mut cursor).await {
                return Ended::Failed(error);
            }
        }
    }

    /// A row for a record; fetches the transaction if Horizon did not embed it.
    async fn row(&self, mut record: PaymentRecord) -> NewReceived {
        if record.transaction.is_none()
            && let Ok(Some(tx)) = self.horizon.transaction(&record.transaction_hash).await
        {
            record.transaction = Some(tx);
        }
        classify(&record, &self.account, &self.assets)
    }

    /// Records `rows` and moves the cursor to the last one, in one transaction.
    async fn save(&self, rows: &mut Vec<NewReceived>, cursor: &mut String) -> Result<(), String> {
        let Some(last) = rows.last() else {
            return Ok(());
        };
        let next = last.paging_token.clone();
        let batch = std::mem::take(rows);
        let count = batch.len();
        let deliverable = self
            .store
            .record(&self.account.to_string(), batch, &next)
            .await
            .map_err(|e| e.to_string())?;
        *cursor = next.clone();
        let account = self.account.to_string();
        metrics::counter!("bridge_received_payments_recorded_total", "account" => account.clone())
            .increment(count as u64);
        metrics::gauge!("bridge_listener_last_event_timestamp_seconds", "account" => account)
            .set(now_ms() as f64 / 1000.0);
        self.update(|s| {
            s.last_event_at = Some(now_ms());
            s.last_paging_token = Some(next);
            s.last_error = None;
        });
        if deliverable > 0 {
            self.wake.notify_one();
        }
        Ok(())
    }

    /// The record after `cursor`, which the stream could not decode, as raw JSON, stored as
    /// `unparseable`. Fails (and the cursor stays) when it cannot even be located.
    async fn unreadable(&self, cursor: &str, why: &str) -> Result<NewReceived, String> {
        let mut url = self.horizon.base_url().clone();
        url.path_segments_mut()
            .map_err(|()| "Horizon URL cannot have a path")?
            .pop_if_empty()
            .extend(["accounts", &self.account.to_string(), "payments"]);
        url.query_pairs_mut()
            .append_pair("cursor", cursor)
            .append_pair("limit", "1")
            .append_pair("order", "asc")
            .append_pair("join", "transactions");
        let fail = |e: &dyn std::fmt::Display| {
            format!("unreadable record after {cursor}: {why}; re-reading it: {e}")
        };
        let page: serde_json::Value = self
            .http
            .get(url)
            .send()
            .await
            .map_err(|e| fail(&e))?
            .json()
            .await
            .map_err(|e| fail(&e))?;
        let raw = page["_embedded"]["records"][0].clone();
        let text = |name: &str| raw[name].as_str().map(str::to_owned);
        let token = text("paging_token")
            .or_else(|| text("id"))
            .ok_or_else(|| fail(&"it has neither id nor paging_token"))?;
        Ok(NewReceived {
            operation_id: text("id").unwrap_or_else(|| token.clone()),
            paging_token: token,
            status: status::UNPARSEABLE,
            transaction_id: text("transaction_hash").unwrap_or_else(|| "N/A".into()),
            account: self.account.to_string(),
            kind: text("type").unwrap_or_else(|| "unknown".into()),
            raw: raw.to_string(),
            last_error: Some(why.to_owned()),
            ..NewReceived::default()
        })
    }
}
