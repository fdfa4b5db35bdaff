//! The seed's resource-style API (CPS-391's spike), on the same core as NCMP's contract:
//! `/dmi/v1/data/ch/{ch}/ds/ncmp-datastore:{running|operational}/{resource-identifier}` with the
//! HTTP method as the operation, RPCs under `/dmi/v1/operations/...`, the model as an
//! ietf-yang-library module set, a model sync, and the data-source refresh that publishes the
//! inventory event. Errors are `{"error": {error-type, error-tag, error-message}}`.

use axum::{
    Json,
    http::{HeaderMap, Method, StatusCode, Uri, header},
    response::{IntoResponse, Response},
};
use netorch_core::{events::NewEvent, tenancy::ProjectScope};
use netorch_http::osm::RemoteAddr;
use netorch_netconf::{EditOp, ResourcePath};
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa::IntoParams;

use crate::{
    DmiState, HANDLES,
    access::{self, Datastore},
    auth,
    error::{Failure, SeedError},
    ex::seed::{Body, Path, Query},
    options::ReadOptions,
};

/// Read options of the seed API.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SeedQuery {
    /// RFC 8040 fields expression (`a/b;c(d)`).
    pub fields: Option<String>,
    /// Levels kept (1 = the target and its leaves).
    pub depth: Option<String>,
    /// `path=value`: only list entries whose `path` is `value`.
    pub scope: Option<String>,
}

/// The resource identifier after `/ds/{datastore}/`, as sent (still percent-encoded: key values
/// are decoded one by one, so an encoded `/` or `,` in a key stays data).
fn raw_resource(uri: &Uri) -> &str {
    let p = uri.path();
    let Some(i) = p.find("/ds/") else { return "" };
    let rest = &p[i + 4..];
    match rest.find('/') {
        Some(j) => &rest[j + 1..],
        None => "",
    }
}

fn body_value(body: &[u8]) -> Result<Option<Value>, Failure> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    serde_json::from_slice(body)
        .map(Some)
        .map_err(|e| Failure::bad_request(format!("the body is not valid JSON: {e}")))
}

fn yang_json(status: StatusCode, v: Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/yang-data+json")],
        v.to_string(),
    )
        .into_response()
}

#[expect(
    clippy::too_many_arguments,
    reason = "the extracted parts of one request"
)]
async fn data(
    s: DmiState,
    remote: RemoteAddr,
    headers: HeaderMap,
    method: Method,
    uri: Uri,
    ch: String,
    datastore: String,
    q: SeedQuery,
    body: axum::body::Bytes,
) -> Result<Response, SeedError> {
    let ds = Datastore::parse(&datastore, true)?;
    // The seed reads with PUT on the operational datastore (use cases 7-10).
    let read = method == Method::GET || (method == Method::PUT && ds == Datastore::Operational);
    let permission = if read {
        auth::DATA_READ
    } else {
        auth::DATA_WRITE
    };
    auth::authorize(&s, &headers, &remote, permission).await?;
    let path = ResourcePath::parse(raw_resource(&uri)).map_err(Failure::bad_request)?;
    let h = access::handle(&s, &ch).await?;
    if read {
        let opts = ReadOptions::new(q.depth.as_deref(), q.fields.as_deref(), q.scope.as_deref())?;
        let v = access::read(&s, &h, ds, &path, &opts).await?;
        return Ok(yang_json(StatusCode::OK, v));
    }
    if ds != Datastore::Running {
        // Use case 5: POST on operational invokes the YANG action the path ends with.
        if method == Method::POST
            && let Some(out) = access::action(&s, &h, &path, body_value(&body)?.as_ref()).await?
        {
            return Ok(match out {
                Some(v) => yang_json(StatusCode::OK, v),
                None => StatusCode::NO_CONTENT.into_response(),
            });
        }
        return Err(Failure::bad_request(
            "ncmp-datastore:operational is read-only: write to ncmp-datastore:running, invoke an RPC under /dmi/v1/operations, or POST to a YANG action's path",
        )
        .into());
    }
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/json");
    let value = body_value(&body)?;
    match method {
        Method::POST => {
            let v = value
                .ok_or_else(|| Failure::bad_request("POST needs the new resource as its body"))?;
            access::write(&s, &h, EditOp::Create, &path, Some(&v)).await?;
            Ok(StatusCode::CREATED.into_response())
        }
        Method::PUT => {
            let v = value
                .ok_or_else(|| Failure::bad_request("PUT needs the replacement as its body"))?;
            access::write(&s, &h, EditOp::Replace, &path, Some(&v)).await?;
            Ok(StatusCode::NO_CONTENT.into_response())
        }
        Method::PATCH if content_type.starts_with("application/yang-patch+json") => {
            let v = value.ok_or_else(|| Failure::bad_request("a yang-patch needs a body"))?;
            let status = access::yang_patch(&s, &h, &path, &v).await?;
            Ok(yang_json(StatusCode::OK, status))
        }
        Method::PATCH => {
            let v = value.ok_or_else(|| Failure::bad_request("PATCH needs the data to merge"))?;
            access::write(&s, &h, EditOp::Merge, &path, Some(&v)).await?;
            Ok(StatusCode::NO_CONTENT.into_response())
        }
        Method::DELETE => {
            access::write(&s, &h, EditOp::Delete, &path, None).await?;
            Ok(StatusCode::NO_CONTENT.into_response())
        }
        other => Err(Failure::bad_request(format!("method {other} is not supported here")).into()),
    }
}

macro_rules! seed_data_all {
    ($($method:ident $method_upper:ident $name:ident $what:literal;)*) => {
        $(seed_data_one!($method $method_upper $name $what);)*
    };
}

macro_rules! seed_data_one {
    ($method:ident $method_upper:ident $name:ident $what:literal) => {
        #[doc = $what]
        #[utoipa::path($method, path = "/dmi/v1/data/ch/{cmHandle}/ds/{datastore}/{*resource}", tag = "dmi-seed",
            operation_id = concat!("seed_data_", stringify!($name)),
            params(
                ("cmHandle" = String, Path, description = "CM handle id or alternate id"),
                ("datastore" = String, Path, description = "ncmp-datastore:running or ncmp-datastore:operational"),
                ("resource" = String, Path, description = "RESTCONF path: module:container/list=key/..."),
                SeedQuery,
            ),
            responses(
                (status = 200, description = "Read: the resource (application/yang-data+json); yang-patch: its status"),
                (status = 201, description = "Created"),
                (status = 204, description = "Replaced, merged or deleted; an action without output"),
                (status = 400, body = crate::error::SeedErrorBody, description = "Bad datastore, path, options or data"),
                (status = 404, body = crate::error::SeedErrorBody, description = "Unknown handle, or no data there"),
                (status = 409, body = crate::error::SeedErrorBody, description = "data-exists (create), lock-denied"),
                (status = 502, body = crate::error::SeedErrorBody, description = "Device unreachable or credentials refused"),
                (status = 504, body = crate::error::SeedErrorBody, description = "Device did not answer in time"),
            ))]
        pub(crate) async fn $name(
            axum::extract::State(s): axum::extract::State<DmiState>,
            remote: RemoteAddr,
            headers: HeaderMap,
            uri: Uri,
            Path((ch, datastore, _resource)): Path<(String, String, String)>,
            Query(q): Query<SeedQuery>,
            Body(body): Body,
        ) -> Result<Response, SeedError> {
            data(s, remote, headers, Method::$method_upper, uri, ch, datastore, q, body).await
        }
    };
}

seed_data_all! {
    get GET read "Read a resource (use cases 7-10: fields, depth, scope).";
    put PUT put "Replace a resource (running), or read it (operational, as the seed's use cases 7-10).";
    post POST create "Create a child resource under the path (use case 1), or, on operational, invoke the YANG action the path ends with (use case 5).";
    patch PATCH patch "Merge into a resource, or apply a yang-patch (use cases 3-4).";
    delete DELETE delete "Delete a resource (use case 2).";
}

/// The whole datastore of a handle (`GET`/`PUT` read with no resource identifier).
#[utoipa::path(get, path = "/dmi/v1/data/ch/{cmHandle}/ds/{datastore}", tag = "dmi-seed",
    params(
        ("cmHandle" = String, Path, description = "CM handle id or alternate id"),
        ("datastore" = String, Path, description = "ncmp-datastore:running or ncmp-datastore:operational"),
        SeedQuery,
    ),
    responses(
        (status = 200, description = "Everything the device holds (application/yang-data+json)"),
        (status = 404, body = crate::error::SeedErrorBody, description = "Unknown handle"),
    ))]
pub(crate) async fn read_root(
    axum::extract::State(s): axum::extract::State<DmiState>,
    remote: RemoteAddr,
    headers: HeaderMap,
    uri: Uri,
    Path((ch, datastore)): Path<(String, String)>,
    Query(q): Query<SeedQuery>,
    Body(body): Body,
) -> Result<Response, SeedError> {
    data(s, remote, headers, Method::GET, uri, ch, datastore, q, body).await
}

/// Invoke an RPC of the device (use case 6): `{"module:input": {...}}` in, the output out.
#[utoipa::path(post, path = "/dmi/v1/operations/ch/{cmHandle}/ds/{datastore}/{operation}", tag = "dmi-seed",
    params(
        ("cmHandle" = String, Path, description = "CM handle id or alternate id"),
        ("datastore" = String, Path, description = "ncmp-datastore:operational"),
        ("operation" = String, Path, description = "module:rpc"),
    ),
    responses(
        (status = 200, description = "The RPC's output (`{\"module:output\": {...}}`)"),
        (status = 204, description = "Done; the RPC has no output"),
        (status = 400, body = crate::error::SeedErrorBody, description = "Unknown RPC or invalid input"),
        (status = 404, body = crate::error::SeedErrorBody, description = "Unknown handle"),
    ))]
pub(crate) async fn operation(
    axum::extract::State(s): axum::extract::State<DmiState>,
    remote: RemoteAddr,
    headers: HeaderMap,
    Path((ch, datastore, operation)): Path<(String, String, String)>,
    Body(body): Body,
) -> Result<Response, SeedError> {
    auth::authorize(&s, &headers, &remote, auth::DATA_WRITE).await?;
    if Datastore::parse(&datastore, true)? != Datastore::Operational {
        return Err(Failure::bad_request("RPCs are invoked on ncmp-datastore:operational").into());
    }
    let (module, name) = operation
        .split_once(':')
        .filter(|(m, n)| !m.is_empty() && !n.is_empty())
        .ok_or_else(|| Failure::bad_request(format!("'{operation}' is not module:rpc")))?;
    let input = body_value(&body)?;
    let h = access::handle(&s, &ch).await?;
    match access::rpc(&s, &h, module, name, input.as_ref()).await? {
        Some(out) => Ok(yang_json(StatusCode::OK, out)),
        None => Ok(StatusCode::NO_CONTENT.into_response()),
    }
}

fn yang_library(h: &access::Handle, modules: &[crate::ncmp::ModuleReference]) -> Value {
    let set_id = match h.record.body.get("moduleSetTag").and_then(Value::as_str) {
        Some(t) if !t.is_empty() => t.to_string(),
        _ => h.id().to_string(),
    };
    json!({"ietf-yang-library:modules-state": {
        "module-set-id": set_id,
        "module": modules.iter().map(|m| json!({
            "name": m.module_name,
            "revision": m.revision,
            "namespace": m.namespace,
            "conformance-type": "implement",
        })).collect::<Vec<_>>(),
    }})
}

/// The handle's model as an ietf-yang-library module set (the seed's model API).
#[utoipa::path(get, path = "/dmi/v1/model/ch/{cmHandle}", tag = "dmi-seed",
    params(("cmHandle" = String, Path, description = "CM handle id or alternate id")),
    responses(
        (status = 200, description = "`{\"ietf-yang-library:modules-state\": {module-set-id, module: [...]}}`"),
        (status = 404, body = crate::error::SeedErrorBody, description = "Unknown handle"),
        (status = 503, body = crate::error::SeedErrorBody, description = "The device's models cannot be read now"),
    ))]
pub(crate) async fn model(
    axum::extract::State(s): axum::extract::State<DmiState>,
    remote: RemoteAddr,
    headers: HeaderMap,
    Path(ch): Path<String>,
) -> Result<Response, SeedError> {
    auth::authorize(&s, &headers, &remote, auth::DATA_READ).await?;
    let h = access::handle(&s, &ch).await?;
    let modules = crate::ncmp::module_list(&s, &h).await?;
    Ok(yang_json(StatusCode::OK, yang_library(&h, &modules)))
}

/// The seed's spelling of the model read (PUT).
#[utoipa::path(put, path = "/dmi/v1/model/ch/{cmHandle}", tag = "dmi-seed",
    operation_id = "seed_model_put",
    params(("cmHandle" = String, Path, description = "CM handle id or alternate id")),
    responses(
        (status = 200, description = "`{\"ietf-yang-library:modules-state\": ...}`"),
        (status = 404, body = crate::error::SeedErrorBody, description = "Unknown handle"),
    ))]
pub(crate) async fn model_put(
    state: axum::extract::State<DmiState>,
    remote: RemoteAddr,
    headers: HeaderMap,
    ch: Path<String>,
) -> Result<Response, SeedError> {
    model(state, remote, headers, ch).await
}

/// Sync a handle (use case "Sync the model to NCMP"): its models are read again from the device
/// and its whole data tree is answered.
#[utoipa::path(put, path = "/dmi/v1/sync/ch/{cmHandle}", tag = "dmi-seed",
    params(("cmHandle" = String, Path, description = "CM handle id or alternate id")),
    responses(
        (status = 200, description = "The device's data tree (application/yang-data+json)"),
        (status = 404, body = crate::error::SeedErrorBody, description = "Unknown handle"),
        (status = 502, body = crate::error::SeedErrorBody, description = "Device unreachable"),
    ))]
pub(crate) async fn sync(
    axum::extract::State(s): axum::extract::State<DmiState>,
    remote: RemoteAddr,
    headers: HeaderMap,
    Path(ch): Path<String>,
) -> Result<Response, SeedError> {
    auth::authorize(&s, &headers, &remote, auth::DATA_WRITE).await?;
    let h = access::handle(&s, &ch).await?;
    access::models(&s, &h, true).await?;
    crate::jobs::mark_ready(&s, &h.record.id).await?;
    let v = access::read(
        &s,
        &h,
        Datastore::Operational,
        &ResourcePath::default(),
        &ReadOptions::default(),
    )
    .await?;
    Ok(yang_json(StatusCode::OK, v))
}

/// Query of the data-source refresh.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SourceQuery {
    /// Topic the inventory event goes to (default `NCMP_INVENTORY`).
    pub topic: Option<String>,
}

async fn publish_sources(
    s: &DmiState,
    only: Option<&str>,
    topic: Option<&str>,
) -> Result<Response, Failure> {
    let records = match only {
        Some(id) => {
            s.deps
                .records
                .find_records(HANDLES, "dataProducerIdentifier", id)
                .await?
        }
        None => {
            s.deps
                .records
                .list_records(HANDLES, &ProjectScope::All)
                .await?
        }
    };
    if let Some(id) = only
        && records.is_empty()
    {
        return Err(Failure::not_found(format!(
            "data source '{id}' has no cm handles (dataProducerIdentifier)"
        )));
    }
    let mut groups: std::collections::BTreeMap<String, Vec<Value>> = Default::default();
    for r in &records {
        let source = r
            .body
            .get("dataProducerIdentifier")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        groups.entry(source).or_default().push(json!({
            "cmhandle": r.id,
            "additionalProperties": r.body.get("additionalProperties").cloned().unwrap_or(json!({})),
        }));
    }
    let topic = topic
        .filter(|t| !t.is_empty())
        .unwrap_or(&s.deps.config.inventory_topic);
    let events: Vec<NewEvent> = groups
        .into_iter()
        .map(|(source, handles)| {
            NewEvent::new(
                topic,
                source.clone(),
                json!({
                    "dmiPluginId": s.deps.config.plugin_id,
                    "dmi-source-id": source,
                    "createdcmhandles": handles,
                    "updatedcmhandles": [],
                    "removedcmhandles": [],
                }),
            )
        })
        .collect();
    s.deps.outbox.append(&events).await?;
    Ok((StatusCode::ACCEPTED, Json(json!({}))).into_response())
}

/// Refresh every data source: one inventory event per source on the topic.
#[utoipa::path(get, path = "/v1/dmi-source", tag = "dmi-seed",
    params(SourceQuery),
    responses(
        (status = 202, description = "The inventory events are published"),
        (status = 401, body = crate::error::SeedErrorBody, description = "No credentials"),
    ))]
pub(crate) async fn sources(
    axum::extract::State(s): axum::extract::State<DmiState>,
    remote: RemoteAddr,
    headers: HeaderMap,
    Query(q): Query<SourceQuery>,
) -> Result<Response, SeedError> {
    auth::authorize(&s, &headers, &remote, auth::INVENTORY_READ).await?;
    Ok(publish_sources(&s, None, q.topic.as_deref()).await?)
}

/// Refresh one data source (the handles whose `dataProducerIdentifier` is its id).
#[utoipa::path(get, path = "/v1/dmi-source/{id}", tag = "dmi-seed",
    params(("id" = String, Path, description = "Data source id"), SourceQuery),
    responses(
        (status = 202, description = "The inventory event is published"),
        (status = 404, body = crate::error::SeedErrorBody, description = "No handle of that source"),
    ))]
pub(crate) async fn source(
    axum::extract::State(s): axum::extract::State<DmiState>,
    remote: RemoteAddr,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(q): Query<SourceQuery>,
) -> Result<Response, SeedError> {
    auth::authorize(&s, &headers, &remote, auth::INVENTORY_READ).await?;
    Ok(publish_sources(&s, Some(&id), q.topic.as_deref()).await?)
}
