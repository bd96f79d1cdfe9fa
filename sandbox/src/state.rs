//! Ledger entries held in memory: accounts with their signers, data entries and trustlines.
//!
//! This module owns the shape of the state and the reserve arithmetic; the rules that change it
//! live in [`crate::apply`].

use std::collections::{BTreeMap, HashMap};

use stellar_base::{Asset, PublicKey};

/// The base reserve: 0.5 XLM per base entry and per subentry, in stroops.
pub const BASE_RESERVE: i64 = 5_000_000;
/// The minimum fee per operation, in stroops.
pub const BASE_FEE: i64 = 100;
/// All lumens in existence (100 billion XLM), held by the root account at genesis.
pub const TOTAL_COINS: i64 = 1_000_000_000_000_000_000;
/// Most signers an account may have besides its master key.
pub const MAX_SIGNERS: usize = 20;
/// The largest trustline limit (and the default one).
pub const MAX_LIMIT: i64 = i64::MAX;

/// Account flag bits (`set_options` `set_flags`/`clear_flags`).
pub mod account_flags {
    /// Trustlines need the issuer's authorization.
    pub const AUTH_REQUIRED: u32 = 1;
    /// The issuer may revoke authorization.
    pub const AUTH_REVOCABLE: u32 = 2;
    /// No flag may change any more and the account cannot be merged.
    pub const AUTH_IMMUTABLE: u32 = 4;
    /// The issuer may claw back its asset.
    pub const AUTH_CLAWBACK_ENABLED: u32 = 8;
    /// Every known account flag.
    pub const ALL: u32 = 15;
}

/// Trustline flag bits.
pub mod trustline_flags {
    /// The holder may send and receive the asset.
    pub const AUTHORIZED: u32 = 1;
    /// The holder may keep offers but not move the asset.
    pub const AUTHORIZED_TO_MAINTAIN_LIABILITIES: u32 = 2;
    /// The issuer may claw this balance back.
    pub const CLAWBACK_ENABLED: u32 = 4;
}

/// The three signing thresholds of an account.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Thresholds {
    /// Needed by allow_trust, set_trust_line_flags, bump_sequence and to pay a fee.
    pub low: u8,
    /// Needed by most operations.
    pub med: u8,
    /// Needed by account_merge and by set_options changing signers or thresholds.
    pub high: u8,
}

/// An additional ed25519 signer of an account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Signer {
    /// The signing key.
    pub key: PublicKey,
    /// Its weight (1–255).
    pub weight: u8,
}

/// A trustline: how much of a credit asset an account holds and may hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustLine {
    /// The credit asset.
    pub asset: Asset,
    /// Balance in stroops.
    pub balance: i64,
    /// Limit in stroops.
    pub limit: i64,
    /// [`trustline_flags`] bits.
    pub flags: u32,
    /// Ledger that last changed it.
    pub last_modified_ledger: u32,
}

impl TrustLine {
    /// True when the holder may send and receive the asset.
    pub fn is_authorized(&self) -> bool {
        self.flags & trustline_flags::AUTHORIZED != 0
    }
}

/// An account entry with everything hanging off it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// The account id.
    pub id: PublicKey,
    /// Native balance in stroops.
    pub balance: i64,
    /// Last used sequence number.
    pub sequence: i64,
    /// Trustlines + signers + data entries.
    pub num_subentries: u32,
    /// Weight of the master key.
    pub master_weight: u8,
    /// Signing thresholds.
    pub thresholds: Thresholds,
    /// [`account_flags`] bits.
    pub flags: u32,
    /// Home domain (at most 32 bytes).
    pub home_domain: String,
    /// Additional signers, sorted by key.
    pub signers: Vec<Signer>,
    /// Data entries (name → value of at most 64 bytes).
    pub data: BTreeMap<String, Vec<u8>>,
    /// Trustlines in creation order.
    pub trustlines: Vec<TrustLine>,
    /// Ledger that last changed the account.
    pub last_modified_ledger: u32,
}

impl Account {
    /// A new account as `create_account` makes it: master weight 1, thresholds 0, and a
    /// sequence number of `ledger_seq << 32`, as the network does.
    pub fn new(id: PublicKey, balance: i64, ledger_seq: u32) -> Self {
        Self {
            id,
            balance,
            sequence: i64::from(ledger_seq) << 32,
            num_subentries: 0,
            master_weight: 1,
            thresholds: Thresholds::default(),
            flags: 0,
            home_domain: String::new(),
            signers: Vec::new(),
            data: BTreeMap::new(),
            trustlines: Vec::new(),
            last_modified_ledger: ledger_seq,
        }
    }

    /// The balance the account must keep: two base reserves plus one per subentry.
    pub fn min_balance(&self) -> i64 {
        (2 + i64::from(self.num_subentries)) * BASE_RESERVE
    }

    /// What the account may spend: balance above the reserve (0 when below it).
    pub fn available(&self) -> i64 {
        (self.balance - self.min_balance()).max(0)
    }

    /// True when the account can afford one more subentry.
    pub fn can_add_subentry(&self) -> bool {
        self.balance >= self.min_balance() + BASE_RESERVE
    }

    /// The trustline for `asset`.
    pub fn trustline(&self, asset: &Asset) -> Option<&TrustLine> {
        self.trustlines.iter().find(|t| &t.asset == asset)
    }

    /// The trustline for `asset`, mutably.
    pub fn trustline_mut(&mut self, asset: &Asset) -> Option<&mut TrustLine> {
        self.trustlines.iter_mut().find(|t| &t.asset == asset)
    }

    /// The weight `key` carries on this account (master key or signer), 0 if none.
    pub fn weight_of(&self, key: &PublicKey) -> u8 {
        if *key == self.id {
            return self.master_weight;
        }
        self.signers
            .iter()
            .find(|s| s.key == *key)
            .map_or(0, |s| s.weight)
    }
}

/// Every account of the ledger.
pub type Accounts = HashMap<PublicKey, Account>;

/// Changes made on top of [`Accounts`] that are committed only if everything succeeds.
#[derive(Debug)]
pub struct Overlay<'a> {
    base: &'a Accounts,
    changes: HashMap<PublicKey, Option<Account>>,
}

impl<'a> Overlay<'a> {
    /// An empty overlay over `base`.
    pub fn new(base: &'a Accounts) -> Self {
        Self {
            base,
            changes: HashMap::new(),
        }
    }

    /// The account as seen through the overlay.
    pub fn get(&self, id: &PublicKey) -> Option<&Account> {
        match self.changes.get(id) {
            Some(change) => change.as_ref(),
            None => self.base.get(id),
        }
    }

    /// True when the account exists.
    pub fn exists(&self, id: &PublicKey) -> bool {
        self.get(id).is_some()
    }

    /// The account, copied into the overlay to be changed.
    pub fn get_mut(&mut self, id: &PublicKey) -> Option<&mut Account> {
        if !self.changes.contains_key(id) {
            let account = self.base.get(id)?.clone();
            self.changes.insert(*id, Some(account));
        }
        self.changes.get_mut(id).and_then(Option::as_mut)
    }

    /// Inserts or replaces an account.
    pub fn put(&mut self, account: Account) {
        self.changes.insert(account.id, Some(account));
    }

    /// Deletes an account.
    pub fn remove(&mut self, id: &PublicKey) {
        self.changes.insert(*id, None);
    }

    /// The changes, to be applied with [`commit`].
    pub fn into_changes(self) -> HashMap<PublicKey, Option<Account>> {
        self.changes
    }
}

/// Applies an overlay's changes to the accounts.
pub fn commit(accounts: &mut Accounts, changes: HashMap<PublicKey, Option<Account>>) {
    for (id, change) in changes {
        match change {
            Some(account) => {
                accounts.insert(id, account);
            }
            None => {
                accounts.remove(&id);
            }
        }
    }
}
