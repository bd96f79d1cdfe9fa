//! `POST /builder`: the legacy JSON request turned into a signed envelope, not submitted.
//!
//! Every operation is validated on its own, and an error names the operation and the field
//! (`operations[1][body][amount]`), where the legacy server answered 500 for most bad input.

use actix_web::{HttpResponse, web};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::Value;
use stellar_base::transaction::{Envelope, Operation, SetOptions};
use stellar_base::{AccountAddress, Amount, Asset, KeyPair, PublicKey, TransactionBuilder, xdr};

use crate::State;
use crate::error::Error;

/// Reads the fields of one operation body, naming them in errors.
struct Body<'a> {
    value: &'a Value,
    prefix: String,
}

impl Body<'_> {
    fn name(&self, field: &str) -> String {
        format!("{}[{field}]", self.prefix)
    }

    fn str(&self, field: &str) -> Option<&str> {
        self.value
            .get(field)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
    }

    fn required(&self, field: &str) -> Result<&str, Error> {
        self.str(field)
            .ok_or_else(|| Error::missing(&self.name(field)))
    }

    fn account(&self, field: &str) -> Result<PublicKey, Error> {
        self.required(field)?
            .parse()
            .map_err(|_| Error::invalid(&self.name(field), "must be a G… account id"))
    }

    fn destination(&self, field: &str) -> Result<AccountAddress, Error> {
        self.required(field)?
            .parse()
            .map_err(|_| Error::invalid(&self.name(field), "must be a G… or M… account"))
    }

    fn amount(&self, field: &str) -> Result<Amount, Error> {
        self.required(field)?
            .parse::<Amount>()
            .ok()
            .filter(|a| a.is_positive())
            .ok_or_else(|| {
                Error::invalid(
                    &self.name(field),
                    "Amount must be positive and have up to 7 decimal places.",
                )
            })
    }

    fn asset(&self, field: &str) -> Result<Asset, Error> {
        let value = self.value.get(field).unwrap_or(&Value::Null);
        let get = |k: &str| value.get(k).and_then(Value::as_str).unwrap_or("");
        Asset::from_code_and_issuer(get("code"), get("issuer"))
            .map_err(|e| Error::invalid(&self.name(field), e.to_string()))
    }

    fn u8_opt(&self, field: &str) -> Result<Option<u8>, Error> {
        match self.value.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => v
                .as_u64()
                .and_then(|n| u8::try_from(n).ok())
                .map(Some)
                .ok_or_else(|| Error::invalid(&self.name(field), "must be 0–255")),
        }
    }

    fn flags(&self, field: &str) -> Result<Option<u32>, Error> {
        match self.value.get(field) {
            None | Some(Value::Null) => Ok(None),
            // Flags are bits: a sum that overflows, or sets one bit twice, is not a flag set.
            Some(Value::Array(items)) => items
                .iter()
                .try_fold(0u32, |all, i| {
                    let flag = i.as_u64().and_then(|n| u32::try_from(n).ok())?;
                    (all & flag == 0).then_some(all | flag)
                })
                .map(Some)
                .ok_or_else(|| {
                    Error::invalid(
                        &self.name(field),
                        "must be a list of distinct flag numbers (1, 2, 4, 8…)",
                    )
                }),
            Some(v) => v
                .as_u64()
                .and_then(|n| u32::try_from(n).ok())
                .map(Some)
                .ok_or_else(|| Error::invalid(&self.name(field), "must be a flag number")),
        }
    }

    fn price(&self, field: &str) -> Result<xdr::Price, Error> {
        let invalid = || Error::invalid(&self.name(field), "must be a positive decimal price");
        let stroops = self
            .required(field)?
            .parse::<Amount>()
            .map_err(|_| invalid())?
            .stroops();
        if stroops == 0 {
            return Err(invalid());
        }
        let (mut n, mut d) = (stroops, 10_000_000_i64);
        let (mut a, mut b) = (n, d);
        while b != 0 {
            (a, b) = (b, a % b);
        }
        n /= a;
        d /= a;
        Ok(xdr::Price {
            n: i32::try_from(n).map_err(|_| invalid())?,
            d: i32::try_from(d).map_err(|_| invalid())?,
        })
    }
}

fn raw(body: xdr::OperationBody) -> Operation {
    Operation(xdr::Operation {
        source_account: None,
        body,
    })
}

/// One legacy (or newer) operation.
fn operation(index: usize, op: &Value) -> Result<Operation, Error> {
    let kind = op
        .get("type")
        .and_then(Value::as_str)
        .ok_or_else(|| Error::missing(&format!("operations[{index}][type]")))?;
    let body_value = op.get("body").unwrap_or(&Value::Null);
    if !body_value.is_object() {
        return Err(Error::invalid(
            &format!("operations[{index}][body]"),
            "must be a JSON object",
        ));
    }
    let b = Body {
        value: body_value,
        prefix: format!("operations[{index}][body]"),
    };
    let path = |field: &str| -> Result<Vec<Asset>, Error> {
        match b.value.get(field) {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(Value::Array(items)) => items
                .iter()
                .map(|item| {
                    let get = |k: &str| item.get(k).and_then(Value::as_str).unwrap_or("");
                    Asset::from_code_and_issuer(get("code"), get("issuer"))
                        .map_err(|e| Error::invalid(&b.name(field), e.to_string()))
                })
                .collect(),
            Some(_) => Err(Error::invalid(&b.name(field), "must be a list of assets")),
        }
    };
    let invalid_op = |e: stellar_base::transaction::TransactionError| {
        Error::invalid(&format!("operations[{index}][body]"), e.to_string())
    };
    let built = match kind {
        "create_account" => {
            Operation::create_account(b.account("destination")?, b.amount("starting_balance")?)
        }
        "payment" => Operation::payment(
            b.destination("destination")?,
            &b.asset("asset")?,
            b.amount("amount")?,
        ),
        "path_payment" | "path_payment_strict_receive" => Operation::path_payment_strict_receive(
            &b.asset("send_asset")?,
            b.amount("send_max")?,
            b.destination("destination")?,
            &b.asset("destination_asset")?,
            b.amount("destination_amount")?,
            &path("path")?,
        )
        .map_err(invalid_op)?,
        "path_payment_strict_send" => Operation::path_payment_strict_send(
            &b.asset("send_asset")?,
            b.amount("send_amount")?,
            b.destination("destination")?,
            &b.asset("destination_asset")?,
            b.amount("destination_min")?,
            &path("path")?,
        )
        .map_err(invalid_op)?,
        "manage_offer" | "manage_sell_offer" => raw(xdr::OperationBody::ManageSellOffer(
            xdr::ManageSellOfferOp {
                selling: b.asset("selling")?.to_xdr(),
                buying: b.asset("buying")?.to_xdr(),
                amount: b
                    .str("amount")
                    .map_or(Ok(0), |_| b.amount("amount").map(Amount::stroops))?,
                price: b.price("price")?,
                offer_id: match b.value.get("offer_id") {
                    None | Some(Value::Null) => 0,
                    Some(v) => v
                        .as_i64()
                        .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
                        .ok_or_else(|| Error::invalid(&b.name("offer_id"), "must be a number"))?,
                },
            },
        )),
        "create_passive_offer" => raw(xdr::OperationBody::CreatePassiveSellOffer(
            xdr::CreatePassiveSellOfferOp {
                selling: b.asset("selling")?.to_xdr(),
                buying: b.asset("buying")?.to_xdr(),
                amount: b.amount("amount")?.stroops(),
                price: b.price("price")?,
            },
        )),
        "set_options" => {
            let signer = match b.value.get("signer") {
                None | Some(Value::Null) => None,
                Some(s) => {
                    let sb = Body {
                        value: s,
                        prefix: b.name("signer"),
                    };
                    Some((sb.account("public_key")?, sb.u8_opt("weight")?.unwrap_or(0)))
                }
            };
            let mut op = Operation::set_options(SetOptions {
                clear_flags: b.flags("clear_flags")?,
                set_flags: b.flags("set_flags")?,
                master_weight: b.u8_opt("master_weight")?,
                low_threshold: b.u8_opt("low_threshold")?,
                med_threshold: b.u8_opt("medium_threshold")?,
                high_threshold: b.u8_opt("high_threshold")?,
                home_domain: b.str("home_domain").map(str::to_owned),
                signer,
            })
            .map_err(invalid_op)?;
            if b.str("inflation_dest").is_some() {
                let dest = b.account("inflation_dest")?;
                if let xdr::OperationBody::SetOptions(o) = &mut op.0.body {
                    o.inflation_dest = Some(dest.to_account_id());
                }
            }
            op
        }
        "change_trust" => {
            let limit = match b.str("limit") {
                Some(_) => b.amount("limit")?,
                None => Amount::from_stroops(i64::MAX).expect("positive"),
            };
            Operation::change_trust(&b.asset("asset")?, limit)
        }
        "allow_trust" => {
            let authorize = match b.value.get("authorize") {
                Some(Value::Bool(true)) => 1,
                Some(Value::Bool(false)) | None => 0,
                Some(v) => v
                    .as_u64()
                    .filter(|n| *n <= 2)
                    .map(|n| n as u32)
                    .ok_or_else(|| {
                        Error::invalid(&b.name("authorize"), "must be true, false, 0, 1 or 2")
                    })?,
            };
            Operation::allow_trust(b.account("trustor")?, b.required("asset_code")?, authorize)
                .map_err(invalid_op)?
        }
        "set_trust_line_flags" => Operation::set_trust_line_flags(
            b.account("trustor")?,
            &b.asset("asset")?,
            b.flags("clear_flags")?.unwrap_or(0),
            b.flags("set_flags")?.unwrap_or(0),
        ),
        "account_merge" => Operation::account_merge(b.destination("destination")?),
        "inflation" => raw(xdr::OperationBody::Inflation),
        "manage_data" => {
            let value = b
                .str("data")
                .map(|d| {
                    BASE64
                        .decode(d)
                        .map_err(|_| Error::invalid(&b.name("data"), "must be base64"))
                })
                .transpose()?;
            Operation::manage_data(b.required("name")?, value.as_deref()).map_err(invalid_op)?
        }
        "bump_sequence" => {
            let to = b
                .value
                .get("bump_to")
                .and_then(|v| {
                    v.as_i64()
                        .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
                })
                .filter(|n| *n >= 0)
                .ok_or_else(|| Error::invalid(&b.name("bump_to"), "must be a sequence number"))?;
            Operation::bump_sequence(to)
        }
        _ => {
            return Err(Error::invalid(
                &format!("operations[{index}][type]"),
                "Invalid operation type.",
            ));
        }
    };
    Ok(match b.str("source") {
        Some(_) => built.with_source(b.destination("source")?),
        None => built,
    })
}

/// `POST /builder`.
pub async fn builder(state: web::Data<State>, body: web::Bytes) -> Result<HttpResponse, Error> {
    let request: Value = serde_json::from_slice(&body)
        .map_err(|_| Error::invalid("body", "Request body is not a valid JSON"))?;
    let top = Body {
        value: &request,
        prefix: String::new(),
    };
    let source: PublicKey = top
        .str("source")
        .ok_or_else(|| Error::missing("source"))?
        .parse()
        .map_err(|_| {
            Error::invalid(
                "source",
                "Account ID must start with `G` and contain 56 alphanum characters.",
            )
        })?;
    let sequence = match request.get("sequence_number") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.is_empty() => None,
        Some(v) => Some(
            v.as_i64()
                .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
                .filter(|n| *n > 0)
                .ok_or_else(|| Error::invalid("sequence_number", "must be a positive number"))?,
        ),
    };
    let operations = request
        .get("operations")
        .and_then(Value::as_array)
        .filter(|ops| !ops.is_empty())
        .ok_or_else(|| Error::missing("operations"))?
        .iter()
        .enumerate()
        .map(|(i, op)| operation(i, op))
        .collect::<Result<Vec<_>, _>>()?;
    let signers = request
        .get("signers")
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .enumerate()
                .map(|(i, s)| {
                    s.as_str()
                        .and_then(|s| KeyPair::from_secret_seed(s).ok())
                        .ok_or_else(|| {
                            Error::invalid(&format!("signers[{i}]"), "must be an S… secret seed")
                        })
                })
                .collect::<Result<Vec<_>, _>>()
        })
        .transpose()?
        .unwrap_or_default();
    // Without a sequence, the account's next one, as legacy.
    let sequence = match sequence {
        Some(s) => s,
        None => {
            state
                .submitter
                .horizon()
                .account(&source)
                .await
                .map_err(|e| Error::unavailable(e.to_string()))?
                .ok_or_else(Error::source_not_exist)?
                .sequence
                + 1
        }
    };
    let (min_time, max_time) = time_bounds(&request, state.builder_timeout)?;
    let mut builder = TransactionBuilder::new(source.into(), sequence)
        .base_fee(state.base_fee)
        .time_bounds(min_time, max_time);
    for op in operations {
        builder = builder.operation(op);
    }
    let tx = builder
        .build()
        .map_err(|e| Error::invalid("operations", e.to_string()))?;
    let mut envelope = Envelope::from_transaction(tx);
    for signer in &signers {
        envelope
            .sign(signer, state.submitter.network())
            .map_err(|e| Error::invalid("signers", e.to_string()))?;
    }
    Ok(
        HttpResponse::Ok()
            .json(serde_json::json!({ "transaction_envelope": envelope.to_base64() })),
    )
}

/// The envelope's time bounds: `time_bounds.min_time` / `time_bounds.max_time` (Unix seconds;
/// `max_time` 0 is no upper bound, as the legacy server built), or `timeout` seconds from now,
/// or the configured `builder_timeout_seconds` from now.
fn time_bounds(request: &Value, default_timeout: u64) -> Result<(u64, u64), Error> {
    let number = |v: Option<&Value>, name: &str| -> Result<Option<u64>, Error> {
        match v {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if s.is_empty() => Ok(None),
            Some(v) => v
                .as_u64()
                .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
                .map(Some)
                .ok_or_else(|| Error::invalid(name, "must be a whole number of seconds")),
        }
    };
    let bounds = request.get("time_bounds");
    let min_time = number(
        bounds.and_then(|b| b.get("min_time")),
        "time_bounds[min_time]",
    )?;
    let max_time = number(
        bounds.and_then(|b| b.get("max_time")),
        "time_bounds[max_time]",
    )?;
    let timeout = number(request.get("timeout"), "timeout")?;
    if max_time.is_some() && timeout.is_some() {
        return Err(Error::invalid(
            "timeout",
            "give time_bounds[max_time] or timeout, not both",
        ));
    }
    let now = stellar_base::transaction::unix_now();
    let min_time = min_time.unwrap_or(0);
    let max_time = match (max_time, timeout) {
        (Some(max_time), _) => max_time,
        (None, Some(0)) => return Err(Error::invalid("timeout", "must be at least 1 second")),
        (None, Some(timeout)) => now.saturating_add(timeout),
        (None, None) => now.saturating_add(default_timeout),
    };
    if max_time != 0 && max_time < min_time {
        return Err(Error::invalid(
            "time_bounds[max_time]",
            "must not be before time_bounds[min_time]",
        ));
    }
    if max_time != 0 && max_time <= now {
        return Err(Error::invalid(
            "time_bounds[max_time]",
            "is already past: the network would refuse the envelope (tx_too_late)",
        ));
    }
    Ok((min_time, max_time))
}
