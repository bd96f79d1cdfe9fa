//! Batches: the list, one batch with a progress bar per state and its failed rows, and
//! Approve and Cancel for approvers.

use actix_web::http::header;
use actix_web::{HttpResponse, web};
use maud::html;
use serde::Deserialize;
use service::console::{Action, Console, ConsoleError, Role, Session, page};

use super::{Pager, Pages, button, layout, notice, one_of, short, state, state_select};
use crate::batch::store::{BatchState, RowState};

const STATES: [&str; 5] = [
    "awaiting_approval",
    "sending",
    "cancelling",
    "finished",
    "cancelled",
];

/// `GET /batches` query.
#[derive(Debug, Default, Deserialize)]
pub struct Filter {
    state: Option<String>,
    page: Option<u32>,
}

pub async fn list(
    console: web::Data<Console>,
    pages: web::Data<Pages>,
    session: Session,
    query: web::Query<Filter>,
) -> Result<HttpResponse, ConsoleError> {
    let chosen = one_of(&query.state, "state", &STATES)?;
    let filter = chosen.as_deref().map(BatchState::parse);
    let pager = Pager::new(query.page, 50);
    let store = pages.batches.store();
    let mut rows = store.list(filter, pager.offset(), pager.fetch()).await?;
    let more = pager.trim(&mut rows);
    let chosen = chosen.unwrap_or_default();
    let body = html! {
        h1 { "Batches" }
        form.filters method="get" action="/batches" role="search" {
            (state_select("state", &STATES, Some(chosen.as_str())))
            button type="submit" { "Filter" }
        }
        table {
            caption { "Newest first" }
            thead { tr {
                th scope="col" { "Batch" } th scope="col" { "State" } th scope="col" class="num" { "Payments" }
                th scope="col" { "Created (UTC)" } th scope="col" { "Approved (UTC)" }
            } }
            tbody {
                @for b in &rows {
                    tr {
                        td { a href=(format!("/batches/{}", b.id)) { (b.batch_id) } }
                        td { (state(b.state().as_str())) }
                        td.num { (b.total_rows) }
                        td { (page::time_ms(b.created_at)) }
                        td { (b.approved_at.map(page::time_ms).unwrap_or_default()) }
                    }
                }
            }
        }
        @if rows.is_empty() { p { "No batch matches." } }
        (pager.links("/batches", &[("state", &chosen)], more))
    };
    Ok(layout(&console, &session, "Batches", body))
}

#[derive(Debug, Deserialize)]
pub struct Shown {
    done: Option<String>,
}

pub async fn show(
    console: web::Data<Console>,
    pages: web::Data<Pages>,
    session: Session,
    id: web::Path<i64>,
    query: web::Query<Shown>,
) -> Result<HttpResponse, ConsoleError> {
    let store = pages.batches.store();
    let batch = store.by_row(*id).await?.ok_or(ConsoleError::NotFound)?;
    let counts = store.counts(batch.id).await?;
    let count = |s: RowState| {
        counts
            .iter()
            .find(|(name, _)| name == s.as_str())
            .map_or(0, |(_, n)| *n)
    };
    let failed = store.rows(batch.id, Some(RowState::Failed), 0, 200).await?;
    let denied = store.rows(batch.id, Some(RowState::Denied), 0, 200).await?;
    let total = i64::from(batch.total_rows).max(1);
    let current = batch.state();
    let body = html! {
        h1 { "Batch " (batch.batch_id) }
        (page::notice(notice(query.done.as_deref())))
        dl.facts {
            dt { "State" } dd { (state(current.as_str())) }
            dt { "Payments" } dd { (batch.total_rows) }
            dt { "Created" } dd { (page::time_ms(batch.created_at)) " UTC" }
            dt { "Approved" } dd { (batch.approved_at.map(|t| page::time_ms(t) + " UTC").unwrap_or_else(|| "not yet".into())) }
            dt { "Finished" } dd { (batch.finished_at.map(|t| page::time_ms(t) + " UTC").unwrap_or_else(|| "not yet".into())) }
        }
        @if session.may(Role::Approver) {
            p {
                @if current == BatchState::AwaitingApproval {
                    (button(&session, &format!("/batches/{}/approve", batch.id), "Approve", &[])) " "
                }
                @if matches!(current, BatchState::AwaitingApproval | BatchState::Sending) {
                    (button(&session, &format!("/batches/{}/cancel", batch.id), "Cancel the payments not yet sent", &[]))
                }
            }
        } @else if matches!(current, BatchState::AwaitingApproval | BatchState::Sending) {
            p { "Approving or cancelling needs the approver role." }
        }
        h2 { "Progress" }
        table {
            thead { tr { th scope="col" { "State" } th scope="col" class="num" { "Payments" } th scope="col" { "Share" } } }
            tbody {
                @for s in RowState::ALL {
                    @let n = count(s);
                    tr {
                        td { (state(s.as_str())) }
                        td.num { (n) }
                        td { progress value=(n) max=(total) aria-label=(format!("{}: {n} of {}", s.as_str(), batch.total_rows)) { (n) " of " (batch.total_rows) } }
                    }
                }
            }
        }
        @for (title, rows) in [("Failed payments", &failed), ("Denied payments", &denied)] {
            @if !rows.is_empty() {
                h2 { (title) }
                table {
                    thead { tr {
                        th scope="col" class="num" { "Row" } th scope="col" { "Id" } th scope="col" { "Destination" }
                        th scope="col" class="num" { "Amount" } th scope="col" { "Code" } th scope="col" { "Detail" }
                    } }
                    tbody {
                        @for r in rows.iter() {
                            tr {
                                td.num { (r.row_no) } td { (r.row_id) } td.mono { (short(&r.destination)) }
                                td.num { (r.amount) } td.mono { (r.code.clone().unwrap_or_default()) }
                                td { (r.detail.clone().unwrap_or_default()) }
                            }
                        }
                    }
                }
            }
        }
    };
    Ok(layout(&console, &session, "Batch", body))
}

type Form = Action<std::collections::HashMap<String, String>>;

/// Approve or cancel: the approver role, the audit row, back to the batch page.
async fn decide(
    console: &Console,
    pages: &Pages,
    id: i64,
    action: &Form,
    verb: &str,
) -> Result<HttpResponse, ConsoleError> {
    if !action.session.may(Role::Approver) {
        return Err(ConsoleError::Forbidden(Role::Approver));
    }
    let batch = pages
        .batches
        .store()
        .by_row(id)
        .await?
        .ok_or(ConsoleError::NotFound)?;
    let result = match verb {
        "approve" => pages.batches.approve(&batch.batch_id).await,
        _ => pages.batches.cancel(&batch.batch_id).await,
    };
    let outcome = match &result {
        Ok(_) => "ok".to_owned(),
        Err(e) => e.message().to_owned(),
    };
    console
        .audit(
            &action.session,
            &format!("{verb}_batch"),
            &batch.batch_id,
            &outcome,
        )
        .await;
    result.map_err(|e| ConsoleError::BadRequest(e.message().to_owned()))?;
    let done = if verb == "approve" {
        "approved"
    } else {
        "cancelled"
    };
    Ok(HttpResponse::SeeOther()
        .insert_header((header::LOCATION, format!("/batches/{id}?done={done}")))
        .finish())
}

pub async fn approve(
    console: web::Data<Console>,
    pages: web::Data<Pages>,
    id: web::Path<i64>,
    action: Form,
) -> Result<HttpResponse, ConsoleError> {
    decide(&console, &pages, *id, &action, "approve").await
}

pub async fn cancel(
    console: web::Data<Console>,
    pages: web::Data<Pages>,
    id: web::Path<i64>,
    action: Form,
) -> Result<HttpResponse, ConsoleError> {
    decide(&console, &pages, *id, &action, "cancel").await
}
