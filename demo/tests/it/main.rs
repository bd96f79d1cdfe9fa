//! The demo's integration test, one binary.

mod demo;
