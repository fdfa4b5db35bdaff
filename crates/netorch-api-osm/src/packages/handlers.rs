//! The record operations: list, show, onboard, revise, create empty, change states, delete.

use axum::{
    body::Bytes,
    extract::State,
    http::{HeaderMap, StatusCode},
};
use netorch_auth::service::Access;
use netorch_core::{clock::micros_to_secs, events::NewEvent, tenancy::Record};
use netorch_http::osm::{Authenticated, OsmError, OsmId, OsmQuery, OsmValue, Reply, edit_body};
use serde_json::{Map, Value, json};

use super::{chunks::*, ingest::*, kinds::*};
use crate::{
    OsmState,
    tenancy::{Removal, load_for_removal},
};

pub(super) async fn list(
    kind: &PkgKind,
    op: &str,
    State(s): State<OsmState>,
    Authenticated(me): Authenticated,
    q: OsmQuery,
) -> Result<Reply, OsmError> {
    me.authorize(&format!("{}:{op}", kind.perm), "get", &q.admin)?;
    crate::tenancy::list_reply(&s, &me, &q, kind.collection, |r| package_json(kind, r)).await
}

pub(super) async fn show(
    kind: &PkgKind,
    State(s): State<OsmState>,
    Authenticated(me): Authenticated,
    q: OsmQuery,
    OsmId(id): OsmId,
) -> Result<Reply, OsmError> {
    me.authorize(&format!("{}:id:get", kind.perm), "get", &q.admin)?;
    let r = load(kind, &s, &me, &q, &id, Access::Show, "get").await?;
    Ok(Reply::ok(package_json(kind, &r)))
}

pub(super) async fn upload_new(
    kind: &PkgKind,
    State(s): State<OsmState>,
    Authenticated(me): Authenticated,
    q: OsmQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Reply, OsmError> {
    me.authorize(&format!("{}:content:post", kind.perm), "post", &q.admin)?;
    crate::tenancy::check_quota(&s, &me, &q, kind.collection, kind.quota).await?;
    let (id, body) = match receive(&s, &headers, body, &netorch_core::new_id(), true).await? {
        (_, Body::Chunk(reply)) => return Ok(reply),
        (id, Body::Whole(bytes)) => (id, bytes),
    };
    let doc = ingest(
        kind,
        &s,
        &me,
        &q,
        Upload {
            headers: &headers,
            bytes: &body,
        },
        &id,
        None,
    )
    .await?;
    let owners = s.deps.identity.new_ownership(&me, "post", &q.admin).await?;
    let now = s.deps.clock.now();
    let r = new_record(&id, doc, owners, now);
    let descriptor_id = r.name.clone().unwrap_or_default();
    let event = NewEvent::new(kind.topic, "created", event_payload(kind, &r));
    s.deps
        .records
        .insert_record(kind.collection, &r, &[event])
        .await
        .map_err(|e| duplicate(kind, e, &descriptor_id))?;
    tracing::info!(collection = kind.collection, id = %id, descriptor = %descriptor_id, "package onboarded");
    Ok(Reply::with_status(StatusCode::CREATED, json!({"id": id}))
        .location(format!("{}/{}/{id}", kind.base, kind.content)))
}

#[expect(
    clippy::too_many_arguments,
    reason = "axum extractors plus the route's kind"
)]
pub(super) async fn upload_into(
    kind: &PkgKind,
    op: &str,
    State(s): State<OsmState>,
    Authenticated(me): Authenticated,
    q: OsmQuery,
    OsmId(id): OsmId,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Reply, OsmError> {
    me.authorize(&format!("{}:{op}", kind.perm), "put", &q.admin)?;
    let mut r = load(kind, &s, &me, &q, &id, Access::Write, "put").await?;
    let body = match receive(&s, &headers, body, &id, false).await? {
        (_, Body::Chunk(reply)) => return Ok(reply),
        (_, Body::Whole(bytes)) => bytes,
    };
    let doc = ingest(
        kind,
        &s,
        &me,
        &q,
        Upload {
            headers: &headers,
            bytes: &body,
        },
        &id,
        Some(&r),
    )
    .await?;
    let now = s.deps.clock.now();
    r.name = doc["id"].as_str().map(str::to_string);
    r.body = doc;
    r.touch(now);
    let descriptor_id = r.name.clone().unwrap_or_default();
    let event = NewEvent::new(kind.topic, "edited", event_payload(kind, &r));
    s.deps
        .records
        .update_record(kind.collection, &r, &[event])
        .await
        .map_err(|e| duplicate(kind, e, &descriptor_id))?;
    Ok(Reply::no_content())
}

pub(super) async fn create_empty(
    kind: &PkgKind,
    State(s): State<OsmState>,
    Authenticated(me): Authenticated,
    q: OsmQuery,
    OsmValue(body): OsmValue,
) -> Result<Reply, OsmError> {
    me.authorize(&format!("{}:post", kind.perm), "post", &q.admin)?;
    crate::tenancy::check_quota(&s, &me, &q, kind.collection, kind.quota).await?;
    let user_data = match body {
        Value::Null => json!({}),
        Value::Object(mut m) => {
            let data = m.remove("userDefinedData").unwrap_or(json!({}));
            if let Some(extra) = m.keys().next() {
                return Err(OsmError::format_error(
                    extra,
                    "Additional properties are not allowed",
                ));
            }
            if !data.is_object() {
                return Err(OsmError::format_error(
                    "userDefinedData",
                    "must be an object",
                ));
            }
            data
        }
        _ => return Err(OsmError::format_error("", "must be an object")),
    };
    let owners = s.deps.identity.new_ownership(&me, "post", &q.admin).await?;
    let now = s.deps.clock.now();
    let id = netorch_core::new_id();
    let doc = json!({"_id": id, "_admin": {
        "created": micros_to_secs(now), "modified": micros_to_secs(now),
        "onboardingState": "CREATED", "operationalState": "DISABLED", "usageState": "NOT_IN_USE",
        "userDefinedData": user_data, "revision": 0, "type": kind.topic,
    }});
    let mut r = new_record(&id, doc, owners, now);
    r.name = None;
    let event = NewEvent::new(kind.topic, "created", event_payload(kind, &r));
    s.deps
        .records
        .insert_record(kind.collection, &r, &[event])
        .await?;
    Ok(Reply::created(
        format!("{}/{}/{id}", kind.base, kind.sol),
        &id,
    ))
}

pub(super) async fn patch_states(
    kind: &PkgKind,
    State(s): State<OsmState>,
    Authenticated(me): Authenticated,
    q: OsmQuery,
    OsmId(id): OsmId,
    OsmValue(body): OsmValue,
) -> Result<Reply, OsmError> {
    me.authorize(&format!("{}:id:patch", kind.perm), "patch", &q.admin)?;
    if crate::tenancy::sharing_only(&q, &body)? {
        let event = |r: &Record| NewEvent::new(kind.topic, "edited", event_payload(kind, r));
        return crate::tenancy::share(&s, &me, "patch", &q, kind.collection, &id, &event).await;
    }
    let patch: Map<String, Value> = edit_body(body)?;
    let state_key = state_field(kind, "OperationalState");
    let mut r = load(kind, &s, &me, &q, &id, Access::Write, "patch").await?;
    for (k, v) in &patch {
        if k == &state_key {
            let want = v
                .as_str()
                .filter(|v| *v == "ENABLED" || *v == "DISABLED")
                .ok_or_else(|| {
                    OsmError::bad_request(format!("{state_key} must be ENABLED or DISABLED"))
                })?;
            if r.body["_admin"]["operationalState"] == json!(want) {
                return Err(OsmError::conflict(format!("{state_key} already {want}")));
            }
            r.body["_admin"]["operationalState"] = json!(want);
        } else if k == "userDefinedData" {
            let Value::Object(data) = v else {
                return Err(OsmError::format_error(
                    "userDefinedData",
                    "must be an object",
                ));
            };
            let target = &mut r.body["_admin"]["userDefinedData"];
            if !target.is_object() {
                *target = json!({});
            }
            netorch_http::merge::merge(target, &Value::Object(data.clone()))
                .map_err(|e| OsmError::unprocessable(e.0))?;
        } else {
            return Err(OsmError::format_error(
                k,
                &format!("only {state_key} and userDefinedData can be changed here"),
            ));
        }
    }
    let now = s.deps.clock.now();
    r.body["_admin"]["modified"] = json!(micros_to_secs(now));
    r.touch(now);
    let event = NewEvent::new(kind.topic, "edited", event_payload(kind, &r));
    s.deps
        .records
        .update_record(kind.collection, &r, &[event])
        .await?;
    Ok(Reply::no_content())
}

pub(super) async fn remove(
    kind: &PkgKind,
    State(s): State<OsmState>,
    Authenticated(me): Authenticated,
    q: OsmQuery,
    OsmId(id): OsmId,
) -> Result<Reply, OsmError> {
    me.authorize(&format!("{}:id:delete", kind.perm), "delete", &q.admin)?;
    let edited = |r: &Record| NewEvent::new(kind.topic, "edited", event_payload(kind, r));
    let r = match load_for_removal(&s, &me, &q, kind.collection, &id, kind.topic, &edited).await? {
        Removal::Whole(r) => r,
        Removal::Pulled => return Ok(Reply::no_content()),
    };
    if !q.admin.force {
        if r.body["_admin"]["usageState"] == json!("IN_USE") {
            return Err(OsmError::conflict(
                "There is at least one NS instance using this descriptor",
            ));
        }
        if let (Some((collection, message)), Some(descriptor_id)) =
            (kind.referenced_by, r.body["id"].as_str())
        {
            let scope = s
                .deps
                .identity
                .scope(&me, "get", &q.admin, Access::Show)
                .await?;
            let users = s.deps.records.list_records(collection, &scope).await?;
            if users.iter().any(|u| {
                u.body["_admin"]["references"]
                    .as_array()
                    .is_some_and(|refs| refs.iter().any(|x| x == descriptor_id))
            }) {
                return Err(OsmError::conflict(message));
            }
        }
    }
    let event = NewEvent::new(kind.topic, "deleted", event_payload(kind, &r));
    s.deps
        .records
        .delete_record(kind.collection, &id, &[event])
        .await?;
    Ok(Reply::no_content())
}

pub(super) fn event_payload(kind: &PkgKind, r: &Record) -> Value {
    let mut doc = package_json(kind, r);
    if let Some(m) = doc.as_object_mut() {
        m.remove("_admin");
        m.remove("_links");
    }
    doc
}
