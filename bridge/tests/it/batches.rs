//! Bulk payouts (`/batches`): packing into transactions, rows isolated by their operation's
//! result code, validation of the whole upload before anything is stored, the same id
//! answered once, and maker/checker approval.

use std::time::Duration;

use bridge::BridgeConfig;
use service::database::Backend;
use stellar_base::KeyPair;

use crate::common::*;

const APPROVER_KEY: &str = "batch-approver-key-0123";

async fn post_body(
    bridge: &TestBridge,
    path: &str,
    content_type: &str,
    body: String,
    extra: &[(&str, &str)],
) -> (u16, serde_json::Value) {
    let mut request = reqwest::Client::new()
        .post(format!("{}{path}", bridge.url))
        .header("x-api-key", API_KEY)
        .header("content-type", content_type)
        .body(body);
    for (name, value) in extra {
        request = request.header(*name, *value);
    }
    let res = request.send().await.unwrap();
    let status = res.status().as_u16();
    let text = res.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text)),
    )
}

async fn post_json(bridge: &TestBridge, body: &serde_json::Value) -> (u16, serde_json::Value) {
    post_body(
        bridge,
        "/batches",
        "application/json",
        body.to_string(),
        &[],
    )
    .await
}

/// Polls the batch until it ends; its summary.
async fn until_ended(bridge: &TestBridge, id: &str) -> serde_json::Value {
    for _ in 0..600 {
        let (status, summary) = bridge.get(&format!("/batches/{id}")).await;
        assert_eq!(status, 200, "{summary}");
        if matches!(summary["state"].as_str(), Some("finished" | "cancelled")) {
            return summary;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("batch {id} did not end");
}

fn small_packs(config: &mut BridgeConfig) {
    config.batches.ops_per_transaction = 10;
}

service::backend_tests!(multi_thread a_batch_pays_every_row_once_and_isolates_the_rows_that_fail);
async fn a_batch_pays_every_row_once_and_isolates_the_rows_that_fail(backend: Backend) {
    let bridge = TestBridge::start_with(backend, small_packs).await;
    let payees: Vec<KeyPair> = (0..3).map(|_| KeyPair::random()).collect();
    for payee in &payees {
        bridge.sandbox.fund(payee.public_key()).await.unwrap();
    }
    let untrusting = KeyPair::random();
    bridge.sandbox.fund(untrusting.public_key()).await.unwrap();
    let issuer = bridge.issuer.public_key().to_string();
    let mut payments: Vec<serde_json::Value> = (0..25)
        .map(|i| {
            serde_json::json!({
                "id": format!("r{i}"),
                "destination": payees[i % 3].public_key().to_string(),
                "amount": "1.0000001",
            })
        })
        .collect();
    // In the middle of the second transaction: it fails as a whole, only this row is at fault.
    payments.insert(
        14,
        serde_json::json!({"id": "no-trust", "destination": untrusting.public_key().to_string(),
            "amount": "5", "asset_code": "USD", "asset_issuer": issuer}),
    );
    let body = serde_json::json!({"id": "payroll-1", "payments": payments});
    let (status, created) = post_json(&bridge, &body).await;
    assert_eq!(status, 201, "{backend}: {created}");
    assert_eq!(created["total"], 26);

    let summary = until_ended(&bridge, "payroll-1").await;
    assert_eq!(summary["counts"]["succeeded"], 25, "{backend}: {summary}");
    assert_eq!(summary["counts"]["failed"], 1, "{backend}: {summary}");
    let (_, failed) = bridge.get("/batches/payroll-1/payments?state=failed").await;
    assert_eq!(failed["payments"][0]["id"], "no-trust");
    assert_eq!(failed["payments"][0]["row"], 15);
    assert_eq!(failed["payments"][0]["code"], "op_no_trust", "{failed}");

    // Each payee got exactly its rows, once: 9, 8 and 8 payments of 1.0000001.
    for (i, payee) in payees.iter().enumerate() {
        let paid = bridge.payments_to(&payee.public_key()).await;
        let expected = if i == 0 { 9 } else { 8 };
        assert_eq!(paid.len(), expected, "{backend}: payee {i}");
        assert!(paid.iter().all(|p| p["amount"] == "1.0000001"));
    }
    // Packed: 25 rows in 3 transactions of at most 10.
    let (_, page) = bridge
        .get("/batches/payroll-1/payments?state=succeeded&limit=100")
        .await;
    let hashes: std::collections::HashSet<_> = page["payments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["hash"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(hashes.len(), 3, "{backend}: {page}");

    // The same id and content is the same batch; other content is 409.
    let (status, again) = post_json(&bridge, &body).await;
    assert_eq!(
        (status, &again["state"]),
        (200, &"finished".into()),
        "{again}"
    );
    let mut other = body.clone();
    other["payments"][0]["amount"] = "2".into();
    let (status, conflict) = post_json(&bridge, &other).await;
    assert_eq!(
        (status, &conflict["code"]),
        (409, &"batch_id_conflict".into())
    );

    // The report lists every row with its outcome.
    let res = reqwest::Client::new()
        .get(format!("{}/batches/payroll-1/report.csv", bridge.url))
        .header("x-api-key", API_KEY)
        .send()
        .await
        .unwrap();
    let report = res.text().await.unwrap();
    assert_eq!(report.lines().count(), 27, "{report}");
    assert!(
        report
            .lines()
            .any(|l| l.starts_with("15,no-trust,") && l.contains("op_no_trust"))
    );
}

service::backend_tests!(a_bad_csv_is_refused_whole_with_every_bad_row);
async fn a_bad_csv_is_refused_whole_with_every_bad_row(backend: Backend) {
    let bridge = TestBridge::start(backend).await;
    let payee = KeyPair::random().public_key();
    let csv = format!(
        "id,destination,amount\n\
         a,{payee},1\n\
         b,{payee},1.00000001\n\
         c,nobody*localhost,1\n\
         a,{payee},2\n"
    );
    let (status, refused) = post_body(&bridge, "/batches?id=bad-1", "text/csv", csv, &[]).await;
    assert_eq!(status, 400, "{backend}: {refused}");
    assert_eq!(refused["code"], "invalid_batch");
    let errors = refused["data"]["errors"].as_array().unwrap();
    let rows: Vec<(u64, &str)> = errors
        .iter()
        .map(|e| (e["row"].as_u64().unwrap(), e["field"].as_str().unwrap()))
        .collect();
    assert_eq!(
        rows,
        [(2, "amount"), (3, "destination"), (4, "id")],
        "{backend}: {refused}"
    );
    // Nothing was stored.
    let (status, _) = bridge.get("/batches/bad-1").await;
    assert_eq!(status, 404);

    // Partial: the good rows are stored and sent, the bad ones stored failed (`invalid`); a
    // duplicate id still refuses the whole upload (ids are the rows' keys).
    let csv =
        format!("id,destination,amount\na,{payee},1\nb,{payee},1.00000001\nc,nobody*localhost,1\n");
    let (status, stored) = post_body(
        &bridge,
        "/batches?id=bad-2&partial=true",
        "text/csv",
        csv,
        &[],
    )
    .await;
    assert_eq!(status, 201, "{backend}: {stored}");
    let summary = until_ended(&bridge, "bad-2").await;
    assert_eq!(summary["counts"]["failed"], 3, "{summary}");
    let (_, rows) = bridge.get("/batches/bad-2/payments").await;
    let codes: Vec<&str> = rows["payments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["code"].as_str().unwrap())
        .collect();
    // `a` pays an account that does not exist: the ledger says so.
    assert_eq!(codes, ["op_no_destination", "invalid", "invalid"], "{rows}");
    let dup = format!("id,destination,amount\na,{payee},1\na,{payee},2\n");
    let (status, refused) = post_body(
        &bridge,
        "/batches?id=bad-3&partial=true",
        "text/csv",
        dup,
        &[],
    )
    .await;
    assert_eq!((status, &refused["code"]), (400, &"invalid_batch".into()));
}

service::backend_tests!(multi_thread the_api_key_cannot_approve_and_cancel_stops_the_rest);
async fn the_api_key_cannot_approve_and_cancel_stops_the_rest(backend: Backend) {
    let back_office = BackOffice::start().await;
    let mac_key = KeyPair::random();
    let (callback, mac_seed) = (
        format!("{}/batch-ended", back_office.url),
        mac_key.secret_seed(),
    );
    let bridge = TestBridge::start_with(backend, |c| {
        c.batches.require_approval = true;
        c.batches.approver_key = Some(service::Secret::new(APPROVER_KEY.to_owned()));
        c.batches.callback_url = Some(callback.parse().unwrap());
        c.mac_key = Some(KeyPair::from_secret_seed(&mac_seed).unwrap());
    })
    .await;
    let payee = KeyPair::random();
    bridge.sandbox.fund(payee.public_key()).await.unwrap();
    let batch = |id: &str| {
        serde_json::json!({"id": id, "payments": [
            {"id": "1", "destination": payee.public_key().to_string(), "amount": "3"},
            {"id": "2", "destination": payee.public_key().to_string(), "amount": "4"},
        ]})
    };
    let (status, waiting) = post_json(&bridge, &batch("checked")).await;
    assert_eq!(
        (status, &waiting["state"]),
        (201, &"awaiting_approval".into()),
        "{waiting}"
    );

    // The uploader's key is not the approver's.
    let approve = "/batches/checked/approve";
    let (status, refused) = post_body(
        &bridge,
        approve,
        "application/json",
        String::new(),
        &[("x-approver-key", API_KEY)],
    )
    .await;
    assert_eq!(
        (status, &refused["code"]),
        (403, &"approver_key_required".into())
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(bridge.payments_to(&payee.public_key()).await.is_empty());

    let (status, approved) = post_body(
        &bridge,
        approve,
        "application/json",
        String::new(),
        &[("x-approver-key", APPROVER_KEY)],
    )
    .await;
    assert_eq!(status, 200, "{approved}");
    let summary = until_ended(&bridge, "checked").await;
    assert_eq!(summary["counts"]["succeeded"], 2, "{backend}: {summary}");
    // The back office is told, with the MAC over the exact body.
    let told = loop {
        let calls = back_office.calls.lock().unwrap().clone();
        if let Some(call) = calls.into_iter().find(|c| c.path == "/batch-ended") {
            break call;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let told_summary: serde_json::Value = serde_json::from_str(&told.body).unwrap();
    assert_eq!(told_summary["id"], "checked");
    assert_eq!(told_summary["state"], "finished");
    assert_eq!(
        told.mac.as_deref(),
        Some(bridge::receive::mac::payload_mac(&mac_key, told.body.as_bytes()).as_str())
    );

    // Cancelled before approval: nothing is sent, and it cannot be approved any more.
    let (status, _) = post_json(&bridge, &batch("dropped")).await;
    assert_eq!(status, 201);
    let (status, cancelled) = post_body(
        &bridge,
        "/batches/dropped/cancel",
        "application/json",
        String::new(),
        &[],
    )
    .await;
    assert_eq!(
        (status, &cancelled["state"]),
        (200, &"cancelled".into()),
        "{cancelled}"
    );
    assert_eq!(cancelled["counts"]["cancelled"], 2);
    let (status, late) = post_body(
        &bridge,
        "/batches/dropped/approve",
        "application/json",
        String::new(),
        &[("x-approver-key", APPROVER_KEY)],
    )
    .await;
    assert_eq!((status, &late["code"]), (409, &"batch_state".into()));
    assert_eq!(bridge.payments_to(&payee.public_key()).await.len(), 2);
}

service::backend_tests!(a_compliance_row_answered_pending_is_paid_after_the_retry);
/// A row to a bank with an AUTH_SERVER goes through compliance: pending once (5 s), then
/// approved and paid, once; the direct row beside it is paid at once.
async fn a_compliance_row_answered_pending_is_paid_after_the_retry(backend: Backend) {
    let banks = crate::common::banks::TwoBanks::start(backend).await;
    let bridge = &banks.bridge;
    let direct = KeyPair::random();
    bridge.sandbox.fund(direct.public_key()).await.unwrap();
    banks
        .web
        .set("/b/sanctions", &[(202, r#"{"pending":2}"#), (200, "")]);
    let body = serde_json::json!({"id": "mixed", "sender": "alice*bank-a.test", "payments": [
        {"id": "to-bob", "destination": "bob*bank-b.test", "amount": "25"},
        {"id": "direct", "destination": direct.public_key().to_string(), "amount": "7"},
    ]});
    let (status, created) = post_json(bridge, &body).await;
    assert_eq!(status, 201, "{backend}: {created}");
    let (_, rows) = bridge.get("/batches/mixed/payments").await;
    assert_eq!(rows["payments"][0]["route"], "compliance", "{rows}");
    assert_eq!(rows["payments"][1]["route"], "direct");

    let summary = until_ended(bridge, "mixed").await;
    assert_eq!(summary["counts"]["succeeded"], 2, "{backend}: {summary}");
    let (_, rows) = bridge.get("/batches/mixed/payments").await;
    assert_eq!(rows["payments"][0]["attempts"], 2, "asked twice: {rows}");
    assert_eq!(
        bridge.balance(&banks.bob, "native").await.unwrap(),
        "10025.0000000",
        "{backend}: paid once"
    );
    assert_eq!(
        bridge
            .balance(&direct.public_key(), "native")
            .await
            .unwrap(),
        "10007.0000000"
    );
}

service::backend_tests!(multi_thread a_bridge_killed_mid_batch_pays_every_row_once_after_restart);
/// A bridge is killed (its runtime dropped: no shutdown) while a batch is half sent; another
/// bridge on the same database takes the batch over once its claim lapses and finishes it:
/// every row paid exactly once.
async fn a_bridge_killed_mid_batch_pays_every_row_once_after_restart(backend: Backend) {
    let mut network = sandbox::SandboxConfig::for_tests();
    network.close_interval = Duration::from_millis(300);
    let fast_claims = |c: &mut BridgeConfig| {
        c.batches.ops_per_transaction = 4;
        c.batches.concurrency = 2;
        c.batches.claim_ttl_seconds = 2;
        c.pending_wait_seconds = 0;
    };
    let survivor = TestBridge::start_on(backend, network, fast_claims).await;
    let payee = KeyPair::random();
    survivor.sandbox.fund(payee.public_key()).await.unwrap();

    let doomed_config = config(
        &survivor._db,
        &survivor.sandbox,
        &survivor.source,
        &survivor.issuer,
        fast_claims,
    );
    let (url_tx, url_rx) = std::sync::mpsc::channel();
    let (kill_tx, kill_rx) = std::sync::mpsc::channel::<()>();
    let doomed = std::thread::spawn(move || {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        runtime.block_on(async {
            let app = bridge::Application::build(doomed_config).await.unwrap();
            url_tx.send(app.url()).unwrap();
            app.spawn();
        });
        kill_rx.recv().unwrap();
        runtime.shutdown_background();
    });
    let doomed_url = url_rx.recv().unwrap();

    // 40 rows of distinct amounts: what the payee receives shows each row's payments.
    let amounts: Vec<String> = (1..=40).map(|i| format!("1.{i:07}")).collect();
    let payments: Vec<_> = amounts
        .iter()
        .enumerate()
        .map(|(i, amount)| {
            serde_json::json!({"id": format!("k{i}"), "destination": payee.public_key().to_string(),
                "amount": amount})
        })
        .collect();
    let res = reqwest::Client::new()
        .post(format!("{doomed_url}/batches"))
        .header("x-api-key", API_KEY)
        .json(&serde_json::json!({"id": "crash", "payments": payments}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    // Kill it once some rows are paid and some are not.
    for _ in 0..600 {
        let (_, summary) = survivor.get("/batches/crash").await;
        let succeeded = summary["counts"]["succeeded"].as_i64().unwrap_or(0);
        if succeeded > 0 {
            assert!(
                succeeded < 40,
                "{backend}: the batch ended before the kill: {summary}"
            );
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    kill_tx.send(()).unwrap();
    doomed.join().unwrap();

    let summary = until_ended(&survivor, "crash").await;
    assert_eq!(summary["counts"]["succeeded"], 40, "{backend}: {summary}");
    let mut received: Vec<String> = survivor
        .payments_to(&payee.public_key())
        .await
        .iter()
        .map(|p| p["amount"].as_str().unwrap().to_owned())
        .collect();
    received.sort();
    assert_eq!(received, amounts, "{backend}: every row paid exactly once");
}
