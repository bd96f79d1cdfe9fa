//! `received_payment` and `receive_cursor`: what the listener saw and where it resumes.
//!
//! The one rule this module exists for: a payment row and the account's cursor are written in
//! the same database transaction ([`ReceiveStore::record`]), so a crash leaves either both or
//! neither. The unique `operation_id` makes recording the same operation twice a no-op.

use std::collections::HashMap;

use diesel::prelude::*;
use serde::Serialize;
use service::database::clock_ms;
use service::{Database, DbError};
use time::PrimitiveDateTime;

use super::delivery::CallbackAnswer;
use super::fence::{Fence, LeaseWriteError};
use crate::schema::{delivery_attempt as da, receive_cursor as rc, received_payment as rp};

/// Where a received payment stands (the `status` column), like [`SentStatus`] for sent
/// transactions.
///
/// [`SentStatus`]: crate::send::store::SentStatus
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum ReceivedStatus {
    /// Recorded and deliverable: waiting for its (next) delivery attempt.
    #[default]
    Pending,
    /// The receive callback answered 2xx.
    Success,
    /// Delivery was given up (after `give_up_after_seconds`, or `max_attempts` when set); the
    /// error callback is being told, and retried until it answers 2xx. Then `failed`.
    Failing,
    /// Delivery was given up and the error callback told (or there is none). `/reprocess`
    /// delivers it again.
    Failed,
    /// Sent by the watched account, or to another account: recorded, not delivered.
    Outgoing,
    /// An asset not in `[[assets]]`: recorded, not delivered.
    AssetNotAllowed,
    /// Its transaction failed: no money moved.
    TransactionFailed,
    /// An operation type that moves no money to us.
    NotAPayment,
    /// Horizon's record could not be read; `raw` and `last_error` say what came. Never
    /// delivered automatically: an operator looks, then `/reprocess` with `force`.
    Unparseable,
    /// A status the legacy bridge wrote (`Success`, `Processing...`, an error message), kept
    /// and shown as it is; never delivered automatically.
    Legacy(String),
}

impl ReceivedStatus {
    /// The column value.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Pending => "pending",
            Self::Success => "success",
            Self::Failing => "failing",
            Self::Failed => "failed",
            Self::Outgoing => "outgoing",
            Self::AssetNotAllowed => "asset_not_allowed",
            Self::TransactionFailed => "transaction_failed",
            Self::NotAPayment => "not_a_payment",
            Self::Unparseable => "unparseable",
            Self::Legacy(status) => status,
        }
    }
}

impl From<String> for ReceivedStatus {
    fn from(s: String) -> Self {
        match s.as_str() {
            "pending" => Self::Pending,
            "success" => Self::Success,
            "failing" => Self::Failing,
            "failed" => Self::Failed,
            "outgoing" => Self::Outgoing,
            "asset_not_allowed" => Self::AssetNotAllowed,
            "transaction_failed" => Self::TransactionFailed,
            "not_a_payment" => Self::NotAPayment,
            "unparseable" => Self::Unparseable,
            _ => Self::Legacy(s),
        }
    }
}

impl From<ReceivedStatus> for String {
    fn from(status: ReceivedStatus) -> Self {
        match status {
            ReceivedStatus::Legacy(status) => status,
            known => known.as_str().to_owned(),
        }
    }
}

impl std::fmt::Display for ReceivedStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq<&str> for ReceivedStatus {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl Serialize for ReceivedStatus {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// A payment as the listener records it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Insertable)]
#[diesel(table_name = rp)]
pub struct NewReceived {
    /// Horizon's operation id (the idempotency key).
    pub operation_id: String,
    /// The record's paging token.
    pub paging_token: String,
    /// Where it stands.
    #[diesel(serialize_as = String)]
    pub status: ReceivedStatus,
    /// Transaction hash.
    pub transaction_id: String,
    /// The watched account.
    pub account: String,
    /// Horizon's operation type.
    pub kind: String,
    /// Sender (`from`, `funder`, or the merged account).
    #[diesel(column_name = from_account)]
    pub from: Option<String>,
    /// Muxed destination id, when paid to an `M…` address.
    pub to_muxed_id: Option<String>,
    /// Amount received, 7 decimals.
    pub amount: Option<String>,
    /// `XLM` for lumens.
    pub asset_code: Option<String>,
    /// Empty for lumens.
    pub asset_issuer: Option<String>,
    /// `none`, `text`, `id`, `hash` or `return`.
    pub memo_type: Option<String>,
    /// As Horizon shows it (base64 for hash and return).
    pub memo: Option<String>,
    /// Route known at recording time (text/id memo, or the muxed id).
    pub route: Option<String>,
    /// What was read of Horizon's record (its operation fields, without the embedded
    /// transaction); for an unreadable record, the event as received.
    pub raw: String,
    /// Why it is not deliverable, or what could not be read.
    pub last_error: Option<String>,
}

impl NewReceived {
    /// The row as stored: values of `VARCHAR(255)` columns clipped to fit.
    fn clipped(&self) -> Self {
        let clip_opt = |v: &Option<String>| v.as_deref().map(clip);
        Self {
            operation_id: clip(&self.operation_id),
            paging_token: clip(&self.paging_token),
            transaction_id: clip(&self.transaction_id),
            kind: clip(&self.kind),
            from: clip_opt(&self.from),
            to_muxed_id: clip_opt(&self.to_muxed_id),
            amount: clip_opt(&self.amount),
            asset_code: clip_opt(&self.asset_code),
            asset_issuer: clip_opt(&self.asset_issuer),
            memo_type: clip_opt(&self.memo_type),
            ..self.clone()
        }
    }
}

/// A stored received payment, as the admin API shows it (plain JSON fields).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Queryable, Selectable)]
#[diesel(table_name = rp)]
pub struct ReceivedPayment {
    /// Row id.
    pub id: i64,
    /// Horizon's operation id.
    pub operation_id: String,
    /// Paging token.
    pub paging_token: String,
    /// Where it stands.
    #[diesel(deserialize_as = String)]
    pub status: ReceivedStatus,
    /// Transaction hash.
    pub transaction_id: String,
    /// The watched account.
    pub account: String,
    /// Operation type.
    pub kind: String,
    /// Sender.
    #[diesel(column_name = from_account)]
    pub from: Option<String>,
    /// Muxed destination id.
    pub to_muxed_id: Option<String>,
    /// Amount.
    pub amount: Option<String>,
    /// Asset code (`XLM` for lumens).
    pub asset_code: Option<String>,
    /// Asset issuer.
    pub asset_issuer: Option<String>,
    /// Memo type.
    pub memo_type: Option<String>,
    /// Memo.
    pub memo: Option<String>,
    /// Route (after delivery: the one delivered).
    pub route: Option<String>,
    /// Compliance AuthData delivered as `data`.
    pub data: Option<String>,
    /// What was read of Horizon's record (see [`NewReceived::raw`]).
    #[serde(skip)]
    pub raw: String,
    /// Delivery attempts so far.
    pub attempts: i32,
    /// Unix milliseconds of the next attempt (pending payments).
    pub next_attempt_at: i64,
    /// The last delivery error, or why it is not deliverable.
    pub last_error: Option<String>,
    /// When it was recorded (UTC; RFC 3339 in JSON), the legacy column.
    #[serde(serialize_with = "rfc3339")]
    pub processed_at: PrimitiveDateTime,
    /// When the receive callback accepted it (UTC; RFC 3339 in JSON, `null` until then).
    #[serde(serialize_with = "rfc3339_or_null")]
    pub delivered_at: Option<PrimitiveDateTime>,
}

/// The current time in UTC, to the microsecond (what every backend stores), for the
/// `TIMESTAMP` columns: written from here rather than with SQL `now()` so that the value is UTC
/// whatever the database session's time zone.
pub fn now_utc() -> PrimitiveDateTime {
    let now = time::OffsetDateTime::now_utc();
    let now = now
        .replace_nanosecond(now.nanosecond() / 1_000 * 1_000)
        .unwrap_or(now);
    PrimitiveDateTime::new(now.date(), now.time())
}

/// `2026-11-21T10:00:00Z`, with a fraction of a second when there is one (trailing zeros
/// dropped, as Go's `time.RFC3339Nano`, which the legacy admin views used).
pub fn format_rfc3339(t: &PrimitiveDateTime) -> String {
    let mut text = format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    );
    let nanos = t.nanosecond();
    if nanos > 0 {
        let fraction = format!("{nanos:09}");
        text.push('.');
        text.push_str(fraction.trim_end_matches('0'));
    }
    text.push('Z');
    text
}

fn rfc3339<S: serde::Serializer>(t: &PrimitiveDateTime, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format_rfc3339(t))
}

fn rfc3339_or_null<S: serde::Serializer>(
    t: &Option<PrimitiveDateTime>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => s.serialize_str(&format_rfc3339(t)),
        None => s.serialize_none(),
    }
}

/// Unix time in milliseconds.
pub fn now_ms() -> i64 {
    stellar_base::transaction::unix_now_ms()
}

/// What the console's list of received payments is narrowed to (every part optional).
#[derive(Debug, Clone, Default)]
pub struct ReceivedFilter {
    /// A status column value.
    pub status: Option<String>,
    /// The watched account paid.
    pub account: Option<String>,
    /// An asset code (`XLM` for lumens).
    pub asset_code: Option<String>,
    /// Recorded at or after (UTC).
    pub since: Option<PrimitiveDateTime>,
    /// Recorded before (UTC).
    pub before: Option<PrimitiveDateTime>,
    /// A transaction hash, operation id, memo or route, matched whole.
    pub text: Option<String>,
}

/// What a delivery attempt changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Accepted by the receive callback, with the route and data it was sent.
    Delivered {
        /// Route delivered.
        route: String,
        /// Compliance data delivered.
        data: Option<String>,
    },
    /// Failed; try again at `next_attempt_at` (unix ms).
    Retry {
        /// Why.
        error: String,
        /// When.
        next_attempt_at: i64,
    },
    /// Given up: the error callback is to be told (`failing`, due now).
    GiveUp {
        /// Why.
        error: String,
    },
    /// Given up and reported (or nobody to report to): `failed`.
    Failed {
        /// Why.
        error: String,
    },
}

/// How delivery to the back office stands for one account, for `/health` and metrics.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DeliveryStatus {
    /// Payments waiting for delivery (`pending`).
    pub backlog: i64,
    /// How long the oldest of them has waited, in seconds (0 without backlog).
    pub oldest_undelivered_seconds: i64,
    /// Payments given up (`failing` or `failed`): an operator's to look at and `/reprocess`.
    pub failed: i64,
}

/// Access to the receiving tables; cheap to clone.
#[derive(Debug, Clone)]
pub struct ReceiveStore {
    db: Database,
}

/// The statuses the delivery worker acts on: `pending` (deliver) and `failing` (report).
const DUE_STATUSES: [&str; 2] = ["pending", "failing"];

/// Operation ids looked up per query when recording.
const LOOKUP: usize = 500;

/// Longest value stored in a `VARCHAR(255)` column.
fn clip(s: &str) -> String {
    let mut end = s.len().min(255);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_owned()
}

impl ReceiveStore {
    /// A store over a migrated database.
    pub fn new(db: Database) -> Self {
        Self { db }
    }

    /// Held for the length of a write transaction (SQLite only).
    pub(super) async fn write_turn(&self) -> Option<tokio::sync::MutexGuard<'_, ()>> {
        self.db.write_turn().await
    }

    /// The database.
    pub fn database(&self) -> &Database {
        &self.db
    }

    /// The stored cursor of `account`.
    ///
    /// # Errors
    /// Database failures.
    pub async fn cursor(&self, account: &str) -> Result<Option<String>, DbError> {
        let account = account.to_owned();
        self.db
            .run(move |conn| {
                Ok(rc::table
                    .find(account)
                    .select(rc::paging_token)
                    .first::<String>(conn)
                    .optional()?)
            })
            .await
    }

    /// The paging token of the newest row (highest `id`) the legacy bridge recorded: rows
    /// without an `account`, which adoption adds as `''` (ours always name theirs). The legacy
    /// bridge resumed from this row; `None` when there is none.
    ///
    /// # Errors
    /// Database failures.
    pub async fn newest_legacy_paging_token(&self) -> Result<Option<String>, DbError> {
        self.db
            .run(move |conn| {
                Ok(rp::table
                    .filter(rp::account.eq(""))
                    .order(rp::id.desc())
                    .select(rp::paging_token)
                    .first::<String>(conn)
                    .optional()?)
            })
            .await
    }

    /// Stores `account`'s cursor without a payment (first start), if `fence` is still
    /// current.
    ///
    /// # Errors
    /// [`LeaseWriteError::Fenced`] when another instance took the account over; database
    /// failures.
    pub async fn set_cursor(
        &self,
        account: &str,
        token: &str,
        fence: &Fence,
    ) -> Result<(), LeaseWriteError> {
        let (account, token, fence) = (account.to_owned(), clip(token), fence.clone());
        let _turn = self.write_turn().await;
        self.db
            .run(move |conn| {
                Ok(conn.transaction(|conn| {
                    fence.check(conn)?;
                    save_cursor(conn, &account, &token)?;
                    Ok::<_, LeaseWriteError>(())
                }))
            })
            .await?
    }

    /// Records `payments` (in stream order) and moves `account`'s cursor to `cursor`, in one
    /// transaction. Operations already recorded are left as they are. Returns how many rows
    /// were new and deliverable.
    ///
    /// One query finds which operations of the batch are already recorded, then the new rows
    /// are inserted.
    ///
    /// Written only while `fence` is current: an instance that lost the account writes
    /// nothing.
    ///
    /// # Errors
    /// [`LeaseWriteError::Fenced`] when another instance took the account over; database
    /// failures. Either way nothing was written.
    pub async fn record(
        &self,
        account: &str,
        payments: Vec<NewReceived>,
        cursor: &str,
        fence: &Fence,
    ) -> Result<usize, LeaseWriteError> {
        let (account, cursor, fence) = (account.to_owned(), clip(cursor), fence.clone());
        let processed_at = now_utc();
        let _turn = self.write_turn().await;
        self.db
            .run(move |conn| {
                Ok(conn.transaction(|conn| {
                    // The fence first: nothing is written unless this instance still holds
                    // the account. It is a write, so on SQLite the transaction waits for the
                    // write lock before it reads, instead of failing when another connection
                    // commits between its first read and its first write.
                    fence.check(conn)?;
                    save_cursor(conn, &account, &cursor)?;
                    let mut deliverable = 0;
                    let mut existing: HashMap<String, (i64, ReceivedStatus)> = HashMap::new();
                    for ids in payments.chunks(LOOKUP) {
                        let ids: Vec<String> = ids.iter().map(|p| clip(&p.operation_id)).collect();
                        let found = rp::table
                            .filter(rp::operation_id.eq_any(ids))
                            .select((rp::operation_id, rp::id, rp::status))
                            .load::<(String, i64, String)>(conn)?;
                        existing
                            .extend(found.into_iter().map(|(op, id, st)| (op, (id, st.into()))));
                    }
                    let mut new = Vec::with_capacity(payments.len());
                    for p in &payments {
                        let operation_id = clip(&p.operation_id);
                        match existing.get(&operation_id) {
                            // A payment between two watched accounts belongs to the
                            // receiver: its listener takes over the sender's `outgoing` row.
                            Some((id, old))
                                if *id != 0
                                    && *old == ReceivedStatus::Outgoing
                                    && p.status != ReceivedStatus::Outgoing =>
                            {
                                diesel::update(rp::table.find(*id))
                                    .set((
                                        rp::status.eq(p.status.as_str()),
                                        rp::account.eq(&p.account),
                                        rp::route.eq(&p.route),
                                        rp::last_error.eq(&p.last_error),
                                    ))
                                    .execute(conn)?;
                                existing.insert(operation_id, (*id, p.status.clone()));
                                if p.status == ReceivedStatus::Pending {
                                    deliverable += 1;
                                }
                                continue;
                            }
                            Some(_) => continue,
                            None => {}
                        }
                        // The same operation twice in one batch is recorded once.
                        existing.insert(operation_id, (0, p.status.clone()));
                        if p.status == ReceivedStatus::Pending {
                            deliverable += 1;
                        }
                        new.push(p.clipped());
                    }
                    for row in new {
                        diesel::insert_into(rp::table)
                            .values((row, rp::processed_at.eq(processed_at)))
                            .execute(conn)?;
                    }
                    Ok::<_, LeaseWriteError>(deliverable)
                }))
            })
            .await?
    }

    /// How many operations are recorded for `account`, whatever their status.
    ///
    /// # Errors
    /// Database failures.
    pub async fn count(&self, account: &str) -> Result<usize, DbError> {
        let account = account.to_owned();
        let count: i64 = self
            .db
            .run(move |conn| {
                Ok(rp::table
                    .filter(rp::account.eq(account))
                    .count()
                    .get_result(conn)?)
            })
            .await?;
        Ok(usize::try_from(count).unwrap_or(0))
    }

    /// Claims up to `limit` payments due now (oldest first) for `claimant`, for `ttl` by the
    /// database's clock: each row with a compare-and-set on its own claim (still due, no
    /// current claim), all in one statement, so that several instances deliver in parallel
    /// and never two the same payment. A claim whose
    /// holder died lapses after `ttl`; its payment is then due again.
    ///
    /// # Errors
    /// Database failures.
    pub async fn claim_due(
        &self,
        claimant: &str,
        limit: usize,
        ttl: std::time::Duration,
    ) -> Result<Vec<ReceivedPayment>, DbError> {
        let claimant = claimant.to_owned();
        let ttl = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX);
        let _turn = self.write_turn().await;
        self.db
            .run(move |conn| {
                // Another instance may take the same candidates first: then look again.
                for _ in 0..3 {
                    let now = clock_ms(conn)?;
                    let candidates = due_candidates(conn, now, limit)?;
                    if candidates.is_empty() {
                        return Ok(Vec::new());
                    }
                    // Each row is claimed on its own terms (still due, claim lapsed), in one
                    // statement: the row lock makes it a compare-and-set per row.
                    let until = now.saturating_add(ttl);
                    let taken = diesel::update(
                        rp::table
                            .filter(rp::id.eq_any(&candidates))
                            .filter(rp::status.eq_any(DUE_STATUSES))
                            .filter(rp::claimed_until.lt(now)),
                    )
                    .set((rp::claimed_by.eq(&claimant), rp::claimed_until.eq(until)))
                    .execute(conn)?;
                    if taken > 0 {
                        return Ok(rp::table
                            .filter(rp::id.eq_any(&candidates))
                            .filter(rp::claimed_by.eq(&claimant))
                            .filter(rp::claimed_until.eq(until))
                            .order(rp::id.asc())
                            .select(ReceivedPayment::as_select())
                            .load::<ReceivedPayment>(conn)?);
                    }
                }
                Ok(Vec::new())
            })
            .await
    }

    /// Claims payment `id` for `claimant` whatever its status (`/reprocess`), unless another
    /// instance's claim on it is current; `false` then.
    ///
    /// # Errors
    /// Database failures.
    pub async fn claim_one(
        &self,
        id: i64,
        claimant: &str,
        ttl: std::time::Duration,
    ) -> Result<bool, DbError> {
        let claimant = claimant.to_owned();
        let ttl = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX);
        let _turn = self.write_turn().await;
        self.db
            .run(move |conn| {
                let now = clock_ms(conn)?;
                let taken = diesel::update(rp::table.find(id).filter(rp::claimed_until.lt(now)))
                    .set((
                        rp::claimed_by.eq(&claimant),
                        rp::claimed_until.eq(now.saturating_add(ttl)),
                    ))
                    .execute(conn)?;
                Ok(taken == 1)
            })
            .await
    }

    /// Gives up claims without an outcome (deliveries abandoned at shutdown), so that the
    /// next instance delivers those payments at once rather than after the claim lapses.
    ///
    /// # Errors
    /// Database failures.
    pub async fn release_claims(&self, claimant: &str, ids: Vec<i64>) -> Result<(), DbError> {
        if ids.is_empty() {
            return Ok(());
        }
        let claimant = claimant.to_owned();
        let _turn = self.write_turn().await;
        self.db
            .run(move |conn| {
                for ids in ids.chunks(LOOKUP) {
                    diesel::update(
                        rp::table
                            .filter(rp::id.eq_any(ids))
                            .filter(rp::claimed_by.eq(&claimant)),
                    )
                    .set((
                        rp::claimed_by.eq(None::<String>),
                        rp::claimed_until.eq(0_i64),
                    ))
                    .execute(conn)?;
                }
                Ok(())
            })
            .await
    }

    /// The earliest `next_attempt_at` of a pending payment.
    ///
    /// # Errors
    /// Database failures.
    pub async fn next_due(&self) -> Result<Option<i64>, DbError> {
        self.db
            .run(move |conn| {
                // Claimed payments are another worker's until their outcome is written.
                Ok(rp::table
                    .filter(rp::status.eq_any(DUE_STATUSES))
                    .filter(rp::claimed_by.is_null())
                    .select(diesel::dsl::min(rp::next_attempt_at))
                    .first::<Option<i64>>(conn)?)
            })
            .await
    }

    /// Pending payments of `account` (the delivery backlog).
    ///
    /// # Errors
    /// Database failures.
    pub async fn backlog(&self, account: &str) -> Result<i64, DbError> {
        let account = account.to_owned();
        self.db
            .run(move |conn| {
                Ok(rp::table
                    .filter(rp::status.eq(ReceivedStatus::Pending.as_str()))
                    .filter(rp::account.eq(account))
                    .count()
                    .get_result(conn)?)
            })
            .await
    }

    /// How delivery stands for `account`: backlog, the oldest undelivered payment's age, and
    /// the payments given up.
    ///
    /// # Errors
    /// Database failures.
    pub async fn delivery_status(&self, account: &str) -> Result<DeliveryStatus, DbError> {
        let account = account.to_owned();
        let (backlog, oldest, failed) = self
            .db
            .run(move |conn| {
                let pending = rp::table
                    .filter(rp::status.eq(ReceivedStatus::Pending.as_str()))
                    .filter(rp::account.eq(&account));
                let backlog: i64 = pending.count().get_result(conn)?;
                let oldest: Option<PrimitiveDateTime> = pending
                    .select(diesel::dsl::min(rp::processed_at))
                    .first(conn)?;
                let failed: i64 = rp::table
                    .filter(rp::status.eq_any([
                        ReceivedStatus::Failing.as_str(),
                        ReceivedStatus::Failed.as_str(),
                    ]))
                    .filter(rp::account.eq(&account))
                    .count()
                    .get_result(conn)?;
                Ok((backlog, oldest, failed))
            })
            .await?;
        let oldest_undelivered_seconds =
            oldest.map_or(0, |at| (now_utc() - at).whole_seconds().max(0));
        Ok(DeliveryStatus {
            backlog,
            oldest_undelivered_seconds,
            failed,
        })
    }

    /// Stores the outcome of an attempt made under `claimant`'s claim, and ends the claim.
    ///
    /// # Errors
    /// Database failures.
    pub async fn finish_attempt(
        &self,
        claimant: &str,
        id: i64,
        outcome: Outcome,
        answer: Option<CallbackAnswer>,
    ) -> Result<(), DbError> {
        self.finish_attempts(
            claimant,
            vec![(id, outcome)],
            answer.map(|a| vec![(id, a)]).unwrap_or_default(),
        )
        .await
        .map(drop)
    }

    /// Stores several attempts' outcomes in one transaction, each only if `claimant` still
    /// holds its claim (one that lapsed is another instance's now), and ends the claims.
    /// Deliveries that sent the same route and data (e.g. every payment with the same memo)
    /// are marked in one statement. The callbacks' `answers` go to the delivery history in
    /// the same transaction, whether or not their claims held (the calls happened). Returns
    /// how many outcomes were written.
    ///
    /// # Errors
    /// Database failures; then nothing was written.
    pub async fn finish_attempts(
        &self,
        claimant: &str,
        outcomes: Vec<(i64, Outcome)>,
        answers: Vec<(i64, CallbackAnswer)>,
    ) -> Result<usize, DbError> {
        let now = now_utc();
        let claimant = claimant.to_owned();
        let _turn = self.write_turn().await;
        self.db
            .run(move |conn| {
                conn.transaction(|conn| {
                    // One statement per row: MultiConnection has no multi-row insert.
                    for (payment, a) in &answers {
                        diesel::insert_into(da::table)
                            .values((
                                da::payment.eq(*payment),
                                da::at.eq(a.at_ms),
                                da::instance.eq(claimant.as_str()),
                                da::callback.eq(a.callback),
                                da::http_status.eq(a.status.map(i32::from)),
                                da::answer.eq(a.answer.as_str()),
                            ))
                            .execute(conn)?;
                    }
                    let mut written = 0;
                    let mut delivered: HashMap<(String, Option<String>), Vec<i64>> = HashMap::new();
                    for (id, outcome) in outcomes {
                        match outcome {
                            Outcome::Delivered { route, data } => {
                                delivered.entry((route, data)).or_default().push(id);
                            }
                            other => written += write_outcome(conn, &claimant, id, other)?,
                        }
                    }
                    for ((route, data), ids) in delivered {
                        for ids in ids.chunks(LOOKUP) {
                            written += write_delivered(
                                conn,
                                &claimant,
                                ids,
                                &route,
                                data.as_deref(),
                                now,
                            )?;
                        }
                    }
                    Ok::<_, DbError>(written)
                })
            })
            .await
    }

    /// One payment by row id.
    ///
    /// # Errors
    /// Database failures.
    pub async fn by_id(&self, id: i64) -> Result<Option<ReceivedPayment>, DbError> {
        self.db
            .run(move |conn| {
                Ok(rp::table
                    .find(id)
                    .select(ReceivedPayment::as_select())
                    .first::<ReceivedPayment>(conn)
                    .optional()?)
            })
            .await
    }

    /// One payment by operation id.
    ///
    /// # Errors
    /// Database failures.
    pub async fn by_operation_id(
        &self,
        operation_id: &str,
    ) -> Result<Option<ReceivedPayment>, DbError> {
        let operation_id = clip(operation_id);
        self.db
            .run(move |conn| {
                Ok(rp::table
                    .filter(rp::operation_id.eq(operation_id))
                    .select(ReceivedPayment::as_select())
                    .first::<ReceivedPayment>(conn)
                    .optional()?)
            })
            .await
    }

    /// A page of payments, newest first.
    ///
    /// # Errors
    /// Database failures.
    pub async fn page(&self, offset: i64, limit: i64) -> Result<Vec<ReceivedPayment>, DbError> {
        self.db
            .run(move |conn| {
                Ok(rp::table
                    .order(rp::id.desc())
                    .offset(offset)
                    .limit(limit)
                    .select(ReceivedPayment::as_select())
                    .load::<ReceivedPayment>(conn)?)
            })
            .await
    }

    /// Payments matching `filter`, newest first, `limit` from `offset`: the console's list,
    /// each filter an index range (status, account, transaction) at any table size.
    ///
    /// # Errors
    /// Database failures.
    pub async fn search(
        &self,
        filter: ReceivedFilter,
        offset: i64,
        limit: i64,
    ) -> Result<Vec<ReceivedPayment>, DbError> {
        self.db
            .read(move |conn| {
                let mut query = rp::table.into_boxed();
                if let Some(status) = filter.status {
                    query = query.filter(rp::status.eq(status));
                }
                if let Some(account) = filter.account {
                    query = query.filter(rp::account.eq(account));
                }
                if let Some(code) = filter.asset_code {
                    query = match code.as_str() {
                        "XLM" | "native" => query.filter(rp::asset_code.is_null()),
                        _ => query.filter(rp::asset_code.eq(code)),
                    };
                }
                if let Some(since) = filter.since {
                    query = query.filter(rp::processed_at.ge(since));
                }
                if let Some(before) = filter.before {
                    query = query.filter(rp::processed_at.lt(before));
                }
                if let Some(text) = filter.text {
                    query = query.filter(
                        rp::transaction_id
                            .eq(text.clone())
                            .or(rp::operation_id.eq(text.clone()))
                            .or(rp::memo.eq(text.clone()))
                            .or(rp::route.eq(text)),
                    );
                }
                Ok(query
                    .order(rp::id.desc())
                    .offset(offset)
                    .limit(limit)
                    .select(ReceivedPayment::as_select())
                    .load::<ReceivedPayment>(conn)?)
            })
            .await
    }

    /// The callbacks' answers for payment row `payment`, newest first, at most `limit`.
    ///
    /// # Errors
    /// Database failures.
    pub async fn answers(
        &self,
        payment: i64,
        limit: i64,
    ) -> Result<Vec<(i64, String, String, Option<i32>, String)>, DbError> {
        self.db
            .read(move |conn| {
                Ok(da::table
                    .filter(da::payment.eq(payment))
                    .order(da::id.desc())
                    .limit(limit)
                    .select((
                        da::at,
                        da::instance,
                        da::callback,
                        da::http_status,
                        da::answer,
                    ))
                    .load(conn)?)
            })
            .await
    }

    /// Payments recorded and delivered in each of the `minutes` minutes up to now, oldest
    /// first (the console's chart): one indexed range count per minute and column.
    ///
    /// # Errors
    /// Database failures.
    pub async fn per_minute(&self, minutes: u32) -> Result<(Vec<u64>, Vec<u64>), DbError> {
        let now = now_utc();
        let end = now
            .replace_second(0)
            .unwrap_or(now)
            .replace_nanosecond(0)
            .unwrap_or(now)
            + time::Duration::minutes(1);
        self.db
            .read(move |conn| {
                let (mut received, mut delivered) = (Vec::new(), Vec::new());
                for k in (1..=i64::from(minutes)).rev() {
                    let from = end - time::Duration::minutes(k);
                    let to = from + time::Duration::minutes(1);
                    let r: i64 = rp::table
                        .filter(rp::processed_at.ge(from).and(rp::processed_at.lt(to)))
                        .count()
                        .get_result(conn)?;
                    let d: i64 = rp::table
                        .filter(rp::delivered_at.ge(from).and(rp::delivered_at.lt(to)))
                        .count()
                        .get_result(conn)?;
                    received.push(u64::try_from(r).unwrap_or(0));
                    delivered.push(u64::try_from(d).unwrap_or(0));
                }
                Ok((received, delivered))
            })
            .await
    }

    /// Every payment of `account`, oldest first (tests, audits).
    ///
    /// # Errors
    /// Database failures.
    pub async fn all(&self, account: &str) -> Result<Vec<ReceivedPayment>, DbError> {
        let account = account.to_owned();
        self.db
            .run(move |conn| {
                Ok(rp::table
                    .filter(rp::account.eq(account))
                    .order(rp::id.asc())
                    .select(ReceivedPayment::as_select())
                    .load::<ReceivedPayment>(conn)?)
            })
            .await
    }

    /// Fills in what reading a payment's transaction told (memo, route, a merge's amount) and,
    /// when it turns out not to be deliverable, its status; the payment as it now stands.
    ///
    /// # Errors
    /// Database failures; then nothing was written.
    pub async fn complete(
        &self,
        id: i64,
        read: NewReceived,
    ) -> Result<Option<ReceivedPayment>, DbError> {
        let _turn = self.write_turn().await;
        self.db
            .run(move |conn| {
                conn.transaction(|conn| {
                    diesel::update(rp::table.find(id))
                        .set((
                            rp::memo_type.eq(read.memo_type.as_deref().map(clip)),
                            rp::memo.eq(&read.memo),
                            rp::route.eq(&read.route),
                            rp::amount.eq(read.amount.as_deref().map(clip)),
                            rp::last_error.eq(&read.last_error),
                        ))
                        .execute(conn)?;
                    if read.status != ReceivedStatus::Pending {
                        diesel::update(rp::table.find(id))
                            .set(rp::status.eq(read.status.as_str()))
                            .execute(conn)?;
                    }
                    Ok::<_, DbError>(
                        rp::table
                            .find(id)
                            .select(ReceivedPayment::as_select())
                            .first::<ReceivedPayment>(conn)
                            .optional()?,
                    )
                })
            })
            .await
    }

    /// Marks a payment as being reprocessed (status `pending`, due now, attempts kept).
    ///
    /// # Errors
    /// Database failures.
    pub async fn set_status(&self, id: i64, new_status: ReceivedStatus) -> Result<(), DbError> {
        let _turn = self.write_turn().await;
        self.db
            .run(move |conn| {
                diesel::update(rp::table.find(id))
                    .set(rp::status.eq(String::from(new_status)))
                    .execute(conn)?;
                Ok(())
            })
            .await
    }
}

/// Ends a claim along with the outcome.
fn unclaimed() -> (
    diesel::dsl::Eq<rp::claimed_by, Option<String>>,
    diesel::dsl::Eq<rp::claimed_until, i64>,
) {
    (
        rp::claimed_by.eq(None::<String>),
        rp::claimed_until.eq(0_i64),
    )
}

fn write_outcome(
    conn: &mut service::AnyConnection,
    claimant: &str,
    id: i64,
    outcome: Outcome,
) -> Result<usize, DbError> {
    let row = rp::table.find(id).filter(rp::claimed_by.eq(claimant));
    let attempts = rp::attempts.eq(rp::attempts + 1);
    Ok(match outcome {
        Outcome::Delivered { route, data } => {
            write_delivered(conn, claimant, &[id], &route, data.as_deref(), now_utc())?
        }
        Outcome::Retry {
            error,
            next_attempt_at,
        } => diesel::update(row)
            .set((
                attempts,
                rp::last_error.eq(error),
                rp::next_attempt_at.eq(next_attempt_at),
                unclaimed(),
            ))
            .execute(conn)?,
        Outcome::GiveUp { error } => diesel::update(row)
            .set((
                attempts,
                rp::status.eq(ReceivedStatus::Failing.as_str()),
                rp::last_error.eq(error),
                rp::next_attempt_at.eq(now_ms()),
                unclaimed(),
            ))
            .execute(conn)?,
        Outcome::Failed { error } => diesel::update(row)
            .set((
                attempts,
                rp::status.eq(ReceivedStatus::Failed.as_str()),
                rp::last_error.eq(error),
                unclaimed(),
            ))
            .execute(conn)?,
    })
}

/// Marks payments `ids` delivered with `route` and `data`, those `claimant` still holds.
/// The ids of the `limit` earliest due payments not claimed by anyone at `now` (the database's
/// clock), earliest due first. One query per due status, each reading the index
/// `(status, next_attempt_at, id)` in order and stopping after `limit` rows; with both statuses
/// in one `IN` every backend read and sorted every pending row on each claim (50 ms at 100 000
/// pending on SQLite, a backlog delivered ten times slower). Payments never tried (due at 0)
/// come first.
fn due_candidates(
    conn: &mut service::AnyConnection,
    now: i64,
    limit: usize,
) -> Result<Vec<i64>, DbError> {
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let mut due = Vec::new();
    for status in DUE_STATUSES {
        due.extend(
            rp::table
                .filter(rp::status.eq(status))
                .filter(rp::next_attempt_at.le(now_ms()))
                .filter(rp::claimed_until.lt(now))
                .order((rp::next_attempt_at.asc(), rp::id.asc()))
                .limit(limit)
                .select((rp::next_attempt_at, rp::id))
                .load::<(i64, i64)>(conn)?,
        );
    }
    due.sort_unstable();
    Ok(due
        .into_iter()
        .take(usize::try_from(limit).unwrap_or(usize::MAX))
        .map(|(_, id)| id)
        .collect())
}

fn write_delivered(
    conn: &mut service::AnyConnection,
    claimant: &str,
    ids: &[i64],
    route: &str,
    data: Option<&str>,
    at: PrimitiveDateTime,
) -> Result<usize, DbError> {
    Ok(diesel::update(
        rp::table
            .filter(rp::id.eq_any(ids))
            .filter(rp::claimed_by.eq(claimant)),
    )
    .set((
        rp::attempts.eq(rp::attempts + 1),
        rp::status.eq(ReceivedStatus::Success.as_str()),
        rp::route.eq(route),
        rp::data.eq(data),
        rp::last_error.eq(None::<String>),
        rp::delivered_at.eq(Some(at)),
        unclaimed(),
    ))
    .execute(conn)?)
}

fn save_cursor(
    conn: &mut service::AnyConnection,
    account: &str,
    token: &str,
) -> Result<(), DbError> {
    let updated = diesel::update(rc::table.find(account))
        .set((
            rc::paging_token.eq(token),
            rc::updated_at.eq(diesel::dsl::now),
        ))
        .execute(conn)?;
    if updated == 0 {
        diesel::insert_into(rc::table)
            .values((
                rc::account.eq(account),
                rc::paging_token.eq(token),
                rc::updated_at.eq(diesel::dsl::now),
            ))
            .execute(conn)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_as_go_writes_it() {
        let date = time::Date::from_calendar_date(2026, time::Month::November, 21).unwrap();
        let at = |h, m, s, micro| {
            PrimitiveDateTime::new(date, time::Time::from_hms_micro(h, m, s, micro).unwrap())
        };
        assert_eq!(format_rfc3339(&at(9, 5, 3, 0)), "2026-11-21T09:05:03Z");
        assert_eq!(
            format_rfc3339(&at(23, 59, 59, 120_000)),
            "2026-11-21T23:59:59.12Z"
        );
        assert_eq!(now_utc().nanosecond() % 1_000, 0);
    }
}
