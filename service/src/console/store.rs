//! `console_session` and `console_audit`, in the server's own database: a session signed in on
//! one instance is valid on every instance behind the same proxy, and the audit trail is one
//! table whatever instance acted. Tokens are stored as their SHA-256, so a read of the table
//! does not yield a usable session.

use diesel::prelude::*;
use sha2::{Digest, Sha256};

use super::Role;
use crate::database::clock_ms;
use crate::{Database, DbError};

diesel::table! {
    /// One row per signed-in browser.
    console_session (id) {
        id -> BigInt,
        token_hash -> Text,
        user_name -> Text,
        roles -> Text,
        csrf -> Text,
        created_at -> BigInt,
        expires_at -> BigInt,
    }
}

diesel::table! {
    /// One row per action taken in the console (sign-ins included), kept forever.
    console_audit (id) {
        id -> BigInt,
        at -> BigInt,
        user_name -> Text,
        action -> Text,
        target -> Text,
        outcome -> Text,
    }
}

use console_audit as ca;
use console_session as cs;

/// A signed-in user, as every page and action sees them.
#[derive(Debug, Clone)]
pub struct Session {
    /// Who.
    pub user: String,
    /// What they may do besides reading.
    pub roles: Vec<Role>,
    /// The token every form of this session carries back.
    pub csrf: String,
}

impl Session {
    /// Whether the user holds `role`.
    pub fn may(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }
}

/// One audit row.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = console_audit)]
pub struct AuditEntry {
    /// Row id.
    pub id: i64,
    /// Unix milliseconds.
    pub at: i64,
    /// Who.
    pub user_name: String,
    /// What (`sign_in`, `reprocess`, `approve_batch`…).
    pub action: String,
    /// On what (an operation id, a batch id, a domain).
    pub target: String,
    /// `ok`, or why not.
    pub outcome: String,
}

/// The console's tables.
#[derive(Debug, Clone)]
pub struct ConsoleStore {
    db: Database,
}

/// SHA-256 of a token, in hex.
fn digest(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// 32 random bytes in hex: session tokens and CSRF tokens.
pub fn random_token() -> String {
    (0..32)
        .map(|_| format!("{:02x}", rand::random::<u8>()))
        .collect()
}

impl ConsoleStore {
    /// On `db`, whose server's migrations created the tables.
    pub fn new(db: Database) -> Self {
        Self { db }
    }

    /// Starts a session for `user`; returns its cookie token and the session.
    ///
    /// # Errors
    /// Database failures.
    pub async fn open(
        &self,
        user: &str,
        roles: &[Role],
        lifetime_ms: i64,
    ) -> Result<(String, Session), DbError> {
        let token = random_token();
        let session = Session {
            user: user.to_owned(),
            roles: roles.to_vec(),
            csrf: random_token(),
        };
        let (hash, row) = (digest(&token), session.clone());
        let roles = roles_text(roles);
        self.db
            .run(move |conn| {
                let now = clock_ms(conn)?;
                // Expired sessions go when new ones come: the table stays the size of the
                // sessions in use.
                diesel::delete(cs::table.filter(cs::expires_at.lt(now))).execute(conn)?;
                diesel::insert_into(cs::table)
                    .values((
                        cs::token_hash.eq(hash),
                        cs::user_name.eq(row.user),
                        cs::roles.eq(roles),
                        cs::csrf.eq(row.csrf),
                        cs::created_at.eq(now),
                        cs::expires_at.eq(now.saturating_add(lifetime_ms)),
                    ))
                    .execute(conn)?;
                Ok(())
            })
            .await?;
        Ok((token, session))
    }

    /// The live session of `token`, its expiry pushed `lifetime_ms` ahead (sliding).
    ///
    /// # Errors
    /// Database failures.
    pub async fn find(&self, token: &str, lifetime_ms: i64) -> Result<Option<Session>, DbError> {
        let hash = digest(token);
        self.db
            .run(move |conn| {
                let now = clock_ms(conn)?;
                let found = cs::table
                    .filter(cs::token_hash.eq(&hash))
                    .filter(cs::expires_at.ge(now))
                    .select((cs::user_name, cs::roles, cs::csrf, cs::expires_at))
                    .first::<(String, String, String, i64)>(conn)
                    .optional()?;
                let Some((user, roles, csrf, expires_at)) = found else {
                    return Ok(None);
                };
                // Written at most once a minute per session, not on every page.
                let renewed = now.saturating_add(lifetime_ms);
                if renewed - expires_at > 60_000 {
                    diesel::update(cs::table.filter(cs::token_hash.eq(&hash)))
                        .set(cs::expires_at.eq(renewed))
                        .execute(conn)?;
                }
                Ok(Some(Session {
                    user,
                    roles: roles.split(',').filter_map(Role::parse).collect(),
                    csrf,
                }))
            })
            .await
    }

    /// Ends the session of `token` (sign out).
    ///
    /// # Errors
    /// Database failures.
    pub async fn close(&self, token: &str) -> Result<(), DbError> {
        let hash = digest(token);
        self.db
            .run(move |conn| {
                diesel::delete(cs::table.filter(cs::token_hash.eq(hash))).execute(conn)?;
                Ok(())
            })
            .await
    }

    /// Writes one audit row.
    ///
    /// # Errors
    /// Database failures.
    pub async fn audit(
        &self,
        user: &str,
        action: &str,
        target: &str,
        outcome: &str,
    ) -> Result<(), DbError> {
        let clip = |s: &str, n: usize| s.chars().take(n).collect::<String>();
        let row = (
            clip(user, 255),
            clip(action, 64),
            clip(target, 255),
            clip(outcome, 1000),
        );
        self.db
            .run(move |conn| {
                let now = clock_ms(conn)?;
                diesel::insert_into(ca::table)
                    .values((
                        ca::at.eq(now),
                        ca::user_name.eq(row.0),
                        ca::action.eq(row.1),
                        ca::target.eq(row.2),
                        ca::outcome.eq(row.3),
                    ))
                    .execute(conn)?;
                Ok(())
            })
            .await
    }

    /// Audit rows, newest first, from `offset`.
    ///
    /// # Errors
    /// Database failures.
    pub async fn audit_page(&self, offset: i64, limit: i64) -> Result<Vec<AuditEntry>, DbError> {
        self.db
            .read(move |conn| {
                Ok(ca::table
                    .order(ca::id.desc())
                    .offset(offset)
                    .limit(limit)
                    .select(AuditEntry::as_select())
                    .load(conn)?)
            })
            .await
    }
}

fn roles_text(roles: &[Role]) -> String {
    roles
        .iter()
        .map(|r| r.as_str())
        .collect::<Vec<_>>()
        .join(",")
}
