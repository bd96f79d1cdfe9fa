//! `federation`: the SEP-2 server. See `docs/federation.md`.

#[tokio::main]
async fn main() -> std::process::ExitCode {
    service::server::main::<federation::Application>(env!("CARGO_PKG_VERSION")).await
}
