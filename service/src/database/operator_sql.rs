//! SQL written by an operator (federation lookups), run as a cached prepared statement.
//!
//! `diesel::sql_query` marks every statement it runs as unsafe to cache, so SQLite parsed and
//! planned the federation query again on every lookup. The operator's text is instead split
//! once, at start-up, at its placeholders; diesel then writes each backend's own placeholder
//! (`?`, or `$1…` on PostgreSQL) and caches the prepared statement by its text, per connection.

use diesel::backend::Backend as DieselBackend;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::result::Error as DieselError;
use diesel::serialize::ToSql;
use diesel::sql_types::{HasSqlType, Text, Untyped};
use diesel::{QueryResult, RunQueryDsl};

/// An operator's query, split at its placeholders.
///
/// Placeholders are `?` ([`OperatorSql::positional`]) or `:name` ([`OperatorSql::named`]);
/// anything inside quotes is text, `??` is a literal `?` (PostgreSQL's JSON operator), and a
/// PostgreSQL cast (`x::text`) is not a placeholder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperatorSql {
    /// The text around the placeholders: one more fragment than placeholders.
    fragments: Vec<String>,
    /// For named queries, the parameter of each placeholder in order; empty for positional.
    names: Vec<String>,
}

impl OperatorSql {
    /// SQL with `?` placeholders, bound in order.
    pub fn positional(sql: &str) -> Self {
        let mut fragments = vec![String::new()];
        let mut quote: Option<char> = None;
        let mut chars = sql.chars().peekable();
        while let Some(c) = chars.next() {
            let current = fragments.last_mut().expect("never empty");
            match (quote, c) {
                (Some(q), c) if c == q => {
                    quote = None;
                    current.push(c);
                }
                (Some(_), c) => current.push(c),
                (None, '\'' | '"' | '`') => {
                    quote = Some(c);
                    current.push(c);
                }
                (None, '?') if chars.peek() == Some(&'?') => {
                    chars.next();
                    current.push('?');
                }
                (None, '?') => fragments.push(String::new()),
                (None, c) => current.push(c),
            }
        }
        Self {
            fragments,
            names: Vec::new(),
        }
    }

    /// SQL with `:name` placeholders; [`OperatorSql::parameters`] lists the names in binding
    /// order (a name used twice is bound twice).
    pub fn named(sql: &str) -> Self {
        let mut fragments = vec![String::new()];
        let mut names = Vec::new();
        let mut quote: Option<char> = None;
        let chars: Vec<char> = sql.chars().collect();
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            let current = fragments.last_mut().expect("never empty");
            match quote {
                Some(q) => {
                    if c == q {
                        quote = None;
                    }
                    current.push(c);
                    i += 1;
                }
                None if matches!(c, '\'' | '"' | '`') => {
                    quote = Some(c);
                    current.push(c);
                    i += 1;
                }
                None if c == ':'
                    && chars
                        .get(i + 1)
                        .is_some_and(|n| n.is_ascii_alphabetic() || *n == '_')
                    && (i == 0 || chars[i - 1] != ':') =>
                {
                    let start = i + 1;
                    let mut end = start;
                    while end < chars.len()
                        && (chars[end].is_ascii_alphanumeric() || chars[end] == '_')
                    {
                        end += 1;
                    }
                    names.push(chars[start..end].iter().collect());
                    fragments.push(String::new());
                    i = end;
                }
                None => {
                    current.push(c);
                    i += 1;
                }
            }
        }
        Self { fragments, names }
    }

    /// How many values a run binds.
    pub fn placeholders(&self) -> usize {
        self.fragments.len() - 1
    }

    /// The parameter names of a named query, in binding order.
    pub fn parameters(&self) -> &[String] {
        &self.names
    }

    /// The same query inside `prefix` and `suffix` (for start-up probes that wrap it as a
    /// subquery). A trailing `;` is dropped first.
    #[must_use]
    pub fn wrapped(&self, prefix: &str, suffix: &str) -> Self {
        let mut fragments = self.fragments.clone();
        if let Some(first) = fragments.first_mut() {
            first.insert_str(0, prefix);
        }
        if let Some(last) = fragments.last_mut() {
            let trimmed = last.trim_end().trim_end_matches(';').trim_end().len();
            last.truncate(trimmed);
            last.push_str(suffix);
        }
        Self {
            fragments,
            names: self.names.clone(),
        }
    }

    /// The query with `args` bound as text, ready for diesel's `load` or `execute`.
    pub fn bind<'a>(&'a self, args: &'a [&'a str]) -> BoundSql<'a> {
        BoundSql { sql: self, args }
    }
}

/// An [`OperatorSql`] with its values.
#[derive(Debug, Clone, Copy)]
pub struct BoundSql<'a> {
    sql: &'a OperatorSql,
    args: &'a [&'a str],
}

impl<DB> QueryFragment<DB> for BoundSql<'_>
where
    DB: DieselBackend + HasSqlType<Text>,
    str: ToSql<Text, DB>,
{
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        if self.args.len() != self.sql.placeholders() {
            return Err(DieselError::QueryBuilderError(
                format!(
                    "the query has {} placeholders but {} values were given",
                    self.sql.placeholders(),
                    self.args.len()
                )
                .into(),
            ));
        }
        let (first, rest) = self.sql.fragments.split_first().expect("never empty");
        out.push_sql(first);
        for (fragment, arg) in rest.iter().zip(self.args) {
            out.push_bind_param::<Text, str>(arg)?;
            out.push_sql(fragment);
        }
        Ok(())
    }
}

/// Identified by its SQL text, which is what makes it cacheable.
impl QueryId for BoundSql<'_> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl Query for BoundSql<'_> {
    type SqlType = Untyped;
}

impl<Conn> RunQueryDsl<Conn> for BoundSql<'_> {}

#[cfg(test)]
mod tests {
    use diesel::pg::Pg;
    use diesel::query_builder::QueryBuilder;
    use diesel::sqlite::Sqlite;

    use super::*;

    fn sql_for<DB>(query: BoundSql<'_>, backend: DB) -> String
    where
        DB: DieselBackend + HasSqlType<Text>,
        DB::QueryBuilder: Default,
        str: ToSql<Text, DB>,
    {
        let mut builder = DB::QueryBuilder::default();
        query.to_sql(&mut builder, &backend).unwrap();
        builder.finish()
    }

    #[test]
    fn placeholders_follow_the_backend_and_quotes_are_text() {
        let sql = OperatorSql::positional(
            "SELECT id FROM people WHERE name = ? AND domain = ? AND note <> '?' AND x ?? 'k'",
        );
        assert_eq!(sql.placeholders(), 2);
        let args = ["alice", "bank.test"];
        assert_eq!(
            sql_for(sql.bind(&args), Pg),
            "SELECT id FROM people WHERE name = $1 AND domain = $2 AND note <> '?' AND x ? 'k'"
        );
        assert_eq!(
            sql_for(sql.bind(&args), Sqlite),
            "SELECT id FROM people WHERE name = ? AND domain = ? AND note <> '?' AND x ? 'k'"
        );
    }

    #[test]
    fn named_parameters_are_listed_in_binding_order() {
        let sql = OperatorSql::named(
            "SELECT id FROM accts WHERE swift = :swift AND acct = :acct::text AND t = ':no'",
        );
        assert_eq!(sql.parameters(), ["swift", "acct"]);
        assert_eq!(
            sql_for(sql.bind(&["X", "1"]), Pg),
            "SELECT id FROM accts WHERE swift = $1 AND acct = $2::text AND t = ':no'"
        );
    }

    #[test]
    fn wrapping_keeps_the_placeholders_and_drops_a_trailing_semicolon() {
        let sql = OperatorSql::positional("SELECT id FROM people WHERE name = ? ;")
            .wrapped("SELECT id FROM (", ") AS probe WHERE 1 = 0");
        assert_eq!(
            sql_for(sql.bind(&[""]), Pg),
            "SELECT id FROM (SELECT id FROM people WHERE name = $1) AS probe WHERE 1 = 0"
        );
    }

    #[test]
    fn a_wrong_number_of_values_is_an_error_not_a_malformed_query() {
        let sql = OperatorSql::positional("SELECT ? , ?");
        let query = sql.bind(&["only one"]);
        let mut builder = <Pg as DieselBackend>::QueryBuilder::default();
        let err = query.to_sql(&mut builder, &Pg).unwrap_err();
        assert!(err.to_string().contains("2 placeholders"), "{err}");
    }
}
