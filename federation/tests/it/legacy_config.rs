//! The legacy `federation.cfg` files start the real binary unchanged, on every backend: the
//! examples of the legacy README (`[database] dsn`, the key since v0.2.1) and the sample
//! shipped with the legacy server (`[database] url`, the key before). Only the values that
//! name this machine's database are filled in; the port comes from `FEDERATION__PORT=0`, so
//! the file keeps its `port = 8000`.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use diesel::connection::SimpleConnection;
use service::database::{Backend, Database};
use service::testing::TestDatabase;

const ALICE: &str = "GCYMGWPZ6NC2U7SO6SMXOP5ZLXOEC5SYPKITDMVEONLCHFSCCQR2J4S3";
const BOB: &str = "GD2GJPL3UOK5LX7TWXOACK2ZPWPFSLBNKL3GTGH6BLBNISK4BGWMFBBG";
/// The single receiving account of the legacy README's second example.
const SHARED: &str = "GD6WU64OEP5C4LRBH6NK3MHYIA2ADN6K6II6EXPNVUR3ERBXT4AN4ACD";

/// Example #1 of the legacy README: every user has an account.
const README_ONE: &str = r#"port = 8000

[database]
type = "postgres"
dsn = "postgres://user:password@host/dbname?sslmode=sslmode"

[queries]
federation = "SELECT account_id as id FROM Users WHERE username = ? AND domain = ?"
reverse-federation = "SELECT username as name, domain FROM Users WHERE account_id = ?"
"#;

/// Example #2 of the legacy README: one account, the user in a text memo.
const README_TWO: &str = r#"port = 8000

[database]
type = "postgres"
dsn = "postgres://user:password@host/dbname?sslmode=sslmode"

[queries]
federation = "SELECT username as memo, 'text' as memo_type, 'GD6WU64OEP5C4LRBH6NK3MHYIA2ADN6K6II6EXPNVUR3ERBXT4AN4ACD' as id FROM Users WHERE username = ? AND domain = ?"
# No entry for `reverse-federation` since a reverse-lookup isn't possible
"#;

/// `services/federation/federation.cfg`, the sample shipped with the legacy server.
const SAMPLE: &str = r#"port = 8000

[database]
type = "postgres"
url = "postgres://localhost/federation_sample?sslmode=disable"

[queries]
federation = "SELECT id FROM people WHERE name = ? AND domain = ?"
reverse-federation = "SELECT name, domain FROM people WHERE id = ?""#;

fn seed(db: &TestDatabase) {
    Database::connect(&db.settings())
        .unwrap()
        .run_blocking(|conn| {
            conn.batch_execute(&format!(
                "CREATE TABLE Users (account_id VARCHAR(56), username VARCHAR(64), \
                   domain VARCHAR(128)); \
                 INSERT INTO Users VALUES ('{ALICE}', 'alice', 'stellar.org'); \
                 CREATE TABLE people (id VARCHAR(56), name VARCHAR(64), domain VARCHAR(128)); \
                 INSERT INTO people VALUES ('{BOB}', 'bob', 'stellar.org');"
            ))?;
            Ok(())
        })
        .unwrap();
}

/// The legacy file with only its database values replaced.
fn fill_in(file: &str, kind: &str, connection: &str) -> String {
    let mut out = Vec::new();
    for line in file.lines() {
        out.push(if line.starts_with("type = ") {
            format!("type = {kind:?}")
        } else if let Some(key) = ["dsn", "url"]
            .into_iter()
            .find(|k| line.starts_with(&format!("{k} = ")))
        {
            format!("{key} = {connection:?}")
        } else {
            line.to_owned()
        });
    }
    out.join("\n")
}

/// The binary, killed when dropped.
struct Running {
    child: Child,
    url: String,
    /// What it printed before it said it was listening.
    output: String,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `federation` in `dir`: with `--conf FILE` when given, else on `./federation.cfg`.
fn run(dir: &std::path::Path, conf: Option<&std::path::Path>) -> Running {
    let mut command = Command::new(env!("CARGO_BIN_EXE_federation"));
    if let Some(conf) = conf {
        command.arg("--conf").arg(conf);
    }
    let mut child = command
        .current_dir(dir)
        .env("FEDERATION__PORT", "0")
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel::<String>();
    for pipe in [
        Box::new(stdout) as Box<dyn std::io::Read + Send>,
        Box::new(stderr),
    ] {
        let tx = tx.clone();
        std::thread::spawn(move || {
            // Drained to the end even when nobody listens any more: a closed pipe would fail
            // the server's next log line.
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
    }
    drop(tx);
    let mut output = String::new();
    loop {
        match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(line) => {
                output.push_str(&line);
                output.push('\n');
                if let Some(url) = line.strip_prefix("federation listening on ") {
                    let port = url.rsplit(':').next().unwrap().to_owned();
                    return Running {
                        child,
                        url: format!("http://127.0.0.1:{port}"),
                        output,
                    };
                }
            }
            Err(e) => {
                let _ = child.kill();
                let status = child.wait().unwrap();
                panic!("federation did not start ({e}, {status}):\n{output}");
            }
        }
    }
}

async fn lookup(server: &Running, query: &str) -> (u16, serde_json::Value) {
    let res = reqwest::get(format!("{}/federation?{query}", server.url))
        .await
        .unwrap();
    (res.status().as_u16(), res.json().await.unwrap())
}

service::backend_tests!(legacy_federation_cfg_files_start_unchanged);
async fn legacy_federation_cfg_files_start_unchanged(backend: Backend) {
    let db = TestDatabase::new(backend);
    seed(&db);
    let (kind, connection) = db.legacy_connection();
    let dir = tempfile::tempdir().unwrap();

    // README #1 (`dsn`), as ./federation.cfg: the legacy default path.
    let cfg = dir.path().join("federation.cfg");
    std::fs::write(&cfg, fill_in(README_ONE, kind, &connection)).unwrap();
    let server = run(dir.path(), None);
    let (status, body) = lookup(&server, "q=alice*stellar.org&type=name").await;
    assert_eq!(status, 200, "{backend}: {body}\n{}", server.output);
    assert_eq!(body["account_id"], ALICE, "{backend}");
    let (status, body) = lookup(&server, &format!("q={ALICE}&type=id")).await;
    assert_eq!(status, 200, "{backend}: {body}");
    assert_eq!(body["stellar_address"], "alice*stellar.org", "{backend}");
    // A server without [tls] that listens on every interface says how it must be
    // reached, once, and starts anyway, as the legacy one did.
    assert!(
        server.output.contains("plain HTTP"),
        "{backend}: no warning about plain HTTP:\n{}",
        server.output
    );
    drop(server);

    // README #2 (`dsn`, a text memo, no reverse query), through the legacy `--conf` flag.
    let two = dir.path().join("two.cfg");
    std::fs::write(&two, fill_in(README_TWO, kind, &connection)).unwrap();
    let server = run(dir.path(), Some(&two));
    let (status, body) = lookup(&server, "q=alice*stellar.org&type=name").await;
    assert_eq!(status, 200, "{backend}: {body}\n{}", server.output);
    assert_eq!(
        body,
        serde_json::json!({"stellar_address": "alice*stellar.org", "account_id": SHARED, "memo_type": "text", "memo": "alice"}),
        "{backend}"
    );
    let (status, _) = lookup(&server, &format!("q={ALICE}&type=id")).await;
    assert_eq!(status, 501, "{backend}");
    drop(server);

    // The legacy sample (`url`, the key before v0.2.1).
    let sample = dir.path().join("sample.cfg");
    std::fs::write(&sample, fill_in(SAMPLE, kind, &connection)).unwrap();
    let server = run(dir.path(), Some(&sample));
    let (status, body) = lookup(&server, "q=bob*stellar.org&type=name").await;
    assert_eq!(status, 200, "{backend}: {body}\n{}", server.output);
    assert_eq!(body["account_id"], BOB, "{backend}");
    drop(server);

    // PostgreSQL's other DSN form, libpq's key=value list.
    if backend == Backend::Postgres {
        let url = url::Url::parse(&db.url()).unwrap();
        let conninfo = format!(
            "host={} port={} user={} dbname={} sslmode=disable",
            url.host_str().unwrap(),
            url.port().unwrap_or(5432),
            url.username(),
            url.path().trim_start_matches('/')
        );
        std::fs::write(&cfg, fill_in(README_ONE, kind, &conninfo)).unwrap();
        let server = run(dir.path(), None);
        let (status, body) = lookup(&server, "q=alice*stellar.org&type=name").await;
        assert_eq!(status, 200, "{backend}: {body}\n{}", server.output);
    }
}

// The Go driver's DSN with the protocol left out (`user:password@(host:port)/dbname`, the form
// of the legacy READMEs' MySQL examples): the driver reads it as tcp, and so do we.
service::backend_tests!(a_go_mysql_dsn_without_tcp_starts_the_server; mysql);
async fn a_go_mysql_dsn_without_tcp_starts_the_server(backend: Backend) {
    let db = TestDatabase::new(backend);
    seed(&db);
    let parsed = url::Url::parse(&db.url()).unwrap();
    let dsn = format!(
        "{}:{}@({}:{})/{}",
        parsed.username(),
        parsed.password().unwrap_or(""),
        parsed.host_str().unwrap(),
        parsed.port().unwrap_or(3306),
        parsed.path().trim_start_matches('/')
    );
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("federation.cfg"),
        fill_in(README_ONE, "mysql", &dsn),
    )
    .unwrap();
    let server = run(dir.path(), None);
    let (status, body) = lookup(&server, "q=alice*stellar.org&type=name").await;
    assert_eq!(status, 200, "{dsn}: {body}\n{}", server.output);
    assert_eq!(body["account_id"], ALICE, "{dsn}");
}
