//! `bridge channels merge [-c FILE]`: gives the channel accounts' lumens back to the base
//! account. Run it with the bridge stopped; it refuses while a channel carries a transaction.

use std::process::ExitCode;

use horizon::HorizonClient;
use service::cli::Args;
use stellar_base::{KeyPair, Network};

use crate::BridgeConfig;
use crate::send::channels;
use crate::send::fees::FeePolicy;
use crate::send::leases::Leases;
use crate::send::store::Store;
use crate::send::submitter::Submitter;

/// The usage of the `channels` subcommand.
pub const USAGE: &str = "usage: bridge channels merge [-c|--config FILE]\n\n\
merges every channel account of [channels] into the base account (accounts.base_seed);\n\
stop the bridge first\n";

/// Runs `bridge channels …` with the words after `channels`.
pub async fn channels_command(words: &[String]) -> ExitCode {
    let Some((verb, flags)) = words.split_first() else {
        eprint!("{USAGE}");
        return ExitCode::from(2);
    };
    if verb != "merge" {
        eprint!("bridge channels: unknown command {verb:?}\n\n{USAGE}");
        return ExitCode::from(2);
    }
    let args = match Args::parse(flags.iter().cloned()) {
        Ok(args) => args,
        Err(e) => {
            eprint!("bridge channels merge: {e}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match merge(args).await {
        Ok(merged) => {
            println!("bridge channels merge: {} channel(s) merged", merged.len());
            for account in merged {
                println!("{account}");
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("bridge channels merge: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn merge(args: Args) -> Result<Vec<stellar_base::PublicKey>, String> {
    let config =
        BridgeConfig::load(args.config_file("bridge.cfg").as_deref()).map_err(|e| e.to_string())?;
    service::telemetry::init(config.log_format);
    let settings = config
        .channels
        .as_ref()
        .ok_or("the configuration has no [channels]")?;
    let base = config
        .accounts
        .base_seed
        .as_ref()
        .ok_or("accounts.base_seed is not set")?;
    let keys = settings.keys();
    let (db, _) = crate::migrate_and_open(&config)
        .await
        .map_err(|e| e.to_string())?;
    let pool = Leases::new(db.clone(), keys.iter().map(KeyPair::public_key).collect())
        .await
        .map_err(|e| e.to_string())?;
    if let Some(status) = pool.status().await.map_err(|e| e.to_string())?
        && status.leased > 0
    {
        return Err(format!(
            "{} channel(s) carry a transaction; stop the bridge and try again once they \
             are done (at most transaction_timeout_seconds)",
            status.leased
        ));
    }
    let horizon =
        HorizonClient::new(&config.horizon, &config.horizon_client).map_err(|e| e.to_string())?;
    let submitter = Submitter::new(
        horizon.clone(),
        Network::new(config.network_passphrase.clone()),
        Store::new(db.clone()),
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
        Leases::new(db, Vec::new())
            .await
            .map_err(|e| e.to_string())?,
    );
    channels::merge(&submitter, base.public_key(), &keys)
        .await
        .map_err(|e| e.to_string())
}
