//! One listener per watched account: streams `/accounts/{id}/payments?join=transactions`
//! from the stored cursor and records every record it gets, cursor and rows together.
//!
//! Two tasks per stream: a reader decodes the events ([`horizon::events`]) into rows
//! ([`super::record`]) while the listener records the rows it has so far, in batches of up to
//! `CHUNK` (500) per database transaction, so decoding and recording overlap.
//!
//! The listener never decides that a record can be skipped: a record Horizon sends that
//! cannot be read is stored as `unparseable`, with the event's text as `raw`; when not even
//! its id or paging token can be found, the listener stops advancing (it reconnects from the
//! same cursor, with backoff) and says so in `/health`. Streams that end are reopened, errors
//! back off exponentially, and a stream that brings no payment for `stream_silence_ms` is
//! reopened as well.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use horizon::{HorizonClient, Order, PaymentsQuery};
use serde::Serialize;
use stellar_base::{Asset, PublicKey};
use stellar_toml::http::Backoff;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::fence::{Fence, LeaseWriteError};
use super::record::{Record, Tx, classify, describe_unreadable};
use super::settings::{ReceiveSettings, StartCursor};
use super::store::{NewReceived, ReceiveStore, ReceivedStatus, now_ms};

/// Records recorded per database transaction at most.
const CHUNK: usize = 500;

/// What `/health` shows for one account.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ListenerStatus {
    /// The watched account.
    pub account: String,
    /// `starting`, `standby` (another instance streams it), `streaming`, `reconnecting` or
    /// `stopped`.
    pub state: &'static str,
    /// Whether this instance holds the account's lease (streams it).
    pub leader: bool,
    /// The instance holding the lease, as last seen.
    pub holder: Option<String>,
    /// The fencing token of this instance's tenure, while it holds the lease.
    pub fence: Option<i64>,
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
#[derive(Debug, Clone)]
pub struct Listener {
    /// The watched account.
    pub account: PublicKey,
    /// Horizon.
    pub horizon: HorizonClient,
    /// The tables.
    pub store: ReceiveStore,
    /// `[[assets]]`.
    pub assets: Vec<Asset>,
    /// Timings.
    pub settings: ReceiveSettings,
    /// Whether this is `accounts.receiving_account_id`, the one account the legacy bridge
    /// watched: its first cursor may come from the legacy `received_payment` rows.
    pub legacy_account: bool,
    /// Notified after deliverable payments are recorded.
    pub wake: Arc<Notify>,
    /// Reported in `/health`.
    pub status: SharedStatus,
    /// This instance's name in the lease ([`super::lease::instance_id`]).
    pub instance: String,
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
    /// Another instance holds the account now: step down.
    Fenced(String),
}

impl From<LeaseWriteError> for Ended {
    fn from(error: LeaseWriteError) -> Self {
        match error {
            LeaseWriteError::Fenced(fenced) => Self::Fenced(fenced.to_string()),
            LeaseWriteError::Database(error) => Self::Failed(error.to_string()),
        }
    }
}

impl Listener {
    fn update(&self, f: impl FnOnce(&mut ListenerStatus)) {
        f(&mut self.status.lock().unwrap_or_else(PoisonError::into_inner));
    }

    /// Streams until `cancel`, whenever this instance holds the account's lease: stands by
    /// while another instance holds it, takes over once it passes, and steps down when the
    /// lease is lost or a write is fenced. On `cancel` the lease is given back, so that
    /// another instance takes over at once.
    pub async fn run(self, cancel: CancellationToken) {
        let account = self.account.to_string();
        let ttl = self.settings.lease_ttl();
        while let Some(fence) = self.stand_by(&cancel).await {
            tracing::info!(%account, fence = fence.token, "holding the lease: streaming payments");
            metrics::counter!("bridge_lease_acquisitions_total", "account" => account.clone())
                .increment(1);
            self.update(|s| {
                s.leader = true;
                s.fence = Some(fence.token);
                s.holder = Some(fence.holder.clone());
            });
            let tenure = cancel.child_token();
            let why = tokio::select! {
                why = self.lead(&fence, tenure.clone()) => why,
                why = self.keep(&fence, ttl) => why,
            };
            tenure.cancel();
            self.update(|s| {
                s.leader = false;
                s.fence = None;
            });
            if cancel.is_cancelled() {
                if let Err(error) = self.store.release_lease(&fence).await {
                    tracing::warn!(%account, %error, "could not give the lease back; it passes on its own");
                }
                break;
            }
            tracing::warn!(%account, %why, "lease lost: standing by");
            metrics::counter!("bridge_lease_losses_total", "account" => account.clone())
                .increment(1);
            self.update(|s| s.last_error = Some(why));
        }
        self.update(|s| s.state = "stopped");
    }

    /// Waits until this instance holds the account's lease (`None` once cancelled). Asks
    /// every quarter of the TTL, at most a second apart, so that a take-over follows the
    /// lease's end closely.
    async fn stand_by(&self, cancel: &CancellationToken) -> Option<Fence> {
        let ttl = self.settings.lease_ttl();
        let every = (ttl / 4).min(Duration::from_secs(1));
        let account = self.account.to_string();
        loop {
            match self
                .store
                .acquire_lease(&account, &self.instance, ttl)
                .await
            {
                Ok(Some(fence)) => return Some(fence),
                Ok(None) => {
                    let view = self.store.lease(&account).await.unwrap_or_default();
                    self.update(|s| {
                        s.state = "standby";
                        s.holder = view.holder;
                    });
                }
                Err(error) => {
                    tracing::warn!(%account, %error, "could not ask for the lease");
                    self.update(|s| s.last_error = Some(error.to_string()));
                }
            }
            tokio::select! {
                () = cancel.cancelled() => return None,
                () = tokio::time::sleep(every) => {}
            }
        }
    }

    /// Renews the lease every third of the TTL; returns why it was lost: taken by another
    /// instance, or not renewed for a whole TTL (the database unreachable), after which
    /// another instance may hold it.
    async fn keep(&self, fence: &Fence, ttl: Duration) -> String {
        let mut renewed = tokio::time::Instant::now();
        loop {
            tokio::time::sleep(ttl / 3).await;
            match self.store.renew_lease(fence, ttl).await {
                Ok(true) => renewed = tokio::time::Instant::now(),
                Ok(false) => return "another instance holds the lease".to_owned(),
                Err(error) => {
                    tracing::warn!(account = %self.account, %error, "could not renew the lease");
                    if renewed.elapsed() >= ttl {
                        return format!("the lease could not be renewed for {ttl:?}: {error}");
                    }
                }
            }
        }
    }

    /// Streams while this tenure lasts; returns why it ended (a fenced write).
    async fn lead(&self, fence: &Fence, tenure: CancellationToken) -> String {
        let min = Duration::from_millis(self.settings.reconnect_min_ms.max(1));
        let backoff = Backoff {
            first: min,
            max: Duration::from_millis(self.settings.reconnect_max_ms).max(min),
        };
        // Streams failed in a row; a stream that closes normally starts the count again.
        let mut failures = 0_u32;
        loop {
            let ended = tokio::select! {
                () = tenure.cancelled() => return "stopped".to_owned(),
                ended = self.stream_once(fence) => ended,
            };
            let wait = match ended {
                Ended::Fenced(why) => return why,
                Ended::Closed => {
                    failures = 0;
                    min
                }
                Ended::Failed(error) => {
                    tracing::warn!(account = %self.account, %error, "payment stream failed");
                    self.update(|s| s.last_error = Some(error));
                    let wait = backoff.delay(failures);
                    failures = failures.saturating_add(1);
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
                () = tenure.cancelled() => return "stopped".to_owned(),
                () = tokio::time::sleep(wait) => {}
            }
        }
    }

    /// The stored cursor, or on the very first start the configured one, resolved to a
    /// concrete paging token and stored so that a restart never falls back to `now`. Unset,
    /// the legacy bridge's account on an adopted legacy table starts after the newest legacy
    /// row, as the legacy bridge would have resumed.
    async fn cursor(&self, fence: &Fence) -> Result<String, Ended> {
        let account = self.account.to_string();
        if let Some(token) = self
            .store
            .cursor(&account)
            .await
            .map_err(|e| Ended::Failed(e.to_string()))?
        {
            return Ok(token);
        }
        let legacy = match (&self.settings.start_cursor, self.legacy_account) {
            (StartCursor::Auto, true) => self.legacy_cursor().await.map_err(Ended::Failed)?,
            _ => None,
        };
        let token = match (&self.settings.start_cursor, legacy) {
            (_, Some(token)) => token,
            (StartCursor::Beginning, _) => "0".to_owned(),
            (StartCursor::Token(token), _) => token.clone(),
            (StartCursor::Now | StartCursor::Auto, None) => {
                let newest = self
                    .horizon
                    .payments(&PaymentsQuery {
                        account: Some(self.account),
                        limit: 1,
                        order: Order::Desc,
                        ..PaymentsQuery::default()
                    })
                    .await
                    .map_err(|e| Ended::Failed(format!("reading the newest payment: {e}")))?;
                newest.next_cursor.unwrap_or_else(|| "0".to_owned())
            }
        };
        self.store
            .set_cursor(&account, &token, fence)
            .await
            .map_err(Ended::from)?;
        Ok(token)
    }

    /// The paging token of the newest payment the legacy bridge recorded, if the table holds
    /// legacy rows and it is one Horizon can resume from (digits only); logged either way.
    async fn legacy_cursor(&self) -> Result<Option<String>, String> {
        let newest = self
            .store
            .newest_legacy_paging_token()
            .await
            .map_err(|e| e.to_string())?;
        match newest {
            Some(token) if !token.is_empty() && token.bytes().all(|b| b.is_ascii_digit()) => {
                tracing::info!(
                    account = %self.account,
                    paging_token = %token,
                    "no stored cursor: resuming after the newest payment the legacy bridge \
                     recorded in received_payment"
                );
                Ok(Some(token))
            }
            Some(token) => {
                tracing::warn!(
                    account = %self.account,
                    paging_token = %token,
                    "the newest legacy received_payment row has no usable paging token; \
                     starting from now (set [receiving] start_cursor to choose)"
                );
                Ok(None)
            }
            None => Ok(None),
        }
    }

    /// One stream, from the stored cursor, until it ends.
    async fn stream_once(&self, fence: &Fence) -> Ended {
        let mut cursor = match self.cursor(fence).await {
            Ok(cursor) => cursor,
            Err(ended) => return ended,
        };
        self.update(|s| {
            s.state = "streaming";
            s.last_paging_token = Some(cursor.clone());
        });
        let query = PaymentsQuery {
            account: Some(self.account),
            cursor: Some(cursor.clone()),
            join_transactions: true,
            ..PaymentsQuery::default()
        };
        // A reader task decodes the stream while this one writes to the database, so that a
        // backlog is recorded in large batches (one transaction each).
        let (sender, mut receiver) = tokio::sync::mpsc::channel(CHUNK * 2);
        let reader = Reader {
            account: self.account,
            horizon: self.horizon.clone(),
            assets: self.assets.clone(),
        };
        let _reader = AbortOnDrop(tokio::spawn(reader.run(query, sender)));
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
            let mut rows = Vec::with_capacity(chunk.len());
            let mut failure = None;
            for item in chunk {
                match item {
                    Ok(row) => rows.push(row),
                    Err(error) => {
                        failure = Some(error);
                        break;
                    }
                }
            }
            // Record what came before a failure, then give the stream up.
            if let Err(ended) = self.save(&mut rows, &mut cursor, fence).await {
                return ended;
            }
            if let Some(error) = failure {
                return Ended::Failed(error);
            }
        }
    }

    /// Records `rows` and moves the cursor to the last one, in one transaction.
    async fn save(
        &self,
        rows: &mut Vec<NewReceived>,
        cursor: &mut String,
        fence: &Fence,
    ) -> Result<(), Ended> {
        let Some(last) = rows.last() else {
            return Ok(());
        };
        let next = last.paging_token.clone();
        let batch = std::mem::take(rows);
        let count = batch.len();
        let deliverable = self
            .store
            .record(&self.account.to_string(), batch, &next, fence)
            .await
            .map_err(Ended::from)?;
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
}

/// Reads one stream and turns its events into rows, in order; ends after the first error.
struct Reader {
    account: PublicKey,
    horizon: HorizonClient,
    assets: Vec<Asset>,
}

impl Reader {
    async fn run(
        self,
        query: PaymentsQuery,
        sender: tokio::sync::mpsc::Sender<Result<NewReceived, String>>,
    ) {
        let mut events = match self.horizon.payment_events(&query).await {
            Ok(events) => events,
            Err(error) => {
                let _ = sender.send(Err(error.to_string())).await;
                return;
            }
        };
        loop {
            let item = match events.next().await {
                Ok(None) => return,
                Err(error) => Err(error.to_string()),
                // Horizon greets with `event: open`; records are plain messages.
                Ok(Some(event)) if event.name != "message" => continue,
                Ok(Some(event)) => self.row(event.id, &event.data).await,
            };
            let failed = item.is_err();
            if sender.send(item).await.is_err() || failed {
                return;
            }
        }
    }

    /// The row for one event; fetches the transaction if Horizon did not embed it. An event
    /// that cannot be read becomes an `unparseable` row; `Err` only when it cannot even be
    /// placed in the stream (no id, no paging token).
    async fn row(&self, event_id: Option<&str>, data: &[u8]) -> Result<NewReceived, String> {
        let record = match Record::from_slice(data) {
            Ok(record) => record,
            Err(error) => return self.unreadable(event_id, data, &error),
        };
        // Not embedded: asked for once here (the client retries per `[horizon_client]`); if
        // that fails the payment is recorded with its memo unknown, and the delivery worker
        // reads the transaction, with backoff, before delivering it. The stream is not held.
        let mut failure = None;
        let fetched = match &record.transaction {
            None => match self.horizon.transaction(&record.transaction_hash.0).await {
                Ok(Some(tx)) => Some(tx),
                Ok(None) => {
                    failure = Some("not found".to_owned());
                    None
                }
                Err(error) => {
                    failure = Some(error.to_string());
                    None
                }
            },
            Some(_) => None,
        };
        let mut record = record;
        if let Some(tx) = &fetched {
            record.transaction = Some(Tx::from_horizon(tx));
        }
        let mut row = classify(&record, &self.account, &self.assets);
        if let Some(why) = failure {
            tracing::warn!(account = %self.account, operation_id = %row.operation_id,
                transaction = %row.transaction_id, error = %why,
                "could not read the transaction of a payment; its memo is read before delivery");
            if let Some(error) = &mut row.last_error {
                error.push_str(&format!(" (reading it failed: {why})"));
            }
        }
        Ok(row)
    }

    fn unreadable(
        &self,
        event_id: Option<&str>,
        data: &[u8],
        error: &serde_json::Error,
    ) -> Result<NewReceived, String> {
        let known = describe_unreadable(data, error);
        let token = known
            .paging_token
            .clone()
            .or_else(|| event_id.map(str::to_owned))
            .or_else(|| known.id.clone())
            .ok_or_else(|| {
                format!(
                    "a record without id or paging token cannot be recorded: {}",
                    known.why
                )
            })?;
        tracing::warn!(account = %self.account, paging_token = %token, why = %known.why,
            "unreadable payment record stored as unparseable");
        Ok(NewReceived {
            operation_id: known.id.unwrap_or_else(|| token.clone()),
            paging_token: token,
            status: ReceivedStatus::Unparseable,
            transaction_id: known.transaction_hash.unwrap_or_else(|| "N/A".into()),
            account: self.account.to_string(),
            kind: known.kind.unwrap_or_else(|| "unknown".into()),
            raw: String::from_utf8_lossy(data).into_owned(),
            last_error: Some(known.why),
            ..NewReceived::default()
        })
    }
}
