//! `bridge`: the payment API. See `docs/bridge.md`.

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Some(("channels", words)) = args.split_first().map(|(w, rest)| (w.as_str(), rest)) {
        return bridge::cli::channels_command(words).await;
    }
    service::server::main::<bridge::Application>(env!("CARGO_PKG_VERSION")).await
}
