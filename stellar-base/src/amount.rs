//! Exact amounts: 7-decimal fixed point stored as `i64` stroops, parsed and printed like Horizon.
//!
//! Floats never touch money here: "0.1" + "0.2" is exactly "0.3000000".

use std::fmt;
use std::str::FromStr;

/// Stroops per unit (10^7).
pub const STROOPS_PER_UNIT: i64 = 10_000_000;

/// Why an amount string was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AmountError {
    /// Empty, a sign, letters, a lone dot, exponent notation…
    #[error("invalid amount: expected digits with an optional '.' and up to 7 decimals")]
    Malformed,
    /// Negative amounts are never valid in our APIs.
    #[error("invalid amount: must not be negative")]
    Negative,
    /// More precision than a stroop.
    #[error("invalid amount: at most 7 decimal places are allowed")]
    TooPrecise,
    /// More than `i64::MAX` stroops (922337203685.4775807).
    #[error("invalid amount: too large (the maximum is 922337203685.4775807)")]
    Overflow,
}

/// A non-negative amount in stroops (1 unit = 10 000 000 stroops).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Amount(i64);

impl Amount {
    /// Zero.
    pub const ZERO: Self = Self(0);

    /// An amount from stroops.
    ///
    /// # Errors
    /// [`AmountError::Negative`] for a negative value.
    pub fn from_stroops(stroops: i64) -> Result<Self, AmountError> {
        if stroops < 0 {
            return Err(AmountError::Negative);
        }
        Ok(Self(stroops))
    }

    /// The value in stroops.
    pub fn stroops(self) -> i64 {
        self.0
    }

    /// True when strictly greater than zero (every payment amount must be).
    pub fn is_positive(self) -> bool {
        self.0 > 0
    }

    /// Adds, or `None` on overflow.
    pub fn checked_add(self, other: Self) -> Option<Self> {
        self.0.checked_add(other.0).map(Self)
    }

    /// Subtracts, or `None` when the result would be negative.
    pub fn checked_sub(self, other: Self) -> Option<Self> {
        self.0.checked_sub(other.0).filter(|v| *v >= 0).map(Self)
    }
}

impl FromStr for Amount {
    type Err = AmountError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.starts_with('-') {
            return Err(AmountError::Negative);
        }
        let (whole, fraction) = match s.split_once('.') {
            Some((w, f)) => (w, f),
            None => (s, ""),
        };
        let all_digits = |p: &str| p.bytes().all(|b| b.is_ascii_digit());
        if whole.is_empty()
            || !all_digits(whole)
            || !all_digits(fraction)
            || (s.contains('.') && fraction.is_empty())
        {
            return Err(AmountError::Malformed);
        }
        if fraction.len() > 7 {
            return Err(AmountError::TooPrecise);
        }
        let whole: i64 =
            whole
                .trim_start_matches('0')
                .parse::<i64>()
                .or_else(|e| match e.kind() {
                    std::num::IntErrorKind::Empty => Ok(0),
                    _ => Err(AmountError::Overflow),
                })?;
        let mut fraction_stroops: i64 = 0;
        for (i, digit) in fraction.bytes().enumerate() {
            fraction_stroops += i64::from(digit - b'0') * 10_i64.pow(6 - i as u32);
        }
        whole
            .checked_mul(STROOPS_PER_UNIT)
            .and_then(|w| w.checked_add(fraction_stroops))
            .map(Self)
            .ok_or(AmountError::Overflow)
    }
}

impl fmt::Display for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}.{:07}",
            self.0 / STROOPS_PER_UNIT,
            self.0 % STROOPS_PER_UNIT
        )
    }
}

impl fmt::Debug for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Amount({self})")
    }
}

impl serde::Serialize for Amount {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Amount {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<i64, AmountError> {
        s.parse::<Amount>().map(Amount::stroops)
    }

    #[test]
    fn parses_whole_fractional_and_smallest_amounts() {
        assert_eq!(parse("20"), Ok(200_000_000));
        assert_eq!(parse("20.5"), Ok(205_000_000));
        assert_eq!(parse("0.0000001"), Ok(1));
        assert_eq!(parse("0"), Ok(0));
        assert_eq!(parse("007.10"), Ok(71_000_000));
        assert_eq!(parse("922337203685.4775807"), Ok(i64::MAX));
    }

    #[test]
    fn rejects_what_is_not_an_exact_non_negative_amount() {
        assert_eq!(parse("-1"), Err(AmountError::Negative));
        assert_eq!(parse("0.00000001"), Err(AmountError::TooPrecise));
        assert_eq!(parse("922337203685.4775808"), Err(AmountError::Overflow));
        assert_eq!(parse("99999999999999999999"), Err(AmountError::Overflow));
        for bad in [
            "", ".", "1.", ".5", "1e5", "+1", " 1", "1,5", "0x10", "NaN", "1.2.3",
        ] {
            assert_eq!(parse(bad), Err(AmountError::Malformed), "{bad:?}");
        }
    }

    #[test]
    fn formats_like_horizon_and_round_trips() {
        assert_eq!(Amount(200_000_000).to_string(), "20.0000000");
        assert_eq!(Amount(1).to_string(), "0.0000001");
        assert_eq!(Amount(i64::MAX).to_string(), "922337203685.4775807");
        for s in ["0.0000000", "1.2345678", "100.0000000"] {
            assert_eq!(s.parse::<Amount>().unwrap().to_string(), s);
        }
    }

    #[test]
    fn arithmetic_is_exact_and_checked() {
        let a: Amount = "0.1".parse().unwrap();
        let b: Amount = "0.2".parse().unwrap();
        assert_eq!(a.checked_add(b).unwrap().to_string(), "0.3000000");
        assert_eq!(a.checked_sub(b), None);
        assert_eq!(Amount(i64::MAX).checked_add(Amount(1)), None);
    }
}
