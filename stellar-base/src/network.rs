//! Networks are identified by the sha256 of their passphrase; every signature commits to it.

use sha2::{Digest, Sha256};

/// A Stellar network, known by its passphrase.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Network {
    passphrase: String,
}

impl Network {
    /// The public network.
    pub const PUBLIC: &'static str = "Public Global Stellar Network ; September 2015";
    /// The test network.
    pub const TESTNET: &'static str = "Test SDF Network ; September 2015";
    /// A standalone network (the sandbox's default, as stellar-core's).
    pub const STANDALONE: &'static str = "Standalone Network ; February 2017";

    /// A network from its passphrase.
    pub fn new(passphrase: impl Into<String>) -> Self {
        Self {
            passphrase: passphrase.into(),
        }
    }

    /// The passphrase.
    pub fn passphrase(&self) -> &str {
        &self.passphrase
    }

    /// The network id: sha256 of the passphrase.
    pub fn id(&self) -> [u8; 32] {
        Sha256::digest(self.passphrase.as_bytes()).into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn testnet_id_matches_the_known_value() {
        let id = Network::new(Network::TESTNET).id();
        let hex: String = id.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            hex,
            "cee0302d59844d32bdca915c8203dd44b33fbb7edc19051ea37abedf28ecd472"
        );
    }
}
