//! The scaffold of a server binary: what `main` does ([`main`]) and how a running server stops
//! ([`Running`]). A server crate implements [`Server`] for its `Application` and
//! [`ServerConfig`] for its config; its `main.rs` is then
//!
//! ```ignore
//! #[tokio::main]
//! async fn main() -> std::process::ExitCode {
//!     service::server::main::<bridge::Application>(env!("CARGO_PKG_VERSION")).await
//! }
//! ```

use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::process::ExitCode;
use std::time::Duration;

use actix_web::dev::{Server as HttpServer, ServerHandle};

use crate::cli::{Args, usage};
use crate::config::ConfigError;
use crate::database::{BackendMigrations, DatabaseSettings};
use crate::telemetry::LogFormat;
use crate::{Database, StartupError};

/// A server's configuration, as the scaffold needs it.
pub trait ServerConfig: Sized {
    /// Reads the file (if any) under the server's environment variables, and validates.
    ///
    /// # Errors
    /// A [`ConfigError`] naming the file, variable or key.
    fn load(file: Option<&Path>) -> Result<Self, ConfigError>;
    /// `log_format`.
    fn log_format(&self) -> LogFormat;
    /// `[database]`.
    fn database(&self) -> &DatabaseSettings;
    /// What is accepted but weak, logged once logging is up (none by default).
    fn warnings(&self) -> Vec<String> {
        Vec::new()
    }
}

/// Implements [`ServerConfig`] for a configuration struct with `log_format` and `database`
/// fields and an inherent `validate`, and gives it the inherent `load` every server has (file
/// under `PREFIX__` variables, then `validate`); with `warnings`, its inherent `warnings` too.
/// One line per server instead of the same loader and accessors written three times.
#[macro_export]
macro_rules! server_config {
    ($config:ty, $prefix:literal) => {
        $crate::server_config!(@impl $config, $prefix, {});
    };
    ($config:ty, $prefix:literal, warnings) => {
        $crate::server_config!(@impl $config, $prefix, {
            fn warnings(&self) -> Vec<String> {
                <$config>::warnings(self)
            }
        });
    };
    (@impl $config:ty, $prefix:literal, { $($extra:tt)* }) => {
        impl $config {
            #[doc = concat!("Reads the file (if any) under `", $prefix, "__` environment \
                variables, then checks what serde cannot (`validate`).")]
            ///
            /// # Errors
            /// A `ConfigError` naming the file, variable or key.
            pub fn load(file: Option<&std::path::Path>) -> Result<Self, $crate::ConfigError> {
                let config: Self = $crate::config::load($prefix, file)?;
                config.validate()?;
                Ok(config)
            }
        }
        impl $crate::server::ServerConfig for $config {
            fn load(file: Option<&std::path::Path>) -> Result<Self, $crate::ConfigError> {
                <$config>::load(file)
            }
            fn log_format(&self) -> $crate::telemetry::LogFormat {
                self.log_format
            }
            fn database(&self) -> &$crate::database::DatabaseSettings {
                &self.database
            }
            $($extra)*
        }
    };
}

/// A server, as the scaffold runs it.
pub trait Server: Sized {
    /// The program's name: in messages, usage, `--version`, and the default config file
    /// (`NAME.cfg` in the working directory).
    const NAME: &'static str;
    /// What `--migrate-db` says when [`Server::migrations`] is `None`.
    const NO_MIGRATIONS: &'static str = "has no tables to migrate";
    /// Its configuration.
    type Config: ServerConfig;
    /// Its tables' migrations, one set per backend, or `None` when it owns no tables.
    fn migrations() -> Option<BackendMigrations>;
    /// Opens and migrates the database, starts the workers and binds the listeners.
    fn build(config: Self::Config) -> impl Future<Output = Result<Self, StartupError>>;
    /// The line printed once every listener is bound.
    fn listening(&self) -> String;
    /// Its listeners and workers, to run and stop.
    fn into_running(self) -> Running;
}

/// Opens the server's database and applies its pending migrations (`--migrate-db`, and the
/// first step of every `build`); see [`Database::open`].
///
/// # Errors
/// When the database is unreachable or a migration fails.
pub async fn open_database<S: Server>(
    settings: &DatabaseSettings,
) -> Result<(Database, Vec<String>), StartupError> {
    Ok(Database::open(settings, S::migrations()).await?)
}

/// The whole `main` of a server binary: parses the legacy flags (`-c/--config`, `--conf`,
/// `--migrate-db`, `-v/--version`), loads the config, starts logging and logs the config's
/// warnings, then either migrates the database and exits (`--migrate-db`) or builds the server
/// and runs it until SIGINT/SIGTERM.
///
/// Exit codes: 2 for a bad flag (with the usage), 1 for a config, database, start-up or
/// listener failure (with the message on stderr), 0 otherwise.
pub async fn main<S: Server>(version: &str) -> ExitCode {
    let name = S::NAME;
    let default_config = format!("{name}.cfg");
    let words: Vec<String> = std::env::args().skip(1).collect();
    if let [first, rest @ ..] = words.as_slice()
        && first == "console"
    {
        return crate::console::command(name, rest);
    }
    let args = match Args::parse(std::env::args().skip(1)) {
        Ok(args) => args,
        Err(e) => {
            eprintln!("{name}: {e}\n\n{}", usage(name, &default_config));
            return ExitCode::from(2);
        }
    };
    if args.help {
        print!("{}", usage(name, &default_config));
        return ExitCode::SUCCESS;
    }
    if args.version {
        println!("{name} {version}");
        return ExitCode::SUCCESS;
    }
    let config = match S::Config::load(args.config_file(&default_config).as_deref()) {
        Ok(config) => config,
        Err(e) => return fail(name, "", &e),
    };
    crate::telemetry::init(config.log_format());
    for warning in config.warnings() {
        tracing::warn!("{warning}");
    }
    if args.migrate_db {
        if S::migrations().is_none() {
            println!("{name}: {}", S::NO_MIGRATIONS);
            return ExitCode::SUCCESS;
        }
        return match open_database::<S>(config.database()).await {
            Ok((_, applied)) => {
                println!("{name}: {} migration(s) applied", applied.len());
                ExitCode::SUCCESS
            }
            Err(e) => fail(name, "", &e),
        };
    }
    let app = match S::build(config).await {
        Ok(app) => app,
        Err(e) => return fail(name, "cannot start: ", &e),
    };
    println!("{}", app.listening());
    match app.into_running().run_until_stopped().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(name, "", &e),
    }
}

fn fail(name: &str, context: &str, error: &dyn std::fmt::Display) -> ExitCode {
    eprintln!("{name}: {context}{error}");
    ExitCode::FAILURE
}

/// How much longer than its grace a stop may take before [`Running::run_until`] returns anyway.
const STOP_MARGIN: Duration = Duration::from_secs(5);

type Stop = Pin<Box<dyn Future<Output = ()> + Send>>;

/// A server's listeners and workers, bound and started, not yet awaited: what runs until a
/// signal and then stops, in order, within a bound.
#[must_use = "a server does nothing until run or spawned"]
pub struct Running {
    listeners: Vec<HttpServer>,
    workers: Vec<Stop>,
    grace: Duration,
}

impl std::fmt::Debug for Running {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Running({} listener(s), {} worker(s), grace {:?})",
            self.listeners.len(),
            self.workers.len(),
            self.grace
        )
    }
}

impl Running {
    /// Nothing yet; stopping is given `grace` (listeners should be built with the same grace,
    /// see [`crate::http::serve`], and workers should honour it).
    pub fn new(grace: Duration) -> Self {
        Self {
            listeners: Vec::new(),
            workers: Vec::new(),
            grace,
        }
    }

    /// Adds a listener; listeners are stopped in the order they were added.
    pub fn listener(mut self, server: HttpServer) -> Self {
        self.listeners.push(server);
        self
    }

    /// Adds a worker by what stops it: `stop` runs once, on shutdown (or when a listener
    /// fails), and returns when the worker has stopped.
    pub fn worker(mut self, stop: impl Future<Output = ()> + Send + 'static) -> Self {
        self.workers.push(Box::pin(stop));
        self
    }

    /// Handles to stop the listeners.
    pub fn handles(&self) -> Vec<ServerHandle> {
        self.listeners.iter().map(HttpServer::handle).collect()
    }

    /// Serves until SIGINT/SIGTERM, then stops (see [`Running::run_until`]).
    ///
    /// # Errors
    /// When a listener fails.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.run_until(crate::http::shutdown_signal()).await
    }

    /// Serves until `signal`, then stops everything together: each listener in turn stops
    /// accepting and lets its requests in flight finish, while the workers stop (in the order
    /// they were added); all of it within the grace, and `run_until` returns at the latest a
    /// few seconds after it whatever is still running. When a listener fails first, the
    /// workers are stopped and its error returned.
    ///
    /// # Errors
    /// When a listener fails.
    pub async fn run_until(self, signal: impl Future<Output = ()>) -> std::io::Result<()> {
        let handles = self.handles();
        let Self {
            listeners,
            workers,
            grace,
        } = self;
        let serving = async move {
            futures_util::future::try_join_all(listeners)
                .await
                .map(|_| ())
        };
        let stop_workers = async move {
            for worker in workers {
                worker.await;
            }
        };
        let mut serving = std::pin::pin!(serving);
        tokio::select! {
            result = &mut serving => {
                stop_workers.await;
                return result;
            }
            () = signal => {}
        }
        tracing::info!(
            grace_seconds = grace.as_secs(),
            "stopping: requests and work in flight may finish"
        );
        let stop_listeners = async {
            for handle in handles {
                handle.stop(true).await;
            }
        };
        let stopping = async { tokio::join!(stop_listeners, &mut serving, stop_workers).1 };
        match tokio::time::timeout(grace + STOP_MARGIN, stopping).await {
            Ok(result) => {
                tracing::info!("stopped");
                result
            }
            Err(_) => {
                tracing::warn!("not stopped within the grace: leaving the rest unfinished");
                Ok(())
            }
        }
    }

    /// Spawns the listeners on the current runtime (tests, embedding); workers keep running.
    pub fn spawn(self) -> Vec<ServerHandle> {
        let handles = self.handles();
        for listener in self.listeners {
            tokio::spawn(listener);
        }
        handles
    }
}
