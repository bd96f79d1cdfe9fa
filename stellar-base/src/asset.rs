//! Assets: native lumens or a credit asset (code + issuer).

use std::fmt;

use stellar_xdr as xdr;

use crate::keys::PublicKey;

/// Why an asset was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AssetError {
    /// Codes are 1–12 characters of `[A-Za-z0-9]`.
    #[error("invalid asset code {0:?}: use 1 to 12 letters or digits")]
    InvalidCode(String),
    /// A credit asset needs a `G…` issuer.
    #[error("invalid asset issuer: {0}")]
    InvalidIssuer(String),
}

/// A Stellar asset.
#[derive(Clone, PartialEq, Eq, Hash)]
pub enum Asset {
    /// Lumens (XLM).
    Native,
    /// An issued asset.
    Credit {
        /// 1–12 alphanumeric characters; 1–4 encode as alphanum4, 5–12 as alphanum12.
        code: String,
        /// The issuing account.
        issuer: PublicKey,
    },
}

impl Asset {
    /// A credit asset after checking the code.
    ///
    /// # Errors
    /// [`AssetError::InvalidCode`] for an empty, too long or non-alphanumeric code.
    pub fn credit(code: &str, issuer: PublicKey) -> Result<Self, AssetError> {
        if code.is_empty() || code.len() > 12 || !code.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(AssetError::InvalidCode(code.to_owned()));
        }
        Ok(Self::Credit {
            code: code.to_owned(),
            issuer,
        })
    }

    /// Parses the `(asset_code, asset_issuer)` pair used by the legacy form APIs: both empty (or
    /// code `XLM`/`native` without issuer) is native.
    ///
    /// # Errors
    /// When only one of them is given, or either is invalid.
    pub fn from_code_and_issuer(code: &str, issuer: &str) -> Result<Self, AssetError> {
        match (code, issuer) {
            ("" | "native", "") => Ok(Self::Native),
            ("XLM", "") => Ok(Self::Native),
            (_, "") => Err(AssetError::InvalidIssuer(
                "a credit asset needs an issuer".into(),
            )),
            ("", _) => Err(AssetError::InvalidCode(String::new())),
            (code, issuer) => {
                let issuer = issuer
                    .parse()
                    .map_err(|e: crate::keys::KeyError| AssetError::InvalidIssuer(e.to_string()))?;
                Self::credit(code, issuer)
            }
        }
    }

    /// Horizon's `asset_type`: `native`, `credit_alphanum4` or `credit_alphanum12`.
    pub fn asset_type(&self) -> &'static str {
        match self {
            Self::Native => "native",
            Self::Credit { code, .. } if code.len() <= 4 => "credit_alphanum4",
            Self::Credit { .. } => "credit_alphanum12",
        }
    }

    /// The code, `None` for native.
    pub fn code(&self) -> Option<&str> {
        match self {
            Self::Native => None,
            Self::Credit { code, .. } => Some(code),
        }
    }

    /// The issuer, `None` for native.
    pub fn issuer(&self) -> Option<PublicKey> {
        match self {
            Self::Native => None,
            Self::Credit { issuer, .. } => Some(*issuer),
        }
    }

    /// The XDR asset.
    pub fn to_xdr(&self) -> xdr::Asset {
        match self {
            Self::Native => xdr::Asset::Native,
            Self::Credit { code, issuer } => {
                if code.len() <= 4 {
                    let mut bytes = [0u8; 4];
                    bytes[..code.len()].copy_from_slice(code.as_bytes());
                    xdr::Asset::CreditAlphanum4(xdr::AlphaNum4 {
                        asset_code: xdr::AssetCode4(bytes),
                        issuer: issuer.to_account_id(),
                    })
                } else {
                    let mut bytes = [0u8; 12];
                    bytes[..code.len()].copy_from_slice(code.as_bytes());
                    xdr::Asset::CreditAlphanum12(xdr::AlphaNum12 {
                        asset_code: xdr::AssetCode12(bytes),
                        issuer: issuer.to_account_id(),
                    })
                }
            }
        }
    }

    /// Reads an XDR asset (trailing NUL padding of the code is dropped).
    ///
    /// # Errors
    /// When the code is not valid alphanumeric text.
    pub fn from_xdr(asset: &xdr::Asset) -> Result<Self, AssetError> {
        let (raw, issuer): (&[u8], _) = match asset {
            xdr::Asset::Native => return Ok(Self::Native),
            xdr::Asset::CreditAlphanum4(a) => (&a.asset_code.0, &a.issuer),
            xdr::Asset::CreditAlphanum12(a) => (&a.asset_code.0, &a.issuer),
        };
        let end = raw.iter().position(|b| *b == 0).unwrap_or(raw.len());
        if raw[end..].iter().any(|b| *b != 0) {
            return Err(AssetError::InvalidCode(String::from_utf8_lossy(raw).into()));
        }
        let code = std::str::from_utf8(&raw[..end])
            .map_err(|_| AssetError::InvalidCode(String::from_utf8_lossy(raw).into()))?;
        Self::credit(code, PublicKey::from_account_id(issuer))
    }

    /// The XDR trustline asset for `change_trust`.
    pub fn to_change_trust_asset(&self) -> xdr::ChangeTrustAsset {
        match self.to_xdr() {
            xdr::Asset::Native => xdr::ChangeTrustAsset::Native,
            xdr::Asset::CreditAlphanum4(a) => xdr::ChangeTrustAsset::CreditAlphanum4(a),
            xdr::Asset::CreditAlphanum12(a) => xdr::ChangeTrustAsset::CreditAlphanum12(a),
        }
    }
}

impl fmt::Display for Asset {
    /// `native` or `CODE:ISSUER`, as Horizon and SEP-11 write assets.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Native => f.write_str("native"),
            Self::Credit { code, issuer } => write!(f, "{code}:{issuer}"),
        }
    }
}

impl fmt::Debug for Asset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Asset({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ISSUER: &str = "GBYJZW5XFAI6XV73H5SAIUYK6XZI4CGGVBUBO3ANA2SV7KKDAXTV6AEB";

    #[test]
    fn code_length_picks_the_xdr_arm_and_round_trips() {
        let issuer: PublicKey = ISSUER.parse().unwrap();
        for (code, kind) in [
            ("USD", "credit_alphanum4"),
            ("LONGERCODE1", "credit_alphanum12"),
        ] {
            let asset = Asset::credit(code, issuer).unwrap();
            assert_eq!(asset.asset_type(), kind);
            assert_eq!(Asset::from_xdr(&asset.to_xdr()).unwrap(), asset);
        }
        assert_eq!(
            Asset::from_xdr(&Asset::Native.to_xdr()).unwrap(),
            Asset::Native
        );
    }

    #[test]
    fn invalid_codes_and_half_given_pairs_are_rejected() {
        let issuer: PublicKey = ISSUER.parse().unwrap();
        for bad in ["", "THIRTEENCHARS", "US D", "€UR"] {
            assert!(Asset::credit(bad, issuer).is_err(), "{bad:?}");
        }
        assert!(Asset::from_code_and_issuer("USD", "").is_err());
        assert!(Asset::from_code_and_issuer("", ISSUER).is_err());
        assert!(Asset::from_code_and_issuer("USD", "GNOPE").is_err());
        assert_eq!(Asset::from_code_and_issuer("", "").unwrap(), Asset::Native);
        assert_eq!(
            Asset::from_code_and_issuer("USD", ISSUER)
                .unwrap()
                .to_string(),
            format!("USD:{ISSUER}")
        );
    }
}
