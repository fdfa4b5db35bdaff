#![doc = include_str!("../README.md")]

pub mod auth;
pub mod error;
pub mod json;
pub mod service;
pub mod topology;

use std::{sync::Arc, time::Duration};

use async_trait::async_trait;
use axum::{
    Json, Router,
    body::Bytes,
    extract::{Path, State, rejection::BytesRejection},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
    routing::{get, put},
};
use netorch_auth::{
    IdentityService,
    jwt::{KeyRing, TokenVerifier},
};
use netorch_core::{
    Clock,
    connectivity::{ConnectivityRepository, Reservation, ReservationFilter, ReservationState},
};
use netorch_scheduler::{JobContext, JobError, JobHandler};
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa::OpenApi;

use crate::{
    auth::{ClaimPaths, Experiment},
    error::{Detail, ErrorBody, SlicesError},
    json::{ConnectivityClaims, ReservationBody, ReservationInput, format_date, parse_date},
    service::{Done, Service},
};

/// Periodic job archiving reservations whose end passed.
pub const EXPIRE_JOB: &str = "slices.reservations.expire";
/// Periodic job rotating the response-signing key when due.
pub const ROTATE_JOB: &str = "slices.keys.rotate";
/// Key-ring purpose of the response-signing keys.
pub const RESPONSE_KEYS: &str = "slices.response";
/// Key-ring purpose of the development issuer's keys.
pub const LOCAL_ISSUER_KEYS: &str = "slices.local-issuer";

/// What the SLICES family needs.
#[derive(Clone)]
pub struct Deps {
    /// Topology and reservations.
    pub repo: Arc<dyn ConnectivityRepository>,
    /// netorch identity (administrators edit the topology).
    pub identity: Arc<IdentityService>,
    /// Verifies SLICES user and experiment tokens.
    pub verifier: Arc<TokenVerifier>,
    /// Signs `application/jwt` responses; published at `/.well-known/jwks.json`.
    pub response_keys: Arc<KeyRing>,
    /// Time.
    pub clock: Arc<dyn Clock>,
    /// Validation rules.
    pub rules: service::Rules,
    /// Claim paths in experiment tokens.
    pub claims: ClaimPaths,
    /// The service's public URL: `iss` of signed responses; its host names reservation ids.
    pub public_url: String,
    /// Lifetime of signed responses.
    pub response_token_ttl: Duration,
    /// Largest request body.
    pub body_limit: usize,
}

/// Handler state.
#[derive(Clone)]
pub struct SlicesState {
    deps: Deps,
    service: Service,
}

/// The host part of a URL (`https://h:8443/x` → `h`), used in reservation ids.
pub fn url_host(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split('/').next().unwrap_or(rest);
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = if host.starts_with('[') {
        host.split(']')
            .next()
            .unwrap_or(host)
            .trim_start_matches('[')
    } else {
        host.split(':').next().unwrap_or(host)
    };
    if host.is_empty() {
        "localhost".into()
    } else {
        host.to_string()
    }
}

#[derive(OpenApi)]
#[openapi(
    paths(
        create_connectivity, list_connectivity, get_connectivity, update_connectivity,
        delete_connectivity, availability, jwks,
        topology::list_sites, topology::put_site, topology::delete_site,
        topology::list_links, topology::put_link, topology::delete_link
    ),
    components(schemas(ReservationBody, json::ReservationRequestBody, ErrorBody, Detail)),
    tags(
        (name = "slices-connectivity", description = "SLICES connectivity reservations: VLANs and bandwidth between sites over time"),
        (name = "slices-topology", description = "Sites, links, capacities and VLAN pools (changes need a netorch administrator)")
    )
)]
struct SlicesApi;

/// The routes of the family and their OpenAPI document.
pub fn router(deps: Deps) -> (Router, utoipa::openapi::OpenApi) {
    let service = Service {
        repo: deps.repo.clone(),
        clock: deps.clock.clone(),
        rules: deps.rules.clone(),
        id_host: url_host(&deps.public_url),
    };
    let state = SlicesState { deps, service };
    let r = Router::new()
        .route(
            "/apis/v1alpha1/connectivity",
            get(list_connectivity).post(create_connectivity),
        )
        .route(
            "/apis/v1alpha1/connectivity/{id}",
            get(get_connectivity)
                .put(update_connectivity)
                .delete(delete_connectivity),
        )
        .route("/apis/v1alpha1/availability", get(availability))
        .route("/.well-known/jwks.json", get(jwks))
        .route("/apis/v1alpha1/sites", get(topology::list_sites))
        .route(
            "/apis/v1alpha1/sites/{name}",
            put(topology::put_site).delete(topology::delete_site),
        )
        .route("/apis/v1alpha1/links", get(topology::list_links))
        .route(
            "/apis/v1alpha1/links/{site_a}/{site_b}",
            put(topology::put_link).delete(topology::delete_link),
        )
        .with_state(state);
    (r, SlicesApi::openapi())
}

/// Scheduler jobs of the family.
pub fn job_handlers(deps: &Deps) -> Vec<(&'static str, Arc<dyn JobHandler>)> {
    vec![
        (
            EXPIRE_JOB,
            Arc::new(ExpireJob {
                repo: deps.repo.clone(),
                clock: deps.clock.clone(),
            }) as Arc<dyn JobHandler>,
        ),
        (
            ROTATE_JOB,
            Arc::new(RotateJob {
                keys: deps.response_keys.clone(),
            }),
        ),
    ]
}

struct ExpireJob {
    repo: Arc<dyn ConnectivityRepository>,
    clock: Arc<dyn Clock>,
}

#[async_trait]
impl JobHandler for ExpireJob {
    async fn run(&self, ctx: JobContext) -> Result<Value, JobError> {
        let mut total = 0;
        loop {
            let batch = self
                .repo
                .expire(self.clock.now(), 500)
                .await
                .map_err(|e| JobError::Retry(e.to_string()))?;
            total += batch.len();
            for r in &batch {
                tracing::info!(id = %r.id, experiment = %r.experiment_id, "reservation expired");
            }
            if batch.len() < 500 || ctx.shutdown.is_cancelled() {
                break;
            }
        }
        Ok(json!({ "expired": total }))
    }
}

struct RotateJob {
    keys: Arc<KeyRing>,
}

#[async_trait]
impl JobHandler for RotateJob {
    async fn run(&self, _ctx: JobContext) -> Result<Value, JobError> {
        let kid = self
            .keys
            .rotate_if_due()
            .await
            .map_err(|e| JobError::Retry(e.to_string()))?;
        Ok(json!({ "rotated": kid }))
    }
}

/// Query parameters whose errors (a missing or ill-typed parameter) come out in the family's shape
/// at `["query", ...]`, not as axum's plain-text 400.
pub struct SlicesQuery<T>(pub T);

impl<T, S> axum::extract::FromRequestParts<S> for SlicesQuery<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = SlicesError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &S,
    ) -> Result<Self, Self::Rejection> {
        let raw = parts.uri.query().unwrap_or_default();
        let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(raw.as_bytes()));
        serde_path_to_error::deserialize(de)
            .map(SlicesQuery)
            .map_err(|e| {
                let inner = e.inner().to_string();
                // serde names a missing field in its message; the path holds an ill-typed one.
                let field = match e.path().to_string() {
                    p if p != "." => p,
                    _ => inner.split('`').nth(1).unwrap_or_default().to_string(),
                };
                let mut loc = vec![Value::from("query")];
                if !field.is_empty() {
                    loc.push(Value::from(field));
                }
                SlicesError::Validation(vec![Detail {
                    loc,
                    msg: inner,
                    kind: "query_error".into(),
                }])
            })
    }
}

fn wants_jwt(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| {
            v.split(',')
                .any(|m| m.trim().starts_with("application/jwt"))
        })
}

impl SlicesState {
    async fn experiment(&self, headers: &HeaderMap) -> Result<Experiment, SlicesError> {
        auth::experiment(headers, &self.deps.verifier, &self.deps.claims).await
    }

    async fn writer(&self, headers: &HeaderMap, action: &str) -> Result<Experiment, SlicesError> {
        let exp = self.experiment(headers).await?;
        if !exp.role.may_write() {
            return Err(SlicesError::Forbidden(format!(
                "your role in experiment {} is VIEWER: it may read reservations; to {action} one you need LEAD or ADMIN",
                exp.id
            )));
        }
        let now = self.deps.clock.now();
        if exp.expires_at <= now {
            return Err(SlicesError::Forbidden(format!(
                "experiment {} expired at {}; reservations can no longer change",
                exp.id,
                format_date(exp.expires_at)
            )));
        }
        Ok(exp)
    }

    /// The reservation as JSON, or as a signed JWT when the client asked for `application/jwt`.
    async fn render(
        &self,
        headers: &HeaderMap,
        status: StatusCode,
        r: &Reservation,
    ) -> Result<Response, SlicesError> {
        let body = ReservationBody::from(r);
        let mut resp = if wants_jwt(headers) {
            let iat = self.deps.clock.now() / 1_000_000;
            let claims = ConnectivityClaims {
                iss: &self.deps.public_url,
                connectivity: &body,
                exp: iat + self.deps.response_token_ttl.as_secs() as i64,
                iat,
                sub: &r.id,
            };
            // Signed from the struct, not a JSON map, so that claims keep the documented order.
            let token = self
                .deps
                .response_keys
                .sign(&claims)
                .await
                .map_err(|e| SlicesError::Internal(e.to_string()))?;
            (status, [(header::CONTENT_TYPE, "application/jwt")], token).into_response()
        } else {
            (status, Json(body)).into_response()
        };
        if let Ok(v) = HeaderValue::from_str(r.state.as_str()) {
            resp.headers_mut().insert("x-reservation-state", v);
        }
        Ok(resp)
    }
}

fn body_bytes(body: Result<Bytes, BytesRejection>, limit: usize) -> Result<Bytes, SlicesError> {
    body.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            SlicesError::TooLarge(limit)
        } else {
            SlicesError::Validation(vec![Detail {
                loc: vec!["body".into()],
                msg: e.body_text(),
                kind: "body_error".into(),
            }])
        }
    })
}

/// `start_now` as FastAPI parses a bool query parameter.
fn start_now(q: &ConnectivityQuery) -> Result<bool, SlicesError> {
    match q
        .start_now
        .as_deref()
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        None => Ok(false),
        Some("true" | "1" | "yes" | "on") => Ok(true),
        Some("false" | "0" | "no" | "off") => Ok(false),
        Some(_) => Err(SlicesError::Validation(vec![Detail {
            loc: vec!["query".into(), "start_now".into()],
            msg: "Input should be a valid boolean, unable to interpret input".into(),
            kind: "bool_parsing".into(),
        }])),
    }
}

/// Query parameters of POST and PUT.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct ConnectivityQuery {
    /// `true`: start at the server's now (`start_date` must be null).
    start_now: Option<String>,
}

const IDEMPOTENCY_KEY: &str = "idempotency-key";

/// Request a new connectivity reservation.
#[utoipa::path(post, path = "/apis/v1alpha1/connectivity", tag = "slices-connectivity",
    params(ConnectivityQuery,
        ("Authorization" = String, Header, description = "Bearer <experiment token> (LEAD or ADMIN)"),
        ("Idempotency-Key" = Option<String>, Header, description = "Retries with the same key return the original reservation"),
        ("Accept" = Option<String>, Header, description = "application/json (default) or application/jwt")),
    request_body = json::ReservationRequestBody,
    responses(
        (status = 201, description = "Reserved: JSON body, or a compact ES256 JWT with Accept: application/jwt", body = ReservationBody),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 403, description = "Role does not allow it", body = ErrorBody),
        (status = 409, description = "Bandwidth or VLANs taken in that window", body = ErrorBody),
        (status = 422, description = "Invalid sites, dates or bandwidth", body = ErrorBody)))]
async fn create_connectivity(
    State(state): State<SlicesState>,
    SlicesQuery(q): SlicesQuery<ConnectivityQuery>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, SlicesError> {
    let exp = state.writer(&headers, "create").await?;
    let start_now = start_now(&q)?;
    let input = ReservationInput::parse(&body_bytes(body, state.deps.body_limit)?)?;
    let user = auth::user(&input.tokens, &state.deps.verifier, &exp).await?;
    let key = match headers.get(IDEMPOTENCY_KEY) {
        None => None,
        Some(v) => Some(
            v.to_str()
                .ok()
                .map(str::trim)
                .filter(|k| !k.is_empty() && k.len() <= 255)
                .ok_or_else(|| {
                    SlicesError::Validation(vec![Detail {
                        loc: vec!["header".into(), "Idempotency-Key".into()],
                        msg: "Idempotency-Key must be 1-255 printable characters".into(),
                        kind: "string_type".into(),
                    }])
                })?
                .to_string(),
        ),
    };
    match state
        .service
        .reserve(&exp, user, &input, start_now, key)
        .await?
    {
        Done::Fresh(r) => {
            let mut resp = state.render(&headers, StatusCode::CREATED, &r).await?;
            if let Ok(v) = HeaderValue::from_str(&format!("/apis/v1alpha1/connectivity/{}", r.id)) {
                resp.headers_mut().insert(header::LOCATION, v);
            }
            Ok(resp)
        }
        Done::Replayed(r) => {
            let mut resp = state.render(&headers, StatusCode::CREATED, &r).await?;
            resp.headers_mut()
                .insert("idempotent-replayed", HeaderValue::from_static("true"));
            Ok(resp)
        }
    }
}

/// Retrieve a reservation (VIEWER, LEAD or ADMIN).
#[utoipa::path(get, path = "/apis/v1alpha1/connectivity/{id}", tag = "slices-connectivity",
    params(("id" = String, Path, description = "Reservation id"),
        ("Authorization" = String, Header, description = "Bearer <experiment token>")),
    responses((status = 200, description = "The reservation (header X-Reservation-State: active or expired)", body = ReservationBody),
        (status = 404, description = "No such reservation in this experiment", body = ErrorBody)))]
async fn get_connectivity(
    State(state): State<SlicesState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, SlicesError> {
    let exp = state.experiment(&headers).await?;
    let r = state.service.get(&exp, &id).await?;
    state.render(&headers, StatusCode::OK, &r).await
}

/// Update a reservation (LEAD or ADMIN): re-planned with itself excluded; keeps its VLANs when they
/// are still free; a refusal leaves it unchanged.
#[utoipa::path(put, path = "/apis/v1alpha1/connectivity/{id}", tag = "slices-connectivity",
    params(("id" = String, Path, description = "Reservation id"), ConnectivityQuery,
        ("Authorization" = String, Header, description = "Bearer <experiment token> (LEAD or ADMIN)")),
    request_body = json::ReservationRequestBody,
    responses((status = 200, description = "Updated", body = ReservationBody),
        (status = 409, description = "Does not fit; the old reservation stays", body = ErrorBody)))]
async fn update_connectivity(
    State(state): State<SlicesState>,
    Path(id): Path<String>,
    SlicesQuery(q): SlicesQuery<ConnectivityQuery>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, SlicesError> {
    let exp = state.writer(&headers, "update").await?;
    let start_now = start_now(&q)?;
    let input = ReservationInput::parse(&body_bytes(body, state.deps.body_limit)?)?;
    auth::user(&input.tokens, &state.deps.verifier, &exp).await?;
    let r = state.service.update(&exp, &id, &input, start_now).await?;
    state.render(&headers, StatusCode::OK, &r).await
}

/// Delete a reservation (LEAD or ADMIN): its VLANs and bandwidth are free at once.
#[utoipa::path(delete, path = "/apis/v1alpha1/connectivity/{id}", tag = "slices-connectivity",
    params(("id" = String, Path, description = "Reservation id"),
        ("Authorization" = String, Header, description = "Bearer <experiment token> (LEAD or ADMIN)")),
    responses((status = 204, description = "Released"), (status = 404, description = "No such reservation (or already deleted)", body = ErrorBody)))]
async fn delete_connectivity(
    State(state): State<SlicesState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, SlicesError> {
    let exp = state.writer(&headers, "delete").await?;
    state.service.delete(&exp, &id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Filters of the reservation list.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct ListQuery {
    /// Only reservations touching this site.
    site: Option<String>,
    /// Only reservations overlapping `[from, to)` (RFC 3339).
    from: Option<String>,
    /// See `from`.
    to: Option<String>,
    /// `active` (default), `expired`, `deleted` or `all`.
    state: Option<String>,
    /// At most this many (default 100, at most 1000).
    limit: Option<i64>,
}

/// List the experiment's reservations.
#[utoipa::path(get, path = "/apis/v1alpha1/connectivity", tag = "slices-connectivity",
    params(ListQuery, ("Authorization" = String, Header, description = "Bearer <experiment token>")),
    responses((status = 200, description = "Reservations by start time", body = Vec<ReservationBody>)))]
async fn list_connectivity(
    State(state): State<SlicesState>,
    SlicesQuery(q): SlicesQuery<ListQuery>,
    headers: HeaderMap,
) -> Result<Response, SlicesError> {
    let exp = state.experiment(&headers).await?;
    let bad = |field: &str, msg: String| {
        SlicesError::Validation(vec![Detail {
            loc: vec!["query".into(), field.into()],
            msg,
            kind: "value_error".into(),
        }])
    };
    let date = |field: &str, v: &Option<String>| -> Result<_, SlicesError> {
        v.as_deref()
            .map(|s| {
                parse_date(s).ok_or_else(|| bad(field, format!("'{s}' is not an RFC 3339 date")))
            })
            .transpose()
    };
    let states = match q.state.as_deref().unwrap_or("active") {
        "all" => vec![
            ReservationState::Active,
            ReservationState::Expired,
            ReservationState::Deleted,
        ],
        s => vec![ReservationState::parse(s).ok_or_else(|| {
            bad(
                "state",
                format!("state must be active, expired, deleted or all (got '{s}')"),
            )
        })?],
    };
    let limit = q.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(bad(
            "limit",
            format!("limit must be between 1 and 1000 (got {limit})"),
        ));
    }
    let list = state
        .service
        .list(ReservationFilter {
            experiment_id: Some(exp.id.clone()),
            site: q.site.clone(),
            from: date("from", &q.from)?,
            to: date("to", &q.to)?,
            states,
            limit,
        })
        .await?;
    let body: Vec<ReservationBody> = list.iter().map(ReservationBody::from).collect();
    Ok(Json(body).into_response())
}

/// Parameters of an availability query.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct AvailabilityQuery {
    /// First site.
    site1: String,
    /// Second site.
    site2: String,
    /// Window start (RFC 3339).
    start_date: String,
    /// Window end (RFC 3339, exclusive).
    end_date: String,
}

/// What is free between two sites over a window (netorch extension): capacity, peak load, the
/// Mbps a reservation could still get and the S-tags it would get. Nothing is held.
#[utoipa::path(get, path = "/apis/v1alpha1/availability", tag = "slices-connectivity",
    params(AvailabilityQuery, ("Authorization" = String, Header, description = "Bearer <experiment token>")),
    responses((status = 200, description = "Free bandwidth and VLANs"), (status = 422, description = "Unknown sites or bad dates", body = ErrorBody)))]
async fn availability(
    State(state): State<SlicesState>,
    SlicesQuery(q): SlicesQuery<AvailabilityQuery>,
    headers: HeaderMap,
) -> Result<Response, SlicesError> {
    state.experiment(&headers).await?;
    let date = |field: &str, v: &str| {
        parse_date(v).ok_or_else(|| {
            SlicesError::Validation(vec![Detail {
                loc: vec!["query".into(), field.into()],
                msg: format!("'{v}' is not an RFC 3339 date"),
                kind: "datetime_parsing".into(),
            }])
        })
    };
    let (start, end) = (
        date("start_date", &q.start_date)?,
        date("end_date", &q.end_date)?,
    );
    if end <= start {
        return Err(SlicesError::Invalid(
            error::Loc::Date,
            format!(
                "end_date {} must be after start_date {}",
                q.end_date, q.start_date
            ),
        ));
    }
    match state
        .deps
        .repo
        .availability(&q.site1, &q.site2, start, end)
        .await?
    {
        Ok(a) => Ok(Json(a).into_response()),
        Err(refusal) => Err(state
            .service
            .refusal(start, end, &q.site1, &q.site2, refusal)),
    }
}

/// The public keys that verify `application/jwt` responses (RFC 7517 JWK Set).
#[utoipa::path(get, path = "/.well-known/jwks.json", tag = "slices-connectivity",
    responses((status = 200, description = "JWK Set: EC P-256 keys, the signing key first")))]
async fn jwks(State(state): State<SlicesState>) -> Result<Response, SlicesError> {
    let doc = state
        .deps
        .response_keys
        .jwks()
        .await
        .map_err(|e| SlicesError::Internal(e.to_string()))?;
    Ok((
        [
            (header::CONTENT_TYPE, "application/jwk-set+json"),
            (header::CACHE_CONTROL, "public, max-age=300"),
        ],
        doc.to_string(),
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reservation_ids_use_the_host_of_the_public_url() {
        assert_eq!(
            url_host("https://slices-cs.apps.dcw1.paas.psnc.pl"),
            "slices-cs.apps.dcw1.paas.psnc.pl"
        );
        assert_eq!(url_host("http://127.0.0.1:8080/x"), "127.0.0.1");
        assert_eq!(url_host("http://[::1]:80"), "::1");
        let id = service::new_reservation_id("h.example");
        assert!(id.starts_with("con_h.example_"));
        assert_eq!(id.len(), "con_h.example_".len() + 26);
    }
}
