//! Building, hashing, signing and decoding transactions.
//!
//! The XDR types come from `stellar-xdr`; this module adds the rules the servers need around
//! them: finite time bounds by default, the signature payload per envelope type, and decoding
//! of untrusted envelopes under explicit size and depth limits.

use sha2::{Digest, Sha256};
use stellar_xdr::{self as xdr, Limits, ReadXdr, WriteXdr};

use crate::amount::Amount;
use crate::asset::Asset;
use crate::keys::{AccountAddress, KeyPair, PublicKey};
use crate::memo::Memo;
use crate::network::Network;

/// The largest envelope we decode from the network: Stellar's own limit on a transaction's
/// size is 100 KiB.
pub const MAX_ENVELOPE_BYTES: usize = 100 * 1024;

/// Nesting depth allowed while decoding untrusted XDR.
const MAX_DEPTH: u32 = 200;

/// Why an envelope or transaction could not be decoded or built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransactionError {
    /// Not base64, not the expected XDR type, trailing bytes, or over the size/depth limits.
    #[error("invalid transaction XDR: {0}")]
    InvalidXdr(String),
    /// A builder without operations.
    #[error("a transaction needs at least one operation")]
    NoOperations,
    /// More than 100 operations.
    #[error("a transaction holds at most 100 operations")]
    TooManyOperations,
    /// More than 20 signatures.
    #[error("an envelope holds at most 20 signatures")]
    TooManySignatures,
    /// A field value the XDR cannot carry (too long home domain, data name…).
    #[error("invalid operation: {0}")]
    InvalidOperation(String),
}

fn untrusted_limits() -> Limits {
    Limits {
        depth: MAX_DEPTH,
        len: MAX_ENVELOPE_BYTES,
    }
}

/// Lower-case hex of a byte string (transaction hashes are shown this way).
pub fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Decodes a base64 `Transaction` (not an envelope), as SEP-3 puts it in `AuthData.tx`.
///
/// # Errors
/// [`TransactionError::InvalidXdr`] for anything that is not exactly one v1 transaction.
pub fn decode_transaction(base64: &str) -> Result<xdr::Transaction, TransactionError> {
    xdr::Transaction::from_xdr_base64(base64.trim(), untrusted_limits())
        .map_err(|e| TransactionError::InvalidXdr(e.to_string()))
}

/// Encodes any XDR value as base64.
pub fn to_base64<T: WriteXdr>(value: &T) -> String {
    value
        .to_xdr_base64(Limits::none())
        .expect("in-memory XDR values always encode")
}

/// The hash of a v1 transaction on a network: what signatures sign and what Horizon calls the
/// transaction's hash.
pub fn transaction_hash(tx: &xdr::Transaction, network: &Network) -> [u8; 32] {
    payload_hash(
        network,
        xdr::TransactionSignaturePayloadTaggedTransaction::Tx(tx.clone()),
    )
}

/// The hash of a fee-bump transaction on a network.
pub fn fee_bump_hash(tx: &xdr::FeeBumpTransaction, network: &Network) -> [u8; 32] {
    payload_hash(
        network,
        xdr::TransactionSignaturePayloadTaggedTransaction::TxFeeBump(tx.clone()),
    )
}

fn payload_hash(
    network: &Network,
    tagged: xdr::TransactionSignaturePayloadTaggedTransaction,
) -> [u8; 32] {
    let payload = xdr::TransactionSignaturePayload {
        network_id: xdr::Hash(network.id()),
        tagged_transaction: tagged,
    };
    let bytes = payload
        .to_xdr(Limits::none())
        .expect("in-memory XDR values always encode");
    Sha256::digest(bytes).into()
}

/// The v1 form of a pre-protocol-13 (v0) transaction. The network hashes and signs v0
/// transactions in this form, so a v0 envelope's signatures verify against it.
pub fn v0_to_v1(tx: &xdr::TransactionV0) -> xdr::Transaction {
    xdr::Transaction {
        source_account: xdr::MuxedAccount::Ed25519(tx.source_account_ed25519.clone()),
        fee: tx.fee,
        seq_num: tx.seq_num.clone(),
        cond: match &tx.time_bounds {
            Some(tb) => xdr::Preconditions::Time(tb.clone()),
            None => xdr::Preconditions::None,
        },
        memo: tx.memo.clone(),
        operations: tx.operations.clone(),
        ext: xdr::TransactionExt::V0,
    }
}

/// Now, in Unix seconds: what time bounds are compared with (0 if the clock is before 1970).
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Now, in Unix milliseconds (0 if the clock is before 1970): what local records are stamped
/// with.
pub fn unix_now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// A transaction envelope: v0, v1 or fee bump, with its signatures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope(xdr::TransactionEnvelope);

impl Envelope {
    /// Decodes a base64 envelope received from an untrusted party, under size and depth limits.
    ///
    /// # Errors
    /// [`TransactionError::InvalidXdr`].
    pub fn from_base64(base64: &str) -> Result<Self, TransactionError> {
        if base64.len() > MAX_ENVELOPE_BYTES * 4 / 3 + 4 {
            return Err(TransactionError::InvalidXdr("envelope too large".into()));
        }
        xdr::TransactionEnvelope::from_xdr_base64(base64.trim(), untrusted_limits())
            .map(Self)
            .map_err(|e| TransactionError::InvalidXdr(e.to_string()))
    }

    /// Wraps a v1 transaction without signatures.
    pub fn from_transaction(tx: xdr::Transaction) -> Self {
        Self(xdr::TransactionEnvelope::Tx(xdr::TransactionV1Envelope {
            tx,
            signatures: xdr::VecM::default(),
        }))
    }

    /// The XDR envelope.
    pub fn as_xdr(&self) -> &xdr::TransactionEnvelope {
        &self.0
    }

    /// Consumes the wrapper.
    pub fn into_xdr(self) -> xdr::TransactionEnvelope {
        self.0
    }

    /// Base64 XDR, as Horizon's `tx` form field wants it.
    pub fn to_base64(&self) -> String {
        to_base64(&self.0)
    }

    /// The transaction hash on `network` (for a fee bump: the outer transaction's hash).
    pub fn hash(&self, network: &Network) -> [u8; 32] {
        match &self.0 {
            xdr::TransactionEnvelope::TxV0(e) => transaction_hash(&v0_to_v1(&e.tx), network),
            xdr::TransactionEnvelope::Tx(e) => transaction_hash(&e.tx, network),
            xdr::TransactionEnvelope::TxFeeBump(e) => fee_bump_hash(&e.tx, network),
        }
    }

    /// The hash as lower-case hex.
    pub fn hash_hex(&self, network: &Network) -> String {
        to_hex(&self.hash(network))
    }

    /// The signatures on the envelope (the outer ones for a fee bump).
    pub fn signatures(&self) -> &[xdr::DecoratedSignature] {
        match &self.0 {
            xdr::TransactionEnvelope::TxV0(e) => &e.signatures,
            xdr::TransactionEnvelope::Tx(e) => &e.signatures,
            xdr::TransactionEnvelope::TxFeeBump(e) => &e.signatures,
        }
    }

    /// The source account of the (outer) transaction: the fee source for a fee bump.
    pub fn source(&self) -> AccountAddress {
        match &self.0 {
            xdr::TransactionEnvelope::TxV0(e) => {
                AccountAddress::Account(PublicKey(e.tx.source_account_ed25519.0))
            }
            xdr::TransactionEnvelope::Tx(e) => {
                AccountAddress::from_muxed_account(&e.tx.source_account)
            }
            xdr::TransactionEnvelope::TxFeeBump(e) => {
                AccountAddress::from_muxed_account(&e.tx.fee_source)
            }
        }
    }

    /// The sequence number the (inner) transaction uses.
    pub fn sequence(&self) -> i64 {
        match &self.0 {
            xdr::TransactionEnvelope::TxV0(e) => e.tx.seq_num.0,
            xdr::TransactionEnvelope::Tx(e) => e.tx.seq_num.0,
            xdr::TransactionEnvelope::TxFeeBump(e) => match &e.tx.inner_tx {
                xdr::FeeBumpTransactionInnerTx::Tx(inner) => inner.tx.seq_num.0,
            },
        }
    }

    /// Adds a signature by `key` over this envelope's hash on `network`.
    ///
    /// # Errors
    /// [`TransactionError::TooManySignatures`] past 20 signatures.
    pub fn sign(&mut self, key: &KeyPair, network: &Network) -> Result<(), TransactionError> {
        let signature = key.sign_decorated(&self.hash(network));
        self.add_signature(signature)
    }

    /// Adds a signature made elsewhere (a co-signer's), as it is.
    ///
    /// # Errors
    /// [`TransactionError::TooManySignatures`] past 20 signatures.
    pub fn add_signature(
        &mut self,
        signature: xdr::DecoratedSignature,
    ) -> Result<(), TransactionError> {
        let signatures = match &mut self.0 {
            xdr::TransactionEnvelope::TxV0(e) => &mut e.signatures,
            xdr::TransactionEnvelope::Tx(e) => &mut e.signatures,
            xdr::TransactionEnvelope::TxFeeBump(e) => &mut e.signatures,
        };
        let mut list = signatures.to_vec();
        list.push(signature);
        *signatures = list
            .try_into()
            .map_err(|_| TransactionError::TooManySignatures)?;
        Ok(())
    }

    /// Wraps this (signed, v0 or v1) envelope in a fee bump paid by `fee_source`.
    ///
    /// # Errors
    /// When the envelope is already a fee bump.
    pub fn fee_bump(
        &self,
        fee_source: AccountAddress,
        total_fee: i64,
    ) -> Result<Self, TransactionError> {
        let inner = match &self.0 {
            xdr::TransactionEnvelope::TxV0(e) => xdr::TransactionV1Envelope {
                tx: v0_to_v1(&e.tx),
                signatures: e.signatures.clone(),
            },
            xdr::TransactionEnvelope::Tx(e) => e.clone(),
            xdr::TransactionEnvelope::TxFeeBump(_) => {
                return Err(TransactionError::InvalidOperation(
                    "a fee bump cannot wrap another fee bump".into(),
                ));
            }
        };
        Ok(Self(xdr::TransactionEnvelope::TxFeeBump(
            xdr::FeeBumpTransactionEnvelope {
                tx: xdr::FeeBumpTransaction {
                    fee_source: fee_source.to_muxed_account(),
                    fee: total_fee,
                    inner_tx: xdr::FeeBumpTransactionInnerTx::Tx(inner),
                    ext: xdr::FeeBumpTransactionExt::V0,
                },
                signatures: xdr::VecM::default(),
            },
        )))
    }
}

/// One operation, built by the constructors below; `with_source` sets a per-operation source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operation(pub xdr::Operation);

fn op(body: xdr::OperationBody) -> Operation {
    Operation(xdr::Operation {
        source_account: None,
        body,
    })
}

fn path_to_xdr(path: &[Asset]) -> Result<xdr::VecM<xdr::Asset, 5>, TransactionError> {
    path.iter()
        .map(Asset::to_xdr)
        .collect::<Vec<_>>()
        .try_into()
        .map_err(|_| TransactionError::InvalidOperation("a path holds at most 5 assets".into()))
}

/// Flags of an account (`set_options`) or trustline (`set_trust_line_flags`), as bits.
pub mod flags {
    /// Account: trustlines need the issuer's authorization.
    pub const AUTH_REQUIRED: u32 = 1;
    /// Account: the issuer may revoke authorization.
    pub const AUTH_REVOCABLE: u32 = 2;
    /// Account: flags can never change again.
    pub const AUTH_IMMUTABLE: u32 = 4;
    /// Account: the issuer may claw back.
    pub const AUTH_CLAWBACK_ENABLED: u32 = 8;
    /// Trustline: fully authorized.
    pub const TRUSTLINE_AUTHORIZED: u32 = 1;
    /// Trustline: may keep offers but not move funds.
    pub const TRUSTLINE_AUTHORIZED_TO_MAINTAIN_LIABILITIES: u32 = 2;
}

/// The optional fields of `set_options`; unset fields leave the account unchanged.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SetOptions {
    /// Flags to clear.
    pub clear_flags: Option<u32>,
    /// Flags to set.
    pub set_flags: Option<u32>,
    /// Weight of the master key (0 disables it).
    pub master_weight: Option<u8>,
    /// Low threshold.
    pub low_threshold: Option<u8>,
    /// Medium threshold.
    pub med_threshold: Option<u8>,
    /// High threshold.
    pub high_threshold: Option<u8>,
    /// Home domain (≤ 32 bytes).
    pub home_domain: Option<String>,
    /// Adds, changes (weight > 0) or removes (weight 0) an ed25519 signer.
    pub signer: Option<(PublicKey, u8)>,
}

impl Operation {
    /// Creates and funds `destination`.
    pub fn create_account(destination: PublicKey, starting_balance: Amount) -> Self {
        op(xdr::OperationBody::CreateAccount(xdr::CreateAccountOp {
            destination: destination.to_account_id(),
            starting_balance: starting_balance.stroops(),
        }))
    }

    /// Pays `amount` of `asset` to `destination`.
    pub fn payment(destination: AccountAddress, asset: &Asset, amount: Amount) -> Self {
        op(xdr::OperationBody::Payment(xdr::PaymentOp {
            destination: destination.to_muxed_account(),
            asset: asset.to_xdr(),
            amount: amount.stroops(),
        }))
    }

    /// Delivers exactly `dest_amount`, spending at most `send_max`.
    ///
    /// # Errors
    /// When the path holds more than 5 assets.
    pub fn path_payment_strict_receive(
        send_asset: &Asset,
        send_max: Amount,
        destination: AccountAddress,
        dest_asset: &Asset,
        dest_amount: Amount,
        path: &[Asset],
    ) -> Result<Self, TransactionError> {
        Ok(op(xdr::OperationBody::PathPaymentStrictReceive(
            xdr::PathPaymentStrictReceiveOp {
                send_asset: send_asset.to_xdr(),
                send_max: send_max.stroops(),
                destination: destination.to_muxed_account(),
                dest_asset: dest_asset.to_xdr(),
                dest_amount: dest_amount.stroops(),
                path: path_to_xdr(path)?,
            },
        )))
    }

    /// Spends exactly `send_amount`, delivering at least `dest_min`.
    ///
    /// # Errors
    /// When the path holds more than 5 assets.
    pub fn path_payment_strict_send(
        send_asset: &Asset,
        send_amount: Amount,
        destination: AccountAddress,
        dest_asset: &Asset,
        dest_min: Amount,
        path: &[Asset],
    ) -> Result<Self, TransactionError> {
        Ok(op(xdr::OperationBody::PathPaymentStrictSend(
            xdr::PathPaymentStrictSendOp {
                send_asset: send_asset.to_xdr(),
                send_amount: send_amount.stroops(),
                destination: destination.to_muxed_account(),
                dest_asset: dest_asset.to_xdr(),
                dest_min: dest_min.stroops(),
                path: path_to_xdr(path)?,
            },
        )))
    }

    /// Creates, changes (limit) or removes (limit 0) a trustline.
    pub fn change_trust(asset: &Asset, limit: Amount) -> Self {
        op(xdr::OperationBody::ChangeTrust(xdr::ChangeTrustOp {
            line: asset.to_change_trust_asset(),
            limit: limit.stroops(),
        }))
    }

    /// The legacy way for an issuer to (de)authorize a trustline: `authorize` is 0, 1
    /// (authorized) or 2 (maintain liabilities).
    ///
    /// # Errors
    /// For a code that is not 1–12 alphanumeric characters.
    pub fn allow_trust(
        trustor: PublicKey,
        asset_code: &str,
        authorize: u32,
    ) -> Result<Self, TransactionError> {
        let invalid = || TransactionError::InvalidOperation(format!("asset code {asset_code:?}"));
        let code = match Asset::credit(asset_code, trustor)
            .map_err(|_| invalid())?
            .to_xdr()
        {
            xdr::Asset::CreditAlphanum4(a) => xdr::AssetCode::CreditAlphanum4(a.asset_code),
            xdr::Asset::CreditAlphanum12(a) => xdr::AssetCode::CreditAlphanum12(a.asset_code),
            xdr::Asset::Native => return Err(invalid()),
        };
        Ok(op(xdr::OperationBody::AllowTrust(xdr::AllowTrustOp {
            trustor: trustor.to_account_id(),
            asset: code,
            authorize,
        })))
    }

    /// Sets and clears trustline flags (the issuer's modern authorization operation).
    pub fn set_trust_line_flags(
        trustor: PublicKey,
        asset: &Asset,
        clear_flags: u32,
        set_flags: u32,
    ) -> Self {
        op(xdr::OperationBody::SetTrustLineFlags(
            xdr::SetTrustLineFlagsOp {
                trustor: trustor.to_account_id(),
                asset: asset.to_xdr(),
                clear_flags,
                set_flags,
            },
        ))
    }

    /// Changes account options.
    ///
    /// # Errors
    /// When the home domain is longer than 32 bytes.
    pub fn set_options(options: SetOptions) -> Result<Self, TransactionError> {
        let home_domain = options
            .home_domain
            .map(|d| {
                d.as_bytes()
                    .to_vec()
                    .try_into()
                    .map(|s: xdr::StringM<32>| xdr::String32(s))
                    .map_err(|_| {
                        TransactionError::InvalidOperation("home domain > 32 bytes".into())
                    })
            })
            .transpose()?;
        Ok(op(xdr::OperationBody::SetOptions(xdr::SetOptionsOp {
            inflation_dest: None,
            clear_flags: options.clear_flags,
            set_flags: options.set_flags,
            master_weight: options.master_weight.map(u32::from),
            low_threshold: options.low_threshold.map(u32::from),
            med_threshold: options.med_threshold.map(u32::from),
            high_threshold: options.high_threshold.map(u32::from),
            home_domain,
            signer: options.signer.map(|(key, weight)| xdr::Signer {
                key: xdr::SignerKey::Ed25519(xdr::Uint256(key.0)),
                weight: u32::from(weight),
            }),
        })))
    }

    /// Merges the source account into `destination`.
    pub fn account_merge(destination: AccountAddress) -> Self {
        op(xdr::OperationBody::AccountMerge(
            destination.to_muxed_account(),
        ))
    }

    /// Sets (or with `None` deletes) a data entry.
    ///
    /// # Errors
    /// When the name exceeds 64 bytes or the value 64 bytes.
    pub fn manage_data(name: &str, value: Option<&[u8]>) -> Result<Self, TransactionError> {
        let data_name = name
            .as_bytes()
            .to_vec()
            .try_into()
            .map(xdr::String64)
            .map_err(|_| TransactionError::InvalidOperation("data name > 64 bytes".into()))?;
        let data_value = value
            .map(|v| {
                v.to_vec()
                    .try_into()
                    .map(xdr::DataValue)
                    .map_err(|_| TransactionError::InvalidOperation("data value > 64 bytes".into()))
            })
            .transpose()?;
        Ok(op(xdr::OperationBody::ManageData(xdr::ManageDataOp {
            data_name,
            data_value,
        })))
    }

    /// Moves the source account's sequence number forward to `bump_to`.
    pub fn bump_sequence(bump_to: i64) -> Self {
        op(xdr::OperationBody::BumpSequence(xdr::BumpSequenceOp {
            bump_to: xdr::SequenceNumber(bump_to),
        }))
    }

    /// Runs this operation as `source` instead of the transaction's source.
    pub fn with_source(mut self, source: AccountAddress) -> Self {
        self.0.source_account = Some(source.to_muxed_account());
        self
    }

    /// Runs this operation as `source` unless it already names its own: how an operation keeps
    /// its account when another account (a channel) is the transaction's source.
    pub fn or_source(mut self, source: AccountAddress) -> Self {
        if self.0.source_account.is_none() {
            self.0.source_account = Some(source.to_muxed_account());
        }
        self
    }
}

/// Builds a v1 transaction. Time bounds are finite unless explicitly opened: a transaction
/// that can be included at any time in the future is how payments get sent twice.
#[derive(Debug, Clone)]
pub struct TransactionBuilder {
    source: AccountAddress,
    sequence: i64,
    base_fee: u32,
    memo: Memo,
    time_bounds: Option<(u64, u64)>,
    operations: Vec<Operation>,
}

impl TransactionBuilder {
    /// The minimum fee per operation on the network, in stroops.
    pub const MIN_BASE_FEE: u32 = 100;

    /// A builder for `source` whose transaction will use `sequence` (the account's current
    /// sequence plus one).
    pub fn new(source: AccountAddress, sequence: i64) -> Self {
        Self {
            source,
            sequence,
            base_fee: Self::MIN_BASE_FEE,
            memo: Memo::None,
            time_bounds: None,
            operations: Vec::new(),
        }
    }

    /// Fee per operation in stroops.
    pub fn base_fee(mut self, fee: u32) -> Self {
        self.base_fee = fee;
        self
    }

    /// The memo.
    pub fn memo(mut self, memo: Memo) -> Self {
        self.memo = memo;
        self
    }

    /// Valid between two unix times (inclusive; 0 means unbounded on that side).
    pub fn time_bounds(mut self, min_time: u64, max_time: u64) -> Self {
        self.time_bounds = Some((min_time, max_time));
        self
    }

    /// Valid from now for `seconds`.
    pub fn timeout(self, now_unix: u64, seconds: u64) -> Self {
        self.time_bounds(0, now_unix + seconds)
    }

    /// Appends an operation.
    pub fn operation(mut self, operation: Operation) -> Self {
        self.operations.push(operation);
        self
    }

    /// The unsigned transaction.
    ///
    /// # Errors
    /// Without operations, with more than 100, or when the fee overflows.
    pub fn build(self) -> Result<xdr::Transaction, TransactionError> {
        if self.operations.is_empty() {
            return Err(TransactionError::NoOperations);
        }
        let count = u32::try_from(self.operations.len())
            .ok()
            .filter(|n| *n <= 100)
            .ok_or(TransactionError::TooManyOperations)?;
        let fee = self
            .base_fee
            .checked_mul(count)
            .ok_or_else(|| TransactionError::InvalidOperation("fee overflows".into()))?;
        let operations: Vec<xdr::Operation> = self.operations.into_iter().map(|o| o.0).collect();
        Ok(xdr::Transaction {
            source_account: self.source.to_muxed_account(),
            fee,
            seq_num: xdr::SequenceNumber(self.sequence),
            cond: match self.time_bounds {
                Some((min, max)) => xdr::Preconditions::Time(xdr::TimeBounds {
                    min_time: xdr::TimePoint(min),
                    max_time: xdr::TimePoint(max),
                }),
                None => xdr::Preconditions::None,
            },
            memo: self.memo.to_xdr(),
            operations: operations
                .try_into()
                .map_err(|_| TransactionError::TooManyOperations)?,
            ext: xdr::TransactionExt::V0,
        })
    }

    /// Builds, wraps in an envelope and signs with each key.
    ///
    /// # Errors
    /// As [`TransactionBuilder::build`].
    pub fn sign(self, network: &Network, keys: &[&KeyPair]) -> Result<Envelope, TransactionError> {
        let mut envelope = Envelope::from_transaction(self.build()?);
        for key in keys {
            envelope.sign(key, network)?;
        }
        Ok(envelope)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account(kp: &KeyPair) -> AccountAddress {
        kp.public_key().into()
    }

    #[test]
    fn built_envelope_round_trips_and_its_signature_verifies() {
        let network = Network::new(Network::TESTNET);
        let source = KeyPair::random();
        let dest = KeyPair::random();
        let envelope = TransactionBuilder::new(account(&source), 12)
            .memo(Memo::Text("hi".into()))
            .timeout(1_700_000_000, 30)
            .operation(Operation::payment(
                account(&dest),
                &Asset::Native,
                "1".parse().unwrap(),
            ))
            .sign(&network, &[&source])
            .unwrap();
        let decoded = Envelope::from_base64(&envelope.to_base64()).unwrap();
        assert_eq!(decoded, envelope);
        let hash = decoded.hash(&network);
        let sig = &decoded.signatures()[0];
        assert_eq!(sig.hint.0, source.public_key().hint());
        assert!(source.public_key().verify(&hash, &sig.signature.0));
        // The same bytes on another network are another transaction.
        assert_ne!(hash, decoded.hash(&Network::new(Network::PUBLIC)));
    }

    #[test]
    fn every_builder_operation_encodes_and_decodes() {
        let network = Network::new(Network::STANDALONE);
        let a = KeyPair::random();
        let b = KeyPair::random().public_key();
        let usd = Asset::credit("USD", b).unwrap();
        let one: Amount = "1".parse().unwrap();
        let muxed = AccountAddress::Muxed { key: b, id: 9 };
        let ops = vec![
            Operation::create_account(b, one),
            Operation::payment(muxed, &usd, one),
            Operation::path_payment_strict_receive(&Asset::Native, one, muxed, &usd, one, &[])
                .unwrap(),
            Operation::path_payment_strict_send(&usd, one, muxed, &Asset::Native, one, &[])
                .unwrap(),
            Operation::change_trust(&usd, Amount::from_stroops(i64::MAX).unwrap()),
            Operation::allow_trust(b, "USD", 1).unwrap(),
            Operation::set_trust_line_flags(b, &usd, 0, flags::TRUSTLINE_AUTHORIZED),
            Operation::set_options(SetOptions {
                home_domain: Some("bank.test".into()),
                signer: Some((b, 1)),
                med_threshold: Some(2),
                ..SetOptions::default()
            })
            .unwrap(),
            Operation::manage_data("k", Some(b"v")).unwrap(),
            Operation::bump_sequence(100),
            Operation::account_merge(muxed).with_source(account(&a)),
        ];
        let mut builder = TransactionBuilder::new(account(&a), 1).time_bounds(0, 10);
        for o in ops {
            builder = builder.operation(o);
        }
        let envelope = builder.sign(&network, &[&a]).unwrap();
        let decoded = Envelope::from_base64(&envelope.to_base64()).unwrap();
        let xdr::TransactionEnvelope::Tx(v1) = decoded.as_xdr() else {
            panic!("expected v1");
        };
        assert_eq!(v1.tx.operations.len(), 11);
        assert_eq!(v1.tx.fee, 1100);
        assert!(
            Operation::set_options(SetOptions {
                home_domain: Some("x".repeat(33)),
                ..SetOptions::default()
            })
            .is_err()
        );
        assert!(Operation::manage_data(&"n".repeat(65), None).is_err());
    }

    #[test]
    fn builder_refuses_empty_and_oversized_transactions() {
        let a = account(&KeyPair::random());
        assert_eq!(
            TransactionBuilder::new(a, 1).build(),
            Err(TransactionError::NoOperations)
        );
        let mut builder = TransactionBuilder::new(a, 1);
        for _ in 0..101 {
            builder = builder.operation(Operation::bump_sequence(1));
        }
        assert_eq!(builder.build(), Err(TransactionError::TooManyOperations));
    }

    #[test]
    fn fee_bump_hashes_differently_and_keeps_the_inner_signature() {
        let network = Network::new(Network::TESTNET);
        let inner_key = KeyPair::random();
        let fee_key = KeyPair::random();
        let inner = TransactionBuilder::new(account(&inner_key), 5)
            .time_bounds(0, 100)
            .operation(Operation::bump_sequence(6))
            .sign(&network, &[&inner_key])
            .unwrap();
        let mut bump = inner.fee_bump(account(&fee_key), 400).unwrap();
        bump.sign(&fee_key, &network).unwrap();
        let decoded = Envelope::from_base64(&bump.to_base64()).unwrap();
        assert_ne!(decoded.hash(&network), inner.hash(&network));
        assert_eq!(decoded.source(), account(&fee_key));
        assert!(fee_key.public_key().verify(
            &decoded.hash(&network),
            &decoded.signatures()[0].signature.0
        ));
        assert!(bump.fee_bump(account(&fee_key), 800).is_err());
    }

    #[test]
    fn v0_envelopes_hash_as_their_v1_form() {
        let network = Network::new(Network::TESTNET);
        let key = KeyPair::random();
        let v1 = TransactionBuilder::new(account(&key), 3)
            .time_bounds(1, 2)
            .operation(Operation::bump_sequence(4))
            .build()
            .unwrap();
        let v0 = xdr::TransactionV0 {
            source_account_ed25519: xdr::Uint256(key.public_key().0),
            fee: v1.fee,
            seq_num: v1.seq_num.clone(),
            time_bounds: Some(xdr::TimeBounds {
                min_time: xdr::TimePoint(1),
                max_time: xdr::TimePoint(2),
            }),
            memo: v1.memo.clone(),
            operations: v1.operations.clone(),
            ext: xdr::TransactionV0Ext::V0,
        };
        let envelope = Envelope(xdr::TransactionEnvelope::TxV0(xdr::TransactionV0Envelope {
            tx: v0,
            signatures: xdr::VecM::default(),
        }));
        let decoded = Envelope::from_base64(&envelope.to_base64()).unwrap();
        assert_eq!(decoded.hash(&network), transaction_hash(&v1, &network));
    }

    #[test]
    fn garbage_and_oversized_input_is_rejected_not_panicked_on() {
        for bad in ["", "not base64!", "AAAA", "AAAAAgAAAAA="] {
            assert!(Envelope::from_base64(bad).is_err(), "{bad:?}");
        }
        let huge = "A".repeat(MAX_ENVELOPE_BYTES * 2);
        assert!(Envelope::from_base64(&huge).is_err());
        // A valid envelope with trailing bytes is not an envelope.
        let key = KeyPair::random();
        let envelope = TransactionBuilder::new(account(&key), 1)
            .operation(Operation::bump_sequence(2))
            .sign(&Network::new(Network::TESTNET), &[&key])
            .unwrap();
        let mut bytes = envelope.as_xdr().to_xdr(Limits::none()).unwrap();
        bytes.extend_from_slice(&[0, 0, 0, 0]);
        use base64::Engine;
        let padded = base64::engine::general_purpose::STANDARD.encode(bytes);
        assert!(Envelope::from_base64(&padded).is_err());
    }
}
