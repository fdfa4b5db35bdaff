//! Connectivity reservations: create, read, update, delete, list, availability, and the keys that
//! verify signed answers.

use axum::{
    Json,
    extract::State,
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use netorch_core::connectivity::{ReservationFilter, ReservationState};
use serde::Deserialize;

use crate::{
    Body, Path, Query, SlicesState, auth,
    error::{self, Detail, ErrorBody, SlicesError},
    json::{self, ReservationBody, ReservationInput, parse_date},
    service::Done,
};

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
pub(crate) async fn create_connectivity(
    State(state): State<SlicesState>,
    Query(q): Query<ConnectivityQuery>,
    headers: HeaderMap,
    Body(body): Body,
) -> Result<Response, SlicesError> {
    let exp = state.writer(&headers, "create").await?;
    let start_now = start_now(&q)?;
    let input = ReservationInput::parse(&body)?;
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
pub(crate) async fn get_connectivity(
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
pub(crate) async fn update_connectivity(
    State(state): State<SlicesState>,
    Path(id): Path<String>,
    Query(q): Query<ConnectivityQuery>,
    headers: HeaderMap,
    Body(body): Body,
) -> Result<Response, SlicesError> {
    let exp = state.writer(&headers, "update").await?;
    let start_now = start_now(&q)?;
    let input = ReservationInput::parse(&body)?;
    auth::user(&input.tokens, &state.deps.verifier, &exp).await?;
    let r = state.service.update(&exp, &id, &input, start_now).await?;
    state.render(&headers, StatusCode::OK, &r).await
}

/// Delete a reservation (LEAD or ADMIN): its VLANs and bandwidth are free at once.
#[utoipa::path(delete, path = "/apis/v1alpha1/connectivity/{id}", tag = "slices-connectivity",
    params(("id" = String, Path, description = "Reservation id"),
        ("Authorization" = String, Header, description = "Bearer <experiment token> (LEAD or ADMIN)")),
    responses((status = 204, description = "Released"), (status = 404, description = "No such reservation (or already deleted)", body = ErrorBody)))]
pub(crate) async fn delete_connectivity(
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
pub(crate) async fn list_connectivity(
    State(state): State<SlicesState>,
    Query(q): Query<ListQuery>,
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
pub(crate) async fn availability(
    State(state): State<SlicesState>,
    Query(q): Query<AvailabilityQuery>,
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
pub(crate) async fn jwks(State(state): State<SlicesState>) -> Result<Response, SlicesError> {
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
