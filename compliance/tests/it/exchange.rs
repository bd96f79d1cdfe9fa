//! The whole SEP-3 exchange between two compliance servers, on every database backend.

use crate::common;

use common::*;
use service::database::Backend;
use stellar_base::Memo;
use stellar_base::transaction::decode_transaction;

fn memo_of(transaction_xdr: &str) -> String {
    let tx = decode_transaction(transaction_xdr).unwrap();
    Memo::from_xdr(&tx.memo).value().unwrap()
}

service::backend_tests!(approved_payment_is_stored_and_its_attachment_received);
async fn approved_payment_is_stored_and_its_attachment_received(backend: Backend) {
    let banks = TwoBanks::start(backend, BankOptions::default()).await;
    banks
        .b
        .office
        .script("fetch_info", &[(200, r#"{"name":"Bob Jones"}"#)]);
    let (status, body) = banks.send("p1", &[]).await;
    assert_eq!(status, 200, "{backend}: {body}");
    let auth = &body["auth_response"];
    assert_eq!(
        (auth["info_status"].as_str(), auth["tx_status"].as_str()),
        (Some("ok"), Some("ok"))
    );
    assert_eq!(auth["dest_info"], r#"{"name":"Bob Jones"}"#);

    // B asked its back office with what A's customer sent and the federation route.
    let sanctions = banks.b.office.calls_to("sanctions");
    assert_eq!(
        sanctions[0]["sender"],
        r#"{"first_name":"Alice","last_name":"Smith"}"#
    );
    let ask = &banks.b.office.calls_to("ask_user")[0];
    assert_eq!(
        (ask["amount"].as_str(), ask["asset_code"].as_str()),
        ("20.0000000", "USD")
    );
    assert_eq!(ask["asset_issuer"], ISSUER);
    assert_eq!(banks.b.office.calls_to("fetch_info")[0]["address"], "bob");

    // The transaction pays bob's account with the attachment's hash as memo.
    let xdr = body["transaction_xdr"].as_str().unwrap();
    let memo = memo_of(xdr);
    let (status, received) = post_form(
        &format!("{}/receive", banks.b.internal),
        &[("memo", &memo)],
        Some(API_KEY),
    )
    .await;
    assert_eq!(status, 200, "{backend}: {received}");
    let data: serde_json::Value = serde_json::from_str(received["data"].as_str().unwrap()).unwrap();
    assert_eq!(data["sender"], "alice*bank-a.test");
    assert_eq!(data["tx"], xdr);
    let attachment: serde_json::Value =
        serde_json::from_str(data["attachment"].as_str().unwrap()).unwrap();
    assert_eq!(attachment["transaction"]["route"], "bob");
    assert_eq!(attachment["transaction"]["extra"], "invoice 7");

    // Nothing about it at A's /receive: A only sent.
    let (status, _) = post_form(
        &format!("{}/receive", banks.a.internal),
        &[("memo", &memo)],
        Some(API_KEY),
    )
    .await;
    assert_eq!(status, 404);
}

service::backend_tests!(pending_is_retried_with_the_same_data_until_approved);
async fn pending_is_retried_with_the_same_data_until_approved(backend: Backend) {
    let banks = TwoBanks::start(backend, BankOptions::default()).await;
    banks.b.office.script(
        "sanctions",
        &[(202, r#"{"pending":30}"#), (202, "not json"), (200, "")],
    );
    let (status, first) = banks.send("p2", &[]).await;
    assert_eq!(status, 200);
    assert_eq!(first["auth_response"]["tx_status"], "pending");
    assert_eq!(first["auth_response"]["pending"], 30);
    let memo = memo_of(first["transaction_xdr"].as_str().unwrap());
    let (status, _) = post_form(
        &format!("{}/receive", banks.b.internal),
        &[("memo", &memo)],
        Some(API_KEY),
    )
    .await;
    assert_eq!(status, 404, "{backend}: nothing stored while pending");

    // The same id with another request is refused and the stored one is left alone.
    let (status, conflict) = banks.send("p2", &[("amount", "999")]).await;
    assert_eq!(
        (status, conflict["code"].as_str()),
        (409, Some("payment_id_conflict")),
        "{backend}: {conflict}"
    );
    assert_eq!(
        banks.b.office.calls_to("sanctions").len(),
        1,
        "B was not asked"
    );
    let (_, second) = banks.send("p2", &[]).await;
    assert_eq!(
        second["auth_response"]["pending"], 600,
        "unparseable pending → 600"
    );
    let (_, third) = banks.send("p2", &[]).await;
    assert_eq!(third["auth_response"]["tx_status"], "ok", "{backend}");
    // The same stored request each time: same nonce, so the same memo and transaction.
    assert_eq!(first["transaction_xdr"], third["transaction_xdr"]);
    assert_eq!(second["transaction_xdr"], third["transaction_xdr"]);
    let (status, _) = post_form(
        &format!("{}/receive", banks.b.internal),
        &[("memo", &memo)],
        Some(API_KEY),
    )
    .await;
    assert_eq!(status, 200);
    // A's customer KYC was fetched once: retries do not rebuild the request.
    assert_eq!(banks.a.office.calls_to("fetch_info").len(), 1);
}

service::backend_tests!(denials_and_errors_are_answered_and_nothing_is_stored);
async fn denials_and_errors_are_answered_and_nothing_is_stored(backend: Backend) {
    let banks = TwoBanks::start(backend, BankOptions::default()).await;
    banks.b.office.script(
        "sanctions",
        &[(403, ""), (400, r#"{"error":"bad sender"}"#), (500, "")],
    );
    banks
        .b
        .office
        .script("ask_user", &[(202, ""), (202, ""), (202, "")]);
    let (status, body) = banks.send("d1", &[]).await;
    assert_eq!(status, 200);
    assert_eq!(body["auth_response"]["tx_status"], "denied", "{backend}");
    assert_eq!(body["auth_response"]["info_status"], "pending");
    assert!(body["auth_response"].get("dest_info").is_none());
    let memo = memo_of(body["transaction_xdr"].as_str().unwrap());
    let (status, _) = post_form(
        &format!("{}/receive", banks.b.internal),
        &[("memo", &memo)],
        Some(API_KEY),
    )
    .await;
    assert_eq!(status, 404);

    let (_, body) = banks.send("d2", &[]).await;
    assert_eq!(body["auth_response"]["tx_status"], "error");
    assert_eq!(body["auth_response"]["error"], "bad sender");

    // A sanctions callback that fails is a failure, never a guess.
    let (status, body) = banks.send("d3", &[]).await;
    assert_eq!(status, 500, "{body}");
    assert_eq!(body["code"], "internal_server_error");
}

service::backend_tests!(allow_lists_decide_when_there_is_no_ask_user);
async fn allow_lists_decide_when_there_is_no_ask_user(backend: Backend) {
    let banks = TwoBanks::start(
        backend,
        BankOptions {
            callbacks: &["sanctions", "fetch_info"],
            ..BankOptions::default()
        },
    )
    .await;
    let (_, body) = banks.send("a1", &[]).await;
    assert_eq!(body["auth_response"]["info_status"], "denied", "{backend}");

    let key = banks.a.key.public_key().to_string();
    let b = &banks.b.internal;
    let allow_user = [
        ("name", "Bank A"),
        ("domain", "bank-a.test"),
        ("public_key", key.as_str()),
        ("user_id", "alice"),
    ];
    let (status, _) = post_form(&format!("{b}/allow_access"), &allow_user, Some(API_KEY)).await;
    assert_eq!(status, 200);
    // Idempotent.
    let (status, _) = post_form(&format!("{b}/allow_access"), &allow_user, Some(API_KEY)).await;
    assert_eq!(status, 200);
    let (_, body) = banks.send("a2", &[]).await;
    assert_eq!(body["auth_response"]["info_status"], "ok", "{backend}");

    let remove = [("domain", "bank-a.test"), ("user_id", "alice")];
    let (status, _) = post_form(&format!("{b}/remove_access"), &remove, Some(API_KEY)).await;
    assert_eq!(status, 200);
    let (_, body) = banks.send("a3", &[]).await;
    assert_eq!(body["auth_response"]["info_status"], "denied");

    let allow_fi = [
        ("name", "Bank A"),
        ("domain", "bank-a.test"),
        ("public_key", key.as_str()),
    ];
    post_form(&format!("{b}/allow_access"), &allow_fi, Some(API_KEY)).await;
    let (_, body) = banks.send("a4", &[]).await;
    assert_eq!(body["auth_response"]["info_status"], "ok");

    for bad in [
        &[
            ("name", "x"),
            ("domain", "not a domain"),
            ("public_key", key.as_str()),
        ][..],
        &[
            ("name", "x"),
            ("domain", "bank-a.test"),
            ("public_key", "GBAD"),
        ],
        &[("domain", "bank-a.test"), ("public_key", key.as_str())],
    ] {
        let (status, body) = post_form(&format!("{b}/allow_access"), bad, Some(API_KEY)).await;
        assert_eq!(status, 400, "{bad:?}: {body}");
    }
}

#[tokio::test]
async fn send_refuses_what_it_cannot_resolve_or_read() {
    let banks = TwoBanks::start(service::database::Backend::Sqlite, BankOptions::default()).await;
    let (status, body) = banks
        .send("r1", &[("destination", "nobody*bank-b.test")])
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("cannot_resolve_destination"))
    );
    let federation = &banks.federation_url;
    // Bank C resolves its names but names no AUTH_SERVER: it takes no compliance payments,
    // and nothing is stored for the request.
    banks.host.set(
        "bank-c.test",
        format!("FEDERATION_SERVER = \"{federation}\"\n"),
    );
    let (status, body) = banks
        .send("c1", &[("destination", "carol*bank-c.test")])
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("auth_server_not_defined")),
        "{body}"
    );
    // Strict send carries its minimum; both limits at once is refused naming dest_min.
    let (status, body) = banks
        .send(
            "s1",
            &[("dest_min", "19"), ("asset_code", ""), ("asset_issuer", "")],
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let tx = decode_transaction(body["transaction_xdr"].as_str().unwrap()).unwrap();
    assert!(
        matches!(
            &tx.operations[0].body,
            stellar_base::xdr::OperationBody::PathPaymentStrictSend(op)
                if op.send_amount == 200_000_000 && op.dest_min == 190_000_000
        ),
        "{:?}",
        tx.operations[0].body
    );
    let (status, body) = banks
        .send("s2", &[("dest_min", "19"), ("send_max", "21")])
        .await;
    assert_eq!(
        (status, body["data"]["name"].as_str()),
        (400, Some("dest_min")),
        "{body}"
    );
    let (status, body) = banks
        .send("r2", &[("destination", "bob*nowhere.invalid")])
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("cannot_resolve_destination")),
        "{body}"
    );
    let (status, body) = banks.send("", &[]).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("missing_parameter"))
    );
    for (field, value) in [
        ("amount", "-1"),
        ("amount", "0"),
        ("amount", "1.00000001"),
        ("source", "GBAD"),
        ("sender", "alice"),
        ("asset_issuer", "GBAD"),
        ("destination", "bob"),
    ] {
        let (status, body) = banks.send("r4", &[(field, value)]).await;
        assert_eq!(
            (status, body["code"].as_str()),
            (400, Some("invalid_parameter")),
            "{field}={value}: {body}"
        );
    }
    // The internal port wants its key.
    let (status, _) = post_form(&format!("{}/send", banks.a.internal), &[("id", "x")], None).await;
    assert_eq!(status, 401);
    let (status, _) = post_form(
        &format!("{}/send", banks.a.internal),
        &[("id", "x")],
        Some("wrong-key-0123456789"),
    )
    .await;
    assert_eq!(status, 401);
}

/// The operator's view: `/health` on both ports, `/metrics` on the internal port only (behind
/// its key), counting the requests just made by route and status.
#[tokio::test]
async fn health_on_both_ports_and_metrics_behind_the_internal_key() {
    let banks = TwoBanks::start(service::database::Backend::Sqlite, BankOptions::default()).await;
    let client = reqwest::Client::new();
    for base in [&banks.a.external, &banks.a.internal] {
        let res = client.get(format!("{base}/health")).send().await.unwrap();
        assert_eq!(res.status(), 200, "{base}");
    }
    let (status, _) = banks.send("m1", &[]).await;
    assert_eq!(status, 200);
    let (status, _) = banks.send("m2", &[("amount", "-1")]).await;
    assert_eq!(status, 400);

    let metrics = |key: Option<&'static str>| {
        let mut req = client.get(format!("{}/metrics", banks.a.internal));
        if let Some(key) = key {
            req = req.header("x-api-key", key);
        }
        async move {
            let res = req.send().await.unwrap();
            (res.status().as_u16(), res.text().await.unwrap())
        }
    };
    assert_eq!(metrics(None).await.0, 401, "the key guards /metrics");
    let (status, text) = metrics(Some(API_KEY)).await;
    assert_eq!(status, 200);
    let count = |status: &str| {
        text.lines()
            .find(|l| {
                l.starts_with("http_requests_total{")
                    && l.contains("route=\"/send\"")
                    && l.contains(&format!("status=\"{status}\""))
            })
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|n| n.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // The recorder is process-wide and tests run in parallel: at least ours are counted.
    assert!(count("200") >= 1.0 && count("400") >= 1.0, "{text}");
    assert!(text.contains("http_request_duration_seconds"), "{text}");
    let res = client
        .get(format!("{}/metrics", banks.a.external))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404, "no metrics on the public port");
}

service::backend_tests!(send_asks_federation_for_the_address_as_typed);
/// `/send` to `erin*Bank-B.test` asks bank B's federation server for `erin*Bank-B.test`, as
/// typed (the legacy server did; an operator's table may hold mixed-case domains), while the
/// stellar.toml read is the lower-cased domain's. The table is matched case-sensitively on
/// every backend (`BINARY` on MySQL, whose default collation ignores case), so only the address
/// as typed finds erin.
async fn send_asks_federation_for_the_address_as_typed(backend: Backend) {
    use diesel::connection::SimpleConnection;

    let banks = TwoBanks::start(backend, BankOptions::default()).await;
    let db = federation::testing::people(backend);
    service::database::Database::connect(&db.settings())
        .unwrap()
        .run_blocking(|conn| {
            conn.batch_execute(&format!(
                "CREATE TABLE cased_people (id VARCHAR(56) NOT NULL, name VARCHAR(64) NOT NULL, \
                   domain VARCHAR(128) NOT NULL, memo_type VARCHAR(8), memo VARCHAR(128)); \
                 INSERT INTO cased_people VALUES ('{BOB_ACCOUNT}', 'erin', 'Bank-B.test', 'text', 'erin');"
            ))?;
            Ok(())
        })
        .unwrap();
    let domain_matches = match backend {
        Backend::Mysql => "domain = BINARY ?",
        _ => "domain = ?",
    };
    let queries = federation::config::Queries {
        federation: format!(
            "SELECT id, memo_type, memo FROM cased_people WHERE name = ? AND {domain_matches}"
        ),
        ..federation::testing::queries()
    };
    let cased = federation::testing::FederationServer::start_with(db, queries).await;
    // Bank B's stellar.toml (under its lower-case name) now points at that server.
    banks.host.set(
        "bank-b.test",
        format!(
            "SIGNING_KEY = \"{}\"\nAUTH_SERVER = \"{}\"\nFEDERATION_SERVER = \"{}\"\n",
            banks.b.key.public_key(),
            banks.b.external,
            cased.federation_url()
        ),
    );

    let (status, body) = banks
        .send("cased-1", &[("destination", "erin*Bank-B.test")])
        .await;
    assert_eq!(status, 200, "{backend}: {body}");
    assert_eq!(
        body["auth_response"]["tx_status"], "ok",
        "{backend}: {body}"
    );
    // The route is erin's memo: the federation server found the mixed-case row.
    assert_eq!(
        banks.b.office.calls_to("fetch_info")[0]["address"],
        "erin",
        "{backend}"
    );
    // Lower-cased, the same name is not found there.
    let (status, body) = banks
        .send("cased-2", &[("destination", "erin*bank-b.test")])
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("cannot_resolve_destination")),
        "{backend}: {body}"
    );
}

/// The sender's address travels as typed, mixed-case domain included, as the legacy server
/// sent it: the receiving bank verifies it against the (case-insensitive) domain's
/// stellar.toml and its back office sees what the sender's bank wrote.
#[tokio::test]
async fn the_senders_address_travels_as_typed() {
    let banks = TwoBanks::start(Backend::Sqlite, BankOptions::default()).await;
    let (status, body) = banks
        .send("typed-1", &[("sender", "alice*Bank-A.test")])
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["auth_response"]["tx_status"], "ok", "{body}");
    assert_eq!(
        banks.a.office.calls_to("fetch_info")[0]["address"],
        "alice*Bank-A.test"
    );
    let memo = memo_of(body["transaction_xdr"].as_str().unwrap());
    let (status, received) = post_form(
        &format!("{}/receive", banks.b.internal),
        &[("memo", &memo)],
        Some(API_KEY),
    )
    .await;
    assert_eq!(status, 200, "{received}");
    let data: serde_json::Value = serde_json::from_str(received["data"].as_str().unwrap()).unwrap();
    assert_eq!(data["sender"], "alice*Bank-A.test");
}

service::backend_tests!(a_200_kb_extra_memo_is_sent_stored_and_received_on_every_backend);
/// A `/send` whose `extra_memo` is 200 KB (within the 256 KiB body limit): approved, stored on
/// both sides and read back whole by the receiver, alike on every backend (it answered 500 on
/// MariaDB and PostgreSQL when the attachment columns were 64 KiB TEXT).
async fn a_200_kb_extra_memo_is_sent_stored_and_received_on_every_backend(backend: Backend) {
    let banks = TwoBanks::start(backend, BankOptions::default()).await;
    banks
        .b
        .office
        .script("fetch_info", &[(200, r#"{"name":"Bob Jones"}"#)]);
    let extra = "x".repeat(200 * 1024);
    let (status, body) = banks.send("big", &[("extra_memo", &extra)]).await;
    assert_eq!(status, 200, "{backend}: {body}");
    let memo = memo_of(body["transaction_xdr"].as_str().unwrap());
    let (status, received) = post_form(
        &format!("{}/receive", banks.b.internal),
        &[("memo", &memo)],
        Some(API_KEY),
    )
    .await;
    assert_eq!(status, 200, "{backend}: {received}");
    let data: serde_json::Value = serde_json::from_str(received["data"].as_str().unwrap()).unwrap();
    let attachment: serde_json::Value =
        serde_json::from_str(data["attachment"].as_str().unwrap()).unwrap();
    assert_eq!(
        attachment["transaction"]["extra"].as_str().map(str::len),
        Some(200 * 1024),
        "{backend}"
    );
}
