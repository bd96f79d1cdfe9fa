//! What the admin views of both sides share: the legacy paging (`?page=N`, 10 rows) and the
//! answer when the database fails.

use actix_web::HttpResponse;
use serde::Deserialize;

/// Rows per admin page, as legacy.
pub const PAGE: i64 = 10;

/// `?page=N`, from 1.
#[derive(Debug, Deserialize)]
pub struct PageQuery {
    page: Option<String>,
}

impl PageQuery {
    /// The first row of the page.
    pub fn offset(&self) -> i64 {
        let page = self
            .page
            .as_deref()
            .and_then(|p| p.trim().parse::<i64>().ok())
            .unwrap_or(1)
            .clamp(1, 1_000_000);
        (page - 1) * PAGE
    }
}

/// 500 with the JSON error shape; the cause is logged, not shown.
pub fn internal(error: impl std::fmt::Display) -> HttpResponse {
    tracing::error!(%error, "admin request failed");
    HttpResponse::InternalServerError().json(service::ErrorBody::new(
        "internal_server_error",
        "Internal Server Error",
    ))
}
