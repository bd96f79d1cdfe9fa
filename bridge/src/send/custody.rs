//! The account separation the production guides ask for, checked against the network
//! (`bridge accounts check`, and every start), and the `set_options` that put the co-signers
//! in place (`bridge accounts setup`).
//!
//! With `[cosigning]`, a setup where one key alone meets the paying account's medium threshold
//! (what payments need) is refused: the co-signers would add nothing. So is one where the
//! bridge's key and `required` co-signers cannot pay, or where fewer than `required` already
//! can (the extra signature would make stellar-core answer `tx_bad_auth_extra`). Weaker
//! separations are warnings: paying from the issuing account, the authorizing key being the
//! paying key, and more in the paying account than `[cosigning] balance_ceilings` allow.

use std::collections::BTreeMap;

use horizon::Account;
use stellar_base::transaction::{Operation, SetOptions};
use stellar_base::{Amount, Asset, PublicKey};

use super::cosigning::CosigningSettings;

/// What the check reads from the configuration.
#[derive(Debug, Clone)]
pub struct Custody {
    /// `accounts.base_seed`'s account: the one that pays.
    pub base: PublicKey,
    /// `accounts.issuing_account_id`.
    pub issuing: Option<PublicKey>,
    /// `accounts.authorizing_seed`'s key.
    pub authorizing: Option<PublicKey>,
    /// `[cosigning]`.
    pub cosigning: Option<CosigningSettings>,
}

/// What the check found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Findings {
    /// Setups refused: the bridge does not start with them.
    pub refusals: Vec<String>,
    /// Weaker separations, logged.
    pub warnings: Vec<String>,
    /// The paying account's signers besides the bridge's key: the only keys whose
    /// co-signatures the bridge accepts.
    pub cosigner_keys: Vec<PublicKey>,
}

/// A signer's weight on `account`, the master key included.
fn weight_of(account: &Account, key: &str) -> u32 {
    account
        .signers
        .iter()
        .find(|s| s.key == key)
        .map_or(0, |s| s.weight)
}

impl Custody {
    /// Checks the paying account as the network shows it (`None`: it does not exist).
    pub fn review(&self, base: Option<&Account>) -> Findings {
        let mut findings = Findings::default();
        if self.issuing == Some(self.base) {
            findings.warnings.push(format!(
                "the paying account {} is the issuing account: keep the issuer's key in cold \
                 storage and pay from a separate distribution account",
                self.base
            ));
        }
        if self.authorizing == Some(self.base) {
            findings.warnings.push(
                "accounts.authorizing_seed is the paying key: one key both authorizes trustlines \
                 and pays"
                    .into(),
            );
        }
        let Some(account) = base else {
            if self.cosigning.is_some() {
                findings.refusals.push(format!(
                    "the paying account {} does not exist, so its co-signers cannot be checked",
                    self.base
                ));
            }
            return findings;
        };
        if let Some(cosigning) = &self.cosigning {
            findings.cosigner_keys = account
                .signers
                .iter()
                .filter(|s| s.weight > 0)
                .filter(|s| s.kind.is_empty() || s.kind == "ed25519_public_key")
                .filter_map(|s| s.key.parse().ok())
                .filter(|key| *key != self.base)
                .collect();
            findings
                .warnings
                .extend(over_ceilings(account, &cosigning.balance_ceilings));
            findings.refusals.extend(self.threshold_refusals(account));
            findings
                .refusals
                .extend(self.required_refusals(account, cosigning.required));
            let bridge = weight_of(account, &self.base.to_string());
            let low = u32::from(account.thresholds.low_threshold).max(1);
            if bridge >= low {
                findings.warnings.push(format!(
                    "the bridge's key alone (weight {bridge}) meets the low threshold ({low}) of \
                     {}: it can bump the account's sequence or pay fees without the co-signers",
                    self.base
                ));
            }
        }
        findings
    }

    /// No single key may meet the medium threshold (payments) or the high one (changing the
    /// signers); only ed25519 keys are understood; a low threshold above the medium one would
    /// make every transaction the account sends fail (`tx_bad_auth`).
    fn threshold_refusals(&self, account: &Account) -> Vec<String> {
        let mut refusals = Vec::new();
        let t = account.thresholds;
        let (low, med, high) = (
            u32::from(t.low_threshold).max(1),
            u32::from(t.med_threshold).max(1),
            u32::from(t.high_threshold).max(1),
        );
        let bridge_key = self.base.to_string();
        for signer in account.signers.iter().filter(|s| s.weight > 0) {
            let who = if signer.key == bridge_key {
                "the bridge's key".to_owned()
            } else {
                format!("signer {}", signer.key)
            };
            if !signer.kind.is_empty() && signer.kind != "ed25519_public_key" {
                refusals.push(format!(
                    "{who} is a {} signer: with [cosigning] only ed25519 keys may sign for {} \
                     (a hash or pre-authorized signer could stand in for a co-signer)",
                    signer.kind, self.base
                ));
            } else if signer.weight >= med {
                refusals.push(format!(
                    "{who} alone (weight {}) meets the medium threshold ({med}) of {}: one key \
                     can move its funds; run `bridge accounts setup` and give no key that weight",
                    signer.weight, self.base
                ));
            } else if signer.weight >= high {
                refusals.push(format!(
                    "{who} alone (weight {}) meets the high threshold ({high}) of {}: one key \
                     can change the account's signers and take it over",
                    signer.weight, self.base
                ));
            }
        }
        if low > med {
            refusals.push(format!(
                "the low threshold ({low}) of {} is above the medium one ({med}): a payment \
                 signed for the medium threshold would fail (tx_bad_auth)",
                self.base
            ));
        }
        refusals
    }

    /// Whether `required` co-signers and the bridge's key are exactly what a payment needs.
    fn required_refusals(&self, account: &Account, required: usize) -> Vec<String> {
        let mut refusals = Vec::new();
        let needed = u32::from(account.thresholds.med_threshold).max(1);
        let bridge_key = self.base.to_string();
        let bridge = weight_of(account, &bridge_key);
        if bridge == 0 {
            refusals.push(format!(
                "the bridge's key has no weight on {}: it cannot sign its payments",
                self.base
            ));
            return refusals;
        }
        let mut others: Vec<u32> = account
            .signers
            .iter()
            .filter(|s| s.key != bridge_key && s.weight > 0)
            .filter(|s| s.kind.is_empty() || s.kind == "ed25519_public_key")
            .map(|s| s.weight)
            .collect();
        others.sort_unstable();
        if others.len() < required {
            refusals.push(format!(
                "{} has {} co-signer(s) besides the bridge's key; [cosigning] required = {required}",
                self.base,
                others.len()
            ));
            return refusals;
        }
        let lightest: u32 = bridge + others.iter().take(required).sum::<u32>();
        if lightest < needed {
            refusals.push(format!(
                "the bridge's key and {required} co-signer(s) may weigh only {lightest}, below the \
                 medium threshold ({needed}): payments would fail"
            ));
        }
        let heaviest_short: u32 = bridge + others.iter().rev().take(required - 1).sum::<u32>();
        if heaviest_short >= needed {
            refusals.push(format!(
                "the bridge's key and {} co-signer(s) already meet the medium threshold \
                 ({needed}): a {required}th signature would be unused and the network refuses \
                 such a transaction (tx_bad_auth_extra); lower [cosigning] required",
                required - 1
            ));
        }
        refusals
    }
}

/// The balances above their ceilings.
fn over_ceilings(account: &Account, ceilings: &BTreeMap<String, Amount>) -> Vec<String> {
    let mut warnings = Vec::new();
    for (name, ceiling) in ceilings {
        let (code, issuer) = name.split_once(':').unwrap_or((name, ""));
        let Ok(asset) = Asset::from_code_and_issuer(code, issuer) else {
            continue;
        };
        if let Some(balance) = account.balance(&asset)
            && balance.balance > *ceiling
        {
            warnings.push(format!(
                "the paying account holds {} {name}, above its ceiling of {ceiling}: keep only \
                 what a short period needs in it",
                balance.balance
            ));
        }
    }
    warnings
}

/// The `set_options` operations that make `cosigners` (weight 1 each) and the bridge's key
/// (the master key, weight 1) the paying account's signers, with every threshold at
/// `required + 1`: the bridge's key and `required` co-signers together, never one key alone.
///
/// # Panics
/// When `required` is 254 or more (a threshold is one byte).
pub fn setup_operations(cosigners: &[PublicKey], required: usize) -> Vec<Operation> {
    let threshold = u8::try_from(required + 1).expect("required is below 255");
    let mut operations: Vec<Operation> = cosigners
        .iter()
        .map(|key| {
            Operation::set_options(SetOptions {
                signer: Some((*key, 1)),
                ..SetOptions::default()
            })
            .expect("a signer is a valid set_options")
        })
        .collect();
    operations.push(
        Operation::set_options(SetOptions {
            master_weight: Some(1),
            low_threshold: Some(threshold),
            med_threshold: Some(threshold),
            high_threshold: Some(threshold),
            ..SetOptions::default()
        })
        .expect("thresholds are a valid set_options"),
    );
    operations
}

#[cfg(test)]
mod tests {
    use horizon::{Signer, Thresholds};
    use stellar_base::KeyPair;

    use super::*;

    fn account(id: PublicKey, signers: &[(PublicKey, u32)], med: u8) -> Account {
        serde_json::from_value(serde_json::json!({
            "id": id.to_string(),
            "sequence": "1",
            "balances": [{"asset_type": "native", "balance": "5000.0000000"}],
            "thresholds": Thresholds { low_threshold: med, med_threshold: med, high_threshold: med },
            "signers": signers.iter().map(|(key, weight)| Signer {
                key: key.to_string(),
                weight: *weight,
                kind: "ed25519_public_key".into(),
            }).collect::<Vec<_>>(),
        }))
        .unwrap()
    }

    fn custody(base: PublicKey, required: usize) -> Custody {
        Custody {
            base,
            issuing: None,
            authorizing: None,
            cosigning: Some(CosigningSettings {
                cosigners: vec!["http://127.0.0.1:1".parse().unwrap(); 2],
                required,
                timeout_seconds: 5,
                balance_ceilings: [("XLM".to_owned(), "1000".parse().unwrap())].into(),
            }),
        }
    }

    #[test]
    fn two_of_three_passes_with_a_warning_above_the_ceiling() {
        let (bridge, one, two) = (
            KeyPair::random().public_key(),
            KeyPair::random().public_key(),
            KeyPair::random().public_key(),
        );
        let findings = custody(bridge, 1).review(Some(&account(
            bridge,
            &[(bridge, 1), (one, 1), (two, 1)],
            2,
        )));
        assert!(findings.refusals.is_empty(), "{findings:?}");
        assert_eq!(findings.cosigner_keys.len(), 2, "{findings:?}");
        assert_eq!(findings.warnings.len(), 1, "{findings:?}");
        assert!(findings.warnings[0].contains("ceiling"));
    }

    #[test]
    fn a_single_key_setup_is_refused_with_the_reason() {
        let bridge = KeyPair::random().public_key();
        let findings = custody(bridge, 1).review(Some(&account(bridge, &[(bridge, 1)], 0)));
        assert!(
            findings.refusals.iter().any(|r| r.contains("alone")),
            "{findings:?}"
        );
        let cosigner = KeyPair::random().public_key();
        let heavy =
            custody(bridge, 1).review(Some(&account(bridge, &[(bridge, 1), (cosigner, 2)], 2)));
        assert!(
            heavy
                .refusals
                .iter()
                .any(|r| r.contains(&cosigner.to_string())),
            "{heavy:?}"
        );
    }

    #[test]
    fn a_key_that_alone_can_change_the_signers_is_refused() {
        let (bridge, one) = (
            KeyPair::random().public_key(),
            KeyPair::random().public_key(),
        );
        let mut low_high = account(bridge, &[(bridge, 1), (one, 1)], 2);
        low_high.thresholds.high_threshold = 1;
        let findings = custody(bridge, 1).review(Some(&low_high));
        assert!(
            findings
                .refusals
                .iter()
                .any(|r| r.contains("high threshold")),
            "{findings:?}"
        );
        let mut hashed = account(bridge, &[(bridge, 1), (one, 1)], 2);
        hashed.signers[1].kind = "sha256_hash".into();
        let findings = custody(bridge, 1).review(Some(&hashed));
        assert!(
            findings.refusals.iter().any(|r| r.contains("sha256_hash")),
            "{findings:?}"
        );
    }

    #[test]
    fn required_must_match_the_thresholds_exactly() {
        let (bridge, one, two) = (
            KeyPair::random().public_key(),
            KeyPair::random().public_key(),
            KeyPair::random().public_key(),
        );
        let two_of_three = account(bridge, &[(bridge, 1), (one, 1), (two, 1)], 2);
        let too_many = custody(bridge, 2).review(Some(&two_of_three));
        assert!(
            too_many
                .refusals
                .iter()
                .any(|r| r.contains("tx_bad_auth_extra")),
            "{too_many:?}"
        );
        let three_of_three = account(bridge, &[(bridge, 1), (one, 1), (two, 1)], 3);
        let too_few = custody(bridge, 1).review(Some(&three_of_three));
        assert!(
            too_few.refusals.iter().any(|r| r.contains("would fail")),
            "{too_few:?}"
        );
    }

    #[test]
    fn a_missing_account_is_refused_only_with_cosigning() {
        let bridge = KeyPair::random().public_key();
        assert_eq!(custody(bridge, 1).review(None).refusals.len(), 1);
        let plain = Custody {
            cosigning: None,
            issuing: Some(bridge),
            ..custody(bridge, 1)
        };
        let findings = plain.review(None);
        assert!(findings.refusals.is_empty());
        assert!(findings.warnings[0].contains("issuing account"));
    }
}
