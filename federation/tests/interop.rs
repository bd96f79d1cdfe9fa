//! Interop: the official Python SDK (`stellar-sdk==16.1.1`) resolves addresses at our server.

use std::process::Command;

use diesel::connection::SimpleConnection;
use federation::config::Queries;
use federation::{Application, FederationConfig};
use service::database::{Backend, Database};
use service::testing::TestDatabase;

const BOB: &str = "GD2GJPL3UOK5LX7TWXOACK2ZPWPFSLBNKL3GTGH6BLBNISK4BGWMFBBG";

#[tokio::test]
async fn the_python_sdk_resolves_names_and_accounts_at_our_server() {
    let db = TestDatabase::new(Backend::Sqlite);
    Database::connect(&db.settings())
        .unwrap()
        .run_blocking(|conn| {
            conn.batch_execute(&format!(
                "CREATE TABLE people (id TEXT, name TEXT, domain TEXT, memo_type TEXT, memo TEXT);
                 INSERT INTO people VALUES ('{BOB}', 'bob', 'bank.test', 'id', '42');"
            ))?;
            Ok(())
        })
        .unwrap();
    let app = Application::build(FederationConfig {
        port: 0,
        bind_address: "127.0.0.1".into(),
        database: db.settings(),
        queries: Queries {
            federation: "SELECT id, memo_type, memo FROM people WHERE name = ? AND domain = ?"
                .into(),
            reverse_federation: Some("SELECT name, domain FROM people WHERE id = ?".into()),
            forward: None,
        },
        tls: None,
        log_format: Default::default(),
        metrics_port: None,
        max_body_bytes: 16 * 1024,
    })
    .await
    .unwrap();
    let url = format!("{}/federation", app.url());
    let _handles = app.spawn();

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
