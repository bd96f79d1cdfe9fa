//! The README's first command, as a test: the whole two-bank story must end with bob credited.

use std::time::Duration;

#[tokio::test]
async fn the_demo_ends_with_bob_credited() {
    let result = demo::run(demo::Options {
        ledger_interval: Duration::from_millis(50),
        ..demo::Options::default()
    })
    .await;
    assert_eq!(result, Ok(()));
}
