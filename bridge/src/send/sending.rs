//! [`Sending`]: what the sending handlers share.

use std::time::Duration;

use horizon::HorizonClient;
use service::Secret;
use stellar_base::{Amount, Asset, KeyPair, Network, PublicKey};
use stellar_toml::Resolver;
use tokio::sync::mpsc;
use url::Url;

use super::channels::{self, ChannelSettings};
use super::cosigning::{Cosigners, CosigningSettings};
use super::fees::FeePolicy;
use super::leases::Leases;
use super::store::Store;
use super::submitter::Submitter;
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

/// What the sending side is configured with: the parts of `bridge.cfg` it reads, handed over
/// by `Application::build`. The sending side takes these rather than the whole configuration
/// because the configuration names the side's own settings (`[channels]`): each depends on
/// the other's types only one way.
#[derive(Clone)]
pub struct SendingConfig {
    /// `network_passphrase`: what every transaction is signed for.
    pub network_passphrase: String,
    /// `[channels]`, when channel accounts carry the payments.
    pub channels: Option<ChannelSettings>,
    /// `[cosigning]`, when co-signers guard the base account.
    pub cosigning: Option<CosigningSettings>,
    /// The base account's signers besides the bridge's key, read at start-up: whose
    /// co-signatures are accepted.
    pub cosigner_keys: Vec<PublicKey>,
    /// `[fees] percentile`: which percentile of the network's recent fees to bid.
    pub fee_percentile: u8,
    /// `base_fee`: the least bid per operation, in stroops.
    pub base_fee: u32,
    /// `max_fee`: the most bid per operation, in stroops.
    pub max_fee: u32,
    /// `transaction_timeout_seconds`: how long a transaction stays valid.
    pub transaction_timeout_seconds: u64,
    /// `pending_wait_seconds`: how long a request waits for an unknown outcome.
    pub pending_wait: Duration,
    /// `builder_timeout_seconds`: the validity of `/builder` envelopes without time bounds.
    pub builder_timeout_seconds: u64,
    /// `accounts.base_seed`: the default source of `/payment`, and the channels' funder.
    pub base_seed: Option<KeyPair>,
    /// `accounts.authorizing_seed`: signs `/authorize`.
    pub authorizing_seed: Option<KeyPair>,
    /// `accounts.issuing_account_id`: the issuer `/authorize` acts for.
    pub issuing_account: Option<PublicKey>,
    /// `compliance`: the compliance server's internal port, for `/payment`'s compliance path.
    pub compliance: Option<Url>,
    /// `compliance_api_key`: its API key, if it requires one.
    pub compliance_api_key: Option<Secret<String>>,
}

impl std::fmt::Debug for SendingConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SendingConfig")
            .field("network_passphrase", &self.network_passphrase)
            .field("channels", &self.channels)
            .field("compliance", &self.compliance)
            .finish_non_exhaustive()
    }
}

impl Sending {
    /// The sending side over `store`, sending through `horizon`; `assets` are `[[assets]]`.
    /// With `[channels]`, the channel accounts are created or topped up first.
    ///
    /// # Errors
    /// When the channels' leases cannot be stored or the channels cannot be funded.
    pub async fn start(
        config: SendingConfig,
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
        let submitter = Submitter::new(
            horizon.clone(),
            Network::new(config.network_passphrase.clone()),
            store.clone(),
            FeePolicy::new(
                horizon,
                config.fee_percentile,
                config.base_fee,
                config.max_fee,
            ),
            (config.transaction_timeout_seconds, config.pending_wait),
            leases,
        );
        let submitter = match (&config.cosigning, &config.base_seed) {
            (Some(settings), Some(base)) => submitter.with_cosigners(Cosigners::new(
                settings,
                base.clone(),
                config.cosigner_keys.clone(),
                resolver.trusted_client(),
                Network::new(config.network_passphrase.clone()),
            )),
            _ => submitter,
        };
        let submitter = match (&config.channels, &config.base_seed) {
            (Some(settings), Some(base)) => {
                with_channels(submitter, base, channel_keys, settings.starting_balance).await?
            }
            _ => submitter,
        };
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
            base_seed: config.base_seed,
            authorizing_seed: config.authorizing_seed,
            issuing_account: config.issuing_account,
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

    /// Every channel with its state and its lumen balance as Horizon shows it (`None` when
    /// Horizon did not answer within two seconds): the console's health page.
    ///
    /// # Errors
    /// Database failures.
    pub async fn channels(
        &self,
    ) -> Result<Vec<(super::leases::ChannelState, Option<String>)>, service::DbError> {
        let states = self.submitter.leases().channel_states().await?;
        let horizon = self.submitter.horizon();
        let balances = futures_util::future::join_all(states.iter().map(|channel| async move {
            let account: stellar_base::PublicKey = channel.account.parse().ok()?;
            let found = tokio::time::timeout(Duration::from_secs(2), horizon.account(&account))
                .await
                .ok()?
                .ok()??;
            found
                .balances
                .iter()
                .find(|b| b.asset_type == "native")
                .map(|b| b.balance.to_string())
        }))
        .await;
        Ok(states.into_iter().zip(balances).collect())
    }

    /// `GET /metrics`: the process's metrics, the channel pool's gauges read fresh.
    pub async fn metrics(sending: actix_web::web::Data<Sending>) -> actix_web::HttpResponse {
        sending.channels_health().await;
        service::metrics::render().await
    }
}

/// The submitter carrying payments through the channels `keys`, funded by `base`: missing
/// channels are created and low ones topped up before the first payment, then a worker keeps
/// them topped up for as long as the process runs.
async fn with_channels(
    submitter: Submitter,
    base: &KeyPair,
    keys: Vec<KeyPair>,
    starting_balance: Amount,
) -> Result<Submitter, String> {
    let (top_ups, requests) = mpsc::unbounded_channel();
    let submitter = submitter.with_channels(&keys, top_ups);
    channels::fund(&submitter, base, &keys, starting_balance)
        .await
        .map_err(|e| format!("channels: {e}"))?;
    tokio::spawn(top_up_worker(
        submitter.clone(),
        base.clone(),
        keys,
        starting_balance,
        requests,
    ));
    Ok(submitter)
}

/// How often every channel's balance is checked (and topped up below half of
/// `starting_balance`), besides the channels reported low by a refusal.
const BALANCE_CHECK_INTERVAL: Duration = Duration::from_secs(300);

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

/// What the batch side ([`crate::batch`]) sends with: the same submitter, federation client,
/// compliance client and paying key as `/payment`.
impl Sending {
    /// The submitter (exactly once per payment id).
    pub fn submitter(&self) -> &Submitter {
        &self.submitter
    }

    /// The federation client.
    pub fn federation(&self) -> &federation::FederationClient {
        &self.federation
    }

    /// The compliance server's internal API, when configured.
    pub fn compliance(&self) -> Option<&ComplianceClient> {
        self.compliance.as_ref()
    }

    /// `accounts.base_seed`: the paying account.
    pub fn base_seed(&self) -> Option<&KeyPair> {
        self.base_seed.as_ref()
    }
}
