//! What several instances on one database rely on from `service::database`: one clock for every
//! host (the database's), and SQLite refusing a second instance.

use std::time::{SystemTime, UNIX_EPOCH};

use service::database::{Backend, clock_ms};
use service::testing::TestDatabase;
use service::{Database, DatabaseSettings};

fn system_ms() -> i64 {
    i64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis(),
    )
    .unwrap()
}

service::backend_tests!(the_database_clock_is_unix_milliseconds);
async fn the_database_clock_is_unix_milliseconds(backend: Backend) {
    let test_db = TestDatabase::new(backend);
    let db = Database::connect(&test_db.settings()).unwrap();
    let before = system_ms();
    let first = db.run(clock_ms).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(30)).await;
    let second = db.run(clock_ms).await.unwrap();
    let after = system_ms();
    // The database runs on this machine in tests: its clock is ours, to the millisecond
    // (a second of slack for rounding and scheduling).
    assert!(
        (before - 1000..=after + 1000).contains(&first),
        "{first} not in {before}..{after}"
    );
    assert!(
        second >= first + 25,
        "the clock moves in milliseconds: {first} then {second}"
    );
    // Only server-side databases answer for others; several instances on one network
    // database never compare their own clocks.
    assert!(second <= after + 1000);
}

#[test]
fn a_second_instance_on_one_sqlite_file_is_refused_until_the_first_is_gone() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bridge.db");
    let settings = DatabaseSettings::from_url(format!("sqlite://{}", path.display()));
    let first = Database::connect(&settings).unwrap();
    let held = first.lock_single_instance().unwrap();
    assert!(held.is_some(), "a file on disk is locked");

    let second = Database::connect(&settings).unwrap();
    let refused = second.lock_single_instance().unwrap_err();
    assert!(refused.contains("another instance"), "{refused}");
    assert!(refused.contains("MariaDB or PostgreSQL"), "{refused}");
    assert!(refused.contains(&path.display().to_string()), "{refused}");

    // The first instance stops (or dies: the kernel drops the lock with the process).
    drop(held);
    assert!(second.lock_single_instance().unwrap().is_some());

    let memory = Database::connect(&DatabaseSettings::from_url("sqlite://:memory:")).unwrap();
    assert!(memory.lock_single_instance().unwrap().is_none());
}

service::backend_tests!(server_databases_need_no_instance_lock; mysql, postgres);
async fn server_databases_need_no_instance_lock(backend: Backend) {
    let test_db = TestDatabase::new(backend);
    let db = Database::connect(&test_db.settings()).unwrap();
    assert!(db.lock_single_instance().unwrap().is_none(), "{backend}");
}
