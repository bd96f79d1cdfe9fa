//! One database layer over SQLite, MySQL/MariaDB and PostgreSQL.
//!
//! The backend is picked from `[database] url` by scheme (`sqlite://PATH`, `mysql://…`,
//! `postgres://…`), or from the legacy `type` (`sqlite3`, `mysql`, `postgres`) with `url` or
//! `dsn` in the forms the Go servers accepted: a plain SQLite path, a Go MySQL DSN
//! (`user:pass@tcp(host:3306)/db?parseTime=true`) or a libpq `key=value` string.
//!
//! Connections are made per backend rather than through `MultiConnection::establish`, which
//! hides the real error ("access denied", "connection refused") behind "invalid URL". Diesel is
//! synchronous, so queries run on tokio's blocking pool through [`Database::run`], except SQLite
//! point reads through [`Database::read`], which are cheaper than the hand-off.

use std::fmt;
use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::migration::{Migration, MigrationSource};
use diesel::r2d2::{ManageConnection, Pool};
use diesel::{Connection, MysqlConnection, PgConnection, SqliteConnection};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness};
use serde::Deserialize;

use crate::config::ConfigError;

pub mod adopt;
#[cfg(feature = "testing")]
pub mod lockstep;
mod operator_sql;
pub mod schema;

pub use operator_sql::{BoundSql, OperatorSql};

/// One connection to whichever backend is configured.
#[derive(diesel::MultiConnection)]
#[allow(missing_debug_implementations)]
pub enum AnyConnection {
    /// PostgreSQL.
    Postgresql(PgConnection),
    /// MySQL or MariaDB.
    Mysql(MysqlConnection),
    /// SQLite (bundled).
    Sqlite(SqliteConnection),
}

/// The database engines we support.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Backend {
    /// SQLite, embedded: nothing to install.
    Sqlite,
    /// MySQL or MariaDB.
    Mysql,
    /// PostgreSQL.
    Postgres,
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Sqlite => "sqlite",
            Self::Mysql => "mysql",
            Self::Postgres => "postgres",
        })
    }
}

/// The `[database]` section.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSettings {
    /// Legacy backend name: `sqlite3`, `mysql` or `postgres`. Optional when `url` has a scheme.
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
    /// Connection URL (or legacy DSN).
    #[serde(default)]
    pub url: Option<String>,
    /// The legacy federation server's name for `url`.
    #[serde(default)]
    pub dsn: Option<String>,
    /// Pool size (SQLite in-memory databases always use one connection).
    #[serde(default = "default_max_connections")]
    pub max_connections: u32,
    /// Seconds to wait for a pooled connection before failing the request.
    #[serde(default = "default_connection_timeout")]
    pub connection_timeout_seconds: u64,
    /// SQLite only: run point reads ([`Database::read`]) on the request's own thread when a
    /// connection is idle. Turn off when the database file is on slow storage (a network
    /// file system), where even a cached read may wait for the disk.
    #[serde(default = "default_sqlite_inline_reads")]
    pub sqlite_inline_reads: bool,
}

fn default_sqlite_inline_reads() -> bool {
    true
}

fn default_max_connections() -> u32 {
    10
}

fn default_connection_timeout() -> u64 {
    10
}

impl DatabaseSettings {
    /// Settings for a URL with defaults for everything else.
    pub fn from_url(url: impl Into<String>) -> Self {
        Self {
            kind: None,
            url: Some(url.into()),
            dsn: None,
            max_connections: default_max_connections(),
            connection_timeout_seconds: default_connection_timeout(),
            sqlite_inline_reads: default_sqlite_inline_reads(),
        }
    }

    /// The backend and the connection string diesel understands.
    ///
    /// # Errors
    /// [`ConfigError::Setting`] naming `database.url` or `database.type`.
    pub fn connection(&self) -> Result<(Backend, String), ConfigError> {
        let raw = self
            .url
            .as_deref()
            .or(self.dsn.as_deref())
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| ConfigError::setting("database.url", "is required"))?;
        let scheme = raw.split_once("://").map(|(s, _)| s.to_ascii_lowercase());
        let backend = match self.kind.as_deref().map(str::to_ascii_lowercase).as_deref() {
            Some("sqlite3" | "sqlite") => Backend::Sqlite,
            Some("mysql") => Backend::Mysql,
            Some("postgres" | "postgresql") => Backend::Postgres,
            Some(other) => {
                return Err(ConfigError::setting(
                    "database.type",
                    format!("is {other:?}; use sqlite3, mysql or postgres"),
                ));
            }
            None => match scheme.as_deref() {
                Some("sqlite" | "sqlite3") => Backend::Sqlite,
                Some("mysql") => Backend::Mysql,
                Some("postgres" | "postgresql") => Backend::Postgres,
                _ => {
                    return Err(ConfigError::setting(
                        "database.url",
                        "needs a sqlite://, mysql:// or postgres:// scheme (or set database.type)",
                    ));
                }
            },
        };
        let url = match backend {
            Backend::Sqlite => raw
                .split_once("://")
                .map_or(raw, |(_, path)| path)
                .to_owned(),
            Backend::Mysql if scheme.is_none() => go_mysql_dsn_to_url(raw)?,
            Backend::Mysql | Backend::Postgres => raw.to_owned(),
        };
        if url.is_empty() {
            return Err(ConfigError::setting("database.url", "has an empty path"));
        }
        Ok((backend, url))
    }
}

impl fmt::Debug for DatabaseSettings {
    /// URLs carry passwords: only the backend is shown.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DatabaseSettings")
            .field("kind", &self.kind)
            .field("url", &self.url.as_ref().map(|_| "<redacted>"))
            .field("dsn", &self.dsn.as_ref().map(|_| "<redacted>"))
            .field("max_connections", &self.max_connections)
            .field(
                "connection_timeout_seconds",
                &self.connection_timeout_seconds,
            )
            .field("sqlite_inline_reads", &self.sqlite_inline_reads)
            .finish()
    }
}

/// `user:pass@tcp(host:port)/db?params` → `mysql://user:pass@host:port/db`.
///
/// As in the Go driver, `user:pass@(host:port)/db` (no protocol) is tcp, and a missing address
/// (`user@/db`, `user@tcp/db`) is `127.0.0.1:3306`.
///
/// Go driver parameters (`parseTime`, `charset`…) have no meaning for diesel and are dropped.
fn go_mysql_dsn_to_url(dsn: &str) -> Result<String, ConfigError> {
    let invalid = || {
        ConfigError::setting(
            "database.url",
            "is not a MySQL URL or Go DSN (user:password@tcp(host:port)/database)",
        )
    };
    let (credentials, rest) = dsn.rsplit_once('@').unwrap_or(("", dsn));
    let (address, database) = rest.split_once('/').ok_or_else(invalid)?;
    let database = database.split('?').next().unwrap_or_default();
    let (user, password) = credentials.split_once(':').unwrap_or((credentials, ""));
    let mut url = url::Url::parse("mysql://localhost").map_err(|_| invalid())?;
    // `[protocol[(address)]]`: the Go driver reads an empty protocol as tcp
    // (`user:password@(host:port)/db`, the legacy READMEs' form).
    let host = match address.split_once('(') {
        Some(("tcp" | "", addr)) => addr.strip_suffix(')').ok_or_else(invalid)?.to_owned(),
        Some(("unix", path)) => {
            let path = path.strip_suffix(')').ok_or_else(invalid)?;
            url.query_pairs_mut().append_pair("unix_socket", path);
            "localhost".to_owned()
        }
        Some(_) => return Err(invalid()),
        None if address.is_empty() || address == "tcp" => "127.0.0.1:3306".to_owned(),
        None => address.to_owned(),
    };
    let (hostname, port) = match host.rsplit_once(':') {
        Some((h, p)) => (h, Some(p.parse::<u16>().map_err(|_| invalid())?)),
        None => (host.as_str(), None),
    };
    url.set_host(Some(hostname)).map_err(|_| invalid())?;
    url.set_port(port).map_err(|_| invalid())?;
    url.set_username(&percent_encode(user))
        .map_err(|_| invalid())?;
    if !password.is_empty() {
        url.set_password(Some(&percent_encode(password)))
            .map_err(|_| invalid())?;
    }
    url.set_path(database);
    Ok(url.to_string())
}

/// Escapes everything but unreserved characters, so a password with `@`, `/` or `%` survives.
fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Why a database operation failed.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// The server could not be reached or refused us; the message is the driver's.
    #[error("cannot connect to the {backend} database: {message}")]
    Connect {
        /// Which backend.
        backend: Backend,
        /// The driver's error.
        message: String,
    },
    /// No pooled connection became free in time.
    #[error("database pool: {0}")]
    Pool(String),
    /// A query failed.
    #[error("database query failed: {0}")]
    Query(#[from] diesel::result::Error),
    /// Migrations failed.
    #[error("database migration failed: {0}")]
    Migration(String),
    /// The blocking task panicked or was cancelled.
    #[error("database task did not complete: {0}")]
    Task(String),
}

/// Opens connections of one backend for the pool.
#[derive(Debug)]
pub struct ConnectionManager {
    backend: Backend,
    url: String,
}

/// Readies OpenSSL, which libpq (TLS to PostgreSQL unless `sslmode=disable`) and MariaDB's client
/// library use, before either touches it. Left to them, OpenSSL frees its state in an `atexit`
/// handler, under any thread still inside it (an r2d2 worker opening a connection, a pool
/// dropped on another thread): a process then aborts at exit with "double free or corruption"
/// instead of exiting with its status (diesel-rs/diesel#3441, sfackler/r2d2#137). Initialised
/// here first, without that handler, OpenSSL leaves its memory to the operating system.
pub(crate) fn ready_openssl() {
    openssl_sys::init();
}

impl ConnectionManager {
    fn establish(&self) -> Result<AnyConnection, diesel::ConnectionError> {
        if self.backend != Backend::Sqlite {
            ready_openssl();
        }
        Ok(match self.backend {
            Backend::Postgres => AnyConnection::Postgresql(PgConnection::establish(&self.url)?),
            Backend::Mysql => AnyConnection::Mysql(MysqlConnection::establish(&self.url)?),
            Backend::Sqlite => {
                let mut conn = SqliteConnection::establish(&self.url)?;
                // WAL lets readers work while a writer commits; the busy timeout makes writers
                // queue instead of failing with "database is locked".
                conn.batch_execute(
                    // busy_timeout first: switching to WAL takes a lock, and several
                    // connections of a new pool open at once.
                    "PRAGMA busy_timeout = 5000; PRAGMA journal_mode = WAL; \
                     PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL;",
                )
                .map_err(|e| diesel::ConnectionError::BadConnection(e.to_string()))?;
                AnyConnection::Sqlite(conn)
            }
        })
    }
}

impl ManageConnection for ConnectionManager {
    type Connection = AnyConnection;
    type Error = diesel::ConnectionError;

    fn connect(&self) -> Result<AnyConnection, Self::Error> {
        self.establish()
    }

    fn is_valid(&self, conn: &mut AnyConnection) -> Result<(), Self::Error> {
        conn.batch_execute("SELECT 1")
            .map_err(|e| diesel::ConnectionError::BadConnection(e.to_string()))
    }

    fn has_broken(&self, conn: &mut AnyConnection) -> bool {
        diesel::r2d2::R2D2Connection::is_broken(conn)
    }
}

/// The migrations of one server, one folder per backend, kept in lockstep. Build it from the
/// `embed_migrations!` constants each time it is needed (they are compile-time data).
#[allow(missing_debug_implementations)]
pub struct BackendMigrations {
    /// `migrations/sqlite`.
    pub sqlite: EmbeddedMigrations,
    /// `migrations/mysql`.
    pub mysql: EmbeddedMigrations,
    /// `migrations/postgres`.
    pub postgres: EmbeddedMigrations,
    /// The same migrations' `up.sql` texts, for adopting a schema that exists already
    /// (see [`adopt`]); written with [`migration_sql!`](crate::migration_sql).
    pub sql: MigrationSql,
}

/// The `up.sql` of each migration, by directory name, per backend.
#[derive(Debug, Clone, Copy)]
pub struct MigrationSql {
    /// `migrations/sqlite/*/up.sql`.
    pub sqlite: &'static [(&'static str, &'static str)],
    /// `migrations/mysql/*/up.sql`.
    pub mysql: &'static [(&'static str, &'static str)],
    /// `migrations/postgres/*/up.sql`.
    pub postgres: &'static [(&'static str, &'static str)],
}

/// [`MigrationSql`] for migration directories that exist under `migrations/sqlite`,
/// `migrations/mysql` and `migrations/postgres` of the calling crate (in lockstep, so one list
/// of directory names). A migration missing from the list is refused at start-up, by name.
#[macro_export]
macro_rules! migration_sql {
    ($($dir:literal),* $(,)?) => {
        $crate::database::MigrationSql {
            sqlite: &[$(($dir, include_str!(concat!(
                env!("CARGO_MANIFEST_DIR"), "/migrations/sqlite/", $dir, "/up.sql"
            )))),*],
            mysql: &[$(($dir, include_str!(concat!(
                env!("CARGO_MANIFEST_DIR"), "/migrations/mysql/", $dir, "/up.sql"
            )))),*],
            postgres: &[$(($dir, include_str!(concat!(
                env!("CARGO_MANIFEST_DIR"), "/migrations/postgres/", $dir, "/up.sql"
            )))),*],
        }
    };
}

fn migration_error(e: impl fmt::Display) -> DbError {
    DbError::Migration(e.to_string())
}

/// The migrations of `source` not yet recorded in diesel's table, oldest first.
fn pending<C, DB>(
    conn: &mut C,
    source: &EmbeddedMigrations,
) -> Result<Vec<Box<dyn Migration<DB>>>, DbError>
where
    C: MigrationHarness<DB>,
    DB: diesel::backend::Backend,
    EmbeddedMigrations: MigrationSource<DB>,
{
    let applied: std::collections::HashSet<String> = conn
        .applied_migrations()
        .map_err(migration_error)?
        .iter()
        .map(ToString::to_string)
        .collect();
    let mut all = MigrationSource::<DB>::migrations(source).map_err(migration_error)?;
    all.sort_by_key(|m| m.name().version().to_string());
    Ok(all
        .into_iter()
        .filter(|m| !applied.contains(&m.name().version().to_string()))
        .collect())
}

/// Runs migrations in order.
fn run_all<C, DB>(conn: &mut C, migrations: &[Box<dyn Migration<DB>>]) -> Result<(), DbError>
where
    C: MigrationHarness<DB>,
    DB: diesel::backend::Backend,
{
    for m in migrations {
        conn.run_migration(m.as_ref()).map_err(migration_error)?;
    }
    Ok(())
}

fn names<DB: diesel::backend::Backend>(
    migrations: &[Box<dyn Migration<DB>>],
) -> Vec<(String, String)> {
    migrations
        .iter()
        .map(|m| (m.name().to_string(), m.name().version().to_string()))
        .collect()
}

/// A connection pool; cheap to clone.
#[derive(Clone)]
pub struct Database {
    pool: Pool<ConnectionManager>,
    backend: Backend,
    /// [`Database::read`] may run on the calling thread (SQLite with `sqlite_inline_reads`).
    inline_reads: bool,
    /// One permit per pooled connection: queries wait here, on the async side, instead of
    /// parking one blocking thread each while they wait for a connection.
    permits: std::sync::Arc<tokio::sync::Semaphore>,
    /// The file of an SQLite database on disk (`None` for servers and in-memory SQLite).
    sqlite_file: Option<std::path::PathBuf>,
    /// SQLite only: write transactions take turns here (see [`Database::write_turn`]).
    writes: Option<std::sync::Arc<tokio::sync::Mutex<()>>>,
}

/// Holds an SQLite database file for this process (see [`Database::lock_single_instance`]);
/// released when dropped, or by the kernel when the process dies however it dies.
#[derive(Debug)]
pub struct InstanceLock {
    _file: std::fs::File,
}

/// The file behind an SQLite connection string, unless it is in memory.
fn sqlite_file(url: &str) -> Option<std::path::PathBuf> {
    let path = url.strip_prefix("file:").unwrap_or(url);
    let (path, query) = path.split_once('?').unwrap_or((path, ""));
    if path.is_empty() || path == ":memory:" || query.contains("mode=memory") {
        return None;
    }
    Some(std::path::PathBuf::from(path))
}

impl fmt::Debug for Database {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Database({})", self.backend)
    }
}

impl Database {
    /// Connects (once, to report a real error early) and builds the pool.
    ///
    /// # Errors
    /// [`DbError::Connect`] with the driver's message; settings errors as [`DbError::Connect`]
    /// too, since they surface at the same moment for the operator.
    pub fn connect(settings: &DatabaseSettings) -> Result<Self, DbError> {
        let (backend, url) = settings.connection().map_err(|e| DbError::Connect {
            backend: Backend::Sqlite,
            message: e.to_string(),
        })?;
        let in_memory = backend == Backend::Sqlite && url.contains(":memory:");
        let sqlite_file = (backend == Backend::Sqlite)
            .then(|| sqlite_file(&url))
            .flatten();
        let manager = ConnectionManager { backend, url };
        // Connect once by hand: r2d2 would retry until its timeout and then report only
        // "timed out waiting for connection".
        let first = manager.establish().map_err(|e| DbError::Connect {
            backend,
            message: e.to_string(),
        })?;
        let size = if in_memory {
            1
        } else {
            settings.max_connections.max(1)
        };
        let pool = Pool::builder()
            .max_size(size)
            .min_idle(Some(0))
            // A broken connection fails its query and is replaced; checking every checkout
            // would cost a round trip per query.
            .test_on_check_out(false)
            .connection_timeout(Duration::from_secs(
                settings.connection_timeout_seconds.max(1),
            ))
            .build_unchecked(manager);
        drop(first);
        Ok(Self {
            pool,
            backend,
            inline_reads: backend == Backend::Sqlite && settings.sqlite_inline_reads,
            permits: std::sync::Arc::new(tokio::sync::Semaphore::new(size as usize)),
            sqlite_file,
            writes: (backend == Backend::Sqlite)
                .then(|| std::sync::Arc::new(tokio::sync::Mutex::new(()))),
        })
    }

    /// Connects and, given a server's migrations, applies the pending ones (adopting an
    /// existing schema as [`Database::migrate`] does), on the blocking pool: how every server
    /// opens its database at start-up and for `--migrate-db`. Returns the pool and the names of
    /// the migrations applied (none without `migrations`).
    ///
    /// # Errors
    /// As [`Database::connect`] and [`Database::migrate`]; [`DbError::Task`] if the blocking
    /// task dies.
    pub async fn open(
        settings: &DatabaseSettings,
        migrations: Option<BackendMigrations>,
    ) -> Result<(Self, Vec<String>), DbError> {
        let settings = settings.clone();
        tokio::task::spawn_blocking(move || {
            let db = Self::connect(&settings)?;
            let applied = match migrations {
                Some(migrations) => db.migrate(migrations)?,
                None => Vec::new(),
            };
            Ok((db, applied))
        })
        .await
        .map_err(|e| DbError::Task(e.to_string()))?
    }

    /// Which backend this is.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Held for the length of a write transaction that reads first (SQLite only; `None`
    /// elsewhere): such transactions take turns here, one per database for every store of
    /// the process, rather than in SQLite, whose busy handler sleeps and which fails at once a
    /// transaction that read before another connection committed.
    pub async fn write_turn(&self) -> Option<tokio::sync::MutexGuard<'_, ()>> {
        match &self.writes {
            Some(lock) => Some(lock.lock().await),
            None => None,
        }
    }

    /// Runs `work` with a pooled connection on the blocking thread pool.
    ///
    /// # Errors
    /// The work's own error, or [`DbError::Pool`] / [`DbError::Task`].
    pub async fn run<F, R>(&self, work: F) -> Result<R, DbError>
    where
        F: FnOnce(&mut AnyConnection) -> Result<R, DbError> + Send + 'static,
        R: Send + 'static,
    {
        let permit = self
            .permits
            .acquire()
            .await
            .map_err(|e| DbError::Task(e.to_string()))?;
        let db = self.clone();
        let result = tokio::task::spawn_blocking(move || db.run_blocking(work))
            .await
            .map_err(|e| DbError::Task(e.to_string()))?;
        // Released only once the blocking thread is free again, so the next query reuses it
        // instead of waking another one.
        drop(permit);
        result
    }

    /// Runs a short indexed read: on SQLite on the calling thread when a pooled connection is
    /// idle (unless `sqlite_inline_reads` is off), otherwise as [`Database::run`].
    ///
    /// Handing a query to the blocking pool and back costs more CPU than a SQLite point read
    /// (tens of microseconds against a few), and in WAL mode a reader never waits for a writer,
    /// so the async worker is held only for the read itself. Not for writes or scans: those
    /// would stall every request on the same worker.
    ///
    /// # Errors
    /// As [`Database::run`].
    pub async fn read<F, R>(&self, work: F) -> Result<R, DbError>
    where
        F: FnOnce(&mut AnyConnection) -> Result<R, DbError> + Send + 'static,
        R: Send + 'static,
    {
        if self.inline_reads
            && let Ok(permit) = self.permits.try_acquire()
            && let Some(mut conn) = self.pool.try_get()
        {
            let result = work(&mut conn);
            drop(conn);
            drop(permit);
            return result;
        }
        self.run(work).await
    }

    /// Runs `work` on the current thread: for start-up and command-line tasks only.
    ///
    /// # Errors
    /// As [`Database::run`].
    pub fn run_blocking<F, R>(&self, work: F) -> Result<R, DbError>
    where
        F: FnOnce(&mut AnyConnection) -> Result<R, DbError>,
    {
        let mut conn = self.pool.get().map_err(|e| DbError::Pool(e.to_string()))?;
        work(&mut conn)
    }

    /// Applies pending migrations and returns the names of those applied.
    ///
    /// When a pending migration would create a table that exists already (the legacy servers'
    /// schema, or ours after a crash in the middle of a migration), the pending migrations are
    /// adopted instead: applied step by step, additively, each step only if needed, and then
    /// recorded as applied (see [`adopt`]).
    ///
    /// # Errors
    /// [`DbError::Migration`].
    pub fn migrate(&self, migrations: BackendMigrations) -> Result<Vec<String>, DbError> {
        let BackendMigrations {
            sqlite,
            mysql,
            postgres,
            sql,
        } = migrations;
        self.run_blocking(|conn| {
            let (sources, pending_names) = match conn {
                AnyConnection::Sqlite(c) => (sql.sqlite, names(&pending(c, &sqlite)?)),
                AnyConnection::Mysql(c) => (sql.mysql, names(&pending(c, &mysql)?)),
                AnyConnection::Postgresql(c) => (sql.postgres, names(&pending(c, &postgres)?)),
            };
            if pending_names.is_empty() {
                return Ok(Vec::new());
            }
            // Every pending migration's SQL, when listed; one not listed is run by diesel
            // as usual, but cannot be adopted.
            let with_sql: Vec<adopt::Pending<'_>> = pending_names
                .iter()
                .map(|(name, _)| adopt::Pending {
                    name,
                    sql: sources
                        .iter()
                        .find(|(dir, _)| dir == name)
                        .map_or("", |&(_, sql)| sql),
                })
                .collect();
            let existing = schema::read(conn)?;
            let applied: Vec<String> = pending_names.iter().map(|(n, _)| n.clone()).collect();
            if adopt::needs_adoption(&existing, &with_sql) {
                if let Some(unlisted) = with_sql.iter().find(|m| m.sql.is_empty()) {
                    return Err(DbError::Migration(format!(
                        "an existing schema needs adopting, but migration {} is not listed in \
                         the server's migration_sql! list (add its directory name there)",
                        unlisted.name
                    )));
                }
                let versions: Vec<String> = pending_names.iter().map(|(_, v)| v.clone()).collect();
                // One transaction: on PostgreSQL and SQLite a crash leaves nothing half done;
                // MySQL commits each DDL statement, and the next start finishes the steps.
                conn.transaction::<_, DbError, _>(|conn| {
                    adopt::adopt(conn, &with_sql)?;
                    adopt::record(conn, &versions)
                })?;
                tracing::info!(
                    migrations = %applied.join(", "),
                    "existing schema adopted; migrations recorded as applied"
                );
                return Ok(applied);
            }
            match conn {
                AnyConnection::Sqlite(c) => {
                    let todo = pending(c, &sqlite)?;
                    run_all(c, &todo)
                }
                AnyConnection::Mysql(c) => {
                    let todo = pending(c, &mysql)?;
                    run_all(c, &todo)
                }
                AnyConnection::Postgresql(c) => {
                    let todo = pending(c, &postgres)?;
                    run_all(c, &todo)
                }
            }?;
            Ok(applied)
        })
    }

    /// The tables, columns and indexes of the database (see [`schema::read`]).
    ///
    /// # Errors
    /// Query failures.
    pub fn schema(&self) -> Result<schema::Schema, DbError> {
        self.run_blocking(schema::read)
    }

    /// SQLite is the single-instance embedded backend: a server that writes to it calls this at
    /// start-up and keeps the lock for its whole life, so that a second instance started on the
    /// same file refuses to start instead of racing the first one on sequence numbers,
    /// listeners and deliveries that only a shared server database can coordinate. An
    /// advisory `flock` on the database file itself: it does not touch SQLite's own locks, and
    /// the kernel releases it when the process dies, so a crash never leaves a stale lock.
    /// `None` for MariaDB, PostgreSQL and in-memory SQLite.
    ///
    /// # Errors
    /// The message for the operator when another process holds the file.
    pub fn lock_single_instance(&self) -> Result<Option<InstanceLock>, String> {
        let Some(path) = &self.sqlite_file else {
            return Ok(None);
        };
        let file = std::fs::File::open(path)
            .map_err(|e| format!("cannot open SQLite database {}: {e}", path.display()))?;
        match file.try_lock() {
            Ok(()) => Ok(Some(InstanceLock { _file: file })),
            Err(std::fs::TryLockError::WouldBlock) => Err(format!(
                "another instance is already running on the SQLite database {}; SQLite serves \
                 one instance only: to run several instances, use MariaDB or PostgreSQL \
                 ([database] url = \"mysql://…\" or \"postgres://…\")",
                path.display()
            )),
            Err(std::fs::TryLockError::Error(e)) => Err(format!(
                "cannot lock SQLite database {}: {e}",
                path.display()
            )),
        }
    }

    /// True when a trivial query succeeds (for `/health`).
    pub async fn is_healthy(&self) -> bool {
        self.run(|conn| {
            conn.batch_execute("SELECT 1")?;
            Ok(())
        })
        .await
        .is_ok()
    }
}

/// The database server's clock, in Unix milliseconds: what leases shared by several instances
/// are timed with, so that the hosts' clocks never need to agree.
///
/// # Errors
/// Query failures.
pub fn clock_ms(conn: &mut AnyConnection) -> Result<i64, DbError> {
    let sql = match conn {
        AnyConnection::Postgresql(_) => {
            "SELECT CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT) AS n"
        }
        AnyConnection::Mysql(_) => "SELECT CAST(UNIX_TIMESTAMP(NOW(3)) * 1000 AS SIGNED) AS n",
        AnyConnection::Sqlite(_) => {
            "SELECT CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER) AS n"
        }
    };
    schema::load::<schema::Count>(conn, sql)?
        .first()
        .map(|row| row.n)
        .ok_or_else(|| DbError::Query(diesel::result::Error::NotFound))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(kind: Option<&str>, url: &str) -> DatabaseSettings {
        DatabaseSettings {
            kind: kind.map(str::to_owned),
            ..DatabaseSettings::from_url(url)
        }
    }

    #[test]
    fn backends_from_schemes_and_legacy_types() {
        let cases = [
            (None, "sqlite://fed.db", Backend::Sqlite, "fed.db"),
            (
                None,
                "sqlite:///var/lib/fed.db",
                Backend::Sqlite,
                "/var/lib/fed.db",
            ),
            (Some("sqlite3"), "./fed.db", Backend::Sqlite, "./fed.db"),
            (
                None,
                "mysql://root@127.0.0.1/db",
                Backend::Mysql,
                "mysql://root@127.0.0.1/db",
            ),
            (
                Some("mysql"),
                "bob:s3cr%t@tcp(db.local:3307)/fed?parseTime=true",
                Backend::Mysql,
                "mysql://bob:s3cr%25t@db.local:3307/fed",
            ),
            (
                Some("mysql"),
                "root@tcp(127.0.0.1)/fed",
                Backend::Mysql,
                "mysql://root@127.0.0.1/fed",
            ),
            (
                Some("postgres"),
                "host=127.0.0.1 user=postgres dbname=fed sslmode=disable",
                Backend::Postgres,
                "host=127.0.0.1 user=postgres dbname=fed sslmode=disable",
            ),
            (
                None,
                "postgresql://u@h/db",
                Backend::Postgres,
                "postgresql://u@h/db",
            ),
        ];
        for (kind, url, backend, expected) in cases {
            assert_eq!(
                settings(kind, url).connection().unwrap(),
                (backend, expected.to_owned()),
                "{kind:?} {url}"
            );
        }
    }

    /// The Go driver's `[protocol[(address)]]` with the protocol left out is tcp: the legacy
    /// READMEs' `user:password@(host:port)/db` form.
    #[test]
    fn go_dsn_without_a_protocol_is_tcp() {
        let cases = [
            (
                "dbuser:dbpass@(127.0.0.1:3306)/dbname",
                "mysql://dbuser:dbpass@127.0.0.1:3306/dbname",
            ),
            (
                "root@(db.local)/bridge?parseTime=true",
                "mysql://root@db.local/bridge",
            ),
            (
                "root:@(localhost:3307)/fed",
                "mysql://root@localhost:3307/fed",
            ),
            ("root@tcp/fed", "mysql://root@127.0.0.1:3306/fed"),
            ("root@/fed", "mysql://root@127.0.0.1:3306/fed"),
        ];
        for (dsn, expected) in cases {
            assert_eq!(
                settings(Some("mysql"), dsn).connection().unwrap(),
                (Backend::Mysql, expected.to_owned()),
                "{dsn}"
            );
        }
        for bad in ["root@udp(127.0.0.1:3306)/fed", "root@(127.0.0.1:3306/fed"] {
            assert!(settings(Some("mysql"), bad).connection().is_err(), "{bad}");
        }
    }

    #[test]
    fn bad_database_settings_name_the_key() {
        let err = settings(Some("oracle"), "x")
            .connection()
            .unwrap_err()
            .to_string();
        assert!(err.contains("database.type"), "{err}");
        let err = settings(None, "fed.db")
            .connection()
            .unwrap_err()
            .to_string();
        assert!(err.contains("database.url"), "{err}");
        let missing = DatabaseSettings {
            url: None,
            ..DatabaseSettings::from_url("")
        };
        assert!(
            missing
                .connection()
                .unwrap_err()
                .to_string()
                .contains("required")
        );
        assert!(!format!("{:?}", settings(None, "mysql://u:pw@h/d")).contains("pw"));
    }

    #[tokio::test]
    async fn sqlite_connects_migrates_and_runs_on_the_blocking_pool() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("t.db").display());
        let db = Database::connect(&DatabaseSettings::from_url(url)).unwrap();
        assert_eq!(db.backend(), Backend::Sqlite);
        assert!(db.is_healthy().await);
    }

    #[tokio::test]
    async fn sqlite_point_reads_run_inline_unless_turned_off() {
        for inline in [true, false] {
            let dir = tempfile::tempdir().unwrap();
            let url = format!("sqlite://{}", dir.path().join("t.db").display());
            let db = Database::connect(&DatabaseSettings {
                sqlite_inline_reads: inline,
                ..DatabaseSettings::from_url(url)
            })
            .unwrap();
            // Leaves one idle connection in the pool.
            db.run(|conn| Ok(conn.batch_execute("SELECT 1")?))
                .await
                .unwrap();
            let caller = std::thread::current().id();
            let ran_on = db
                .read(|conn| {
                    conn.batch_execute("SELECT 1")?;
                    Ok(std::thread::current().id())
                })
                .await
                .unwrap();
            assert_eq!(ran_on == caller, inline, "sqlite_inline_reads = {inline}");
        }
    }

    #[test]
    fn unreachable_servers_report_the_driver_error() {
        let err = Database::connect(&DatabaseSettings::from_url(
            "postgres://nobody@127.0.0.1:1/none?connect_timeout=2",
        ))
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("postgres") && err.contains("127.0.0.1"),
            "{err}"
        );
    }
}
