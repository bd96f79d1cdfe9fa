//! stellar-toml's integration tests, one binary: parsing, fetching under the outbound policy, and
//! HTTPS with a private CA. Shared helpers are in `common`.

mod common;
mod fetch;
mod parse;
mod tls;
