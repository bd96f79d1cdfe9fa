//! The compliance path end to end: bridge A → compliance A → compliance B (with its back
//! office and federation) → approval → payment on the sandbox. Ok, pending then ok on repeat,
//! and denied.

use crate::common::banks::{COMPLIANCE_KEY, TwoBanks};
use service::database::Backend;

service::backend_tests!(compliance_payments_are_approved_retried_and_denied);
async fn compliance_payments_are_approved_retried_and_denied(backend: Backend) {
    let banks = TwoBanks::start(backend).await;
    let (web, bridge, bob, b_internal) = (&banks.web, &banks.bridge, banks.bob, &banks.b_internal);
    let pay = |id: &'static str| banks.pay(id);

    // Approved at once.
    web.set("/b/sanctions", &[(200, "")]);
    let (status, body) = pay("c-ok").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        bridge.balance(&bob, "native").await.unwrap(),
        "10025.0000000"
    );
    // Bank B can read the attachment by the memo the ledger shows.
    let tx = bridge.transaction(body["hash"].as_str().unwrap()).await;
    assert_eq!(tx["memo_type"], "hash");
    let memo = tx["memo"].as_str().unwrap();
    let received = reqwest::Client::new()
        .post(format!("{b_internal}/receive"))
        .header("x-api-key", COMPLIANCE_KEY)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(
            url::form_urlencoded::Serializer::new(String::new())
                .append_pair("memo", memo)
                .finish(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(received.status(), 200);
    let received: serde_json::Value = received.json().await.unwrap();
    assert!(
        received["data"]
            .as_str()
            .unwrap()
            .contains("alice*bank-a.test")
    );

    // Pending, then approved on repeat: paid once.
    web.set("/b/sanctions", &[(202, r#"{"pending":5}"#), (200, "")]);
    let (status, body) = pay("c-pending").await;
    assert_eq!(
        (status, body["code"].as_str()),
        (202, Some("pending")),
        "{body}"
    );
    assert_eq!(body["data"]["pending"], 5);
    assert_eq!(
        bridge.balance(&bob, "native").await.unwrap(),
        "10025.0000000"
    );
    let (status, body) = pay("c-pending").await;
    assert_eq!(status, 200, "{body}");
    let (status, again) = pay("c-pending").await;
    assert_eq!((status, &again["hash"]), (200, &body["hash"]));
    assert_eq!(
        bridge.balance(&bob, "native").await.unwrap(),
        "10050.0000000"
    );

    // Denied.
    web.set("/b/sanctions", &[(403, "")]);
    let (status, body) = pay("c-denied").await;
    assert_eq!(
        (status, body["code"].as_str()),
        (403, Some("denied")),
        "{body}"
    );
    assert_eq!(
        bridge.balance(&bob, "native").await.unwrap(),
        "10050.0000000"
    );

    // Without extra_memo the standard path pays the federation answer, memo included.
    let (status, body) = bridge
        .pay(&[
            ("destination", "bob*bank-b.test"),
            ("amount", "1"),
            ("id", "fed-1"),
        ])
        .await;
    assert_eq!(status, 200, "{body}");
    let tx = bridge.transaction(body["hash"].as_str().unwrap()).await;
    assert_eq!(
        (tx["memo_type"].as_str(), tx["memo"].as_str()),
        (Some("text"), Some("bob"))
    );
    assert_eq!(
        bridge.balance(&bob, "native").await.unwrap(),
        "10051.0000000"
    );
    let (status, body) = bridge
        .pay(&[
            ("destination", "bob*bank-b.test"),
            ("amount", "1"),
            ("memo_type", "id"),
            ("memo", "5"),
        ])
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("cannot_use_memo")),
        "{body}"
    );
    let (status, body) = bridge
        .pay(&[("destination", "nobody*bank-b.test"), ("amount", "1")])
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("cannot_resolve_destination")),
        "{body}"
    );
}

service::backend_tests!(the_compliance_path_pays_what_was_asked_or_nothing);
/// `/payment` on the compliance path pays exactly what was asked, or nothing: strict send keeps
/// its `dest_min`, a reused id with another request is a conflict before the peer hears of it,
/// and compliance's refusals reach the app naming the app's own field.
async fn the_compliance_path_pays_what_was_asked_or_nothing(backend: Backend) {
    let banks = TwoBanks::start(backend).await;
    let (web, bridge, bob) = (&banks.web, &banks.bridge, banks.bob);
    web.set("/b/sanctions", &[(200, "")]);
    let compliance = |id: &'static str, extra: &'static [(&'static str, &'static str)]| {
        let mut form = vec![
            ("id", id),
            ("sender", "alice*bank-a.test"),
            ("destination", "bob*bank-b.test"),
            ("amount", "25"),
            ("extra_memo", "rent"),
        ];
        form.retain(|(k, _)| !extra.iter().any(|(e, _)| e == k));
        form.extend_from_slice(extra);
        async move { bridge.pay(&form).await }
    };

    // Strict send: exactly 10 leave, at least 9.5 must arrive; the ledger shows the
    // strict-send operation the receiver approved, not a plain payment.
    let (status, body) = compliance("strict-send", &[("amount", "10"), ("dest_min", "9.5")]).await;
    assert_eq!(status, 200, "{body}");
    let kinds: Vec<String> = bridge
        .payments_to(&bob)
        .await
        .iter()
        .map(|p| p["type"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(kinds, ["path_payment_strict_send"], "{body}");
    assert_eq!(
        bridge.balance(&bob, "native").await.unwrap(),
        "10010.0000000"
    );

    // A reused id with a different request: 409 before anything reaches bank B.
    web.set("/b/sanctions", &[(202, r#"{"pending":5}"#), (200, "")]);
    let (status, body) = compliance("reuse-1", &[("amount", "7"), ("extra_memo", "first")]).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (202, Some("pending")),
        "{body}"
    );
    let sanctions_before = web_calls(web, "/b/sanctions");
    let (status, body) =
        compliance("reuse-1", &[("amount", "700"), ("extra_memo", "second")]).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("payment_id_conflict")),
        "{body}"
    );
    assert_eq!(
        web_calls(web, "/b/sanctions"),
        sanctions_before,
        "bank B was not asked"
    );
    // The first request, repeated, is still paid once and as first asked.
    let (status, body) = compliance("reuse-1", &[("amount", "7"), ("extra_memo", "first")]).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        bridge.balance(&bob, "native").await.unwrap(),
        "10017.0000000"
    );
    // While the receiving bank has not decided, the same id on the direct path (no
    // extra_memo) with another request is refused too: nothing is paid twice under one id.
    web.set("/b/sanctions", &[(202, r#"{"pending":5}"#), (200, "")]);
    let (status, body) = compliance("cross-1", &[("amount", "3")]).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (202, Some("pending")),
        "{body}"
    );
    let bob_s = bob.to_string();
    let (status, body) = bridge
        .pay(&[
            ("id", "cross-1"),
            ("destination", &bob_s),
            ("amount", "300"),
        ])
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("payment_id_conflict")),
        "{body}"
    );
    assert_eq!(
        bridge.balance(&bob, "native").await.unwrap(),
        "10017.0000000"
    );
    let (status, body) = compliance("cross-1", &[("amount", "3")]).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        bridge.balance(&bob, "native").await.unwrap(),
        "10020.0000000"
    );
    // Once sent, the same id with another request is refused by the bridge itself.
    let (status, body) = compliance("reuse-1", &[("amount", "8"), ("extra_memo", "first")]).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("payment_id_conflict")),
        "{body}"
    );

    // Compliance's refusals name the app's field, with the app's error code.
    web.set("/b/sanctions", &[(200, "")]);
    let (status, body) = compliance("bad-sender", &[("sender", "alice")]).await;
    assert_eq!(
        (status, body["code"].as_str(), body["data"]["name"].as_str()),
        (400, Some("invalid_parameter"), Some("sender")),
        "{body}"
    );
    let (status, body) = compliance("no-sender", &[("sender", "")]).await;
    assert_eq!(
        (status, body["code"].as_str(), body["data"]["name"].as_str()),
        (400, Some("missing_parameter"), Some("sender")),
        "{body}"
    );
    let (status, body) = compliance("both-ways", &[("send_max", "30"), ("dest_min", "20")]).await;
    assert_eq!(
        (status, body["data"]["name"].as_str()),
        (400, Some("dest_min")),
        "{body}"
    );
    // A receiver without AUTH_SERVER cannot take a compliance payment.
    let (status, body) = compliance("no-auth", &[("destination", "carol*bank-c.test")]).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("auth_server_not_defined")),
        "{body}"
    );

    // Forward destinations, on the compliance path and on the standard one.
    let forward: &'static [(&str, &str)] = &[
        ("forward_destination[domain]", "bank-b.test"),
        ("forward_destination[fields][acct]", "bob"),
        ("destination", ""),
    ];
    let (status, body) = compliance("forward-c", forward).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = bridge
        .pay(&[
            ("id", "forward-plain"),
            ("amount", "1"),
            ("forward_destination[domain]", "bank-b.test"),
            ("forward_destination[fields][acct]", "bob"),
        ])
        .await;
    assert_eq!(status, 200, "{body}");
    let tx = bridge.transaction(body["hash"].as_str().unwrap()).await;
    assert_eq!(
        (tx["memo_type"].as_str(), tx["memo"].as_str()),
        (Some("text"), Some("bob"))
    );
    assert_eq!(
        bridge.balance(&bob, "native").await.unwrap(),
        "10046.0000000"
    );

    // A request refused as written (nothing sent) leaves its id free for the corrected one.
    let (status, body) = compliance("fix-1", &[("destination", "nobody*bank-b.test")]).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("cannot_resolve_destination")),
        "{body}"
    );
    let (status, body) = compliance("fix-1", &[]).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        bridge.balance(&bob, "native").await.unwrap(),
        "10071.0000000"
    );

    // A wrong compliance_api_key is the operator's fault: 500, and nothing is paid.
    let a_internal = banks.a_internal.clone();
    let misconfigured = crate::common::TestBridge::start_with(backend, move |c| {
        c.compliance = Some(a_internal.parse().unwrap());
        c.compliance_api_key = Some("not-the-compliance-key".into());
    })
    .await;
    let (status, body) = misconfigured
        .pay(&[
            ("id", "wrong-key"),
            ("sender", "alice*bank-a.test"),
            ("destination", "bob*bank-b.test"),
            ("amount", "25"),
            ("extra_memo", "rent"),
        ])
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (500, Some("internal_server_error")),
        "{body}"
    );
}

/// How many times bank B's back office was called at `path` so far.
fn web_calls(web: &crate::common::banks::Web, path: &str) -> usize {
    web.calls(path)
}

service::backend_tests!(strict_send_through_compliance_crosses_the_order_book);
/// Strict send on the compliance path through two order books (XLM → EUR → USD, offers of a
/// market maker): exactly `amount` leaves, the receiver gets what the books give (checked to
/// the stroop), the path the app asked for is the path the receiving bank approved; when the
/// books cannot give `dest_min`, nothing moves and the app is told why.
async fn strict_send_through_compliance_crosses_the_order_book(backend: Backend) {
    use sandbox::dex::manage_sell_offer;
    use stellar_base::transaction::Operation;
    use stellar_base::{Asset, KeyPair, Memo};

    let banks = TwoBanks::start(backend).await;
    let (web, bridge, bob) = (&banks.web, &banks.bridge, banks.bob);
    web.set("/b/sanctions", &[(200, "")]);
    let issuer = bridge.issuer.public_key();
    let (usd, eur) = (
        Asset::credit("USD", issuer).unwrap(),
        Asset::credit("EUR", issuer).unwrap(),
    );
    bridge.trust_usd(&banks.bob_key).await;
    // A market maker holding USD and EUR: sells EUR at 2 XLM and USD at 1 EUR.
    let maker = KeyPair::random();
    bridge.sandbox.fund(maker.public_key()).await.unwrap();
    let amount = |s: &str| s.parse::<stellar_base::Amount>().unwrap();
    bridge
        .submit_ops(
            &maker,
            Memo::None,
            vec![
                Operation::change_trust(&usd, amount("100000")),
                Operation::change_trust(&eur, amount("100000")),
            ],
        )
        .await;
    bridge
        .submit_ops(
            &bridge.issuer,
            Memo::None,
            vec![
                Operation::payment(maker.public_key().into(), &usd, amount("1000")),
                Operation::payment(maker.public_key().into(), &eur, amount("1000")),
            ],
        )
        .await;
    bridge
        .submit_ops(
            &maker,
            Memo::None,
            vec![
                manage_sell_offer(&eur, &Asset::Native, amount("100"), 2, 1, 0),
                manage_sell_offer(&usd, &eur, amount("100"), 1, 1, 0),
            ],
        )
        .await;
    let issuer_s = issuer.to_string();
    let form = |id: &'static str, dest_min: &'static str| {
        let issuer = issuer_s.clone();
        async move {
            bridge
                .pay(&[
                    ("id", id),
                    ("sender", "alice*bank-a.test"),
                    ("destination", "bob*bank-b.test"),
                    ("extra_memo", "invoice 7"),
                    ("amount", "10"),
                    ("dest_min", dest_min),
                    ("asset_code", "USD"),
                    ("asset_issuer", &issuer),
                    ("path[0][asset_code]", "EUR"),
                    ("path[0][asset_issuer]", &issuer),
                ])
                .await
        }
    };
    let alice = bridge.source.public_key();
    let xlm_before = bridge.balance(&alice, "native").await.unwrap();

    // 10 XLM buy 5 EUR at 2 XLM each, which buy 5 USD at 1 EUR each (exchangeV10 rounds
    // nothing away at these prices).
    let (status, body) = form("book-1", "4.9").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        bridge.balance(&bob, "USD").await.as_deref(),
        Some("5.0000000"),
        "{backend}: what the books give"
    );
    let xlm_after = bridge.balance(&alice, "native").await.unwrap();
    let spent = xlm_before
        .parse::<stellar_base::Amount>()
        .unwrap()
        .stroops()
        - xlm_after.parse::<stellar_base::Amount>().unwrap().stroops();
    assert_eq!(
        spent,
        10 * 10_000_000 + 100,
        "exactly 10 XLM left, plus the fee"
    );
    let hash = body["hash"].as_str().unwrap();
    let operations: serde_json::Value = reqwest::get(format!(
        "{}/transactions/{hash}/operations",
        bridge.sandbox.url()
    ))
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let op = &operations["_embedded"]["records"][0];
    assert_eq!(op["type"], "path_payment_strict_send", "{op}");
    assert_eq!(op["source_amount"], "10.0000000", "{op}");
    assert_eq!(op["amount"], "5.0000000", "{op}");
    assert_eq!(op["destination_min"], "4.9000000", "{op}");
    assert_eq!(op["path"][0]["asset_code"], "EUR", "{op}");
    // The market maker's offers were crossed: 95 EUR and 95 USD left on the books.
    let offers: serde_json::Value = reqwest::get(format!(
        "{}/accounts/{}/offers",
        bridge.sandbox.url(),
        maker.public_key()
    ))
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let mut left: Vec<String> = offers["_embedded"]["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["amount"].as_str().unwrap().to_owned())
        .collect();
    left.sort();
    assert_eq!(left, ["95.0000000", "95.0000000"], "{offers}");

    // Asking for more than the books give: the receiving bank approves, the network refuses,
    // nothing moves, and the app hears why.
    let (status, body) = form("book-2", "5.5").await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("payment_under_destmin")),
        "{backend}: {body}"
    );
    assert_eq!(
        bridge.balance(&bob, "USD").await.as_deref(),
        Some("5.0000000")
    );
}
