//! federation's integration tests, one binary: the server in-process on port 0 against a fresh
//! database on every backend (`service::backend_tests!`), the client, the legacy config files,
//! TLS, nginx, and interop with the official Python SDK (its script is in `tests/interop/`).
//! The `people` table and the server are `federation::testing`'s fixture.

mod api;
mod common;
mod health_and_metrics;
mod interop;
mod legacy_config;
mod nginx;
mod tls;
