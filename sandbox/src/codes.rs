//! Horizon's result code strings (`tx_bad_seq`, `op_underfunded`…) for result XDR.
//!
//! Horizon derives these names from the XDR enum names; so does this module, with the few
//! exceptions Horizon makes spelled out.

use serde::Serialize;
use stellar_base::xdr;

/// `extras.result_codes` of a failed submission.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ResultCodes {
    /// The transaction code, e.g. `tx_failed`.
    pub transaction: String,
    /// One code per operation, when the transaction got as far as its operations.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub operations: Option<Vec<String>>,
    /// For a fee bump: the inner transaction's code (its operations' codes are in
    /// `operations`), as Horizon writes it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inner_transaction: Option<String>,
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

/// The Horizon code of a transaction-level result name such as `TxBadSeq`.
fn tx_code(name: &str) -> String {
    match name {
        "TxNoAccount" => "tx_no_source_account".into(),
        other => snake(other),
    }
}

/// The Horizon code of one operation result.
pub fn op_code(result: &xdr::OperationResult) -> String {
    use xdr::OperationResultTr as Tr;
    let inner = match result {
        xdr::OperationResult::OpInner(tr) => tr,
        xdr::OperationResult::OpBadAuth => return "op_bad_auth".into(),
        xdr::OperationResult::OpNoAccount => return "op_no_source_account".into(),
        xdr::OperationResult::OpNotSupported => return "op_not_supported".into(),
        xdr::OperationResult::OpTooManySubentries => return "op_too_many_subentries".into(),
        xdr::OperationResult::OpExceededWorkLimit => return "op_exceeded_work_limit".into(),
        xdr::OperationResult::OpTooManySponsoring => return "op_too_many_sponsoring".into(),
    };
    let name = match inner {
        Tr::CreateAccount(r) => r.name(),
        Tr::Payment(r) => r.name(),
        Tr::PathPaymentStrictReceive(r) => r.name(),
        Tr::PathPaymentStrictSend(r) => r.name(),
        Tr::SetOptions(r) => r.name(),
        Tr::ChangeTrust(r) => r.name(),
        Tr::AllowTrust(r) => r.name(),
        Tr::AccountMerge(r) => r.name(),
        Tr::ManageData(r) => r.name(),
        Tr::BumpSequence(r) => r.name(),
        Tr::SetTrustLineFlags(r) => r.name(),
        other => other.name(),
    };
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

fn ops_codes(ops: &[xdr::OperationResult]) -> Option<Vec<String>> {
    Some(ops.iter().map(op_code).collect())
}

/// The Horizon codes of an inner (fee-bumped) transaction's result.
fn inner_codes(result: &xdr::InnerTransactionResultResult) -> ResultCodes {
    use xdr::InnerTransactionResultResult as R;
    let operations = match result {
        R::TxSuccess(ops) | R::TxFailed(ops) => ops_codes(ops),
        _ => None,
    };
    ResultCodes {
        transaction: tx_code(result.name()),
        operations,
        inner_transaction: None,
    }
}

/// The Horizon codes of a transaction result.
pub fn result_codes(result: &xdr::TransactionResult) -> ResultCodes {
    use xdr::TransactionResultResult as R;
    match &result.result {
        R::TxSuccess(ops) | R::TxFailed(ops) => ResultCodes {
            transaction: tx_code(result.result.name()),
            operations: ops_codes(ops),
            inner_transaction: None,
        },
        R::TxFeeBumpInnerSuccess(pair) | R::TxFeeBumpInnerFailed(pair) => {
            let inner = inner_codes(&pair.result.result);
            ResultCodes {
                transaction: tx_code(result.result.name()),
                operations: inner.operations,
                inner_transaction: Some(inner.transaction),
            }
        }
        other => ResultCodes {
            transaction: tx_code(other.name()),
            operations: None,
            inner_transaction: None,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_horizon() {
        assert_eq!(tx_code("TxBadSeq"), "tx_bad_seq");
        assert_eq!(tx_code("TxNoAccount"), "tx_no_source_account");
        assert_eq!(tx_code("TxFeeBumpInnerFailed"), "tx_fee_bump_inner_failed");
        assert_eq!(tx_code("TxBadAuthExtra"), "tx_bad_auth_extra");
        let op = xdr::OperationResult::OpInner(xdr::OperationResultTr::CreateAccount(
            xdr::CreateAccountResult::AlreadyExist,
        ));
        assert_eq!(op_code(&op), "op_already_exists");
        let op = xdr::OperationResult::OpInner(xdr::OperationResultTr::Payment(
            xdr::PaymentResult::SrcNoTrust,
        ));
        assert_eq!(op_code(&op), "op_src_no_trust");
        let op = xdr::OperationResult::OpInner(xdr::OperationResultTr::PathPaymentStrictReceive(
            xdr::PathPaymentStrictReceiveResult::TooFewOffers,
        ));
        assert_eq!(op_code(&op), "op_too_few_offers");
        assert_eq!(
            op_code(&xdr::OperationResult::OpNotSupported),
            "op_not_supported"
        );
    }
}
