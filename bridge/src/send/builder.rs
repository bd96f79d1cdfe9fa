//! `POST /builder`: the legacy JSON request turned into a signed envelope, not submitted.
//!
//! Every operation is validated on its own, and an error names the operation and the field
//! (`operations[1][body][amount]`), where the legacy server answered 500 for most bad input.

use actix_web::{HttpResponse, web};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::Value;
use stellar_base::transaction::{Envelope, Operation, SetOptions, TransactionError};
use stellar_base::{AccountAddress, Amount, Asset, KeyPair, PublicKey, TransactionBuilder, xdr};

use super::sending::Sending;
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

    /// A list of assets (a path); absent is empty.
    fn path(&self, field: &str) -> Result<Vec<Asset>, Error> {
        match self.value.get(field) {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(Value::Array(items)) => items
                .iter()
                .map(|item| {
                    let get = |k: &str| item.get(k).and_then(Value::as_str).unwrap_or("");
                    Asset::from_code_and_issuer(get("code"), get("issuer"))
                        .map_err(|e| Error::invalid(&self.name(field), e.to_string()))
                })
                .collect(),
            Some(_) => Err(Error::invalid(
                &self.name(field),
                "must be a list of assets",
            )),
        }
    }

    /// A number, or a string of one.
    fn integer(&self, field: &str) -> Option<i64> {
        self.value.get(field).and_then(|v| {
            v.as_i64()
                .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
        })
    }

    /// The operation could not be built from this body.
    fn invalid_op(&self, e: TransactionError) -> Error {
        Error::invalid(&self.prefix, e.to_string())
    }
}

fn raw(body: xdr::OperationBody) -> Operation {
    Operation(xdr::Operation {
        source_account: None,
        body,
    })
}

/// One legacy (or newer) operation: `operations[index]`, `{"type", "body"}`.
fn operation(index: usize, op: &Value) -> Result<Operation, Error> {
    let kind = op
        .get("type")
        .and_then(Value::as_str)
        .ok_or_else(|| Error::missing(&format!("operations[{index}][type]")))?;
    let prefix = format!("operations[{index}][body]");
    let value = op.get("body").unwrap_or(&Value::Null);
    if !value.is_object() {
        return Err(Error::invalid(&prefix, "must be a JSON object"));
    }
    let b = &Body { value, prefix };
    let built = match kind {
        "create_account" => create_account(b)?,
        "payment" => payment(b)?,
        "path_payment" | "path_payment_strict_receive" => path_payment_strict_receive(b)?,
        "path_payment_strict_send" => path_payment_strict_send(b)?,
        "manage_offer" | "manage_sell_offer" => manage_sell_offer(b)?,
        "create_passive_offer" => create_passive_offer(b)?,
        "set_options" => set_options(b)?,
        "change_trust" => change_trust(b)?,
        "allow_trust" => allow_trust(b)?,
        "set_trust_line_flags" => set_trust_line_flags(b)?,
        "account_merge" => Operation::account_merge(b.destination("destination")?),
        "inflation" => raw(xdr::OperationBody::Inflation),
        "manage_data" => manage_data(b)?,
        "bump_sequence" => bump_sequence(b)?,
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

fn create_account(b: &Body<'_>) -> Result<Operation, Error> {
    Ok(Operation::create_account(
        b.account("destination")?,
        b.amount("starting_balance")?,
    ))
}

fn payment(b: &Body<'_>) -> Result<Operation, Error> {
    Ok(Operation::payment(
        b.destination("destination")?,
        &b.asset("asset")?,
        b.amount("amount")?,
    ))
}

fn path_payment_strict_receive(b: &Body<'_>) -> Result<Operation, Error> {
    Operation::path_payment_strict_receive(
        &b.asset("send_asset")?,
        b.amount("send_max")?,
        b.destination("destination")?,
        &b.asset("destination_asset")?,
        b.amount("destination_amount")?,
        &b.path("path")?,
    )
    .map_err(|e| b.invalid_op(e))
}

fn path_payment_strict_send(b: &Body<'_>) -> Result<Operation, Error> {
    Operation::path_payment_strict_send(
        &b.asset("send_asset")?,
        b.amount("send_amount")?,
        b.destination("destination")?,
        &b.asset("destination_asset")?,
        b.amount("destination_min")?,
        &b.path("path")?,
    )
    .map_err(|e| b.invalid_op(e))
}

/// `amount` 0 (or absent) deletes offer `offer_id`.
fn manage_sell_offer(b: &Body<'_>) -> Result<Operation, Error> {
    Ok(raw(xdr::OperationBody::ManageSellOffer(
        xdr::ManageSellOfferOp {
            selling: b.asset("selling")?.to_xdr(),
            buying: b.asset("buying")?.to_xdr(),
            amount: b
                .str("amount")
                .map_or(Ok(0), |_| b.amount("amount").map(Amount::stroops))?,
            price: b.price("price")?,
            offer_id: match b.value.get("offer_id") {
                None | Some(Value::Null) => 0,
                Some(_) => b
                    .integer("offer_id")
                    .ok_or_else(|| Error::invalid(&b.name("offer_id"), "must be a number"))?,
            },
        },
    )))
}

fn create_passive_offer(b: &Body<'_>) -> Result<Operation, Error> {
    Ok(raw(xdr::OperationBody::CreatePassiveSellOffer(
        xdr::CreatePassiveSellOfferOp {
            selling: b.asset("selling")?.to_xdr(),
            buying: b.asset("buying")?.to_xdr(),
            amount: b.amount("amount")?.stroops(),
            price: b.price("price")?,
        },
    )))
}

fn set_options(b: &Body<'_>) -> Result<Operation, Error> {
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
    .map_err(|e| b.invalid_op(e))?;
    if b.str("inflation_dest").is_some() {
        let dest = b.account("inflation_dest")?;
        if let xdr::OperationBody::SetOptions(o) = &mut op.0.body {
            o.inflation_dest = Some(dest.to_account_id());
        }
    }
    Ok(op)
}

/// Without `limit`, the largest there is.
fn change_trust(b: &Body<'_>) -> Result<Operation, Error> {
    let limit = match b.str("limit") {
        Some(_) => b.amount("limit")?,
        None => Amount::from_stroops(i64::MAX).expect("positive"),
    };
    Ok(Operation::change_trust(&b.asset("asset")?, limit))
}

/// `authorize`: `true`/`false`, or 0, 1 (authorized) or 2 (to maintain liabilities).
fn allow_trust(b: &Body<'_>) -> Result<Operation, Error> {
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
        .map_err(|e| b.invalid_op(e))
}

fn set_trust_line_flags(b: &Body<'_>) -> Result<Operation, Error> {
    Ok(Operation::set_trust_line_flags(
        b.account("trustor")?,
        &b.asset("asset")?,
        b.flags("clear_flags")?.unwrap_or(0),
        b.flags("set_flags")?.unwrap_or(0),
    ))
}

/// `data` in base64; absent deletes the entry.
fn manage_data(b: &Body<'_>) -> Result<Operation, Error> {
    let value = b
        .str("data")
        .map(|d| {
            BASE64
                .decode(d)
                .map_err(|_| Error::invalid(&b.name("data"), "must be base64"))
        })
        .transpose()?;
    Operation::manage_data(b.required("name")?, value.as_deref()).map_err(|e| b.invalid_op(e))
}

fn bump_sequence(b: &Body<'_>) -> Result<Operation, Error> {
    let to = b
        .integer("bump_to")
        .filter(|n| *n >= 0)
        .ok_or_else(|| Error::invalid(&b.name("bump_to"), "must be a sequence number"))?;
    Ok(Operation::bump_sequence(to))
}

/// `POST /builder`.
///
/// # Errors
/// The request's invalid fields (naming the operation and field); an unknown source account
/// when the sequence must be read.
pub async fn builder(sending: web::Data<Sending>, body: web::Bytes) -> Result<HttpResponse, Error> {
    let request: Value = serde_json::from_slice(&body)
        .map_err(|_| Error::invalid("body", "Request body is not a valid JSON"))?;
    let source = source(&request)?;
    let sequence = sequence_number(&request)?;
    let operations = operations(&request)?;
    let signers = signers(&request)?;
    let sequence = match sequence {
        Some(s) => s,
        None => next_sequence(&sending, &source).await?,
    };
    let (min_time, max_time) = time_bounds(&request, sending.builder_timeout)?;
    let mut builder = TransactionBuilder::new(source.into(), sequence)
        .base_fee(sending.base_fee)
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
            .sign(signer, sending.submitter.network())
            .map_err(|e| Error::invalid("signers", e.to_string()))?;
    }
    Ok(
        HttpResponse::Ok()
            .json(serde_json::json!({ "transaction_envelope": envelope.to_base64() })),
    )
}

/// `source`: the transaction's account.
fn source(request: &Value) -> Result<PublicKey, Error> {
    request
        .get("source")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| Error::missing("source"))?
        .parse()
        .map_err(|_| {
            Error::invalid(
                "source",
                "Account ID must start with `G` and contain 56 alphanum characters.",
            )
        })
}

/// `sequence_number`, when given.
fn sequence_number(request: &Value) -> Result<Option<i64>, Error> {
    match request.get("sequence_number") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(v) => v
            .as_i64()
            .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
            .filter(|n| *n > 0)
            .map(Some)
            .ok_or_else(|| Error::invalid("sequence_number", "must be a positive number")),
    }
}

/// `operations`: at least one, each checked on its own.
fn operations(request: &Value) -> Result<Vec<Operation>, Error> {
    request
        .get("operations")
        .and_then(Value::as_array)
        .filter(|ops| !ops.is_empty())
        .ok_or_else(|| Error::missing("operations"))?
        .iter()
        .enumerate()
        .map(|(i, op)| operation(i, op))
        .collect()
}

/// `signers`: secret seeds; none is an unsigned envelope.
fn signers(request: &Value) -> Result<Vec<KeyPair>, Error> {
    let Some(list) = request.get("signers").and_then(Value::as_array) else {
        return Ok(Vec::new());
    };
    list.iter()
        .enumerate()
        .map(|(i, s)| {
            s.as_str()
                .and_then(|s| KeyPair::from_secret_seed(s).ok())
                .ok_or_else(|| {
                    Error::invalid(&format!("signers[{i}]"), "must be an S… secret seed")
                })
        })
        .collect()
}

/// Without a sequence, the account's next one, as legacy.
async fn next_sequence(sending: &Sending, source: &PublicKey) -> Result<i64, Error> {
    Ok(sending
        .submitter
        .horizon()
        .account(source)
        .await
        .map_err(|e| Error::unavailable(e.to_string()))?
        .ok_or_else(Error::source_not_exist)?
        .sequence
        + 1)
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A `/builder` body from any app: read and built into an envelope, or refused with an
    /// error naming a field, never a panic; what is built carries the operations asked for.
    #[test]
    fn the_builder_json_holds_on_mutated_input() {
        let issuer = KeyPair::from_seed_bytes([6; 32]);
        let account = issuer.public_key();
        let seeds = [
            format!(
                r#"{{"source":"{account}","sequence_number":"12","operations":[{{"type":"payment","body":{{"destination":"{account}","amount":"1.5","asset":{{"code":"USD","issuer":"{account}"}}}}}},{{"type":"manage_data","body":{{"name":"k","value":"dg=="}}}},{{"type":"set_options","body":{{"home_domain":"bank.example","master_weight":1}}}}],"signers":["{}"],"time_bounds":{{"min_time":"0","max_time":"0"}}}}"#,
                issuer.secret_seed()
            ),
            format!(
                r#"{{"source":"{account}","sequence_number":3,"operations":[{{"type":"path_payment_strict_send","body":{{"source":"{account}","send_asset":{{"type":"native"}},"send_amount":"2","destination":"{account}","dest_asset":{{"type":"native"}},"dest_min":"1","path":[]}}}},{{"type":"change_trust","body":{{"asset":{{"code":"EUR","issuer":"{account}"}},"limit":"100"}}}},{{"type":"bump_sequence","body":{{"bump_to":"99"}}}}],"timeout":30}}"#
            ),
        ];
        let seeds: Vec<&[u8]> = seeds.iter().map(|s| s.as_bytes()).collect();
        let mut built = 0;
        for (i, bytes) in stellar_base::fuzz::cases(&seeds, 3_000) {
            let Ok(request) = serde_json::from_slice::<Value>(&bytes) else {
                continue;
            };
            let hint = stellar_base::fuzz::replay_hint(i);
            let read = (|| {
                let from = source(&request)?;
                let sequence = sequence_number(&request)?.unwrap_or(1);
                let operations = operations(&request)?;
                let signers = signers(&request)?;
                let (min_time, max_time) = time_bounds(&request, 30)?;
                Ok::<_, Error>((from, sequence, operations, signers, min_time, max_time))
            })();
            let Ok((from, sequence, operations, signers, min_time, max_time)) = read else {
                continue;
            };
            let count = operations.len();
            let mut builder =
                TransactionBuilder::new(from.into(), sequence).time_bounds(min_time, max_time);
            for op in operations {
                builder = builder.operation(op);
            }
            let Ok(tx) = builder.build() else {
                continue;
            };
            let network = stellar_base::Network::new(stellar_base::Network::STANDALONE);
            let mut envelope = Envelope::from_transaction(tx);
            for signer in &signers {
                assert!(envelope.sign(signer, &network).is_ok(), "{hint}: signed");
            }
            let decoded = Envelope::from_base64(&envelope.to_base64());
            assert!(decoded.is_ok(), "{hint}: the envelope built reads back");
            assert!(count > 0, "{hint}: at least one operation");
            built += 1;
        }
        assert!(built >= 2, "the seeds themselves build ({built} built)");
    }
}
