//! The bridge's pages of the operations console ([`service::console`] gives sign-in, sessions,
//! CSRF, roles and the layout): received payments with Reprocess, sent payments, batches with
//! Approve and Cancel, and the health of listeners and channels with a chart of the last hour.

mod batches;
mod received;
mod sent;
mod status;

use actix_web::web;
use service::console::{ConsoleError, page};

use crate::batch::Batches;
use crate::receive::Receiving;
use crate::send::Sending;

/// What the pages read and act on.
#[derive(Debug, Clone)]
pub struct Pages {
    /// Received payments, their delivery, Reprocess.
    pub receiving: Receiving,
    /// Sent transactions and the channel pool.
    pub sending: Sending,
    /// Bulk payouts.
    pub batches: Batches,
}

/// The navigation links, in order.
pub const NAV: [(&str, &str); 4] = [
    ("/received", "Received"),
    ("/sent", "Sent"),
    ("/batches", "Batches"),
    ("/status", "Health"),
];

/// Registers the pages.
pub fn configure(pages: Pages, cfg: &mut web::ServiceConfig) {
    cfg.app_data(web::Data::new(pages))
        .route(
            "/",
            web::get().to(|_: service::console::Session| async {
                actix_web::HttpResponse::SeeOther()
                    .insert_header((actix_web::http::header::LOCATION, "/received"))
                    .finish()
            }),
        )
        .route("/received", web::get().to(received::list))
        .route("/received/{id}", web::get().to(received::show))
        .route(
            "/received/{id}/reprocess",
            web::post().to(received::reprocess),
        )
        .route("/sent", web::get().to(sent::list))
        .route("/sent/{id}", web::get().to(sent::show))
        .route("/batches", web::get().to(batches::list))
        .route("/batches/{id}", web::get().to(batches::show))
        .route("/batches/{id}/approve", web::post().to(batches::approve))
        .route("/batches/{id}/cancel", web::post().to(batches::cancel))
        .route("/status", web::get().to(status::show));
}

/// A filter value from a query: trimmed, empty meaning none.
fn given(value: &Option<String>) -> Option<String> {
    value
        .as_deref()
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
}

/// A filter that must be one of `allowed` (a state): the value given, if any, or a 400 naming
/// `field` and what it may be.
fn one_of(
    value: &Option<String>,
    field: &str,
    allowed: &[&str],
) -> Result<Option<String>, ConsoleError> {
    match given(value) {
        Some(v) if !allowed.contains(&v.as_str()) => Err(ConsoleError::BadRequest(format!(
            "{field}: one of {}",
            allowed.join(", ")
        ))),
        chosen => Ok(chosen),
    }
}

/// The labelled `<select>` of a state filter, `any` first, keeping what is `chosen`.
fn state_select(field: &str, allowed: &[&str], chosen: Option<&str>) -> maud::Markup {
    maud::html! {
        label for=(field) { "State"
            select id=(field) name=(field) {
                option value="" { "any" }
                @for s in allowed { option value=(s) selected[chosen == Some(*s)] { (s) } }
            }
        }
    }
}

/// `YYYY-MM-DD` (an HTML date input) as midnight UTC.
fn date(
    value: &Option<String>,
    field: &str,
) -> Result<Option<time::PrimitiveDateTime>, ConsoleError> {
    let Some(text) = given(value) else {
        return Ok(None);
    };
    let bad = || ConsoleError::BadRequest(format!("{field}: a date as YYYY-MM-DD"));
    let mut parts = text.splitn(3, '-').map(str::parse::<i32>);
    let (Some(Ok(y)), Some(Ok(m)), Some(Ok(d))) = (parts.next(), parts.next(), parts.next()) else {
        return Err(bad());
    };
    let month = u8::try_from(m)
        .ok()
        .and_then(|m| time::Month::try_from(m).ok())
        .ok_or_else(bad)?;
    let day = time::Date::from_calendar_date(y, month, u8::try_from(d).map_err(|_| bad())?)
        .map_err(|_| bad())?;
    Ok(Some(day.midnight()))
}

/// A state shown with its colour class.
fn state(text: &str) -> maud::Markup {
    maud::html! { span class=(format!("state state-{text}")) { (text) } }
}

/// Shortens a long identifier for a table cell (the full value is on its own page).
fn short(text: &str) -> String {
    if text.chars().count() > 16 {
        let head: String = text.chars().take(8).collect();
        let tail: String = text
            .chars()
            .rev()
            .take(6)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        format!("{head}…{tail}")
    } else {
        text.to_owned()
    }
}

/// The `?done=` notice codes the actions redirect with, as sentences.
fn notice(code: Option<&str>) -> Option<&'static str> {
    Some(match code? {
        "reprocessed" => "Delivered again: the back office accepted it.",
        "reprocess_failed" => {
            "Delivered again, but the back office refused it (see the last error below)."
        }
        "approved" => "Approved: its payments are being sent.",
        "cancelled" => "Cancelled: payments not yet submitted will not be sent.",
        _ => return None,
    })
}

pub(crate) use page::{Pager, button, layout};
