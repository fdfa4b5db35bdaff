//! The HypO peering API (`/peering-api/peering`): an administrator peers this catalog with another
//! OSS described by a TMF632 organization. `POST` lists the peer's specifications; `POST /add`
//! imports the chosen ones (into catalogs and categories created as needed) and stores the
//! peering, all in one transaction; `PATCH` re-fetches; `DELETE` removes the peering and what it
//! imported. A scheduled heartbeat re-reads every peering's specifications: an unreachable peer's
//! specifications become `Unavailable` until it is back, changed ones are updated. Every step
//! publishes on the seed's topics through the outbox, so nothing is lost while a broker is down.

use std::collections::BTreeMap;

use async_trait::async_trait;
use axum::{
    Json,
    extract::State,
    http::{HeaderMap, StatusCode},
};
use netorch_core::{
    Micros,
    events::NewEvent,
    tenancy::{ProjectScope, Record},
};
use netorch_scheduler::{JobContext, JobError, JobHandler};
use serde_json::{Map, Value, json};

use crate::{
    Body, Path, TmfError, TmfState, auth,
    catalog::{CANDIDATE, CATALOG, CATEGORY, SPECIFICATION},
    entities::{self, Batch},
    error::ErrorBody,
    party::ORGANIZATION,
    peer::{PeerError, PeerSettings},
};

/// Peerings are records of this collection, keyed by the organization's id.
pub const COLLECTION: &str = "tmf_peerings";
/// Specifications fetched by a new peering.
pub const TOPIC_PEERED: &str = "tmf-api-peered-organization-service-specs";
/// Specifications changed by a PATCH or found changed by the heartbeat.
pub const TOPIC_UPDATED: &str = "updated-peered-organization-service-specs";
/// A peering step failed.
pub const TOPIC_FAILURE: &str = "east-west-peering-failure";
/// A peering and its specifications were removed.
pub const TOPIC_TERMINATION: &str = "east-west-peering-termination";
/// A heartbeat found the peer unreachable.
pub const TOPIC_HEARTBEAT_FAILURE: &str = "peered-organization-heartbeat-failure";
/// TMF642-style alarms about peering failures.
pub const TOPIC_ALARM: &str = "alarm-management-channel";
/// Kind of the periodic heartbeat job.
pub const HEARTBEAT_JOB: &str = "tmf.peering.heartbeat";

/// Lifecycle status of the specifications of an unreachable peer.
const UNAVAILABLE: &str = "Unavailable";

/// The organization a request names (its TMF632 document, or its id).
async fn organization(s: &TmfState, body: &Map<String, Value>) -> Result<Record, TmfError> {
    let id = match body.get("organization") {
        Some(Value::String(id)) => id.clone(),
        Some(o @ Value::Object(_)) => o["id"]
            .as_str()
            .ok_or_else(|| TmfError::BadRequest("'organization' has no 'id'".into()))?
            .to_string(),
        _ => {
            return Err(TmfError::BadRequest(
                "'organization' is required: the TMF632 organization (or its id)".into(),
            ));
        }
    };
    entities::load(s, &ORGANIZATION, &id).await
}

fn chosen(body: &Map<String, Value>) -> Result<BTreeMap<String, String>, TmfError> {
    let Some(Value::Object(m)) = body.get("serviceSpecs") else {
        return Err(TmfError::BadRequest(
            "'serviceSpecs' is required: {\"<peer spec id>\": \"<name>\", ...}".into(),
        ));
    };
    if m.is_empty() {
        return Err(TmfError::BadRequest(
            "'serviceSpecs' names no specification".into(),
        ));
    }
    m.iter()
        .map(|(k, v)| {
            Ok((
                k.clone(),
                v.as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| v.to_string()),
            ))
        })
        .collect()
}

fn catalogs_of(body: &Map<String, Value>) -> Result<Value, TmfError> {
    let v = body.get("serviceCatalogs").cloned().unwrap_or(json!([]));
    let ok = v.as_array().is_some_and(|cs| {
        cs.iter().all(|c| {
            c["name"].is_string()
                && c["categories"].as_array().is_none_or(|cats| {
                    cats.iter().all(|k| {
                        k["name"].is_string()
                            && k["specifications"]
                                .as_array()
                                .is_none_or(|x| x.iter().all(Value::is_string))
                    })
                })
        })
    });
    if !ok {
        return Err(TmfError::BadRequest(
            "'serviceCatalogs' must be [{name, categories: [{name, specifications: [names]}]}]"
                .into(),
        ));
    }
    Ok(v)
}

/// Events recording a failed peering step: the failure and an alarm.
fn failure_events(org: &Record, step: &str, why: &str, now: Micros) -> Vec<NewEvent> {
    let at = crate::rfc3339(now);
    vec![
        NewEvent::new(
            TOPIC_FAILURE,
            &org.id,
            json!({"organizationId": org.id, "organizationName": org.body["name"], "step": step,
                   "error": why, "time": at}),
        ),
        NewEvent::new(
            TOPIC_ALARM,
            &org.id,
            json!({"id": netorch_core::new_id(), "@type": "Alarm", "alarmType": "CommunicationsAlarm",
                   "perceivedSeverity": "major", "probableCause": "communicationsSubsystemFailure",
                   "specificProblem": format!("peering {step} with '{}' failed: {why}", org.body["name"].as_str().unwrap_or(&org.id)),
                   "alarmRaisedTime": at, "sourceSystemId": "netorch", "state": "raised",
                   "ackState": "unacknowledged",
                   "alarmedObject": {"id": org.id, "@referredType": "Organization"}}),
        ),
    ]
}

/// A peer failure: recorded as events, answered as 400 (the settings or the chosen ids are
/// wrong) or 502 (the peer failed).
async fn peer_failed(s: &TmfState, org: &Record, step: &str, e: PeerError) -> TmfError {
    let now = s.deps.clock.now();
    if let Err(err) = s
        .deps
        .outbox
        .append(&failure_events(org, step, &e.to_string(), now))
        .await
    {
        tracing::error!(error = %err, "peering failure event not recorded");
    }
    tracing::warn!(organization = %org.id, step, error = %e, "peering step failed");
    match e {
        PeerError::Settings(m) | PeerError::NotFound(m) => TmfError::BadRequest(m),
        PeerError::Unreachable(m) | PeerError::Auth(m) | PeerError::Answer(m) => {
            TmfError::BadGateway(m)
        }
    }
}

/// The local document of a peer's specification: the peer's attributes (either dialect, and
/// HypO's `serviceSpecCharacteristics`...), marked as the organization's with the remote id.
fn local_spec(
    s: &TmfState,
    org: &Record,
    remote: &Value,
    local_id: &str,
    now: Micros,
) -> Result<Value, TmfError> {
    let Value::Object(mut doc) = remote.clone() else {
        return Err(TmfError::BadGateway(
            "a peer specification is not an object".into(),
        ));
    };
    for k in ["id", "uuid", "href", "lastUpdate", "attachment"] {
        doc.remove(k);
    }
    for (from, to) in [
        ("serviceSpecCharacteristics", "serviceSpecCharacteristic"),
        ("relatedParties", "relatedParty"),
        ("serviceSpecRelationshipSet", "serviceSpecRelationship"),
        ("targetServiceSchemaRefEntity", "targetServiceSchema"),
    ] {
        if let Some(v) = doc.remove(from) {
            doc.entry(to).or_insert(v);
        }
    }
    doc.insert(
        "relatedParty".into(),
        json!([{"id": org.id, "name": org.body["name"], "role": "ORGANIZATION",
                "extendedInfo": remote["id"], "@referredType": "Organization"}]),
    );
    entities::build(s, &SPECIFICATION, local_id, doc, now)
        .map_err(|e| TmfError::BadGateway(format!("peer specification {}: {e}", remote["id"])))
}

/// What differs between two specification documents, ignoring the stamp.
fn same_spec(a: &Value, b: &Value) -> bool {
    let strip = |v: &Value| {
        let mut v = v.clone();
        if let Some(m) = v.as_object_mut() {
            m.remove("lastUpdate");
        }
        v
    };
    strip(a) == strip(b)
}

/// Plans the import of `remote` specifications for `org`: specifications (and candidates) created
/// or updated, catalogs and categories created or extended; the map remote id → local id.
async fn plan_import(
    s: &TmfState,
    org: &Record,
    previous: &Map<String, Value>,
    remote: &[Value],
    catalogs: &Value,
    project: &str,
    batch: &mut Batch,
) -> Result<(Map<String, Value>, Vec<Value>), TmfError> {
    let now = s.deps.clock.now();
    let mut peered = Map::new();
    let mut changed = Vec::new();
    let mut candidate_of: BTreeMap<String, (String, String)> = BTreeMap::new(); // name → (candidate id, spec id)
    // Catalogs and categories are only touched when the request names some (never in a
    // heartbeat): then the candidates are needed too. A round over many peerings stays linear.
    let placing = catalogs.as_array().is_some_and(|c| !c.is_empty());
    let candidates = if placing {
        s.deps
            .records
            .list_records(CANDIDATE.collection, &ProjectScope::All)
            .await?
    } else {
        Vec::new()
    };
    for r in remote {
        let rid = r["id"].as_str().unwrap_or_default().to_string();
        let existing = match previous.get(&rid).and_then(Value::as_str) {
            Some(local) => {
                s.deps
                    .records
                    .get_record(SPECIFICATION.collection, local, &ProjectScope::All, false)
                    .await?
            }
            None => None,
        };
        let local_id = existing
            .as_ref()
            .map_or_else(netorch_core::new_id, |e| e.id.clone());
        let doc = local_spec(s, org, r, &local_id, now)?;
        match existing {
            Some(mut e) => {
                if !same_spec(&e.body, &doc) {
                    e.body = doc.clone();
                    e.touch(now);
                    batch.entity_event(&SPECIFICATION, "Change", &doc, now);
                    batch.updates.push((SPECIFICATION.collection, e));
                    changed.push(doc.clone());
                }
                if let Some(c) = candidates.iter().find(|c| {
                    c.body["serviceSpecification"]["id"].as_str() == Some(local_id.as_str())
                }) {
                    candidate_of.insert(
                        doc["name"].as_str().unwrap_or_default().into(),
                        (c.id.clone(), local_id.clone()),
                    );
                }
            }
            None => {
                let cid = netorch_core::new_id();
                let candidate = crate::catalog::candidate_for(&doc, &cid, now);
                batch.entity_event(&SPECIFICATION, "Create", &doc, now);
                batch.entity_event(&CANDIDATE, "Create", &candidate, now);
                batch.inserts.push((
                    SPECIFICATION.collection,
                    entities::new_record(&local_id, doc.clone(), project, now),
                ));
                batch.inserts.push((
                    CANDIDATE.collection,
                    entities::new_record(&cid, candidate, project, now),
                ));
                candidate_of.insert(
                    doc["name"].as_str().unwrap_or_default().into(),
                    (cid, local_id.clone()),
                );
                changed.push(doc.clone());
            }
        }
        peered.insert(rid, json!(local_id));
    }
    // Catalogs and categories, found by name or created, hold the candidates named for them.
    if !placing {
        return Ok((peered, changed));
    }
    let mut all_categories = s
        .deps
        .records
        .list_records(CATEGORY.collection, &ProjectScope::All)
        .await?;
    let mut all_catalogs = s
        .deps
        .records
        .list_records(CATALOG.collection, &ProjectScope::All)
        .await?;
    let mut touched: BTreeMap<(bool, String), bool> = BTreeMap::new(); // (is catalog, id) → is new
    for c in catalogs.as_array().into_iter().flatten() {
        let cname = c["name"].as_str().unwrap_or_default();
        let cat_pos = match all_catalogs
            .iter()
            .position(|x| x.body["name"].as_str() == Some(cname))
        {
            Some(p) => p,
            None => {
                let id = netorch_core::new_id();
                let doc = entities::build(
                    s,
                    &CATALOG,
                    &id,
                    Map::from_iter([("name".to_string(), json!(cname))]),
                    now,
                )?;
                all_catalogs.push(entities::new_record(&id, doc, project, now));
                touched.insert((true, id), true);
                all_catalogs.len() - 1
            }
        };
        for k in c["categories"].as_array().into_iter().flatten() {
            let kname = k["name"].as_str().unwrap_or_default();
            let k_pos = match all_categories
                .iter()
                .position(|x| x.body["name"].as_str() == Some(kname))
            {
                Some(p) => p,
                None => {
                    let id = netorch_core::new_id();
                    let doc = entities::build(
                        s,
                        &CATEGORY,
                        &id,
                        Map::from_iter([("name".to_string(), json!(kname))]),
                        now,
                    )?;
                    all_categories.push(entities::new_record(&id, doc, project, now));
                    touched.insert((false, id), true);
                    all_categories.len() - 1
                }
            };
            let cat_id = all_categories[k_pos].id.clone();
            let catalog = &mut all_catalogs[cat_pos];
            if !catalog.body["category"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|x| x["id"].as_str() == Some(cat_id.as_str()))
            {
                if let Some(list) = catalog.body["category"].as_array_mut() {
                    list.push(
                        json!({"id": cat_id, "name": kname, "@referredType": "ServiceCategory"}),
                    );
                }
                touched.entry((true, catalog.id.clone())).or_insert(false);
            }
            for spec_name in k["specifications"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
            {
                let Some((cid, _)) = candidate_of.get(spec_name) else {
                    return Err(TmfError::BadRequest(format!(
                        "category '{kname}' lists specification '{spec_name}', which is not among those peered"
                    )));
                };
                let category = &mut all_categories[k_pos];
                if !category.body["serviceCandidate"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|x| x["id"].as_str() == Some(cid.as_str()))
                {
                    if let Some(list) = category.body["serviceCandidate"].as_array_mut() {
                        list.push(json!({"id": cid, "name": spec_name, "@referredType": "ServiceCandidate"}));
                    }
                    touched.entry((false, category.id.clone())).or_insert(false);
                }
            }
        }
    }
    for ((is_catalog, id), is_new) in touched {
        let (kind, list) = if is_catalog {
            (&CATALOG, &all_catalogs)
        } else {
            (&CATEGORY, &all_categories)
        };
        let Some(mut r) = list.iter().find(|r| r.id == id).cloned() else {
            continue;
        };
        r.body["lastUpdate"] = json!(crate::rfc3339(now));
        if is_new {
            batch.entity_event(kind, "Create", &r.body, now);
            batch.inserts.push((kind.collection, r));
        } else {
            r.touch(now);
            batch.entity_event(kind, "Change", &r.body, now);
            batch.updates.push((kind.collection, r));
        }
    }
    Ok((peered, changed))
}

fn peering_doc(
    org: &Record,
    chosen: &BTreeMap<String, String>,
    peered: &Map<String, Value>,
    catalogs: &Value,
    now: Micros,
) -> Value {
    json!({
        "id": org.id,
        "organization": {"id": org.id, "name": org.body["name"], "@referredType": "Organization"},
        "serviceSpecs": chosen,
        "peeredSpecs": peered,
        "serviceCatalogs": catalogs,
        "status": "ACTIVE",
        "lastContact": crate::rfc3339(now),
        "lastError": null,
        "consecutiveFailures": 0,
    })
}

/// List peerings.
#[utoipa::path(get, path = "/peering-api/peering", tag = "peering", operation_id = "list_peerings",
    security(("bearerAuth" = [])),
    responses((status = 200, description = "Every peering, with its state"),
        (status = 401, description = "No valid bearer token", body = ErrorBody),
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
        .map(|r| r.body)
        .collect();
    Ok(Json(json!(all)))
}

/// Fetch a peer's service specifications (step 2 of the peering).
#[utoipa::path(post, path = "/peering-api/peering", tag = "peering", operation_id = "fetch_peer_specifications",
    security(("bearerAuth" = [])),
    request_body(content = Object, description = "{organization, serviceSpecs, peeredSpecs, serviceCatalogs}", content_type = "application/json"),
    responses((status = 200, description = "The peer's specifications"),
        (status = 400, description = "Unknown organization or bad settings", body = ErrorBody),
        (status = 404, description = "No such organization", body = ErrorBody),
        (status = 502, description = "The peer failed (recorded as east-west-peering-failure)", body = ErrorBody)))]
pub(crate) async fn fetch(
    State(s): State<TmfState>,
    headers: HeaderMap,
    Body(b): Body,
) -> Result<Json<Value>, TmfError> {
    auth::administrator(&s, &headers, "post").await?;
    let body = entities::object(&b)?;
    let org = organization(&s, &body).await?;
    let settings = match PeerSettings::from_organization(&org.body, &s.deps.secrets) {
        Ok(p) => p,
        Err(e) => return Err(peer_failed(&s, &org, "fetch", e).await),
    };
    match s.deps.peer.list_specs(&settings).await {
        Ok(specs) => Ok(Json(json!(specs))),
        Err(e) => Err(peer_failed(&s, &org, "fetch", e).await),
    }
}

/// Peer the chosen specifications (step 3).
#[utoipa::path(post, path = "/peering-api/peering/add", tag = "peering", operation_id = "add_peering",
    security(("bearerAuth" = [])),
    request_body(content = Object, description = "{organization, serviceSpecs: {peer id: name}, peeredSpecs, serviceCatalogs: [{name, categories: [{name, specifications}]}]}", content_type = "application/json"),
    responses((status = 200, description = "The peering"),
        (status = 400, description = "Bad request, unknown specification ids", body = ErrorBody),
        (status = 409, description = "Already peered (PATCH it)", body = ErrorBody),
        (status = 502, description = "The peer failed; nothing imported", body = ErrorBody)))]
pub(crate) async fn add(
    State(s): State<TmfState>,
    headers: HeaderMap,
    Body(b): Body,
) -> Result<Json<Value>, TmfError> {
    let me = auth::administrator(&s, &headers, "post").await?;
    let body = entities::object(&b)?;
    let org = organization(&s, &body).await?;
    let chosen = chosen(&body)?;
    let catalogs = catalogs_of(&body)?;
    if s.deps
        .records
        .get_record(COLLECTION, &org.id, &ProjectScope::All, false)
        .await?
        .is_some()
    {
        return Err(TmfError::Conflict(format!(
            "organization '{}' is already peered; PATCH /peering-api/peering/{} changes it",
            org.id, org.id
        )));
    }
    let settings = match PeerSettings::from_organization(&org.body, &s.deps.secrets) {
        Ok(p) => p,
        Err(e) => return Err(peer_failed(&s, &org, "add", e).await),
    };
    let ids: Vec<String> = chosen.keys().cloned().collect();
    let remote = match s.deps.peer.specs(&settings, &ids).await {
        Ok(r) => r,
        Err(e) => return Err(peer_failed(&s, &org, "add", e).await),
    };
    // Changes upstream are pushed to our listener when the peer offers a hub (else: heartbeat).
    let hub = match &s.deps.public_url {
        Some(base) => {
            let callback = format!(
                "{}/tmf-api/serviceCatalogManagement/v4",
                base.trim_end_matches('/')
            );
            match s.deps.peer.subscribe(&settings, &callback).await {
                Ok(id) => json!({"id": id, "callback": callback}),
                Err(e) => {
                    tracing::warn!(organization = %org.id, error = %e, "peer hub subscription failed; the heartbeat alone keeps the specifications current");
                    json!({"error": e.to_string()})
                }
            }
        }
        None => Value::Null,
    };
    // The peer was read once; the local writes are planned again if a concurrent change (another
    // peering touching the same category, say) wins the race.
    let mut attempt = 0;
    let (doc, peered) = loop {
        attempt += 1;
        let mut batch = Batch::default();
        let (peered, imported) = plan_import(
            &s,
            &org,
            &Map::new(),
            &remote,
            &catalogs,
            &me.project_id,
            &mut batch,
        )
        .await?;
        let now = s.deps.clock.now();
        let mut doc = peering_doc(&org, &chosen, &peered, &catalogs, now);
        doc["peerHub"] = hub.clone();
        batch.events.push(NewEvent::new(
            TOPIC_PEERED,
            &org.id,
            json!({"organizationId": org.id, "peering": doc, "serviceSpecifications": imported}),
        ));
        batch.inserts.push((
            COLLECTION,
            entities::new_record(&org.id, doc.clone(), &me.project_id, now),
        ));
        match batch.commit(&s).await {
            Ok(()) => break (doc, peered),
            Err(netorch_core::StoreError::Conflict(_)) if attempt < 5 => continue,
            Err(e) => return Err(e.into()),
        }
    };
    tracing::info!(organization = %org.id, specs = peered.len(), "peering added");
    Ok(Json(doc))
}

async fn load(s: &TmfState, id: &str) -> Result<Record, TmfError> {
    s.deps
        .records
        .get_record(COLLECTION, id, &ProjectScope::All, false)
        .await?
        .ok_or_else(|| TmfError::NotFound(format!("peering '{id}' not found")))
}

/// Show a peering.
#[utoipa::path(get, path = "/peering-api/peering/{id}", tag = "peering", operation_id = "show_peering",
    security(("bearerAuth" = [])),
    params(("id" = String, Path, description = "The organization's id")),
    responses((status = 200, description = "The peering: chosen and peered specifications, last contact, last error, consecutive failures"),
        (status = 404, description = "Not found", body = ErrorBody)))]
pub(crate) async fn show(
    State(s): State<TmfState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Value>, TmfError> {
    auth::administrator(&s, &headers, "get").await?;
    Ok(Json(load(&s, &id).await?.body))
}

/// Specifications (with their candidates) a peering imported that `keep` no longer holds.
async fn dropped(
    s: &TmfState,
    peering: &Value,
    keep: &Map<String, Value>,
) -> Result<Vec<(&'static str, String)>, TmfError> {
    let mut out = Vec::new();
    let candidates = s
        .deps
        .records
        .list_records(CANDIDATE.collection, &ProjectScope::All)
        .await?;
    for (rid, local) in peering["peeredSpecs"].as_object().into_iter().flatten() {
        if keep.contains_key(rid) {
            continue;
        }
        let Some(local) = local.as_str() else {
            continue;
        };
        out.push((SPECIFICATION.collection, local.to_string()));
        out.extend(
            candidates
                .iter()
                .filter(|c| c.body["serviceSpecification"]["id"].as_str() == Some(local))
                .map(|c| (CANDIDATE.collection, c.id.clone())),
        );
    }
    Ok(out)
}

/// Re-fetch a peering's specifications (a new choice given with `serviceSpecs`).
#[utoipa::path(patch, path = "/peering-api/peering/{id}", tag = "peering", operation_id = "update_peering",
    security(("bearerAuth" = [])),
    params(("id" = String, Path, description = "The organization's id")),
    request_body(content = Object, description = "{serviceSpecs?, serviceCatalogs?}", content_type = "application/json"),
    responses((status = 200, description = "The peering"),
        (status = 404, description = "Not found", body = ErrorBody),
        (status = 502, description = "The peer failed; nothing changed", body = ErrorBody)))]
pub(crate) async fn update(
    State(s): State<TmfState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Body(b): Body,
) -> Result<Json<Value>, TmfError> {
    let me = auth::administrator(&s, &headers, "patch").await?;
    let body = if b.is_empty() {
        Map::new()
    } else {
        entities::object(&b)?
    };
    let mut peering = load(&s, &id).await?;
    let org = entities::load(&s, &ORGANIZATION, &id).await?;
    let chosen = if body.contains_key("serviceSpecs") {
        chosen(&body)?
    } else {
        serde_json::from_value(peering.body["serviceSpecs"].clone()).unwrap_or_default()
    };
    let catalogs = if body.contains_key("serviceCatalogs") {
        catalogs_of(&body)?
    } else {
        json!([])
    };
    let settings = match PeerSettings::from_organization(&org.body, &s.deps.secrets) {
        Ok(p) => p,
        Err(e) => return Err(peer_failed(&s, &org, "update", e).await),
    };
    let ids: Vec<String> = chosen.keys().cloned().collect();
    let remote = match s.deps.peer.specs(&settings, &ids).await {
        Ok(r) => r,
        Err(e) => return Err(peer_failed(&s, &org, "update", e).await),
    };
    // The peer was read once; the local writes are planned again on the current peering if the
    // heartbeat (or anything else) changed it meanwhile.
    let mut attempt = 0;
    loop {
        attempt += 1;
        if attempt > 1 {
            peering = load(&s, &id).await?;
        }
        let previous = peering.body["peeredSpecs"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        let mut batch = Batch::default();
        let (peered, changed) = plan_import(
            &s,
            &org,
            &previous,
            &remote,
            &catalogs,
            &me.project_id,
            &mut batch,
        )
        .await?;
        batch.deletes = dropped(&s, &peering.body, &peered).await?;
        let now = s.deps.clock.now();
        let stored_catalogs = if body.contains_key("serviceCatalogs") {
            catalogs.clone()
        } else {
            peering.body["serviceCatalogs"].clone()
        };
        let mut next = peering.clone();
        next.body = peering_doc(&org, &chosen, &peered, &stored_catalogs, now);
        next.body["peerHub"] = peering.body["peerHub"].clone();
        next.touch(now);
        let removed: Vec<&String> = batch
            .deletes
            .iter()
            .filter(|(c, _)| *c == SPECIFICATION.collection)
            .map(|(_, i)| i)
            .collect();
        let event = NewEvent::new(
            TOPIC_UPDATED,
            &org.id,
            json!({"organizationId": org.id, "peering": next.body, "serviceSpecifications": changed,
                   "removed": removed}),
        );
        batch.events.push(event);
        let doc = next.body.clone();
        batch.updates.push((COLLECTION, next));
        match batch.commit(&s).await {
            Ok(()) => return Ok(Json(doc)),
            Err(netorch_core::StoreError::Conflict(_)) if attempt < 5 => continue,
            Err(e) => return Err(e.into()),
        }
    }
}

/// Remove a peering and the specifications it imported.
#[utoipa::path(delete, path = "/peering-api/peering/{id}", tag = "peering", operation_id = "delete_peering",
    security(("bearerAuth" = [])),
    params(("id" = String, Path, description = "The organization's id")),
    responses((status = 200, description = "Removed; the peering as it was"),
        (status = 404, description = "Not found", body = ErrorBody)))]
pub(crate) async fn remove(
    State(s): State<TmfState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<Value>), TmfError> {
    auth::administrator(&s, &headers, "delete").await?;
    // Planned again if a category it edits changed meanwhile.
    let mut attempt = 0;
    let peering = loop {
        attempt += 1;
        let peering = load(&s, &id).await?;
        let mut batch = Batch {
            deletes: dropped(&s, &peering.body, &Map::new()).await?,
            ..Batch::default()
        };
        // Categories stop listing the removed candidates.
        let gone: Vec<String> = batch
            .deletes
            .iter()
            .filter(|(c, _)| *c == CANDIDATE.collection)
            .map(|(_, i)| i.clone())
            .collect();
        let now = s.deps.clock.now();
        for mut k in s
            .deps
            .records
            .list_records(CATEGORY.collection, &ProjectScope::All)
            .await?
        {
            let Some(list) = k.body["serviceCandidate"].as_array_mut() else {
                continue;
            };
            let before = list.len();
            list.retain(|c| {
                !c["id"]
                    .as_str()
                    .is_some_and(|i| gone.iter().any(|g| g == i))
            });
            if list.len() != before {
                k.touch(now);
                batch.entity_event(&CATEGORY, "Change", &k.body, now);
                batch.updates.push((CATEGORY.collection, k));
            }
        }
        let removed: Vec<String> = batch
            .deletes
            .iter()
            .filter(|(c, _)| *c == SPECIFICATION.collection)
            .map(|(_, i)| i.clone())
            .collect();
        batch.events.push(NewEvent::new(
            TOPIC_TERMINATION,
            &id,
            json!({"organizationId": id, "removedServiceSpecifications": removed}),
        ));
        batch.deletes.push((COLLECTION, id.clone()));
        let kept = peering.clone();
        match batch.commit(&s).await {
            Ok(()) => break kept,
            Err(netorch_core::StoreError::Conflict(_)) if attempt < 5 => continue,
            Err(e) => return Err(e.into()),
        }
    };
    tracing::info!(organization = %id, "peering removed");
    if let Some(hub) = peering.body["peerHub"]["id"].as_str() {
        let settings = match entities::load(&s, &ORGANIZATION, &id).await {
            Ok(org) => PeerSettings::from_organization(&org.body, &s.deps.secrets).ok(),
            Err(_) => None,
        };
        let done = match settings {
            Some(p) => s
                .deps
                .peer
                .unsubscribe(&p, hub)
                .await
                .map_err(|e| e.to_string()),
            None => Err("the organization or its settings are gone".to_string()),
        };
        if let Err(e) = done {
            tracing::warn!(organization = %id, hub, error = %e, "peer hub subscription not removed");
        }
    }
    Ok((StatusCode::OK, Json(peering.body)))
}

/// One heartbeat round: every peering's chosen specifications are fetched again.
pub(crate) struct Heartbeat {
    pub(crate) state: TmfState,
}

impl Heartbeat {
    pub(crate) async fn check(&self, peering: Record) -> Result<&'static str, TmfError> {
        let s = &self.state;
        let org = entities::load(s, &ORGANIZATION, &peering.id).await?;
        let ids: Vec<String> = peering.body["serviceSpecs"]
            .as_object()
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default();
        let fetched = match PeerSettings::from_organization(&org.body, &s.deps.secrets) {
            Ok(p) => s.deps.peer.specs(&p, &ids).await,
            Err(e) => Err(e),
        };
        let now = s.deps.clock.now();
        let mut batch = Batch::default();
        let mut p = peering.clone();
        let outcome = match fetched {
            Err(e) => {
                let failures = p.body["consecutiveFailures"].as_u64().unwrap_or(0) + 1;
                let was_up = p.body["status"] != json!("UNREACHABLE");
                p.body["status"] = json!("UNREACHABLE");
                p.body["lastError"] = json!(e.to_string());
                p.body["lastCheck"] = json!(crate::rfc3339(now));
                p.body["consecutiveFailures"] = json!(failures);
                if was_up {
                    // The peer's specifications cannot be ordered until it is back.
                    for local in p.body["peeredSpecs"]
                        .as_object()
                        .into_iter()
                        .flatten()
                        .filter_map(|(_, v)| v.as_str())
                    {
                        if let Some(mut spec) = s
                            .deps
                            .records
                            .get_record(SPECIFICATION.collection, local, &ProjectScope::All, false)
                            .await?
                        {
                            spec.body["lifecycleStatus"] = json!(UNAVAILABLE);
                            spec.body["lastUpdate"] = json!(crate::rfc3339(now));
                            spec.touch(now);
                            batch.entity_event(&SPECIFICATION, "Change", &spec.body, now);
                            batch.updates.push((SPECIFICATION.collection, spec));
                        }
                    }
                }
                batch.events.push(NewEvent::new(
                    TOPIC_HEARTBEAT_FAILURE,
                    &p.id,
                    json!({"organizationId": p.id, "organizationName": org.body["name"], "error": e.to_string(),
                           "consecutiveFailures": failures, "time": crate::rfc3339(now)}),
                ));
                "unreachable"
            }
            Ok(remote) => {
                let previous = p.body["peeredSpecs"]
                    .as_object()
                    .cloned()
                    .unwrap_or_default();
                let project = p.owners.write.first().cloned().unwrap_or_default();
                let (_, changed) = plan_import(
                    s,
                    &org,
                    &previous,
                    &remote,
                    &json!([]),
                    &project,
                    &mut batch,
                )
                .await?;
                if !changed.is_empty() {
                    batch.events.push(NewEvent::new(
                        TOPIC_UPDATED,
                        &p.id,
                        json!({"organizationId": p.id, "serviceSpecifications": changed}),
                    ));
                }
                p.body["status"] = json!("ACTIVE");
                p.body["lastContact"] = json!(crate::rfc3339(now));
                p.body["lastCheck"] = json!(crate::rfc3339(now));
                p.body["lastError"] = Value::Null;
                p.body["consecutiveFailures"] = json!(0);
                if changed.is_empty() {
                    "unchanged"
                } else {
                    "updated"
                }
            }
        };
        p.touch(now);
        batch.updates.push((COLLECTION, p));
        batch.commit(s).await.map_err(TmfError::from)?;
        Ok(outcome)
    }
}

#[async_trait]
impl JobHandler for Heartbeat {
    async fn run(&self, ctx: JobContext) -> Result<Value, JobError> {
        let peerings = self
            .state
            .deps
            .records
            .list_records(COLLECTION, &ProjectScope::All)
            .await
            .map_err(|e| JobError::Retry(e.to_string()))?;
        let mut counts: BTreeMap<&str, u64> = BTreeMap::new();
        for (i, p) in peerings.into_iter().enumerate() {
            let id = p.id.clone();
            match self.check(p).await {
                Ok(o) => *counts.entry(o).or_default() += 1,
                // A peering changed meanwhile (a PATCH) or was removed: the next round sees it.
                Err(e) => {
                    tracing::warn!(organization = %id, error = %e, "heartbeat of a peering not recorded");
                    *counts.entry("skipped").or_default() += 1;
                }
            }
            if i % 50 == 49 {
                ctx.progress(&format!("{} peerings checked", i + 1)).await;
            }
        }
        Ok(json!(counts))
    }
}
