//! `/payment` against the sandbox network, checked on the ledger's balances, on every backend.

use crate::common::*;
use service::database::Backend;
use stellar_base::{AccountAddress, KeyPair};

service::backend_tests!(native_payments_create_and_pay_accounts);
async fn native_payments_create_and_pay_accounts(backend: Backend) {
    let bridge = TestBridge::start(backend).await;
    let alice = KeyPair::random().public_key();
    let before = bridge
        .balance(&bridge.source.public_key(), "native")
        .await
        .unwrap();
    assert_eq!(before, "10000.0000000");

    // A native payment to a missing account creates it.
    let (status, body) = bridge
        .pay(&[("destination", &alice.to_string()), ("amount", "20")])
        .await;
    assert_eq!(status, 200, "{backend}: {body}");
    assert!(body["hash"].as_str().unwrap().len() == 64 && body["ledger"].as_i64().unwrap() > 0);
    assert_eq!(
        bridge.balance(&alice, "native").await.unwrap(),
        "20.0000000"
    );

    // Then a plain payment; the source pays amount + fee each time.
    let (status, _) = bridge
        .pay(&[("destination", &alice.to_string()), ("amount", "0.5")])
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        bridge.balance(&alice, "native").await.unwrap(),
        "20.5000000"
    );
    assert_eq!(
        bridge
            .balance(&bridge.source.public_key(), "native")
            .await
            .unwrap(),
        "9979.4999800"
    );
    let kinds: Vec<String> = bridge
        .payments_to(&alice)
        .await
        .iter()
        .map(|p| p["type"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(kinds, ["create_account", "payment"], "{backend}");
}

service::backend_tests!(memos_and_muxed_destinations_reach_the_ledger);
async fn memos_and_muxed_destinations_reach_the_ledger(backend: Backend) {
    let bridge = TestBridge::start(backend).await;
    let bob = KeyPair::random().public_key();
    bridge.sandbox.fund(bob).await.unwrap();
    let hex = "bb706ec78dc0b3b96f5f5e0127e71899ebc4f9cad80ff3003bd4765ae53b6279";
    let b64 = "u3Bux43As7lvX14BJ+cYmevE+crYD/MAO9R2WuU7Ynk=";
    for (memo_type, memo, shown) in [
        ("text", "invoice 42", "invoice 42"),
        ("id", "18446744073709551615", "18446744073709551615"),
        ("hash", hex, b64),
        ("hash", b64, b64),
        ("return", hex, b64),
    ] {
        let (status, body) = bridge
            .pay(&[
                ("destination", &bob.to_string()),
                ("amount", "1"),
                ("memo_type", memo_type),
                ("memo", memo),
            ])
            .await;
        assert_eq!(status, 200, "{memo_type}: {body}");
        let tx = bridge.transaction(body["hash"].as_str().unwrap()).await;
        assert_eq!(
            (tx["memo_type"].as_str(), tx["memo"].as_str()),
            (Some(memo_type), Some(shown))
        );
    }
    let muxed = AccountAddress::Muxed { key: bob, id: 77 }.to_string();
    let (status, body) = bridge
        .pay(&[("destination", &muxed), ("amount", "3")])
        .await;
    assert_eq!(status, 200, "{body}");
    let payments = bridge.payments_to(&bob).await;
    let last = payments.last().unwrap();
    assert_eq!(
        (last["to_muxed"].as_str(), last["to_muxed_id"].as_str()),
        (Some(muxed.as_str()), Some("77"))
    );
    assert_eq!(
        bridge.balance(&bob, "native").await.unwrap(),
        "10008.0000000"
    );

    // An M… address whose base account does not exist: create_account cannot carry the
    // muxed id, so nothing is sent rather than an account created and the id dropped.
    let nobody = KeyPair::random().public_key();
    let muxed = AccountAddress::Muxed { key: nobody, id: 9 }.to_string();
    let (status, body) = bridge
        .pay(&[("destination", &muxed), ("amount", "5")])
        .await;
    assert_eq!(
        (status, body["code"].as_str(), body["data"]["name"].as_str()),
        (400, Some("invalid_parameter"), Some("destination")),
        "{body}"
    );
    assert!(
        body["more_info"].as_str().unwrap().contains("muxed"),
        "{body}"
    );
    assert!(
        bridge.account(&nobody).await.is_none(),
        "no account was created"
    );
}

service::backend_tests!(fields_that_are_not_utf8_are_refused_not_mangled);
async fn fields_that_are_not_utf8_are_refused_not_mangled(backend: Backend) {
    let bridge = TestBridge::start(backend).await;
    let bob = KeyPair::random().public_key();
    bridge.sandbox.fund(bob).await.unwrap();
    let client = reqwest::Client::new();
    // Two different byte strings that a lossy decoder turns into the same id "\u{fffd}\u{fffd}".
    for raw in [
        &b"id=%FF%FE"[..],
        b"id=\xfe\xff",
        b"memo_type=text&memo=%C3%28",
    ] {
        let mut body = raw.to_vec();
        body.extend_from_slice(format!("&amount=1&destination={bob}").as_bytes());
        let res = client
            .post(format!("{}/payment", bridge.url))
            .header("x-api-key", crate::common::API_KEY)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 400);
        let body: serde_json::Value = res.json().await.unwrap();
        assert_eq!(body["code"], "invalid_parameter", "{body}");
        let name = body["data"]["name"].as_str().unwrap();
        assert!(name == "id" || name == "memo", "{body}");
    }
    assert_eq!(
        bridge.balance(&bob, "native").await.unwrap(),
        "10000.0000000",
        "nothing was paid"
    );
    // Query strings too.
    let res = client
        .get(format!("{}/admin/received-payments?cursor=%FF", bridge.url))
        .header("x-api-key", crate::common::API_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
}

service::backend_tests!(credit_payments_need_trust_and_authorization);
async fn credit_payments_need_trust_and_authorization(backend: Backend) {
    let bridge = TestBridge::start(backend).await;
    let issuer = bridge.issuer.public_key().to_string();
    let carol = KeyPair::random();
    let usd = [("asset_code", "USD"), ("asset_issuer", issuer.as_str())];

    // No account yet: a credit payment cannot create one.
    let mut form = vec![
        ("destination", carol.public_key().to_string()),
        ("amount", "5".into()),
    ];
    form.extend(usd.iter().map(|(k, v)| (*k, v.to_string())));
    let form_ref: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (status, body) = bridge.pay(&form_ref).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("invalid_parameter")),
        "{body}"
    );
    assert_eq!(body["data"]["name"], "destination");

    bridge.sandbox.fund(carol.public_key()).await.unwrap();
    let (status, body) = bridge.pay(&form_ref).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("payment_no_trust")),
        "{body}"
    );
    assert_eq!(body["data"]["result_codes"]["operations"][0], "op_no_trust");

    bridge.trust_usd(&carol).await;
    // The issuer pays from its own account (issuing is paying).
    let issuer_seed = bridge.issuer.secret_seed();
    let mut from_issuer = form_ref.clone();
    from_issuer.push(("source", &issuer_seed));
    let (status, body) = bridge.pay(&from_issuer).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        bridge.balance(&carol.public_key(), "USD").await.unwrap(),
        "5.0000000"
    );

    // /authorize sets the trustline flags through the configured assets.
    let (status, body) = bridge
        .post(
            "/authorize",
            &[
                ("account_id", &carol.public_key().to_string()),
                ("asset_code", "USD"),
            ],
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = bridge
        .post(
            "/authorize",
            &[
                ("account_id", &carol.public_key().to_string()),
                ("asset_code", "EUR"),
            ],
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("asset_code_not_allowed"))
    );
}

service::backend_tests!(failures_are_never_reported_as_success);
async fn failures_are_never_reported_as_success(backend: Backend) {
    let bridge = TestBridge::start(backend).await;
    let dave = KeyPair::random().public_key();
    bridge.sandbox.fund(dave).await.unwrap();
    let (status, body) = bridge
        .pay(&[("destination", &dave.to_string()), ("amount", "50000")])
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("payment_underfunded")),
        "{body}"
    );
    assert_eq!(body["data"]["result_codes"]["transaction"], "tx_failed");
    // The failed transaction consumed its sequence; the next payment still goes through.
    let (status, body) = bridge
        .pay(&[("destination", &dave.to_string()), ("amount", "1")])
        .await;
    assert_eq!(status, 200, "{body}");

    let (status, body) = bridge
        .pay(&[
            ("destination", &dave.to_string()),
            ("amount", "1"),
            ("source", &KeyPair::random().secret_seed()),
        ])
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("source_not_exist")),
        "{body}"
    );
}

service::backend_tests!(bad_input_is_refused_naming_the_field);
async fn bad_input_is_refused_naming_the_field(backend: Backend) {
    let bridge = TestBridge::start(backend).await;
    let dest = KeyPair::random().public_key().to_string();
    let long_text = "x".repeat(29);
    type Case<'a> = (Vec<(&'a str, &'a str)>, &'a str, &'a str);
    let cases: Vec<Case> = vec![
        (vec![("destination", &dest)], "missing_parameter", "amount"),
        (vec![("amount", "1")], "missing_parameter", "destination"),
        (
            vec![("destination", &dest), ("amount", "-1")],
            "invalid_parameter",
            "amount",
        ),
        (
            vec![("destination", &dest), ("amount", "0")],
            "invalid_parameter",
            "amount",
        ),
        (
            vec![("destination", &dest), ("amount", "1.00000001")],
            "invalid_parameter",
            "amount",
        ),
        (
            vec![("destination", &dest), ("amount", "1"), ("source", "SBAD")],
            "invalid_parameter",
            "source",
        ),
        (
            vec![
                ("destination", &dest),
                ("amount", "1"),
                ("memo_type", "text"),
                ("memo", &long_text),
            ],
            "invalid_parameter",
            "memo",
        ),
        (
            vec![
                ("destination", &dest),
                ("amount", "1"),
                ("memo_type", "id"),
                ("memo", "abc"),
            ],
            "invalid_parameter",
            "memo",
        ),
        (
            vec![
                ("destination", &dest),
                ("amount", "1"),
                ("memo_type", "hash"),
                ("memo", "abcd"),
            ],
            "invalid_parameter",
            "memo",
        ),
        (
            vec![
                ("destination", &dest),
                ("amount", "1"),
                ("asset_code", "USD"),
            ],
            "invalid_parameter",
            "asset_code",
        ),
        (
            vec![
                ("destination", &dest),
                ("amount", "1"),
                ("send_max", "1"),
                ("dest_min", "1"),
            ],
            "invalid_parameter",
            "dest_min",
        ),
    ];
    // Path entries that would be dropped: refused, never a shorter path.
    let mut cases = cases;
    for key in [
        "path[5][asset_code]",
        "path[-1][asset_code]",
        "path[99999999][asset_code]",
        "path[1][asset_code]",
    ] {
        cases.push((
            vec![
                ("destination", &dest),
                ("amount", "1"),
                ("send_max", "2"),
                ("path[0][asset_code]", ""),
                ("path[0][asset_issuer]", ""),
                (key, ""),
            ],
            "invalid_parameter",
            "path",
        ));
        // A gap: path[1] missing while path[2] is given.
        if key == "path[1][asset_code]" {
            cases.last_mut().unwrap().0[5].0 = "path[2][asset_code]";
        }
    }
    for (form, code, name) in cases {
        let (status, body) = bridge.pay(&form).await;
        assert_eq!(
            (status, body["code"].as_str()),
            (400, Some(code)),
            "{form:?}: {body}"
        );
        assert_eq!(body["data"]["name"], name, "{form:?}: {body}");
    }
    let (status, body) = bridge
        .pay(&[("destination", "GBAD"), ("amount", "1")])
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("cannot_resolve_destination")),
        "{body}"
    );
    assert!(bridge.payments_to(&dest.parse().unwrap()).await.is_empty());

    // Without the API key: 403, for forms and for GETs alike.
    let res = reqwest::Client::new()
        .post(format!("{}/payment", bridge.url))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("destination={dest}&amount=1&apiKey=wrong"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    // A form over the body limit: 413 in JSON, whether the key check reads it (key in the
    // form) or the form checks do (key in the header).
    for key_header in [None, Some(API_KEY)] {
        let mut req = reqwest::Client::new()
            .post(format!("{}/payment", bridge.url))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!(
                "destination={dest}&amount=1&memo={}",
                "a".repeat(1 << 20)
            ));
        if let Some(key) = key_header {
            req = req.header("x-api-key", key);
        }
        let res = req.send().await.unwrap();
        assert_eq!(res.status(), 413, "key in header: {key_header:?}");
        let body: serde_json::Value = res.json().await.unwrap();
        assert_eq!(body["code"], "payload_too_large", "{body}");
    }
    let res = reqwest::Client::new()
        .post(format!("{}/create-keypair", bridge.url))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    let res = reqwest::Client::new()
        .post(format!("{}/create-keypair", bridge.url))
        .header("x-api-key", API_KEY)
        .send()
        .await
        .unwrap();
    let keys: serde_json::Value = res.json().await.unwrap();
    let seed = keys["private_key"].as_str().unwrap();
    assert_eq!(
        KeyPair::from_secret_seed(seed)
            .unwrap()
            .public_key()
            .to_string(),
        keys["public_key"].as_str().unwrap()
    );
}

service::backend_tests!(path_payments_strict_receive_and_strict_send);
async fn path_payments_strict_receive_and_strict_send(backend: Backend) {
    let bridge = TestBridge::start(backend).await;
    let erin = KeyPair::random().public_key();
    bridge.sandbox.fund(erin).await.unwrap();
    let erin_s = erin.to_string();
    // Strict receive: exactly 3 arrive, at most 3.5 leave.
    let (status, body) = bridge
        .pay(&[
            ("destination", &erin_s),
            ("amount", "3"),
            ("send_max", "3.5"),
        ])
        .await;
    assert_eq!(status, 200, "{body}");
    // Strict send: exactly 2 leave, at least 1.9 arrive.
    let (status, body) = bridge
        .pay(&[
            ("destination", &erin_s),
            ("amount", "2"),
            ("dest_min", "1.9"),
        ])
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        bridge.balance(&erin, "native").await.unwrap(),
        "10005.0000000"
    );
    let kinds: Vec<String> = bridge
        .payments_to(&erin)
        .await
        .iter()
        .map(|p| p["type"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        kinds,
        ["path_payment_strict_receive", "path_payment_strict_send"]
    );
    // A conversion needs an order book the sandbox does not have: the network's answer.
    let issuer = bridge.issuer.public_key().to_string();
    let (status, body) = bridge
        .pay(&[
            ("destination", &erin_s),
            ("amount", "1"),
            ("send_max", "2"),
            ("send_asset_code", "USD"),
            ("send_asset_issuer", &issuer),
        ])
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["code"].as_str().unwrap().starts_with("payment_"),
        "{body}"
    );
}

service::backend_tests!(a_source_that_cannot_sign_alone_gets_bad_auth);
async fn a_source_that_cannot_sign_alone_gets_bad_auth(backend: Backend) {
    let bridge = TestBridge::start(backend).await;
    let multisig = KeyPair::random();
    bridge.sandbox.fund(multisig.public_key()).await.unwrap();
    // Raise the medium threshold above the master key's weight.
    let res = reqwest::Client::new()
    .post(format!("{}/builder", bridge.url))
    .header("x-api-key", API_KEY)
    .header("content-type", "application/json")
    .body(
        serde_json::json!({
            "source": multisig.public_key().to_string(),
            "operations": [{"type": "set_options", "body": {"medium_threshold": 2, "high_threshold": 2}}],
            "signers": [multisig.secret_seed()],
        })
        .to_string(),
    )
    .send()
    .await
    .unwrap();
    let envelope: serde_json::Value = res.json().await.unwrap();
    let submitted = reqwest::Client::new()
        .post(format!("{}/transactions", bridge.sandbox.url()))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(
            url::form_urlencoded::Serializer::new(String::new())
                .append_pair("tx", envelope["transaction_envelope"].as_str().unwrap())
                .finish(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(submitted.status(), 200);
    let dest = KeyPair::random().public_key().to_string();
    let (status, body) = bridge
        .pay(&[
            ("destination", &dest),
            ("amount", "5"),
            ("source", &multisig.secret_seed()),
        ])
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("transaction_bad_auth")),
        "{body}"
    );
    assert!(bridge.account(&dest.parse().unwrap()).await.is_none());
}

service::backend_tests!(an_id_too_long_or_with_nul_is_refused_alike_on_every_backend);
/// A payment id a column cannot hold is refused as written, before anything is sent, with the
/// same 400 on every backend.
async fn an_id_too_long_or_with_nul_is_refused_alike_on_every_backend(backend: Backend) {
    let bridge = TestBridge::start(backend).await;
    let dest = KeyPair::random().public_key().to_string();
    let long = "i".repeat(256);
    for id in [long.as_str(), "a\0b"] {
        let (status, body) = bridge
            .pay(&[("id", id), ("destination", &dest), ("amount", "1")])
            .await;
        assert_eq!(status, 400, "{backend}: {body}");
        assert_eq!(body["data"]["name"], "id", "{backend}: {body}");
    }
    let exactly = "i".repeat(255);
    bridge.sandbox.fund(dest.parse().unwrap()).await.unwrap();
    let (status, body) = bridge
        .pay(&[("id", &exactly), ("destination", &dest), ("amount", "1")])
        .await;
    assert_eq!(status, 200, "{backend}: 255 characters fit: {body}");
}
