//! `/osm/nslcm/v1/subscriptions`: SOL005 NS lifecycle subscriptions, and the delivery of
//! `NsLcmOperationOccurrenceNotification`s to them.
//!
//! Delivery is at least once and survives crashes: a sweep (`osm.nslcm.notify`, periodic and
//! cheap while nothing changed) finds operation states not yet notified, enqueues one delivery
//! job per matching subscription (dedupe key: operation, state, subscription) and only then marks
//! the state notified on the operation; each delivery job (`osm.nslcm.deliver`) retries with
//! backoff until the callback answers 2xx.

use std::{
    sync::{
        Arc,
        atomic::{AtomicI64, Ordering},
    },
    time::Duration,
};

use async_trait::async_trait;
use axum::{extract::State, http::StatusCode};
use netorch_auth::service::Access;
use netorch_core::{
    clock::micros_to_secs,
    jobs::NewJob,
    tenancy::{ProjectScope, Record},
};
use netorch_http::osm::{
    Authenticated, OsmError, OsmErrorBody, OsmId, OsmQuery, OsmValue, Reply, internal,
};
use netorch_lcm::documents::{NSLCMOPS, NSRS};
use netorch_scheduler::{JobContext, JobError, JobHandler};
use serde_json::{Value, json};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{Deps, OsmState};

const COLLECTION: &str = "ns_subscriptions";
const PATH: &str = "/osm/nslcm/v1/subscriptions";
/// Periodic job that turns operation state changes into deliveries.
pub const NOTIFY_JOB: &str = "osm.nslcm.notify";
/// Job that delivers one notification to one subscriber.
pub const DELIVER_JOB: &str = "osm.nslcm.deliver";

const NOTIFICATION_TYPES: [&str; 4] = [
    "NsLcmOperationOccurrenceNotification",
    "NsIdentifierCreationNotification",
    "NsIdentifierDeletionNotification",
    "NsChangeNotification",
];
const OPERATION_TYPES: [&str; 6] = [
    "INSTANTIATE",
    "SCALE",
    "TERMINATE",
    "UPDATE",
    "HEAL",
    "ACTION",
];

pub(super) fn register(r: OpenApiRouter<OsmState>) -> OpenApiRouter<OsmState> {
    r.routes(routes!(list, create))
        .routes(routes!(show, remove))
}

use netorch_lcm::documents::strings;

/// Validates the filter's lists against SOL005's enumerations.
fn check_filter(filter: &Value) -> Result<(), OsmError> {
    if filter.is_null() {
        return Ok(());
    }
    if !filter.is_object() {
        return Err(OsmError::format_error("filter", "is not of type 'object'"));
    }
    for (key, allowed) in [
        ("notificationTypes", &NOTIFICATION_TYPES[..]),
        ("operationTypes", &OPERATION_TYPES[..]),
    ] {
        for v in strings(&filter[key]) {
            if !allowed.contains(&v.as_str()) {
                return Err(OsmError::format_error(
                    &format!("filter:{key}"),
                    &format!("'{v}' is not one of {allowed:?}"),
                ));
            }
        }
    }
    Ok(())
}

/// Whether a notification about `op` (of the NS `nsr`) passes a subscription's filter.
fn matches(filter: &Value, op: &Value, nsr: &Value) -> bool {
    let listed = |key: &str, value: &str| {
        let list = strings(&filter[key]);
        list.is_empty() || list.iter().any(|x| x == value)
    };
    let ns = &filter["nsInstanceSubscriptionFilter"];
    let in_ns = |key: &str, values: &[String]| {
        let list = strings(&ns[key]);
        list.is_empty() || values.iter().any(|v| list.contains(v))
    };
    listed("notificationTypes", "NsLcmOperationOccurrenceNotification")
        && listed(
            "operationTypes",
            &op["lcmOperationType"]
                .as_str()
                .unwrap_or_default()
                .to_uppercase(),
        )
        && listed(
            "operationStates",
            op["operationState"].as_str().unwrap_or_default(),
        )
        && in_ns(
            "nsInstanceIds",
            &[op["nsInstanceId"].as_str().unwrap_or_default().to_string()],
        )
        && in_ns(
            "nsInstanceNames",
            &[nsr["name"].as_str().unwrap_or_default().to_string()],
        )
        && in_ns(
            "nsdIds",
            &[
                nsr["nsd-id"].as_str().unwrap_or_default().to_string(),
                nsr["nsd-ref"].as_str().unwrap_or_default().to_string(),
            ],
        )
        && in_ns("vnfdIds", &strings(&nsr["vnfd-id"]))
}

fn shown(r: &Record) -> Value {
    let mut v = r.body.clone();
    if let Some(p) = v.pointer_mut("/authentication/paramsBasic/password") {
        *p = json!(netorch_auth::secrets::MASK);
    }
    v["_id"] = json!(r.id);
    v
}

/// SOL005's check that a callback is reachable: a GET (with the subscription's credentials)
/// answered 204.
async fn probe(uri: &str, auth: Option<(&str, &str)>) -> Result<(), OsmError> {
    let fail = |why: String| {
        OsmError::bad_request(format!(
            "Cannot access to the notification URL '{uri}': {why}"
        ))
    };
    if !(uri.starts_with("http://") || uri.starts_with("https://")) {
        return Err(fail("not an http(s) URL".into()));
    }
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .map_err(|e| internal(&e))?;
    let mut rb = http.get(uri);
    if let Some((u, p)) = auth {
        rb = rb.basic_auth(u, Some(p));
    }
    match rb.send().await {
        Ok(r) if r.status() == reqwest::StatusCode::NO_CONTENT => Ok(()),
        Ok(r) => Err(fail(format!(
            "answered HTTP {} to a GET, expected 204",
            r.status().as_u16()
        ))),
        Err(e) => Err(fail(e.to_string())),
    }
}

/// Subscribe to NS lifecycle notifications.
#[utoipa::path(post, path = "/osm/nslcm/v1/subscriptions", tag = "osm", operation_id = "create_ns_subscription",
    security(("bearerAuth" = [])),
    request_body(content = Object, description = "{CallbackUri, filter?, authentication?: {authType: [basic], paramsBasic: {userName, password}}}", content_type = "application/json"),
    responses((status = 201, description = "{id, filter, callbackUri, _links}; Location"),
        (status = 400, description = "The callback did not answer a GET with 204", body = OsmErrorBody),
        (status = 409, description = "The same subscription exists", body = OsmErrorBody),
        (status = 422, description = "Invalid", body = OsmErrorBody)))]
async fn create(
    State(s): State<OsmState>,
    Authenticated(me): Authenticated,
    q: OsmQuery,
    OsmValue(body): OsmValue,
) -> Result<Reply, OsmError> {
    me.authorize("ns_subscriptions:post", "post", &q.admin)?;
    let Some(uri) = body["CallbackUri"].as_str() else {
        return Err(OsmError::format_error(
            "",
            "'CallbackUri' is a required property",
        ));
    };
    let filter = body["filter"].clone();
    check_filter(&filter)?;
    let auth = &body["authentication"];
    let basic = if auth.is_null() {
        None
    } else {
        let types = match &auth["authType"] {
            Value::String(t) => vec![t.clone()],
            other => strings(other),
        };
        if !types.iter().any(|t| t == "basic") {
            return Err(OsmError::format_error(
                "authentication:authType",
                "only 'basic' is supported",
            ));
        }
        match (
            auth["paramsBasic"]["userName"].as_str(),
            auth["paramsBasic"]["password"].as_str(),
        ) {
            (Some(u), Some(p)) => Some((u.to_string(), p.to_string())),
            _ => {
                return Err(OsmError::format_error(
                    "authentication:paramsBasic",
                    "'userName' and 'password' are required",
                ));
            }
        }
    };
    let scope = s
        .deps
        .identity
        .scope(&me, "get", &q.admin, Access::List)
        .await?;
    let user = basic.as_ref().map(|(u, _)| u.clone());
    let dup = s
        .deps
        .records
        .list_records(COLLECTION, &scope)
        .await?
        .into_iter()
        .find(|r| {
            r.body["CallbackUri"].as_str() == Some(uri)
                && r.body["filter"] == filter
                && r.body["authentication"]["paramsBasic"]["userName"]
                    .as_str()
                    .map(str::to_string)
                    == user
        });
    if let Some(d) = dup {
        return Err(OsmError::conflict(format!(
            "A subscription with the same notification URL, credentials and filter exists: {}",
            d.id
        )));
    }
    probe(uri, basic.as_ref().map(|(u, p)| (u.as_str(), p.as_str()))).await?;
    let id = netorch_core::new_id();
    let now = s.deps.clock.now();
    let mut doc = json!({
        "id": id, "CallbackUri": uri, "filter": filter, "schema_version": "1.1",
        "_links": {"self": {"href": format!("{PATH}/{id}")}},
        "_admin": {"created": micros_to_secs(now), "modified": micros_to_secs(now)},
    });
    if let Some((u, p)) = &basic {
        doc["authentication"] = json!({"authType": "basic",
            "paramsBasic": {"userName": u, "password": s.deps.secrets.seal(p)}});
    }
    let owners = s.deps.identity.new_ownership(&me, "post", &q.admin).await?;
    let r = Record {
        id: id.clone(),
        name: None,
        body: doc,
        owners,
        created: now,
        modified: now,
        revision: 1,
    };
    s.deps.records.insert_record(COLLECTION, &r, &[]).await?;
    Ok(Reply::with_status(
        StatusCode::CREATED,
        json!({"id": id, "filter": filter, "callbackUri": uri, "_links": {"self": {"href": format!("{PATH}/{id}")}}}),
    )
    .location(format!("{PATH}/{id}")))
}

/// List NS lifecycle subscriptions (passwords are never shown).
#[utoipa::path(get, path = "/osm/nslcm/v1/subscriptions", tag = "osm", operation_id = "list_ns_subscriptions",
    security(("bearerAuth" = [])), responses((status = 200, description = "Subscriptions")))]
async fn list(
    State(s): State<OsmState>,
    Authenticated(me): Authenticated,
    q: OsmQuery,
) -> Result<Reply, OsmError> {
    me.authorize("ns_subscriptions:get", "get", &q.admin)?;
    crate::tenancy::list_reply(&s, &me, &q, COLLECTION, shown).await
}

/// Show a subscription.
#[utoipa::path(get, path = "/osm/nslcm/v1/subscriptions/{subscription_id}", tag = "osm", operation_id = "show_ns_subscription",
    security(("bearerAuth" = [])), params(("subscription_id" = String, Path, description = "Subscription id")),
    responses((status = 200, description = "The subscription"), (status = 404, description = "Not found", body = OsmErrorBody)))]
async fn show(
    State(s): State<OsmState>,
    Authenticated(me): Authenticated,
    q: OsmQuery,
    OsmId(id): OsmId,
) -> Result<Reply, OsmError> {
    me.authorize("ns_subscriptions:id:get", "get", &q.admin)?;
    let r = crate::tenancy::load(
        &s,
        &me,
        &q,
        "get",
        COLLECTION,
        &id,
        Access::Show,
        "subscription",
    )
    .await?;
    Ok(Reply::ok(shown(&r)))
}

/// Delete a subscription.
#[utoipa::path(delete, path = "/osm/nslcm/v1/subscriptions/{subscription_id}", tag = "osm", operation_id = "delete_ns_subscription",
    security(("bearerAuth" = [])), params(("subscription_id" = String, Path, description = "Subscription id")),
    responses((status = 204, description = "Deleted"), (status = 404, description = "Not found", body = OsmErrorBody)))]
async fn remove(
    State(s): State<OsmState>,
    Authenticated(me): Authenticated,
    q: OsmQuery,
    OsmId(id): OsmId,
) -> Result<Reply, OsmError> {
    me.authorize("ns_subscriptions:id:delete", "delete", &q.admin)?;
    let r = crate::tenancy::load(
        &s,
        &me,
        &q,
        "delete",
        COLLECTION,
        &id,
        Access::Write,
        "subscription",
    )
    .await?;
    s.deps.records.delete_record(COLLECTION, &r.id, &[]).await?;
    Ok(Reply::no_content())
}

/// The sweep: operation states not yet notified become delivery jobs.
pub(crate) struct Notify {
    pub deps: Deps,
    /// The operations' collection version at the last complete sweep: unchanged → nothing to do.
    pub seen: Arc<AtomicI64>,
    /// When the last complete sweep started (0: never, so the first one reads every operation).
    pub since: Arc<AtomicI64>,
}

/// How far before the last sweep's start the next one looks: operations written by a replica
/// whose clock runs behind ours are still found (already-notified states are skipped cheaply).
const SWEEP_OVERLAP: i64 = 60_000_000;

#[async_trait]
impl JobHandler for Notify {
    async fn run(&self, _ctx: JobContext) -> Result<Value, JobError> {
        let retry = |e: netorch_core::StoreError| JobError::Retry(e.to_string());
        let records = &self.deps.records;
        let version = records.collection_version(NSLCMOPS).await.map_err(retry)?
            + records
                .collection_version(COLLECTION)
                .await
                .map_err(retry)?;
        if version == self.seen.load(Ordering::Relaxed) {
            return Ok(json!({"unchanged": true}));
        }
        let started = self.deps.clock.now();
        let since = match self.since.load(Ordering::Relaxed) {
            0 => 0,
            t => t - SWEEP_OVERLAP,
        };
        let subs = records
            .list_records(COLLECTION, &ProjectScope::All)
            .await
            .map_err(retry)?;
        let mut queued = 0;
        // Only operations changed lately: the collection keeps every operation ever run.
        for op in records
            .records_modified_since(NSLCMOPS, since)
            .await
            .map_err(retry)?
        {
            let state = op.body["operationState"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            let done = strings(&op.body["_admin"]["notified"]);
            if done.contains(&state) {
                continue;
            }
            let nsr = records
                .get_record(
                    NSRS,
                    op.body["nsInstanceId"].as_str().unwrap_or_default(),
                    &ProjectScope::All,
                    false,
                )
                .await
                .map_err(retry)?
                .map(|r| r.body)
                .unwrap_or(Value::Null);
            let now = self.deps.clock.now();
            for sub in subs
                .iter()
                .filter(|s| s.owners.read.iter().any(|p| op.owners.read.contains(p)))
            {
                if !matches(&sub.body["filter"], &op.body, &nsr) {
                    continue;
                }
                let notification = json!({
                    "id": format!("{}:{state}:{}", op.id, sub.id),
                    "nsInstanceId": op.body["nsInstanceId"],
                    "nsLcmOpOccId": op.id,
                    "operation": op.body["lcmOperationType"].as_str().unwrap_or_default().to_uppercase(),
                    "notificationType": "NsLcmOperationOccurrenceNotification",
                    "subscriptionId": sub.id,
                    "timeStamp": micros_to_secs(now),
                    "notificationStatus": if state == "PROCESSING" { "START" } else { "RESULT" },
                    "operationState": state,
                    "isAutomaticInvocation": op.body["isAutomaticInvocation"],
                    "error": op.body["errorMessage"],
                    "_links": {"nsInstance": {"href": format!("/osm/nslcm/v1/ns_instances/{}", op.body["nsInstanceId"].as_str().unwrap_or_default())},
                               "nsLcmOpOcc": {"href": format!("/osm/nslcm/v1/ns_lcm_op_occs/{}", op.id)},
                               "subscription": {"href": format!("{PATH}/{}", sub.id)}},
                });
                let job = NewJob {
                    kind: DELIVER_JOB.into(),
                    project_id: sub.owners.write.first().cloned(),
                    payload: json!({"subscription": sub.id, "notification": notification}),
                    max_attempts: 10,
                    run_at: now,
                    dedupe_key: Some(format!("notify:{}:{state}:{}", op.id, sub.id)),
                };
                self.deps.jobs.enqueue(&job, now).await.map_err(retry)?;
                queued += 1;
            }
            // Marked after the deliveries are queued: a crash in between queues them again,
            // which their dedupe keys absorb.
            let mut r = op.clone();
            let mut notified = done;
            notified.push(state);
            r.body["_admin"]["notified"] = json!(notified);
            r.touch(now);
            match records.update_record(NSLCMOPS, &r, &[]).await {
                // The engine moved on; the next sweep sees the new state.
                Ok(()) | Err(netorch_core::StoreError::Conflict(_)) => {}
                Err(e) => return Err(retry(e)),
            }
        }
        if queued > 0 {
            self.deps.job_waker.notify_one();
        }
        // Our own marks changed the version: remember the state after them.
        let after = records.collection_version(NSLCMOPS).await.map_err(retry)?
            + records
                .collection_version(COLLECTION)
                .await
                .map_err(retry)?;
        self.seen.store(after, Ordering::Relaxed);
        self.since.store(started, Ordering::Relaxed);
        Ok(json!({"queued": queued}))
    }
}

/// Delivers one notification.
pub(crate) struct Deliver {
    pub deps: Deps,
    pub http: reqwest::Client,
}

#[async_trait]
impl JobHandler for Deliver {
    async fn run(&self, ctx: JobContext) -> Result<Value, JobError> {
        let p = &ctx.job.payload;
        let id = p["subscription"].as_str().unwrap_or_default();
        let Some(sub) = self
            .deps
            .records
            .get_record(COLLECTION, id, &ProjectScope::All, false)
            .await
            .map_err(|e| JobError::Retry(e.to_string()))?
        else {
            return Ok(json!({"skipped": "the subscription was deleted"}));
        };
        let uri = sub.body["CallbackUri"].as_str().unwrap_or_default();
        let mut rb = self.http.post(uri).json(&p["notification"]);
        let basic = &sub.body["authentication"]["paramsBasic"];
        if let (Some(u), Some(sealed)) = (basic["userName"].as_str(), basic["password"].as_str()) {
            let password = self.deps.secrets.open(sealed).map_err(|_| {
                JobError::Fatal(
                    "the subscription's password cannot be decrypted with this server's key".into(),
                )
            })?;
            rb = rb.basic_auth(u, Some(password));
        }
        match rb.send().await {
            Ok(r) if r.status().is_success() => Ok(json!({"delivered": r.status().as_u16()})),
            Ok(r) => Err(JobError::Retry(format!(
                "{uri} answered HTTP {}",
                r.status().as_u16()
            ))),
            Err(e) => Err(JobError::Retry(format!("cannot reach {uri}: {e}"))),
        }
    }
}
