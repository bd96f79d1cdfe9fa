//! What the sending side hands to the submitter and gets back: a [`Draft`] (a transaction
//! still without source sequence, fee or time bound), its [`Outcome`], or a [`SendError`].
//!
//! These types are apart from the [`Submitter`](super::submitter::Submitter) so that what
//! builds drafts (the handlers, the channel funding of [`channels`](super::channels)) and the
//! submitter that sends them both depend on this module, never on each other.

use std::sync::Arc;

use horizon::ResultCodes;
use stellar_base::transaction::{Operation, TransactionError};
use stellar_base::{KeyPair, Memo, PublicKey, TransactionBuilder, xdr};

/// Builds the unsigned transaction for a transaction source (the paying account or a channel),
/// sequence number, fee per operation and upper time bound. When the transaction source is a
/// channel, every operation must name the paying account as its own source.
pub type Build = Arc<
    dyn Fn(PublicKey, i64, u32, u64) -> Result<xdr::Transaction, TransactionError> + Send + Sync,
>;

/// A payment to send, before it has a sequence number.
#[derive(Clone)]
pub struct Draft {
    /// The paying account: the source of the operations, and of the transaction unless a
    /// channel carries it.
    pub source: PublicKey,
    /// Who signs (a channel's key is added when one carries the transaction).
    pub signers: Vec<KeyPair>,
    /// The transaction without sequence and time bounds.
    pub build: Build,
    /// Whether a channel may carry it (not the transactions that fund or merge channels).
    pub via_channel: bool,
}

impl Draft {
    /// A transaction of one operation from `signer`'s account, signed by it.
    pub fn one_operation(signer: KeyPair, memo: Memo, operation: Operation) -> Self {
        Self::operations(signer, memo, vec![operation])
    }

    /// A transaction of `operations` from `signer`'s account, signed by it.
    pub fn operations(signer: KeyPair, memo: Memo, operations: Vec<Operation>) -> Self {
        let payer = signer.public_key();
        Self {
            source: payer,
            signers: vec![signer],
            build: Arc::new(move |source, sequence, fee, max_time| {
                let mut builder = TransactionBuilder::new(source.into(), sequence)
                    .base_fee(fee)
                    .memo(memo.clone())
                    .time_bounds(0, max_time);
                for operation in &operations {
                    builder = builder.operation(if source == payer {
                        operation.clone()
                    } else {
                        operation.clone().or_source(payer.into())
                    });
                }
                builder.build()
            }),
            via_channel: true,
        }
    }

    /// The same draft, always sent from its own account.
    pub fn without_channel(self) -> Self {
        Self {
            via_channel: false,
            ..self
        }
    }
}

impl std::fmt::Debug for Draft {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Draft(source {})", self.source)
    }
}

/// How a payment ended (or stands).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// In the ledger and successful.
    Success {
        /// Hex hash.
        hash: String,
        /// Ledger.
        ledger: i64,
        /// Signed envelope.
        envelope_xdr: String,
        /// Result XDR.
        result_xdr: Option<String>,
    },
    /// Refused, or in the ledger with a failed result.
    Failed {
        /// Hex hash.
        hash: String,
        /// Horizon's result codes.
        result_codes: ResultCodes,
        /// Result XDR.
        result_xdr: Option<String>,
    },
    /// Submitted, outcome not known yet: repeat the request with the same id.
    Pending {
        /// Hex hash.
        hash: String,
        /// Set when the network's price is above `max_fee`: the envelope bids the cap and
        /// waits for the price to fall.
        fee_cap: Option<FeeCap>,
    },
}

/// Why a pending payment waits: the network's price per operation is above our cap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FeeCap {
    /// Our cap, `max_fee`, in stroops per operation.
    pub max_fee: u32,
    /// The network's price per operation (the configured percentile of `fee_charged`).
    pub network_fee: i64,
}

/// Why a payment could not be sent at all.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// The same payment id with a different request.
    #[error("payment id already used for a different request")]
    Conflict,
    /// The source account does not exist.
    #[error("source account {0} does not exist")]
    SourceNotFound(PublicKey),
    /// The transaction could not be built.
    #[error("{0}")]
    Build(#[from] TransactionError),
    /// Horizon is busy or down; nothing was applied. Repeat later.
    #[error("Horizon is unavailable: {0}")]
    Unavailable(String),
    /// No source account (channel, or the paying account) came free in time; nothing was
    /// built. Repeat later.
    #[error("{0}")]
    Busy(String),
    /// The co-signers' signatures could not be collected; nothing was stored or sent.
    #[error(transparent)]
    Cosigning(#[from] super::cosigning::CosignError),
    /// Storage failed.
    #[error(transparent)]
    Database(#[from] service::DbError),
}
