//! The Horizon-compatible routes: resources, paged collections, submission, friendbot and
//! the fault-injection admin route.
//!
//! Every collection is served by [`fetch`], which both the paged JSON answers and the
//! event streams ([`crate::stream`]) use, so a streamed record is the same JSON as a paged one.

use std::sync::Arc;
use std::time::Duration;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::middleware::{Next, from_fn};
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::{Value, json};
use stellar_base::{Envelope, PublicKey};

use crate::collection::{Collection, fetch, parse_params};
use crate::faults::Fault;
use crate::history::Order;
use crate::json;
use crate::ledger::Outcome;
use crate::node::Shared;
use crate::queue::Admission;

type Data = web::Data<Shared>;

/// Registers the routes.
pub(crate) fn configure(cfg: &mut web::ServiceConfig, faults_enabled: bool) {
    // Room for the largest envelope (100 KiB of XDR) in base64 and form encoding.
    cfg.app_data(
        web::FormConfig::default()
            .limit(512 * 1024)
            .error_handler(|err, _| {
                let body = json::bad_request("tx", &err.to_string());
                actix_web::error::InternalError::from_response(err, problem_response(400, body))
                    .into()
            }),
    );
    let mut scope = web::scope("")
        .wrap(from_fn(fault_gate))
        .wrap(
            actix_web::middleware::DefaultHeaders::new()
                .add(("Access-Control-Allow-Origin", "*"))
                .add(("Access-Control-Expose-Headers", "Date")),
        )
        .route("/", web::get().to(root))
        .route("/fee_stats", web::get().to(fee_stats))
        .route("/friendbot", web::get().to(friendbot))
        .route("/friendbot", web::post().to(friendbot))
        .route("/accounts/{id}", web::get().to(account))
        .route("/accounts/{id}/payments", web::get().to(account_payments))
        .route("/accounts/{id}/data/{key}", web::get().to(account_data))
        .route("/accounts/{id}/offers", web::get().to(account_offers))
        .route("/offers", web::get().to(offers))
        .route("/offers/{id}", web::get().to(offer))
        .route(
            "/accounts/{id}/operations",
            web::get().to(account_operations),
        )
        .route(
            "/accounts/{id}/transactions",
            web::get().to(account_transactions),
        )
        .route("/transactions", web::post().to(submit))
        .route("/transactions_async", web::post().to(submit_async))
        .route("/transactions", web::get().to(transactions))
        .route("/transactions/{hash}", web::get().to(transaction))
        .route(
            "/transactions/{hash}/operations",
            web::get().to(transaction_operations),
        )
        .route("/operations", web::get().to(operations))
        .route("/operations/{id}", web::get().to(operation))
        .route("/payments", web::get().to(payments))
        .route("/ledgers", web::get().to(ledgers))
        .route("/ledgers/{seq}", web::get().to(ledger));
    if faults_enabled {
        scope = scope.route("/_sandbox/faults", web::post().to(inject_fault));
    }
    cfg.service(scope.default_service(web::to(fallback)));
}

/// Answers with the configured 429/503 while a request-failure fault is active.
async fn fault_gate(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let failure = if req.path().starts_with("/_sandbox") {
        None
    } else {
        req.app_data::<Data>()
            .and_then(|shared| shared.faults.take_request_failure())
    };
    if let Some(status) = failure {
        let body = match status {
            429 => json::problem(
                429,
                "rate_limit_exceeded",
                "Rate Limit Exceeded",
                "The rate limit for the requesting IP address is over its alloted limit.",
                None,
            ),
            _ => json::problem(
                status,
                "service_unavailable",
                "Service Unavailable",
                "The server is currently unavailable. Please try again later.",
                None,
            ),
        };
        let mut response = problem_response(status, body);
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, header::HeaderValue::from_static("1"));
        return Ok(req.into_response(response).map_into_right_body());
    }
    next.call(req)
        .await
        .map(ServiceResponse::map_into_left_body)
}

/// A problem document with Horizon's content type.
pub(crate) fn problem_response(status: u16, body: Value) -> HttpResponse {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    HttpResponse::build(status)
        .content_type("application/problem+json; charset=utf-8")
        .body(body.to_string())
}

fn hal(body: Value) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/hal+json; charset=utf-8")
        .body(body.to_string())
}

fn not_found_response() -> HttpResponse {
    problem_response(404, json::not_found())
}

/// Unknown routes: CORS preflights succeed (browsers call Horizon directly), the rest is 404.
async fn fallback(req: HttpRequest) -> HttpResponse {
    if req.method() == actix_web::http::Method::OPTIONS {
        return HttpResponse::NoContent()
            .insert_header(("Access-Control-Allow-Methods", "GET, POST, OPTIONS"))
            .insert_header(("Access-Control-Allow-Headers", "*"))
            .finish();
    }
    not_found_response()
}

/// The scheme and host the client used, for `_links`.
pub(crate) fn base_url(req: &HttpRequest) -> String {
    let info = req.connection_info();
    format!("{}://{}", info.scheme(), info.host())
}

async fn root(shared: Data, req: HttpRequest) -> HttpResponse {
    hal(json::root(&base_url(&req), &shared.ledger()))
}

async fn fee_stats(shared: Data) -> HttpResponse {
    hal(json::fee_stats(&shared.ledger()))
}

/// A `G…` account id, or the 400 problem naming `field`.
fn parse_account(id: &str, field: &str) -> Result<PublicKey, Value> {
    id.parse::<PublicKey>().map_err(|_| {
        json::bad_request(
            field,
            "Account ID must start with `G` and contain 56 alphanum characters",
        )
    })
}

async fn account(shared: Data, req: HttpRequest, path: web::Path<String>) -> HttpResponse {
    let id = match parse_account(&path, "account_id") {
        Ok(id) => id,
        Err(problem) => return problem_response(400, problem),
    };
    match shared.ledger().account(&id) {
        Some(account) => hal(json::account(&base_url(&req), account)),
        None => not_found_response(),
    }
}

async fn account_data(shared: Data, path: web::Path<(String, String)>) -> HttpResponse {
    let (id, key) = path.into_inner();
    let id = match parse_account(&id, "account_id") {
        Ok(id) => id,
        Err(problem) => return problem_response(400, problem),
    };
    let ledger = shared.ledger();
    match ledger.account(&id).and_then(|a| a.data.get(&key)) {
        Some(value) => hal(json!({"value": json::base64(value), "sponsor": null})),
        None => not_found_response(),
    }
}

/// The query of `GET /offers`: Horizon's filters and paging (the cursor is an offer id).
#[derive(Debug, Default, Deserialize)]
struct OffersQuery {
    seller: Option<String>,
    cursor: Option<String>,
    order: Option<String>,
    limit: Option<String>,
}

async fn offer(shared: Data, req: HttpRequest, path: web::Path<String>) -> HttpResponse {
    let Ok(id) = path.parse::<i64>() else {
        return problem_response(400, json::bad_request("offer_id", "invalid offer id"));
    };
    let ledger = shared.ledger();
    match ledger.offer(id) {
        Some(offer) => hal(json::offer(&base_url(&req), offer, &ledger)),
        None => not_found_response(),
    }
}

async fn offers(shared: Data, req: HttpRequest, query: web::Query<OffersQuery>) -> HttpResponse {
    let query = query.into_inner();
    let seller = match query.seller.as_deref().filter(|s| !s.is_empty()) {
        Some(seller) => match parse_account(seller, "seller") {
            Ok(id) => Some(id),
            Err(problem) => return problem_response(400, problem),
        },
        None => None,
    };
    offer_page(&shared, &req, seller, &query)
}

async fn account_offers(
    shared: Data,
    req: HttpRequest,
    path: web::Path<String>,
    query: web::Query<OffersQuery>,
) -> HttpResponse {
    let seller = match parse_account(&path, "account_id") {
        Ok(id) => id,
        Err(problem) => return problem_response(400, problem),
    };
    offer_page(&shared, &req, Some(seller), &query.into_inner())
}

/// One page of offers, by id, as Horizon pages them.
fn offer_page(
    shared: &Shared,
    req: &HttpRequest,
    seller: Option<PublicKey>,
    query: &OffersQuery,
) -> HttpResponse {
    let descending = match query.order.as_deref() {
        None | Some("" | "asc") => false,
        Some("desc") => true,
        Some(_) => {
            return problem_response(
                400,
                json::bad_request("order", "order: invalid value, use asc or desc"),
            );
        }
    };
    let limit = match query.limit.as_deref().filter(|l| !l.is_empty()) {
        None => 10,
        Some(l) => match l.parse::<usize>() {
            Ok(l) if (1..=200).contains(&l) => l,
            _ => {
                return problem_response(
                    400,
                    json::bad_request("limit", "limit must be between 1 and 200"),
                );
            }
        },
    };
    let cursor = match query.cursor.as_deref().filter(|c| !c.is_empty()) {
        None => None,
        Some(c) => match c.parse::<i64>() {
            Ok(c) => Some(c),
            Err(_) => {
                return problem_response(400, json::bad_request("cursor", "invalid cursor"));
            }
        },
    };
    let base = base_url(req);
    let ledger = shared.ledger();
    let mut selected: Vec<_> = ledger
        .offers()
        .filter(|o| seller.is_none_or(|s| o.seller == s))
        .filter(|o| match cursor {
            Some(c) if descending => o.id < c,
            Some(c) => o.id > c,
            None => true,
        })
        .collect();
    if descending {
        selected.reverse();
    }
    selected.truncate(limit);
    let records: Vec<Value> = selected
        .iter()
        .map(|o| json::offer(&base, o, &ledger))
        .collect();
    let path = req.path();
    let mut params = Vec::new();
    if let Some(seller) = seller
        && path == "/offers"
    {
        params.push(format!("seller={seller}"));
    }
    let order = if descending { "desc" } else { "asc" };
    let link = |cursor: String, order: &str| {
        let mut all = params.clone();
        all.push(format!("cursor={cursor}"));
        all.push(format!("limit={limit}"));
        all.push(format!("order={order}"));
        json!({"href": format!("{base}{path}?{}", all.join("&"))})
    };
    let first = selected.first().map_or(String::new(), |o| o.id.to_string());
    let last = selected.last().map_or(String::new(), |o| o.id.to_string());
    let reverse = if descending { "asc" } else { "desc" };
    hal(json!({
        "_links": {
            "self": link(cursor.map_or(String::new(), |c| c.to_string()), order),
            "next": link(last, order),
            "prev": link(first, reverse),
        },
        "_embedded": {"records": records},
    }))
}

#[derive(Debug, Deserialize)]
struct FriendbotQuery {
    addr: Option<String>,
}

async fn friendbot(
    shared: Data,
    req: HttpRequest,
    query: web::Query<FriendbotQuery>,
) -> HttpResponse {
    let Some(addr) = query.addr.as_deref() else {
        return problem_response(400, json::bad_request("addr", "addr is required"));
    };
    let id = match parse_account(addr, "addr") {
        Ok(id) => id,
        Err(problem) => return problem_response(400, problem),
    };
    let outcome = shared.fund(id).await;
    answer_outcome(&shared, &req, outcome)
}

#[derive(Debug, Deserialize)]
struct TxForm {
    tx: String,
}

/// The envelope of a submission form, or Horizon's 400 `transaction_malformed`.
fn decode_envelope(tx: &str) -> Result<Envelope, Box<HttpResponse>> {
    Envelope::from_base64(tx).map_err(|error| {
        Box::new(problem_response(
            400,
            json::problem(
                400,
                "transaction_malformed",
                "Transaction Malformed",
                &format!(
                    "Horizon could not decode the transaction envelope in this request. A \
                     transaction should be an XDR TransactionEnvelope struct encoded using \
                     base64.  The envelope read from this request is echoed in the \
                     `extras.envelope_xdr` field of this response for your convenience. ({error})"
                ),
                Some(json!({"envelope_xdr": tx})),
            ),
        ))
    })
}

/// Horizon's 504 for a synchronous submission whose transaction was not seen in a ledger in
/// time (stellar/go `services/horizon/internal/txsub`: `ErrTimeout`).
fn submission_timeout() -> HttpResponse {
    problem_response(
        504,
        json::problem(
            504,
            "timeout",
            "Timeout",
            "Your request timed out before completing.  Please try your request again. If you \
             are submitting a transaction make sure you are sending exactly the same \
             transaction (with the same sequence number).",
            None,
        ),
    )
}

/// `POST /transactions`: Horizon's synchronous submission. The transaction goes through
/// stellar-core's queue; the answer waits for the ledger that includes it, at most
/// `submission_timeout` (then 504, as Horizon: also when the queue answered `TRY_AGAIN_LATER`
/// or dropped the transaction, since Horizon only ever sees it not arrive).
async fn submit(shared: Data, req: HttpRequest, form: web::Form<TxForm>) -> HttpResponse {
    let envelope = match decode_envelope(&form.tx) {
        Ok(envelope) => envelope,
        Err(malformed) => return *malformed,
    };
    let deadline = tokio::time::Instant::now() + shared.config.submission_timeout;
    let hash = envelope.hash(&shared.ledger().network().clone());
    // A transaction already in the ledger is answered from history, as Horizon does.
    let known = shared.ledger().history().by_hash.get(&hash).copied();
    if let Some(index) = known {
        return answer_outcome(&shared, &req, Some(Outcome::Included(index)));
    }
    let delay = shared.faults.submission_delay();
    if delay > Duration::ZERO {
        tokio::time::sleep(delay).await;
    }
    let envelope = Box::new(envelope.into_xdr());
    let (_, admission, waiter) = shared.offer(envelope.clone());
    let outcome = match (admission, waiter) {
        // Invalid at admission: Horizon answers with core's result at once.
        (Admission::Error(result), _) => {
            return problem_response(400, json::transaction_failed(&envelope, &result));
        }
        (Admission::Pending | Admission::Duplicate, Some(waiter)) => {
            match tokio::time::timeout_at(deadline, waiter).await {
                Ok(Ok(Some(outcome))) => Some(outcome),
                // Dropped from the queue: Horizon never sees it, and times out.
                Ok(Ok(None)) => {
                    tokio::time::sleep_until(deadline).await;
                    return submission_timeout();
                }
                Ok(Err(_)) => None,
                Err(_) => return submission_timeout(),
            }
        }
        // Included between the history check and the offer.
        (Admission::Pending | Admission::Duplicate, None) => shared
            .ledger()
            .history()
            .by_hash
            .get(&hash)
            .map(|index| Outcome::Included(*index)),
        (Admission::TryAgainLater, _) => {
            tokio::time::sleep_until(deadline).await;
            return submission_timeout();
        }
    };
    if shared.faults.take_submission_timeout() {
        return submission_timeout();
    }
    answer_outcome(&shared, &req, outcome)
}

/// `POST /transactions_async`: stellar-core's answer at once, in Horizon's JSON (201
/// `PENDING`, 409 `DUPLICATE`, 503 `TRY_AGAIN_LATER`, 400 `ERROR` with the result XDR), as
/// Horizon's `AsyncSubmitTransactionHandler` relays it.
async fn submit_async(shared: Data, form: web::Form<TxForm>) -> HttpResponse {
    let envelope = match decode_envelope(&form.tx) {
        Ok(envelope) => envelope,
        Err(malformed) => return *malformed,
    };
    let delay = shared.faults.submission_delay();
    if delay > Duration::ZERO {
        tokio::time::sleep(delay).await;
    }
    let (hash, admission, _) = shared.offer(Box::new(envelope.into_xdr()));
    // The timeout fault here: the transaction is queued, the client only sees a 504 (a
    // gateway in front of Horizon giving up), so its outcome is unknown to it.
    if admission == Admission::Pending && shared.faults.take_submission_timeout() {
        return submission_timeout();
    }
    let (status, body) = json::async_submission(&hash, &admission);
    HttpResponse::build(StatusCode::from_u16(status).unwrap_or(StatusCode::OK))
        .content_type("application/json; charset=utf-8")
        .body(body.to_string())
}

/// 200 with the transaction for a success, 400 `transaction_failed` otherwise.
fn answer_outcome(shared: &Shared, req: &HttpRequest, outcome: Option<Outcome>) -> HttpResponse {
    let ledger = shared.ledger();
    match outcome {
        None => problem_response(
            503,
            json::problem(
                503,
                "service_unavailable",
                "Service Unavailable",
                "The sandbox is shutting down.",
                None,
            ),
        ),
        Some(Outcome::Included(index)) => {
            let tx = &ledger.history().transactions[index];
            if tx.successful {
                hal(json::transaction(&base_url(req), ledger.network(), tx))
            } else {
                problem_response(400, json::transaction_failed(&tx.envelope(), &tx.result()))
            }
        }
        Some(Outcome::Rejected { envelope, result }) => {
            problem_response(400, json::transaction_failed(&envelope, &result))
        }
    }
}

fn parse_hash(hex: &str) -> Option<[u8; 32]> {
    if hex.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

async fn transaction(shared: Data, req: HttpRequest, path: web::Path<String>) -> HttpResponse {
    let ledger = shared.ledger();
    let Some(hash) = parse_hash(&path) else {
        return not_found_response();
    };
    match ledger.history().transaction(&hash) {
        Some(tx) => hal(json::transaction_as_requested(
            &base_url(&req),
            ledger.network(),
            tx,
            &hash,
        )),
        None => not_found_response(),
    }
}

async fn operation(shared: Data, req: HttpRequest, path: web::Path<String>) -> HttpResponse {
    let ledger = shared.ledger();
    let history = ledger.history();
    let found = path
        .parse::<i64>()
        .ok()
        .and_then(|id| history.operation(id));
    match found {
        Some(op) => hal(json::operation(
            &base_url(&req),
            ledger.network(),
            op,
            history.transaction_of(op),
            false,
        )),
        None => not_found_response(),
    }
}

async fn ledger(shared: Data, req: HttpRequest, path: web::Path<String>) -> HttpResponse {
    let ledger = shared.ledger();
    match path
        .parse::<u32>()
        .ok()
        .and_then(|s| ledger.history().ledger(s))
    {
        Some(record) => hal(json::ledger(&base_url(&req), record)),
        None => not_found_response(),
    }
}

fn wants_stream(req: &HttpRequest) -> bool {
    req.headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/event-stream"))
}

/// A paged collection as JSON, or as an event stream when the client asks for one.
fn collection(shared: &Data, req: &HttpRequest, collection: Collection) -> HttpResponse {
    let latest = shared.ledger().latest().sequence;
    let mut params = match parse_params(req.query_string(), latest) {
        Ok(params) => params,
        Err(problem) => return problem_response(400, problem),
    };
    // An EventSource reconnecting sends the last id it saw; like Horizon, it wins over the
    // `cursor` of the URL.
    if let Some(last) = req
        .headers()
        .get("Last-Event-ID")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<i64>().ok())
        .filter(|v| *v >= 0)
    {
        params.cursor = Some(last);
    }
    let base = base_url(req);
    if wants_stream(req) {
        if let Collection::TransactionOperations(hash) = &collection
            && !shared.ledger().history().by_hash.contains_key(hash)
        {
            return not_found_response();
        }
        let shared: Arc<Shared> = shared.clone().into_inner();
        return crate::stream::respond(shared, base, collection, params);
    }
    let Some(records) = fetch(&shared.ledger(), &base, &collection, &params) else {
        return not_found_response();
    };
    let path = req.path();
    let order = |o: Order| if o == Order::Asc { "asc" } else { "desc" };
    let href = |cursor: Option<i64>, o: Order| {
        let cursor = cursor.map_or(String::new(), |c| c.to_string());
        format!(
            "{base}{path}?cursor={cursor}&limit={}&order={}",
            params.limit,
            order(o)
        )
    };
    let reverse = if params.order == Order::Asc {
        Order::Desc
    } else {
        Order::Asc
    };
    let first = records.first().map(|r| r.0).or(params.cursor);
    let last = records.last().map(|r| r.0).or(params.cursor);
    let body = json!({
        "_links": {
            "self": {"href": href(params.cursor, params.order)},
            "next": {"href": href(last, params.order)},
            "prev": {"href": href(first, reverse)},
        },
        "_embedded": {"records": records.into_iter().map(|r| r.1).collect::<Vec<_>>()},
    });
    hal(body)
}

async fn payments(shared: Data, req: HttpRequest) -> HttpResponse {
    collection(&shared, &req, Collection::Payments(None))
}

async fn account_payments(shared: Data, req: HttpRequest, path: web::Path<String>) -> HttpResponse {
    match parse_account(&path, "account_id") {
        Ok(id) => collection(&shared, &req, Collection::Payments(Some(id))),
        Err(problem) => problem_response(400, problem),
    }
}

async fn account_operations(
    shared: Data,
    req: HttpRequest,
    path: web::Path<String>,
) -> HttpResponse {
    match parse_account(&path, "account_id") {
        Ok(id) => collection(&shared, &req, Collection::AccountOperations(id)),
        Err(problem) => problem_response(400, problem),
    }
}

async fn account_transactions(
    shared: Data,
    req: HttpRequest,
    path: web::Path<String>,
) -> HttpResponse {
    match parse_account(&path, "account_id") {
        Ok(id) => collection(&shared, &req, Collection::AccountTransactions(id)),
        Err(problem) => problem_response(400, problem),
    }
}

async fn operations(shared: Data, req: HttpRequest) -> HttpResponse {
    collection(&shared, &req, Collection::Operations)
}

async fn transaction_operations(
    shared: Data,
    req: HttpRequest,
    path: web::Path<String>,
) -> HttpResponse {
    match parse_hash(&path) {
        Some(hash) => collection(&shared, &req, Collection::TransactionOperations(hash)),
        None => not_found_response(),
    }
}

async fn transactions(shared: Data, req: HttpRequest) -> HttpResponse {
    collection(&shared, &req, Collection::Transactions)
}

async fn ledgers(shared: Data, req: HttpRequest) -> HttpResponse {
    collection(&shared, &req, Collection::Ledgers)
}

async fn inject_fault(shared: Data, body: web::Json<Fault>) -> HttpResponse {
    shared.faults.apply(&body);
    HttpResponse::Ok().json(json!({"applied": format!("{:?}", body.into_inner())}))
}
