//! Horizon's result code strings (`tx_bad_seq`, `op_underfunded`…) for result XDR.
//!
//! The names themselves come from [`stellar_base::result_codes`], shared with the Horizon
//! client; this module gives them the shape of Horizon's JSON.

use serde::Serialize;
use stellar_base::result_codes::{inner_transaction_code, operation_codes, transaction_code};
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

/// The Horizon codes of a transaction result.
pub fn result_codes(result: &xdr::TransactionResult) -> ResultCodes {
    use xdr::TransactionResultResult as R;
    let inner_transaction = match &result.result {
        R::TxFeeBumpInnerSuccess(pair) | R::TxFeeBumpInnerFailed(pair) => {
            Some(inner_transaction_code(&pair.result.result))
        }
        _ => None,
    };
    ResultCodes {
        transaction: transaction_code(&result.result),
        operations: operation_codes(&result.result),
        inner_transaction,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(result: xdr::TransactionResultResult) -> xdr::TransactionResult {
        xdr::TransactionResult {
            fee_charged: 200,
            result,
            ext: xdr::TransactionResultExt::V0,
        }
    }

    #[test]
    fn a_fee_bump_carries_the_inner_code_and_the_inner_operations() {
        let underfunded = xdr::OperationResult::OpInner(xdr::OperationResultTr::Payment(
            xdr::PaymentResult::Underfunded,
        ));
        let bumped = result(xdr::TransactionResultResult::TxFeeBumpInnerFailed(
            xdr::InnerTransactionResultPair {
                transaction_hash: xdr::Hash([7; 32]),
                result: xdr::InnerTransactionResult {
                    fee_charged: 100,
                    result: xdr::InnerTransactionResultResult::TxFailed(
                        vec![underfunded].try_into().unwrap(),
                    ),
                    ext: xdr::InnerTransactionResultExt::V0,
                },
            },
        ));
        assert_eq!(
            result_codes(&bumped),
            ResultCodes {
                transaction: "tx_fee_bump_inner_failed".into(),
                operations: Some(vec!["op_underfunded".into()]),
                inner_transaction: Some("tx_failed".into()),
            }
        );
        assert_eq!(
            result_codes(&result(xdr::TransactionResultResult::TxBadSeq)),
            ResultCodes {
                transaction: "tx_bad_seq".into(),
                operations: None,
                inner_transaction: None,
            }
        );
    }
}
