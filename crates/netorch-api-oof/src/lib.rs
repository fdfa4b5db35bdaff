#![doc = include_str!("../README.md")]

pub mod inventory;
pub mod model;
pub mod policy;
pub mod request;
pub mod sdnc;

use std::{sync::Arc, time::Duration};

use async_trait::async_trait;
use axum::{
    Json, Router,
    body::Bytes,
    extract::{ConnectInfo, Path, Query, State, rejection::BytesRejection},
    http::{HeaderMap, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    routing::{get, post, put},
};
use netorch_auth::{IdentityService, PermissionSpec, Session};
use netorch_core::{
    Clock, StoreError,
    events::NewEvent,
    jobs::{JobRepository, NewJob},
    tenancy::{Ownership, ProjectScope, Record, RecordRepository},
};
use netorch_http::osm::{Credentials, credentials};
use netorch_scheduler::{JobContext, JobError, JobHandler};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::Notify;

use crate::{
    model::{Inventory, Policy},
    request::PlacementRequest,
};

/// Job that solves an accepted request.
pub const SOLVE_JOB: &str = "oof.solve";
/// Job that delivers a result to the client's callback URL (retried with backoff).
pub const CALLBACK_JOB: &str = "oof.callback";
/// Outbox topic of placement events.
pub const EVENT_TOPIC: &str = "oof.placement";
const REQUESTS: &str = "oof_requests";
const POLICIES: &str = "oof_policies";
const INVENTORY: &str = "oof_inventory";
const INVENTORY_ID: &str = "inventory";

/// Permissions this family checks (`oof:placement:post` to place, `:get` to poll).
pub const PERMISSIONS: &[PermissionSpec] = &[PermissionSpec {
    prefix: "oof:placement:",
    methods: &["get", "post"],
}];

/// What the OOF family needs.
#[derive(Clone)]
pub struct Deps {
    /// Identity (HTTP Basic against netorch users).
    pub identity: Arc<IdentityService>,
    /// Requests, policies and the inventory are stored as records.
    pub records: Arc<dyn RecordRepository>,
    /// Durable jobs.
    pub jobs: Arc<dyn JobRepository>,
    /// Wakes the scheduler after an enqueue.
    pub job_waker: Arc<Notify>,
    /// Time.
    pub clock: Arc<dyn Clock>,
    /// Basic credentials netorch presents to callback URLs.
    pub callback_auth: Option<(String, String)>,
    /// Delivery attempts before a callback is given up.
    pub callback_attempts: i64,
    /// Largest request body (OSDF documents 1 MB).
    pub body_limit: usize,
    /// Cloud regions from other families (the OSM family's enabled VIM accounts).
    pub clouds: Option<Arc<dyn netorch_core::placement::CloudInventory>>,
    /// The controller `instance_fit` / `region_fit` policies ask (`controller: SDN-C`).
    pub sdnc: Option<sdnc::Controller>,
    /// The MILP engine.
    pub solver: netorch_solver::Backend,
}

#[derive(Clone)]
struct OofState {
    deps: Deps,
    http: reqwest::Client,
}

/// OSDF's error body.
fn service_exception(status: StatusCode, text: &str, extra: Option<Value>) -> Response {
    let mut body = json!({"serviceException": {"text": text}});
    if let Some(Value::Object(m)) = extra {
        for (k, v) in m {
            body["serviceException"][k] = v;
        }
    }
    (status, Json(body)).into_response()
}

fn invalid(path: &str, message: &str) -> Response {
    let where_ = if path.is_empty() {
        String::new()
    } else {
        format!("{path}: ")
    };
    service_exception(
        StatusCode::BAD_REQUEST,
        "Client sent an invalid request",
        Some(
            json!({"exceptionMessage": format!("{where_}{message}"), "errorType": "InvalidClientRequest"}),
        ),
    )
}

fn internal(e: impl std::fmt::Display) -> Response {
    tracing::error!(error = %e, "placement request failed");
    service_exception(
        StatusCode::INTERNAL_SERVER_ERROR,
        "Unhandled internal exception, request could not be processed",
        None,
    )
}

/// Authenticates HTTP Basic (or a netorch bearer token) and checks `permission`.
async fn authorize(
    state: &OofState,
    headers: &HeaderMap,
    remote: std::net::SocketAddr,
    permission: &str,
) -> Result<Arc<Session>, Response> {
    let creds = credentials(headers).map_err(|_| {
        service_exception(
            StatusCode::UNAUTHORIZED,
            "Unauthorized, check username and password",
            None,
        )
    })?;
    let session = match creds {
        None => {
            return Err(service_exception(
                StatusCode::BAD_REQUEST,
                "Missing Authorization header: send HTTP Basic credentials of a netorch user allowed to place",
                None,
            ));
        }
        Some(Credentials::Basic(u, p)) => state
            .deps
            .identity
            .authenticate_basic(&u, &p, (remote.ip().to_string(), remote.port()))
            .await
            .map(Arc::new),
        Some(Credentials::Bearer(t)) => state.deps.identity.authenticate(&t).await,
    }
    .map_err(|_| service_exception(StatusCode::UNAUTHORIZED, "Unauthorized, check username and password", None))?;
    if !session.grants(permission) {
        return Err(service_exception(
            StatusCode::FORBIDDEN,
            &format!("user '{}' is not allowed to {permission}", session.username),
            None,
        ));
    }
    Ok(session)
}

/// The routes of the family.
pub fn router(deps: Deps) -> Router {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap_or_default();
    let state = OofState { deps, http };
    Router::new()
        .route("/api/oof/v1/placement", post(place))
        .route("/api/oof/placement/v1", post(place))
        .route("/api/oof/v1/placement/{request_id}", get(status))
        .route("/api/oof/v1/healthcheck", get(|| async { "OK" }))
        .route(
            "/api/oof/v1/inventory",
            get(get_inventory).put(put_inventory),
        )
        .route("/api/oof/v1/policies", get(list_policies))
        .route(
            "/api/oof/v1/policies/{id}",
            put(put_policy).delete(delete_policy),
        )
        .with_state(state)
}

/// Scheduler jobs of the family.
pub fn job_handlers(deps: &Deps) -> Vec<(&'static str, Arc<dyn JobHandler>)> {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap_or_default();
    let state = OofState {
        deps: deps.clone(),
        http,
    };
    vec![
        (
            SOLVE_JOB,
            Arc::new(SolveJob(state.clone())) as Arc<dyn JobHandler>,
        ),
        (CALLBACK_JOB, Arc::new(CallbackJob(state))),
    ]
}

fn record(id: &str, body: Value, now: i64) -> Record {
    Record {
        id: id.into(),
        name: None,
        body,
        owners: Ownership::default(),
        created: now,
        modified: now,
        revision: 1,
    }
}

async fn upsert(
    deps: &Deps,
    collection: &str,
    id: &str,
    body: Value,
    events: &[NewEvent],
) -> Result<(), StoreError> {
    let now = deps.clock.now();
    match deps
        .records
        .get_record(collection, id, &ProjectScope::All, true)
        .await?
    {
        Some(mut r) => {
            r.body = body;
            r.modified = now;
            r.revision += 1;
            deps.records.update_record(collection, &r, events).await
        }
        None => {
            deps.records
                .insert_record(collection, &record(id, body, now), events)
                .await
        }
    }
}

/// Stores the inventory (file at start-up, or the admin API).
pub async fn store_inventory(deps: &Deps, inv: &Inventory) -> Result<(), StoreError> {
    let body = serde_json::to_value(inv).map_err(|e| StoreError::Internal(e.to_string()))?;
    upsert(deps, INVENTORY, INVENTORY_ID, body, &[]).await
}

/// Stores one policy (directory at start-up, or the admin API).
pub async fn store_policy(deps: &Deps, p: &Policy) -> Result<(), StoreError> {
    let body = serde_json::to_value(p).map_err(|e| StoreError::Internal(e.to_string()))?;
    upsert(deps, POLICIES, &p.id, body, &[]).await
}

/// The stored inventory plus the regions of other families; a stored region wins over a VIM
/// account with the same owner and region id.
async fn load_inventory(deps: &Deps) -> Result<Inventory, StoreError> {
    let stored = deps
        .records
        .get_record(INVENTORY, INVENTORY_ID, &ProjectScope::All, false)
        .await?;
    let mut inv: Inventory = match stored {
        Some(r) => {
            serde_json::from_value(r.body).map_err(|e| StoreError::Internal(e.to_string()))?
        }
        None => Inventory::default(),
    };
    if let Some(src) = &deps.clouds {
        for v in src.cloud_regions().await? {
            match serde_json::from_value::<model::CloudRegion>(v) {
                Ok(r) => {
                    let dup = inv.cloud_region.iter().any(|x| {
                        x.cloud_owner == r.cloud_owner && x.cloud_region_id == r.cloud_region_id
                    });
                    if !dup {
                        inv.cloud_region.push(r);
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "skipping a cloud region the placement inventory cannot read")
                }
            }
        }
        for v in src.service_instances().await? {
            match serde_json::from_value::<model::ServiceInstance>(v) {
                Ok(i) => {
                    let dup = inv
                        .service_instance
                        .iter()
                        .any(|x| x.service_instance_id == i.service_instance_id);
                    if !dup {
                        inv.service_instance.push(i);
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "skipping a service instance the placement inventory cannot read")
                }
            }
        }
    }
    Ok(inv)
}

async fn load_policies(deps: &Deps) -> Result<Vec<Policy>, StoreError> {
    let mut out = Vec::new();
    for r in deps
        .records
        .list_records(POLICIES, &ProjectScope::All)
        .await?
    {
        out.push(serde_json::from_value(r.body).map_err(|e| StoreError::Internal(e.to_string()))?);
    }
    out.sort_by(|a: &Policy, b| a.id.cmp(&b.id));
    Ok(out)
}

fn event(key: &str, payload: Value) -> NewEvent {
    NewEvent::new(EVENT_TOPIC, key, payload)
}

#[derive(Debug, Deserialize)]
struct PlaceQuery {
    sync: Option<String>,
}

fn version_headers(resp: &mut Response) {
    for (k, v) in [
        ("x-minorversion", "0"),
        ("x-patchversion", "0"),
        ("x-latestversion", "1.0.0"),
    ] {
        resp.headers_mut().insert(k, HeaderValue::from_static(v));
    }
}

/// Computes the callback body of a request (success, no solution, or failure), the number of
/// solutions, and the status a synchronous caller gets: 201, 520 (fewer solutions than asked),
/// 400 (the request cannot be planned), 502 (a controller failed), 503 (the store failed).
async fn compute(deps: &Deps, req: &PlacementRequest) -> (Value, usize, StatusCode) {
    let base = json!({
        "transactionId": req.request_info.transaction_id,
        "requestId": req.request_info.request_id,
    });
    let failed_with = |status: StatusCode, msg: String| {
        let mut b = base.clone();
        b["requestStatus"] = json!("failed");
        b["statusMessage"] = json!(msg);
        (b, 0, status)
    };
    let failed = |msg: String| failed_with(StatusCode::BAD_REQUEST, msg);
    let (inv, policies) = match (load_inventory(deps).await, load_policies(deps).await) {
        (Ok(i), Ok(p)) => (i, p),
        (Err(e), _) | (_, Err(e)) => {
            return failed_with(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("store unavailable: {e}"),
            );
        }
    };
    let selected = match model::select(req, &policies) {
        Ok(s) => s,
        Err(e) => return failed(e.0),
    };
    // Capacity checks depend on which candidates survive the other rules: plan, ask the
    // controller about the survivors, plan again with the answers.
    let mut fits = model::FitAnswers::new();
    let plan = loop {
        let plan = match model::plan(req, &inv, &selected, &fits) {
            Ok(p) => p,
            Err(e) => return failed(e.0),
        };
        if plan.fit_checks.is_empty() {
            break plan;
        }
        let Some(controller) = &deps.sdnc else {
            return failed(format!(
                "policy {} needs an SDN-C controller, and none is configured (oof.sdnc_url)",
                plan.fit_checks[0].policy
            ));
        };
        match controller.check_all(req, &plan.fit_checks).await {
            Ok(answers) => fits.extend(answers),
            Err(e) => return failed_with(StatusCode::BAD_GATEWAY, e),
        }
    };
    let licenses = match model::licenses(req, &inv) {
        Ok(l) => l,
        Err(e) => return failed(e.0),
    };
    let mut body = base.clone();
    body["requestStatus"] = json!("completed");
    if let Some(why) = &plan.emptied {
        body["statusMessage"] = json!(format!("no solution: {why}"));
        body["solutions"] = json!({"placementSolutions": [], "licenseSolutions": licenses});
        return (body, 0, too_few());
    }
    let problem = plan.problem.clone();
    let options = netorch_solver::Options {
        backend: deps.solver,
        ..plan.options.clone()
    };
    // The solver is CPU-bound: a blocking thread, never the async runtime.
    let answer =
        tokio::task::spawn_blocking(move || netorch_solver::solve(&problem, &options)).await;
    let answer = match answer {
        Ok(Ok(a)) => a,
        Ok(Err(e)) => return failed(e.to_string()),
        Err(e) => return failed(format!("solver task failed: {e}")),
    };
    let n = answer.solutions.len();
    body["statusMessage"] = json!(match (&answer.infeasible, answer.proven) {
        (Some(e), _) => format!("no solution: {}", e.message),
        (None, false) =>
            format!("{n} solution(s) found within the time limit; optimality not proven"),
        (None, true) => String::new(),
    });
    body["solutions"] = json!({
        "placementSolutions": model::placement_solutions(req, &plan, &answer),
        "licenseSolutions": licenses,
    });
    let wanted = req.request_info.num_solutions.unwrap_or(1).max(1) as usize;
    (
        body,
        n,
        if n < wanted {
            too_few()
        } else {
            StatusCode::CREATED
        },
    )
}

/// The wiki's 520: the requested number of solutions cannot be found.
fn too_few() -> StatusCode {
    StatusCode::from_u16(520).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

async fn place(
    State(state): State<OofState>,
    ConnectInfo(remote): ConnectInfo<std::net::SocketAddr>,
    Query(q): Query<PlaceQuery>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    if let Err(r) = authorize(&state, &headers, remote, "oof:placement:post").await {
        return r;
    }
    let body = match body {
        Ok(b) if b.len() <= state.deps.body_limit => b,
        Ok(_) => {
            return service_exception(
                StatusCode::PAYLOAD_TOO_LARGE,
                "Request body larger than 1 MB",
                None,
            );
        }
        Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            return service_exception(
                StatusCode::PAYLOAD_TOO_LARGE,
                "Request body larger than 1 MB",
                None,
            );
        }
        Err(e) => return invalid("", &e.body_text()),
    };
    let req = match PlacementRequest::parse(&body) {
        Ok(r) => r,
        Err(e) => return invalid(&e.path, &e.message),
    };
    // Policies are checked at once, as OSDF does, so a missing one is a 400, not a late failure.
    match load_policies(&state.deps).await {
        Ok(all) => {
            if let Err(e) = model::select(&req, &all) {
                return service_exception(StatusCode::BAD_REQUEST, &e.0, None);
            }
        }
        Err(e) => return internal(e),
    }
    let sync = q.sync.as_deref().is_some_and(|v| v == "true" || v == "1")
        || headers.get("x-oof-sync").is_some_and(|v| v == "true");
    if sync {
        let (body, _, status) = compute(&state.deps, &req).await;
        let mut resp = (status, Json(body)).into_response();
        version_headers(&mut resp);
        return resp;
    }
    let id = req.request_info.request_id.clone();
    let now = state.deps.clock.now();
    let stored = json!({"status": "accepted", "request": req, "result": null, "attempts": []});
    let accepted = event(
        "accepted",
        json!({"requestId": id, "transactionId": req.request_info.transaction_id}),
    );
    match state
        .deps
        .records
        .insert_record(REQUESTS, &record(&id, stored, now), &[accepted])
        .await
    {
        Ok(()) => {}
        Err(StoreError::Conflict(_)) => {
            return invalid(
                "requestInfo.requestId",
                &format!("request '{id}' was already submitted"),
            );
        }
        Err(e) => return internal(e),
    }
    let job = NewJob {
        kind: SOLVE_JOB.into(),
        project_id: None,
        payload: json!({"requestId": id}),
        max_attempts: 3,
        run_at: now,
        dedupe_key: Some(format!("oof.solve:{id}")),
    };
    if let Err(e) = state.deps.jobs.enqueue(&job, now).await {
        return internal(e);
    }
    state.deps.job_waker.notify_one();
    tracing::info!(request_id = %id, "placement request accepted");
    let mut resp = (
        StatusCode::ACCEPTED,
        Json(json!({
            "requestId": id,
            "transactionId": req.request_info.transaction_id,
            "requestStatus": "accepted",
            "statusMessage": "",
        })),
    )
        .into_response();
    version_headers(&mut resp);
    resp
}

async fn status(
    State(state): State<OofState>,
    ConnectInfo(remote): ConnectInfo<std::net::SocketAddr>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    if let Err(r) = authorize(&state, &headers, remote, "oof:placement:get").await {
        return r;
    }
    match state
        .deps
        .records
        .get_record(REQUESTS, &id, &ProjectScope::All, false)
        .await
    {
        Ok(Some(r)) => Json(json!({
            "requestId": id,
            "status": r.body["status"],
            "result": r.body["result"],
            "callbackAttempts": r.body["attempts"],
        }))
        .into_response(),
        Ok(None) => service_exception(
            StatusCode::NOT_FOUND,
            &format!("no placement request '{id}'"),
            None,
        ),
        Err(e) => internal(e),
    }
}

async fn get_inventory(
    State(state): State<OofState>,
    ConnectInfo(remote): ConnectInfo<std::net::SocketAddr>,
    headers: HeaderMap,
) -> Response {
    if let Err(r) = authorize(&state, &headers, remote, "oof:placement:get").await {
        return r;
    }
    match load_inventory(&state.deps).await {
        Ok(inv) => Json(inv).into_response(),
        Err(e) => internal(e),
    }
}

async fn admin(
    state: &OofState,
    headers: &HeaderMap,
    remote: std::net::SocketAddr,
    method: &str,
) -> Result<(), Response> {
    let s = authorize(state, headers, remote, "oof:placement:get").await?;
    if !s.is_admin(method) {
        return Err(service_exception(
            StatusCode::FORBIDDEN,
            "changing the inventory or policies needs a netorch administrator",
            None,
        ));
    }
    Ok(())
}

async fn put_inventory(
    State(state): State<OofState>,
    ConnectInfo(remote): ConnectInfo<std::net::SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(r) = admin(&state, &headers, remote, "put").await {
        return r;
    }
    let de = &mut serde_json::Deserializer::from_slice(&body);
    let inv: Inventory = match serde_path_to_error::deserialize(de) {
        Ok(i) => i,
        Err(e) => return invalid(&e.path().to_string(), &e.inner().to_string()),
    };
    if let Err((path, message)) = inv.validate() {
        return invalid(&path, &message);
    }
    match store_inventory(&state.deps, &inv).await {
        Ok(()) => Json(inv).into_response(),
        Err(e) => internal(e),
    }
}

async fn list_policies(
    State(state): State<OofState>,
    ConnectInfo(remote): ConnectInfo<std::net::SocketAddr>,
    headers: HeaderMap,
) -> Response {
    if let Err(r) = authorize(&state, &headers, remote, "oof:placement:get").await {
        return r;
    }
    match load_policies(&state.deps).await {
        Ok(p) => Json(p).into_response(),
        Err(e) => internal(e),
    }
}

async fn put_policy(
    State(state): State<OofState>,
    ConnectInfo(remote): ConnectInfo<std::net::SocketAddr>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(r) = admin(&state, &headers, remote, "put").await {
        return r;
    }
    let mut p: Policy = match serde_json::from_slice(&body) {
        Ok(p) => p,
        Err(e) => return invalid("", &e.to_string()),
    };
    p.id = id;
    match store_policy(&state.deps, &p).await {
        Ok(()) => Json(p).into_response(),
        Err(e) => internal(e),
    }
}

async fn delete_policy(
    State(state): State<OofState>,
    ConnectInfo(remote): ConnectInfo<std::net::SocketAddr>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    if let Err(r) = admin(&state, &headers, remote, "delete").await {
        return r;
    }
    match state.deps.records.delete_record(POLICIES, &id, &[]).await {
        Ok(true) => StatusCode::NO_CONTENT.into_response(),
        Ok(false) => service_exception(StatusCode::NOT_FOUND, &format!("no policy '{id}'"), None),
        Err(e) => internal(e),
    }
}

struct SolveJob(OofState);

#[async_trait]
impl JobHandler for SolveJob {
    async fn run(&self, ctx: JobContext) -> Result<Value, JobError> {
        let deps = &self.0.deps;
        let id = ctx.job.payload["requestId"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let Some(mut rec) = deps
            .records
            .get_record(REQUESTS, &id, &ProjectScope::All, true)
            .await
            .map_err(|e| JobError::Retry(e.to_string()))?
        else {
            return Err(JobError::Fatal(format!("request {id} is gone")));
        };
        // Solved before a restart: only the callback is left to enqueue.
        if rec.body["result"].is_null() {
            let req: PlacementRequest = serde_json::from_value(rec.body["request"].clone())
                .map_err(|e| JobError::Fatal(e.to_string()))?;
            ctx.progress("solving").await;
            let (result, n, _) = compute(deps, &req).await;
            let status = if result["requestStatus"] == "failed" {
                "failed"
            } else {
                "solved"
            };
            rec.body["status"] = json!(status);
            rec.body["result"] = result;
            rec.modified = deps.clock.now();
            rec.revision += 1;
            let ev = event(status, json!({"requestId": id, "solutions": n}));
            deps.records
                .update_record(REQUESTS, &rec, &[ev])
                .await
                .map_err(|e| JobError::Retry(e.to_string()))?;
            tracing::info!(request_id = %id, status, solutions = n, "placement request solved");
        }
        let now = deps.clock.now();
        deps.jobs
            .enqueue(
                &NewJob {
                    kind: CALLBACK_JOB.into(),
                    project_id: None,
                    payload: json!({"requestId": id}),
                    max_attempts: deps.callback_attempts,
                    run_at: now,
                    dedupe_key: Some(format!("oof.callback:{id}")),
                },
                now,
            )
            .await
            .map_err(|e| JobError::Retry(e.to_string()))?;
        deps.job_waker.notify_one();
        Ok(json!({"requestId": id}))
    }
}

struct CallbackJob(OofState);

#[async_trait]
impl JobHandler for CallbackJob {
    async fn run(&self, ctx: JobContext) -> Result<Value, JobError> {
        let deps = &self.0.deps;
        let id = ctx.job.payload["requestId"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let Some(rec) = deps
            .records
            .get_record(REQUESTS, &id, &ProjectScope::All, true)
            .await
            .map_err(|e| JobError::Retry(e.to_string()))?
        else {
            return Err(JobError::Fatal(format!("request {id} is gone")));
        };
        let url = rec.body["request"]["requestInfo"]["callbackUrl"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let mut rb = self.0.http.post(&url).json(&rec.body["result"]);
        if let Some((u, p)) = &deps.callback_auth {
            rb = rb.basic_auth(u, Some(p));
        }
        if let Some(Value::Object(h)) = rec.body["request"]["requestInfo"].get("callbackHeader") {
            for (k, v) in h {
                let value = match v {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                rb = rb.header(k.as_str(), value);
            }
        }
        let started = deps.clock.now();
        let outcome = match rb.send().await {
            Ok(r) if r.status().is_success() => Ok(r.status().as_u16()),
            Ok(r) => Err(format!("callback answered {}", r.status())),
            Err(e) => Err(format!("callback failed: {e}")),
        };
        let attempt = json!({
            "attempt": ctx.job.attempts,
            "at": started,
            "ok": outcome.is_ok(),
            "status": outcome.as_ref().ok(),
            "error": outcome.as_ref().err(),
        });
        // Re-read: the record may have changed while the POST was in flight.
        let mut rec = deps
            .records
            .get_record(REQUESTS, &id, &ProjectScope::All, true)
            .await
            .map_err(|e| JobError::Retry(e.to_string()))?
            .ok_or_else(|| JobError::Fatal(format!("request {id} is gone")))?;
        if let Some(a) = rec.body["attempts"].as_array_mut() {
            a.push(attempt);
        }
        let delivered = outcome.is_ok();
        if delivered {
            rec.body["status"] = json!(if rec.body["status"] == "failed" {
                "failed-delivered"
            } else {
                "completed"
            });
        }
        rec.modified = deps.clock.now();
        rec.revision += 1;
        let events = if delivered {
            vec![event(
                "callback_delivered",
                json!({"requestId": id, "attempt": ctx.job.attempts}),
            )]
        } else {
            Vec::new()
        };
        deps.records
            .update_record(REQUESTS, &rec, &events)
            .await
            .map_err(|e| JobError::Retry(e.to_string()))?;
        match outcome {
            Ok(status) => {
                tracing::info!(request_id = %id, status, "placement callback delivered");
                Ok(json!({"delivered": status}))
            }
            Err(e) => {
                tracing::warn!(request_id = %id, attempt = ctx.job.attempts, error = %e, "placement callback failed; will retry");
                Err(JobError::Retry(e))
            }
        }
    }
}

/// OpenAPI description of the family's routes (documentation only: the handlers above serve them).
mod openapi {
    #![expect(
        dead_code,
        reason = "these functions only carry the OpenAPI path documentation"
    )]

    /// Request a placement (HTTP Basic). 202 and a callback, or `?sync=true` for 201 with the result.
    #[utoipa::path(post, path = "/api/oof/v1/placement", tag = "oof",
        params(("sync" = Option<bool>, Query, description = "Answer with the result (201; 520 when fewer solutions than asked exist)")),
        request_body(content = Object, description = "OSDF placement request: requestInfo, placementInfo, licenseInfo, serviceInfo"),
        responses(
            (status = 202, description = "Accepted: {requestId, transactionId, requestStatus: accepted, statusMessage}"),
            (status = 201, description = "Sync mode: the callback body"),
            (status = 400, description = "Invalid request or missing Authorization: {serviceException: {...}}"),
            (status = 401, description = "Unauthorized, check username and password"),
            (status = 413, description = "Body over 1 MB"),
            (status = 520, description = "Sync mode: the requested number of solutions cannot be found")))]
    fn place() {}

    /// Same as `/api/oof/v1/placement` (OSDF's alias).
    #[utoipa::path(post, path = "/api/oof/placement/v1", tag = "oof",
        request_body(content = Object, description = "OSDF placement request"),
        responses((status = 202, description = "Accepted")))]
    fn place_alias() {}

    /// Status, result and callback attempts of a request (netorch extension).
    #[utoipa::path(get, path = "/api/oof/v1/placement/{requestId}", tag = "oof",
        params(("requestId" = String, Path, description = "requestInfo.requestId")),
        responses((status = 200, description = "{requestId, status, result, callbackAttempts}"), (status = 404, description = "Unknown request")))]
    fn status() {}

    /// Liveness of the placement API (plain `OK`).
    #[utoipa::path(get, path = "/api/oof/v1/healthcheck", tag = "oof", responses((status = 200, description = "OK")))]
    fn healthcheck() {}

    /// The placement inventory (stored regions, service instances and license pools plus enabled
    /// OSM VIM accounts).
    #[utoipa::path(get, path = "/api/oof/v1/inventory", tag = "oof", responses((status = 200, description = "{cloud-region: [...], service-instance: [...], license-pool: [...]}")))]
    fn get_inventory() {}

    /// Replace the stored inventory (administrators).
    #[utoipa::path(put, path = "/api/oof/v1/inventory", tag = "oof",
        request_body(content = Object, description = "A&AI-shaped inventory"),
        responses((status = 200, description = "Stored"), (status = 400, description = "Malformed, or an identifier missing or listed twice"), (status = 403, description = "Not an administrator")))]
    fn put_inventory() {}

    /// Placement policies.
    #[utoipa::path(get, path = "/api/oof/v1/policies", tag = "oof", responses((status = 200, description = "Policies in OSDF's format")))]
    fn list_policies() {}

    /// Create or replace a policy (administrators).
    #[utoipa::path(put, path = "/api/oof/v1/policies/{id}", tag = "oof",
        params(("id" = String, Path, description = "Policy id")),
        request_body(content = Object, description = "{type, properties}"),
        responses((status = 200, description = "Stored")))]
    fn put_policy() {}

    /// Delete a policy (administrators).
    #[utoipa::path(delete, path = "/api/oof/v1/policies/{id}", tag = "oof",
        params(("id" = String, Path, description = "Policy id")),
        responses((status = 204, description = "Deleted"), (status = 404, description = "Unknown policy")))]
    fn delete_policy() {}

    #[derive(utoipa::OpenApi)]
    #[openapi(
        paths(place, place_alias, status, healthcheck, get_inventory, put_inventory, list_policies, put_policy, delete_policy),
        tags((name = "oof", description = "ONAP OOF/HAS placement: exact optimiser, asynchronous callbacks"))
    )]
    pub(super) struct OofApi;
}

/// The family's OpenAPI document.
pub fn openapi() -> utoipa::openapi::OpenApi {
    <openapi::OofApi as utoipa::OpenApi>::openapi()
}
