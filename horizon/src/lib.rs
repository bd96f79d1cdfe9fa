//! A client for Horizon, Stellar's HTTP API, as the bridge server needs it.
//!
//! [`HorizonClient`] reads the root, accounts, transactions and their operations, payments
//! (paged, or streamed as server-sent events: typed, or raw through [`events`] for readers that
//! decode only what they need) and fee stats, and submits transactions.
//! Everything that can fail returns an [`Error`] that says what the caller may do next:
//! [`Error::outcome_unknown`] for a submission that may or may not have been applied (ask by
//! hash, never rebuild), [`Error::is_retryable`] for a request that can simply be sent again.
//!
//! Reads are retried a bounded number of times with exponential backoff; submissions are
//! never retried here, because only the caller knows whether the envelope it holds is still
//! the one to send. Response bodies are capped at [`MAX_BODY_BYTES`] and stream events at
//! [`MAX_EVENT_BYTES`], so a broken server cannot exhaust memory. Amounts are exact
//! [`stellar_base::Amount`]s; no float ever holds money.
//!
//! ```no_run
//! # async fn demo() -> Result<(), horizon::Error> {
//! use horizon::{HorizonClient, HorizonSettings};
//!
//! let horizon = HorizonClient::new("https://horizon-testnet.stellar.org", &HorizonSettings::default())?;
//! let root = horizon.root().await?;
//! println!("{} at ledger {}", root.network_passphrase, root.history_latest_ledger);
//! # Ok(())
//! # }
//! ```

#![warn(missing_docs)]

mod client;
mod codes;
mod error;
pub mod events;
mod resources;
mod response;
mod settings;
mod stream;

pub use client::{HorizonClient, MAX_RETRY_WAIT};
pub use error::{Error, ResultCodes};
pub use events::MAX_EVENT_BYTES;
pub use resources::{
    Account, AsyncStatus, AsyncSubmitResponse, Balance, FeeDistribution, FeeStats, Flags, Order,
    Page, PaymentRecord, PaymentsQuery, Root, Signer, SubmitResponse, Thresholds,
    TransactionRecord,
};
pub use response::MAX_BODY_BYTES;
pub use settings::HorizonSettings;
