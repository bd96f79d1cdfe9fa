//! What the federation, compliance and bridge servers share, so each of them is only its own
//! protocol: command-line flags, layered configuration, the three-backend database layer, the
//! HTTP scaffolding (listeners, TLS, JSON errors, limits, health, metrics) and the scaffold of
//! the binaries themselves ([`server`]: `main`, run until a signal, stop within a bound).

pub mod auth;
pub mod cli;
pub mod config;
pub mod console;
pub mod database;
pub mod http;
pub mod metrics;
pub mod rate_limit;
pub mod secret;
pub mod server;
pub mod startup;
pub mod telemetry;
#[cfg(feature = "testing")]
pub mod testing;
pub mod tls;

/// Every server (and everything else linked with `service`) allocates with jemalloc: its
/// background threads give memory freed after a burst (thousands of connections cut at once)
/// back to the system within seconds, where glibc's malloc keeps the high-water mark for reuse.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

pub use config::ConfigError;
pub use database::{AnyConnection, Backend, Database, DatabaseSettings, DbError};
pub use http::ErrorBody;
pub use secret::Secret;
pub use startup::StartupError;
