//! [`Sending`]: what the sending handlers share.

use horizon::HorizonClient;
use stellar_base::{Amount, Asset, KeyPair, Network, PublicKey};
use stellar_toml::Resolver;
use tokio::sync::mpsc;

use super::channels::{self, ChannelSettings};
use super::fees::FeePolicy;
use super::leases::Leases;
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
    /// With `[channels]`, the channel accounts are created or topped up first.
    ///
    /// # Errors
    /// When the channels' leases cannot be stored or the channels cannot be funded.
    pub async fn start(
        config: &BridgeConfig,
        store: Store,
        horizon: HorizonClient,
        resolver: &Resolver,
        assets: Vec<Asset>,
    ) -> Result<Self, String> {
        let channel_keys = config
            .channels
            .as_ref()
            .map(ChannelSettings::keys)
            .unwrap_or_default();
        let leases = Leases::new(
            store.database().clone(),
            channel_keys.iter().map(KeyPair::public_key).collect(),
        )
        .await
        .map_err(|e| e.to_string())?;
        let mut submitter = Submitter::new(
            horizon.clone(),
            Network::new(config.network_passphrase.clone()),
            store.clone(),
            FeePolicy::new(
                horizon,
                config.fees.percentile,
                config.base_fee,
                config.max_fee,
            ),
            (
                config.transaction_timeout_seconds,
                std::time::Duration::from_secs(config.pending_wait_seconds),
            ),
            leases,
        );
        if let (Some(settings), Some(base)) = (&config.channels, &config.accounts.base_seed) {
            let (top_ups, requests) = mpsc::unbounded_channel();
            submitter = submitter.with_channels(&channel_keys, top_ups);
            channels::fund(&submitter, base, &channel_keys, settings.starting_balance)
                .await
                .map_err(|e| format!("channels: {e}"))?;
            tokio::spawn(top_up_worker(
                submitter.clone(),
                base.clone(),
                channel_keys.clone(),
                settings.starting_balance,
                requests,
            ));
        }
        let compliance = config.compliance.as_ref().map(|base| {
            ComplianceClient::new(
                base,
                config.compliance_api_key.clone(),
                resolver.trusted_client(),
            )
        });
        Ok(Self {
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
        })
    }

    /// The `sent_transaction` store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// How the channel pool stands (`null` without channels), for `/health`; also sets the
    /// `bridge_channels{state}` gauges.
    pub async fn channels_health(&self) -> serde_json::Value {
        match self.submitter.leases().status().await {
            Ok(Some(status)) => {
                for (state, n) in [
                    ("leased", status.leased),
                    ("idle", status.idle),
                    ("out_of_pool", status.out_of_pool.len()),
                ] {
                    metrics::gauge!("bridge_channels", "state" => state).set(n as f64);
                }
                serde_json::to_value(status).unwrap_or_default()
            }
            Ok(None) => serde_json::Value::Null,
            Err(e) => serde_json::json!({"error": e.to_string()}),
        }
    }

    /// `GET /metrics`: the process's metrics, the channel pool's gauges read fresh.
    pub async fn metrics(sending: actix_web::web::Data<Sending>) -> actix_web::HttpResponse {
        sending.channels_health().await;
        service::metrics::render().await
    }
}

/// How often every channel's balance is checked (and topped up below half of
/// `starting_balance`), besides the channels reported low by a refusal.
const BALANCE_CHECK_INTERVAL: std::time::Duration = std::time::Duration::from_secs(300);

/// Tops up the channels the submitter reports as low on lumens, one at a time, and puts each
/// back in the pool once it has enough; and every [`BALANCE_CHECK_INTERVAL`], tops up every
/// channel that has fallen below half of `starting_balance` before its fees are refused.
async fn top_up_worker(
    submitter: Submitter,
    base: KeyPair,
    channel_keys: Vec<KeyPair>,
    starting_balance: Amount,
    mut requests: mpsc::UnboundedReceiver<PublicKey>,
) {
    let mut check = tokio::time::interval(BALANCE_CHECK_INTERVAL);
    check.tick().await; // the channels were funded at start-up
    loop {
        tokio::select! {
            request = requests.recv() => {
                let Some(channel) = request else { return };
                match channels::top_up(&submitter, &base, channel, starting_balance).await {
                    Ok(()) => {
                        if let Err(e) = submitter.leases().restore(channel).await {
                            tracing::error!(%channel, error = %e, "cannot put a channel back in the pool");
                        }
                    }
                    Err(e) => tracing::error!(%channel, error = %e, "cannot top up a channel account"),
                }
            }
            _ = check.tick() => {
                if let Err(e) = channels::fund(&submitter, &base, &channel_keys, starting_balance).await {
                    tracing::error!(error = %e, "cannot top up the channel accounts");
                }
            }
        }
    }
}
