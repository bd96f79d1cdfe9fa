//! Ledger entries held in memory: accounts with their signers, data entries and trustlines,
//! and the offers of the order book.
//!
//! This module owns the shape of the state, the reserve arithmetic and the liabilities
//! (stellar-core's rules since protocol 10); the rules that change it live in [`crate::apply`]
//! and [`crate::dex`].

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ops::{Deref, DerefMut};

use stellar_base::{Asset, PublicKey, xdr};

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
    /// What the holder's offers may buy of the asset: room under the limit they reserve.
    pub buying_liabilities: i64,
    /// What the holder's offers may sell of the asset: balance they reserve.
    pub selling_liabilities: i64,
}

impl TrustLine {
    /// A new, empty trustline.
    pub fn new(asset: Asset, limit: i64, flags: u32, ledger_seq: u32) -> Self {
        Self {
            asset,
            balance: 0,
            limit,
            flags,
            last_modified_ledger: ledger_seq,
            buying_liabilities: 0,
            selling_liabilities: 0,
        }
    }

    /// True when the holder may send and receive the asset.
    pub fn is_authorized(&self) -> bool {
        self.flags & trustline_flags::AUTHORIZED != 0
    }

    /// True when the holder may at least keep its offers (authorized, or authorized to
    /// maintain liabilities).
    pub fn is_authorized_to_maintain_liabilities(&self) -> bool {
        self.flags
            & (trustline_flags::AUTHORIZED | trustline_flags::AUTHORIZED_TO_MAINTAIN_LIABILITIES)
            != 0
    }

    /// What may be sent: the balance less what offers have promised (core's
    /// `getAvailableBalance` for a trustline).
    pub fn available(&self) -> i64 {
        self.balance - self.selling_liabilities
    }

    /// What may still be received: the room under the limit less what offers may buy, 0 when
    /// not even authorized to maintain liabilities (core's `getMaxAmountReceive`).
    pub fn max_receive(&self) -> i64 {
        if !self.is_authorized_to_maintain_liabilities() {
            return 0;
        }
        self.limit - self.balance - self.buying_liabilities
    }

    /// Adds `delta` to the balance if the result stays within `[selling liabilities,
    /// limit − buying liabilities]` (core's `addBalance` for a trustline, authorization
    /// aside). Returns false and changes nothing otherwise.
    pub fn add_balance(&mut self, delta: i64) -> bool {
        if delta == 0 {
            return true;
        }
        let Some(balance) = self.balance.checked_add(delta) else {
            return false;
        };
        if balance < 0
            || balance > self.limit
            || balance < self.selling_liabilities
            || balance > self.limit - self.buying_liabilities
        {
            return false;
        }
        self.balance = balance;
        true
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
    /// Lumens the account's offers may buy (reserved room under `i64::MAX`).
    pub buying_liabilities: i64,
    /// Lumens the account's offers may sell (reserved balance above the reserve).
    pub selling_liabilities: i64,
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
            buying_liabilities: 0,
            selling_liabilities: 0,
        }
    }

    /// The balance the account must keep: two base reserves plus one per subentry.
    pub fn min_balance(&self) -> i64 {
        (2 + i64::from(self.num_subentries)) * BASE_RESERVE
    }

    /// What the account may spend: balance above the reserve and the lumens its offers have
    /// promised (core's `getAvailableBalance`; 0 when below it).
    pub fn available(&self) -> i64 {
        (self.balance - self.min_balance() - self.selling_liabilities).max(0)
    }

    /// How many more lumens the account may receive: `i64::MAX` less the balance and what its
    /// offers may buy (core's `getMaxAmountReceive`).
    pub fn max_receive(&self) -> i64 {
        i64::MAX - self.balance - self.buying_liabilities
    }

    /// Adds `delta` lumens if the balance stays above the reserve plus the selling liabilities
    /// (when spending) and under `i64::MAX` less the buying liabilities (core's `addBalance`
    /// for an account). Returns false and changes nothing otherwise.
    pub fn add_balance(&mut self, delta: i64) -> bool {
        if delta == 0 {
            return true;
        }
        let Some(balance) = self.balance.checked_add(delta) else {
            return false;
        };
        if balance < 0
            || (delta < 0 && balance - self.min_balance() < self.selling_liabilities)
            || balance > i64::MAX - self.buying_liabilities
        {
            return false;
        }
        self.balance = balance;
        true
    }

    /// True when the account can afford one more subentry: its available balance (after the
    /// selling liabilities) covers one more base reserve (core's
    /// `canCreateEntryWithoutSponsorship`).
    pub fn can_add_subentry(&self) -> bool {
        self.balance - self.min_balance() - self.selling_liabilities >= BASE_RESERVE
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

/// An offer's `flags` bit: a passive offer does not take offers at its own price.
pub const PASSIVE_FLAG: u32 = 1;

/// An offer in the order book (core's `OfferEntry`). It sells `amount` of `selling` for
/// `buying` at `price` (units of buying per unit of selling) and is one subentry of its seller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Offer {
    /// Its id, from the ledger-wide counter (core's `idPool`); never reused.
    pub id: i64,
    /// The account selling.
    pub seller: PublicKey,
    /// What it sells.
    pub selling: Asset,
    /// What it buys.
    pub buying: Asset,
    /// How much of `selling` is left, in stroops.
    pub amount: i64,
    /// Price of one unit of `selling` in units of `buying`, as `n/d`.
    pub price: xdr::Price,
    /// [`PASSIVE_FLAG`] or 0.
    pub flags: u32,
    /// Ledger that last changed it.
    pub last_modified_ledger: u32,
}

impl Offer {
    /// True when `self` comes before `other` in the book: a lower price, then an older id
    /// (core's `isBetterOffer`, compared exactly rather than as doubles).
    pub fn is_better_than(&self, other: &Offer) -> bool {
        BookKey::of(self) < BookKey::of(other)
    }
}

/// Where an offer sits in its book: by price (exact rational order), then id.
#[derive(Debug, Clone, Copy)]
struct BookKey {
    n: i32,
    d: i32,
    id: i64,
}

impl BookKey {
    fn of(offer: &Offer) -> Self {
        Self {
            n: offer.price.n,
            d: offer.price.d,
            id: offer.id,
        }
    }
}

impl Ord for BookKey {
    fn cmp(&self, other: &Self) -> Ordering {
        // n and d are positive i32s: the products fit an i64.
        let lhs = i64::from(self.n) * i64::from(other.d);
        let rhs = i64::from(other.n) * i64::from(self.d);
        lhs.cmp(&rhs).then(self.id.cmp(&other.id))
    }
}

impl PartialOrd for BookKey {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for BookKey {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for BookKey {}

/// Every account of the ledger and the order book.
///
/// It dereferences to the map of accounts (what it was before the order book existed), so
/// code reading accounts is unchanged; offers are reached through [`Accounts::offers`] and
/// friends, and changed only through an [`Overlay`], which keeps the book's index in step.
#[derive(Debug, Clone, Default)]
pub struct Accounts {
    accounts: HashMap<PublicKey, Account>,
    offers: BTreeMap<i64, Offer>,
    book: HashMap<(Asset, Asset), BTreeSet<BookKey>>,
    id_pool: i64,
}

impl Deref for Accounts {
    type Target = HashMap<PublicKey, Account>;

    fn deref(&self) -> &Self::Target {
        &self.accounts
    }
}

impl DerefMut for Accounts {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.accounts
    }
}

impl Accounts {
    /// No accounts, an empty book, offer ids starting at 1.
    pub fn new() -> Self {
        Self::default()
    }

    /// Every offer, by id.
    pub fn offers(&self) -> impl Iterator<Item = &Offer> {
        self.offers.values()
    }

    /// One offer.
    pub fn offer(&self, id: i64) -> Option<&Offer> {
        self.offers.get(&id)
    }

    /// The offers selling `selling` for `buying`, best first.
    pub fn book(&self, selling: &Asset, buying: &Asset) -> Vec<&Offer> {
        self.book
            .get(&(selling.clone(), buying.clone()))
            .into_iter()
            .flatten()
            .filter_map(|key| self.offers.get(&key.id))
            .collect()
    }

    /// The last offer id handed out (core's `idPool`).
    pub fn id_pool(&self) -> i64 {
        self.id_pool
    }

    fn index(&mut self, offer: &Offer) {
        self.book
            .entry((offer.selling.clone(), offer.buying.clone()))
            .or_default()
            .insert(BookKey::of(offer));
    }

    fn unindex(&mut self, offer: &Offer) {
        let pair = (offer.selling.clone(), offer.buying.clone());
        if let Some(keys) = self.book.get_mut(&pair) {
            keys.remove(&BookKey::of(offer));
            if keys.is_empty() {
                self.book.remove(&pair);
            }
        }
    }

    fn put_offer(&mut self, offer: Offer) {
        if let Some(old) = self.offers.remove(&offer.id) {
            self.unindex(&old);
        }
        self.index(&offer);
        self.offers.insert(offer.id, offer);
    }

    fn remove_offer(&mut self, id: i64) {
        if let Some(old) = self.offers.remove(&id) {
            self.unindex(&old);
        }
    }
}

/// Everything an [`Overlay`] changed: accounts, offers and the offer id counter.
#[derive(Debug, Default)]
pub struct Changes {
    /// Changed accounts (`None`: deleted).
    pub accounts: HashMap<PublicKey, Option<Account>>,
    /// Changed offers (`None`: deleted).
    pub offers: HashMap<i64, Option<Offer>>,
    /// The offer id counter afterwards.
    pub id_pool: i64,
}

/// A copy of an overlay's changes, to undo one operation that failed half-way (core applies
/// each operation in a nested `LedgerTxn`).
#[derive(Debug, Clone)]
pub struct Checkpoint {
    changes: HashMap<PublicKey, Option<Account>>,
    offers: HashMap<i64, Option<Offer>>,
    id_pool: i64,
}

/// Changes made on top of [`Accounts`] that are committed only if everything succeeds.
#[derive(Debug)]
pub struct Overlay<'a> {
    base: &'a Accounts,
    changes: HashMap<PublicKey, Option<Account>>,
    offers: HashMap<i64, Option<Offer>>,
    id_pool: i64,
}

impl<'a> Overlay<'a> {
    /// An empty overlay over `base`.
    pub fn new(base: &'a Accounts) -> Self {
        Self {
            base,
            changes: HashMap::new(),
            offers: HashMap::new(),
            id_pool: base.id_pool,
        }
    }

    /// The state of the overlay now, for [`Overlay::rollback`].
    pub fn checkpoint(&self) -> Checkpoint {
        Checkpoint {
            changes: self.changes.clone(),
            offers: self.offers.clone(),
            id_pool: self.id_pool,
        }
    }

    /// Forgets every change made since `checkpoint`.
    pub fn rollback(&mut self, checkpoint: Checkpoint) {
        self.changes = checkpoint.changes;
        self.offers = checkpoint.offers;
        self.id_pool = checkpoint.id_pool;
    }

    /// The offer as seen through the overlay.
    pub fn offer(&self, id: i64) -> Option<&Offer> {
        match self.offers.get(&id) {
            Some(change) => change.as_ref(),
            None => self.base.offers.get(&id),
        }
    }

    /// Inserts or replaces an offer.
    pub fn put_offer(&mut self, offer: Offer) {
        self.offers.insert(offer.id, Some(offer));
    }

    /// Deletes an offer.
    pub fn remove_offer(&mut self, id: i64) {
        self.offers.insert(id, None);
    }

    /// A new offer id (core's `generateID`: `++idPool`).
    pub fn next_offer_id(&mut self) -> i64 {
        self.id_pool += 1;
        self.id_pool
    }

    /// The best offer selling `selling` for `buying` as seen through the overlay (core's
    /// `loadBestOffer`).
    pub fn best_offer(&self, selling: &Asset, buying: &Asset) -> Option<Offer> {
        let from_base = self
            .base
            .book
            .get(&(selling.clone(), buying.clone()))
            .and_then(|keys| keys.iter().find(|key| !self.offers.contains_key(&key.id)))
            .and_then(|key| self.base.offers.get(&key.id));
        let changed = self
            .offers
            .values()
            .flatten()
            .filter(|o| &o.selling == selling && &o.buying == buying)
            .min_by_key(|o| BookKey::of(o));
        match (from_base, changed) {
            (Some(a), Some(b)) => Some(if a.is_better_than(b) { a } else { b }.clone()),
            (a, b) => a.or(b).cloned(),
        }
    }

    /// The offers of `seller` as seen through the overlay, by id.
    pub fn offers_of(&self, seller: &PublicKey) -> Vec<Offer> {
        let mut offers: BTreeMap<i64, Offer> = self
            .base
            .offers
            .values()
            .filter(|o| &o.seller == seller && !self.offers.contains_key(&o.id))
            .map(|o| (o.id, o.clone()))
            .collect();
        for offer in self.offers.values().flatten() {
            if &offer.seller == seller {
                offers.insert(offer.id, offer.clone());
            }
        }
        offers.into_values().collect()
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

    /// The account changes, to be applied with [`commit`] (offers are left out: use
    /// [`Overlay::into_all_changes`] and [`commit_all`] when the order book may have changed).
    pub fn into_changes(self) -> HashMap<PublicKey, Option<Account>> {
        self.changes
    }

    /// Every change, accounts and offers, to be applied with [`commit_all`].
    pub fn into_all_changes(self) -> Changes {
        Changes {
            accounts: self.changes,
            offers: self.offers,
            id_pool: self.id_pool,
        }
    }
}

/// Applies an overlay's changes, accounts and offers, stamping changed offers with
/// `ledger_seq`.
pub fn commit_all(accounts: &mut Accounts, changes: Changes, ledger_seq: u32) {
    commit(accounts, changes.accounts);
    for (id, change) in changes.offers {
        match change {
            Some(mut offer) => {
                offer.last_modified_ledger = ledger_seq;
                accounts.put_offer(offer);
            }
            None => accounts.remove_offer(id),
        }
    }
    accounts.id_pool = accounts.id_pool.max(changes.id_pool);
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
