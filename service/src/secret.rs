//! [`Secret`]: a configured secret (API key, password) that never prints.
//!
//! `Debug` shows `Secret(<redacted>)`, there is no `Display`, and reading the value takes an
//! explicit [`Secret::expose`]. Keys that requests present are compared in constant time
//! ([`Secret::matches`]). Seeds are `stellar_base`-style key pairs, which redact themselves.

use std::fmt;

use serde::{Deserialize, Deserializer};

/// A value that `{:?}` never shows.
#[derive(Clone, Default)]
pub struct Secret<T>(T);

impl<T> Secret<T> {
    /// Wraps `value`.
    pub fn new(value: T) -> Self {
        Self(value)
    }

    /// The value itself, for where it is used (a header, a comparison, a connection).
    pub fn expose(&self) -> &T {
        &self.0
    }
}

impl Secret<String> {
    /// True when `given` is this secret, compared in constant time (only lengths leak).
    pub fn matches(&self, given: &str) -> bool {
        crate::auth::keys_match(&self.0, given)
    }
}

impl<T> fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl<T> From<T> for Secret<T> {
    fn from(value: T) -> Self {
        Self(value)
    }
}

impl From<&str> for Secret<String> {
    fn from(value: &str) -> Self {
        Self(value.to_owned())
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Secret<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        T::deserialize(d).map(Self)
    }
}

/// Deserializes an optional secret in which an empty or blank string (as legacy sample
/// configurations have) means none: `#[serde(default, deserialize_with = "service::secret::non_empty")]`.
///
/// # Errors
/// When the value is not a string.
pub fn non_empty<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Secret<String>>, D::Error> {
    Ok(Option::<String>::deserialize(d)?
        .filter(|s| !s.trim().is_empty())
        .map(Secret::new))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_printed_and_compared_exactly() {
        let key = Secret::from("s3cret-key");
        assert_eq!(format!("{key:?}"), "Secret(<redacted>)");
        assert_eq!(
            format!("{:?}", Some(key.clone())),
            "Some(Secret(<redacted>))"
        );
        assert!(key.matches("s3cret-key"));
        assert!(!key.matches("s3cret-ke") && !key.matches(""));
        assert_eq!(key.expose(), "s3cret-key");
        let parsed: Secret<String> = serde_json::from_str("\"abc\"").unwrap();
        assert_eq!(parsed.expose(), "abc");
        let blank = non_empty(&mut serde_json::Deserializer::from_str("\"  \"")).unwrap();
        assert!(blank.is_none());
    }
}
