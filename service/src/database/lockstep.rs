//! Test support: are a server's three migration sets (SQLite, MySQL, PostgreSQL) in step?
//!
//! Each set is applied to a fresh database of its backend (those in `TEST_BACKENDS`) and the
//! resulting catalogues are compared: the same tables, columns (type families and nullability)
//! and indexes (names, uniqueness, columns). The `up.sql` texts are compared the same way
//! without a database, so a run on one backend still checks all three; and the directories on
//! disk must be the ones listed in the server's `migration_sql!`.

use std::path::Path;

use super::adopt;
use super::schema::Schema;
use super::{Backend, BackendMigrations, Database};
use crate::testing::{self, TestDatabase};

fn dirs(root: &Path, backend: &str) -> Vec<String> {
    let mut out: Vec<String> = std::fs::read_dir(root.join("migrations").join(backend))
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter(|e| e.path().join("up.sql").is_file())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

/// Every way in which the migration sets of the crate at `manifest_dir` (built by `make`) are
/// out of step; empty when they agree.
///
/// # Panics
/// When a database in `TEST_BACKENDS` cannot be created or migrated.
pub fn problems(manifest_dir: &str, make: impl Fn() -> BackendMigrations) -> Vec<String> {
    let mut problems = Vec::new();
    let root = Path::new(manifest_dir);
    let sql = make().sql;
    let listed: Vec<String> = sql.sqlite.iter().map(|(d, _)| (*d).to_owned()).collect();
    for (backend, texts) in [
        ("sqlite", sql.sqlite),
        ("mysql", sql.mysql),
        ("postgres", sql.postgres),
    ] {
        let on_disk = dirs(root, backend);
        let mut in_list: Vec<String> = texts.iter().map(|(d, _)| (*d).to_owned()).collect();
        in_list.sort();
        if on_disk != in_list {
            problems.push(format!(
                "migrations/{backend} has {on_disk:?} but migration_sql! lists {in_list:?}"
            ));
        }
        if in_list != {
            let mut l = listed.clone();
            l.sort();
            l
        } {
            problems.push(format!("migration_sql! lists differ for {backend}"));
        }
    }

    // The SQL texts, parsed.
    let parsed =
        |texts: &[(&str, &str)]| adopt::target(&texts.iter().map(|(_, s)| *s).collect::<Vec<_>>());
    let reference = parsed(sql.sqlite);
    for (name, texts) in [("mysql", sql.mysql), ("postgres", sql.postgres)] {
        for d in reference.differences(&parsed(texts)) {
            problems.push(format!("up.sql of sqlite vs {name}: {d}"));
        }
    }

    // The databases, migrated.
    let mut migrated: Vec<(Backend, Schema)> = Vec::new();
    for backend in testing::backends() {
        let db = TestDatabase::new(backend);
        let database = Database::connect(&db.settings()).expect("connect");
        database.migrate(make()).expect("migrate");
        let schema = database.schema().expect("read the schema");
        let texts = match backend {
            Backend::Sqlite => sql.sqlite,
            Backend::Mysql => sql.mysql,
            Backend::Postgres => sql.postgres,
        };
        for d in parsed(texts).differences(&schema) {
            problems.push(format!("{backend}: up.sql vs migrated database: {d}"));
        }
        migrated.push((backend, schema));
    }
    if let Some(((first, reference), rest)) = migrated.split_first() {
        for (backend, schema) in rest {
            for d in reference.differences(schema) {
                problems.push(format!("{first} vs {backend}: {d}"));
            }
        }
    }
    problems
}
