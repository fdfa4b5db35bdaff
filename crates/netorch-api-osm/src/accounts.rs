//! VIM, WIM and SDN accounts: one implementation, three kinds.

use axum::{
    extract::State,
    http::{Method, StatusCode},
};
use netorch_auth::service::Access;
use netorch_core::{
    clock::micros_to_secs,
    events::NewEvent,
    jobs::NewJob,
    tenancy::{ProjectScope, Record},
};
use netorch_http::{
    merge::merge,
    osm::{
        Authenticated, OsmError, OsmId, OsmQuery, OsmValue, Reply, edit_body, from_value,
        method_key,
    },
};
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use serde_json::{Map, Value, json};

use utoipa_axum::router::OpenApiRouter;

use crate::{
    OsmState,
    names::check_name,
    render::{for_each_secret, record_json},
};

/// Job kind that carries out one account operation (validate on create/edit, remove on delete).
pub const ACCOUNT_JOB: &str = "osm.account.operation";

/// The job of operation `op` of an account. The dedupe key makes enqueueing idempotent, which the
/// reconciliation relies on.
pub(crate) fn account_job(
    collection: &str,
    id: &str,
    op: usize,
    project: Option<String>,
) -> NewJob {
    NewJob {
        kind: ACCOUNT_JOB.into(),
        project_id: project,
        payload: json!({"collection": collection, "id": id, "op": op}),
        max_attempts: 5,
        run_at: 0,
        dedupe_key: Some(format!("{collection}:{id}:{op}")),
    }
}

/// One kind of infrastructure account.
#[derive(Debug)]
pub(crate) struct Kind {
    /// Collection of its records.
    pub collection: &'static str,
    /// OSM's Kafka topic for its events.
    pub topic: &'static str,
    /// The canonical collection URL (`Location` of new records); the endpoints are declared
    /// with literal paths by `account_endpoints!`.
    pub location: &'static str,
    /// Field naming the account type.
    pub type_field: &'static str,
    /// Field holding the endpoint.
    pub url_field: &'static str,
    /// Top-level secret fields.
    pub secrets: &'static [&'static str],
    /// OSM quota topic.
    pub quota: &'static str,
    /// Validates a complete document, returning it normalised.
    pub validate: fn(Value) -> Result<Value, OsmError>,
    /// Validates the types of an edit.
    pub validate_edit: fn(Value) -> Result<(), OsmError>,
}

pub(crate) static VIM: Kind = Kind {
    collection: "vim_accounts",
    topic: "vim_account",
    location: "/osm/admin/v1/vim_accounts",
    type_field: "vim_type",
    url_field: "vim_url",
    secrets: &["vim_password"],
    quota: "vim_accounts",
    validate: typed::<VimNew>,
    validate_edit: edit_typed::<VimEdit>,
};

pub(crate) static WIM: Kind = Kind {
    collection: "wim_accounts",
    topic: "wim_account",
    location: "/osm/admin/v1/wim_accounts",
    type_field: "wim_type",
    url_field: "wim_url",
    secrets: &["password"],
    quota: "wim_accounts",
    validate: typed::<WimNew>,
    validate_edit: edit_typed::<WimEdit>,
};

pub(crate) static SDN: Kind = Kind {
    collection: "sdns",
    topic: "sdn",
    location: "/osm/admin/v1/sdns",
    type_field: "type",
    url_field: "url",
    secrets: &["password"],
    quota: "sdn_controllers",
    validate: typed::<SdnNew>,
    validate_edit: edit_typed::<SdnEdit>,
};

/// Every account kind.
pub(crate) static KINDS: [&Kind; 3] = [&VIM, &WIM, &SDN];

/// The kind whose collection is `c`.
pub(crate) fn kind_of(collection: &str) -> Option<&'static Kind> {
    KINDS.iter().copied().find(|k| k.collection == collection)
}

type Obj = Option<Map<String, Value>>;

/// OSM `vim_account_new_schema`.
#[derive(Debug, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct VimNew {
    #[serde(skip_serializing_if = "Option::is_none")]
    schema_version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    schema_type: Option<String>,
    name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    vim: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    datacenter: Option<String>,
    vim_type: String,
    vim_url: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    vim_url_admin: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    vim_tenant: Option<String>,
    vim_tenant_name: String,
    vim_user: String,
    vim_password: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    vca: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    config: Obj,
    #[serde(rename = "prometheus-config", skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    prometheus_config: Obj,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    _admin: Obj,
}

/// OSM `vim_account_edit_schema`: every field optional.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[expect(dead_code, reason = "deserialised only to check the types of an edit")]
pub(crate) struct VimEdit {
    schema_version: Option<String>,
    schema_type: Option<String>,
    name: Option<String>,
    description: Option<String>,
    vim: Option<String>,
    datacenter: Option<String>,
    vim_type: Option<String>,
    vim_url: Option<String>,
    vim_url_admin: Option<String>,
    vim_tenant: Option<String>,
    vim_tenant_name: Option<String>,
    vim_user: Option<String>,
    vim_password: Option<String>,
    vca: Option<String>,
    config: Option<Value>,
    #[serde(rename = "prometheus-config")]
    prometheus_config: Option<Value>,
}

/// OSM `wim_account_new_schema`.
#[derive(Debug, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct WimNew {
    #[serde(skip_serializing_if = "Option::is_none")]
    schema_version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    schema_type: Option<String>,
    name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    wim: Option<String>,
    wim_type: String,
    wim_url: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    user: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    password: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    config: Obj,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<Object>>)]
    wim_port_mapping: Option<Vec<Value>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    _admin: Obj,
}

/// OSM `wim_account_edit_schema`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[expect(dead_code, reason = "deserialised only to check the types of an edit")]
pub(crate) struct WimEdit {
    schema_version: Option<String>,
    schema_type: Option<String>,
    name: Option<String>,
    description: Option<String>,
    wim: Option<String>,
    wim_type: Option<String>,
    wim_url: Option<String>,
    user: Option<String>,
    password: Option<String>,
    config: Option<Value>,
    wim_port_mapping: Option<Vec<Value>>,
}

/// OSM `sdn_new_schema`.
#[derive(Debug, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SdnNew {
    #[serde(skip_serializing_if = "Option::is_none")]
    schema_version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    schema_type: Option<String>,
    name: String,
    #[serde(rename = "type")]
    sdn_type: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    user: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    password: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    config: Obj,
    #[serde(skip_serializing_if = "Option::is_none")]
    dpid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ip: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    port: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    _admin: Obj,
}

/// OSM `sdn_edit_schema`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[expect(dead_code, reason = "deserialised only to check the types of an edit")]
pub(crate) struct SdnEdit {
    schema_version: Option<String>,
    schema_type: Option<String>,
    name: Option<String>,
    #[serde(rename = "type")]
    sdn_type: Option<String>,
    description: Option<String>,
    url: Option<String>,
    user: Option<String>,
    password: Option<String>,
    config: Option<Value>,
    dpid: Option<String>,
    ip: Option<String>,
    port: Option<u16>,
    version: Option<String>,
}

fn typed<T: DeserializeOwned + Serialize>(v: Value) -> Result<Value, OsmError> {
    let t: T = from_value(v)?;
    serde_json::to_value(t)
        .map_err(|e| OsmError::bad_request(format!("cannot normalise the body: {e}")))
}

fn edit_typed<T: DeserializeOwned>(v: Value) -> Result<(), OsmError> {
    from_value::<T>(v).map(|_| ())
}

/// OSM's short-name rule for types: 1–60 characters, none of `,;().$'"`.
fn check_type(field: &str, v: &str) -> Result<(), OsmError> {
    if v.is_empty()
        || v.chars().count() > 60
        || v.chars()
            .any(|c| ",;().$'\" ".contains(c) || c.is_control())
    {
        return Err(OsmError::format_error(
            field,
            &format!("{v:?} must have 1 to 60 characters, none of , ; ( ) . $ ' \" or spaces"),
        ));
    }
    Ok(())
}

/// Validates a complete account document (after defaults and merges).
fn validate(kind: &Kind, doc: Value) -> Result<Value, OsmError> {
    let mut doc = (kind.validate)(doc)?;
    if let Some(m) = doc.as_object_mut() {
        m.remove("_admin");
    }
    check_name("name", doc["name"].as_str().unwrap_or_default())?;
    check_type(
        kind.type_field,
        doc[kind.type_field].as_str().unwrap_or_default(),
    )?;
    Ok(doc)
}

fn event_payload(kind: &Kind, r: &Record) -> Value {
    let mut doc = record_json(r, kind.secrets);
    if let Some(m) = doc.as_object_mut() {
        m.remove("_admin");
    }
    doc
}

/// A new operation entry of `_admin.operations`.
fn operation(kind: &str, now: i64, params: Value) -> Value {
    json!({
        "lcmOperationType": kind,
        "operationState": "PROCESSING",
        "startTime": micros_to_secs(now),
        "statusEnteredTime": micros_to_secs(now),
        "detailed-status": "",
        "operationParams": params,
    })
}

async fn enqueue(
    s: &OsmState,
    kind: &Kind,
    id: &str,
    op: usize,
    project: &str,
) -> Result<(), OsmError> {
    let now = s.deps.clock.now();
    // The account and its operation are committed: a job that cannot be queued now (the
    // database away for a moment) is queued by the reconcile sweep, which re-enqueues every
    // PROCESSING operation; failing the request would tell the client it was not stored.
    match s
        .deps
        .jobs
        .enqueue(
            &account_job(kind.collection, id, op, Some(project.to_string())),
            now,
        )
        .await
    {
        Ok(_) => s.deps.job_waker.notify_one(),
        Err(e) => tracing::warn!(account = %id, error = %e,
            "account stored; its job could not be queued now, the reconcile sweep will queue it"),
    }
    Ok(())
}

/// Registers the routes of one kind.
/// The endpoints of one account collection at literal paths, with their OpenAPI operations:
/// `$module::register` adds them to the family's router.
macro_rules! account_endpoints {
    ($module:ident, $kind:expr, $perm:literal, $schema:ty, $what:literal,
     collection = $coll:literal, item = $item:literal) => {
        pub(crate) mod $module {
            use axum::{extract::State, http::Method};
            use netorch_http::osm::{
                Authenticated, OsmError, OsmErrorBody, OsmId, OsmQuery, OsmValue, Reply,
            };
            use utoipa_axum::{router::OpenApiRouter, routes};

            use crate::OsmState;

            #[utoipa::path(get, path = $coll, tag = "osm", operation_id = concat!("list_", stringify!($module)),
                summary = concat!("List ", $what, "s (SOL005 filters)"), security(("bearerAuth" = [])),
                responses((status = 200, description = "The records the caller's projects may read"),
                    (status = 401, description = "No or bad token, or RBAC refused", body = OsmErrorBody)))]
            async fn list(s: State<OsmState>, a: Authenticated, q: OsmQuery) -> Result<Reply, OsmError> {
                super::list(&$kind, $perm, s, a, q).await
            }

            #[utoipa::path(post, path = $coll, tag = "osm", operation_id = concat!("create_", stringify!($module)),
                summary = concat!("Register a ", $what, " (validated asynchronously)"), security(("bearerAuth" = [])),
                request_body(content = $schema, description = "JSON, or YAML with Content-Type: application/yaml", content_type = "application/json"),
                responses((status = 202, description = "Accepted: {_id, id, op_id}"),
                    (status = 409, description = "Name in use", body = OsmErrorBody),
                    (status = 422, description = "Invalid", body = OsmErrorBody)))]
            async fn create(s: State<OsmState>, a: Authenticated, q: OsmQuery, b: OsmValue) -> Result<Reply, OsmError> {
                super::create(&$kind, $perm, s, a, q, b).await
            }

            #[utoipa::path(get, path = $item, tag = "osm", operation_id = concat!("show_", stringify!($module)),
                summary = concat!("Show a ", $what), security(("bearerAuth" = [])),
                params(("id" = String, Path, description = "Id or name")),
                responses((status = 200, description = "The record, secrets removed"),
                    (status = 404, description = "Not found", body = OsmErrorBody)))]
            async fn show(s: State<OsmState>, a: Authenticated, q: OsmQuery, id: OsmId) -> Result<Reply, OsmError> {
                super::show(&$kind, $perm, s, a, q, id).await
            }

            #[utoipa::path(patch, path = $item, tag = "osm", operation_id = concat!("edit_", stringify!($module)),
                summary = concat!("Edit a ", $what, " (merge patch; SET_PROJECT / PUBLIC with an empty body share it)"),
                security(("bearerAuth" = [])),
                params(("id" = String, Path, description = "Id or name")),
                request_body(content = Object, description = "JSON, or YAML with Content-Type: application/yaml", content_type = "application/json"),
                responses((status = 202, description = "Accepted: {op_id}"), (status = 204, description = "Shared"),
                    (status = 404, description = "Not found", body = OsmErrorBody)))]
            async fn patch(s: State<OsmState>, a: Authenticated, q: OsmQuery, id: OsmId, b: OsmValue) -> Result<Reply, OsmError> {
                super::edit(&$kind, $perm, Method::PATCH, s, a, q, id, b).await
            }

            #[utoipa::path(put, path = $item, tag = "osm", operation_id = concat!("replace_", stringify!($module)),
                summary = concat!("Edit a ", $what, " (same as PATCH, as OSM)"), security(("bearerAuth" = [])),
                params(("id" = String, Path, description = "Id or name")),
                request_body(content = Object, description = "JSON, or YAML with Content-Type: application/yaml", content_type = "application/json"),
                responses((status = 202, description = "Accepted: {op_id}"), (status = 204, description = "Shared"),
                    (status = 404, description = "Not found", body = OsmErrorBody)))]
            async fn put(s: State<OsmState>, a: Authenticated, q: OsmQuery, id: OsmId, b: OsmValue) -> Result<Reply, OsmError> {
                super::edit(&$kind, $perm, Method::PUT, s, a, q, id, b).await
            }

            #[utoipa::path(delete, path = $item, tag = "osm", operation_id = concat!("delete_", stringify!($module)),
                summary = concat!("Delete a ", $what, " (202 and asynchronous; 204 at once with FORCE)"),
                security(("bearerAuth" = [])),
                params(("id" = String, Path, description = "Id or name")),
                responses((status = 202, description = "Deletion in progress"), (status = 204, description = "Deleted"),
                    (status = 404, description = "Not found", body = OsmErrorBody)))]
            async fn delete(s: State<OsmState>, a: Authenticated, q: OsmQuery, id: OsmId) -> Result<Reply, OsmError> {
                super::remove(&$kind, $perm, s, a, q, id).await
            }

            /// Adds the collection's routes and operations.
            pub(crate) fn register(r: OpenApiRouter<OsmState>) -> OpenApiRouter<OsmState> {
                r.routes(routes!(list, create)).routes(routes!(show, patch, put, delete))
            }
        }
    };
}

account_endpoints!(
    vim_accounts,
    super::VIM,
    "vim_accounts",
    super::VimNew,
    "VIM account",
    collection = "/osm/admin/v1/vim_accounts",
    item = "/osm/admin/v1/vim_accounts/{id}"
);
account_endpoints!(
    vims,
    super::VIM,
    "vims",
    super::VimNew,
    "VIM account",
    collection = "/osm/admin/v1/vims",
    item = "/osm/admin/v1/vims/{id}"
);
account_endpoints!(
    wim_accounts,
    super::WIM,
    "wim_accounts",
    super::WimNew,
    "WIM account",
    collection = "/osm/admin/v1/wim_accounts",
    item = "/osm/admin/v1/wim_accounts/{id}"
);
account_endpoints!(
    sdns,
    super::SDN,
    "sdn_controllers",
    super::SdnNew,
    "SDN controller",
    collection = "/osm/admin/v1/sdns",
    item = "/osm/admin/v1/sdns/{id}"
);

/// Every account endpoint.
pub(crate) fn register(r: OpenApiRouter<OsmState>) -> OpenApiRouter<OsmState> {
    let r = vim_accounts::register(r);
    let r = vims::register(r);
    let r = wim_accounts::register(r);
    sdns::register(r)
}

async fn list(
    kind: &Kind,
    perm: &str,
    State(s): State<OsmState>,
    Authenticated(me): Authenticated,
    q: OsmQuery,
) -> Result<Reply, OsmError> {
    me.authorize(&format!("{perm}:get"), "get", &q.admin)?;
    crate::tenancy::list_reply(&s, &me, &q, kind.collection, |r| {
        record_json(r, kind.secrets)
    })
    .await
}

async fn show(
    kind: &Kind,
    perm: &str,
    State(s): State<OsmState>,
    Authenticated(me): Authenticated,
    q: OsmQuery,
    OsmId(id): OsmId,
) -> Result<Reply, OsmError> {
    me.authorize(&format!("{perm}:id:get"), "get", &q.admin)?;
    let r = crate::tenancy::load(
        &s,
        &me,
        &q,
        "get",
        kind.collection,
        &id,
        Access::Show,
        kind.topic,
    )
    .await?;
    Ok(Reply::ok(record_json(&r, kind.secrets)))
}

async fn create(
    kind: &Kind,
    perm: &str,
    State(s): State<OsmState>,
    Authenticated(me): Authenticated,
    q: OsmQuery,
    OsmValue(body): OsmValue,
) -> Result<Reply, OsmError> {
    me.authorize(&format!("{perm}:post"), "post", &q.admin)?;
    let mut doc = validate(kind, body)?;
    crate::tenancy::check_quota(&s, &me, &q, kind.collection, kind.quota).await?;
    let owners = s.deps.identity.new_ownership(&me, "post", &q.admin).await?;
    for_each_secret(&mut doc, kind.secrets, &mut |v| {
        if let Some(plain) = v.as_str() {
            *v = json!(s.deps.secrets.seal(plain));
        }
    });
    let now = s.deps.clock.now();
    let id = netorch_core::new_id();
    let name = doc["name"].as_str().map(str::to_string);
    if let Some(m) = doc.as_object_mut() {
        m.insert("_id".into(), json!(id));
        m.insert("schema_version".into(), json!("1.11"));
        m.insert(
            "_admin".into(),
            json!({
                "created": micros_to_secs(now),
                "modified": micros_to_secs(now),
                "operationalState": "PROCESSING",
                "detailed-status": "",
                "operations": [operation("create", now, Value::Null)],
                "current_operation": 0,
            }),
        );
    }
    let record = Record {
        id: id.clone(),
        name,
        body: doc,
        owners,
        created: now,
        modified: now,
        revision: 1,
    };
    let event = NewEvent::new(kind.topic, "created", event_payload(kind, &record));
    s.deps
        .records
        .insert_record(kind.collection, &record, &[event])
        .await?;
    enqueue(&s, kind, &id, 0, &me.project_id).await?;
    tracing::info!(collection = kind.collection, id = %id, "account created; validation queued");
    let op = format!("{id}:0");
    Ok(Reply::with_status(
        StatusCode::ACCEPTED,
        json!({"_id": id, "id": id, "op_id": op}),
    )
    .location(format!("{}/{id}", kind.location)))
}

#[expect(
    clippy::too_many_arguments,
    reason = "axum extractors plus the route's kind"
)]
async fn edit(
    kind: &Kind,
    perm: &str,
    method: Method,
    State(s): State<OsmState>,
    Authenticated(me): Authenticated,
    q: OsmQuery,
    OsmId(id): OsmId,
    OsmValue(body): OsmValue,
) -> Result<Reply, OsmError> {
    let m = method_key(&method);
    me.authorize(&format!("{perm}:id:{m}"), m, &q.admin)?;
    if crate::tenancy::sharing_only(&q, &body)? {
        let event = |r: &Record| NewEvent::new(kind.topic, "edited", event_payload(kind, r));
        return crate::tenancy::share(&s, &me, m, &q, kind.collection, &id, &event).await;
    }
    let patch: Value = edit_body(body)?;
    (kind.validate_edit)(patch.clone())?;
    let mut record = crate::tenancy::load(
        &s,
        &me,
        &q,
        m,
        kind.collection,
        &id,
        Access::Write,
        kind.topic,
    )
    .await?;
    if record.body["_admin"]["to_delete"] == json!(true) {
        return Err(OsmError::conflict(format!(
            "{} '{id}' is being deleted",
            kind.topic
        )));
    }
    let mut sealed_patch = patch.clone();
    for_each_secret(&mut sealed_patch, kind.secrets, &mut |v| {
        if let Some(plain) = v.as_str() {
            *v = json!(s.deps.secrets.seal(plain));
        }
    });
    let mut doc = record.body.clone();
    let admin = doc
        .as_object_mut()
        .and_then(|m| m.remove("_admin"))
        .unwrap_or_else(|| json!({}));
    // Written by the server (the lifecycle engine reports VIM usage here), never by a client.
    let resources = doc.as_object_mut().and_then(|m| m.remove("resources"));
    merge(&mut doc, &sealed_patch).map_err(|e| OsmError::unprocessable(e.0))?;
    let id_value = doc.as_object_mut().and_then(|m| m.remove("_id"));
    let schema_version = doc.as_object_mut().and_then(|m| m.remove("schema_version"));
    let mut doc = validate(kind, doc)?;
    let now = s.deps.clock.now();
    let mut admin = admin;
    let op = admin["operations"].as_array().map(|a| a.len()).unwrap_or(0);
    if let Some(ops) = admin["operations"].as_array_mut() {
        let mut shown = patch.clone();
        for_each_secret(&mut shown, kind.secrets, &mut |v| {
            *v = json!(netorch_auth::secrets::MASK)
        });
        ops.push(operation("edit", now, shown));
    }
    admin["operationalState"] = json!("PROCESSING");
    admin["current_operation"] = json!(op);
    admin["modified"] = json!(micros_to_secs(now));
    if let Some(m) = doc.as_object_mut() {
        m.insert("_id".into(), id_value.unwrap_or_else(|| json!(id)));
        m.insert(
            "schema_version".into(),
            schema_version.unwrap_or_else(|| json!("1.11")),
        );
        m.insert("_admin".into(), admin);
        if let Some(r) = resources {
            m.insert("resources".into(), r);
        }
    }
    record.name = doc["name"].as_str().map(str::to_string);
    record.body = doc;
    record.touch(now);
    let event = NewEvent::new(kind.topic, "edited", event_payload(kind, &record));
    s.deps
        .records
        .update_record(kind.collection, &record, &[event])
        .await?;
    enqueue(&s, kind, &id, op, &me.project_id).await?;
    Ok(Reply::with_status(
        StatusCode::ACCEPTED,
        json!({"op_id": format!("{id}:{op}")}),
    ))
}

async fn remove(
    kind: &Kind,
    perm: &str,
    State(s): State<OsmState>,
    Authenticated(me): Authenticated,
    q: OsmQuery,
    OsmId(id): OsmId,
) -> Result<Reply, OsmError> {
    me.authorize(&format!("{perm}:id:delete"), "delete", &q.admin)?;
    let edited = |r: &Record| NewEvent::new(kind.topic, "edited", event_payload(kind, r));
    let removal =
        crate::tenancy::load_for_removal(&s, &me, &q, kind.collection, &id, kind.topic, &edited);
    let mut record = match removal.await? {
        crate::tenancy::Removal::Whole(r) => r,
        crate::tenancy::Removal::Pulled => return Ok(Reply::no_content()),
    };
    if kind.collection == "vim_accounts" && !q.admin.force {
        let users: Vec<String> = s
            .deps
            .records
            .list_records(netorch_lcm::documents::VNFRS, &ProjectScope::All)
            .await?
            .into_iter()
            .filter(|v| v.body["vim-account-id"].as_str() == Some(record.id.as_str()))
            .filter_map(|v| v.body["nsr-id-ref"].as_str().map(str::to_string))
            .collect();
        if let Some(ns) = users.first() {
            return Err(OsmError::conflict(format!(
                "VIM account '{id}' is used by NS instance '{ns}' ({} VNF record(s)); delete the NS instances first or use FORCE",
                users.len()
            )));
        }
    }
    if q.admin.force {
        let event = NewEvent::new(kind.topic, "deleted", event_payload(kind, &record));
        s.deps
            .records
            .delete_record(kind.collection, &id, &[event])
            .await?;
        return Ok(Reply::no_content());
    }
    let now = s.deps.clock.now();
    let admin = &mut record.body["_admin"];
    let op = admin["operations"].as_array().map(|a| a.len()).unwrap_or(0);
    if let Some(ops) = admin["operations"].as_array_mut() {
        ops.push(operation("delete", now, Value::Null));
    }
    admin["to_delete"] = json!(true);
    admin["current_operation"] = json!(op);
    admin["modified"] = json!(micros_to_secs(now));
    record.touch(now);
    let event = NewEvent::new(kind.topic, "delete", event_payload(kind, &record));
    s.deps
        .records
        .update_record(kind.collection, &record, &[event])
        .await?;
    enqueue(&s, kind, &id, op, &me.project_id).await?;
    let op_id = format!("{id}:{op}");
    Ok(Reply::with_status(
        StatusCode::ACCEPTED,
        json!({"_id": op_id, "op_id": op_id}),
    ))
}

/// Reads one account regardless of project (jobs act for the system).
pub(crate) async fn load(
    s: &crate::Deps,
    kind: &Kind,
    id: &str,
) -> Result<Option<Record>, netorch_core::StoreError> {
    s.records
        .get_record(kind.collection, id, &ProjectScope::All, false)
        .await
}
