//! Federation addresses (`name*domain`, SEP-2).
//!
//! The rule is the one the legacy servers used everywhere: exactly one `*`, a non-empty name,
//! and a valid DNS name as the domain. Domains compare case-insensitively, so they are stored
//! lower-cased; names are kept exactly as written.

use std::fmt;
use std::str::FromStr;

/// Why an address was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddressError {
    /// Not exactly one `*`.
    #[error("invalid address: use the form name*domain")]
    Malformed,
    /// Empty name or one containing whitespace or `>`.
    #[error("invalid address: the name part is invalid")]
    InvalidName,
    /// Not a DNS name.
    #[error("invalid address: the domain part is invalid")]
    InvalidDomain,
}

/// A `name*domain` address.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct FederationAddress {
    name: String,
    domain: String,
}

impl FederationAddress {
    /// The part before `*`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The domain, lower-cased.
    pub fn domain(&self) -> &str {
        &self.domain
    }
}

impl FromStr for FederationAddress {
    type Err = AddressError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut parts = s.split('*');
        let (Some(name), Some(domain), None) = (parts.next(), parts.next(), parts.next()) else {
            return Err(AddressError::Malformed);
        };
        if name.is_empty()
            || name
                .chars()
                .any(|c| c.is_whitespace() || c == '>' || c.is_control())
        {
            return Err(AddressError::InvalidName);
        }
        if !is_dns_name(domain) {
            return Err(AddressError::InvalidDomain);
        }
        Ok(Self {
            name: name.to_owned(),
            domain: domain.to_ascii_lowercase(),
        })
    }
}

impl fmt::Display for FederationAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}*{}", self.name, self.domain)
    }
}

impl fmt::Debug for FederationAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FederationAddress({self})")
    }
}

/// A DNS host name: dot-separated labels of 1–63 letters, digits and inner hyphens, 253
/// characters at most, an optional trailing dot. Like the legacy check, labels may not start or
/// end with a hyphen.
pub fn is_dns_name(domain: &str) -> bool {
    let domain = domain.strip_suffix('.').unwrap_or(domain);
    !domain.is_empty()
        && domain.len() <= 253
        && domain.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legacy_vectors() {
        let a: FederationAddress = "scott*stellar.org".parse().unwrap();
        assert_eq!((a.name(), a.domain()), ("scott", "stellar.org"));
        assert_eq!(
            "".parse::<FederationAddress>(),
            Err(AddressError::Malformed)
        );
        assert_eq!(
            "*stellar.org".parse::<FederationAddress>(),
            Err(AddressError::InvalidName)
        );
        assert_eq!(
            "scott*".parse::<FederationAddress>(),
            Err(AddressError::InvalidDomain)
        );
        assert_eq!(
            "scott*--3.com".parse::<FederationAddress>(),
            Err(AddressError::InvalidDomain)
        );
        assert_eq!(
            "scott**stellar.org".parse::<FederationAddress>(),
            Err(AddressError::Malformed)
        );
    }

    #[test]
    fn emails_and_phone_numbers_are_names_and_domains_fold_case() {
        let a: FederationAddress = "scott+receiver1@stellar.org*Stellar.ORG".parse().unwrap();
        assert_eq!(a.name(), "scott+receiver1@stellar.org");
        assert_eq!(a.domain(), "stellar.org");
        assert_eq!(a.to_string(), "scott+receiver1@stellar.org*stellar.org");
        assert!(
            "+14155550100*bank.test"
                .parse::<FederationAddress>()
                .is_ok()
        );
        assert!("bo b*bank.test".parse::<FederationAddress>().is_err());
        assert!("bob*bank test".parse::<FederationAddress>().is_err());
    }
}
