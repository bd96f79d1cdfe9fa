//! Validating and applying transactions to the accounts, with stellar-core's rules and result
//! codes.
//!
//! A transaction first goes through the checks stellar-core makes before accepting it (time
//! and ledger bounds, fee, source account, sequence number, signatures against weights and
//! thresholds, unused signatures). A transaction failing them is rejected: it is not included
//! in a ledger and costs nothing. A valid transaction pays its fee and consumes its sequence
//! number, then its operations are applied on an [`Overlay`] that is committed only if every
//! operation succeeds.

use std::borrow::Cow;

use stellar_base::transaction::{fee_bump_hash, transaction_hash, v0_to_v1};
use stellar_base::xdr;
use stellar_base::{AccountAddress, Asset, Network, PublicKey};

use crate::dex::{self, PathError, PathPayment};
use crate::state::{
    Account, Accounts, BASE_FEE, BASE_RESERVE, MAX_SIGNERS, Overlay, Signer, TrustLine,
    account_flags, commit_all, trustline_flags,
};

/// The ledger a transaction is applied in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CloseContext {
    /// Sequence number of the ledger being closed.
    pub ledger_seq: u32,
    /// Its close time (unix seconds).
    pub close_time: u64,
    /// The fee per operation this ledger charges: the network's base fee, or under surge
    /// pricing the lowest bid per operation that made it in. No transaction pays more than
    /// its bid.
    pub base_fee: i64,
}

/// What happened to one submitted envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    /// The result, as stellar-core writes it.
    pub result: xdr::TransactionResult,
    /// True when the transaction made it into the ledger (fee and sequence consumed).
    pub included: bool,
    /// True when included and every operation succeeded.
    pub successful: bool,
    /// Per operation: the lumens moved by an account merge or the amount sent by a path
    /// payment (0 otherwise). Empty when not included.
    pub op_amounts: Vec<i64>,
}

/// A transaction-level failure found before application.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TxCode {
    TooEarly,
    TooLate,
    MissingOperation,
    BadSeq,
    BadAuth,
    InsufficientBalance,
    NoAccount,
    InsufficientFee,
    BadAuthExtra,
    NotSupported,
}

/// Why a transaction was rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Rejection {
    Tx(TxCode),
    Ops(Vec<xdr::OperationResult>),
}

fn outer_result(rejection: Rejection) -> xdr::TransactionResultResult {
    use xdr::TransactionResultResult as R;
    match rejection {
        Rejection::Ops(ops) => R::TxFailed(ops.try_into().unwrap_or_default()),
        Rejection::Tx(code) => match code {
            TxCode::TooEarly => R::TxTooEarly,
            TxCode::TooLate => R::TxTooLate,
            TxCode::MissingOperation => R::TxMissingOperation,
            TxCode::BadSeq => R::TxBadSeq,
            TxCode::BadAuth => R::TxBadAuth,
            TxCode::InsufficientBalance => R::TxInsufficientBalance,
            TxCode::NoAccount => R::TxNoAccount,
            TxCode::InsufficientFee => R::TxInsufficientFee,
            TxCode::BadAuthExtra => R::TxBadAuthExtra,
            TxCode::NotSupported => R::TxNotSupported,
        },
    }
}

fn inner_result(rejection: Rejection) -> xdr::InnerTransactionResultResult {
    use xdr::InnerTransactionResultResult as R;
    match rejection {
        Rejection::Ops(ops) => R::TxFailed(ops.try_into().unwrap_or_default()),
        Rejection::Tx(code) => match code {
            TxCode::TooEarly => R::TxTooEarly,
            TxCode::TooLate => R::TxTooLate,
            TxCode::MissingOperation => R::TxMissingOperation,
            TxCode::BadSeq => R::TxBadSeq,
            TxCode::BadAuth => R::TxBadAuth,
            TxCode::InsufficientBalance => R::TxInsufficientBalance,
            TxCode::NoAccount => R::TxNoAccount,
            TxCode::InsufficientFee => R::TxInsufficientFee,
            TxCode::BadAuthExtra => R::TxBadAuthExtra,
            TxCode::NotSupported => R::TxNotSupported,
        },
    }
}

fn tx_result(fee_charged: i64, result: xdr::TransactionResultResult) -> xdr::TransactionResult {
    xdr::TransactionResult {
        fee_charged,
        result,
        ext: xdr::TransactionResultExt::V0,
    }
}

/// The `G…` key behind a (possibly muxed) account: what owns the balance and the sequence
/// number, whichever muxed id a transaction names. A shorthand for stellar-base's
/// [`AccountAddress::from_muxed_account`], which the order book ([`crate::dex`]) calls itself
/// so that it does not depend on this module.
pub fn muxed_key(account: &xdr::MuxedAccount) -> PublicKey {
    AccountAddress::from_muxed_account(account).account()
}

/// The hash of any envelope on `network` (the outer hash for a fee bump).
pub fn envelope_hash(envelope: &xdr::TransactionEnvelope, network: &Network) -> [u8; 32] {
    match envelope {
        xdr::TransactionEnvelope::TxV0(e) => transaction_hash(&v0_to_v1(&e.tx), network),
        xdr::TransactionEnvelope::Tx(e) => transaction_hash(&e.tx, network),
        xdr::TransactionEnvelope::TxFeeBump(e) => fee_bump_hash(&e.tx, network),
    }
}

fn min_fee(tx: &xdr::Transaction) -> i64 {
    BASE_FEE * tx.operations.len() as i64
}

/// stellar-core's checks on one envelope against the current state, without applying it:
/// what the queue runs before admitting a transaction.
///
/// # Errors
/// The result stellar-core would report (`txBAD_SEQ`, `txBAD_AUTH`, `txTOO_LATE`…).
pub fn validate(
    accounts: &Accounts,
    envelope: &xdr::TransactionEnvelope,
    network: &Network,
    ctx: CloseContext,
) -> Result<(), xdr::TransactionResult> {
    match envelope {
        xdr::TransactionEnvelope::TxFeeBump(e) => check_fee_bump(accounts, e, network, ctx)
            .map(drop)
            .map_err(|rejected| rejected.result),
        other => {
            let (tx, signatures) = plain_transaction(other);
            let hash = transaction_hash(&tx, network);
            check_valid(accounts, &tx, signatures, &hash, ctx, true)
                .map_err(|rejection| tx_result(min_fee(&tx), outer_result(rejection)))
        }
    }
}

/// A v0 or v1 envelope's transaction (in v1 form) and signatures.
fn plain_transaction(
    envelope: &xdr::TransactionEnvelope,
) -> (Cow<'_, xdr::Transaction>, &[xdr::DecoratedSignature]) {
    match envelope {
        xdr::TransactionEnvelope::TxV0(e) => (Cow::Owned(v0_to_v1(&e.tx)), &e.signatures),
        xdr::TransactionEnvelope::Tx(e) => (Cow::Borrowed(&e.tx), &e.signatures),
        xdr::TransactionEnvelope::TxFeeBump(_) => unreachable!("fee bumps are checked apart"),
    }
}

/// What a transaction of `ops` operations bidding `bid` pays in a ledger charging `base_fee`
/// per operation: never more than its bid.
fn charged(bid: i64, ops: i64, base_fee: i64) -> i64 {
    bid.min(base_fee.saturating_mul(ops))
}

/// Validates and, if valid, applies one envelope. `fee_pool` collects the fees charged.
pub fn apply_envelope(
    accounts: &mut Accounts,
    fee_pool: &mut i64,
    envelope: &xdr::TransactionEnvelope,
    network: &Network,
    ctx: CloseContext,
) -> Applied {
    if let xdr::TransactionEnvelope::TxFeeBump(e) = envelope {
        return apply_fee_bump(accounts, fee_pool, e, network, ctx);
    }
    let (tx, signatures) = plain_transaction(envelope);
    let hash = transaction_hash(&tx, network);
    if let Err(rejection) = check_valid(accounts, &tx, signatures, &hash, ctx, true) {
        return Applied {
            result: tx_result(min_fee(&tx), outer_result(rejection)),
            included: false,
            successful: false,
            op_amounts: Vec::new(),
        };
    }
    let fee = charged(i64::from(tx.fee), tx.operations.len() as i64, ctx.base_fee);
    let source = muxed_key(&tx.source_account);
    if let Some(account) = accounts.get_mut(&source) {
        account.balance -= fee;
        account.sequence = tx.seq_num.0;
        account.last_modified_ledger = ctx.ledger_seq;
    }
    *fee_pool += fee;
    let (ops, successful, op_amounts) = apply_operations(accounts, &tx, ctx);
    let ops = ops.try_into().unwrap_or_default();
    let result = if successful {
        xdr::TransactionResultResult::TxSuccess(ops)
    } else {
        xdr::TransactionResultResult::TxFailed(ops)
    };
    Applied {
        result: tx_result(fee, result),
        included: true,
        successful,
        op_amounts,
    }
}

/// A fee bump that passed its checks: who pays, and the inner transaction's hash.
struct CheckedFeeBump {
    fee_source: PublicKey,
    inner_hash: [u8; 32],
}

/// A fee bump's checks (CAP-15): the outer fee covers one more operation than the inner
/// transaction at no lower a rate, the fee source signs and can pay, and the inner transaction
/// is valid but for its own fee.
fn check_fee_bump(
    accounts: &Accounts,
    envelope: &xdr::FeeBumpTransactionEnvelope,
    network: &Network,
    ctx: CloseContext,
) -> Result<CheckedFeeBump, Applied> {
    let outer = &envelope.tx;
    let xdr::FeeBumpTransactionInnerTx::Tx(inner) = &outer.inner_tx;
    let inner_tx = &inner.tx;
    let ops = inner_tx.operations.len() as i64;
    let fee = BASE_FEE * (ops + 1);
    let rejected = |code: TxCode| Applied {
        result: tx_result(fee, outer_result(Rejection::Tx(code))),
        included: false,
        successful: false,
        op_amounts: Vec::new(),
    };
    if ops == 0 {
        return Err(rejected(TxCode::MissingOperation));
    }
    if outer.fee < fee
        || i128::from(outer.fee) * i128::from(ops) < i128::from(inner_tx.fee) * i128::from(ops + 1)
    {
        return Err(rejected(TxCode::InsufficientFee));
    }
    let fee_source = muxed_key(&outer.fee_source);
    let Some(payer) = accounts.get(&fee_source) else {
        return Err(rejected(TxCode::NoAccount));
    };
    let outer_hash = fee_bump_hash(outer, network);
    let mut checker = SigChecker::new(&outer_hash, &envelope.signatures);
    if !checker.check(payer, payer.thresholds.low) {
        return Err(rejected(TxCode::BadAuth));
    }
    if !checker.all_used() {
        return Err(rejected(TxCode::BadAuthExtra));
    }
    if payer.balance - payer.min_balance() < fee {
        return Err(rejected(TxCode::InsufficientBalance));
    }
    let inner_hash = transaction_hash(inner_tx, network);
    if let Err(rejection) = check_valid(
        accounts,
        inner_tx,
        &inner.signatures,
        &inner_hash,
        ctx,
        false,
    ) {
        return Err(Applied {
            result: tx_result(
                fee,
                xdr::TransactionResultResult::TxFeeBumpInnerFailed(inner_pair(
                    inner_hash,
                    inner_result(rejection),
                )),
            ),
            included: false,
            successful: false,
            op_amounts: Vec::new(),
        });
    }
    Ok(CheckedFeeBump {
        fee_source,
        inner_hash,
    })
}

fn inner_pair(
    inner_hash: [u8; 32],
    result: xdr::InnerTransactionResultResult,
) -> xdr::InnerTransactionResultPair {
    xdr::InnerTransactionResultPair {
        transaction_hash: xdr::Hash(inner_hash),
        result: xdr::InnerTransactionResult {
            fee_charged: 0,
            result,
            ext: xdr::InnerTransactionResultExt::V0,
        },
    }
}

fn apply_fee_bump(
    accounts: &mut Accounts,
    fee_pool: &mut i64,
    envelope: &xdr::FeeBumpTransactionEnvelope,
    network: &Network,
    ctx: CloseContext,
) -> Applied {
    let CheckedFeeBump {
        fee_source,
        inner_hash,
    } = match check_fee_bump(accounts, envelope, network, ctx) {
        Ok(checked) => checked,
        Err(rejected) => return rejected,
    };
    let xdr::FeeBumpTransactionInnerTx::Tx(inner) = &envelope.tx.inner_tx;
    let inner_tx = &inner.tx;
    let fee = charged(
        envelope.tx.fee,
        inner_tx.operations.len() as i64 + 1,
        ctx.base_fee,
    );
    if let Some(account) = accounts.get_mut(&fee_source) {
        account.balance -= fee;
        account.last_modified_ledger = ctx.ledger_seq;
    }
    *fee_pool += fee;
    if let Some(account) = accounts.get_mut(&muxed_key(&inner_tx.source_account)) {
        account.sequence = inner_tx.seq_num.0;
        account.last_modified_ledger = ctx.ledger_seq;
    }
    let (ops, successful, op_amounts) = apply_operations(accounts, inner_tx, ctx);
    let ops = ops.try_into().unwrap_or_default();
    let result = if successful {
        xdr::TransactionResultResult::TxFeeBumpInnerSuccess(inner_pair(
            inner_hash,
            xdr::InnerTransactionResultResult::TxSuccess(ops),
        ))
    } else {
        xdr::TransactionResultResult::TxFeeBumpInnerFailed(inner_pair(
            inner_hash,
            xdr::InnerTransactionResultResult::TxFailed(ops),
        ))
    };
    Applied {
        result: tx_result(fee, result),
        included: true,
        successful,
        op_amounts,
    }
}

/// Threshold levels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Level {
    Low,
    Medium,
    High,
}

fn threshold(account: &Account, level: Level) -> u8 {
    match level {
        Level::Low => account.thresholds.low,
        Level::Medium => account.thresholds.med,
        Level::High => account.thresholds.high,
    }
}

/// The threshold an operation needs, `None` for operations the sandbox does not support.
fn level_of(body: &xdr::OperationBody) -> Option<Level> {
    use xdr::OperationBody as B;
    match body {
        B::AllowTrust(_) | B::SetTrustLineFlags(_) | B::BumpSequence(_) => Some(Level::Low),
        B::AccountMerge(_) => Some(Level::High),
        B::SetOptions(o) => {
            let high = o.master_weight.is_some()
                || o.low_threshold.is_some()
                || o.med_threshold.is_some()
                || o.high_threshold.is_some()
                || o.signer.is_some();
            Some(if high { Level::High } else { Level::Medium })
        }
        B::CreateAccount(_)
        | B::Payment(_)
        | B::PathPaymentStrictReceive(_)
        | B::PathPaymentStrictSend(_)
        | B::ChangeTrust(_)
        | B::ManageData(_)
        | B::ManageSellOffer(_)
        | B::ManageBuyOffer(_)
        | B::CreatePassiveSellOffer(_) => Some(Level::Medium),
        _ => None,
    }
}

/// Adds up signature weights per check and remembers which signatures were used, as
/// stellar-core's `SignatureChecker::checkSignature` does (src/transactions/SignatureChecker.cpp,
/// `verifyAll`): signatures in envelope order, each matched against the account's signers
/// (master key first), a signer used at most once per check, and the check stops as soon as
/// the weight needed is reached. A signature never reached stays unused, so a transaction
/// carrying more signatures than its thresholds need fails with `tx_bad_auth_extra`.
struct SigChecker<'a> {
    hash: &'a [u8; 32],
    signatures: &'a [xdr::DecoratedSignature],
    used: Vec<bool>,
}

impl<'a> SigChecker<'a> {
    fn new(hash: &'a [u8; 32], signatures: &'a [xdr::DecoratedSignature]) -> Self {
        Self {
            hash,
            signatures,
            used: vec![false; signatures.len()],
        }
    }

    /// True when the signatures carry at least `threshold` (and at least 1) of weight.
    fn check(&mut self, account: &Account, threshold: u8) -> bool {
        let needed = u32::from(threshold).max(1);
        let master = Signer {
            key: account.id,
            weight: account.master_weight,
        };
        let mut signers: Vec<&Signer> = std::iter::once(&master)
            .chain(account.signers.iter())
            .filter(|s| s.weight > 0)
            .collect();
        let mut total = 0u32;
        for (i, signature) in self.signatures.iter().enumerate() {
            let matched = signers.iter().position(|signer| {
                signature.hint.0 == signer.key.hint()
                    && signer.key.verify(self.hash, &signature.signature.0)
            });
            if let Some(at) = matched {
                self.used[i] = true;
                total += u32::from(signers[at].weight);
                if total >= needed {
                    return true;
                }
                signers.remove(at);
            }
        }
        false
    }

    fn all_used(&self) -> bool {
        self.used.iter().all(|u| *u)
    }
}

/// stellar-core's validity checks. `charge_fee` is false for a fee bump's inner transaction.
fn check_valid(
    accounts: &Accounts,
    tx: &xdr::Transaction,
    signatures: &[xdr::DecoratedSignature],
    hash: &[u8; 32],
    ctx: CloseContext,
    charge_fee: bool,
) -> Result<(), Rejection> {
    let reject = |code| Err(Rejection::Tx(code));
    if tx.operations.is_empty() {
        return reject(TxCode::MissingOperation);
    }
    let (time_bounds, ledger_bounds) = match &tx.cond {
        xdr::Preconditions::None => (None, None),
        xdr::Preconditions::Time(tb) => (Some(tb), None),
        xdr::Preconditions::V2(p) => {
            if p.min_seq_num.is_some()
                || p.min_seq_age.0 != 0
                || p.min_seq_ledger_gap != 0
                || !p.extra_signers.is_empty()
            {
                return reject(TxCode::NotSupported);
            }
            (p.time_bounds.as_ref(), p.ledger_bounds.as_ref())
        }
    };
    if let Some(tb) = time_bounds {
        if tb.min_time.0 > ctx.close_time {
            return reject(TxCode::TooEarly);
        }
        if tb.max_time.0 != 0 && tb.max_time.0 < ctx.close_time {
            return reject(TxCode::TooLate);
        }
    }
    if let Some(lb) = ledger_bounds {
        if lb.min_ledger > ctx.ledger_seq {
            return reject(TxCode::TooEarly);
        }
        if lb.max_ledger != 0 && lb.max_ledger <= ctx.ledger_seq {
            return reject(TxCode::TooLate);
        }
    }
    let fee = min_fee(tx);
    if charge_fee && i64::from(tx.fee) < fee {
        return reject(TxCode::InsufficientFee);
    }
    let source_id = muxed_key(&tx.source_account);
    let Some(source) = accounts.get(&source_id) else {
        return reject(TxCode::NoAccount);
    };
    if source.sequence.checked_add(1) != Some(tx.seq_num.0) {
        return reject(TxCode::BadSeq);
    }
    let mut checker = SigChecker::new(hash, signatures);
    if !checker.check(source, source.thresholds.low) {
        return reject(TxCode::BadAuth);
    }
    if charge_fee && source.balance - source.min_balance() < fee {
        return reject(TxCode::InsufficientBalance);
    }
    let mut results = Vec::with_capacity(tx.operations.len());
    let mut failed = false;
    for op in tx.operations.iter() {
        let op_source = op.source_account.as_ref().map_or(source_id, muxed_key);
        let failure = match (accounts.get(&op_source), level_of(&op.body)) {
            (_, None) => Some(xdr::OperationResult::OpNotSupported),
            (None, _) => Some(xdr::OperationResult::OpNoAccount),
            (Some(account), Some(level)) => (!checker.check(account, threshold(account, level)))
                .then_some(xdr::OperationResult::OpBadAuth),
        };
        failed |= failure.is_some();
        results.push(failure.unwrap_or_else(|| success_placeholder(&op.body)));
    }
    if failed {
        return Err(Rejection::Ops(results));
    }
    if !checker.all_used() {
        return reject(TxCode::BadAuthExtra);
    }
    Ok(())
}

/// The result stellar-core reports for an operation that was not the one failing a check.
fn success_placeholder(body: &xdr::OperationBody) -> xdr::OperationResult {
    use xdr::OperationBody as B;
    use xdr::OperationResultTr as Tr;
    let tr = match body {
        B::CreateAccount(_) => Tr::CreateAccount(xdr::CreateAccountResult::Success),
        B::Payment(_) => Tr::Payment(xdr::PaymentResult::Success),
        B::PathPaymentStrictReceive(op) => {
            Tr::PathPaymentStrictReceive(xdr::PathPaymentStrictReceiveResult::Success(
                xdr::PathPaymentStrictReceiveResultSuccess {
                    offers: xdr::VecM::default(),
                    last: simple_payment(&op.destination, &op.dest_asset, 0),
                },
            ))
        }
        B::PathPaymentStrictSend(op) => Tr::PathPaymentStrictSend(
            xdr::PathPaymentStrictSendResult::Success(xdr::PathPaymentStrictSendResultSuccess {
                offers: xdr::VecM::default(),
                last: simple_payment(&op.destination, &op.dest_asset, 0),
            }),
        ),
        B::SetOptions(_) => Tr::SetOptions(xdr::SetOptionsResult::Success),
        B::ChangeTrust(_) => Tr::ChangeTrust(xdr::ChangeTrustResult::Success),
        B::AllowTrust(_) => Tr::AllowTrust(xdr::AllowTrustResult::Success),
        B::AccountMerge(_) => Tr::AccountMerge(xdr::AccountMergeResult::Success(0)),
        B::ManageData(_) => Tr::ManageData(xdr::ManageDataResult::Success),
        B::BumpSequence(_) => Tr::BumpSequence(xdr::BumpSequenceResult::Success),
        B::SetTrustLineFlags(_) => Tr::SetTrustLineFlags(xdr::SetTrustLineFlagsResult::Success),
        B::ManageSellOffer(_) => {
            Tr::ManageSellOffer(xdr::ManageSellOfferResult::Success(offer_placeholder()))
        }
        B::CreatePassiveSellOffer(_) => {
            Tr::CreatePassiveSellOffer(xdr::ManageSellOfferResult::Success(offer_placeholder()))
        }
        B::ManageBuyOffer(_) => {
            Tr::ManageBuyOffer(xdr::ManageBuyOfferResult::Success(offer_placeholder()))
        }
        _ => return xdr::OperationResult::OpNotSupported,
    };
    xdr::OperationResult::OpInner(tr)
}

fn offer_placeholder() -> xdr::ManageOfferSuccessResult {
    xdr::ManageOfferSuccessResult {
        offers_claimed: xdr::VecM::default(),
        offer: xdr::ManageOfferSuccessResultOffer::Deleted,
    }
}

fn simple_payment(
    destination: &xdr::MuxedAccount,
    asset: &xdr::Asset,
    amount: i64,
) -> xdr::SimplePaymentResult {
    xdr::SimplePaymentResult {
        destination: muxed_key(destination).to_account_id(),
        asset: asset.clone(),
        amount,
    }
}

/// Applies every operation on an overlay; commits only if all succeed.
fn apply_operations(
    accounts: &mut Accounts,
    tx: &xdr::Transaction,
    ctx: CloseContext,
) -> (Vec<xdr::OperationResult>, bool, Vec<i64>) {
    let source = muxed_key(&tx.source_account);
    let mut overlay = Overlay::new(accounts);
    let mut results = Vec::with_capacity(tx.operations.len());
    let mut amounts = Vec::with_capacity(tx.operations.len());
    let mut successful = true;
    for op in tx.operations.iter() {
        let op_source = op.source_account.as_ref().map_or(source, muxed_key);
        // Operations that may fail half-way are undone on failure, as core's nested
        // LedgerTxn does; the others check everything before changing anything.
        let checkpoint = is_dex(&op.body).then(|| overlay.checkpoint());
        let outcome = apply_operation(&mut overlay, op_source, &op.body, ctx);
        if !outcome.ok
            && let Some(checkpoint) = checkpoint
        {
            overlay.rollback(checkpoint);
        }
        successful &= outcome.ok;
        results.push(outcome.result);
        amounts.push(outcome.amount);
    }
    let mut changes = overlay.into_all_changes();
    if successful {
        for account in changes.accounts.values_mut().flatten() {
            account.last_modified_ledger = ctx.ledger_seq;
        }
        commit_all(accounts, changes, ctx.ledger_seq);
    }
    (results, successful, amounts)
}

/// True for the operations that touch the order book or may fail after changing balances.
fn is_dex(body: &xdr::OperationBody) -> bool {
    use xdr::OperationBody as B;
    matches!(
        body,
        B::ManageSellOffer(_)
            | B::ManageBuyOffer(_)
            | B::CreatePassiveSellOffer(_)
            | B::PathPaymentStrictReceive(_)
            | B::PathPaymentStrictSend(_)
            | B::AllowTrust(_)
            | B::SetTrustLineFlags(_)
    )
}

/// The result of one operation.
struct Outcome {
    result: xdr::OperationResult,
    ok: bool,
    amount: i64,
}

impl Outcome {
    fn new(tr: xdr::OperationResultTr, ok: bool) -> Self {
        Self {
            result: xdr::OperationResult::OpInner(tr),
            ok,
            amount: 0,
        }
    }
}

fn apply_operation(
    ov: &mut Overlay<'_>,
    source: PublicKey,
    body: &xdr::OperationBody,
    ctx: CloseContext,
) -> Outcome {
    use xdr::OperationBody as B;
    use xdr::OperationResultTr as Tr;
    if !ov.exists(&source) {
        return Outcome {
            result: xdr::OperationResult::OpNoAccount,
            ok: false,
            amount: 0,
        };
    }
    match body {
        B::CreateAccount(op) => {
            let r = create_account(ov, source, op, ctx);
            let ok = r == xdr::CreateAccountResult::Success;
            Outcome::new(Tr::CreateAccount(r), ok)
        }
        B::Payment(op) => {
            let r = payment(ov, source, op);
            let ok = r == xdr::PaymentResult::Success;
            Outcome::new(Tr::Payment(r), ok)
        }
        B::PathPaymentStrictReceive(op) => path_payment_strict_receive(ov, source, op),
        B::PathPaymentStrictSend(op) => path_payment_strict_send(ov, source, op),
        B::ManageSellOffer(op) => offer_outcome(dex::manage_sell_offer_op(ov, source, op, false)),
        B::CreatePassiveSellOffer(op) => {
            let op = xdr::ManageSellOfferOp {
                selling: op.selling.clone(),
                buying: op.buying.clone(),
                amount: op.amount,
                price: op.price.clone(),
                offer_id: 0,
            };
            offer_outcome(dex::manage_sell_offer_op(ov, source, &op, true))
        }
        B::ManageBuyOffer(op) => offer_outcome(dex::manage_buy_offer_op(ov, source, op)),
        B::ChangeTrust(op) => {
            if matches!(op.line, xdr::ChangeTrustAsset::PoolShare(_)) {
                return Outcome {
                    result: xdr::OperationResult::OpNotSupported,
                    ok: false,
                    amount: 0,
                };
            }
            let r = change_trust(ov, source, op, ctx);
            let ok = r == xdr::ChangeTrustResult::Success;
            Outcome::new(Tr::ChangeTrust(r), ok)
        }
        B::AllowTrust(op) => {
            let r = allow_trust(ov, source, op);
            let ok = r == xdr::AllowTrustResult::Success;
            Outcome::new(Tr::AllowTrust(r), ok)
        }
        B::SetTrustLineFlags(op) => {
            let r = set_trust_line_flags(ov, source, op);
            let ok = r == xdr::SetTrustLineFlagsResult::Success;
            Outcome::new(Tr::SetTrustLineFlags(r), ok)
        }
        B::SetOptions(op) => {
            let r = set_options(ov, source, op);
            let ok = r == xdr::SetOptionsResult::Success;
            Outcome::new(Tr::SetOptions(r), ok)
        }
        B::AccountMerge(dest) => {
            let r = account_merge(ov, source, dest, ctx);
            let (ok, amount) = match r {
                xdr::AccountMergeResult::Success(amount) => (true, amount),
                _ => (false, 0),
            };
            let mut outcome = Outcome::new(Tr::AccountMerge(r), ok);
            outcome.amount = amount;
            outcome
        }
        B::ManageData(op) => {
            let r = manage_data(ov, source, op);
            let ok = r == xdr::ManageDataResult::Success;
            Outcome::new(Tr::ManageData(r), ok)
        }
        B::BumpSequence(op) => {
            let r = bump_sequence(ov, source, op);
            let ok = r == xdr::BumpSequenceResult::Success;
            Outcome::new(Tr::BumpSequence(r), ok)
        }
        _ => Outcome {
            result: xdr::OperationResult::OpNotSupported,
            ok: false,
            amount: 0,
        },
    }
}

fn offer_outcome(result: xdr::OperationResult) -> Outcome {
    use xdr::OperationResultTr as Tr;
    let ok = matches!(
        &result,
        xdr::OperationResult::OpInner(
            Tr::ManageSellOffer(xdr::ManageSellOfferResult::Success(_))
                | Tr::CreatePassiveSellOffer(xdr::ManageSellOfferResult::Success(_))
                | Tr::ManageBuyOffer(xdr::ManageBuyOfferResult::Success(_))
        )
    );
    Outcome {
        result,
        ok,
        amount: 0,
    }
}

fn create_account(
    ov: &mut Overlay<'_>,
    source: PublicKey,
    op: &xdr::CreateAccountOp,
    ctx: CloseContext,
) -> xdr::CreateAccountResult {
    use xdr::CreateAccountResult as R;
    let destination = PublicKey::from_account_id(&op.destination);
    if op.starting_balance < 0 || destination == source {
        return R::Malformed;
    }
    if ov.exists(&destination) {
        return R::AlreadyExist;
    }
    if op.starting_balance < 2 * BASE_RESERVE {
        return R::LowReserve;
    }
    let Some(funder) = ov.get_mut(&source) else {
        return R::Underfunded;
    };
    if funder.available() < op.starting_balance {
        return R::Underfunded;
    }
    funder.balance -= op.starting_balance;
    ov.put(Account::new(
        destination,
        op.starting_balance,
        ctx.ledger_seq,
    ));
    R::Success
}

/// Why moving an asset between two accounts failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PayError {
    NoDestination,
    NoTrust,
    NotAuthorized,
    LineFull,
    SrcNoTrust,
    SrcNotAuthorized,
    Underfunded,
}

/// Moves `amount` of `asset` from `from` to `to`, checking the destination first as
/// stellar-core does. Issuers send and receive their own asset without a trustline.
fn transfer(
    ov: &mut Overlay<'_>,
    from: PublicKey,
    to: PublicKey,
    asset: &Asset,
    amount: i64,
) -> Result<(), PayError> {
    let destination = ov.get(&to).ok_or(PayError::NoDestination)?;
    let sender = ov.get(&from).ok_or(PayError::Underfunded)?;
    match asset {
        Asset::Native => {
            if from == to {
                return Ok(());
            }
            if destination.max_receive() < amount {
                return Err(PayError::LineFull);
            }
            if sender.available() < amount {
                return Err(PayError::Underfunded);
            }
            if let Some(account) = ov.get_mut(&from) {
                account.balance -= amount;
            }
            if let Some(account) = ov.get_mut(&to) {
                account.balance += amount;
            }
        }
        Asset::Credit { issuer, .. } => {
            if to != *issuer {
                let line = destination.trustline(asset).ok_or(PayError::NoTrust)?;
                if !line.is_authorized() {
                    return Err(PayError::NotAuthorized);
                }
                if line.max_receive() < amount {
                    return Err(PayError::LineFull);
                }
            }
            if from != *issuer {
                let line = sender.trustline(asset).ok_or(PayError::SrcNoTrust)?;
                if !line.is_authorized() {
                    return Err(PayError::SrcNotAuthorized);
                }
                if line.available() < amount {
                    return Err(PayError::Underfunded);
                }
            }
            if from == to {
                return Ok(());
            }
            if from != *issuer
                && let Some(line) = ov.get_mut(&from).and_then(|a| a.trustline_mut(asset))
            {
                line.balance -= amount;
            }
            if to != *issuer
                && let Some(line) = ov.get_mut(&to).and_then(|a| a.trustline_mut(asset))
            {
                line.balance += amount;
            }
        }
    }
    Ok(())
}

fn payment(ov: &mut Overlay<'_>, source: PublicKey, op: &xdr::PaymentOp) -> xdr::PaymentResult {
    use xdr::PaymentResult as R;
    let Ok(asset) = Asset::from_xdr(&op.asset) else {
        return R::Malformed;
    };
    if op.amount <= 0 {
        return R::Malformed;
    }
    match transfer(ov, source, muxed_key(&op.destination), &asset, op.amount) {
        Ok(()) => R::Success,
        Err(PayError::NoDestination) => R::NoDestination,
        Err(PayError::NoTrust) => R::NoTrust,
        Err(PayError::NotAuthorized) => R::NotAuthorized,
        Err(PayError::LineFull) => R::LineFull,
        Err(PayError::SrcNoTrust) => R::SrcNoTrust,
        Err(PayError::SrcNotAuthorized) => R::SrcNotAuthorized,
        Err(PayError::Underfunded) => R::Underfunded,
    }
}

/// `opEXCEEDED_WORK_LIMIT`: more than [`dex::MAX_OFFERS_TO_CROSS`] offers to cross.
fn exceeded_work_limit() -> Outcome {
    Outcome {
        result: xdr::OperationResult::OpExceededWorkLimit,
        ok: false,
        amount: 0,
    }
}

fn path_payment_strict_receive(
    ov: &mut Overlay<'_>,
    source: PublicKey,
    op: &xdr::PathPaymentStrictReceiveOp,
) -> Outcome {
    use xdr::PathPaymentStrictReceiveResult as R;
    let payment = PathPayment {
        send_asset: &op.send_asset,
        dest_asset: &op.dest_asset,
        destination: &op.destination,
        path: &op.path,
    };
    match dex::strict_receive(ov, source, &payment, op.send_max, op.dest_amount) {
        Ok(success) => Outcome {
            amount: success.sent,
            ..Outcome::new(
                xdr::OperationResultTr::PathPaymentStrictReceive(R::Success(
                    xdr::PathPaymentStrictReceiveResultSuccess {
                        offers: success.offers.try_into().unwrap_or_default(),
                        last: simple_payment(&op.destination, &op.dest_asset, success.received),
                    },
                )),
                true,
            )
        },
        Err(PathError::ExceededWorkLimit) => exceeded_work_limit(),
        Err(error) => Outcome::new(
            xdr::OperationResultTr::PathPaymentStrictReceive(match error {
                PathError::Malformed => R::Malformed,
                PathError::Underfunded => R::Underfunded,
                PathError::SrcNoTrust => R::SrcNoTrust,
                PathError::SrcNotAuthorized => R::SrcNotAuthorized,
                PathError::NoDestination => R::NoDestination,
                PathError::NoTrust => R::NoTrust,
                PathError::NotAuthorized => R::NotAuthorized,
                PathError::LineFull => R::LineFull,
                PathError::TooFewOffers | PathError::ExceededWorkLimit => R::TooFewOffers,
                PathError::OfferCrossSelf => R::OfferCrossSelf,
                PathError::ConstraintNotMet => R::OverSendmax,
            }),
            false,
        ),
    }
}

fn path_payment_strict_send(
    ov: &mut Overlay<'_>,
    source: PublicKey,
    op: &xdr::PathPaymentStrictSendOp,
) -> Outcome {
    use xdr::PathPaymentStrictSendResult as R;
    let payment = PathPayment {
        send_asset: &op.send_asset,
        dest_asset: &op.dest_asset,
        destination: &op.destination,
        path: &op.path,
    };
    match dex::strict_send(ov, source, &payment, op.send_amount, op.dest_min) {
        Ok(success) => Outcome {
            amount: success.received,
            ..Outcome::new(
                xdr::OperationResultTr::PathPaymentStrictSend(R::Success(
                    xdr::PathPaymentStrictSendResultSuccess {
                        offers: success.offers.try_into().unwrap_or_default(),
                        last: simple_payment(&op.destination, &op.dest_asset, success.received),
                    },
                )),
                true,
            )
        },
        Err(PathError::ExceededWorkLimit) => exceeded_work_limit(),
        Err(error) => Outcome::new(
            xdr::OperationResultTr::PathPaymentStrictSend(match error {
                PathError::Malformed => R::Malformed,
                PathError::Underfunded => R::Underfunded,
                PathError::SrcNoTrust => R::SrcNoTrust,
                PathError::SrcNotAuthorized => R::SrcNotAuthorized,
                PathError::NoDestination => R::NoDestination,
                PathError::NoTrust => R::NoTrust,
                PathError::NotAuthorized => R::NotAuthorized,
                PathError::LineFull => R::LineFull,
                PathError::TooFewOffers | PathError::ExceededWorkLimit => R::TooFewOffers,
                PathError::OfferCrossSelf => R::OfferCrossSelf,
                PathError::ConstraintNotMet => R::UnderDestmin,
            }),
            false,
        ),
    }
}

fn change_trust(
    ov: &mut Overlay<'_>,
    source: PublicKey,
    op: &xdr::ChangeTrustOp,
    ctx: CloseContext,
) -> xdr::ChangeTrustResult {
    use xdr::ChangeTrustResult as R;
    let xdr_asset = match &op.line {
        xdr::ChangeTrustAsset::CreditAlphanum4(a) => xdr::Asset::CreditAlphanum4(a.clone()),
        xdr::ChangeTrustAsset::CreditAlphanum12(a) => xdr::Asset::CreditAlphanum12(a.clone()),
        xdr::ChangeTrustAsset::Native | xdr::ChangeTrustAsset::PoolShare(_) => {
            return R::Malformed;
        }
    };
    let Ok(asset) = Asset::from_xdr(&xdr_asset) else {
        return R::Malformed;
    };
    let Some(issuer) = asset.issuer() else {
        return R::Malformed;
    };
    if op.limit < 0 || issuer == source {
        return R::Malformed;
    }
    let issuer_flags = ov.get(&issuer).map(|a| a.flags);
    let Some(account) = ov.get_mut(&source) else {
        return R::Malformed;
    };
    if let Some(position) = account.trustlines.iter().position(|t| t.asset == asset) {
        let line = &mut account.trustlines[position];
        // core's getMinimumLimit: the balance plus what offers may still buy.
        if op.limit < line.balance + line.buying_liabilities {
            return R::InvalidLimit;
        }
        if op.limit == 0 {
            account.trustlines.remove(position);
            account.num_subentries -= 1;
        } else {
            line.limit = op.limit;
            line.last_modified_ledger = ctx.ledger_seq;
        }
        return R::Success;
    }
    if op.limit == 0 {
        return R::InvalidLimit;
    }
    let Some(issuer_flags) = issuer_flags else {
        return R::NoIssuer;
    };
    if !account.can_add_subentry() {
        return R::LowReserve;
    }
    let mut flags = 0;
    if issuer_flags & account_flags::AUTH_REQUIRED == 0 {
        flags |= trustline_flags::AUTHORIZED;
    }
    if issuer_flags & account_flags::AUTH_CLAWBACK_ENABLED != 0 {
        flags |= trustline_flags::CLAWBACK_ENABLED;
    }
    account
        .trustlines
        .push(TrustLine::new(asset, op.limit, flags, ctx.ledger_seq));
    account.num_subentries += 1;
    R::Success
}

/// True when going from `old` to `new` trustline flags takes authorization away.
fn revokes(old: u32, new: u32) -> bool {
    let auth = trustline_flags::AUTHORIZED;
    let maintain = trustline_flags::AUTHORIZED_TO_MAINTAIN_LIABILITIES;
    (old & auth != 0 && new & auth == 0)
        || (old & (auth | maintain) != 0 && new & (auth | maintain) == 0)
}

fn allow_trust(
    ov: &mut Overlay<'_>,
    source: PublicKey,
    op: &xdr::AllowTrustOp,
) -> xdr::AllowTrustResult {
    use xdr::AllowTrustResult as R;
    let trustor = PublicKey::from_account_id(&op.trustor);
    if trustor == source {
        return R::SelfNotAllowed;
    }
    if op.authorize > trustline_flags::AUTHORIZED_TO_MAINTAIN_LIABILITIES {
        return R::Malformed;
    }
    let xdr_asset = match &op.asset {
        xdr::AssetCode::CreditAlphanum4(code) => xdr::Asset::CreditAlphanum4(xdr::AlphaNum4 {
            asset_code: code.clone(),
            issuer: source.to_account_id(),
        }),
        xdr::AssetCode::CreditAlphanum12(code) => xdr::Asset::CreditAlphanum12(xdr::AlphaNum12 {
            asset_code: code.clone(),
            issuer: source.to_account_id(),
        }),
    };
    let Ok(asset) = Asset::from_xdr(&xdr_asset) else {
        return R::Malformed;
    };
    let issuer_flags = ov.get(&source).map_or(0, |a| a.flags);
    let Some(line) = ov.get_mut(&trustor).and_then(|a| a.trustline_mut(&asset)) else {
        return R::NoTrustLine;
    };
    let new_flags = (line.flags & trustline_flags::CLAWBACK_ENABLED) | op.authorize;
    if revokes(line.flags, new_flags) && issuer_flags & account_flags::AUTH_REVOCABLE == 0 {
        return R::CantRevoke;
    }
    let old_flags = line.flags;
    line.flags = new_flags;
    drop_offers_if_deauthorized(ov, &trustor, &asset, old_flags, new_flags);
    R::Success
}

fn set_trust_line_flags(
    ov: &mut Overlay<'_>,
    source: PublicKey,
    op: &xdr::SetTrustLineFlagsOp,
) -> xdr::SetTrustLineFlagsResult {
    use xdr::SetTrustLineFlagsResult as R;
    let Ok(asset) = Asset::from_xdr(&op.asset) else {
        return R::Malformed;
    };
    let trustor = PublicKey::from_account_id(&op.trustor);
    let allowed = trustline_flags::AUTHORIZED
        | trustline_flags::AUTHORIZED_TO_MAINTAIN_LIABILITIES
        | trustline_flags::CLAWBACK_ENABLED;
    if asset.issuer() != Some(source)
        || trustor == source
        || op.set_flags & op.clear_flags != 0
        || (op.set_flags | op.clear_flags) & !allowed != 0
        || op.set_flags & trustline_flags::CLAWBACK_ENABLED != 0
    {
        return R::Malformed;
    }
    let issuer_flags = ov.get(&source).map_or(0, |a| a.flags);
    let Some(line) = ov.get_mut(&trustor).and_then(|a| a.trustline_mut(&asset)) else {
        return R::NoTrustLine;
    };
    let new_flags = (line.flags & !op.clear_flags) | op.set_flags;
    let both = trustline_flags::AUTHORIZED | trustline_flags::AUTHORIZED_TO_MAINTAIN_LIABILITIES;
    if new_flags & both == both {
        return R::InvalidState;
    }
    if revokes(line.flags, new_flags) && issuer_flags & account_flags::AUTH_REVOCABLE == 0 {
        return R::CantRevoke;
    }
    let old_flags = line.flags;
    line.flags = new_flags;
    drop_offers_if_deauthorized(ov, &trustor, &asset, old_flags, new_flags);
    R::Success
}

/// A trustline losing even the authorization to maintain liabilities takes its holder's
/// offers buying or selling the asset off the book (core's `removeOffersAndPoolShareTrustLines`).
fn drop_offers_if_deauthorized(
    ov: &mut Overlay<'_>,
    trustor: &PublicKey,
    asset: &Asset,
    old_flags: u32,
    new_flags: u32,
) {
    let maintain =
        trustline_flags::AUTHORIZED | trustline_flags::AUTHORIZED_TO_MAINTAIN_LIABILITIES;
    if old_flags & maintain != 0 && new_flags & maintain == 0 {
        dex::delete_offers_involving(ov, trustor, asset);
    }
}

fn set_options(
    ov: &mut Overlay<'_>,
    source: PublicKey,
    op: &xdr::SetOptionsOp,
) -> xdr::SetOptionsResult {
    use xdr::SetOptionsResult as R;
    if let Some(dest) = &op.inflation_dest
        && !ov.exists(&PublicKey::from_account_id(dest))
    {
        return R::InvalidInflation;
    }
    let Some(current) = ov.get(&source) else {
        return R::Success;
    };
    let mut account = current.clone();
    if op.set_flags.is_some() || op.clear_flags.is_some() {
        let set = op.set_flags.unwrap_or(0);
        let clear = op.clear_flags.unwrap_or(0);
        if (set | clear) & !account_flags::ALL != 0 {
            return R::UnknownFlag;
        }
        if set & clear != 0 {
            return R::BadFlags;
        }
        if account.flags & account_flags::AUTH_IMMUTABLE != 0 {
            return R::CantChange;
        }
        let flags = (account.flags & !clear) | set;
        if flags & account_flags::AUTH_CLAWBACK_ENABLED != 0
            && flags & account_flags::AUTH_REVOCABLE == 0
        {
            return R::AuthRevocableRequired;
        }
        account.flags = flags;
    }
    let byte = |value: Option<u32>| value.map(u8::try_from).transpose();
    let (Ok(master), Ok(low), Ok(med), Ok(high)) = (
        byte(op.master_weight),
        byte(op.low_threshold),
        byte(op.med_threshold),
        byte(op.high_threshold),
    ) else {
        return R::ThresholdOutOfRange;
    };
    if let Some(weight) = master {
        account.master_weight = weight;
    }
    if let Some(low) = low {
        account.thresholds.low = low;
    }
    if let Some(med) = med {
        account.thresholds.med = med;
    }
    if let Some(high) = high {
        account.thresholds.high = high;
    }
    if let Some(domain) = &op.home_domain {
        let bytes = domain.0.as_slice();
        if !bytes.iter().all(|b| (0x20..0x7f).contains(b)) {
            return R::InvalidHomeDomain;
        }
        account.home_domain = String::from_utf8_lossy(bytes).into_owned();
    }
    if let Some(signer) = &op.signer {
        let xdr::SignerKey::Ed25519(key) = &signer.key else {
            return R::BadSigner;
        };
        let key = PublicKey(key.0);
        let Ok(weight) = u8::try_from(signer.weight) else {
            return R::BadSigner;
        };
        if key == source {
            return R::BadSigner;
        }
        match account.signers.iter().position(|s| s.key == key) {
            Some(i) if weight == 0 => {
                account.signers.remove(i);
                account.num_subentries -= 1;
            }
            Some(i) => account.signers[i].weight = weight,
            None if weight == 0 => {}
            None => {
                if account.signers.len() >= MAX_SIGNERS {
                    return R::TooManySigners;
                }
                if !account.can_add_subentry() {
                    return R::LowReserve;
                }
                account.signers.push(Signer { key, weight });
                account.signers.sort_by_key(|s| s.key.0);
                account.num_subentries += 1;
            }
        }
    }
    ov.put(account);
    R::Success
}

fn account_merge(
    ov: &mut Overlay<'_>,
    source: PublicKey,
    destination: &xdr::MuxedAccount,
    ctx: CloseContext,
) -> xdr::AccountMergeResult {
    use xdr::AccountMergeResult as R;
    let destination = muxed_key(destination);
    if destination == source {
        return R::Malformed;
    }
    if !ov.exists(&destination) {
        return R::NoAccount;
    }
    let Some(account) = ov.get(&source) else {
        return R::NoAccount;
    };
    if account.flags & account_flags::AUTH_IMMUTABLE != 0 {
        return R::ImmutableSet;
    }
    if account.num_subentries > 0 {
        return R::HasSubEntries;
    }
    if account.sequence >= i64::from(ctx.ledger_seq) << 32 {
        return R::SeqnumTooFar;
    }
    let amount = account.balance;
    let Some(target) = ov.get_mut(&destination) else {
        return R::NoAccount;
    };
    let Some(total) = target.balance.checked_add(amount) else {
        return R::DestFull;
    };
    target.balance = total;
    ov.remove(&source);
    R::Success(amount)
}

fn manage_data(
    ov: &mut Overlay<'_>,
    source: PublicKey,
    op: &xdr::ManageDataOp,
) -> xdr::ManageDataResult {
    use xdr::ManageDataResult as R;
    let bytes = op.data_name.0.as_slice();
    let name = match std::str::from_utf8(bytes) {
        Ok(name) if !name.is_empty() && !name.chars().any(char::is_control) => name.to_owned(),
        _ => return R::InvalidName,
    };
    let Some(account) = ov.get_mut(&source) else {
        return R::NameNotFound;
    };
    match &op.data_value {
        None => {
            if account.data.remove(&name).is_none() {
                return R::NameNotFound;
            }
            account.num_subentries -= 1;
        }
        Some(value) => {
            if !account.data.contains_key(&name) {
                if !account.can_add_subentry() {
                    return R::LowReserve;
                }
                account.num_subentries += 1;
            }
            account.data.insert(name, value.0.to_vec());
        }
    }
    R::Success
}

fn bump_sequence(
    ov: &mut Overlay<'_>,
    source: PublicKey,
    op: &xdr::BumpSequenceOp,
) -> xdr::BumpSequenceResult {
    if op.bump_to.0 < 0 {
        return xdr::BumpSequenceResult::BadSeq;
    }
    if let Some(account) = ov.get_mut(&source)
        && op.bump_to.0 > account.sequence
    {
        account.sequence = op.bump_to.0;
    }
    xdr::BumpSequenceResult::Success
}
