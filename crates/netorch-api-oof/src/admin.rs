//! The inventory and policy endpoints (netorch extensions; changes need an administrator) and the
//! health check.

use axum::{
    Json,
    extract::State,
    http::{HeaderMap, StatusCode},
};
use netorch_http::osm::RemoteAddr;

use crate::{
    Body, OofState, Path,
    auth::{self, administrator, authorize},
    error::{OofError, OofErrorBody},
    inventory::Inventory,
    policy::Policy,
    store,
};

/// Liveness of the placement API (plain `OK`).
#[utoipa::path(get, path = "/api/oof/v1/healthcheck", tag = "oof",
    responses((status = 200, description = "OK", body = String, content_type = "text/plain")))]
pub(crate) async fn healthcheck() -> &'static str {
    "OK"
}

/// The placement inventory (stored regions, service instances and license pools plus enabled
/// OSM VIM accounts).
#[utoipa::path(get, path = "/api/oof/v1/inventory", tag = "oof",
    responses((status = 200, description = "{cloud-region: [...], service-instance: [...], license-pool: [...]}", body = Object)))]
pub(crate) async fn get_inventory(
    State(state): State<OofState>,
    remote: RemoteAddr,
    headers: HeaderMap,
) -> Result<Json<Inventory>, OofError> {
    authorize(&state, &headers, &remote, auth::READ).await?;
    Ok(Json(store::load_inventory(&state.deps).await?))
}

/// Replace the stored inventory (administrators).
#[utoipa::path(put, path = "/api/oof/v1/inventory", tag = "oof",
    request_body(content = Object, description = "A&AI-shaped inventory"),
    responses(
        (status = 200, description = "Stored", body = Object),
        (status = 400, description = "Malformed, or an identifier missing or listed twice", body = OofErrorBody),
        (status = 403, description = "Not an administrator", body = OofErrorBody)))]
pub(crate) async fn put_inventory(
    State(state): State<OofState>,
    remote: RemoteAddr,
    headers: HeaderMap,
    Body(body): Body,
) -> Result<Json<Inventory>, OofError> {
    administrator(&state, &headers, &remote, "put").await?;
    let de = &mut serde_json::Deserializer::from_slice(&body);
    let inv: Inventory = serde_path_to_error::deserialize(de)
        .map_err(|e| OofError::invalid(e.path().to_string(), e.inner().to_string()))?;
    inv.validate()
        .map_err(|(path, message)| OofError::invalid(path, message))?;
    store::store_inventory(&state.deps, &inv).await?;
    Ok(Json(inv))
}

/// Placement policies.
#[utoipa::path(get, path = "/api/oof/v1/policies", tag = "oof",
    responses((status = 200, description = "Policies in OSDF's format", body = Vec<Object>)))]
pub(crate) async fn list_policies(
    State(state): State<OofState>,
    remote: RemoteAddr,
    headers: HeaderMap,
) -> Result<Json<Vec<Policy>>, OofError> {
    authorize(&state, &headers, &remote, auth::READ).await?;
    Ok(Json(store::load_policies(&state.deps).await?))
}

/// Create or replace a policy (administrators).
#[utoipa::path(put, path = "/api/oof/v1/policies/{id}", tag = "oof",
    params(("id" = String, Path, description = "Policy id")),
    request_body(content = Object, description = "{type, properties}"),
    responses(
        (status = 200, description = "Stored", body = Object),
        (status = 400, description = "Malformed", body = OofErrorBody),
        (status = 403, description = "Not an administrator", body = OofErrorBody)))]
pub(crate) async fn put_policy(
    State(state): State<OofState>,
    remote: RemoteAddr,
    Path(id): Path<String>,
    headers: HeaderMap,
    Body(body): Body,
) -> Result<Json<Policy>, OofError> {
    administrator(&state, &headers, &remote, "put").await?;
    let mut p: Policy =
        serde_json::from_slice(&body).map_err(|e| OofError::invalid("", e.to_string()))?;
    p.id = id;
    store::store_policy(&state.deps, &p).await?;
    Ok(Json(p))
}

/// Delete a policy (administrators).
#[utoipa::path(delete, path = "/api/oof/v1/policies/{id}", tag = "oof",
    params(("id" = String, Path, description = "Policy id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 403, description = "Not an administrator", body = OofErrorBody),
        (status = 404, description = "Unknown policy", body = OofErrorBody)))]
pub(crate) async fn delete_policy(
    State(state): State<OofState>,
    remote: RemoteAddr,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<StatusCode, OofError> {
    administrator(&state, &headers, &remote, "delete").await?;
    if store::delete_policy(&state.deps, &id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(OofError::NotFound(format!("no policy '{id}'")))
    }
}
