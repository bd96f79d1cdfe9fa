//! Why a server could not start: the same three causes for all of them.

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    /// Bad configuration (including, for federation, a query that does not run).
    #[error("{0}")]
    Config(String),
    /// The database is unreachable or could not be migrated.
    #[error(transparent)]
    Database(#[from] crate::DbError),
    /// A port could not be bound.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}
