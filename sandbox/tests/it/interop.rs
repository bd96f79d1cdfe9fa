//! Interop: the official Python SDK (`stellar-sdk==16.1.1`) drives the sandbox.
//!
//! Fails with instructions when the SDK is not installed: an SDK that cannot talk to the
//! sandbox means the sandbox is wrong, so this test never skips.

use std::process::Command;

use sandbox::{Sandbox, SandboxConfig};

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/interop/sdk_interop.py");

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_sdk_talks_to_the_sandbox() {
    let check = Command::new("python3")
        .args(["-c", "import stellar_sdk; print(stellar_sdk.__version__)"])
        .output();
    match check {
        Ok(output) if output.status.success() => {}
        Ok(output) => panic!(
            "the official Python SDK is not importable: run `pip install stellar-sdk==16.1.1`\n{}",
            String::from_utf8_lossy(&output.stderr)
        ),
        Err(error) => panic!(
            "python3 is not available ({error}); install it and run `pip install stellar-sdk==16.1.1`"
        ),
    }
    let sandbox = Sandbox::start(SandboxConfig {
        close_interval: std::time::Duration::from_millis(50),
        ..SandboxConfig::for_tests()
    })
    .await
    .unwrap();
    let url = sandbox.url();
    let output = tokio::task::spawn_blocking(move || {
        Command::new("python3")
            .arg(SCRIPT)
            .arg(url)
            .env("NO_PROXY", "127.0.0.1")
            .output()
    })
    .await
    .unwrap()
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success() && stdout.contains("INTEROP OK"),
        "python SDK interop failed\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    sandbox.shutdown().await;
}
