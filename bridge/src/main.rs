//! `bridge`: the payment API. See `docs/bridge.md`.

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.split_first().map(|(w, rest)| (w.as_str(), rest)) {
        Some(("channels", words)) => return bridge::cli::channels_command(words).await,
        Some(("accounts", words)) => return bridge::cli::accounts_command(words).await,
        _ => {}
    }
    service::server::main::<bridge::Application>(env!("CARGO_PKG_VERSION")).await
}
