//! SEP-1 stellar.toml resolution and the outbound HTTP policy of the whole project.
//!
//! Every server that talks to a URL it learned from the network (a federation client following
//! `FEDERATION_SERVER`, a compliance server calling a peer's `AUTH_SERVER`) does so through
//! [`Resolver`], so the policy lives in one place:
//!
//! - **HTTPS only.** Plain `http://` is allowed only for domains listed in
//!   `[stellar_toml.overrides]`, for their stellar.toml and for the URLs it names.
//! - **Caps and timeouts.** Bodies are streamed and cut at a caller-given limit
//!   ([`STELLAR_TOML_MAX_BYTES`] = 100 KiB for stellar.toml), whatever `Content-Length` says;
//!   connect and total timeouts apply to every request, the total one across redirects.
//! - **Redirects** are followed by hand, at most [`MAX_REDIRECTS`], each target re-checked.
//! - **SSRF guard.** For domains that are not overridden, connections to loopback, private,
//!   CGNAT, link-local, unique-local, multicast, unspecified, broadcast and documentation
//!   addresses are refused ([`guard::is_public_ip`]): IP-literal hosts are checked before
//!   connecting and names are resolved with hickory-resolver, dropping refused addresses.
//!   Requests on behalf of an overridden domain are exempt for the origin (scheme, host and
//!   port) they were sent to; a redirect anywhere else, another port of the same host
//!   included, is guarded. No proxy is ever used.
//! - **Cache.** A stellar.toml is cached per domain; failures are cached briefly.
//!
//! URLs the operator configured (callbacks, Horizon, peer servers) are not network-learned:
//! use [`Resolver::trusted_client`], which shares the extra CA and timeouts but not the guard.
//!
//! # Configuration: the `[stellar_toml]` section
//!
//! Every server's configuration file has this optional section ([`StellarTomlSettings`]);
//! unknown keys are rejected.
//!
//! | key | default | meaning |
//! |---|---|---|
//! | `overrides` | empty | table: domain → full URL of its stellar.toml. Such a domain is fetched from that URL instead of `https://DOMAIN/.well-known/stellar.toml`, may use `http://` for its stellar.toml and for the `FEDERATION_SERVER`/`AUTH_SERVER` it names, and is exempt from the private-address guard. Domains match case-insensitively. For tests, the demo and private networks. |
//! | `allow_private_addresses` | `false` | let every domain reach loopback, private, link-local, … addresses (intranet deployments). HTTPS is still required. |
//! | `extra_ca_file` | none | path of a PEM bundle of CA certificates trusted in addition to the system roots (private PKI, a self-signed test CA). Verification is never disabled. |
//! | `cache_ttl_seconds` | `300` | how long a fetched stellar.toml is reused |
//! | `negative_cache_ttl_seconds` | `30` | how long a failed fetch (404, timeout, invalid TOML, …) is remembered; `0` disables |
//! | `connect_timeout_seconds` | `5` | timeout for establishing a connection (≥ 1) |
//! | `timeout_seconds` | `10` | timeout for a whole request: connect, redirects and body (≥ 1) |
//!
//! ```toml
//! [stellar_toml]
//! extra_ca_file = "/etc/trio/private-ca.pem"
//! cache_ttl_seconds = 600
//!
//! [stellar_toml.overrides]
//! "bank-b.test" = "http://127.0.0.1:8002/.well-known/stellar.toml"
//! ```
//!
//! # Example
//!
//! ```no_run
//! # async fn demo() -> Result<(), stellar_toml::Error> {
//! use stellar_toml::{Resolver, StellarTomlSettings, STELLAR_TOML_MAX_BYTES};
//!
//! let resolver = Resolver::new(&StellarTomlSettings::default())?;
//! let server = resolver.federation_server("stellar.org").await?;
//! let mut url = server.clone();
//! url.query_pairs_mut().append_pair("q", "bob*stellar.org").append_pair("type", "name");
//! let answer = resolver.get("stellar.org", &url, STELLAR_TOML_MAX_BYTES).await?;
//! # let _ = answer; Ok(()) }
//! ```

mod document;
mod error;
pub mod guard;
pub mod http;
mod resolver;
mod settings;

pub use document::StellarToml;
pub use error::Error;
pub use resolver::{
    FetchedResponse, MAX_REDIRECTS, Resolver, STELLAR_TOML_MAX_BYTES, install_crypto_provider,
};
pub use settings::StellarTomlSettings;
pub use url::Url;
