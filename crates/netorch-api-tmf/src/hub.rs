//! TMF633 and TMF632 notifications. `POST /hub {callback, query}` subscribes (to catalog events
//! with any valid token; to party events, which carry partners' details, as an administrator),
//! `DELETE /hub/{id}` unsubscribes; each API's hub sees only its own subscriptions. Every
//! catalog or party change leaves a record in `tmf_hub_events` in its own transaction; a periodic sweep turns each into one delivery job per matching subscription (a
//! dedupe key per event and subscription) and then removes it, so a crash loses nothing and
//! delivers at least once. A delivery POSTs the TMF envelope to `<callback>/listener/<eventType>`
//! (`serviceSpecificationChangeEvent`...) and is retried with backoff.
//!
//! The `listener/*` endpoints are the receiving side: a peer's notification about a
//! specification this server peered triggers an immediate re-fetch from that peer (the payload
//! itself is never trusted), so a change upstream shows before the next heartbeat.

use std::{
    sync::{
        Arc,
        atomic::{AtomicI64, Ordering},
    },
    time::Duration,
};

use async_trait::async_trait;
use axum::{
    Json,
    extract::State,
    http::{HeaderMap, StatusCode},
};
use netorch_core::{
    jobs::NewJob,
    tenancy::{Ownership, ProjectScope, Record},
};
use netorch_scheduler::{JobContext, JobError, JobHandler};
use serde_json::{Value, json};

use crate::{Body, Path, TmfError, TmfState, auth, entities::HUB_EVENTS, error::ErrorBody};

/// Subscriptions are records of this collection.
pub const COLLECTION: &str = "tmf_hubs";
/// Periodic job turning catalog events into deliveries.
pub const NOTIFY_JOB: &str = "tmf.hub.notify";
/// One delivery to one subscriber (retried).
pub const DELIVER_JOB: &str = "tmf.hub.deliver";

const CATALOG_EVENTS: [&str; 13] = [
    "ServiceCatalogCreateEvent",
    "ServiceCatalogChangeEvent",
    "ServiceCatalogBatchEvent",
    "ServiceCatalogDeleteEvent",
    "ServiceCategoryCreateEvent",
    "ServiceCategoryChangeEvent",
    "ServiceCategoryDeleteEvent",
    "ServiceCandidateCreateEvent",
    "ServiceCandidateChangeEvent",
    "ServiceCandidateDeleteEvent",
    "ServiceSpecificationCreateEvent",
    "ServiceSpecificationChangeEvent",
    "ServiceSpecificationDeleteEvent",
];

const PARTY_EVENTS: [&str; 8] = [
    "OrganizationCreateEvent",
    "OrganizationAttributeValueChangeEvent",
    "OrganizationStateChangeEvent",
    "OrganizationDeleteEvent",
    "IndividualCreateEvent",
    "IndividualAttributeValueChangeEvent",
    "IndividualStateChangeEvent",
    "IndividualDeleteEvent",
];

/// One TMF API's hub: its name on subscriptions and the events it offers.
#[derive(Clone, Copy)]
pub(crate) struct Hub {
    api: &'static str,
    events: &'static [&'static str],
}

/// TMF633's hub (subscriptions stored before TMF632's existed have no `api`: they are TMF633's).
pub(crate) const CATALOG: Hub = Hub {
    api: "tmf633",
    events: &CATALOG_EVENTS,
};
/// TMF632's hub.
pub(crate) const PARTY: Hub = Hub {
    api: "tmf632",
    events: &PARTY_EVENTS,
};

impl Hub {
    fn owns(&self, subscription: &Value) -> bool {
        subscription["api"].as_str().unwrap_or(CATALOG.api) == self.api
    }

    fn offers(&self, event_type: &str) -> bool {
        self.events
            .iter()
            .any(|e| e.eq_ignore_ascii_case(event_type))
    }

    /// The hub an event type belongs to.
    fn of_event(event_type: &str) -> Option<Hub> {
        [CATALOG, PARTY].into_iter().find(|h| h.offers(event_type))
    }
}

/// The event types a subscription's query selects (TMF630 `eventType=A,B`; empty: all).
fn selected(hub: Hub, query: &str) -> Result<Vec<String>, TmfError> {
    let mut out = Vec::new();
    for (k, v) in form_urlencoded::parse(query.trim_start_matches('?').as_bytes()) {
        if k != "eventType" {
            return Err(TmfError::BadRequest(format!(
                "query: only 'eventType' selects notifications, not '{k}'"
            )));
        }
        for t in v.split(',').map(str::trim).filter(|t| !t.is_empty()) {
            if !hub.offers(t) {
                return Err(TmfError::BadRequest(format!(
                    "query: '{t}' is not a {} event type",
                    hub.api.to_ascii_uppercase()
                )));
            }
            out.push(t.to_string());
        }
    }
    Ok(out)
}

/// Subscribe to catalog notifications.
#[utoipa::path(post, path = "/tmf-api/serviceCatalogManagement/v4/hub", tag = "tmf633", operation_id = "create_tmf633_hub",
    security(("bearerAuth" = [])),
    request_body(content = Object, description = "{callback, query?: \"eventType=ServiceSpecificationChangeEvent,...\"}", content_type = "application/json"),
    responses((status = 201, description = "{id, callback, query}"),
        (status = 400, description = "No http(s) callback, or a bad query", body = ErrorBody),
        (status = 401, description = "No valid bearer token", body = ErrorBody)))]
pub(crate) async fn subscribe(
    State(s): State<TmfState>,
    headers: HeaderMap,
    Body(b): Body,
) -> Result<(StatusCode, Json<Value>), TmfError> {
    let me = auth::session(&s, &headers).await?;
    create(&s, CATALOG, &me.project_id, &b).await
}

/// Subscribe to party notifications (administrators: the events carry partners' details).
#[utoipa::path(post, path = "/tmf-api/party/v4/hub", tag = "tmf632", operation_id = "create_tmf632_hub",
    security(("bearerAuth" = [])),
    request_body(content = Object, description = "{callback, query?: \"eventType=OrganizationCreateEvent,...\"}", content_type = "application/json"),
    responses((status = 201, description = "{id, callback, query}"),
        (status = 400, description = "No http(s) callback, or a bad query", body = ErrorBody),
        (status = 401, description = "No valid bearer token", body = ErrorBody),
        (status = 403, description = "Not an administrator", body = ErrorBody)))]
pub(crate) async fn subscribe_party(
    State(s): State<TmfState>,
    headers: HeaderMap,
    Body(b): Body,
) -> Result<(StatusCode, Json<Value>), TmfError> {
    let me = auth::administrator(&s, &headers, "post").await?;
    create(&s, PARTY, &me.project_id, &b).await
}

async fn create(
    s: &TmfState,
    hub: Hub,
    project: &str,
    b: &[u8],
) -> Result<(StatusCode, Json<Value>), TmfError> {
    let body: Value = serde_json::from_slice(b)
        .map_err(|e| TmfError::BadRequest(format!("the body is not JSON: {e}")))?;
    let callback = body["callback"]
        .as_str()
        .map(str::trim)
        .filter(|c| c.starts_with("http://") || c.starts_with("https://"))
        .ok_or_else(|| TmfError::BadRequest("'callback' must be an http(s) URL".into()))?
        .trim_end_matches('/')
        .to_string();
    let query = body["query"].as_str().unwrap_or_default().to_string();
    selected(hub, &query)?;
    let id = netorch_core::new_id();
    let now = s.deps.clock.now();
    let doc = json!({"id": id, "callback": callback, "query": query});
    let mut stored = doc.clone();
    stored["api"] = json!(hub.api);
    let r = Record {
        id: id.clone(),
        name: None,
        body: stored,
        owners: Ownership {
            read: vec![project.to_string()],
            write: vec![project.to_string()],
        },
        created: now,
        modified: now,
        revision: 1,
    };
    s.deps.records.insert_record(COLLECTION, &r, &[]).await?;
    tracing::info!(hub = %id, api = hub.api, callback = %callback, "subscription created");
    Ok((StatusCode::CREATED, Json(doc)))
}

/// A subscription as answered (where it is stored, it also names its API).
fn answered(mut doc: Value) -> Value {
    if let Some(o) = doc.as_object_mut() {
        o.remove("api");
    }
    doc
}

/// List catalog subscriptions (not in TMF633; as the ETSI OpenSlice code).
#[utoipa::path(get, path = "/tmf-api/serviceCatalogManagement/v4/hub", tag = "tmf633", operation_id = "list_tmf633_hubs",
    security(("bearerAuth" = [])),
    responses((status = 200, description = "The subscriptions"),
        (status = 403, description = "Not an administrator", body = ErrorBody)))]
pub(crate) async fn list(
    State(s): State<TmfState>,
    headers: HeaderMap,
) -> Result<Json<Value>, TmfError> {
    auth::administrator(&s, &headers, "get").await?;
    let all: Vec<Value> = s
        .deps
        .records
        .list_records(COLLECTION, &ProjectScope::All)
        .await?
        .into_iter()
        .filter(|r| CATALOG.owns(&r.body))
        .map(|r| answered(r.body))
        .collect();
    Ok(Json(json!(all)))
}

/// Unsubscribe.
#[utoipa::path(delete, path = "/tmf-api/serviceCatalogManagement/v4/hub/{id}", tag = "tmf633", operation_id = "delete_tmf633_hub",
    security(("bearerAuth" = [])),
    params(("id" = String, Path, description = "Subscription id")),
    responses((status = 204, description = "Unsubscribed"),
        (status = 404, description = "Not found", body = ErrorBody)))]
pub(crate) async fn unsubscribe(
    State(s): State<TmfState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<StatusCode, TmfError> {
    let me = auth::session(&s, &headers).await?;
    remove(&s, CATALOG, &me, &id).await
}

/// Unsubscribe from party notifications.
#[utoipa::path(delete, path = "/tmf-api/party/v4/hub/{id}", tag = "tmf632", operation_id = "delete_tmf632_hub",
    security(("bearerAuth" = [])),
    params(("id" = String, Path, description = "Subscription id")),
    responses((status = 204, description = "Unsubscribed"),
        (status = 403, description = "Not an administrator", body = ErrorBody),
        (status = 404, description = "Not found", body = ErrorBody)))]
pub(crate) async fn unsubscribe_party(
    State(s): State<TmfState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<StatusCode, TmfError> {
    let me = auth::administrator(&s, &headers, "delete").await?;
    remove(&s, PARTY, &me, &id).await
}

async fn remove(
    s: &TmfState,
    hub: Hub,
    me: &netorch_auth::Session,
    id: &str,
) -> Result<StatusCode, TmfError> {
    let r = s
        .deps
        .records
        .get_record(COLLECTION, id, &ProjectScope::All, false)
        .await?
        .filter(|r| hub.owns(&r.body))
        .ok_or_else(|| TmfError::NotFound(format!("subscription '{id}' not found")))?;
    if !r.owners.write.contains(&me.project_id) && !me.is_admin("delete") {
        return Err(TmfError::Forbidden(
            "the subscription belongs to another project".into(),
        ));
    }
    s.deps.records.delete_record(COLLECTION, id, &[]).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Receive a peer's catalog notification.
#[utoipa::path(post, path = "/tmf-api/serviceCatalogManagement/v4/listener/{event}", tag = "tmf633", operation_id = "tmf633_listener",
    params(("event" = String, Path, description = "serviceSpecificationChangeEvent, …CreateEvent, …DeleteEvent (or OpenSlice's …Notification), or any other TMF633 event")),
    request_body(content = Object, description = "The TMF event envelope, or OpenSlice's bare {serviceSpecification}", content_type = "application/json"),
    responses((status = 201, description = "Received; a peered specification is fetched again at once"),
        (status = 400, description = "Not an event", body = ErrorBody),
        (status = 404, description = "Not a TMF633 event name", body = ErrorBody)))]
pub(crate) async fn listener(
    State(s): State<TmfState>,
    Path(event): Path<String>,
    Body(b): Body,
) -> Result<StatusCode, TmfError> {
    let name = event
        .strip_suffix("Notification")
        .map(|n| format!("{n}Event"))
        .unwrap_or_else(|| event.clone());
    if !CATALOG.offers(&name) {
        return Err(TmfError::NotFound(format!(
            "'{event}' is not a TMF633 listener"
        )));
    }
    let body: Value = serde_json::from_slice(&b)
        .map_err(|e| TmfError::BadRequest(format!("the body is not JSON: {e}")))?;
    if !name
        .to_ascii_lowercase()
        .starts_with("servicespecification")
    {
        return Ok(StatusCode::CREATED);
    }
    let spec = if body["event"].is_object() {
        &body["event"]["serviceSpecification"]
    } else {
        &body["serviceSpecification"]
    };
    let Some(remote_id) = spec["id"].as_str() else {
        return Err(TmfError::BadRequest(
            "the event carries no serviceSpecification id".into(),
        ));
    };
    // The peering that holds this specification, if any: its specifications are fetched again.
    let peerings = s
        .deps
        .records
        .list_records(crate::peering::COLLECTION, &ProjectScope::All)
        .await?;
    if let Some(p) = peerings
        .into_iter()
        .find(|p| p.body["peeredSpecs"].get(remote_id).is_some())
    {
        tracing::info!(organization = %p.id, spec = %remote_id, event = %name, "peer notification: fetching again");
        crate::peering::Heartbeat { state: s.clone() }
            .check(p)
            .await?;
    }
    Ok(StatusCode::CREATED)
}

/// The sweep: pending catalog events become deliveries.
pub(crate) struct Notify {
    pub(crate) state: TmfState,
    /// Version of the pending events and subscriptions at the last sweep.
    pub(crate) seen: Arc<AtomicI64>,
}

#[async_trait]
impl JobHandler for Notify {
    async fn run(&self, _ctx: JobContext) -> Result<Value, JobError> {
        let retry = |e: netorch_core::StoreError| JobError::Retry(e.to_string());
        let records = &self.state.deps.records;
        let version = records
            .collection_version(HUB_EVENTS)
            .await
            .map_err(retry)?;
        if version == self.seen.load(Ordering::Relaxed) {
            return Ok(json!({"unchanged": true}));
        }
        let subs = records
            .list_records(COLLECTION, &ProjectScope::All)
            .await
            .map_err(retry)?;
        let now = self.state.deps.clock.now();
        let mut queued = 0;
        for e in records
            .list_records(HUB_EVENTS, &ProjectScope::All)
            .await
            .map_err(retry)?
        {
            let kind = e.body["eventType"].as_str().unwrap_or_default();
            let Some(hub) = Hub::of_event(kind) else {
                tracing::warn!(event = %e.id, kind, "an event no hub offers: dropped");
                records
                    .delete_record(HUB_EVENTS, &e.id, &[])
                    .await
                    .map_err(retry)?;
                continue;
            };
            for sub in subs.iter().filter(|s| hub.owns(&s.body)) {
                let wanted = selected(hub, sub.body["query"].as_str().unwrap_or_default())
                    .unwrap_or_default();
                if !wanted.is_empty() && !wanted.iter().any(|w| w.eq_ignore_ascii_case(kind)) {
                    continue;
                }
                let job = NewJob {
                    kind: DELIVER_JOB.into(),
                    project_id: sub.owners.write.first().cloned(),
                    payload: json!({"hub": sub.id, "callback": sub.body["callback"], "event": e.body}),
                    max_attempts: 10,
                    run_at: now,
                    dedupe_key: Some(format!("tmfhub:{}:{}", e.id, sub.id)),
                };
                self.state
                    .deps
                    .jobs
                    .enqueue(&job, now)
                    .await
                    .map_err(retry)?;
                queued += 1;
            }
            // After the deliveries are queued: a crash in between queues them again (deduped).
            records
                .delete_record(HUB_EVENTS, &e.id, &[])
                .await
                .map_err(retry)?;
        }
        if queued > 0 {
            self.state.deps.job_waker.notify_one();
        }
        self.seen.store(
            records
                .collection_version(HUB_EVENTS)
                .await
                .map_err(retry)?,
            Ordering::Relaxed,
        );
        Ok(json!({"queued": queued}))
    }
}

/// Delivers one event to one subscriber.
pub(crate) struct Deliver {
    pub(crate) http: reqwest::Client,
}

impl Deliver {
    pub(crate) fn new() -> Self {
        Self {
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .unwrap_or_default(),
        }
    }
}

#[async_trait]
impl JobHandler for Deliver {
    async fn run(&self, ctx: JobContext) -> Result<Value, JobError> {
        let p = &ctx.job.payload;
        let kind = p["event"]["eventType"].as_str().unwrap_or_default();
        let mut listener = kind.to_string();
        if let Some(first) = listener.get(..1) {
            listener.replace_range(..1, &first.to_ascii_lowercase());
        }
        let url = format!(
            "{}/listener/{listener}",
            p["callback"].as_str().unwrap_or_default()
        );
        match self.http.post(&url).json(&p["event"]).send().await {
            Ok(r) if r.status().is_success() => {
                Ok(json!({"delivered": url, "status": r.status().as_u16()}))
            }
            Ok(r) => Err(JobError::Retry(format!("{url} answered {}", r.status()))),
            Err(e) => Err(JobError::Retry(format!("{url}: {e}"))),
        }
    }
}
