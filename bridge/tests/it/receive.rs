//! The receiving side against the sandbox: every recorded kind reaches the back office with
//! the legacy form and a valid MAC; what is not ours is recorded and not delivered; restarts,
//! stream faults and failing callbacks lose and duplicate nothing.

use std::collections::HashSet;
use std::time::Duration;

use crate::common::{BackOffice, Callback, TestBridge, receiving_config};
use base64::Engine;
use hmac::{Hmac, Mac};
use service::database::Backend;
use sha2::Sha256;
use stellar_base::transaction::Operation;
use stellar_base::{AccountAddress, Amount, Asset, KeyPair, Memo};
use wiremock::matchers::any;
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

fn amount(s: &str) -> Amount {
    s.parse().unwrap()
}

/// The vector's algorithm: base64(HMAC-SHA256(raw seed bytes, body)).
fn mac_ok(key: &KeyPair, call: &Callback) -> bool {
    let mut mac = Hmac::<Sha256>::new_from_slice(&key.seed_bytes()).unwrap();
    mac.update(call.body.as_bytes());
    let expected = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    call.mac.as_deref() == Some(expected.as_str()) && call.legacy_mac == call.mac
}

fn delivered_ids(office: &BackOffice) -> Vec<String> {
    office
        .calls_to("/receive")
        .iter()
        .map(|c| c.form["id"].clone())
        .collect()
}

/// Unix seconds of `2026-11-21T10:00:00[.fff]Z`; panics on anything else.
fn utc_seconds(text: &str) -> i64 {
    let bad = format!("not an RFC 3339 UTC time: {text:?}");
    let (date, clock) = text
        .strip_suffix('Z')
        .and_then(|t| t.split_once('T'))
        .expect(&bad);
    let clock = clock.split('.').next().unwrap();
    let numbers = |s: &str, sep: char| -> Vec<u8> {
        s.split(sep)
            .map(|n| u8::try_from(n.parse::<u32>().expect(&bad) % 100).unwrap())
            .collect()
    };
    let (d, t) = (numbers(date, '-'), numbers(clock, ':'));
    assert!(d.len() == 3 && t.len() == 3, "{bad}");
    let year: i32 = date[..4].parse().expect(&bad);
    let date = time::Date::from_calendar_date(year, time::Month::try_from(d[1]).expect(&bad), d[2])
        .expect(&bad);
    let clock = time::Time::from_hms(t[0], t[1], t[2]).expect(&bad);
    time::PrimitiveDateTime::new(date, clock)
        .assume_utc()
        .unix_timestamp()
}

async fn funded(bridge: &TestBridge) -> KeyPair {
    let key = KeyPair::random();
    bridge.sandbox.fund(key.public_key()).await.unwrap();
    key
}

service::backend_tests!(every_kind_reaches_the_back_office_signed);
async fn every_kind_reaches_the_back_office_signed(backend: Backend) {
    let office = BackOffice::start().await;
    let receiver = KeyPair::random();
    let mac_key = KeyPair::random();
    let (bridge, _receiving) = TestBridge::start_receiving(backend, |c| {
        receiving_config(c, &receiver.public_key(), &office);
        c.mac_key = Some(mac_key.clone());
    })
    .await;
    let me = receiver.public_key();
    // The create_account made before the bridge started is the first incoming payment.
    bridge.trust_usd(&receiver).await;
    let usd = Asset::credit("USD", bridge.issuer.public_key()).unwrap();
    let eur = Asset::credit("EUR", bridge.issuer.public_key()).unwrap();
    let source = bridge.source.clone();
    let to = AccountAddress::Account(me);
    let text = bridge
        .submit_ops(
            &source,
            Memo::Text("alice".into()),
            vec![Operation::payment(to, &Asset::Native, amount("1.5"))],
        )
        .await;
    bridge
        .submit_ops(
            &bridge.issuer,
            Memo::Id(42),
            vec![Operation::payment(to, &usd, amount("20"))],
        )
        .await;
    bridge
        .submit_ops(
            &source,
            Memo::None,
            vec![Operation::payment(
                AccountAddress::Muxed { key: me, id: 77 },
                &Asset::Native,
                amount("2"),
            )],
        )
        .await;
    bridge
        .submit_ops(
            &source,
            Memo::Hash([7; 32]),
            vec![
                Operation::path_payment_strict_receive(
                    &Asset::Native,
                    amount("5"),
                    to,
                    &Asset::Native,
                    amount("3"),
                    &[],
                )
                .unwrap(),
                Operation::path_payment_strict_send(
                    &Asset::Native,
                    amount("4"),
                    to,
                    &Asset::Native,
                    amount("4"),
                    &[],
                )
                .unwrap(),
            ],
        )
        .await;
    let merged = funded(&bridge).await;
    bridge
        .submit_ops(
            &merged,
            Memo::Text("merge".into()),
            vec![Operation::account_merge(to)],
        )
        .await;
    // Not delivered: outgoing, and an asset not in [[assets]].
    bridge
        .submit_ops(
            &receiver,
            Memo::None,
            vec![
                Operation::payment(source.public_key().into(), &Asset::Native, amount("1")),
                Operation::change_trust(&eur, amount("1000")),
            ],
        )
        .await;
    bridge
        .submit_ops(
            &bridge.issuer,
            Memo::None,
            vec![Operation::payment(to, &eur, amount("5"))],
        )
        .await;

    office
        .wait_for(20, "7 deliveries", |calls| {
            calls.iter().filter(|c| c.path == "/receive").count() >= 7
        })
        .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let calls = office.calls_to("/receive");
    assert_eq!(calls.len(), 7, "{calls:#?}");
    for call in &calls {
        assert!(mac_ok(&mac_key, call), "{backend}: bad MAC on {call:?}");
        let keys: Vec<&str> = call
            .body
            .split('&')
            .map(|kv| kv.split('=').next().unwrap())
            .collect();
        assert_eq!(
            keys,
            [
                "amount",
                "asset_code",
                "asset_issuer",
                "data",
                "from",
                "id",
                "memo",
                "memo_type",
                "route",
                "transaction_id"
            ]
        );
    }
    // Callbacks run concurrently: find each payment by what it carries.
    let find = |what: &str, pred: &dyn Fn(&Callback) -> bool| {
        let found: Vec<&Callback> = calls.iter().filter(|c| pred(c)).collect();
        assert_eq!(found.len(), 1, "{backend}: {what}: {calls:#?}");
        found[0].form.clone()
    };
    let created = find("create_account", &|c| c.form["amount"] == "10000.0000000");
    assert_eq!(created["asset_code"], "XLM");
    let text_memo = find("text memo", &|c| c.form["memo"] == "alice");
    assert_eq!(
        (text_memo["memo_type"].as_str(), text_memo["route"].as_str()),
        ("text", "alice")
    );
    assert_eq!(text_memo["amount"], "1.5000000");
    assert_eq!(text_memo["from"], source.public_key().to_string());
    assert_eq!(text_memo["transaction_id"], text);
    let credit = find("USD", &|c| c.form["asset_code"] == "USD");
    assert_eq!(credit["route"], "42");
    assert_eq!(
        credit["asset_issuer"],
        bridge.issuer.public_key().to_string()
    );
    let muxed = find("muxed", &|c| c.form["route"] == "77");
    assert_eq!(muxed["memo_type"], "none");
    let strict_receive = find("strict receive", &|c| c.form["amount"] == "3.0000000");
    assert_eq!(
        (
            strict_receive["memo_type"].as_str(),
            strict_receive["route"].as_str()
        ),
        ("hash", "")
    );
    find("strict send", &|c| c.form["amount"] == "4.0000000");
    let merge = find("merge", &|c| {
        c.form["from"] == merged.public_key().to_string()
    });
    assert_eq!(
        (merge["asset_code"].as_str(), merge["asset_issuer"].as_str()),
        ("XLM", "")
    );
    // 10000 funded, minus the fee of the merge transaction.
    assert_eq!(merge["amount"], "9999.9999900");

    // The rest is recorded with a status.
    let (status, rows) = bridge.get("/admin/received-payments?page=1").await;
    assert_eq!(status, 200);
    let statuses: Vec<&str> = rows
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses[0], "asset_not_allowed", "{rows:#}");
    assert_eq!(statuses[1], "outgoing");
    assert!(
        statuses[2..].iter().all(|s| *s == "success"),
        "{statuses:?}"
    );
    // Timestamps: RFC 3339 in UTC; delivered_at only once delivered.
    for row in rows.as_array().unwrap() {
        let processed = utc_seconds(row["processed_at"].as_str().unwrap());
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        assert!(
            (now - processed).abs() < 600,
            "{backend}: processed_at is not UTC now: {row:#}"
        );
        if row["status"] == "success" {
            let delivered = utc_seconds(row["delivered_at"].as_str().unwrap());
            assert!(delivered >= processed, "{backend}: {row:#}");
        } else {
            assert!(row["delivered_at"].is_null(), "{backend}: {row:#}");
        }
    }
    let (status, page2) = bridge.get("/admin/received-payments?page=2").await;
    assert_eq!(status, 200);
    assert_eq!(page2.as_array().unwrap().len(), 0);
    let id = rows[0]["id"].as_i64().unwrap();
    let (status, one) = bridge.get(&format!("/admin/received-payments/{id}")).await;
    assert_eq!(status, 200);
    assert_eq!(one["operation"]["asset_code"], "EUR");
    assert_eq!(one["payment"]["processed_at"], rows[0]["processed_at"]);
    assert!(one["payment"]["delivered_at"].is_null());
    assert_eq!(bridge.get("/admin/received-payments/999999").await.0, 404);
    let (status, health) = bridge.get("/health").await;
    assert_eq!(status, 200);
    assert_eq!(health["listeners"][0]["state"], "streaming", "{health}");
    assert_eq!(health["listeners"][0]["delivery_backlog"], 0);
    let (status, sent) = bridge.get("/admin/sent-transactions?page=1").await;
    assert_eq!((status, sent.as_array().map(Vec::len)), (200, Some(0)));
}

service::backend_tests!(a_crash_mid_stream_loses_and_duplicates_nothing);
async fn a_crash_mid_stream_loses_and_duplicates_nothing(backend: Backend) {
    let office = BackOffice::start().await;
    let receiver = KeyPair::random();
    let edit = |c: &mut bridge::BridgeConfig| receiving_config(c, &receiver.public_key(), &office);
    let (bridge, receiving) = TestBridge::start_receiving(backend, edit).await;
    let store = receiving.store().clone();
    let account = receiver.public_key().to_string();
    let recorded = || async { store.count(&account).await.unwrap() };
    // The account's creation first, then a backlog of thousands held back by the sandbox.
    while recorded().await == 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let faults = bridge.sandbox.faults();
    faults.stall_streams(true);
    let total = 3_000;
    bridge.flood(&receiver, total).await;
    // Let the stream flow; crash as soon as part of it is recorded, with the stream stalled
    // again so that the rest cannot be recorded first, however fast the listener is.
    faults.stall_streams(false);
    while recorded().await <= 1 {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    faults.stall_streams(true);
    receiving.abort();
    faults.stall_streams(false);
    let before = store.all(&account).await.unwrap().len();
    assert!(
        before < total + 1,
        "{backend}: crash came too late ({before})"
    );
    let (_url, restarted) = bridge.restart(edit).await;
    office.wait_for_distinct(90, total + 1).await;
    let rows = restarted.store().all(&account).await.unwrap();
    assert_eq!(rows.len(), total + 1, "{backend}");
    let unique: HashSet<_> = rows.iter().map(|r| r.operation_id.clone()).collect();
    assert_eq!(unique.len(), total + 1);
    let delivered: HashSet<_> = delivered_ids(&office).into_iter().collect();
    assert_eq!(delivered, unique);
    // At least once, with a bound: a crash repeats only callbacks that were in flight or whose
    // outcome was not yet written, `delivery_concurrency` (8) at most.
    let repeated = office.calls_to("/receive").len() - unique.len();
    eprintln!("{backend}: {repeated} callback(s) repeated after the crash");
    assert!(repeated <= 8, "{backend}: {repeated} callbacks repeated");
    restarted.shutdown().await;
}

service::backend_tests!(dropped_and_stalled_streams_lose_nothing);
async fn dropped_and_stalled_streams_lose_nothing(backend: Backend) {
    let office = BackOffice::start().await;
    let receiver = KeyPair::random();
    let (bridge, _receiving) = TestBridge::start_receiving(backend, |c| {
        receiving_config(c, &receiver.public_key(), &office);
        c.receiving.stream_silence_ms = 1_500;
    })
    .await;
    let faults = bridge.sandbox.faults();
    for round in 0..4 {
        bridge.flood(&receiver, 100).await;
        match round {
            0 | 2 => faults.close_streams(),
            _ => {
                faults.stall_streams(true);
                bridge.flood(&receiver, 50).await;
                tokio::time::sleep(Duration::from_millis(1_200)).await;
                faults.stall_streams(false);
            }
        }
    }
    let total = 4 * 100 + 2 * 50 + 1;
    office.wait_for_distinct(30, total).await;
    let (_, health) = bridge.get("/health").await;
    assert!(
        health["listeners"][0]["reconnects"].as_u64().unwrap() >= 2,
        "{backend}: {health}"
    );
}

service::backend_tests!(a_failing_callback_is_retried_until_it_recovers);
async fn a_failing_callback_is_retried_until_it_recovers(backend: Backend) {
    let office = BackOffice::start().await;
    office.answer(500);
    let receiver = KeyPair::random();
    let (bridge, _receiving) = TestBridge::start_receiving(backend, |c| {
        receiving_config(c, &receiver.public_key(), &office);
        c.receiving.max_attempts = 1_000;
    })
    .await;
    bridge.flood(&receiver, 5).await;
    office
        .wait_for(10, "retries", |calls| calls.len() >= 20)
        .await;
    office.answer(200);
    // Every payment is delivered once the callback recovers.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let rows = loop {
        let (_, rows) = bridge.get("/admin/received-payments").await;
        let rows = rows.as_array().unwrap().clone();
        if rows.len() == 6 && rows.iter().all(|r| r["status"] == "success") {
            break rows;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{backend}: not all delivered: {rows:#?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(
        rows.iter().all(|r| r["attempts"].as_i64().unwrap() > 1),
        "{backend}: {rows:#?}"
    );
    assert!(office.calls_to("/error").is_empty(), "{backend}");
}

service::backend_tests!(a_callback_that_never_recovers_ends_in_the_error_callback_and_reprocess);
async fn a_callback_that_never_recovers_ends_in_the_error_callback_and_reprocess(backend: Backend) {
    let office = BackOffice::start().await;
    office.answer(503);
    office.answer_error(503);
    let receiver = KeyPair::random();
    let (bridge, _receiving) = TestBridge::start_receiving(backend, |c| {
        receiving_config(c, &receiver.public_key(), &office);
        c.receiving.max_attempts = 3;
    })
    .await;
    office
        .wait_for(10, "the error callback", |calls| {
            calls.iter().any(|c| c.path == "/error")
        })
        .await;
    assert_eq!(office.calls_to("/receive").len(), 3, "{backend}");
    let error = &office.calls_to("/error")[0];
    assert_eq!(error.form["error"], "receive callback answered 503");
    assert_eq!(error.form["attempts"], "3");
    let id = error.form["id"].clone();
    // The error callback refused it too (503): the payment stays `failing` and the report is
    // retried until the error callback takes it; then `failed`.
    let (_, one) = bridge.get(&format!("/admin/received-payments/{id}")).await;
    assert_eq!(one["payment"]["status"], "failing", "{backend}: {one:#}");
    office.answer_error(200);
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let (_, one) = bridge.get(&format!("/admin/received-payments/{id}")).await;
        if one["payment"]["status"] == "failed" {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{backend}: never failed: {one:#}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        office.calls_to("/error").len(),
        2,
        "{backend}: reported again"
    );
    assert_eq!(
        office.calls_to("/receive").len(),
        3,
        "{backend}: not delivered again"
    );

    let (status, body) = bridge.post("/reprocess", &[("operation_id", &id)]).await;
    assert_eq!(
        (status, &body["status"]),
        (400, &serde_json::json!("error"))
    );
    office.answer(200);
    let (status, body) = bridge.post("/reprocess", &[("operation_id", &id)]).await;
    assert_eq!((status, body), (200, serde_json::json!({"status": "ok"})));
    assert_eq!(office.calls_to("/receive").len(), 5);
    let (status, body) = bridge.post("/reprocess", &[("operation_id", &id)]).await;
    assert_eq!(status, 400);
    assert_eq!(
        body["message"],
        "Trying to reprocess successful transaction without force"
    );
    let (status, _) = bridge
        .post("/reprocess", &[("operation_id", &id), ("force", "true")])
        .await;
    assert_eq!(status, 200);
    let (status, body) = bridge.post("/reprocess", &[("operation_id", "123")]).await;
    assert_eq!(
        (status, &body["message"]),
        (
            400,
            &serde_json::json!("Payment has not been processed yet")
        )
    );
}

service::backend_tests!(a_payment_between_two_watched_accounts_is_delivered_once);
async fn a_payment_between_two_watched_accounts_is_delivered_once(backend: Backend) {
    let office = BackOffice::start().await;
    let (a, b) = (KeyPair::random(), KeyPair::random());
    let (bridge, receiving) = TestBridge::start_receiving(backend, |c| {
        receiving_config(c, &a.public_key(), &office);
        c.accounts.receiving_accounts = vec![b.public_key(), a.public_key()];
    })
    .await;
    let hash = bridge
        .submit_ops(
            &a,
            Memo::Text("to b".into()),
            vec![Operation::payment(
                b.public_key().into(),
                &Asset::Native,
                amount("3"),
            )],
        )
        .await;
    office
        .wait_for(20, "three deliveries", |calls| calls.len() >= 3)
        .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let calls = office.calls_to("/receive");
    assert_eq!(calls.len(), 3, "{backend}: {calls:#?}");
    let paid: Vec<_> = calls
        .iter()
        .filter(|c| c.form["transaction_id"] == hash)
        .collect();
    assert_eq!(paid.len(), 1);
    assert_eq!(paid[0].form["route"], "to b");
    let rows = receiving
        .store()
        .all(&b.public_key().to_string())
        .await
        .unwrap();
    assert_eq!(rows.len(), 2, "{backend}: {rows:#?}");
    assert!(rows.iter().all(|r| r.status == "success"), "{backend}");
}

service::backend_tests!(the_silence_watchdog_reopens_a_stalled_stream);
async fn the_silence_watchdog_reopens_a_stalled_stream(backend: Backend) {
    let office = BackOffice::start().await;
    let receiver = KeyPair::random();
    let (bridge, _receiving) = TestBridge::start_receiving(backend, |c| {
        receiving_config(c, &receiver.public_key(), &office);
        // Only the watchdog can notice: the transport idle timeout is far away.
        c.horizon_client.stream_idle_timeout_seconds = 60;
        c.receiving.stream_silence_ms = 400;
    })
    .await;
    office
        .wait_for(10, "the first payment", |calls| calls.len() == 1)
        .await;
    let faults = bridge.sandbox.faults();
    faults.stall_streams(true);
    bridge.flood(&receiver, 10).await;
    // Still stalled: only the watchdog can reopen the stream.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let (_, health) = bridge.get("/health").await;
        if health["listeners"][0]["reconnects"].as_u64().unwrap() >= 1 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{backend}: the watchdog never reopened the stream: {health}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(office.calls_to("/receive").len(), 1, "{backend}");
    faults.stall_streams(false);
    office
        .wait_for(10, "every payment", |calls| calls.len() >= 11)
        .await;
}

/// A Horizon whose payments stream (and page) holds one record that cannot be read (a
/// wiremock server); its URL and the server.
async fn broken_horizon() -> (String, MockServer) {
    const RECORD: &str = r#"{"id":"8589938689","paging_token":"8589938689","type":3}"#;
    let server = MockServer::start().await;
    Mock::given(any())
        .respond_with(|request: &Request| {
            let stream = request
                .headers
                .get("accept")
                .is_some_and(|v| v.as_bytes().starts_with(b"text/event-stream"));
            if stream {
                ResponseTemplate::new(200).set_body_raw(
                    format!("event: open\ndata: \"hello\"\n\nid: 8589938689\ndata: {RECORD}\n\n"),
                    "text/event-stream",
                )
            } else {
                ResponseTemplate::new(200).set_body_raw(
                    format!(r#"{{"_embedded":{{"records":[{RECORD}]}}}}"#),
                    "application/json",
                )
            }
        })
        .mount(&server)
        .await;
    (server.uri(), server)
}

service::backend_tests!(an_unreadable_record_is_recorded_flagged_and_never_skipped);
async fn an_unreadable_record_is_recorded_flagged_and_never_skipped(backend: Backend) {
    let office = BackOffice::start().await;
    let receiver = KeyPair::random();
    let (horizon, _server) = broken_horizon().await;
    let (_bridge, receiving) = TestBridge::start_receiving(backend, |c| {
        receiving_config(c, &receiver.public_key(), &office);
        c.horizon = horizon;
    })
    .await;
    let account = receiver.public_key().to_string();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let rows = loop {
        let rows = receiving.store().all(&account).await.unwrap();
        if !rows.is_empty() || std::time::Instant::now() > deadline {
            break rows;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(rows.len(), 1, "{backend}: {rows:#?}");
    assert_eq!(rows[0].status, "unparseable");
    assert_eq!(rows[0].operation_id, "8589938689");
    assert!(rows[0].raw.contains(r#""type":3"#), "{}", rows[0].raw);
    assert!(rows[0].last_error.as_deref().unwrap().contains("type"));
    assert_eq!(
        receiving.store().cursor(&account).await.unwrap().as_deref(),
        Some("8589938689")
    );
    // Re-reading it (the stream sends it again after every reconnect) records nothing new.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(receiving.store().all(&account).await.unwrap().len(), 1);
    assert!(office.calls.lock().unwrap().is_empty());
}

service::backend_tests!(a_receiving_account_missing_from_the_network_stops_start_up);
async fn a_receiving_account_missing_from_the_network_stops_start_up(backend: Backend) {
    use sandbox::{Sandbox, SandboxConfig};
    let sandbox = Sandbox::start(SandboxConfig::for_tests()).await.unwrap();
    let (source, issuer) = (KeyPair::random(), KeyPair::random());
    sandbox.fund(source.public_key()).await.unwrap();
    sandbox.fund(issuer.public_key()).await.unwrap();
    let db = service::testing::TestDatabase::new(backend);
    let office = BackOffice::start().await;
    let (present, missing) = (
        KeyPair::random().public_key(),
        KeyPair::random().public_key(),
    );
    sandbox.fund(present).await.unwrap();
    let build = |edit: &dyn Fn(&mut bridge::BridgeConfig)| {
        let config = crate::common::config(&db, &sandbox, &source, &issuer, |c| {
            receiving_config(c, &present, &office);
            edit(c);
        });
        bridge::Application::build(config)
    };

    // One of the watched accounts does not exist: start-up fails, naming it.
    let error = build(&|c| c.accounts.receiving_accounts = vec![missing])
        .await
        .unwrap_err()
        .to_string();
    assert!(
        error.contains(&missing.to_string()) && error.contains("does not exist"),
        "{backend}: {error}"
    );
    assert!(!error.contains(&present.to_string()), "{backend}: {error}");

    // Without a receive callback the listener does not run, and nothing is checked.
    let app = build(&|c| {
        c.accounts.receiving_account_id = Some(missing);
        c.callbacks.receive = None;
    })
    .await
    .unwrap();
    app.receiving().shutdown().await;
    drop(app);

    // A Horizon that cannot be reached does not prevent start-up (a warning is logged; the
    // listener reconnects with backoff).
    let app = build(&|c| {
        c.accounts.receiving_account_id = Some(missing);
        c.horizon = "http://127.0.0.1:9".into();
        c.horizon_client.retries = 0;
    })
    .await
    .unwrap();
    app.receiving().shutdown().await;
    // Stopped (SQLite serves one instance at a time).
    drop(app);

    // Every account exists: it starts.
    let app = build(&|_| {}).await.unwrap();
    app.receiving().shutdown().await;
}

service::backend_tests!(a_back_office_down_for_long_gets_every_payment_when_it_returns);
/// The back office is down far past the old ten-attempt window: the payment is retried at the
/// capped interval and never given up, `/health` says `degraded` with the backlog and its age,
/// and once the back office is back the payment is delivered without any `/reprocess`.
async fn a_back_office_down_for_long_gets_every_payment_when_it_returns(backend: Backend) {
    let office = BackOffice::start().await;
    office.answer(503);
    let receiver = KeyPair::random();
    let (bridge, receiving) = TestBridge::start_receiving(backend, |c| {
        receiving_config(c, &receiver.public_key(), &office);
        c.receiving.degraded_after_seconds = 1;
    })
    .await;
    office
        .wait_for(30, "30 refused deliveries", |calls| {
            calls.iter().filter(|c| c.path == "/receive").count() >= 30
        })
        .await;
    let rows = receiving
        .store()
        .all(&receiver.public_key().to_string())
        .await
        .unwrap();
    assert_eq!(rows.len(), 1, "{backend}");
    assert_eq!(
        rows[0].status, "pending",
        "{backend}: never given up: {rows:#?}"
    );
    assert!(office.calls_to("/error").is_empty(), "{backend}");
    let (_, health) = bridge.get("/health").await;
    assert_eq!(health["status"], "degraded", "{backend}: {health}");
    let delivery = &health["listeners"][0]["delivery"];
    assert_eq!(delivery["backlog"], 1, "{health}");
    assert!(
        delivery["oldest_undelivered_seconds"].as_i64().unwrap() >= 1,
        "{health}"
    );

    office.answer(200);
    let operation = rows[0].operation_id.clone();
    // Retried every `retry_max_ms` (100 ms here) at most: delivered soon after.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let row = receiving
            .store()
            .by_operation_id(&operation)
            .await
            .unwrap()
            .unwrap();
        if row.status == "success" {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{backend}: {row:#?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (_, health) = bridge.get("/health").await;
    assert_eq!(health["status"], "ok", "{backend}: {health}");
    receiving.shutdown().await;
}
