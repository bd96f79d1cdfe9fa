//! A process that exits while other threads are still connecting to its database exits with
//! its own status. libpq (TLS to PostgreSQL by default) and MariaDB's client use OpenSSL, whose
//! default `atexit` handler frees its state under those threads: the test binary of the bridge
//! once aborted with "double free or corruption" after all its tests had passed. Each run is a
//! child process of this binary (`common::alone`) that returns from its test while eight
//! threads keep opening connections; the child must then exit cleanly, eight times out of eight (without
//! the fix about one child in six aborted).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use diesel::connection::SimpleConnection;
use service::testing::TestDatabase;
use service::{Backend, Database};

use crate::common::alone;

const NAME: &str = "exit_while_connecting::exits_cleanly_while_threads_still_connect";

#[test]
fn exits_cleanly_while_threads_still_connect() {
    for _ in 0..8 {
        if alone(NAME) {
            return connect_until_the_process_ends();
        }
    }
}

/// Leaves eight threads connecting to PostgreSQL and MariaDB when the test returns and the
/// process exits (after the databases are dropped, their connections fail, over TLS as well).
fn connect_until_the_process_ends() {
    let databases: Vec<_> = [Backend::Postgres, Backend::Mysql]
        .into_iter()
        .map(TestDatabase::new)
        .collect();
    let started = Arc::new(AtomicBool::new(false));
    for i in 0..8 {
        let settings = databases[i % databases.len()].settings();
        let started = started.clone();
        std::thread::spawn(move || {
            loop {
                if let Ok(database) = Database::connect(&settings) {
                    let _ = database.run_blocking(|conn| Ok(conn.batch_execute("SELECT 1")?));
                    started.store(true, Ordering::Relaxed);
                }
            }
        });
    }
    while !started.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(5));
    }
    std::thread::sleep(Duration::from_millis(200));
    drop(databases);
}
