//! Parsing SEP-1 documents and the `[stellar_toml]` settings section.

use stellar_base::KeyPair;
use stellar_toml::{Error, StellarToml, StellarTomlSettings};

fn signing_key() -> String {
    KeyPair::from_seed_bytes([7; 32]).public_key().to_string()
}

#[test]
fn parses_a_full_sep1_example_and_keeps_unknown_fields() {
    let key = signing_key();
    let text = format!(
        r#"
VERSION = "2.7.0"
NETWORK_PASSPHRASE = "Public Global Stellar Network ; September 2015"
FEDERATION_SERVER = "https://stellar.example.com/federation"
AUTH_SERVER = "https://stellar.example.com/auth"
TRANSFER_SERVER = "https://api.example.com/sep6"
TRANSFER_SERVER_SEP0024 = "https://api.example.com/sep24"
KYC_SERVER = "https://kyc.example.com"
WEB_AUTH_ENDPOINT = "https://auth.example.com"
SIGNING_KEY = "{key}"
HORIZON_URL = "https://horizon.example.com"
ACCOUNTS = ["{key}", "GAOO3LWBC4XF6VWRP5ESJ6IBHAISVJMSBTALHOQM2EZG7Q477UWA6L7U"]
URI_REQUEST_SIGNING_KEY = "{key}"
DIRECT_PAYMENT_SERVER = "https://sep31.example.com"
SOME_FUTURE_FIELD = 42
LAST_UPDATED = 2024-01-02T03:04:05Z

[DOCUMENTATION]
ORG_NAME = "Example Org"
ORG_URL = "https://example.com"

[[PRINCIPALS]]
name = "Jane Doe"
email = "jane@example.com"

[[CURRENCIES]]
code = "USD"
issuer = "{key}"
display_decimals = 2

[[CURRENCIES]]
code = "BTC"
is_asset_anchored = true

[[VALIDATORS]]
ALIAS = "example-1"
HOST = "core.example.com:11625"
"#
    );
    let toml = StellarToml::parse(&text).unwrap();
    assert_eq!(toml.version.as_deref(), Some("2.7.0"));
    assert_eq!(
        toml.network_passphrase.as_deref(),
        Some("Public Global Stellar Network ; September 2015")
    );
    assert_eq!(
        toml.federation_server.as_deref(),
        Some("https://stellar.example.com/federation")
    );
    assert_eq!(
        toml.auth_server.as_deref(),
        Some("https://stellar.example.com/auth")
    );
    assert_eq!(
        toml.transfer_server.as_deref(),
        Some("https://api.example.com/sep6")
    );
    assert_eq!(
        toml.transfer_server_sep0024.as_deref(),
        Some("https://api.example.com/sep24")
    );
    assert_eq!(toml.kyc_server.as_deref(), Some("https://kyc.example.com"));
    assert_eq!(
        toml.web_auth_endpoint.as_deref(),
        Some("https://auth.example.com")
    );
    assert_eq!(
        toml.horizon_url.as_deref(),
        Some("https://horizon.example.com")
    );
    assert_eq!(toml.accounts.len(), 2);
    assert_eq!(toml.uri_request_signing_key.as_deref(), Some(key.as_str()));
    assert_eq!(
        toml.direct_payment_server.as_deref(),
        Some("https://sep31.example.com")
    );
    assert_eq!(toml.signing_key().unwrap().to_string(), key);

    // Unknown keys and every table survive.
    assert_eq!(toml.other["SOME_FUTURE_FIELD"].as_integer(), Some(42));
    assert!(toml.other["LAST_UPDATED"].as_datetime().is_some());
    assert_eq!(
        toml.other["DOCUMENTATION"]["ORG_NAME"].as_str(),
        Some("Example Org")
    );
    assert_eq!(toml.other["PRINCIPALS"].as_array().unwrap().len(), 1);
    let currencies = toml.other["CURRENCIES"].as_array().unwrap();
    assert_eq!(currencies.len(), 2);
    assert_eq!(currencies[1]["code"].as_str(), Some("BTC"));
    assert_eq!(
        toml.other["VALIDATORS"][0]["ALIAS"].as_str(),
        Some("example-1")
    );
    assert!(!toml.other.contains_key("FEDERATION_SERVER"));
}

#[test]
fn an_empty_file_is_a_valid_empty_document() {
    let toml = StellarToml::parse("").unwrap();
    assert_eq!(toml, StellarToml::default());
    assert_eq!(toml.signing_key(), Err(Error::MissingField("SIGNING_KEY")));
}

#[test]
fn invalid_toml_is_reported() {
    for text in [
        "FEDERATION_SERVER = ",
        "not toml at all",
        "[a\nb = 1",
        "A = 1\nA = 2",
        "FEDERATION_SERVER = 42",
        "ACCOUNTS = \"GABC\"",
        "ACCOUNTS = [1, 2]",
    ] {
        assert!(
            matches!(StellarToml::parse(text), Err(Error::InvalidToml(_))),
            "{text:?} should be invalid"
        );
    }
}

#[test]
fn a_bad_signing_key_is_an_invalid_field() {
    let toml = StellarToml::parse("SIGNING_KEY = \"GNOTAKEY\"").unwrap();
    assert!(matches!(
        toml.signing_key(),
        Err(Error::InvalidField {
            field: "SIGNING_KEY",
            ..
        })
    ));
    let seed = KeyPair::from_seed_bytes([7; 32]).secret_seed();
    let toml = StellarToml::parse(&format!("SIGNING_KEY = \"{seed}\"")).unwrap();
    assert!(
        toml.signing_key().is_err(),
        "a secret seed is not a signing key"
    );
}

#[test]
fn settings_have_sane_defaults_and_reject_unknown_keys() {
    let defaults: StellarTomlSettings = toml::from_str("").unwrap();
    assert_eq!(defaults, StellarTomlSettings::default());
    assert_eq!(defaults.cache_ttl_seconds, 300);
    assert_eq!(defaults.negative_cache_ttl_seconds, 30);
    assert_eq!(defaults.connect_timeout_seconds, 5);
    assert_eq!(defaults.timeout_seconds, 10);
    assert!(!defaults.allow_private_addresses);
    assert!(defaults.extra_ca_file.is_none());

    let settings: StellarTomlSettings = toml::from_str(
        r#"
allow_private_addresses = true
extra_ca_file = "/etc/ca.pem"
timeout_seconds = 3
[overrides]
"bank-b.test" = "http://127.0.0.1:8002/.well-known/stellar.toml"
"#,
    )
    .unwrap();
    assert!(settings.allow_private_addresses);
    assert_eq!(settings.timeout_seconds, 3);
    assert_eq!(settings.cache_ttl_seconds, 300);
    assert_eq!(
        settings.overrides["bank-b.test"],
        "http://127.0.0.1:8002/.well-known/stellar.toml"
    );

    let err = toml::from_str::<StellarTomlSettings>("cache_ttl = 5").unwrap_err();
    assert!(err.to_string().contains("cache_ttl"), "{err}");
}

/// A stellar.toml from anywhere: a document or an error, never a panic; and the keys it gives
/// are keys.
#[test]
fn the_parser_holds_on_mutated_documents() {
    let key = signing_key();
    let full = format!(
        "VERSION = \"2.7.0\"\nFEDERATION_SERVER = \"https://x.example/federation\"\n\
         AUTH_SERVER = \"https://x.example/auth\"\nSIGNING_KEY = \"{key}\"\n\
         [[CURRENCIES]]\ncode = \"USD\"\nissuer = \"{key}\"\n[DOCUMENTATION]\nORG_NAME = \"X\"\n"
    );
    let seeds: &[&[u8]] = &[full.as_bytes(), b"SIGNING_KEY = 'G'\nX = [1, {a = 2}]\n"];
    for (i, bytes) in stellar_base::fuzz::cases(seeds, 3_000) {
        if let Ok(toml) = StellarToml::parse(&String::from_utf8_lossy(&bytes))
            && let Ok(k) = toml.signing_key()
        {
            assert_eq!(
                k.to_string().parse::<stellar_base::PublicKey>().ok(),
                Some(k),
                "{}",
                stellar_base::fuzz::replay_hint(i)
            );
        }
    }
}
