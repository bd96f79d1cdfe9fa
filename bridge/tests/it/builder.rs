//! `/builder`: signed envelopes the sandbox accepts, and errors that name the operation field.

use crate::common::*;
use service::database::Backend;
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

service::backend_tests!(built_envelopes_are_accepted_by_the_network);
async fn built_envelopes_are_accepted_by_the_network(backend: Backend) {
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
    let (status, result) = submit(&bridge, body["transaction_envelope"].as_str().unwrap()).await;
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

service::backend_tests!(bad_operations_are_named_by_index_and_field);
async fn bad_operations_are_named_by_index_and_field(backend: Backend) {
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

service::backend_tests!(envelopes_wait_for_a_second_signer_and_take_the_requested_time_bounds);
/// Two key holders sign one `/builder` envelope minutes apart: the envelope outlives the
/// first signer's minute, and the request can set its own time bounds.
async fn envelopes_wait_for_a_second_signer_and_take_the_requested_time_bounds(backend: Backend) {
    let bridge = TestBridge::start(backend).await;
    let treasurer = KeyPair::random();
    bridge.sandbox.fund(treasurer.public_key()).await.unwrap();
    let first = bridge.source.clone();
    let source = first.public_key().to_string();
    // The source account needs both keys for a payment: weights 1 + 1, medium threshold 2.
    let (status, body) = build(
        &bridge,
        serde_json::json!({
            "source": source,
            "operations": [{"type": "set_options", "body": {
                "signer": {"public_key": treasurer.public_key().to_string(), "weight": 1},
                "medium_threshold": 2, "high_threshold": 2
            }}],
            "signers": [first.secret_seed()]
        }),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (status, result) = submit(&bridge, body["transaction_envelope"].as_str().unwrap()).await;
    assert_eq!(status, 200, "{result}");

    let destination = treasurer.public_key().to_string();
    let (status, body) = build(
        &bridge,
        serde_json::json!({
            "source": source,
            "operations": [{"type": "payment", "body": {"destination": destination, "amount": "7", "asset": {}}}],
            "signers": [first.secret_seed()]
        }),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    // Two minutes later on the network's clock, the second key holder signs and submits.
    bridge
        .sandbox
        .faults()
        .advance_clock(std::time::Duration::from_secs(120));
    let mut envelope = stellar_base::transaction::Envelope::from_base64(
        body["transaction_envelope"].as_str().unwrap(),
    )
    .unwrap();
    envelope
        .sign(&treasurer, &bridge.sandbox.network())
        .unwrap();
    let (status, result) = submit(&bridge, &envelope.to_base64()).await;
    assert_eq!(status, 200, "{result}");
    assert_eq!(
        bridge
            .balance(&treasurer.public_key(), "native")
            .await
            .unwrap(),
        "10007.0000000"
    );

    // The request's own bounds, in the envelope as asked.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let payment = serde_json::json!([{"type": "payment", "body": {"destination": destination, "amount": "1", "asset": {}}}]);
    let bounds = |body: &serde_json::Value| {
        let envelope = stellar_base::transaction::Envelope::from_base64(
            body["transaction_envelope"].as_str().unwrap(),
        )
        .unwrap();
        match envelope.into_xdr() {
            stellar_base::xdr::TransactionEnvelope::Tx(v1) => match v1.tx.cond {
                stellar_base::xdr::Preconditions::Time(tb) => (tb.min_time.0, tb.max_time.0),
                other => panic!("{other:?}"),
            },
            other => panic!("{other:?}"),
        }
    };
    let min = now + 10;
    let max = now + 7200;
    let (status, body) = build(
        &bridge,
        serde_json::json!({"source": source, "operations": payment,
            "time_bounds": {"min_time": min, "max_time": max.to_string()}}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(bounds(&body), (min, max));
    let (status, body) = build(
        &bridge,
        serde_json::json!({"source": source, "operations": payment, "time_bounds": {"max_time": 0}}),
    )
    .await;
    assert_eq!(
        (status, bounds(&body)),
        (200, (0, 0)),
        "no upper bound, as legacy"
    );
    let (status, body) = build(
        &bridge,
        serde_json::json!({"source": source, "operations": payment, "timeout": 300}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (_, max_time) = bounds(&body);
    assert!((now + 300..now + 330).contains(&max_time), "{max_time}");

    for (request, name) in [
        (serde_json::json!({"timeout": 0}), "timeout"),
        (serde_json::json!({"timeout": "soon"}), "timeout"),
        (
            serde_json::json!({"timeout": 5, "time_bounds": {"max_time": max}}),
            "timeout",
        ),
        (
            serde_json::json!({"time_bounds": {"max_time": now - 10}}),
            "time_bounds[max_time]",
        ),
        (
            serde_json::json!({"time_bounds": {"min_time": max, "max_time": min}}),
            "time_bounds[max_time]",
        ),
        (
            serde_json::json!({"time_bounds": {"min_time": -1}}),
            "time_bounds[min_time]",
        ),
    ] {
        let mut request = request;
        request["source"] = source.clone().into();
        request["operations"] = payment.clone();
        let (status, body) = build(&bridge, request.clone()).await;
        assert_eq!(
            (status, body["data"]["name"].as_str()),
            (400, Some(name)),
            "{request}: {body}"
        );
    }
}

/// Flag lists are bits: a sum that wraps around, or a bit given twice, is refused.
#[tokio::test]
async fn flag_lists_that_overflow_or_repeat_are_refused() {
    let bridge = TestBridge::start(service::database::Backend::Sqlite).await;
    let source = bridge.source.public_key().to_string();
    for flags in [
        serde_json::json!([4294967295u64, 1]),
        serde_json::json!([1, 1]),
        serde_json::json!([-1]),
    ] {
        for kind in ["set_options", "set_trust_line_flags"] {
            let mut body = serde_json::json!({"set_flags": flags,
                "trustor": source, "asset": {"code": "USD", "issuer": bridge.issuer.public_key().to_string()}});
            if kind == "set_options" {
                body = serde_json::json!({"set_flags": flags});
            }
            let (status, answer) = build(
                &bridge,
                serde_json::json!({"source": source, "operations": [{"type": kind, "body": body}]}),
            )
            .await;
            assert_eq!(
                (status, answer["data"]["name"].as_str()),
                (400, Some("operations[0][body][set_flags]")),
                "{kind} {flags}: {answer}"
            );
        }
    }
}
