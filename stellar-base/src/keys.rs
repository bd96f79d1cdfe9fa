//! Account keys and their strkey forms (`G…`, `S…`, `M…`).
//!
//! A [`KeyPair`] owns a secret seed; its `Debug` output never shows the seed, so a key pair can
//! sit inside any configuration struct that gets logged.

use std::fmt;
use std::str::FromStr;

use ed25519_dalek::{Signer, SigningKey, Verifier, VerifyingKey};
use stellar_strkey::{Strkey, ed25519};
use stellar_xdr as xdr;

/// Why a key string was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// Not a valid `G…` account id.
    #[error("invalid account id (expected a G… strkey)")]
    InvalidPublicKey,
    /// Not a valid `S…` secret seed.
    #[error("invalid secret seed (expected an S… strkey)")]
    InvalidSeed,
    /// Neither a `G…` nor an `M…` address.
    #[error("invalid account address (expected a G… or M… strkey)")]
    InvalidAddress,
}

/// An ed25519 public key: a Stellar account id (`G…`).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PublicKey(pub [u8; 32]);

impl PublicKey {
    /// The raw 32 key bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The last four bytes of the key, which Stellar uses as the signature hint.
    pub fn hint(&self) -> [u8; 4] {
        [self.0[28], self.0[29], self.0[30], self.0[31]]
    }

    /// Verifies an ed25519 signature over `message`.
    ///
    /// Returns `false` for a malformed key or signature rather than an error: to a caller both
    /// mean "not signed by this key".
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        let Ok(key) = VerifyingKey::from_bytes(&self.0) else {
            return false;
        };
        let Ok(signature) = ed25519_dalek::Signature::from_slice(signature) else {
            return false;
        };
        key.verify(message, &signature).is_ok()
    }

    /// The XDR account id.
    pub fn to_account_id(&self) -> xdr::AccountId {
        xdr::AccountId(xdr::PublicKey::PublicKeyTypeEd25519(xdr::Uint256(self.0)))
    }

    /// The XDR muxed account without an id.
    pub fn to_muxed_account(&self) -> xdr::MuxedAccount {
        xdr::MuxedAccount::Ed25519(xdr::Uint256(self.0))
    }

    /// Reads the key out of an XDR account id.
    pub fn from_account_id(id: &xdr::AccountId) -> Self {
        let xdr::PublicKey::PublicKeyTypeEd25519(xdr::Uint256(bytes)) = &id.0;
        Self(*bytes)
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", ed25519::PublicKey(self.0))
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({self})")
    }
}

impl FromStr for PublicKey {
    type Err = KeyError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ed25519::PublicKey::from_string(s)
            .map(|k| Self(k.0))
            .map_err(|_| KeyError::InvalidPublicKey)
    }
}

impl serde::Serialize for PublicKey {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for PublicKey {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// A secret seed and its public key. `Debug` shows only the public key.
#[derive(Clone)]
pub struct KeyPair {
    signing: SigningKey,
}

impl KeyPair {
    /// A fresh random key pair from the operating system's RNG.
    pub fn random() -> Self {
        Self {
            signing: SigningKey::generate(&mut rand::rngs::OsRng),
        }
    }

    /// Parses an `S…` seed.
    ///
    /// # Errors
    /// [`KeyError::InvalidSeed`] when the string is not a valid seed strkey.
    pub fn from_secret_seed(seed: &str) -> Result<Self, KeyError> {
        let sk =
            ed25519::PrivateKey::from_string(seed.trim()).map_err(|_| KeyError::InvalidSeed)?;
        Ok(Self::from_seed_bytes(sk.0))
    }

    /// Builds a key pair from the 32 raw seed bytes.
    pub fn from_seed_bytes(bytes: [u8; 32]) -> Self {
        Self {
            signing: SigningKey::from_bytes(&bytes),
        }
    }

    /// The public half.
    pub fn public_key(&self) -> PublicKey {
        PublicKey(self.signing.verifying_key().to_bytes())
    }

    /// The `S…` seed. Call this only to hand the seed to its owner (e.g. `/create-keypair`).
    pub fn secret_seed(&self) -> String {
        ed25519::PrivateKey(self.signing.to_bytes())
            .as_unredacted()
            .to_string()
            .as_str()
            .to_owned()
    }

    /// The 32 raw seed bytes (the legacy `X-Payload-Mac` key is these bytes).
    pub fn seed_bytes(&self) -> [u8; 32] {
        self.signing.to_bytes()
    }

    /// An ed25519 signature over `message`.
    pub fn sign(&self, message: &[u8]) -> [u8; 64] {
        self.signing.sign(message).to_bytes()
    }

    /// A signature decorated with this key's hint, ready to attach to an envelope.
    pub fn sign_decorated(&self, message: &[u8]) -> xdr::DecoratedSignature {
        let signature = self.sign(message);
        xdr::DecoratedSignature {
            hint: xdr::SignatureHint(self.public_key().hint()),
            signature: xdr::Signature(signature.to_vec().try_into().expect("64 bytes fit")),
        }
    }
}

impl fmt::Debug for KeyPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyPair({}, seed: <redacted>)", self.public_key())
    }
}

impl PartialEq for KeyPair {
    fn eq(&self, other: &Self) -> bool {
        self.public_key() == other.public_key()
    }
}

impl Eq for KeyPair {}

/// A payment destination or source: a plain account (`G…`) or a muxed account (`M…`).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub enum AccountAddress {
    /// A `G…` account.
    Account(PublicKey),
    /// An `M…` account: the underlying account plus a 64-bit id.
    Muxed {
        /// The underlying account.
        key: PublicKey,
        /// The id the owner uses to tell customers apart.
        id: u64,
    },
}

impl AccountAddress {
    /// The underlying `G…` account that holds the balance.
    pub fn account(&self) -> PublicKey {
        match *self {
            Self::Account(key) | Self::Muxed { key, .. } => key,
        }
    }

    /// The muxed id, if any.
    pub fn muxed_id(&self) -> Option<u64> {
        match *self {
            Self::Account(_) => None,
            Self::Muxed { id, .. } => Some(id),
        }
    }

    /// The XDR form.
    pub fn to_muxed_account(&self) -> xdr::MuxedAccount {
        match *self {
            Self::Account(key) => key.to_muxed_account(),
            Self::Muxed { key, id } => xdr::MuxedAccount::MuxedEd25519(xdr::MuxedAccountMed25519 {
                id,
                ed25519: xdr::Uint256(key.0),
            }),
        }
    }

    /// Reads an XDR muxed account.
    pub fn from_muxed_account(account: &xdr::MuxedAccount) -> Self {
        match account {
            xdr::MuxedAccount::Ed25519(xdr::Uint256(bytes)) => Self::Account(PublicKey(*bytes)),
            xdr::MuxedAccount::MuxedEd25519(m) => Self::Muxed {
                key: PublicKey(m.ed25519.0),
                id: m.id,
            },
        }
    }
}

impl From<PublicKey> for AccountAddress {
    fn from(key: PublicKey) -> Self {
        Self::Account(key)
    }
}

impl fmt::Display for AccountAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::Account(key) => key.fmt(f),
            Self::Muxed { key, id } => {
                write!(f, "{}", ed25519::MuxedAccount { ed25519: key.0, id })
            }
        }
    }
}

impl fmt::Debug for AccountAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AccountAddress({self})")
    }
}

impl FromStr for AccountAddress {
    type Err = KeyError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match Strkey::from_string(s) {
            Ok(Strkey::PublicKeyEd25519(k)) => Ok(Self::Account(PublicKey(k.0))),
            Ok(Strkey::MuxedAccountEd25519(m)) => Ok(Self::Muxed {
                key: PublicKey(m.ed25519),
                id: m.id,
            }),
            _ => Err(KeyError::InvalidAddress),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEED: &str = "SDWTLFPALQSP225BSMX7HPZ7ZEAYSUYNDLJ5QI3YGVBNRUIIELWH3XUV";
    const ACCOUNT: &str = "GBYJZW5XFAI6XV73H5SAIUYK6XZI4CGGVBUBO3ANA2SV7KKDAXTV6AEB";

    #[test]
    fn seed_derives_the_vector_account_and_round_trips() {
        let kp = KeyPair::from_secret_seed(SEED).unwrap();
        assert_eq!(kp.public_key().to_string(), ACCOUNT);
        assert_eq!(kp.secret_seed(), SEED);
        assert_eq!(ACCOUNT.parse::<PublicKey>().unwrap(), kp.public_key());
    }

    #[test]
    fn debug_never_prints_the_seed() {
        let kp = KeyPair::from_secret_seed(SEED).unwrap();
        let shown = format!("{kp:?}");
        assert!(!shown.contains(SEED));
        assert!(shown.contains(ACCOUNT));
    }

    #[test]
    fn bad_keys_are_rejected() {
        assert_eq!("GABC".parse::<PublicKey>(), Err(KeyError::InvalidPublicKey));
        assert_eq!(SEED.parse::<PublicKey>(), Err(KeyError::InvalidPublicKey));
        assert_eq!(
            KeyPair::from_secret_seed(ACCOUNT).unwrap_err(),
            KeyError::InvalidSeed
        );
        // Checksum damage in the last character.
        let damaged = format!("{}A", &ACCOUNT[..55]);
        assert!(damaged.parse::<PublicKey>().is_err());
    }

    #[test]
    fn muxed_addresses_round_trip() {
        let key: PublicKey = ACCOUNT.parse().unwrap();
        let muxed = AccountAddress::Muxed { key, id: 42 };
        let text = muxed.to_string();
        assert!(text.starts_with('M'));
        let parsed: AccountAddress = text.parse().unwrap();
        assert_eq!(parsed, muxed);
        assert_eq!(parsed.account(), key);
        assert_eq!(parsed.muxed_id(), Some(42));
        assert_eq!(
            AccountAddress::from_muxed_account(&parsed.to_muxed_account()),
            muxed
        );
        assert!(SEED.parse::<AccountAddress>().is_err());
    }

    #[test]
    fn signatures_verify_and_tampering_fails() {
        let kp = KeyPair::random();
        let sig = kp.sign(b"hello");
        assert!(kp.public_key().verify(b"hello", &sig));
        assert!(!kp.public_key().verify(b"hellp", &sig));
        assert!(!KeyPair::random().public_key().verify(b"hello", &sig));
        assert!(!kp.public_key().verify(b"hello", &sig[..63]));
    }
}
