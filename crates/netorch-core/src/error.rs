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

/// An error with its causes, `a: b: c`: HTTP clients' own text ("error sending request for url")
/// hides what an operator needs — a refused connection, a certificate no trusted CA signed. A
/// cause whose text its parent already carries is not repeated.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut next = e.source();
    while let Some(c) = next {
        let text = c.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        next = c.source();
    }
    out
}

#[cfg(test)]
mod tests {
    #[derive(Debug, thiserror::Error)]
    #[error("{0}")]
    struct E(String, #[source] Option<Box<E>>);

    #[test]
    fn an_error_chain_names_every_cause_once() {
        let inner = E("connection refused".into(), None);
        let mid = E(
            "connect error: connection refused".into(),
            Some(Box::new(inner)),
        );
        let top = E("error sending request".into(), Some(Box::new(mid)));
        assert_eq!(
            super::error_chain(&top),
            "error sending request: connect error: connection refused"
        );
    }
}
