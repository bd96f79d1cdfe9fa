//! SEP-12 on the external port (`/kyc/customer`): senders register their customer and ours;
//! the back office decides each through the callbacks it already answers for SEP-3
//! (`sanctions` for senders, `ask_user` for receivers), and [`sep9_fields`] is the one mapping
//! from a `fetch_info` answer to SEP-9 fields the sending side uses.

use std::collections::BTreeMap;

use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::{Map, Value};

use super::auth::{Client, client};
use super::store::Customer;
use super::{Anchor, RECEIVER, SENDER, SepError, now};
use crate::callbacks::Decision;

/// Most fields one customer may carry, the longest name and value, and the most text all of
/// them take together (what the `fields` column holds on every backend, with room to spare).
const MAX_FIELDS: usize = 100;
const MAX_NAME_CHARS: usize = 64;
const MAX_VALUE_CHARS: usize = 1000;
const MAX_FIELDS_BYTES: usize = 16 * 1024;
/// The longest memo a customer is registered under (`sep12_customer.memo`).
const MAX_MEMO_CHARS: usize = 64;
/// The longest message kept from the back office (`sep12_customer.message`).
const MAX_MESSAGE_CHARS: usize = 1000;

/// Fields of a SEP-12 request that say who the customer is, not what they are.
const CONTROL: &[&str] = &[
    "id",
    "account",
    "memo",
    "memo_type",
    "type",
    "transaction_id",
    "lang",
];

/// SEP-9 fields from a `fetch_info` answer (the legacy `sender_info` object): SEP-9 names
/// pass as they are, the legacy names are renamed (`middle_name` → `additional_name`,
/// `province` → `state_or_province`, `country` → `address_country_code`, `date_of_birth` →
/// `birth_date`, `company_name` → `organization.name`, `email` → `email_address`, `phone` →
/// `mobile_number`) unless the SEP-9 name is there too (it wins), numbers become text, and
/// anything else (objects, lists, empty text) is left out.
pub fn sep9_fields(info: &BTreeMap<String, Value>) -> BTreeMap<String, String> {
    let mut fields = BTreeMap::new();
    for (key, value) in info {
        let value = match value {
            Value::String(s) if !s.is_empty() => s.clone(),
            Value::Number(n) => n.to_string(),
            _ => continue,
        };
        let renamed = match key.as_str() {
            "middle_name" => "additional_name",
            "province" => "state_or_province",
            "country" => "address_country_code",
            "date_of_birth" => "birth_date",
            "company_name" => "organization.name",
            "email" => "email_address",
            "phone" => "mobile_number",
            other => {
                // A SEP-9 name given as such wins over a legacy name for the same field.
                fields.insert(other.to_owned(), value);
                continue;
            }
        };
        fields.entry(renamed.to_owned()).or_insert(value);
    }
    fields
}

/// A SEP-12 request's fields: JSON or a form, every value text.
fn request_fields(
    request: &HttpRequest,
    body: &[u8],
) -> Result<BTreeMap<String, String>, SepError> {
    let is_json = super::is_json(request);
    let fields: BTreeMap<String, String> = if is_json {
        let object: Map<String, Value> = serde_json::from_slice(body)
            .map_err(|_| SepError::bad_request("the body must be a JSON object"))?;
        object
            .into_iter()
            .filter_map(|(k, v)| match v {
                Value::String(s) => Some((k, s)),
                Value::Number(n) => Some((k, n.to_string())),
                _ => None,
            })
            .collect()
    } else {
        url::form_urlencoded::parse(body).into_owned().collect()
    };
    if fields.len() > MAX_FIELDS {
        return Err(SepError::bad_request(format!(
            "at most {MAX_FIELDS} fields"
        )));
    }
    if let Some(name) = fields.keys().find(|k| k.chars().count() > MAX_NAME_CHARS) {
        return Err(SepError::bad_request(format!(
            "field names are at most {MAX_NAME_CHARS} characters: {:?}…",
            name.chars().take(MAX_NAME_CHARS).collect::<String>()
        )));
    }
    if let Some((name, _)) = fields
        .iter()
        .find(|(_, v)| v.chars().count() > MAX_VALUE_CHARS)
    {
        return Err(SepError::bad_request(format!(
            "{name} is longer than {MAX_VALUE_CHARS} characters"
        )));
    }
    Ok(fields)
}

/// The customer type asked for: ours or a 400.
fn kind(value: Option<&str>) -> Result<&'static str, SepError> {
    match value {
        None | Some("") | Some(SENDER) => Ok(SENDER),
        Some(RECEIVER) => Ok(RECEIVER),
        Some(other) => Err(SepError::bad_request(format!(
            "unrecognized type {other:?}: {SENDER} or {RECEIVER}"
        ))),
    }
}

/// The memo a request names for the client's customer: the token's when it has one (a
/// different one is refused), else the request's.
fn memo(client: &Client, asked: Option<&str>) -> Result<String, SepError> {
    if asked.is_some_and(|m| m.chars().count() > MAX_MEMO_CHARS) {
        return Err(SepError::bad_request(format!(
            "memo is at most {MAX_MEMO_CHARS} characters"
        )));
    }
    match (client.memo.as_str(), asked.unwrap_or("")) {
        ("", asked) => Ok(asked.to_owned()),
        (ours, "") => Ok(ours.to_owned()),
        (ours, asked) if ours == asked => Ok(ours.to_owned()),
        _ => Err(SepError::forbidden(
            "the memo does not match the one authenticated with SEP-10",
        )),
    }
}

/// A customer of this client's, by id: 404 for an unknown id or another client's.
async fn owned_customer(anchor: &Anchor, client: &Client, id: &str) -> Result<Customer, SepError> {
    anchor
        .store
        .customer(id)
        .await?
        .filter(|c| {
            c.account == client.account && (client.memo.is_empty() || c.memo == client.memo)
        })
        .ok_or_else(|| SepError::not_found(format!("customer not found for id: {id}")))
}

/// `PUT /kyc/customer`: registers or updates a customer and decides it; 202 `{"id"}`.
///
/// # Errors
/// 403 without a token or for another account's customer; 404 for an unknown id; 400 for an
/// unknown type or oversized data.
pub async fn put_customer(
    anchor: web::Data<Anchor>,
    request: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, SepError> {
    let client = client(&anchor, &request)?;
    let fields = request_fields(&request, &body)?;
    if let Some(account) = fields.get("account").filter(|a| !a.is_empty())
        && *account != client.account
    {
        return Err(SepError::forbidden(
            "account is not the one authenticated with SEP-10",
        ));
    }
    let customer = match fields.get("id").filter(|id| !id.is_empty()) {
        Some(id) => owned_customer(&anchor, &client, id).await?,
        None => {
            let kind = kind(fields.get("type").map(String::as_str))?;
            let memo = memo(&client, fields.get("memo").map(String::as_str))?;
            match anchor
                .store
                .customer_of(&client.account, &memo, kind)
                .await?
            {
                Some(customer) => customer,
                None => {
                    anchor
                        .store
                        .create_customer(Customer {
                            customer_id: super::receive::new_id(),
                            account: client.account.clone(),
                            memo,
                            kind: kind.to_owned(),
                            fields: "{}".into(),
                            status: "NEEDS_INFO".into(),
                            message: None,
                            needs: String::new(),
                            ask_after: 0,
                        })
                        .await?
                }
            }
        }
    };
    let given: Vec<(String, String)> = fields
        .into_iter()
        .filter(|(k, _)| !CONTROL.contains(&k.as_str()))
        .collect();
    // Read, merge, decide, write if nobody wrote in between; else again from what they wrote.
    let mut read = customer;
    let mut stored = false;
    for _ in 0..5 {
        // SEP-12: REJECTED is final (the sender may DELETE its customer's data, start again).
        if read.status == "REJECTED" {
            stored = true;
            break;
        }
        let decided = decide(&anchor, merge(&read, &given)?).await?;
        if anchor.store.update_customer(decided.clone(), &read).await? {
            count_decision(&decided);
            release(&anchor, &decided).await?;
            stored = true;
            break;
        }
        read = anchor
            .store
            .customer(&read.customer_id)
            .await?
            .ok_or_else(|| SepError::not_found("the customer was deleted"))?;
    }
    if !stored {
        return Err(SepError::new(
            503,
            "the customer is being updated by other requests: send it again",
        ));
    }
    Ok(HttpResponse::Accepted().json(serde_json::json!({ "id": read.customer_id })))
}

/// `customer` with the fields `given` added (replacing those of the same name, and no longer
/// asked for again).
///
/// # Errors
/// 400 when the customer would carry more than [`MAX_FIELDS`] fields or
/// [`MAX_FIELDS_BYTES`] of them.
fn merge(customer: &Customer, given: &[(String, String)]) -> Result<Customer, SepError> {
    let mut data: BTreeMap<String, String> =
        serde_json::from_str(&customer.fields).unwrap_or_default();
    let mut needs: Vec<String> = split(&customer.needs);
    for (name, value) in given {
        needs.retain(|n| n != name);
        data.insert(name.clone(), value.clone());
    }
    let fields = serde_json::to_string(&data).expect("maps serialise");
    if data.len() > MAX_FIELDS || fields.len() > MAX_FIELDS_BYTES {
        return Err(SepError::bad_request(format!(
            "a customer carries at most {MAX_FIELDS} fields and {MAX_FIELDS_BYTES} bytes of them"
        )));
    }
    Ok(Customer {
        fields,
        needs: needs.join(","),
        ..customer.clone()
    })
}

/// The names of a comma-separated list (`needs`).
pub(super) fn split(list: &str) -> Vec<String> {
    list.split(',')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The fields a customer of `kind` must provide and has not (or must send again).
fn missing(anchor: &Anchor, customer: &Customer) -> Vec<String> {
    let data: BTreeMap<String, String> = serde_json::from_str(&customer.fields).unwrap_or_default();
    let required = if customer.kind == RECEIVER {
        &anchor.settings.receiver_fields
    } else {
        &anchor.settings.sender_fields
    };
    let mut missing: Vec<String> = required
        .iter()
        .filter(|f| !data.contains_key(*f))
        .cloned()
        .collect();
    for need in split(&customer.needs) {
        if !missing.contains(&need) {
            missing.push(need);
        }
    }
    missing
}

/// The customer as the back office decides it (asked once its data is complete); not stored.
async fn decide(anchor: &Anchor, customer: Customer) -> Result<Customer, SepError> {
    let now_seconds = i64::try_from(now()).unwrap_or(i64::MAX);
    let customer = if missing(anchor, &customer).is_empty() {
        let decision = if customer.kind == RECEIVER {
            if anchor.callbacks.has_ask_user() {
                anchor
                    .callbacks
                    .ask_user(&[("type", RECEIVER), ("customer", &customer.fields)])
                    .await
            } else {
                Ok(Decision::Ok)
            }
        } else {
            anchor.callbacks.sanctions(&customer.fields).await
        }
        .map_err(SepError::internal)?;
        let (status, message, ask_after) = match decision {
            Decision::Ok => ("ACCEPTED", None, 0),
            Decision::Pending(seconds) => (
                "PROCESSING",
                None,
                now_seconds.saturating_add(i64::try_from(seconds).unwrap_or(i64::MAX)),
            ),
            Decision::Denied => (
                "REJECTED",
                Some("rejected by the receiving bank".to_owned()),
                0,
            ),
            Decision::Error(why) => (
                "NEEDS_INFO",
                Some(
                    why.unwrap_or_else(|| "the receiving bank needs more information".into())
                        .chars()
                        .take(MAX_MESSAGE_CHARS)
                        .collect(),
                ),
                0,
            ),
        };
        Customer {
            status: status.into(),
            message,
            ask_after,
            ..customer
        }
    } else {
        Customer {
            status: "NEEDS_INFO".into(),
            ask_after: 0,
            ..customer
        }
    };
    Ok(customer)
}

/// `compliance_sep12_customers_decided_total{kind, status}`: one per decision stored.
fn count_decision(customer: &Customer) {
    let kind = if customer.kind == RECEIVER {
        RECEIVER
    } else {
        SENDER
    };
    let status = match customer.status.as_str() {
        "ACCEPTED" => "ACCEPTED",
        "PROCESSING" => "PROCESSING",
        "REJECTED" => "REJECTED",
        _ => "NEEDS_INFO",
    };
    metrics::counter!("compliance_sep12_customers_decided_total", "kind" => kind, "status" => status)
        .increment(1);
}

/// Once a customer is accepted, the transactions that waited on it for updated information go
/// on: to `pending_receiver` when paid, else `pending_sender`; only those whose other customer
/// is accepted too.
pub(super) async fn release(anchor: &Anchor, customer: &Customer) -> Result<(), SepError> {
    if customer.status != "ACCEPTED" {
        return Ok(());
    }
    for waiting in anchor.store.waiting_on(&customer.customer_id).await? {
        let other = if waiting.sender_id == customer.customer_id {
            &waiting.receiver_id
        } else {
            &waiting.sender_id
        };
        let other_accepted = other == &customer.customer_id
            || anchor
                .store
                .customer(other)
                .await?
                .is_some_and(|c| c.status == "ACCEPTED");
        if !other_accepted {
            continue;
        }
        let back = if waiting.stellar_transaction_id.is_some() {
            "pending_receiver"
        } else {
            "pending_sender"
        };
        anchor
            .store
            .move_received(
                &waiting.transaction_id,
                &["pending_customer_info_update"],
                back,
                None,
                None,
            )
            .await?;
    }
    Ok(())
}

/// `GET /kyc/customer`: a customer's status and what it still needs.
///
/// # Errors
/// 403 without a token; 404 for an unknown id or another account's customer.
pub async fn get_customer(
    anchor: web::Data<Anchor>,
    request: HttpRequest,
    query: web::Query<BTreeMap<String, String>>,
) -> Result<HttpResponse, SepError> {
    let client = client(&anchor, &request)?;
    let get = |name: &str| {
        query
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    };
    let kind = kind(get("type"))?;
    let customer = if let Some(id) = get("id") {
        Some(owned_customer(&anchor, &client, id).await?)
    } else if let Some(transaction_id) = get("transaction_id") {
        let transaction = anchor
            .store
            .received(transaction_id)
            .await?
            .filter(|t| t.client == client.sub())
            .ok_or_else(|| SepError::not_found("transaction not found"))?;
        let id = if kind == RECEIVER {
            &transaction.receiver_id
        } else {
            &transaction.sender_id
        };
        Some(owned_customer(&anchor, &client, id).await?)
    } else {
        let memo = memo(&client, get("memo"))?;
        anchor
            .store
            .customer_of(&client.account, &memo, kind)
            .await?
    };
    let Some(customer) = customer else {
        let unknown = Customer {
            customer_id: String::new(),
            account: client.account,
            memo: String::new(),
            kind: kind.to_owned(),
            fields: "{}".into(),
            status: "NEEDS_INFO".into(),
            message: None,
            needs: String::new(),
            ask_after: 0,
        };
        return Ok(HttpResponse::Ok().json(answer(&anchor, &unknown)));
    };
    let customer = decided_when_due(&anchor, customer)
        .await?
        .ok_or_else(|| SepError::not_found("the customer was deleted"))?;
    Ok(HttpResponse::Ok().json(answer(&anchor, &customer)))
}

/// A customer `PROCESSING` whose wait is over, decided again by the back office (and stored,
/// compare-and-set); any other as it is. `None` when it was deleted meanwhile.
///
/// # Errors
/// 500 when the back office or the database fails.
pub(super) async fn decided_when_due(
    anchor: &Anchor,
    customer: Customer,
) -> Result<Option<Customer>, SepError> {
    if customer.status != "PROCESSING"
        || customer.ask_after > i64::try_from(now()).unwrap_or(i64::MAX)
    {
        return Ok(Some(customer));
    }
    let decided = decide(anchor, customer.clone()).await?;
    if anchor
        .store
        .update_customer(decided.clone(), &customer)
        .await?
    {
        count_decision(&decided);
        release(anchor, &decided).await?;
        return Ok(Some(decided));
    }
    // Changed meanwhile (a PUT on another instance): what that request stored.
    Ok(anchor.store.customer(&customer.customer_id).await?)
}

/// A customer as `GET /customer` answers it.
fn answer(anchor: &Anchor, customer: &Customer) -> Value {
    let data: BTreeMap<String, String> = serde_json::from_str(&customer.fields).unwrap_or_default();
    let field =
        |name: &str| serde_json::json!({ "type": "string", "description": name.replace('_', " ") });
    let fields: Map<String, Value> = missing(anchor, customer)
        .iter()
        .map(|name| (name.clone(), field(name)))
        .collect();
    let provided: Map<String, Value> = data
        .keys()
        .map(|name| {
            let mut f = field(name);
            f["status"] = if customer.status == "REJECTED" {
                "REJECTED"
            } else {
                "ACCEPTED"
            }
            .into();
            (name.clone(), f)
        })
        .collect();
    let mut body = serde_json::json!({ "status": customer.status });
    if !customer.customer_id.is_empty() {
        body["id"] = customer.customer_id.clone().into();
    }
    if !fields.is_empty() {
        body["fields"] = Value::Object(fields);
    }
    if !provided.is_empty() {
        body["provided_fields"] = Value::Object(provided);
    }
    if let Some(message) = &customer.message {
        body["message"] = message.clone().into();
    }
    body
}

/// `DELETE /kyc/customer/{account}`: forgets the client's customers (its own account only).
///
/// # Errors
/// 403 for another account; 404 when there was nothing to delete.
pub async fn delete_customer(
    anchor: web::Data<Anchor>,
    request: HttpRequest,
    account: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, SepError> {
    let client = client(&anchor, &request)?;
    if *account != client.account {
        return Err(SepError::forbidden(
            "only the authenticated account's data can be deleted",
        ));
    }
    let fields = if body.is_empty() {
        BTreeMap::new()
    } else {
        request_fields(&request, &body)?
    };
    let memo = memo(&client, fields.get("memo").map(String::as_str))?;
    match anchor
        .store
        .delete_customers(&client.account, &memo)
        .await?
    {
        0 => Err(SepError::not_found("no customer data for this account")),
        _ => Ok(HttpResponse::Ok().json(serde_json::json!({}))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legacy_names_become_sep9_names() {
        let info: BTreeMap<String, Value> = serde_json::from_str(
            r#"{"first_name":"Ann","middle_name":"B","country":"FRA","date_of_birth":"1970-01-01","company_name":"Acme","zip":94110,"tags":["x"],"empty":""}"#,
        )
        .unwrap();
        let fields = sep9_fields(&info);
        assert_eq!(fields["first_name"], "Ann");
        assert_eq!(fields["additional_name"], "B");
        assert_eq!(fields["address_country_code"], "FRA");
        assert_eq!(fields["birth_date"], "1970-01-01");
        assert_eq!(fields["organization.name"], "Acme");
        assert_eq!(fields["zip"], "94110");
        assert!(!fields.contains_key("tags") && !fields.contains_key("empty"));
        let both: BTreeMap<String, Value> = serde_json::from_str(
            r#"{"address_country_code":"DEU","country":"FRA","email":"a@x","email_address":"b@x"}"#,
        )
        .unwrap();
        let fields = sep9_fields(&both);
        assert_eq!(fields["address_country_code"], "DEU");
        assert_eq!(fields["email_address"], "b@x");
    }
}
