//! A legacy operator's `compliance.cfg` starts the server unchanged.
//!
//! The file below is the legacy example (`services/compliance/compliance_example.cfg` in
//! stellar/go) byte for byte, except for its `[database]` section, which points at a fresh test
//! database on each backend — written the legacy way (`type` plus `url`, or `type` plus the
//! `dsn` spelling; a Go DSN for MySQL). The ports come from the environment, as an operator
//! moving hosts would set them, so that tests can run side by side. The server is the real
//! binary, run the legacy way: in a directory holding `compliance.cfg` and the `[tls]` files,
//! first `compliance --migrate-db`, then `compliance` with no arguments.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use compliance::ComplianceConfig;
use service::database::Backend;
use service::telemetry::LogFormat;
use service::testing::{TestDatabase, free_port};

/// The legacy example, verbatim.
const LEGACY_COMPLIANCE_CFG: &str = r#"# Compliance server compliance.cfg example

external_port = 8001
internal_port = 8002
needs_auth = false
network_passphrase = "Test SDF Network ; September 2015"

[database]
type = "postgres"
url = "postgres://root@localhost/compliance?sslmode=disable"

[keys]
# GC7DVHGMSQYAPYXQU652VVHEMZ2OZN4VH44T67QILDHDMBOACMZHQWLW
signing_seed = "SBEL63EBNQUTQ2ZTGHGLLXEMP6THALGS3VQ2N4RVHUWIBB5KGDJWVF3R"

[callbacks]
sanctions = "http://sanctions"
ask_user = "http://ask_user"
fetch_info = "http://fetch_info"
tx_status = "http://tx_status"

[tls]
certificate-file = "server.crt"
private-key-file = "server.key"

[tx_status_auth]
username = "username"
password = "password"
"#;

const LEGACY_DATABASE: &str = "[database]\ntype = \"postgres\"\nurl = \"postgres://root@localhost/compliance?sslmode=disable\"\n";

/// A self-signed certificate for `localhost` (test only), standing in for the operator's
/// `server.crt` / `server.key`.
const SERVER_CRT: &str = "-----BEGIN CERTIFICATE-----
MIIBmjCCAUGgAwIBAgIUMsg6bbom9z0cjDklU5iIQNV7ascwCgYIKoZIzj0EAwIw
FDESMBAGA1UEAwwJbG9jYWxob3N0MCAXDTI2MTEzMDAzNTUxMloYDzIxMjYxMTA2
MDM1NTEyWjAUMRIwEAYDVQQDDAlsb2NhbGhvc3QwWTATBgcqhkjOPQIBBggqhkjO
PQMBBwNCAAQ3mp8df1ufhu+gUPeaodPiLU7kKRkaoUhlZib7Fbp6jTsXpmNhrun7
1rMz1G8X18RgZsLmQ8T0L7xMEGmNbKOSo28wbTAdBgNVHQ4EFgQUNV3O5AZbR3Gw
WeSCi3n+7awK2TQwHwYDVR0jBBgwFoAUNV3O5AZbR3GwWeSCi3n+7awK2TQwDwYD
VR0TAQH/BAUwAwEB/zAaBgNVHREEEzARgglsb2NhbGhvc3SHBH8AAAEwCgYIKoZI
zj0EAwIDRwAwRAIgEb4TX4rkTDAElqb61W9fFvjQ1nibk2TlLB9HkarvpO8CIA8K
PKdGTymC7XjJwkBbNW7nHrBYuD0LnntMK0vv7FUg
-----END CERTIFICATE-----
";
const SERVER_KEY: &str = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQghUoB9wuNSt9E+BmI
qAORZCUgdtWBZDup3QbjKaHEDCWhRANCAAQ3mp8df1ufhu+gUPeaodPiLU7kKRka
oUhlZib7Fbp6jTsXpmNhrun71rMz1G8X18RgZsLmQ8T0L7xMEGmNbKOS
-----END PRIVATE KEY-----
";

fn legacy_file(db: &TestDatabase, key: &str) -> String {
    assert!(LEGACY_COMPLIANCE_CFG.contains(LEGACY_DATABASE));
    LEGACY_COMPLIANCE_CFG.replace(LEGACY_DATABASE, &db.legacy_section(key))
}

/// The binary, run in `dir` with the two ports from the environment; output goes to
/// `dir/<log>.out`.
fn compliance(dir: &Path, ports: (u16, u16), args: &[&str], log: &str) -> Command {
    let out = std::fs::File::create(dir.join(format!("{log}.out"))).unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_compliance"));
    command
        .args(args)
        .current_dir(dir)
        .env("COMPLIANCE__EXTERNAL_PORT", ports.0.to_string())
        .env("COMPLIANCE__INTERNAL_PORT", ports.1.to_string())
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

/// Writes the legacy files into a fresh directory, migrates, starts the server and checks both
/// ports answer; returns what the server logged.
async fn start_legacy(db: &TestDatabase, key: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("compliance.cfg"), legacy_file(db, key)).unwrap();
    std::fs::write(dir.path().join("server.crt"), SERVER_CRT).unwrap();
    std::fs::write(dir.path().join("server.key"), SERVER_KEY).unwrap();
    let ports = (free_port(), free_port());
    let what = format!("{} with `{key}`", db.backend());

    let mut migrate = compliance(dir.path(), ports, &["--migrate-db"], "migrate");
    let status = tokio::task::spawn_blocking(move || migrate.status().unwrap())
        .await
        .unwrap();
    let migrate_log = std::fs::read_to_string(dir.path().join("migrate.out")).unwrap();
    assert!(
        status.success(),
        "{what}: --migrate-db failed:\n{migrate_log}"
    );

    let server = Running(
        compliance(dir.path(), ports, &[], "server")
            .spawn()
            .unwrap(),
    );
    let client = reqwest::Client::builder()
        .danger_accept_invalid_certs(true)
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let log = || std::fs::read_to_string(dir.path().join("server.out")).unwrap_or_default();
    let internal = format!("http://127.0.0.1:{}/health", ports.1);
    let external = format!("https://localhost:{}/health", ports.0);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let up = client.get(&internal).send().await.map(|r| r.status());
        if up.is_ok_and(|s| s == 200) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: the server did not start:\n{}",
            log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The external port serves TLS from the legacy `[tls]` files.
    let tls = client.get(&external).send().await.unwrap();
    assert_eq!(tls.status(), 200, "{what}: external /health over https");
    drop(server);
    log()
}

async fn legacy_compliance_cfg_starts(backend: Backend, key: &str) {
    let db = TestDatabase::new(backend);
    let log = start_legacy(&db, key).await;
    // Accepted, as legacy accepted them, and named in the log as weak.
    assert!(
        log.contains("tx_status_auth.password is shorter than 10 characters"),
        "{backend}: {log}"
    );
    assert!(log.contains("api_key is not set"), "{backend}: {log}");
    assert!(
        !log.contains("\"password\"") && !log.contains("SBEL63EBNQUT"),
        "{backend}: no secret in the log: {log}"
    );
}

service::backend_tests!(multi_thread the_legacy_compliance_cfg_starts_with_database_url);
async fn the_legacy_compliance_cfg_starts_with_database_url(backend: Backend) {
    legacy_compliance_cfg_starts(backend, "url").await;
}

service::backend_tests!(multi_thread the_legacy_compliance_cfg_starts_with_database_dsn);
async fn the_legacy_compliance_cfg_starts_with_database_dsn(backend: Backend) {
    legacy_compliance_cfg_starts(backend, "dsn").await;
}

fn load(contents: &str) -> Result<ComplianceConfig, String> {
    let file = tempfile::Builder::new().suffix(".cfg").tempfile().unwrap();
    std::fs::write(file.path(), contents).unwrap();
    service::config::load_from::<ComplianceConfig>("COMPLIANCE", Some(file.path()), Vec::new())
        .and_then(|c| c.validate().map(|()| c))
        .map_err(|e| e.to_string())
}

#[test]
fn every_log_format_the_legacy_server_took_is_taken() {
    let db = TestDatabase::new(Backend::Sqlite);
    let file = legacy_file(&db, "url");
    for (value, expected) in [
        ("json", LogFormat::Json),
        ("JSON", LogFormat::Json),
        ("", LogFormat::Text),
        ("text", LogFormat::Text),
        ("logfmt", LogFormat::Unrecognised),
    ] {
        let with = file.replacen(
            "external_port",
            &format!("log_format = \"{value}\"\nexternal_port"),
            1,
        );
        let config = load(&with).unwrap_or_else(|e| panic!("log_format = {value:?}: {e}"));
        assert_eq!(config.log_format, expected, "log_format = {value:?}");
    }
}

#[test]
fn weak_but_legacy_settings_are_warned_about_not_refused() {
    let db = TestDatabase::new(Backend::Sqlite);
    let file = legacy_file(&db, "url");
    // `api_key = ""` (no key) and an empty tx_status_auth username and password.
    let weak = file
        .replacen("external_port", "api_key = \"\"\nexternal_port", 1)
        .replace("username = \"username\"", "username = \"\"")
        .replace("password = \"password\"", "password = \"\"");
    let config = load(&weak).unwrap();
    assert!(config.api_key.is_none());
    let warnings = config.warnings().join("\n");
    assert!(warnings.contains("api_key is not set"), "{warnings}");
    assert!(warnings.contains("tx_status_auth.password"), "{warnings}");
    assert!(warnings.contains("tx_status_auth.username"), "{warnings}");

    // A strong configuration has nothing to warn about.
    let strong = file
        .replacen(
            "external_port",
            "api_key = \"internal-port-key-0123\"\nexternal_port",
            1,
        )
        .replace("password = \"password\"", "password = \"a-long-password\"");
    assert_eq!(load(&strong).unwrap().warnings(), Vec::<String>::new());

    // The internal API key is ours, not legacy: a short one is still a mistake.
    let short = file.replacen("external_port", "api_key = \"short\"\nexternal_port", 1);
    assert!(load(&short).unwrap_err().contains("api_key"));
}

/// `{:?}` of the parsed legacy compliance.cfg never shows a secret: the signing seed, the
/// tx_status_auth password, the internal api_key, a database password.
#[test]
fn debug_of_the_config_prints_no_secret() {
    let db = TestDatabase::new(Backend::Sqlite);
    let api_key = "compliance-internal-key-0123456789";
    let file = legacy_file(&db, "url").replacen(
        "external_port =",
        &format!("api_key = \"{api_key}\"\nexternal_port ="),
        1,
    );
    let mut config = load(&file).unwrap();
    assert!(config.api_key.is_some());
    config.database.url = Some("postgres://compliance:db-pass-0123@db/compliance".into());
    let printed = format!("{config:?}");
    for secret in [
        "SBEL63EBNQUTQ2ZTGHGLLXEMP6THALGS3VQ2N4RVHUWIBB5KGDJWVF3R",
        "\"password\"",
        api_key,
        "db-pass-0123",
    ] {
        assert!(!printed.contains(secret), "{secret} printed: {printed}");
    }
}
