//! `callbacks-example -c callbacks.toml`: the reference back office. See the crate docs.

use std::process::ExitCode;

use callbacks_example::{CallbacksServer, Config};

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let path = match args.as_slice() {
        [flag, path] if flag == "-c" || flag == "--config" => path.clone(),
        [] => "callbacks.toml".to_owned(),
        _ => {
            eprintln!("usage: callbacks-example [-c callbacks.toml]");
            return ExitCode::from(2);
        }
    };
    service::telemetry::init(Default::default());
    let config: Config = match std::fs::read_to_string(&path)
        .map_err(|e| e.to_string())
        .and_then(|t| toml::from_str(&t).map_err(|e| e.to_string()))
    {
        Ok(config) => config,
        Err(e) => {
            eprintln!("callbacks-example: {path}: {e}");
            return ExitCode::FAILURE;
        }
    };
    match CallbacksServer::start(config).await {
        Ok(server) => {
            println!("callbacks-example listening on {}", server.url());
            match server.run_until_stopped().await {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("callbacks-example: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Err(e) => {
            eprintln!("callbacks-example: {e}");
            ExitCode::FAILURE
        }
    }
}
