//! The fencing token of a receive lease and the check every fenced write makes.
//!
//! Apart from [`super::lease`] (which takes, renews and gives back leases) because the
//! store's fenced writes ([`super::store`]) need the check while the lease queries are
//! written on the store: each of those two modules uses this one, neither the other.

use diesel::prelude::*;
use service::{AnyConnection, DbError};

use crate::schema::receive_lease as rl;

/// The right to write one account's cursor and payments: who holds it and with which token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fence {
    /// The watched account.
    pub account: String,
    /// This instance ([`instance_id`](super::lease::instance_id)).
    pub holder: String,
    /// The fencing token of this tenure.
    pub token: i64,
}

/// A write refused because another instance took the account over.
#[derive(Debug, thiserror::Error)]
#[error("the lease on {account} was taken over by another instance (fence {token} is stale)")]
pub struct Fenced {
    /// The account.
    pub account: String,
    /// The stale token.
    pub token: i64,
}

impl Fence {
    /// Inside a write transaction: fails with [`Fenced`] unless this tenure is still the
    /// current one. The row is locked (an update) until the transaction ends, so a take-over
    /// waits for this write and then sees its own new fence: the check and the write are one.
    ///
    /// # Errors
    /// [`LeaseWriteError::Fenced`]; database failures.
    pub fn check(&self, conn: &mut AnyConnection) -> Result<(), LeaseWriteError> {
        let kept = diesel::update(
            rl::table
                .find(&self.account)
                .filter(rl::holder.eq(&self.holder))
                .filter(rl::fence.eq(self.token)),
        )
        .set(rl::fence.eq(self.token))
        .execute(conn)
        .map_err(DbError::from)?;
        if kept == 1 {
            Ok(())
        } else {
            metrics::counter!("bridge_lease_fenced_writes_total", "account" => self.account.clone())
                .increment(1);
            Err(LeaseWriteError::Fenced(Fenced {
                account: self.account.clone(),
                token: self.token,
            }))
        }
    }
}

/// Why a fenced write did not happen.
#[derive(Debug, thiserror::Error)]
pub enum LeaseWriteError {
    /// Another instance holds the account now.
    #[error(transparent)]
    Fenced(#[from] Fenced),
    /// Storage failed.
    #[error(transparent)]
    Database(#[from] DbError),
}

impl From<diesel::result::Error> for LeaseWriteError {
    fn from(e: diesel::result::Error) -> Self {
        Self::Database(DbError::from(e))
    }
}
