//! The shared, SDK-recomputed vectors decode and hash as the official SDK says.

use stellar_base::transaction::{decode_transaction, to_hex, transaction_hash};
use stellar_base::{KeyPair, Memo, Network, PublicKey};

const VECTOR: &str = include_str!("../../../vectors/compliance-send.json");

fn vector() -> serde_json::Value {
    serde_json::from_str(VECTOR).unwrap()
}

#[test]
fn legacy_compliance_tx_decodes_as_v1_and_hashes_as_the_sdk_computed() {
    let v = vector();
    let tx = decode_transaction(v["tx"].as_str().unwrap()).unwrap();
    let network = Network::new(v["network_passphrase"].as_str().unwrap());
    assert_eq!(
        to_hex(&transaction_hash(&tx, &network)),
        v["tx_hash_hex"].as_str().unwrap()
    );
    // The memo is the hash of the attachment.
    let expected = Memo::parse("hash", v["attachment_sha256_hex"].as_str().unwrap()).unwrap();
    assert_eq!(Memo::from_xdr(&tx.memo), expected);
    assert_eq!(
        expected.value().unwrap(),
        v["attachment_sha256_base64"].as_str().unwrap()
    );
}

#[test]
fn signing_key_reproduces_the_sdk_signature_over_data() {
    let v = vector();
    let key = KeyPair::from_secret_seed(v["signing_seed"].as_str().unwrap()).unwrap();
    let public: PublicKey = v["signing_key"].as_str().unwrap().parse().unwrap();
    assert_eq!(key.public_key(), public);
    let data = v["data"].as_str().unwrap().as_bytes();
    use base64::Engine;
    let sig = base64::engine::general_purpose::STANDARD
        .decode(v["sig"].as_str().unwrap())
        .unwrap();
    // ed25519 signatures are deterministic: ours must equal the SDK's byte for byte.
    assert_eq!(key.sign(data).to_vec(), sig);
    assert!(public.verify(data, &sig));
}
