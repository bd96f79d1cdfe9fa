//! The one error type of the crate.
//!
//! Every variant carries only owned strings and numbers, so errors are `Clone` and the resolver
//! can keep failures in its negative cache and hand the same error to every caller.

/// What can go wrong while resolving a stellar.toml or fetching a URL under the outbound policy.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The server answered 404 for a stellar.toml.
    #[error("not found: {url}")]
    NotFound {
        /// The URL that was requested (after redirects).
        url: String,
    },
    /// The server answered a non-2xx status (other than 404) for a stellar.toml.
    #[error("{url} answered HTTP {status}")]
    Status {
        /// The URL that was requested (after redirects).
        url: String,
        /// The HTTP status code.
        status: u16,
    },
    /// The response body was larger than the limit; reading stopped at the limit.
    #[error("response exceeds {limit} bytes")]
    TooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// The stellar.toml is not valid TOML or a SEP-1 field has the wrong type.
    #[error("invalid stellar.toml: {0}")]
    InvalidToml(String),
    /// The connect or total timeout elapsed.
    #[error("request timed out")]
    Timeout,
    /// The SSRF guard refused the address (loopback, private, link-local, …).
    #[error("refused address: {0}")]
    RefusedAddress(String),
    /// The URL uses a scheme the policy does not allow (plain http for a domain that is not
    /// overridden, or anything other than http/https).
    #[error("insecure or unsupported URL: {0}")]
    InsecureUrl(String),
    /// The domain is not a valid DNS name and not an override key.
    #[error("invalid domain: {0}")]
    InvalidDomain(String),
    /// The URL cannot be parsed or has no host.
    #[error("invalid URL: {0}")]
    InvalidUrl(String),
    /// More than [`MAX_REDIRECTS`](crate::MAX_REDIRECTS) redirects.
    #[error("too many redirects")]
    TooManyRedirects,
    /// A stellar.toml field the caller needs is absent.
    #[error("stellar.toml has no {0}")]
    MissingField(&'static str),
    /// A stellar.toml field is present but unusable.
    #[error("stellar.toml field {field} is invalid: {reason}")]
    InvalidField {
        /// The SEP-1 field name, e.g. `SIGNING_KEY`.
        field: &'static str,
        /// Why it is invalid.
        reason: String,
    },
    /// Any other network or HTTP failure (connection refused, TLS, DNS, …).
    #[error("transport error: {0}")]
    Transport(String),
    /// The settings are unusable (unreadable CA file, bad override URL, …).
    #[error("configuration error: {0}")]
    Config(String),
}
