//! callbacks-example's integration tests, one binary.

mod callbacks;
