//! Errors returned by repository ports.

/// What a repository call can fail with. Constraint violations are mapped to `Conflict` or
/// `InUse` inside the store so that callers never see SQL states.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// No record with that key.
    #[error("{kind} '{key}' not found")]
    NotFound {
        /// Kind of record ("user", "project", ...).
        kind: &'static str,
        /// The key that was looked up.
        key: String,
    },
    /// A uniqueness constraint was violated.
    #[error("{0}")]
    Conflict(String),
    /// The record is still referenced by others (foreign key).
    #[error("{0}")]
    InUse(String),
    /// The database could not be reached or timed out.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// Anything else (corrupt row, unexpected SQL error). Logged, answered with a generic 500.
    #[error("store error: {0}")]
    Internal(String),
}
