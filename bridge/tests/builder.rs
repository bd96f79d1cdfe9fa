//! `/builder`: signed envelopes the sandbox accepts, and errors that name the operation field.

mod common;

use common::*;
use service::testing::backends;
use stellar_base::KeyPair;

async fn build(bridge: &TestBridge, request: serde_json::Value) -> (u16, serde_json::Value) {
    let res = reqwest::Client::new()
        .post(format!("{}/builder", bridge.url))
        .header("x-api-key", API_KEY)
        .header("content-type", "application/json")
        .body(request.to_string())
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap())
}

async fn submit(bridge: &TestBridge, envelope: &str) -> (u16, serde_json::Value) {
    let res = reqwest::Client::new()
        .post(format!("{}/transactions", bridge.sandbox.url()))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(
            url::form_urlencoded::Serializer::new(String::new())
                .append_pair("tx", envelope)
                .finish(),
        )
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap())
}

#[tokio::test]
async fn built_envelopes_are_accepted_by_the_network() {
    for backend in backends() {
        let bridge = TestBridge::start(backend).await;
        let source = bridge.source.public_key().to_string();
        let seed = bridge.source.secret_seed();
        let new_account = KeyPair::random().public_key().to_string();
        let issuer = bridge.issuer.public_key().to_string();
        let (status, body) = build(
        &bridge,
        serde_json::json!({
            "source": source,
            "operations": [
                {"type": "create_account", "body": {"destination": new_account, "starting_balance": "12.5"}},
                {"type": "payment", "body": {"destination": new_account, "amount": "1", "asset": {}}},
                {"type": "change_trust", "body": {"asset": {"code": "USD", "issuer": issuer}}},
                {"type": "manage_data", "body": {"name": "note", "data": "aGVsbG8="}},
                {"type": "set_options", "body": {"home_domain": "bank.test", "set_flags": [1]}},
                {"type": "bump_sequence", "body": {"bump_to": "0"}}
            ],
            "signers": [seed]
        }),
    )
    .await;
        assert_eq!(status, 200, "{body}");
        let (status, result) =
            submit(&bridge, body["transaction_envelope"].as_str().unwrap()).await;
        assert_eq!(status, 200, "{result}");
        assert_eq!(
            bridge
                .balance(&new_account.parse().unwrap(), "native")
                .await
                .unwrap(),
            "13.5000000"
        );
        let account = bridge.account(&bridge.source.public_key()).await.unwrap();
        assert_eq!(account["home_domain"], "bank.test");
        assert_eq!(account["data"]["note"], "aGVsbG8=");
    }
}

#[tokio::test]
async fn bad_operations_are_named_by_index_and_field() {
    for backend in backends() {
        let bridge = TestBridge::start(backend).await;
        let source = bridge.source.public_key().to_string();
        let cases = [
            (
                serde_json::json!({"operations": [{"type": "inflation", "body": {}}]}),
                "source",
            ),
            (
                serde_json::json!({"source": "GBAD", "operations": []}),
                "source",
            ),
            (
                serde_json::json!({"source": source, "operations": []}),
                "operations",
            ),
            (
                serde_json::json!({"source": source, "operations": [{"type": "teleport", "body": {}}]}),
                "operations[0][type]",
            ),
            (
                serde_json::json!({"source": source, "operations": [
                    {"type": "inflation", "body": {}},
                    {"type": "payment", "body": {"destination": source, "amount": "-3", "asset": {}}}
                ]}),
                "operations[1][body][amount]",
            ),
            (
                serde_json::json!({"source": source, "operations": [
                    {"type": "payment", "body": {"destination": "nope", "amount": "3", "asset": {}}}
                ]}),
                "operations[0][body][destination]",
            ),
            (
                serde_json::json!({"source": source, "operations": [
                    {"type": "manage_offer", "body": {"selling": {}, "buying": {"code": "USD"}, "amount": "1", "price": "1"}}
                ]}),
                "operations[0][body][buying]",
            ),
            (
                serde_json::json!({"source": source, "sequence_number": "abc", "operations": [{"type": "inflation", "body": {}}]}),
                "sequence_number",
            ),
            (
                serde_json::json!({"source": source, "operations": [{"type": "inflation", "body": {}}], "signers": ["SBAD"]}),
                "signers[0]",
            ),
        ];
        for (request, name) in cases {
            let (status, body) = build(&bridge, request.clone()).await;
            assert_eq!(status, 400, "{request}: {body}");
            assert_eq!(body["data"]["name"], name, "{request}: {body}");
        }
        let res = reqwest::Client::new()
            .post(format!("{}/builder", bridge.url))
            .header("x-api-key", API_KEY)
            .body("{not json")
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 400);
    }
}
