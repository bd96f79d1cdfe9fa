//! `cosigner`: the independent co-signer. See `docs/cosigning.md`.

#[tokio::main]
async fn main() -> std::process::ExitCode {
    service::server::main::<cosigner::Application>(env!("CARGO_PKG_VERSION")).await
}
