//! Horizon's result code strings (`tx_bad_seq`, `op_underfunded`…) for result XDR.
//!
//! Horizon derives these names from the XDR enum names; so does this module, with the few
//! exceptions Horizon makes spelled out. One place for it, because both the Horizon client
//! (naming the codes of a transaction found by hash) and the sandbox (answering like Horizon)
//! must spell them exactly alike.

use crate::xdr;

/// The code of a transaction-level result, e.g. `tx_bad_seq` or `tx_fee_bump_inner_failed`.
pub fn transaction_code(result: &xdr::TransactionResultResult) -> String {
    tx_code(result.name())
}

/// The code of a fee-bumped (inner) transaction's result.
pub fn inner_transaction_code(result: &xdr::InnerTransactionResultResult) -> String {
    tx_code(result.name())
}

/// The codes of a transaction's operations, when it got as far as its operations (for a fee
/// bump, the inner transaction's operations).
pub fn operation_codes(result: &xdr::TransactionResultResult) -> Option<Vec<String>> {
    use xdr::InnerTransactionResultResult as Inner;
    use xdr::TransactionResultResult as R;
    let ops = match result {
        R::TxSuccess(ops) | R::TxFailed(ops) => ops,
        R::TxFeeBumpInnerSuccess(pair) | R::TxFeeBumpInnerFailed(pair) => {
            match &pair.result.result {
                Inner::TxSuccess(ops) | Inner::TxFailed(ops) => ops,
                _ => return None,
            }
        }
        _ => return None,
    };
    Some(ops.iter().map(operation_code).collect())
}

/// The code of one operation result, e.g. `op_underfunded`.
pub fn operation_code(result: &xdr::OperationResult) -> String {
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
    match inner_name(inner) {
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

/// The name of an operation result's arm, e.g. `Underfunded` for a payment.
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

    #[test]
    fn names_follow_horizon() {
        use xdr::TransactionResultResult as R;
        assert_eq!(transaction_code(&R::TxBadSeq), "tx_bad_seq");
        assert_eq!(transaction_code(&R::TxNoAccount), "tx_no_source_account");
        assert_eq!(transaction_code(&R::TxBadAuthExtra), "tx_bad_auth_extra");
        let op = |tr| xdr::OperationResult::OpInner(tr);
        let cases = [
            (
                op(xdr::OperationResultTr::CreateAccount(
                    xdr::CreateAccountResult::AlreadyExist,
                )),
                "op_already_exists",
            ),
            (
                op(xdr::OperationResultTr::Payment(
                    xdr::PaymentResult::SrcNoTrust,
                )),
                "op_src_no_trust",
            ),
            (
                op(xdr::OperationResultTr::PathPaymentStrictReceive(
                    xdr::PathPaymentStrictReceiveResult::TooFewOffers,
                )),
                "op_too_few_offers",
            ),
            (
                op(xdr::OperationResultTr::ManageData(
                    xdr::ManageDataResult::NameNotFound,
                )),
                "op_data_name_not_found",
            ),
            (xdr::OperationResult::OpNotSupported, "op_not_supported"),
            (xdr::OperationResult::OpNoAccount, "op_no_source_account"),
        ];
        for (result, code) in cases {
            assert_eq!(operation_code(&result), code);
        }
        let failed = R::TxFailed(
            vec![op(xdr::OperationResultTr::Payment(
                xdr::PaymentResult::Underfunded,
            ))]
            .try_into()
            .unwrap(),
        );
        assert_eq!(transaction_code(&failed), "tx_failed");
        assert_eq!(
            operation_codes(&failed),
            Some(vec!["op_underfunded".to_owned()])
        );
        assert_eq!(operation_codes(&R::TxBadSeq), None);
    }
}
