//! Horizon's result code strings (`tx_bad_seq`, `op_underfunded`…) from a result XDR.
//!
//! A failed submission comes with `extras.result_codes`, but a transaction found later by
//! hash (after a 504, say) only has its `result_xdr`. This module names its codes the way
//! Horizon does, so the
//! caller gets the same [`ResultCodes`] either way (the names come from
//! [`stellar_base::result_codes`], shared with the sandbox).

use stellar_base::result_codes::{inner_transaction_code, operation_codes, transaction_code};
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
    let inner_transaction = match &result.result {
        xdr::TransactionResultResult::TxFeeBumpInnerFailed(pair) => {
            Some(inner_transaction_code(&pair.result.result))
        }
        _ => None,
    };
    ResultCodes {
        transaction: transaction_code(&result.result),
        operations: operation_codes(&result.result).unwrap_or_default(),
        inner_transaction,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use stellar_base::xdr::WriteXdr;

    /// A result XDR from anywhere (Horizon, a proxy, a peer): codes or an error, never a panic.
    #[test]
    fn result_codes_hold_on_mutated_xdr() {
        let ok = encode(xdr::TransactionResultResult::TxBadSeq);
        for (_, bytes) in stellar_base::fuzz::cases(&[ok.as_bytes()], 3_000) {
            let _ = ResultCodes::from_result_xdr(&String::from_utf8_lossy(&bytes));
        }
    }

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
