//! What is in a database: its tables, their columns and their indexes, read from the backend's
//! own catalogue (`information_schema` / `pg_index` on PostgreSQL, `information_schema` on
//! MySQL/MariaDB, the `pragma_*` functions on SQLite).
//!
//! Used to adopt a schema that exists already (see [`super::adopt`]) and by the tests that keep
//! the three migration sets in step.

use std::collections::BTreeMap;

use diesel::QueryableByName as DeriveByName;
use diesel::RunQueryDsl;
use diesel::deserialize::QueryableByName;
use diesel::mysql::Mysql;
use diesel::pg::Pg;
use diesel::sql_types::{BigInt, Integer, Nullable, Text};
use diesel::sqlite::Sqlite;

use super::{AnyConnection, Backend, DbError};

/// Bookkeeping tables that are no part of a server's schema: diesel's and the legacy
/// servers' migration tables, SQLite's sequence table.
pub const BOOKKEEPING_TABLES: &[&str] = &[
    "__diesel_schema_migrations",
    "gorp_migrations",
    "sqlite_sequence",
];

/// Every table of a database.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Schema {
    /// By table name.
    pub tables: BTreeMap<String, Table>,
}

/// One table.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Table {
    /// By column name.
    pub columns: BTreeMap<String, Column>,
    /// Secondary indexes (not the primary key), by name.
    pub indexes: BTreeMap<String, Index>,
}

/// One column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    /// The type as the backend reports it, lower case (`character varying(255)`, `int(11)`).
    pub data_type: String,
    /// Whether NULL is allowed.
    pub nullable: bool,
    /// The default as the backend reports it.
    pub default: Option<String>,
    /// MySQL's `AUTO_INCREMENT`.
    pub auto_increment: bool,
}

/// One index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Index {
    /// A unique index.
    pub unique: bool,
    /// Its columns, in order.
    pub columns: Vec<String>,
}

/// A type family, for comparing types across backends loosely.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TypeFamily {
    /// Any integer.
    Integer,
    /// Any character type.
    Text,
    /// Date and time.
    Timestamp,
    /// Anything else.
    Other,
}

/// A type's family and how much it holds (bytes for integers, characters for text).
pub fn type_rank(data_type: &str) -> (TypeFamily, u64) {
    let t = data_type.trim().to_ascii_lowercase();
    let (base, len) = match t.split_once('(') {
        Some((base, rest)) => (
            base.trim().to_owned(),
            rest.trim_end_matches(|c: char| c == ')' || c.is_whitespace() || c.is_alphabetic())
                .trim_end_matches(')')
                .parse::<u64>()
                .ok(),
        ),
        None => (t.clone(), None),
    };
    // MySQL reports `int(11) unsigned`; keep the first word of the base.
    let base = base.split_whitespace().collect::<Vec<_>>().join(" ");
    match base.as_str() {
        "tinyint" => (TypeFamily::Integer, 1),
        "smallint" | "int2" | "smallserial" => (TypeFamily::Integer, 2),
        "int" | "integer" | "int4" | "mediumint" | "serial" => (TypeFamily::Integer, 4),
        "bigint" | "int8" | "bigserial" => (TypeFamily::Integer, 8),
        "varchar" | "character varying" | "char" | "character" | "nchar" | "nvarchar" => {
            (TypeFamily::Text, len.unwrap_or(u64::MAX))
        }
        // MySQL's text types hold up to 255 B, 64 KiB, 16 MiB, 4 GiB; PostgreSQL's and SQLite's
        // `text` is unbounded, but is never compared with a MySQL size.
        "tinytext" => (TypeFamily::Text, 255),
        "text" => (TypeFamily::Text, 65_535),
        "mediumtext" => (TypeFamily::Text, 16_777_215),
        "longtext" | "clob" => (TypeFamily::Text, u64::MAX),
        b if b.starts_with("timestamp") || b == "datetime" || b == "date" => {
            (TypeFamily::Timestamp, 0)
        }
        _ => (TypeFamily::Other, 0),
    }
}

impl Column {
    /// The column's [`TypeFamily`].
    pub fn family(&self) -> TypeFamily {
        type_rank(&self.data_type).0
    }
}

impl Schema {
    /// Whether `table` exists.
    pub fn has_table(&self, table: &str) -> bool {
        self.tables.contains_key(table)
    }

    /// The tables that are a server's, not bookkeeping.
    pub fn server_tables(&self) -> impl Iterator<Item = (&String, &Table)> {
        self.tables
            .iter()
            .filter(|(name, _)| !BOOKKEEPING_TABLES.contains(&name.as_str()))
    }

    /// What `self` lacks of `target`: tables, columns and indexes (by name), one line each.
    /// Types, nullability and uniqueness are not compared; see [`Schema::differences`].
    pub fn missing_from(&self, target: &Schema) -> Vec<String> {
        let mut missing = Vec::new();
        for (name, want) in target.server_tables() {
            let Some(have) = self.tables.get(name) else {
                missing.push(format!("table {name}"));
                continue;
            };
            for column in want.columns.keys() {
                if !have.columns.contains_key(column) {
                    missing.push(format!("column {name}.{column}"));
                }
            }
            for index in want.indexes.keys() {
                if !have.indexes.contains_key(index) {
                    missing.push(format!("index {index} on {name}"));
                }
            }
        }
        missing
    }

    /// Every difference between two schemas' server tables: names of tables, columns and
    /// indexes, column type families and nullability, index uniqueness and columns. Empty when
    /// they match.
    pub fn differences(&self, other: &Schema) -> Vec<String> {
        let mut out = other.missing_from(self);
        out.extend(
            self.missing_from(other)
                .into_iter()
                .map(|m| format!("extra {m}")),
        );
        for (name, mine) in self.server_tables() {
            let Some(theirs) = other.tables.get(name) else {
                continue;
            };
            for (column, a) in &mine.columns {
                let Some(b) = theirs.columns.get(column) else {
                    continue;
                };
                if a.family() != b.family() {
                    out.push(format!(
                        "column {name}.{column}: {} here, {} there",
                        a.data_type, b.data_type
                    ));
                }
                if a.nullable != b.nullable {
                    out.push(format!(
                        "column {name}.{column}: nullable {} here, {} there",
                        a.nullable, b.nullable
                    ));
                }
            }
            for (index, a) in &mine.indexes {
                let Some(b) = theirs.indexes.get(index) else {
                    continue;
                };
                if a != b {
                    out.push(format!("index {index} on {name}: {a:?} here, {b:?} there"));
                }
            }
        }
        out
    }
}

#[derive(DeriveByName)]
struct TableRow {
    #[diesel(sql_type = Text)]
    t: String,
}

#[derive(DeriveByName)]
struct ColumnRow {
    #[diesel(sql_type = Text)]
    t: String,
    #[diesel(sql_type = Text)]
    c: String,
    #[diesel(sql_type = Text)]
    ty: String,
    #[diesel(sql_type = Nullable<Integer>)]
    len: Option<i32>,
    #[diesel(sql_type = Text)]
    n: String,
    #[diesel(sql_type = Nullable<Text>)]
    d: Option<String>,
    #[diesel(sql_type = Text)]
    x: String,
}

#[derive(DeriveByName)]
struct IndexRow {
    #[diesel(sql_type = Text)]
    t: String,
    #[diesel(sql_type = Text)]
    i: String,
    #[diesel(sql_type = BigInt)]
    u: i64,
    #[diesel(sql_type = Text)]
    c: String,
}

#[derive(DeriveByName)]
struct SqliteColumn {
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Text)]
    ty: String,
    #[diesel(sql_type = Integer)]
    nn: i32,
    #[diesel(sql_type = Nullable<Text>)]
    dflt: Option<String>,
    #[diesel(sql_type = Integer)]
    pk: i32,
}

#[derive(DeriveByName)]
struct SqliteIndex {
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Integer)]
    uniq: i32,
    #[diesel(sql_type = Text)]
    origin: String,
}

/// One number.
#[derive(DeriveByName)]
pub(crate) struct Count {
    #[diesel(sql_type = BigInt)]
    pub(crate) n: i64,
}

/// One string.
#[derive(DeriveByName)]
pub(crate) struct Word {
    #[diesel(sql_type = Text)]
    pub(crate) v: String,
}

/// Runs a query on whichever backend `conn` is.
pub(crate) fn load<R>(conn: &mut AnyConnection, sql: &str) -> Result<Vec<R>, DbError>
where
    R: QueryableByName<Pg> + QueryableByName<Mysql> + QueryableByName<Sqlite> + 'static,
{
    Ok(match conn {
        AnyConnection::Postgresql(c) => diesel::sql_query(sql).load::<R>(c)?,
        AnyConnection::Mysql(c) => diesel::sql_query(sql).load::<R>(c)?,
        AnyConnection::Sqlite(c) => diesel::sql_query(sql).load::<R>(c)?,
    })
}

/// The backend of a connection.
pub(crate) fn backend_of(conn: &AnyConnection) -> Backend {
    match conn {
        AnyConnection::Postgresql(_) => Backend::Postgres,
        AnyConnection::Mysql(_) => Backend::Mysql,
        AnyConnection::Sqlite(_) => Backend::Sqlite,
    }
}

/// A string literal (names come from catalogues and our own migrations; quotes are doubled
/// anyway).
fn literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// Reads the schema of the database `conn` is connected to (PostgreSQL: its current schema).
///
/// # Errors
/// Query failures.
pub fn read(conn: &mut AnyConnection) -> Result<Schema, DbError> {
    let mut schema = Schema::default();
    match backend_of(conn) {
        Backend::Sqlite => {
            let tables: Vec<TableRow> = load(
                conn,
                "SELECT name AS t FROM sqlite_master WHERE type = 'table' \
                 AND name NOT LIKE 'sqlite_%'",
            )?;
            for TableRow { t } in tables {
                let mut table = Table::default();
                let columns: Vec<SqliteColumn> = load(
                    conn,
                    &format!(
                        "SELECT name, type AS ty, \"notnull\" AS nn, dflt_value AS dflt, pk \
                         FROM pragma_table_info({})",
                        literal(&t)
                    ),
                )?;
                for c in columns {
                    table.columns.insert(
                        c.name,
                        Column {
                            data_type: c.ty.to_ascii_lowercase(),
                            nullable: c.nn == 0 && c.pk == 0,
                            default: c.dflt,
                            auto_increment: false,
                        },
                    );
                }
                let indexes: Vec<SqliteIndex> = load(
                    conn,
                    &format!(
                        "SELECT name, \"unique\" AS uniq, origin FROM pragma_index_list({})",
                        literal(&t)
                    ),
                )?;
                for i in indexes.into_iter().filter(|i| i.origin != "pk") {
                    let columns: Vec<Word> = load(
                        conn,
                        &format!(
                            "SELECT name AS v FROM pragma_index_info({}) ORDER BY seqno",
                            literal(&i.name)
                        ),
                    )?;
                    table.indexes.insert(
                        i.name,
                        Index {
                            unique: i.uniq != 0,
                            columns: columns.into_iter().map(|w| w.v).collect(),
                        },
                    );
                }
                schema.tables.insert(t, table);
            }
        }
        Backend::Postgres => {
            let tables: Vec<TableRow> = load(
                conn,
                "SELECT table_name::text AS t FROM information_schema.tables \
                 WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'",
            )?;
            for TableRow { t } in tables {
                schema.tables.insert(t, Table::default());
            }
            let columns: Vec<ColumnRow> = load(
                conn,
                "SELECT table_name::text AS t, column_name::text AS c, data_type::text AS ty, \
                 character_maximum_length::int4 AS len, is_nullable::text AS n, \
                 column_default::text AS d, '' AS x \
                 FROM information_schema.columns WHERE table_schema = current_schema()",
            )?;
            add_columns(&mut schema, columns);
            let indexes: Vec<IndexRow> = load(
                conn,
                "SELECT t.relname::text AS t, i.relname::text AS i, \
                 (CASE WHEN ix.indisunique THEN 1 ELSE 0 END)::int8 AS u, a.attname::text AS c \
                 FROM pg_index ix \
                 JOIN pg_class i ON i.oid = ix.indexrelid \
                 JOIN pg_class t ON t.oid = ix.indrelid \
                 JOIN pg_namespace ns ON ns.oid = t.relnamespace \
                 CROSS JOIN LATERAL unnest(ix.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord) \
                 JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum \
                 WHERE ns.nspname = current_schema() AND NOT ix.indisprimary \
                 ORDER BY t.relname, i.relname, k.ord",
            )?;
            add_indexes(&mut schema, indexes);
        }
        Backend::Mysql => {
            let tables: Vec<TableRow> = load(
                conn,
                "SELECT CAST(table_name AS CHAR) AS t FROM information_schema.tables \
                 WHERE table_schema = DATABASE() AND table_type = 'BASE TABLE'",
            )?;
            for TableRow { t } in tables {
                schema.tables.insert(t, Table::default());
            }
            let columns: Vec<ColumnRow> = load(
                conn,
                "SELECT CAST(table_name AS CHAR) AS t, CAST(column_name AS CHAR) AS c, \
                 CAST(column_type AS CHAR) AS ty, CAST(NULL AS SIGNED) AS len, \
                 CAST(is_nullable AS CHAR) AS n, CAST(column_default AS CHAR) AS d, \
                 CAST(extra AS CHAR) AS x \
                 FROM information_schema.columns WHERE table_schema = DATABASE()",
            )?;
            add_columns(&mut schema, columns);
            let indexes: Vec<IndexRow> = load(
                conn,
                "SELECT CAST(table_name AS CHAR) AS t, CAST(index_name AS CHAR) AS i, \
                 CAST(1 - non_unique AS SIGNED) AS u, CAST(column_name AS CHAR) AS c \
                 FROM information_schema.statistics \
                 WHERE table_schema = DATABASE() AND index_name <> 'PRIMARY' \
                 ORDER BY table_name, index_name, seq_in_index",
            )?;
            add_indexes(&mut schema, indexes);
        }
    }
    Ok(schema)
}

fn add_columns(schema: &mut Schema, rows: Vec<ColumnRow>) {
    for r in rows {
        let Some(table) = schema.tables.get_mut(&r.t) else {
            continue; // a view
        };
        let ty = r.ty.to_ascii_lowercase();
        let data_type = match r.len {
            Some(len) if !ty.contains('(') => format!("{ty}({len})"),
            _ => ty,
        };
        // MariaDB reports a column without a default as the text `NULL`.
        let default = r.d.filter(|d| !d.eq_ignore_ascii_case("null"));
        table.columns.insert(
            r.c,
            Column {
                data_type,
                nullable: r.n.eq_ignore_ascii_case("yes"),
                default,
                auto_increment: r.x.to_ascii_lowercase().contains("auto_increment"),
            },
        );
    }
}

fn add_indexes(schema: &mut Schema, rows: Vec<IndexRow>) {
    for r in rows {
        let Some(table) = schema.tables.get_mut(&r.t) else {
            continue;
        };
        table
            .indexes
            .entry(r.i)
            .or_insert_with(|| Index {
                unique: r.u != 0,
                columns: Vec::new(),
            })
            .columns
            .push(r.c);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_families_and_widths() {
        assert_eq!(type_rank("int(11)"), (TypeFamily::Integer, 4));
        assert_eq!(type_rank("integer"), (TypeFamily::Integer, 4));
        assert_eq!(type_rank("BIGINT"), (TypeFamily::Integer, 8));
        assert_eq!(type_rank("bigint(20) unsigned"), (TypeFamily::Integer, 8));
        assert_eq!(type_rank("character varying(10)"), (TypeFamily::Text, 10));
        assert_eq!(type_rank("VARCHAR(255)"), (TypeFamily::Text, 255));
        assert_eq!(type_rank("char(56)"), (TypeFamily::Text, 56));
        // MySQL's sizes, so that a TEXT of 64 KiB is widened to a MEDIUMTEXT of 16 MiB.
        assert_eq!(type_rank("text"), (TypeFamily::Text, 65_535));
        assert!(type_rank("mediumtext").1 > type_rank("text").1);
        assert!(type_rank("longtext").1 > type_rank("mediumtext").1);
        assert!(type_rank("varchar(255)").1 < type_rank("text").1);
        assert_eq!(
            type_rank("timestamp without time zone").0,
            TypeFamily::Timestamp
        );
        assert_eq!(type_rank("datetime").0, TypeFamily::Timestamp);
    }
}
