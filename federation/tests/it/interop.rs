//! Interop: the official Python SDK (`stellar-sdk==16.1.1`) resolves addresses at our server.

use std::process::Command;

use federation::testing::{BOB, FederationServer};
use service::database::Backend;

#[tokio::test]
async fn the_python_sdk_resolves_names_and_accounts_at_our_server() {
    let server = FederationServer::start(Backend::Sqlite).await;
    let url = server.federation_url();

    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/interop/resolve.py");
    let out = tokio::task::spawn_blocking(move || {
        Command::new("python3")
            .args([script, &url, "bob*bank.test", BOB])
            .output()
            .expect("python3 must be installed")
    })
    .await
    .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("No module named 'stellar_sdk'"),
        "the official SDK is missing: python3 -m pip install stellar-sdk==16.1.1"
    );
    assert!(out.status.success(), "the Python SDK failed:\n{stderr}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines, [format!("{BOB} id 42").as_str(), "bob*bank.test"]);
}
