//! Horizon's result code strings (`tx_bad_seq`, `op_underfunded`…) from a result XDR.
//!
//! A failed submission comes with `extras.result_codes`, but a transaction found later by
//! hash (after a 504, say) only has its `result_xdr`. This module names its codes the way
//! Horizon does — from the XDR enum names, with Horizon's few exceptions spelled out — so the
//! caller gets the same [`ResultCodes`] either way.

use stellar_base::xdr::{self, ReadXdr};

use crate::{Error, ResultCodes};

/// Largest result XDR decoded (base64 characters); a result is a few hundred bytes.
const MAX_RESULT_XDR: usize = 64 * 1024;

impl ResultCodes {
    /// The codes Horizon would give for a `TransactionResult` in base64 XDR (`result_xdr`).
    /// For a fee bump, `transaction` is the outer code (`tx_fee_bump_inner_failed`) and
    /// `operations` are the inner transaction's.
    ///
    /// # Errors
    /// [`Error::Decode`] when `result_xdr` is not a base64 `TransactionResult`.
    pub fn from_result_xdr(result_xdr: &str) -> Result<Self, Error> {
        if result_xdr.len() > MAX_RESULT_XDR {
            return Err(Error::Decode("result_xdr too large".into()));
        }
        let limits = xdr::Limits {
            depth: 64,
            len: MAX_RESULT_XDR,
        };
        let result = xdr::TransactionResult::from_xdr_base64(result_xdr, limits)
            .map_err(|e| Error::Decode(format!("result_xdr: {e}")))?;
        Ok(result_codes(&result))
    }
}

/// The codes of a decoded transaction result.
fn result_codes(result: &xdr::TransactionResult) -> ResultCodes {
    use xdr::InnerTransactionResultResult as Inner;
    use xdr::TransactionResultResult as R;
    let operations = match &result.result {
        R::TxSuccess(ops) | R::TxFailed(ops) => ops.iter().map(op_code).collect(),
        R::TxFeeBumpInnerSuccess(pair) | R::TxFeeBumpInnerFailed(pair) => {
            match &pair.result.result {
                Inner::TxSuccess(ops) | Inner::TxFailed(ops) => ops.iter().map(op_code).collect(),
                _ => Vec::new(),
            }
        }
        _ => Vec::new(),
    };
    ResultCodes {
        transaction: tx_code(result.result.name()),
        operations,
    }
}

/// `CamelCase` → `camel_case`.
fn snake(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 4);
    for (i, c) in name.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// The code of a transaction result name such as `TxBadSeq`.
fn tx_code(name: &str) -> String {
    match name {
        "TxNoAccount" => "tx_no_source_account".into(),
        other => snake(other),
    }
}

/// The code of one operation result, e.g. `op_underfunded`.
fn op_code(result: &xdr::OperationResult) -> String {
    use xdr::OperationResult as O;
    let inner = match result {
        O::OpInner(inner) => inner,
        O::OpBadAuth => return "op_bad_auth".into(),
        O::OpNoAccount => return "op_no_source_account".into(),
        O::OpNotSupported => return "op_not_supported".into(),
        O::OpTooManySubentries => return "op_too_many_subentries".into(),
        O::OpExceededWorkLimit => return "op_exceeded_work_limit".into(),
        O::OpTooManySponsoring => return "op_too_many_sponsoring".into(),
    };
    // The name of the inner result's arm, e.g. `Underfunded` for a payment.
    let name = inner_name(inner);
    match name {
        "Success" => "op_success".into(),
        "AlreadyExist" => "op_already_exists".into(),
        "OverSendmax" => "op_over_source_max".into(),
        "UnderDestmin" => "op_under_dest_min".into(),
        "OfferCrossSelf" => "op_cross_self".into(),
        "NotSupportedYet" => "op_not_supported_yet".into(),
        "NameNotFound" => "op_data_name_not_found".into(),
        "InvalidName" => "op_data_invalid_name".into(),
        "HasSubEntries" => "op_has_sub_entries".into(),
        "SeqnumTooFar" => "op_seq_num_too_far".into(),
        "ImmutableSet" => "op_immutable_set".into(),
        "BadSeq" => "op_bad_seq".into(),
        "TrustNotRequired" => "op_not_required".into(),
        other => format!("op_{}", snake(other)),
    }
}

fn inner_name(inner: &xdr::OperationResultTr) -> &'static str {
    use xdr::OperationResultTr as Tr;
    match inner {
        Tr::CreateAccount(r) => r.name(),
        Tr::Payment(r) => r.name(),
        Tr::PathPaymentStrictReceive(r) => r.name(),
        Tr::ManageSellOffer(r) => r.name(),
        Tr::CreatePassiveSellOffer(r) => r.name(),
        Tr::SetOptions(r) => r.name(),
        Tr::ChangeTrust(r) => r.name(),
        Tr::AllowTrust(r) => r.name(),
        Tr::AccountMerge(r) => r.name(),
        Tr::Inflation(r) => r.name(),
        Tr::ManageData(r) => r.name(),
        Tr::BumpSequence(r) => r.name(),
        Tr::ManageBuyOffer(r) => r.name(),
        Tr::PathPaymentStrictSend(r) => r.name(),
        Tr::CreateClaimableBalance(r) => r.name(),
        Tr::ClaimClaimableBalance(r) => r.name(),
        Tr::BeginSponsoringFutureReserves(r) => r.name(),
        Tr::EndSponsoringFutureReserves(r) => r.name(),
        Tr::RevokeSponsorship(r) => r.name(),
        Tr::Clawback(r) => r.name(),
        Tr::ClawbackClaimableBalance(r) => r.name(),
        Tr::SetTrustLineFlags(r) => r.name(),
        Tr::LiquidityPoolDeposit(r) => r.name(),
        Tr::LiquidityPoolWithdraw(r) => r.name(),
        Tr::InvokeHostFunction(r) => r.name(),
        Tr::ExtendFootprintTtl(r) => r.name(),
        Tr::RestoreFootprint(r) => r.name(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use stellar_base::xdr::WriteXdr;

    fn encode(result: xdr::TransactionResultResult) -> String {
        xdr::TransactionResult {
            fee_charged: 100,
            result,
            ext: xdr::TransactionResultExt::V0,
        }
        .to_xdr_base64(xdr::Limits::none())
        .unwrap()
    }

    #[test]
    fn names_follow_horizon() {
        let payment = |r| xdr::OperationResult::OpInner(xdr::OperationResultTr::Payment(r));
        let ops = vec![
            payment(xdr::PaymentResult::Success),
            payment(xdr::PaymentResult::Underfunded),
            payment(xdr::PaymentResult::SrcNoTrust),
            xdr::OperationResult::OpInner(xdr::OperationResultTr::CreateAccount(
                xdr::CreateAccountResult::AlreadyExist,
            )),
            xdr::OperationResult::OpNoAccount,
        ];
        let failed = encode(xdr::TransactionResultResult::TxFailed(
            ops.try_into().unwrap(),
        ));
        let codes = ResultCodes::from_result_xdr(&failed).unwrap();
        assert_eq!(codes.transaction, "tx_failed");
        assert_eq!(
            codes.operations,
            [
                "op_success",
                "op_underfunded",
                "op_src_no_trust",
                "op_already_exists",
                "op_no_source_account"
            ]
        );
        let bad_seq = encode(xdr::TransactionResultResult::TxBadSeq);
        let codes = ResultCodes::from_result_xdr(&bad_seq).unwrap();
        assert_eq!(codes.transaction, "tx_bad_seq");
        assert!(codes.operations.is_empty());
        let no_account = encode(xdr::TransactionResultResult::TxNoAccount);
        assert_eq!(
            ResultCodes::from_result_xdr(&no_account)
                .unwrap()
                .transaction,
            "tx_no_source_account"
        );
        assert!(matches!(
            ResultCodes::from_result_xdr("not xdr"),
            Err(Error::Decode(_))
        ));
        assert!(ResultCodes::from_result_xdr(&"A".repeat(MAX_RESULT_XDR + 4)).is_err());
    }
}
