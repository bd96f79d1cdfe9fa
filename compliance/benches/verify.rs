//! Per-core ceiling of the AUTH_SERVER's CPU work, without HTTP or a database.
//!
//! `cargo bench -p compliance --bench verify` (release profile, one thread, no harness;
//! `VERIFY_SECONDS=N` per line, default 3). It repeats, on `vectors/compliance-send.json`, the
//! work `POST /` does on every request and prints operations per second, of this thread's CPU
//! time (the per-core figure) and of wall time, for each part:
//!
//! - `verify`: ed25519 verification of `sig` over `data` (`PublicKey::verify`),
//! - `sha256`: sha256 of the attachment (`protocol::attachment_hash`),
//! - `json`: `data` as `AuthData` and its attachment as `Attachment` (serde_json),
//! - `verify + sha256 + json`: the three together (the ceiling docs/PERFORMANCE.md uses),
//! - `full offline check`: everything the handler computes besides HTTP, the stellar.toml cache
//!   and the database: base64 of `sig`, both JSON parses, the sender address, the transaction
//!   XDR, the memo against sha256, the SIGNING_KEY strkey, the signature, the transaction hash;
//! - `sep10 token`: what SEP-10's `POST /auth` computes for a signed challenge (no Horizon): the
//!   envelope read in full, the transaction hash, the server's and the client's signatures
//!   verified, and an HS256 token signed (the ceiling of `POST /auth`: two ed25519 verifies).
//!
//! A benchmark, not a test: it asserts only that the vector is valid.

use std::hint::black_box;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use compliance::protocol::{Attachment, AuthData, attachment_hash};
use compliance::web_auth::{self, Claims, Signers};
use stellar_base::transaction::{decode_transaction, to_hex, transaction_hash};
use stellar_base::{AccountAddress, FederationAddress, KeyPair, Memo, Network, PublicKey};

const VECTOR: &str = include_str!("../../vectors/compliance-send.json");

/// CPU time this thread has run, in seconds (Linux `/proc/thread-self/schedstat`, nanoseconds),
/// or `None` elsewhere.
fn thread_cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let ns: u64 = stat.split_whitespace().next()?.parse().ok()?;
    Some(ns as f64 / 1e9)
}

/// Runs `f` for about `for_how_long` (after a short warm-up) and prints operations per second of
/// wall time and per second of this thread's CPU time. On a shared machine the second is the
/// per-core figure: time spent preempted by other processes does not count.
fn measure(name: &str, for_how_long: Duration, mut f: impl FnMut() -> bool) {
    let warm = Instant::now();
    while warm.elapsed() < Duration::from_millis(200) {
        assert!(black_box(f()), "{name}: the vector did not check");
    }
    let start = Instant::now();
    let cpu_start = thread_cpu_seconds();
    let mut n: u64 = 0;
    while start.elapsed() < for_how_long {
        for _ in 0..64 {
            assert!(black_box(f()), "{name}: the vector did not check");
        }
        n += 64;
    }
    let secs = start.elapsed().as_secs_f64();
    let cpu = cpu_start.and_then(|s| thread_cpu_seconds().map(|e| e - s));
    let n = n as f64;
    match cpu {
        Some(cpu) => println!(
            "{name:<26} {:>10.0} /s of CPU ({:>6.2} µs each) {:>10.0} /s of wall time ({:.0} % on CPU)",
            n / cpu,
            1e6 * cpu / n,
            n / secs,
            100.0 * cpu / secs
        ),
        None => println!(
            "{name:<26} {:>10.0} /s of wall time ({:>6.2} µs each)",
            n / secs,
            1e6 * secs / n
        ),
    }
}

fn main() {
    let v: serde_json::Value = serde_json::from_str(VECTOR).expect("vector JSON");
    let field = |k: &str| v[k].as_str().expect(k).to_owned();
    let data = field("data");
    let sig_b64 = field("sig");
    let signing_key = field("signing_key");
    let network = Network::new(field("network_passphrase"));
    let sig = BASE64.decode(&sig_b64).expect("sig base64");
    let key: PublicKey = signing_key.parse().expect("signing key");
    let attachment = serde_json::from_str::<AuthData>(&data)
        .expect("AuthData")
        .attachment;
    let seconds: u64 = std::env::var("VERIFY_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3);
    let d = Duration::from_secs(seconds);

    println!(
        "vector: data {} bytes, attachment {} bytes; {seconds} s per line, one thread",
        data.len(),
        attachment.len()
    );
    measure("verify", d, || key.verify(black_box(data.as_bytes()), &sig));
    measure("sha256", d, || {
        black_box(attachment_hash(black_box(&attachment)))[0] == 0xbb
    });
    measure("json", d, || {
        let auth: AuthData = serde_json::from_str(black_box(&data)).unwrap();
        let att: Attachment = serde_json::from_str(&auth.attachment).unwrap();
        !auth.need_info && att.nonce == "nonce"
    });
    measure("verify + sha256 + json", d, || {
        let data = black_box(&data);
        let auth: AuthData = serde_json::from_str(data).unwrap();
        let att: Attachment = serde_json::from_str(&auth.attachment).unwrap();
        let hash = attachment_hash(&auth.attachment);
        att.nonce == "nonce" && hash[0] == 0xbb && key.verify(data.as_bytes(), &sig)
    });
    measure("full offline check", d, || {
        let data = black_box(&data);
        let Ok(sig) = BASE64.decode(black_box(&sig_b64)) else {
            return false;
        };
        let auth: AuthData = serde_json::from_str(data).unwrap();
        let sender: FederationAddress = auth.sender.parse().unwrap();
        let tx = decode_transaction(&auth.tx).unwrap();
        let att: Attachment = serde_json::from_str(&auth.attachment).unwrap();
        let Memo::Hash(memo) = Memo::from_xdr(&tx.memo) else {
            return false;
        };
        let key: PublicKey = black_box(&signing_key).parse().unwrap();
        let id = to_hex(&transaction_hash(&tx, &network));
        memo == attachment_hash(&auth.attachment)
            && key.verify(data.as_bytes(), &sig)
            && sender.domain() == "stellar.org"
            && att.nonce == "nonce"
            && id.len() == 64
    });

    let (server, client) = (
        KeyPair::from_seed_bytes([1; 32]),
        KeyPair::from_seed_bytes([2; 32]),
    );
    let now = stellar_base::transaction::unix_now();
    let mut challenge = web_auth::build_challenge(
        &server,
        &AccountAddress::Account(client.public_key()),
        None,
        "bank.example",
        "bank.example",
        &network,
        now,
    )
    .expect("challenge");
    challenge.sign(&client, &network).expect("signed");
    let signed = challenge.to_base64();
    let server_key = server.public_key();
    let signers = Signers::master_key(client.public_key());
    measure("sep10 token", d, || {
        let Ok(read) = web_auth::read_challenge(
            black_box(&signed),
            &server_key,
            &["bank.example"],
            "bank.example",
            &network,
            now,
        ) else {
            return false;
        };
        let verified = web_auth::verify_signers(&read, &server_key, &signers).is_ok();
        let claims = Claims {
            iss: "https://bank.example/auth".into(),
            sub: read.client.to_string(),
            iat: now,
            exp: now + 86_400,
            jti: to_hex(&read.hash),
            home_domain: Some(read.home_domain),
            client_domain: None,
        };
        verified
            && web_auth::issue_token(&claims, b"a-benchmark-secret-of-32-characters").len() > 100
    });
}
