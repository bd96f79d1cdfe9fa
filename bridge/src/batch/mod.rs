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
pub mod intake;
pub mod settings;
pub mod store;
pub mod worker;

use std::sync::Arc;

use actix_web::web;
use service::Database;
use stellar_base::KeyPair;
use stellar_toml::Resolver;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

pub use settings::BatchSettings;
use store::BatchStore;
use worker::Worker;

use crate::send::Sending;

/// What the batch endpoints and the worker share. Cheap to clone.
#[derive(Clone)]
pub struct Batches {
    store: BatchStore,
    settings: BatchSettings,
    resolver: Resolver,
    worker: Worker,
}

impl std::fmt::Debug for Batches {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("bridge::batch::Batches")
    }
}

impl Batches {
    /// The batch side over `db`, sending through `sending`; `mac_key` signs the end-of-batch
    /// callback, sent with `http` (the trusted client: extra CA, redirect limit).
    pub fn new(
        db: Database,
        settings: BatchSettings,
        sending: Sending,
        resolver: Resolver,
        mac_key: Option<KeyPair>,
        http: reqwest::Client,
        instance: String,
    ) -> Self {
        let store = BatchStore::new(db);
        let worker = Worker {
            store: store.clone(),
            sending,
            settings: settings.clone(),
            mac_key,
            http,
            instance,
            wake: Arc::new(Notify::new()),
        };
        Self {
            store,
            settings,
            resolver,
            worker,
        }
    }

    /// Starts the worker; it stops when `stop` is cancelled (between transactions: what is
    /// in flight is resumed by the next start, under the same payment ids).
    pub fn start(&self, stop: CancellationToken) -> tokio::task::JoinHandle<()> {
        tokio::spawn(self.worker.clone().run(stop))
    }

    /// Registers `/batches` and its sub-resources, with their own body limit.
    pub fn configure(&self, cfg: &mut web::ServiceConfig) {
        let limit = web::PayloadConfig::new(self.settings.max_body_bytes);
        cfg.app_data(web::Data::new(self.clone())).service(
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
}
