//! The running sandbox: configuration, the ledger-closing task, and the HTTP server's
//! lifecycle.
//!
//! [`Sandbox::start`] binds, spawns the closing task and the actix-web server on the current
//! tokio runtime, and returns a [`RunningSandbox`] that tests drive (fund accounts, inject
//! faults) and shut down.

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;

use actix_web::{App, HttpServer, web};
use std::sync::mpsc;
use std::thread::JoinHandle;
use stellar_base::{KeyPair, Network, PublicKey};

pub use crate::config::{SandboxConfig, USAGE, config_from_args};
use crate::faults::Faults;
use crate::ledger::{Ledger, Outcome};
pub use crate::node::MAX_TRANSACTIONS_PER_LEDGER;
use crate::node::{Shared, spawn_closer};
use crate::queue::Admission;
use crate::state::Account;

/// Why the sandbox could not start or a library call failed.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    /// Binding or starting the HTTP server failed.
    #[error("cannot start the sandbox: {0}")]
    Io(#[from] std::io::Error),
    /// The sandbox stopped before answering.
    #[error("the sandbox is shutting down")]
    ShuttingDown,
    /// A friendbot funding transaction failed (e.g. the account already exists).
    #[error("funding failed: {0}")]
    FundingFailed(String),
    /// The queue already holds a transaction from this source (stellar-core's
    /// `TRY_AGAIN_LATER`), or this one was dropped recently.
    #[error("try again later: the source account already has a transaction in the queue")]
    TryAgainLater,
    /// The queue dropped the transaction before any ledger included it (it waited too long,
    /// or its time bounds passed).
    #[error("the transaction was dropped from the queue")]
    Dropped,
}

/// Entry point of the library.
#[derive(Debug, Clone, Copy, Default)]
pub struct Sandbox;

impl Sandbox {
    /// Binds `config.bind`, starts closing ledgers (on a thread of its own) and serving HTTP
    /// (actix-web's own threads, driven from the current tokio runtime).
    ///
    /// # Errors
    /// [`SandboxError::Io`] when the address cannot be bound.
    pub async fn start(config: SandboxConfig) -> Result<RunningSandbox, SandboxError> {
        let listener = TcpListener::bind(config.bind)?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared::new(config));
        let data = web::Data::from(shared.clone());
        let faults_enabled = shared.config.faults_enabled;
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .configure(|cfg| crate::http::configure(cfg, faults_enabled))
        })
        .workers(2)
        .disable_signals()
        .shutdown_timeout(1)
        .listen(listener)?
        .run();
        let handle = server.handle();
        let server_task = tokio::spawn(async move {
            if let Err(error) = server.await {
                tracing::error!(%error, "sandbox HTTP server stopped");
            }
        });
        let (stop_closer, stop_rx) = mpsc::channel();
        let closer = spawn_closer(shared.clone(), stop_rx)?;
        Ok(RunningSandbox {
            addr,
            shared,
            handle,
            server_task: Some(server_task),
            stop_closer,
            closer: Some(closer),
        })
    }
}

/// A started sandbox. Dropping it stops the server without waiting.
#[derive(Debug)]
pub struct RunningSandbox {
    addr: SocketAddr,
    shared: Arc<Shared>,
    handle: actix_web::dev::ServerHandle,
    server_task: Option<tokio::task::JoinHandle<()>>,
    stop_closer: mpsc::Sender<()>,
    closer: Option<JoinHandle<()>>,
}

impl RunningSandbox {
    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The Horizon URL, e.g. `http://127.0.0.1:8000` (no trailing slash).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The network passphrase.
    pub fn passphrase(&self) -> &str {
        &self.shared.config.passphrase
    }

    /// The network.
    pub fn network(&self) -> Network {
        Network::new(self.shared.config.passphrase.clone())
    }

    /// The root account's key pair (holds every lumen not yet given away).
    pub fn root_keypair(&self) -> KeyPair {
        self.shared.ledger().root_keypair().clone()
    }

    /// The fault-injection handle.
    pub fn faults(&self) -> Faults {
        self.shared.faults.clone()
    }

    /// Creates `account` with 10 000 XLM from the root account, as `GET /friendbot` does, and
    /// returns once its ledger has closed.
    ///
    /// # Errors
    /// [`SandboxError::FundingFailed`] (e.g. the account exists) or
    /// [`SandboxError::ShuttingDown`].
    pub async fn fund(&self, account: PublicKey) -> Result<(), SandboxError> {
        match self.shared.fund(account).await {
            None => Err(SandboxError::ShuttingDown),
            Some(Outcome::Included(i)) => {
                let ledger = self.shared.ledger();
                let tx = &ledger.history().transactions[i];
                if tx.successful {
                    Ok(())
                } else {
                    let codes = crate::codes::result_codes(&tx.result());
                    Err(SandboxError::FundingFailed(format!("{codes:?}")))
                }
            }
            Some(Outcome::Rejected { result, .. }) => {
                let codes = crate::codes::result_codes(&result);
                Err(SandboxError::FundingFailed(format!("{codes:?}")))
            }
        }
    }

    /// Submits an envelope without HTTP and waits for its ledger to close. The result says
    /// whether it succeeded (`sandbox::codes::result_codes` gives Horizon's codes).
    ///
    /// # Errors
    /// [`SandboxError::ShuttingDown`].
    pub async fn submit(
        &self,
        envelope: &stellar_base::Envelope,
    ) -> Result<stellar_base::xdr::TransactionResult, SandboxError> {
        let (_, admission, waiter) = self.shared.offer(Box::new(envelope.as_xdr().clone()));
        match admission {
            Admission::Error(result) => return Ok(*result),
            Admission::TryAgainLater => return Err(SandboxError::TryAgainLater),
            Admission::Pending | Admission::Duplicate => {}
        }
        let waited = match waiter {
            Some(waiter) => waiter.await.map_err(|_| SandboxError::ShuttingDown)?,
            None => return Err(SandboxError::Dropped),
        };
        match waited {
            None => Err(SandboxError::Dropped),
            Some(Outcome::Included(i)) => {
                Ok(self.shared.ledger().history().transactions[i].result())
            }
            Some(Outcome::Rejected { result, .. }) => Ok(result),
        }
    }

    /// A copy of an account's current state.
    pub fn account(&self, id: &PublicKey) -> Option<Account> {
        self.shared.ledger().account(id).cloned()
    }

    /// The latest closed ledger's sequence.
    pub fn latest_ledger(&self) -> u32 {
        self.shared.ledger().latest().sequence
    }

    /// Runs `f` with read access to the whole ledger (state and history).
    pub fn with_ledger<R>(&self, f: impl FnOnce(&Ledger) -> R) -> R {
        f(&self.shared.ledger())
    }

    /// Closes a ledger now, with whatever is queued (also while closing is paused).
    pub fn close_ledger(&self) {
        self.shared.close_now();
    }

    /// Stops closing ledgers and the HTTP server (open streams are dropped), and waits for
    /// both.
    pub async fn shutdown(mut self) {
        self.stop();
        self.handle.stop(false).await;
        if let Some(task) = self.server_task.take() {
            let _ = task.await;
        }
        if let Some(closer) = self.closer.take() {
            let _ = tokio::task::spawn_blocking(move || closer.join()).await;
        }
    }

    fn stop(&self) {
        let _ = self.stop_closer.send(());
        self.shared.faults.close_streams();
    }
}

impl Drop for RunningSandbox {
    fn drop(&mut self) {
        self.stop();
        // Sends the stop command right away; the returned future only waits for completion.
        // The server task is left to process it; the closing thread ends on its own.
        drop(self.handle.stop(false));
    }
}
