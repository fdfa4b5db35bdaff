//! TMF entities stored as records, one machinery for every resource: create, list with TMF630
//! query features, show, merge-patch, delete, with their events. A [`Kind`] declares a resource's
//! attributes, references and flavour; TMF has no tenancy, so entities are owned by the creating
//! administrator's project and readable by everyone allowed to read the resource. Output is what
//! OpenSlice emits: every declared attribute present (null, or an empty list), `uuid` == `id`.

use axum::{
    Json,
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use netorch_core::{
    Micros,
    events::NewEvent,
    tenancy::{Ownership, ProjectScope, Record},
};
use serde_json::{Map, Value, json};

use crate::{
    TmfError, TmfState, auth, characteristics,
    query::{ListQuery, ListReply},
};

/// What distinguishes a resource's handling beyond its attributes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flavor {
    /// TMF632: administrators only; characteristics merged by name, secrets sealed and masked.
    Party,
    /// TMF633: reads by any caller (anonymous when configured); both field-name dialects in,
    /// OpenSlice's out; `lastUpdate` kept.
    Catalog,
}

/// A reference attribute that must name an existing entity.
pub(crate) struct Ref {
    /// Attribute (an object `{id}` or a list of them).
    pub field: &'static str,
    /// Collection the id must be in.
    pub collection: &'static str,
    /// Its `@type`, for messages.
    pub what: &'static str,
}

/// A TMF resource.
pub(crate) struct Kind {
    /// Record collection.
    pub collection: &'static str,
    /// `@type` of the entity and the prefix of its event names.
    pub type_name: &'static str,
    /// Key of the entity in an event's `event` object.
    pub event_key: &'static str,
    /// Outbox topic of its events.
    pub topic: &'static str,
    /// Middle of the change event's name (`AttributeValueChange` in TMF632, `Change` in TMF633).
    pub change_event: &'static str,
    /// Collection path (`href` = path + `/` + id).
    pub path: &'static str,
    /// Handling.
    pub flavor: Flavor,
    /// Each inner list: at least one of these must be a non-empty string.
    pub required: &'static [&'static [&'static str]],
    /// Text or null.
    pub strings: &'static [&'static str],
    /// Boolean or null.
    pub booleans: &'static [&'static str],
    /// List of objects (null reads as empty).
    pub lists: &'static [&'static str],
    /// Object or null.
    pub objects: &'static [&'static str],
    /// Allowed values of `status` (empty: any).
    pub statuses: &'static [&'static str],
    /// Input names of the official 2020 schema and the OpenSlice names they are stored under.
    pub aliases: &'static [(&'static str, &'static str)],
    /// References checked on every write.
    pub refs: &'static [Ref],
}

/// Attributes the server owns: given ones are ignored.
const SERVER_OWNED: [&str; 3] = ["id", "uuid", "href"];

/// Names inside catalog characteristics, 2020 → OpenSlice.
const CHARACTERISTIC_ALIASES: [(&str, &str); 2] = [
    (
        "characteristicValueSpecification",
        "serviceSpecCharacteristicValue",
    ),
    ("charSpecRelationship", "serviceSpecCharRelationship"),
];

/// A request body that must be one JSON object (400 otherwise).
pub(crate) fn object(body: &[u8]) -> Result<Map<String, Value>, TmfError> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(TmfError::BadRequest(
            "the body must be a JSON object".into(),
        )),
        Err(e) => Err(TmfError::BadRequest(format!("the body is not JSON: {e}"))),
    }
}

/// Renames 2020 attribute names to OpenSlice's (a document giving both keeps OpenSlice's).
fn normalize(kind: &Kind, doc: &mut Map<String, Value>) {
    for (from, to) in kind.aliases {
        if let Some(v) = doc.remove(*from)
            && !doc.contains_key(*to)
        {
            doc.insert((*to).to_string(), v);
        }
    }
    if let Some(Value::Array(chars)) = doc.get_mut("serviceSpecCharacteristic") {
        for c in chars.iter_mut().filter_map(Value::as_object_mut) {
            for (from, to) in CHARACTERISTIC_ALIASES {
                if let Some(v) = c.remove(from)
                    && !c.contains_key(to)
                {
                    c.insert(to.to_string(), v);
                }
            }
        }
    }
}

/// Checks the declared attributes' types and the required ones.
fn validate(kind: &Kind, doc: &Map<String, Value>) -> Result<(), TmfError> {
    let bad = |k: &str, what: &str| TmfError::BadRequest(format!("'{k}' must be {what}"));
    for (k, v) in doc {
        let k = k.as_str();
        if v.is_null() {
            continue;
        }
        if kind.strings.contains(&k) && !v.is_string() {
            return Err(bad(k, "a string"));
        }
        if kind.booleans.contains(&k) && !v.is_boolean() {
            return Err(bad(k, "true or false"));
        }
        if kind.objects.contains(&k) && !v.is_object() {
            return Err(bad(k, "an object"));
        }
        if kind.lists.contains(&k) {
            let Some(items) = v.as_array() else {
                return Err(bad(k, "a list"));
            };
            if k != "partyCharacteristic"
                && let Some(i) = items.iter().position(|x| !x.is_object())
            {
                return Err(bad(&format!("{k}[{i}]"), "an object"));
            }
        }
    }
    if let Some(s) = doc.get("status").and_then(Value::as_str)
        && !kind.statuses.is_empty()
        && !kind.statuses.contains(&s)
    {
        return Err(TmfError::BadRequest(format!(
            "'status' must be one of {}, not '{s}'",
            kind.statuses.join(", ")
        )));
    }
    for any_of in kind.required {
        let given = any_of.iter().any(|k| {
            doc.get(*k)
                .and_then(Value::as_str)
                .is_some_and(|s| !s.trim().is_empty())
        });
        if !given {
            return Err(TmfError::BadRequest(format!(
                "{} is required",
                any_of
                    .iter()
                    .map(|k| format!("'{k}'"))
                    .collect::<Vec<_>>()
                    .join(" or ")
            )));
        }
    }
    if let Some(chars) = doc.get("serviceSpecCharacteristic") {
        for (i, c) in chars.as_array().into_iter().flatten().enumerate() {
            if c["name"].as_str().is_none_or(|n| n.trim().is_empty()) {
                return Err(TmfError::BadRequest(format!(
                    "serviceSpecCharacteristic[{i}]: 'name' is required"
                )));
            }
        }
    }
    match kind.flavor {
        Flavor::Party => {
            characteristics::validate(doc.get("partyCharacteristic").unwrap_or(&Value::Null))
        }
        Flavor::Catalog => Ok(()),
    }
}

/// Every referenced entity exists.
async fn check_refs(s: &TmfState, kind: &Kind, doc: &Map<String, Value>) -> Result<(), TmfError> {
    for r in kind.refs {
        let items: Vec<&Value> = match doc.get(r.field) {
            Some(Value::Array(a)) => a.iter().collect(),
            Some(v @ Value::Object(_)) => vec![v],
            _ => continue,
        };
        for item in items {
            let id = item["id"].as_str().ok_or_else(|| {
                TmfError::BadRequest(format!("'{}': a reference needs an 'id'", r.field))
            })?;
            let found = s
                .deps
                .records
                .get_record(r.collection, id, &ProjectScope::All, false)
                .await?;
            if found.is_none() {
                return Err(TmfError::BadRequest(format!(
                    "'{}' refers to {} '{id}', which does not exist",
                    r.field, r.what
                )));
            }
        }
    }
    Ok(())
}

/// The stored document: the given attributes, every declared one present, ids and `href` set;
/// party characteristics with ids and their secrets sealed, catalog entities stamped.
fn complete(
    s: &TmfState,
    kind: &Kind,
    id: &str,
    mut doc: Map<String, Value>,
    previous: &Value,
    now: Micros,
) -> Result<Value, TmfError> {
    for k in SERVER_OWNED {
        doc.remove(k);
    }
    for k in kind.strings.iter().chain(kind.booleans).chain(kind.objects) {
        doc.entry(*k).or_insert(Value::Null);
    }
    for k in kind.lists {
        let v = doc.entry(*k).or_insert(Value::Null);
        if v.is_null() {
            *v = json!([]);
        }
    }
    if doc["@type"].is_null() {
        doc.insert("@type".into(), json!(kind.type_name));
    }
    match kind.flavor {
        Flavor::Party => {
            let chars = doc.entry("partyCharacteristic").or_insert(json!([]));
            for c in chars.as_array_mut().into_iter().flatten() {
                if c.get("id").is_none_or(Value::is_null) {
                    let cid = netorch_core::new_id();
                    c["id"] = json!(cid);
                    c["uuid"] = json!(cid);
                }
            }
            characteristics::seal(chars, &s.deps.secrets, previous)?;
        }
        Flavor::Catalog => {
            doc.insert("lastUpdate".into(), json!(crate::rfc3339(now)));
            if doc.contains_key("@baseType") && doc["@baseType"].is_null() {
                doc.insert("@baseType".into(), json!("BaseEntity"));
            }
        }
    }
    doc.insert("id".into(), json!(id));
    doc.insert("uuid".into(), json!(id));
    doc.insert("href".into(), json!(format!("{}/{id}", kind.path)));
    Ok(Value::Object(doc))
}

/// What leaves the server: party secrets masked.
pub(crate) fn shown(kind: &Kind, mut doc: Value) -> Value {
    if kind.flavor == Flavor::Party {
        characteristics::mask(&mut doc["partyCharacteristic"]);
    }
    doc
}

/// Where TMF633 and TMF632 events wait for the hubs' notification sweep (written with the
/// change).
pub(crate) const HUB_EVENTS: &str = "tmf_hub_events";

/// Record inserts, revision-checked updates, deletes and events applied in one transaction;
/// catalog and party events also leave a record for the hubs' subscribers, in that same
/// transaction.
#[derive(Default)]
pub(crate) struct Batch {
    pub inserts: Vec<(&'static str, Record)>,
    pub updates: Vec<(&'static str, Record)>,
    pub deletes: Vec<(&'static str, String)>,
    pub events: Vec<NewEvent>,
}

impl Batch {
    /// The `<type><what>Event` of an entity and its hub record.
    pub(crate) fn entity_event(&mut self, kind: &Kind, what: &str, doc: &Value, now: Micros) {
        let e = event(kind, what, doc, now);
        let id = e.payload["eventId"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        self.inserts.push((
            HUB_EVENTS,
            Record {
                id,
                name: None,
                body: e.payload.clone(),
                owners: Ownership::default(),
                created: now,
                modified: now,
                revision: 1,
            },
        ));
        self.events.push(e);
    }

    /// Applies everything, or nothing.
    pub(crate) async fn commit(self, s: &TmfState) -> Result<(), netorch_core::StoreError> {
        let inserts: Vec<(&str, &Record)> = self.inserts.iter().map(|(c, r)| (*c, r)).collect();
        let updates: Vec<(&str, &Record)> = self.updates.iter().map(|(c, r)| (*c, r)).collect();
        let deletes: Vec<(&str, &str)> =
            self.deletes.iter().map(|(c, i)| (*c, i.as_str())).collect();
        s.deps
            .records
            .write_records(&inserts, &updates, &deletes, &self.events)
            .await
    }
}

/// A TMF event envelope for the outbox.
pub(crate) fn event(kind: &Kind, what: &str, doc: &Value, now: Micros) -> NewEvent {
    let name = format!("{}{what}Event", kind.type_name);
    NewEvent::new(
        kind.topic,
        &name,
        json!({
            "eventId": netorch_core::new_id(),
            "eventTime": crate::rfc3339(now),
            "eventType": name,
            "event": {kind.event_key: shown(kind, doc.clone())},
        }),
    )
}

fn owners(project: &str) -> Ownership {
    // Entities the server makes itself (descriptors offered as specifications) have no owner.
    if project.is_empty() {
        return Ownership::default();
    }
    Ownership {
        read: vec![project.to_string()],
        write: vec![project.to_string()],
    }
}

/// A new record of `kind` for `doc`, owned by `project`.
pub(crate) fn new_record(id: &str, doc: Value, project: &str, now: Micros) -> Record {
    Record {
        id: id.to_string(),
        name: None,
        body: doc,
        owners: owners(project),
        created: now,
        modified: now,
        revision: 1,
    }
}

/// Validates and completes a document under `id` without checking references (the caller makes
/// them, in the same transaction).
pub(crate) fn build(
    s: &TmfState,
    kind: &Kind,
    id: &str,
    mut doc: Map<String, Value>,
    now: Micros,
) -> Result<Value, TmfError> {
    normalize(kind, &mut doc);
    validate(kind, &doc)?;
    complete(s, kind, id, doc, &Value::Null, now)
}

/// Validates and completes a new entity: `(id, document)`.
pub(crate) async fn prepare(
    s: &TmfState,
    kind: &Kind,
    mut doc: Map<String, Value>,
    now: Micros,
) -> Result<(String, Value), TmfError> {
    normalize(kind, &mut doc);
    validate(kind, &doc)?;
    check_refs(s, kind, &doc).await?;
    let id = netorch_core::new_id();
    let doc = complete(s, kind, &id, doc, &Value::Null, now)?;
    Ok((id, doc))
}

/// 201 (OpenSlice: 200) with the entity and its `Location`.
pub(crate) fn created(s: &TmfState, kind: &Kind, doc: Value) -> Response {
    let status = if s.deps.openslice_compat {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    let location = format!("{}/{}", kind.path, doc["id"].as_str().unwrap_or_default());
    let mut r = (status, Json(shown(kind, doc))).into_response();
    if let Ok(v) = HeaderValue::from_str(&location) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r
}

/// Who may read `kind`: administrators for parties; anyone with a token, or anyone at all when
/// anonymous catalog reads are enabled, for the catalog.
async fn reader(s: &TmfState, kind: &Kind, headers: &HeaderMap) -> Result<(), TmfError> {
    match kind.flavor {
        Flavor::Party => auth::administrator(s, headers, "get").await.map(drop),
        Flavor::Catalog
            if s.deps.anonymous_catalog_reads && headers.get(header::AUTHORIZATION).is_none() =>
        {
            Ok(())
        }
        Flavor::Catalog => auth::session(s, headers).await.map(drop),
    }
}

/// Who may read the catalog (see [`reader`]).
pub(crate) async fn reader_catalog(s: &TmfState, headers: &HeaderMap) -> Result<(), TmfError> {
    reader(s, &crate::catalog::CATALOG, headers).await
}

pub(crate) async fn create(
    s: &TmfState,
    kind: &Kind,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Response, TmfError> {
    let me = auth::administrator(s, headers, "post").await?;
    let now = s.deps.clock.now();
    let (id, doc) = prepare(s, kind, object(body)?, now).await?;
    if kind.collection == crate::catalog::SPECIFICATION.collection {
        return crate::catalog::create_specification(s, &me.project_id, id, doc, now).await;
    }
    let mut batch = Batch::default();
    batch.entity_event(kind, "Create", &doc, now);
    batch.inserts.push((
        kind.collection,
        new_record(&id, doc.clone(), &me.project_id, now),
    ));
    batch.commit(s).await?;
    tracing::info!(kind = kind.type_name, id = %id, "TMF entity created");
    Ok(created(s, kind, doc))
}

pub(crate) async fn list(
    s: &TmfState,
    kind: &Kind,
    headers: &HeaderMap,
    raw: Option<&str>,
) -> Result<ListReply, TmfError> {
    reader(s, kind, headers).await?;
    let q = ListQuery::parse(raw)?;
    let docs: Vec<Value> = s
        .deps
        .records
        .list_records(kind.collection, &ProjectScope::All)
        .await?
        .into_iter()
        .map(|r| shown(kind, r.body))
        .collect();
    let (total, items) = q.apply(docs);
    Ok(ListReply { total, items })
}

pub(crate) async fn load(s: &TmfState, kind: &Kind, id: &str) -> Result<Record, TmfError> {
    s.deps
        .records
        .get_record(kind.collection, id, &ProjectScope::All, false)
        .await?
        .ok_or_else(|| TmfError::NotFound(format!("{} '{id}' not found", kind.type_name)))
}

pub(crate) async fn show(
    s: &TmfState,
    kind: &Kind,
    headers: &HeaderMap,
    raw: Option<&str>,
    id: &str,
) -> Result<Json<Value>, TmfError> {
    reader(s, kind, headers).await?;
    let q = ListQuery::parse(raw)?;
    Ok(Json(q.select(shown(kind, load(s, kind, id).await?.body))))
}

/// Applies a merge patch (RFC 7386 at the top level; party characteristics merged by name) and
/// stores the result with optimistic concurrency; the stored document.
pub(crate) async fn apply_patch(
    s: &TmfState,
    kind: &Kind,
    id: &str,
    mut changes: Map<String, Value>,
) -> Result<Value, TmfError> {
    normalize(kind, &mut changes);
    if let Some(chars) = changes.get("partyCharacteristic") {
        characteristics::validate(chars)?;
    }
    for _ in 0..8 {
        let mut r = load(s, kind, id).await?;
        let Value::Object(mut doc) = r.body.clone() else {
            return Err(TmfError::Internal(format!(
                "{} '{id}' is not an object",
                kind.type_name
            )));
        };
        let previous = doc.get("partyCharacteristic").cloned().unwrap_or_default();
        for (k, v) in &changes {
            match k.as_str() {
                k if SERVER_OWNED.contains(&k) || k == "lastUpdate" => {}
                "partyCharacteristic" if kind.flavor == Flavor::Party => {
                    doc.insert(k.clone(), characteristics::merge(&previous, v));
                }
                _ => {
                    doc.insert(k.clone(), v.clone());
                }
            }
        }
        validate(kind, &doc)?;
        check_refs(s, kind, &doc).await?;
        let now = s.deps.clock.now();
        let next = complete(s, kind, id, doc, &previous, now)?;
        let mut batch = Batch::default();
        batch.entity_event(kind, kind.change_event, &next, now);
        // TMF632 tells a change of `status` apart from other attributes.
        if kind.flavor == Flavor::Party && r.body["status"] != next["status"] {
            batch.entity_event(kind, "StateChange", &next, now);
        }
        r.body = next.clone();
        r.touch(now);
        batch.updates.push((kind.collection, r));
        match batch.commit(s).await {
            Ok(()) => return Ok(next),
            Err(netorch_core::StoreError::Conflict(_)) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(TmfError::Conflict(format!(
        "{} '{id}' kept changing; retry",
        kind.type_name
    )))
}

pub(crate) async fn patch(
    s: &TmfState,
    kind: &Kind,
    headers: &HeaderMap,
    id: &str,
    body: &[u8],
) -> Result<Json<Value>, TmfError> {
    auth::administrator(s, headers, "patch").await?;
    let next = apply_patch(s, kind, id, object(body)?).await?;
    if kind.collection == crate::catalog::SPECIFICATION.collection {
        crate::catalog::spec_changed(s, &next).await?;
    }
    Ok(Json(shown(kind, next)))
}

pub(crate) async fn delete(
    s: &TmfState,
    kind: &Kind,
    headers: &HeaderMap,
    id: &str,
) -> Result<StatusCode, TmfError> {
    auth::administrator(s, headers, "delete").await?;
    let r = load(s, kind, id).await?;
    let now = s.deps.clock.now();
    let mut batch = Batch::default();
    batch.deletes.push((kind.collection, id.to_string()));
    for (collection, dependent) in crate::catalog::dependents(s, kind, &r).await? {
        if collection == crate::catalog::CANDIDATE.collection
            && let Ok(c) = load(s, &crate::catalog::CANDIDATE, &dependent).await
        {
            batch.entity_event(&crate::catalog::CANDIDATE, "Delete", &c.body, now);
        }
        batch.deletes.push((collection, dependent));
    }
    batch.entity_event(kind, "Delete", &r.body, now);
    batch.commit(s).await?;
    Ok(if s.deps.openslice_compat {
        StatusCode::OK
    } else {
        StatusCode::NO_CONTENT
    })
}

/// Declares the five endpoints of a resource (module `$module`) with their literal paths.
macro_rules! entity_endpoints {
    ($module:ident, $kind:expr, $what:literal, tag = $tag:literal,
     collection = $coll:literal, item = $item:literal) => {
        pub(crate) mod $module {
            use axum::{
                Json,
                extract::{RawQuery, State},
                http::{HeaderMap, StatusCode},
                response::Response,
            };
            use serde_json::Value;

            use crate::{Body, Path, TmfError, TmfState, error::ErrorBody, query::ListReply};

            #[utoipa::path(get, path = $coll, tag = $tag, operation_id = concat!("list_", stringify!($module)),
                summary = concat!("List ", $what, "s (TMF630: fields, offset, limit, sort, attribute filters)"),
                security(("bearerAuth" = [])),
                params(("fields" = Option<String>, Query, description = "Attributes to return"),
                    ("offset" = Option<u64>, Query, description = "Items to skip"),
                    ("limit" = Option<u64>, Query, description = "Items to return at most")),
                responses((status = 200, description = "Every match; X-Total-Count, X-Result-Count"),
                    (status = 206, description = "A page of the matches"),
                    (status = 400, description = "Bad query", body = ErrorBody),
                    (status = 401, description = "No valid bearer token", body = ErrorBody),
                    (status = 403, description = "Not allowed", body = ErrorBody)))]
            pub(crate) async fn list(State(s): State<TmfState>, headers: HeaderMap, RawQuery(q): RawQuery) -> Result<ListReply, TmfError> {
                crate::entities::list(&s, &$kind, &headers, q.as_deref()).await
            }

            #[utoipa::path(post, path = $coll, tag = $tag, operation_id = concat!("create_", stringify!($module)),
                summary = concat!("Create a ", $what), security(("bearerAuth" = [])),
                request_body(content = Object, content_type = "application/json"),
                responses((status = 201, description = "Created (200 with tmf.openslice_compat); Location"),
                    (status = 400, description = "Invalid", body = ErrorBody),
                    (status = 401, description = "No valid bearer token", body = ErrorBody),
                    (status = 403, description = "Not an administrator", body = ErrorBody)))]
            pub(crate) async fn create(State(s): State<TmfState>, headers: HeaderMap, Body(b): Body) -> Result<Response, TmfError> {
                crate::entities::create(&s, &$kind, &headers, &b).await
            }

            #[utoipa::path(get, path = $item, tag = $tag, operation_id = concat!("show_", stringify!($module)),
                summary = concat!("Show a ", $what), security(("bearerAuth" = [])),
                params(("id" = String, Path, description = "Id"),
                    ("fields" = Option<String>, Query, description = "Attributes to return")),
                responses((status = 200, description = "The entity"),
                    (status = 404, description = "Not found", body = ErrorBody)))]
            pub(crate) async fn show(State(s): State<TmfState>, headers: HeaderMap, RawQuery(q): RawQuery, Path(id): Path<String>) -> Result<Json<Value>, TmfError> {
                crate::entities::show(&s, &$kind, &headers, q.as_deref(), &id).await
            }

            #[utoipa::path(patch, path = $item, tag = $tag, operation_id = concat!("patch_", stringify!($module)),
                summary = concat!("Change a ", $what, " (merge patch)"), security(("bearerAuth" = [])),
                params(("id" = String, Path, description = "Id")),
                request_body(content = Object, content_type = "application/merge-patch+json"),
                responses((status = 200, description = "The changed entity"),
                    (status = 400, description = "Invalid", body = ErrorBody),
                    (status = 404, description = "Not found", body = ErrorBody)))]
            pub(crate) async fn patch(State(s): State<TmfState>, headers: HeaderMap, Path(id): Path<String>, Body(b): Body) -> Result<Json<Value>, TmfError> {
                crate::entities::patch(&s, &$kind, &headers, &id, &b).await
            }

            #[utoipa::path(delete, path = $item, tag = $tag, operation_id = concat!("delete_", stringify!($module)),
                summary = concat!("Delete a ", $what), security(("bearerAuth" = [])),
                params(("id" = String, Path, description = "Id")),
                responses((status = 204, description = "Deleted (200 with tmf.openslice_compat)"),
                    (status = 404, description = "Not found", body = ErrorBody)))]
            pub(crate) async fn delete(State(s): State<TmfState>, headers: HeaderMap, Path(id): Path<String>) -> Result<StatusCode, TmfError> {
                crate::entities::delete(&s, &$kind, &headers, &id).await
            }
        }
    };
}
pub(crate) use entity_endpoints;
