//! OSM NBI wire conventions shared by every `/osm/...` route.

use std::{net::SocketAddr, sync::Arc};

use axum::{
    extract::{ConnectInfo, FromRef, FromRequest, FromRequestParts, Request},
    http::{HeaderMap, HeaderValue, StatusCode, header, request::Parts},
    response::{IntoResponse, Response},
};
use base64::Engine as _;
use netorch_auth::{AdminQuery, AuthError, IdentityService, Session};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::filter::Filter;

/// The media type of a response body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `application/json`.
    Json,
    /// `application/yaml` (OSM's default).
    Yaml,
}

impl Format {
    /// OSM's rule: `application/yaml` or `*/*` → YAML, else `application/json` → JSON, no
    /// `Accept` → YAML, anything else → JSON for errors and YAML otherwise.
    pub fn negotiate(headers: &HeaderMap, is_error: bool) -> Self {
        let Some(accept) = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()) else {
            return Format::Yaml;
        };
        if accept.contains("application/yaml")
            || accept.contains("*/*")
            || accept.contains("text/html")
        {
            Format::Yaml
        } else if accept.contains("application/json") || is_error {
            Format::Json
        } else {
            Format::Yaml
        }
    }
}

/// Marks a response whose body is a document that `render` may re-encode as YAML.
#[derive(Debug, Clone)]
enum Document {
    /// Built as a `Value`.
    Value(Value),
    /// Serialised straight from a typed document; the JSON is parsed again only for YAML.
    Json(bytes::Bytes),
}

/// Serialises a document in the given format.
pub fn encode(value: &Value, format: Format) -> (HeaderValue, Vec<u8>) {
    match format {
        Format::Json => (
            HeaderValue::from_static("application/json"),
            serde_json::to_vec(value).unwrap_or_default(),
        ),
        Format::Yaml => {
            let mut text = String::from("---\n");
            text.push_str(&yaml_serde::to_string(value).unwrap_or_default());
            (
                HeaderValue::from_static("application/yaml"),
                text.into_bytes(),
            )
        }
    }
}

thread_local! {
    /// The formats (success, error) negotiated by the [`Render`] whose inner service this thread is
    /// polling, if any: an answer that will go out as JSON needs no document kept for re-encoding
    /// (three allocations and a map insert and removal per request otherwise).
    static NEGOTIATED: std::cell::Cell<Option<(Format, Format)>> =
        const { std::cell::Cell::new(None) };
}

/// Sets [`NEGOTIATED`] for one poll and restores it afterwards, also when the poll panics.
struct Negotiated(Option<(Format, Format)>);

impl Negotiated {
    fn enter(formats: (Format, Format)) -> Self {
        Self(NEGOTIATED.replace(Some(formats)))
    }
}

impl Drop for Negotiated {
    fn drop(&mut self) {
        NEGOTIATED.set(self.0);
    }
}

fn document_response(status: StatusCode, body: Body) -> Response {
    // Outside a render poll (a reply built on another task) the format is unknown: keep the
    // document, as the render layer drops it for JSON anyway.
    let keep = NEGOTIATED.get().is_none_or(|(ok, err)| {
        let format = if status.as_u16() >= 300 { err } else { ok };
        format != Format::Json
    });
    let (json, doc) = match body {
        Body::Value(value) => {
            let json = bytes::Bytes::from(serde_json::to_vec(&value).unwrap_or_default());
            (json, keep.then_some(Document::Value(value)))
        }
        Body::Json(json) => {
            let doc = keep.then(|| Document::Json(json.clone()));
            (json, doc)
        }
    };
    let mut r = (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        json,
    )
        .into_response();
    if let Some(doc) = doc {
        r.extensions_mut().insert(doc);
    }
    r
}

/// Layer for the OSM routes: re-encodes document responses in the format the request's `Accept`
/// asks for (handlers always produce JSON first). Other responses carry no document and pass
/// unchanged, so the server applies it once around all its routes rather than once per OSM family
/// router: each layer applied to a router wraps every route in another boxed service, cloned and
/// called on each request. A plain tower layer, not an axum `from_fn` middleware, which boxes a
/// future per request as well.
#[derive(Debug, Clone, Copy, Default)]
pub struct RenderLayer;

impl<S> tower::Layer<S> for RenderLayer {
    type Service = Render<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Render { inner }
    }
}

/// The service of [`RenderLayer`].
#[derive(Debug, Clone)]
pub struct Render<S> {
    inner: S,
}

impl<S, B> tower::Service<axum::http::Request<B>> for Render<S>
where
    S: tower::Service<axum::http::Request<B>, Response = Response>,
{
    type Response = Response;
    type Error = S::Error;
    type Future = RenderFuture<S::Future>;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: axum::http::Request<B>) -> Self::Future {
        // Decide both possible formats now, so the request headers need not be kept. Outside the
        // OSM paths no document is produced: JSON leaves the response as it is.
        let (for_success, for_error) = if req.uri().path().starts_with("/osm") {
            (
                Format::negotiate(req.headers(), false),
                Format::negotiate(req.headers(), true),
            )
        } else {
            (Format::Json, Format::Json)
        };
        RenderFuture {
            inner: self.inner.call(req),
            for_success,
            for_error,
        }
    }
}

pin_project_lite::pin_project! {
    /// The response future of [`Render`].
    pub struct RenderFuture<F> {
        #[pin]
        inner: F,
        for_success: Format,
        for_error: Format,
    }
}

impl<F, E> std::future::Future for RenderFuture<F>
where
    F: std::future::Future<Output = Result<Response, E>>,
{
    type Output = Result<Response, E>;

    fn poll(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        let this = self.project();
        let polled = {
            let _negotiated = Negotiated::enter((*this.for_success, *this.for_error));
            this.inner.poll(cx)
        };
        polled.map_ok(|resp| {
            let format = if resp.status().as_u16() >= 300 {
                *this.for_error
            } else {
                *this.for_success
            };
            reencode(resp, format)
        })
    }
}

fn reencode(mut resp: Response, format: Format) -> Response {
    if format == Format::Json {
        resp.extensions_mut().remove::<Document>();
        return resp;
    }
    let Some(doc) = resp.extensions_mut().remove::<Document>() else {
        return resp;
    };
    let value = match doc {
        Document::Value(v) => v,
        Document::Json(json) => serde_json::from_slice(&json).unwrap_or_default(),
    };
    let (ct, body) = encode(&value, format);
    let (mut parts, _) = resp.into_parts();
    parts.headers.insert(header::CONTENT_TYPE, ct);
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, axum::body::Body::from(body))
}

/// A successful OSM answer.
#[derive(Debug, Clone)]
pub struct Reply {
    status: StatusCode,
    location: Option<String>,
    body: Option<Body>,
    headers: Vec<(&'static str, String)>,
}

#[derive(Debug, Clone)]
enum Body {
    Value(Value),
    Json(bytes::Bytes),
}

impl Reply {
    /// 200 with a document.
    pub fn ok(body: Value) -> Self {
        Self {
            status: StatusCode::OK,
            location: None,
            body: Some(Body::Value(body)),
            headers: Vec::new(),
        }
    }

    /// The same answer with its document serialised now, so that clones of it (a cached
    /// rendering) share the bytes instead of serialising again.
    pub fn frozen(mut self) -> Self {
        if let Some(Body::Value(v)) = &self.body {
            self.body = Some(Body::Json(bytes::Bytes::from(
                serde_json::to_vec(v).unwrap_or_default(),
            )));
        }
        self
    }

    /// Size of the serialised document, if it is serialised.
    pub fn frozen_len(&self) -> Option<usize> {
        match &self.body {
            Some(Body::Json(b)) => Some(b.len()),
            _ => None,
        }
    }

    /// 200 with a document already serialised as JSON (a cached rendering, shared, not copied).
    pub fn ok_json(json: bytes::Bytes) -> Self {
        Self {
            status: StatusCode::OK,
            location: None,
            body: Some(Body::Json(json)),
            headers: Vec::new(),
        }
    }

    /// 201 with `{"_id","id"}` and a `Location` header.
    pub fn created(location: String, id: &str) -> Self {
        Self {
            status: StatusCode::CREATED,
            location: Some(location),
            body: Some(Body::Value(json!({"_id": id, "id": id}))),
            headers: Vec::new(),
        }
    }

    /// 204 without a body.
    pub fn no_content() -> Self {
        Self {
            status: StatusCode::NO_CONTENT,
            location: None,
            body: None,
            headers: Vec::new(),
        }
    }

    /// Any status with a document.
    pub fn with_status(status: StatusCode, body: Value) -> Self {
        Self {
            status,
            location: None,
            body: Some(Body::Value(body)),
            headers: Vec::new(),
        }
    }

    /// Adds a response header (e.g. `Transaction-Id`).
    pub fn header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    /// Replaces the status (a 202 without a body, say).
    pub fn status(mut self, status: StatusCode) -> Self {
        self.status = status;
        self
    }

    /// Adds a `Location` header.
    pub fn location(mut self, location: String) -> Self {
        self.location = Some(location);
        self
    }
}

impl IntoResponse for Reply {
    fn into_response(self) -> Response {
        let mut r = match self.body {
            Some(v) => document_response(self.status, v),
            None => self.status.into_response(),
        };
        if let Some(loc) = self.location.and_then(|l| HeaderValue::from_str(&l).ok()) {
            r.headers_mut().insert(header::LOCATION, loc);
        }
        for (name, value) in self.headers {
            if let Ok(v) = HeaderValue::from_str(&value) {
                r.headers_mut().insert(name, v);
            }
        }
        r
    }
}

/// An OSM error: `{"code": "<HTTP status name>", "status": <int>, "detail": "..."}`. One variant per
/// status OSM answers; the detail is shown verbatim by osmclient.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OsmError {
    /// 400: malformed request.
    #[error("{0}")]
    BadRequest(String),
    /// 401 with `WWW-Authenticate: Bearer realm="<detail>"`: missing or invalid credentials.
    #[error("{0}")]
    Unauthenticated(String),
    /// 401 without a challenge: RBAC refused the operation (as OSM).
    #[error("{0}")]
    Denied(String),
    /// 403: an operation nobody may do (deleting `system_admin`).
    #[error("{0}")]
    Forbidden(String),
    /// 404.
    #[error("{0}")]
    NotFound(String),
    /// 405: unknown URL or method under `/osm` (as OSM).
    #[error("{0}")]
    MethodNotAllowed(String),
    /// 406: the `Accept` header asks for what cannot be served.
    #[error("{0}")]
    NotAcceptable(String),
    /// 409: duplicate, in use, wrong state.
    #[error("{0}")]
    Conflict(String),
    /// 413: body over the limit.
    #[error("{0}")]
    TooLarge(String),
    /// 415: a body type OSM does not read.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// 416: a chunk's `Content-Range` does not fit the upload.
    #[error("{0}")]
    RangeNotSatisfiable(String),
    /// 422: well-formed but invalid (schema errors in jsonschema's words).
    #[error("{0}")]
    Unprocessable(String),
    /// 500: logged where it arose; the caller gets a generic detail.
    #[error("Internal server error")]
    Internal,
    /// 501.
    #[error("{0}")]
    NotImplemented(String),
    /// 503: the store cannot be reached; logged, the caller is told to retry.
    #[error("Service temporarily unavailable")]
    Unavailable,
}

impl OsmError {
    /// 400.
    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::BadRequest(detail.into())
    }

    /// 401 with `WWW-Authenticate`.
    pub fn unauthenticated(detail: impl Into<String>) -> Self {
        Self::Unauthenticated(detail.into())
    }

    /// 404.
    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::NotFound(detail.into())
    }

    /// 405.
    pub fn method_not_allowed(detail: impl Into<String>) -> Self {
        Self::MethodNotAllowed(detail.into())
    }

    /// 406.
    pub fn not_acceptable(detail: impl Into<String>) -> Self {
        Self::NotAcceptable(detail.into())
    }

    /// 409.
    pub fn conflict(detail: impl Into<String>) -> Self {
        Self::Conflict(detail.into())
    }

    /// 413.
    pub fn too_large(detail: impl Into<String>) -> Self {
        Self::TooLarge(detail.into())
    }

    /// 416.
    pub fn range_not_satisfiable(detail: impl Into<String>) -> Self {
        Self::RangeNotSatisfiable(detail.into())
    }

    /// 422.
    pub fn unprocessable(detail: impl Into<String>) -> Self {
        Self::Unprocessable(detail.into())
    }

    /// 422 in jsonschema style: `Format error at '<a:b>' '<msg>' `.
    pub fn format_error(path: &str, msg: &str) -> Self {
        Self::Unprocessable(format!("Format error at '{path}' '{msg}' "))
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Unauthenticated(_) | Self::Denied(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            Self::NotAcceptable(_) => StatusCode::NOT_ACCEPTABLE,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::RangeNotSatisfiable(_) => StatusCode::RANGE_NOT_SATISFIABLE,
            Self::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            Self::NotImplemented(_) => StatusCode::NOT_IMPLEMENTED,
            Self::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// The stable code in the body: Python's `HTTPStatus` name, which OSM puts in `code`.
    pub fn code(&self) -> &'static str {
        match self {
            Self::BadRequest(_) => "BAD_REQUEST",
            Self::Unauthenticated(_) | Self::Denied(_) => "UNAUTHORIZED",
            Self::Forbidden(_) => "FORBIDDEN",
            Self::NotFound(_) => "NOT_FOUND",
            Self::MethodNotAllowed(_) => "METHOD_NOT_ALLOWED",
            Self::NotAcceptable(_) => "NOT_ACCEPTABLE",
            Self::Conflict(_) => "CONFLICT",
            Self::TooLarge(_) => "REQUEST_ENTITY_TOO_LARGE",
            Self::UnsupportedMediaType(_) => "UNSUPPORTED_MEDIA_TYPE",
            Self::RangeNotSatisfiable(_) => "REQUESTED_RANGE_NOT_SATISFIABLE",
            Self::Unprocessable(_) => "UNPROCESSABLE_ENTITY",
            Self::Internal => "INTERNAL_SERVER_ERROR",
            Self::NotImplemented(_) => "NOT_IMPLEMENTED",
            Self::Unavailable => "SERVICE_UNAVAILABLE",
        }
    }

    /// The body document.
    pub fn body(&self) -> Value {
        json!({"code": self.code(), "status": self.status().as_u16(), "detail": self.to_string()})
    }
}

impl IntoResponse for OsmError {
    fn into_response(self) -> Response {
        let mut r = document_response(self.status(), Body::Value(self.body()));
        if let Self::Unauthenticated(detail) = &self {
            let realm = detail.replace(['"', '\\'], "'");
            if let Ok(v) = HeaderValue::from_str(&format!("Bearer realm=\"{realm}\"")) {
                r.headers_mut().insert(header::WWW_AUTHENTICATE, v);
            }
        }
        r
    }
}

impl From<AuthError> for OsmError {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::Unauthenticated(m) => Self::Unauthenticated(m),
            AuthError::Denied(m) => Self::Denied(m),
            AuthError::Forbidden(m) => Self::Forbidden(m),
            AuthError::NotFound(m) => Self::NotFound(m),
            AuthError::Conflict(m) => Self::Conflict(m),
            AuthError::Invalid(m) => Self::Unprocessable(m),
            AuthError::BadRequest(m) => Self::BadRequest(m),
            AuthError::Store(e) => e.into(),
        }
    }
}

/// Store errors of record reads and writes as OSM answers them: a name or id taken or a record in
/// use is 409, a missing one 404, an outage 503, anything else a logged 500.
impl From<netorch_core::StoreError> for OsmError {
    fn from(e: netorch_core::StoreError) -> Self {
        use netorch_core::StoreError as E;
        match e {
            E::Conflict(m) | E::InUse(m) => Self::Conflict(m),
            E::NotFound { kind, key } => Self::NotFound(format!("{kind} '{key}' not found")),
            E::Unavailable(m) => {
                tracing::error!(error = %m, "store unavailable");
                Self::Unavailable
            }
            other => internal(&other),
        }
    }
}

impl From<crate::extract::Rejection> for OsmError {
    fn from(r: crate::extract::Rejection) -> Self {
        use crate::extract::Part;
        match r.part {
            Part::Body if r.too_large() => Self::TooLarge("Request body is too large".into()),
            Part::Body => Self::BadRequest(format!("Cannot read request body: {}", r.message)),
            Part::Path => Self::BadRequest(format!("Invalid URL: {}", r.message)),
            Part::Query => Self::BadRequest(format!("Invalid query string: {}", r.message)),
        }
    }
}

/// `Path`, `Query` and `Body` extractors refused in OSM's error shape.
pub mod extractors {
    crate::family_extractors!(super::OsmError);
}

/// OSM's error body, for the OpenAPI document.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct OsmErrorBody {
    /// Python's `HTTPStatus` name (`NOT_FOUND`).
    pub code: String,
    /// The HTTP status.
    pub status: u16,
    /// What went wrong, shown verbatim by osmclient.
    pub detail: String,
}

/// Logs an unexpected error with its cause and answers a generic 500.
pub fn internal(e: &dyn std::error::Error) -> OsmError {
    tracing::error!(error = %e, "internal error");
    OsmError::Internal
}

// ------------------------------------------------------------------ request bodies

/// A request body parsed by `Content-Type` into a JSON value (`Null` when empty).
#[derive(Debug, Clone)]
pub struct OsmValue(pub Value);

fn media_type(headers: &HeaderMap) -> Option<String> {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|s| {
            s.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
}

/// Parses bytes as JSON or YAML according to a media type (OSM: anything that is not JSON is
/// read as YAML). Other structured types are refused with 415.
pub fn parse_document(media: Option<&str>, bytes: &[u8]) -> Result<Value, OsmError> {
    let json = matches!(media, Some(m) if m == "application/json" || m.ends_with("+json"));
    let yaml_like = match media {
        None => true,
        Some(m) => matches!(
            m,
            "" | "application/yaml"
                | "application/x-yaml"
                | "text/yaml"
                | "text/x-yaml"
                | "text/plain"
                | "application/x-www-form-urlencoded"
        ),
    };
    if !json && !yaml_like {
        return Err(OsmError::UnsupportedMediaType(format!(
            "Unsupported Content-Type '{}'; use application/json or application/yaml",
            media.unwrap_or_default()
        )));
    }
    if bytes.iter().all(|b| b.is_ascii_whitespace()) {
        return Ok(Value::Null);
    }
    if json {
        serde_json::from_slice(bytes)
            .map_err(|e| OsmError::bad_request(format!("Invalid json format {e}")))
    } else {
        yaml_serde::from_slice::<Value>(bytes)
            .map_err(|e| OsmError::bad_request(format!("Invalid yaml format {e}")))
    }
}

impl<S: Send + Sync> FromRequest<S> for OsmValue {
    type Rejection = OsmError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let media = media_type(req.headers());
        let extractors::Body(bytes) = extractors::Body::from_request(req, state).await?;
        parse_document(media.as_deref(), &bytes).map(OsmValue)
    }
}

/// Deserialises a parsed body into `T`; schema errors become 422 naming the path (`a:b:0`).
pub fn from_value<T: DeserializeOwned>(v: Value) -> Result<T, OsmError> {
    serde_path_to_error::deserialize::<_, T>(v).map_err(|e| {
        use serde_path_to_error::Segment;
        let path = e
            .path()
            .iter()
            .filter_map(|s| match s {
                Segment::Seq { index } => Some(index.to_string()),
                Segment::Map { key } => Some(key.clone()),
                Segment::Enum { variant } => Some(variant.clone()),
                Segment::Unknown => None,
            })
            .collect::<Vec<_>>()
            .join(":");
        OsmError::format_error(&path, &e.inner().to_string())
    })
}

/// The body of an OSM edit (PUT/PATCH): an empty one is refused with OSM's 400 before the
/// schema is checked.
pub fn edit_body<T: DeserializeOwned>(v: Value) -> Result<T, OsmError> {
    if v.is_null() || v.as_object().is_some_and(|o| o.is_empty()) {
        return Err(OsmError::bad_request(
            "Nothing to update. Provide payload and/or query string",
        ));
    }
    from_value(v)
}

// ------------------------------------------------------------------ query strings

/// The query string of an OSM request: admin query strings, SOL005 filters and the paging
/// extension (`page_size`, SOL013's `nextpage_opaque_marker`).
#[derive(Debug, Clone, Default)]
pub struct OsmQuery {
    /// `FORCE`, `PUBLIC`, `ADMIN`, `SET_PROJECT`.
    pub admin: AdminQuery,
    /// Every other key, in order.
    pub rest: Vec<(String, String)>,
    page_size: Option<String>,
    marker: Option<String>,
    /// The request's URI (shared with the request, not copied): its path starts `link` headers.
    uri: axum::http::Uri,
}

/// Largest page a client may ask for.
const MAX_PAGE: usize = 10_000;

impl OsmQuery {
    /// Parses a raw query string.
    pub fn parse(raw: Option<&str>) -> Self {
        let pairs: Vec<(String, String)> = form_urlencoded::parse(raw.unwrap_or("").as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        let (admin, mut rest) = AdminQuery::split(pairs);
        let take = |rest: &mut Vec<(String, String)>, key: &str| {
            let v = rest.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone());
            rest.retain(|(k, _)| k != key);
            v
        };
        let page_size = take(&mut rest, "page_size");
        let marker = take(&mut rest, "nextpage_opaque_marker");
        Self {
            admin,
            rest,
            page_size,
            marker,
            uri: axum::http::Uri::default(),
        }
    }

    /// The answer to a list request: the documents that pass the filters, all of them (OSM's
    /// behaviour) or, when the client asked for `page_size`, one page with a `Link: <…>; rel="next"`
    /// header while more remain.
    pub fn list(&self, docs: Vec<Value>) -> Result<Reply, OsmError> {
        let docs = self.filter().apply(docs);
        let Some(size) = &self.page_size else {
            return Ok(Reply::ok(Value::Array(docs)));
        };
        let size: usize = size
            .parse()
            .ok()
            .filter(|n| (1..=MAX_PAGE).contains(n))
            .ok_or_else(|| {
                OsmError::bad_request(format!("page_size must be an integer from 1 to {MAX_PAGE}"))
            })?;
        let start: usize = match &self.marker {
            None => 0,
            Some(m) => m
                .parse()
                .map_err(|_| OsmError::bad_request("invalid nextpage_opaque_marker"))?,
        };
        let total = docs.len();
        let page: Vec<Value> = docs.into_iter().skip(start).take(size).collect();
        let mut reply = Reply::ok(Value::Array(page));
        if start + size < total {
            let mut q = form_urlencoded::Serializer::new(String::new());
            for (k, v) in &self.rest {
                q.append_pair(k, v);
            }
            q.append_pair("page_size", &size.to_string());
            q.append_pair("nextpage_opaque_marker", &(start + size).to_string());
            reply = reply.header(
                "link",
                format!("<{}?{}>; rel=\"next\"", self.uri.path(), q.finish()),
            );
        }
        Ok(reply)
    }

    /// SOL005 filter of the remaining keys.
    pub fn filter(&self) -> Filter {
        Filter::from_pairs(self.rest.iter().map(|(k, v)| (k.as_str(), v.as_str())))
    }
}

impl<S: Send + Sync> FromRequestParts<S> for OsmQuery {
    type Rejection = OsmError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let mut q = Self::parse(parts.uri.query());
        q.uri = parts.uri.clone();
        Ok(q)
    }
}

// ------------------------------------------------------------------ path ids

/// A record id or name from the path, refused with 400 when it cannot be one (path traversal,
/// control characters, oversize).
#[derive(Debug, Clone)]
pub struct OsmId(pub String);

/// Checks an identifier taken from a URL.
pub fn check_id(id: &str) -> Result<(), OsmError> {
    if id.is_empty()
        || id.len() > 255
        || id == "."
        || id == ".."
        || id.chars().any(|c| c.is_control() || c == '/' || c == '\\')
    {
        return Err(OsmError::bad_request(format!(
            "Invalid identifier '{}'",
            id.escape_default()
        )));
    }
    Ok(())
}

impl<S: Send + Sync> FromRequestParts<S> for OsmId {
    type Rejection = OsmError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let extractors::Path(id) =
            extractors::Path::<String>::from_request_parts(parts, state).await?;
        check_id(&id)?;
        Ok(OsmId(id))
    }
}

// ------------------------------------------------------------------ authentication

/// The caller's address (`remote_host`/`remote_port` of tokens).
#[derive(Debug, Clone)]
pub struct RemoteAddr(pub String, pub u16);

impl<S: Send + Sync> FromRequestParts<S> for RemoteAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(match parts.extensions.get::<ConnectInfo<SocketAddr>>() {
            Some(ConnectInfo(a)) => RemoteAddr(a.ip().to_string(), a.port()),
            None => RemoteAddr("127.0.0.1".into(), 0),
        })
    }
}

/// Whether HTTP Basic authentication is accepted on OSM routes (`auth.allow_basic`).
#[derive(Debug, Clone, Copy, Default)]
pub struct BasicAuthPolicy(pub bool);

/// The credentials of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credentials {
    /// `Authorization: Bearer <token>`.
    Bearer(String),
    /// `Authorization: Basic <base64(user:password)>`.
    Basic(String, String),
}

/// Reads the `Authorization` header (scheme case-insensitive).
pub fn credentials(headers: &HeaderMap) -> Result<Option<Credentials>, OsmError> {
    let Some(raw) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let invalid = || OsmError::unauthenticated("Invalid Token or Authorization HTTP header");
    let s = raw.to_str().map_err(|_| invalid())?.trim();
    let (scheme, value) = s.split_once(' ').ok_or_else(invalid)?;
    let value = value.trim();
    if scheme.eq_ignore_ascii_case("bearer") && !value.is_empty() {
        Ok(Some(Credentials::Bearer(value.to_string())))
    } else if scheme.eq_ignore_ascii_case("basic") {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(value)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .ok_or_else(invalid)?;
        let (u, p) = decoded.split_once(':').ok_or_else(invalid)?;
        Ok(Some(Credentials::Basic(u.to_string(), p.to_string())))
    } else {
        Err(invalid())
    }
}

/// An authenticated OSM caller.
#[derive(Debug, Clone)]
pub struct Authenticated(pub Arc<Session>);

impl<S> FromRequestParts<S> for Authenticated
where
    S: Send + Sync,
    Arc<IdentityService>: FromRef<S>,
    BasicAuthPolicy: FromRef<S>,
{
    type Rejection = OsmError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let identity = Arc::<IdentityService>::from_ref(state);
        match credentials(&parts.headers)? {
            Some(Credentials::Bearer(t)) => Ok(Authenticated(identity.authenticate(&t).await?)),
            Some(Credentials::Basic(u, p)) if BasicAuthPolicy::from_ref(state).0 => {
                let RemoteAddr(host, port) = RemoteAddr::from_request_parts(parts, state)
                    .await
                    .unwrap_or(RemoteAddr("127.0.0.1".into(), 0));
                let session = identity.authenticate_basic(&u, &p, (host, port)).await?;
                Ok(Authenticated(Arc::new(session)))
            }
            _ => Err(OsmError::unauthenticated(
                "Needed a token or Authorization http header",
            )),
        }
    }
}

/// Lower-case method name as used in permission keys.
pub fn method_key(m: &axum::http::Method) -> &'static str {
    match *m {
        axum::http::Method::GET | axum::http::Method::HEAD => "get",
        axum::http::Method::POST => "post",
        axum::http::Method::PUT => "put",
        axum::http::Method::PATCH => "patch",
        axum::http::Method::DELETE => "delete",
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hdrs(accept: Option<&str>) -> HeaderMap {
        let mut h = HeaderMap::new();
        if let Some(a) = accept {
            h.insert(header::ACCEPT, HeaderValue::from_str(a).expect("header"));
        }
        h
    }

    #[test]
    fn negotiation_follows_the_nbi() {
        assert_eq!(Format::negotiate(&hdrs(None), false), Format::Yaml);
        assert_eq!(
            Format::negotiate(&hdrs(Some("application/json")), false),
            Format::Json
        );
        assert_eq!(Format::negotiate(&hdrs(Some("*/*")), false), Format::Yaml);
        assert_eq!(
            Format::negotiate(&hdrs(Some("application/yaml")), true),
            Format::Yaml
        );
        assert_eq!(
            Format::negotiate(&hdrs(Some("image/png")), true),
            Format::Json
        );
        assert_eq!(
            Format::negotiate(&hdrs(Some("image/png")), false),
            Format::Yaml
        );
    }

    #[test]
    fn bodies_parse_by_media_type() {
        assert_eq!(
            parse_document(Some("application/json"), br#"{"a":1}"#).ok(),
            Some(json!({"a": 1}))
        );
        assert_eq!(
            parse_document(Some("application/yaml"), b"a: 1\n").ok(),
            Some(json!({"a": 1}))
        );
        assert_eq!(parse_document(None, b"{a: 1}").ok(), Some(json!({"a": 1})));
        let e = parse_document(Some("application/json"), b"{oops").expect_err("bad json");
        assert_eq!(e.status(), StatusCode::BAD_REQUEST);
        assert!(e.to_string().starts_with("Invalid json format"));
        let e = parse_document(Some("application/xml"), b"<a/>").expect_err("xml");
        assert_eq!(e.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
        assert_eq!(
            parse_document(Some("application/json"), b"  ").ok(),
            Some(Value::Null)
        );
    }

    #[test]
    fn schema_errors_name_the_path() {
        #[derive(serde::Deserialize, Debug)]
        #[serde(deny_unknown_fields)]
        #[expect(dead_code, reason = "only deserialised")]
        struct T {
            a: Vec<u8>,
        }
        let e = from_value::<T>(json!({"a": [1, "x"]})).expect_err("type");
        assert_eq!(e.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert!(
            e.to_string().starts_with("Format error at 'a:1'"),
            "{}",
            e.to_string()
        );
        let e = from_value::<T>(json!({"a": [], "b": 1})).expect_err("unknown");
        assert!(
            e.to_string().contains("unknown field `b`"),
            "{}",
            e.to_string()
        );
    }

    #[test]
    fn traversal_ids_are_refused() {
        assert!(check_id("..").is_err());
        assert!(check_id("a/b").is_err());
        assert!(check_id("a\u{0}").is_err());
        assert!(check_id("admin").is_ok());
    }

    #[test]
    fn authorization_schemes_are_case_insensitive() {
        let mut h = HeaderMap::new();
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("bearer abc"),
        );
        assert_eq!(
            credentials(&h).ok().flatten(),
            Some(Credentials::Bearer("abc".into()))
        );
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Basic YWRtaW46YWRtaW4="),
        );
        assert_eq!(
            credentials(&h).ok().flatten(),
            Some(Credentials::Basic("admin".into(), "admin".into()))
        );
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Digest x"));
        assert!(credentials(&h).is_err());
    }

    #[test]
    fn error_bodies_have_code_status_and_detail() {
        let e = OsmError::not_found("x");
        assert_eq!(
            e.body(),
            json!({"code": "NOT_FOUND", "status": 404, "detail": "x"})
        );
    }
}
