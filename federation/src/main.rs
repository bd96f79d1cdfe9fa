//! `federation`: the SEP-2 server. See `docs/federation.md`.

use std::process::ExitCode;

use federation::{Application, FederationConfig};
use service::cli::{Args, usage};

#[tokio::main]
async fn main() -> ExitCode {
    let args = match Args::parse(std::env::args().skip(1)) {
        Ok(args) => args,
        Err(e) => {
            eprintln!(
                "federation: {e}\n\n{}",
                usage("federation", "federation.cfg")
            );
            return ExitCode::from(2);
        }
    };
    if args.help {
        print!("{}", usage("federation", "federation.cfg"));
        return ExitCode::SUCCESS;
    }
    if args.version {
        println!("federation {}", env!("CARGO_PKG_VERSION"));
        return ExitCode::SUCCESS;
    }
    let config = match FederationConfig::load(args.config_file("federation.cfg").as_deref()) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("federation: {e}");
            return ExitCode::FAILURE;
        }
    };
    service::telemetry::init(config.log_format);
    if args.migrate_db {
        println!("federation: it reads the operator's own tables and has none to migrate");
        return ExitCode::SUCCESS;
    }
    let app = match Application::build(config).await {
        Ok(app) => app,
        Err(e) => {
            eprintln!("federation: cannot start: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!("federation listening on {}", app.url());
    match app.run_until_stopped().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("federation: {e}");
            ExitCode::FAILURE
        }
    }
}
