//! SEP-1 stellar.toml resolution and the outbound HTTP policy (being written).
