//! Several bridge instances on one database (MariaDB, PostgreSQL): exactly one streams each
//! watched account, another takes over when it dies, a holder that stalled past its lease
//! writes nothing, deliveries are shared without doubles, and payments sent through any
//! instance go out once.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::common::*;
use bridge::BridgeConfig;
use bridge::receive::fence::LeaseWriteError;
use bridge::receive::store::{NewReceived, ReceiveStore, ReceivedStatus};
use bridge::send::channels::{ChannelSettings, derive};
use service::database::Backend;
use service::testing::TestDatabase;
use stellar_base::KeyPair;

async fn wait_until<F, Fut>(secs: u64, what: &str, mut done: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !done().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn received_ids(office: &BackOffice) -> Vec<String> {
    office
        .calls_to("/receive")
        .iter()
        .map(|c| c.form["id"].clone())
        .collect()
}

service::backend_tests!(multi_thread three_instances_record_and_deliver_each_payment_once_through_two_leader_kills; mysql, postgres);
/// Three bridges watch one account while 5 000 payments arrive; the one streaming it is killed
/// (its tasks aborted where they stand, its lease left behind) twice, each time with part of
/// the stream recorded. Every payment is recorded once and delivered; a delivery is repeated
/// only if its callback was in flight at a kill (at most `delivery_concurrency`, 8, per kill).
async fn three_instances_record_and_deliver_each_payment_once_through_two_leader_kills(
    backend: Backend,
) {
    let office = BackOffice::start().await;
    let receiver = KeyPair::random();
    let edit = |c: &mut BridgeConfig| receiving_config(c, &receiver.public_key(), &office);
    let (bridge, first) = TestBridge::start_receiving(backend, edit).await;
    let mut alive = vec![first];
    for _ in 0..2 {
        alive.push(bridge.restart(edit).await.1);
    }
    let store = alive[0].store().clone();
    let account = receiver.public_key().to_string();
    let recorded = || {
        let (store, account) = (store.clone(), account.clone());
        async move { store.count(&account).await.unwrap() }
    };
    wait_until(20, "the account's creation recorded", || async {
        recorded().await >= 1
    })
    .await;
    let leaders = |alive: &[bridge::receive::Receiving]| {
        alive
            .iter()
            .enumerate()
            .filter(|(_, r)| !r.leading().is_empty())
            .map(|(i, _)| i)
            .collect::<Vec<_>>()
    };
    assert_eq!(leaders(&alive).len(), 1, "{backend}: exactly one streams");

    let faults = bridge.sandbox.faults();
    faults.stall_streams(true);
    let total = 5_000;
    bridge.flood(&receiver, total).await;
    let mut takeovers = Vec::new();
    for _kill in 0..2 {
        // Let part of the stream be recorded, then kill the streamer with the rest held back.
        let before = recorded().await;
        faults.stall_streams(false);
        wait_until(60, "part of the stream recorded", || async {
            recorded().await > before
        })
        .await;
        faults.stall_streams(true);
        let leader = leaders(&alive)[0];
        let killed = alive.remove(leader);
        killed.abort();
        let killed_at = Instant::now();
        faults.stall_streams(false);
        let at_kill = recorded().await;
        wait_until(30, "another instance streaming", || async {
            leaders(&alive).len() == 1 && recorded().await > at_kill
                || recorded().await == total + 1
        })
        .await;
        takeovers.push(killed_at.elapsed());
    }
    faults.stall_streams(false);
    office.wait_for_distinct(120, total + 1).await;
    let rows = store.all(&account).await.unwrap();
    assert_eq!(
        rows.len(),
        total + 1,
        "{backend}: each payment recorded once"
    );
    let unique: HashSet<_> = rows.iter().map(|r| r.operation_id.clone()).collect();
    assert_eq!(unique.len(), total + 1);
    let delivered: HashSet<_> = received_ids(&office).into_iter().collect();
    assert_eq!(delivered, unique, "{backend}: every payment delivered");
    let repeated = received_ids(&office).len() - unique.len();
    eprintln!(
        "{backend}: take-over after each kill (kill → the next instance recording): \
         {takeovers:?}; {repeated} callback(s) repeated"
    );
    assert!(repeated <= 16, "{backend}: {repeated} callbacks repeated");
    for lease_ttl_plus in &takeovers {
        assert!(
            *lease_ttl_plus < Duration::from_secs(2 + 2 + 1),
            "{backend}: take-over took {lease_ttl_plus:?} (lease_ttl 2 s)"
        );
    }
    for receiving in alive {
        receiving.shutdown().await;
    }
}

fn payment_row(account: &str, n: u32) -> NewReceived {
    NewReceived {
        operation_id: format!("op-{n}"),
        paging_token: format!("{n}"),
        status: ReceivedStatus::Pending,
        transaction_id: "N/A".into(),
        account: account.to_owned(),
        kind: "payment".into(),
        raw: "{}".into(),
        ..NewReceived::default()
    }
}

service::backend_tests!(a_holder_that_stalled_past_its_lease_writes_nothing);
/// The fencing token: an instance that held an account, stalled past its lease (SIGSTOP, a
/// pause) while another took over, cannot record a payment or move the cursor when it wakes,
/// and cannot renew; the new holder's writes go through; a lease given back is taken at once.
async fn a_holder_that_stalled_past_its_lease_writes_nothing(backend: Backend) {
    let test_db = TestDatabase::new(backend);
    let (db, _) = service::Database::open(&test_db.settings(), Some(bridge::migrations()))
        .await
        .unwrap();
    let store = ReceiveStore::new(db);
    let account = KeyPair::random().public_key().to_string();
    let short = Duration::from_millis(300);
    let stalled = store
        .acquire_lease(&account, "a", short)
        .await
        .unwrap()
        .unwrap();
    assert!(
        store
            .acquire_lease(&account, "b", short)
            .await
            .unwrap()
            .is_none(),
        "{backend}: held"
    );
    tokio::time::sleep(short + Duration::from_millis(200)).await;
    let current = store
        .acquire_lease(&account, "b", Duration::from_secs(10))
        .await
        .unwrap()
        .expect("a passed lease is taken over");
    assert!(
        current.token > stalled.token,
        "a take-over fences the old holder"
    );

    let fenced = store
        .record(&account, vec![payment_row(&account, 1)], "1", &stalled)
        .await;
    assert!(
        matches!(fenced, Err(LeaseWriteError::Fenced(_))),
        "{backend}: {fenced:?}"
    );
    let fenced = store.set_cursor(&account, "99", &stalled).await;
    assert!(
        matches!(fenced, Err(LeaseWriteError::Fenced(_))),
        "{backend}: {fenced:?}"
    );
    assert!(!store.renew_lease(&stalled, short).await.unwrap());
    assert_eq!(store.count(&account).await.unwrap(), 0, "nothing recorded");
    assert_eq!(
        store.cursor(&account).await.unwrap(),
        None,
        "cursor not moved"
    );

    let new = store
        .record(&account, vec![payment_row(&account, 1)], "1", &current)
        .await
        .unwrap();
    assert_eq!(new, 1);
    assert_eq!(store.cursor(&account).await.unwrap().as_deref(), Some("1"));
    let view = store.lease(&account).await.unwrap();
    assert_eq!(view.holder.as_deref(), Some("b"));
    assert!(view.expires_in_ms > 5_000, "{view:?}");

    store.release_lease(&current).await.unwrap();
    let next = store
        .acquire_lease(&account, "c", short)
        .await
        .unwrap()
        .expect("a lease given back is free at once");
    assert_eq!(next.token, current.token + 1);
}

service::backend_tests!(multi_thread two_delivery_workers_never_claim_the_same_payment);
/// Claims: two workers (instances) claiming the same backlog at the same time get disjoint
/// sets that together cover it; an outcome is written only under its own claim.
async fn two_delivery_workers_never_claim_the_same_payment(backend: Backend) {
    let test_db = TestDatabase::new(backend);
    let (db, _) = service::Database::open(&test_db.settings(), Some(bridge::migrations()))
        .await
        .unwrap();
    let store = ReceiveStore::new(db);
    let account = KeyPair::random().public_key().to_string();
    let fence = store
        .acquire_lease(&account, "listener", Duration::from_secs(30))
        .await
        .unwrap()
        .unwrap();
    let rows: Vec<_> = (0..200).map(|n| payment_row(&account, n)).collect();
    store.record(&account, rows, "199", &fence).await.unwrap();
    let ttl = Duration::from_secs(30);
    let claim_all = |who: &'static str| {
        let store = store.clone();
        tokio::spawn(async move {
            let mut mine = Vec::new();
            loop {
                let claimed = store.claim_due(who, 7, ttl).await.unwrap();
                if claimed.is_empty() {
                    return mine;
                }
                mine.extend(claimed.into_iter().map(|p| p.id));
            }
        })
    };
    let (a, b) = (claim_all("a"), claim_all("b"));
    let (a, b) = (a.await.unwrap(), b.await.unwrap());
    let (a_set, b_set): (HashSet<_>, HashSet<_>) = (a.iter().collect(), b.iter().collect());
    assert_eq!(
        a.len() + b.len(),
        200,
        "{backend}: {} + {}",
        a.len(),
        b.len()
    );
    assert!(
        a_set.is_disjoint(&b_set),
        "{backend}: a payment claimed twice"
    );
    // Which worker got how much depends on scheduling (under load one may drain the
    // backlog before the other starts); only disjointness and coverage are the contract.
    let (owner, other, claimed) = if a.is_empty() {
        ("b", "a", b[0])
    } else {
        ("a", "b", a[0])
    };
    // An outcome under another's claim is not written.
    let delivered = bridge::receive::store::Outcome::Delivered {
        route: String::new(),
        data: None,
    };
    let written = store
        .finish_attempts(other, vec![(claimed, delivered.clone())], Vec::new())
        .await
        .unwrap();
    assert_eq!(written, 0);
    let written = store
        .finish_attempts(owner, vec![(claimed, delivered)], Vec::new())
        .await
        .unwrap();
    assert_eq!(written, 1);
}

service::backend_tests!(multi_thread the_same_payment_id_sent_to_two_instances_at_once_goes_out_once; mysql, postgres);
/// One `/payment` id posted to two instances at the same moment: one transaction on the
/// ledger, and both answers name it.
async fn the_same_payment_id_sent_to_two_instances_at_once_goes_out_once(backend: Backend) {
    let bridge = TestBridge::start(backend).await;
    let (second, _) = bridge.restart(|_| {}).await;
    let dest = KeyPair::random().public_key();
    bridge.sandbox.fund(dest).await.unwrap();
    let dest = dest.to_string();
    for round in 0..5 {
        let id = format!("twice-{round}");
        let form = [
            ("id", id.as_str()),
            ("destination", dest.as_str()),
            ("amount", "3"),
        ];
        let (a, b) = tokio::join!(
            post_to(&bridge.url, "/payment", &form),
            post_to(&second, "/payment", &form)
        );
        assert_eq!((a.0, b.0), (200, 200), "{backend}: {a:?} {b:?}");
        assert_eq!(
            a.1["hash"], b.1["hash"],
            "{backend}: both answers name one transaction"
        );
    }
    let dest_key = dest.parse().unwrap();
    assert_eq!(
        bridge.balance(&dest_key, "native").await.unwrap(),
        "10015.0000000",
        "{backend}: five payments of 3, each once"
    );
    assert_eq!(
        bridge.payments_to(&dest_key).await.len(),
        5,
        "{backend}: five payments from the paying account"
    );
}

fn with_channels(count: u32) -> impl Fn(&mut BridgeConfig) + Copy {
    move |config| {
        config.channels = Some(ChannelSettings {
            seed: KeyPair::from_seed_bytes([43; 32]),
            count,
            starting_balance: "5".parse().unwrap(),
        });
    }
}

service::backend_tests!(multi_thread three_instances_with_channels_send_three_hundred_payments_once; mysql, postgres);
/// Three instances sharing 12 channels and one paying account, 300 `/payment` requests spread
/// round robin: every payment lands exactly once and answers 200 (no `tx_bad_seq`), and no
/// channel carries two transactions in one ledger.
async fn three_instances_with_channels_send_three_hundred_payments_once(backend: Backend) {
    let bridge = Arc::new(TestBridge::start_with(backend, with_channels(12)).await);
    let mut urls = vec![bridge.url.clone()];
    for _ in 0..2 {
        urls.push(bridge.restart(with_channels(12)).await.0);
    }
    let channels: HashSet<String> = derive(&KeyPair::from_seed_bytes([43; 32]), 12)
        .iter()
        .map(|k| k.public_key().to_string())
        .collect();
    let dest = KeyPair::random().public_key();
    bridge.sandbox.fund(dest).await.unwrap();
    let tasks: Vec<_> = (0..300)
        .map(|i| {
            let url = urls[i % 3].clone();
            let dest = dest.to_string();
            tokio::spawn(async move {
                let id = format!("rr-{i}");
                post_to(
                    &url,
                    "/payment",
                    &[("id", &id), ("destination", &dest), ("amount", "1")],
                )
                .await
            })
        })
        .collect();
    let mut per_ledger_and_source = HashMap::new();
    let mut hashes = HashSet::new();
    for task in tasks {
        let (status, body) = task.await.unwrap();
        assert_eq!(status, 200, "{backend}: {body}");
        let hash = body["hash"].as_str().unwrap().to_owned();
        assert!(hashes.insert(hash.clone()), "one transaction per payment");
        let tx = bridge.transaction(&hash).await;
        let source = tx["source_account"].as_str().unwrap().to_owned();
        assert!(channels.contains(&source), "carried by a channel: {tx}");
        *per_ledger_and_source
            .entry((tx["ledger"].as_i64().unwrap(), source))
            .or_insert(0) += 1;
    }
    assert!(
        per_ledger_and_source.values().all(|&n| n == 1),
        "{backend}: at most one transaction per channel per ledger"
    );
    assert_eq!(
        bridge.balance(&dest, "native").await.unwrap(),
        "10300.0000000",
        "{backend}: every payment landed once"
    );
}

/// A bridge process (the real binary), killed when dropped.
struct Process {
    child: std::process::Child,
    url: String,
}

impl Process {
    fn signal(&self, signal: &str) {
        let status = std::process::Command::new("kill")
            .args([signal, &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success(), "kill {signal}");
    }

    async fn health(&self) -> serde_json::Value {
        reqwest::get(format!("{}/health", self.url))
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

service::backend_tests!(multi_thread a_paused_leader_is_fenced_steps_down_and_doubles_nothing; mysql, postgres);
/// The real binary streams the account; it is paused (SIGSTOP) past its lease while an
/// in-process instance takes over and records more payments; resumed (SIGCONT), it finds its
/// lease gone, stands by, and nothing is recorded or delivered twice.
async fn a_paused_leader_is_fenced_steps_down_and_doubles_nothing(backend: Backend) {
    let office = BackOffice::start().await;
    let receiver = KeyPair::random();
    let edit = |c: &mut BridgeConfig| receiving_config(c, &receiver.public_key(), &office);
    let (bridge, first) = TestBridge::start_receiving(backend, edit).await;
    let store = first.store().clone();
    let account = receiver.public_key().to_string();

    // The same configuration as a file, for the binary.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let file = format!(
        "{}receiving_account_id = \"{account}\"\n\n\
         [callbacks]\nreceive = \"{office}/receive\"\nerror = \"{office}/error\"\n\n\
         [receiving]\nstart_cursor = \"beginning\"\nreconnect_min_ms = 20\n\
         reconnect_max_ms = 200\nretry_initial_ms = 20\nretry_max_ms = 100\npoll_ms = 20\n\
         callback_timeout_ms = 5000\nlease_ttl = 2\n\n\
         [horizon_client]\nstream_idle_timeout_seconds = 1\n",
        config_file(&bridge._db, &bridge.sandbox, &bridge.source, &bridge.issuer)
            .replace("port = 0", &format!("port = {port}")),
        office = office.url,
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bridge.cfg");
    std::fs::write(&path, file).unwrap();
    let process = Process {
        child: std::process::Command::new(env!("CARGO_BIN_EXE_bridge"))
            .arg("-c")
            .arg(&path)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
        url: format!("http://127.0.0.1:{port}"),
    };
    let pid = format!("/{}/", process.child.id());
    // The in-process instance stops cleanly and gives the lease back: the process takes over.
    first.shutdown().await;
    wait_until(30, "the process streaming", || async {
        store
            .lease(&account)
            .await
            .unwrap()
            .holder
            .is_some_and(|h| h.contains(&pid))
    })
    .await;
    bridge.flood(&receiver, 300).await;
    wait_until(30, "the process recording", || async {
        store.count(&account).await.unwrap() == 301
    })
    .await;

    // Paused past its lease: an in-process instance takes the account over.
    process.signal("-STOP");
    let (_, second) = bridge.restart(edit).await;
    wait_until(30, "the in-process instance streaming", || async {
        !second.leading().is_empty()
    })
    .await;
    let fence_after = store.lease(&account).await.unwrap().fence;
    bridge.flood(&receiver, 300).await;
    wait_until(30, "the new holder recording", || async {
        store.count(&account).await.unwrap() == 601
    })
    .await;

    // Resumed: its writes would be fenced; it finds the lease gone and stands by.
    process.signal("-CONT");
    wait_until(30, "the resumed process standing by", || async {
        let health = process.health().await;
        let listener = &health["listeners"][0];
        listener["leader"] == false && listener["state"] == "standby"
    })
    .await;
    let view = store.lease(&account).await.unwrap();
    assert_eq!(
        view.fence, fence_after,
        "{backend}: the lease stayed with the new holder"
    );
    assert!(!second.leading().is_empty());
    bridge.flood(&receiver, 100).await;
    office.wait_for_distinct(90, 701).await;
    let rows = store.all(&account).await.unwrap();
    assert_eq!(rows.len(), 701, "{backend}: each payment recorded once");
    let delivered = received_ids(&office);
    let unique: HashSet<_> = delivered.iter().collect();
    let repeated = delivered.len() - unique.len();
    eprintln!("{backend}: {repeated} callback(s) repeated across the pause");
    // Only callbacks in flight at the pause can be repeated, once their claims lapsed.
    assert!(repeated <= 8, "{backend}: {repeated} repeated");
    let metrics = reqwest::Client::new()
        .get(format!("{}/metrics", process.url))
        .header("x-api-key", API_KEY)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("bridge_lease_losses_total") && !l.ends_with(" 0")),
        "the process counted its lost lease:\n{metrics}"
    );
    second.shutdown().await;
}

#[tokio::test]
/// SQLite serves one instance: a second bridge on the same file refuses to start and says to
/// use MariaDB or PostgreSQL; once the first is gone, the file is free again.
async fn a_second_bridge_on_one_sqlite_file_refuses_to_start() {
    let sandbox = sandbox::Sandbox::start(sandbox::SandboxConfig::for_tests())
        .await
        .unwrap();
    let (source, issuer) = (KeyPair::random(), KeyPair::random());
    sandbox.fund(source.public_key()).await.unwrap();
    let db = TestDatabase::new(Backend::Sqlite);
    let first = bridge::Application::build(config(&db, &sandbox, &source, &issuer, |_| {}))
        .await
        .unwrap();
    let second = bridge::Application::build(config(&db, &sandbox, &source, &issuer, |_| {})).await;
    let Err(error) = second else {
        panic!("a second instance is refused")
    };
    let error = error.to_string();
    assert!(error.contains("another instance"), "{error}");
    assert!(error.contains("MariaDB or PostgreSQL"), "{error}");
    drop(first);
    bridge::Application::build(config(&db, &sandbox, &source, &issuer, |_| {}))
        .await
        .unwrap();
}
