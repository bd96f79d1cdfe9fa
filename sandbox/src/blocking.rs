//! A sandbox for synchronous code: owns a small tokio runtime that serves in the background.
//!
//! For tests and tools that are not async (e.g. a test that starts another binary against the
//! sandbox). Do not use it from inside an async runtime: its methods block on its own runtime.

use std::net::SocketAddr;

use stellar_base::{Envelope, KeyPair, Network, PublicKey, xdr};

use crate::faults::Faults;
use crate::server::{RunningSandbox, Sandbox, SandboxConfig, SandboxError};
use crate::state::Account;

/// A running sandbox driven from synchronous code. Dropping it shuts the sandbox down.
#[derive(Debug)]
pub struct BlockingSandbox {
    // Declared before the runtime so that it is dropped while the runtime still runs.
    running: Option<RunningSandbox>,
    runtime: tokio::runtime::Runtime,
}

impl BlockingSandbox {
    /// Starts a sandbox on a new two-thread runtime.
    ///
    /// # Errors
    /// When the runtime cannot be built or the address cannot be bound.
    pub fn start(config: SandboxConfig) -> Result<Self, SandboxError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("sandbox")
            .enable_all()
            .build()?;
        let running = runtime.block_on(Sandbox::start(config))?;
        Ok(Self {
            running: Some(running),
            runtime,
        })
    }

    fn running(&self) -> &RunningSandbox {
        // Only `Drop` takes it out.
        self.running
            .as_ref()
            .expect("the sandbox runs until dropped")
    }

    /// The Horizon URL, e.g. `http://127.0.0.1:8000`.
    pub fn url(&self) -> String {
        self.running().url()
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.running().addr()
    }

    /// The network.
    pub fn network(&self) -> Network {
        self.running().network()
    }

    /// The root account's key pair.
    pub fn root_keypair(&self) -> KeyPair {
        self.running().root_keypair()
    }

    /// The fault-injection handle.
    pub fn faults(&self) -> Faults {
        self.running().faults()
    }

    /// Creates `account` with 10 000 XLM; returns once its ledger has closed.
    ///
    /// # Errors
    /// As [`RunningSandbox::fund`].
    pub fn fund(&self, account: PublicKey) -> Result<(), SandboxError> {
        self.runtime.block_on(self.running().fund(account))
    }

    /// Submits an envelope and waits for its ledger to close.
    ///
    /// # Errors
    /// As [`RunningSandbox::submit`].
    pub fn submit(&self, envelope: &Envelope) -> Result<xdr::TransactionResult, SandboxError> {
        self.runtime.block_on(self.running().submit(envelope))
    }

    /// A copy of an account's current state.
    pub fn account(&self, id: &PublicKey) -> Option<Account> {
        self.running().account(id)
    }
}

impl Drop for BlockingSandbox {
    fn drop(&mut self) {
        if let Some(running) = self.running.take() {
            self.runtime.block_on(running.shutdown());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serves_from_synchronous_code() {
        let sandbox = BlockingSandbox::start(SandboxConfig::for_tests()).unwrap();
        let key = KeyPair::random();
        sandbox.fund(key.public_key()).unwrap();
        assert_eq!(
            sandbox.account(&key.public_key()).unwrap().balance,
            crate::FRIENDBOT_AMOUNT
        );
        assert!(sandbox.fund(key.public_key()).is_err());
        let stream = std::net::TcpStream::connect(sandbox.addr());
        assert!(stream.is_ok());
    }
}
