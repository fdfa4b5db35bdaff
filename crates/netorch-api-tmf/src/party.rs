//! TMF632 Party Management v4: `organization` and `individual` (create, list with TMF630 query
//! features, show, merge-patch, delete). Entities are stored as records owned by the creating
//! administrator's project and readable by every administrator (TMF has no tenancy). Output is
//! what OpenSlice emits: every attribute present (null or empty list when unset), `uuid` == `id`.

use axum::{
    Json,
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use netorch_core::{
    events::NewEvent,
    tenancy::{Ownership, ProjectScope, Record},
};
use serde_json::{Map, Value, json};

use crate::{
    TmfError, TmfState, auth, characteristics,
    query::{ListQuery, ListReply},
};

/// Outbox topic of TMF632 events (`OrganizationCreateEvent`...).
pub const EVENT_TOPIC: &str = "tmf632";

/// Attribute kinds an entity type declares; anything else is kept as given.
pub(crate) struct Kind {
    /// Record collection.
    pub collection: &'static str,
    /// `@type` of the entity and the prefix of its event names.
    pub type_name: &'static str,
    /// Key of the entity in an event's `event` object.
    pub event_key: &'static str,
    /// Collection path (`href` = path + `/` + id).
    pub path: &'static str,
    /// Each inner list: at least one of these must be a non-empty string.
    pub required: &'static [&'static [&'static str]],
    /// Text or null.
    pub strings: &'static [&'static str],
    /// Boolean or null.
    pub booleans: &'static [&'static str],
    /// List (null reads as empty).
    pub lists: &'static [&'static str],
    /// Object or null.
    pub objects: &'static [&'static str],
    /// Allowed values of `status`.
    pub statuses: &'static [&'static str],
}

pub(crate) const ORGANIZATION: Kind = Kind {
    collection: "tmf_organizations",
    type_name: "Organization",
    event_key: "organization",
    path: "/tmf-api/party/v4/organization",
    required: &[&["name", "tradingName"]],
    strings: &[
        "name",
        "tradingName",
        "nameType",
        "organizationType",
        "status",
        "@baseType",
        "@schemaLocation",
        "@type",
    ],
    booleans: &["isHeadOffice", "isLegalEntity"],
    lists: &[
        "contactMedium",
        "creditRating",
        "externalReference",
        "organizationChildRelationship",
        "organizationIdentification",
        "otherName",
        "partyCharacteristic",
        "relatedParty",
        "taxExemptionCertificate",
    ],
    objects: &["existsDuring", "organizationParentRelationship"],
    statuses: &["initialized", "validated", "closed"],
};

pub(crate) const INDIVIDUAL: Kind = Kind {
    collection: "tmf_individuals",
    type_name: "Individual",
    event_key: "individual",
    path: "/tmf-api/party/v4/individual",
    required: &[&["givenName"], &["familyName"]],
    strings: &[
        "givenName",
        "familyName",
        "middleName",
        "fullName",
        "formattedName",
        "legalName",
        "preferredGivenName",
        "familyNamePrefix",
        "title",
        "gender",
        "nationality",
        "placeOfBirth",
        "countryOfBirth",
        "maritalStatus",
        "location",
        "status",
        "birthDate",
        "deathDate",
        "aristocraticTitle",
        "generation",
        "@baseType",
        "@schemaLocation",
        "@type",
    ],
    booleans: &[],
    lists: &[
        "contactMedium",
        "creditRating",
        "disability",
        "externalReference",
        "individualIdentification",
        "languageAbility",
        "otherName",
        "partyCharacteristic",
        "relatedParty",
        "skill",
        "taxExemptionCertificate",
    ],
    objects: &[],
    statuses: &["initialized", "validated", "deceased"],
};

/// Attributes the server owns: given ones are ignored.
const SERVER_OWNED: [&str; 3] = ["id", "uuid", "href"];

fn object(body: &[u8]) -> Result<Map<String, Value>, TmfError> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(TmfError::BadRequest(
            "the body must be a JSON object".into(),
        )),
        Err(e) => Err(TmfError::BadRequest(format!("the body is not JSON: {e}"))),
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
        if kind.lists.contains(&k) && !v.is_array() {
            return Err(bad(k, "a list"));
        }
        if kind.objects.contains(&k) && !v.is_object() {
            return Err(bad(k, "an object"));
        }
        if kind.lists.contains(&k) && k != "partyCharacteristic" {
            for (i, item) in v.as_array().into_iter().flatten().enumerate() {
                if !item.is_object() {
                    return Err(bad(&format!("{k}[{i}]"), "an object"));
                }
            }
        }
    }
    if let Some(s) = doc.get("status").and_then(Value::as_str)
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
    characteristics::validate(doc.get("partyCharacteristic").unwrap_or(&Value::Null))
}

/// The stored document: the given attributes, every declared one present, ids and `href` set,
/// characteristics with ids and their secrets sealed.
fn complete(
    s: &TmfState,
    kind: &Kind,
    id: &str,
    mut doc: Map<String, Value>,
    previous: &Value,
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
    let chars = doc.entry("partyCharacteristic").or_insert(json!([]));
    for c in chars.as_array_mut().into_iter().flatten() {
        if c.get("id").is_none_or(Value::is_null) {
            let cid = netorch_core::new_id();
            c["id"] = json!(cid);
            c["uuid"] = json!(cid);
        }
    }
    characteristics::seal(chars, &s.deps.secrets, previous)?;
    doc.insert("id".into(), json!(id));
    doc.insert("uuid".into(), json!(id));
    doc.insert("href".into(), json!(format!("{}/{id}", kind.path)));
    Ok(Value::Object(doc))
}

/// What leaves the server: secrets masked.
pub(crate) fn shown(mut doc: Value) -> Value {
    characteristics::mask(&mut doc["partyCharacteristic"]);
    doc
}

fn event(kind: &Kind, what: &str, doc: &Value, now: netorch_core::Micros) -> NewEvent {
    let name = format!("{}{what}Event", kind.type_name);
    NewEvent::new(
        EVENT_TOPIC,
        &name,
        json!({
            "eventId": netorch_core::new_id(),
            "eventTime": crate::rfc3339(now),
            "eventType": name,
            "event": {kind.event_key: shown(doc.clone())},
        }),
    )
}

/// 201 (OpenSlice: 200) with the entity and its `Location`.
fn created(s: &TmfState, kind: &Kind, doc: Value) -> Response {
    let status = if s.deps.openslice_compat {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    let location = format!("{}/{}", kind.path, doc["id"].as_str().unwrap_or_default());
    let mut r = (status, Json(shown(doc))).into_response();
    if let Ok(v) = HeaderValue::from_str(&location) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r
}

pub(crate) async fn create(
    s: &TmfState,
    kind: &Kind,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Response, TmfError> {
    let me = auth::administrator(s, headers, "post").await?;
    let doc = object(body)?;
    validate(kind, &doc)?;
    let id = netorch_core::new_id();
    let doc = complete(s, kind, &id, doc, &Value::Null)?;
    let now = s.deps.clock.now();
    let r = Record {
        id: id.clone(),
        name: None,
        body: doc.clone(),
        owners: Ownership {
            read: vec![me.project_id.clone()],
            write: vec![me.project_id.clone()],
        },
        created: now,
        modified: now,
        revision: 1,
    };
    s.deps
        .records
        .insert_record(kind.collection, &r, &[event(kind, "Create", &doc, now)])
        .await?;
    tracing::info!(kind = kind.type_name, id = %id, "TMF632 entity created");
    Ok(created(s, kind, doc))
}

pub(crate) async fn list(
    s: &TmfState,
    kind: &Kind,
    headers: &HeaderMap,
    raw: Option<&str>,
) -> Result<ListReply, TmfError> {
    auth::administrator(s, headers, "get").await?;
    let q = ListQuery::parse(raw)?;
    let docs: Vec<Value> = s
        .deps
        .records
        .list_records(kind.collection, &ProjectScope::All)
        .await?
        .into_iter()
        .map(|r| shown(r.body))
        .collect();
    let (total, items) = q.apply(docs);
    Ok(ListReply { total, items })
}

async fn load(s: &TmfState, kind: &Kind, id: &str) -> Result<Record, TmfError> {
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
    auth::administrator(s, headers, "get").await?;
    let q = ListQuery::parse(raw)?;
    Ok(Json(q.select(shown(load(s, kind, id).await?.body))))
}

pub(crate) async fn patch(
    s: &TmfState,
    kind: &Kind,
    headers: &HeaderMap,
    id: &str,
    body: &[u8],
) -> Result<Json<Value>, TmfError> {
    auth::administrator(s, headers, "patch").await?;
    let changes = object(body)?;
    if let Some(chars) = changes.get("partyCharacteristic") {
        characteristics::validate(chars)?;
    }
    // Optimistic concurrency: re-read and re-apply when someone else changed it meanwhile.
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
                k if SERVER_OWNED.contains(&k) => {}
                "partyCharacteristic" => {
                    doc.insert(k.clone(), characteristics::merge(&previous, v));
                }
                // RFC 7386: null removes (here: unsets) an attribute.
                _ => {
                    doc.insert(k.clone(), v.clone());
                }
            }
        }
        validate(kind, &doc)?;
        let next = complete(s, kind, id, doc, &previous)?;
        let now = s.deps.clock.now();
        r.body = next.clone();
        r.touch(now);
        match s
            .deps
            .records
            .update_record(
                kind.collection,
                &r,
                &[event(kind, "AttributeValueChange", &next, now)],
            )
            .await
        {
            Ok(()) => return Ok(Json(shown(next))),
            Err(netorch_core::StoreError::Conflict(_)) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(TmfError::Conflict(format!(
        "{} '{id}' kept changing; retry",
        kind.type_name
    )))
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
    let gone = s
        .deps
        .records
        .delete_record(kind.collection, id, &[event(kind, "Delete", &r.body, now)])
        .await?;
    if !gone {
        return Err(TmfError::NotFound(format!(
            "{} '{id}' not found",
            kind.type_name
        )));
    }
    Ok(if s.deps.openslice_compat {
        StatusCode::OK
    } else {
        StatusCode::NO_CONTENT
    })
}

macro_rules! party_endpoints {
    ($module:ident, $kind:expr, $what:literal, collection = $coll:literal, item = $item:literal) => {
        pub(crate) mod $module {
            use axum::{
                extract::{RawQuery, State},
                http::{HeaderMap, StatusCode},
                response::Response,
                Json,
            };
            use serde_json::Value;

            use crate::{error::ErrorBody, query::ListReply, Body, Path, TmfError, TmfState};

            #[utoipa::path(get, path = $coll, tag = "tmf632", operation_id = concat!("list_", stringify!($module)),
                summary = concat!("List ", $what, "s (TMF630: fields, offset, limit, sort, attribute filters)"),
                security(("bearerAuth" = [])),
                params(("fields" = Option<String>, Query, description = "Attributes to return"),
                    ("offset" = Option<u64>, Query, description = "Items to skip"),
                    ("limit" = Option<u64>, Query, description = "Items to return at most")),
                responses((status = 200, description = "Every match; X-Total-Count, X-Result-Count"),
                    (status = 206, description = "A page of the matches"),
                    (status = 400, description = "Bad query", body = ErrorBody),
                    (status = 401, description = "No valid bearer token", body = ErrorBody),
                    (status = 403, description = "Not an administrator", body = ErrorBody)))]
            pub(crate) async fn list(State(s): State<TmfState>, headers: HeaderMap, RawQuery(q): RawQuery) -> Result<ListReply, TmfError> {
                super::list(&s, &$kind, &headers, q.as_deref()).await
            }

            #[utoipa::path(post, path = $coll, tag = "tmf632", operation_id = concat!("create_", stringify!($module)),
                summary = concat!("Create a ", $what, " (secrets in partyCharacteristic are sealed)"),
                security(("bearerAuth" = [])),
                request_body(content = Object, content_type = "application/json"),
                responses((status = 201, description = "Created (200 with tmf.openslice_compat); Location"),
                    (status = 400, description = "Invalid", body = ErrorBody),
                    (status = 401, description = "No valid bearer token", body = ErrorBody),
                    (status = 403, description = "Not an administrator", body = ErrorBody)))]
            pub(crate) async fn create(State(s): State<TmfState>, headers: HeaderMap, Body(b): Body) -> Result<Response, TmfError> {
                super::create(&s, &$kind, &headers, &b).await
            }

            #[utoipa::path(get, path = $item, tag = "tmf632", operation_id = concat!("show_", stringify!($module)),
                summary = concat!("Show a ", $what, " (secrets masked)"), security(("bearerAuth" = [])),
                params(("id" = String, Path, description = "Id"),
                    ("fields" = Option<String>, Query, description = "Attributes to return")),
                responses((status = 200, description = "The entity"),
                    (status = 404, description = "Not found", body = ErrorBody)))]
            pub(crate) async fn show(State(s): State<TmfState>, headers: HeaderMap, RawQuery(q): RawQuery, Path(id): Path<String>) -> Result<Json<Value>, TmfError> {
                super::show(&s, &$kind, &headers, q.as_deref(), &id).await
            }

            #[utoipa::path(patch, path = $item, tag = "tmf632", operation_id = concat!("patch_", stringify!($module)),
                summary = concat!("Change a ", $what, " (merge patch; partyCharacteristic merged by name, null value removes one)"),
                security(("bearerAuth" = [])),
                params(("id" = String, Path, description = "Id")),
                request_body(content = Object, content_type = "application/merge-patch+json"),
                responses((status = 200, description = "The changed entity"),
                    (status = 400, description = "Invalid", body = ErrorBody),
                    (status = 404, description = "Not found", body = ErrorBody)))]
            pub(crate) async fn patch(State(s): State<TmfState>, headers: HeaderMap, Path(id): Path<String>, Body(b): Body) -> Result<Json<Value>, TmfError> {
                super::patch(&s, &$kind, &headers, &id, &b).await
            }

            #[utoipa::path(delete, path = $item, tag = "tmf632", operation_id = concat!("delete_", stringify!($module)),
                summary = concat!("Delete a ", $what), security(("bearerAuth" = [])),
                params(("id" = String, Path, description = "Id")),
                responses((status = 204, description = "Deleted (200 with tmf.openslice_compat)"),
                    (status = 404, description = "Not found", body = ErrorBody)))]
            pub(crate) async fn delete(State(s): State<TmfState>, headers: HeaderMap, Path(id): Path<String>) -> Result<StatusCode, TmfError> {
                super::delete(&s, &$kind, &headers, &id).await
            }
        }
    };
}

party_endpoints!(
    organization,
    super::ORGANIZATION,
    "organization",
    collection = "/tmf-api/party/v4/organization",
    item = "/tmf-api/party/v4/organization/{id}"
);
party_endpoints!(
    individual,
    super::INDIVIDUAL,
    "individual",
    collection = "/tmf-api/party/v4/individual",
    item = "/tmf-api/party/v4/individual/{id}"
);
