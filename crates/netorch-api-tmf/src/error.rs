//! The family's errors, rendered as TMF630's `Error`: `{code, reason, message, status, @type}`.

use axum::{
    Json,
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde::Serialize;
use utoipa::ToSchema;

/// The error body (TMF630 `Error`).
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = TmfErrorBody)]
pub struct ErrorBody {
    /// A stable, application-level code (`INVALID_BODY`, `NOT_FOUND`...).
    pub code: String,
    /// A short explanation.
    pub reason: String,
    /// What exactly is wrong and what to do.
    pub message: String,
    /// The HTTP status, as a string.
    pub status: String,
    /// Always `Error`.
    #[serde(rename = "@type")]
    pub kind: String,
}

/// What a request can fail with.
#[derive(Debug, thiserror::Error)]
pub enum TmfError {
    /// Malformed or invalid body, parameters or query (400).
    #[error("{0}")]
    BadRequest(String),
    /// Missing, invalid or expired token (401).
    #[error("{0}")]
    Unauthenticated(String),
    /// Valid token without the role the operation needs (403).
    #[error("{0}")]
    Forbidden(String),
    /// No such entity (404).
    #[error("{0}")]
    NotFound(String),
    /// The operation conflicts with the entity's state (409).
    #[error("{0}")]
    Conflict(String),
    /// Body over the server's limit (413).
    #[error("request body larger than the server's limit (server.body_limit)")]
    TooLarge,
    /// The route does not serve this method (405).
    #[error("{0}")]
    MethodNotAllowed(String),
    /// A peer OSS failed: unreachable, refused our credentials, or answered garbage (502).
    #[error("{0}")]
    BadGateway(String),
    /// The store cannot be reached (503); the cause is logged.
    #[error("{0}")]
    Unavailable(String),
    /// Anything else (500); the cause is logged, the caller gets a generic text.
    #[error("{0}")]
    Internal(String),
}

impl TmfError {
    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            Self::BadGateway(_) => StatusCode::BAD_GATEWAY,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The stable code of the body.
    pub fn code(&self) -> &'static str {
        match self {
            Self::BadRequest(_) => "INVALID_REQUEST",
            Self::Unauthenticated(_) => "UNAUTHENTICATED",
            Self::Forbidden(_) => "FORBIDDEN",
            Self::NotFound(_) => "NOT_FOUND",
            Self::Conflict(_) => "CONFLICT",
            Self::TooLarge => "PAYLOAD_TOO_LARGE",
            Self::MethodNotAllowed(_) => "METHOD_NOT_ALLOWED",
            Self::BadGateway(_) => "PEER_FAILED",
            Self::Unavailable(_) => "SERVICE_UNAVAILABLE",
            Self::Internal(_) => "INTERNAL_ERROR",
        }
    }
}

impl From<netorch_core::StoreError> for TmfError {
    fn from(e: netorch_core::StoreError) -> Self {
        use netorch_core::StoreError as E;
        match e {
            E::NotFound { kind, key } => Self::NotFound(format!("{kind} '{key}' not found")),
            E::Conflict(m) | E::InUse(m) => Self::Conflict(m),
            E::Unavailable(m) => Self::Unavailable(m),
            E::Internal(m) => Self::Internal(m),
        }
    }
}

impl From<netorch_auth::AuthError> for TmfError {
    fn from(e: netorch_auth::AuthError) -> Self {
        use netorch_auth::AuthError as A;
        match e {
            A::Unauthenticated(m) => Self::Unauthenticated(m),
            A::Denied(m) | A::Forbidden(m) => Self::Forbidden(m),
            A::NotFound(m) => Self::NotFound(m),
            A::Conflict(m) => Self::Conflict(m),
            A::Invalid(m) | A::BadRequest(m) => Self::BadRequest(m),
            A::Store(s) => s.into(),
        }
    }
}

impl From<netorch_http::extract::Rejection> for TmfError {
    fn from(r: netorch_http::extract::Rejection) -> Self {
        use netorch_http::extract::Part;
        match r.part {
            Part::Body if r.too_large() => Self::TooLarge,
            Part::Body => Self::BadRequest(format!("request body: {}", r.message)),
            Part::Path => Self::BadRequest(format!("path: {}", r.message)),
            Part::Query => Self::BadRequest(format!("query: {}", r.message)),
        }
    }
}

impl IntoResponse for TmfError {
    fn into_response(self) -> Response {
        let status = self.status();
        let message = match &self {
            Self::Unavailable(m) => {
                tracing::warn!(error = %m, "store unavailable");
                "the service is temporarily unavailable; retry later".to_string()
            }
            Self::Internal(m) => {
                tracing::error!(error = %m, "internal error");
                "internal server error".to_string()
            }
            other => other.to_string(),
        };
        let body = ErrorBody {
            code: self.code().into(),
            reason: status.canonical_reason().unwrap_or("Error").into(),
            message,
            status: status.as_u16().to_string(),
            kind: "Error".into(),
        };
        let mut r = (status, Json(body)).into_response();
        if status == StatusCode::UNAUTHORIZED {
            r.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        r
    }
}
