//! Channel accounts: transaction sources that let one paying account have many transactions in
//! the network's queue at once.
//!
//! stellar-core queues one transaction per source account, so a bridge paying from one account
//! lands at most one payment per ledger. With `[channels]`, each payment transaction's source
//! is a channel account (it supplies the sequence number and pays the fee), while the payment
//! operation's source stays the paying account; both sign. Each channel carries one
//! transaction at a time ([`super::leases`]), so `count` channels carry up to `count`
//! payments per ledger.
//!
//! # Derivation
//! Channel `i` (0-based) has the ed25519 seed `sha256("stellar-bridge channel v1" ‖ S ‖
//! u32_be(i))`, where `S` is the 32 raw bytes of `[channels] seed`. The same seed always gives
//! the same channels, on every host and after every restart, so no channel secret is ever
//! stored: the database holds only their public keys and leases.
//!
//! # Funding
//! At start-up, missing channels are created from the base account with `starting_balance`,
//! and channels below half of it are topped up to it (again every 5 minutes); a channel whose
//! fee payment is refused for its balance is topped up at once. `bridge channels merge` gives
//! everything back to the base account.

use horizon::HorizonClient;
use serde::{Deserialize, Deserializer};
use sha2::{Digest, Sha256};
use stellar_base::transaction::Operation;
use stellar_base::{Amount, Asset, KeyPair, Memo, PublicKey};

use super::draft::{Draft, Outcome, SendError};
use super::submitter::Submitter;

/// The domain separator of the derivation; a new scheme gets a new one.
const DERIVATION_CONTEXT: &[u8] = b"stellar-bridge channel v1";
/// A transaction holds at most 100 operations.
const MAX_OPERATIONS: usize = 100;

/// `[channels]`.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChannelSettings {
    /// The secret the channel keys are derived from (`BRIDGE__CHANNELS__SEED_FILE` reads it
    /// from a file). Not a key of any account.
    #[serde(deserialize_with = "seed")]
    pub seed: KeyPair,
    /// How many channels (1–1000): at most this many payments per ledger.
    pub count: u32,
    /// Lumens each channel is created with and topped up to (default 5): its reserve (1 XLM)
    /// plus the fees it pays.
    #[serde(default = "default_starting_balance")]
    pub starting_balance: Amount,
}

impl std::fmt::Debug for ChannelSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChannelSettings")
            .field("seed", &"[redacted]")
            .field("count", &self.count)
            .field("starting_balance", &self.starting_balance)
            .finish()
    }
}

/// A required `S…` seed (`[channels] seed`), read here rather than by the configuration so
/// that the sending side does not depend on the whole configuration, which names these
/// settings. Blank is refused as empty, as the configuration's optional seeds treat it.
fn seed<'de, D: Deserializer<'de>>(d: D) -> Result<KeyPair, D::Error> {
    let text = Option::<String>::deserialize(d)?.filter(|s| !s.trim().is_empty());
    let Some(text) = text else {
        return Err(serde::de::Error::custom(
            "is empty; an S… secret seed is required",
        ));
    };
    KeyPair::from_secret_seed(&text)
        .map_err(|_| serde::de::Error::custom("not a valid S… secret seed"))
}

fn default_starting_balance() -> Amount {
    "5".parse().expect("a valid amount")
}

impl ChannelSettings {
    /// The channel keys, in order.
    pub fn keys(&self) -> Vec<KeyPair> {
        derive(&self.seed, self.count)
    }
}

/// Channel keys `0..count` derived from `seed` (see the module documentation).
pub fn derive(seed: &KeyPair, count: u32) -> Vec<KeyPair> {
    (0..count)
        .map(|index| {
            let digest = Sha256::new()
                .chain_update(DERIVATION_CONTEXT)
                .chain_update(seed.seed_bytes())
                .chain_update(index.to_be_bytes())
                .finalize();
            KeyPair::from_seed_bytes(digest.into())
        })
        .collect()
}

/// Why the channels could not be prepared.
#[derive(Debug, thiserror::Error)]
pub enum ChannelError {
    /// Horizon could not tell how the channels stand.
    #[error("cannot read channel account {0}: {1}")]
    Horizon(PublicKey, String),
    /// Funding or merging did not go through.
    #[error("{what} failed: {why}")]
    Transaction {
        /// What was being done.
        what: &'static str,
        /// The outcome.
        why: String,
    },
    /// Sending failed.
    #[error(transparent)]
    Send(#[from] SendError),
}

/// Creates missing channels and tops up low ones, from `base`, in transactions of up to 100
/// operations sent without channels.
///
/// # Errors
/// When Horizon cannot be read or a funding transaction fails.
pub async fn fund(
    submitter: &Submitter,
    base: &KeyPair,
    channels: &[KeyPair],
    starting_balance: Amount,
) -> Result<(), ChannelError> {
    let mut operations = Vec::new();
    for channel in channels {
        let account = channel.public_key();
        if let Some(operation) = funding(submitter.horizon(), account, starting_balance).await? {
            operations.push(operation);
        }
    }
    if !operations.is_empty() {
        tracing::info!(
            channels = operations.len(),
            "creating or topping up channel accounts"
        );
    }
    for chunk in operations.chunks(MAX_OPERATIONS) {
        let draft = Draft::operations(base.clone(), Memo::None, chunk.to_vec()).without_channel();
        expect_success(
            "funding the channel accounts",
            submitter.send(&draft, None, None).await,
        )?;
    }
    Ok(())
}

/// Tops up one channel (its fee payment was refused for its balance).
///
/// # Errors
/// As [`fund`].
pub async fn top_up(
    submitter: &Submitter,
    base: &KeyPair,
    channel: PublicKey,
    starting_balance: Amount,
) -> Result<(), ChannelError> {
    let Some(operation) = funding(submitter.horizon(), channel, starting_balance).await? else {
        return Ok(());
    };
    tracing::warn!(%channel, "topping up a channel account low on lumens");
    let draft = Draft::operations(base.clone(), Memo::None, vec![operation]).without_channel();
    expect_success(
        "topping up a channel account",
        submitter.send(&draft, None, None).await,
    )
}

/// The operation that brings `channel` to `starting_balance`: creating it, or a payment when
/// it holds less than half of that; `None` when it has enough.
async fn funding(
    horizon: &HorizonClient,
    channel: PublicKey,
    starting_balance: Amount,
) -> Result<Option<Operation>, ChannelError> {
    let account = horizon
        .account(&channel)
        .await
        .map_err(|e| ChannelError::Horizon(channel, e.to_string()))?;
    let Some(account) = account else {
        return Ok(Some(Operation::create_account(channel, starting_balance)));
    };
    let balance = account
        .balance(&Asset::Native)
        .map(|b| b.balance)
        .unwrap_or_default();
    if balance.stroops() * 2 >= starting_balance.stroops() {
        return Ok(None);
    }
    let missing = starting_balance
        .checked_sub(balance)
        .expect("the balance is below the starting balance");
    Ok(Some(Operation::payment(
        channel.into(),
        &Asset::Native,
        missing,
    )))
}

/// Merges every existing channel into `base` (`bridge channels merge`): each channel's
/// transaction is its own, signed by its key alone. Returns the accounts merged.
///
/// # Errors
/// When Horizon cannot be read or a merge fails.
pub async fn merge(
    submitter: &Submitter,
    base: PublicKey,
    channels: &[KeyPair],
) -> Result<Vec<PublicKey>, ChannelError> {
    let mut merged = Vec::new();
    for channel in channels {
        let account = channel.public_key();
        let exists = submitter
            .horizon()
            .account(&account)
            .await
            .map_err(|e| ChannelError::Horizon(account, e.to_string()))?
            .is_some();
        if !exists {
            continue;
        }
        let draft = Draft::operations(
            channel.clone(),
            Memo::None,
            vec![Operation::account_merge(base.into())],
        )
        .without_channel();
        expect_success(
            "merging a channel account",
            submitter.send(&draft, None, None).await,
        )?;
        merged.push(account);
    }
    Ok(merged)
}

fn expect_success(
    what: &'static str,
    result: Result<Outcome, SendError>,
) -> Result<(), ChannelError> {
    match result? {
        Outcome::Success { .. } => Ok(()),
        Outcome::Failed { result_codes, .. } => Err(ChannelError::Transaction {
            what,
            why: format!("{result_codes:?}"),
        }),
        Outcome::Pending { hash, .. } => Err(ChannelError::Transaction {
            what,
            why: format!("transaction {hash} still pending"),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_derivation_is_deterministic_and_distinct() {
        let seed = KeyPair::from_seed_bytes([7; 32]);
        let first = derive(&seed, 3);
        let again = derive(&seed, 3);
        let keys: Vec<_> = first.iter().map(KeyPair::public_key).collect();
        assert_eq!(
            keys,
            again.iter().map(KeyPair::public_key).collect::<Vec<_>>()
        );
        assert_ne!(keys[0], keys[1]);
        assert_ne!(keys[1], keys[2]);
        assert!(!keys.contains(&seed.public_key()));
        let other = derive(&KeyPair::from_seed_bytes([8; 32]), 1);
        assert_ne!(other[0].public_key(), keys[0]);
    }

    #[test]
    fn the_derivation_matches_its_documented_formula() {
        // Computed independently with Python's hashlib and the official stellar-sdk:
        // Keypair.from_raw_ed25519_seed(sha256(b"stellar-bridge channel v1" + seed + i as u32 BE)).
        let seed =
            KeyPair::from_secret_seed("SADQOBYHA4DQOBYHA4DQOBYHA4DQOBYHA4DQOBYHA4DQOBYHA4DQP54X")
                .unwrap();
        let keys: Vec<String> = derive(&seed, 2)
            .iter()
            .map(|k| k.public_key().to_string())
            .collect();
        assert_eq!(
            keys,
            [
                "GB6JYY7UN3CTATQYDYUF3JA7TCFYN54KB3RX36HUX2UUY36IELZAZYIC",
                "GBID6B2U2SGS2FSMBYNDUH3SCAMHVDNG54OX5P5C4XS5DOABNAUN3JXO",
            ]
        );
    }
}
