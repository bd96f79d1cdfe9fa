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

/// `demo --peering sep31`: the same story over SEP-31 (SEP-10, SEP-12), paid in USD.
#[tokio::test]
async fn the_demo_over_sep31_ends_with_bob_credited() {
    let result = demo::run(demo::Options {
        ledger_interval: Duration::from_millis(50),
        peering: compliance::sep31::Protocol::Sep31,
        ..demo::Options::default()
    })
    .await;
    assert_eq!(result, Ok(()));
}

/// `demo --keep-running` prints bank B's console and a login that opens it on the payment
/// bob received.
#[tokio::test]
async fn the_kept_running_demo_prints_a_console_that_shows_the_payment() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};

    let mut child = Command::new(env!("CARGO_BIN_EXE_demo"))
        .arg("--keep-running")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let found = tokio::task::spawn_blocking(move || {
        BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .find(|line| line.contains("operations console:"))
    })
    .await
    .unwrap();
    let line = found.expect("the console's line");
    // "Bank B's operations console: http://127.0.0.1:P  (sign in as operator, password X)"
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap();
    let password = line
        .trim_end_matches(')')
        .rsplit(' ')
        .next()
        .unwrap()
        .to_owned();
    let port: u16 = url.rsplit(':').next().unwrap().parse().unwrap();
    let mut browser = service::console::testing::Browser::new(port);
    let signed_in = browser.sign_in("operator", &password).await;
    let received = browser.get("/received").await;
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(signed_in.status, 303, "{}", signed_in.body);
    assert_eq!(received.status, 200);
    assert!(received.body.contains("state-success"), "{}", received.body);
}
