//! compliance's integration tests, one binary: two banks in one process (`common`), on every
//! backend (`service::backend_tests!`), with scripted back offices (wiremock); the legacy
//! config files and databases; several instances on one database; the migrations in step;
//! interop with the official Python SDK
//! (its script is in `tests/interop/`).

mod auth_server;
mod common;
mod console;
mod exchange;
mod instances;
mod legacy_config;
mod legacy_database;
mod migrations_in_step;
mod sep31_anchor;
