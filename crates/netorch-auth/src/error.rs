//! Identity errors. Variants carry the text a client is shown; families map them to status codes.

use netorch_core::StoreError;

/// What an identity use-case can fail with.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// Missing, invalid or expired credentials (OSM: 401 with `WWW-Authenticate`).
    #[error("{0}")]
    Unauthenticated(String),
    /// Authenticated but not allowed (OSM answers 401 without `WWW-Authenticate`).
    #[error("{0}")]
    Denied(String),
    /// Explicitly forbidden operation (OSM 403: e.g. deleting the `system_admin` role).
    #[error("{0}")]
    Forbidden(String),
    /// Unknown record.
    #[error("{0}")]
    NotFound(String),
    /// Duplicate name, record in use, self-deletion.
    #[error("{0}")]
    Conflict(String),
    /// Well-formed but invalid input (OSM 422).
    #[error("{0}")]
    Invalid(String),
    /// Malformed request (OSM 400).
    #[error("{0}")]
    BadRequest(String),
    /// Infrastructure failure; logged, answered generically.
    #[error(transparent)]
    Store(StoreError),
}

impl From<StoreError> for AuthError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound { kind, key } => {
                AuthError::NotFound(format!("{kind} '{key}' not found"))
            }
            StoreError::Conflict(m) | StoreError::InUse(m) => AuthError::Conflict(m),
            other => AuthError::Store(other),
        }
    }
}
