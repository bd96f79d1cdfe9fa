//! Sent payments: the list by state or id, and one transaction with its outcome and fee.

use actix_web::{HttpResponse, web};
use maud::html;
use serde::Deserialize;
use service::console::{Console, ConsoleError, Session};
use stellar_base::xdr::{Limits, ReadXdr, TransactionResult};

use super::{Pager, Pages, given, layout, one_of, short, state, state_select};

const STATUSES: [&str; 4] = ["sending", "pending", "success", "failure"];

/// `GET /sent` query.
#[derive(Debug, Default, Deserialize)]
pub struct Filter {
    status: Option<String>,
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
    let pager = Pager::new(query.page, 50);
    let mut rows = pages
        .sending
        .store()
        .search(status, given(&query.q), pager.offset(), pager.fetch())
        .await?;
    let more = pager.trim(&mut rows);
    let value = |v: &Option<String>| v.clone().unwrap_or_default();
    let (status, q) = (value(&query.status), value(&query.q));
    let body = html! {
        h1 { "Sent payments" }
        form.filters method="get" action="/sent" role="search" {
            (state_select("status", &STATUSES, Some(status.as_str())))
            label for="q" { "Payment id or transaction hash" input #q name="q" value=(q) size="40"; }
            button type="submit" { "Filter" }
        }
        table {
            caption { "Newest first" }
            thead { tr {
                th scope="col" { "Payment id" } th scope="col" { "State" } th scope="col" { "Transaction" }
                th scope="col" class="num" { "Ledger" } th scope="col" { "Source" } th scope="col" { "Result codes" }
            } }
            tbody {
                @for t in &rows {
                    tr {
                        td { a href=(format!("/sent/{}", t.id)) { (t.payment_id.clone().unwrap_or_else(|| format!("#{}", t.id))) } }
                        td { (state(t.status.as_str())) }
                        td.mono { (short(&t.hash)) }
                        td.num { (t.ledger.map(|l| l.to_string()).unwrap_or_default()) }
                        td.mono { (short(&t.source)) }
                        td.mono { (value(&t.result_codes)) }
                    }
                }
            }
        }
        @if rows.is_empty() { p { "No transaction matches." } }
        (pager.links("/sent", &[("status", &status), ("q", &q)], more))
    };
    Ok(layout(&console, &session, "Sent payments", body))
}

/// The fee charged, in stroops, from a stored result XDR.
fn fee_charged(result_xdr: &str) -> Option<i64> {
    TransactionResult::from_xdr_base64(result_xdr, Limits::len(64 * 1024))
        .ok()
        .map(|r| r.fee_charged)
}

pub async fn show(
    console: web::Data<Console>,
    pages: web::Data<Pages>,
    session: Session,
    id: web::Path<i64>,
) -> Result<HttpResponse, ConsoleError> {
    let t = pages
        .sending
        .store()
        .by_row(*id)
        .await?
        .ok_or(ConsoleError::NotFound)?;
    let fee = t.result_xdr.as_deref().and_then(fee_charged);
    let request: Vec<(String, String)> = match &t.payment_id {
        Some(id) => pages
            .sending
            .store()
            .request(id)
            .await?
            .and_then(|json| serde_json::from_str(&json).ok())
            .unwrap_or_default(),
        None => Vec::new(),
    };
    let body = html! {
        h1 { "Sent payment " (t.payment_id.clone().unwrap_or_else(|| format!("#{}", t.id))) }
        dl.facts {
            dt { "State" } dd { (state(t.status.as_str())) }
            dt { "Transaction" } dd.mono { (t.hash) }
            dt { "Source" } dd.mono { (t.source) }
            dt { "Ledger" } dd { (t.ledger.map(|l| l.to_string()).unwrap_or_else(|| "not in a ledger".into())) }
            dt { "Fee paid" } dd { @if let Some(fee) = fee { (fee) " stroops" @if let Ok(xlm) = stellar_base::Amount::from_stroops(fee) { " (" (xlm) " XLM)" } } @else { "unknown" } }
            dt { "Result codes" } dd.mono { (t.result_codes.clone().unwrap_or_else(|| "none".into())) }
            dt { "Time bound" } dd { @if t.max_time > 0 { (service::console::page::time_ms(t.max_time.saturating_mul(1000))) " UTC" } @else { "none (legacy)" } }
        }
        h2 { "The request as received" }
        @if request.is_empty() {
            p { "Not kept (a request without an id, or sent before the console)." }
        } @else {
            table {
                caption { "Its fields, without the API key; a secret seed is shown as its account" }
                thead { tr { th scope="col" { "Field" } th scope="col" { "Value" } } }
                tbody { @for (name, value) in &request { tr { td.mono { (name) } td.mono { (value) } } } }
            }
        }
        h2 { "Signed envelope (XDR)" }
        pre { (t.envelope_xdr) }
        @if let Some(result) = &t.result_xdr { h2 { "Result (XDR)" } pre { (result) } }
    };
    Ok(layout(&console, &session, "Sent payment", body))
}
