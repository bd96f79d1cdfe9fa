//! The operator's view of sending: `GET /admin/sent-transactions` (legacy path and paging,
//! plain JSON fields), behind the bridge's API key like every other route.

use actix_web::{HttpResponse, web};

use super::sending::Sending;
use crate::admin::{PAGE, PageQuery, internal};

/// `GET /admin/sent-transactions?page=N`: 10 per page, newest first.
pub async fn sent_transactions(
    sending: web::Data<Sending>,
    query: web::Query<PageQuery>,
) -> HttpResponse {
    match sending.store.page(query.offset(), PAGE).await {
        Ok(rows) => HttpResponse::Ok().json(rows),
        Err(e) => internal(e),
    }
}
