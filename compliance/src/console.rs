//! The compliance server's pages of the operations console ([`service::console`]): the
//! transactions it authorized, and the allow lists (`allowed_fi`, `allowed_user`) with add
//! and remove for compliance officers. A transaction's AuthData (the sender's customer data)
//! is shown to compliance officers only.

use std::collections::HashMap;

use actix_web::http::header;
use actix_web::{HttpResponse, web};
use maud::html;
use serde::Deserialize;
use service::console::page::{Pager, button, csrf_field, datetime, layout, notice};
use service::console::{Action, Console, ConsoleError, Role, Session};

use crate::internal::{AllowAccess, RemoveAccess};
use crate::store::Store;

/// The navigation links, in order.
pub const NAV: [(&str, &str); 2] = [("/allowed", "Allow lists"), ("/authorized", "Authorized")];

/// Registers the pages on the console's app.
pub fn configure(store: Store, cfg: &mut web::ServiceConfig) {
    cfg.app_data(web::Data::new(store))
        .route(
            "/",
            web::get().to(|_: Session| async {
                HttpResponse::SeeOther()
                    .insert_header((header::LOCATION, "/allowed"))
                    .finish()
            }),
        )
        .route("/allowed", web::get().to(allowed))
        .route("/allowed/add", web::post().to(add))
        .route("/allowed/remove", web::post().to(remove))
        .route("/authorized", web::get().to(authorized))
        .route("/authorized/{id}", web::get().to(authorized_one));
}

#[derive(Debug, Deserialize)]
struct Shown {
    done: Option<String>,
    page: Option<u32>,
}

fn done(code: Option<&str>) -> Option<&'static str> {
    Some(match code? {
        "added" => "Added to the allow list.",
        "removed" => "Removed from the allow list.",
        _ => return None,
    })
}

async fn allowed(
    console: web::Data<Console>,
    store: web::Data<Store>,
    session: Session,
    query: web::Query<Shown>,
) -> Result<HttpResponse, ConsoleError> {
    let entries = store.allowances().await?;
    let officer = session.may(Role::ComplianceOfficer);
    let body = html! {
        h1 { "Allow lists" }
        (notice(done(query.done.as_deref())))
        p { "Institutions, and users of institutions, that are given our customers' information when they ask for it (need_info) and no ask_user callback is configured: this list decides." }
        table {
            caption { "Allowed institutions (no user) and users" }
            thead { tr {
                th scope="col" { "Domain" } th scope="col" { "User" } th scope="col" { "Name" }
                th scope="col" { "Signing key" } th scope="col" { "Since (UTC)" }
                @if officer { th scope="col" { span.visually-hidden { "Actions" } } }
            } }
            tbody {
                @for e in &entries {
                    tr {
                        td { (e.domain) }
                        td { (e.user_id.clone().unwrap_or_else(|| "whole institution".into())) }
                        td { (e.name) }
                        td.mono { (e.public_key) }
                        td { (datetime(&e.allowed_at)) }
                        @if officer {
                            @let user = e.user_id.clone().unwrap_or_default();
                            td { (button(&session, "/allowed/remove", "Remove", &[("domain", &e.domain), ("user_id", &user)])) }
                        }
                    }
                }
            }
        }
        @if entries.is_empty() { p { "The allow lists are empty." } }
        @if officer {
            h2 { "Allow an institution or one of its users" }
            form.filters method="post" action="/allowed/add" {
                (csrf_field(&session))
                label for="name" { "Name" input #name name="name" required; }
                label for="domain" { "Domain" input #domain name="domain" required; }
                label for="public_key" { "Signing key (G…)" input #public_key name="public_key" required size="56"; }
                label for="user_id" { "User (empty: the whole institution)" input #user_id name="user_id"; }
                button type="submit" { "Allow" }
            }
        } @else {
            p { "Changing the allow lists needs the compliance officer role." }
        }
    };
    Ok(layout(&console, &session, "Allow lists", body))
}

/// The posted fields as the internal API's checks take them.
fn fields(form: &HashMap<String, String>) -> crate::form::Fields {
    form.iter()
        .map(|(k, v)| (k.clone(), v.trim().to_owned()))
        .filter(|(_, v)| !v.is_empty())
        .collect()
}

fn refused(e: &crate::error::Error) -> String {
    match e {
        crate::error::Error::InvalidParameter {
            field: Some(field),
            more_info,
        } => format!("{field}: {more_info}"),
        crate::error::Error::MissingParameter(field) => format!("{field} is required"),
        other => other.to_string(),
    }
}

type Form = Action<HashMap<String, String>>;

async fn add(
    console: web::Data<Console>,
    store: web::Data<Store>,
    action: Form,
) -> Result<HttpResponse, ConsoleError> {
    if !action.session.may(Role::ComplianceOfficer) {
        return Err(ConsoleError::Forbidden(Role::ComplianceOfficer));
    }
    let entry = AllowAccess::from_fields(&fields(&action.form))
        .map_err(|e| ConsoleError::BadRequest(refused(&e)))?;
    let target = match &entry.user_id {
        Some(user) => format!("{user}@{}", entry.domain),
        None => entry.domain.clone(),
    };
    store
        .allow(
            entry.name,
            entry.domain,
            entry.public_key.to_string(),
            entry.user_id,
        )
        .await?;
    console.audit(&action.session, "allow", &target, "ok").await;
    Ok(HttpResponse::SeeOther()
        .insert_header((header::LOCATION, "/allowed?done=added"))
        .finish())
}

async fn remove(
    console: web::Data<Console>,
    store: web::Data<Store>,
    action: Form,
) -> Result<HttpResponse, ConsoleError> {
    if !action.session.may(Role::ComplianceOfficer) {
        return Err(ConsoleError::Forbidden(Role::ComplianceOfficer));
    }
    let entry = RemoveAccess::from_fields(&fields(&action.form))
        .map_err(|e| ConsoleError::BadRequest(refused(&e)))?;
    let target = match &entry.user_id {
        Some(user) => format!("{user}@{}", entry.domain),
        None => entry.domain.clone(),
    };
    store.remove(entry.domain, entry.user_id).await?;
    console
        .audit(&action.session, "remove_allowance", &target, "ok")
        .await;
    Ok(HttpResponse::SeeOther()
        .insert_header((header::LOCATION, "/allowed?done=removed"))
        .finish())
}

async fn authorized(
    console: web::Data<Console>,
    store: web::Data<Store>,
    session: Session,
    query: web::Query<Shown>,
) -> Result<HttpResponse, ConsoleError> {
    let pager = Pager::new(query.page, 50);
    let mut rows = store.authorized_page(pager.offset(), pager.fetch()).await?;
    let more = pager.trim(&mut rows);
    let body = html! {
        h1 { "Authorized transactions" }
        table {
            caption { "Payments to us this server approved, newest first" }
            thead { tr { th scope="col" { "Approved (UTC)" } th scope="col" { "Transaction" } th scope="col" { "Memo hash" } } }
            tbody {
                @for r in &rows {
                    tr {
                        td { (datetime(&r.authorized_at)) }
                        td.mono { a href=(format!("/authorized/{}", r.id)) { (r.transaction_id) } }
                        td.mono { (r.memo) }
                    }
                }
            }
        }
        @if rows.is_empty() { p { "No transaction has been authorized yet." } }
        (pager.links("/authorized", &[], more))
    };
    Ok(layout(&console, &session, "Authorized transactions", body))
}

async fn authorized_one(
    console: web::Data<Console>,
    store: web::Data<Store>,
    session: Session,
    id: web::Path<i64>,
) -> Result<HttpResponse, ConsoleError> {
    let r = store
        .authorized_row(*id)
        .await?
        .ok_or(ConsoleError::NotFound)?;
    let data = serde_json::from_str::<serde_json::Value>(&r.data)
        .ok()
        .and_then(|v| serde_json::to_string_pretty(&v).ok())
        .unwrap_or_else(|| r.data.clone());
    let body = html! {
        h1 { "Authorized transaction" }
        dl.facts {
            dt { "Transaction" } dd.mono { (r.transaction_id) }
            dt { "Memo hash" } dd.mono { (r.memo) }
            dt { "Approved" } dd { (datetime(&r.authorized_at)) " UTC" }
        }
        h2 { "AuthData (the sender's attachment)" }
        @if session.may(Role::ComplianceOfficer) {
            pre { (data) }
        } @else {
            p { "The sender's customer data is shown to compliance officers only." }
        }
    };
    Ok(layout(&console, &session, "Authorized transaction", body))
}
