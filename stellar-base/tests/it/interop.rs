//! Interop with the official Python SDK (`stellar-sdk==16.1.1`, installed by
//! `scripts/test.sh`): what we build and sign, it decodes to the same hash and verifies.

use std::process::Command;

use stellar_base::transaction::{Operation, SetOptions};
use stellar_base::{AccountAddress, Asset, KeyPair, Memo, Network, TransactionBuilder};

fn python(args: &[&str]) -> String {
    let out = run_python(args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "the Python SDK rejected our envelope:\n{stderr}"
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn run_python(args: &[&str]) -> std::process::Output {
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/interop/verify_envelope.py"
    );
    let out = Command::new("python3")
        .arg(script)
        .args(args)
        .output()
        .expect("python3 must be installed");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("No module named 'stellar_sdk'"),
        "the official SDK is missing: python3 -m pip install stellar-sdk==16.1.1 (scripts/test.sh does this)"
    );
    out
}

#[test]
fn the_python_sdk_decodes_our_envelopes_and_verifies_our_signatures() {
    let network = Network::new(Network::TESTNET);
    let source = KeyPair::random();
    let dest = KeyPair::random().public_key();
    let usd = Asset::credit("USD", dest).unwrap();
    let one = "1.5".parse().unwrap();
    let envelope = TransactionBuilder::new(source.public_key().into(), 4_294_967_297)
        .memo(Memo::Hash([7; 32]))
        .time_bounds(0, 1_900_000_000)
        .base_fee(200)
        .operation(Operation::payment(
            AccountAddress::Muxed { key: dest, id: 99 },
            &usd,
            one,
        ))
        .operation(Operation::create_account(dest, one))
        .operation(
            Operation::path_payment_strict_send(&usd, one, dest.into(), &Asset::Native, one, &[])
                .unwrap(),
        )
        .operation(Operation::change_trust(&usd, "1000".parse().unwrap()))
        .operation(
            Operation::set_options(SetOptions {
                home_domain: Some("bank.test".into()),
                ..SetOptions::default()
            })
            .unwrap(),
        )
        .sign(&network, &[&source])
        .unwrap();
    let out = python(&[
        network.passphrase(),
        &envelope.to_base64(),
        &envelope.hash_hex(&network),
        &source.public_key().to_string(),
    ]);
    assert!(out.starts_with("ok: 5 operations"), "{out}");
    // The check is real: on another network the same envelope's hash differs.
    let other = run_python(&[
        Network::PUBLIC,
        &envelope.to_base64(),
        &envelope.hash_hex(&network),
        &source.public_key().to_string(),
    ]);
    assert!(!other.status.success());
}
