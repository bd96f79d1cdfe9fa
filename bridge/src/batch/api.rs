//! The batch endpoints, behind the API key: upload, approve, cancel, and the views of a
//! batch (summary, rows page by page, CSV report).

use actix_web::http::header::{CONTENT_TYPE, HeaderMap};
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;

use super::batches::Batches;
use super::intake::{self, Checked, Checks, Submission};
use super::store::{
    BatchRow, BatchState, BatchStore, Inserted, NewBatch, NewRow, RowState, summary,
};
use crate::error::Error;

/// The query of a CSV upload (a JSON body carries these itself).
#[derive(Debug, Deserialize)]
pub struct UploadQuery {
    id: Option<String>,
    #[serde(default)]
    partial: bool,
    sender: Option<String>,
}

/// `POST /batches`: JSON (`application/json`) or CSV (`text/csv`, the batch's `id`,
/// `partial` and `sender` in the query). 201 with the summary; the same id and content again
/// is 200 with the stored batch; other content under a stored id is 409; bad rows are 400
/// `invalid_batch` with all of them, unless `partial`.
///
/// # Errors
/// As above; 413 for a body over `[batches] max_body_bytes`.
pub async fn upload(
    batches: web::Data<Batches>,
    req: HttpRequest,
    query: web::Query<UploadQuery>,
    body: web::Bytes,
) -> Result<HttpResponse, Error> {
    let submission = read_submission(req.headers(), query.into_inner(), &body)?;
    check_batch_fields(&submission, batches.settings.max_rows)?;
    let digest = submission.digest();
    if let Some(stored) = batches.store.batch(&submission.id).await? {
        return existing(&batches.store, &stored, &digest).await;
    }
    let sending = &batches.worker.sending;
    let checks = Checks {
        federation: sending.federation(),
        resolver: &batches.resolver,
        has_compliance: sending.compliance().is_some(),
        concurrency: batches.settings.resolve_concurrency,
    };
    let checked = intake::check(&submission, checks).await;
    let errors: Vec<_> = checked
        .iter()
        .filter_map(|c| c.plan.as_ref().err())
        .collect();
    // A row without a usable id cannot be stored even in a partial batch: ids are the rows'
    // keys (and what the report is matched on).
    if !errors.is_empty() && (!submission.partial || errors.iter().any(|e| e.field == "id")) {
        return Err(Error::invalid_batch(errors));
    }
    let state = if batches.settings.require_approval {
        BatchState::AwaitingApproval
    } else {
        BatchState::Sending
    };
    let batch = NewBatch {
        batch_id: submission.id.clone(),
        request_digest: digest.clone(),
        state,
        sender: submission.sender.clone(),
    };
    let rows = checked.into_iter().map(new_row).collect();
    match batches.store.insert(batch, rows).await? {
        Inserted::New(stored) => {
            tracing::info!(batch = %stored.batch_id, rows = stored.total_rows, state = stored.state().as_str(), "batch accepted");
            batches.worker.wake.notify_one();
            Ok(HttpResponse::Created().json(summary(&batches.store, &stored).await?))
        }
        Inserted::Existing(stored) => existing(&batches.store, &stored, &digest).await,
    }
}

fn read_submission(
    headers: &HeaderMap,
    query: UploadQuery,
    body: &[u8],
) -> Result<Submission, Error> {
    let content_type = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    if content_type.starts_with("text/csv") {
        let id = query.id.ok_or_else(|| Error::missing("id"))?;
        Submission::from_csv(id, query.partial, query.sender, body)
            .map_err(|e| Error::invalid("payments", e))
    } else if content_type.starts_with("application/json") {
        serde_json::from_slice(body).map_err(|e| Error::invalid("payments", e.to_string()))
    } else {
        Err(Error::invalid(
            "content-type",
            "send application/json or text/csv",
        ))
    }
}

fn check_batch_fields(submission: &Submission, max_rows: usize) -> Result<(), Error> {
    let id = submission.id.trim();
    if id.is_empty() || id.chars().count() > 255 || id.contains('\0') {
        return Err(Error::invalid("id", "1 to 255 characters, no NUL"));
    }
    if submission.payments.is_empty() {
        return Err(Error::invalid("payments", "the batch has no payments"));
    }
    if submission.payments.len() > max_rows {
        return Err(Error::invalid(
            "payments",
            format!(
                "{} payments; at most {max_rows} ([batches] max_rows)",
                submission.payments.len()
            ),
        ));
    }
    if let Some(sender) = &submission.sender
        && (sender.chars().count() > 255 || sender.contains('\0'))
    {
        return Err(Error::invalid("sender", "at most 255 characters, no NUL"));
    }
    Ok(())
}

async fn existing(
    store: &BatchStore,
    stored: &BatchRow,
    digest: &str,
) -> Result<HttpResponse, Error> {
    if stored.request_digest != digest {
        return Err(Error::batch_conflict());
    }
    Ok(HttpResponse::Ok().json(summary(store, stored).await?))
}

fn new_row(checked: Checked) -> NewRow {
    let input = checked.input;
    let text = |s: &str| Some(s.trim().to_owned()).filter(|s| !s.is_empty());
    let mut row = NewRow {
        batch: 0,
        row_no: i32::try_from(checked.row).unwrap_or(i32::MAX),
        row_id: input.id.trim().to_owned(),
        destination: input.destination.trim().to_owned(),
        account: None,
        amount: input.amount.trim().to_owned(),
        asset_code: text(&input.asset_code),
        asset_issuer: text(&input.asset_issuer),
        memo_type: None,
        memo: None,
        extra_memo: text(&input.extra_memo),
        route: intake::Route::Direct.as_str().to_owned(),
        state: RowState::Ready.as_str().to_owned(),
        code: None,
        detail: None,
    };
    match checked.plan {
        Ok(plan) => {
            row.account = Some(plan.account.to_string());
            row.amount = plan.amount.to_string();
            row.asset_code = plan.asset.code().map(str::to_owned);
            row.asset_issuer = plan.asset.issuer().map(|k| k.to_string());
            row.memo_type = plan.memo.value().map(|_| plan.memo.type_name().to_owned());
            row.memo = plan.memo.value();
            row.route = plan.route.as_str().to_owned();
        }
        Err(error) => {
            // A partial batch keeps its bad rows, failed, so the report lists every row.
            row.state = RowState::Failed.as_str().to_owned();
            row.code = Some("invalid".to_owned());
            row.detail = Some(format!("{}: {}", error.field, error.message));
            row.row_id = row.row_id.chars().take(255).collect();
            row.destination = row.destination.chars().take(255).collect();
            row.amount = row.amount.chars().take(32).collect();
            row.asset_code = row.asset_code.map(|c| c.chars().take(12).collect());
            row.asset_issuer = row.asset_issuer.map(|c| c.chars().take(56).collect());
            row.extra_memo = None;
        }
    }
    row
}

async fn stored(batches: &Batches, id: &str) -> Result<BatchRow, Error> {
    batches.stored(id).await
}

/// `GET /batches/{id}`: the counts per state and progress.
///
/// # Errors
/// 404 for an unknown id.
pub async fn show(
    batches: web::Data<Batches>,
    id: web::Path<String>,
) -> Result<HttpResponse, Error> {
    let batch = stored(&batches, &id).await?;
    Ok(HttpResponse::Ok().json(summary(&batches.store, &batch).await?))
}

/// The query of `GET /batches/{id}/payments`.
#[derive(Debug, Deserialize)]
pub struct RowsQuery {
    state: Option<String>,
    #[serde(default)]
    after: i32,
    limit: Option<i64>,
}

/// `GET /batches/{id}/payments?state=…&after=…&limit=…`: rows in order, a page at a time
/// (`next` is the `after` of the next page).
///
/// # Errors
/// 404 for an unknown id; 400 for an unknown state.
pub async fn rows(
    batches: web::Data<Batches>,
    id: web::Path<String>,
    query: web::Query<RowsQuery>,
) -> Result<HttpResponse, Error> {
    let batch = stored(&batches, &id).await?;
    let state = match query.state.as_deref().filter(|s| !s.is_empty()) {
        None => None,
        Some(name) => Some(RowState::parse(name).ok_or_else(|| {
            Error::invalid(
                "state",
                "ready, submitting, succeeded, failed, denied or cancelled",
            )
        })?),
    };
    let limit = query.limit.unwrap_or(100).clamp(1, 1000);
    let rows = batches
        .store
        .rows(batch.id, state, query.after, limit)
        .await?;
    let next = (rows.len() as i64 == limit)
        .then(|| rows.last().map(|r| r.row_no))
        .flatten();
    Ok(HttpResponse::Ok().json(serde_json::json!({ "payments": rows, "next": next })))
}

/// `GET /batches/{id}/report.csv`: every row with its outcome.
///
/// # Errors
/// 404 for an unknown id.
pub async fn report(
    batches: web::Data<Batches>,
    id: web::Path<String>,
) -> Result<HttpResponse, Error> {
    let batch = stored(&batches, &id).await?;
    let mut out = csv::Writer::from_writer(Vec::new());
    let header = [
        "row",
        "id",
        "destination",
        "amount",
        "asset_code",
        "asset_issuer",
        "memo_type",
        "memo",
        "state",
        "hash",
        "ledger",
        "code",
        "detail",
    ];
    out.write_record(header).map_err(Error::internal)?;
    let mut after = 0;
    loop {
        let page = batches.store.rows(batch.id, None, after, 1000).await?;
        let Some(last) = page.last() else { break };
        after = last.row_no;
        for r in &page {
            let opt = |v: &Option<String>| v.clone().unwrap_or_default();
            out.write_record([
                r.row_no.to_string(),
                r.row_id.clone(),
                r.destination.clone(),
                r.amount.clone(),
                opt(&r.asset_code),
                opt(&r.asset_issuer),
                opt(&r.memo_type),
                opt(&r.memo),
                r.state.clone(),
                opt(&r.hash),
                r.ledger.map(|l| l.to_string()).unwrap_or_default(),
                opt(&r.code),
                opt(&r.detail),
            ])
            .map_err(Error::internal)?;
        }
    }
    let body = out.into_inner().map_err(Error::internal)?;
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .body(body))
}

/// `POST /batches/{id}/approve`, with the approver key in `X-Approver-Key` (besides the API
/// key every endpoint takes): the uploader, who holds only the API key, cannot approve.
///
/// # Errors
/// 403 without the approver key; 409 when the batch does not wait for approval.
pub async fn approve(
    batches: web::Data<Batches>,
    req: HttpRequest,
    id: web::Path<String>,
) -> Result<HttpResponse, Error> {
    let given = req
        .headers()
        .get("x-approver-key")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let Some(key) = &batches.settings.approver_key else {
        return Err(Error::not_configured(
            "/batches/{id}/approve",
            &["batches.approver_key"],
        ));
    };
    if !key.matches(given) {
        return Err(Error::approver_required());
    }
    let batch = batches.approve(&id).await?;
    Ok(HttpResponse::Ok().json(summary(&batches.store, &batch).await?))
}

/// `POST /batches/{id}/cancel`: the rows not yet submitted are cancelled; those in flight
/// finish.
///
/// # Errors
/// 409 when the batch already ended.
pub async fn cancel(
    batches: web::Data<Batches>,
    id: web::Path<String>,
) -> Result<HttpResponse, Error> {
    let batch = batches.cancel(&id).await?;
    Ok(HttpResponse::Ok().json(summary(&batches.store, &batch).await?))
}
