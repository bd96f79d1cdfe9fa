//! Adopting a schema that exists already: the legacy Go servers' (with their `gorp_migrations`
//! table), or ours after a crash in the middle of a migration that MySQL could not roll back.
//!
//! Diesel would run `CREATE TABLE sent_transaction` and stop at the first table that exists.
//! Instead, when a pending migration creates a table that is already there, its statements
//! are applied one by one, each only if what it creates is missing, and only additively:
//!
//! * a missing table is created, as the migration says;
//! * a missing column is added, with a default so that existing rows (and rows a legacy
//!   server writes after a rollback) get a value;
//! * a column narrower than ours (`int` where we have `BIGINT`, `varchar(255)` where we have
//!   `TEXT`) is widened to our type: every stored value is kept as it is;
//! * a missing index is created; a unique index that the stored rows would violate is created
//!   without `UNIQUE` (and a warning says so), so that no row has to change.
//!
//! Nothing is dropped, renamed or narrowed, and no row is written. The legacy
//! `gorp_migrations` table and legacy-only indexes stay. Once the database has everything the
//! migrations define (checked against the catalogue), the migrations are recorded as applied
//! in diesel's table; a crash before that point leaves them pending, and the next start
//! continues where this one stopped, since every step checks first.

use diesel::connection::SimpleConnection;

use super::schema::{self, Count, Schema, TypeFamily, Word, type_rank};
use super::{AnyConnection, Backend, DbError};

/// One statement of one of our migrations, as far as adoption needs to understand it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Statement {
    /// `CREATE TABLE name (…)`.
    CreateTable {
        /// Table name.
        table: String,
        /// Column name and its whole definition, in order.
        columns: Vec<(String, String)>,
        /// The statement.
        sql: String,
    },
    /// `CREATE [UNIQUE] INDEX name ON table (columns)`.
    CreateIndex {
        /// Index name.
        name: String,
        /// Table name.
        table: String,
        /// Unique index.
        unique: bool,
        /// Indexed columns.
        columns: Vec<String>,
    },
    /// `ALTER TABLE table ADD [COLUMN] definition`.
    AddColumn {
        /// Table name.
        table: String,
        /// Column name.
        column: String,
        /// The column's definition.
        definition: String,
    },
    /// `ALTER TABLE table MODIFY [COLUMN] column definition` (MySQL) or `ALTER TABLE table
    /// ALTER COLUMN column TYPE type` (PostgreSQL): widening a column.
    ModifyColumn {
        /// Table name.
        table: String,
        /// Column name.
        column: String,
        /// The column's definition, its name first.
        definition: String,
    },
    /// `SELECT …`: a migration with nothing to do on this backend.
    NoOp,
    /// Anything else: cannot be applied conditionally.
    Other(String),
}

/// `ALTER TABLE t MODIFY [COLUMN] c definition` or `ALTER TABLE t ALTER COLUMN c TYPE type`.
fn parse_modify(s: &str) -> Option<Statement> {
    let words: Vec<&str> = s.split(' ').collect();
    let table = (*words.get(2)?).to_owned();
    let verb = words.get(3)?.to_ascii_uppercase();
    let rest = match verb.as_str() {
        "MODIFY" => &words[4..],
        "ALTER" => &words[4..],
        _ => return None,
    };
    let rest = match rest.first() {
        Some(w) if w.eq_ignore_ascii_case("COLUMN") => &rest[1..],
        _ => rest,
    };
    let column = (*rest.first()?).to_owned();
    let definition = if verb == "ALTER" {
        // `c TYPE type`: the same shape as a definition once `TYPE` is dropped.
        if !rest.get(1)?.eq_ignore_ascii_case("TYPE") {
            return None;
        }
        format!("{column} {}", rest[2..].join(" "))
    } else {
        rest.join(" ")
    };
    Some(Statement::ModifyColumn {
        table,
        column,
        definition,
    })
}

/// Splits a migration's `up.sql` into statements.
pub fn parse(sql: &str) -> Vec<Statement> {
    let without_comments = sql
        .lines()
        .map(|l| l.split("--").next().unwrap_or_default())
        .collect::<Vec<_>>()
        .join("\n");
    without_comments
        .split(';')
        .map(|s| s.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|s| !s.is_empty())
        .map(|s| parse_statement(&s))
        .collect()
}

fn parse_statement(s: &str) -> Statement {
    let upper = s.to_ascii_uppercase();
    if let Some(rest) = upper.strip_prefix("CREATE TABLE ") {
        let Some(open) = s.find('(') else {
            return Statement::Other(s.to_owned());
        };
        let table = rest
            .split(|c: char| c == '(' || c.is_whitespace())
            .next()
            .unwrap_or_default();
        let table = s["CREATE TABLE ".len().."CREATE TABLE ".len() + table.len()].to_owned();
        let body = s[open + 1..].trim_end();
        let Some(body) = body.strip_suffix(')') else {
            return Statement::Other(s.to_owned());
        };
        let mut columns = Vec::new();
        for item in split_top_level(body) {
            let item = item.trim();
            let first = item.split_whitespace().next().unwrap_or_default();
            if matches!(
                first.to_ascii_uppercase().as_str(),
                "PRIMARY" | "UNIQUE" | "KEY" | "CONSTRAINT" | "INDEX" | "FOREIGN" | "CHECK"
            ) {
                // A table constraint: nothing in our migrations uses one.
                return Statement::Other(s.to_owned());
            }
            columns.push((first.to_owned(), item.to_owned()));
        }
        return Statement::CreateTable {
            table,
            columns,
            sql: s.to_owned(),
        };
    }
    if upper.starts_with("SELECT ") {
        return Statement::NoOp;
    }
    if upper.starts_with("ALTER TABLE ") {
        if let Some(modify) = parse_modify(s) {
            return modify;
        }
        let words: Vec<&str> = s.splitn(5, ' ').collect();
        if words.len() == 5 && words[3].eq_ignore_ascii_case("ADD") {
            let definition = if words[4].to_ascii_uppercase().starts_with("COLUMN ") {
                words[4]["COLUMN ".len()..].trim()
            } else {
                words[4].trim()
            };
            let column = definition.split_whitespace().next().unwrap_or_default();
            if !matches!(
                column.to_ascii_uppercase().as_str(),
                "PRIMARY" | "UNIQUE" | "KEY" | "CONSTRAINT" | "INDEX" | "FOREIGN" | "CHECK" | ""
            ) && !definition.contains(',')
            {
                return Statement::AddColumn {
                    table: words[2].to_owned(),
                    column: column.to_owned(),
                    definition: definition.to_owned(),
                };
            }
        }
        return Statement::Other(s.to_owned());
    }
    let (unique, rest) = if upper.starts_with("CREATE UNIQUE INDEX ") {
        (true, &s["CREATE UNIQUE INDEX ".len()..])
    } else if upper.starts_with("CREATE INDEX ") {
        (false, &s["CREATE INDEX ".len()..])
    } else {
        return Statement::Other(s.to_owned());
    };
    let words: Vec<&str> = rest.splitn(3, ' ').collect();
    if words.len() < 3 || !words[1].eq_ignore_ascii_case("ON") {
        return Statement::Other(s.to_owned());
    }
    let name = words[0].to_owned();
    let Some((table, cols)) = words[2].split_once('(') else {
        return Statement::Other(s.to_owned());
    };
    let columns = cols
        .trim_end()
        .trim_end_matches(')')
        .split(',')
        .map(|c| c.trim().to_owned())
        .collect();
    Statement::CreateIndex {
        name,
        table: table.trim().to_owned(),
        unique,
        columns,
    }
}

fn split_top_level(body: &str) -> Vec<String> {
    let (mut out, mut current, mut depth, mut quoted) = (Vec::new(), String::new(), 0, false);
    for c in body.chars() {
        match c {
            '\'' => quoted = !quoted,
            '(' if !quoted => depth += 1,
            ')' if !quoted => depth -= 1,
            ',' if !quoted && depth == 0 => {
                out.push(std::mem::take(&mut current));
                continue;
            }
            _ => {}
        }
        current.push(c);
    }
    if !current.trim().is_empty() {
        out.push(current);
    }
    out
}

/// The schema our migrations define, without running them.
pub fn target(migrations: &[&str]) -> Schema {
    let mut schema = Schema::default();
    for sql in migrations {
        for statement in parse(sql) {
            match statement {
                Statement::CreateTable { table, columns, .. } => {
                    let t = schema.tables.entry(table).or_default();
                    for (name, definition) in columns {
                        let ty = definition
                            .split_whitespace()
                            .nth(1)
                            .unwrap_or_default()
                            .to_ascii_lowercase();
                        let upper = definition.to_ascii_uppercase();
                        t.columns.insert(
                            name,
                            schema::Column {
                                data_type: ty,
                                nullable: !upper.contains("NOT NULL")
                                    && !upper.contains("PRIMARY KEY"),
                                default: None,
                                auto_increment: upper.contains("AUTO_INCREMENT"),
                            },
                        );
                    }
                }
                Statement::CreateIndex {
                    name,
                    table,
                    unique,
                    columns,
                } => {
                    schema
                        .tables
                        .entry(table)
                        .or_default()
                        .indexes
                        .insert(name, schema::Index { unique, columns });
                }
                Statement::AddColumn {
                    table,
                    column,
                    definition,
                } => {
                    let upper = definition.to_ascii_uppercase();
                    schema.tables.entry(table).or_default().columns.insert(
                        column,
                        schema::Column {
                            data_type: definition
                                .split_whitespace()
                                .nth(1)
                                .unwrap_or_default()
                                .to_ascii_lowercase(),
                            nullable: !upper.contains("NOT NULL"),
                            default: None,
                            auto_increment: false,
                        },
                    );
                }
                Statement::ModifyColumn {
                    table,
                    column,
                    definition,
                } => {
                    // A widened type; nullability stays what the column had.
                    if let Some(c) = schema
                        .tables
                        .get_mut(&table)
                        .and_then(|t| t.columns.get_mut(&column))
                    {
                        c.data_type = definition
                            .split_whitespace()
                            .nth(1)
                            .unwrap_or_default()
                            .to_ascii_lowercase();
                    }
                }
                Statement::NoOp | Statement::Other(_) => {}
            }
        }
    }
    schema
}

/// A pending migration: its name and `up.sql`.
#[derive(Debug, Clone, Copy)]
pub struct Pending<'a> {
    /// The migration's directory name.
    pub name: &'a str,
    /// Its `up.sql`.
    pub sql: &'static str,
}

/// Whether the pending migrations must be adopted rather than run: one of them creates a
/// table that exists already.
pub fn needs_adoption(existing: &Schema, pending: &[Pending<'_>]) -> bool {
    pending.iter().any(|m| {
        parse(m.sql)
            .iter()
            .any(|s| matches!(s, Statement::CreateTable { table, .. } if existing.has_table(table)))
    })
}

/// Logs what is there before adopting it: the legacy migrations applied and the rows kept.
fn log_found(conn: &mut AnyConnection, existing: &Schema) -> Result<(), DbError> {
    if existing.has_table("gorp_migrations") {
        let cast = match schema::backend_of(conn) {
            Backend::Mysql => "CAST(id AS CHAR)",
            _ => "CAST(id AS TEXT)",
        };
        let ids: Vec<Word> = schema::load(
            conn,
            &format!("SELECT {cast} AS v FROM gorp_migrations ORDER BY id"),
        )?;
        let ids: Vec<String> = ids.into_iter().map(|w| w.v).collect();
        tracing::info!(
            legacy_migrations = %ids.join(", "),
            "found the legacy servers' schema (gorp_migrations): adopting it in place"
        );
    } else {
        tracing::info!("found tables that the pending migrations would create: adopting them");
    }
    for (name, _) in existing.server_tables() {
        let rows: Vec<Count> = schema::load(conn, &format!("SELECT COUNT(*) AS n FROM {name}"))?;
        let rows = rows.first().map_or(0, |c| c.n);
        tracing::info!(table = %name, rows, "existing table kept with its rows");
    }
    Ok(())
}

/// `DEFAULT` for a column added to a table that has rows.
fn zero_default(definition: &str) -> &'static str {
    match type_rank(definition.split_whitespace().nth(1).unwrap_or_default()).0 {
        TypeFamily::Integer => "0",
        TypeFamily::Timestamp => "CURRENT_TIMESTAMP",
        TypeFamily::Text | TypeFamily::Other => "''",
    }
}

fn add_column(
    conn: &mut AnyConnection,
    backend: Backend,
    table: &str,
    column: &str,
    definition: &str,
) -> Result<(), DbError> {
    let upper = definition.to_ascii_uppercase();
    if upper.contains("PRIMARY KEY") {
        return Err(DbError::Migration(format!(
            "cannot adopt table {table}: it has no {column} column (its primary key)"
        )));
    }
    let needs_default = upper.contains("NOT NULL") && !upper.contains("DEFAULT");
    tracing::info!(%table, %column, "adding column");
    if needs_default {
        // The default stays: existing rows get it, and so do rows that a legacy server writes
        // after a rollback (it does not know the column).
        let with_default = format!(
            "ALTER TABLE {table} ADD COLUMN {definition} DEFAULT {}",
            zero_default(definition)
        );
        match conn.batch_execute(&with_default) {
            Ok(()) => return Ok(()),
            // MySQL before 8.0.13 allows no DEFAULT on TEXT columns: existing rows then get
            // the type's implicit default ('').
            Err(e) if backend == Backend::Mysql => {
                tracing::debug!(error = %e, "column default refused; adding it without");
            }
            Err(e) => return Err(e.into()),
        }
    }
    conn.batch_execute(&format!("ALTER TABLE {table} ADD COLUMN {definition}"))?;
    Ok(())
}

/// Widens `have` to the migration's type when it holds less; never narrows.
fn widen(
    conn: &mut AnyConnection,
    backend: Backend,
    table: &str,
    column: &str,
    have: &schema::Column,
    definition: &str,
) -> Result<(), DbError> {
    let want = definition
        .split_whitespace()
        .nth(1)
        .unwrap_or_default()
        .to_ascii_uppercase();
    let (have_family, have_width) = type_rank(&have.data_type);
    let (want_family, want_width) = type_rank(&want);
    if backend == Backend::Sqlite || have_family != want_family || have_width >= want_width {
        return Ok(());
    }
    let want = match want.as_str() {
        "BIGSERIAL" => "BIGINT".to_owned(),
        "SERIAL" => "INTEGER".to_owned(),
        other => other.to_owned(),
    };
    let sql = match backend {
        Backend::Postgres => format!("ALTER TABLE {table} ALTER COLUMN {column} TYPE {want}"),
        _ => {
            if have.default.is_some() {
                tracing::warn!(
                    %table, %column, have = %have.data_type, %want,
                    "column narrower than ours has a default: left as it is"
                );
                return Ok(());
            }
            format!(
                "ALTER TABLE {table} MODIFY COLUMN {column} {want}{}{}",
                if have.nullable { " NULL" } else { " NOT NULL" },
                if have.auto_increment {
                    " AUTO_INCREMENT"
                } else {
                    ""
                }
            )
        }
    };
    tracing::info!(%table, %column, from = %have.data_type, to = %want, "widening column");
    conn.batch_execute(&sql)?;
    Ok(())
}

fn create_index(
    conn: &mut AnyConnection,
    table: &str,
    name: &str,
    unique: bool,
    columns: &[String],
) -> Result<(), DbError> {
    let list = columns.join(", ");
    let mut unique = unique;
    if unique {
        let duplicates: Vec<Count> = schema::load(
            conn,
            &format!(
                "SELECT COUNT(*) AS n FROM (SELECT 1 AS one FROM {table} GROUP BY {list} \
                 HAVING COUNT(*) > 1) dup"
            ),
        )?;
        let duplicates = duplicates.first().map_or(0, |c| c.n);
        if duplicates > 0 {
            tracing::warn!(
                %table, index = %name, columns = %list, duplicates,
                "stored rows repeat what this unique index would forbid: created it without \
                 UNIQUE, so that no row has to change"
            );
            unique = false;
        }
    }
    tracing::info!(%table, index = %name, columns = %list, unique, "creating index");
    conn.batch_execute(&format!(
        "CREATE {}INDEX {name} ON {table} ({list})",
        if unique { "UNIQUE " } else { "" }
    ))?;
    Ok(())
}

/// Applies the pending migrations' statements to a database that has some of what they
/// create, each only if missing (see the module documentation). Checks the result against
/// the catalogue; the caller then records the migrations as applied.
///
/// # Errors
/// [`DbError::Migration`] when a statement cannot be applied conditionally or the result still
/// lacks something; query failures.
pub fn adopt(conn: &mut AnyConnection, pending: &[Pending<'_>]) -> Result<(), DbError> {
    let backend = schema::backend_of(conn);
    let existing = schema::read(conn)?;
    log_found(conn, &existing)?;
    for migration in pending {
        tracing::info!(migration = %migration.name, "adopting migration");
        for statement in parse(migration.sql) {
            // Re-read after every change: each step sees what the previous one did.
            let now = schema::read(conn)?;
            match statement {
                Statement::CreateTable {
                    table,
                    columns,
                    sql,
                } => match now.tables.get(&table) {
                    None => {
                        tracing::info!(%table, "creating table");
                        conn.batch_execute(&sql)?;
                    }
                    Some(have) => {
                        for (column, definition) in &columns {
                            match have.columns.get(column) {
                                None => add_column(conn, backend, &table, column, definition)?,
                                Some(c) => widen(conn, backend, &table, column, c, definition)?,
                            }
                        }
                    }
                },
                Statement::CreateIndex {
                    name,
                    table,
                    unique,
                    columns,
                } => {
                    let exists = now
                        .tables
                        .get(&table)
                        .is_some_and(|t| t.indexes.contains_key(&name));
                    if !exists {
                        create_index(conn, &table, &name, unique, &columns)?;
                    }
                }
                Statement::AddColumn {
                    table,
                    column,
                    definition,
                } => match now.tables.get(&table).map(|t| t.columns.get(&column)) {
                    Some(None) => add_column(conn, backend, &table, &column, &definition)?,
                    Some(Some(c)) => widen(conn, backend, &table, &column, c, &definition)?,
                    None => {
                        return Err(DbError::Migration(format!(
                            "migration {} adds {column} to {table}, which does not exist",
                            migration.name
                        )));
                    }
                },
                Statement::ModifyColumn {
                    table,
                    column,
                    definition,
                } => match now.tables.get(&table).and_then(|t| t.columns.get(&column)) {
                    Some(have) => widen(conn, backend, &table, &column, have, &definition)?,
                    None => {
                        return Err(DbError::Migration(format!(
                            "migration {} changes {table}.{column}, which does not exist",
                            migration.name
                        )));
                    }
                },
                Statement::NoOp => {}
                Statement::Other(sql) => {
                    return Err(DbError::Migration(format!(
                        "migration {} cannot be applied to a schema that exists already \
                         (statement not understood by adoption: {sql})",
                        migration.name
                    )));
                }
            }
        }
    }
    let target = target(&pending.iter().map(|m| m.sql).collect::<Vec<_>>());
    let missing = schema::read(conn)?.missing_from(&target);
    if !missing.is_empty() {
        return Err(DbError::Migration(format!(
            "the adopted schema still lacks: {}",
            missing.join(", ")
        )));
    }
    Ok(())
}

/// Records migrations as applied in diesel's table (which exists: the caller asked diesel for
/// the applied ones first).
///
/// # Errors
/// Query failures.
pub fn record(conn: &mut AnyConnection, versions: &[String]) -> Result<(), DbError> {
    for version in versions {
        let version = version.replace('\'', "''");
        conn.batch_execute(&format!(
            "INSERT INTO __diesel_schema_migrations (version) VALUES ('{version}')"
        ))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_our_migration_statements() {
        let sql = "CREATE TABLE t (\n  id BIGINT AUTO_INCREMENT PRIMARY KEY,\n  \
                   name VARCHAR(255) NOT NULL DEFAULT 'N/A',\n  n DECIMAL(10, 2)\n);\n\
                   -- a comment; with a semicolon\n\
                   CREATE UNIQUE INDEX t_by_name ON t (name, n);\nCREATE INDEX x ON t (n);\n\
                   UPDATE t SET n = 1;";
        let statements = parse(sql);
        assert_eq!(statements.len(), 4, "{statements:?}");
        match &statements[0] {
            Statement::CreateTable { table, columns, .. } => {
                assert_eq!(table, "t");
                let names: Vec<_> = columns.iter().map(|(n, _)| n.as_str()).collect();
                assert_eq!(names, ["id", "name", "n"]);
                assert_eq!(columns[2].1, "n DECIMAL(10, 2)");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            statements[1],
            Statement::CreateIndex {
                name: "t_by_name".into(),
                table: "t".into(),
                unique: true,
                columns: vec!["name".into(), "n".into()],
            }
        );
        assert!(matches!(
            &statements[2],
            Statement::CreateIndex { unique: false, .. }
        ));
        assert!(matches!(&statements[3], Statement::Other(_)));
        assert_eq!(
            parse(
                "ALTER TABLE auth_data MODIFY COLUMN auth_data MEDIUMTEXT NOT NULL;\n\
                 ALTER TABLE t ALTER COLUMN data TYPE TEXT; SELECT 1;"
            ),
            [
                Statement::ModifyColumn {
                    table: "auth_data".into(),
                    column: "auth_data".into(),
                    definition: "auth_data MEDIUMTEXT NOT NULL".into(),
                },
                Statement::ModifyColumn {
                    table: "t".into(),
                    column: "data".into(),
                    definition: "data TEXT".into(),
                },
                Statement::NoOp,
            ]
        );
        assert_eq!(
            parse("ALTER TABLE auth_data ADD COLUMN request_digest VARCHAR(64);"),
            [Statement::AddColumn {
                table: "auth_data".into(),
                column: "request_digest".into(),
                definition: "request_digest VARCHAR(64)".into(),
            }]
        );
        assert!(matches!(
            &parse("ALTER TABLE t DROP COLUMN x")[0],
            Statement::Other(_)
        ));
        let target = target(&[sql]);
        let t = &target.tables["t"];
        assert!(!t.columns["name"].nullable && t.columns["n"].nullable);
        assert!(!t.columns["id"].nullable && t.columns["id"].auto_increment);
    }
}
