//! [`Batches`]: what the batch endpoints and the worker share.

use std::sync::Arc;

use service::Database;
use stellar_base::KeyPair;
use stellar_toml::Resolver;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::settings::BatchSettings;
use super::store::{BatchRow, BatchStore};
use super::worker::Worker;
use crate::error::Error;
use crate::send::Sending;

/// What the batch endpoints and the worker share. Cheap to clone.
#[derive(Clone)]
pub struct Batches {
    pub(super) store: BatchStore,
    pub(super) settings: BatchSettings,
    pub(super) resolver: Resolver,
    pub(super) worker: Worker,
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

    /// The batch tables (the console's lists).
    pub fn store(&self) -> &BatchStore {
        &self.store
    }

    /// The batch stored under `id`.
    ///
    /// # Errors
    /// 404 for an unknown id; database failures.
    pub async fn stored(&self, id: &str) -> Result<BatchRow, Error> {
        self.store
            .batch(id)
            .await?
            .ok_or_else(Error::batch_not_found)
    }

    /// Approves the batch `id` (the caller has checked that the approver asks) and wakes the
    /// worker: what `POST /batches/{id}/approve` and the console do. The batch as it stands
    /// after.
    ///
    /// # Errors
    /// 404 for an unknown id, 409 when the batch is not awaiting approval.
    pub async fn approve(&self, id: &str) -> Result<BatchRow, Error> {
        let batch = self.stored(id).await?;
        if !self.store.approve(batch.id).await? {
            return Err(Error::batch_state(batch.state().as_str()));
        }
        tracing::info!(batch = %batch.batch_id, "batch approved");
        self.worker.wake.notify_one();
        self.stored(id).await
    }

    /// Cancels the rows of batch `id` not yet submitted (those in flight finish) and wakes the
    /// worker. The batch as it stands after.
    ///
    /// # Errors
    /// 404 for an unknown id, 409 when the batch already ended.
    pub async fn cancel(&self, id: &str) -> Result<BatchRow, Error> {
        let batch = self.stored(id).await?;
        let callback = self.settings.callback_url.is_some();
        if !self.store.cancel(batch.id, callback).await? {
            return Err(Error::batch_state(batch.state().as_str()));
        }
        tracing::info!(batch = %batch.batch_id, "batch cancelled");
        self.worker.wake.notify_one();
        self.stored(id).await
    }

    /// Starts the worker; it stops when `stop` is cancelled (between transactions: what is
    /// in flight is resumed by the next start, under the same payment ids).
    pub fn start(&self, stop: CancellationToken) -> tokio::task::JoinHandle<()> {
        tokio::spawn(self.worker.clone().run(stop))
    }
}
