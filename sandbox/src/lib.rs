//! An in-memory, Horizon-compatible Stellar network for tests, demos and benchmarks.
//!
//! The ledger ([`ledger::Ledger`]) really checks what it is sent — network passphrase,
//! signatures against weights and thresholds, sequence numbers, time bounds, fees, reserves,
//! trustlines and authorization — and answers with stellar-core's result XDR. The server
//! ([`Sandbox`]) closes a ledger on a timer and serves Horizon's JSON, paging and streaming.
//!
//! ```no_run
//! # async fn demo() -> Result<(), sandbox::SandboxError> {
//! use sandbox::{Sandbox, SandboxConfig};
//! use stellar_base::KeyPair;
//!
//! let sandbox = Sandbox::start(SandboxConfig::for_tests()).await?;
//! let alice = KeyPair::random();
//! sandbox.fund(alice.public_key()).await?; // 10 000 XLM from the root account
//! println!("Horizon at {}", sandbox.url());
//! sandbox.faults().fail_next_requests(503, 1); // the next request gets a 503
//! sandbox.shutdown().await;
//! # Ok(())
//! # }
//! ```

#![warn(missing_docs)]

pub mod apply;
pub mod blocking;
pub mod codes;
mod collection;
mod config;
pub mod dex;
pub mod exchange;
pub mod faults;
pub mod fee_stats;
pub mod history;
mod http;
pub mod json;
pub mod ledger;
mod node;
pub mod queue;
mod server;
pub mod state;
mod stream;

pub use blocking::BlockingSandbox;
pub use faults::{Fault, Faults};
pub use ledger::{FRIENDBOT_AMOUNT, Ledger, Outcome, Submission, root_keypair};
pub use queue::{Admission, QueueLimits};
pub use server::{
    MAX_TRANSACTIONS_PER_LEDGER, RunningSandbox, Sandbox, SandboxConfig, SandboxError, USAGE,
    config_from_args,
};
pub use state::Account;

#[cfg(test)]
mod ledger_tests;
