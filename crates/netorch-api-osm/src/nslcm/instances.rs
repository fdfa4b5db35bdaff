//! `/ns_instances_content` and `/ns_instances`: create, instantiate, terminate, show, delete.

use axum::{extract::State, http::StatusCode};
use netorch_auth::Session;
use netorch_core::{
    events::NewEvent,
    tenancy::{Ownership, ProjectScope},
};
use netorch_http::osm::{Authenticated, OsmError, OsmErrorBody, OsmId, OsmQuery, OsmValue, Reply};
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
        .routes(routes!(scale))
        .routes(routes!(action))
        .routes(routes!(heal))
        .routes(routes!(update))
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
        .await?;
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
    admin: &Value,
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
    for (k, v) in admin.as_object().into_iter().flatten() {
        records[0].1.body["_admin"][k.as_str()] = v.clone();
    }
    let op = with_op.then(netorch_core::new_id);
    if let Some(op) = &op {
        let mut r = new_op(op, &id, "instantiate", params, &owners, now);
        if let Some(p) = &resolved.placement {
            r.body["_admin"]["placement"] = p.clone();
        }
        records.push((NSLCMOPS, r));
    }
    let refs: Vec<(&str, &netorch_core::tenancy::Record)> =
        records.iter().map(|(c, r)| (*c, r)).collect();
    // OSM's NBI hand-off on topic `ns`: `created` with the NSR (without `_admin`), then the
    // operation under its type as key, committed with the records.
    let mut events = vec![NewEvent::new(
        "ns",
        "created",
        without_admin(&records[0].1.body),
    )];
    if let Some((_, op_record)) = records.iter().find(|(c, _)| *c == NSLCMOPS) {
        events.push(NewEvent::new(
            "ns",
            "instantiate",
            without_admin(&op_record.body),
        ));
    }
    s.deps
        .records
        .insert_records(&refs, &events)
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
    // The NS and its operation are committed: what follows must not turn that success into an
    // error for the client (whose retry would then meet "already exists"). A job that cannot
    // be queued now (the database away for a moment) is queued by the reconcile sweep, which
    // resumes every PROCESSING operation without one; package usage is refreshed again by the
    // next NS change.
    if let Some(op) = &op {
        match enqueue(s, op, &me.project_id).await {
            Ok(()) => tracing::info!(nsr = %id, nslcmop = %op, "NS created; instantiation queued"),
            Err(e) => tracing::warn!(nsr = %id, nslcmop = %op, error = ?e,
                "NS created; its job could not be queued now, the reconcile sweep will queue it"),
        }
    }
    let vnfds: Vec<String> = resolved
        .members
        .iter()
        .map(|m| m.vnfd_record_id.clone())
        .collect();
    if let Err(e) = netorch_lcm::usage::refresh_package_usage(
        &*s.deps.records,
        std::slice::from_ref(&resolved.nsd.id),
        &vnfds,
        now,
    )
    .await
    {
        tracing::warn!(nsr = %id, error = %e, "NS created; package usage not refreshed");
    }
    Ok((id, op))
}

/// Creates an NS and queues its instantiation (a netslice subnet): `(nsr id, nslcmop id)`.
/// `admin` is merged into the NSR's `_admin` before it is stored (the slice's marks), so the
/// operation never sees the NS without them.
pub(super) async fn create_ns(
    s: &OsmState,
    me: &Session,
    q: &OsmQuery,
    params: &Value,
    admin: &Value,
) -> Result<(String, String), OsmError> {
    let (id, op) = create_records(s, me, q, params, true, admin).await?;
    Ok((id, op.unwrap_or_default()))
}

/// Queues the termination (with autoremove) of an NS a slice no longer uses.
pub(super) async fn terminate_ns(
    s: &OsmState,
    me: &Session,
    nsr: &netorch_core::tenancy::Record,
) -> Result<String, OsmError> {
    if !instantiated(&nsr.body) {
        // Never deployed (its instantiation failed): it goes at once.
        remove_records(s, nsr).await?;
        return Ok(String::new());
    }
    start_op(
        s,
        me,
        &nsr.id,
        "terminate",
        &json!({"autoremove": true}),
        &nsr.owners,
    )
    .await
}

/// An NS that a slice instance uses is terminated through the slice (as OSM).
fn refuse_if_sliced(nsr: &netorch_core::tenancy::Record, force: bool) -> Result<(), OsmError> {
    let slices = netorch_lcm::documents::strings(&nsr.body["_admin"]["netslice-instances"]);
    if !slices.is_empty() && !force {
        return Err(OsmError::conflict(format!(
            "ns_instance '{}' belongs to netslice instance(s) {}; terminate the slice instead",
            nsr.id,
            slices.join(", ")
        )));
    }
    Ok(())
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
    let (id, op) = create_records(&s, &me, &q, &body, true, &Value::Null).await?;
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
    let (id, _) = create_records(&s, &me, &q, &body, false, &Value::Null).await?;
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

fn without_admin(v: &Value) -> Value {
    let mut v = v.clone();
    if let Some(m) = v.as_object_mut() {
        m.remove("_admin");
    }
    v
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
    refuse_if_sliced(&nsr, q.admin.force)?;
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
    remove_records(s, &nsr).await?;
    Ok(Reply::no_content())
}

/// Deletes a NOT_INSTANTIATED NS with its VNFRs and operations in one transaction.
async fn remove_records(s: &OsmState, nsr: &netorch_core::tenancy::Record) -> Result<(), OsmError> {
    let ops: Vec<String> = s
        .deps
        .records
        .find_records(NSLCMOPS, "nsInstanceId", &nsr.id)
        .await?
        .into_iter()
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
    let event = NewEvent::new("ns", "deleted", json!({"_id": nsr.id}));
    s.deps.records.delete_records(&keys, &[event]).await?;
    let strings = netorch_lcm::documents::strings;
    netorch_lcm::usage::refresh_package_usage(
        &*s.deps.records,
        &strings(&nsr.body["nsd-id"]),
        &strings(&nsr.body["vnfd-id"]),
        s.deps.clock.now(),
    )
    .await?;
    tracing::info!(nsr = %nsr.id, "NS instance deleted");
    Ok(())
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
    start_op_with(s, me, nsr_id, op_type, params, owners, None).await
}

/// `start_op` with what the engine needs besides the request (a plan, the placement), stored
/// under the operation's `_admin`.
async fn start_op_with(
    s: &OsmState,
    me: &Session,
    nsr_id: &str,
    op_type: &str,
    params: &Value,
    owners: &Ownership,
    admin: Option<(&str, Value)>,
) -> Result<String, OsmError> {
    let op = netorch_core::new_id();
    let mut r = new_op(&op, nsr_id, op_type, params, owners, s.deps.clock.now());
    if let Some((key, value)) = admin {
        r.body["_admin"][key] = value;
    }
    let event = NewEvent::new("ns", op_type, without_admin(&r.body));
    s.deps.records.insert_record(NSLCMOPS, &r, &[event]).await?;
    // Committed: as for a new NS, a job that cannot be queued now is queued by the reconcile.
    match enqueue(s, &op, &me.project_id).await {
        Ok(()) => {
            tracing::info!(nsr = %nsr_id, nslcmop = %op, kind = op_type, "NS operation queued")
        }
        Err(e) => tracing::warn!(nsr = %nsr_id, nslcmop = %op, error = ?e,
            "NS operation stored; its job could not be queued now, the reconcile sweep will queue it"),
    }
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
    let placement = resolved.placement.map(|p| ("placement", p));
    let op = start_op_with(
        &s,
        &me,
        &nsr.id,
        "instantiate",
        &params,
        &nsr.owners,
        placement,
    )
    .await?;
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
    refuse_if_sliced(&nsr, q.admin.force)?;
    if !instantiated(&nsr.body) {
        return Err(OsmError::conflict(format!(
            "ns_instance '{id}' cannot be 'terminate' because it is not instantiated"
        )));
    }
    let op = start_op(&s, &me, &nsr.id, "terminate", &body, &nsr.owners).await?;
    Ok(op_accepted(&op, &nsr.body["name"]))
}

/// Scale a VNF of an NS instance out or in by one step of one of its scaling groups.
#[utoipa::path(post, path = "/osm/nslcm/v1/ns_instances/{ns_instance_id}/scale", tag = "osm", operation_id = "scale_ns_instance",
    security(("bearerAuth" = [])), params(("ns_instance_id" = String, Path, description = "NS instance id")),
    request_body(content = Object, description = "{scaleType: SCALE_VNF, scaleVnfData: {scaleVnfType: SCALE_OUT | SCALE_IN, scaleByStepData: {scaling-group-descriptor, member-vnf-index}}}", content_type = "application/json"),
    responses((status = 202, description = "{id: <nslcmop>, nsName}; Location of the operation"),
        (status = 400, description = "Unknown member-vnf-index", body = OsmErrorBody),
        (status = 409, description = "Not instantiated, an operation in progress, or the VIM is full", body = OsmErrorBody),
        (status = 422, description = "Invalid request, unknown scaling group, or beyond the VNFD's limits", body = OsmErrorBody)))]
async fn scale(
    State(s): State<OsmState>,
    Authenticated(me): Authenticated,
    q: OsmQuery,
    OsmId(id): OsmId,
    OsmValue(body): OsmValue,
) -> Result<Reply, OsmError> {
    me.authorize("ns_instances:id:scale:post", "post", &q.admin)?;
    if body["scaleType"] != json!("SCALE_VNF") {
        return Err(OsmError::format_error(
            "scaleType",
            &format!("{} is not one of ['SCALE_VNF']", body["scaleType"]),
        ));
    }
    let data = &body["scaleVnfData"];
    let out = match data["scaleVnfType"].as_str() {
        Some("SCALE_OUT") => true,
        Some("SCALE_IN") => false,
        _ => {
            return Err(OsmError::format_error(
                "scaleVnfData:scaleVnfType",
                &format!(
                    "{} is not one of ['SCALE_OUT', 'SCALE_IN']",
                    data["scaleVnfType"]
                ),
            ));
        }
    };
    let step = &data["scaleByStepData"];
    let (Some(group_name), Some(member)) = (
        step["scaling-group-descriptor"].as_str(),
        step["member-vnf-index"].as_str(),
    ) else {
        return Err(OsmError::format_error(
            "scaleVnfData:scaleByStepData",
            "'scaling-group-descriptor' and 'member-vnf-index' are required strings",
        ));
    };
    let nsr = load_nsr(&s, &me, &q, &id, true).await?;
    refuse_if_busy(&s, &nsr.id).await?;
    if !instantiated(&nsr.body) || nsr.body["nsState"] != json!("READY") {
        return Err(OsmError::conflict(format!(
            "ns_instance '{id}' cannot be 'scale' because it is not instantiated and READY (nsState {})",
            nsr.body["nsState"]
        )));
    }
    let vnfr_id = netorch_lcm::documents::vnfr_id(&nsr.id, member);
    let vnfr = s
        .deps
        .records
        .get_record(VNFRS, &vnfr_id, &ProjectScope::All, false)
        .await?
        .ok_or_else(|| {
            OsmError::bad_request(format!(
                "Invalid member-vnf-index='{member}' not present at the NS instance"
            ))
        })?;
    let vnfd_id = vnfr.body["vnfd-id"].as_str().unwrap_or_default();
    let vnfd = s
        .deps
        .records
        .get_record("vnfds", vnfd_id, &ProjectScope::All, false)
        .await?
        .ok_or_else(|| {
            OsmError::conflict(format!(
                "vnfd '{vnfd_id}' of member '{member}' is no longer in the catalogue"
            ))
        })?;
    let group = netorch_lcm::model::scaling_group(&vnfd.body, group_name).ok_or_else(|| {
        OsmError::unprocessable(format!(
            "scaling-group-descriptor '{group_name}' is not defined in vnfd '{}'",
            vnfd.body["id"].as_str().unwrap_or(vnfd_id)
        ))
    })?;
    let model = netorch_lcm::model::vnf_model(&vnfd.body);
    let steps = nsr.body["_admin"]["scaling-group"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|g| g["name"].as_str() == Some(group_name) && g["vnf_index"].as_str() == Some(member))
        .and_then(|g| g["nb-scale-op"].as_u64())
        .unwrap_or(0);
    let vdur: Vec<&Value> = vnfr.body["vdur"].as_array().into_iter().flatten().collect();
    let mut add = Vec::new();
    let mut remove = Vec::new();
    if out {
        if let Some(max) = group.max_steps
            && steps >= u64::from(max)
        {
            return Err(OsmError::unprocessable(format!(
                "SCALE_OUT of '{group_name}' on member '{member}': already at its maximum scale level {max}"
            )));
        }
    } else if steps == 0 {
        return Err(OsmError::unprocessable(format!(
            "SCALE_IN of '{group_name}' on member '{member}': the VNF is at its instantiation level"
        )));
    }
    let mut need = netorch_core::cloud::Demand::default();
    for (vdu_id, n) in &group.deltas {
        let vdu = model.vdus.iter().find(|v| &v.id == vdu_id).ok_or_else(|| {
            OsmError::unprocessable(format!(
                "scaling group '{group_name}' names unknown VDU '{vdu_id}'"
            ))
        })?;
        if vdu.pdu_type.is_some() {
            return Err(OsmError::unprocessable(format!(
                "scaling group '{group_name}' names VDU '{vdu_id}', a PDU: physical units do not scale"
            )));
        }
        let mine: Vec<&&Value> = vdur
            .iter()
            .filter(|d| d["vdu-id-ref"].as_str() == Some(vdu_id.as_str()))
            .collect();
        let current = mine.len() as u32;
        if out {
            if current + n > vdu.max {
                return Err(OsmError::unprocessable(format!(
                    "SCALE_OUT of '{group_name}' would make {} instances of VDU '{vdu_id}'; vnfd '{}' allows at most {}",
                    current + n,
                    vnfd.body["id"].as_str().unwrap_or(vnfd_id),
                    vdu.max
                )));
            }
            let next = mine
                .iter()
                .filter_map(|d| d["count-index"].as_u64())
                .max()
                .map_or(0, |m| m + 1);
            for i in 0..u64::from(*n) {
                let index = next + i;
                let name = nsr.body["name"].as_str().unwrap_or_default();
                add.push(netorch_lcm::documents::vdur_entry(
                    &vnfr_id, name, member, vdu, index,
                ));
                need.vcpus += vdu.demand.vcpus;
                need.ram_mb += vdu.demand.ram_mb;
                need.disk_gb += vdu.demand.disk_gb;
            }
        } else {
            if current < vdu.min + n {
                return Err(OsmError::unprocessable(format!(
                    "SCALE_IN of '{group_name}' would leave {} instances of VDU '{vdu_id}'; vnfd '{}' needs at least {}",
                    current.saturating_sub(*n),
                    vnfd.body["id"].as_str().unwrap_or(vnfd_id),
                    vdu.min
                )));
            }
            let mut sorted = mine.clone();
            sorted.sort_by_key(|d| std::cmp::Reverse(d["count-index"].as_u64().unwrap_or(0)));
            for d in sorted.into_iter().take(*n as usize) {
                remove.push(
                    json!({"_id": d["_id"], "vdu-id-ref": vdu_id, "count-index": d["count-index"]}),
                );
            }
        }
    }
    if out {
        let vim_id = vnfr.body["vim-account-id"].as_str().unwrap_or_default();
        let scope = ProjectScope::All;
        let vim = s
            .deps
            .records
            .get_record("vim_accounts", vim_id, &scope, false)
            .await?;
        if let Some(vim) = vim {
            let target = netorch_core::cloud::VimTarget {
                account_id: vim.id.clone(),
                name: vim.body["name"].as_str().unwrap_or(vim_id).to_string(),
                vim_type: vim.body["vim_type"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                config: vim.body["config"].clone(),
            };
            if let Ok((total, used)) = s.deps.cloud.usage(&target).await {
                let short = [
                    ("vCPU", need.vcpus, total.vcpus.saturating_sub(used.vcpus)),
                    (
                        "MB of RAM",
                        need.ram_mb,
                        total.ram_mb.saturating_sub(used.ram_mb),
                    ),
                    (
                        "GB of disk",
                        need.disk_gb,
                        total.disk_gb.saturating_sub(used.disk_gb),
                    ),
                    (
                        "instances",
                        add.len() as u64,
                        total.instances.saturating_sub(used.instances),
                    ),
                ]
                .into_iter()
                .find(|(_, n, free)| n > free);
                if let Some((what, n, free)) = short {
                    return Err(OsmError::conflict(format!(
                        "VIM account '{}' cannot host the scale-out: it needs {n} {what}, {free} free",
                        target.name
                    )));
                }
            }
        }
    }
    let plan = json!({
        "vnfr": vnfr_id, "member": member, "group": group_name,
        "type": if out { "SCALE_OUT" } else { "SCALE_IN" },
        "steps": if out { steps + 1 } else { steps - 1 },
        "add": add, "remove": remove,
    });
    let op = start_op_with(
        &s,
        &me,
        &nsr.id,
        "scale",
        &body,
        &nsr.owners,
        Some(("scale-plan", plan)),
    )
    .await?;
    Ok(op_accepted(&op, &nsr.body["name"]))
}

/// Run a day-2 configuration primitive on a VNF (or one of its VDUs) of an NS instance.
#[utoipa::path(post, path = "/osm/nslcm/v1/ns_instances/{ns_instance_id}/action", tag = "osm", operation_id = "action_ns_instance",
    security(("bearerAuth" = [])), params(("ns_instance_id" = String, Path, description = "NS instance id")),
    request_body(content = Object, description = "{member_vnf_index, vdu_id?, vdu_count_index?, primitive, primitive_params}", content_type = "application/json"),
    responses((status = 202, description = "{id: <nslcmop>, nsName}; the primitive's output becomes the operation's detailed-status"),
        (status = 400, description = "Unknown member-vnf-index", body = OsmErrorBody),
        (status = 409, description = "Not READY, or an operation in progress", body = OsmErrorBody),
        (status = 422, description = "Unknown primitive, missing parameter, no primitive endpoint", body = OsmErrorBody)))]
async fn action(
    State(s): State<OsmState>,
    Authenticated(me): Authenticated,
    q: OsmQuery,
    OsmId(id): OsmId,
    OsmValue(body): OsmValue,
) -> Result<Reply, OsmError> {
    me.authorize("ns_instances:id:action:post", "post", &q.admin)?;
    let (op, name) = queue_action(&s, &me, &q, &id, &body).await?;
    Ok(op_accepted(&op, &name))
}

/// Validates a day-2 primitive request on NS `id` and queues it: `(nslcmop id, nsName)`.
pub(super) async fn queue_action(
    s: &OsmState,
    me: &Session,
    q: &OsmQuery,
    id: &str,
    body: &Value,
) -> Result<(String, Value), OsmError> {
    let Some(obj) = body.as_object() else {
        return Err(OsmError::format_error("", "is not of type 'object'"));
    };
    const KEYS: [&str; 9] = [
        "member_vnf_index",
        "vdu_id",
        "vdu_count_index",
        "kdu_name",
        "primitive",
        "primitive_params",
        "timeout_ns_action",
        "lcmOperationType",
        "nsInstanceId",
    ];
    if let Some(k) = obj.keys().find(|k| !KEYS.contains(&k.as_str())) {
        return Err(OsmError::format_error(
            "",
            &format!("Additional properties are not allowed ('{k}' was unexpected)"),
        ));
    }
    let Some(primitive) = body["primitive"].as_str() else {
        return Err(OsmError::format_error(
            "",
            "'primitive' is a required property",
        ));
    };
    if !body["primitive_params"].is_object() {
        return Err(OsmError::format_error(
            "primitive_params",
            "'primitive_params' is a required property of type 'object'",
        ));
    }
    if body.get("kdu_name").is_some() {
        return Err(OsmError::unprocessable(
            "KDU primitives are not supported: this server deploys no KDUs",
        ));
    }
    let nsr = load_nsr(s, me, q, id, true).await?;
    refuse_if_busy(s, &nsr.id).await?;
    if nsr.body["nsState"] != json!("READY") {
        return Err(OsmError::conflict(format!(
            "ns_instance '{id}' cannot be 'action' because it is not READY (nsState {})",
            nsr.body["nsState"]
        )));
    }
    let member = match &body["member_vnf_index"] {
        Value::String(m) => m.clone(),
        Value::Number(n) => n.to_string(),
        _ => {
            return Err(OsmError::unprocessable(
                "member_vnf_index is required: NS-level primitives are not supported",
            ));
        }
    };
    let vnfr_id = netorch_lcm::documents::vnfr_id(&nsr.id, &member);
    let vnfr = s
        .deps
        .records
        .get_record(VNFRS, &vnfr_id, &ProjectScope::All, false)
        .await?
        .ok_or_else(|| {
            OsmError::bad_request(format!(
                "Invalid member_vnf_index='{member}' not present at the NS instance"
            ))
        })?;
    let vnfd_id = vnfr.body["vnfd-id"].as_str().unwrap_or_default();
    let vnfd = s
        .deps
        .records
        .get_record("vnfds", vnfd_id, &ProjectScope::All, false)
        .await?
        .ok_or_else(|| {
            OsmError::conflict(format!("vnfd '{vnfd_id}' is no longer in the catalogue"))
        })?;
    let vdu_id = body["vdu_id"].as_str();
    let defs = netorch_lcm::model::config_primitives(&vnfd.body, vdu_id);
    let Some(def) = defs.iter().find(|d| d.name == primitive) else {
        let offered: Vec<&str> = defs.iter().map(|d| d.name.as_str()).collect();
        return Err(OsmError::unprocessable(format!(
            "primitive '{primitive}' is not defined for {} of member '{member}' (vnfd '{}' offers: {})",
            vdu_id.map_or("the VNF".to_string(), |v| format!("VDU '{v}'")),
            vnfd.body["id"].as_str().unwrap_or(vnfd_id),
            if offered.is_empty() {
                "none".to_string()
            } else {
                offered.join(", ")
            }
        )));
    };
    let mut params = body["primitive_params"].clone();
    for (name, default) in &def.params {
        if params.get(name).is_none() {
            match default {
                Some(d) => params[name.as_str()] = d.clone(),
                None => {
                    return Err(OsmError::unprocessable(format!(
                        "primitive '{primitive}' needs parameter '{name}' in primitive_params"
                    )));
                }
            }
        }
    }
    let Some(endpoint) = netorch_lcm::primitive_endpoint(&nsr.body["instantiate_params"], &member)
    else {
        return Err(OsmError::unprocessable(format!(
            "member '{member}' has no primitive endpoint: give additionalParamsForVnf[member-vnf-index={member}].additionalParams.primitive_endpoint when instantiating"
        )));
    };
    let count = body["vdu_count_index"].as_u64().unwrap_or(0);
    let ip = match vdu_id {
        Some(v) => vnfr.body["vdur"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|d| {
                d["vdu-id-ref"].as_str() == Some(v) && d["count-index"].as_u64() == Some(count)
            })
            .ok_or_else(|| {
                OsmError::unprocessable(format!(
                    "member '{member}' has no VDU '{v}' with count index {count}"
                ))
            })?["ip-address"]
            .clone(),
        None => vnfr.body["ip-address"].clone(),
    };
    let plan = json!({"endpoint": endpoint, "member": member, "vdu_id": vdu_id,
        "vdu_count_index": vdu_id.map(|_| count), "primitive": primitive, "params": params, "ip_address": ip});
    let op = start_op_with(
        s,
        me,
        &nsr.id,
        "action",
        body,
        &nsr.owners,
        Some(("action-plan", plan)),
    )
    .await?;
    Ok((op, nsr.body["name"].clone()))
}

/// Heal VNF instances of an NS: each listed VDU (all of the VNF's by default) gets its server back.
#[utoipa::path(post, path = "/osm/nslcm/v1/ns_instances/{ns_instance_id}/heal", tag = "osm", operation_id = "heal_ns_instance",
    security(("bearerAuth" = [])), params(("ns_instance_id" = String, Path, description = "NS instance id")),
    request_body(content = Object, description = "{healVnfData: [{vnfInstanceId, cause?, additionalParams?: {vdu?: [{vdu-id, count-index?}]}}]}", content_type = "application/json"),
    responses((status = 202, description = "{id: <nslcmop>, nsName}"),
        (status = 409, description = "Not instantiated, or an operation in progress", body = OsmErrorBody),
        (status = 422, description = "Invalid request or unknown VNF instance / VDU", body = OsmErrorBody)))]
async fn heal(
    State(s): State<OsmState>,
    Authenticated(me): Authenticated,
    q: OsmQuery,
    OsmId(id): OsmId,
    OsmValue(body): OsmValue,
) -> Result<Reply, OsmError> {
    me.authorize("ns_instances:id:heal:post", "post", &q.admin)?;
    let Some(items) = body["healVnfData"].as_array().filter(|a| !a.is_empty()) else {
        return Err(OsmError::format_error(
            "healVnfData",
            "is a required non-empty array",
        ));
    };
    let nsr = load_nsr(&s, &me, &q, &id, true).await?;
    refuse_if_busy(&s, &nsr.id).await?;
    if !instantiated(&nsr.body) {
        return Err(OsmError::conflict(format!(
            "ns_instance '{id}' cannot be 'heal' because it is not instantiated"
        )));
    }
    let mut plan = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let Some(vnf) = item["vnfInstanceId"].as_str() else {
            return Err(OsmError::format_error(
                &format!("healVnfData:{i}:vnfInstanceId"),
                "is a required string",
            ));
        };
        let vnfr = s
            .deps
            .records
            .get_record(VNFRS, vnf, &ProjectScope::All, false)
            .await?
            .filter(|v| v.body["nsr-id-ref"].as_str() == Some(nsr.id.as_str()))
            .ok_or_else(|| {
                OsmError::unprocessable(format!(
                    "VNF instance '{vnf}' is not part of ns_instance '{id}'"
                ))
            })?;
        let mut vdur = Vec::new();
        for (j, v) in item["additionalParams"]["vdu"]
            .as_array()
            .into_iter()
            .flatten()
            .enumerate()
        {
            let vdu = v["vdu-id"].as_str().unwrap_or_default();
            let count = v["count-index"].as_u64().unwrap_or(0);
            let found = vnfr.body["vdur"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|d| d["vdu-id-ref"].as_str() == Some(vdu) && d["count-index"].as_u64() == Some(count))
                .ok_or_else(|| {
                    OsmError::unprocessable(format!(
                        "healVnfData:{i}:additionalParams:vdu:{j}: VNF instance '{vnf}' has no VDU '{vdu}' with count-index {count}"
                    ))
                })?;
            vdur.push(found["_id"].clone());
        }
        plan.push(json!({"vnfr": vnf, "vdur": vdur}));
    }
    let op = start_op_with(
        &s,
        &me,
        &nsr.id,
        "heal",
        &body,
        &nsr.owners,
        Some(("heal-plan", json!(plan))),
    )
    .await?;
    Ok(op_accepted(&op, &nsr.body["name"]))
}

/// Update an NS instance. The simulated cloud cannot change a running VNF's package, flavour or
/// power state, so every update type is refused with the reason (422), after validation.
#[utoipa::path(post, path = "/osm/nslcm/v1/ns_instances/{ns_instance_id}/update", tag = "osm", operation_id = "update_ns_instance",
    security(("bearerAuth" = [])), params(("ns_instance_id" = String, Path, description = "NS instance id")),
    request_body(content = Object, description = "{updateType: CHANGE_VNFPKG | REMOVE_VNF | MODIFY_VNF_INFORMATION | OPERATE_VNF | VERTICAL_SCALE, ...}", content_type = "application/json"),
    responses((status = 404, description = "Not found", body = OsmErrorBody),
        (status = 422, description = "Invalid, or not supported by the connector (with the reason)", body = OsmErrorBody)))]
async fn update(
    State(s): State<OsmState>,
    Authenticated(me): Authenticated,
    q: OsmQuery,
    OsmId(id): OsmId,
    OsmValue(body): OsmValue,
) -> Result<Reply, OsmError> {
    me.authorize("ns_instances:id:update:post", "post", &q.admin)?;
    const TYPES: [&str; 5] = [
        "CHANGE_VNFPKG",
        "REMOVE_VNF",
        "MODIFY_VNF_INFORMATION",
        "OPERATE_VNF",
        "VERTICAL_SCALE",
    ];
    let kind = body["updateType"].as_str().unwrap_or_default();
    if !TYPES.contains(&kind) {
        return Err(OsmError::format_error(
            "updateType",
            &format!("{} is not one of {TYPES:?}", body["updateType"]),
        ));
    }
    let nsr = load_nsr(&s, &me, &q, &id, true).await?;
    Err(OsmError::unprocessable(format!(
        "updateType {kind} is not supported for ns_instance '{}': the VIMs this server deploys to (dummy) cannot change a running VNF's package, flavour or power state; terminate and instantiate again, or scale",
        nsr.id
    )))
}
