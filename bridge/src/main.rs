//! `bridge`: the payment API. See `docs/bridge.md`.

use std::process::ExitCode;

use bridge::{Application, BridgeConfig};
use service::cli::{Args, usage};

#[tokio::main]
async fn main() -> ExitCode {
    let args = match Args::parse(std::env::args().skip(1)) {
        Ok(args) => args,
        Err(e) => {
            eprintln!("bridge: {e}\n\n{}", usage("bridge", "bridge.cfg"));
            return ExitCode::from(2);
        }
    };
    if args.help {
        print!("{}", usage("bridge", "bridge.cfg"));
        return ExitCode::SUCCESS;
    }
    if args.version {
        println!("bridge {}", env!("CARGO_PKG_VERSION"));
        return ExitCode::SUCCESS;
    }
    let config = match BridgeConfig::load(args.config_file("bridge.cfg").as_deref()) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("bridge: {e}");
            return ExitCode::FAILURE;
        }
    };
    service::telemetry::init(config.log_format);
    for warning in config.warnings() {
        tracing::warn!("{warning}");
    }
    if args.migrate_db {
        return match bridge::migrate(&config).await {
            Ok(applied) => {
                println!("bridge: {} migration(s) applied", applied.len());
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("bridge: {e}");
                ExitCode::FAILURE
            }
        };
    }
    let app = match Application::build(config).await {
        Ok(app) => app,
        Err(e) => {
            eprintln!("bridge: cannot start: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!("bridge listening on {}", app.url());
    match app.run_until_stopped().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bridge: {e}");
            ExitCode::FAILURE
        }
    }
}
