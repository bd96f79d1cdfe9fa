//! sandbox's integration tests, one binary: the sandbox on an ephemeral port driven over HTTP
//! (`http`), stellar-core's admission rules (`admission`), and interop with the official
//! Python SDK (its script is in `tests/interop/`). Helpers to start a sandbox and build and
//! submit transactions are in `common`.

mod admission;
mod common;
mod http;
mod interop;
