//! An in-memory, Horizon-compatible Stellar network (being written).
