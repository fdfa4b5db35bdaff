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

/// What readiness looks at besides the store.
#[derive(Clone)]
pub(crate) struct Probes {
    /// The singleton lease as this replica sees it.
    pub leadership: crate::leader::Leadership,
    /// The sealing key's fingerprint (checked against the database's at start-up).
    pub key_fingerprint: String,
    /// `bus` or `kafka`.
    pub sink: String,
    /// Readiness fails when the oldest undelivered event is older (see `events.ready_max_lag`).
    pub ready_max_lag: Option<std::time::Duration>,
    /// The clock event ages are measured with.
    pub clock: Arc<dyn netorch_core::Clock>,
}

#[derive(Clone)]
struct SystemState {
    store: Store,
    metrics: Arc<Metrics>,
    spec: Arc<Spec>,
    probes: Probes,
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
    probes: Probes,
    families: impl IntoIterator<Item = utoipa::openapi::OpenApi>,
) -> (Router, Router) {
    let (router, mut doc) = OpenApiRouter::with_openapi(SystemApi::openapi())
        .routes(routes!(healthz))
        .routes(routes!(livez))
        .routes(routes!(readyz))
        .routes(routes!(metrics_endpoint))
        .routes(routes!(api_spec))
        .routes(routes!(api_spec_json))
        .split_for_parts();
    for family in families {
        doc.merge(family);
    }
    let spec = Arc::new(Spec::new(&doc));
    drop(doc);
    // The UI loads the document from our route, so it keeps no copy of its own.
    let ui = SwaggerUi::new("/api-docs").config(utoipa_swagger_ui::Config::from(SWAGGER_DOC));
    let state = SystemState {
        store,
        metrics,
        spec,
        probes,
    };
    // The management listener: probes and metrics only, no API, no TLS, no authentication.
    let management = Router::new()
        .route("/healthz", axum::routing::get(healthz))
        .route("/livez", axum::routing::get(livez))
        .route("/readyz", axum::routing::get(readyz))
        .route("/metrics", axum::routing::get(metrics_endpoint))
        .with_state(state.clone());
    let doc_for_ui = axum::routing::get(|State(s): State<SystemState>| async move {
        json_response(s.spec.json.clone())
    });
    let router = router
        .route(SWAGGER_DOC, doc_for_ui)
        .with_state(state)
        .merge(ui);
    (router, management)
}

/// Where the Swagger UI reads the document.
const SWAGGER_DOC: &str = "/api-docs/openapi.json";

/// The merged OpenAPI document, serialised once at start-up. The structures it is built from
/// take megabytes — the served document and the Swagger UI's copy were ≈ 11 MB of the resident
/// set (heaptrack, issue 12 point 8) — the texts a few hundred kilobytes; and no request clones
/// the document to answer any more.
struct Spec {
    json: bytes::Bytes,
    /// `None` if the document cannot be written as YAML (then `/api-spec` answers 500).
    yaml: Option<bytes::Bytes>,
}

impl Spec {
    fn new(doc: &utoipa::openapi::OpenApi) -> Self {
        Self {
            json: serde_json::to_vec(doc).unwrap_or_default().into(),
            yaml: doc.to_yaml().ok().map(Into::into),
        }
    }
}

fn json_response(body: bytes::Bytes) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// Liveness: never touches the database.
#[utoipa::path(get, path = "/healthz", tag = "system", responses((status = 200, description = "Process is alive")))]
async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

/// Liveness for probes: the process answers; never touches the database, so a database outage
/// does not restart every replica.
#[utoipa::path(get, path = "/livez", tag = "system", responses((status = 200, description = "Process is alive")))]
async fn livez() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

/// Readiness: the database answers with every migration applied, the sealing key is the
/// database's, the event sink keeps up (when `events.ready_max_lag` is set); the detail names
/// each check and the holder of the singleton lease.
#[utoipa::path(get, path = "/readyz", tag = "system", responses((status = 200, description = "Ready; each check's detail"), (status = 503, description = "Not ready; the failing checks say why")))]
async fn readyz(State(s): State<SystemState>) -> Response {
    let mut ready = true;
    let database = match s.store.ready().await {
        Ok(true) => {
            json!({"ok": true, "backend": format!("{:?}", s.store.backend()).to_ascii_lowercase()})
        }
        Ok(false) => {
            ready = false;
            json!({"ok": false, "reason": "migrations pending: run netorch migrate"})
        }
        Err(e) => {
            ready = false;
            tracing::warn!(error = %e, "readiness: the database does not answer");
            json!({"ok": false, "reason": format!("the database does not answer: {e}")})
        }
    };
    let events = match s.store.outbox_backlog().await {
        Ok((pending, oldest)) => {
            let age = oldest.map(|o| (s.probes.clock.now() - o).max(0) / 1_000_000);
            let late = match (s.probes.ready_max_lag, age) {
                (Some(max), Some(age)) => age as u64 > max.as_secs(),
                _ => false,
            };
            ready &= !late;
            let mut v = json!({"ok": !late, "sink": s.probes.sink, "pending": pending,
                "oldestPendingSeconds": age});
            if late {
                v["reason"] = json!("undelivered events are older than events.ready_max_lag");
            }
            v
        }
        Err(e) => json!({"ok": false, "sink": s.probes.sink, "reason": e.to_string()}),
    };
    let leader = s.probes.leadership.holder();
    let body = json!({
        "status": if ready { "ready" } else { "not ready" },
        "replica": s.probes.leadership.id(),
        "checks": {
            "database": database,
            "events": events,
            "secrets": {"ok": true, "sealingKeyFingerprint": s.probes.key_fingerprint},
        },
        "leader": leader.map(|h| json!({"holder": h.holder, "self": h.holder == s.probes.leadership.id(),
            "since": netorch_api_tmf::rfc3339(h.acquired_at)})),
    });
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body)).into_response()
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
        json_response(s.spec.json.clone())
    } else {
        match &s.spec.yaml {
            Some(y) => ([(header::CONTENT_TYPE, "application/yaml")], y.clone()).into_response(),
            None => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
        }
    }
}

/// The OpenAPI document as JSON.
#[utoipa::path(get, path = "/api-spec.json", tag = "system",
    responses((status = 200, description = "OpenAPI 3.1 document", content_type = "application/json")))]
async fn api_spec_json(State(s): State<SystemState>) -> Response {
    json_response(s.spec.json.clone())
}
