//! The AUTH_SERVER (`POST /`) against hostile and broken input, the shared vector, the official
//! Python SDK, and SEP-4 `tx_status`.

use crate::common;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use common::*;
use service::database::Backend;
use stellar_base::transaction::{Operation, to_base64};
use stellar_base::{Asset, KeyPair, Memo, TransactionBuilder};

const VECTOR: &str = include_str!("../../../vectors/compliance-send.json");

/// One receiving bank with no callbacks, trusting `stellar.org`'s SIGNING_KEY from the host.
async fn receiver(backend: Backend, network: &'static str) -> (TomlHost, Bank) {
    let host = TomlHost::start().await;
    let bank = start_bank(
        "bank-b.test",
        backend,
        &host,
        &BankOptions {
            needs_auth: false,
            callbacks: &[],
            network,
        },
    )
    .await;
    (host, bank)
}

/// A correctly signed request from `sender` with `key`.
fn request(sender: &str, key: &KeyPair, attachment: &str) -> (String, String) {
    let memo = Memo::Hash(compliance::protocol::attachment_hash(attachment));
    let tx = TransactionBuilder::new(KeyPair::random().public_key().into(), 0)
        .memo(memo)
        .operation(Operation::payment(
            KeyPair::random().public_key().into(),
            &Asset::Native,
            "5".parse().unwrap(),
        ))
        .build()
        .unwrap();
    let data = serde_json::json!({
        "sender": sender,
        "need_info": false,
        "tx": to_base64(&tx),
        "attachment": attachment,
    })
    .to_string();
    let sig = BASE64.encode(key.sign(data.as_bytes()));
    (data, sig)
}

const ATTACHMENT: &str = r#"{"nonce":"1","transaction":{"sender_info":{"name":"A"},"route":"bob","note":"","extra":""},"operations":null}"#;

service::backend_tests!(the_shared_vector_is_accepted_and_stored);
async fn the_shared_vector_is_accepted_and_stored(backend: Backend) {
    let (host, bank) = receiver(backend, stellar_base::Network::TESTNET).await;
    let v: serde_json::Value = serde_json::from_str(VECTOR).unwrap();
    host.set(
        "stellar.org",
        format!("SIGNING_KEY = \"{}\"\n", v["signing_key"].as_str().unwrap()),
    );
    let form = [
        ("data", v["data"].as_str().unwrap()),
        ("sig", v["sig"].as_str().unwrap()),
    ];
    let (status, body) = post_form(&format!("{}/", bank.external), &form, None).await;
    assert_eq!(status, 200, "{backend}: {body}");
    assert_eq!(
        body,
        serde_json::json!({"info_status": "ok", "tx_status": "ok"})
    );
    // Asked again: the same answer and still one record.
    let (status, again) = post_form(&format!("{}/", bank.external), &form, None).await;
    assert_eq!((status, &again), (200, &body));
    let memo = v["attachment_sha256_base64"].as_str().unwrap();
    let (status, received) = post_form(
        &format!("{}/receive", bank.internal),
        &[("memo", memo)],
        Some(API_KEY),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(received["data"], v["data"]);
}

#[tokio::test]
async fn bad_requests_get_their_documented_error_before_any_fetch() {
    let (host, bank) = receiver(Backend::Sqlite, stellar_base::Network::TESTNET).await;
    let key = KeyPair::random();
    host.set(
        "bank-a.test",
        format!("SIGNING_KEY = \"{}\"\n", key.public_key()),
    );
    let url = format!("{}/", bank.external);
    let (good_data, good_sig) = request("alice*bank-a.test", &key, ATTACHMENT);

    // (form, status, code, data.name)
    type Case<'a> = (Vec<(&'a str, &'a str)>, u16, &'a str, Option<&'a str>);
    let other_sig = BASE64.encode(KeyPair::random().sign(good_data.as_bytes()));
    let tampered = good_data.replace("alice", "mallory");
    let (mismatch_data, mismatch_sig) = {
        let (data, _) = request("alice*bank-a.test", &key, ATTACHMENT);
        let v: serde_json::Value = serde_json::from_str(&data).unwrap();
        let data = serde_json::json!({
            "sender": "alice*bank-a.test", "need_info": false,
            "tx": v["tx"], "attachment": ATTACHMENT.replace("bob", "eve"),
        })
        .to_string();
        let sig = BASE64.encode(key.sign(data.as_bytes()));
        (data, sig)
    };
    let cases: Vec<Case> = vec![
        (vec![("sig", &good_sig)], 400, "invalid_parameter", None),
        (vec![("data", &good_data)], 400, "invalid_parameter", None),
        (
            vec![("data", &good_data), ("sig", "not base64!")],
            400,
            "invalid_parameter",
            None,
        ),
        (
            vec![("data", "not json"), ("sig", &good_sig)],
            400,
            "invalid_parameter",
            None,
        ),
        (
            vec![("data", r#"{"sender":"alice"}"#), ("sig", &good_sig)],
            400,
            "invalid_parameter",
            None,
        ),
        (
            vec![("data", &mismatch_data), ("sig", &mismatch_sig)],
            400,
            "invalid_parameter",
            None,
        ),
        (
            vec![("data", &good_data), ("sig", &other_sig)],
            400,
            "invalid_parameter",
            Some("sig"),
        ),
        (
            vec![("data", &tampered), ("sig", &good_sig)],
            400,
            "invalid_parameter",
            Some("sig"),
        ),
    ];
    for (form, status, code, name) in cases {
        let (got, body) = post_form(&url, &form, None).await;
        assert_eq!(
            (got, body["code"].as_str()),
            (status, Some(code)),
            "{form:?}: {body}"
        );
        assert_eq!(body["data"]["name"].as_str(), name, "{form:?}: {body}");
        assert!(body["more_info"].is_string(), "{body}");
    }

    // The memo check says what is wrong.
    let (_, body) = post_form(
        &url,
        &[("data", &mismatch_data), ("sig", &mismatch_sig)],
        None,
    )
    .await;
    assert!(body["more_info"].as_str().unwrap().contains("Memo.Hash"));

    // Senders whose stellar.toml cannot be used.
    host.set("nokey.test", "VERSION = \"2.0.0\"\n".into());
    host.set("badkey.test", "SIGNING_KEY = \"GNOPE\"\n".into());
    host.set("huge.test", format!("X = \"{}\"\n", "x".repeat(200 * 1024)));
    for domain in [
        "nokey.test",
        "badkey.test",
        "huge.test",
        "missing.test",
        "localhost",
        "127.0.0.1.nip.invalid",
    ] {
        let (data, sig) = request(&format!("alice*{domain}"), &key, ATTACHMENT);
        let (status, body) = post_form(&url, &[("data", &data), ("sig", &sig)], None).await;
        assert_eq!(
            (status, body["data"]["name"].as_str()),
            (400, Some("data.sender")),
            "{domain}: {body}"
        );
        // Nothing about our network (refused addresses, resolver errors, status codes) for
        // a stranger: the domain only.
        let more_info = body["more_info"].as_str().unwrap();
        if !matches!(domain, "nokey.test" | "badkey.test") {
            assert_eq!(
                more_info,
                format!("Cannot get stellar.toml of sender: cannot fetch stellar.toml of {domain}"),
                "{body}"
            );
        }
    }

    // Oversized bodies are refused before they are read.
    let huge = "x".repeat(300 * 1024);
    let (status, _) = post_form(&url, &[("data", &huge), ("sig", &good_sig)], None).await;
    assert_eq!(status, 413);

    // None of it was stored: the good request is still the first of its kind.
    let (status, body) = post_form(&url, &[("data", &good_data), ("sig", &good_sig)], None).await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn a_request_signed_by_the_official_python_sdk_is_accepted() {
    let (host, bank) = receiver(Backend::Sqlite, stellar_base::Network::TESTNET).await;
    let key = KeyPair::random();
    host.set(
        "bank-a.test",
        format!("SIGNING_KEY = \"{}\"\n", key.public_key()),
    );
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/interop/auth_request.py");
    let seed = key.secret_seed();
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new("python3")
            .args([script, &seed, stellar_base::Network::TESTNET])
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
    assert!(out.status.success(), "{stderr}");
    let request: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let form = [
        ("data", request["data"].as_str().unwrap()),
        ("sig", request["sig"].as_str().unwrap()),
    ];
    let (status, body) = post_form(&format!("{}/", bank.external), &form, None).await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn tx_status_needs_basic_auth_and_asks_the_back_office() {
    let host = TomlHost::start().await;
    let bank = start_bank(
        "bank-b.test",
        Backend::Sqlite,
        &host,
        &BankOptions::default(),
    )
    .await;
    let url = format!("{}/tx_status", bank.external);
    let client = reqwest::Client::new();
    let res = client.get(format!("{url}?id=abc")).send().await.unwrap();
    assert_eq!(res.status(), 401);
    let res = client
        .get(format!("{url}?id=abc"))
        .basic_auth("sep4", Some("wrong-password"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    let res = client
        .get(&url)
        .basic_auth("sep4", Some("status-password"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    bank.office.script(
        "tx_status",
        &[
            (200, r#"{"status":"delivered","msg":"cash paid"}"#),
            (404, ""),
        ],
    );
    let body: serde_json::Value = client
        .get(format!("{url}?id=abc"))
        .basic_auth("sep4", Some("status-password"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        body,
        serde_json::json!({"status": "delivered", "msg": "cash paid"})
    );
    assert_eq!(bank.office.calls_to("tx_status")[0]["id"], "abc");
    let body: serde_json::Value = client
        .get(format!("{url}?id=abc"))
        .basic_auth("sep4", Some("status-password"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body, serde_json::json!({"status": "unknown"}));
}

service::backend_tests!(an_approved_transaction_is_not_disclosed_again_under_other_authdata; sqlite, mysql);
/// Once a transaction is approved, its stored AuthData is the audit trail of what was disclosed
/// to whom: the same request again gets the same answer, but the same transaction under other
/// AuthData (another sender of the same bank) is refused, and the record keeps the first.
async fn an_approved_transaction_is_not_disclosed_again_under_other_authdata(backend: Backend) {
    let (host, bank) = receiver(backend, stellar_base::Network::TESTNET).await;
    let key = KeyPair::random();
    host.set(
        "bank-a.test",
        format!("SIGNING_KEY = \"{}\"\n", key.public_key()),
    );
    let url = format!("{}/", bank.external);
    let (first, first_sig) = request("alice*bank-a.test", &key, ATTACHMENT);
    let (status, body) = post_form(&url, &[("data", &first), ("sig", &first_sig)], None).await;
    assert_eq!(status, 200, "{backend}: {body}");
    let other: serde_json::Value = {
        let mut v: serde_json::Value = serde_json::from_str(&first).unwrap();
        v["sender"] = "mallory*bank-a.test".into();
        v
    };
    let other = other.to_string();
    let other_sig = BASE64.encode(key.sign(other.as_bytes()));
    let (status, body) = post_form(&url, &[("data", &other), ("sig", &other_sig)], None).await;
    assert_eq!(status, 400, "{backend}: {body}");
    assert_eq!(body["data"]["name"], "data", "{body}");
    assert!(
        body["more_info"]
            .as_str()
            .unwrap()
            .contains("already approved"),
        "{body}"
    );
    let (status, _) = post_form(&url, &[("data", &first), ("sig", &first_sig)], None).await;
    assert_eq!(status, 200, "the approved request still is");
    let memo = BASE64.encode(compliance::protocol::attachment_hash(ATTACHMENT));
    let (_, received) = post_form(
        &format!("{}/receive", bank.internal),
        &[("memo", &memo)],
        Some(API_KEY),
    )
    .await;
    assert_eq!(
        received["data"],
        first.as_str(),
        "the record keeps what was approved"
    );
}

service::backend_tests!(oversized_and_nul_fields_get_the_same_400_on_every_backend);
/// What a column cannot hold is refused as written, before any side effect, with the same 400
/// on SQLite (which would store it), MariaDB and PostgreSQL (which would answer 500).
async fn oversized_and_nul_fields_get_the_same_400_on_every_backend(backend: Backend) {
    let (_host, bank) = receiver(backend, stellar_base::Network::TESTNET).await;
    let long = "x".repeat(256);
    let key = KeyPair::random().public_key().to_string();
    let internal = |path: &str| format!("{}{path}", bank.internal);
    type Case<'a> = (String, Vec<(&'a str, &'a str)>, &'a str);
    let cases: Vec<Case> = vec![
        (
            internal("/allow_access"),
            vec![
                ("name", &long),
                ("domain", "bank-b.test"),
                ("public_key", &key),
            ],
            "name",
        ),
        (
            internal("/allow_access"),
            vec![
                ("name", "B"),
                ("domain", "bank-b.test"),
                ("public_key", &key),
                ("user_id", &long),
            ],
            "user_id",
        ),
        (internal("/send"), vec![("id", &long)], "id"),
        (internal("/send"), vec![("id", "a\0b")], "id"),
        (internal("/receive"), vec![("memo", "A\0B")], "memo"),
    ];
    for (url, form, name) in cases {
        let (status, body) = post_form(&url, &form, Some(API_KEY)).await;
        assert_eq!(status, 400, "{backend}: {url} {name}: {body}");
        assert_eq!(body["data"]["name"], name, "{backend}: {body}");
    }
}
