//! `POST /payment`: the legacy form, resolved, built, signed and sent exactly once.
//!
//! Destinations are a `G…` or `M…` account, a `name*domain` resolved with federation, or a
//! forward destination; the resolved account (and its federation memo) is what the transaction
//! pays. With `compliance` configured and `extra_memo` or `use_compliance`, the receiving bank
//! approves first through our compliance server.

use std::sync::Arc;

use actix_web::{HttpResponse, web};
use stellar_base::transaction::{Operation, TransactionError, decode_transaction};
use stellar_base::{AccountAddress, Amount, Asset, KeyPair, Memo, TransactionBuilder, xdr};

use compliance::form::{asset, forward_fields, path, request_digest};

use crate::State;
use crate::error::Error;
use crate::submitter::{Draft, Outcome, SendError};

pub use compliance::form::{Fields, field};

fn positive_amount(fields: &Fields, name: &str) -> Result<Option<Amount>, Error> {
    field(fields, name)
        .map(|v| {
            v.parse::<Amount>()
                .ok()
                .filter(|a| a.is_positive())
                .ok_or_else(|| {
                    Error::invalid(
                        name,
                        "Amount must be positive and have up to 7 decimal places.",
                    )
                })
        })
        .transpose()
}

fn is_true(fields: &Fields, name: &str) -> bool {
    matches!(field(fields, name), Some("true" | "1" | "on" | "yes"))
}

/// Turns a submitter result into the HTTP answer.
pub fn respond(result: Result<Outcome, SendError>) -> Result<HttpResponse, Error> {
    match result {
        Ok(Outcome::Success {
            hash,
            ledger,
            envelope_xdr,
            result_xdr,
        }) => Ok(HttpResponse::Ok().json(serde_json::json!({
            "hash": hash,
            "ledger": ledger,
            "envelope_xdr": envelope_xdr,
            "result_xdr": result_xdr,
        }))),
        Ok(Outcome::Failed {
            hash,
            result_codes,
            result_xdr,
        }) => Err(Error::transaction_failed(
            &hash,
            &result_codes,
            result_xdr.as_deref(),
        )),
        Ok(Outcome::Pending { hash }) => Err(Error::transaction_pending(&hash)),
        Err(SendError::Conflict) => Err(Error::conflict()),
        Err(SendError::SourceNotFound(_)) => Err(Error::source_not_exist()),
        Err(SendError::Build(e)) => Err(Error::invalid("transaction", e.to_string())),
        Err(SendError::Unavailable(e)) => Err(Error::unavailable(e)),
        Err(SendError::Database(e)) => Err(Error::internal(e)),
    }
}

/// `POST /payment`.
pub async fn payment(
    state: web::Data<State>,
    form: web::Form<Fields>,
) -> Result<HttpResponse, Error> {
    let fields = form.into_inner();
    let source = match field(&fields, "source") {
        Some(seed) => KeyPair::from_secret_seed(seed).map_err(|_| {
            Error::invalid(
                "source",
                "Account secret must start with `S` and contain 56 alphanum characters.",
            )
        })?,
        None => state
            .base_seed
            .clone()
            .ok_or_else(|| Error::missing("source"))?,
    };
    let amount = positive_amount(&fields, "amount")?.ok_or_else(|| Error::missing("amount"))?;
    let dest_asset = asset(&fields, "asset_code", "asset_issuer")?;
    let send_max = positive_amount(&fields, "send_max")?;
    let dest_min = positive_amount(&fields, "dest_min")?;
    if send_max.is_some() && dest_min.is_some() {
        return Err(Error::invalid(
            "dest_min",
            "use send_max (strict receive) or dest_min (strict send), not both",
        ));
    }
    let send_asset = asset(&fields, "send_asset_code", "send_asset_issuer")?;
    let path = path(&fields)?;
    let request_memo = Memo::parse(
        field(&fields, "memo_type").unwrap_or(""),
        field(&fields, "memo").unwrap_or(""),
    )
    .map_err(|e| Error::invalid("memo", e.to_string()))?;
    let id = field(&fields, "id").map(str::to_owned);
    let digest = Some(request_digest(&fields));

    let use_compliance =
        field(&fields, "extra_memo").is_some() || is_true(&fields, "use_compliance");
    if use_compliance && state.compliance.is_some() {
        let id = id.ok_or_else(|| Error::missing("id"))?;
        // A different request under a stored id is refused before the peer hears of it.
        if let Some(row) = state
            .store
            .by_payment_id(&id)
            .await
            .map_err(Error::internal)?
            && row.request_digest != digest
        {
            return Err(Error::conflict());
        }
        let draft = crate::compliance::approve(&state, &fields, &id, &source).await?;
        return respond(state.submitter.send(&draft, Some(id), digest).await);
    }

    // Resolve where the money goes.
    let (destination, federation_memo) = resolve(&state, &fields).await?;
    let memo = match (federation_memo, request_memo) {
        (Memo::None, memo) => memo,
        (memo, Memo::None) => memo,
        _ => return Err(Error::cannot_use_memo()),
    };
    let exists = state
        .submitter
        .horizon()
        .account(&destination.account())
        .await
        .map_err(|e| Error::unavailable(e.to_string()))?
        .is_some();
    let is_path = send_max.is_some() || dest_min.is_some();
    let operation = match (exists, &dest_asset, is_path) {
        // create_account has no muxed destination: the id would be silently dropped.
        (false, _, _) if matches!(destination, AccountAddress::Muxed { .. }) => {
            return Err(Error::invalid(
                "destination",
                "The muxed account's base account does not exist; create_account cannot carry \
                 the muxed id. Create the base account first, then pay the M… address.",
            ));
        }
        (false, Asset::Native, false) => Operation::create_account(destination.account(), amount),
        (false, _, _) => {
            return Err(Error::invalid(
                "destination",
                "Can not send custom asset or path payment to inactive destination.",
            ));
        }
        (true, _, false) => Operation::payment(destination, &dest_asset, amount),
        (true, _, true) => match (send_max, dest_min) {
            (Some(send_max), _) => Operation::path_payment_strict_receive(
                &send_asset,
                send_max,
                destination,
                &dest_asset,
                amount,
                &path,
            ),
            (None, Some(dest_min)) => Operation::path_payment_strict_send(
                &send_asset,
                amount,
                destination,
                &dest_asset,
                dest_min,
                &path,
            ),
            (None, None) => unreachable!("is_path"),
        }
        .map_err(|e| Error::invalid("path", e.to_string()))?,
    };
    let account = source.public_key();
    let draft = Draft {
        source: account,
        signers: vec![source],
        build: Arc::new(move |sequence, fee, max_time| {
            TransactionBuilder::new(account.into(), sequence)
                .base_fee(fee)
                .memo(memo.clone())
                .time_bounds(0, max_time)
                .operation(operation.clone())
                .build()
        }),
    };
    respond(state.submitter.send(&draft, id, digest).await)
}

/// The account to pay and the memo its owner requires.
async fn resolve(state: &State, fields: &Fields) -> Result<(AccountAddress, Memo), Error> {
    if let Some(destination) = field(fields, "destination") {
        // An M… account is paid as is: the muxed id travels in the operation, not a memo.
        if let Ok(account) = destination.parse::<AccountAddress>() {
            return Ok((account, Memo::None));
        }
        let resolved = state
            .federation
            .resolve(destination)
            .await
            .map_err(|e| Error::cannot_resolve(e.to_string()))?;
        return Ok((resolved.account.into(), resolved.memo));
    }
    let domain = field(fields, "forward_destination[domain]")
        .ok_or_else(|| Error::missing("destination"))?;
    let forward = forward_fields(fields)?;
    if forward.is_empty() {
        return Err(Error::missing("forward_destination[fields]"));
    }
    let resolved = state
        .federation
        .forward(&domain.to_ascii_lowercase(), &forward)
        .await
        .map_err(|e| Error::cannot_resolve(e.to_string()))?;
    Ok((resolved.account.into(), resolved.memo))
}

/// A draft from the compliance server's transaction: we set sequence, fee and time bounds.
///
/// # Errors
/// When the transaction is not ours to sign.
pub fn draft_from_compliance(xdr_base64: &str, source: KeyPair) -> Result<Draft, Error> {
    let tx = decode_transaction(xdr_base64).map_err(Error::internal)?;
    let account = source.public_key();
    if AccountAddress::from_muxed_account(&tx.source_account).account() != account {
        return Err(Error::internal(
            "compliance built a transaction for another source",
        ));
    }
    let operations = tx.operations.len() as u32;
    Ok(Draft {
        source: account,
        signers: vec![source],
        build: Arc::new(move |sequence, fee, max_time| {
            let mut tx = tx.clone();
            tx.seq_num = xdr::SequenceNumber(sequence);
            tx.fee = fee
                .checked_mul(operations)
                .ok_or_else(|| TransactionError::InvalidOperation("fee overflows".into()))?;
            tx.cond = xdr::Preconditions::Time(xdr::TimeBounds {
                min_time: xdr::TimePoint(0),
                max_time: xdr::TimePoint(max_time),
            });
            Ok(tx)
        }),
    })
}
