//! The family's failures and their two wire shapes: NCMP's `{status, message, details}` (the
//! current DMI contract) and the seed's RESTCONF-style `{"error": {error-type, error-tag,
//! error-message}}`. Handlers compute a [`Failure`]; the route decides the shape.

use axum::{
    Json,
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use netorch_netconf::{ModelError, NetconfError};
use serde::Serialize;
use serde_json::json;
use utoipa::ToSchema;

/// Why a request failed, whatever the shape it is rendered in.
#[derive(Debug, Clone)]
pub struct Failure {
    /// HTTP status.
    pub status: StatusCode,
    /// What happened.
    pub message: String,
    /// The cause in more detail (the device's words when it refused).
    pub details: String,
    /// RESTCONF error-type (`protocol`, `application`, `transport`, `rpc`).
    pub error_type: &'static str,
    /// RESTCONF error-tag (`invalid-value`, `data-exists`...).
    pub error_tag: String,
}

impl Failure {
    fn new(status: StatusCode, error_type: &'static str, tag: &str, message: String) -> Self {
        Self {
            status,
            details: message.clone(),
            message,
            error_type,
            error_tag: tag.into(),
        }
    }

    /// Malformed request (400).
    pub fn bad_request(m: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "protocol",
            "malformed-message",
            m.into(),
        )
    }

    /// A value the model refuses (400).
    pub fn invalid(m: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "application",
            "invalid-value",
            m.into(),
        )
    }

    /// Unknown CM handle or resource (404).
    pub fn not_found(m: impl Into<String>) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "application",
            "invalid-value",
            m.into(),
        )
    }

    /// Not supported (501).
    pub fn not_implemented(m: impl Into<String>) -> Self {
        Self::new(
            StatusCode::NOT_IMPLEMENTED,
            "application",
            "operation-not-supported",
            m.into(),
        )
    }

    /// Missing or invalid credentials (401).
    pub fn unauthorized(m: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "protocol",
            "access-denied",
            m.into(),
        )
    }

    /// Valid credentials without the permission (403).
    pub fn forbidden(m: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "protocol", "access-denied", m.into())
    }

    /// State conflict (409).
    pub fn conflict(m: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "application", "data-exists", m.into())
    }

    /// The handle's models are not available yet (503): NCMP locks the handle and retries.
    pub fn unavailable(m: impl Into<String>) -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "application",
            "resource-denied",
            m.into(),
        )
    }

    /// Anything else (500); the cause is logged.
    pub fn internal(m: impl Into<String>) -> Self {
        let m = m.into();
        tracing::error!(error = %m, "DMI request failed");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "application",
            "operation-failed",
            "internal error; see the server log".into(),
        )
    }

    /// With more detail.
    pub fn with_details(mut self, d: impl Into<String>) -> Self {
        self.details = d.into();
        self
    }
}

impl From<netorch_core::StoreError> for Failure {
    fn from(e: netorch_core::StoreError) -> Self {
        match e {
            netorch_core::StoreError::Unavailable(m) => Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "application",
                "resource-denied",
                format!("the store is unavailable: {m}"),
            ),
            netorch_core::StoreError::Conflict(m) => Self::conflict(m),
            other => Self::internal(other.to_string()),
        }
    }
}

impl From<netorch_auth::AuthError> for Failure {
    fn from(e: netorch_auth::AuthError) -> Self {
        match e {
            netorch_auth::AuthError::Store(s) => s.into(),
            other => Self::unauthorized(other.to_string()),
        }
    }
}

impl From<ModelError> for Failure {
    fn from(e: ModelError) -> Self {
        match e {
            ModelError::UnknownPath(m) => {
                Self::new(StatusCode::BAD_REQUEST, "application", "unknown-element", m)
            }
            ModelError::Invalid(m) => Self::invalid(m),
            ModelError::DataMissing(m) => {
                Self::new(StatusCode::NOT_FOUND, "application", "data-missing", m)
            }
            ModelError::Unsupported(m) => Self::not_implemented(m),
        }
    }
}

impl From<NetconfError> for Failure {
    fn from(e: NetconfError) -> Self {
        let text = e.to_string();
        match e {
            NetconfError::UnknownDevice(_) => Self::not_found(text),
            NetconfError::Unreachable(_) => Self::new(
                StatusCode::BAD_GATEWAY,
                "transport",
                "resource-denied",
                text,
            ),
            NetconfError::Authentication(_) => {
                Self::new(StatusCode::BAD_GATEWAY, "transport", "access-denied", text)
            }
            NetconfError::Timeout(_) => Self::new(
                StatusCode::GATEWAY_TIMEOUT,
                "transport",
                "resource-denied",
                text,
            ),
            NetconfError::SessionLost(_) | NetconfError::Protocol(_) => Self::new(
                StatusCode::BAD_GATEWAY,
                "transport",
                "operation-failed",
                text,
            ),
            NetconfError::Rejected {
                error_type,
                tag,
                message,
                path,
                app_tag,
            } => {
                // RFC 8040 section 7's mapping, except that a YANG constraint the device checks
                // (must, unique, min/max-elements) is the client's data: 400, not 500.
                let status = match tag.as_str() {
                    "data-exists" | "lock-denied" | "in-use" | "resource-denied" => {
                        StatusCode::CONFLICT
                    }
                    "data-missing" => StatusCode::NOT_FOUND,
                    "access-denied" => StatusCode::FORBIDDEN,
                    "operation-not-supported" => StatusCode::NOT_IMPLEMENTED,
                    "operation-failed" | "rollback-failed" | "partial-operation"
                        if app_tag.as_deref().is_none_or(|a| {
                            !matches!(
                                a,
                                "must-violation"
                                    | "data-not-unique"
                                    | "too-many-elements"
                                    | "too-few-elements"
                                    | "missing-choice"
                                    | "instance-required"
                            )
                        }) && !message.contains("must")
                            && !message.contains("constraint") =>
                    {
                        StatusCode::INTERNAL_SERVER_ERROR
                    }
                    _ => StatusCode::BAD_REQUEST,
                };
                let et: &'static str = match error_type.as_str() {
                    "transport" => "transport",
                    "rpc" => "rpc",
                    "protocol" => "protocol",
                    _ => "application",
                };
                let details = match path {
                    Some(p) => format!("the device refused ({tag}) at {p}: {message}"),
                    None => format!("the device refused ({tag}): {message}"),
                };
                Self {
                    status,
                    message,
                    details,
                    error_type: et,
                    error_tag: tag,
                }
            }
        }
    }
}

/// NCMP's error body (`ErrorMessage` of the DMI OpenAPI).
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = DmiErrorMessage)]
pub struct NcmpErrorBody {
    /// Status code and reason, as Spring prints them (`404 NOT_FOUND`).
    pub status: String,
    /// What happened.
    pub message: String,
    /// Detail (the device's words when it refused).
    pub details: String,
}

/// A failure answered in NCMP's shape.
#[derive(Debug)]
pub struct NcmpError(pub Failure);

impl<T: Into<Failure>> From<T> for NcmpError {
    fn from(f: T) -> Self {
        NcmpError(f.into())
    }
}

fn spring_status(s: StatusCode) -> String {
    let reason = s
        .canonical_reason()
        .unwrap_or("Unknown")
        .to_ascii_uppercase()
        .replace([' ', '-'], "_");
    format!("{} {reason}", s.as_u16())
}

impl IntoResponse for NcmpError {
    fn into_response(self) -> Response {
        let f = self.0;
        let body = NcmpErrorBody {
            status: spring_status(f.status),
            message: f.message,
            details: f.details,
        };
        let mut r = (f.status, Json(body)).into_response();
        if f.status == StatusCode::UNAUTHORIZED {
            r.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"netorch\""),
            );
        }
        r
    }
}

/// The seed's error body: RESTCONF's `errors` reduced to one `error`.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = DmiSeedError)]
pub struct SeedErrorBody {
    /// The error.
    pub error: SeedErrorDetail,
}

/// One error of the seed's body.
#[derive(Debug, Serialize, ToSchema)]
pub struct SeedErrorDetail {
    /// `protocol`, `application`, `transport` or `rpc`.
    #[serde(rename = "error-type")]
    pub error_type: String,
    /// RFC 8040 error tag.
    #[serde(rename = "error-tag")]
    pub error_tag: String,
    /// What happened (the device's words when it refused).
    #[serde(rename = "error-message")]
    pub error_message: String,
}

/// A failure answered in the seed's shape.
#[derive(Debug)]
pub struct SeedError(pub Failure);

impl<T: Into<Failure>> From<T> for SeedError {
    fn from(f: T) -> Self {
        SeedError(f.into())
    }
}

impl IntoResponse for SeedError {
    fn into_response(self) -> Response {
        let f = self.0;
        let message = if f.details != f.message && !f.details.is_empty() {
            f.details
        } else {
            f.message
        };
        let mut r = (
            f.status,
            [(header::CONTENT_TYPE, "application/json")],
            json!({"error": {
                "error-type": f.error_type,
                "error-tag": f.error_tag,
                "error-message": message,
            }})
            .to_string(),
        )
            .into_response();
        if f.status == StatusCode::UNAUTHORIZED {
            r.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"netorch\""),
            );
        }
        r
    }
}

impl From<netorch_http::extract::Rejection> for Failure {
    fn from(r: netorch_http::extract::Rejection) -> Self {
        if r.too_large() {
            return Self::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "protocol",
                "too-big",
                "request body larger than the server's limit (server.body_limit)".into(),
            );
        }
        Self::new(r.status, "protocol", "malformed-message", r.message)
    }
}
