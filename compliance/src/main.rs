//! `compliance`: the SEP-3 compliance server. See `docs/compliance.md`.

use std::process::ExitCode;

use compliance::{Application, ComplianceConfig};
use service::cli::{Args, usage};

#[tokio::main]
async fn main() -> ExitCode {
    let args = match Args::parse(std::env::args().skip(1)) {
        Ok(args) => args,
        Err(e) => {
            eprintln!(
                "compliance: {e}\n\n{}",
                usage("compliance", "compliance.cfg")
            );
            return ExitCode::from(2);
        }
    };
    if args.help {
        print!("{}", usage("compliance", "compliance.cfg"));
        return ExitCode::SUCCESS;
    }
    if args.version {
        println!("compliance {}", env!("CARGO_PKG_VERSION"));
        return ExitCode::SUCCESS;
    }
    let config = match ComplianceConfig::load(args.config_file("compliance.cfg").as_deref()) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("compliance: {e}");
            return ExitCode::FAILURE;
        }
    };
    service::telemetry::init(config.log_format);
    for warning in config.warnings() {
        tracing::warn!("{warning}");
    }
    if args.migrate_db {
        return match compliance::migrate(&config).await {
            Ok(applied) => {
                println!("compliance: {} migration(s) applied", applied.len());
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("compliance: {e}");
                ExitCode::FAILURE
            }
        };
    }
    let app = match Application::build(config).await {
        Ok(app) => app,
        Err(e) => {
            eprintln!("compliance: cannot start: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!(
        "compliance listening: external {} internal {}",
        app.external_url(),
        app.internal_url()
    );
    match app.run_until_stopped().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("compliance: {e}");
            ExitCode::FAILURE
        }
    }
}
