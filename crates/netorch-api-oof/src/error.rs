//! The family's errors, rendered as OSDF's `{"serviceException": {"text": ...}}`.
//!
//! OSDF fills `text` (and, for schema errors, `exceptionMessage` and `errorType`); clients read
//! `text` and some compare whole bodies, so the bodies are exactly OSDF's. Every variant still has
//! a stable code ([`OofError::code`]) for logs and tests.

use axum::{
    Json,
    http::StatusCode,
    response::{IntoResponse, Response},
};
use netorch_http::extract::{Part, Rejection};
use serde::Serialize;
use utoipa::ToSchema;

/// The inner object of an error body.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = OofServiceException)]
pub struct ServiceException {
    /// What happened, for a person (OSDF's texts where OSDF has one).
    pub text: String,
    /// The field path and the problem, for invalid requests.
    #[serde(rename = "exceptionMessage", skip_serializing_if = "Option::is_none")]
    pub exception_message: Option<String>,
    /// `InvalidClientRequest` on schema errors, as OSDF.
    #[serde(rename = "errorType", skip_serializing_if = "Option::is_none")]
    pub error_type: Option<&'static str>,
}

/// The error body.
#[derive(Debug, Serialize, ToSchema)]
pub struct OofErrorBody {
    /// The error.
    #[serde(rename = "serviceException")]
    pub service_exception: ServiceException,
}

/// What a request to the family can fail with.
#[derive(Debug, thiserror::Error)]
pub enum OofError {
    /// The request breaks the schema or cannot be planned (400); `path` names the field, if any.
    #[error("{path}: {message}")]
    Invalid {
        /// Field path (`requestInfo.requestId`), empty when the whole request is at fault.
        path: String,
        /// The problem.
        message: String,
    },
    /// A policy refuses the request as given (400, OSDF's plain `text`).
    #[error("{0}")]
    Refused(String),
    /// No `Authorization` header (400, as OSDF).
    #[error("missing Authorization header")]
    MissingAuthorization,
    /// Wrong credentials (401).
    #[error("unauthorized")]
    Unauthorized,
    /// Authenticated, not allowed (403).
    #[error("{0}")]
    Forbidden(String),
    /// No such request or policy (404).
    #[error("{0}")]
    NotFound(String),
    /// The route does not serve this method (405).
    #[error("{0}")]
    MethodNotAllowed(String),
    /// Body over the limit (413).
    #[error("request body larger than {0} bytes")]
    TooLarge(usize),
    /// The store cannot be reached (503); logged, the caller is told to retry.
    #[error("{0}")]
    Unavailable(String),
    /// Anything else (500); logged, the caller gets OSDF's generic text.
    #[error("{0}")]
    Internal(String),
}

impl OofError {
    /// 400 at `path` (empty: the whole request).
    pub fn invalid(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Invalid {
            path: path.into(),
            message: message.into(),
        }
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Invalid { .. } | Self::Refused(_) | Self::MissingAuthorization => {
                StatusCode::BAD_REQUEST
            }
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            Self::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// A stable code: `InvalidClientRequest`, `MissingAuthorization`, `Unauthorized`, `Forbidden`,
    /// `NotFound`, `MethodNotAllowed`, `PayloadTooLarge`, `ServiceUnavailable`, `InternalError`
    /// (on the wire only for invalid requests, in `errorType`, as OSDF).
    pub fn code(&self) -> &'static str {
        match self {
            Self::Invalid { .. } | Self::Refused(_) => "InvalidClientRequest",
            Self::MissingAuthorization => "MissingAuthorization",
            Self::Unauthorized => "Unauthorized",
            Self::Forbidden(_) => "Forbidden",
            Self::NotFound(_) => "NotFound",
            Self::MethodNotAllowed(_) => "MethodNotAllowed",
            Self::TooLarge(_) => "PayloadTooLarge",
            Self::Unavailable(_) => "ServiceUnavailable",
            Self::Internal(_) => "InternalError",
        }
    }

    fn exception(&self) -> ServiceException {
        let (text, exception_message) = match self {
            Self::Invalid { path, message } => {
                let at = if path.is_empty() {
                    String::new()
                } else {
                    format!("{path}: ")
                };
                (
                    "Client sent an invalid request".to_string(),
                    Some(format!("{at}{message}")),
                )
            }
            Self::MissingAuthorization => (
                "Missing Authorization header: send HTTP Basic credentials of a netorch user allowed to place"
                    .to_string(),
                None,
            ),
            Self::Unauthorized => ("Unauthorized, check username and password".to_string(), None),
            Self::TooLarge(n) if n % 1_000_000 == 0 => (
                format!("Request body larger than {} MB", n / 1_000_000),
                None,
            ),
            Self::TooLarge(n) => (format!("Request body larger than {n} bytes"), None),
            Self::Unavailable(m) => {
                tracing::warn!(error = %m, "placement store unavailable");
                (
                    "Service temporarily unavailable, retry later".to_string(),
                    None,
                )
            }
            Self::Internal(m) => {
                tracing::error!(error = %m, "placement request failed");
                (
                    "Unhandled internal exception, request could not be processed".to_string(),
                    None,
                )
            }
            Self::Refused(m)
            | Self::Forbidden(m)
            | Self::NotFound(m)
            | Self::MethodNotAllowed(m) => (m.clone(), None),
        };
        ServiceException {
            text,
            exception_message,
            error_type: matches!(self, Self::Invalid { .. }).then(|| self.code()),
        }
    }
}

impl IntoResponse for OofError {
    fn into_response(self) -> Response {
        let body = OofErrorBody {
            service_exception: self.exception(),
        };
        (self.status(), Json(body)).into_response()
    }
}

impl From<netorch_core::StoreError> for OofError {
    fn from(e: netorch_core::StoreError) -> Self {
        use netorch_core::StoreError as E;
        match e {
            E::NotFound { kind, key } => Self::NotFound(format!("no {kind} '{key}'")),
            E::Unavailable(m) => Self::Unavailable(m),
            E::Conflict(m) | E::InUse(m) | E::Internal(m) => Self::Internal(m),
        }
    }
}

impl From<netorch_auth::AuthError> for OofError {
    fn from(e: netorch_auth::AuthError) -> Self {
        match e {
            netorch_auth::AuthError::Store(s) => s.into(),
            _ => Self::Unauthorized,
        }
    }
}

impl From<Rejection> for OofError {
    fn from(r: Rejection) -> Self {
        match r.part {
            Part::Body if r.too_large() => Self::TooLarge(1_000_000),
            Part::Body => Self::invalid("", r.message),
            Part::Path => Self::invalid("path", r.message),
            Part::Query => Self::invalid(
                r.field
                    .map_or_else(|| "query".into(), |f| format!("query.{f}")),
                r.message,
            ),
        }
    }
}
