//! `bridge`: the payment API. See `docs/bridge.md`.

#[tokio::main]
async fn main() -> std::process::ExitCode {
    service::server::main::<bridge::Application>(env!("CARGO_PKG_VERSION")).await
}
