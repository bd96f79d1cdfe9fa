//! [`Sending`]: what the sending handlers share.

use horizon::HorizonClient;
use stellar_base::{Asset, KeyPair, Network, PublicKey};
use stellar_toml::Resolver;

use super::fees::FeePolicy;
use super::store::Store;
use super::submitter::Submitter;
use crate::BridgeConfig;
use crate::compliance_client::ComplianceClient;

/// What the sending handlers share. Cheap to clone.
#[derive(Clone)]
pub struct Sending {
    pub(super) submitter: Submitter,
    pub(super) federation: federation::FederationClient,
    pub(super) compliance: Option<ComplianceClient>,
    pub(super) base_seed: Option<KeyPair>,
    pub(super) authorizing_seed: Option<KeyPair>,
    pub(super) issuing_account: Option<PublicKey>,
    pub(super) assets: Vec<Asset>,
    pub(super) store: Store,
    pub(super) base_fee: u32,
    pub(super) builder_timeout: u64,
}

impl std::fmt::Debug for Sending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("bridge::send::Sending")
    }
}

impl Sending {
    /// The sending side over `store`, sending through `horizon`; `assets` are `[[assets]]`.
    pub fn new(
        config: &BridgeConfig,
        store: Store,
        horizon: HorizonClient,
        resolver: &Resolver,
        assets: Vec<Asset>,
    ) -> Self {
        let submitter = Submitter::new(
            horizon.clone(),
            Network::new(config.network_passphrase.clone()),
            store.clone(),
            FeePolicy::new(
                horizon,
                config.fees.percentile,
                config.base_fee,
                config.max_fee,
            ),
            config.transaction_timeout_seconds,
            std::time::Duration::from_secs(config.pending_wait_seconds),
        );
        let compliance = config.compliance.as_ref().map(|base| {
            ComplianceClient::new(
                base,
                config.compliance_api_key.clone(),
                resolver.trusted_client(),
            )
        });
        Self {
            submitter,
            federation: federation::FederationClient::new(resolver.clone()),
            compliance,
            base_seed: config.accounts.base_seed.clone(),
            authorizing_seed: config.accounts.authorizing_seed.clone(),
            issuing_account: config.accounts.issuing_account_id,
            assets,
            store,
            base_fee: config.base_fee,
            builder_timeout: config.builder_timeout_seconds,
        }
    }

    /// The `sent_transaction` store.
    pub fn store(&self) -> &Store {
        &self.store
    }
}
