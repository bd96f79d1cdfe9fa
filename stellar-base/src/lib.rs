//! Pure Stellar protocol code shared by every crate of the workspace.
//!
//! Nothing here performs I/O: keys and strkeys, network ids, exact amounts, assets, memos,
//! federation addresses, and building, hashing, signing and decoding transactions on top of the
//! `stellar-xdr` types. Servers, clients and the sandbox all speak through these types so that a
//! rule (an amount's precision, a memo's size) is written once.

pub mod address;
pub mod amount;
pub mod asset;
#[cfg(any(test, feature = "fuzzing"))]
pub mod fuzz;
pub mod keys;
pub mod memo;
pub mod network;
pub mod result_codes;
pub mod transaction;

pub use address::FederationAddress;
pub use amount::Amount;
pub use asset::Asset;
pub use keys::{AccountAddress, KeyPair, PublicKey};
pub use memo::Memo;
pub use network::Network;
pub use transaction::{Envelope, Operation, TransactionBuilder};

/// Re-export of the XDR crate so that dependants use exactly the same types.
pub use stellar_xdr as xdr;
