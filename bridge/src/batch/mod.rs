//! Bulk payouts: thousands of payments uploaded at once (JSON or CSV), checked and resolved
//! before anything is stored, approved by a second key when required, and packed into
//! transactions of up to 100 payment operations spread over the channels.
//!
//! - [`intake`]: reading and checking an upload (every bad row with its number and field).
//! - [`store`]: `payout_batch`, `payout_row`, `payout_tx`.
//! - [`worker`]: claims a batch, sends again what was in flight, packs and sends the rest,
//!   isolates the rows that failed by their operation's result code, takes compliance rows one
//!   by one, ends the batch and calls `[batches] callback_url`.
//! - [`api`]: the endpoints.
//!
//! It builds on the sending side ([`crate::send`]): every transaction goes through
//! [`crate::send::Submitter::send`] under its own payment id, so a crash pays nothing twice.

pub mod api;
pub mod batches;
pub mod intake;
pub mod settings;
pub mod store;
pub mod worker;

use actix_web::web;

pub use batches::Batches;
pub use settings::BatchSettings;

/// Registers `/batches` and its sub-resources, with their own body limit.
pub fn configure(batches: &Batches, cfg: &mut web::ServiceConfig) {
    let limit = web::PayloadConfig::new(batches.settings.max_body_bytes);
    cfg.app_data(web::Data::new(batches.clone())).service(
        web::scope("/batches")
            .service(
                web::resource("")
                    .app_data(limit)
                    .route(web::post().to(api::upload)),
            )
            .route("/{id}", web::get().to(api::show))
            .route("/{id}/payments", web::get().to(api::rows))
            .route("/{id}/report.csv", web::get().to(api::report))
            .route("/{id}/approve", web::post().to(api::approve))
            .route("/{id}/cancel", web::post().to(api::cancel)),
    );
}
