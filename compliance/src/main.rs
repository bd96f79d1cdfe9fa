//! `compliance`: the SEP-3 compliance server. See `docs/compliance.md`.

#[tokio::main]
async fn main() -> std::process::ExitCode {
    service::server::main::<compliance::Application>(env!("CARGO_PKG_VERSION")).await
}
