//! `payout_batch`, `payout_row`, `payout_tx`: the batches, their payments and the
//! transactions that carry them.
//!
//! The rules this module keeps: a batch and all its rows are stored in one transaction (or
//! nothing is); a row moves from `ready` to `submitting` only by a compare-and-set, in the
//! same transaction that stores the `payout_tx` carrying it, so no two workers (or instances)
//! pack the same row; and a transaction's rows are settled together with it.

use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use serde::Serialize;
use service::database::clock_ms;
use service::{Database, DbError};

use crate::schema::{payout_batch as pb, payout_row as pr, payout_tx as pt};

/// Where a batch stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BatchState {
    /// Waits for `POST /batches/{id}/approve` with the approver key.
    AwaitingApproval,
    /// Its rows are being sent.
    Sending,
    /// Cancelled while transactions were in flight: those finish, nothing else is sent.
    Cancelling,
    /// Every row ended (succeeded, failed, denied).
    Finished,
    /// Cancelled: the rows not yet submitted were not sent.
    Cancelled,
}

impl BatchState {
    /// The column value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AwaitingApproval => "awaiting_approval",
            Self::Sending => "sending",
            Self::Cancelling => "cancelling",
            Self::Finished => "finished",
            Self::Cancelled => "cancelled",
        }
    }

    /// The state spelled `text`; anything unknown reads as finished.
    pub fn parse(text: &str) -> Self {
        match text {
            "awaiting_approval" => Self::AwaitingApproval,
            "sending" => Self::Sending,
            "cancelling" => Self::Cancelling,
            "cancelled" => Self::Cancelled,
            _ => Self::Finished,
        }
    }
}

/// Where a row stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RowState {
    /// To be sent (again).
    Ready,
    /// In a transaction stored for submission, or with the receiving bank's compliance.
    Submitting,
    /// Paid: `hash` and `ledger` say where.
    Succeeded,
    /// Not paid: `code` says why (`op_no_trust`, `op_no_destination`, `invalid`…).
    Failed,
    /// The receiving bank's compliance server denied it.
    Denied,
    /// The batch was cancelled before it was submitted.
    Cancelled,
}

impl RowState {
    /// Every state, in the order a summary lists them.
    pub const ALL: [Self; 6] = [
        Self::Ready,
        Self::Submitting,
        Self::Succeeded,
        Self::Failed,
        Self::Denied,
        Self::Cancelled,
    ];

    /// The column value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ready => "ready",
            Self::Submitting => "submitting",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::Denied => "denied",
            Self::Cancelled => "cancelled",
        }
    }

    /// The state named `text`.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }
}

/// A stored batch.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = pb)]
pub struct BatchRow {
    /// Primary key.
    pub id: i64,
    /// The client's id.
    pub batch_id: String,
    /// sha256 of what was asked.
    pub request_digest: String,
    #[diesel(deserialize_as = String)]
    state: StateColumn,
    /// The compliance `sender`.
    pub sender: Option<String>,
    /// Rows in the batch.
    pub total_rows: i32,
    /// Unix ms.
    pub created_at: i64,
    /// Unix ms.
    pub approved_at: Option<i64>,
    /// Unix ms.
    pub finished_at: Option<i64>,
    /// The instance working on it.
    pub claimed_by: Option<String>,
    /// Unix ms (database clock).
    pub claimed_until: i64,
    /// 1 while the end-of-batch callback is still owed (an integer: MySQL has no boolean).
    pub callback_due: i32,
    /// Failed callback attempts.
    pub callback_attempts: i32,
    /// Unix ms.
    pub next_callback_at: i64,
}

#[derive(Debug, Clone)]
struct StateColumn(BatchState);

impl From<String> for StateColumn {
    fn from(text: String) -> Self {
        Self(BatchState::parse(&text))
    }
}

impl BatchRow {
    /// Where it stands.
    pub fn state(&self) -> BatchState {
        self.state.0
    }
}

/// A stored payment of a batch.
#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = pr)]
pub struct PayoutRow {
    /// Primary key.
    #[serde(skip)]
    pub id: i64,
    /// Its batch's primary key.
    #[serde(skip)]
    pub batch: i64,
    /// From 1, in the order given.
    #[serde(rename = "row")]
    pub row_no: i32,
    /// The client's id.
    #[serde(rename = "id")]
    pub row_id: String,
    /// As given.
    pub destination: String,
    /// The account paid, as resolved when the batch was accepted.
    pub account: Option<String>,
    /// As given.
    pub amount: String,
    /// Empty for lumens.
    pub asset_code: Option<String>,
    /// The credit asset's issuer.
    pub asset_issuer: Option<String>,
    /// The memo paid (the row's or its federation answer's).
    pub memo_type: Option<String>,
    /// Its value.
    pub memo: Option<String>,
    /// For the receiving bank's compliance server.
    #[serde(skip)]
    pub extra_memo: Option<String>,
    /// `direct` or `compliance`.
    pub route: String,
    /// A [`RowState`].
    pub state: String,
    /// The `payout_tx` carrying it.
    #[serde(skip)]
    pub tx: Option<i64>,
    /// Its operation's position in that transaction.
    #[serde(skip)]
    pub op_index: Option<i32>,
    /// Transactions it was in.
    pub attempts: i32,
    /// Unix ms (database clock) before which it is not sent.
    #[serde(skip)]
    pub next_attempt_at: i64,
    /// The paying transaction.
    pub hash: Option<String>,
    /// Its ledger.
    pub ledger: Option<i64>,
    /// Why it failed: the operation's result code, `invalid`, `denied`…
    pub code: Option<String>,
    /// More about it.
    pub detail: Option<String>,
}

/// A row to store.
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = pr)]
pub struct NewRow {
    /// Filled in by [`BatchStore::insert`].
    pub batch: i64,
    /// From 1.
    pub row_no: i32,
    /// The client's id.
    pub row_id: String,
    /// As given.
    pub destination: String,
    /// Resolved.
    pub account: Option<String>,
    /// As given.
    pub amount: String,
    /// Empty for lumens.
    pub asset_code: Option<String>,
    /// The issuer.
    pub asset_issuer: Option<String>,
    /// Memo type.
    pub memo_type: Option<String>,
    /// Memo value.
    pub memo: Option<String>,
    /// For compliance.
    pub extra_memo: Option<String>,
    /// `direct` or `compliance`.
    pub route: String,
    /// `ready`, or `failed` (a bad row of a partial batch).
    pub state: String,
    /// Why it failed.
    pub code: Option<String>,
    /// More about it.
    pub detail: Option<String>,
}

/// A batch to store.
#[derive(Debug, Clone)]
pub struct NewBatch {
    /// The client's id.
    pub batch_id: String,
    /// sha256 of what was asked.
    pub request_digest: String,
    /// `awaiting_approval` or `sending`.
    pub state: BatchState,
    /// The compliance sender.
    pub sender: Option<String>,
}

/// A stored transaction of a batch.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = pt)]
pub struct PayoutTx {
    /// Primary key.
    pub id: i64,
    /// Its batch.
    pub batch: i64,
    /// The `sent_transaction` payment id (exactly once per id).
    pub payment_id: String,
    /// sha256 of its rows' ids: a different set under the same id is refused.
    pub digest: String,
    /// `submitting`, `succeeded` or `failed`.
    pub state: String,
    /// Operations in it.
    pub operations: i32,
}

/// What became of a row whose transaction (or compliance exchange) ended.
#[derive(Debug, Clone)]
pub enum Settle {
    /// Paid.
    Succeeded {
        /// Transaction hash.
        hash: String,
        /// Ledger.
        ledger: i64,
    },
    /// Not paid, for good.
    Failed {
        /// Result code.
        code: String,
        /// More.
        detail: Option<String>,
    },
    /// Denied by the receiving bank.
    Denied(Option<String>),
    /// Not its fault: back to `ready`, not before `at` (Unix ms, database clock; 0 = now).
    Retry {
        /// Unix ms.
        at: i64,
        /// Why, kept in `detail`.
        detail: Option<String>,
    },
}

/// What [`BatchStore::insert`] did.
#[derive(Debug)]
pub enum Inserted {
    /// Stored.
    New(BatchRow),
    /// A batch with this id was already stored (same or different digest).
    Existing(BatchRow),
}

/// The batches' tables.
#[derive(Debug, Clone)]
pub struct BatchStore {
    db: Database,
}

fn chunk_digest(ids: &[i64]) -> String {
    use sha2::{Digest, Sha256};
    let text = ids.iter().map(i64::to_string).collect::<Vec<_>>().join(",");
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

impl BatchStore {
    /// The store on `db`.
    pub fn new(db: Database) -> Self {
        Self { db }
    }

    async fn write_turn(&self) -> Option<tokio::sync::MutexGuard<'_, ()>> {
        self.db.write_turn().await
    }

    /// Stores a batch and its rows in one transaction; an id already stored answers that
    /// batch instead.
    ///
    /// # Errors
    /// Database failures (nothing stored).
    pub async fn insert(&self, batch: NewBatch, rows: Vec<NewRow>) -> Result<Inserted, DbError> {
        let _turn = self.write_turn().await;
        self.db
            .run(move |conn| {
                conn.transaction(|conn| {
                    let now = clock_ms(conn)?;
                    let stored = diesel::insert_into(pb::table)
                        .values((
                            pb::batch_id.eq(&batch.batch_id),
                            pb::request_digest.eq(&batch.request_digest),
                            pb::state.eq(batch.state.as_str()),
                            pb::sender.eq(&batch.sender),
                            pb::total_rows.eq(i32::try_from(rows.len()).unwrap_or(i32::MAX)),
                            pb::created_at.eq(now),
                            pb::approved_at.eq((batch.state == BatchState::Sending).then_some(now)),
                        ))
                        .execute(conn);
                    match stored {
                        Err(DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _)) => {
                            return Ok(Inserted::Existing(by_batch_id(conn, &batch.batch_id)?));
                        }
                        other => other?,
                    };
                    let row = by_batch_id(conn, &batch.batch_id)?;
                    for mut new in rows {
                        new.batch = row.id;
                        diesel::insert_into(pr::table).values(&new).execute(conn)?;
                    }
                    Ok(Inserted::New(row))
                })
            })
            .await
    }

    /// The batch stored under `batch_id`.
    ///
    /// # Errors
    /// Database failures.
    pub async fn batch(&self, batch_id: &str) -> Result<Option<BatchRow>, DbError> {
        let batch_id = batch_id.to_owned();
        self.db
            .run(move |conn| {
                Ok(pb::table
                    .filter(pb::batch_id.eq(&batch_id))
                    .select(BatchRow::as_select())
                    .first(conn)
                    .optional()?)
            })
            .await
    }

    /// The batch with primary key `id` (the console's links).
    ///
    /// # Errors
    /// Database failures.
    pub async fn by_row(&self, id: i64) -> Result<Option<BatchRow>, DbError> {
        self.db
            .run(move |conn| {
                Ok(pb::table
                    .find(id)
                    .select(BatchRow::as_select())
                    .first(conn)
                    .optional()?)
            })
            .await
    }

    /// How many rows of the batch are in each state.
    ///
    /// # Errors
    /// Database failures.
    pub async fn counts(&self, batch: i64) -> Result<Vec<(String, i64)>, DbError> {
        self.db
            .run(move |conn| {
                Ok(pr::table
                    .filter(pr::batch.eq(batch))
                    .group_by(pr::state)
                    .select((pr::state, diesel::dsl::count_star()))
                    .load::<(String, i64)>(conn)?)
            })
            .await
    }

    /// Up to `limit` rows after row number `after`, in order, in `state` when given.
    ///
    /// # Errors
    /// Database failures.
    pub async fn rows(
        &self,
        batch: i64,
        state: Option<RowState>,
        after: i32,
        limit: i64,
    ) -> Result<Vec<PayoutRow>, DbError> {
        self.db
            .run(move |conn| {
                let mut query = pr::table
                    .filter(pr::batch.eq(batch))
                    .filter(pr::row_no.gt(after))
                    .into_boxed();
                if let Some(state) = state {
                    query = query.filter(pr::state.eq(state.as_str()));
                }
                Ok(query
                    .order(pr::row_no.asc())
                    .limit(limit)
                    .select(PayoutRow::as_select())
                    .load(conn)?)
            })
            .await
    }

    /// Batches newest first, `limit` from `offset`, in `state` when given (the console's list).
    ///
    /// # Errors
    /// Database failures.
    pub async fn list(
        &self,
        state: Option<BatchState>,
        offset: i64,
        limit: i64,
    ) -> Result<Vec<BatchRow>, DbError> {
        self.db
            .run(move |conn| {
                let mut query = pb::table.into_boxed();
                if let Some(state) = state {
                    query = query.filter(pb::state.eq(state.as_str()));
                }
                Ok(query
                    .order(pb::id.desc())
                    .offset(offset)
                    .limit(limit)
                    .select(BatchRow::as_select())
                    .load(conn)?)
            })
            .await
    }

    /// Moves a batch from `awaiting_approval` to `sending`; false when it was not waiting.
    ///
    /// # Errors
    /// Database failures.
    pub async fn approve(&self, batch: i64) -> Result<bool, DbError> {
        let _turn = self.write_turn().await;
        self.db
            .run(move |conn| {
                let now = clock_ms(conn)?;
                let changed = diesel::update(
                    pb::table
                        .filter(pb::id.eq(batch))
                        .filter(pb::state.eq(BatchState::AwaitingApproval.as_str())),
                )
                .set((
                    pb::state.eq(BatchState::Sending.as_str()),
                    pb::approved_at.eq(now),
                ))
                .execute(conn)?;
                Ok(changed == 1)
            })
            .await
    }

    /// Cancels the rows not yet submitted; the batch ends `cancelled`, or `cancelling` while
    /// transactions are in flight. False when it had already ended.
    ///
    /// # Errors
    /// Database failures.
    pub async fn cancel(&self, batch: i64, callback: bool) -> Result<bool, DbError> {
        let _turn = self.write_turn().await;
        self.db
            .run(move |conn| {
                conn.transaction(|conn| {
                    let open = [
                        BatchState::AwaitingApproval.as_str(),
                        BatchState::Sending.as_str(),
                    ];
                    let changed = diesel::update(
                        pb::table
                            .filter(pb::id.eq(batch))
                            .filter(pb::state.eq_any(open)),
                    )
                    .set(pb::state.eq(BatchState::Cancelling.as_str()))
                    .execute(conn)?;
                    if changed == 0 {
                        return Ok(false);
                    }
                    diesel::update(
                        pr::table
                            .filter(pr::batch.eq(batch))
                            .filter(pr::state.eq(RowState::Ready.as_str())),
                    )
                    .set(pr::state.eq(RowState::Cancelled.as_str()))
                    .execute(conn)?;
                    finish_if_done(conn, batch, callback)?;
                    Ok(true)
                })
            })
            .await
    }

    /// Claims a batch with work to do for `claimant` (or renews its claim on one), oldest
    /// first, skipping those another instance holds.
    ///
    /// # Errors
    /// Database failures.
    pub async fn claim(
        &self,
        claimant: &str,
        ttl: std::time::Duration,
        skip: &[i64],
    ) -> Result<Option<BatchRow>, DbError> {
        let (claimant, skip) = (claimant.to_owned(), skip.to_vec());
        let ttl = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX);
        let _turn = self.write_turn().await;
        self.db
            .run(move |conn| {
                let working = [
                    BatchState::Sending.as_str(),
                    BatchState::Cancelling.as_str(),
                ];
                let now = clock_ms(conn)?;
                let candidates = pb::table
                    .filter(pb::state.eq_any(working))
                    .filter(pb::claimed_until.lt(now).or(pb::claimed_by.eq(&claimant)))
                    .filter(pb::id.ne_all(&skip))
                    .order(pb::id.asc())
                    .limit(10)
                    .select(pb::id)
                    .load::<i64>(conn)?;
                for id in candidates {
                    let taken = diesel::update(
                        pb::table
                            .filter(pb::id.eq(id))
                            .filter(pb::state.eq_any(working))
                            .filter(pb::claimed_until.lt(now).or(pb::claimed_by.eq(&claimant))),
                    )
                    .set((
                        pb::claimed_by.eq(&claimant),
                        pb::claimed_until.eq(now.saturating_add(ttl)),
                    ))
                    .execute(conn)?;
                    if taken == 1 {
                        return Ok(Some(
                            pb::table
                                .filter(pb::id.eq(id))
                                .select(BatchRow::as_select())
                                .first(conn)?,
                        ));
                    }
                }
                Ok(None)
            })
            .await
    }

    /// Renews `claimant`'s claim on `batch`; false when another instance holds it now (this
    /// one stalled past its claim) or the batch ended.
    ///
    /// # Errors
    /// Database failures.
    pub async fn renew(
        &self,
        batch: i64,
        claimant: &str,
        ttl: std::time::Duration,
    ) -> Result<bool, DbError> {
        let claimant = claimant.to_owned();
        let ttl = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX);
        let _turn = self.write_turn().await;
        self.db
            .run(move |conn| {
                let working = [
                    BatchState::Sending.as_str(),
                    BatchState::Cancelling.as_str(),
                ];
                let now = clock_ms(conn)?;
                let renewed = diesel::update(
                    pb::table
                        .filter(pb::id.eq(batch))
                        .filter(pb::state.eq_any(working))
                        .filter(pb::claimed_until.lt(now).or(pb::claimed_by.eq(&claimant))),
                )
                .set((
                    pb::claimed_by.eq(&claimant),
                    pb::claimed_until.eq(now.saturating_add(ttl)),
                ))
                .execute(conn)?;
                Ok(renewed == 1)
            })
            .await
    }

    /// The batch's transactions still in flight (stored, not settled), with their rows in
    /// operation order: a restart sends each again under its payment id, which pays nothing
    /// twice.
    ///
    /// # Errors
    /// Database failures.
    pub async fn in_flight(&self, batch: i64) -> Result<Vec<(PayoutTx, Vec<PayoutRow>)>, DbError> {
        self.db
            .run(move |conn| {
                let txs = pt::table
                    .filter(pt::batch.eq(batch))
                    .filter(pt::state.eq(RowState::Submitting.as_str()))
                    .order(pt::id.asc())
                    .select(PayoutTx::as_select())
                    .load::<PayoutTx>(conn)?;
                let mut out = Vec::with_capacity(txs.len());
                for tx in txs {
                    let rows = pr::table
                        .filter(pr::tx.eq(tx.id))
                        .filter(pr::state.eq(RowState::Submitting.as_str()))
                        .order(pr::op_index.asc())
                        .select(PayoutRow::as_select())
                        .load::<PayoutRow>(conn)?;
                    out.push((tx, rows));
                }
                Ok(out)
            })
            .await
    }

    /// Packs up to `max_txs` transactions of up to `ops` ready direct rows each (rows in one
    /// transaction share their memo), stores them and marks their rows `submitting`, all in
    /// one database transaction. Rows another worker took first are left to it.
    ///
    /// # Errors
    /// Database failures (nothing packed).
    pub async fn pack(
        &self,
        batch: i64,
        ops: usize,
        max_txs: usize,
    ) -> Result<Vec<(PayoutTx, Vec<PayoutRow>)>, DbError> {
        let _turn = self.write_turn().await;
        self.db
            .run(move |conn| {
                conn.transaction(|conn| {
                    let now = clock_ms(conn)?;
                    let ready = pr::table
                        .filter(pr::batch.eq(batch))
                        .filter(pr::state.eq(RowState::Ready.as_str()))
                        .filter(pr::route.eq("direct"))
                        .filter(pr::next_attempt_at.le(now))
                        .order(pr::row_no.asc())
                        .limit(i64::try_from(ops * max_txs).unwrap_or(i64::MAX))
                        .select(PayoutRow::as_select())
                        .load::<PayoutRow>(conn)?;
                    let mut packed = Vec::new();
                    for chunk in by_memo(ready, ops).into_iter().take(max_txs) {
                        let ids: Vec<i64> = chunk.iter().map(|r| r.id).collect();
                        let payment_id =
                            format!("batch/{batch}/{}-{}", chunk[0].id, chunk[0].attempts + 1);
                        diesel::insert_into(pt::table)
                            .values((
                                pt::batch.eq(batch),
                                pt::payment_id.eq(&payment_id),
                                pt::digest.eq(chunk_digest(&ids)),
                                pt::state.eq(RowState::Submitting.as_str()),
                                pt::operations.eq(i32::try_from(ids.len()).unwrap_or(i32::MAX)),
                            ))
                            .execute(conn)?;
                        let tx = pt::table
                            .filter(pt::payment_id.eq(&payment_id))
                            .select(PayoutTx::as_select())
                            .first::<PayoutTx>(conn)?;
                        let mut rows = Vec::with_capacity(chunk.len());
                        for (index, mut row) in chunk.into_iter().enumerate() {
                            let index = i32::try_from(index).unwrap_or(i32::MAX);
                            let taken = diesel::update(
                                pr::table
                                    .filter(pr::id.eq(row.id))
                                    .filter(pr::state.eq(RowState::Ready.as_str())),
                            )
                            .set((
                                pr::state.eq(RowState::Submitting.as_str()),
                                pr::tx.eq(tx.id),
                                pr::op_index.eq(index),
                                pr::attempts.eq(row.attempts + 1),
                            ))
                            .execute(conn)?;
                            if taken != 1 {
                                // Another worker packed it: undo this whole packing (the
                                // caller packs again from what is left).
                                return Err(DbError::Query(DieselError::RollbackTransaction));
                            }
                            row.state = RowState::Submitting.as_str().to_owned();
                            row.tx = Some(tx.id);
                            row.op_index = Some(index);
                            row.attempts += 1;
                            rows.push(row);
                        }
                        packed.push((tx, rows));
                    }
                    Ok(packed)
                })
            })
            .await
    }

    /// Takes up to `limit` due compliance rows (`ready` → `submitting`), and returns them with
    /// those already `submitting` (a restart asks again under the same id).
    ///
    /// # Errors
    /// Database failures.
    pub async fn take_compliance(&self, batch: i64, limit: i64) -> Result<Vec<PayoutRow>, DbError> {
        let _turn = self.write_turn().await;
        self.db
            .run(move |conn| {
                conn.transaction(|conn| {
                    let now = clock_ms(conn)?;
                    let due = pr::table
                        .filter(pr::batch.eq(batch))
                        .filter(pr::route.eq("compliance"))
                        .filter(pr::state.eq(RowState::Ready.as_str()))
                        .filter(pr::next_attempt_at.le(now))
                        .order(pr::row_no.asc())
                        .limit(limit)
                        .select(pr::id)
                        .load::<i64>(conn)?;
                    diesel::update(
                        pr::table
                            .filter(pr::id.eq_any(&due))
                            .filter(pr::state.eq(RowState::Ready.as_str())),
                    )
                    .set((
                        pr::state.eq(RowState::Submitting.as_str()),
                        pr::attempts.eq(pr::attempts + 1),
                    ))
                    .execute(conn)?;
                    Ok(pr::table
                        .filter(pr::batch.eq(batch))
                        .filter(pr::route.eq("compliance"))
                        .filter(pr::state.eq(RowState::Submitting.as_str()))
                        .order(pr::row_no.asc())
                        .select(PayoutRow::as_select())
                        .load::<PayoutRow>(conn)?)
                })
            })
            .await
    }

    /// Settles a transaction (`tx`, when the rows had one) and its rows, in one transaction;
    /// rows are only settled while still `submitting`.
    ///
    /// # Errors
    /// Database failures (nothing settled).
    pub async fn settle(
        &self,
        tx: Option<(i64, bool)>,
        rows: Vec<(i64, Settle)>,
    ) -> Result<(), DbError> {
        let _turn = self.write_turn().await;
        self.db
            .run(move |conn| {
                conn.transaction(|conn| {
                    if let Some((tx, succeeded)) = tx {
                        let state = if succeeded { "succeeded" } else { "failed" };
                        diesel::update(pt::table.filter(pt::id.eq(tx)))
                            .set(pt::state.eq(state))
                            .execute(conn)?;
                    }
                    let now = clock_ms(conn)?;
                    for (id, settle) in rows {
                        let row = pr::table
                            .filter(pr::id.eq(id))
                            .filter(pr::state.eq(RowState::Submitting.as_str()));
                        match settle {
                            Settle::Succeeded { hash, ledger } => diesel::update(row)
                                .set((
                                    pr::state.eq(RowState::Succeeded.as_str()),
                                    pr::hash.eq(hash),
                                    pr::ledger.eq(ledger),
                                    pr::code.eq(None::<String>),
                                ))
                                .execute(conn)?,
                            Settle::Failed { code, detail } => diesel::update(row)
                                .set((
                                    pr::state.eq(RowState::Failed.as_str()),
                                    pr::code.eq(code),
                                    pr::detail.eq(detail),
                                ))
                                .execute(conn)?,
                            Settle::Denied(detail) => diesel::update(row)
                                .set((
                                    pr::state.eq(RowState::Denied.as_str()),
                                    pr::code.eq("denied"),
                                    pr::detail.eq(detail),
                                ))
                                .execute(conn)?,
                            Settle::Retry { at, detail } => diesel::update(row)
                                .set((
                                    pr::state.eq(RowState::Ready.as_str()),
                                    pr::tx.eq(None::<i64>),
                                    pr::op_index.eq(None::<i32>),
                                    pr::next_attempt_at.eq(at.max(now)),
                                    pr::detail.eq(detail),
                                ))
                                .execute(conn)?,
                        };
                    }
                    Ok(())
                })
            })
            .await
    }

    /// Ends the batch when no row is left to send: `finished` (or `cancelled` after a
    /// cancel), with the callback owed when one is configured. True when it ended.
    ///
    /// # Errors
    /// Database failures.
    pub async fn finish_if_done(&self, batch: i64, callback: bool) -> Result<bool, DbError> {
        let _turn = self.write_turn().await;
        self.db
            .run(move |conn| conn.transaction(|conn| finish_if_done(conn, batch, callback)))
            .await
    }

    /// Batches that ended and still owe their callback, due now.
    ///
    /// # Errors
    /// Database failures.
    pub async fn callbacks_due(&self) -> Result<Vec<BatchRow>, DbError> {
        self.db
            .run(move |conn| {
                let now = clock_ms(conn)?;
                Ok(pb::table
                    .filter(pb::callback_due.eq(1))
                    .filter(pb::next_callback_at.le(now))
                    .order(pb::id.asc())
                    .limit(20)
                    .select(BatchRow::as_select())
                    .load(conn)?)
            })
            .await
    }

    /// Records a callback attempt: done, or retried after `retry_after_ms`. Only the first
    /// instance to record `done` matters; a second delivery is the at-least-once contract.
    ///
    /// # Errors
    /// Database failures.
    pub async fn callback_attempted(
        &self,
        batch: i64,
        done: bool,
        retry_after_ms: i64,
    ) -> Result<(), DbError> {
        let _turn = self.write_turn().await;
        self.db
            .run(move |conn| {
                let now = clock_ms(conn)?;
                let row = pb::table.filter(pb::id.eq(batch));
                if done {
                    diesel::update(row)
                        .set(pb::callback_due.eq(0))
                        .execute(conn)?;
                } else {
                    diesel::update(row)
                        .set((
                            pb::callback_attempts.eq(pb::callback_attempts + 1),
                            pb::next_callback_at.eq(now.saturating_add(retry_after_ms)),
                        ))
                        .execute(conn)?;
                }
                Ok(())
            })
            .await
    }

    /// The database's clock (Unix ms): what `next_attempt_at` is compared with.
    ///
    /// # Errors
    /// Database failures.
    pub async fn now_ms(&self) -> Result<i64, DbError> {
        self.db.run(clock_ms).await
    }
}

fn by_batch_id(conn: &mut service::AnyConnection, batch_id: &str) -> Result<BatchRow, DbError> {
    Ok(pb::table
        .filter(pb::batch_id.eq(batch_id))
        .select(BatchRow::as_select())
        .first(conn)?)
}

fn finish_if_done(
    conn: &mut service::AnyConnection,
    batch: i64,
    callback: bool,
) -> Result<bool, DbError> {
    let open = [RowState::Ready.as_str(), RowState::Submitting.as_str()];
    let left: i64 = pr::table
        .filter(pr::batch.eq(batch))
        .filter(pr::state.eq_any(open))
        .count()
        .get_result(conn)?;
    if left > 0 {
        return Ok(false);
    }
    let now = clock_ms(conn)?;
    let mut ended = 0;
    for (from, to) in [
        (BatchState::Sending, BatchState::Finished),
        (BatchState::Cancelling, BatchState::Cancelled),
    ] {
        ended += diesel::update(
            pb::table
                .filter(pb::id.eq(batch))
                .filter(pb::state.eq(from.as_str())),
        )
        .set((
            pb::state.eq(to.as_str()),
            pb::finished_at.eq(now),
            pb::callback_due.eq(i32::from(callback)),
            pb::claimed_by.eq(None::<String>),
            pb::claimed_until.eq(0),
        ))
        .execute(conn)?;
    }
    Ok(ended > 0)
}

/// Ready rows grouped into transactions: rows with the same memo together (a transaction has
/// one memo), in row order, at most `ops` each.
fn by_memo(rows: Vec<PayoutRow>, ops: usize) -> Vec<Vec<PayoutRow>> {
    let mut groups: Vec<Vec<PayoutRow>> = Vec::new();
    for row in rows {
        let open = groups
            .iter_mut()
            .find(|g| g.len() < ops && g[0].memo_type == row.memo_type && g[0].memo == row.memo);
        match open {
            Some(group) => group.push(row),
            None => groups.push(vec![row]),
        }
    }
    groups
}

/// A batch as the API shows it.
#[derive(Debug, Serialize)]
pub struct Summary {
    id: String,
    state: BatchState,
    total: i32,
    /// Rows that ended (succeeded, failed, denied, cancelled).
    done: i64,
    counts: serde_json::Map<String, serde_json::Value>,
    created_at: i64,
    approved_at: Option<i64>,
    finished_at: Option<i64>,
}

/// The summary of a stored batch.
///
/// # Errors
/// Database failures.
pub async fn summary(store: &BatchStore, batch: &BatchRow) -> Result<Summary, DbError> {
    let stored = store.counts(batch.id).await?;
    let mut counts = serde_json::Map::new();
    let mut done = 0;
    for state in RowState::ALL {
        let n = stored
            .iter()
            .find(|(s, _)| s == state.as_str())
            .map_or(0, |(_, n)| *n);
        if !matches!(state, RowState::Ready | RowState::Submitting) {
            done += n;
        }
        counts.insert(state.as_str().to_owned(), n.into());
    }
    Ok(Summary {
        id: batch.batch_id.clone(),
        state: batch.state(),
        total: batch.total_rows,
        done,
        counts,
        created_at: batch.created_at,
        approved_at: batch.approved_at,
        finished_at: batch.finished_at,
    })
}
