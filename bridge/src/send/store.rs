//! `sent_transaction`: every envelope is stored, signed, before it is submitted, so a crash or
//! a timeout can never lead to building a second payment while the first may still land.

use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use serde::Serialize;
use service::{Database, DbError};

use crate::schema::payment_request as pr;
use crate::schema::sent_transaction as st;

/// What claiming a payment id found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// First seen now.
    New,
    /// Claimed before by the same request: a repeat.
    Same,
    /// Claimed before by a different request: 409 `payment_id_conflict`.
    Different,
}

/// Where a sent transaction stands (the `status` column).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SentStatus {
    /// Stored, being submitted (or the process stopped while submitting).
    Sending,
    /// Submitted, outcome unknown (timeout, 5xx): ask Horizon by hash.
    Pending,
    /// In the ledger and successful.
    Success,
    /// Failed definitively (in the ledger with a failed result, or rejected).
    Failure,
}

impl SentStatus {
    /// The column value (`sending`, `success` and `failure` are the legacy ones).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sending => "sending",
            Self::Pending => "pending",
            Self::Success => "success",
            Self::Failure => "failure",
        }
    }
}

/// Read from the column; anything else is a transaction whose submission never finished.
impl From<String> for SentStatus {
    fn from(s: String) -> Self {
        match s.as_str() {
            "success" => Self::Success,
            "failure" => Self::Failure,
            "pending" => Self::Pending,
            _ => Self::Sending,
        }
    }
}

impl From<SentStatus> for String {
    fn from(status: SentStatus) -> Self {
        status.as_str().to_owned()
    }
}

/// One row, as the submitter reads it and `/admin/sent-transactions` shows it (plain JSON
/// fields, without the bookkeeping of exactly-once sending).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Queryable, Selectable)]
#[diesel(table_name = st)]
pub struct SentTransaction {
    /// Row id.
    pub id: i64,
    /// The caller's payment id.
    pub payment_id: Option<String>,
    /// Hex transaction hash.
    #[diesel(column_name = transaction_id)]
    #[serde(rename = "transaction_id")]
    pub hash: String,
    /// Status.
    #[diesel(deserialize_as = String)]
    pub status: SentStatus,
    /// Source account.
    pub source: String,
    /// Ledger, when in the ledger.
    pub ledger: Option<i64>,
    /// The signed envelope.
    pub envelope_xdr: String,
    /// Result XDR, when known.
    pub result_xdr: Option<String>,
    /// sha256 of the request that created it (a different request under the same id is 409).
    #[serde(skip)]
    pub request_digest: Option<String>,
    /// The transaction's upper time bound (unix seconds).
    #[serde(skip)]
    pub max_time: i64,
    /// Horizon's `result_codes` JSON, for failures.
    pub result_codes: Option<String>,
}

impl SentTransaction {
    /// A row the legacy Go bridge stored (adopted with its database): it has no request digest
    /// and no time bound (legacy envelopes had none; ours always have one). A repeated
    /// `/payment` under its id cannot be compared with the first request, so it is answered
    /// with what was sent under that id, as the legacy bridge did, and never rebuilt.
    pub fn is_legacy(&self) -> bool {
        self.request_digest.is_none() && self.max_time == 0
    }
}

/// What to store before submitting (status `sending`).
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = st)]
pub struct NewSent {
    /// The caller's id.
    pub payment_id: Option<String>,
    /// Hex hash.
    #[diesel(column_name = transaction_id)]
    pub hash: String,
    /// Always [`SentStatus::Sending`] (see [`NewSent::sending`]).
    #[diesel(serialize_as = String)]
    pub status: SentStatus,
    /// Source account.
    pub source: String,
    /// Signed envelope.
    pub envelope_xdr: String,
    /// Request digest.
    pub request_digest: Option<String>,
    /// Upper time bound.
    pub max_time: i64,
}

impl NewSent {
    /// A signed envelope about to be submitted.
    pub fn sending(
        payment_id: Option<String>,
        hash: String,
        source: String,
        envelope_xdr: String,
        request_digest: Option<String>,
        max_time: i64,
    ) -> Self {
        Self {
            payment_id,
            hash,
            status: SentStatus::Sending,
            source,
            envelope_xdr,
            request_digest,
            max_time,
        }
    }
}

/// An insert under a payment id that another request stored first.
#[derive(Debug)]
pub struct AlreadyStored(pub SentTransaction);

/// Database access; cheap to clone.
#[derive(Debug, Clone)]
pub struct Store {
    db: Database,
}

impl Store {
    /// A store over a migrated database.
    pub fn new(db: Database) -> Self {
        Self { db }
    }

    /// The database.
    pub fn database(&self) -> &Database {
        &self.db
    }

    /// The row for a payment id.
    ///
    /// # Errors
    /// Database failures.
    pub async fn by_payment_id(
        &self,
        payment_id: &str,
    ) -> Result<Option<SentTransaction>, DbError> {
        let id = payment_id.to_owned();
        self.db
            .run(move |conn| {
                // payment_id is unique: no LIMIT, so SQLite keeps the statement cached.
                Ok(st::table
                    .filter(st::payment_id.eq(id))
                    .select(SentTransaction::as_select())
                    .get_result(conn)
                    .optional()?)
            })
            .await
    }

    /// Claims a payment id for the request with `digest` (kept as `request`, its fields as JSON
    /// without secrets, for the console), before anything about it is sent:
    /// whether the id is new, already this request's, or another request's (a conflict). The
    /// database's primary key decides, so two requests (or two instances) racing on one id
    /// agree.
    ///
    /// # Errors
    /// Database failures.
    pub async fn claim(
        &self,
        payment_id: &str,
        digest: &str,
        request: &str,
    ) -> Result<Claim, DbError> {
        let (id, digest, request) = (payment_id.to_owned(), digest.to_owned(), request.to_owned());
        self.db
            .run(move |conn| {
                let inserted = diesel::insert_into(pr::table)
                    .values((
                        pr::payment_id.eq(&id),
                        pr::request_digest.eq(&digest),
                        pr::claimed_at.eq(diesel::dsl::now),
                        pr::request.eq(Some(request)),
                    ))
                    .execute(conn);
                match inserted {
                    Ok(_) => Ok(Claim::New),
                    Err(DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _)) => {
                        let stored: String = pr::table
                            .filter(pr::payment_id.eq(&id))
                            .select(pr::request_digest)
                            .get_result(conn)?;
                        Ok(if stored == digest {
                            Claim::Same
                        } else {
                            Claim::Different
                        })
                    }
                    Err(e) => Err(e.into()),
                }
            })
            .await
    }

    /// The request stored with payment id `payment_id` (JSON `[[name, value]…]`, without
    /// secrets), when it was claimed with one.
    ///
    /// # Errors
    /// Database failures.
    pub async fn request(&self, payment_id: &str) -> Result<Option<String>, DbError> {
        let id = payment_id.to_owned();
        self.db
            .read(move |conn| {
                Ok(pr::table
                    .filter(pr::payment_id.eq(id))
                    .select(pr::request)
                    .first::<Option<String>>(conn)
                    .optional()?
                    .flatten())
            })
            .await
    }

    /// Gives up a claim made by this very request (same digest) when it was refused before
    /// anything was sent, so that the app can correct the request and use the id again.
    ///
    /// # Errors
    /// Database failures.
    pub async fn release(&self, payment_id: &str, digest: &str) -> Result<(), DbError> {
        let (id, digest) = (payment_id.to_owned(), digest.to_owned());
        self.db
            .run(move |conn| {
                diesel::delete(
                    pr::table
                        .filter(pr::payment_id.eq(id))
                        .filter(pr::request_digest.eq(digest)),
                )
                .execute(conn)?;
                Ok(())
            })
            .await
    }

    /// Transactions in `status` (any when `None`) or matching `text` (payment id or hash),
    /// newest first: the console's list.
    ///
    /// # Errors
    /// Database failures.
    pub async fn search(
        &self,
        status: Option<String>,
        text: Option<String>,
        offset: i64,
        limit: i64,
    ) -> Result<Vec<SentTransaction>, DbError> {
        self.db
            .read(move |conn| {
                let mut query = st::table.into_boxed();
                if let Some(status) = status {
                    query = query.filter(st::status.eq(status));
                }
                if let Some(text) = text {
                    query = query.filter(
                        st::payment_id
                            .eq(text.clone())
                            .or(st::transaction_id.eq(text)),
                    );
                }
                Ok(query
                    .order(st::id.desc())
                    .offset(offset)
                    .limit(limit)
                    .select(SentTransaction::as_select())
                    .load(conn)?)
            })
            .await
    }

    /// One transaction by row id.
    ///
    /// # Errors
    /// Database failures.
    pub async fn by_row(&self, id: i64) -> Result<Option<SentTransaction>, DbError> {
        self.db
            .read(move |conn| {
                Ok(st::table
                    .find(id)
                    .select(SentTransaction::as_select())
                    .first(conn)
                    .optional()?)
            })
            .await
    }

    /// A page of sent transactions, newest first (`/admin/sent-transactions`).
    ///
    /// # Errors
    /// Database failures.
    pub async fn page(&self, offset: i64, limit: i64) -> Result<Vec<SentTransaction>, DbError> {
        self.db
            .run(move |conn| {
                Ok(st::table
                    .order(st::id.desc())
                    .offset(offset)
                    .limit(limit)
                    .select(SentTransaction::as_select())
                    .load(conn)?)
            })
            .await
    }

    /// Stores a signed envelope before it is submitted.
    ///
    /// # Errors
    /// `Ok(Err(AlreadyStored))` when another request stored this payment id first; database
    /// failures.
    pub async fn insert(
        &self,
        new: NewSent,
    ) -> Result<Result<SentTransaction, AlreadyStored>, DbError> {
        self.db
            .run(move |conn| {
                let query = st::table
                    .select(SentTransaction::as_select())
                    .order(st::id.desc())
                    .into_boxed();
                let query = match &new.payment_id {
                    Some(id) => query.filter(st::payment_id.eq(id.clone())),
                    None => query.filter(st::transaction_id.eq(new.hash.clone())),
                };
                let inserted = diesel::insert_into(st::table)
                    .values((new, st::submitted_at.eq(diesel::dsl::now)))
                    .execute(conn);
                match inserted {
                    Ok(_) => Ok(Ok(query.first(conn)?)),
                    Err(DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _)) => {
                        Ok(Err(AlreadyStored(query.first(conn)?)))
                    }
                    Err(e) => Err(e.into()),
                }
            })
            .await
    }

    /// Replaces the envelope of a row whose previous envelope can never be applied (rejected,
    /// or expired unseen).
    ///
    /// # Errors
    /// Database failures.
    pub async fn replace_envelope(
        &self,
        row_id: i64,
        hash: String,
        envelope_xdr: String,
        max_time: i64,
    ) -> Result<(), DbError> {
        self.db
            .run(move |conn| {
                diesel::update(st::table.find(row_id))
                    .set((
                        st::transaction_id.eq(hash),
                        st::envelope_xdr.eq(envelope_xdr),
                        st::max_time.eq(max_time),
                        st::status.eq(SentStatus::Sending.as_str()),
                        st::result_xdr.eq(None::<String>),
                        st::result_codes.eq(None::<String>),
                        st::submitted_at.eq(diesel::dsl::now),
                    ))
                    .execute(conn)?;
                Ok(())
            })
            .await
    }

    /// Replaces the envelope of a row by one around the same transaction (a fee bump): same
    /// hash, same sequence number, same time bound.
    ///
    /// # Errors
    /// Database failures.
    pub async fn set_envelope(&self, row_id: i64, envelope_xdr: String) -> Result<(), DbError> {
        self.db
            .run(move |conn| {
                diesel::update(st::table.find(row_id))
                    .set(st::envelope_xdr.eq(envelope_xdr))
                    .execute(conn)?;
                Ok(())
            })
            .await
    }

    /// Records the outcome.
    ///
    /// # Errors
    /// Database failures.
    pub async fn set_outcome(
        &self,
        row_id: i64,
        status: SentStatus,
        ledger: Option<i64>,
        result_xdr: Option<String>,
        result_codes: Option<String>,
    ) -> Result<(), DbError> {
        self.db
            .run(move |conn| {
                diesel::update(st::table.find(row_id))
                    .set((
                        st::status.eq(status.as_str()),
                        st::ledger.eq(ledger),
                        st::result_xdr.eq(result_xdr),
                        st::result_codes.eq(result_codes),
                    ))
                    .execute(conn)?;
                if status == SentStatus::Success {
                    diesel::update(st::table.find(row_id))
                        .set(st::succeeded_at.eq(diesel::dsl::now.nullable()))
                        .execute(conn)?;
                }
                Ok(())
            })
            .await
    }
}
