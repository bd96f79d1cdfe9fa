//! SEP-31 peering end to end, through `/payment` and `/receive` only: bank A's bridge and
//! compliance server pay `dave*bank-d.test`, whose stellar.toml names a SEP-31
//! `DIRECT_PAYMENT_SERVER` served by bank D's compliance server (`[peering.anchor]`), and bank
//! D's bridge delivers the payment to its back office; while bank B (SEP-3) is still paid over
//! the legacy protocol. Bank E is a hostile anchor (scripted answers).

use crate::common::BackOffice;
use crate::common::banks::{COMPLIANCE_KEY, TwoBanks};
use compliance::sep31::{AnchorAsset, AnchorSettings, PeeringSettings};
use service::database::Backend;
use service::testing::TestDatabase;
use stellar_base::transaction::Operation;
use stellar_base::{Asset, KeyPair, Memo};

/// Bank D: a SEP-31 receiving anchor on its own compliance server and bridge.
struct BankD {
    dave: KeyPair,
    internal: String,
    external: String,
    office: BackOffice,
    db: TestDatabase,
    _bridge_db: TestDatabase,
}

/// What bank A's back office tells of everyone (`fetch_info`), with dave's account number.
fn fetch_info(account_number: &str) -> String {
    format!(
        r#"{{"first_name":"Alice","last_name":"Smith","country":"FRA","bank_account_number":"{account_number}"}}"#
    )
}

async fn start_bank_d(banks: &TwoBanks, backend: Backend) -> BankD {
    let (web, bridge) = (&banks.web, &banks.bridge);
    let key = KeyPair::random();
    let dave = KeyPair::random();
    bridge.sandbox.fund(dave.public_key()).await.unwrap();
    bridge.trust_usd(&dave).await;
    let db = TestDatabase::new(backend);
    let mut config = crate::common::banks::compliance_config(
        &db,
        &key,
        stellar_base::Network::STANDALONE,
        &web.base,
        true,
    );
    let port = service::testing::free_port();
    config.external_port = port;
    config.callbacks.sanctions = Some(format!("{}/d/sanctions", web.base).parse().unwrap());
    config.callbacks.fetch_info = None;
    config.peering = PeeringSettings {
        anchor: Some(AnchorSettings {
            home_domain: "bank-d.test".into(),
            web_auth_endpoint: format!("http://127.0.0.1:{port}/auth").parse().unwrap(),
            jwt_secret: Some("a-jwt-secret-of-at-least-32-characters".into()),
            jwt_seconds: 3600,
            horizon: Some(bridge.sandbox.url().parse().unwrap()),
            receiving_account: dave.public_key(),
            assets: vec![AnchorAsset {
                code: "USD".into(),
                issuer: bridge.issuer.public_key(),
                fee_fixed: Some("1".parse().unwrap()),
                fee_percent: None,
                min_amount: None,
                max_amount: Some("1000".parse().unwrap()),
            }],
            sender_fields: vec!["first_name".into(), "last_name".into()],
            receiver_fields: vec!["first_name".into(), "bank_account_number".into()],
        }),
        ..PeeringSettings::default()
    };
    let d = compliance::Application::build(config).await.unwrap();
    let (internal, external) = (d.internal_url(), d.external_url());
    d.spawn();
    web.set(
        "/bank-d.test/.well-known/stellar.toml",
        &[(
            200,
            &format!(
                "SIGNING_KEY = \"{}\"\nWEB_AUTH_ENDPOINT = \"{external}/auth\"\nKYC_SERVER = \"{external}/kyc\"\nDIRECT_PAYMENT_SERVER = \"{external}/sep31\"\nACCOUNTS = [\"{}\"]\n",
                key.public_key(),
                dave.public_key()
            ),
        )],
    );
    web.set("/d/sanctions", &[(200, "")]);
    let office = BackOffice::start().await;
    let (_url, _receiving, bridge_db) = bridge
        .another(backend, |c| {
            crate::common::receiving_config(c, &dave.public_key(), &office);
            c.compliance = Some(internal.parse().unwrap());
            c.compliance_api_key = Some(COMPLIANCE_KEY.into());
            c.receiving.start_cursor = bridge::receive::StartCursor::Now;
        })
        .await;
    BankD {
        dave,
        internal,
        external,
        office,
        db,
        _bridge_db: bridge_db,
    }
}

/// Gives bank A's paying account 1 000 USD.
async fn fund_usd(banks: &TwoBanks) {
    let bridge = &banks.bridge;
    bridge.trust_usd(&bridge.source).await;
    let usd = Asset::credit("USD", bridge.issuer.public_key()).unwrap();
    bridge
        .submit_ops(
            &bridge.issuer,
            Memo::None,
            vec![Operation::payment(
                bridge.source.public_key().into(),
                &usd,
                "1000".parse().unwrap(),
            )],
        )
        .await;
}

async fn pay_dave(banks: &TwoBanks, id: &str, amount: &str) -> (u16, serde_json::Value) {
    pay_in_usd(banks, id, "dave*bank-d.test", amount).await
}

/// Alice pays `amount` USD to `destination` through compliance, under payment `id`.
async fn pay_in_usd(
    banks: &TwoBanks,
    id: &str,
    destination: &str,
    amount: &str,
) -> (u16, serde_json::Value) {
    let issuer = banks.bridge.issuer.public_key().to_string();
    banks
        .bridge
        .pay(&[
            ("id", id),
            ("sender", "alice*bank-a.test"),
            ("destination", destination),
            ("amount", amount),
            ("asset_code", "USD"),
            ("asset_issuer", &issuer),
            ("use_compliance", "true"),
        ])
        .await
}

/// `/payment` again until it answers something other than 202 (at most `tries` times).
async fn until_final(
    banks: &TwoBanks,
    id: &str,
    amount: &str,
    tries: usize,
) -> (u16, serde_json::Value) {
    let mut answer = pay_dave(banks, id, amount).await;
    for _ in 1..tries {
        if answer.0 != 202 {
            break;
        }
        answer = pay_dave(banks, id, amount).await;
    }
    answer
}

async fn internal_post(base: &str, path: &str, form: &[(&str, &str)]) -> (u16, serde_json::Value) {
    let res = reqwest::Client::new()
        .post(format!("{base}{path}"))
        .header("x-api-key", COMPLIANCE_KEY)
        .form(form)
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or_default())
}

service::backend_tests!(sep31_and_sep3_banks_are_paid_each_over_its_own_protocol);
async fn sep31_and_sep3_banks_are_paid_each_over_its_own_protocol(backend: Backend) {
    let banks = TwoBanks::start(backend).await;
    fund_usd(&banks).await;
    let d = start_bank_d(&banks, backend).await;
    let (web, bridge) = (&banks.web, &banks.bridge);
    web.set("/a/fetch_info", &[(200, &fetch_info("12345"))]);
    let dave = d.dave.public_key();

    // Paid over SEP-31, completed once bank D's back office took it.
    let (status, body) = until_final(&banks, "s31-ok", "25", 3).await;
    assert_eq!(status, 200, "{backend}: {body}");
    assert_eq!(body["sep31_status"], "completed", "{body}");
    let transaction_id = body["sep31_transaction_id"].as_str().unwrap().to_owned();
    assert_eq!(bridge.balance(&dave, "USD").await.unwrap(), "25.0000000");
    let delivered = d.office.calls_to("/receive");
    assert_eq!(delivered.len(), 1, "{delivered:?}");
    let form = &delivered[0].form;
    assert_eq!(form["sep31_transaction_id"], transaction_id);
    assert_eq!(form["route"], "12345", "the receiver's bank account number");
    assert_eq!(form["amount"], "25.0000000");
    let data: serde_json::Value = serde_json::from_str(&form["data"]).unwrap();
    assert_eq!(data["sender_info"]["last_name"], "Smith");
    assert_eq!(data["sep31"]["amount_fee"], "1.0000000");
    // The operator sees it in the compliance server's metrics (one recorder per process: the
    // counts are every server's of this test binary, the names are what matters here).
    let metrics = reqwest::Client::new()
        .get(format!("{}/metrics", d.internal))
        .header("x-api-key", COMPLIANCE_KEY)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for line in [
        "compliance_sep31_received_total{event=\"completed\"}",
        "compliance_sep31_sent_total{event=\"created\"}",
        "compliance_sep10_tokens_total{outcome=\"issued\"}",
    ] {
        assert!(metrics.contains(line), "{line} missing from:\n{metrics}");
    }

    // The same id again: the same transaction, paid once, and still one transaction at D.
    let (status, again) = pay_dave(&banks, "s31-ok", "25").await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["sep31_transaction_id"], transaction_id.as_str());
    assert_eq!(again["hash"], body["hash"]);
    assert_eq!(bridge.balance(&dave, "USD").await.unwrap(), "25.0000000");
    assert_eq!(d.db.count("sep31_transaction"), 1);

    // A second payment with the memo of the paid transaction is delivered as not its payment
    // (to refund); the transaction stays completed.
    let memo = bridge.transaction(body["hash"].as_str().unwrap()).await["memo"]
        .as_str()
        .unwrap()
        .to_owned();
    let memo: [u8; 32] = base64::Engine::decode(&base64::engine::general_purpose::STANDARD, memo)
        .unwrap()
        .try_into()
        .unwrap();
    let usd = Asset::credit("USD", bridge.issuer.public_key()).unwrap();
    bridge
        .submit_ops(
            &bridge.source,
            Memo::Hash(memo),
            vec![Operation::payment(dave.into(), &usd, "25".parse().unwrap())],
        )
        .await;
    d.office
        .wait_for(20, "the second payment's delivery", |calls| {
            calls.iter().filter(|c| c.path == "/receive").count() == 2
        })
        .await;
    let second = &d.office.calls_to("/receive")[1].form;
    assert_eq!(second["sep31_transaction_id"], transaction_id);
    assert_eq!(second["sep31_status"], "error", "{second:?}");
    let data: serde_json::Value = serde_json::from_str(&second["data"]).unwrap();
    assert_eq!(data["sep31"]["status"], "completed");

    // Bank B (SEP-3) is still paid over the legacy protocol, by the same bank A.
    web.set("/b/sanctions", &[(200, "")]);
    let (status, body) = banks.pay("c-ok").await;
    assert_eq!(status, 200, "{body}");
    assert!(body.get("sep31_status").is_none(), "{body}");

    // The anchor's back office rejects the sender: a clear 403, nothing paid.
    web.set("/d/sanctions", &[(403, "")]);
    let (status, body) = pay_dave(&banks, "s31-rejected", "10").await;
    assert_eq!(
        (status, body["code"].as_str()),
        (403, Some("denied")),
        "{body}"
    );
    assert!(
        body["more_info"]
            .as_str()
            .unwrap()
            .contains("rejected the sep31-sender"),
        "{body}"
    );
    assert_eq!(
        bridge.balance(&dave, "USD").await.unwrap(),
        "50.0000000",
        "the two payments above only"
    );
    assert_eq!(d.db.count("sep31_transaction"), 1);
}

service::backend_tests!(a_customer_info_update_round_trip_completes_the_payment);
async fn a_customer_info_update_round_trip_completes_the_payment(backend: Backend) {
    let banks = TwoBanks::start(backend).await;
    fund_usd(&banks).await;
    let d = start_bank_d(&banks, backend).await;
    let (web, bridge) = (&banks.web, &banks.bridge);
    web.set("/a/fetch_info", &[(200, &fetch_info("wrong"))]);
    let dave = d.dave.public_key();

    // Bank D's back office does not take the payment yet.
    d.office.answer(500);
    let (status, body) = pay_dave(&banks, "s31-info", "40").await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(bridge.balance(&dave, "USD").await.unwrap(), "40.0000000");
    let transaction_id = body["data"]["sep31_transaction_id"]
        .as_str()
        .unwrap()
        .to_owned();

    // It asks for the receiver's account number again.
    let (status, answer) = internal_post(
        &d.internal,
        "/sep31/request_info",
        &[
            ("transaction_id", &transaction_id),
            ("type", "sep31-receiver"),
            ("fields", "bank_account_number"),
            ("message", "no such account"),
        ],
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    d.office.answer(200);

    // Bank A's back office now knows the right one; the app's repeat sends it and follows
    // the transaction to `completed`.
    web.set("/a/fetch_info", &[(200, &fetch_info("67890"))]);
    let (status, body) = until_final(&banks, "s31-info", "40", 4).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["sep31_status"], "completed");
    assert_eq!(bridge.balance(&dave, "USD").await.unwrap(), "40.0000000");
    let delivered = d.office.calls_to("/receive");
    let last = delivered.last().unwrap();
    assert_eq!(last.form["route"], "67890", "{delivered:?}");
    assert_eq!(last.form["sep31_status"], "pending_receiver");
}

/// A scripted anchor at `/{prefix}/…` on the test web host for `domain`, its challenge signed
/// by `key` for `home_domain` (the real one, or not) at `issued_at`, paying on `accounts`.
fn hostile_anchor(
    banks: &TwoBanks,
    domain: &str,
    prefix: &str,
    key: &KeyPair,
    home_domain: &str,
    accounts: &[String],
    issued_at: u64,
) {
    let web = &banks.web;
    let base = format!("{}/{prefix}", web.base);
    let challenge = compliance::web_auth::build_challenge(
        key,
        &banks.a_key.into(),
        None,
        home_domain,
        &format!("127.0.0.1:{}", web.base.rsplit(':').next().unwrap()),
        &stellar_base::Network::new(stellar_base::Network::STANDALONE),
        issued_at,
    )
    .unwrap();
    let accounts: Vec<String> = accounts.iter().map(|a| format!("\"{a}\"")).collect();
    web.set(
        &format!("/{domain}/.well-known/stellar.toml"),
        &[(
            200,
            &format!(
                "SIGNING_KEY = \"{}\"\nWEB_AUTH_ENDPOINT = \"{base}/auth\"\nKYC_SERVER = \"{base}/kyc\"\nDIRECT_PAYMENT_SERVER = \"{base}/sep31\"\nACCOUNTS = [{}]\n",
                key.public_key(),
                accounts.join(", ")
            ),
        )],
    );
    let challenge = serde_json::json!({ "transaction": challenge.to_base64() }).to_string();
    web.set(
        &format!("/{prefix}/auth"),
        &[(200, &challenge), (200, r#"{"token":"e30.e30.sig"}"#)],
    );
    web.set(
        &format!("/{prefix}/sep31/info"),
        &[(200, r#"{"receive":{"USD":{"enabled":true}}}"#)],
    );
    web.set(
        &format!("/{prefix}/kyc/customer"),
        &[(200, r#"{"id":"c-1","status":"ACCEPTED"}"#)],
    );
}

async fn pay(banks: &TwoBanks, id: &str, destination: &str) -> (u16, serde_json::Value) {
    pay_in_usd(banks, id, destination, "5").await
}

service::backend_tests!(a_hostile_anchor_is_refused_and_nothing_is_paid);
async fn a_hostile_anchor_is_refused_and_nothing_is_paid(backend: Backend) {
    let banks = TwoBanks::start(backend).await;
    fund_usd(&banks).await;
    let (web, bridge) = (&banks.web, &banks.bridge);
    web.set("/a/fetch_info", &[(200, &fetch_info("1"))]);
    let (own, stranger) = (KeyPair::random(), KeyPair::random());
    for account in [&own, &stranger] {
        bridge.sandbox.fund(account.public_key()).await.unwrap();
        bridge.trust_usd(account).await;
    }
    let key = KeyPair::random();
    hostile_anchor(
        &banks,
        "bank-e.test",
        "e",
        &key,
        "bank-e.test",
        &[own.public_key().to_string()],
        stellar_base::transaction::unix_now(),
    );
    let memo = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, [7u8; 32]);
    let created = |account: &str, memo_type: &str, memo: &str| {
        serde_json::json!({"id": "t-1", "stellar_account_id": account, "stellar_memo_type": memo_type, "stellar_memo": memo}).to_string()
    };
    let before = bridge.balance(&bridge.source.public_key(), "USD").await;

    // The anchor asks to be paid on an account that is not one of its ACCOUNTS.
    web.set(
        "/e/sep31/transactions",
        &[(
            201,
            &created(&stranger.public_key().to_string(), "hash", &memo),
        )],
    );
    let (status, body) = pay(&banks, "e-1", "eve*bank-e.test").await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("compliance_error")),
        "{body}"
    );
    assert!(
        body["more_info"]
            .as_str()
            .unwrap()
            .contains("not one of the ACCOUNTS"),
        "{body}"
    );

    // Its own account, with a memo of a type SEP-31 does not use.
    web.set(
        "/e/sep31/transactions",
        &[(
            201,
            &created(&own.public_key().to_string(), "return", &memo),
        )],
    );
    let (status, body) = pay(&banks, "e-2", "eve*bank-e.test").await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["more_info"].as_str().unwrap().contains("memo type"),
        "{body}"
    );

    // A challenge for another home domain: refused before anything is created.
    let key = KeyPair::random();
    hostile_anchor(
        &banks,
        "bank-f.test",
        "f",
        &key,
        "evil.test",
        &[own.public_key().to_string()],
        stellar_base::transaction::unix_now(),
    );
    let (status, body) = pay(&banks, "f-1", "eve*bank-f.test").await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["more_info"]
            .as_str()
            .unwrap()
            .contains("another home domain"),
        "{body}"
    );
    assert_eq!(web.calls("/f/kyc/customer"), 0);
    assert_eq!(web.calls("/f/sep31/transactions"), 0);

    // An expired challenge: refused the same way.
    hostile_anchor(
        &banks,
        "bank-g.test",
        "g",
        &KeyPair::random(),
        "bank-g.test",
        &[own.public_key().to_string()],
        stellar_base::transaction::unix_now() - 3_600,
    );
    let (status, body) = pay(&banks, "g-1", "eve*bank-g.test").await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["more_info"].as_str().unwrap().contains("expired"),
        "{body}"
    );
    assert_eq!(web.calls("/g/sep31/transactions"), 0);

    // Nothing was paid to anyone.
    for account in [&own, &stranger] {
        assert_eq!(
            bridge.balance(&account.public_key(), "USD").await.unwrap(),
            "0.0000000"
        );
    }
    assert_eq!(
        bridge.balance(&bridge.source.public_key(), "USD").await,
        before
    );
}

/// A token for `account` from bank D's SEP-10 endpoint, the challenge signed by `signers`.
async fn sep10(
    d_external: &str,
    network: &stellar_base::Network,
    account: &KeyPair,
    signers: &[&KeyPair],
) -> (u16, serde_json::Value) {
    let challenge: serde_json::Value = reqwest::get(format!(
        "{d_external}/auth?account={}",
        account.public_key()
    ))
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let mut envelope = stellar_base::transaction::Envelope::from_base64(
        challenge["transaction"].as_str().unwrap(),
    )
    .unwrap();
    for signer in signers {
        envelope.sign(signer, network).unwrap();
    }
    let res = reqwest::Client::new()
        .post(format!("{d_external}/auth"))
        .form(&[("transaction", envelope.to_base64())])
        .send()
        .await
        .unwrap();
    (res.status().as_u16(), res.json().await.unwrap())
}

#[tokio::test]
async fn an_existing_account_authenticates_with_its_signers_at_its_medium_threshold() {
    let banks = TwoBanks::start(Backend::Sqlite).await;
    let d = start_bank_d(&banks, Backend::Sqlite).await;
    let bridge = &banks.bridge;
    let network = bridge.sandbox.network();
    let (account, cosigner, stranger) = (KeyPair::random(), KeyPair::random(), KeyPair::random());
    bridge.sandbox.fund(account.public_key()).await.unwrap();
    // Two signers of weight 1, and payments (the medium threshold) need both.
    bridge
        .submit_ops(
            &account,
            Memo::None,
            vec![
                Operation::set_options(stellar_base::transaction::SetOptions {
                    master_weight: Some(1),
                    med_threshold: Some(2),
                    signer: Some((cosigner.public_key(), 1)),
                    ..Default::default()
                })
                .unwrap(),
            ],
        )
        .await;
    let (status, body) = sep10(&d.external, &network, &account, &[&account]).await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("threshold"),
        "{body}"
    );
    let (status, body) = sep10(&d.external, &network, &account, &[&account, &stranger]).await;
    assert_eq!(status, 400, "{body}");
    let (status, body) = sep10(&d.external, &network, &account, &[&account, &cosigner]).await;
    assert_eq!(status, 200, "{body}");
    // An account that does not exist signs with its master key.
    let absent = KeyPair::random();
    let (status, body) = sep10(&d.external, &network, &absent, &[&absent]).await;
    assert_eq!(status, 200, "{body}");
    let (status, _) = sep10(&d.external, &network, &absent, &[&cosigner]).await;
    assert_eq!(status, 400);
}

/// Any SEP-31 client (here: plain HTTP with a SEP-10 token) pays one transaction with two
/// payment operations carrying its memo, in one Stellar transaction: the first is the
/// transaction's payment, the second is delivered as not its payment (to refund).
#[tokio::test]
async fn a_second_operation_paying_the_same_memo_is_not_credited_twice() {
    let banks = TwoBanks::start(Backend::Sqlite).await;
    fund_usd(&banks).await;
    let d = start_bank_d(&banks, Backend::Sqlite).await;
    let bridge = &banks.bridge;
    let network = bridge.sandbox.network();
    let client = KeyPair::random();
    let (status, body) = sep10(&d.external, &network, &client, &[&client]).await;
    assert_eq!(status, 200, "{body}");
    let token = body["token"].as_str().unwrap().to_owned();
    let http = reqwest::Client::new();
    let mut ids = Vec::new();
    for (kind, fields) in [
        (
            "sep31-sender",
            serde_json::json!({"first_name": "Ann", "last_name": "Lee"}),
        ),
        (
            "sep31-receiver",
            serde_json::json!({"first_name": "Dave", "bank_account_number": "777"}),
        ),
    ] {
        let mut body = fields;
        body["type"] = kind.into();
        let res = http
            .put(format!("{}/kyc/customer", d.external))
            .bearer_auth(&token)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 202);
        let answer: serde_json::Value = res.json().await.unwrap();
        ids.push(answer["id"].as_str().unwrap().to_owned());
    }
    let res = http
        .post(format!("{}/sep31/transactions", d.external))
        .bearer_auth(&token)
        .json(&serde_json::json!({
            "amount": "10", "asset_code": "USD",
            "asset_issuer": bridge.issuer.public_key().to_string(),
            "sender_id": ids[0], "receiver_id": ids[1],
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let created: serde_json::Value = res.json().await.unwrap();
    assert_eq!(
        created["stellar_account_id"],
        d.dave.public_key().to_string()
    );
    let memo: [u8; 32] = base64::Engine::decode(
        &base64::engine::general_purpose::STANDARD,
        created["stellar_memo"].as_str().unwrap(),
    )
    .unwrap()
    .try_into()
    .unwrap();
    let usd = Asset::credit("USD", bridge.issuer.public_key()).unwrap();
    let pay = || Operation::payment(d.dave.public_key().into(), &usd, "10".parse().unwrap());
    bridge
        .submit_ops(&bridge.source, Memo::Hash(memo), vec![pay(), pay()])
        .await;
    d.office
        .wait_for(20, "both payments' deliveries", |calls| {
            calls.iter().filter(|c| c.path == "/receive").count() >= 2
        })
        .await;
    let mut statuses: Vec<String> = d
        .office
        .calls_to("/receive")
        .iter()
        .map(|c| c.form["sep31_status"].clone())
        .collect();
    statuses.sort();
    assert_eq!(
        statuses,
        ["error", "pending_receiver"],
        "credited once only"
    );
    // The transaction is the first payment's, completed.
    let res = http
        .get(format!(
            "{}/sep31/transactions/{}",
            d.external,
            created["id"].as_str().unwrap()
        ))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    let transaction: serde_json::Value = res.json().await.unwrap();
    assert_eq!(
        transaction["transaction"]["status"], "completed",
        "{transaction}"
    );
}
