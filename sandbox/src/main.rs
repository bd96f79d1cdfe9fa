//! `sandbox`: runs the in-memory Horizon-compatible network until interrupted.

use std::io::Write;
use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--help" || a == "-h") {
        println!("{}", sandbox::USAGE);
        return ExitCode::SUCCESS;
    }
    let config = match sandbox::config_from_args(args) {
        Ok(config) => config,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::from(2);
        }
    };
    let running = match sandbox::Sandbox::start(config).await {
        Ok(running) => running,
        Err(error) => {
            eprintln!("{error}");
            return ExitCode::FAILURE;
        }
    };
    // Scripts read the address from the first line; a closed stdout must not stop the server.
    let mut out = std::io::stdout();
    let _ = writeln!(out, "sandbox listening on {}", running.url());
    let _ = writeln!(out, "network passphrase: {}", running.passphrase());
    let _ = writeln!(out, "root account: {}", running.root_keypair().public_key());
    let _ = out.flush();
    let _ = tokio::signal::ctrl_c().await;
    running.shutdown().await;
    ExitCode::SUCCESS
}
