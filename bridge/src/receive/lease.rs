//! Which instance streams a watched account: a lease in the database, with a fencing token.
//!
//! Several bridges may run on one database (MariaDB or PostgreSQL). Each watched account has a
//! row in `receive_lease`; the instance whose lease is current streams the account's payments,
//! the others stand by and take over once the lease has passed (`[receiving] lease_ttl`
//! without renewal: the holder died, hangs, or lost the database). Time is the database's
//! clock, so the hosts' clocks never need to agree.
//!
//! Every take-over adds one to `fence`, and every write of the account's cursor or payments
//! checks, in the same transaction, that the fence is still the writer's ([`Fence::check`],
//! in [`super::fence`]).
//! A holder that stalled past its lease (a long GC-like pause, SIGSTOP, a partition) and wakes
//! up can therefore neither move the cursor nor record anything: its write is refused, it
//! steps down, and nothing is recorded twice or skipped.

use std::time::Duration;

use diesel::prelude::*;
use serde::Serialize;
use service::DbError;
use service::database::clock_ms;

use super::fence::Fence;
use super::store::ReceiveStore;
use crate::schema::receive_lease as rl;

/// Who streams an account, for `/health`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct LeaseView {
    /// The instance holding the lease, if any.
    pub holder: Option<String>,
    /// Its fencing token.
    pub fence: i64,
    /// Milliseconds until the lease passes unless renewed (negative: passed).
    pub expires_in_ms: i64,
}

/// This process's name in leases and delivery claims: host, process id and a random part (a
/// restarted process is a new holder). At most 64 characters.
pub fn instance_id() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "host".to_owned());
    let host: String = host.chars().take(36).collect();
    format!(
        "{host}/{}/{:08x}",
        std::process::id(),
        rand::random::<u32>()
    )
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

impl ReceiveStore {
    /// Takes the lease on `account` for `holder` when nobody holds it or it has passed, for
    /// `ttl`; `None` while another instance holds it. A holder taking its own lease again (a
    /// restart of its listener task) starts a new tenure too.
    ///
    /// # Errors
    /// Database failures.
    pub async fn acquire_lease(
        &self,
        account: &str,
        holder: &str,
        ttl: Duration,
    ) -> Result<Option<Fence>, DbError> {
        let (account, holder, ttl) = (account.to_owned(), holder.to_owned(), millis(ttl));
        let _turn = self.write_turn().await;
        self.database()
            .run(move |conn| {
                let now = clock_ms(conn)?;
                let until = now.saturating_add(ttl);
                // Compare and set on an existing row: free, passed, or ours.
                let token = conn.transaction(|conn| {
                    let taken = diesel::update(
                        rl::table.find(&account).filter(
                            rl::holder
                                .is_null()
                                .or(rl::leased_until.lt(now))
                                .or(rl::holder.eq(&holder)),
                        ),
                    )
                    .set((
                        rl::holder.eq(&holder),
                        rl::fence.eq(rl::fence + 1),
                        rl::leased_until.eq(until),
                    ))
                    .execute(conn)?;
                    if taken == 0 {
                        return Ok::<_, DbError>(None);
                    }
                    Ok(Some(
                        rl::table
                            .find(&account)
                            .select(rl::fence)
                            .first::<i64>(conn)?,
                    ))
                })?;
                let fence = |token| Fence {
                    account: account.clone(),
                    holder: holder.clone(),
                    token,
                };
                if let Some(token) = token {
                    return Ok(Some(fence(token)));
                }
                let exists = rl::table
                    .find(&account)
                    .select(rl::fence)
                    .first::<i64>(conn)
                    .optional()?
                    .is_some();
                if exists {
                    return Ok(None);
                }
                // The account's first lease; a unique violation means another instance
                // created it first (and holds it).
                match diesel::insert_into(rl::table)
                    .values((
                        rl::account.eq(&account),
                        rl::holder.eq(&holder),
                        rl::fence.eq(1_i64),
                        rl::leased_until.eq(until),
                    ))
                    .execute(conn)
                {
                    Ok(_) => Ok(Some(fence(1))),
                    Err(diesel::result::Error::DatabaseError(
                        diesel::result::DatabaseErrorKind::UniqueViolation,
                        _,
                    )) => Ok(None),
                    Err(e) => Err(e.into()),
                }
            })
            .await
    }

    /// Extends the lease by `ttl` from now; `false` when it is no longer this tenure's.
    ///
    /// # Errors
    /// Database failures.
    pub async fn renew_lease(&self, fence: &Fence, ttl: Duration) -> Result<bool, DbError> {
        let (fence, ttl) = (fence.clone(), millis(ttl));
        let _turn = self.write_turn().await;
        self.database()
            .run(move |conn| {
                let now = clock_ms(conn)?;
                let renewed = diesel::update(
                    rl::table
                        .find(&fence.account)
                        .filter(rl::holder.eq(&fence.holder))
                        .filter(rl::fence.eq(fence.token)),
                )
                .set(rl::leased_until.eq(now.saturating_add(ttl)))
                .execute(conn)?;
                Ok(renewed == 1)
            })
            .await
    }

    /// Gives the lease up at once (a clean shutdown), so another instance takes over without
    /// waiting for it to pass.
    ///
    /// # Errors
    /// Database failures.
    pub async fn release_lease(&self, fence: &Fence) -> Result<(), DbError> {
        let fence = fence.clone();
        let _turn = self.write_turn().await;
        self.database()
            .run(move |conn| {
                diesel::update(
                    rl::table
                        .find(&fence.account)
                        .filter(rl::holder.eq(&fence.holder))
                        .filter(rl::fence.eq(fence.token)),
                )
                .set((rl::holder.eq(None::<String>), rl::leased_until.eq(0_i64)))
                .execute(conn)?;
                Ok(())
            })
            .await
    }

    /// Who holds `account`'s lease now.
    ///
    /// # Errors
    /// Database failures.
    pub async fn lease(&self, account: &str) -> Result<LeaseView, DbError> {
        let account = account.to_owned();
        self.database()
            .run(move |conn| {
                let now = clock_ms(conn)?;
                let row = rl::table
                    .find(&account)
                    .select((rl::holder, rl::fence, rl::leased_until))
                    .first::<(Option<String>, i64, i64)>(conn)
                    .optional()?;
                Ok(
                    row.map_or_else(LeaseView::default, |(holder, fence, until)| LeaseView {
                        holder,
                        fence,
                        expires_in_ms: until - now,
                    }),
                )
            })
            .await
    }
}
