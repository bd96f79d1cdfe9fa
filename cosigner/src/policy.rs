//! The rules a transaction must meet before the co-signer signs it, as far as they can be
//! judged from the transaction alone: what it pays, from where, to whom, for how long and at
//! what fee. The day's totals and the payment id's history are the store's part
//! ([`crate::store`]). Pure, so every rule is tested without a server.

use std::collections::{BTreeMap, HashMap, HashSet};

use sha2::{Digest, Sha256};
use stellar_base::transaction::to_hex;
use stellar_base::xdr::{self, WriteXdr};
use stellar_base::{AccountAddress, Amount, Asset, Envelope, Network, PublicKey};

use crate::config::CosignerConfig;
use crate::protocol::Rule;

/// A rule broken, with what exactly broke it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The rule.
    pub rule: Rule,
    /// For the client and the decision log.
    pub message: String,
}

impl Refusal {
    /// A refusal under `rule`.
    pub fn new(rule: Rule, message: impl Into<String>) -> Self {
        Self {
            rule,
            message: message.into(),
        }
    }
}

/// What a transaction that meets every rule of the policy pays.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reviewed {
    /// The transaction hash, hex: what the co-signer signs.
    pub hash: [u8; 32],
    /// The transaction's source account (a channel, or a guarded account).
    pub source: PublicKey,
    /// Its sequence number: with `source`, what makes two transactions mutually exclusive.
    pub sequence: i64,
    /// Its upper time bound, Unix seconds: after it, it can never be applied.
    pub max_time: i64,
    /// What it pays, whatever carries it: the operations with their effective source and the
    /// memo, hashed. Two transactions for one payment id must have the same.
    pub payment_digest: String,
    /// The total paid per asset (`native` or `CODE:ISSUER`), in stroops.
    pub totals: BTreeMap<String, i64>,
}

impl Reviewed {
    /// The hash, hex.
    pub fn hash_hex(&self) -> String {
        to_hex(&self.hash)
    }
}

/// The limits of one asset, in stroops.
#[derive(Debug, Clone, Copy)]
pub struct AssetLimit {
    /// The most one operation may pay.
    pub per_payment: i64,
    /// The most a UTC day's signed transactions may pay.
    pub per_day: i64,
}

/// The co-signer's rules, from its configuration.
#[derive(Debug, Clone)]
pub struct Policy {
    network: Network,
    accounts: HashSet<PublicKey>,
    deny: HashSet<PublicKey>,
    limits: HashMap<String, AssetLimit>,
    max_fee: u32,
    max_validity: u64,
}

impl Policy {
    /// The rules `config` sets.
    ///
    /// # Errors
    /// An invalid asset in `[[limits]]` (validated at load already).
    pub fn new(config: &CosignerConfig) -> Result<Self, service::ConfigError> {
        let mut limits = HashMap::new();
        for limit in &config.limits {
            limits.insert(
                limit.asset()?.to_string(),
                AssetLimit {
                    per_payment: limit.per_payment.stroops(),
                    per_day: limit.per_day.stroops(),
                },
            );
        }
        Ok(Self {
            network: stellar_base::Network::new(config.network_passphrase.clone()),
            accounts: config.accounts.iter().copied().collect(),
            deny: config.deny.iter().copied().collect(),
            limits,
            max_fee: config.max_fee,
            max_validity: config.max_validity_seconds,
        })
    }

    /// The network signatures are made for.
    pub fn network(&self) -> &Network {
        &self.network
    }

    /// The limits of an asset (`native` or `CODE:ISSUER`).
    pub fn limit(&self, asset: &str) -> Option<AssetLimit> {
        self.limits.get(asset).copied()
    }

    /// Every configured limit, by asset.
    pub fn limits(&self) -> impl Iterator<Item = (&String, &AssetLimit)> {
        self.limits.iter()
    }

    /// The hash (hex) of the transaction in `envelope_xdr`, when it can be decoded: what the
    /// decision log names, refused or not.
    pub fn hash_of(&self, envelope_xdr: &str) -> Option<String> {
        Envelope::from_base64(envelope_xdr)
            .ok()
            .map(|envelope| envelope.hash_hex(&self.network))
    }

    /// Checks every rule that the transaction alone decides, at `now` (Unix seconds).
    ///
    /// # Errors
    /// The first rule broken.
    pub fn review(&self, envelope_xdr: &str, now: u64) -> Result<Reviewed, Refusal> {
        let envelope = Envelope::from_base64(envelope_xdr)
            .map_err(|e| Refusal::new(Rule::InvalidRequest, format!("envelope_xdr: {e}")))?;
        let xdr::TransactionEnvelope::Tx(v1) = envelope.as_xdr() else {
            return Err(Refusal::new(
                Rule::EnvelopeType,
                "only v1 transaction envelopes are co-signed (not fee bumps or v0)",
            ));
        };
        let tx = &v1.tx;
        let max_time = self.check_time_bounds(&tx.cond, now)?;
        let operations = tx.operations.len() as u64;
        if operations == 0 {
            return Err(Refusal::new(
                Rule::OperationType,
                "the transaction has no operation",
            ));
        }
        if u64::from(tx.fee) > u64::from(self.max_fee) * operations {
            return Err(Refusal::new(
                Rule::Fee,
                format!(
                    "fee {} for {operations} operation(s) is above {} per operation",
                    tx.fee, self.max_fee
                ),
            ));
        }
        let source = AccountAddress::from_muxed_account(&tx.source_account).account();
        let mut totals = BTreeMap::new();
        let mut effective = Vec::with_capacity(tx.operations.len());
        for (index, operation) in tx.operations.iter().enumerate() {
            let op_source = operation
                .source_account
                .as_ref()
                .map_or(source, |s| AccountAddress::from_muxed_account(s).account());
            let paid = self.check_operation(index, op_source, &operation.body)?;
            let total: &mut i64 = totals.entry(paid.asset).or_default();
            *total = total.checked_add(paid.amount).ok_or_else(|| {
                Refusal::new(Rule::Amount, "the operations' amounts overflow their total")
            })?;
            let mut with_source = operation.clone();
            with_source.source_account = Some(op_source.to_muxed_account());
            effective.push(with_source);
        }
        Ok(Reviewed {
            hash: envelope.hash(&self.network),
            source,
            sequence: tx.seq_num.0,
            max_time,
            payment_digest: payment_digest(&tx.memo, &effective),
            totals,
        })
    }

    /// Finite, short and not yet passed: the upper time bound, Unix seconds.
    fn check_time_bounds(&self, cond: &xdr::Preconditions, now: u64) -> Result<i64, Refusal> {
        let bounds = match cond {
            xdr::Preconditions::Time(bounds) => bounds,
            xdr::Preconditions::None => {
                return Err(Refusal::new(
                    Rule::TimeBounds,
                    "the transaction has no time bounds: it would stay valid forever",
                ));
            }
            xdr::Preconditions::V2(_) => {
                return Err(Refusal::new(
                    Rule::TimeBounds,
                    "preconditions other than time bounds are not co-signed",
                ));
            }
        };
        let max_time = bounds.max_time.0;
        if max_time == 0 {
            return Err(Refusal::new(
                Rule::TimeBounds,
                "the upper time bound is 0 (unbounded)",
            ));
        }
        if max_time <= now {
            return Err(Refusal::new(
                Rule::TimeBounds,
                "the upper time bound has passed",
            ));
        }
        if max_time - now > self.max_validity {
            return Err(Refusal::new(
                Rule::TimeBounds,
                format!(
                    "the transaction stays valid {} s, more than {} s",
                    max_time - now,
                    self.max_validity
                ),
            ));
        }
        i64::try_from(max_time)
            .map_err(|_| Refusal::new(Rule::TimeBounds, "the upper time bound is out of range"))
    }

    /// One operation: a payment from a guarded account, to an allowed destination, in a
    /// limited asset, within `per_payment`.
    fn check_operation(
        &self,
        index: usize,
        source: PublicKey,
        body: &xdr::OperationBody,
    ) -> Result<Paid, Refusal> {
        let (destination, asset, amount) = match body {
            xdr::OperationBody::Payment(op) => (
                AccountAddress::from_muxed_account(&op.destination).account(),
                &op.asset,
                op.amount,
            ),
            xdr::OperationBody::PathPaymentStrictReceive(op) => (
                AccountAddress::from_muxed_account(&op.destination).account(),
                &op.send_asset,
                op.send_max,
            ),
            xdr::OperationBody::PathPaymentStrictSend(op) => (
                AccountAddress::from_muxed_account(&op.destination).account(),
                &op.send_asset,
                op.send_amount,
            ),
            xdr::OperationBody::CreateAccount(op) => (
                PublicKey::from_account_id(&op.destination),
                &xdr::Asset::Native,
                op.starting_balance,
            ),
            other => {
                return Err(Refusal::new(
                    Rule::OperationType,
                    format!(
                        "operation {index} is {}: only payments are co-signed",
                        other.name()
                    ),
                ));
            }
        };
        // The network refuses such operations as malformed, but the co-signer counts what it
        // signs: a negative amount would lower the day's total and lift the limit.
        let least = if matches!(body, xdr::OperationBody::CreateAccount(_)) {
            0
        } else {
            1
        };
        if amount < least {
            return Err(Refusal::new(
                Rule::Amount,
                format!("operation {index} has the amount {amount} stroops"),
            ));
        }
        if !self.accounts.contains(&source) {
            return Err(Refusal::new(
                Rule::SourceAccount,
                format!("operation {index} pays from {source}, an account not guarded here"),
            ));
        }
        if self.deny.contains(&destination) {
            return Err(Refusal::new(
                Rule::DenyList,
                format!("operation {index} pays {destination}, on the deny list"),
            ));
        }
        let asset = Asset::from_xdr(asset)
            .map_err(|e| Refusal::new(Rule::Asset, format!("operation {index}: {e}")))?
            .to_string();
        let Some(limit) = self.limit(&asset) else {
            return Err(Refusal::new(
                Rule::Asset,
                format!("operation {index} pays {asset}, which has no limit here"),
            ));
        };
        if amount > limit.per_payment {
            return Err(Refusal::new(
                Rule::PerPayment,
                format!(
                    "operation {index} pays {} {asset}, above the per-payment limit of {}",
                    amount_text(amount),
                    amount_text(limit.per_payment)
                ),
            ));
        }
        Ok(Paid { asset, amount })
    }
}

/// One operation's payment.
struct Paid {
    asset: String,
    amount: i64,
}

/// Stroops as Horizon writes amounts.
pub fn amount_text(stroops: i64) -> String {
    Amount::from_stroops(stroops).map_or_else(|_| stroops.to_string(), |a| a.to_string())
}

fn payment_digest(memo: &xdr::Memo, operations: &[xdr::Operation]) -> String {
    let limits = xdr::Limits::none();
    let mut hasher = Sha256::new();
    hasher.update(memo.to_xdr(limits.clone()).expect("a memo encodes"));
    for operation in operations {
        hasher.update(
            operation
                .to_xdr(limits.clone())
                .expect("an operation encodes"),
        );
    }
    to_hex(&hasher.finalize())
}

#[cfg(test)]
mod tests {
    use stellar_base::transaction::Operation;
    use stellar_base::{KeyPair, Memo, TransactionBuilder};

    use super::*;

    const NOW: u64 = 1_800_000_000;

    struct Setup {
        policy: Policy,
        guarded: KeyPair,
        denied: PublicKey,
    }

    fn setup() -> Setup {
        let guarded = KeyPair::random();
        let denied = KeyPair::random().public_key();
        let policy = Policy {
            network: Network::new("Test SDF Network ; September 2015"),
            accounts: [guarded.public_key()].into(),
            deny: [denied].into(),
            limits: [(
                "native".to_owned(),
                AssetLimit {
                    per_payment: 1_000 * 10_000_000,
                    per_day: 20_000 * 10_000_000,
                },
            )]
            .into(),
            max_fee: 1_000,
            max_validity: 300,
        };
        Setup {
            policy,
            guarded,
            denied,
        }
    }

    fn xlm(units: i64) -> Amount {
        Amount::from_stroops(units * 10_000_000).unwrap()
    }

    fn envelope(source: PublicKey, operations: Vec<Operation>, max_time: u64, fee: u32) -> String {
        let mut builder = TransactionBuilder::new(source.into(), 7)
            .base_fee(fee)
            .memo(Memo::Text("pay".into()))
            .time_bounds(0, max_time);
        for operation in operations {
            builder = builder.operation(operation);
        }
        Envelope::from_transaction(builder.build().unwrap()).to_base64()
    }

    fn pay(to: PublicKey, units: i64) -> Operation {
        Operation::payment(to.into(), &Asset::Native, xlm(units))
    }

    #[test]
    fn a_payment_within_the_limits_is_reviewed_with_its_totals() {
        let s = setup();
        let to = KeyPair::random().public_key();
        let xdr = envelope(
            s.guarded.public_key(),
            vec![pay(to, 400), pay(to, 600)],
            NOW + 60,
            100,
        );
        let reviewed = s.policy.review(&xdr, NOW).unwrap();
        assert_eq!(reviewed.totals["native"], 1_000 * 10_000_000);
        assert_eq!(reviewed.sequence, 7);
        assert_eq!(reviewed.max_time, (NOW + 60) as i64);
    }

    #[test]
    fn the_same_payment_on_a_channel_has_the_same_payment_digest() {
        let s = setup();
        let to = KeyPair::random().public_key();
        let direct = envelope(s.guarded.public_key(), vec![pay(to, 5)], NOW + 60, 100);
        let channel = KeyPair::random().public_key();
        let carried = envelope(
            channel,
            vec![pay(to, 5).or_source(s.guarded.public_key().into())],
            NOW + 90,
            200,
        );
        let (a, b) = (
            s.policy.review(&direct, NOW).unwrap(),
            s.policy.review(&carried, NOW).unwrap(),
        );
        assert_eq!(a.payment_digest, b.payment_digest);
        assert_ne!(a.hash, b.hash);
        let other = envelope(s.guarded.public_key(), vec![pay(to, 6)], NOW + 60, 100);
        assert_ne!(
            s.policy.review(&other, NOW).unwrap().payment_digest,
            a.payment_digest
        );
    }

    #[test]
    fn path_payments_count_what_they_may_send_and_account_creation_counts_its_balance() {
        let s = setup();
        let me = s.guarded.public_key();
        let to = KeyPair::random().public_key();
        let usd = Asset::credit("USD", KeyPair::random().public_key()).unwrap();
        let operations = vec![
            Operation::path_payment_strict_receive(
                &Asset::Native,
                xlm(30),
                to.into(),
                &usd,
                xlm(1),
                &[],
            )
            .unwrap(),
            Operation::path_payment_strict_send(
                &Asset::Native,
                xlm(20),
                to.into(),
                &usd,
                xlm(1),
                &[],
            )
            .unwrap(),
            Operation::create_account(KeyPair::random().public_key(), xlm(5)),
        ];
        let reviewed = s
            .policy
            .review(&envelope(me, operations, NOW + 60, 100), NOW)
            .unwrap();
        assert_eq!(reviewed.totals["native"], 55 * 10_000_000);
    }

    #[test]
    fn what_the_network_would_refuse_is_refused_before_it_is_counted() {
        let s = setup();
        let me = s.guarded.public_key();
        let to = KeyPair::random().public_key();
        let negative = Operation(xdr::Operation {
            source_account: None,
            body: xdr::OperationBody::Payment(xdr::PaymentOp {
                destination: to.to_muxed_account(),
                asset: xdr::Asset::Native,
                amount: -9_000_000_000_000_000_000,
            }),
        });
        let refusal = s
            .policy
            .review(&envelope(me, vec![negative], NOW + 60, 100), NOW)
            .unwrap_err();
        assert_eq!(refusal.rule, Rule::Amount, "{refusal:?}");
        // The deny list sees through a muxed destination.
        let muxed = AccountAddress::Muxed {
            key: s.denied,
            id: 7,
        };
        let to_denied = Operation::payment(muxed, &Asset::Native, xlm(1));
        let refusal = s
            .policy
            .review(&envelope(me, vec![to_denied], NOW + 60, 100), NOW)
            .unwrap_err();
        assert_eq!(refusal.rule, Rule::DenyList);
        // A fee bump is not co-signed (its fee source pays, not the payment).
        let inner = Envelope::from_base64(&envelope(me, vec![pay(to, 1)], NOW + 60, 100)).unwrap();
        let bump = inner.fee_bump(me.into(), 10_000).unwrap().to_base64();
        assert_eq!(
            s.policy.review(&bump, NOW).unwrap_err().rule,
            Rule::EnvelopeType
        );
    }

    #[test]
    fn each_rule_refuses_what_breaks_it() {
        let s = setup();
        let me = s.guarded.public_key();
        let to = KeyPair::random().public_key();
        let rule = |xdr: String| s.policy.review(&xdr, NOW).unwrap_err().rule;
        assert_eq!(
            rule(envelope(me, vec![pay(to, 1_001)], NOW + 60, 100)),
            Rule::PerPayment
        );
        assert_eq!(
            rule(envelope(me, vec![pay(s.denied, 1)], NOW + 60, 100)),
            Rule::DenyList
        );
        let stranger = KeyPair::random().public_key();
        assert_eq!(
            rule(envelope(stranger, vec![pay(to, 1)], NOW + 60, 100)),
            Rule::SourceAccount
        );
        assert_eq!(
            rule(envelope(me, vec![pay(to, 1)], 0, 100)),
            Rule::TimeBounds
        );
        assert_eq!(
            rule(envelope(me, vec![pay(to, 1)], NOW + 301, 100)),
            Rule::TimeBounds
        );
        assert_eq!(
            rule(envelope(me, vec![pay(to, 1)], NOW, 100)),
            Rule::TimeBounds
        );
        assert_eq!(
            rule(envelope(me, vec![pay(to, 1)], NOW + 60, 1_001)),
            Rule::Fee
        );
        assert_eq!(
            rule(envelope(
                me,
                vec![pay(to, 1), Operation::bump_sequence(99)],
                NOW + 60,
                100
            )),
            Rule::OperationType
        );
        let usd = Asset::credit("USD", KeyPair::random().public_key()).unwrap();
        assert_eq!(
            rule(envelope(
                me,
                vec![Operation::payment(to.into(), &usd, xlm(1))],
                NOW + 60,
                100
            )),
            Rule::Asset
        );
        assert_eq!(
            s.policy.review("not xdr", NOW).unwrap_err().rule,
            Rule::InvalidRequest
        );
    }
}
