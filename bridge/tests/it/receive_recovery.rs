//! The receiving side when things go wrong around it: a Horizon that cannot serve a payment's
//! transaction (the memo is read before delivery, never guessed), a back office that never
//! answers while the bridge shuts down (bounded by the grace; in-flight payments stay
//! `pending` for the next start), and the operator's views (`/metrics`,
//! `/admin/sent-transactions`) with real content.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::common::{BackOffice, TestBridge, receiving_config};
use service::database::Backend;
use stellar_base::transaction::Operation;
use stellar_base::{AccountAddress, Asset, KeyPair, Memo};

/// The operation id and paging token of the fake Horizon's one payment.
const OPERATION: &str = "8589938689";
/// Its transaction.
const HASH: &str = "5f3c3e1a3a2f5b0c7d9e1f2a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e";

/// A Horizon whose payments stream holds one real-looking payment of 5 XLM to `receiver`
/// without the embedded transaction (as when `join=transactions` is ignored), and whose
/// `/transactions/{hash}` answers 503 until `serve_transaction` is set, then the transaction
/// with the text memo `alice`. `fetches` counts the requests for the transaction.
struct MemolessHorizon {
    url: String,
    serve_transaction: Arc<AtomicBool>,
    fetches: Arc<AtomicUsize>,
}

impl MemolessHorizon {
    fn start(receiver: &stellar_base::PublicKey) -> Self {
        use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
        let sender = KeyPair::random().public_key().to_string();
        let receiver = receiver.to_string();
        let record = serde_json::json!({
            "id": OPERATION, "paging_token": OPERATION, "type": "payment",
            "transaction_hash": HASH, "transaction_successful": true,
            "source_account": sender, "from": sender, "to": receiver,
            "amount": "5.0000000", "asset_type": "native",
            "created_at": "2026-01-01T00:00:00Z",
        })
        .to_string();
        let transaction = serde_json::json!({
            "id": HASH, "hash": HASH, "ledger": 2, "successful": true,
            "memo_type": "text", "memo": "alice", "envelope_xdr": "", "result_xdr": "",
            "fee_charged": "100", "created_at": "2026-01-01T00:00:00Z",
            "paging_token": OPERATION, "source_account": sender,
        })
        .to_string();
        let serve_transaction = Arc::new(AtomicBool::new(false));
        let fetches = Arc::new(AtomicUsize::new(0));
        let (serve, count) = (serve_transaction.clone(), fetches.clone());
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = HttpServer::new(move || {
            let (record, transaction) = (record.clone(), transaction.clone());
            let (receiver, serve, count) = (receiver.clone(), serve.clone(), count.clone());
            App::new().default_service(web::to(move |req: HttpRequest| {
                let path = req.path().to_owned();
                let query = req.query_string().to_owned();
                let (record, transaction) = (record.clone(), transaction.clone());
                let (receiver, serve, count) = (receiver.clone(), serve.clone(), count.clone());
                async move {
                    if path == format!("/transactions/{HASH}") {
                        count.fetch_add(1, Ordering::SeqCst);
                        return if serve.load(Ordering::SeqCst) {
                            HttpResponse::Ok()
                                .content_type("application/json")
                                .body(transaction)
                        } else {
                            HttpResponse::ServiceUnavailable()
                                .content_type("application/problem+json")
                                .body(r#"{"title":"Service Unavailable","status":503}"#)
                        };
                    }
                    if path == format!("/accounts/{receiver}") {
                        return HttpResponse::Ok()
                            .content_type("application/json")
                            .body(format!(r#"{{"id":"{receiver}","sequence":"1"}}"#));
                    }
                    if path == format!("/accounts/{receiver}/payments") {
                        // The record once, after the greeting, unless the cursor is past it;
                        // then the stream stays open and silent.
                        let past = query.contains(&format!("cursor={OPERATION}"));
                        let mut text = "event: open\ndata: \"hello\"\n\n".to_owned();
                        if !past {
                            text.push_str(&format!("id: {OPERATION}\ndata: {record}\n\n"));
                        }
                        let body = futures_util::stream::once(async move {
                            Ok::<_, actix_web::Error>(web::Bytes::from(text))
                        })
                        .chain(futures_util::stream::pending());
                        return HttpResponse::Ok()
                            .content_type("text/event-stream")
                            .streaming(body);
                    }
                    HttpResponse::NotFound().finish()
                }
            }))
        })
        .workers(1)
        .listen(listener)
        .unwrap()
        .run();
        tokio::spawn(server);
        Self {
            url: format!("http://{addr}"),
            serve_transaction,
            fetches,
        }
    }
}

use futures_util::StreamExt;

/// Waits up to `secs` for `done`, panicking with `what`.
async fn eventually<F: std::future::Future<Output = bool>>(
    secs: u64,
    what: &str,
    mut done: impl FnMut() -> F,
) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !done().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

service::backend_tests!(a_payment_whose_memo_cannot_be_read_waits_until_it_can);
async fn a_payment_whose_memo_cannot_be_read_waits_until_it_can(backend: Backend) {
    let office = BackOffice::start().await;
    let receiver = KeyPair::random();
    let horizon = MemolessHorizon::start(&receiver.public_key());
    let (bridge, receiving) = TestBridge::start_receiving(backend, |c| {
        receiving_config(c, &receiver.public_key(), &office);
        c.horizon = horizon.url.clone();
        c.horizon_client.retries = 0;
        c.receiving.max_attempts = 1_000;
    })
    .await;
    let store = receiving.store().clone();
    // The transaction is asked for again and again (with backoff), and the payment waits.
    eventually(20, "repeated transaction fetches", || async {
        horizon.fetches.load(Ordering::SeqCst) >= 5
    })
    .await;
    let row = store.by_operation_id(OPERATION).await.unwrap().unwrap();
    assert_eq!(row.status, "pending", "{backend}: {row:#?}");
    assert_eq!(
        (row.memo_type.as_deref(), row.memo.as_deref()),
        (None, None)
    );
    assert!(
        row.last_error.as_deref().unwrap_or("").contains("memo"),
        "{backend}: {row:#?}"
    );
    assert!(office.calls_to("/receive").is_empty(), "{backend}");
    assert!(office.calls_to("/error").is_empty(), "{backend}");
    // `/reprocess` reads the transaction again, and refuses while it cannot.
    let (status, body) = bridge
        .post("/reprocess", &[("operation_id", OPERATION)])
        .await;
    assert_eq!(status, 400, "{backend}: {body}");
    assert!(
        body["message"].as_str().unwrap().contains("memo"),
        "{backend}: {body}"
    );
    assert!(office.calls_to("/receive").is_empty(), "{backend}");

    // Once Horizon serves it, the payment is delivered with its memo and route.
    horizon.serve_transaction.store(true, Ordering::SeqCst);
    office
        .wait_for(20, "the delivery", |calls| {
            calls.iter().any(|c| c.path == "/receive")
        })
        .await;
    let calls = office.calls_to("/receive");
    assert_eq!(calls.len(), 1, "{backend}: {calls:#?}");
    let form = &calls[0].form;
    assert_eq!(form["id"], OPERATION);
    assert_eq!(form["transaction_id"], HASH);
    assert_eq!(
        (form["memo_type"].as_str(), form["memo"].as_str()),
        ("text", "alice")
    );
    assert_eq!(form["route"], "alice");
    assert_eq!(form["amount"], "5.0000000");
    eventually(10, "success", || async {
        store
            .by_operation_id(OPERATION)
            .await
            .unwrap()
            .unwrap()
            .status
            == "success"
    })
    .await;
    let row = store.by_operation_id(OPERATION).await.unwrap().unwrap();
    assert_eq!(
        (row.memo_type.as_deref(), row.memo.as_deref()),
        (Some("text"), Some("alice"))
    );
    assert_eq!(row.route.as_deref(), Some("alice"));
    receiving.shutdown().await;
}

service::backend_tests!(a_payment_whose_memo_is_never_read_fails_visibly_and_reprocess_reads_it);
async fn a_payment_whose_memo_is_never_read_fails_visibly_and_reprocess_reads_it(backend: Backend) {
    let office = BackOffice::start().await;
    let receiver = KeyPair::random();
    let horizon = MemolessHorizon::start(&receiver.public_key());
    let (bridge, receiving) = TestBridge::start_receiving(backend, |c| {
        receiving_config(c, &receiver.public_key(), &office);
        c.horizon = horizon.url.clone();
        c.horizon_client.retries = 0;
        c.receiving.max_attempts = 3;
    })
    .await;
    let store = receiving.store().clone();
    office
        .wait_for(20, "the error callback", |calls| {
            calls.iter().any(|c| c.path == "/error")
        })
        .await;
    let error = &office.calls_to("/error")[0];
    assert_eq!(error.form["id"], OPERATION);
    assert!(error.form["error"].contains("memo"), "{backend}: {error:?}");
    eventually(10, "failed", || async {
        store
            .by_operation_id(OPERATION)
            .await
            .unwrap()
            .unwrap()
            .status
            == "failed"
    })
    .await;
    assert!(office.calls_to("/receive").is_empty(), "{backend}");
    let (status, _) = bridge
        .post("/reprocess", &[("operation_id", OPERATION)])
        .await;
    assert_eq!(status, 400, "{backend}");
    assert!(office.calls_to("/receive").is_empty(), "{backend}");

    horizon.serve_transaction.store(true, Ordering::SeqCst);
    let (status, body) = bridge
        .post("/reprocess", &[("operation_id", OPERATION)])
        .await;
    assert_eq!(status, 200, "{backend}: {body}");
    let calls = office.calls_to("/receive");
    assert_eq!(calls.len(), 1, "{backend}: {calls:#?}");
    assert_eq!(calls[0].form["memo"], "alice");
    assert_eq!(calls[0].form["route"], "alice");
    let row = store.by_operation_id(OPERATION).await.unwrap().unwrap();
    assert_eq!(row.status, "success", "{backend}: {row:#?}");
    assert_eq!(row.memo.as_deref(), Some("alice"));
    receiving.shutdown().await;
}

/// Sends `count` lumen payments to `to` in one transaction.
async fn pay_many(bridge: &TestBridge, to: &KeyPair, count: usize) {
    let ops = (0..count)
        .map(|_| {
            Operation::payment(
                AccountAddress::Account(to.public_key()),
                &Asset::Native,
                "0.0000001".parse().unwrap(),
            )
        })
        .collect();
    bridge
        .submit_ops(&bridge.source, Memo::Text("many".into()), ops)
        .await;
}

/// Grace used by the shutdown tests, and the margin allowed on top of it.
const GRACE_SECONDS: u64 = 2;
const MARGIN: Duration = Duration::from_secs(5);

service::backend_tests!(a_hung_back_office_cannot_hold_shutdown_past_the_grace);
async fn a_hung_back_office_cannot_hold_shutdown_past_the_grace(backend: Backend) {
    let hung = BackOffice::hung().await;
    let receiver = KeyPair::random();
    let edit = |c: &mut bridge::BridgeConfig| {
        receiving_config(c, &receiver.public_key(), &hung);
        // Far longer than the grace: only the grace can end the wait.
        c.receiving.callback_timeout_ms = 300_000;
        c.receiving.delivery_concurrency = 3;
        c.shutdown_grace_seconds = GRACE_SECONDS;
    };
    let (bridge, receiving) = TestBridge::start_receiving(backend, edit).await;
    let store = receiving.store().clone();
    let account = receiver.public_key().to_string();
    pay_many(&bridge, &receiver, 10).await;
    eventually(20, "every payment recorded", || async {
        store.count(&account).await.unwrap() == 11
    })
    .await;
    // The account's creation is recorded first and its callback hangs (the later payments
    // wait for it: a round ends when its callbacks do).
    hung.wait_for(20, "a callback in flight", |calls| !calls.is_empty())
        .await;
    let in_flight = hung.calls_to("/receive").len();

    let started = Instant::now();
    let limit = Duration::from_secs(GRACE_SECONDS) + MARGIN;
    tokio::time::timeout(limit, receiving.shutdown())
        .await
        .unwrap_or_else(|_| panic!("{backend}: shutdown took longer than {limit:?}"));
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(GRACE_SECONDS * 1_000 - 100),
        "{backend}: in-flight deliveries were not given the grace ({took:?})"
    );
    // Nothing more is attempted once stopped: only what was in flight was ever sent.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(hung.calls_to("/receive").len(), in_flight, "{backend}");
    let rows = store.all(&account).await.unwrap();
    assert_eq!(rows.len(), 11);
    for row in &rows {
        assert_eq!(
            (row.status.as_str(), row.attempts),
            ("pending", 0),
            "{backend}"
        );
    }

    // The next start delivers every one of them.
    let office = BackOffice::start().await;
    let (_url, restarted) = bridge
        .restart(|c| {
            receiving_config(c, &receiver.public_key(), &office);
        })
        .await;
    office
        .wait_for(30, "every payment after the restart", |calls| {
            calls
                .iter()
                .map(|c| c.form["id"].clone())
                .collect::<HashSet<_>>()
                .len()
                == 11
        })
        .await;
    restarted.shutdown().await;
}

service::backend_tests!(sigterm_with_a_hung_back_office_ends_within_the_grace);
/// The whole server's stop (`run_until`, as on SIGTERM): the HTTP side and the receiving side
/// stop together, within the grace.
async fn sigterm_with_a_hung_back_office_ends_within_the_grace(backend: Backend) {
    use sandbox::{Sandbox, SandboxConfig};
    let hung = BackOffice::hung().await;
    let receiver = KeyPair::random();
    let sandbox = Sandbox::start(SandboxConfig::for_tests()).await.unwrap();
    let (source, issuer) = (KeyPair::random(), KeyPair::random());
    for key in [&source, &issuer, &receiver] {
        sandbox.fund(key.public_key()).await.unwrap();
    }
    let db = service::testing::TestDatabase::new(backend);
    let config = crate::common::config(&db, &sandbox, &source, &issuer, |c| {
        receiving_config(c, &receiver.public_key(), &hung);
        c.receiving.callback_timeout_ms = 300_000;
        c.shutdown_grace_seconds = GRACE_SECONDS;
    });
    let app = bridge::Application::build(config).await.unwrap();
    let (url, receiving) = (app.url(), app.receiving());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(app.run_until(async {
        let _ = stopped.await;
    }));
    // The receiving account's creation is delivered, and hangs.
    hung.wait_for(20, "a callback in flight", |calls| !calls.is_empty())
        .await;
    let started = Instant::now();
    stop.send(()).unwrap();
    let limit = Duration::from_secs(GRACE_SECONDS) + MARGIN;
    let result = tokio::time::timeout(limit, running)
        .await
        .unwrap_or_else(|_| panic!("{backend}: stopping took longer than {limit:?}"))
        .unwrap();
    assert!(result.is_ok(), "{backend}: {result:?}");
    assert!(started.elapsed() < limit);
    // The HTTP side is closed too.
    assert!(reqwest::get(format!("{url}/health")).await.is_err());
    let rows = receiving
        .store()
        .all(&receiver.public_key().to_string())
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!((rows[0].status.as_str(), rows[0].attempts), ("pending", 0));
}

service::backend_tests!(metrics_and_the_sent_transactions_view_show_real_traffic);
async fn metrics_and_the_sent_transactions_view_show_real_traffic(backend: Backend) {
    let office = BackOffice::start().await;
    let receiver = KeyPair::random();
    let (bridge, receiving) = TestBridge::start_receiving(backend, |c| {
        receiving_config(c, &receiver.public_key(), &office);
    })
    .await;
    // Two payments through /payment: the sent-transactions view lists them, newest first.
    let mut hashes = Vec::new();
    for (id, amount) in [("metrics-1", "1.5"), ("metrics-2", "2")] {
        let (status, body) = bridge
            .pay(&[
                ("id", id),
                ("destination", &receiver.public_key().to_string()),
                ("amount", amount),
                ("memo_type", "text"),
                ("memo", "metrics"),
            ])
            .await;
        assert_eq!(status, 200, "{backend}: {body}");
        hashes.push(body["hash"].as_str().unwrap().to_owned());
    }
    let (status, sent) = bridge.get("/admin/sent-transactions").await;
    assert_eq!(status, 200, "{backend}: {sent}");
    let sent = sent.as_array().unwrap();
    assert_eq!(sent.len(), 2, "{backend}: {sent:#?}");
    assert_eq!(sent[0]["payment_id"], "metrics-2");
    assert_eq!(sent[1]["payment_id"], "metrics-1");
    for (row, hash) in sent.iter().zip(hashes.iter().rev()) {
        assert_eq!(row["transaction_id"].as_str(), Some(hash.as_str()));
        assert_eq!(row["status"], "success", "{backend}: {row}");
        assert_eq!(
            row["source"].as_str(),
            Some(bridge.source.public_key().to_string().as_str())
        );
        assert!(row["ledger"].as_i64().unwrap() > 0);
        assert!(!row["envelope_xdr"].as_str().unwrap().is_empty());
    }
    assert!(sent[0]["id"].as_i64().unwrap() > sent[1]["id"].as_i64().unwrap());
    let (_, page2) = bridge.get("/admin/sent-transactions?page=2").await;
    assert_eq!(page2, serde_json::json!([]));

    // Both were received (after the account's creation) and delivered.
    office
        .wait_for(20, "three deliveries", |calls| calls.len() >= 3)
        .await;
    let account = receiver.public_key().to_string();
    eventually(10, "success", || async {
        let rows = receiving.store().all(&account).await.unwrap();
        rows.len() == 3 && rows.iter().all(|r| r.status == "success")
    })
    .await;

    let res = reqwest::Client::new()
        .get(format!("{}/metrics", bridge.url))
        .header("x-api-key", crate::common::API_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain"),
        "{backend}"
    );
    let text = res.text().await.unwrap();
    let value = |name: &str, label: &str| -> Option<f64> {
        text.lines()
            .find(|l| l.starts_with(name) && l.contains(label))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
    };
    let recorded = value(
        "bridge_received_payments_recorded_total",
        &format!("account=\"{account}\""),
    );
    assert_eq!(recorded, Some(3.0), "{backend}: {text}");
    assert!(
        value(
            "bridge_listener_last_event_timestamp_seconds",
            &format!("account=\"{account}\"")
        )
        .is_some_and(|t| t > 1.7e9),
        "{backend}: {text}"
    );
    // Process-wide counters (other tests share the process): at least ours.
    assert!(
        value("bridge_deliveries_total", "outcome=\"delivered\"").is_some_and(|n| n >= 3.0),
        "{backend}: {text}"
    );
    // Summed over status labels: another test's /payment may have answered 500 first.
    let payments: f64 = text
        .lines()
        .filter(|l| l.starts_with("http_requests_total") && l.contains("route=\"/payment\""))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    assert!(payments >= 2.0, "{backend}: {text}");
    // Without the API key, /metrics is refused like every route but /health.
    let res = reqwest::get(format!("{}/metrics", bridge.url))
        .await
        .unwrap();
    assert_eq!(res.status(), 403, "{backend}");
    receiving.shutdown().await;
}
