//! The process's own endpoints: health, readiness, metrics and the merged OpenAPI document, which
//! the Swagger UI serves too.

use std::sync::Arc;

use axum::{
    Json, Router,
    extract::{FromRef, State},
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
};
use netorch_core::events::OutboxRepository;
use netorch_store::Store;
use serde_json::{Value, json};
use utoipa::OpenApi;
use utoipa_axum::{router::OpenApiRouter, routes};
use utoipa_swagger_ui::SwaggerUi;

use crate::metrics::Metrics;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "netorch",
        description = "One server for the north-bound APIs of network-service orchestration: OSM NBI (SOL005), ONAP OOF placement, SLICES connectivity, OpenSlice TMF and peering, ONAP CPS DMI."
    ),
    tags((name = "system", description = "Health, readiness, metrics and this document"))
)]
struct SystemApi;

#[derive(Clone)]
struct SystemState {
    store: Store,
    metrics: Arc<Metrics>,
    doc: Arc<utoipa::openapi::OpenApi>,
}

impl FromRef<SystemState> for Store {
    fn from_ref(s: &SystemState) -> Self {
        s.store.clone()
    }
}

/// The system routes, and the OpenAPI document of every family merged with theirs.
pub(crate) fn router(
    store: Store,
    metrics: Arc<Metrics>,
    families: impl IntoIterator<Item = utoipa::openapi::OpenApi>,
) -> Router {
    let (router, mut doc) = OpenApiRouter::with_openapi(SystemApi::openapi())
        .routes(routes!(healthz))
        .routes(routes!(readyz))
        .routes(routes!(metrics_endpoint))
        .routes(routes!(api_spec))
        .routes(routes!(api_spec_json))
        .split_for_parts();
    for family in families {
        doc.merge(family);
    }
    let ui = SwaggerUi::new("/api-docs").url("/api-docs/openapi.json", doc.clone());
    router
        .with_state(SystemState {
            store,
            metrics,
            doc: Arc::new(doc),
        })
        .merge(ui)
}

/// Liveness: never touches the database.
#[utoipa::path(get, path = "/healthz", tag = "system", responses((status = 200, description = "Process is alive")))]
async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

/// Readiness: the store answers and every migration is applied.
#[utoipa::path(get, path = "/readyz", tag = "system", responses((status = 200, description = "Ready"), (status = 503, description = "Not ready")))]
async fn readyz(State(store): State<Store>) -> Response {
    match store.ready().await {
        Ok(true) => Json(json!({"status": "ready"})).into_response(),
        Ok(false) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"status": "migrations pending"})),
        )
            .into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({"status": "store unavailable"})),
            )
                .into_response()
        }
    }
}

/// Prometheus metrics (text exposition format).
#[utoipa::path(get, path = "/metrics", tag = "system",
    responses((status = 200, description = "Metrics", body = String, content_type = "text/plain")))]
async fn metrics_endpoint(State(s): State<SystemState>) -> Response {
    if let Ok(n) = OutboxRepository::pending_count(&s.store).await {
        s.metrics.outbox_pending.set(n);
    }
    crate::metrics::endpoint(State(s.metrics))
        .await
        .into_response()
}

/// The OpenAPI document: YAML, or JSON with `Accept: application/json`.
#[utoipa::path(get, path = "/api-spec", tag = "system",
    responses((status = 200, description = "OpenAPI 3.1 document", content_type = "application/yaml")))]
async fn api_spec(State(s): State<SystemState>, headers: HeaderMap) -> Response {
    let wants_json = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("json") && !a.contains("yaml"));
    if wants_json {
        Json(s.doc.as_ref().clone()).into_response()
    } else {
        match s.doc.to_yaml() {
            Ok(y) => ([(header::CONTENT_TYPE, "application/yaml")], y).into_response(),
            Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
        }
    }
}

/// The OpenAPI document as JSON.
#[utoipa::path(get, path = "/api-spec.json", tag = "system",
    responses((status = 200, description = "OpenAPI 3.1 document", content_type = "application/json")))]
async fn api_spec_json(State(s): State<SystemState>) -> Json<utoipa::openapi::OpenApi> {
    Json(s.doc.as_ref().clone())
}
