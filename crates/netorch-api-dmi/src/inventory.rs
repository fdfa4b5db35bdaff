//! CM-handle inventory: registration (upsert, per-handle results), listing, removal. A handle's
//! device credentials are sealed at rest and never answered. States follow NCMP's model:
//! ADVISED → READY once its models are synced, LOCKED (`MODULE_SYNC_FAILED`, retried with
//! backoff) when that fails, DELETING → DELETED on removal (each change an LCM event).

use axum::{
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
};
use netorch_core::{
    Micros,
    events::NewEvent,
    tenancy::{Ownership, ProjectScope, Record},
};
use netorch_http::osm::RemoteAddr;
use serde::Deserialize;
use serde_json::{Map, Value, json};
use utoipa::{IntoParams, ToSchema};

use crate::{
    DmiState, HANDLES, LCM_TOPIC,
    access::{self, Handle},
    auth,
    error::{Failure, NcmpError},
    ex::ncmp::{Body, Path, Query},
    jobs::{MODULE_SYNC_JOB, NCMP_REGISTER_JOB},
};

/// Registration body: `{"cmHandles": [...]}`: handle objects (with their device), or, as the
/// NCMP DMI contract's internal call, ids of known handles to (re)register with NCMP.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Registration {
    /// The handles.
    pub cm_handles: Vec<Value>,
}

/// Query of the handle list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Only handles in this state (`ADVISED`, `READY`, `LOCKED`, `DELETING`).
    pub state: Option<String>,
    /// Only handles of this module set tag.
    #[serde(rename = "moduleSetTag")]
    pub module_set_tag: Option<String>,
}

/// A handle as answered: the stored document without its sealed credentials.
pub(crate) fn shown(body: &Value) -> Value {
    let mut v = body.clone();
    if let Some(o) = v.as_object_mut() {
        let auth = if o
            .get("secretKind")
            .and_then(Value::as_str)
            .is_some_and(|k| k == "privateKey")
        {
            "privateKey"
        } else {
            "password"
        };
        o.remove("secret");
        o.remove("secretKind");
        o.remove("retryAt");
        if let Some(nc) = o.get_mut("netconf").and_then(Value::as_object_mut) {
            nc.insert("authentication".into(), json!(auth));
        }
    }
    v
}

/// NCMP's LCM event for a state change.
pub(crate) fn lcm_event(
    id: &str,
    old: Option<&Value>,
    new: Option<&Value>,
    now: Micros,
) -> NewEvent {
    let values = |b: Option<&Value>| {
        b.map(|b| {
            json!({
                "cmHandleState": b.get("state").cloned().unwrap_or(Value::Null),
                "cmHandleProperties": b.get("additionalProperties").cloned().unwrap_or(json!({})),
                "moduleSetTag": b.get("moduleSetTag").cloned().unwrap_or(json!("")),
                "alternateId": b.get("alternateId").cloned().unwrap_or(json!("")),
            })
        })
    };
    let kind = match (old, new) {
        (None, _) => "create",
        (_, None) => "delete",
        _ => "update",
    };
    NewEvent::new(
        LCM_TOPIC,
        id,
        json!({
            "eventId": netorch_core::new_id(),
            "eventCorrelationId": id,
            "eventTime": crate::jobs::now_iso(now),
            "eventSource": "org.onap.ncmp",
            "eventType": format!("org.onap.ncmp.cmhandle-lcm-event.{kind}"),
            "eventSchema": "org.onap.ncmp:cmhandle-lcm-event",
            "eventSchemaVersion": "1.0",
            "event": {
                "cmHandleId": id,
                "oldValues": values(old),
                "newValues": values(new),
            }
        }),
    )
}

fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 255
        && id
            .chars()
            .all(|c| !c.is_whitespace() && !c.is_control() && !"/\\%?#&=\"'<>".contains(c))
}

struct Outcome {
    id: String,
    status: &'static str,
    error: Option<(&'static str, String)>,
    state: Option<String>,
}

fn failed(id: &str, code: &'static str, text: String) -> Outcome {
    Outcome {
        id: id.to_string(),
        status: "FAILED",
        error: Some((code, text)),
        state: None,
    }
}

/// Validates one entry and builds the stored document (credentials sealed); `old` is the stored
/// handle when this is an update.
fn document(
    s: &DmiState,
    entry: &Map<String, Value>,
    old: Option<&Record>,
    now: Micros,
) -> Result<Value, (&'static str, String)> {
    const KNOWN: &[&str] = &[
        "cmHandle",
        "netconf",
        "additionalProperties",
        "moduleSetTag",
        "alternateId",
        "dataProducerIdentifier",
    ];
    if let Some(k) = entry.keys().find(|k| !KNOWN.contains(&k.as_str())) {
        return Err(("108", format!("unknown member '{k}'")));
    }
    let mut doc = old.map(|r| r.body.clone()).unwrap_or_else(|| json!({}));
    let o = doc.as_object_mut().expect("an object");
    let id = entry
        .get("cmHandle")
        .and_then(Value::as_str)
        .unwrap_or_default();
    o.insert("cmHandle".into(), json!(id));
    let mut resync = old.is_none();
    match entry.get("netconf") {
        Some(Value::Object(nc)) => {
            const NC: &[&str] = &[
                "host",
                "port",
                "username",
                "password",
                "privateKey",
                "passphrase",
                "hostKey",
            ];
            if let Some(k) = nc.keys().find(|k| !NC.contains(&k.as_str())) {
                return Err(("108", format!("netconf: unknown member '{k}'")));
            }
            let host = nc.get("host").and_then(Value::as_str).unwrap_or_default();
            if host.is_empty() || host.len() > 253 || host.contains(char::is_whitespace) {
                return Err(("108", "netconf.host must be a host name or address".into()));
            }
            let port = match nc.get("port") {
                None => 830,
                Some(p) => p
                    .as_u64()
                    .filter(|p| (1..=65535).contains(p))
                    .ok_or(("108", "netconf.port must be 1..65535".to_string()))?,
            };
            let user = nc
                .get("username")
                .and_then(Value::as_str)
                .unwrap_or_default();
            if user.is_empty() {
                return Err(("108", "netconf.username is required".into()));
            }
            let secret = match (
                nc.get("password").and_then(Value::as_str),
                nc.get("privateKey").and_then(Value::as_str),
            ) {
                (Some(p), None) => {
                    o.insert("secretKind".into(), json!("password"));
                    json!({"password": p})
                }
                (None, Some(k)) if k.contains("PRIVATE KEY") => {
                    o.insert("secretKind".into(), json!("privateKey"));
                    json!({"privateKey": k, "passphrase": nc.get("passphrase").and_then(Value::as_str)})
                }
                (None, Some(_)) => {
                    return Err((
                        "108",
                        "netconf.privateKey must be a PEM/OpenSSH private key".into(),
                    ));
                }
                _ => {
                    return Err((
                        "108",
                        "netconf needs exactly one of password and privateKey".into(),
                    ));
                }
            };
            let host_key = match nc.get("hostKey") {
                None | Some(Value::Null) => None,
                Some(Value::String(k)) if k.starts_with("SHA256:") && k.len() >= 50 => {
                    Some(k.clone())
                }
                Some(_) => {
                    return Err((
                        "108",
                        "netconf.hostKey must be the key's SHA-256 fingerprint (SHA256:..., as ssh-keygen -lf prints it)".into(),
                    ));
                }
            };
            let shown_nc =
                json!({"host": host, "port": port, "username": user, "hostKey": host_key});
            if o.get("netconf") != Some(&shown_nc) {
                resync = true;
            }
            // Same credentials: keep the sealed text (sealing is randomised).
            let same = o
                .get("secret")
                .and_then(Value::as_str)
                .and_then(|sealed| s.deps.secrets.open(sealed).ok())
                .and_then(|t| serde_json::from_str::<Value>(&t).ok())
                .is_some_and(|v| v == secret);
            if !same {
                o.insert(
                    "secret".into(),
                    json!(s.deps.secrets.seal(&secret.to_string())),
                );
                resync = true;
            }
            o.insert("netconf".into(), shown_nc);
        }
        Some(_) => return Err(("108", "netconf must be an object".into())),
        None if old.is_none() => {
            return Err((
                "108",
                "netconf {host, port, username, password | privateKey} is required for a new cm handle"
                    .into(),
            ));
        }
        None => {}
    }
    match entry.get("additionalProperties") {
        None => {
            o.entry("additionalProperties").or_insert(json!({}));
        }
        Some(Value::Object(p)) if p.values().all(Value::is_string) => {
            o.insert("additionalProperties".into(), Value::Object(p.clone()));
        }
        Some(_) => {
            return Err((
                "108",
                "additionalProperties must map names to strings".into(),
            ));
        }
    }
    for k in ["moduleSetTag", "alternateId", "dataProducerIdentifier"] {
        match entry.get(k) {
            None => {
                o.entry(k).or_insert(json!(""));
            }
            Some(Value::String(v)) => {
                if k == "moduleSetTag" && o.get(k).and_then(Value::as_str) != Some(v.as_str()) {
                    resync = true;
                }
                if k == "alternateId"
                    && let Some(prev) = o.get(k).and_then(Value::as_str)
                    && !prev.is_empty()
                    && !v.is_empty()
                    && prev != v
                {
                    return Err(("111", format!("alternate id of '{id}' is already '{prev}'")));
                }
                o.insert(k.into(), json!(v));
            }
            Some(_) => return Err(("108", format!("{k} must be a string"))),
        }
    }
    if resync {
        o.insert("state".into(), json!("ADVISED"));
        o.insert("lockReason".into(), Value::Null);
        o.insert("syncAttempts".into(), json!(0));
        o.insert("retryAt".into(), json!(0));
    }
    o.insert("lastUpdateTime".into(), json!(crate::jobs::now_iso(now)));
    Ok(doc)
}

/// Register or update CM handles (upsert; one result per handle).
#[utoipa::path(post, path = "/dmi/v1/inventory/cmHandles", tag = "dmi-inventory",
    request_body = Registration,
    responses(
        (status = 201, description = "At least one handle created (or ids registered with NCMP)"),
        (status = 200, description = "Handles updated (some may have failed: see each result)"),
        (status = 400, body = crate::error::NcmpErrorBody, description = "Malformed body or empty list"),
        (status = 401, body = crate::error::NcmpErrorBody, description = "No credentials"),
        (status = 403, body = crate::error::NcmpErrorBody, description = "Not allowed"),
    ))]
pub(crate) async fn register(
    axum::extract::State(s): axum::extract::State<DmiState>,
    remote: RemoteAddr,
    headers: HeaderMap,
    Body(body): Body,
) -> Result<Response, NcmpError> {
    auth::authorize(&s, &headers, &remote, auth::INVENTORY_WRITE).await?;
    let reg: Registration = serde_json::from_slice(&body)
        .map_err(|e| Failure::bad_request(format!("invalid registration body: {e}")))?;
    if reg.cm_handles.is_empty() {
        return Err(Failure::bad_request("cmHandles is empty").into());
    }
    let now = s.deps.clock.now();
    // The DMI contract's own call: known ids, registered with NCMP.
    if reg.cm_handles.iter().all(Value::is_string) {
        let ids: Vec<String> = reg
            .cm_handles
            .iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect();
        let mut unknown = Vec::new();
        for id in &ids {
            if access::handle(&s, id).await.is_err() {
                unknown.push(id.clone());
            }
        }
        if !unknown.is_empty() {
            return Err(Failure::bad_request(format!(
                "unknown cm handle(s): {}; register them with their device first",
                unknown.join(", ")
            ))
            .into());
        }
        ncmp_register(&s, &ids, &[], &[], now).await?;
        return Ok((
            StatusCode::CREATED,
            [(header::CONTENT_TYPE, "text/plain")],
            "cm-handle registered successfully",
        )
            .into_response());
    }
    if reg.cm_handles.len() > s.deps.config.max_batch {
        return Err(Failure::bad_request(format!(
            "{} handles in one request; at most {} (dmi.max_batch)",
            reg.cm_handles.len(),
            s.deps.config.max_batch
        ))
        .into());
    }
    // Two registrations of one handle at once: the loser's write conflicts; compute again.
    let mut attempt = 0;
    let outcomes = loop {
        attempt += 1;
        match upsert(&s, &reg.cm_handles, now).await {
            Err(f) if f.status == StatusCode::CONFLICT && attempt < 4 => continue,
            other => break other?,
        }
    };
    let created: Vec<String> = outcomes
        .iter()
        .filter(|o| o.status == "CREATED")
        .map(|o| o.id.clone())
        .collect();
    let updated: Vec<String> = outcomes
        .iter()
        .filter(|o| o.status == "UPDATED")
        .map(|o| o.id.clone())
        .collect();
    if !created.is_empty() || !updated.is_empty() {
        wake_sync(&s, now).await?;
        ncmp_register(&s, &created, &updated, &[], now).await?;
    }
    let status = if created.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    let results: Vec<Value> = outcomes
        .into_iter()
        .map(|o| {
            let mut r = json!({"cmHandle": o.id, "status": o.status});
            if let Some(st) = o.state {
                r["state"] = json!(st);
            }
            if let Some((code, text)) = o.error {
                r["errorCode"] = json!(code);
                r["errorText"] = json!(text);
            }
            r
        })
        .collect();
    Ok((status, axum::Json(json!({"cmHandles": results}))).into_response())
}

async fn upsert(s: &DmiState, entries: &[Value], now: Micros) -> Result<Vec<Outcome>, Failure> {
    let mut outcomes = Vec::with_capacity(entries.len());
    let mut inserts: Vec<Record> = Vec::new();
    let mut updates: Vec<Record> = Vec::new();
    let mut events = Vec::new();
    let mut seen_ids = std::collections::HashSet::new();
    let mut seen_alt: std::collections::HashMap<String, String> = Default::default();
    // Existing handles and owners of the alternate ids, in a few queries for the whole batch.
    let str_of = |e: &Value, k: &str| e.get(k).and_then(Value::as_str).map(str::to_string);
    let ids: Vec<String> = entries
        .iter()
        .filter_map(|e| str_of(e, "cmHandle"))
        .collect();
    let mut existing: std::collections::HashMap<String, Record> = s
        .deps
        .records
        .get_records_in(HANDLES, &ids)
        .await?
        .into_iter()
        .map(|r| (r.id.clone(), r))
        .collect();
    let alts: Vec<String> = entries
        .iter()
        .filter_map(|e| str_of(e, "alternateId"))
        .filter(|a| !a.is_empty())
        .collect();
    let alt_owner: std::collections::HashMap<String, String> = s
        .deps
        .records
        .find_records_in(HANDLES, "alternateId", &alts)
        .await?
        .into_iter()
        .filter_map(|r| {
            let alt = r.body.get("alternateId")?.as_str()?.to_string();
            Some((alt, r.id))
        })
        .collect();
    for e in entries {
        let Some(entry) = e.as_object() else {
            outcomes.push(failed("", "108", "an entry must be an object".into()));
            continue;
        };
        let id = entry
            .get("cmHandle")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if !valid_id(id) {
            outcomes.push(failed(
                id,
                "110",
                "cm handle id is empty, too long or holds characters that cannot appear in a URL path".into(),
            ));
            continue;
        }
        if !seen_ids.insert(id.to_string()) {
            outcomes.push(failed(
                id,
                "109",
                "cm handle listed twice in one request".into(),
            ));
            continue;
        }
        let old = existing.remove(id);
        let doc = match document(s, entry, old.as_ref(), now) {
            Ok(d) => d,
            Err((code, text)) => {
                outcomes.push(failed(id, code, text));
                continue;
            }
        };
        let alt = doc
            .get("alternateId")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        if !alt.is_empty() {
            if let Some(other) = alt_owner.get(&alt).filter(|o| o.as_str() != id) {
                outcomes.push(failed(
                    id,
                    "111",
                    format!("alternate id '{alt}' is already associated with cm handle '{other}'"),
                ));
                continue;
            }
            if let Some(other) = seen_alt.insert(alt.clone(), id.to_string()) {
                outcomes.push(failed(
                    id,
                    "111",
                    format!("alternate id '{alt}' is also given to cm handle '{other}'"),
                ));
                continue;
            }
        }
        let state = doc.get("state").and_then(Value::as_str).map(str::to_string);
        match old {
            None => {
                events.push(lcm_event(id, None, Some(&doc), now));
                inserts.push(Record {
                    id: id.to_string(),
                    name: None,
                    body: doc,
                    owners: Ownership::default(),
                    created: now,
                    modified: now,
                    revision: 1,
                });
                outcomes.push(Outcome {
                    id: id.to_string(),
                    status: "CREATED",
                    error: None,
                    state,
                });
            }
            Some(mut r) => {
                if r.body != doc {
                    events.push(lcm_event(id, Some(&r.body), Some(&doc), now));
                    r.body = doc;
                    r.touch(now);
                    updates.push(r);
                }
                outcomes.push(Outcome {
                    id: id.to_string(),
                    status: "UPDATED",
                    error: None,
                    state,
                });
            }
        }
    }
    let ins: Vec<(&str, &Record)> = inserts.iter().map(|r| (HANDLES, r)).collect();
    let upd: Vec<(&str, &Record)> = updates.iter().map(|r| (HANDLES, r)).collect();
    if !ins.is_empty() || !upd.is_empty() {
        s.deps
            .records
            .write_records(&ins, &upd, &[], &events)
            .await?;
    }
    Ok(outcomes)
}

/// Queues a module sync now (the periodic watchdog also runs it).
pub(crate) async fn wake_sync(s: &DmiState, now: Micros) -> Result<(), Failure> {
    crate::jobs::enqueue(s, MODULE_SYNC_JOB, json!({}), 1, now).await
}

/// Queues a registration of these handles with the configured NCMP (nothing without one).
pub(crate) async fn ncmp_register(
    s: &DmiState,
    created: &[String],
    updated: &[String],
    removed: &[String],
    now: Micros,
) -> Result<(), Failure> {
    if s.deps.config.ncmp_url.is_none() {
        return Ok(());
    }
    crate::jobs::enqueue(
        s,
        NCMP_REGISTER_JOB,
        json!({"created": created, "updated": updated, "removed": removed}),
        10,
        now,
    )
    .await
}

/// List CM handles (credentials never included).
#[utoipa::path(get, path = "/dmi/v1/inventory/cmHandles", tag = "dmi-inventory",
    params(ListQuery),
    responses(
        (status = 200, description = "`{\"cmHandles\": [...]}`"),
        (status = 401, body = crate::error::NcmpErrorBody, description = "No credentials"),
    ))]
pub(crate) async fn list(
    axum::extract::State(s): axum::extract::State<DmiState>,
    remote: RemoteAddr,
    headers: HeaderMap,
    Query(q): Query<ListQuery>,
) -> Result<Response, NcmpError> {
    auth::authorize(&s, &headers, &remote, auth::INVENTORY_READ).await?;
    let records = match &q.state {
        Some(st) => s.deps.records.find_records(HANDLES, "state", st).await?,
        None => {
            s.deps
                .records
                .list_records(HANDLES, &ProjectScope::All)
                .await?
        }
    };
    let handles: Vec<Value> = records
        .iter()
        .filter(|r| {
            q.module_set_tag
                .as_deref()
                .is_none_or(|t| r.body.get("moduleSetTag").and_then(Value::as_str) == Some(t))
        })
        .map(|r| shown(&r.body))
        .collect();
    Ok(axum::Json(json!({"cmHandles": handles})).into_response())
}

/// One CM handle (by id or alternate id).
#[utoipa::path(get, path = "/dmi/v1/inventory/cmHandles/{cmHandle}", tag = "dmi-inventory",
    params(("cmHandle" = String, Path, description = "CM handle id or alternate id")),
    responses(
        (status = 200, description = "The handle, its state and lock reason"),
        (status = 404, body = crate::error::NcmpErrorBody, description = "Unknown handle"),
    ))]
pub(crate) async fn show(
    axum::extract::State(s): axum::extract::State<DmiState>,
    remote: RemoteAddr,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, NcmpError> {
    auth::authorize(&s, &headers, &remote, auth::INVENTORY_READ).await?;
    let h = access::handle(&s, &id).await?;
    Ok(axum::Json(shown(&h.record.body)).into_response())
}

/// Remove a CM handle: DELETING, sessions closed, DELETED.
#[utoipa::path(delete, path = "/dmi/v1/inventory/cmHandles/{cmHandle}", tag = "dmi-inventory",
    params(("cmHandle" = String, Path, description = "CM handle id")),
    responses(
        (status = 204, description = "Removed"),
        (status = 404, body = crate::error::NcmpErrorBody, description = "Unknown handle"),
    ))]
pub(crate) async fn remove(
    axum::extract::State(s): axum::extract::State<DmiState>,
    remote: RemoteAddr,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, NcmpError> {
    auth::authorize(&s, &headers, &remote, auth::INVENTORY_DELETE).await?;
    let h = access::handle(&s, &id).await?;
    let now = s.deps.clock.now();
    remove_handle(&s, h, now).await?;
    ncmp_register(&s, &[], &[], std::slice::from_ref(&id), now).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn remove_handle(s: &DmiState, h: Handle, now: Micros) -> Result<(), Failure> {
    let id = h.id().to_string();
    let mut r = h.record.clone();
    let before = r.body.clone();
    r.body["state"] = json!("DELETING");
    r.touch(now);
    s.deps
        .records
        .update_record(
            HANDLES,
            &r,
            &[lcm_event(&id, Some(&before), Some(&r.body), now)],
        )
        .await?;
    s.deps.pool.remove_device(&id);
    let set = h.set_key();
    if set.starts_with("ch:") {
        s.deps.models.forget(&set, true);
    }
    let mut gone = r.body.clone();
    gone["state"] = json!("DELETED");
    s.deps
        .records
        .delete_record(HANDLES, &id, &[lcm_event(&id, Some(&gone), None, now)])
        .await?;
    tracing::info!(cm_handle = %id, "cm handle removed");
    Ok(())
}
