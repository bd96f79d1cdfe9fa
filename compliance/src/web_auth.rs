//! SEP-10 web authentication, both sides: the challenge transaction (built and signed by the
//! server, read and verified in full by the client, its signatures counted by the server) and
//! the JWT the server answers with.
//!
//! The rules follow the SEP-10 text and the official SDKs' `read_challenge_transaction`: the
//! server is the source, the sequence number is 0, the time bounds are finite and hold now
//! (within a five-minute grace for clock skew, as the SDKs allow), the first operation is a
//! `"<home domain> auth"` manage data by the client with 48 random bytes in base64, and every
//! other operation is a manage data by the server (`web_auth_domain`, naming the host that
//! serves the endpoint) or a `client_domain` operation by that domain's key.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use hmac::{Hmac, Mac};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use stellar_base::transaction::{Envelope, Operation};
use stellar_base::{AccountAddress, KeyPair, Memo, Network, PublicKey, TransactionBuilder, xdr};

/// How long a challenge stays valid (SEP-10 recommends 15 minutes).
pub const CHALLENGE_SECONDS: u64 = 900;

/// Clock skew allowed before the time bounds open (the official SDKs allow the same, and none
/// after they close).
pub const GRACE_SECONDS: u64 = 300;

/// Why a challenge or a token was refused; the text says which rule it broke.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Refused(pub String);

fn refused<T>(why: impl Into<String>) -> Result<T, Refused> {
    Err(Refused(why.into()))
}

/// A challenge for `client` (and `memo`, one of its customers) to sign, signed by `server`:
/// valid from `now` for [`CHALLENGE_SECONDS`].
///
/// # Errors
/// When the home domain is longer than the 59 bytes a data name leaves it.
pub fn build_challenge(
    server: &KeyPair,
    client: &AccountAddress,
    memo: Option<u64>,
    home_domain: &str,
    web_auth_domain: &str,
    network: &Network,
    now: u64,
) -> Result<Envelope, Refused> {
    let mut nonce = [0u8; 48];
    rand::thread_rng().fill_bytes(&mut nonce);
    let nonce = STANDARD.encode(nonce);
    let server_account = AccountAddress::Account(server.public_key());
    let operation = |name: &str, value: &[u8]| {
        Operation::manage_data(name, Some(value)).map_err(|e| Refused(e.to_string()))
    };
    let mut envelope = TransactionBuilder::new(server_account, 0)
        .time_bounds(now, now + CHALLENGE_SECONDS)
        .memo(memo.map_or(Memo::None, Memo::Id))
        .operation(
            operation(&format!("{home_domain} auth"), nonce.as_bytes())?.with_source(*client),
        )
        .operation(
            operation("web_auth_domain", web_auth_domain.as_bytes())?.with_source(server_account),
        )
        .build()
        .map(Envelope::from_transaction)
        .map_err(|e| Refused(e.to_string()))?;
    envelope
        .sign(server, network)
        .map_err(|e| Refused(e.to_string()))?;
    Ok(envelope)
}

/// A challenge that passed every rule but the client's signatures.
#[derive(Debug, Clone)]
pub struct Challenge {
    /// The envelope as received.
    pub envelope: Envelope,
    /// The account being authenticated (a `M…` account for a muxed client).
    pub client: AccountAddress,
    /// The customer of the client's, when the challenge carries an id memo.
    pub memo: Option<u64>,
    /// The home domain it names.
    pub home_domain: String,
    /// The `client_domain` operation's domain and key, when there is one.
    pub client_domain: Option<(String, PublicKey)>,
    /// The transaction hash: the JWT's `jti`.
    pub hash: [u8; 32],
    /// The challenge's last valid second.
    pub max_time: u64,
    /// Which of the envelope's signatures is the server's (verified once, not again when the
    /// client's are counted).
    pub server_signature: usize,
}

/// Reads a challenge and checks every rule that does not depend on the client's account: what
/// a client checks before signing, and a server before counting signatures.
///
/// # Errors
/// [`Refused`] naming the first rule broken.
pub fn read_challenge(
    base64: &str,
    server: &PublicKey,
    home_domains: &[&str],
    web_auth_domain: &str,
    network: &Network,
    now: u64,
) -> Result<Challenge, Refused> {
    let envelope = Envelope::from_base64(base64).map_err(|e| Refused(e.to_string()))?;
    let xdr::TransactionEnvelope::Tx(v1) = envelope.as_xdr() else {
        return refused("the challenge must be a v1 transaction envelope");
    };
    let tx = &v1.tx;
    if AccountAddress::from_muxed_account(&tx.source_account) != AccountAddress::Account(*server) {
        return refused("the challenge's source is not the server's signing key");
    }
    if tx.seq_num.0 != 0 {
        return refused("the challenge's sequence number must be 0");
    }
    let bounds = match &tx.cond {
        xdr::Preconditions::Time(bounds) => bounds,
        xdr::Preconditions::V2(v2) => match &v2.time_bounds {
            Some(bounds) => bounds,
            None => return refused("the challenge has no time bounds"),
        },
        xdr::Preconditions::None => return refused("the challenge has no time bounds"),
    };
    let (min_time, max_time) = (bounds.min_time.0, bounds.max_time.0);
    if max_time == 0 {
        return refused("the challenge's time bounds must be finite");
    }
    if now + GRACE_SECONDS < min_time {
        return refused("the challenge is not valid yet");
    }
    if now > max_time {
        return refused("the challenge has expired");
    }
    let Some((first, rest)) = tx.operations.split_first() else {
        return refused("the challenge has no operations");
    };
    let (client, name, value) = match manage_data(first) {
        Some(DataOperation {
            source: Some(source),
            name,
            value,
        }) => (source, name, value),
        Some(_) => return refused("the first operation must name the client as source"),
        None => return refused("the first operation must be a manage data"),
    };
    let Some(home_domain) = home_domains
        .iter()
        .find(|domain| name == format!("{domain} auth").as_bytes())
    else {
        return refused("the challenge is for another home domain");
    };
    match value.map(|v| STANDARD.decode(v)) {
        Some(Ok(nonce)) if value.is_some_and(|v| v.len() == 64) && nonce.len() == 48 => {}
        _ => return refused("the challenge's nonce must be 48 random bytes in base64"),
    }
    let memo = match tx.memo {
        xdr::Memo::None => None,
        xdr::Memo::Id(_) if matches!(client, AccountAddress::Muxed { .. }) => {
            return refused("a muxed client cannot have a memo");
        }
        xdr::Memo::Id(id) => Some(id),
        _ => return refused("the challenge's memo must be an id memo or none"),
    };
    let mut client_domain = None;
    for operation in rest {
        let Some(DataOperation {
            source,
            name,
            value,
        }) = manage_data(operation)
        else {
            return refused("every operation must be a manage data");
        };
        let Some(source) = source else {
            return refused("every operation must name its source");
        };
        if name == b"client_domain" {
            let AccountAddress::Account(key) = source else {
                return refused("the client_domain operation's source must be a G… key");
            };
            let domain = value
                .and_then(|v| std::str::from_utf8(v).ok())
                .unwrap_or("");
            client_domain = Some((domain.to_owned(), key));
            continue;
        }
        if source != AccountAddress::Account(*server) {
            return refused("an operation after the first has a source other than the server");
        }
        if name == b"web_auth_domain" && value != Some(web_auth_domain.as_bytes()) {
            return refused("the challenge's web_auth_domain is not this server's");
        }
    }
    let hash = envelope.hash(network);
    let Some(server_signature) = signature_by(&envelope, &hash, server) else {
        return refused("the challenge is not signed by the server");
    };
    Ok(Challenge {
        server_signature,
        client,
        memo,
        home_domain: (*home_domain).to_owned(),
        client_domain,
        hash,
        max_time,
        envelope,
    })
}

/// A manage data operation of a challenge.
struct DataOperation<'a> {
    source: Option<AccountAddress>,
    name: &'a [u8],
    value: Option<&'a [u8]>,
}

/// The operation, when it is a manage data.
fn manage_data(operation: &xdr::Operation) -> Option<DataOperation<'_>> {
    let xdr::OperationBody::ManageData(data) = &operation.body else {
        return None;
    };
    Some(DataOperation {
        source: operation
            .source_account
            .as_ref()
            .map(AccountAddress::from_muxed_account),
        name: data.data_name.0.as_slice(),
        value: data.data_value.as_ref().map(|v| v.0.as_slice()),
    })
}

/// The position of `key`'s signature over `hash` among the envelope's, if it signed.
fn signature_by(envelope: &Envelope, hash: &[u8; 32], key: &PublicKey) -> Option<usize> {
    envelope
        .signatures()
        .iter()
        .position(|s| s.hint.0 == key.hint() && key.verify(hash, &s.signature.0))
}

/// An account's signers as Horizon lists them, or the master key alone when the account does
/// not exist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signers {
    /// ed25519 signers and their weights.
    pub keys: Vec<(PublicKey, u32)>,
    /// The weight the signatures must reach (the medium threshold, at least 1).
    pub threshold: u32,
}

impl Signers {
    /// An account that does not exist: its master key must sign.
    pub fn master_key(key: PublicKey) -> Self {
        Self {
            keys: vec![(key, 1)],
            threshold: 1,
        }
    }
}

/// Counts the client's signatures: every signature but the server's (and the client domain's)
/// must be one of `signers`', and their weights must reach the threshold.
///
/// # Errors
/// [`Refused`] when a signature is unknown or the weight is too low.
pub fn verify_signers(
    challenge: &Challenge,
    server: &PublicKey,
    signers: &Signers,
) -> Result<(), Refused> {
    let mut known: Vec<PublicKey> = vec![*server];
    if let Some((_, key)) = &challenge.client_domain {
        known.push(*key);
        if signature_by(&challenge.envelope, &challenge.hash, key).is_none() {
            return refused("the challenge is not signed by the client domain's key");
        }
    }
    let mut weight = 0u32;
    let mut counted: Vec<PublicKey> = Vec::new();
    for (i, signature) in challenge.envelope.signatures().iter().enumerate() {
        if i == challenge.server_signature {
            continue;
        }
        let signer = signers.keys.iter().find(|(key, _)| {
            !counted.contains(key)
                && signature.hint.0 == key.hint()
                && key.verify(&challenge.hash, &signature.signature.0)
        });
        match signer {
            Some((key, signer_weight)) => {
                counted.push(*key);
                weight = weight.saturating_add(*signer_weight);
            }
            None if known.iter().any(|k| {
                signature.hint.0 == k.hint() && k.verify(&challenge.hash, &signature.signature.0)
            }) => {}
            None => return refused("the challenge carries a signature that is not the client's"),
        }
    }
    if counted.is_empty() {
        return refused("the challenge is not signed by the client");
    }
    if weight < signers.threshold.max(1) {
        return refused("the client's signatures do not reach the account's threshold");
    }
    Ok(())
}

/// What the JWT says: SEP-10's claims.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The URL of the endpoint that issued it.
    pub iss: String,
    /// The account (`G…`, `M…`, or `G…:memo`).
    pub sub: String,
    /// Issued at (unix seconds).
    pub iat: u64,
    /// Expires at (unix seconds).
    pub exp: u64,
    /// The challenge's hash, hex.
    pub jti: String,
    /// The home domain the challenge named.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub home_domain: Option<String>,
    /// The client's domain, when the challenge proved one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_domain: Option<String>,
}

type HmacSha256 = Hmac<Sha256>;

/// Signs `claims` as an HS256 JWT with `secret`.
pub fn issue_token(claims: &Claims, secret: &[u8]) -> String {
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
    let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).expect("claims serialise"));
    let signed = format!("{header}.{payload}");
    let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(signed.as_bytes());
    format!(
        "{signed}.{}",
        URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    )
}

/// The claims of a token we issued, when its signature holds (compared in constant time) and
/// it has not expired.
///
/// # Errors
/// [`Refused`] for a malformed, forged or expired token.
pub fn verify_token(token: &str, secret: &[u8], now: u64) -> Result<Claims, Refused> {
    let Some((signed, signature)) = token.rsplit_once('.') else {
        return refused("not a JWT");
    };
    let Some((header, payload)) = signed.split_once('.').filter(|(_, p)| !p.contains('.')) else {
        return refused("not a JWT");
    };
    let header: serde_json::Value = URL_SAFE_NO_PAD
        .decode(header)
        .ok()
        .and_then(|h| serde_json::from_slice(&h).ok())
        .ok_or_else(|| Refused("the JWT's header is unreadable".into()))?;
    if header.get("alg").and_then(|a| a.as_str()) != Some("HS256") {
        return refused("the JWT is not HS256");
    }
    let signature = URL_SAFE_NO_PAD
        .decode(signature)
        .map_err(|_| Refused("the JWT's signature is unreadable".into()))?;
    let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(signed.as_bytes());
    mac.verify_slice(&signature)
        .map_err(|_| Refused("the JWT's signature is not ours".into()))?;
    let claims: Claims = URL_SAFE_NO_PAD
        .decode(payload)
        .ok()
        .and_then(|p| serde_json::from_slice(&p).ok())
        .ok_or_else(|| Refused("the JWT's claims are unreadable".into()))?;
    if claims.exp <= now {
        return refused("the JWT has expired");
    }
    Ok(claims)
}

/// The `exp` of a token issued by someone else, read without checking its signature: what a
/// client needs to know when to authenticate again.
pub fn expiry_unverified(token: &str) -> Option<u64> {
    let payload = token.split('.').nth(1)?;
    let claims: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).ok()?).ok()?;
    claims.get("exp")?.as_u64()
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOME: &str = "bank.example";
    const WEB_AUTH: &str = "auth.bank.example";

    fn network() -> Network {
        Network::new(Network::TESTNET)
    }

    fn challenge(server: &KeyPair, client: &KeyPair, now: u64) -> Envelope {
        build_challenge(
            server,
            &AccountAddress::Account(client.public_key()),
            None,
            HOME,
            WEB_AUTH,
            &network(),
            now,
        )
        .unwrap()
    }

    fn read(envelope: &Envelope, server: &KeyPair, now: u64) -> Result<Challenge, Refused> {
        read_challenge(
            &envelope.to_base64(),
            &server.public_key(),
            &[HOME],
            WEB_AUTH,
            &network(),
            now,
        )
    }

    #[test]
    fn a_challenge_signed_by_the_client_is_accepted() {
        let (server, client) = (KeyPair::random(), KeyPair::random());
        let mut envelope = challenge(&server, &client, 1_000_000);
        envelope.sign(&client, &network()).unwrap();
        let read = read(&envelope, &server, 1_000_100).unwrap();
        assert_eq!(read.client, AccountAddress::Account(client.public_key()));
        verify_signers(
            &read,
            &server.public_key(),
            &Signers::master_key(client.public_key()),
        )
        .unwrap();
    }

    #[test]
    fn time_bounds_hold_with_the_grace_and_not_beyond() {
        let (server, client) = (KeyPair::random(), KeyPair::random());
        let envelope = challenge(&server, &client, 1_000_000);
        assert!(read(&envelope, &server, 1_000_000 + CHALLENGE_SECONDS).is_ok());
        let late = read(&envelope, &server, 1_000_000 + CHALLENGE_SECONDS + 1);
        assert_eq!(late.unwrap_err().0, "the challenge has expired");
        let early = read(&envelope, &server, 1_000_000 - GRACE_SECONDS - 1);
        assert_eq!(early.unwrap_err().0, "the challenge is not valid yet");
    }

    #[test]
    fn another_home_domain_or_server_is_refused() {
        let (server, client) = (KeyPair::random(), KeyPair::random());
        let envelope = challenge(&server, &client, 1_000_000);
        let other_home = read_challenge(
            &envelope.to_base64(),
            &server.public_key(),
            &["other.example"],
            WEB_AUTH,
            &network(),
            1_000_000,
        );
        assert_eq!(
            other_home.unwrap_err().0,
            "the challenge is for another home domain"
        );
        let other_server = read(&envelope, &KeyPair::random(), 1_000_000);
        assert_eq!(
            other_server.unwrap_err().0,
            "the challenge's source is not the server's signing key"
        );
        let other_web_auth = read_challenge(
            &envelope.to_base64(),
            &server.public_key(),
            &[HOME],
            "evil.example",
            &network(),
            1_000_000,
        );
        assert_eq!(
            other_web_auth.unwrap_err().0,
            "the challenge's web_auth_domain is not this server's"
        );
    }

    #[test]
    fn a_signature_by_another_key_is_refused() {
        let (server, client, other) = (KeyPair::random(), KeyPair::random(), KeyPair::random());
        let mut envelope = challenge(&server, &client, 1_000_000);
        envelope.sign(&other, &network()).unwrap();
        let read = read(&envelope, &server, 1_000_000).unwrap();
        let error = verify_signers(
            &read,
            &server.public_key(),
            &Signers::master_key(client.public_key()),
        );
        assert_eq!(
            error.unwrap_err().0,
            "the challenge carries a signature that is not the client's"
        );
    }

    #[test]
    fn signers_must_reach_the_threshold() {
        let (server, client, cosigner) = (KeyPair::random(), KeyPair::random(), KeyPair::random());
        let mut envelope = challenge(&server, &client, 1_000_000);
        envelope.sign(&client, &network()).unwrap();
        let read = read(&envelope, &server, 1_000_000).unwrap();
        let signers = Signers {
            keys: vec![(client.public_key(), 1), (cosigner.public_key(), 1)],
            threshold: 2,
        };
        assert!(verify_signers(&read, &server.public_key(), &signers).is_err());
        let mut both = read.clone();
        both.envelope.sign(&cosigner, &network()).unwrap();
        verify_signers(&both, &server.public_key(), &signers).unwrap();
    }

    #[test]
    fn tokens_verify_and_expire_and_cannot_be_forged() {
        let claims = Claims {
            iss: "https://bank.example/auth".into(),
            sub: KeyPair::random().public_key().to_string(),
            iat: 100,
            exp: 200,
            jti: "00".into(),
            home_domain: Some(HOME.into()),
            client_domain: None,
        };
        let token = issue_token(&claims, b"secret");
        assert_eq!(verify_token(&token, b"secret", 150).unwrap(), claims);
        assert_eq!(expiry_unverified(&token), Some(200));
        assert!(verify_token(&token, b"secret", 200).is_err());
        assert!(verify_token(&token, b"other", 150).is_err());
        let mut forged = claims.clone();
        forged.sub = KeyPair::random().public_key().to_string();
        let (head, _) = token.rsplit_once('.').unwrap();
        let (header, _) = head.split_once('.').unwrap();
        let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&forged).unwrap());
        let signature = token.rsplit('.').next().unwrap();
        assert!(verify_token(&format!("{header}.{payload}.{signature}"), b"secret", 150).is_err());
    }
}
