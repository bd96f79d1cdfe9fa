//! The callback MAC (legacy §4.10): `X-Payload-Mac` = base64(HMAC-SHA256(key, body)), where the
//! key is the 32 raw bytes of the `mac_key` seed and the body is the exact form-encoded bytes
//! sent. The receiver recomputes it over the body it got.

use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use stellar_base::KeyPair;

/// The header value for `body`.
pub fn payload_mac(key: &KeyPair, body: &[u8]) -> String {
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(&key.seed_bytes()) else {
        unreachable!("HMAC accepts keys of any length")
    };
    mac.update(body);
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_shared_vector() {
        let text = include_str!("../../../vectors/payload-mac.json");
        let vector: serde_json::Value = serde_json::from_str(text).unwrap();
        let key = KeyPair::from_secret_seed(vector["mac_key"].as_str().unwrap()).unwrap();
        let body = vector["body"].as_str().unwrap();
        assert_eq!(
            payload_mac(&key, body.as_bytes()),
            vector["x_payload_mac"].as_str().unwrap()
        );
    }
}
