//! Mutation fuzzing of the parsers that read untrusted bytes (feature `fuzzing`, for the
//! crates' tests and `scripts/fuzz.sh`; never in a server binary).
//!
//! [`cases`] derives inputs from valid seeds the way coverage-less fuzzers do: bit flips,
//! bytes that matter to parsers (quotes, braces, `%`, `&`, `=`, NUL, 0xFF), random insertions,
//! deletions, duplications and truncations, splices of two seeds, and huge numbers. A test
//! feeds each case to a parser and asserts what must hold for any input (no panic, an error
//! rather than a wrong value, bounded output). The number of cases and the random seed come
//! from `FUZZ_CASES` and `FUZZ_SEED` when set, so a long run is the same test with a larger
//! count, and a failure is replayed with the seed it prints.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Bytes that change how parsers read what follows.
const INTERESTING: &[u8] = b"\0\xff\"'{}[]\\:,=&%+*\n\r\t -.0123456789eE";

/// The cases for one parser: `default_count` (or `FUZZ_CASES`) mutations of `seeds`, from the
/// random seed `FUZZ_SEED` (or a fixed one). Each item is `(index, bytes)`.
///
/// # Panics
/// When `seeds` is empty.
pub fn cases(seeds: &[&[u8]], default_count: usize) -> impl Iterator<Item = (usize, Vec<u8>)> {
    assert!(!seeds.is_empty(), "fuzzing needs at least one seed");
    let count = std::env::var("FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default_count);
    let seed = std::env::var("FUZZ_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0x5eed_u64);
    let seeds: Vec<Vec<u8>> = seeds.iter().map(|s| s.to_vec()).collect();
    let mut rng = StdRng::seed_from_u64(seed);
    (0..count).map(move |i| {
        let mut input = seeds[rng.gen_range(0..seeds.len())].clone();
        for _ in 0..rng.gen_range(1..=4) {
            mutate(&mut rng, &mut input, &seeds);
        }
        (i, input)
    })
}

/// What a failing test prints to replay its case.
pub fn replay_hint(index: usize) -> String {
    let seed = std::env::var("FUZZ_SEED").unwrap_or_else(|_| "0x5eed (default)".into());
    format!("case {index} of FUZZ_SEED={seed}")
}

fn mutate(rng: &mut StdRng, input: &mut Vec<u8>, seeds: &[Vec<u8>]) {
    let len = input.len();
    let at = |rng: &mut StdRng| if len == 0 { 0 } else { rng.gen_range(0..len) };
    match rng.gen_range(0..8) {
        0 if len > 0 => {
            let i = at(rng);
            input[i] ^= 1 << rng.gen_range(0..8);
        }
        1 if len > 0 => {
            let i = at(rng);
            input[i] = INTERESTING[rng.gen_range(0..INTERESTING.len())];
        }
        2 => {
            let i = at(rng);
            let n = rng.gen_range(1..=16);
            let bytes: Vec<u8> = (0..n).map(|_| rng.r#gen()).collect();
            input.splice(i..i, bytes);
        }
        3 if len > 0 => {
            let i = at(rng);
            let end = (i + rng.gen_range(1..=32)).min(len);
            input.drain(i..end);
        }
        4 if len > 0 => {
            let i = at(rng);
            let end = (i + rng.gen_range(1..=64)).min(len);
            let copy = input[i..end].to_vec();
            let j = at(rng);
            input.splice(j..j, copy);
        }
        5 => input.truncate(at(rng)),
        6 => {
            let other = &seeds[rng.gen_range(0..seeds.len())];
            let cut = if other.is_empty() {
                0
            } else {
                rng.gen_range(0..other.len())
            };
            input.truncate(at(rng));
            input.extend_from_slice(&other[cut..]);
        }
        _ => {
            let i = at(rng);
            let huge = [
                "99999999999999999999999",
                "-1",
                "1e400",
                "9223372036854775808",
            ];
            input.splice(i..i, huge[rng.gen_range(0..huge.len())].bytes());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cases_are_reproducible_and_varied() {
        let seeds: &[&[u8]] = &[b"{\"a\":1}", b"id=1&amount=2"];
        let first: Vec<_> = cases(seeds, 200).collect();
        let again: Vec<_> = cases(seeds, 200).collect();
        assert_eq!(first, again, "the same seed gives the same cases");
        let distinct: std::collections::HashSet<_> = first.iter().map(|(_, c)| c).collect();
        assert!(distinct.len() > 150, "{}", distinct.len());
    }

    /// Envelopes, amounts, addresses, keys and memos from untrusted text: never a panic, and
    /// whatever is accepted reads back the same once written out.
    #[test]
    fn the_text_parsers_hold_on_mutated_input() {
        use crate::transaction::Envelope;
        use crate::{AccountAddress, Amount, FederationAddress, Memo};
        let key = crate::KeyPair::from_seed_bytes([3; 32]);
        let envelope = crate::TransactionBuilder::new(key.public_key().into(), 7)
            .memo(Memo::Text("fuzz".into()))
            .time_bounds(0, 1_000)
            .operation(crate::transaction::Operation::payment(
                key.public_key().into(),
                &crate::Asset::Native,
                "1.5".parse().unwrap(),
            ))
            .sign(&crate::Network::new("fuzz"), &[&key])
            .unwrap()
            .to_base64();
        let seeds: &[&[u8]] = &[
            envelope.as_bytes(),
            b"1.5",
            b"922337203685.4775807",
            b"alice*bank.example",
            b"GBYJZW5XFAI6XV73H5SAIUYK6XZI4CGGVBUBO3ANA2SV7KKDAXTV6AEB",
            b"MA7QYNF7SOWQ3GLR2BGMZEHXAVIRZA4KVWLTJJFC7MGXUA74P7UJUAAAAAAAAAAAAGZFQ",
        ];
        let mut envelopes = 0;
        for (i, bytes) in cases(seeds, 3_000) {
            let text = String::from_utf8_lossy(&bytes);
            let hint = || replay_hint(i);
            if let Ok(e) = Envelope::from_base64(&text) {
                envelopes += 1;
                let again = Envelope::from_base64(&e.to_base64()).expect("re-encoded envelope");
                assert_eq!(again, e, "{}", hint());
            }
            if let Ok(a) = text.parse::<Amount>() {
                assert_eq!(a.to_string().parse::<Amount>().ok(), Some(a), "{}", hint());
            }
            if let Ok(f) = text.parse::<FederationAddress>() {
                assert_eq!(
                    f.to_string().parse::<FederationAddress>().ok(),
                    Some(f),
                    "{}",
                    hint()
                );
            }
            if let Ok(a) = text.parse::<AccountAddress>() {
                assert_eq!(
                    a.to_string().parse::<AccountAddress>().ok(),
                    Some(a),
                    "{}",
                    hint()
                );
            }
            for kind in ["id", "text", "hash", "return"] {
                let _ = Memo::parse(kind, &text);
            }
        }
        assert!(
            envelopes > 0,
            "some mutated envelopes still decode, and round-trip"
        );
    }
}
