//! The SEP-31 tables: customers (SEP-12), transactions we receive, payments we send.
//!
//! Every transition that must happen once is an `UPDATE … WHERE` on the state it leaves, so
//! several instances on one database agree on who made it.

use diesel::prelude::*;
use service::{Database, DbError};

use crate::schema::{sep12_customer, sep31_outgoing, sep31_transaction};
use crate::store::is_unique_violation;

fn now() -> i64 {
    i64::try_from(super::now()).unwrap_or(i64::MAX)
}

/// A SEP-12 customer as stored.
#[derive(Debug, Clone, PartialEq, Eq, Queryable)]
pub struct Customer {
    /// Our id for it (a UUID).
    pub customer_id: String,
    /// The authenticated account that registered it.
    pub account: String,
    /// The memo it was registered under ("" for none).
    pub memo: String,
    /// `sep31-sender` or `sep31-receiver`.
    pub kind: String,
    /// Its SEP-9 fields, a JSON object.
    pub fields: String,
    /// `NEEDS_INFO`, `PROCESSING`, `ACCEPTED` or `REJECTED`.
    pub status: String,
    /// Why, for the sender.
    pub message: Option<String>,
    /// The fields our back office asked to be sent again, comma-separated.
    pub needs: String,
    /// While `PROCESSING`: when to ask the back office again (unix seconds).
    pub ask_after: i64,
}

/// A transaction a SEP-31 sender created with us.
#[derive(Debug, Clone, PartialEq, Eq, Queryable)]
pub struct Received {
    /// Our id for it (a UUID).
    pub transaction_id: String,
    /// The authenticated account that created it.
    pub client: String,
    /// The sender customer.
    pub sender_id: String,
    /// The receiver customer.
    pub receiver_id: String,
    /// What the sender pays.
    pub amount_in: String,
    /// Our fee, out of `amount_in`.
    pub amount_fee: String,
    /// The asset paid.
    pub asset_code: String,
    /// Its issuer.
    pub asset_issuer: String,
    /// The hash memo the payment carries (base64).
    pub memo: String,
    /// The SEP-31 status.
    pub status: String,
    /// A message for the sender (why `error`, what to update).
    pub message: Option<String>,
    /// The hash of the payment's transaction, once it arrived.
    pub stellar_transaction_id: Option<String>,
    /// The payment operation's id (one transaction may carry several payments).
    pub stellar_operation_id: Option<String>,
    /// Created (unix seconds).
    pub created_at: i64,
    /// Last changed.
    pub updated_at: i64,
    /// Completed.
    pub completed_at: Option<i64>,
}

/// One of our payments to a SEP-31 anchor, by `/payment` id.
#[derive(Debug, Clone, PartialEq, Eq, Queryable)]
pub struct Outgoing {
    /// The payment id.
    pub payment_id: String,
    /// sha256 of the `/send` request: a different request under the same id is refused.
    pub request_digest: String,
    /// The anchor's domain.
    pub domain: String,
    /// The `/send` fields, JSON: what the payment is, for every step after the first.
    pub request: String,
    /// `new`, `creating` (a `POST /transactions` is out: its outcome decides), `created`.
    pub state: String,
    /// The sender's customer id at the anchor.
    pub sender_id: Option<String>,
    /// The receiver's customer id at the anchor.
    pub receiver_id: Option<String>,
    /// The anchor's transaction id.
    pub transaction_id: Option<String>,
    /// The account to pay.
    pub account: Option<String>,
    /// The memo type to pay with.
    pub memo_type: Option<String>,
    /// The memo to pay with.
    pub memo: Option<String>,
    /// Last changed (unix seconds).
    pub updated_at: i64,
}

/// Access to the SEP-31 tables; cheap to clone.
#[derive(Debug, Clone)]
pub struct PeeringStore {
    db: Database,
}

impl PeeringStore {
    /// The store over a migrated compliance database.
    pub fn new(db: Database) -> Self {
        Self { db }
    }

    /// The customer with id `customer_id`.
    ///
    /// # Errors
    /// Database failures.
    pub async fn customer(&self, customer_id: &str) -> Result<Option<Customer>, DbError> {
        let id = customer_id.to_owned();
        self.db
            .read(move |conn| {
                Ok(sep12_customer::table
                    .filter(sep12_customer::customer_id.eq(id))
                    .select(customer_columns())
                    .get_result(conn)
                    .optional()?)
            })
            .await
    }

    /// The customer an account registered under a memo and type.
    ///
    /// # Errors
    /// Database failures.
    pub async fn customer_of(
        &self,
        account: &str,
        memo: &str,
        kind: &str,
    ) -> Result<Option<Customer>, DbError> {
        let (account, memo, kind) = (account.to_owned(), memo.to_owned(), kind.to_owned());
        self.db
            .read(move |conn| {
                Ok(sep12_customer::table
                    .filter(sep12_customer::account.eq(account))
                    .filter(sep12_customer::memo.eq(memo))
                    .filter(sep12_customer::kind.eq(kind))
                    .select(customer_columns())
                    .get_result(conn)
                    .optional()?)
            })
            .await
    }

    /// Creates a customer; when the same account, memo and type exist already (another
    /// request won), that one is returned.
    ///
    /// # Errors
    /// Database failures.
    pub async fn create_customer(&self, customer: Customer) -> Result<Customer, DbError> {
        self.db
            .run(move |conn| {
                let at = now();
                let inserted = diesel::insert_into(sep12_customer::table)
                    .values((
                        sep12_customer::customer_id.eq(&customer.customer_id),
                        sep12_customer::account.eq(&customer.account),
                        sep12_customer::memo.eq(&customer.memo),
                        sep12_customer::kind.eq(&customer.kind),
                        sep12_customer::fields.eq(&customer.fields),
                        sep12_customer::status.eq(&customer.status),
                        sep12_customer::message.eq(&customer.message),
                        sep12_customer::needs.eq(&customer.needs),
                        sep12_customer::ask_after.eq(customer.ask_after),
                        sep12_customer::created_at.eq(at),
                        sep12_customer::updated_at.eq(at),
                    ))
                    .execute(conn);
                match inserted {
                    Ok(_) => Ok(customer),
                    Err(e) if is_unique_violation(&e) => Ok(sep12_customer::table
                        .filter(sep12_customer::account.eq(&customer.account))
                        .filter(sep12_customer::memo.eq(&customer.memo))
                        .filter(sep12_customer::kind.eq(&customer.kind))
                        .select(customer_columns())
                        .get_result(conn)?),
                    Err(e) => Err(e.into()),
                }
            })
            .await
    }

    /// Stores a customer's fields and decision, if the row is still as `read` (fields, status,
    /// needs): whether it was. Another instance's write in between wins, and the caller
    /// reads again, so that no update is lost.
    ///
    /// # Errors
    /// Database failures.
    pub async fn update_customer(
        &self,
        customer: Customer,
        read: &Customer,
    ) -> Result<bool, DbError> {
        let read = read.clone();
        self.db
            .run(move |conn| {
                Ok(diesel::update(
                    sep12_customer::table
                        .filter(sep12_customer::customer_id.eq(&customer.customer_id))
                        .filter(sep12_customer::fields.eq(&read.fields))
                        .filter(sep12_customer::status.eq(&read.status))
                        .filter(sep12_customer::needs.eq(&read.needs)),
                )
                .set((
                    sep12_customer::fields.eq(&customer.fields),
                    sep12_customer::status.eq(&customer.status),
                    sep12_customer::message.eq(&customer.message),
                    sep12_customer::needs.eq(&customer.needs),
                    sep12_customer::ask_after.eq(customer.ask_after),
                    sep12_customer::updated_at.eq(now()),
                ))
                .execute(conn)?
                    == 1)
            })
            .await
    }

    /// Deletes an account's customers; how many there were.
    ///
    /// # Errors
    /// Database failures.
    pub async fn delete_customers(&self, account: &str, memo: &str) -> Result<usize, DbError> {
        let (account, memo) = (account.to_owned(), memo.to_owned());
        self.db
            .run(move |conn| {
                Ok(diesel::delete(
                    sep12_customer::table
                        .filter(sep12_customer::account.eq(account))
                        .filter(sep12_customer::memo.eq(memo)),
                )
                .execute(conn)?)
            })
            .await
    }

    /// Stores a new received transaction.
    ///
    /// # Errors
    /// Database failures.
    pub async fn create_received(&self, received: Received) -> Result<(), DbError> {
        self.db
            .run(move |conn| {
                diesel::insert_into(sep31_transaction::table)
                    .values((
                        sep31_transaction::transaction_id.eq(received.transaction_id),
                        sep31_transaction::client.eq(received.client),
                        sep31_transaction::sender_id.eq(received.sender_id),
                        sep31_transaction::receiver_id.eq(received.receiver_id),
                        sep31_transaction::amount_in.eq(received.amount_in),
                        sep31_transaction::amount_fee.eq(received.amount_fee),
                        sep31_transaction::asset_code.eq(received.asset_code),
                        sep31_transaction::asset_issuer.eq(received.asset_issuer),
                        sep31_transaction::memo.eq(received.memo),
                        sep31_transaction::status.eq(received.status),
                        sep31_transaction::message.eq(received.message),
                        sep31_transaction::created_at.eq(received.created_at),
                        sep31_transaction::updated_at.eq(received.updated_at),
                    ))
                    .execute(conn)?;
                Ok(())
            })
            .await
    }

    /// A received transaction by id.
    ///
    /// # Errors
    /// Database failures.
    pub async fn received(&self, transaction_id: &str) -> Result<Option<Received>, DbError> {
        let id = transaction_id.to_owned();
        self.db
            .read(move |conn| {
                Ok(sep31_transaction::table
                    .filter(sep31_transaction::transaction_id.eq(id))
                    .select(received_columns())
                    .get_result(conn)
                    .optional()?)
            })
            .await
    }

    /// A received transaction by the hash memo its payment carries.
    ///
    /// # Errors
    /// Database failures.
    pub async fn received_by_memo(&self, memo: &str) -> Result<Option<Received>, DbError> {
        let memo = memo.to_owned();
        self.db
            .read(move |conn| {
                Ok(sep31_transaction::table
                    .filter(sep31_transaction::memo.eq(memo))
                    .select(received_columns())
                    .get_result(conn)
                    .optional()?)
            })
            .await
    }

    /// The transactions waiting on a customer's information.
    ///
    /// # Errors
    /// Database failures.
    pub async fn waiting_on(&self, customer_id: &str) -> Result<Vec<Received>, DbError> {
        let id = customer_id.to_owned();
        self.db
            .read(move |conn| {
                Ok(sep31_transaction::table
                    .filter(sep31_transaction::status.eq("pending_customer_info_update"))
                    .filter(
                        sep31_transaction::sender_id
                            .eq(&id)
                            .or(sep31_transaction::receiver_id.eq(&id)),
                    )
                    .select(received_columns())
                    .load(conn)?)
            })
            .await
    }

    /// Moves a received transaction from one of `from` to `to`, recording the payment that
    /// paid it (transaction hash, operation id) when given; whether it moved (another request
    /// may have moved it first).
    ///
    /// # Errors
    /// Database failures.
    pub async fn move_received(
        &self,
        transaction_id: &str,
        from: &'static [&'static str],
        to: &'static str,
        message: Option<String>,
        paid_by: Option<(String, String)>,
    ) -> Result<bool, DbError> {
        let id = transaction_id.to_owned();
        self.db
            .run(move |conn| {
                let at = now();
                let target = sep31_transaction::table
                    .filter(sep31_transaction::transaction_id.eq(&id))
                    .filter(sep31_transaction::status.eq_any(from));
                let status = (
                    sep31_transaction::status.eq(to),
                    sep31_transaction::message.eq(message),
                    sep31_transaction::updated_at.eq(at),
                    sep31_transaction::completed_at.eq((to == "completed").then_some(at)),
                );
                // One statement: the status and the payment that made it are seen together.
                let moved = match paid_by {
                    Some((hash, operation)) => diesel::update(target)
                        .set((
                            status,
                            sep31_transaction::stellar_transaction_id.eq(hash),
                            sep31_transaction::stellar_operation_id.eq(operation),
                        ))
                        .execute(conn)?,
                    None => diesel::update(target).set(status).execute(conn)?,
                };
                Ok(moved == 1)
            })
            .await
    }

    /// The outgoing payment stored for a payment id.
    ///
    /// # Errors
    /// Database failures.
    pub async fn outgoing(&self, payment_id: &str) -> Result<Option<Outgoing>, DbError> {
        let id = payment_id.to_owned();
        self.db
            .read(move |conn| {
                Ok(sep31_outgoing::table
                    .filter(sep31_outgoing::payment_id.eq(id))
                    .select(outgoing_columns())
                    .get_result(conn)
                    .optional()?)
            })
            .await
    }

    /// Stores a new outgoing payment; when the id exists already, the stored one is returned
    /// (the first request wins).
    ///
    /// # Errors
    /// Database failures.
    pub async fn create_outgoing(&self, outgoing: Outgoing) -> Result<Outgoing, DbError> {
        self.db
            .run(move |conn| {
                let at = now();
                let inserted = diesel::insert_into(sep31_outgoing::table)
                    .values((
                        sep31_outgoing::payment_id.eq(&outgoing.payment_id),
                        sep31_outgoing::request_digest.eq(&outgoing.request_digest),
                        sep31_outgoing::domain.eq(&outgoing.domain),
                        sep31_outgoing::request.eq(&outgoing.request),
                        sep31_outgoing::state.eq(&outgoing.state),
                        sep31_outgoing::created_at.eq(at),
                        sep31_outgoing::updated_at.eq(at),
                    ))
                    .execute(conn);
                match inserted {
                    Ok(_) => Ok(outgoing),
                    Err(e) if is_unique_violation(&e) => Ok(sep31_outgoing::table
                        .filter(sep31_outgoing::payment_id.eq(&outgoing.payment_id))
                        .select(outgoing_columns())
                        .get_result(conn)?),
                    Err(e) => Err(e.into()),
                }
            })
            .await
    }

    /// Records the customer ids the anchor gave.
    ///
    /// # Errors
    /// Database failures.
    pub async fn set_customers(
        &self,
        payment_id: &str,
        sender_id: String,
        receiver_id: String,
    ) -> Result<(), DbError> {
        let id = payment_id.to_owned();
        self.db
            .run(move |conn| {
                diesel::update(sep31_outgoing::table.filter(sep31_outgoing::payment_id.eq(id)))
                    .set((
                        sep31_outgoing::sender_id.eq(sender_id),
                        sep31_outgoing::receiver_id.eq(receiver_id),
                        sep31_outgoing::updated_at.eq(now()),
                    ))
                    .execute(conn)?;
                Ok(())
            })
            .await
    }

    /// Moves an outgoing payment from state `from` to `to`: whether this caller moved it.
    ///
    /// # Errors
    /// Database failures.
    pub async fn move_outgoing(
        &self,
        payment_id: &str,
        from: &'static str,
        to: &'static str,
    ) -> Result<bool, DbError> {
        let id = payment_id.to_owned();
        self.db
            .run(move |conn| {
                Ok(diesel::update(
                    sep31_outgoing::table
                        .filter(sep31_outgoing::payment_id.eq(id))
                        .filter(sep31_outgoing::state.eq(from)),
                )
                .set((
                    sep31_outgoing::state.eq(to),
                    sep31_outgoing::updated_at.eq(now()),
                ))
                .execute(conn)?
                    == 1)
            })
            .await
    }

    /// Records the anchor's transaction (`creating` → `created`), and where to pay once
    /// it says.
    ///
    /// # Errors
    /// Database failures.
    pub async fn set_created(
        &self,
        payment_id: &str,
        transaction_id: String,
        pay_to: Option<(String, String, String)>,
    ) -> Result<(), DbError> {
        let id = payment_id.to_owned();
        self.db
            .run(move |conn| {
                let (account, memo_type, memo) = match pay_to {
                    Some((a, t, m)) => (Some(a), Some(t), Some(m)),
                    None => (None, None, None),
                };
                diesel::update(sep31_outgoing::table.filter(sep31_outgoing::payment_id.eq(id)))
                    .set((
                        sep31_outgoing::state.eq("created"),
                        sep31_outgoing::transaction_id.eq(transaction_id),
                        sep31_outgoing::account.eq(account),
                        sep31_outgoing::memo_type.eq(memo_type),
                        sep31_outgoing::memo.eq(memo),
                        sep31_outgoing::updated_at.eq(now()),
                    ))
                    .execute(conn)?;
                Ok(())
            })
            .await
    }

    /// Records where to pay, read after creation (anchors that answer it only once the
    /// transaction reaches `pending_sender`).
    ///
    /// # Errors
    /// Database failures.
    pub async fn set_pay_to(
        &self,
        payment_id: &str,
        account: String,
        memo_type: String,
        memo: String,
    ) -> Result<(), DbError> {
        let id = payment_id.to_owned();
        self.db
            .run(move |conn| {
                diesel::update(
                    sep31_outgoing::table
                        .filter(sep31_outgoing::payment_id.eq(id))
                        .filter(sep31_outgoing::account.is_null()),
                )
                .set((
                    sep31_outgoing::account.eq(account),
                    sep31_outgoing::memo_type.eq(memo_type),
                    sep31_outgoing::memo.eq(memo),
                    sep31_outgoing::updated_at.eq(now()),
                ))
                .execute(conn)?;
                Ok(())
            })
            .await
    }
}

type CustomerColumns = (
    sep12_customer::customer_id,
    sep12_customer::account,
    sep12_customer::memo,
    sep12_customer::kind,
    sep12_customer::fields,
    sep12_customer::status,
    sep12_customer::message,
    sep12_customer::needs,
    sep12_customer::ask_after,
);

fn customer_columns() -> CustomerColumns {
    (
        sep12_customer::customer_id,
        sep12_customer::account,
        sep12_customer::memo,
        sep12_customer::kind,
        sep12_customer::fields,
        sep12_customer::status,
        sep12_customer::message,
        sep12_customer::needs,
        sep12_customer::ask_after,
    )
}

type ReceivedColumns = (
    sep31_transaction::transaction_id,
    sep31_transaction::client,
    sep31_transaction::sender_id,
    sep31_transaction::receiver_id,
    sep31_transaction::amount_in,
    sep31_transaction::amount_fee,
    sep31_transaction::asset_code,
    sep31_transaction::asset_issuer,
    sep31_transaction::memo,
    sep31_transaction::status,
    sep31_transaction::message,
    sep31_transaction::stellar_transaction_id,
    sep31_transaction::stellar_operation_id,
    sep31_transaction::created_at,
    sep31_transaction::updated_at,
    sep31_transaction::completed_at,
);

fn received_columns() -> ReceivedColumns {
    (
        sep31_transaction::transaction_id,
        sep31_transaction::client,
        sep31_transaction::sender_id,
        sep31_transaction::receiver_id,
        sep31_transaction::amount_in,
        sep31_transaction::amount_fee,
        sep31_transaction::asset_code,
        sep31_transaction::asset_issuer,
        sep31_transaction::memo,
        sep31_transaction::status,
        sep31_transaction::message,
        sep31_transaction::stellar_transaction_id,
        sep31_transaction::stellar_operation_id,
        sep31_transaction::created_at,
        sep31_transaction::updated_at,
        sep31_transaction::completed_at,
    )
}

type OutgoingColumns = (
    sep31_outgoing::payment_id,
    sep31_outgoing::request_digest,
    sep31_outgoing::domain,
    sep31_outgoing::request,
    sep31_outgoing::state,
    sep31_outgoing::sender_id,
    sep31_outgoing::receiver_id,
    sep31_outgoing::transaction_id,
    sep31_outgoing::account,
    sep31_outgoing::memo_type,
    sep31_outgoing::memo,
    sep31_outgoing::updated_at,
);

fn outgoing_columns() -> OutgoingColumns {
    (
        sep31_outgoing::payment_id,
        sep31_outgoing::request_digest,
        sep31_outgoing::domain,
        sep31_outgoing::request,
        sep31_outgoing::state,
        sep31_outgoing::sender_id,
        sep31_outgoing::receiver_id,
        sep31_outgoing::transaction_id,
        sep31_outgoing::account,
        sep31_outgoing::memo_type,
        sep31_outgoing::memo,
        sep31_outgoing::updated_at,
    )
}
