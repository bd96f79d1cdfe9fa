//! How to run the sandbox: the configuration and the command line.

use std::net::SocketAddr;
use std::time::Duration;

use stellar_base::Network;

use crate::queue::QueueLimits;

/// How to run the sandbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SandboxConfig {
    /// Network passphrase (default: `Standalone Network ; February 2017`).
    pub passphrase: String,
    /// Time between ledger closes (default 1 s).
    pub close_interval: Duration,
    /// Address to bind (default `127.0.0.1:0`, any free port).
    pub bind: SocketAddr,
    /// Serve the fault-injection admin route `POST /_sandbox/faults` (default false).
    pub faults_enabled: bool,
    /// Time between keep-alive comments on idle streams (default 5 s).
    pub keepalive_interval: Duration,
    /// The network's queue limits: operations per ledger and ledgers a transaction may wait.
    pub limits: QueueLimits,
    /// How long `POST /transactions` waits for its transaction's ledger before answering 504
    /// `timeout`, as Horizon does (default 30 s).
    pub submission_timeout: Duration,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        Self {
            passphrase: Network::STANDALONE.to_owned(),
            close_interval: Duration::from_secs(1),
            bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            faults_enabled: false,
            keepalive_interval: Duration::from_secs(5),
            limits: QueueLimits::default(),
            submission_timeout: Duration::from_secs(30),
        }
    }
}

impl SandboxConfig {
    /// Defaults suited to tests: any free port on 127.0.0.1, ledgers every 10 ms, faults on.
    pub fn for_tests() -> Self {
        Self {
            close_interval: Duration::from_millis(10),
            faults_enabled: true,
            keepalive_interval: Duration::from_secs(1),
            ..Self::default()
        }
    }
}

/// Helper for `main`: the configuration from command-line arguments.
///
/// # Errors
/// A usage message for unknown flags or bad values.
pub fn config_from_args(args: impl IntoIterator<Item = String>) -> Result<SandboxConfig, String> {
    let mut config = SandboxConfig::default();
    let mut port: u16 = 8000;
    let mut host = std::net::IpAddr::from([127, 0, 0, 1]);
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().ok_or_else(|| format!("{name} needs a value"));
        match arg.as_str() {
            "--port" => {
                port = value("--port")?
                    .parse()
                    .map_err(|e| format!("--port: {e}"))?
            }
            "--host" => {
                host = value("--host")?
                    .parse()
                    .map_err(|e| format!("--host: {e}"))?
            }
            "--passphrase" => config.passphrase = value("--passphrase")?,
            "--close-interval-ms" => {
                let ms: u64 = value("--close-interval-ms")?
                    .parse()
                    .map_err(|e| format!("--close-interval-ms: {e}"))?;
                config.close_interval = Duration::from_millis(ms.max(1));
            }
            "--max-ops-per-ledger" => {
                config.limits.max_ops_per_ledger = value("--max-ops-per-ledger")?
                    .parse()
                    .map_err(|e| format!("--max-ops-per-ledger: {e}"))?;
            }
            "--queue-ledgers" => {
                config.limits.queue_ledgers = value("--queue-ledgers")?
                    .parse()
                    .map_err(|e| format!("--queue-ledgers: {e}"))?;
            }
            "--submission-timeout-ms" => {
                let ms: u64 = value("--submission-timeout-ms")?
                    .parse()
                    .map_err(|e| format!("--submission-timeout-ms: {e}"))?;
                config.submission_timeout = Duration::from_millis(ms);
            }
            "--enable-faults" => config.faults_enabled = true,
            other => return Err(format!("unknown argument {other:?}\n{USAGE}")),
        }
    }
    config.bind = SocketAddr::new(host, port);
    Ok(config)
}

/// Command-line usage.
pub const USAGE: &str = "usage: sandbox [--port 8000] [--host 127.0.0.1] [--passphrase TEXT] \
                         [--close-interval-ms 1000] [--max-ops-per-ledger 1000] \
                         [--queue-ledgers 4] [--submission-timeout-ms 30000] [--enable-faults]";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_arguments() {
        let args = [
            "--port",
            "0",
            "--close-interval-ms",
            "5",
            "--max-ops-per-ledger",
            "50",
            "--queue-ledgers",
            "2",
            "--submission-timeout-ms",
            "700",
            "--enable-faults",
        ];
        let config = config_from_args(args.iter().map(|s| (*s).to_owned())).unwrap();
        assert_eq!(config.limits.max_ops_per_ledger, 50);
        assert_eq!(config.limits.queue_ledgers, 2);
        assert_eq!(config.submission_timeout, Duration::from_millis(700));
        assert_eq!(config.bind.port(), 0);
        assert_eq!(config.close_interval, Duration::from_millis(5));
        assert!(config.faults_enabled);
        assert!(config_from_args(["--nope".to_owned()]).is_err());
    }
}
