//! The legacy bridge's form fields, shared by compliance `/send` and the bridge's `/payment`
//! (which passes its form on to `/send`): one reading of `path[i][…]` and
//! `forward_destination[fields][…]` for both.

use stellar_base::Asset;

/// Form fields in order (`path[0][asset_code]`, `forward_destination[fields][x]`…).
pub type Fields = Vec<(String, String)>;

/// sha256 (hex) of a request's fields, in any order, without the API key and without empty
/// fields (which every handler reads as absent): the same payment id with another digest is a
/// different request, answered 409 `payment_id_conflict`, never a resend of the first.
pub fn request_digest(fields: &Fields) -> String {
    use sha2::{Digest, Sha256};
    let mut pairs: Vec<&(String, String)> = fields
        .iter()
        .filter(|(k, v)| k != "apiKey" && !v.is_empty())
        .collect();
    pairs.sort();
    let mut hasher = Sha256::new();
    for (k, v) in pairs {
        hasher.update(k.as_bytes());
        hasher.update([0]);
        hasher.update(v.as_bytes());
        hasher.update([0]);
    }
    stellar_base::transaction::to_hex(&hasher.finalize())
}

/// A field that is present but unusable: its name and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidField {
    /// The field's name (`path` for any path entry).
    pub name: &'static str,
    /// What is wrong with it.
    pub reason: String,
}

/// The value of a non-empty field.
pub fn field<'a>(fields: &'a Fields, name: &str) -> Option<&'a str> {
    fields
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .filter(|v| !v.is_empty())
}

/// The asset named by a code field and an issuer field; both empty means lumens.
///
/// # Errors
/// [`InvalidField`] named after the code field.
pub fn asset(fields: &Fields, code: &'static str, issuer: &str) -> Result<Asset, InvalidField> {
    Asset::from_code_and_issuer(
        field(fields, code).unwrap_or(""),
        field(fields, issuer).unwrap_or(""),
    )
    .map_err(|e| InvalidField {
        name: code,
        reason: e.to_string(),
    })
}

/// `path[0..5]`, contiguous from 0; an entry with both fields empty is lumens.
///
/// Every `path[…]` field must be one of `path[i][asset_code]` / `path[i][asset_issuer]` with
/// `i` in 0..=4, and the indices must not leave a gap: an entry that would be ignored is an
/// asset the payer asked for and would not get, so it is refused rather than dropped.
///
/// # Errors
/// [`InvalidField`] `path`, saying which entry.
pub fn path(fields: &Fields) -> Result<Vec<Asset>, InvalidField> {
    const MAX: usize = 5;
    let invalid = |reason: String| InvalidField {
        name: "path",
        reason,
    };
    let mut given = [false; MAX];
    for (key, _) in fields.iter().filter(|(k, _)| k.starts_with("path[")) {
        let index = key
            .strip_prefix("path[")
            .and_then(|rest| rest.split_once(']'))
            .filter(|(_, field)| matches!(*field, "[asset_code]" | "[asset_issuer]"))
            .and_then(|(i, _)| {
                (!i.is_empty() && i.bytes().all(|b| b.is_ascii_digit()))
                    .then(|| i.parse::<usize>().ok())
                    .flatten()
            })
            .filter(|i| *i < MAX)
            .ok_or_else(|| {
                invalid(format!(
                    "{key}: a path has at most {MAX} entries, path[0] to path[4], each with \
                     [asset_code] and [asset_issuer]"
                ))
            })?;
        given[index] = true;
    }
    let len = given.iter().take_while(|g| **g).count();
    if let Some(gap) = given[len..].iter().position(|g| *g) {
        return Err(invalid(format!(
            "path[{}] is given but path[{len}] is not: entries are contiguous from path[0]",
            len + gap
        )));
    }
    (0..len)
        .map(|i| {
            Asset::from_code_and_issuer(
                field(fields, &format!("path[{i}][asset_code]")).unwrap_or(""),
                field(fields, &format!("path[{i}][asset_issuer]")).unwrap_or(""),
            )
            .map_err(|e| invalid(format!("path[{i}]: {e}")))
        })
        .collect()
}

/// The `forward_destination[fields][NAME]` pairs, in order (possibly none).
///
/// # Errors
/// [`InvalidField`] `forward_destination[fields]` for a name outside `[a-z_-]+`.
pub fn forward_fields(fields: &Fields) -> Result<Vec<(String, String)>, InvalidField> {
    fields
        .iter()
        .filter_map(|(k, v)| {
            k.strip_prefix("forward_destination[fields][")
                .and_then(|k| k.strip_suffix(']'))
                .map(|name| (name, v))
        })
        .map(|(name, v)| {
            let valid = !name.is_empty()
                && name
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b == b'_' || b == b'-');
            if valid {
                Ok((name.to_owned(), v.clone()))
            } else {
                Err(InvalidField {
                    name: "forward_destination[fields]",
                    reason: format!("field name {name:?} must match [a-z_-]+"),
                })
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(pairs: &[(&str, &str)]) -> Fields {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn paths_are_contiguous_and_name_the_bad_entry() {
        let issuer = "GBYJZW5XFAI6XV73H5SAIUYK6XZI4CGGVBUBO3ANA2SV7KKDAXTV6AEB";
        let fields = form(&[
            ("path[0][asset_code]", ""),
            ("path[0][asset_issuer]", ""),
            ("path[1][asset_code]", "USD"),
            ("path[1][asset_issuer]", issuer),
        ]);
        assert_eq!(
            path(&fields).unwrap(),
            [
                Asset::Native,
                Asset::from_code_and_issuer("USD", issuer).unwrap()
            ]
        );
        // Entries that would be dropped are refused, naming the entry.
        for key in [
            "path[5][asset_code]",
            "path[-1][asset_code]",
            "path[99999999][asset_code]",
            "path[99999999999999999999999][asset_code]",
            "path[+1][asset_code]",
            "path[0][asset]",
            "path[0]",
            "path[3][asset_code]",
        ] {
            let mut with = fields.clone();
            with.push((key.to_owned(), "EUR".to_owned()));
            let err = path(&with).unwrap_err();
            assert_eq!(err.name, "path", "{key}");
            assert!(err.reason.contains("path["), "{key}: {}", err.reason);
        }
        let bad = form(&[("path[0][asset_code]", "USD")]);
        let err = path(&bad).unwrap_err();
        assert_eq!(err.name, "path");
        assert!(err.reason.starts_with("path[0]"), "{}", err.reason);
    }

    #[test]
    fn forward_field_names_are_checked() {
        let ok = form(&[
            ("forward_destination[domain]", "bank.test"),
            ("forward_destination[fields][acct_no]", "123"),
        ]);
        assert_eq!(
            forward_fields(&ok).unwrap(),
            [("acct_no".to_owned(), "123".to_owned())]
        );
        let bad = form(&[("forward_destination[fields][Acct]", "1")]);
        assert_eq!(
            forward_fields(&bad).unwrap_err().name,
            "forward_destination[fields]"
        );
        assert_eq!(
            asset(
                &form(&[("asset_code", "TOOLONGASSETCODE")]),
                "asset_code",
                "asset_issuer"
            )
            .unwrap_err()
            .name,
            "asset_code"
        );
    }
}
