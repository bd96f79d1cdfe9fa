//! The compliance path end to end: bridge A → compliance A → compliance B (with its back
//! office and federation) → approval → payment on the sandbox. Ok, pending then ok on repeat,
//! and denied.

mod common;

use common::banks::{COMPLIANCE_KEY, TwoBanks};

#[tokio::test]
async fn compliance_payments_are_approved_retried_and_denied() {
    for backend in service::testing::backends() {
        let banks = TwoBanks::start(backend).await;
        let (web, bridge, bob, b_internal) =
            (&banks.web, &banks.bridge, banks.bob, &banks.b_internal);
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
}
