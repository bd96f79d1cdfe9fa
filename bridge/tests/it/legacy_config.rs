//! A legacy operator's `bridge.cfg` starts the server unchanged, and `/authorize` says which
//! setting it lacks.
//!
//! The file below is the legacy example (`services/bridge/bridge_example.cfg` in stellar/go)
//! byte for byte, except for its `[database]` section, which points at a fresh test database on
//! each backend — written the legacy way (`type` plus `url`, or `type` plus the `dsn` spelling;
//! a Go DSN for MySQL, as in the example). The port and Horizon come from the environment (the
//! example names the public testnet; the test runs a sandbox network with the same passphrase,
//! on which the example's accounts exist). The server is the real binary, run the legacy way:
//! in a directory holding `bridge.cfg`, first `bridge --migrate-db`, then `bridge` with no
//! arguments.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::TestBridge;
use bridge::BridgeConfig;
use sandbox::{Sandbox, SandboxConfig};
use service::database::Backend;
use service::testing::{TestDatabase, free_port};
use stellar_base::KeyPair;

/// The legacy example, verbatim.
const LEGACY_BRIDGE_CFG: &str = r#"# Bridge server bridge.cfg example

port = 8006
horizon = "https://horizon-testnet.stellar.org"
network_passphrase = "Test SDF Network ; September 2015"
api_key = ""
mac_key = ""

[[assets]]
code="USD"
issuer="GCOGCYU77DLEVYCXDQM7F32M5PCKES6VU3Z5GURF6U6OA5LFOVTRYPOX"

[[assets]]
code="EUR"
issuer="GCOGCYU77DLEVYCXDQM7F32M5PCKES6VU3Z5GURF6U6OA5LFOVTRYPOX"

#Listen for XLM Payments
[[assets]]
code="XLM"

[database]
type = "mysql"
url = "root:@/gateway_test?parseTime=true"

[accounts]
authorizing_seed = "SDMRITVCFY6IIK6H5DXIVUOL342YFVE3VFOGVF3D7XXHGITPX4ABMYXR" # GCAW3TYUYGCNODKO4QKMD6PSH5GP3KES4GWGVFCKZ6DD6EJUDUQ77BO
receiving_account_id = "GAJBUSUTGTS3MAU2KP6MWJFJACDN4ZJ5YCET23U6XYZZ7WUD2OYQQUR2"

[callbacks]
receive = "http://localhost:8002/receive"
error = "http://localhost:8002/error"
"#;

const LEGACY_DATABASE: &str =
    "[database]\ntype = \"mysql\"\nurl = \"root:@/gateway_test?parseTime=true\"\n";

const TESTNET: &str = "Test SDF Network ; September 2015";

fn legacy_file(db: &TestDatabase, key: &str) -> String {
    assert!(LEGACY_BRIDGE_CFG.contains(LEGACY_DATABASE));
    LEGACY_BRIDGE_CFG.replace(LEGACY_DATABASE, &db.legacy_section(key))
}

/// The binary, run in `dir` with the port and Horizon from the environment; output goes to
/// `dir/<log>.out`.
fn bridge(dir: &Path, port: u16, horizon: &str, args: &[&str], log: &str) -> Command {
    let out = std::fs::File::create(dir.join(format!("{log}.out"))).unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_bridge"));
    command
        .args(args)
        .current_dir(dir)
        .env("BRIDGE__PORT", port.to_string())
        .env("BRIDGE__HORIZON", horizon)
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(out.try_clone().unwrap())
        .stderr(out);
    command
}

struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn legacy_bridge_cfg_starts(backend: Backend, key: &str) {
    let sandbox = Sandbox::start(SandboxConfig {
        passphrase: TESTNET.into(),
        ..SandboxConfig::for_tests()
    })
    .await
    .unwrap();
    // The example's accounts, as they exist on the network the example names.
    let authorizing =
        KeyPair::from_secret_seed("SDMRITVCFY6IIK6H5DXIVUOL342YFVE3VFOGVF3D7XXHGITPX4ABMYXR")
            .unwrap()
            .public_key();
    sandbox.fund(authorizing).await.unwrap();
    sandbox
        .fund(
            "GAJBUSUTGTS3MAU2KP6MWJFJACDN4ZJ5YCET23U6XYZZ7WUD2OYQQUR2"
                .parse()
                .unwrap(),
        )
        .await
        .unwrap();

    let db = TestDatabase::new(backend);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("bridge.cfg"), legacy_file(&db, key)).unwrap();
    let port = free_port();
    let what = format!("{backend} with `{key}`");

    let mut migrate = bridge(
        dir.path(),
        port,
        &sandbox.url(),
        &["--migrate-db"],
        "migrate",
    );
    let status = tokio::task::spawn_blocking(move || migrate.status().unwrap())
        .await
        .unwrap();
    let migrate_log = std::fs::read_to_string(dir.path().join("migrate.out")).unwrap();
    assert!(
        status.success(),
        "{what}: --migrate-db failed:\n{migrate_log}"
    );

    let server = Running(
        bridge(dir.path(), port, &sandbox.url(), &[], "server")
            .spawn()
            .unwrap(),
    );
    let log = || std::fs::read_to_string(dir.path().join("server.out")).unwrap_or_default();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let up = client.get(format!("{base}/health")).send().await;
        if up.is_ok_and(|r| r.status() == 200) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: the server did not start:\n{}",
            log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // `api_key = ""` is no key, as it was for the legacy server.
    let res = client
        .post(format!("{base}/create-keypair"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "{what}: no API key is required");

    // The example sets authorizing_seed but not issuing_account_id: /authorize says so.
    let form = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("account_id", &authorizing.to_string())
        .append_pair("asset_code", "USD")
        .finish();
    let res = client
        .post(format!("{base}/authorize"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 500, "{what}");
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["code"], "not_configured", "{what}: {body}");
    assert_eq!(
        body["data"]["missing"],
        serde_json::json!(["accounts.issuing_account_id"]),
        "{what}: {body}"
    );

    drop(server);
    let log = log();
    // Accepted, as legacy accepted them, and named in the log as weak.
    for warning in [
        "api_key is not set",
        "accounts.authorizing_seed is set but accounts.issuing_account_id is not",
        "callbacks.receive is set without mac_key",
    ] {
        assert!(log.contains(warning), "{what}: no {warning:?} in\n{log}");
    }
    assert!(
        !log.contains("SDMRITVCFY6I"),
        "{what}: no seed in the log: {log}"
    );
}

service::backend_tests!(multi_thread the_legacy_bridge_cfg_starts_with_database_url);
async fn the_legacy_bridge_cfg_starts_with_database_url(backend: Backend) {
    legacy_bridge_cfg_starts(backend, "url").await;
}

service::backend_tests!(multi_thread the_legacy_bridge_cfg_starts_with_database_dsn);
async fn the_legacy_bridge_cfg_starts_with_database_dsn(backend: Backend) {
    legacy_bridge_cfg_starts(backend, "dsn").await;
}

fn load(contents: &str) -> Result<BridgeConfig, String> {
    let file = tempfile::Builder::new().suffix(".cfg").tempfile().unwrap();
    std::fs::write(file.path(), contents).unwrap();
    service::config::load_from::<BridgeConfig>("BRIDGE", Some(file.path()), Vec::new())
        .and_then(|c| c.validate().map(|()| c))
        .map_err(|e| e.to_string())
}

#[test]
fn what_the_legacy_bridge_took_is_taken_and_what_it_refused_is_refused() {
    let db = TestDatabase::new(Backend::Sqlite);
    let file = legacy_file(&db, "url");
    let config = load(&file).unwrap();
    assert!(config.api_key.is_none() && config.mac_key.is_none());

    for value in ["json", "JSON", "", "text", "logfmt"] {
        let with = file.replacen("port =", &format!("log_format = \"{value}\"\nport ="), 1);
        load(&with).unwrap_or_else(|e| panic!("log_format = {value:?}: {e}"));
    }

    // Without a key on a reachable address: refused, unless the operator accepts it in so
    // many words (the legacy server started silently).
    let exposed = file.replacen("port =", "bind_address = \"0.0.0.0\"\nport =", 1);
    let error = load(&exposed).unwrap_err();
    assert!(
        error.contains("api_key")
            && error.contains("0.0.0.0")
            && error.contains("allow_unauthenticated"),
        "{error}"
    );
    let accepted = exposed.replacen("port =", "allow_unauthenticated = true\nport =", 1);
    assert!(load(&accepted).unwrap().warnings()[0].contains("anyone who can reach the port"));

    // The legacy server refused an API key under 15 characters ("api-key have to be at least
    // 15 chars long"); so do we.
    let short = file.replace("api_key = \"\"", "api_key = \"short-key\"");
    assert!(load(&short).unwrap_err().contains("api_key"));

    // Set properly, nothing is left to warn about.
    let strong = file
        .replace("api_key = \"\"", "api_key = \"bridge-api-key-0123456789\"")
        .replace(
            "mac_key = \"\"",
            "mac_key = \"SDWTLFPALQSP225BSMX7HPZ7ZEAYSUYNDLJ5QI3YGVBNRUIIELWH3XUV\"",
        )
        .replace(
            "[accounts]\n",
            "[accounts]\nissuing_account_id = \"GCOGCYU77DLEVYCXDQM7F32M5PCKES6VU3Z5GURF6U6OA5LFOVTRYPOX\"\n",
        );
    assert_eq!(load(&strong).unwrap().warnings(), Vec::<String>::new());
}

/// `/authorize` without its accounts blames the configuration, naming the missing keys, never a
/// request field.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authorize_without_its_accounts_names_the_missing_settings() {
    type Edit = fn(&mut BridgeConfig);
    let cases: [(&str, Edit, &[&str]); 3] = [
        (
            "no issuing account",
            |c| c.accounts.issuing_account_id = None,
            &["accounts.issuing_account_id"],
        ),
        (
            "no authorizing seed",
            |c| c.accounts.authorizing_seed = None,
            &["accounts.authorizing_seed"],
        ),
        (
            "neither",
            |c| {
                c.accounts.issuing_account_id = None;
                c.accounts.authorizing_seed = None;
            },
            &["accounts.authorizing_seed", "accounts.issuing_account_id"],
        ),
    ];
    for (what, edit, missing) in cases {
        let bridge = TestBridge::start_with(Backend::Sqlite, edit).await;
        let trustor = KeyPair::random().public_key().to_string();
        let (status, body) = bridge
            .post(
                "/authorize",
                &[("account_id", &trustor), ("asset_code", "USD")],
            )
            .await;
        assert_eq!(status, 500, "{what}: {body}");
        assert_eq!(body["code"], "not_configured", "{what}: {body}");
        assert_eq!(
            body["data"]["missing"],
            serde_json::json!(missing),
            "{what}"
        );
        let more_info = body["more_info"].as_str().unwrap_or_default();
        for key in missing {
            assert!(more_info.contains(key), "{what}: {more_info}");
        }
        assert_ne!(body["data"]["name"], "asset_code", "{what}: {body}");
    }
}

/// `{:?}` of a parsed config never shows a secret: the legacy example with every secret set
/// (both API keys, the MAC key, the seeds, a database password).
#[test]
fn debug_of_the_config_prints_no_secret() {
    let db = TestDatabase::new(Backend::Sqlite);
    let secrets = [
        "bridge-api-key-0123456789",
        "compliance-api-key-0123456789",
        "SDWTLFPALQSP225BSMX7HPZ7ZEAYSUYNDLJ5QI3YGVBNRUIIELWH3XUV",
        "SDMRITVCFY6IIK6H5DXIVUOL342YFVE3VFOGVF3D7XXHGITPX4ABMYXR",
        "db-pass-0123",
    ];
    let file = legacy_file(&db, "url")
        .replace("api_key = \"\"", &format!("api_key = \"{}\"", secrets[0]))
        .replace("mac_key = \"\"", &format!("mac_key = \"{}\"", secrets[2]))
        .replacen(
            "port =",
            &format!("compliance_api_key = \"{}\"\nport =", secrets[1]),
            1,
        );
    let config = load(&file).unwrap();
    assert!(config.api_key.is_some() && config.mac_key.is_some());
    let mut printed = format!("{config:?} {:?}", config.accounts);
    // The database URL's password (not loadable on SQLite; set after parsing).
    let mut with_password = config.clone();
    with_password.database.url = Some(format!("postgres://bridge:{}@db/bridge", secrets[4]));
    printed.push_str(&format!("{with_password:?}"));
    for secret in secrets {
        assert!(!printed.contains(secret), "{secret} printed: {printed}");
    }
}
