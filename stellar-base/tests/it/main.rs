//! stellar-base's integration tests, one binary: the shared vectors and interop with the official
//! Python SDK (its script is in `tests/interop/`).

mod interop;
mod vectors;
