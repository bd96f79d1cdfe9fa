//! horizon's integration tests, one binary: the client against the sandbox (requests, streams)
//! and against broken servers (`hostile`). Shared helpers are in `common`.

mod common;
mod hostile;
mod requests;
mod streams;
