//! Two keys for every payment (`[cosigning]`): a paying account whose thresholds need the
//! bridge's key and co-signers' keys, on the sandbox (which counts signatures as stellar-core
//! does). Payments land while enough co-signers sign, nothing is paid when too few can or one
//! refuses, channels and batches are co-signed too, and a single-key setup is refused at
//! start-up.

use std::time::Duration;

use bridge::BridgeConfig;
use bridge::send::channels::ChannelSettings;
use bridge::send::cosigning::CosigningSettings;
use bridge::send::custody::setup_operations;
use cosigner::testing::{TestCosigner, config as cosigner_config};
use service::database::Backend;
use service::testing::TestDatabase;
use stellar_base::{KeyPair, Memo, PublicKey};

use crate::common::*;

/// A bridge paying from an account guarded by co-signers.
struct Guarded {
    bridge: TestBridge,
    url: String,
    cosigners: Vec<TestCosigner>,
    _dbs: Vec<TestDatabase>,
}

fn cosigning(cosigners: &[TestCosigner], required: usize) -> CosigningSettings {
    CosigningSettings {
        cosigners: cosigners
            .iter()
            .map(|c| format!("{}/", c.url).parse().unwrap())
            .collect(),
        required,
        timeout_seconds: 5,
        balance_ceilings: Default::default(),
    }
}

/// Starts `count` co-signers (each on its own SQLite file, XLM limits `limits`) guarding the
/// test bridge's paying account, makes them its signers with thresholds `required + 1`, and
/// starts a bridge with `[cosigning]` on a fresh `backend` database.
async fn guarded(
    backend: Backend,
    count: usize,
    required: usize,
    limits: (&str, &str),
    edit: impl FnOnce(&mut BridgeConfig),
) -> Guarded {
    let bridge = TestBridge::start(backend).await;
    let payer = bridge.source.public_key();
    let mut cosigners = Vec::new();
    let mut dbs = Vec::new();
    for _ in 0..count {
        let db = TestDatabase::new(Backend::Sqlite);
        let config = cosigner_config(&db.url(), bridge.sandbox.passphrase(), payer, payer, limits);
        cosigners.push(TestCosigner::start(config).await);
        dbs.push(db);
    }
    let keys: Vec<PublicKey> = cosigners.iter().map(|c| c.key.public_key()).collect();
    bridge
        .submit_ops(
            &bridge.source,
            Memo::None,
            setup_operations(&keys, required),
        )
        .await;
    let settings = cosigning(&cosigners, required);
    let (url, _, db) = bridge
        .another(backend, |config| {
            config.cosigning = Some(settings);
            edit(config);
        })
        .await;
    dbs.push(db);
    Guarded {
        bridge,
        url,
        cosigners,
        _dbs: dbs,
    }
}

/// `POST /payment` of `amount` lumens to `to` under `id`, at the bridge at `url`.
async fn pay_at(url: &str, id: &str, to: PublicKey, amount: &str) -> (u16, serde_json::Value) {
    post_to(
        url,
        "/payment",
        &[
            ("id", id),
            ("destination", &to.to_string()),
            ("amount", amount),
        ],
    )
    .await
}

impl Guarded {
    async fn pay(&self, id: &str, to: PublicKey, amount: &str) -> (u16, serde_json::Value) {
        pay_at(&self.url, id, to, amount).await
    }

    async fn funded_payee(&self) -> PublicKey {
        let payee = KeyPair::random().public_key();
        self.bridge.sandbox.fund(payee).await.unwrap();
        payee
    }

    async fn lumens(&self, account: &PublicKey) -> String {
        self.bridge.balance(account, "native").await.unwrap()
    }
}

service::backend_tests!(multi_thread two_of_three_pays_with_one_cosigner_down_and_nothing_with_both);
/// Thresholds 2, signers bridge + two co-signers (2-of-3): a payment lands with the bridge's
/// and one co-signer's signature (exactly two: a third would be `tx_bad_auth_extra`); with
/// one co-signer stopped it still lands; with both stopped the answer is 503 and nothing is
/// paid, also when the same id is repeated.
async fn two_of_three_pays_with_one_cosigner_down_and_nothing_with_both(backend: Backend) {
    let g = guarded(backend, 2, 1, ("100", "1000"), |_| {}).await;
    let payee = g.funded_payee().await;
    let before = g.lumens(&payee).await;
    let (status, paid) = g.pay("pay-1", payee, "10").await;
    assert_eq!(status, 200, "{backend}: {paid}");
    let tx = g.bridge.transaction(paid["hash"].as_str().unwrap()).await;
    assert_eq!(tx["signatures"].as_array().unwrap().len(), 2, "{tx}");

    g.cosigners[0].stop().await;
    let (status, paid) = g.pay("pay-2", payee, "10").await;
    assert_eq!(status, 200, "{backend}: one co-signer down: {paid}");

    g.cosigners[1].stop().await;
    for _ in 0..2 {
        let (status, refused) = g.pay("pay-3", payee, "10").await;
        assert_eq!(status, 503, "{backend}: {refused}");
        assert_eq!(refused["code"], "cosigner_unavailable", "{refused}");
    }
    let expected: f64 = before.parse::<f64>().unwrap() + 20.0;
    assert_eq!(
        g.lumens(&payee).await,
        format!("{expected:.7}"),
        "{backend}: two payments, not three"
    );
}

service::backend_tests!(multi_thread limits_refuse_with_the_rule_and_the_next_day_opens; sqlite);
/// One co-signer with limits 100 per payment and 150 per day: a payment over 100 and the one
/// crossing 150 are refused (403 `cosigner_refused`, the rule in `data.rule`) and nothing is
/// paid; on the next day (the co-signer's clock moved) the same amount is paid.
async fn limits_refuse_with_the_rule_and_the_next_day_opens(backend: Backend) {
    let g = guarded(backend, 1, 1, ("100", "150"), |_| {}).await;
    let payee = g.funded_payee().await;
    let before: f64 = g.lumens(&payee).await.parse().unwrap();
    let (status, refused) = g.pay("big", payee, "100.0000001").await;
    assert_eq!(status, 403, "{refused}");
    assert_eq!(refused["code"], "cosigner_refused");
    assert_eq!(refused["data"]["rule"], "per_payment", "{refused}");
    let (status, paid) = g.pay("first", payee, "100").await;
    assert_eq!(status, 200, "{paid}");
    let (status, refused) = g.pay("second", payee, "60").await;
    assert_eq!(status, 403, "{refused}");
    assert_eq!(refused["data"]["rule"], "per_day", "{refused}");
    assert_eq!(
        g.lumens(&payee).await,
        format!("{:.7}", before + 100.0),
        "only the payment within the limits"
    );
    g.cosigners[0].clock.shift(86_400);
    let (status, paid) = g.pay("second", payee, "60").await;
    assert_eq!(status, 200, "the next day, the same id: {paid}");
    assert_eq!(g.lumens(&payee).await, format!("{:.7}", before + 160.0));
}

service::backend_tests!(multi_thread channels_and_batches_are_cosigned; sqlite, postgres);
/// With channels, each transaction is carried by a channel (its key signs as transaction
/// source) while the co-signer signs for the paying account's operations; the channels'
/// funding at start-up is co-signed too; a batch's packed transactions are co-signed and its
/// rows succeed.
async fn channels_and_batches_are_cosigned(backend: Backend) {
    let g = guarded(backend, 1, 1, ("100", "100000"), |config| {
        config.channels = Some(ChannelSettings {
            seed: KeyPair::from_seed_bytes([7; 32]),
            count: 3,
            starting_balance: "5".parse().unwrap(),
        });
        config.batches.ops_per_transaction = 2;
    })
    .await;
    let payee = g.funded_payee().await;
    let payer = g.bridge.source.public_key().to_string();
    let mut tasks = Vec::new();
    for n in 0..6 {
        let url = g.url.clone();
        tasks.push(tokio::spawn(async move {
            pay_at(&url, &format!("ch-{n}"), payee, "1").await
        }));
    }
    for task in tasks {
        let (status, paid) = task.await.unwrap();
        assert_eq!(status, 200, "{backend}: {paid}");
        let tx = g.bridge.transaction(paid["hash"].as_str().unwrap()).await;
        assert_ne!(tx["source_account"], payer, "carried by a channel: {tx}");
    }
    let rows: Vec<_> = (0..3)
        .map(|n| {
            serde_json::json!({
                "id": format!("row-{n}"),
                "destination": payee.to_string(),
                "amount": "2",
            })
        })
        .collect();
    let answer = reqwest::Client::new()
        .post(format!("{}/batches", g.url))
        .header("x-api-key", API_KEY)
        .json(&serde_json::json!({"id": "cosigned", "payments": rows}))
        .send()
        .await
        .unwrap();
    assert!(
        answer.status().is_success(),
        "{}",
        answer.text().await.unwrap()
    );
    let mut summary = serde_json::Value::Null;
    for _ in 0..300 {
        summary = reqwest::Client::new()
            .get(format!("{}/batches/cosigned", g.url))
            .header("x-api-key", API_KEY)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if summary["state"] == "finished" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(summary["state"], "finished", "{summary}");
    assert_eq!(summary["counts"]["succeeded"], 3, "{summary}");
}

service::backend_tests!(multi_thread start_up_refuses_a_single_key_setup; sqlite);
/// `[cosigning]` configured while the paying account's own key still meets its thresholds:
/// the bridge does not start, and says why.
async fn start_up_refuses_a_single_key_setup(backend: Backend) {
    let bridge = TestBridge::start(backend).await;
    let payer = bridge.source.public_key();
    let db = TestDatabase::new(Backend::Sqlite);
    let cosigner = TestCosigner::start(cosigner_config(
        &db.url(),
        bridge.sandbox.passphrase(),
        payer,
        payer,
        ("100", "1000"),
    ))
    .await;
    let bridge_db = TestDatabase::new(backend);
    let settings = cosigning(std::slice::from_ref(&cosigner), 1);
    let refused = bridge::Application::build(config(
        &bridge_db,
        &bridge.sandbox,
        &bridge.source,
        &bridge.issuer,
        |config| config.cosigning = Some(settings),
    ))
    .await
    .expect_err("a single-key setup is refused");
    let message = refused.to_string();
    assert!(
        message.contains("the bridge's key alone") && message.contains("medium threshold"),
        "{message}"
    );
}

service::backend_tests!(multi_thread accounts_check_refuses_then_setup_puts_the_cosigners_in_place; sqlite);
/// `bridge accounts check` refuses the single-key account (exit 1); `bridge accounts setup
/// --submit` adds the co-signers and thresholds; `check` then passes.
async fn accounts_check_refuses_then_setup_puts_the_cosigners_in_place(backend: Backend) {
    let bridge = TestBridge::start(backend).await;
    let (one, two) = (
        KeyPair::random().public_key(),
        KeyPair::random().public_key(),
    );
    let file = tempfile::Builder::new().suffix(".cfg").tempfile().unwrap();
    std::fs::write(
        file.path(),
        format!(
            "port = 0\nhorizon = \"{}\"\nnetwork_passphrase = \"{}\"\n\n[database]\nurl = \"{}\"\n\n\
             [accounts]\nbase_seed = \"{}\"\n\n[cosigning]\n\
             cosigners = [\"http://127.0.0.1:9/\", \"http://127.0.0.1:10/\"]\nrequired = 1\n",
            bridge.sandbox.url(),
            bridge.sandbox.passphrase(),
            bridge._db.url(),
            bridge.source.secret_seed(),
        ),
    )
    .unwrap();
    let path = file.path().display().to_string();
    let run = |words: &[&str]| {
        let mut words: Vec<String> = words.iter().map(|w| (*w).to_owned()).collect();
        words.extend(["-c".to_owned(), path.clone()]);
        async move { bridge::cli::accounts_command(&words).await }
    };
    assert_eq!(run(&["check"]).await, std::process::ExitCode::FAILURE);
    let (one_text, two_text) = (one.to_string(), two.to_string());
    let code = run(&[
        "setup",
        "--cosigner",
        &one_text,
        "--cosigner",
        &two_text,
        "--submit",
    ])
    .await;
    assert_eq!(code, std::process::ExitCode::SUCCESS);
    let account = bridge.account(&bridge.source.public_key()).await.unwrap();
    assert_eq!(account["thresholds"]["med_threshold"], 2, "{account}");
    assert_eq!(account["signers"].as_array().unwrap().len(), 3, "{account}");
    assert_eq!(run(&["check"]).await, std::process::ExitCode::SUCCESS);
}

service::backend_tests!(multi_thread a_cosigner_with_a_key_that_is_not_a_signer_is_unavailable; sqlite);
/// A co-signer answering with a key that is not one of the paying account's signers (a host
/// restarted with the wrong seed): its signature would only make the network refuse the
/// payment, so it counts as unavailable (503), nothing is paid, and the id stays open: asked
/// again it is 503 again (not a failure stored under the id), and through a bridge with the
/// right co-signer the same id pays.
async fn a_cosigner_with_a_key_that_is_not_a_signer_is_unavailable(backend: Backend) {
    let g = guarded(backend, 1, 1, ("100", "1000"), |_| {}).await;
    let db = TestDatabase::new(Backend::Sqlite);
    let payer = g.bridge.source.public_key();
    let rogue = TestCosigner::start(cosigner_config(
        &db.url(),
        g.bridge.sandbox.passphrase(),
        payer,
        payer,
        ("100", "1000"),
    ))
    .await;
    let settings = cosigning(std::slice::from_ref(&rogue), 1);
    let (url, _, _db) = g
        .bridge
        .another(backend, |config| config.cosigning = Some(settings))
        .await;
    let payee = g.funded_payee().await;
    let before = g.lumens(&payee).await;
    let (status, refused) = pay_at(&url, "rogue-1", payee, "5").await;
    assert_eq!(status, 503, "{refused}");
    assert!(
        refused["more_info"]
            .as_str()
            .unwrap()
            .contains("not a signer"),
        "{refused}"
    );
    assert_eq!(g.lumens(&payee).await, before);
    let (status, again) = pay_at(&url, "rogue-1", payee, "5").await;
    assert_eq!(status, 503, "{again}");
    let (status, paid) = g.pay("rogue-1", payee, "5").await;
    assert_eq!(
        status, 200,
        "the same id through the right co-signer: {paid}"
    );
}

service::backend_tests!(multi_thread a_retry_after_too_few_cosigners_asks_for_the_same_transaction; sqlite, postgres);
/// `required = 2` of two co-signers (thresholds 3): while the second is not up, the first signs
/// and the answer is 503; the same id asked again once the second is up offers both co-signers
/// that very transaction (the first signs it again), and it is the one that lands.
async fn a_retry_after_too_few_cosigners_asks_for_the_same_transaction(backend: Backend) {
    let bridge = TestBridge::start(backend).await;
    let payer = bridge.source.public_key();
    let (db_a, db_b) = (
        TestDatabase::new(Backend::Sqlite),
        TestDatabase::new(Backend::Sqlite),
    );
    let first = TestCosigner::start(cosigner_config(
        &db_a.url(),
        bridge.sandbox.passphrase(),
        payer,
        payer,
        ("100", "1000"),
    ))
    .await;
    let mut later_config = cosigner_config(
        &db_b.url(),
        bridge.sandbox.passphrase(),
        payer,
        payer,
        ("100", "1000"),
    );
    later_config.port = service::testing::free_port();
    let later_url = format!("http://127.0.0.1:{}/", later_config.port);
    let keys = [
        first.key.public_key(),
        later_config.signing_seed.public_key(),
    ];
    bridge
        .submit_ops(&bridge.source, Memo::None, setup_operations(&keys, 2))
        .await;
    let settings = CosigningSettings {
        cosigners: vec![
            format!("{}/", first.url).parse().unwrap(),
            later_url.parse().unwrap(),
        ],
        required: 2,
        timeout_seconds: 5,
        balance_ceilings: Default::default(),
    };
    let (url, _, _db) = bridge
        .another(backend, |config| config.cosigning = Some(settings))
        .await;
    let payee = KeyPair::random().public_key();
    bridge.sandbox.fund(payee).await.unwrap();
    let (status, refused) = pay_at(&url, "same-1", payee, "5").await;
    assert_eq!(status, 503, "{backend}: {refused}");
    let log: serde_json::Value = reqwest::Client::new()
        .get(format!("{}/decisions", first.url))
        .header("x-api-key", cosigner::testing::ADMIN_KEY)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let signed_first = log["decisions"][0]["tx_hash"].as_str().unwrap().to_owned();
    assert_eq!(log["decisions"][0]["outcome"], "signed", "{log}");
    // A rebuilt transaction would have another time bound, so another hash.
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    let _later = TestCosigner::start(later_config).await;
    let (status, paid) = pay_at(&url, "same-1", payee, "5").await;
    assert_eq!(status, 200, "{backend}: {paid}");
    assert_eq!(paid["hash"], signed_first, "the transaction first offered");
}
