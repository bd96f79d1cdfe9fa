//! `sent_transaction`: every envelope is stored, signed, before it is submitted, so a crash or
//! a timeout can never lead to building a second payment while the first may still land.

use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use service::{Database, DbError};

use crate::schema::sent_transaction as st;

/// Where a sent transaction stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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

    fn parse(s: &str) -> Self {
        match s {
            "success" => Self::Success,
            "failure" => Self::Failure,
            "pending" => Self::Pending,
            _ => Self::Sending,
        }
    }
}

/// One row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentTransaction {
    /// Row id.
    pub id: i64,
    /// The caller's payment id.
    pub payment_id: Option<String>,
    /// Hex transaction hash.
    pub hash: String,
    /// Status.
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
    pub request_digest: Option<String>,
    /// The transaction's upper time bound (unix seconds).
    pub max_time: i64,
    /// Horizon's `result_codes` JSON, for failures.
    pub result_codes: Option<String>,
}

type Row = (
    i64,
    Option<String>,
    String,
    String,
    String,
    Option<i64>,
    String,
    Option<String>,
    Option<String>,
    i64,
    Option<String>,
);

fn columns() -> (
    st::id,
    st::payment_id,
    st::transaction_id,
    st::status,
    st::source,
    st::ledger,
    st::envelope_xdr,
    st::result_xdr,
    st::request_digest,
    st::max_time,
    st::result_codes,
) {
    (
        st::id,
        st::payment_id,
        st::transaction_id,
        st::status,
        st::source,
        st::ledger,
        st::envelope_xdr,
        st::result_xdr,
        st::request_digest,
        st::max_time,
        st::result_codes,
    )
}

fn from_row(r: Row) -> SentTransaction {
    SentTransaction {
        id: r.0,
        payment_id: r.1,
        hash: r.2,
        status: SentStatus::parse(&r.3),
        source: r.4,
        ledger: r.5,
        envelope_xdr: r.6,
        result_xdr: r.7,
        request_digest: r.8,
        max_time: r.9,
        result_codes: r.10,
    }
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

/// What to store before submitting.
#[derive(Debug, Clone)]
pub struct NewSent {
    /// The caller's id.
    pub payment_id: Option<String>,
    /// Hex hash.
    pub hash: String,
    /// Source account.
    pub source: String,
    /// Signed envelope.
    pub envelope_xdr: String,
    /// Request digest.
    pub request_digest: Option<String>,
    /// Upper time bound.
    pub max_time: i64,
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
                    .select(columns())
                    .get_result::<Row>(conn)
                    .optional()?
                    .map(from_row))
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
                let inserted = diesel::insert_into(st::table)
                    .values((
                        st::payment_id.eq(&new.payment_id),
                        st::transaction_id.eq(&new.hash),
                        st::status.eq(SentStatus::Sending.as_str()),
                        st::source.eq(&new.source),
                        st::submitted_at.eq(diesel::dsl::now),
                        st::envelope_xdr.eq(&new.envelope_xdr),
                        st::request_digest.eq(&new.request_digest),
                        st::max_time.eq(new.max_time),
                    ))
                    .execute(conn);
                let query = st::table
                    .select(columns())
                    .order(st::id.desc())
                    .into_boxed();
                let query = match &new.payment_id {
                    Some(id) => query.filter(st::payment_id.eq(id.clone())),
                    None => query.filter(st::transaction_id.eq(new.hash.clone())),
                };
                match inserted {
                    Ok(_) => Ok(Ok(from_row(query.first::<Row>(conn)?))),
                    Err(DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _)) => {
                        Ok(Err(AlreadyStored(from_row(query.first::<Row>(conn)?))))
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
