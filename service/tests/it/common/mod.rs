//! What several service test files share.

use std::process::Command;

/// Whether the calling test should run its body here: in the test binary's normal run it runs
/// the test named `test` again in a child process of this binary, alone (`--exact`), fails if it
/// fails there, and returns `false`; in that child it returns `true`. For tests that install or
/// measure what is process-wide (the log subscriber, the metrics recorder, resident memory),
/// which the other tests of the binary, running beside them on other threads, would move.
pub fn alone(test: &str) -> bool {
    const CHILD: &str = "SERVICE_TEST_ALONE";
    if std::env::var_os(CHILD).is_some() {
        return true;
    }
    let out = Command::new(std::env::current_exe().unwrap())
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD, "1")
        .output()
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(
        out.status.success() && stdout.contains("1 passed"),
        "{test}, run alone, failed:\n{stdout}\n{stderr}"
    );
    false
}
