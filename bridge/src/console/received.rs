//! Received payments: the filtered list, one payment with its delivery and compliance data,
//! and Reprocess.

use actix_web::http::header;
use actix_web::{HttpResponse, web};
use maud::html;
use serde::Deserialize;
use service::console::{Action, Console, ConsoleError, Role, Session};

use super::{
    Pager, Pages, button, date, given, layout, notice, one_of, short, state, state_select,
};
use crate::receive::admin::ReprocessError;
use crate::receive::store::{ReceivedFilter, format_rfc3339};

/// The statuses offered in the filter.
const STATUSES: [&str; 9] = [
    "pending",
    "success",
    "failing",
    "failed",
    "outgoing",
    "asset_not_allowed",
    "transaction_failed",
    "not_a_payment",
    "unparseable",
];

/// `GET /received` query.
#[derive(Debug, Default, Deserialize)]
pub struct Filter {
    status: Option<String>,
    account: Option<String>,
    asset: Option<String>,
    from: Option<String>,
    to: Option<String>,
    q: Option<String>,
    page: Option<u32>,
}

pub async fn list(
    console: web::Data<Console>,
    pages: web::Data<Pages>,
    session: Session,
    query: web::Query<Filter>,
) -> Result<HttpResponse, ConsoleError> {
    let status = one_of(&query.status, "status", &STATUSES)?;
    let filter = ReceivedFilter {
        status,
        account: given(&query.account),
        asset_code: given(&query.asset),
        since: date(&query.from, "from")?,
        // Through the whole day given.
        before: date(&query.to, "to")?.map(|d| d + time::Duration::days(1)),
        text: given(&query.q),
    };
    let pager = Pager::new(query.page, 50);
    let mut rows = pages
        .receiving
        .store()
        .search(filter, pager.offset(), pager.fetch())
        .await?;
    let more = pager.trim(&mut rows);
    let value = |v: &Option<String>| v.clone().unwrap_or_default();
    let kept = [
        ("status", value(&query.status)),
        ("account", value(&query.account)),
        ("asset", value(&query.asset)),
        ("from", value(&query.from)),
        ("to", value(&query.to)),
        ("q", value(&query.q)),
    ];
    let kept: Vec<(&str, &str)> = kept.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let body = html! {
        h1 { "Received payments" }
        form.filters method="get" action="/received" role="search" {
            (state_select("status", &STATUSES, query.status.as_deref()))
            label for="account" { "Account" input #account name="account" value=(value(&query.account)) size="20"; }
            label for="asset" { "Asset code" input #asset name="asset" value=(value(&query.asset)) size="8"; }
            label for="from" { "From" input #from type="date" name="from" value=(value(&query.from)); }
            label for="to" { "To" input #to type="date" name="to" value=(value(&query.to)); }
            label for="q" { "Transaction, operation, memo or route" input #q name="q" value=(value(&query.q)) size="30"; }
            button type="submit" { "Filter" }
        }
        table {
            caption { "Newest first" }
            thead { tr {
                th scope="col" { "Recorded" } th scope="col" { "State" } th scope="col" class="num" { "Amount" }
                th scope="col" { "Asset" } th scope="col" { "From" } th scope="col" { "Memo" } th scope="col" { "Route" }
                th scope="col" class="num" { "Attempts" } th scope="col" { "Operation" }
            } }
            tbody {
                @for p in &rows {
                    tr {
                        td { (format_rfc3339(&p.processed_at)) }
                        td { (state(p.status.as_str())) }
                        td.num { (value(&p.amount)) }
                        td { (p.asset_code.clone().unwrap_or_else(|| "XLM".into())) }
                        td.mono { (short(&value(&p.from))) }
                        td { (value(&p.memo)) }
                        td { (value(&p.route)) }
                        td.num { (p.attempts) }
                        td { a href=(format!("/received/{}", p.id)) { (p.operation_id) } }
                    }
                }
            }
        }
        @if rows.is_empty() { p { "No payment matches." } }
        (pager.links("/received", &kept, more))
    };
    Ok(layout(&console, &session, "Received payments", body))
}

#[derive(Debug, Deserialize)]
pub struct Shown {
    done: Option<String>,
}

/// Pretty JSON of a stored JSON text, or the text itself.
fn pretty(text: &str) -> String {
    serde_json::from_str::<serde_json::Value>(text)
        .ok()
        .and_then(|v| serde_json::to_string_pretty(&v).ok())
        .unwrap_or_else(|| text.to_owned())
}

pub async fn show(
    console: web::Data<Console>,
    pages: web::Data<Pages>,
    session: Session,
    id: web::Path<i64>,
    query: web::Query<Shown>,
) -> Result<HttpResponse, ConsoleError> {
    let p = pages
        .receiving
        .store()
        .by_id(*id)
        .await?
        .ok_or(ConsoleError::NotFound)?;
    let answers = pages.receiving.store().answers(p.id, 50).await?;
    let value = |v: &Option<String>| v.clone().unwrap_or_default();
    let redeliverable = matches!(p.status.as_str(), "failed" | "failing");
    let body = html! {
        h1 { "Received payment " span.mono { (p.operation_id) } }
        (page::notice(notice(query.done.as_deref())))
        dl.facts {
            dt { "State" } dd { (state(p.status.as_str())) }
            dt { "Kind" } dd { (p.kind) }
            dt { "Amount" } dd { (value(&p.amount)) " " (p.asset_code.clone().unwrap_or_else(|| "XLM".into())) }
            @if let Some(issuer) = p.asset_issuer.as_ref().filter(|i| !i.is_empty()) { dt { "Issuer" } dd.mono { (issuer) } }
            dt { "From" } dd.mono { (value(&p.from)) }
            dt { "To" } dd.mono { (p.account) @if let Some(id) = &p.to_muxed_id { " (muxed id " (id) ")" } }
            dt { "Memo" } dd { (value(&p.memo_type)) " " span.mono { (value(&p.memo)) } }
            dt { "Route" } dd { (value(&p.route)) }
            dt { "Transaction" } dd.mono { (p.transaction_id) }
            dt { "Recorded" } dd { (format_rfc3339(&p.processed_at)) }
            dt { "Delivered" } dd { @if let Some(at) = &p.delivered_at { (format_rfc3339(at)) } @else { "not yet" } }
        }
        h2 { "Delivery" }
        dl.facts {
            dt { "Attempts" } dd { (p.attempts) }
            dt { "Next attempt" } dd { @if p.status.as_str() == "pending" && p.next_attempt_at > 0 { (page::time_ms(p.next_attempt_at)) " UTC" } @else { "none scheduled" } }
            dt { "Last error" } dd { @if let Some(e) = &p.last_error { span.alert { (e) } } @else { "none" } }
        }
        @if !answers.is_empty() {
            table {
                caption { "Calls of the back office's callbacks, newest first" }
                thead { tr {
                    th scope="col" { "When (UTC)" } th scope="col" { "Callback" } th scope="col" class="num" { "HTTP status" }
                    th scope="col" { "Answer (first bytes)" } th scope="col" { "Instance" }
                } }
                tbody {
                    @for (at, instance, callback, status, answer) in &answers {
                        tr {
                            td { (page::time_ms(*at)) }
                            td { (callback) }
                            td.num { @if let Some(status) = status { (status) } @else { "none" } }
                            td.mono { (answer) }
                            td.mono { (instance) }
                        }
                    }
                }
            }
        }
        @if redeliverable {
            @if session.may(Role::Operator) {
                p { (button(&session, &format!("/received/{}/reprocess", p.id), "Reprocess: deliver it again now", &[])) }
            } @else {
                p { "Reprocessing needs the operator role." }
            }
        }
        @if let Some(data) = &p.data {
            h2 { "Compliance data" }
            pre { (pretty(data)) }
        }
        h2 { "Operation, as Horizon sent it" }
        pre { (pretty(&p.raw)) }
    };
    Ok(layout(&console, &session, "Received payment", body))
}

pub async fn reprocess(
    console: web::Data<Console>,
    pages: web::Data<Pages>,
    id: web::Path<i64>,
    action: Action<std::collections::HashMap<String, String>>,
) -> Result<HttpResponse, ConsoleError> {
    let session = &action.session;
    if !session.may(Role::Operator) {
        return Err(ConsoleError::Forbidden(Role::Operator));
    }
    let admin = pages.receiving.admin();
    let payment = admin
        .store
        .by_id(*id)
        .await?
        .ok_or(ConsoleError::NotFound)?;
    if !matches!(payment.status.as_str(), "failed" | "failing") {
        return Err(ConsoleError::BadRequest(format!(
            "only a payment whose delivery failed is reprocessed here; this one is {}",
            payment.status
        )));
    }
    let outcome = admin.reprocess(&payment.operation_id, false).await;
    let (done, written) = match &outcome {
        Ok(()) => ("reprocessed", "ok".to_owned()),
        Err(ReprocessError::Refused(why)) => ("reprocess_failed", why.clone()),
        Err(ReprocessError::Database(e)) => ("", e.to_string()),
    };
    console
        .audit(session, "reprocess", &payment.operation_id, &written)
        .await;
    if let Err(ReprocessError::Database(e)) = outcome {
        return Err(e.into());
    }
    Ok(HttpResponse::SeeOther()
        .insert_header((
            header::LOCATION,
            format!("/received/{}?done={done}", payment.id),
        ))
        .finish())
}

use service::console::page;
