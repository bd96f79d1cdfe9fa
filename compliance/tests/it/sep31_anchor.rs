//! The receiving anchor (`[peering.anchor]`) on the external port: SEP-10 interop with the
//! official Python SDK both ways (`tests/interop/sep10.py`), and hostile requests refused
//! (a challenge signed by another key or changed, a token for another account, a forged one).

use std::process::Command;

use compliance::sep31::{AnchorAsset, AnchorSettings, PeeringSettings};
use compliance::web_auth;
use service::database::Backend;
use service::testing::TestDatabase;
use stellar_base::transaction::Envelope;
use stellar_base::{AccountAddress, KeyPair, Network};

use crate::common::{BackOffice, BankOptions, TomlHost, config};

const HOME: &str = "bank-d.test";

struct Anchor {
    key: KeyPair,
    external: String,
    web_auth_domain: String,
    office: BackOffice,
    _db: TestDatabase,
}

async fn anchor() -> Anchor {
    let host = TomlHost::start().await;
    let office = BackOffice::start().await;
    let db = TestDatabase::new(Backend::Sqlite);
    let key = KeyPair::random();
    let mut config = config(&db, &key, &office, &host, &BankOptions::default());
    let port = service::testing::free_port();
    config.external_port = port;
    config.peering = PeeringSettings {
        anchor: Some(AnchorSettings {
            home_domain: HOME.into(),
            web_auth_endpoint: format!("http://127.0.0.1:{port}/auth").parse().unwrap(),
            jwt_secret: Some("a-jwt-secret-of-at-least-32-characters".into()),
            jwt_seconds: 3600,
            horizon: None,
            receiving_account: KeyPair::random().public_key(),
            assets: vec![AnchorAsset {
                code: "USD".into(),
                issuer: KeyPair::random().public_key(),
                fee_fixed: None,
                fee_percent: None,
                min_amount: None,
                max_amount: None,
            }],
            sender_fields: vec!["first_name".into()],
            receiver_fields: vec!["first_name".into()],
        }),
        ..PeeringSettings::default()
    };
    let app = compliance::Application::build(config).await.unwrap();
    let external = app.external_url();
    app.spawn();
    Anchor {
        key,
        external,
        web_auth_domain: format!("127.0.0.1:{port}"),
        office,
        _db: db,
    }
}

/// Runs the SDK script; its JSON line, and whether it succeeded.
fn sdk(args: &[&str]) -> (bool, serde_json::Value) {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/interop/sep10.py");
    let out = Command::new("python3")
        .arg(script)
        .args(args)
        .output()
        .expect("python3 must be installed");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("No module named 'stellar_sdk'"),
        "the official SDK is missing: python3 -m pip install stellar-sdk==16.1.1 (scripts/test.sh does this)"
    );
    let json = serde_json::from_slice(&out.stdout).unwrap_or_else(|_| panic!("{stderr}"));
    (out.status.success(), json)
}

async fn challenge(anchor: &Anchor, query: &str) -> (u16, serde_json::Value) {
    let res = reqwest::get(format!("{}/auth?{query}", anchor.external))
        .await
        .unwrap();
    (res.status().as_u16(), res.json().await.unwrap())
}

async fn token(anchor: &Anchor, transaction: &str) -> (u16, serde_json::Value) {
    let res = reqwest::Client::new()
        .post(format!("{}/auth", anchor.external))
        .json(&serde_json::json!({ "transaction": transaction }))
        .send()
        .await
        .unwrap();
    (res.status().as_u16(), res.json().await.unwrap())
}

/// A token for `client`, signed with our own client code.
async fn token_for(anchor: &Anchor, client: &KeyPair) -> String {
    let (_, body) = challenge(anchor, &format!("account={}", client.public_key())).await;
    let network = Network::new(Network::TESTNET);
    let mut read = web_auth::read_challenge(
        body["transaction"].as_str().unwrap(),
        &anchor.key.public_key(),
        &[HOME],
        &anchor.web_auth_domain,
        &network,
        stellar_base::transaction::unix_now(),
    )
    .unwrap();
    read.envelope.sign(client, &network).unwrap();
    let (status, body) = token(anchor, &read.envelope.to_base64()).await;
    assert_eq!(status, 200, "{body}");
    body["token"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_challenge_we_build_is_signed_by_the_official_sdk_and_accepted() {
    let anchor = anchor().await;
    let client = KeyPair::random();
    let (status, body) = challenge(&anchor, &format!("account={}", client.public_key())).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["network_passphrase"], Network::TESTNET);
    // Open to browsers, as SEP-10 requires.
    let res = reqwest::get(format!(
        "{}/auth?account={}",
        anchor.external,
        client.public_key()
    ))
    .await
    .unwrap();
    assert_eq!(res.headers()["access-control-allow-origin"], "*");
    let preflight = reqwest::Client::new()
        .request(
            reqwest::Method::OPTIONS,
            format!("{}/kyc/customer", anchor.external),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(preflight.status(), 204);
    assert!(
        preflight.headers()["access-control-allow-headers"]
            .to_str()
            .unwrap()
            .contains("Authorization")
    );
    let server = anchor.key.public_key().to_string();
    let seed = client.secret_seed();
    let (ok, signed) = sdk(&[
        "sign",
        "--challenge",
        body["transaction"].as_str().unwrap(),
        "--client-seed",
        &seed,
        "--server-account",
        &server,
        "--home-domain",
        HOME,
        "--web-auth-domain",
        &anchor.web_auth_domain,
        "--network-passphrase",
        Network::TESTNET,
    ]);
    assert!(ok, "the SDK refused our challenge: {signed}");
    let (status, body) = token(&anchor, signed["transaction"].as_str().unwrap()).await;
    assert_eq!(status, 200, "{body}");
    let claims = web_auth::verify_token(
        body["token"].as_str().unwrap(),
        b"a-jwt-secret-of-at-least-32-characters",
        stellar_base::transaction::unix_now(),
    )
    .unwrap();
    assert_eq!(claims.sub, client.public_key().to_string());
    assert_eq!(claims.home_domain.as_deref(), Some(HOME));
}

#[test]
fn a_challenge_the_official_sdk_builds_is_read_and_signed_by_our_client() {
    let (server, client) = (KeyPair::random(), KeyPair::random());
    let (server_account, client_account) = (
        server.public_key().to_string(),
        client.public_key().to_string(),
    );
    let common =
        |extra: &[&'static str]| -> Vec<String> { extra.iter().map(|s| (*s).to_owned()).collect() };
    let mut args = common(&["build", "--server-seed"]);
    args.push(server.secret_seed());
    args.extend(common(&["--client-account"]));
    args.push(client_account);
    args.extend(common(&[
        "--home-domain",
        HOME,
        "--web-auth-domain",
        "auth.bank-d.test",
        "--network-passphrase",
        Network::TESTNET,
    ]));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (ok, built) = sdk(&args);
    assert!(ok, "{built}");
    let network = Network::new(Network::TESTNET);
    let transaction = built["transaction"].as_str().unwrap();
    let now = stellar_base::transaction::unix_now();
    // Read in full with the SDK's own rules, then signed by the client.
    let mut read = web_auth::read_challenge(
        transaction,
        &server.public_key(),
        &[HOME],
        "auth.bank-d.test",
        &network,
        now,
    )
    .unwrap();
    assert_eq!(read.client, AccountAddress::Account(client.public_key()));
    // And refused for another home domain or another server.
    assert!(
        web_auth::read_challenge(
            transaction,
            &server.public_key(),
            &["other.test"],
            "auth.bank-d.test",
            &network,
            now
        )
        .is_err()
    );
    assert!(
        web_auth::read_challenge(
            transaction,
            &client.public_key(),
            &[HOME],
            "auth.bank-d.test",
            &network,
            now
        )
        .is_err()
    );
    read.envelope.sign(&client, &network).unwrap();
    let signed = read.envelope.to_base64();
    let (ok, verified) = sdk(&[
        "verify",
        "--challenge",
        &signed,
        "--server-account",
        &server_account,
        "--home-domain",
        HOME,
        "--web-auth-domain",
        "auth.bank-d.test",
        "--network-passphrase",
        Network::TESTNET,
    ]);
    assert!(ok, "the SDK refused our client's signature: {verified}");
}

#[tokio::test]
async fn hostile_challenges_and_tokens_are_refused() {
    let anchor = anchor().await;
    let network = Network::new(Network::TESTNET);
    let (client, other) = (KeyPair::random(), KeyPair::random());

    // Another home domain, a memo with a muxed account, no account.
    let (status, body) = challenge(
        &anchor,
        &format!("account={}&home_domain=evil.test", client.public_key()),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    let (status, _) = challenge(&anchor, "memo=5").await;
    assert_eq!(status, 400);

    // Signed by another key than the account's.
    let (_, body) = challenge(&anchor, &format!("account={}", client.public_key())).await;
    let issued = body["transaction"].as_str().unwrap().to_owned();
    let mut wrong = Envelope::from_base64(&issued).unwrap();
    wrong.sign(&other, &network).unwrap();
    let (status, body) = token(&anchor, &wrong.to_base64()).await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("not the client's"),
        "{body}"
    );

    // Not signed by the client at all.
    let (status, body) = token(&anchor, &issued).await;
    assert_eq!(status, 400, "{body}");

    // A second operation with another source slipped in (the client re-signs it).
    let mut envelope = Envelope::from_base64(&issued).unwrap().into_xdr();
    if let stellar_base::xdr::TransactionEnvelope::Tx(v1) = &mut envelope {
        let mut operations = v1.tx.operations.to_vec();
        operations[1].source_account = Some(other.public_key().to_muxed_account());
        v1.tx.operations = operations.try_into().unwrap();
    }
    let mut changed =
        Envelope::from_base64(&stellar_base::transaction::to_base64(&envelope)).unwrap();
    changed.sign(&client, &network).unwrap();
    let (status, body) = token(&anchor, &changed.to_base64()).await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("source other than the server"),
        "{body}"
    );

    // A token is for its own account only.
    anchor.office.script("sanctions", &[(200, "{}")]);
    let token_client = token_for(&anchor, &client).await;
    let token_other = token_for(&anchor, &other).await;
    let http = reqwest::Client::new();
    let put = |token: &str, body: serde_json::Value| {
        http.put(format!("{}/kyc/customer", anchor.external))
            .bearer_auth(token)
            .json(&body)
            .send()
    };
    let res = put(
        &token_client,
        serde_json::json!({"type": "sep31-sender", "first_name": "Ann"}),
    )
    .await
    .unwrap();
    assert_eq!(res.status(), 202);
    let id = res.json::<serde_json::Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let res = put(
        &token_other,
        serde_json::json!({"account": client.public_key().to_string(), "first_name": "Eve"}),
    )
    .await
    .unwrap();
    assert_eq!(res.status(), 403);
    let res = put(
        &token_other,
        serde_json::json!({"id": id, "first_name": "Eve"}),
    )
    .await
    .unwrap();
    assert_eq!(res.status(), 404);
    let get = |token: &str| {
        http.get(format!("{}/kyc/customer?id={id}", anchor.external))
            .bearer_auth(token)
            .send()
    };
    let res = get(&token_client).await.unwrap();
    assert_eq!(res.status(), 200);
    let customer: serde_json::Value = res.json().await.unwrap();
    assert_eq!(customer["status"], "ACCEPTED", "{customer}");
    assert_eq!(
        customer["provided_fields"]["first_name"]["status"],
        "ACCEPTED"
    );
    assert_eq!(get(&token_other).await.unwrap().status(), 404);

    // A transaction is its creator's only; forged or missing tokens are refused.
    let res = http
        .post(format!("{}/sep31/transactions", anchor.external))
        .bearer_auth(&token_other)
        .json(&serde_json::json!({"amount": "10", "asset_code": "USD", "sender_id": id, "receiver_id": id}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.status(),
        400,
        "another account's customer is not its customer"
    );
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["type"], "sep31-sender", "{body}");
    let mut forged = token_client.clone();
    forged.push('x');
    assert_eq!(get(&forged).await.unwrap().status(), 403);
    let res = http
        .get(format!("{}/kyc/customer", anchor.external))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    // /info is public, as the Anchor Platform and Polaris serve it.
    let info: serde_json::Value = reqwest::get(format!("{}/sep31/info", anchor.external))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(info["receive"]["USD"]["enabled"], true, "{info}");
}
