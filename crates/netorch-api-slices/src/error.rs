//! The family's errors, rendered as `{"detail": [{"loc": [...], "msg": ..., "type": ...}]}`.

use axum::{
    Json,
    http::StatusCode,
    response::{IntoResponse, Response},
};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

/// One entry of an error body.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[schema(as = SlicesErrorDetail)]
pub struct Detail {
    /// Where: `["Site"]`, `["Date"]`, `["Bandwidth"]`, or a field path (`["body", "bandwidth"]`).
    #[schema(value_type = Vec<String>)]
    pub loc: Vec<Value>,
    /// What is wrong and what to do.
    pub msg: String,
    /// `NotValid` for domain refusals; pydantic-style types for malformed input.
    #[serde(rename = "type")]
    pub kind: String,
}

/// The error body.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = SlicesErrorBody)]
pub struct ErrorBody {
    /// Every problem found.
    pub detail: Vec<Detail>,
}

/// Where a domain refusal points.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Loc {
    /// Unknown or unconnected sites.
    Site,
    /// Dates.
    Date,
    /// Bandwidth or VLANs.
    Bandwidth,
}

impl Loc {
    fn as_str(self) -> &'static str {
        match self {
            Loc::Site => "Site",
            Loc::Date => "Date",
            Loc::Bandwidth => "Bandwidth",
        }
    }
}

/// What a request can fail with.
#[derive(Debug, thiserror::Error)]
pub enum SlicesError {
    /// Malformed body or parameters (422).
    #[error("invalid request")]
    Validation(Vec<Detail>),
    /// A domain rule refuses the request as given (422).
    #[error("{1}")]
    Invalid(Loc, String),
    /// Valid, but the resources are taken (409).
    #[error("{1}")]
    Conflict(Loc, String),
    /// No such reservation for this experiment (404).
    #[error("{0}")]
    NotFound(String),
    /// Missing or invalid token (401); the location names the token.
    #[error("{1}")]
    Unauthenticated(Vec<Value>, String),
    /// Valid token, insufficient role (403).
    #[error("{0}")]
    Forbidden(String),
    /// Body over the limit (413).
    #[error("request body larger than {0} bytes")]
    TooLarge(usize),
    /// Body over the framework's limit (413), whose value the rejection does not carry.
    #[error("request body larger than the server's limit")]
    BodyLimit,
    /// The route does not serve this method (405).
    #[error("{0}")]
    MethodNotAllowed(String),
    /// Store or key failure (503/500), logged; the caller gets a generic message.
    #[error("{0}")]
    Internal(String),
    /// The store cannot be reached (503).
    #[error("{0}")]
    Unavailable(String),
}

impl SlicesError {
    /// 401 for the `Authorization` header.
    pub fn header_auth(msg: impl Into<String>) -> Self {
        Self::Unauthenticated(vec!["header".into(), "Authorization".into()], msg.into())
    }
}

impl From<netorch_core::StoreError> for SlicesError {
    fn from(e: netorch_core::StoreError) -> Self {
        use netorch_core::StoreError as E;
        match e {
            E::NotFound { kind, key } => Self::NotFound(format!("{kind} '{key}' not found")),
            E::Conflict(m) => Self::Conflict(Loc::Bandwidth, m),
            E::InUse(m) => Self::Conflict(Loc::Site, m),
            E::Unavailable(m) => Self::Unavailable(m),
            E::Internal(m) => Self::Internal(m),
        }
    }
}

impl From<netorch_http::extract::Rejection> for SlicesError {
    fn from(r: netorch_http::extract::Rejection) -> Self {
        use netorch_http::extract::Part;
        let (loc, kind) = match r.part {
            Part::Body if r.too_large() => return Self::BodyLimit,
            Part::Body => (vec![Value::from("body")], "body_error"),
            Part::Path => (vec![Value::from("path")], "path_error"),
            Part::Query => {
                let mut loc = vec![Value::from("query")];
                loc.extend(r.field.map(Value::from));
                (loc, "query_error")
            }
        };
        Self::Validation(vec![Detail {
            loc,
            msg: r.message,
            kind: kind.into(),
        }])
    }
}

fn one(loc: Vec<Value>, msg: String, kind: &str) -> Vec<Detail> {
    vec![Detail {
        loc,
        msg,
        kind: kind.into(),
    }]
}

impl IntoResponse for SlicesError {
    fn into_response(self) -> Response {
        let (status, detail) = match self {
            Self::Validation(d) => (StatusCode::UNPROCESSABLE_ENTITY, d),
            Self::Invalid(l, m) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                one(vec![l.as_str().into()], m, "NotValid"),
            ),
            Self::Conflict(l, m) => (
                StatusCode::CONFLICT,
                one(vec![l.as_str().into()], m, "NotValid"),
            ),
            Self::NotFound(m) => (
                StatusCode::NOT_FOUND,
                one(vec!["path".into(), "id".into()], m, "NotFound"),
            ),
            Self::Unauthenticated(loc, m) => {
                let mut r = (
                    StatusCode::UNAUTHORIZED,
                    Json(ErrorBody {
                        detail: one(loc, m, "NotAuthenticated"),
                    }),
                )
                    .into_response();
                r.headers_mut().insert(
                    axum::http::header::WWW_AUTHENTICATE,
                    axum::http::HeaderValue::from_static("Bearer"),
                );
                return r;
            }
            Self::Forbidden(m) => (
                StatusCode::FORBIDDEN,
                one(
                    vec!["header".into(), "Authorization".into()],
                    m,
                    "Forbidden",
                ),
            ),
            Self::TooLarge(n) => (
                StatusCode::PAYLOAD_TOO_LARGE,
                one(
                    vec!["body".into()],
                    format!("request body larger than {n} bytes"),
                    "too_large",
                ),
            ),
            Self::BodyLimit => (
                StatusCode::PAYLOAD_TOO_LARGE,
                one(
                    vec!["body".into()],
                    "request body larger than the server's limit (server.body_limit)".into(),
                    "too_large",
                ),
            ),
            Self::MethodNotAllowed(m) => (
                StatusCode::METHOD_NOT_ALLOWED,
                one(vec!["method".into()], m, "MethodNotAllowed"),
            ),
            Self::Unavailable(m) => {
                tracing::warn!(error = %m, "connectivity store unavailable");
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    one(
                        vec![],
                        "service temporarily unavailable; retry".into(),
                        "Unavailable",
                    ),
                )
            }
            Self::Internal(m) => {
                tracing::error!(error = %m, "connectivity request failed");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    one(vec![], "internal error".into(), "Internal"),
                )
            }
        };
        (status, Json(ErrorBody { detail })).into_response()
    }
}
