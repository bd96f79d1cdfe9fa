//! Runs the operator's lookup queries.
//!
//! The queries are the operator's SQL, not ours, so the result shape is discovered once at
//! start-up: a name query may return `id` alone or `id, memo_type, memo`. Running each query
//! at start-up also makes a typo fail the start rather than the first customer's payment.

use std::collections::HashMap;
use std::sync::Arc;

use diesel::sql_types::{Nullable, Text};
use diesel::{QueryableByName, RunQueryDsl};
use service::database::{AnyConnection, Database, DbError, OperatorSql};

use crate::config::Queries;

#[derive(QueryableByName)]
struct IdRow {
    #[diesel(sql_type = Text)]
    id: String,
}

#[derive(QueryableByName)]
struct IdMemoRow {
    #[diesel(sql_type = Text)]
    id: String,
    #[diesel(sql_type = Nullable<Text>)]
    memo_type: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    memo: Option<String>,
}

#[derive(QueryableByName)]
struct NameRow {
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Text)]
    domain: String,
}

/// What a name or forward query found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AccountRow {
    pub id: String,
    pub memo_type: Option<String>,
    pub memo: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    IdOnly,
    IdAndMemo,
}

#[derive(Debug, Clone)]
struct AccountQuery {
    sql: Arc<OperatorSql>,
    shape: Shape,
}

/// Why a lookup could not be answered.
#[derive(Debug, thiserror::Error)]
pub(crate) enum LookupError {
    /// A forward request lacks a parameter the query binds.
    #[error("missing parameter: {0}")]
    MissingParameter(String),
    /// The database failed.
    #[error(transparent)]
    Database(#[from] DbError),
}

/// The prepared lookups.
#[derive(Debug, Clone)]
pub(crate) struct Store {
    db: Database,
    name: AccountQuery,
    reverse: Option<Arc<OperatorSql>>,
    forward: Option<AccountQuery>,
}

fn load_accounts(
    conn: &mut AnyConnection,
    query: &AccountQuery,
    args: &[&str],
) -> Result<Option<AccountRow>, diesel::result::Error> {
    let q = query.sql.bind(args);
    Ok(match query.shape {
        Shape::IdAndMemo => q
            .load::<IdMemoRow>(conn)?
            .into_iter()
            .next()
            .map(|r| AccountRow {
                id: r.id,
                memo_type: r.memo_type.filter(|s| !s.is_empty()),
                memo: r.memo.filter(|s| !s.is_empty()),
            }),
        Shape::IdOnly => q
            .load::<IdRow>(conn)?
            .into_iter()
            .next()
            .map(|r| AccountRow {
                id: r.id,
                memo_type: None,
                memo: None,
            }),
    })
}

/// Runs `columns` over the operator's query wrapped as a subquery that returns no rows: the
/// database checks that the columns exist without any row having to match.
fn has_columns(
    conn: &mut AnyConnection,
    sql: &OperatorSql,
    columns: &str,
    args: &[&str],
) -> Result<(), diesel::result::Error> {
    sql.wrapped(
        &format!("SELECT {columns} FROM ("),
        ") AS federation_probe WHERE 1 = 0",
    )
    .bind(args)
    .execute(conn)
    .map(drop)
}

/// Runs an account query once at start-up and finds its shape.
fn probe_account_query(
    conn: &mut AnyConnection,
    key: &str,
    sql: OperatorSql,
) -> Result<AccountQuery, String> {
    let blanks = vec![""; sql.placeholders()];
    sql.bind(&blanks)
        .execute(conn)
        .map_err(|e| format!("queries.{key} does not run: {e}"))?;
    let shape = if has_columns(conn, &sql, "id, memo_type, memo", &blanks).is_ok() {
        Shape::IdAndMemo
    } else {
        has_columns(conn, &sql, "id", &blanks).map_err(|e| {
            format!(
                "queries.{key} must return a column `id` (optionally with `memo_type` and \
                 `memo`): {e}"
            )
        })?;
        Shape::IdOnly
    };
    Ok(AccountQuery {
        sql: Arc::new(sql),
        shape,
    })
}

/// Checks that the operator's query binds exactly what we pass it.
fn expect_placeholders(
    key: &str,
    sql: &OperatorSql,
    count: usize,
    what: &str,
) -> Result<(), String> {
    if sql.placeholders() == count {
        Ok(())
    } else {
        Err(format!(
            "queries.{key} must have {count} `?` placeholder{} ({what}); it has {}",
            if count == 1 { "" } else { "s" },
            sql.placeholders()
        ))
    }
}

impl Store {
    /// Prepares and test-runs every configured query.
    ///
    /// # Errors
    /// A message naming the query and the database's complaint.
    pub fn prepare(db: Database, queries: &Queries) -> Result<Self, String> {
        let name_sql = OperatorSql::positional(&queries.federation);
        expect_placeholders("federation", &name_sql, 2, "the name, then the domain")?;
        let reverse = queries
            .reverse_federation
            .as_deref()
            .filter(|q| !q.trim().is_empty())
            .map(OperatorSql::positional);
        if let Some(sql) = &reverse {
            expect_placeholders("reverse-federation", sql, 1, "the account id")?;
        }
        let forward = queries
            .forward
            .as_deref()
            .filter(|q| !q.trim().is_empty())
            .map(OperatorSql::named);
        db.run_blocking(|conn| {
            let name = probe_account_query(conn, "federation", name_sql).map_err(DbError::Task)?;
            if let Some(sql) = &reverse {
                sql.bind(&[""]).execute(conn).map_err(|e| {
                    DbError::Task(format!("queries.reverse-federation does not run: {e}"))
                })?;
                has_columns(conn, sql, "name, domain", &[""]).map_err(|e| {
                    DbError::Task(format!(
                        "queries.reverse-federation must return columns `name` and `domain`: {e}"
                    ))
                })?;
            }
            let forward = match forward {
                Some(sql) => {
                    Some(probe_account_query(conn, "forward", sql).map_err(DbError::Task)?)
                }
                None => None,
            };
            Ok(Self {
                db: db.clone(),
                name,
                reverse: reverse.clone().map(Arc::new),
                forward,
            })
        })
        .map_err(|e| match e {
            DbError::Task(message) => message,
            other => other.to_string(),
        })
    }

    pub fn has_reverse(&self) -> bool {
        self.reverse.is_some()
    }

    pub fn has_forward(&self) -> bool {
        self.forward.is_some()
    }

    /// Name lookup: the operator's query gets the name, then the (lower-cased) domain.
    ///
    /// Runs through [`Database::read`]: on SQLite on the worker thread itself, which is why
    /// `docs/federation.md` asks for an indexed query.
    pub async fn by_name(
        &self,
        name: &str,
        domain: &str,
    ) -> Result<Option<AccountRow>, LookupError> {
        let query = self.name.clone();
        let args = [name.to_owned(), domain.to_owned()];
        Ok(self
            .db
            .read(move |conn| {
                let args = [args[0].as_str(), args[1].as_str()];
                Ok(load_accounts(conn, &query, &args)?)
            })
            .await?)
    }

    /// Reverse lookup: `(name, domain)` for an account id.
    pub async fn by_account(
        &self,
        account_id: &str,
    ) -> Result<Option<(String, String)>, LookupError> {
        let Some(sql) = self.reverse.clone() else {
            return Ok(None);
        };
        let account_id = account_id.to_owned();
        Ok(self
            .db
            .read(move |conn| {
                let rows = sql.bind(&[account_id.as_str()]).load::<NameRow>(conn)?;
                Ok(rows.into_iter().next().map(|r| (r.name, r.domain)))
            })
            .await?)
    }

    /// Forward lookup, binding the request's parameters by name.
    pub async fn forward(
        &self,
        params: &HashMap<String, String>,
    ) -> Result<Option<AccountRow>, LookupError> {
        let Some(query) = self.forward.clone() else {
            return Ok(None);
        };
        let args = query
            .sql
            .parameters()
            .iter()
            .map(|p| {
                params
                    .get(p)
                    .cloned()
                    .ok_or_else(|| LookupError::MissingParameter(p.clone()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(self
            .db
            .read(move |conn| {
                let args: Vec<&str> = args.iter().map(String::as_str).collect();
                Ok(load_accounts(conn, &query, &args)?)
            })
            .await?)
    }
}
