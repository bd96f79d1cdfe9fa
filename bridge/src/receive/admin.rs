//! The operator's side of receiving: `POST /reprocess` and the read-only `/admin/…` views
//! (legacy paths and paging, plain JSON fields), and the listener part of `/health`. All of
//! them sit behind the bridge's API key like every other route.

use actix_web::{HttpResponse, web};

use std::sync::Arc;

use super::delivery::Deliverer;
use super::store::ReceiveStore;
use super::store::ReceivedStatus;
use crate::admin::{PAGE, PageQuery, internal};

/// What the admin handlers read: the receiving side's store and its delivery worker.
#[derive(Debug, Clone)]
pub struct Admin {
    /// The receiving tables.
    pub store: ReceiveStore,
    /// Delivers again on `/reprocess`; `None` without `callbacks.receive`.
    pub deliverer: Option<Arc<Deliverer>>,
}

fn reprocess_error(message: impl Into<String>) -> HttpResponse {
    HttpResponse::BadRequest()
        .json(serde_json::json!({"status": "error", "message": message.into()}))
}

/// `POST /reprocess` (form `operation_id`, `force`): delivers a recorded payment again, now,
/// whatever its status (as legacy, without the asset and direction filter). A `success`
/// payment needs `force=true`. 200 `{"status":"ok"}` or 400 `{"status":"error","message"}`.
pub async fn reprocess(
    admin: web::Data<Admin>,
    form: web::Form<Vec<(String, String)>>,
) -> HttpResponse {
    let field = |name: &str| {
        form.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.trim().to_owned())
    };
    let Some(operation_id) = field("operation_id").filter(|v| !v.is_empty()) else {
        return reprocess_error("operation_id is required");
    };
    let force = field("force").is_some_and(|v| matches!(v.as_str(), "true" | "1" | "on" | "yes"));
    let Some(deliverer) = admin.deliverer.as_ref() else {
        return reprocess_error("callbacks.receive is not configured");
    };
    let store = &admin.store;
    let payment = match store.by_operation_id(&operation_id).await {
        Ok(Some(payment)) => payment,
        Ok(None) => return reprocess_error("Payment has not been processed yet"),
        Err(e) => return internal(e),
    };
    if payment.status == ReceivedStatus::Success && !force {
        return reprocess_error("Trying to reprocess successful transaction without force");
    }
    // Claimed like any delivery, so that no instance's worker posts it at the same moment.
    match store
        .claim_one(payment.id, &deliverer.instance, deliverer.claim_ttl())
        .await
    {
        Ok(true) => {}
        Ok(false) => {
            return reprocess_error(
                "The payment is being delivered right now (by this or another instance); try \
                 again in a moment",
            );
        }
        Err(e) => return internal(e),
    }
    let outcome = match deliverer.deliver(&payment).await {
        Ok(sent) => super::store::Outcome::Delivered {
            route: sent.route,
            data: sent.data,
        },
        // A payment the worker still retries stays in its schedule (e.g. its memo could not
        // be read yet); any other is `failed`, as legacy.
        Err(error) if payment.status == ReceivedStatus::Pending => {
            let attempts = u32::try_from(payment.attempts).unwrap_or(0) + 1;
            let delay = deliverer.settings.retry_delay(attempts);
            super::store::Outcome::Retry {
                error,
                next_attempt_at: super::store::now_ms()
                    .saturating_add(i64::try_from(delay.as_millis()).unwrap_or(i64::MAX)),
            }
        }
        Err(error) => super::store::Outcome::Failed { error },
    };
    let answer = match &outcome {
        super::store::Outcome::Failed { error } | super::store::Outcome::Retry { error, .. } => {
            reprocess_error(error.clone())
        }
        _ => HttpResponse::Ok().json(serde_json::json!({"status": "ok"})),
    };
    if let Err(e) = store
        .finish_attempt(&deliverer.instance, payment.id, outcome)
        .await
    {
        return internal(e);
    }
    answer
}

/// `GET /admin/received-payments?page=N`: 10 per page, newest first.
pub async fn received_payments(
    admin: web::Data<Admin>,
    query: web::Query<PageQuery>,
) -> HttpResponse {
    match admin.store.page(query.offset(), PAGE).await {
        Ok(rows) => HttpResponse::Ok().json(rows),
        Err(e) => internal(e),
    }
}

/// `GET /admin/received-payments/{id}` (row id, or operation id):
/// `{"payment", "operation", "auth_data"}`; 404 when unknown.
pub async fn received_payment(admin: web::Data<Admin>, id: web::Path<String>) -> HttpResponse {
    let store = &admin.store;
    let mut found = match id.parse::<i64>() {
        Ok(row) => store.by_id(row).await,
        Err(_) => Ok(None),
    };
    if matches!(found, Ok(None)) {
        found = store.by_operation_id(&id).await;
    }
    match found {
        Ok(Some(payment)) => {
            let operation = serde_json::from_str::<serde_json::Value>(&payment.raw)
                .unwrap_or(serde_json::Value::Null);
            let auth_data = payment
                .data
                .as_deref()
                .and_then(|d| serde_json::from_str::<serde_json::Value>(d).ok());
            HttpResponse::Ok().json(serde_json::json!({
                "payment": payment,
                "operation": operation,
                "auth_data": auth_data,
            }))
        }
        Ok(None) => HttpResponse::NotFound().finish(),
        Err(e) => internal(e),
    }
}
