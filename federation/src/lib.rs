//! SEP-2 federation: the protocol types, a client that resolves `name*domain` through the
//! domain's stellar.toml, and a drop-in replacement for the legacy `federation` server that
//! answers lookups with the operator's own SQL.

pub mod client;
pub mod config;
pub mod protocol;
pub mod server;
mod store;
#[cfg(feature = "testing")]
pub mod testing;

pub use client::{FederationClient, FederationError};
pub use config::FederationConfig;
pub use protocol::FederationRecord;
pub use server::Application;
