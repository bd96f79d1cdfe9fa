//! The bridge's subcommands besides serving:
//!
//! - `bridge channels merge [-c FILE]`: gives the channel accounts' lumens back to the base
//!   account. Run it with the bridge stopped; it refuses while a channel carries a transaction.
//! - `bridge accounts check [-c FILE]`: the paying account's separation as every start checks
//!   it (see [`crate::send::custody`]): refusals exit 1, warnings are printed.
//! - `bridge accounts setup --cosigner G… [--cosigner G…] [--submit] [-c FILE]`: prints the
//!   `set_options` that make the co-signers signers of the paying account, and with
//!   `--submit` signs them with `accounts.base_seed` and submits them.

use std::process::ExitCode;

use horizon::HorizonClient;
use service::cli::Args;
use stellar_base::{KeyPair, Network, PublicKey};

use crate::BridgeConfig;
use crate::send::fees::FeePolicy;
use crate::send::leases::Leases;
use crate::send::store::Store;
use crate::send::submitter::Submitter;
use crate::send::{Draft, Outcome, channels, custody};

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

/// The usage of the `accounts` subcommand.
pub const ACCOUNTS_USAGE: &str = "usage: bridge accounts check [-c|--config FILE]\n       \
bridge accounts setup --cosigner G... [--cosigner G...] [--submit] [-c|--config FILE]\n\n\
check: reads the paying account from Horizon and refuses (exit 1) a setup where one key alone\n\
can move its funds while [cosigning] is configured; prints the warnings every start logs\n\
setup: prints the set_options that add the co-signers (weight 1 each) and set every threshold\n\
to [cosigning] required + 1; --submit signs them with accounts.base_seed and submits them\n";

/// Runs `bridge accounts …` with the words after `accounts`.
pub async fn accounts_command(words: &[String]) -> ExitCode {
    let Some((verb, rest)) = words.split_first() else {
        eprint!("{ACCOUNTS_USAGE}");
        return ExitCode::from(2);
    };
    let mut cosigners = Vec::new();
    let mut submit = false;
    let mut flags = Vec::new();
    let mut words = rest.iter();
    while let Some(word) = words.next() {
        match word.as_str() {
            "--submit" => submit = true,
            "--cosigner" => match words.next().map(|k| k.parse::<PublicKey>()) {
                Some(Ok(key)) => cosigners.push(key),
                _ => {
                    eprint!("bridge accounts: --cosigner needs a G… key\n\n{ACCOUNTS_USAGE}");
                    return ExitCode::from(2);
                }
            },
            _ => flags.push(word.clone()),
        }
    }
    let args = match Args::parse(flags) {
        Ok(args) => args,
        Err(e) => {
            eprint!("bridge accounts: {e}\n\n{ACCOUNTS_USAGE}");
            return ExitCode::from(2);
        }
    };
    let result = match verb.as_str() {
        "check" => check(&args).await,
        "setup" => setup(&args, &cosigners, submit).await,
        other => {
            eprint!("bridge accounts: unknown command {other:?}\n\n{ACCOUNTS_USAGE}");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bridge accounts {verb}: {e}");
            ExitCode::FAILURE
        }
    }
}

fn load(args: &Args) -> Result<BridgeConfig, String> {
    let config =
        BridgeConfig::load(args.config_file("bridge.cfg").as_deref()).map_err(|e| e.to_string())?;
    service::telemetry::init(config.log_format);
    Ok(config)
}

async fn check(args: &Args) -> Result<(), String> {
    let config = load(args)?;
    let horizon =
        HorizonClient::new(&config.horizon, &config.horizon_client).map_err(|e| e.to_string())?;
    let findings = crate::custody_findings(&config, &horizon).await?;
    for warning in &findings.warnings {
        println!("warning: {warning}");
    }
    for refusal in &findings.refusals {
        println!("refused: {refusal}");
    }
    if findings.refusals.is_empty() {
        println!(
            "ok: {} warning(s){}",
            findings.warnings.len(),
            if config.cosigning.is_some() {
                "; no single key can move the paying account's funds"
            } else {
                "; [cosigning] is not configured: the bridge's key alone signs payments"
            }
        );
        Ok(())
    } else {
        Err(format!("{} refusal(s)", findings.refusals.len()))
    }
}

async fn setup(args: &Args, cosigners: &[PublicKey], submit: bool) -> Result<(), String> {
    let config = load(args)?;
    let cosigning = config
        .cosigning
        .as_ref()
        .ok_or("the configuration has no [cosigning]")?;
    let base = config
        .accounts
        .base_seed
        .as_ref()
        .ok_or("accounts.base_seed is not set")?;
    if cosigners.len() < cosigning.required {
        return Err(format!(
            "[cosigning] required = {} needs at least that many --cosigner keys",
            cosigning.required
        ));
    }
    let operations = custody::setup_operations(cosigners, cosigning.required);
    println!("paying account {}:", base.public_key());
    for key in cosigners {
        println!("  set_options: add signer {key} with weight 1");
    }
    let threshold = cosigning.required + 1;
    println!(
        "  set_options: master key (the bridge's) weight 1; thresholds low/medium/high {threshold}"
    );
    for operation in &operations {
        println!("  {}", stellar_base::transaction::to_base64(&operation.0));
    }
    if !submit {
        println!("not submitted (add --submit to sign with accounts.base_seed and submit)");
        return Ok(());
    }
    let submitter = offline_submitter(&config).await?;
    let draft =
        Draft::operations(base.clone(), stellar_base::Memo::None, operations).without_channel();
    match submitter.send(&draft, None, None).await {
        Ok(Outcome::Success { hash, ledger, .. }) => {
            println!("submitted: {hash} in ledger {ledger}; run `bridge accounts check`");
            Ok(())
        }
        Ok(other) => Err(format!("not applied: {other:?}")),
        Err(e) => Err(e.to_string()),
    }
}

/// A submitter for a subcommand run with the bridge stopped: no channels, no co-signers.
async fn offline_submitter(config: &BridgeConfig) -> Result<Submitter, String> {
    let (db, _) = crate::migrate_and_open(config)
        .await
        .map_err(|e| e.to_string())?;
    let horizon =
        HorizonClient::new(&config.horizon, &config.horizon_client).map_err(|e| e.to_string())?;
    Ok(Submitter::new(
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
    ))
}

async fn merge(args: Args) -> Result<Vec<stellar_base::PublicKey>, String> {
    let config = load(&args)?;
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
    let submitter = offline_submitter(&config).await?;
    channels::merge(&submitter, base.public_key(), &keys)
        .await
        .map_err(|e| e.to_string())
}
