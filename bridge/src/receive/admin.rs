//! The operator's side of receiving: `POST /reprocess` and the read-only `/admin/…` views
//! (legacy paths and paging, plain JSON fields), and the listener part of `/health`. All of
//! them sit behind the bridge's API key like every other route.

use actix_web::{HttpResponse, web};

use std::sync::Arc;

use service::DbError;

use super::delivery::Deliverer;
use super::store::{Outcome, ReceiveStore, ReceivedStatus};
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

/// Why a payment was not delivered again.
#[derive(Debug)]
pub enum ReprocessError {
    /// Refused, or the delivery failed: the message says which (legacy's wording).
    Refused(String),
    /// The database failed.
    Database(DbError),
}

impl From<DbError> for ReprocessError {
    fn from(e: DbError) -> Self {
        Self::Database(e)
    }
}

impl Admin {
    /// Delivers the payment of `operation_id` again, now, whatever its status (a `success`
    /// one only with `force`), claimed like any delivery so that no instance's worker posts
    /// it at the same moment; its outcome is written as the worker's would be. What
    /// `POST /reprocess` and the console do.
    ///
    /// # Errors
    /// [`ReprocessError::Refused`] with legacy's message, or the failed delivery's error.
    pub async fn reprocess(&self, operation_id: &str, force: bool) -> Result<(), ReprocessError> {
        let refused = |message: &str| Err(ReprocessError::Refused(message.to_owned()));
        let Some(deliverer) = self.deliverer.as_ref() else {
            return refused("callbacks.receive is not configured");
        };
        let store = &self.store;
        let Some(payment) = store.by_operation_id(operation_id).await? else {
            return refused("Payment has not been processed yet");
        };
        if payment.status == ReceivedStatus::Success && !force {
            return refused("Trying to reprocess successful transaction without force");
        }
        if !store
            .claim_one(payment.id, &deliverer.instance, deliverer.claim_ttl())
            .await?
        {
            return refused(
                "The payment is being delivered right now (by this or another instance); try \
                 again in a moment",
            );
        }
        let delivery = deliverer.deliver(&payment).await;
        let outcome = match delivery.result {
            Ok(sent) => Outcome::Delivered {
                route: sent.route,
                data: sent.data,
            },
            // A payment the worker still retries stays in its schedule (e.g. its memo could
            // not be read yet); any other is `failed`, as legacy.
            Err(error) if payment.status == ReceivedStatus::Pending => {
                let attempts = u32::try_from(payment.attempts).unwrap_or(0) + 1;
                let delay = deliverer.settings.retry_delay(attempts);
                Outcome::Retry {
                    error,
                    next_attempt_at: super::store::now_ms()
                        .saturating_add(i64::try_from(delay.as_millis()).unwrap_or(i64::MAX)),
                }
            }
            Err(error) => Outcome::Failed { error },
        };
        let failed = match &outcome {
            Outcome::Failed { error } | Outcome::Retry { error, .. } => Some(error.clone()),
            _ => None,
        };
        store
            .finish_attempt(&deliverer.instance, payment.id, outcome, delivery.answer)
            .await?;
        match failed {
            Some(error) => Err(ReprocessError::Refused(error)),
            None => Ok(()),
        }
    }
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
    match admin.reprocess(&operation_id, force).await {
        Ok(()) => HttpResponse::Ok().json(serde_json::json!({"status": "ok"})),
        Err(ReprocessError::Refused(message)) => reprocess_error(message),
        Err(ReprocessError::Database(e)) => internal(e),
    }
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
