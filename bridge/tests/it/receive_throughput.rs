//! Throughput of the receiving side (a benchmark that also runs as a test): a backlog of
//! payments already in the ledger is caught up from `beginning`, recorded and delivered to a
//! fast local callback. `RECEIVE_BENCH_PAYMENTS` sets the backlog (default 2 000; the numbers
//! in docs/PERFORMANCE.md use 100 000), `RECEIVE_BENCH_BACKEND` the database (default sqlite).
//!
//! `RECEIVE_BENCH_HORIZON=replay` takes the sandbox's cost out of the measurement: the
//! sandbox renders the account's payments stream once, before the clock starts, and a local
//! stand-in serves those same bytes (from any cursor) to the bridge, other requests being
//! passed to the sandbox. On this machine the sandbox shares the two cores with the bridge,
//! and rendering a record (re-encoding its 100-operation transaction every time) costs it
//! more than the bridge spends reading, recording and delivering it; a real Horizon runs
//! elsewhere. The default, `sandbox`, streams live from the sandbox.
//!
//! `RECEIVE_BENCH_INSTANCES` (default 1) runs that many bridges on the one database (one
//! streams, all deliver), and `RECEIVE_BENCH_CALLBACK_MS` (default 0) makes the back office
//! take that long per callback: with a 20 ms back office, delivery is the bottleneck and more
//! instances deliver more.
//!
//! The failover bench ([`failover_is_measured`]) kills the streaming instance
//! `RECEIVE_BENCH_KILLS` times (default 1) while payments arrive, and reports each time from
//! the kill to the delivery of a payment made right after it, by the instance that took over.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use crate::common::{BackOffice, TestBridge, config, receiving_config};
use service::database::Backend;
use stellar_base::transaction::Operation;
use stellar_base::{Asset, KeyPair, Memo};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backlog_is_caught_up_and_delivered() {
    let count: usize = std::env::var("RECEIVE_BENCH_PAYMENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2_000);
    let backend = match std::env::var("RECEIVE_BENCH_BACKEND").as_deref() {
        Ok("mysql") => Backend::Mysql,
        Ok("postgres") => Backend::Postgres,
        _ => Backend::Sqlite,
    };
    let bridge = TestBridge::start(backend).await;
    let receiver = KeyPair::random();
    bridge.sandbox.fund(receiver.public_key()).await.unwrap();
    let op = Operation::payment(
        receiver.public_key().into(),
        &Asset::Native,
        "0.0000001".parse().unwrap(),
    );
    let started = Instant::now();
    for _ in 0..count.div_ceil(100) {
        bridge
            .submit_ops(&bridge.source, Memo::Id(7), vec![op.clone(); 100])
            .await;
    }
    let total = count.div_ceil(100) * 100 + 1;
    eprintln!(
        "backlog of {total} payments built in {:?}",
        started.elapsed()
    );

    let replay = match std::env::var("RECEIVE_BENCH_HORIZON").as_deref() {
        Ok("replay") => {
            let started = Instant::now();
            let url = replay(&bridge.sandbox.url(), &receiver.public_key(), total).await;
            eprintln!("stream rendered for replay in {:?}", started.elapsed());
            Some(url)
        }
        _ => None,
    };

    // Recording is complete when the stored cursor reaches the newest payment's token.
    let newest: serde_json::Value = reqwest::get(format!(
        "{}/accounts/{}/payments?order=desc&limit=1",
        bridge.sandbox.url(),
        receiver.public_key()
    ))
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let last_token = newest["_embedded"]["records"][0]["paging_token"]
        .as_str()
        .unwrap()
        .to_owned();

    let instances: usize = env_or("RECEIVE_BENCH_INSTANCES", 1).max(1);
    let callback_ms: u64 = env_or("RECEIVE_BENCH_CALLBACK_MS", 0);
    let office = BackOffice::slow(Duration::from_millis(callback_ms)).await;
    let edit = |c: &mut bridge::BridgeConfig| {
        receiving_config(c, &receiver.public_key(), &office);
        c.receiving.delivery_concurrency = 32;
        if let Some(url) = &replay {
            c.horizon = url.clone();
        }
    };
    let started = Instant::now();
    let (_url, receiving, db) = bridge.another(backend, edit).await;
    let mut others = Vec::new();
    for _ in 1..instances {
        let app = bridge::Application::build(config(
            &db,
            &bridge.sandbox,
            &bridge.source,
            &bridge.issuer,
            edit,
        ))
        .await
        .unwrap();
        others.push(app.receiving());
        app.spawn();
    }
    let account = receiver.public_key().to_string();
    let deadline = started + Duration::from_secs(600);
    let mut recorded_at = None;
    // Polled cheaply (the stored cursor, the number of callbacks), so that watching does not
    // slow down what is watched; distinct ids are counted once enough callbacks came.
    loop {
        if recorded_at.is_none()
            && receiving.store().cursor(&account).await.unwrap().as_deref()
                == Some(last_token.as_str())
        {
            recorded_at = Some(started.elapsed());
        }
        let calls = office.calls.lock().unwrap().len();
        let delivered = if calls >= total {
            office
                .calls
                .lock()
                .unwrap()
                .iter()
                .filter(|c| c.path == "/receive")
                .map(|c| c.form["id"].as_str())
                .collect::<HashSet<_>>()
                .len()
        } else {
            calls
        };
        if delivered >= total {
            break;
        }
        assert!(Instant::now() < deadline, "{delivered}/{total} delivered");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let delivered_at = started.elapsed();
    let recorded_at = recorded_at.unwrap_or(delivered_at);
    eprintln!(
        "{backend}{}, {instances} instance(s), callback {callback_ms} ms: {total} payments \
         recorded in {recorded_at:?} ({:.0}/s), delivered in {delivered_at:?} ({:.0}/s)",
        if replay.is_some() { " (replay)" } else { "" },
        total as f64 / recorded_at.as_secs_f64(),
        total as f64 / delivered_at.as_secs_f64(),
    );
    // Reconnections cost a re-read of what was in flight: there should be none.
    eprintln!(
        "listener reconnections: {}",
        receiving.health().await[0]["reconnects"]
    );
    // Outcomes are written while the next callbacks run: the last round's may land just after
    // the back office saw its callbacks.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let rows = loop {
        let rows = receiving.store().all(&account).await.unwrap();
        if rows.iter().all(|r| r.status == "success") || std::time::Instant::now() > deadline {
            break rows;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert_eq!(rows.len(), total);
    assert_eq!(receiving.store().count(&account).await.unwrap(), total);
    assert!(rows.iter().all(|r| r.status == "success"));
    receiving.shutdown().await;
    for other in others {
        other.shutdown().await;
    }
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
/// Three instances on one database (`RECEIVE_BENCH_BACKEND`, default PostgreSQL; `lease_ttl`
/// 2 s unless `RECEIVE_BENCH_LEASE_TTL`), payments arriving all along; the streaming instance
/// is killed (its tasks aborted, its lease left behind) `RECEIVE_BENCH_KILLS` times, a fresh
/// instance started after each kill. Reports the time from each kill to the delivery of a
/// payment sent just after it, and checks that it stays within the lease TTL plus 2 s.
async fn failover_is_measured() {
    let kills: usize = env_or("RECEIVE_BENCH_KILLS", 1);
    let lease_ttl: u64 = env_or("RECEIVE_BENCH_LEASE_TTL", 2);
    let backend = match std::env::var("RECEIVE_BENCH_BACKEND").as_deref() {
        Ok("mysql") => Backend::Mysql,
        Ok("sqlite") => Backend::Sqlite,
        _ => Backend::Postgres,
    };
    if !service::testing::backends().contains(&backend) {
        eprintln!("skipped: {backend} is not in TEST_BACKENDS");
        return;
    }
    let office = BackOffice::start().await;
    let receiver = KeyPair::random();
    let edit = |c: &mut bridge::BridgeConfig| {
        receiving_config(c, &receiver.public_key(), &office);
        c.receiving.lease_ttl = lease_ttl;
    };
    let (bridge, first) = TestBridge::start_receiving(backend, edit).await;
    let mut alive = vec![first];
    for _ in 0..2 {
        alive.push(bridge.restart(edit).await.1);
    }
    let delivered = |memo: String| {
        let office = office.clone();
        move || {
            office
                .calls_to("/receive")
                .iter()
                .any(|c| c.form.get("memo") == Some(&memo))
        }
    };
    let pay = |memo: String| {
        let op = Operation::payment(
            receiver.public_key().into(),
            &Asset::Native,
            "0.0000001".parse().unwrap(),
        );
        let bridge = &bridge;
        async move {
            bridge
                .submit_ops(&bridge.source, Memo::Text(memo.clone()), vec![op])
                .await;
        }
    };
    let mut times = Vec::new();
    for kill in 0..kills {
        // Streaming and delivering: a payment goes through first.
        let before = format!("before-{kill}");
        pay(before.clone()).await;
        wait(30, &before, delivered(before.clone())).await;
        let leader = alive
            .iter()
            .position(|r| !r.leading().is_empty())
            .expect("an instance streams");
        let killed = alive.remove(leader);
        killed.abort();
        let killed_at = Instant::now();
        let after = format!("after-{kill}");
        pay(after.clone()).await;
        wait(30, &after, delivered(after.clone())).await;
        times.push(killed_at.elapsed());
        alive.push(bridge.restart(edit).await.1);
    }
    let mut sorted = times.clone();
    sorted.sort();
    eprintln!(
        "{backend}, lease_ttl {lease_ttl} s, {kills} kill(s): kill → first delivery by the new \
         streamer: {times:?}; max {:?}",
        sorted.last()
    );
    for took in &times {
        assert!(
            *took <= Duration::from_secs(lease_ttl + 2),
            "{backend}: failover took {took:?} (lease_ttl {lease_ttl} s)"
        );
    }
    for receiving in alive {
        receiving.shutdown().await;
    }
}

async fn wait(secs: u64, what: &str, done: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Renders `account`'s payments stream (with `join=transactions`) once from the sandbox, then
/// serves it from memory: the stream from any cursor (then ends it, as Horizon may), anything
/// else passed to the sandbox. Its URL.
async fn replay(sandbox: &str, account: &stellar_base::PublicKey, total: usize) -> String {
    use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
    use std::sync::Arc;

    let url = format!("{sandbox}/accounts/{account}/payments?cursor=0&join=transactions")
        .parse()
        .unwrap();
    let http = reqwest::Client::new();
    let mut reader =
        horizon::events::open(&http, url, Duration::from_secs(10), Duration::from_secs(10))
            .await
            .unwrap();
    let mut events: Vec<(u64, web::Bytes)> = Vec::with_capacity(total);
    while events.len() < total {
        let event = reader.next().await.unwrap().unwrap();
        if event.name != "message" {
            continue;
        }
        let id = event.id.unwrap().to_owned();
        let mut bytes = format!("id: {id}\ndata: ").into_bytes();
        bytes.extend_from_slice(&event.data);
        bytes.extend_from_slice(b"\n\n");
        events.push((id.parse().unwrap(), bytes.into()));
    }
    let events = Arc::new(events);
    let sandbox = sandbox.to_owned();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = HttpServer::new(move || {
        let (events, sandbox, http) = (events.clone(), sandbox.clone(), http.clone());
        App::new().default_service(web::to(move |req: HttpRequest| {
            let (events, sandbox, http) = (events.clone(), sandbox.clone(), http.clone());
            async move {
                let stream = req
                    .headers()
                    .get("accept")
                    .is_some_and(|v| v.as_bytes().starts_with(b"text/event-stream"));
                if !stream {
                    let path = req.uri().path_and_query().map_or("/", |p| p.as_str());
                    let answer = http.get(format!("{sandbox}{path}")).send().await.unwrap();
                    let status = answer.status().as_u16();
                    let body = answer.bytes().await.unwrap();
                    return HttpResponse::build(
                        actix_web::http::StatusCode::from_u16(status).unwrap(),
                    )
                    .content_type("application/json")
                    .body(body);
                }
                let cursor: u64 = url::form_urlencoded::parse(req.query_string().as_bytes())
                    .find(|(k, _)| k == "cursor")
                    .and_then(|(_, v)| v.parse().ok())
                    .unwrap_or(0);
                let from = events.partition_point(|(id, _)| *id <= cursor);
                let hello =
                    web::Bytes::from_static(b"retry: 1000\nevent: open\ndata: \"hello\"\n\n");
                let body = futures_util::stream::iter(
                    std::iter::once(hello)
                        .chain((from..events.len()).map(move |i| events[i].1.clone()))
                        .map(Ok::<_, std::convert::Infallible>),
                );
                HttpResponse::Ok()
                    .content_type("text/event-stream")
                    .streaming(body)
            }
        }))
    })
    .workers(1)
    .listen(listener)
    .unwrap()
    .run();
    tokio::spawn(server);
    format!("http://{addr}")
}
