//! The batch worker: claims a batch, sends again what was in flight, packs ready rows into
//! transactions and sends them over the channels, takes compliance rows one by one, ends the
//! batch and tells the callback.
//!
//! Exactly once rests on two stored facts: a row is in at most one unsettled `payout_tx`
//! (packing is a compare-and-set), and a `payout_tx`'s payment id is sent through
//! [`crate::send::Submitter::send`], which stores the envelope and hash before submitting and resumes
//! under the same id after a crash. A row goes back to `ready` only when its transaction
//! can no longer be applied (it failed, or was refused).

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use service::DbError;
use stellar_base::transaction::Operation;
use stellar_base::{AccountAddress, Amount, Asset, KeyPair, Memo};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::settings::BatchSettings;
use super::store::{BatchRow, BatchStore, PayoutRow, PayoutTx, Settle};
use crate::send::compliance::Decision;
use crate::send::cosigning::CosignError;
use crate::send::{Draft, Outcome, SendError, Sending};

/// What the worker needs; cheap to clone.
#[derive(Clone)]
pub struct Worker {
    pub(super) store: BatchStore,
    pub(super) sending: Sending,
    pub(super) settings: BatchSettings,
    pub(super) mac_key: Option<KeyPair>,
    pub(super) http: reqwest::Client,
    pub(super) instance: String,
    pub(super) wake: Arc<Notify>,
}

impl std::fmt::Debug for Worker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("bridge::batch::Worker")
    }
}

impl Worker {
    /// Works until `stop`: batches first, then the callbacks owed, then a nap unless woken.
    pub async fn run(self, stop: CancellationToken) {
        let poll = Duration::from_millis(self.settings.poll_ms.max(10));
        while !stop.is_cancelled() {
            let worked = match self.round(&stop).await {
                Ok(worked) => worked,
                Err(error) => {
                    tracing::warn!(%error, "batch worker: database");
                    false
                }
            };
            if let Err(error) = self.callbacks().await {
                tracing::warn!(%error, "batch callbacks: database");
            }
            if !worked {
                tokio::select! {
                    () = tokio::time::sleep(poll) => {}
                    () = self.wake.notified() => {}
                    () = stop.cancelled() => {}
                }
            }
        }
    }

    fn claim_ttl(&self) -> Duration {
        Duration::from_secs(self.settings.claim_ttl_seconds.max(1))
    }

    /// One pass over the batches this instance can claim; true when something was sent.
    async fn round(&self, stop: &CancellationToken) -> Result<bool, DbError> {
        let mut seen = Vec::new();
        let mut worked = false;
        while !stop.is_cancelled()
            && let Some(batch) = self
                .store
                .claim(&self.instance, self.claim_ttl(), &seen)
                .await?
        {
            seen.push(batch.id);
            worked |= self.work_on(&batch, stop).await?;
        }
        Ok(worked)
    }

    /// Works on one batch until nothing is ready, or `stop` (between transactions: what is
    /// in flight resumes at the next start under the same payment ids).
    async fn work_on(&self, batch: &BatchRow, stop: &CancellationToken) -> Result<bool, DbError> {
        // What was in flight is asked again (its outcome may still be unknown: that alone is
        // no reason to skip the nap, so it does not count as work done).
        let in_flight = self.store.in_flight(batch.id).await?;
        self.send_all(in_flight).await;
        let mut worked = false;
        while !stop.is_cancelled() {
            let packed = match self
                .store
                .pack(
                    batch.id,
                    self.settings.ops_per_transaction,
                    self.settings.concurrency,
                )
                .await
            {
                Ok(packed) => packed,
                // Another instance packed some of the same rows first: look again.
                Err(DbError::Query(diesel::result::Error::RollbackTransaction)) => continue,
                Err(error) => return Err(error),
            };
            if packed.is_empty() {
                break;
            }
            worked = true;
            self.send_all(packed).await;
            // Still ours? (renews the claim; another instance took it if we stalled)
            if !self
                .store
                .renew(batch.id, &self.instance, self.claim_ttl())
                .await?
            {
                break;
            }
        }
        let compliance_rows = self
            .store
            .take_compliance(
                batch.id,
                i64::try_from(self.settings.concurrency).unwrap_or(1),
            )
            .await?;
        futures_util::stream::iter(compliance_rows)
            .for_each_concurrent(self.settings.concurrency, |row| {
                self.send_compliance(batch, row)
            })
            .await;
        if self
            .store
            .finish_if_done(batch.id, self.settings.callback_url.is_some())
            .await?
        {
            tracing::info!(batch = %batch.batch_id, "batch ended");
            metrics::counter!("bridge_batches_ended_total").increment(1);
        }
        Ok(worked)
    }

    async fn send_all(&self, txs: Vec<(PayoutTx, Vec<PayoutRow>)>) {
        futures_util::stream::iter(txs)
            .for_each_concurrent(self.settings.concurrency, |(tx, rows)| async move {
                if let Err(error) = self.send_tx(&tx, &rows).await {
                    tracing::warn!(%error, payment_id = %tx.payment_id, "batch transaction: database");
                }
            })
            .await;
    }

    /// Sends one packed transaction (again, after a restart) and settles its rows.
    async fn send_tx(&self, tx: &PayoutTx, rows: &[PayoutRow]) -> Result<(), DbError> {
        if rows.is_empty() {
            return self.store.settle(Some((tx.id, false)), Vec::new()).await;
        }
        let Some(payer) = self.sending.base_seed() else {
            return self
                .fail_all(tx, rows, "no_base_seed", "accounts.base_seed is not set")
                .await;
        };
        let operations: Result<Vec<Operation>, String> = rows.iter().map(operation).collect();
        let memo = memo_of(&rows[0]);
        let (operations, memo) = match (operations, memo) {
            (Ok(operations), Ok(memo)) => (operations, memo),
            (Err(e), _) | (_, Err(e)) => return self.fail_all(tx, rows, "invalid", &e).await,
        };
        let draft = Draft::operations(payer.clone(), memo, operations);
        let sent = self
            .sending
            .submitter()
            .send(&draft, Some(tx.payment_id.clone()), Some(tx.digest.clone()))
            .await;
        let settled: Vec<(i64, Settle)> = match sent {
            Ok(Outcome::Success { hash, ledger, .. }) => {
                metrics::counter!("bridge_batch_rows_total", "state" => "succeeded")
                    .increment(rows.len() as u64);
                let settle = Settle::Succeeded { hash, ledger };
                return self
                    .store
                    .settle(
                        Some((tx.id, true)),
                        rows.iter().map(|r| (r.id, settle.clone())).collect(),
                    )
                    .await;
            }
            Ok(Outcome::Failed {
                hash, result_codes, ..
            }) => self.failed(rows, &hash, &result_codes).await?,
            // Unknown yet, or nothing was sent: the next round sends again under the same id.
            Ok(Outcome::Pending { .. })
            | Err(
                SendError::Busy(..)
                | SendError::Unavailable(_)
                | SendError::Cosigning(CosignError::Unavailable { .. }),
            ) => {
                return Ok(());
            }
            Err(SendError::Cosigning(refused @ CosignError::Refused { .. })) => {
                return self
                    .fail_all(tx, rows, "cosigner_refused", &refused.to_string())
                    .await;
            }
            Err(SendError::Database(error)) => return Err(error),
            Err(error) => {
                let at = self.store.now_ms().await? + 30_000;
                rows.iter()
                    .map(|r| {
                        (
                            r.id,
                            self.retry_or_fail(r, at, "not_sent", &error.to_string()),
                        )
                    })
                    .collect()
            }
        };
        self.store.settle(Some((tx.id, false)), settled).await
    }

    /// A failed transaction: with per-operation codes, the rows at fault fail with their code
    /// and the others go again; without (refused as a whole), every row goes again, up to
    /// `max_attempts`.
    async fn failed(
        &self,
        rows: &[PayoutRow],
        hash: &str,
        codes: &horizon::ResultCodes,
    ) -> Result<Vec<(i64, Settle)>, DbError> {
        if codes.transaction == "tx_failed" && codes.operations.len() == rows.len() {
            let settled = rows
                .iter()
                .zip(&codes.operations)
                .map(|(row, code)| {
                    let settle = if code == "op_success" {
                        Settle::Retry {
                            at: 0,
                            detail: Some(format!("its transaction {hash} failed on another row")),
                        }
                    } else {
                        metrics::counter!("bridge_batch_rows_total", "state" => "failed")
                            .increment(1);
                        Settle::Failed {
                            code: code.clone(),
                            detail: Some(format!("transaction {hash}")),
                        }
                    };
                    (row.id, settle)
                })
                .collect();
            return Ok(settled);
        }
        let at = self.store.now_ms().await? + 5_000;
        let detail = format!("transaction {hash} failed: {}", codes.transaction);
        Ok(rows
            .iter()
            .map(|r| (r.id, self.retry_or_fail(r, at, &codes.transaction, &detail)))
            .collect())
    }

    fn retry_or_fail(&self, row: &PayoutRow, at: i64, code: &str, detail: &str) -> Settle {
        if row.attempts >= self.settings.max_attempts {
            Settle::Failed {
                code: code.to_owned(),
                detail: Some(detail.to_owned()),
            }
        } else {
            Settle::Retry {
                at,
                detail: Some(detail.to_owned()),
            }
        }
    }

    async fn fail_all(
        &self,
        tx: &PayoutTx,
        rows: &[PayoutRow],
        code: &str,
        detail: &str,
    ) -> Result<(), DbError> {
        let settle = Settle::Failed {
            code: code.to_owned(),
            detail: Some(detail.to_owned()),
        };
        self.store
            .settle(
                Some((tx.id, false)),
                rows.iter().map(|r| (r.id, settle.clone())).collect(),
            )
            .await
    }

    /// A compliance row: the receiving bank approves (or says pending, or denies), then the
    /// approved transaction is sent under the row's own payment id.
    async fn send_compliance(&self, batch: &BatchRow, row: PayoutRow) {
        if let Err(error) = self.try_compliance(batch, &row).await {
            tracing::warn!(%error, row = %row.row_id, "batch compliance row: database");
        }
    }

    async fn try_compliance(&self, batch: &BatchRow, row: &PayoutRow) -> Result<(), DbError> {
        let (Some(compliance), Some(payer)) = (self.sending.compliance(), self.sending.base_seed())
        else {
            let settle = Settle::Failed {
                code: "compliance_not_configured".into(),
                detail: None,
            };
            return self.store.settle(None, vec![(row.id, settle)]).await;
        };
        let payment_id = format!("batch/{}/row/{}", batch.id, row.id);
        let fields = compliance_fields(batch, row);
        let digest = compliance::form::request_digest(&fields);
        // Sent before (the row is retried after a pending outcome, or a restart): its outcome
        // decides, not what the receiver says now (a SEP-31 anchor no longer offers a payment
        // it was paid).
        let submitter = self.sending.submitter();
        let resumed = match submitter.resume_payment(&payment_id, Some(&digest)).await {
            Err(SendError::Database(error)) => return Err(error),
            other => other.transpose(),
        };
        let sent = match resumed {
            Some(sent) => sent,
            None => {
                match crate::send::compliance::decide(compliance, &fields, &payment_id, payer).await
                {
                    Decision::Approved(draft) => {
                        submitter.send(&draft, Some(payment_id), Some(digest)).await
                    }
                    Decision::Pending(seconds) => {
                        let now = self.store.now_ms().await?;
                        let settle = Settle::Retry {
                            at: now.saturating_add(
                                i64::try_from(seconds).unwrap_or(i64::MAX / 2) * 1000,
                            ),
                            detail: Some(format!(
                                "the receiving bank answered pending ({seconds} s)"
                            )),
                        };
                        return self.store.settle(None, vec![(row.id, settle)]).await;
                    }
                    Decision::Denied => {
                        metrics::counter!("bridge_batch_rows_total", "state" => "denied")
                            .increment(1);
                        let settle = Settle::Denied(None);
                        return self.store.settle(None, vec![(row.id, settle)]).await;
                    }
                    Decision::Refused(reason) => {
                        let settle = Settle::Failed {
                            code: "compliance_error".into(),
                            detail: Some(reason),
                        };
                        return self.store.settle(None, vec![(row.id, settle)]).await;
                    }
                    Decision::Unavailable(reason) => {
                        let now = self.store.now_ms().await?;
                        let settle = self.retry_or_fail(
                            row,
                            now + 30_000,
                            "compliance_unavailable",
                            &reason,
                        );
                        return self.store.settle(None, vec![(row.id, settle)]).await;
                    }
                }
            }
        };
        let now = self.store.now_ms().await?;
        let settle = match sent {
            Ok(Outcome::Success { hash, ledger, .. }) => Settle::Succeeded { hash, ledger },
            Ok(Outcome::Failed {
                hash, result_codes, ..
            }) => Settle::Failed {
                code: result_codes
                    .operations
                    .iter()
                    .find(|c| *c != "op_success")
                    .cloned()
                    .unwrap_or(result_codes.transaction),
                detail: Some(format!("transaction {hash}")),
            },
            Ok(Outcome::Pending { .. })
            | Err(
                SendError::Busy(..)
                | SendError::Unavailable(_)
                | SendError::Cosigning(CosignError::Unavailable { .. }),
            ) => return Ok(()),
            Err(SendError::Cosigning(refused @ CosignError::Refused { .. })) => Settle::Failed {
                code: "cosigner_refused".into(),
                detail: Some(refused.to_string()),
            },
            Err(SendError::Database(error)) => return Err(error),
            Err(error) => self.retry_or_fail(row, now + 30_000, "not_sent", &error.to_string()),
        };
        self.store.settle(None, vec![(row.id, settle)]).await
    }

    /// Posts each ended batch's summary to `callback_url` (with `X-Payload-Mac`), until it
    /// answers 2xx; retried with backoff, at least once per batch.
    async fn callbacks(&self) -> Result<(), DbError> {
        let Some(url) = &self.settings.callback_url else {
            return Ok(());
        };
        for batch in self.store.callbacks_due().await? {
            let summary = super::store::summary(&self.store, &batch).await?;
            let body = serde_json::to_vec(&summary).unwrap_or_default();
            let mut request = self
                .http
                .post(url.clone())
                .header("content-type", "application/json");
            if let Some(key) = &self.mac_key {
                request = request.header(
                    "X-Payload-Mac",
                    crate::receive::mac::payload_mac(key, &body),
                );
            }
            let delivered = request
                .body(body)
                .timeout(Duration::from_secs(30))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
            let backoff = stellar_toml::http::Backoff {
                first: Duration::from_secs(5),
                max: Duration::from_secs(600),
            };
            let retry = backoff.delay(u32::try_from(batch.callback_attempts).unwrap_or(0));
            self.store
                .callback_attempted(
                    batch.id,
                    delivered,
                    i64::try_from(retry.as_millis()).unwrap_or(600_000),
                )
                .await?;
        }
        Ok(())
    }
}

/// The row's payment operation.
fn operation(row: &PayoutRow) -> Result<Operation, String> {
    let account: AccountAddress = row
        .account
        .as_deref()
        .unwrap_or(&row.destination)
        .parse()
        .map_err(|_| format!("row {}: stored account is not an account", row.row_no))?;
    let amount: Amount = row.amount.parse().map_err(|e| format!("{e}"))?;
    let asset = Asset::from_code_and_issuer(
        row.asset_code.as_deref().unwrap_or(""),
        row.asset_issuer.as_deref().unwrap_or(""),
    )
    .map_err(|e| e.to_string())?;
    Ok(Operation::payment(account, &asset, amount))
}

fn memo_of(row: &PayoutRow) -> Result<Memo, String> {
    Memo::parse(
        row.memo_type.as_deref().unwrap_or(""),
        row.memo.as_deref().unwrap_or(""),
    )
    .map_err(|e| e.to_string())
}

/// What compliance `/send` is told about a row: the legacy `/payment` fields.
fn compliance_fields(batch: &BatchRow, row: &PayoutRow) -> compliance::form::Fields {
    let mut fields = vec![
        ("destination".to_owned(), row.destination.clone()),
        ("amount".to_owned(), row.amount.clone()),
        (
            "sender".to_owned(),
            batch.sender.clone().unwrap_or_default(),
        ),
    ];
    for (name, value) in [
        ("asset_code", &row.asset_code),
        ("asset_issuer", &row.asset_issuer),
        ("extra_memo", &row.extra_memo),
    ] {
        if let Some(value) = value.as_ref().filter(|v| !v.is_empty()) {
            fields.push((name.to_owned(), value.clone()));
        }
    }
    fields
}
