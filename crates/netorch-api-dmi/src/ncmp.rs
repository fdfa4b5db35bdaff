//! The DMI REST contract NCMP calls today (onap/cps `docs/api/swagger/dmi/openapi.yml`):
//! modules, module resources, data pass-through (sync, or async with `topic`), bulk reads, and
//! the health probe NCMP polls.

use axum::{
    Json,
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
};
use netorch_http::osm::RemoteAddr;
use netorch_netconf::{EditOp, ResourcePath};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::{IntoParams, ToSchema};

use crate::{
    DmiState,
    access::{self, Datastore, Handle},
    auth,
    error::{Failure, NcmpError},
    ex::ncmp::{Body, Path, Query},
    jobs::{BULK_JOB, DATA_OPERATION_JOB},
    options::ReadOptions,
};

/// `GET /actuator/health`: what NCMP's DMI watchdog polls (no credentials).
#[utoipa::path(get, path = "/actuator/health", tag = "dmi",
    responses((status = 200, description = "`{\"status\":\"UP\"}`")))]
pub(crate) async fn health() -> Json<Value> {
    Json(json!({"status": "UP"}))
}

/// `ModuleReferencesRequest`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ModuleReferencesRequest {
    /// The handle's module set tag (informative: the registered one is used).
    #[expect(
        dead_code,
        reason = "accepted as NCMP sends it; the registered value is used"
    )]
    pub module_set_tag: Option<String>,
    /// The handle's private properties (informative).
    #[expect(
        dead_code,
        reason = "accepted as NCMP sends it; the registered value is used"
    )]
    pub cm_handle_properties: Option<Value>,
}

/// One module of a module set.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ModuleReference {
    /// Module name.
    pub module_name: String,
    /// Revision.
    pub revision: String,
    /// XML namespace.
    pub namespace: String,
}

fn body_json<T: for<'de> Deserialize<'de> + Default>(body: &[u8]) -> Result<T, Failure> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(body).map_err(|e| Failure::bad_request(format!("invalid body: {e}")))
}

pub(crate) async fn module_list(s: &DmiState, h: &Handle) -> Result<Vec<ModuleReference>, Failure> {
    let m = access::models(s, h, false).await.map_err(|f| {
        if f.status.is_server_error() {
            Failure::unavailable(format!(
                "the models of cm handle '{}' are not available yet: {}",
                h.id(),
                f.message
            ))
        } else {
            f
        }
    })?;
    Ok(m.modules()
        .iter()
        .map(|r| ModuleReference {
            module_name: r.name.clone(),
            revision: r.revision.clone(),
            namespace: r.namespace.clone(),
        })
        .collect())
}

/// The YANG modules of a CM handle (`getModuleReferences`).
#[utoipa::path(post, path = "/dmi/v1/ch/{cmHandle}/modules", tag = "dmi",
    params(("cmHandle" = String, Path, description = "CM handle id or alternate id")),
    request_body = ModuleReferencesRequest,
    responses(
        (status = 200, description = "`{\"schemas\": [{moduleName, revision, namespace}]}`"),
        (status = 404, body = crate::error::NcmpErrorBody, description = "Unknown handle"),
        (status = 503, body = crate::error::NcmpErrorBody, description = "The device's models cannot be read now; retry"),
    ))]
pub(crate) async fn modules(
    axum::extract::State(s): axum::extract::State<DmiState>,
    remote: RemoteAddr,
    headers: HeaderMap,
    Path(id): Path<String>,
    Body(body): Body,
) -> Result<Response, NcmpError> {
    auth::authorize(&s, &headers, &remote, auth::DATA_READ).await?;
    let _req: ModuleReferencesRequest = body_json(&body)?;
    let h = access::handle(&s, &id).await?;
    let schemas = module_list(&s, &h).await?;
    Ok(Json(json!({"schemas": schemas})).into_response())
}

/// `{"data": {"modules": [{name, revision}]}}`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ModuleResourcesRequest {
    /// The modules asked for.
    pub data: Option<ModuleResourcesData>,
    /// The handle's module set tag (informative).
    #[expect(
        dead_code,
        reason = "accepted as NCMP sends it; the registered value is used"
    )]
    pub module_set_tag: Option<String>,
    /// Private properties (informative).
    #[expect(
        dead_code,
        reason = "accepted as NCMP sends it; the registered value is used"
    )]
    pub cm_handle_properties: Option<Value>,
}

/// The modules asked for.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct ModuleResourcesData {
    /// Name and revision of each.
    #[serde(default)]
    pub modules: Vec<ModuleName>,
}

/// A module name and revision.
#[derive(Debug, Deserialize, ToSchema)]
pub struct ModuleName {
    /// Module name.
    pub name: String,
    /// Revision (empty or absent: the one the device has).
    #[serde(default)]
    pub revision: Option<String>,
}

/// The YANG sources of modules of a CM handle (`retrieveModuleResources`).
#[utoipa::path(post, path = "/dmi/v1/ch/{cmHandle}/moduleResources", tag = "dmi",
    params(("cmHandle" = String, Path, description = "CM handle id or alternate id")),
    request_body = ModuleResourcesRequest,
    responses(
        (status = 200, description = "`[{moduleName, revision, yangSource}]`"),
        (status = 404, body = crate::error::NcmpErrorBody, description = "Unknown handle or module"),
    ))]
pub(crate) async fn module_resources(
    axum::extract::State(s): axum::extract::State<DmiState>,
    remote: RemoteAddr,
    headers: HeaderMap,
    Path(id): Path<String>,
    Body(body): Body,
) -> Result<Response, NcmpError> {
    auth::authorize(&s, &headers, &remote, auth::DATA_READ).await?;
    let req: ModuleResourcesRequest = body_json(&body)?;
    let h = access::handle(&s, &id).await?;
    let m = access::models(&s, &h, false).await?;
    let wanted = req.data.map(|d| d.modules).unwrap_or_default();
    let mut out = Vec::new();
    for w in &wanted {
        let want_rev = w.revision.as_deref().unwrap_or("");
        let Some(r) = m
            .modules()
            .iter()
            .find(|r| r.name == w.name && (want_rev.is_empty() || r.revision == want_rev))
        else {
            return Err(Failure::not_found(format!(
                "module '{}'{} is not in the models of cm handle '{}'",
                w.name,
                if want_rev.is_empty() {
                    String::new()
                } else {
                    format!(" revision {want_rev}")
                },
                h.id()
            ))
            .into());
        };
        let source = match s.deps.models.source(&h.set_key(), r) {
            Some(t) => t,
            None => {
                access::ensure_device(&s, &h)?;
                s.deps.pool.get_schema(h.id(), &r.name, &r.revision).await?
            }
        };
        out.push(json!({"moduleName": r.name, "revision": r.revision, "yangSource": source}));
    }
    Ok(Json(Value::Array(out)).into_response())
}

/// Query of the pass-through.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase")]
pub struct PassthroughQuery {
    /// RESTCONF path of the resource (`module:container/list=key`; `/` for everything);
    /// required.
    pub resource_identifier: Option<String>,
    /// `(depth=N,fields=a/b)`.
    pub options: Option<String>,
    /// Answer 204 now and publish the result as an event for this client topic.
    pub topic: Option<String>,
}

/// `DataAccessRequest`.
#[derive(Debug, Clone, Default, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DataAccessRequest {
    /// `read`, `create`, `update`, `patch` or `delete`.
    pub operation: Option<String>,
    /// The MIME type of `data` (`application/json`, `application/yang-data+json`,
    /// `application/yang-patch+json`).
    pub data_type: Option<String>,
    /// The payload, a string holding JSON.
    pub data: Option<String>,
    /// Private properties of the handle (informative).
    pub cm_handle_properties: Option<Value>,
    /// NCMP's request id (carried into async events).
    pub request_id: Option<String>,
    /// Module set tag (informative).
    pub module_set_tag: Option<String>,
}

/// A validated pass-through, ready to run now or in a job.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Operation {
    pub cm_handle: String,
    pub datastore: String,
    pub resource_identifier: String,
    pub options: Option<String>,
    pub operation: String,
    pub data_type: String,
    pub data: Option<Value>,
}

/// Checks everything that can be checked without the device.
pub(crate) fn prepare(
    ch: &str,
    datastore: &str,
    q: &PassthroughQuery,
    req: &DataAccessRequest,
) -> Result<Operation, Failure> {
    let ds = Datastore::parse(datastore, false)?;
    let rid = q.resource_identifier.clone().ok_or_else(|| {
        Failure::bad_request("the resourceIdentifier query parameter is required")
    })?;
    ResourcePath::parse(&rid).map_err(Failure::bad_request)?;
    ReadOptions::from_ncmp(q.options.as_deref())?;
    let op = req.operation.as_deref().unwrap_or("read");
    if !matches!(op, "read" | "create" | "update" | "patch" | "delete") {
        return Err(Failure::bad_request(format!(
            "operation '{op}' is not one of read, create, update, patch, delete"
        )));
    }
    if op != "read" && ds != Datastore::Running {
        return Err(Failure::bad_request(format!(
            "operation '{op}' needs ncmp-datastore:passthrough-running"
        )));
    }
    let data_type = req
        .data_type
        .clone()
        .unwrap_or_else(|| "application/json".into());
    let base = data_type.split(';').next().unwrap_or("").trim().to_string();
    let data = match (op, req.data.as_deref()) {
        ("read" | "delete", _) => None,
        (_, None | Some("")) => {
            return Err(Failure::bad_request(format!("operation '{op}' needs data")));
        }
        (_, Some(text)) => {
            if !matches!(
                base.as_str(),
                "application/json" | "application/yang-data+json" | "application/yang-patch+json"
            ) {
                return Err(Failure::bad_request(format!(
                    "dataType '{data_type}' is not supported (application/json, application/yang-data+json, application/yang-patch+json)"
                )));
            }
            if base == "application/yang-patch+json" && op != "patch" {
                return Err(Failure::bad_request(
                    "a yang-patch goes with operation patch",
                ));
            }
            Some(serde_json::from_str::<Value>(text).map_err(|e| {
                Failure::bad_request(format!("data is not valid JSON for {data_type}: {e}"))
            })?)
        }
    };
    Ok(Operation {
        cm_handle: ch.to_string(),
        datastore: match ds {
            Datastore::Running => "ncmp-datastore:passthrough-running".into(),
            Datastore::Operational => "ncmp-datastore:passthrough-operational".into(),
        },
        resource_identifier: rid,
        options: q.options.clone(),
        operation: op.to_string(),
        data_type: base,
        data,
    })
}

/// Runs a prepared operation: the status and body NCMP gets.
pub(crate) async fn perform(
    s: &DmiState,
    op: &Operation,
) -> Result<(StatusCode, Option<Value>), Failure> {
    let h = access::handle(s, &op.cm_handle).await?;
    let ds = Datastore::parse(&op.datastore, false)?;
    let path = ResourcePath::parse(&op.resource_identifier).map_err(Failure::bad_request)?;
    match op.operation.as_str() {
        "read" => {
            let opts = ReadOptions::from_ncmp(op.options.as_deref())?;
            let v = access::read(s, &h, ds, &path, &opts).await?;
            Ok((StatusCode::OK, Some(v)))
        }
        "create" => {
            access::write(s, &h, EditOp::Create, &path, op.data.as_ref()).await?;
            Ok((StatusCode::CREATED, None))
        }
        "update" => {
            access::write(s, &h, EditOp::Replace, &path, op.data.as_ref()).await?;
            Ok((StatusCode::OK, None))
        }
        "patch" if op.data_type == "application/yang-patch+json" => {
            let status =
                access::yang_patch(s, &h, &path, op.data.as_ref().unwrap_or(&Value::Null)).await?;
            Ok((StatusCode::OK, Some(status)))
        }
        "patch" => {
            access::write(s, &h, EditOp::Merge, &path, op.data.as_ref()).await?;
            Ok((StatusCode::OK, None))
        }
        "delete" => {
            access::write(s, &h, EditOp::Delete, &path, None).await?;
            Ok((StatusCode::NO_CONTENT, None))
        }
        other => Err(Failure::bad_request(format!("unknown operation '{other}'"))),
    }
}

/// Data pass-through on a CM handle (`dataAccessPassthrough`): the operation is in the body.
#[utoipa::path(post, path = "/dmi/v1/ch/{cmHandle}/data/ds/{datastore}", tag = "dmi",
    params(
        ("cmHandle" = String, Path, description = "CM handle id or alternate id"),
        ("datastore" = String, Path, description = "ncmp-datastore:passthrough-running or ncmp-datastore:passthrough-operational"),
        PassthroughQuery,
    ),
    request_body = DataAccessRequest,
    responses(
        (status = 200, description = "read/update/patch: the device's data (RESTCONF JSON)"),
        (status = 201, description = "create: created"),
        (status = 204, description = "delete, or any operation with `topic` (the result comes as an event)"),
        (status = 400, body = crate::error::NcmpErrorBody, description = "Bad datastore, options, operation, data or path"),
        (status = 404, body = crate::error::NcmpErrorBody, description = "Unknown handle, or no data there"),
        (status = 409, body = crate::error::NcmpErrorBody, description = "The device refused: data exists, lock denied"),
        (status = 502, body = crate::error::NcmpErrorBody, description = "The device is unreachable or refused the credentials"),
        (status = 504, body = crate::error::NcmpErrorBody, description = "The device did not answer in time"),
    ))]
pub(crate) async fn passthrough(
    axum::extract::State(s): axum::extract::State<DmiState>,
    remote: RemoteAddr,
    headers: HeaderMap,
    Path((ch, datastore)): Path<(String, String)>,
    Query(q): Query<PassthroughQuery>,
    Body(body): Body,
) -> Result<Response, NcmpError> {
    let req: DataAccessRequest = body_json(&body)?;
    let permission = if req.operation.as_deref().unwrap_or("read") == "read" {
        auth::DATA_READ
    } else {
        auth::DATA_WRITE
    };
    auth::authorize(&s, &headers, &remote, permission).await?;
    let op = prepare(&ch, &datastore, &q, &req)?;
    if let Some(topic) = q.topic.as_deref().filter(|t| !t.is_empty()) {
        // An unknown handle is refused now, not reported later (a sync request finds out in
        // `perform`).
        access::handle(&s, &ch).await?;
        let payload = json!({
            "operation": op,
            "topic": topic,
            "requestId": req.request_id.clone().unwrap_or_else(netorch_core::new_id),
        });
        crate::jobs::enqueue(&s, DATA_OPERATION_JOB, payload, 3, s.deps.clock.now()).await?;
        return Ok(StatusCode::NO_CONTENT.into_response());
    }
    let (status, body) = perform(&s, &op).await?;
    Ok(match body {
        Some(v) => (
            status,
            [(header::CONTENT_TYPE, "application/json")],
            v.to_string(),
        )
            .into_response(),
        None => status.into_response(),
    })
}

/// Query of the bulk operation.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase")]
pub struct BulkQuery {
    /// The client topic the results are for (required).
    pub topic: Option<String>,
    /// NCMP's request id, the events' correlation id (required).
    pub request_id: Option<String>,
}

/// Bulk data operations (`getResourceDataForCmHandleDataOperation`): 202 now, one event per
/// CM handle later. Only reads, as NCMP sends.
#[utoipa::path(post, path = "/dmi/v1/data", tag = "dmi",
    params(BulkQuery),
    responses(
        (status = 202, description = "Accepted; results follow as DataOperationEvents"),
        (status = 400, body = crate::error::NcmpErrorBody, description = "Malformed operations"),
        (status = 501, body = crate::error::NcmpErrorBody, description = "An operation other than read"),
    ))]
pub(crate) async fn bulk(
    axum::extract::State(s): axum::extract::State<DmiState>,
    remote: RemoteAddr,
    headers: HeaderMap,
    Query(q): Query<BulkQuery>,
    Body(body): Body,
) -> Result<Response, NcmpError> {
    auth::authorize(&s, &headers, &remote, auth::DATA_READ).await?;
    let (Some(topic), Some(request_id)) = (
        q.topic.filter(|t| !t.is_empty()),
        q.request_id.filter(|r| !r.is_empty()),
    ) else {
        return Err(
            Failure::bad_request("the topic and requestId query parameters are required").into(),
        );
    };
    let v: Value = serde_json::from_slice(&body)
        .map_err(|e| Failure::bad_request(format!("invalid body: {e}")))?;
    let ops = v
        .get("operations")
        .or(Some(&v))
        .and_then(Value::as_array)
        .filter(|a| !a.is_empty())
        .ok_or_else(|| {
            Failure::bad_request("the body must be {\"operations\": [...]} (non-empty)")
        })?;
    let mut handles = 0usize;
    for (i, o) in ops.iter().enumerate() {
        let op = o
            .get("operation")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if op != "read" {
            return Err(Failure::not_implemented(format!(
                "operations[{i}]: bulk '{op}' is not supported; only read"
            ))
            .into());
        }
        let ds = o
            .get("datastore")
            .and_then(Value::as_str)
            .unwrap_or_default();
        Datastore::parse(ds, false)?;
        let rid = o
            .get("resourceIdentifier")
            .and_then(Value::as_str)
            .unwrap_or("/");
        ResourcePath::parse(rid).map_err(Failure::bad_request)?;
        ReadOptions::from_ncmp(o.get("options").and_then(Value::as_str))?;
        let n = o
            .get("cmHandles")
            .and_then(Value::as_array)
            .map(|a| a.len())
            .filter(|n| *n > 0)
            .ok_or_else(|| Failure::bad_request(format!("operations[{i}]: cmHandles is empty")))?;
        handles += n;
    }
    if handles > s.deps.config.max_batch {
        return Err(Failure::bad_request(format!(
            "{handles} cm handles in one request; at most {} (dmi.max_batch)",
            s.deps.config.max_batch
        ))
        .into());
    }
    let payload = json!({"topic": topic, "requestId": request_id, "operations": ops});
    crate::jobs::enqueue(&s, BULK_JOB, payload, 3, s.deps.clock.now()).await?;
    Ok(StatusCode::ACCEPTED.into_response())
}

/// Data jobs (`cmreadJob`, `cmwriteJob`): not implemented, as in the ONAP DMI.
#[utoipa::path(post, path = "/dmi/v1/cmreadJob", tag = "dmi",
    responses((status = 501, body = crate::error::NcmpErrorBody, description = "Not implemented")))]
pub(crate) async fn read_job() -> NcmpError {
    Failure::not_implemented("data jobs (cmreadJob) are not implemented by this DMI plugin").into()
}

/// Data jobs (`cmwriteJob`): not implemented, as in the ONAP DMI.
#[utoipa::path(post, path = "/dmi/v1/cmwriteJob", tag = "dmi",
    responses((status = 501, body = crate::error::NcmpErrorBody, description = "Not implemented")))]
pub(crate) async fn write_job() -> NcmpError {
    Failure::not_implemented("data jobs (cmwriteJob) are not implemented by this DMI plugin").into()
}
