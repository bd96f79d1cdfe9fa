//! bridge's integration tests, one binary: a sandbox network and the bridge in one process
//! (`common`), on every backend (`service::backend_tests!`), with scripted back offices,
//! stellar.toml hosts and broken Horizons (wiremock); the sending side (`payment`, `builder`,
//! `exactly_once`, the compliance path with two banks' compliance servers), the receiving side
//! (`receive*`), several instances on one database (`instances`), the legacy config files and
//! databases, and the migrations in step.

mod batch_throughput;
mod batches;
mod builder;
mod channels;
mod common;
mod compliance_path;
mod console;
mod console_browser;
mod cosigning;
mod exactly_once;
mod fees_and_queue;
mod instances;
mod legacy_config;
mod legacy_database;
mod migrations_in_step;
mod payment;
mod receive;
mod receive_compliance;
mod receive_recovery;
mod receive_throughput;
mod sep31;
