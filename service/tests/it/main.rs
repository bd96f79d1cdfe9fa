//! service's integration tests, one binary: HTTP scaffolding under attack (stalled bodies, what
//! the codec refuses), what several instances on one database rely on (on every backend,
//! `service::backend_tests!`), and the metrics' memory. Tests that install or measure what is
//! process-wide (the log subscriber, the metrics recorder, resident memory) run alone in a child
//! process of this binary (`common::alone`).

mod body_deadline;
mod codec_rejections;
mod common;
mod exit_while_connecting;
mod instances;
mod metrics_memory;
