//! `POST /oauth2/token`: an OAuth2 token endpoint (RFC 6749) over netorch identity, so that a peer
//! configured like OpenSlice's partner settings (`…OAUTH2_TOKEN_URI`, client id/secret, user name,
//! password, scopes) logs in to netorch. Grants: `password` (the user's credentials; the client is
//! not registered and only named) and `client_credentials` (the client id and secret are a netorch
//! user's name and password, for service accounts). The access token is a netorch token: the same
//! bearer works on every family. Errors in RFC 6749's own shape (`{error, error_description}`).

use axum::{
    Json,
    extract::State,
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use base64::Engine as _;
use netorch_auth::service::TokenRequest;
use netorch_http::osm::RemoteAddr;
use serde::Serialize;
use serde_json::json;
use utoipa::ToSchema;

use crate::TmfState;

mod extract {
    netorch_http::family_extractors!(super::OAuthError);
}

/// RFC 6749 §5.2 error body.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = OAuthErrorBody)]
pub struct OAuthErrorBody {
    /// `invalid_request`, `invalid_client`, `invalid_grant`, `unsupported_grant_type`...
    pub error: String,
    /// What is wrong.
    pub error_description: String,
}

/// What the token endpoint refuses with.
#[derive(Debug, thiserror::Error)]
pub enum OAuthError {
    /// Malformed request (400 `invalid_request`).
    #[error("{0}")]
    InvalidRequest(String),
    /// Bad client credentials (401 `invalid_client`, `WWW-Authenticate: Basic`).
    #[error("{0}")]
    InvalidClient(String),
    /// Bad user credentials (400 `invalid_grant`).
    #[error("{0}")]
    InvalidGrant(String),
    /// A grant type other than `password` and `client_credentials` (400).
    #[error("{0}")]
    UnsupportedGrantType(String),
    /// Not a POST (405 `invalid_request`).
    #[error("{0}")]
    MethodNotAllowed(String),
    /// A body over the server's limit (413 `invalid_request`).
    #[error("request body larger than the server's limit (server.body_limit)")]
    TooLarge,
    /// The identity store is unavailable (503 `temporarily_unavailable`).
    #[error("{0}")]
    Unavailable(String),
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let (status, code) = match &self {
            Self::InvalidRequest(_) => (StatusCode::BAD_REQUEST, "invalid_request"),
            Self::InvalidClient(_) => (StatusCode::UNAUTHORIZED, "invalid_client"),
            Self::InvalidGrant(_) => (StatusCode::BAD_REQUEST, "invalid_grant"),
            Self::UnsupportedGrantType(_) => (StatusCode::BAD_REQUEST, "unsupported_grant_type"),
            Self::TooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "invalid_request"),
            Self::MethodNotAllowed(_) => (StatusCode::METHOD_NOT_ALLOWED, "invalid_request"),
            Self::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "temporarily_unavailable"),
        };
        let description = match &self {
            Self::Unavailable(m) => {
                tracing::warn!(error = %m, "token endpoint: identity store unavailable");
                "the service is temporarily unavailable; retry later".to_string()
            }
            other => other.to_string(),
        };
        let mut r = (
            status,
            Json(OAuthErrorBody {
                error: code.into(),
                error_description: description,
            }),
        )
            .into_response();
        let h = r.headers_mut();
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if status == StatusCode::UNAUTHORIZED {
            h.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"netorch\""),
            );
        }
        r
    }
}

impl From<netorch_http::extract::Rejection> for OAuthError {
    fn from(r: netorch_http::extract::Rejection) -> Self {
        if r.too_large() {
            return Self::TooLarge;
        }
        Self::InvalidRequest(r.message)
    }
}

pub(crate) async fn method_not_allowed(method: axum::http::Method) -> OAuthError {
    OAuthError::MethodNotAllowed(format!(
        "method {method} is not supported: POST the token request"
    ))
}

/// Client credentials from `Authorization: Basic` (RFC 6749 §2.3.1: form-encoded, then base64).
fn basic_client(headers: &HeaderMap) -> Result<Option<(String, String)>, OAuthError> {
    let Some(raw) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let bad = || OAuthError::InvalidClient("malformed Basic client authentication".into());
    let text = raw.to_str().map_err(|_| bad())?;
    let Some((scheme, value)) = text.trim().split_once(' ') else {
        return Err(bad());
    };
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(bad());
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(value.trim())
        .map_err(|_| bad())?;
    let decoded = String::from_utf8(decoded).map_err(|_| bad())?;
    let (id, secret) = decoded.split_once(':').ok_or_else(bad)?;
    let unescape = |s: &str| {
        form_urlencoded::parse(format!("x={s}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default()
    };
    Ok(Some((unescape(id), unescape(secret))))
}

/// Issue an access token.
#[utoipa::path(post, path = "/oauth2/token", tag = "oauth2", operation_id = "oauth2_token",
    summary = "OAuth2 token endpoint (password and client_credentials grants) over netorch identity",
    request_body(content = String, content_type = "application/x-www-form-urlencoded",
        description = "grant_type=password&username=…&password=…[&scope=…][&client_id=…][&project=…], or grant_type=client_credentials with client_id/client_secret (or HTTP Basic)"),
    responses((status = 200, description = "{access_token, token_type: bearer, expires_in, scope}"),
        (status = 400, description = "invalid_request, invalid_grant, unsupported_grant_type", body = OAuthErrorBody),
        (status = 401, description = "invalid_client", body = OAuthErrorBody)))]
pub(crate) async fn token(
    State(s): State<TmfState>,
    remote: RemoteAddr,
    headers: HeaderMap,
    extract::Body(body): extract::Body,
) -> Result<Response, OAuthError> {
    let form_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with("application/x-www-form-urlencoded"));
    if !form_type {
        return Err(OAuthError::InvalidRequest(
            "the body must be application/x-www-form-urlencoded".into(),
        ));
    }
    let mut params: Vec<(String, String)> = Vec::new();
    for (k, v) in form_urlencoded::parse(&body) {
        if params.iter().any(|(x, _)| *x == k) {
            return Err(OAuthError::InvalidRequest(format!(
                "parameter '{k}' is given more than once"
            )));
        }
        params.push((k.into_owned(), v.into_owned()));
    }
    let get = |k: &str| {
        params
            .iter()
            .find(|(x, _)| x == k)
            .map(|(_, v)| v.clone())
            .filter(|v| !v.is_empty())
    };
    let client = match basic_client(&headers)? {
        Some(c) => Some(c),
        None => get("client_id").map(|id| (id, get("client_secret").unwrap_or_default())),
    };
    let client_name = client.as_ref().map(|c| c.0.clone()).unwrap_or_default();
    let (username, password) = match get("grant_type").as_deref() {
        Some("password") => (
            get("username")
                .ok_or_else(|| OAuthError::InvalidRequest("'username' is required".into()))?,
            get("password")
                .ok_or_else(|| OAuthError::InvalidRequest("'password' is required".into()))?,
        ),
        Some("client_credentials") => match client {
            Some((id, secret)) if !secret.is_empty() => (id, secret),
            _ => {
                return Err(OAuthError::InvalidClient(
                    "client_credentials needs client_id and client_secret (or HTTP Basic)".into(),
                ));
            }
        },
        Some(other) => {
            return Err(OAuthError::UnsupportedGrantType(format!(
                "grant type '{other}' is not supported; use password or client_credentials"
            )));
        }
        None => {
            return Err(OAuthError::InvalidRequest(
                "'grant_type' is required".into(),
            ));
        }
    };
    let grant = get("grant_type").unwrap_or_default();
    // OpenSlice's partner settings separate scopes with ';', RFC 6749 with spaces.
    let scope = get("scope")
        .map(|s| {
            s.split([' ', ';'])
                .filter(|x| !x.is_empty())
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default();
    let issued = s
        .deps
        .identity
        .issue_token(
            TokenRequest {
                username: Some(username),
                password: Some(password),
                project_id: get("project"),
            },
            None,
            (remote.0, remote.1),
        )
        .await;
    let (secret, session) = match issued {
        Ok(x) => x,
        Err(netorch_auth::AuthError::Store(e)) => {
            return Err(OAuthError::Unavailable(e.to_string()));
        }
        Err(e) if grant == "client_credentials" => {
            return Err(OAuthError::InvalidClient(e.to_string()));
        }
        Err(e) => return Err(OAuthError::InvalidGrant(e.to_string())),
    };
    let expires_in = ((session.expires - s.deps.clock.now()) / 1_000_000).max(0);
    tracing::info!(user = %session.username, grant = %grant,
        client = %client_name, "OAuth2 token issued");
    let mut r = Json(json!({
        "access_token": secret,
        "token_type": "bearer",
        "expires_in": expires_in,
        "scope": scope,
    }))
    .into_response();
    let h = r.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    Ok(r)
}
