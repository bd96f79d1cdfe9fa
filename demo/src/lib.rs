//! The demo: a sandbox network and two banks, `bank-a.test` and `bank-b.test`, each running
//! federation, compliance and bridge on embedded SQLite plus a reference back office, and one
//! compliance payment from `alice*bank-a.test` to `bob*bank-b.test`, narrated step by step:
//! 25 XLM over the legacy SEP-3 exchange, or (`--peering sep31`) 25 USD over SEP-31, with
//! SEP-10 and SEP-12. Both banks publish both protocols in their stellar.toml.
//!
//! Everything runs in this process on 127.0.0.1; the banks' stellar.toml files are served by a
//! small web server and reached through `[stellar_toml.overrides]`, exactly as a private network
//! would be configured. The config files are written to the work directory so they can be read
//! and copied.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use diesel::connection::SimpleConnection;
use sandbox::{RunningSandbox, Sandbox, SandboxConfig};
use service::Database;
use stellar_base::{KeyPair, PublicKey};

/// How to run the demo.
#[derive(Debug, Clone)]
pub struct Options {
    /// Keep everything running at the end and print how to explore it.
    pub keep_running: bool,
    /// Where databases and config files go (a temp dir when `None`).
    pub work_dir: Option<PathBuf>,
    /// Time between ledger closes.
    pub ledger_interval: Duration,
    /// The protocol bank A pays bank B with.
    pub peering: compliance::sep31::Protocol,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            keep_running: false,
            work_dir: None,
            ledger_interval: Duration::from_millis(500),
            peering: compliance::sep31::Protocol::Sep3,
        }
    }
}

fn step(n: u32, text: &str) {
    println!("\n[{n}] {text}");
}

fn say(text: impl AsRef<str>) {
    println!("    {}", text.as_ref());
}

/// Serves `/{domain}/.well-known/stellar.toml`, as each bank's web server would.
#[derive(Clone, Default)]
struct WebHost(Arc<Mutex<HashMap<String, String>>>);

impl WebHost {
    fn start(&self) -> Result<String, String> {
        let files = self.0.clone();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
        let addr = listener.local_addr().map_err(|e| e.to_string())?;
        let server = HttpServer::new(move || {
            let files = files.clone();
            App::new().default_service(web::to(move |req: HttpRequest| {
                let body = files.lock().expect("lock").get(req.path()).cloned();
                async move {
                    match body {
                        Some(body) => HttpResponse::Ok()
                            .content_type("text/plain")
                            .insert_header(("Access-Control-Allow-Origin", "*"))
                            .body(body),
                        None => HttpResponse::NotFound().finish(),
                    }
                }
            }))
        })
        .workers(1)
        .disable_signals()
        .listen(listener)
        .map_err(|e| e.to_string())?
        .run();
        tokio::spawn(server);
        Ok(format!("http://{addr}"))
    }

    fn set(&self, domain: &str, toml: String) {
        self.0
            .lock()
            .expect("lock")
            .insert(format!("/{domain}/.well-known/stellar.toml"), toml);
    }
}

/// One bank's keys and addresses.
struct Bank {
    domain: &'static str,
    /// The bank's Stellar account (sends for A, receives for B).
    account: KeyPair,
    /// Signs compliance requests; `SIGNING_KEY` in stellar.toml.
    signing: KeyPair,
    /// Keys the bridge's `X-Payload-Mac`.
    mac: KeyPair,
    dir: PathBuf,
}

fn write(path: &Path, text: &str) -> Result<(), String> {
    std::fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()))
}

fn sqlite(dir: &Path, name: &str) -> String {
    format!("sqlite://{}", dir.join(name).display())
}

async fn start_federation(
    bank: &Bank,
    customer: &str,
    memo: Option<&str>,
) -> Result<String, String> {
    let config = format!(
        "port = 0\nbind_address = \"127.0.0.1\"\n\n[database]\nurl = \"{}\"\n\n[queries]\n\
         federation = \"SELECT id, memo_type, memo FROM people WHERE name = ? AND domain = ?\"\n\
         reverse-federation = \"SELECT name, domain FROM people WHERE id = ?\"\n",
        sqlite(&bank.dir, "federation.db")
    );
    let path = bank.dir.join("federation.cfg");
    write(&path, &config)?;
    let config = federation::FederationConfig::load(Some(&path)).map_err(|e| e.to_string())?;
    let (memo_type, memo) = match memo {
        Some(m) => ("'text'".to_owned(), format!("'{m}'")),
        None => ("NULL".to_owned(), "NULL".to_owned()),
    };
    let seed = format!(
        "CREATE TABLE IF NOT EXISTS people (id TEXT, name TEXT, domain TEXT, memo_type TEXT, memo TEXT);
         DELETE FROM people;
         INSERT INTO people VALUES ('{}', '{customer}', '{}', {memo_type}, {memo});",
        bank.account.public_key(),
        bank.domain
    );
    Database::connect(&config.database)
        .and_then(|db| {
            db.run_blocking(move |conn| {
                conn.batch_execute(&seed)?;
                Ok(())
            })
        })
        .map_err(|e| e.to_string())?;
    let app = federation::Application::build(config)
        .await
        .map_err(|e| e.to_string())?;
    let url = format!("{}/federation", app.url());
    app.spawn();
    Ok(url)
}

async fn start_back_office(
    bank: &Bank,
    config: &str,
) -> Result<callbacks_example::CallbacksServer, String> {
    let path = bank.dir.join("callbacks.toml");
    write(&path, config)?;
    let config: callbacks_example::Config = toml_from(&path)?;
    callbacks_example::CallbacksServer::start(config).await
}

fn toml_from<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, String> {
    service::config::load_from("DEMO_UNUSED", Some(path), Vec::new()).map_err(|e| e.to_string())
}

async fn start_compliance(bank: &Bank, config: String) -> Result<(String, String), String> {
    let path = bank.dir.join("compliance.cfg");
    write(&path, &config)?;
    let config = compliance::ComplianceConfig::load(Some(&path)).map_err(|e| e.to_string())?;
    let app = compliance::Application::build(config)
        .await
        .map_err(|e| e.to_string())?;
    let urls = (app.external_url(), app.internal_url());
    app.spawn();
    Ok(urls)
}

/// Starts a bank's bridge; its URL and its console's, when the config has one.
async fn start_bridge(bank: &Bank, config: String) -> Result<(String, Option<String>), String> {
    let path = bank.dir.join("bridge.cfg");
    write(&path, &config)?;
    let config = bridge::BridgeConfig::load(Some(&path)).map_err(|e| e.to_string())?;
    let app = bridge::Application::build(config)
        .await
        .map_err(|e| e.to_string())?;
    let urls = (app.url(), app.console_url());
    app.spawn();
    Ok(urls)
}

/// A `[console]` section on a free loopback port for `user` with `password` (kept running
/// demos only: the password is printed).
fn console_section(user: &str, password: &str) -> Result<String, String> {
    let hash = service::console::hash_password(password)?;
    Ok(format!(
        "\n\n[console]\nport = 0\n\n[[console.users]]\nname = \"{user}\"\n\
         password_hash = \"{hash}\"\nroles = [\"operator\", \"approver\"]\n"
    ))
}

async fn balance(sandbox: &RunningSandbox, account: &PublicKey) -> String {
    balance_of(sandbox, account, "native").await
}

/// `account`'s balance of `code` (`native` for lumens).
async fn balance_of(sandbox: &RunningSandbox, account: &PublicKey, code: &str) -> String {
    let url = format!("{}/accounts/{account}", sandbox.url());
    let body: serde_json::Value = match reqwest::get(url).await {
        Ok(res) => res.json().await.unwrap_or_default(),
        Err(_) => return "?".into(),
    };
    body["balances"]
        .as_array()
        .and_then(|b| {
            b.iter().find(|b| {
                if code == "native" {
                    b["asset_type"] == "native"
                } else {
                    b["asset_code"] == code
                }
            })
        })
        .and_then(|b| b["balance"].as_str())
        .unwrap_or("?")
        .to_owned()
}

/// Submits `operations` by `source`, signed by it, straight to the sandbox.
async fn submit(
    sandbox: &RunningSandbox,
    source: &KeyPair,
    operations: Vec<stellar_base::transaction::Operation>,
) -> Result<(), String> {
    let account = sandbox
        .account(&source.public_key())
        .ok_or("the account does not exist")?;
    let mut builder =
        stellar_base::TransactionBuilder::new(source.public_key().into(), account.sequence + 1)
            .timeout(stellar_base::transaction::unix_now(), 60);
    for operation in operations {
        builder = builder.operation(operation);
    }
    let envelope = builder
        .sign(&sandbox.network(), &[source])
        .map_err(|e| e.to_string())?;
    let result = sandbox.submit(&envelope).await.map_err(|e| e.to_string())?;
    match result.result {
        stellar_base::xdr::TransactionResultResult::TxSuccess(_) => Ok(()),
        other => Err(format!("transaction failed: {other:?}")),
    }
}

/// A loopback port free now, for a server whose URL must be known before it starts (a
/// SEP-10 endpoint names itself in its challenges).
fn free_port() -> Result<u16, String> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| e.to_string())
}

async fn post_form(url: &str, form: &[(&str, &str)]) -> Result<(u16, serde_json::Value), String> {
    let body = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(form)
        .finish();
    let res = reqwest::Client::new()
        .post(url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .map_err(|e| format!("{url}: {e}"))?;
    let status = res.status().as_u16();
    let text = res.text().await.map_err(|e| e.to_string())?;
    Ok((
        status,
        serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text)),
    ))
}

/// Runs the demo.
///
/// # Errors
/// A plain-words reason when any step does not happen as it should.
pub async fn run(options: Options) -> Result<(), String> {
    let temp;
    let root = match &options.work_dir {
        Some(dir) => dir.clone(),
        None => {
            temp = tempfile::tempdir().map_err(|e| e.to_string())?;
            temp.path().to_path_buf()
        }
    };
    let bank = |domain: &'static str| -> Result<Bank, String> {
        let dir = root.join(domain);
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        Ok(Bank {
            domain,
            account: KeyPair::random(),
            signing: KeyPair::random(),
            mac: KeyPair::random(),
            dir,
        })
    };
    let (a, b) = (bank("bank-a.test")?, bank("bank-b.test")?);

    step(
        1,
        "Starting a sandbox Stellar network (in memory, Horizon-compatible).",
    );
    let sandbox = Sandbox::start(SandboxConfig {
        close_interval: options.ledger_interval,
        ..SandboxConfig::default()
    })
    .await
    .map_err(|e| e.to_string())?;
    say(format!(
        "Horizon at {}  ({})",
        sandbox.url(),
        sandbox.passphrase()
    ));

    step(2, "Funding each bank's account with friendbot.");
    for bank in [&a, &b] {
        sandbox
            .fund(bank.account.public_key())
            .await
            .map_err(|e| e.to_string())?;
        say(format!(
            "{:12} {}  {} XLM",
            bank.domain,
            bank.account.public_key(),
            balance(&sandbox, &bank.account.public_key()).await
        ));
    }

    let issuer = KeyPair::random();
    sandbox
        .fund(issuer.public_key())
        .await
        .map_err(|e| e.to_string())?;
    let usd = stellar_base::Asset::credit("USD", issuer.public_key()).map_err(|e| e.to_string())?;
    for bank in [&a, &b] {
        submit(
            &sandbox,
            &bank.account,
            vec![stellar_base::transaction::Operation::change_trust(
                &usd,
                "1000000".parse().map_err(|e| format!("{e}"))?,
            )],
        )
        .await?;
    }
    submit(
        &sandbox,
        &issuer,
        vec![stellar_base::transaction::Operation::payment(
            a.account.public_key().into(),
            &usd,
            "1000".parse().map_err(|e| format!("{e}"))?,
        )],
    )
    .await?;
    say(format!(
        "USD issued by {}: bank A holds 1000, both banks trust it",
        issuer.public_key()
    ));

    step(
        3,
        "Starting both banks: web server, federation, back office, compliance, bridge.",
    );
    let web = WebHost::default();
    let web_base = web.start()?;
    let overrides = format!(
        "[stellar_toml.overrides]\n\"bank-a.test\" = \"{web_base}/bank-a.test/.well-known/stellar.toml\"\n\
         \"bank-b.test\" = \"{web_base}/bank-b.test/.well-known/stellar.toml\"\n"
    );
    let fed_a = start_federation(&a, "alice", None).await?;
    let fed_b = start_federation(&b, "bob", Some("bob")).await?;
    write(
        &a.dir.join("customers.json"),
        // Bob's data is what alice's app collected about him: a SEP-31 receiving anchor asks
        // for the receiver's KYC, his bank account number being where bank B credits him.
        r#"{"alice": {"first_name": "Alice", "last_name": "Smith", "country": "FRA"},
            "bob": {"first_name": "Bob", "last_name": "Jones", "bank_account_number": "bob"}}"#,
    )?;
    let office_a = start_back_office(
        &a,
        &format!(
            "port = 0\ndatabase = \"{}\"\ncustomers_file = \"{}\"\n",
            a.dir.join("back-office.db").display(),
            a.dir.join("customers.json").display()
        ),
    )
    .await?;
    write(
        &b.dir.join("customers.json"),
        r#"{"bob": {"name": "Bob Jones", "account": "DE89 3704 0044 0532 0130 00"}}"#,
    )?;
    let office_b = start_back_office(
        &b,
        &format!(
            "port = 0\ndatabase = \"{}\"\ncustomers_file = \"{}\"\nmac_key = \"{}\"\n\n[rules]\npending_once = [\"Alice Smith\"]\npending_seconds = 2\n",
            b.dir.join("back-office.db").display(),
            b.dir.join("customers.json").display(),
            b.mac.secret_seed()
        ),
    )
    .await?;
    let (office_a_url, office_b_url) = (office_a.url(), office_b.url());
    let credits_b = office_b.credits();
    office_a.spawn();
    office_b.spawn();

    let prefer = match options.peering {
        compliance::sep31::Protocol::Sep3 => "sep3",
        compliance::sep31::Protocol::Sep31 => "sep31",
    };
    // Each bank is also a SEP-31 receiving anchor; its external port is chosen first, since
    // its SEP-10 endpoint names itself in the challenges it signs.
    let compliance_cfg = |bank: &Bank, office: &str, network: &str, port: u16| {
        format!(
            "external_port = {port}\ninternal_port = 0\nexternal_bind_address = \"127.0.0.1\"\n\
             network_passphrase = \"{network}\"\nneeds_auth = false\n\n[database]\nurl = \"{}\"\n\n\
             [keys]\nsigning_seed = \"{}\"\n\n[callbacks]\nsanctions = \"{office}/sanctions\"\n\
             ask_user = \"{office}/ask_user\"\nfetch_info = \"{office}/fetch_info\"\n\n\
             [peering]\nprefer = \"{prefer}\"\n\n[peering.anchor]\nhome_domain = \"{}\"\n\
             web_auth_endpoint = \"http://127.0.0.1:{port}/auth\"\njwt_secret = \"{}\"\n\
             horizon = \"{}\"\nreceiving_account = \"{}\"\n\n[[peering.anchor.assets]]\n\
             code = \"USD\"\nissuer = \"{}\"\nfee_fixed = \"0.5\"\n\n{overrides}",
            sqlite(&bank.dir, "compliance.db"),
            bank.signing.secret_seed(),
            bank.domain,
            service::console::store::random_token(),
            sandbox.url(),
            bank.account.public_key(),
            issuer.public_key(),
        )
    };
    let network = sandbox.passphrase().to_owned();
    let (port_a, port_b) = (free_port()?, free_port()?);
    let (auth_a, internal_a) =
        start_compliance(&a, compliance_cfg(&a, &office_a_url, &network, port_a)).await?;
    let (auth_b, internal_b) =
        start_compliance(&b, compliance_cfg(&b, &office_b_url, &network, port_b)).await?;
    for (bank, fed, auth) in [(&a, &fed_a, &auth_a), (&b, &fed_b, &auth_b)] {
        web.set(
            bank.domain,
            format!(
                "VERSION = \"2.7.0\"\nNETWORK_PASSPHRASE = \"{network}\"\nFEDERATION_SERVER = \"{fed}\"\n\
                 AUTH_SERVER = \"{auth}\"\nWEB_AUTH_ENDPOINT = \"{auth}/auth\"\nKYC_SERVER = \"{auth}/kyc\"\n\
                 DIRECT_PAYMENT_SERVER = \"{auth}/sep31\"\nSIGNING_KEY = \"{}\"\nACCOUNTS = [\"{}\"]\n\n\
                 [[CURRENCIES]]\ncode = \"USD\"\nissuer = \"{}\"\n",
                bank.signing.public_key(),
                bank.account.public_key(),
                issuer.public_key()
            ),
        );
    }
    let bridge_cfg = |bank: &Bank, internal: &str, extra: &str| {
        format!(
            "port = 0\nhorizon = \"{}\"\nnetwork_passphrase = \"{network}\"\ncompliance = \"{internal}\"\n\
             mac_key = \"{}\"\n\n[[assets]]\ncode = \"XLM\"\n\n[[assets]]\ncode = \"USD\"\nissuer = \"{}\"\n\n[database]\nurl = \"{}\"\n\n[accounts]\n{extra}\n\n{overrides}",
            sandbox.url(),
            bank.mac.secret_seed(),
            issuer.public_key(),
            sqlite(&bank.dir, "bridge.db"),
        )
    };
    let (bridge_a, _) = start_bridge(
        &a,
        bridge_cfg(
            &a,
            &internal_a,
            &format!("base_seed = \"{}\"", a.account.secret_seed()),
        ),
    )
    .await?;
    // Kept running, bank B's bridge has a console to look at what it received.
    let console_password = options
        .keep_running
        .then(|| service::console::store::random_token()[..16].to_owned());
    let console = match &console_password {
        Some(password) => console_section("operator", password)?,
        None => String::new(),
    };
    let (bridge_b, console_b) = start_bridge(
        &b,
        bridge_cfg(&b, &internal_b, &format!("receiving_account_id = \"{}\"\n\n[callbacks]\nreceive = \"{office_b_url}/receive\"\nerror = \"{office_b_url}/error\"{console}", b.account.public_key()))

    )
    .await?;
    for (bank, fed, auth, internal, bridge) in [
        (&a, &fed_a, &auth_a, &internal_a, &bridge_a),
        (&b, &fed_b, &auth_b, &internal_b, &bridge_b),
    ] {
        say(format!(
            "{}: federation {fed}  AUTH_SERVER {auth}  compliance (internal) {internal}  bridge {bridge}",
            bank.domain
        ));
    }
    say(format!("config files written to {}", root.display()));

    step(
        4,
        "Bank A looks up bob*bank-b.test: stellar.toml of bank-b.test, then its FEDERATION_SERVER.",
    );
    let resolver = stellar_toml::Resolver::new(&stellar_toml::StellarTomlSettings {
        overrides: [(
            "bank-b.test".to_owned(),
            format!("{web_base}/bank-b.test/.well-known/stellar.toml"),
        )]
        .into(),
        ..Default::default()
    })
    .map_err(|e| e.to_string())?;
    let bob = federation::FederationClient::new(resolver)
        .resolve("bob*bank-b.test")
        .await
        .map_err(|e| format!("federation lookup of bob*bank-b.test failed: {e}"))?;
    say(format!(
        "bob*bank-b.test → account {}  memo {:?}",
        bob.account, bob.memo
    ));

    let sep31 = options.peering == compliance::sep31::Protocol::Sep31;
    let code = if sep31 { "USD" } else { "native" };
    let before = (
        balance_of(&sandbox, &a.account.public_key(), code).await,
        balance_of(&sandbox, &b.account.public_key(), code).await,
    );
    let issuer_id = issuer.public_key().to_string();
    let form: Vec<(&str, &str)> = if sep31 {
        step(
            5,
            "Alice's app asks bank A's bridge to pay 25 USD to bob*bank-b.test. bank-b.test publishes both \
             AUTH_SERVER (SEP-3) and DIRECT_PAYMENT_SERVER (SEP-31); bank A prefers SEP-31.",
        );
        say(
            "Bank A's compliance server authenticates with SEP-10 at bank B's WEB_AUTH_ENDPOINT, registers alice \
             (sender) and bob (receiver) with SEP-12 from its back office's fetch_info, and creates the SEP-31 transaction.",
        );
        vec![
            ("id", "demo-payment-1"),
            ("sender", "alice*bank-a.test"),
            ("destination", "bob*bank-b.test"),
            ("amount", "25"),
            ("asset_code", "USD"),
            ("asset_issuer", &issuer_id),
            ("use_compliance", "true"),
        ]
    } else {
        step(
            5,
            "Alice's app asks bank A's bridge to pay 25 XLM to bob*bank-b.test with an extra memo.",
        );
        vec![
            ("id", "demo-payment-1"),
            ("sender", "alice*bank-a.test"),
            ("destination", "bob*bank-b.test"),
            ("amount", "25"),
            ("extra_memo", "invoice 2026-117"),
        ]
    };
    let mut attempt = 0;
    let (status, body) = loop {
        attempt += 1;
        let (status, body) = post_form(&format!("{bridge_a}/payment"), &form).await?;
        if status == 202 && body["code"] == "pending" && attempt < 8 {
            let wait = body["data"]["pending"].as_u64().unwrap_or(2);
            match body["data"]["sep31_status"].as_str() {
                Some(sep31_status) => say(format!(
                    "paid; bank B's SEP-31 transaction is {sep31_status} (202). Repeating the same request (same id) \
                     in {wait} s follows it: nothing is paid twice."
                )),
                None if sep31 => say(format!(
                    "bank B's back office is still deciding on alice's KYC (SEP-12 status PROCESSING, 202). \
                     Waiting {wait} s, then repeating the same request (same id)."
                )),
                None => say(format!(
                    "bank B's sanctions check answered \"pending\" (202): bank A's compliance server keeps the signed \
                     request under the payment id. Waiting {wait} s as told, then repeating the same request (same id)."
                )),
            }
            tokio::time::sleep(Duration::from_secs(wait)).await;
            step(
                6,
                if sep31 {
                    "Retrying: bank A's compliance server goes on from where the payment id stands."
                } else {
                    "Retrying: bank A's compliance server re-sends the identical signed request (same nonce)."
                },
            );
            continue;
        }
        break (status, body);
    };
    if status != 200 {
        return Err(format!("the payment was not sent: HTTP {status}: {body}"));
    }
    let hash = body["hash"].as_str().unwrap_or_default().to_owned();
    if sep31 {
        say(format!(
            "bank B's anchor accepted both customers; SEP-31 transaction {} is {}.",
            body["sep31_transaction_id"].as_str().unwrap_or("?"),
            body["sep31_status"].as_str().unwrap_or("?")
        ));
        say(
            "it answered the account to pay and a hash memo unique to the transaction, which bank B's bridge matches.",
        );
    } else {
        say(
            "bank B approved: its compliance server verified bank A's signature (SIGNING_KEY of bank-a.test),",
        );
        say(
            "checked that the memo is the sha256 of the attachment, asked its back office, and stored the approval.",
        );
    }
    step(
        7,
        "Bank A's bridge set the sequence number and time bounds, signed and submitted.",
    );
    say(format!("transaction {hash} in ledger {}", body["ledger"]));
    let tx: serde_json::Value = reqwest::get(format!("{}/transactions/{hash}", sandbox.url()))
        .await
        .map_err(|e| e.to_string())?
        .json()
        .await
        .map_err(|e| e.to_string())?;
    say(format!(
        "memo ({}): {}",
        if sep31 {
            "bank B's SEP-31 memo"
        } else {
            "hash of the attachment"
        },
        tx["memo"].as_str().unwrap_or("?")
    ));
    let after = (
        balance_of(&sandbox, &a.account.public_key(), code).await,
        balance_of(&sandbox, &b.account.public_key(), code).await,
    );
    let unit = if sep31 { "USD" } else { "XLM" };
    say(format!("bank A {} → {} {unit}", before.0, after.0));
    say(format!("bank B {} → {} {unit}", before.1, after.1));
    let stroops = |s: &str| s.parse::<stellar_base::Amount>().map(|a| a.stroops()).ok();
    if stroops(&after.1)
        .zip(stroops(&before.1))
        .map(|(a, b)| a - b)
        != Some(250_000_000)
    {
        return Err(format!(
            "bank B's balance should have grown by exactly 25 {unit}: {} → {}",
            before.1, after.1
        ));
    }

    step(
        8,
        if sep31 {
            "Bank B's bridge sees the payment on its stream, matches it to its SEP-31 transaction by memo, calls its back office, and completes the transaction."
        } else {
            "Bank B's bridge sees the payment on its stream, fetches the attachment from its compliance server, and calls its back office."
        },
    );
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let credit = loop {
        let credits = credits_b.for_route("bob").await?;
        if let Some(credit) = credits.first() {
            break credit.clone();
        }
        if tokio::time::Instant::now() > deadline {
            return Err("bob was not credited within 60 s: bank B's bridge did not deliver the payment to its back office".into());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    step(
        9,
        &format!(
            "Bank B's back office credited bob: {} {unit} (operation {}), recorded once.",
            credit.1, credit.0
        ),
    );

    if options.keep_running {
        println!("\nEverything keeps running. Try:");
        println!("  curl -s '{fed_b}?q=bob*bank-b.test&type=name'");
        println!(
            "  curl -s {}/accounts/{}",
            sandbox.url(),
            b.account.public_key()
        );
        println!(
            "  curl -s -X POST {bridge_a}/payment -d id=demo-2 -d sender=alice*bank-a.test -d destination=bob*bank-b.test -d amount=5 -d extra_memo=again"
        );
        println!("  curl -s '{}/transactions/{hash}'", sandbox.url());
        println!(
            "Bank B is a SEP-31 receiving anchor for any SEP-31 client: home domain bank-b.test, \
             stellar.toml at {web_base}/bank-b.test/.well-known/stellar.toml"
        );
        println!("  curl -s {auth_b}/sep31/info");
        println!(
            "  curl -s '{auth_b}/auth?account={}'   (SEP-10 challenge; sign it, POST it back for a token)",
            KeyPair::random().public_key()
        );
        if let (Some(console), Some(password)) = (&console_b, &console_password) {
            println!(
                "Bank B's operations console: {console}  (sign in as operator, password {password})"
            );
        }
        println!("Ctrl-C stops everything.");
        service::http::shutdown_signal().await;
    } else {
        println!("\nDone: bob's back office has recorded the credit.");
    }
    Ok(())
}
