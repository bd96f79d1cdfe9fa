//! [`Batches`]: what the batch endpoints and the worker share.

use std::sync::Arc;

use service::Database;
use stellar_base::KeyPair;
use stellar_toml::Resolver;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::settings::BatchSettings;
use super::store::BatchStore;
use super::worker::Worker;
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

    /// Starts the worker; it stops when `stop` is cancelled (between transactions: what is
    /// in flight is resumed by the next start, under the same payment ids).
    pub fn start(&self, stop: CancellationToken) -> tokio::task::JoinHandle<()> {
        tokio::spawn(self.worker.clone().run(stop))
    }
}
