//! Runs the operator's lookup queries.
//!
//! The queries are the operator's SQL, not ours, so the result shape is discovered once at
//! start-up: a name query may return `id` alone or `id, memo_type, memo`. Running each query
//! at start-up also makes a typo fail the start rather than the first customer's payment.
//!
//! Columns are read as text whatever their declared type ([`OperatorText`]): an `INTEGER`,
//! `BIGINT` (signed or unsigned) or integral `NUMERIC` memo column answers its decimal digits,
//! as the legacy server's string scan did.

use std::collections::HashMap;
use std::sync::Arc;

use diesel::deserialize::{self, FromSql};
use diesel::mysql::{Mysql, MysqlType, MysqlValue};
use diesel::pg::data_types::PgNumeric;
use diesel::pg::{Pg, PgValue};
use diesel::sql_types::{
    BigInt, Integer, Nullable, Numeric, Oid, SmallInt, SqlType, Text, Unsigned,
};
use diesel::sqlite::Sqlite;
use diesel::{QueryableByName, RunQueryDsl};
use service::database::{
    AnyConnection, Database, DbError, MultiBackend, MultiRawValue, OperatorSql,
};

use crate::config::Queries;

/// The type an operator's result column is read as: text, or an integer written in decimal.
#[derive(Debug, Clone, Copy, SqlType)]
struct OperatorText;

/// A value of an operator's column, as text.
#[derive(Debug)]
struct Column(String);

impl FromSql<OperatorText, MultiBackend> for Column {
    fn from_sql(value: MultiRawValue<'_>) -> deserialize::Result<Self> {
        match value {
            MultiRawValue::Postgresql(value) => postgres_text(value),
            MultiRawValue::Mysql(value) => mysql_text(value),
            // SQLite converts any stored value to text itself (integers in decimal).
            MultiRawValue::Sqlite(value) => <String as FromSql<Text, Sqlite>>::from_sql(value),
        }
        .map(Column)
    }
}

/// PostgreSQL sends binary values: integers and numerics are decoded and written in decimal;
/// text types (and user-defined ones such as `citext` or enums, which travel as text) are read
/// as they are; other built-in types (floats, booleans, dates, …) are refused, since their bytes
/// are not text.
fn postgres_text(value: PgValue<'_>) -> deserialize::Result<String> {
    /// OIDs from PostgreSQL's `pg_type.dat`.
    const BOOL: u32 = 16;
    const CHAR: u32 = 18;
    const NAME: u32 = 19;
    const INT8: u32 = 20;
    const INT2: u32 = 21;
    const INT4: u32 = 23;
    const TEXT: u32 = 25;
    const OID: u32 = 26;
    const JSON: u32 = 114;
    const XML: u32 = 142;
    const UNKNOWN: u32 = 705;
    const BPCHAR: u32 = 1042;
    const VARCHAR: u32 = 1043;
    const NUMERIC: u32 = 1700;
    /// Types created by users and extensions start here.
    const FIRST_NORMAL_OBJECT_ID: u32 = 16384;
    match value.get_oid().get() {
        INT2 => Ok(<i16 as FromSql<SmallInt, Pg>>::from_sql(value)?.to_string()),
        INT4 => Ok(<i32 as FromSql<Integer, Pg>>::from_sql(value)?.to_string()),
        INT8 => Ok(<i64 as FromSql<BigInt, Pg>>::from_sql(value)?.to_string()),
        OID => Ok(<u32 as FromSql<Oid, Pg>>::from_sql(value)?.to_string()),
        NUMERIC => numeric_text(<PgNumeric as FromSql<Numeric, Pg>>::from_sql(value)?),
        CHAR | NAME | TEXT | JSON | XML | UNKNOWN | BPCHAR | VARCHAR => {
            <String as FromSql<Text, Pg>>::from_sql(value)
        }
        oid if oid >= FIRST_NORMAL_OBJECT_ID => <String as FromSql<Text, Pg>>::from_sql(value),
        oid => Err(format!(
            "a column of PostgreSQL type {oid} (see pg_type) is neither text nor an integer{}",
            if oid == BOOL { " (a boolean)" } else { "" }
        )
        .into()),
    }
}

/// A PostgreSQL `NUMERIC` in decimal, with as many fraction digits as its scale.
fn numeric_text(value: PgNumeric) -> deserialize::Result<String> {
    let (negative, weight, scale, digits) = match value {
        PgNumeric::Positive {
            weight,
            scale,
            digits,
        } => (false, weight, scale, digits),
        PgNumeric::Negative {
            weight,
            scale,
            digits,
        } => (true, weight, scale, digits),
        PgNumeric::NaN => return Err("a NUMERIC column holds NaN".into()),
    };
    // digits[i] is the base-10000 digit of weight `weight - i`.
    let digit = |power: i32| -> i16 {
        usize::try_from(i32::from(weight) - power)
            .ok()
            .and_then(|i| digits.get(i).copied())
            .unwrap_or(0)
    };
    let mut text = String::new();
    if negative && digits.iter().any(|&d| d != 0) {
        text.push('-');
    }
    if weight < 0 {
        text.push('0');
    } else {
        text.push_str(&digit(i32::from(weight)).to_string());
        for power in (0..i32::from(weight)).rev() {
            text.push_str(&format!("{:04}", digit(power)));
        }
    }
    if scale > 0 {
        let mut fraction = String::new();
        for group in 1..=i32::from(scale.div_ceil(4)) {
            fraction.push_str(&format!("{:04}", digit(-group)));
        }
        fraction.truncate(usize::from(scale));
        text.push('.');
        text.push_str(&fraction);
    }
    Ok(text)
}

/// MySQL sends integers in binary; `DECIMAL`, strings, `ENUM` and `SET` as text.
fn mysql_text(value: MysqlValue<'_>) -> deserialize::Result<String> {
    match value.value_type() {
        MysqlType::Tiny | MysqlType::Short | MysqlType::Long | MysqlType::LongLong => {
            Ok(<i64 as FromSql<BigInt, Mysql>>::from_sql(value)?.to_string())
        }
        MysqlType::UnsignedTiny
        | MysqlType::UnsignedShort
        | MysqlType::UnsignedLong
        | MysqlType::UnsignedLongLong => {
            Ok(<u64 as FromSql<Unsigned<BigInt>, Mysql>>::from_sql(value)?.to_string())
        }
        MysqlType::Numeric
        | MysqlType::String
        | MysqlType::Blob
        | MysqlType::Enum
        | MysqlType::Set => Ok(std::str::from_utf8(value.as_bytes())?.to_owned()),
        other => {
            Err(format!("a column of MySQL type {other:?} is neither text nor an integer").into())
        }
    }
}

#[derive(QueryableByName)]
struct IdRow {
    #[diesel(sql_type = OperatorText)]
    id: Column,
}

#[derive(QueryableByName)]
struct IdMemoRow {
    #[diesel(sql_type = OperatorText)]
    id: Column,
    #[diesel(sql_type = Nullable<OperatorText>)]
    memo_type: Option<Column>,
    #[diesel(sql_type = Nullable<OperatorText>)]
    memo: Option<Column>,
}

#[derive(QueryableByName)]
struct NameRow {
    #[diesel(sql_type = OperatorText)]
    name: Column,
    #[diesel(sql_type = OperatorText)]
    domain: Column,
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
                id: r.id.0,
                memo_type: r.memo_type.map(|c| c.0).filter(|s| !s.is_empty()),
                memo: r.memo.map(|c| c.0).filter(|s| !s.is_empty()),
            }),
        Shape::IdOnly => q
            .load::<IdRow>(conn)?
            .into_iter()
            .next()
            .map(|r| AccountRow {
                id: r.id.0,
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

    /// Name lookup: the operator's query gets the name, then the domain as the client sent it;
    /// when that finds nothing and the domain has upper-case letters, the query runs again
    /// with the domain lower-cased. Tables written for the legacy server (which bound the
    /// domain as given) keep matching, and SEP-2's case-insensitive domains find lower-case
    /// rows. Both runs share one connection and one hand-off.
    ///
    /// Runs through [`Database::read`]: on SQLite on the worker thread itself, which is why
    /// `docs/federation.md` asks for an indexed query.
    pub async fn by_name(
        &self,
        name: &str,
        domain: &str,
    ) -> Result<Option<AccountRow>, LookupError> {
        let query = self.name.clone();
        let lower = domain.to_ascii_lowercase();
        let retry = (lower != domain).then_some(lower);
        let (name, domain) = (name.to_owned(), domain.to_owned());
        Ok(self
            .db
            .read(move |conn| {
                let found = load_accounts(conn, &query, &[name.as_str(), domain.as_str()])?;
                Ok(match (found, retry) {
                    (None, Some(lower)) => {
                        load_accounts(conn, &query, &[name.as_str(), lower.as_str()])?
                    }
                    (found, _) => found,
                })
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
                Ok(rows.into_iter().next().map(|r| (r.name.0, r.domain.0)))
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

#[cfg(test)]
mod tests {
    use super::*;

    fn numeric(negative: bool, weight: i16, scale: u16, digits: &[i16]) -> String {
        let digits = digits.to_vec();
        numeric_text(if negative {
            PgNumeric::Negative {
                weight,
                scale,
                digits,
            }
        } else {
            PgNumeric::Positive {
                weight,
                scale,
                digits,
            }
        })
        .unwrap()
    }

    #[test]
    fn numerics_are_written_in_decimal() {
        // 18446744073709551615 = 1844 6744 0737 0955 1615
        assert_eq!(
            numeric(false, 4, 0, &[1844, 6744, 737, 955, 1615]),
            "18446744073709551615"
        );
        // Trailing zero groups are not sent: 120000 = 12 0000.
        assert_eq!(numeric(false, 1, 0, &[12]), "120000");
        assert_eq!(numeric(false, 0, 0, &[]), "0");
        assert_eq!(numeric(true, 0, 0, &[42]), "-42");
        assert_eq!(numeric(false, 0, 2, &[42, 5000]), "42.50");
        assert_eq!(numeric(false, -1, 4, &[1]), "0.0001");
        assert_eq!(numeric(false, -2, 6, &[1200]), "0.000012");
        assert!(numeric_text(PgNumeric::NaN).is_err());
    }
}
