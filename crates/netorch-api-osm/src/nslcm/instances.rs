//! `/ns_instances_content` and `/ns_instances`: create, instantiate, terminate, show, delete.

use axum::{extract::State, http::StatusCode};
use netorch_auth::Session;
use netorch_core::tenancy::{Ownership, ProjectScope};
use netorch_http::osm::{
    Authenticated, OsmError, OsmErrorBody, OsmId, OsmQuery, OsmValue, Reply, internal,
};
use netorch_lcm::documents::{NSLCMOPS, NSRS, NewNs, VNFRS, new_ns, new_op};
use serde_json::{Value, json};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{check_params, load_nsr, resolve, running_op};
use crate::{OsmState, render::record_json};

pub(super) fn register(r: OpenApiRouter<OsmState>) -> OpenApiRouter<OsmState> {
    r.routes(routes!(list_content, create_content))
        .routes(routes!(show_content, delete_content))
        .routes(routes!(list, create))
        .routes(routes!(show, delete))
        .routes(routes!(instantiate))
        .routes(routes!(terminate))
}

const CONTENT: &str = "/osm/nslcm/v1/ns_instances_content";
const SOL: &str = "/osm/nslcm/v1/ns_instances";

async fn enqueue(s: &OsmState, op: &str, project: &str) -> Result<(), OsmError> {
    s.deps
        .jobs
        .enqueue(
            &netorch_lcm::op_job(op, Some(project.to_string())),
            s.deps.clock.now(),
        )
        .await
        .map_err(|e| internal(&e))?;
    s.deps.job_waker.notify_one();
    Ok(())
}

/// Creates the NSR and its VNFRs (and, with `op`, the instantiate operation) in one transaction.
async fn create_records(
    s: &OsmState,
    me: &Session,
    q: &OsmQuery,
    params: &Value,
    with_op: bool,
) -> Result<(String, Option<String>), OsmError> {
    let resolved = resolve(s, me, q, params).await?;
    let owners: Ownership = s.deps.identity.new_ownership(me, "post", &q.admin).await?;
    let now = s.deps.clock.now();
    let id = netorch_core::new_id();
    let mut records = new_ns(&NewNs {
        id: &id,
        params,
        nsd_record_id: &resolved.nsd.id,
        nsd: &resolved.nsd.body,
        model: &resolved.model,
        members: &resolved.members,
        owners: &owners,
        now,
    });
    let op = with_op.then(netorch_core::new_id);
    if let Some(op) = &op {
        records.push((
            NSLCMOPS,
            new_op(op, &id, "instantiate", params, &owners, now),
        ));
    }
    let refs: Vec<(&str, &netorch_core::tenancy::Record)> =
        records.iter().map(|(c, r)| (*c, r)).collect();
    s.deps
        .records
        .insert_records(&refs, &[])
        .await
        .map_err(|e| match e {
            netorch_core::StoreError::Conflict(m) if m.contains("name") => {
                OsmError::conflict(format!(
                    "ns_instance with name '{}' already exists for this project",
                    params["nsName"].as_str().unwrap_or_default()
                ))
            }
            other => other.into(),
        })?;
    if let Some(op) = &op {
        enqueue(s, op, &me.project_id).await?;
        tracing::info!(nsr = %id, nslcmop = %op, "NS created; instantiation queued");
    }
    let vnfds: Vec<String> = resolved
        .members
        .iter()
        .map(|m| m.vnfd_record_id.clone())
        .collect();
    netorch_lcm::usage::refresh_package_usage(
        &*s.deps.records,
        std::slice::from_ref(&resolved.nsd.id),
        &vnfds,
        now,
    )
    .await?;
    Ok((id, op))
}

/// List NS instances.
#[utoipa::path(get, path = "/osm/nslcm/v1/ns_instances_content", tag = "osm", operation_id = "list_ns_instances_content",
    security(("bearerAuth" = [])),
    responses((status = 200, description = "The NS records the caller's projects may read")))]
async fn list_content(
    State(s): State<OsmState>,
    Authenticated(me): Authenticated,
    q: OsmQuery,
) -> Result<Reply, OsmError> {
    me.authorize("ns_instances:get", "get", &q.admin)?;
    crate::tenancy::list_reply(&s, &me, &q, NSRS, |r| record_json(r, &[])).await
}

/// Create an NS instance and instantiate it.
#[utoipa::path(post, path = "/osm/nslcm/v1/ns_instances_content", tag = "osm", operation_id = "create_ns_instance_content",
    security(("bearerAuth" = [])),
    request_body(content = Object, description = "OSM ns_instantiate: {nsName, nsdId, vimAccountId, vnf?, vld?, additionalParamsForNs?, ...}", content_type = "application/json"),
    responses((status = 201, description = "{id, nslcmop_id, nsName}; Location of the NS instance"),
        (status = 400, description = "Unknown VIM account or member-vnf-index", body = OsmErrorBody),
        (status = 404, description = "Unknown NSD", body = OsmErrorBody),
        (status = 409, description = "NSD disabled, name in use, VIM full", body = OsmErrorBody),
        (status = 422, description = "Invalid parameters", body = OsmErrorBody)))]
async fn create_content(
    State(s): State<OsmState>,
    Authenticated(me): Authenticated,
    q: OsmQuery,
    OsmValue(body): OsmValue,
) -> Result<Reply, OsmError> {
    me.authorize("ns_instances:content:post", "post", &q.admin)?;
    check_params(&body, &["nsName", "nsdId", "vimAccountId"])?;
    let (id, op) = create_records(&s, &me, &q, &body, true).await?;
    Ok(Reply::with_status(
        StatusCode::CREATED,
        json!({"id": id, "nslcmop_id": op, "nsName": body["nsName"]}),
    )
    .location(format!("{CONTENT}/{id}")))
}

/// Show an NS instance.
#[utoipa::path(get, path = "/osm/nslcm/v1/ns_instances_content/{ns_instance_id}", tag = "osm", operation_id = "show_ns_instance_content",
    security(("bearerAuth" = [])), params(("ns_instance_id" = String, Path, description = "NS instance id")),
    responses((status = 200, description = "The NSR"), (status = 404, description = "Not found", body = OsmErrorBody)))]
async fn show_content(
    State(s): State<OsmState>,
    Authenticated(me): Authenticated,
    q: OsmQuery,
    OsmId(id): OsmId,
) -> Result<Reply, OsmError> {
    me.authorize("ns_instances:id:get", "get", &q.admin)?;
    let r = load_nsr(&s, &me, &q, &id, false).await?;
    Ok(Reply::ok(record_json(&r, &[])))
}

/// Terminate (if instantiated) and delete an NS instance.
#[utoipa::path(delete, path = "/osm/nslcm/v1/ns_instances_content/{ns_instance_id}", tag = "osm", operation_id = "delete_ns_instance_content",
    security(("bearerAuth" = [])), params(("ns_instance_id" = String, Path, description = "NS instance id")),
    responses((status = 202, description = "Terminating, then removed: {_id: <terminate op>, nsName}"),
        (status = 204, description = "Deleted (was not instantiated)"),
        (status = 409, description = "An operation is in progress", body = OsmErrorBody)))]
async fn delete_content(
    State(s): State<OsmState>,
    Authenticated(me): Authenticated,
    q: OsmQuery,
    OsmId(id): OsmId,
) -> Result<Reply, OsmError> {
    me.authorize("ns_instances:id:delete", "delete", &q.admin)?;
    remove(&s, &me, &q, &id, true).await
}

/// List NS instances (SOL005).
#[utoipa::path(get, path = "/osm/nslcm/v1/ns_instances", tag = "osm", operation_id = "list_ns_instances",
    security(("bearerAuth" = [])),
    responses((status = 200, description = "The NS records the caller's projects may read")))]
async fn list(
    State(s): State<OsmState>,
    Authenticated(me): Authenticated,
    q: OsmQuery,
) -> Result<Reply, OsmError> {
    me.authorize("ns_instances:get", "get", &q.admin)?;
    crate::tenancy::list_reply(&s, &me, &q, NSRS, |r| record_json(r, &[])).await
}

/// Create an NS instance, NOT_INSTANTIATED (SOL005).
#[utoipa::path(post, path = "/osm/nslcm/v1/ns_instances", tag = "osm", operation_id = "create_ns_instance",
    security(("bearerAuth" = [])),
    request_body(content = Object, description = "{nsName, nsdId, vimAccountId, ...}", content_type = "application/json"),
    responses((status = 201, description = "{_id, id}; Location of the NS instance"),
        (status = 404, description = "Unknown NSD", body = OsmErrorBody),
        (status = 422, description = "Invalid parameters", body = OsmErrorBody)))]
async fn create(
    State(s): State<OsmState>,
    Authenticated(me): Authenticated,
    q: OsmQuery,
    OsmValue(body): OsmValue,
) -> Result<Reply, OsmError> {
    me.authorize("ns_instances:post", "post", &q.admin)?;
    check_params(&body, &["nsName", "nsdId", "vimAccountId"])?;
    let (id, _) = create_records(&s, &me, &q, &body, false).await?;
    Ok(Reply::created(format!("{SOL}/{id}"), &id))
}

/// Show an NS instance (SOL005).
#[utoipa::path(get, path = "/osm/nslcm/v1/ns_instances/{ns_instance_id}", tag = "osm", operation_id = "show_ns_instance",
    security(("bearerAuth" = [])), params(("ns_instance_id" = String, Path, description = "NS instance id")),
    responses((status = 200, description = "The NSR"), (status = 404, description = "Not found", body = OsmErrorBody)))]
async fn show(
    State(s): State<OsmState>,
    Authenticated(me): Authenticated,
    q: OsmQuery,
    OsmId(id): OsmId,
) -> Result<Reply, OsmError> {
    me.authorize("ns_instances:id:get", "get", &q.admin)?;
    let r = load_nsr(&s, &me, &q, &id, false).await?;
    Ok(Reply::ok(record_json(&r, &[])))
}

/// Delete an NS instance that is not instantiated (FORCE: terminate it first).
#[utoipa::path(delete, path = "/osm/nslcm/v1/ns_instances/{ns_instance_id}", tag = "osm", operation_id = "delete_ns_instance",
    security(("bearerAuth" = [])), params(("ns_instance_id" = String, Path, description = "NS instance id")),
    responses((status = 204, description = "Deleted"),
        (status = 409, description = "Instantiated (without FORCE) or an operation in progress", body = OsmErrorBody)))]
async fn delete(
    State(s): State<OsmState>,
    Authenticated(me): Authenticated,
    q: OsmQuery,
    OsmId(id): OsmId,
) -> Result<Reply, OsmError> {
    me.authorize("ns_instances:id:delete", "delete", &q.admin)?;
    let force = q.admin.force;
    remove(&s, &me, &q, &id, force).await
}

fn instantiated(nsr: &Value) -> bool {
    nsr["_admin"]["nsState"] == json!("INSTANTIATED")
}

async fn refuse_if_busy(s: &OsmState, id: &str) -> Result<(), OsmError> {
    if let Some(op) = running_op(s, id).await? {
        return Err(OsmError::conflict(format!(
            "ns_instance '{id}' has operation '{op}' in progress; wait for it to finish or cancel it"
        )));
    }
    Ok(())
}

/// DELETE: a NOT_INSTANTIATED NS goes at once with its VNFRs and operations (204); an instantiated
/// one is terminated with `autoremove` when `terminate_first` (202), else refused (409).
async fn remove(
    s: &OsmState,
    me: &Session,
    q: &OsmQuery,
    id: &str,
    terminate_first: bool,
) -> Result<Reply, OsmError> {
    let nsr = load_nsr(s, me, q, id, true).await?;
    refuse_if_busy(s, &nsr.id).await?;
    if instantiated(&nsr.body) {
        if !terminate_first {
            return Err(OsmError::conflict(format!(
                "ns_instance '{id}' cannot be deleted because it is instantiated; terminate it first or use FORCE"
            )));
        }
        let op = start_op(
            s,
            me,
            &nsr.id,
            "terminate",
            &json!({"autoremove": true}),
            &nsr.owners,
        )
        .await?;
        return Ok(Reply::with_status(
            StatusCode::ACCEPTED,
            json!({"_id": op, "nsName": nsr.body["name"]}),
        )
        .location(format!("/osm/nslcm/v1/ns_lcm_op_occs/{op}")));
    }
    let ops: Vec<String> = s
        .deps
        .records
        .list_records(NSLCMOPS, &ProjectScope::All)
        .await?
        .into_iter()
        .filter(|o| o.body["nsInstanceId"].as_str() == Some(nsr.id.as_str()))
        .map(|o| o.id)
        .collect();
    let vnfrs: Vec<String> = nsr.body["constituent-vnfr-ref"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect();
    let mut keys: Vec<(&str, &str)> = ops.iter().map(|o| (NSLCMOPS, o.as_str())).collect();
    keys.extend(vnfrs.iter().map(|v| (VNFRS, v.as_str())));
    keys.push((NSRS, nsr.id.as_str()));
    s.deps.records.delete_records(&keys, &[]).await?;
    let strings = |v: &Value| -> Vec<String> {
        match v {
            Value::String(s) => vec![s.clone()],
            Value::Array(a) => a
                .iter()
                .filter_map(|x| x.as_str().map(str::to_string))
                .collect(),
            _ => Vec::new(),
        }
    };
    netorch_lcm::usage::refresh_package_usage(
        &*s.deps.records,
        &strings(&nsr.body["nsd-id"]),
        &strings(&nsr.body["vnfd-id"]),
        s.deps.clock.now(),
    )
    .await?;
    tracing::info!(nsr = %nsr.id, "NS instance deleted");
    Ok(Reply::no_content())
}

/// Stores an operation occurrence and queues its job.
async fn start_op(
    s: &OsmState,
    me: &Session,
    nsr_id: &str,
    op_type: &str,
    params: &Value,
    owners: &Ownership,
) -> Result<String, OsmError> {
    let op = netorch_core::new_id();
    let r = new_op(&op, nsr_id, op_type, params, owners, s.deps.clock.now());
    s.deps.records.insert_record(NSLCMOPS, &r, &[]).await?;
    enqueue(s, &op, &me.project_id).await?;
    tracing::info!(nsr = %nsr_id, nslcmop = %op, kind = op_type, "NS operation queued");
    Ok(op)
}

fn op_accepted(op: &str, name: &Value) -> Reply {
    Reply::with_status(StatusCode::ACCEPTED, json!({"id": op, "nsName": name}))
        .location(format!("/osm/nslcm/v1/ns_lcm_op_occs/{op}"))
}

/// Instantiate an NS instance.
#[utoipa::path(post, path = "/osm/nslcm/v1/ns_instances/{ns_instance_id}/instantiate", tag = "osm", operation_id = "instantiate_ns_instance",
    security(("bearerAuth" = [])), params(("ns_instance_id" = String, Path, description = "NS instance id")),
    request_body(content = Object, description = "OSM ns_instantiate; keys given override those of the creation", content_type = "application/json"),
    responses((status = 202, description = "{id: <nslcmop>, nsName}; Location of the operation"),
        (status = 409, description = "Already instantiated, or an operation in progress", body = OsmErrorBody),
        (status = 422, description = "Invalid parameters", body = OsmErrorBody)))]
async fn instantiate(
    State(s): State<OsmState>,
    Authenticated(me): Authenticated,
    q: OsmQuery,
    OsmId(id): OsmId,
    OsmValue(body): OsmValue,
) -> Result<Reply, OsmError> {
    me.authorize("ns_instances:id:instantiate:post", "post", &q.admin)?;
    let body = if body.is_null() { json!({}) } else { body };
    check_params(&body, &[])?;
    let nsr = load_nsr(&s, &me, &q, &id, true).await?;
    refuse_if_busy(&s, &nsr.id).await?;
    if instantiated(&nsr.body) && !q.admin.force {
        return Err(OsmError::conflict(format!(
            "ns_instance '{id}' cannot be 'instantiate' because it is already instantiated"
        )));
    }
    let mut params = nsr.body["instantiate_params"].clone();
    if let (Some(p), Some(b)) = (params.as_object_mut(), body.as_object()) {
        for (k, v) in b {
            p.insert(k.clone(), v.clone());
        }
    }
    // The stored NSD and catalogue may have changed since the creation: resolve again, and move
    // the VNFRs to the VIMs the instantiation names.
    let resolved = resolve(&s, &me, &q, &params).await?;
    for m in &resolved.members {
        let vnfr = netorch_lcm::documents::vnfr_id(&nsr.id, &m.index);
        if let Some(mut r) = s
            .deps
            .records
            .get_record(VNFRS, &vnfr, &ProjectScope::All, true)
            .await?
            && r.body["vim-account-id"].as_str() != Some(m.vim_account_id.as_str())
        {
            r.body["vim-account-id"] = json!(m.vim_account_id);
            r.touch(s.deps.clock.now());
            s.deps.records.update_record(VNFRS, &r, &[]).await?;
        }
    }
    let mut r = nsr.clone();
    r.body["instantiate_params"] = params.clone();
    r.body["datacenter"] = params["vimAccountId"].clone();
    r.touch(s.deps.clock.now());
    s.deps.records.update_record(NSRS, &r, &[]).await?;
    let op = start_op(&s, &me, &nsr.id, "instantiate", &params, &nsr.owners).await?;
    Ok(op_accepted(&op, &nsr.body["name"]))
}

/// Terminate an NS instance.
#[utoipa::path(post, path = "/osm/nslcm/v1/ns_instances/{ns_instance_id}/terminate", tag = "osm", operation_id = "terminate_ns_instance",
    security(("bearerAuth" = [])), params(("ns_instance_id" = String, Path, description = "NS instance id")),
    request_body(content = Object, description = "{autoremove?, timeout_ns_terminate?, skip_terminate_primitives?}", content_type = "application/json"),
    responses((status = 202, description = "{id: <nslcmop>, nsName}; Location of the operation"),
        (status = 409, description = "Not instantiated, or an operation in progress", body = OsmErrorBody)))]
async fn terminate(
    State(s): State<OsmState>,
    Authenticated(me): Authenticated,
    q: OsmQuery,
    OsmId(id): OsmId,
    OsmValue(body): OsmValue,
) -> Result<Reply, OsmError> {
    me.authorize("ns_instances:id:terminate:post", "post", &q.admin)?;
    let body = if body.is_null() { json!({}) } else { body };
    let Some(obj) = body.as_object() else {
        return Err(OsmError::format_error("", "is not of type 'object'"));
    };
    const KEYS: [&str; 5] = [
        "autoremove",
        "timeout_ns_terminate",
        "skip_terminate_primitives",
        "lcmOperationType",
        "nsInstanceId",
    ];
    if let Some(k) = obj.keys().find(|k| !KEYS.contains(&k.as_str())) {
        return Err(OsmError::format_error(
            "",
            &format!("Additional properties are not allowed ('{k}' was unexpected)"),
        ));
    }
    if obj.get("autoremove").is_some_and(|v| !v.is_boolean()) {
        return Err(OsmError::format_error(
            "autoremove",
            "is not of type 'boolean'",
        ));
    }
    let nsr = load_nsr(&s, &me, &q, &id, true).await?;
    refuse_if_busy(&s, &nsr.id).await?;
    if !instantiated(&nsr.body) {
        return Err(OsmError::conflict(format!(
            "ns_instance '{id}' cannot be 'terminate' because it is not instantiated"
        )));
    }
    let op = start_op(&s, &me, &nsr.id, "terminate", &body, &nsr.owners).await?;
    Ok(op_accepted(&op, &nsr.body["name"]))
}
