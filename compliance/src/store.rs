//! The compliance tables. Every write that an answer depends on happens before the answer.

use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use service::{Database, DbError};

use crate::schema::{allowed_fi, allowed_user, auth_data, authorized_transaction};

/// An approved transaction as stored.
#[derive(Debug, Clone, PartialEq, Eq, Queryable)]
pub struct Authorized {
    /// Hex hash of the sequence-0 transaction.
    pub transaction_id: String,
    /// Base64 memo hash (as Horizon shows memos).
    pub memo: String,
    /// The raw AuthData JSON as received.
    pub data: String,
}

/// An approved transaction as the console lists it.
#[derive(Debug, Clone, Queryable)]
pub struct AuthorizedRow {
    /// Row id.
    pub id: i64,
    /// Hex hash of the sequence-0 transaction.
    pub transaction_id: String,
    /// Base64 memo hash.
    pub memo: String,
    /// When it was approved (UTC).
    pub authorized_at: time::PrimitiveDateTime,
    /// The AuthData JSON as received (the sender's customer data: shown to compliance
    /// officers only).
    pub data: String,
}

/// One allow-list entry: a whole institution (`user_id` `None`) or one of its users.
#[derive(Debug, Clone)]
pub struct Allowance {
    /// The institution's name.
    pub name: String,
    /// Its domain.
    pub domain: String,
    /// Its signing key.
    pub public_key: String,
    /// The user, for a user entry.
    pub user_id: Option<String>,
    /// When it was allowed (UTC).
    pub allowed_at: time::PrimitiveDateTime,
}

/// An auth request as sent for a payment id: stored before it is sent, resent as is.
#[derive(Debug, Clone, PartialEq, Eq, Queryable)]
pub struct Sent {
    /// The receiver's domain.
    pub domain: String,
    /// The exact AuthData JSON that was signed.
    pub data: String,
    /// The digest of the `/send` request; `None` for rows from before digests were kept
    /// (legacy rows), which are resent as the legacy server did.
    pub request_digest: Option<String>,
}

/// Database access for the compliance server; cheap to clone.
#[derive(Debug, Clone)]
pub struct Store {
    db: Database,
}

/// Whether a write failed on a unique index (another request stored the row first).
pub(crate) fn is_unique_violation(e: &DieselError) -> bool {
    matches!(
        e,
        DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _)
    )
}

impl Store {
    /// A store over a migrated database.
    pub fn new(db: Database) -> Self {
        Self { db }
    }

    /// The database (for health checks).
    pub fn database(&self) -> &Database {
        &self.db
    }

    /// The approval stored for a transaction hash, if any.
    ///
    /// # Errors
    /// Database failures.
    pub async fn authorized(&self, transaction_id: &str) -> Result<Option<Authorized>, DbError> {
        let id = transaction_id.to_owned();
        // Every AUTH request asks this first (a repeat is answered from it), and the unique
        // index makes it a point read: cheap enough for the worker thread on SQLite.
        self.db
            .read(move |conn| {
                Ok(authorized_transaction::table
                    .filter(authorized_transaction::transaction_id.eq(id))
                    .select((
                        authorized_transaction::transaction_id,
                        authorized_transaction::memo,
                        authorized_transaction::data,
                    ))
                    .get_result::<Authorized>(conn)
                    .optional()?)
            })
            .await
    }

    /// Stores an approval. A concurrent identical request that stored it first is not an
    /// error: the row exists, which is all the caller needs.
    ///
    /// # Errors
    /// Database failures.
    pub async fn save_authorized(
        &self,
        record: Authorized,
        transaction_xdr: String,
    ) -> Result<(), DbError> {
        self.db
            .run(move |conn| {
                let inserted = diesel::insert_into(authorized_transaction::table)
                    .values((
                        authorized_transaction::transaction_id.eq(record.transaction_id),
                        authorized_transaction::memo.eq(record.memo),
                        authorized_transaction::transaction_xdr.eq(transaction_xdr),
                        authorized_transaction::authorized_at.eq(diesel::dsl::now),
                        authorized_transaction::data.eq(record.data),
                    ))
                    .execute(conn);
                match inserted {
                    Err(e) if is_unique_violation(&e) => Ok(()),
                    other => other.map(drop).map_err(DbError::from),
                }
            })
            .await
    }

    /// The AuthData of the approved transaction whose memo is `memo` (base64).
    ///
    /// # Errors
    /// Database failures.
    pub async fn data_by_memo(&self, memo: &str) -> Result<Option<String>, DbError> {
        let memo = memo.to_owned();
        self.db
            .read(move |conn| {
                Ok(authorized_transaction::table
                    .filter(authorized_transaction::memo.eq(memo))
                    .select(authorized_transaction::data)
                    .order(authorized_transaction::id.desc())
                    .first::<String>(conn)
                    .optional()?)
            })
            .await
    }

    /// Whether a whole financial institution (by domain) is allowed to get our KYC.
    ///
    /// # Errors
    /// Database failures.
    pub async fn is_allowed(&self, domain: &str, user_id: &str) -> Result<bool, DbError> {
        let (domain, user_id) = (domain.to_owned(), user_id.to_owned());
        self.db
            .read(move |conn| {
                let fi: i64 = allowed_fi::table
                    .filter(allowed_fi::domain.eq(&domain))
                    .count()
                    .get_result(conn)?;
                if fi > 0 {
                    return Ok(true);
                }
                let user: i64 = allowed_user::table
                    .filter(allowed_user::fi_domain.eq(&domain))
                    .filter(allowed_user::user_id.eq(&user_id))
                    .count()
                    .get_result(conn)?;
                Ok(user > 0)
            })
            .await
    }

    /// Allows a financial institution, or one of its users when `user_id` is given.
    /// Allowing twice is not an error: the newer name and key replace the older.
    ///
    /// # Errors
    /// Database failures.
    pub async fn allow(
        &self,
        name: String,
        domain: String,
        public_key: String,
        user_id: Option<String>,
    ) -> Result<(), DbError> {
        self.db
            .run(move |conn| {
                conn.transaction(|conn| match user_id {
                    None => {
                        diesel::delete(allowed_fi::table.filter(allowed_fi::domain.eq(&domain)))
                            .execute(conn)?;
                        diesel::insert_into(allowed_fi::table)
                            .values((
                                allowed_fi::name.eq(name),
                                allowed_fi::domain.eq(domain),
                                allowed_fi::public_key.eq(public_key),
                                allowed_fi::allowed_at.eq(diesel::dsl::now),
                            ))
                            .execute(conn)
                            .map(drop)
                    }
                    Some(user_id) => {
                        diesel::delete(
                            allowed_user::table
                                .filter(allowed_user::fi_domain.eq(&domain))
                                .filter(allowed_user::user_id.eq(&user_id)),
                        )
                        .execute(conn)?;
                        diesel::insert_into(allowed_user::table)
                            .values((
                                allowed_user::fi_name.eq(name),
                                allowed_user::fi_domain.eq(domain),
                                allowed_user::fi_public_key.eq(public_key),
                                allowed_user::user_id.eq(user_id),
                                allowed_user::allowed_at.eq(diesel::dsl::now),
                            ))
                            .execute(conn)
                            .map(drop)
                    }
                })?;
                Ok(())
            })
            .await
    }

    /// Removes an allowance; removing what is not there is not an error.
    ///
    /// # Errors
    /// Database failures.
    pub async fn remove(&self, domain: String, user_id: Option<String>) -> Result<(), DbError> {
        self.db
            .run(move |conn| {
                match user_id {
                    None => diesel::delete(allowed_fi::table.filter(allowed_fi::domain.eq(domain)))
                        .execute(conn)?,
                    Some(user_id) => diesel::delete(
                        allowed_user::table
                            .filter(allowed_user::fi_domain.eq(domain))
                            .filter(allowed_user::user_id.eq(user_id)),
                    )
                    .execute(conn)?,
                };
                Ok(())
            })
            .await
    }

    /// Approved transactions newest first, `limit` from `offset` (the console's list).
    ///
    /// # Errors
    /// Database failures.
    pub async fn authorized_page(
        &self,
        offset: i64,
        limit: i64,
    ) -> Result<Vec<AuthorizedRow>, DbError> {
        use authorized_transaction as at;
        self.db
            .read(move |conn| {
                Ok(at::table
                    .order(at::id.desc())
                    .offset(offset)
                    .limit(limit)
                    .select((
                        at::id,
                        at::transaction_id,
                        at::memo,
                        at::authorized_at,
                        at::data,
                    ))
                    .load(conn)?)
            })
            .await
    }

    /// One approved transaction by row id.
    ///
    /// # Errors
    /// Database failures.
    pub async fn authorized_row(&self, id: i64) -> Result<Option<AuthorizedRow>, DbError> {
        use authorized_transaction as at;
        self.db
            .read(move |conn| {
                Ok(at::table
                    .find(id)
                    .select((
                        at::id,
                        at::transaction_id,
                        at::memo,
                        at::authorized_at,
                        at::data,
                    ))
                    .first(conn)
                    .optional()?)
            })
            .await
    }

    /// Every allow-list entry, institutions first then users, each by domain: the lists are
    /// written by hand and stay short.
    ///
    /// # Errors
    /// Database failures.
    pub async fn allowances(&self) -> Result<Vec<Allowance>, DbError> {
        self.db
            .read(move |conn| {
                let fis = allowed_fi::table
                    .order(allowed_fi::domain.asc())
                    .select((
                        allowed_fi::name,
                        allowed_fi::domain,
                        allowed_fi::public_key,
                        allowed_fi::allowed_at,
                    ))
                    .load::<(String, String, String, time::PrimitiveDateTime)>(conn)?;
                let users = allowed_user::table
                    .order((allowed_user::fi_domain.asc(), allowed_user::user_id.asc()))
                    .select((
                        allowed_user::fi_name,
                        allowed_user::fi_domain,
                        allowed_user::fi_public_key,
                        allowed_user::user_id,
                        allowed_user::allowed_at,
                    ))
                    .load::<(String, String, String, String, time::PrimitiveDateTime)>(conn)?;
                let fis = fis
                    .into_iter()
                    .map(|(name, domain, public_key, allowed_at)| Allowance {
                        name,
                        domain,
                        public_key,
                        user_id: None,
                        allowed_at,
                    });
                let users =
                    users
                        .into_iter()
                        .map(
                            |(name, domain, public_key, user_id, allowed_at)| Allowance {
                                name,
                                domain,
                                public_key,
                                user_id: Some(user_id),
                                allowed_at,
                            },
                        );
                Ok(fis.chain(users).collect())
            })
            .await
    }

    /// The AuthData sent for a payment id.
    ///
    /// # Errors
    /// Database failures.
    pub async fn sent(&self, request_id: &str) -> Result<Option<Sent>, DbError> {
        let id = request_id.to_owned();
        self.db
            .run(move |conn| {
                Ok(auth_data::table
                    .filter(auth_data::request_id.eq(id))
                    .select((
                        auth_data::domain,
                        auth_data::data,
                        auth_data::request_digest,
                    ))
                    .get_result::<Sent>(conn)
                    .optional()?)
            })
            .await
    }

    /// Stores the AuthData for a payment id before it is sent. When another request stored
    /// one first, that one wins and is returned: the caller compares digests.
    ///
    /// # Errors
    /// Database failures.
    pub async fn save_sent(&self, request_id: String, sent: Sent) -> Result<Sent, DbError> {
        self.db
            .run(move |conn| {
                let inserted = diesel::insert_into(auth_data::table)
                    .values((
                        auth_data::request_id.eq(&request_id),
                        auth_data::domain.eq(&sent.domain),
                        auth_data::data.eq(&sent.data),
                        auth_data::request_digest.eq(&sent.request_digest),
                    ))
                    .execute(conn);
                match inserted {
                    Ok(_) => Ok(sent),
                    Err(e) if is_unique_violation(&e) => Ok(auth_data::table
                        .filter(auth_data::request_id.eq(request_id))
                        .select((
                            auth_data::domain,
                            auth_data::data,
                            auth_data::request_digest,
                        ))
                        .get_result::<Sent>(conn)?),
                    Err(e) => Err(e.into()),
                }
            })
            .await
    }
}
