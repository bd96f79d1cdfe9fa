//! Fresh databases for integration tests, on every backend.
//!
//! Each test gets its own database (a temp SQLite file, or `CREATE DATABASE t_<random>` on
//! MariaDB and PostgreSQL), dropped when the guard is dropped, so tests run in parallel. The
//! servers are found at `TEST_MYSQL_URL` (default `mysql://root@127.0.0.1:3306`) and
//! `TEST_POSTGRES_URL` (default `postgres://postgres@127.0.0.1:5432`). `TEST_BACKENDS`
//! (default `sqlite,mysql,postgres`) lists the backends the suite must cover; a listed backend
//! that cannot be reached fails the test loudly instead of being skipped.
//!
//! A test that runs on every backend is written once, as an `async fn(Backend)`, and
//! [`backend_tests!`](crate::backend_tests) generates one `#[test]` per backend from it,
//! `name::sqlite`, `name::mysql` and `name::postgres`, so a failure names its backend and
//! `cargo test mysql` runs one backend. A generated test whose backend is not in
//! `TEST_BACKENDS` passes at once, saying that it was skipped.
//!
//! Behind the `testing` feature, which the crates enable in their dev-dependencies.

use diesel::connection::SimpleConnection;
use diesel::{Connection, MysqlConnection, PgConnection};

use crate::database::{Backend, DatabaseSettings};

/// A database that exists for one test.
#[derive(Debug)]
pub struct TestDatabase {
    backend: Backend,
    settings: DatabaseSettings,
    admin_url: Option<String>,
    name: String,
    _dir: Option<tempfile::TempDir>,
}

/// The backends this test run must cover (from `TEST_BACKENDS`).
pub fn backends() -> Vec<Backend> {
    let list = std::env::var("TEST_BACKENDS").unwrap_or_else(|_| "sqlite,mysql,postgres".into());
    list.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(parse_backend)
        .collect()
}

/// Generates one `#[test]` per database backend from an `async fn name(backend: Backend)`
/// declared beside it: a module `name` with `sqlite`, `mysql` and `postgres` tests, each
/// running the function on a fresh Tokio runtime (as `#[tokio::test]` does) when its backend is
/// in `TEST_BACKENDS`, and skipped with a message otherwise
/// ([`run_on`](crate::testing::run_on)).
///
/// ```ignore
/// use service::database::Backend;
///
/// service::backend_tests!(lookups_answer);
/// async fn lookups_answer(backend: Backend) { /* ... */ }
///
/// // Only some backends; a multi-threaded runtime (two workers, like
/// // `#[tokio::test(flavor = "multi_thread", worker_threads = 2)]`):
/// service::backend_tests!(adopts_legacy; mysql, postgres);
/// service::backend_tests!(multi_thread starts_from_legacy_files);
/// ```
#[macro_export]
macro_rules! backend_tests {
    (@tests $runtime:ident $name:ident [$($backend:ident),+]) => {
        mod $name {
            $(
                #[test]
                fn $backend() {
                    $crate::testing::run_on(
                        stringify!($backend),
                        $crate::testing::Runtime::$runtime,
                        super::$name,
                    );
                }
            )+
        }
    };
    (multi_thread $name:ident; $($backend:ident),+ $(,)?) => {
        $crate::backend_tests!(@tests MultiThread $name [$($backend),+]);
    };
    (multi_thread $name:ident) => {
        $crate::backend_tests!(@tests MultiThread $name [sqlite, mysql, postgres]);
    };
    ($name:ident; $($backend:ident),+ $(,)?) => {
        $crate::backend_tests!(@tests CurrentThread $name [$($backend),+]);
    };
    ($name:ident) => {
        $crate::backend_tests!(@tests CurrentThread $name [sqlite, mysql, postgres]);
    };
}

/// The Tokio runtime a [`backend_tests!`](crate::backend_tests) test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Runtime {
    /// One thread, as `#[tokio::test]`.
    CurrentThread,
    /// Two worker threads, as `#[tokio::test(flavor = "multi_thread", worker_threads = 2)]`.
    MultiThread,
}

/// Runs `test` on `backend` (named as in `TEST_BACKENDS`) on a fresh Tokio runtime, or skips it
/// with a message on stderr when `TEST_BACKENDS` does not list that backend. What the tests
/// that [`backend_tests!`](crate::backend_tests) generates call.
///
/// # Panics
/// When `test` panics, or `backend` is not a backend's name.
pub fn run_on<F, Fut>(backend: &str, runtime: Runtime, test: F)
where
    F: FnOnce(Backend) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let backend = parse_backend(backend);
    if !backends().contains(&backend) {
        let list =
            std::env::var("TEST_BACKENDS").unwrap_or_else(|_| "sqlite,mysql,postgres".into());
        eprintln!("skipped: {backend} is not in TEST_BACKENDS ({list})");
        return;
    }
    let runtime = match runtime {
        Runtime::CurrentThread => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build(),
        Runtime::MultiThread => tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build(),
    }
    .expect("a Tokio runtime for the test");
    runtime.block_on(test(backend));
}

fn parse_backend(name: &str) -> Backend {
    match name {
        "sqlite" => Backend::Sqlite,
        "mysql" | "mariadb" => Backend::Mysql,
        "postgres" | "postgresql" => Backend::Postgres,
        other => panic!("TEST_BACKENDS: unknown backend {other:?}"),
    }
}

fn server_url(backend: Backend) -> String {
    let (var, default) = match backend {
        Backend::Mysql => ("TEST_MYSQL_URL", "mysql://root@127.0.0.1:3306"),
        Backend::Postgres => ("TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432"),
        Backend::Sqlite => unreachable!("SQLite needs no server"),
    };
    std::env::var(var)
        .unwrap_or_else(|_| default.into())
        .trim_end_matches('/')
        .to_owned()
}

impl TestDatabase {
    /// Creates a fresh, empty database.
    ///
    /// # Panics
    /// When the backend's server cannot be reached: the message says how to start it.
    pub fn new(backend: Backend) -> Self {
        let name = format!("t_{:016x}", rand::random::<u64>());
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("temp dir");
                let path = dir.path().join(format!("{name}.db"));
                Self {
                    backend,
                    settings: DatabaseSettings::from_url(format!("sqlite://{}", path.display())),
                    admin_url: None,
                    name,
                    _dir: Some(dir),
                }
            }
            Backend::Mysql | Backend::Postgres => {
                let server = server_url(backend);
                // No Kerberos here: libpq would otherwise try GSS encryption first, and
                // libkrb5's exit-time finalizer aborts a test binary whose last pool is still
                // connecting as it exits ("k5_mutex_lock: Received error 22").
                let params = match backend {
                    Backend::Postgres => "?gssencmode=disable",
                    _ => "",
                };
                let admin_url = match backend {
                    Backend::Mysql => format!("{server}/mysql"),
                    _ => format!("{server}/postgres{params}"),
                };
                admin(backend, &admin_url, &format!("CREATE DATABASE {name}"));
                Self {
                    backend,
                    settings: DatabaseSettings::from_url(format!("{server}/{name}{params}")),
                    admin_url: Some(admin_url),
                    name,
                    _dir: None,
                }
            }
        }
    }

    /// Settings that point at this database.
    pub fn settings(&self) -> DatabaseSettings {
        self.settings.clone()
    }

    /// The backend.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The connection URL (`sqlite://…`, `mysql://…`, `postgres://…`).
    pub fn url(&self) -> String {
        self.settings.url.clone().unwrap_or_default()
    }

    /// Runs `sql` (one or more statements) on this database.
    ///
    /// # Panics
    /// When it fails.
    pub fn execute(&self, sql: &str) {
        let sql = sql.to_owned();
        crate::Database::connect(&self.settings)
            .expect("connect to the test database")
            .run_blocking(move |conn| Ok(conn.batch_execute(&sql)?))
            .unwrap_or_else(|e| panic!("{e}"));
    }

    /// How many rows `table` holds.
    ///
    /// # Panics
    /// When the table cannot be read.
    pub fn count(&self, table: &str) -> i64 {
        let sql = format!("SELECT COUNT(*) AS n FROM {table}");
        crate::Database::connect(&self.settings)
            .expect("connect to the test database")
            .run_blocking(move |conn| {
                crate::database::schema::load::<crate::database::schema::Count>(conn, &sql)
            })
            .unwrap_or_else(|e| panic!("{e}"))
            .first()
            .map_or(0, |row| row.n)
    }

    /// The `type` and connection string a legacy operator would have written for this
    /// database: a path for `sqlite3`, a URL with `sslmode` for `postgres`, and for `mysql` the
    /// Go driver's DSN, `user[:password]@tcp(host:port)/dbname?parseTime=true`.
    pub fn legacy_connection(&self) -> (&'static str, String) {
        let url = self.url();
        match self.backend {
            Backend::Sqlite => ("sqlite3", url.trim_start_matches("sqlite://").to_owned()),
            Backend::Postgres => ("postgres", format!("{url}&sslmode=disable")),
            Backend::Mysql => {
                let parsed = url::Url::parse(&url).expect("a test database URL");
                let password = parsed
                    .password()
                    .map(|p| format!(":{p}"))
                    .unwrap_or_default();
                (
                    "mysql",
                    format!(
                        "{}{password}@tcp({}:{})/{}?parseTime=true",
                        parsed.username(),
                        parsed.host_str().unwrap_or("127.0.0.1"),
                        parsed.port().unwrap_or(3306),
                        parsed.path().trim_start_matches('/')
                    ),
                )
            }
        }
    }

    /// The `[database]` section of a legacy config file for this database, with `key` (`url`
    /// or `dsn`) holding the connection string ([`TestDatabase::legacy_connection`]).
    pub fn legacy_section(&self, key: &str) -> String {
        let (kind, value) = self.legacy_connection();
        format!("[database]\ntype = \"{kind}\"\n{key} = \"{value}\"\n")
    }
}

/// A loopback port that was free a moment ago, for a process that must be told its port.
///
/// # Panics
/// When no port can be bound.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port()
}

fn admin(backend: Backend, url: &str, sql: &str) {
    crate::database::ready_openssl();
    let hint = match backend {
        Backend::Mysql => {
            "start MariaDB (start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd) \
             or run ./scripts/test.sh, which starts it; or set TEST_MYSQL_URL"
        }
        _ => {
            "start PostgreSQL (pg_ctlcluster --skip-systemctl-redirect 15 main start) or run \
             ./scripts/test.sh, which starts it; or set TEST_POSTGRES_URL"
        }
    };
    let result = match backend {
        Backend::Mysql => MysqlConnection::establish(url)
            .map_err(|e| e.to_string())
            .and_then(|mut c| c.batch_execute(sql).map_err(|e| e.to_string())),
        _ => PgConnection::establish(url)
            .map_err(|e| e.to_string())
            .and_then(|mut c| c.batch_execute(sql).map_err(|e| e.to_string())),
    };
    if let Err(e) = result {
        panic!("{backend} test database at {url}: {e}\nhint: {hint}");
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let Some(admin_url) = &self.admin_url else {
            return;
        };
        let sql = match self.backend {
            Backend::Postgres => format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
            _ => format!("DROP DATABASE IF EXISTS {}", self.name),
        };
        crate::database::ready_openssl();
        let result = match self.backend {
            Backend::Mysql => MysqlConnection::establish(admin_url)
                .map_err(|e| e.to_string())
                .and_then(|mut c| c.batch_execute(&sql).map_err(|e| e.to_string())),
            _ => PgConnection::establish(admin_url)
                .map_err(|e| e.to_string())
                .and_then(|mut c| c.batch_execute(&sql).map_err(|e| e.to_string())),
        };
        if let Err(e) = result {
            eprintln!("warning: could not drop test database {}: {e}", self.name);
        }
    }
}
