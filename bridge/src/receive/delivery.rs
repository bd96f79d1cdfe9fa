//! The delivery worker: posts recorded payments to `callbacks.receive`, separately from
//! recording them, so that a slow or failing back office never holds up the listener.
//!
//! Delivery is at least once: a payment is marked `success` only after a 2xx, so a crash
//! between the callback and that update delivers it again; the operation id (`id`) is the
//! idempotency key. Failures are retried with exponential backoff and jitter, capped at
//! `retry_max_ms`, for as long as the back office stays down: a payment is given up only after
//! `give_up_after_seconds` (default 7 days; or `max_attempts`, when set). Then it is `failing`
//! while the error callback is told (retried the same way until it answers 2xx), and `failed`
//! once it was, until `/reprocess`. Each payment has its own schedule: a failing payment does
//! not hold later ones back, and up to `delivery_concurrency` callbacks run at once, so the
//! back office may see payments out of ledger order.
//!
//! A payment is never delivered without its memo: one recorded without its transaction (Horizon
//! did not embed it and could not serve it then) has its transaction read first, and while that
//! fails the attempt fails and is retried like a refused callback.
//!
//! Several instances deliver in parallel: each payment is claimed in the database right before
//! its attempt, and its outcome is written only under that claim (see
//! [`ReceiveStore::claim_due`]).
//!
//! Stopping has two steps ([`Stop`]): once `stop` is cancelled no new attempt starts; once
//! `abandon` is (after the shutdown grace) the attempts still in flight are dropped unanswered,
//! their claims given back and their payments left `pending`, for the next start. Outcomes
//! already known are written either way.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use horizon::HorizonClient;
use stellar_base::{Asset, KeyPair, PublicKey};
use stellar_toml::http::error_chain;
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, mpsc};
use tokio_util::sync::CancellationToken;
use url::Url;

use super::mac::payload_mac;
use super::record::with_transaction;
use super::settings::ReceiveSettings;
use super::store::{Outcome, ReceiveStore, ReceivedPayment, ReceivedStatus, now_ms};
use crate::compliance_client::{ComplianceClient, ReceiveRequest};
use compliance::protocol::{Attachment, AuthData, Sep31Received};

/// Outcomes written per database transaction at most.
const BATCH: usize = 256;

/// Where and how payments are delivered.
#[derive(Debug, Clone)]
pub struct Deliverer {
    /// The receive callback.
    pub receive: Url,
    /// The error callback, if any.
    pub error: Option<Url>,
    /// Our compliance server (for hash memos), if configured.
    pub compliance: Option<ComplianceClient>,
    /// Signs callback bodies.
    pub mac_key: Option<KeyPair>,
    /// Timeouts, retries.
    pub settings: ReceiveSettings,
    /// HTTP client for callbacks.
    pub http: reqwest::Client,
    /// The tables.
    pub store: ReceiveStore,
    /// Reads the transaction of a payment recorded without it.
    pub horizon: HorizonClient,
    /// `[[assets]]`, to classify such a payment once its transaction is read.
    pub assets: Vec<Asset>,
    /// This instance's name in delivery claims ([`super::lease::instance_id`]).
    pub instance: String,
}

/// The two steps of stopping the worker.
#[derive(Debug, Clone, Default)]
pub struct Stop {
    /// No new delivery attempt starts.
    pub stop: CancellationToken,
    /// Attempts in flight are dropped; their payments stay `pending`.
    pub abandon: CancellationToken,
}

/// What a successful delivery sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivered {
    /// `route`.
    pub route: String,
    /// `data` (compliance AuthData), if any.
    pub data: Option<String>,
}

/// How many bytes of a callback's answer are kept for the operator.
const ANSWER_KEPT: usize = 512;

/// One call of a back-office callback as the console lists it: when, which callback, the HTTP
/// status (none when it could not be reached) and the first bytes of the answer (or why there
/// was none). Stored with the attempt's outcome ([`ReceiveStore::finish_attempts`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallbackAnswer {
    /// Unix milliseconds.
    pub at_ms: i64,
    /// `receive` or `error`.
    pub callback: &'static str,
    /// The HTTP status, when it answered.
    pub status: Option<u16>,
    /// The first bytes of its answer (lossy UTF-8), or why it did not answer.
    pub answer: String,
}

impl CallbackAnswer {
    fn answered(callback: &'static str, status: u16, body_start: &[u8]) -> Self {
        let kept = &body_start[..body_start.len().min(ANSWER_KEPT)];
        Self {
            at_ms: now_ms(),
            callback,
            status: Some(status),
            answer: String::from_utf8_lossy(kept).into_owned(),
        }
    }

    fn unanswered(callback: &'static str, why: &str) -> Self {
        Self {
            at_ms: now_ms(),
            callback,
            status: None,
            answer: why.chars().take(ANSWER_KEPT).collect(),
        }
    }
}

/// One delivery: delivered or why not, and what the receive callback answered when it was
/// called (a payment whose memo or route cannot be read yet is not posted at all).
#[derive(Debug)]
pub struct Delivery {
    /// Delivered, or why not.
    pub result: Result<Delivered, String>,
    /// The receive callback's answer.
    pub answer: Option<CallbackAnswer>,
}

impl Delivery {
    fn before_callback(why: String) -> Self {
        Self {
            result: Err(why),
            answer: None,
        }
    }
}

/// What became of one claimed payment.
enum Finished {
    /// The attempt ended: its outcome, what the callback answered (when one was called), and
    /// the slot it holds until the outcome is written.
    Attempted(i64, Outcome, Option<CallbackAnswer>, OwnedSemaphorePermit),
    /// Dropped unanswered at shutdown: the claim is given back.
    Abandoned(i64),
    /// Claimed, but the worker stopped before it started: the claim is given back.
    Unstarted(i64),
}

impl Deliverer {
    /// How long a claim lasts: a claimed payment may wait in the read-ahead queue for one
    /// attempt (at most [`Deliverer::attempt_limit`]) before its own attempt starts, so a claim
    /// covers two attempts plus a margin, and a live instance's claim never lapses under it;
    /// short enough that the payments of an instance that died are delivered by another
    /// within minutes.
    pub fn claim_ttl(&self) -> Duration {
        self.attempt_limit() * 2 + Duration::from_secs(10)
    }

    /// The longest one attempt may take (its callbacks, the compliance lookup and reading
    /// the transaction); past it the attempt counts as failed and is retried.
    pub fn attempt_limit(&self) -> Duration {
        Duration::from_millis(self.settings.callback_timeout_ms.max(1)) * 2 + Duration::from_secs(5)
    }

    /// Delivers due payments until stopped; `wake` is notified when new ones are recorded.
    pub async fn run(self: Arc<Self>, wake: Arc<Notify>, stop: Stop) {
        let poll = Duration::from_millis(self.settings.poll_ms.max(1));
        let cancel = &stop.stop;
        while !cancel.is_cancelled() {
            if let Err(error) = self.round(&stop).await {
                tracing::warn!(%error, "delivery worker: database");
            }
            // Sleep until woken, the next retry is due, or the poll interval passes.
            let next_due = tokio::select! {
                () = cancel.cancelled() => return,
                next = self.store.next_due() => next,
            };
            let until_due = match next_due {
                Ok(Some(at)) => Duration::from_millis(u64::try_from(at - now_ms()).unwrap_or(0)),
                _ => poll,
            };
            // At least a moment: payments claimed by another instance are due but not ours.
            let wait = until_due.min(poll).max(Duration::from_millis(5));
            tokio::select! {
                () = cancel.cancelled() => return,
                () = wake.notified() => {}
                () = tokio::time::sleep(wait) => {}
            }
        }
    }

    /// One round: claims due payments (up to `delivery_concurrency` ahead) and delivers them,
    /// `delivery_concurrency` in flight at once, until none is left to claim or `stop`: then no further attempt starts, and those
    /// in flight are dropped once `abandon` is cancelled too (their claims given back, their
    /// payments left as they were: `pending`). Returns how many payments were claimed.
    ///
    /// Payments are claimed in the database shortly before their attempts (see
    /// [`ReceiveStore::claim_due`]), so several instances share the backlog and never deliver
    /// the same payment; those claimed by an instance that dies wait for their claims to lapse
    /// (never delivered twice unless their callback had started). A callback holds a slot from its start until its outcome is written,
    /// so a kill repeats at most `delivery_concurrency` callbacks (those in flight or not yet
    /// written), however far the writer lags behind. Outcomes are written while the next
    /// callbacks run, as many per transaction as have come meanwhile. Should a write fail,
    /// those payments stay `pending` and are delivered again once their claim lapses: at
    /// least once.
    async fn round(&self, stop: &Stop) -> Result<usize, service::DbError> {
        let (finished, outcomes) = mpsc::unbounded_channel();
        let (claimed, written) =
            tokio::join!(self.dispatch(stop, finished), self.write_outcomes(outcomes));
        written?;
        Ok(claimed)
    }

    /// Claims due payments (a batch of `delivery_concurrency` at a time, once the previous
    /// batch is started) and starts their attempts, one per free slot, until none is left to
    /// claim or `stop`; then waits for those in flight. What became of each claimed payment
    /// goes to `finished`, for the writer. Returns how many payments were claimed.
    async fn dispatch(&self, stop: &Stop, finished: mpsc::UnboundedSender<Finished>) -> usize {
        let concurrency = self.settings.delivery_concurrency.max(1);
        let slots = Arc::new(Semaphore::new(concurrency));
        let mut in_flight = FuturesUnordered::new();
        // Claimed ahead, up to `concurrency` at a time: one round trip per batch rather than
        // per callback.
        let mut queue: VecDeque<ReceivedPayment> = VecDeque::new();
        let mut claimed_total = 0_usize;
        let mut more = true;
        loop {
            if stop.stop.is_cancelled() || (!more && queue.is_empty()) {
                match in_flight.next().await {
                    Some(done) => {
                        let _ = finished.send(done);
                        continue;
                    }
                    None => break,
                }
            }
            let slot = tokio::select! {
                biased;
                () = stop.stop.cancelled() => continue,
                Some(done) = in_flight.next(), if !in_flight.is_empty() => {
                    // The writer is gone only after a database error: the outcome is lost
                    // and the payment is delivered again once its claim lapses.
                    let _ = finished.send(done);
                    continue;
                }
                slot = slots.clone().acquire_owned() => slot.expect("the slots are never closed"),
            };
            if queue.is_empty() {
                let claimed = self.claim(concurrency).await;
                more = !claimed.is_empty();
                claimed_total += claimed.len();
                queue.extend(claimed);
            }
            let Some(payment) = queue.pop_front() else {
                continue;
            };
            in_flight.push(self.attempt_or_abandon(payment, slot, &stop.abandon));
        }
        // Claimed but never started (stopped first): given back at once.
        for payment in queue {
            let _ = finished.send(Finished::Unstarted(payment.id));
        }
        claimed_total
    }

    /// Claims up to `count` due payments for this instance; none when the database fails
    /// (logged: the round ends, and the next one tries again).
    async fn claim(&self, count: usize) -> Vec<ReceivedPayment> {
        match self
            .store
            .claim_due(&self.instance, count, self.claim_ttl())
            .await
        {
            Ok(claimed) => claimed,
            Err(error) => {
                tracing::warn!(%error, "delivery worker: claiming payments");
                Vec::new()
            }
        }
    }

    /// One claimed payment's attempt, holding `slot` until its outcome is written; dropped
    /// unanswered once `abandon` is cancelled.
    async fn attempt_or_abandon(
        &self,
        payment: ReceivedPayment,
        slot: OwnedSemaphorePermit,
        abandon: &CancellationToken,
    ) -> Finished {
        tokio::select! {
            biased;
            () = abandon.cancelled() => Finished::Abandoned(payment.id),
            (outcome, answer) = self.attempt_bounded(&payment) => Finished::Attempted(payment.id, outcome, answer, slot),
        }
    }

    /// Writes what became of the claimed payments as it comes, as many per transaction as have
    /// come meanwhile (up to [`BATCH`]), while the next callbacks run.
    async fn write_outcomes(
        &self,
        mut finished: mpsc::UnboundedReceiver<Finished>,
    ) -> Result<(), service::DbError> {
        let mut group = Vec::new();
        while finished.recv_many(&mut group, BATCH).await > 0 {
            self.write_group(std::mem::take(&mut group)).await?;
        }
        Ok(())
    }

    /// Writes the outcomes of attempts under this instance's claims, then frees their slots;
    /// gives back the claims of payments abandoned or never started (left `pending`).
    async fn write_group(&self, group: Vec<Finished>) -> Result<(), service::DbError> {
        let mut outcomes = Vec::with_capacity(group.len());
        let mut answers = Vec::with_capacity(group.len());
        let mut held = Vec::with_capacity(group.len());
        let (mut abandoned, mut unstarted) = (Vec::new(), Vec::new());
        for finished in group {
            match finished {
                Finished::Attempted(id, outcome, answer, slot) => {
                    outcomes.push((id, outcome));
                    answers.extend(answer.map(|a| (id, a)));
                    held.push(slot);
                }
                Finished::Abandoned(id) => abandoned.push(id),
                Finished::Unstarted(id) => unstarted.push(id),
            }
        }
        let count = outcomes.len();
        let written = if outcomes.is_empty() {
            0
        } else {
            self.store
                .finish_attempts(&self.instance, outcomes, answers)
                .await?
        };
        if written < count {
            tracing::warn!(
                lapsed = count - written,
                "delivery outcomes not written: their claims had lapsed and the payments are \
                 another instance's now"
            );
        }
        drop(held);
        if !abandoned.is_empty() {
            tracing::warn!(
                abandoned = abandoned.len(),
                "shutdown grace over: deliveries still in flight abandoned; those payments \
                 stay pending and are delivered after the next start"
            );
        }
        abandoned.extend(unstarted);
        self.store.release_claims(&self.instance, abandoned).await
    }

    /// One attempt, bounded by [`Deliverer::attempt_limit`] so that it ends while its claim
    /// holds: past it, it counts as a failed attempt.
    async fn attempt_bounded(
        &self,
        payment: &ReceivedPayment,
    ) -> (Outcome, Option<CallbackAnswer>) {
        match tokio::time::timeout(self.attempt_limit(), self.attempt(payment)).await {
            Ok(attempted) => attempted,
            Err(_) => {
                let attempts = u32::try_from(payment.attempts).unwrap_or(0) + 1;
                tracing::warn!(operation_id = %payment.operation_id, attempts,
                    "delivery attempt took too long; retried later");
                let error = "the delivery attempt took too long".to_owned();
                let answer = CallbackAnswer::unanswered("receive", &error);
                (self.retry(attempts, error), Some(answer))
            }
        }
    }

    /// One attempt, and what it means for the payment's schedule.
    async fn attempt(&self, payment: &ReceivedPayment) -> (Outcome, Option<CallbackAnswer>) {
        let (outcome, answer) = self.attempt_once(payment).await;
        let label = match outcome {
            Outcome::Delivered { .. } => "delivered",
            Outcome::Retry { .. } => "retry",
            Outcome::GiveUp { .. } => "given_up",
            Outcome::Failed { .. } => "failed",
        };
        metrics::counter!("bridge_deliveries_total", "outcome" => label).increment(1);
        (outcome, answer)
    }

    /// The attempt itself: a delivery, or for a payment given up, its report.
    async fn attempt_once(&self, payment: &ReceivedPayment) -> (Outcome, Option<CallbackAnswer>) {
        if payment.status == ReceivedStatus::Failing {
            return self.report(payment).await;
        }
        let Delivery { result, answer } = self.deliver(payment).await;
        let outcome = match result {
            Ok(sent) => {
                tracing::info!(operation_id = %payment.operation_id, "payment delivered");
                Outcome::Delivered {
                    route: sent.route,
                    data: sent.data,
                }
            }
            Err(error) => {
                let attempts = u32::try_from(payment.attempts).unwrap_or(0) + 1;
                tracing::warn!(operation_id = %payment.operation_id, attempts, %error, "delivery failed");
                if !self.settings.gives_up(attempts, payment.processed_at) {
                    return (self.retry(attempts, error), answer);
                }
                tracing::error!(
                    operation_id = %payment.operation_id,
                    attempts,
                    %error,
                    "delivery given up: the payment is failing until an operator reprocesses it"
                );
                if self.error.is_some() {
                    Outcome::GiveUp { error }
                } else {
                    Outcome::Failed { error }
                }
            }
        };
        (outcome, answer)
    }

    /// Resolves the route (compliance for hash memos) and posts the legacy form.
    ///
    /// Its `result` is why it was not delivered on failure, for `last_error` and the error
    /// callback; its `answer` what the receive callback answered, when it was called.
    pub async fn deliver(&self, payment: &ReceivedPayment) -> Delivery {
        let read;
        let payment = if payment.memo_type.is_none() {
            match self.read_transaction(payment).await {
                Ok(found) => read = found,
                Err(e) => return Delivery::before_callback(e),
            }
            &read
        } else {
            payment
        };
        let (route, data, sep31) = match self.route(payment).await {
            Ok(routed) => routed,
            Err(e) => return Delivery::before_callback(e),
        };
        let form = form_with(
            payment,
            &route,
            data.as_deref().unwrap_or(""),
            sep31.as_ref(),
        );
        let answer = self.post("receive", &self.receive, &form).await;
        let result = match answer.status {
            Some(status) if (200..300).contains(&status) => {
                match self.complete_sep31(sep31.as_ref()).await {
                    Ok(()) => Ok(Delivered { route, data }),
                    Err(e) => Err(e),
                }
            }
            Some(status) => Err(format!("receive callback answered {status}")),
            None => Err(answer.answer.clone()),
        };
        Delivery {
            result,
            answer: Some(answer),
        }
    }

    /// A payment recorded without its transaction (its memo unknown): reads the transaction
    /// from Horizon, stores what it tells (memo, route, a merge's amount) and returns the
    /// payment as it now stands.
    ///
    /// # Errors
    /// While the transaction cannot be read, or when the payment turns out not to be ours to
    /// deliver: it is never delivered without its memo.
    async fn read_transaction(&self, payment: &ReceivedPayment) -> Result<ReceivedPayment, String> {
        let hash = &payment.transaction_id;
        let unknown = |why: String| format!("memo unknown: transaction {hash} {why}");
        let transaction = match self.horizon.transaction(hash).await {
            Ok(Some(transaction)) => transaction,
            Ok(None) => return Err(unknown("not found on Horizon".into())),
            Err(error) => return Err(unknown(format!("could not be read: {error}"))),
        };
        let account: PublicKey = payment
            .account
            .parse()
            .map_err(|_| unknown(format!("of an unknown account {:?}", payment.account)))?;
        let row = with_transaction(&payment.raw, &transaction, &account, &self.assets)
            .map_err(|e| format!("not deliverable: {e}"))?;
        let (new_status, why) = (row.status.clone(), row.last_error.clone());
        let stored = self
            .store
            .complete(payment.id, row)
            .await
            .map_err(|e| format!("storing the transaction's memo: {e}"))?
            .ok_or("the payment is gone")?;
        if new_status != ReceivedStatus::Pending {
            return Err(format!(
                "not deliverable once its transaction was read: {new_status}: {}",
                why.unwrap_or_default()
            ));
        }
        tracing::info!(operation_id = %payment.operation_id, "transaction read: memo known");
        Ok(stored)
    }

    /// The route and compliance data: from the attachment for a hash memo when compliance is
    /// configured (or from the SEP-31 transaction the payment pays), else the route recorded
    /// from the memo or muxed id.
    async fn route(&self, payment: &ReceivedPayment) -> Result<Routed, String> {
        let recorded = payment.route.clone().unwrap_or_default();
        let (Some(compliance), Some("hash"), Some(memo)) = (
            &self.compliance,
            payment.memo_type.as_deref(),
            payment.memo.as_deref(),
        ) else {
            return Ok((recorded, None, None));
        };
        let answer = compliance
            .receive(&ReceiveRequest {
                memo,
                amount: payment.amount.as_deref(),
                asset_code: payment.asset_code.as_deref(),
                asset_issuer: payment.asset_issuer.as_deref(),
                transaction_id: Some(&payment.transaction_id),
                operation_id: Some(&payment.operation_id),
            })
            .await
            .map_err(|e| e.to_string())?;
        match answer.sep31 {
            // Only a transaction waiting for its payment's delivery (or done with, for the
            // record): anything else is delivered once it is.
            Some(sep31)
                if !matches!(
                    sep31.status.as_str(),
                    "pending_receiver" | "completed" | "error"
                ) =>
            {
                Err(format!(
                    "SEP-31 transaction {} is {}: delivered later",
                    sep31.transaction_id, sep31.status
                ))
            }
            Some(sep31) => Ok((sep31.route.clone(), Some(answer.data), Some(sep31))),
            None => Ok((attachment_route(&answer.data)?, Some(answer.data), None)),
        }
    }

    /// Once the back office took a payment that pays a SEP-31 transaction we received, the
    /// transaction is `completed`. When compliance cannot be told, the delivery is retried
    /// (the back office sees the payment again, under the same `id`).
    async fn complete_sep31(&self, sep31: Option<&Sep31Received>) -> Result<(), String> {
        let (Some(compliance), Some(sep31)) = (&self.compliance, sep31) else {
            return Ok(());
        };
        if sep31.status != "pending_receiver" {
            return Ok(());
        }
        // A few quick tries: a failure here redelivers a payment the back office already took
        // (under the same `id`, which it must recognise, as for any redelivery).
        let mut last = String::new();
        for attempt in 0..3 {
            if attempt > 0 {
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            }
            match compliance.sep31_complete(&sep31.transaction_id).await {
                Ok(()) => return Ok(()),
                Err(e) => last = e.to_string(),
            }
        }
        Err(format!(
            "delivered, but SEP-31 transaction {} not marked completed: {last}",
            sep31.transaction_id
        ))
    }

    /// Posts a form, signed when `mac_key` is set; the HTTP status.
    async fn post(&self, callback: &'static str, url: &Url, form: &str) -> CallbackAnswer {
        let mut request = self
            .http
            .post(url.clone())
            .header("content-type", "application/x-www-form-urlencoded");
        if let Some(key) = &self.mac_key {
            let mac = payload_mac(key, form.as_bytes());
            request = request
                .header("X-Payload-Mac", &mac)
                .header("X_PAYLOAD_MAC", mac);
        }
        let mut response = match request.body(form.to_owned()).send().await {
            Ok(response) => response,
            Err(e) => {
                let error = format!("{callback} callback unreachable: {}", error_chain(&e));
                return CallbackAnswer::unanswered(callback, &error);
            }
        };
        let status = response.status().as_u16();
        // The first bytes of the answer, for the operator; never more, however long it is.
        let mut start = Vec::new();
        while start.len() < ANSWER_KEPT {
            match response.chunk().await {
                Ok(Some(chunk)) => start.extend_from_slice(&chunk),
                _ => break,
            }
        }
        CallbackAnswer::answered(callback, status, &start)
    }

    /// The next attempt after `attempts` failures.
    fn retry(&self, attempts: u32, error: String) -> Outcome {
        let delay = self.settings.retry_delay(attempts);
        Outcome::Retry {
            error,
            next_attempt_at: now_ms()
                .saturating_add(i64::try_from(delay.as_millis()).unwrap_or(i64::MAX)),
        }
    }

    /// Tells the error callback about a payment given up: `failed` once it answered 2xx (or
    /// when there is no error callback), else retried like a delivery.
    async fn report(&self, payment: &ReceivedPayment) -> (Outcome, Option<CallbackAnswer>) {
        let reason = payment.last_error.clone().unwrap_or_default();
        let Some(url) = &self.error else {
            return (Outcome::Failed { error: reason }, None);
        };
        let route = payment.route.clone().unwrap_or_default();
        let mut form = form(payment, &route, payment.data.as_deref().unwrap_or(""));
        let extra = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("attempts", &payment.attempts.to_string())
            .append_pair("error", &reason)
            .append_pair("status", ReceivedStatus::Failed.as_str())
            .finish();
        form = format!("{extra}&{form}");
        let answer = self.post("error", url, &form).await;
        let refused = match answer.status {
            Some(status) if (200..300).contains(&status) => {
                return (Outcome::Failed { error: reason }, Some(answer));
            }
            Some(status) => format!("error callback answered {status}"),
            None => answer.answer.clone(),
        };
        tracing::warn!(operation_id = %payment.operation_id, %refused, "reporting a payment given up");
        let attempts = u32::try_from(payment.attempts).unwrap_or(0) + 1;
        // `last_error` keeps why the delivery was given up, not why the report failed.
        let outcome = match self.retry(attempts, refused) {
            Outcome::Retry {
                next_attempt_at, ..
            } => Outcome::Retry {
                error: reason,
                next_attempt_at,
            },
            other => other,
        };
        (outcome, Some(answer))
    }
}

/// The legacy receive form, keys sorted as Go's `url.Values.Encode` sorts them.
pub fn form(payment: &ReceivedPayment, route: &str, data: &str) -> String {
    form_with(payment, route, data, None)
}

/// The receive form, with the SEP-31 transaction a payment pays (`sep31_*`, still sorted;
/// `sep31_message` says why when `sep31_status` is `error`).
pub fn form_with(
    payment: &ReceivedPayment,
    route: &str,
    data: &str,
    sep31: Option<&Sep31Received>,
) -> String {
    let text = |v: &Option<String>| v.clone().unwrap_or_default();
    let mut form = url::form_urlencoded::Serializer::new(String::new());
    form.append_pair("amount", &text(&payment.amount))
        .append_pair("asset_code", &text(&payment.asset_code))
        .append_pair("asset_issuer", &text(&payment.asset_issuer))
        .append_pair("data", data)
        .append_pair("from", &text(&payment.from))
        .append_pair("id", &payment.operation_id)
        .append_pair("memo", &text(&payment.memo))
        .append_pair("memo_type", &text(&payment.memo_type))
        .append_pair("route", route);
    if let Some(sep31) = sep31 {
        if let Some(message) = &sep31.message {
            form.append_pair("sep31_message", message);
        }
        form.append_pair("sep31_receiver_id", &sep31.receiver_id)
            .append_pair("sep31_sender_id", &sep31.sender_id)
            .append_pair("sep31_status", &sep31.status)
            .append_pair("sep31_transaction_id", &sep31.transaction_id);
    }
    form.append_pair("transaction_id", &payment.transaction_id)
        .finish()
}

/// A payment's route, its compliance data, and the SEP-31 transaction it pays.
type Routed = (String, Option<String>, Option<Sep31Received>);

/// `transaction.route` of the attachment inside compliance AuthData JSON.
fn attachment_route(auth_data: &str) -> Result<String, String> {
    let data: AuthData =
        serde_json::from_str(auth_data).map_err(|e| format!("AuthData is not readable: {e}"))?;
    let attachment: Attachment = serde_json::from_str(&data.attachment)
        .map_err(|e| format!("attachment is not readable: {e}"))?;
    Ok(attachment.transaction.route)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn route_from_attachment() {
        let data = |attachment: &str| {
            serde_json::json!({"sender": "a*b", "need_info": false, "tx": "", "attachment": attachment})
                .to_string()
        };
        let attachment = r#"{"nonce":"1","transaction":{"route":"bob","note":""}}"#;
        assert_eq!(attachment_route(&data(attachment)).unwrap(), "bob");
        let numeric = r#"{"nonce":"1","transaction":{"route":15}}"#;
        assert_eq!(attachment_route(&data(numeric)).unwrap(), "15");
        assert!(attachment_route("nope").is_err());
    }
}
