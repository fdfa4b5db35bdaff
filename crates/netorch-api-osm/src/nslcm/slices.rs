//! `/osm/nsilcm/v1`: network slice instances. One NS instance per netslice subnet of the slice
//! template, through the NS lifecycle; a subnet marked `is-shared-nss` reuses the NS instance
//! another slice instance made for it, and terminating a slice removes a shared NS instance only
//! when its last slice goes. A slice operation (`nsilcmops`) is a durable job that waits for the
//! NS operations it started.

use std::time::Duration;

use async_trait::async_trait;
use axum::{extract::State, http::StatusCode};
use netorch_auth::{Session, service::Access};
use netorch_core::{
    clock::micros_to_secs,
    jobs::NewJob,
    tenancy::{Ownership, ProjectScope, Record},
};
use netorch_http::osm::{Authenticated, OsmError, OsmErrorBody, OsmId, OsmQuery, OsmValue, Reply};
use netorch_lcm::documents::{NSLCMOPS, NSRS};
use netorch_scheduler::{JobContext, JobError, JobHandler};
use serde_json::{Value, json};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{check_params, instances};
use crate::{Deps, OsmState, render::record_json};

const NSIS: &str = "nsis";
const NSILCMOPS: &str = "nsilcmops";
const CONTENT: &str = "/osm/nsilcm/v1/netslice_instances_content";
const SOL: &str = "/osm/nsilcm/v1/netslice_instances";
/// Job kind of slice operations.
pub const NSI_JOB: &str = "osm.nsilcm.operation";

pub(super) fn register(r: OpenApiRouter<OsmState>) -> OpenApiRouter<OsmState> {
    r.routes(routes!(list_content, create_content))
        .routes(routes!(show_content, delete_content))
        .routes(routes!(list, create))
        .routes(routes!(show, delete))
        .routes(routes!(instantiate))
        .routes(routes!(terminate))
        .routes(routes!(action))
        .routes(routes!(list_ops))
        .routes(routes!(show_op))
}

const NSI_KEYS: [&str; 11] = [
    "nsiName",
    "nsiDescription",
    "nstId",
    "vimAccountId",
    "ssh_keys",
    "timeout_nsi_deploy",
    "additionalParamsForNsi",
    "netslice-subnet",
    "netslice-vld",
    "lcmOperationType",
    "netsliceInstanceId",
];

fn check_nsi_params(body: &Value) -> Result<(), OsmError> {
    let Some(obj) = body.as_object() else {
        return Err(OsmError::format_error("", "is not of type 'object'"));
    };
    if let Some(k) = obj.keys().find(|k| !NSI_KEYS.contains(&k.as_str())) {
        return Err(OsmError::format_error(
            "",
            &format!("Additional properties are not allowed ('{k}' was unexpected)"),
        ));
    }
    for k in ["nsiName", "nstId", "vimAccountId"] {
        if obj
            .get(k)
            .is_none_or(|v| v.as_str().is_none_or(str::is_empty))
        {
            return Err(OsmError::format_error(
                "",
                &format!("'{k}' is a required property"),
            ));
        }
    }
    Ok(())
}

/// The NS parameters of one subnet: the slice's VIM and name, the subnet's own keys on top.
fn subnet_params(nsi: &Value, subnet: &str, nsd_record: &str) -> Result<Value, OsmError> {
    let mut p = json!({
        "nsName": format!("{}.{subnet}", nsi["nsiName"].as_str().unwrap_or_default()),
        "nsdId": nsd_record,
        "vimAccountId": nsi["vimAccountId"],
    });
    if let Some(keys) = nsi["ssh_keys"].as_array() {
        p["ssh_keys"] = json!(keys);
    }
    if let Some(own) = nsi["netslice-subnet"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|s| s["id"].as_str() == Some(subnet))
        .and_then(Value::as_object)
    {
        for (k, v) in own {
            if k != "id" {
                p[k.as_str()] = v.clone();
            }
        }
    }
    check_params(&p, &["nsName", "nsdId", "vimAccountId"])?;
    Ok(p)
}

/// The name of a slice's own network for one of its `netslice-vld`s.
fn slice_network_name(nsi: &Value, vld: &str) -> String {
    format!("{}-{vld}", nsi["name"].as_str().unwrap_or_default())
}

/// The `vld` instantiation parameters that attach a subnet's NS to the slice's networks: for
/// each `netslice-vld` with an `nss-connection-point-ref` of this subnet, the NSD virtual link
/// behind the referenced connection point (SOL006 `sapd.virtual-link-desc`, OSM-IM
/// `connection-point.vld-id-ref`) gets `vim-network-name` = the slice's network.
fn slice_links(nsi: &Value, subnet: &str, nsd: &Value) -> Vec<Value> {
    let link_of = |cp: &str| -> Option<String> {
        let sapd = nsd["sapd"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|c| c["id"].as_str() == Some(cp))
            .and_then(|c| c["virtual-link-desc"].as_str());
        let legacy = || {
            nsd["connection-point"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|c| c["name"].as_str() == Some(cp) || c["id"].as_str() == Some(cp))
                .and_then(|c| c["vld-id-ref"].as_str())
        };
        // Some templates name the NSD's virtual link itself.
        let direct = || {
            items_with_id(&nsd["virtual-link-desc"], cp).or_else(|| items_with_id(&nsd["vld"], cp))
        };
        sapd.or_else(legacy).or_else(direct).map(str::to_string)
    };
    let mut out = Vec::new();
    for v in nsi["network-slice-template"]["netslice-vld"]
        .as_array()
        .into_iter()
        .flatten()
    {
        let Some(id) = v["id"].as_str() else { continue };
        for r in v["nss-connection-point-ref"]
            .as_array()
            .into_iter()
            .flatten()
        {
            if r["nss-ref"].as_str() != Some(subnet) {
                continue;
            }
            let Some(link) = r["nsd-connection-point-ref"].as_str().and_then(link_of) else {
                continue;
            };
            if !out.iter().any(|o: &Value| o["name"] == json!(link)) {
                out.push(json!({"name": link, "vim-network-name": slice_network_name(nsi, id)}));
            }
        }
    }
    out
}

/// `id` if a list of descriptor items has one with that id.
fn items_with_id<'a>(list: &'a Value, id: &str) -> Option<&'a str> {
    list.as_array()?
        .iter()
        .find_map(|i| i["id"].as_str().filter(|x| *x == id))
}

async fn enqueue(s: &OsmState, op: &str, project: &str) -> Result<(), OsmError> {
    let job = NewJob {
        kind: NSI_JOB.into(),
        project_id: Some(project.to_string()),
        payload: json!({"nsilcmop": op}),
        max_attempts: 8,
        run_at: 0,
        dedupe_key: Some(format!("nsilcmop:{op}")),
    };
    s.deps.jobs.enqueue(&job, s.deps.clock.now()).await?;
    s.deps.job_waker.notify_one();
    Ok(())
}

fn new_nsi_op(
    id: &str,
    nsi: &str,
    kind: &str,
    params: &Value,
    owners: &Ownership,
    now: i64,
    waits: &[Value],
) -> Record {
    let t = micros_to_secs(now);
    Record {
        id: id.to_string(),
        name: None,
        body: json!({
            "id": id, "operationState": "PROCESSING", "statusEnteredTime": t, "startTime": t,
            "netsliceInstanceId": nsi, "lcmOperationType": kind, "isAutomaticInvocation": false,
            "isCancelPending": false, "operationParams": params, "detailed-status": "",
            "links": {"self": format!("/osm/nsilcm/v1/nsi_lcm_op_occs/{id}"),
                      "netsliceInstanceId": format!("{SOL}/{nsi}")},
            "_admin": {"created": t, "modified": t, "waits-for": waits},
        }),
        owners: owners.clone(),
        created: now,
        modified: now,
        revision: 1,
    }
}

/// Stores a slice operation (with its `nsi` event) and queues its job.
async fn queue_nsi_op(
    s: &OsmState,
    me: &Session,
    nsi: &Record,
    kind: &str,
    params: &Value,
    waits: &[Value],
) -> Result<String, OsmError> {
    let op = netorch_core::new_id();
    let r = new_nsi_op(
        &op,
        &nsi.id,
        kind,
        params,
        &nsi.owners,
        s.deps.clock.now(),
        waits,
    );
    let event = netorch_core::events::NewEvent::new("nsi", kind, r.body.clone());
    s.deps
        .records
        .insert_record(NSILCMOPS, &r, &[event])
        .await?;
    enqueue(s, &op, &me.project_id).await?;
    Ok(op)
}

/// Read-modify-write of one record with optimistic concurrency (re-read and re-apply on a
/// conflict); `None` if the record is gone.
async fn modify_record(
    deps: &Deps,
    collection: &str,
    id: &str,
    mut f: impl FnMut(&mut Value),
) -> Result<Option<Value>, netorch_core::StoreError> {
    for _ in 0..8 {
        let Some(mut r) = deps
            .records
            .get_record(collection, id, &ProjectScope::All, true)
            .await?
        else {
            return Ok(None);
        };
        f(&mut r.body);
        r.touch(deps.clock.now());
        match deps.records.update_record(collection, &r, &[]).await {
            Ok(()) => return Ok(Some(r.body)),
            Err(netorch_core::StoreError::Conflict(_)) => continue,
            Err(e) => return Err(e),
        }
    }
    Err(netorch_core::StoreError::Conflict(format!(
        "{collection} '{id}' kept changing; retry"
    )))
}

/// Adds or removes a slice instance in an NSR's `_admin.netslice-instances`; the list after.
async fn mark_nsr(s: &OsmState, nsr: &str, nsi: &str, add: bool) -> Result<Vec<String>, OsmError> {
    let body = modify_record(&s.deps, NSRS, nsr, |b| {
        let mut list = netorch_lcm::documents::strings(&b["_admin"]["netslice-instances"]);
        list.retain(|x| x != nsi);
        if add {
            list.push(nsi.to_string());
        }
        b["_admin"]["netslice-instances"] = json!(list);
    })
    .await?;
    Ok(body
        .map(|b| netorch_lcm::documents::strings(&b["_admin"]["netslice-instances"]))
        .unwrap_or_default())
}

/// Instantiates a slice: an NS per subnet (shared subnets reused), then a slice operation that
/// waits for them.
async fn start_instantiate(
    s: &OsmState,
    me: &Session,
    q: &OsmQuery,
    nsi: &Record,
) -> Result<String, OsmError> {
    let params = &nsi.body["instantiation_parameters"];
    let scope = s
        .deps
        .identity
        .scope(me, "get", &q.admin, Access::Show)
        .await?;
    let nsds = s.deps.records.list_records("nsds", &scope).await?;
    let nsrs = s
        .deps
        .records
        .list_records(NSRS, &ProjectScope::All)
        .await?;
    let mut detailed = Vec::new();
    let mut waits = Vec::new();
    for sub in nsi.body["network-slice-template"]["netslice-subnet"]
        .as_array()
        .into_iter()
        .flatten()
    {
        let sid = sub["id"].as_str().unwrap_or_default();
        let nsd_ref = sub["nsd-ref"].as_str().unwrap_or_default();
        let shared = sub["is-shared-nss"].as_bool().unwrap_or(false);
        let shared_key = format!("{}/{sid}", nsi.body["nst-id"].as_str().unwrap_or_default());
        let reuse = shared
            .then(|| {
                nsrs.iter().find(|r| {
                    r.body["_admin"]["nsi-shared"].as_str() == Some(shared_key.as_str())
                        && !netorch_lcm::documents::strings(&r.body["_admin"]["netslice-instances"])
                            .is_empty()
                })
            })
            .flatten();
        if let Some(r) = reuse {
            mark_nsr(s, &r.id, &nsi.id, true).await?;
            detailed.push(json!({"nsrId": r.id, "nss-id": sid, "shared": true, "reused": true}));
            continue;
        }
        let nsd = nsds
            .iter()
            .find(|r| r.body["id"].as_str() == Some(nsd_ref))
            .ok_or_else(|| {
                OsmError::conflict(format!(
                    "netslice-subnet '{sid}': nsd '{nsd_ref}' is not in the catalogue"
                ))
            })?;
        let mut ns_params = subnet_params(params, sid, &nsd.id)?;
        let links = slice_links(&nsi.body, sid, &nsd.body);
        if !links.is_empty() {
            // The subnet's own `vld` parameters win over the slice's mapping.
            let mut vld: Vec<Value> = ns_params["vld"].as_array().cloned().unwrap_or_default();
            for l in links {
                if !vld.iter().any(|v| v["name"] == l["name"]) {
                    vld.push(l);
                }
            }
            ns_params["vld"] = json!(vld);
        }
        let mut admin = json!({"netslice-instances": [nsi.id]});
        if shared {
            admin["nsi-shared"] = json!(shared_key);
        }
        let (nsr, op) = instances::create_ns(s, me, q, &ns_params, &admin).await?;
        waits.push(json!(op));
        detailed.push(
            json!({"nsrId": nsr, "nss-id": sid, "shared": shared, "nslcmop_instantiate": op}),
        );
    }
    let mut r = nsi.clone();
    r.body["_admin"]["nsrs-detailed-list"] = json!(detailed);
    r.body["operational-status"] = json!("init");
    r.touch(s.deps.clock.now());
    s.deps.records.update_record(NSIS, &r, &[]).await?;
    queue_nsi_op(s, me, nsi, "instantiate", params, &waits).await
}

/// Terminates a slice: its NS instances go unless another slice still uses them.
async fn start_terminate(
    s: &OsmState,
    me: &Session,
    nsi: &Record,
    autoremove: bool,
) -> Result<String, OsmError> {
    let mut waits = Vec::new();
    for d in nsi.body["_admin"]["nsrs-detailed-list"]
        .as_array()
        .into_iter()
        .flatten()
    {
        let nsr = d["nsrId"].as_str().unwrap_or_default();
        let left = mark_nsr(s, nsr, &nsi.id, false).await?;
        if !left.is_empty() {
            continue;
        }
        let Some(r) = s
            .deps
            .records
            .get_record(NSRS, nsr, &ProjectScope::All, false)
            .await?
        else {
            continue;
        };
        if let Some(op) = super::running_op(s, nsr).await? {
            return Err(OsmError::conflict(format!(
                "ns_instance '{nsr}' of the slice has operation '{op}' in progress"
            )));
        }
        let op = instances::terminate_ns(s, me, &r).await?;
        waits.push(json!(op));
    }
    queue_nsi_op(
        s,
        me,
        nsi,
        "terminate",
        &json!({"autoremove": autoremove}),
        &waits,
    )
    .await
}

async fn create_nsi(
    s: &OsmState,
    me: &Session,
    q: &OsmQuery,
    body: &Value,
) -> Result<Record, OsmError> {
    check_nsi_params(body)?;
    let scope = s
        .deps
        .identity
        .scope(me, "get", &q.admin, Access::Show)
        .await?;
    let nst_id = body["nstId"].as_str().unwrap_or_default();
    let nst = s
        .deps
        .records
        .get_record("nsts", nst_id, &scope, false)
        .await?
        .ok_or_else(|| OsmError::not_found(format!("nst '{nst_id}' not found")))?;
    if nst.body["_admin"]["operationalState"] == json!("DISABLED") {
        return Err(OsmError::conflict(format!("nst '{nst_id}' is DISABLED")));
    }
    let subnets: Vec<String> = nst.body["netslice-subnet"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|x| x["id"].as_str().map(str::to_string))
        .collect();
    for (i, own) in body["netslice-subnet"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
    {
        let id = own["id"].as_str().unwrap_or_default();
        if !subnets.iter().any(|x| x == id) {
            return Err(OsmError::bad_request(format!(
                "netslice-subnet:{i}: '{id}' is not a netslice-subnet of nst '{nst_id}'"
            )));
        }
    }
    let now = s.deps.clock.now();
    let id = netorch_core::new_id();
    let name = body["nsiName"].as_str().unwrap_or_default();
    let mut nst_doc = nst.body.clone();
    if let Some(m) = nst_doc.as_object_mut() {
        m.remove("_admin");
    }
    let t = micros_to_secs(now);
    let doc = json!({
        "id": id, "name": name, "description": body["nsiDescription"].as_str().unwrap_or(name),
        "nst-ref": nst.body["id"], "nst-id": nst.id, "network-slice-template": nst_doc,
        "instantiation_parameters": body, "operational-status": "init", "config-status": "init",
        "detailed-status": "", "nsi-status": "NOT_INSTANTIATED",
        "_admin": {"created": t, "modified": t, "nsiState": "NOT_INSTANTIATED", "nsrs-detailed-list": [],
                   "netslice-subnet": nst.body["netslice-subnet"], "netslice-vld": nst.body["netslice-vld"]},
    });
    let owners = s.deps.identity.new_ownership(me, "post", &q.admin).await?;
    let r = Record {
        id,
        name: Some(name.to_string()),
        body: doc,
        owners,
        created: now,
        modified: now,
        revision: 1,
    };
    s.deps
        .records
        .insert_record(
            NSIS,
            &r,
            &[netorch_core::events::NewEvent::new(
                "nsi",
                "created",
                json!({"_id": r.id, "name": name}),
            )],
        )
        .await
        .map_err(|e| match e {
            netorch_core::StoreError::Conflict(_) => OsmError::conflict(format!(
                "netslice_instance with name '{name}' already exists for this project"
            )),
            other => other.into(),
        })?;
    set_nst_usage(s, &nst.id).await?;
    Ok(r)
}

/// `usageState` of an NST: IN_USE while a slice instance was made from it.
async fn set_nst_usage(s: &OsmState, nst: &str) -> Result<(), OsmError> {
    let used = !s
        .deps
        .records
        .find_records(NSIS, "nst-id", nst)
        .await?
        .is_empty();
    let state = if used { "IN_USE" } else { "NOT_IN_USE" };
    for _ in 0..8 {
        let Some(mut r) = s
            .deps
            .records
            .get_record("nsts", nst, &ProjectScope::All, true)
            .await?
        else {
            return Ok(());
        };
        if r.body["_admin"]["usageState"] == json!(state) {
            return Ok(());
        }
        r.body["_admin"]["usageState"] = json!(state);
        r.touch(s.deps.clock.now());
        match s.deps.records.update_record("nsts", &r, &[]).await {
            Err(netorch_core::StoreError::Conflict(_)) => continue,
            other => return other.map_err(Into::into),
        }
    }
    Ok(())
}

async fn load_nsi(
    s: &OsmState,
    me: &Session,
    q: &OsmQuery,
    id: &str,
    write: bool,
) -> Result<Record, OsmError> {
    let access = if write { Access::Write } else { Access::Show };
    crate::tenancy::load(
        s,
        me,
        q,
        if write { "post" } else { "get" },
        NSIS,
        id,
        access,
        "netslice_instance",
    )
    .await
}

async fn busy(s: &OsmState, nsi: &str) -> Result<(), OsmError> {
    let running = s
        .deps
        .records
        .find_records(NSILCMOPS, "netsliceInstanceId", nsi)
        .await?
        .into_iter()
        .find(|o| o.body["operationState"] == json!("PROCESSING"));
    match running {
        Some(o) => Err(OsmError::conflict(format!(
            "netslice_instance '{nsi}' has operation '{}' in progress",
            o.id
        ))),
        None => Ok(()),
    }
}

fn accepted(op: &str) -> Reply {
    Reply::with_status(StatusCode::ACCEPTED, json!({"id": op}))
        .location(format!("/osm/nsilcm/v1/nsi_lcm_op_occs/{op}"))
}

/// List network slice instances.
#[utoipa::path(get, path = "/osm/nsilcm/v1/netslice_instances_content", tag = "osm", operation_id = "list_netslice_instances_content",
    security(("bearerAuth" = [])), responses((status = 200, description = "Slice instances")))]
async fn list_content(
    State(s): State<OsmState>,
    Authenticated(me): Authenticated,
    q: OsmQuery,
) -> Result<Reply, OsmError> {
    me.authorize("slice_instances:get", "get", &q.admin)?;
    crate::tenancy::list_reply(&s, &me, &q, NSIS, |r| record_json(r, &[])).await
}

/// Create a network slice instance and instantiate it.
#[utoipa::path(post, path = "/osm/nsilcm/v1/netslice_instances_content", tag = "osm", operation_id = "create_netslice_instance_content",
    security(("bearerAuth" = [])),
    request_body(content = Object, description = "{nsiName, nstId, vimAccountId, netslice-subnet?: [{id, ...NS parameters}], ...}", content_type = "application/json"),
    responses((status = 201, description = "{id, nsilcmop_id}; Location"),
        (status = 404, description = "Unknown NST", body = OsmErrorBody),
        (status = 409, description = "NST disabled, name in use, a subnet's NSD missing", body = OsmErrorBody),
        (status = 422, description = "Invalid parameters", body = OsmErrorBody)))]
async fn create_content(
    State(s): State<OsmState>,
    Authenticated(me): Authenticated,
    q: OsmQuery,
    OsmValue(body): OsmValue,
) -> Result<Reply, OsmError> {
    me.authorize("slice_instances:content:post", "post", &q.admin)?;
    let nsi = create_nsi(&s, &me, &q, &body).await?;
    let op = match start_instantiate(&s, &me, &q, &nsi).await {
        Ok(op) => op,
        Err(e) => {
            // Nothing of the slice stays when its subnets cannot be created.
            s.deps.records.delete_record(NSIS, &nsi.id, &[]).await?;
            set_nst_usage(&s, nsi.body["nst-id"].as_str().unwrap_or_default()).await?;
            return Err(e);
        }
    };
    Ok(Reply::with_status(
        StatusCode::CREATED,
        json!({"id": nsi.id, "nsilcmop_id": op}),
    )
    .location(format!("{CONTENT}/{}", nsi.id)))
}

/// Show a network slice instance.
#[utoipa::path(get, path = "/osm/nsilcm/v1/netslice_instances_content/{nsi_id}", tag = "osm", operation_id = "show_netslice_instance_content",
    security(("bearerAuth" = [])), params(("nsi_id" = String, Path, description = "Slice instance id")),
    responses((status = 200, description = "The NSI"), (status = 404, description = "Not found", body = OsmErrorBody)))]
async fn show_content(
    State(s): State<OsmState>,
    Authenticated(me): Authenticated,
    q: OsmQuery,
    OsmId(id): OsmId,
) -> Result<Reply, OsmError> {
    me.authorize("slice_instances:id:get", "get", &q.admin)?;
    Ok(Reply::ok(record_json(
        &load_nsi(&s, &me, &q, &id, false).await?,
        &[],
    )))
}

/// Terminate (if instantiated) and delete a network slice instance.
#[utoipa::path(delete, path = "/osm/nsilcm/v1/netslice_instances_content/{nsi_id}", tag = "osm", operation_id = "delete_netslice_instance_content",
    security(("bearerAuth" = [])), params(("nsi_id" = String, Path, description = "Slice instance id")),
    responses((status = 202, description = "Terminating, then removed"), (status = 204, description = "Deleted")))]
async fn delete_content(
    State(s): State<OsmState>,
    Authenticated(me): Authenticated,
    q: OsmQuery,
    OsmId(id): OsmId,
) -> Result<Reply, OsmError> {
    me.authorize("slice_instances:id:delete", "delete", &q.admin)?;
    remove(&s, &me, &q, &id, true).await
}

/// List network slice instances (SOL005 path).
#[utoipa::path(get, path = "/osm/nsilcm/v1/netslice_instances", tag = "osm", operation_id = "list_netslice_instances",
    security(("bearerAuth" = [])), responses((status = 200, description = "Slice instances")))]
async fn list(
    State(s): State<OsmState>,
    Authenticated(me): Authenticated,
    q: OsmQuery,
) -> Result<Reply, OsmError> {
    me.authorize("slice_instances:get", "get", &q.admin)?;
    crate::tenancy::list_reply(&s, &me, &q, NSIS, |r| record_json(r, &[])).await
}

/// Create a network slice instance, NOT_INSTANTIATED.
#[utoipa::path(post, path = "/osm/nsilcm/v1/netslice_instances", tag = "osm", operation_id = "create_netslice_instance",
    security(("bearerAuth" = [])),
    request_body(content = Object, description = "{nsiName, nstId, vimAccountId, ...}", content_type = "application/json"),
    responses((status = 201, description = "{_id, id}; Location"), (status = 404, description = "Unknown NST", body = OsmErrorBody)))]
async fn create(
    State(s): State<OsmState>,
    Authenticated(me): Authenticated,
    q: OsmQuery,
    OsmValue(body): OsmValue,
) -> Result<Reply, OsmError> {
    me.authorize("slice_instances:post", "post", &q.admin)?;
    let nsi = create_nsi(&s, &me, &q, &body).await?;
    Ok(Reply::created(format!("{SOL}/{}", nsi.id), &nsi.id))
}

/// Show a network slice instance (SOL005 path).
#[utoipa::path(get, path = "/osm/nsilcm/v1/netslice_instances/{nsi_id}", tag = "osm", operation_id = "show_netslice_instance",
    security(("bearerAuth" = [])), params(("nsi_id" = String, Path, description = "Slice instance id")),
    responses((status = 200, description = "The NSI"), (status = 404, description = "Not found", body = OsmErrorBody)))]
async fn show(
    State(s): State<OsmState>,
    Authenticated(me): Authenticated,
    q: OsmQuery,
    OsmId(id): OsmId,
) -> Result<Reply, OsmError> {
    me.authorize("slice_instances:id:get", "get", &q.admin)?;
    Ok(Reply::ok(record_json(
        &load_nsi(&s, &me, &q, &id, false).await?,
        &[],
    )))
}

/// Delete a network slice instance that is not instantiated (FORCE: terminate it first).
#[utoipa::path(delete, path = "/osm/nsilcm/v1/netslice_instances/{nsi_id}", tag = "osm", operation_id = "delete_netslice_instance",
    security(("bearerAuth" = [])), params(("nsi_id" = String, Path, description = "Slice instance id")),
    responses((status = 204, description = "Deleted"), (status = 409, description = "Instantiated", body = OsmErrorBody)))]
async fn delete(
    State(s): State<OsmState>,
    Authenticated(me): Authenticated,
    q: OsmQuery,
    OsmId(id): OsmId,
) -> Result<Reply, OsmError> {
    me.authorize("slice_instances:id:delete", "delete", &q.admin)?;
    let force = q.admin.force;
    remove(&s, &me, &q, &id, force).await
}

async fn remove(
    s: &OsmState,
    me: &Session,
    q: &OsmQuery,
    id: &str,
    terminate_first: bool,
) -> Result<Reply, OsmError> {
    let nsi = load_nsi(s, me, q, id, true).await?;
    busy(s, &nsi.id).await?;
    if nsi.body["_admin"]["nsiState"] == json!("INSTANTIATED") {
        if !terminate_first {
            return Err(OsmError::conflict(format!(
                "netslice_instance '{id}' cannot be deleted because it is instantiated; terminate it first or use FORCE"
            )));
        }
        let op = start_terminate(s, me, &nsi, true).await?;
        return Ok(accepted(&op));
    }
    delete_nsi(&s.deps, &nsi).await?;
    set_nst_usage(s, nsi.body["nst-id"].as_str().unwrap_or_default()).await?;
    Ok(Reply::no_content())
}

async fn delete_nsi(deps: &Deps, nsi: &Record) -> Result<(), netorch_core::StoreError> {
    let ops: Vec<String> = deps
        .records
        .find_records(NSILCMOPS, "netsliceInstanceId", &nsi.id)
        .await?
        .into_iter()
        .map(|o| o.id)
        .collect();
    let mut keys: Vec<(&str, &str)> = ops.iter().map(|o| (NSILCMOPS, o.as_str())).collect();
    keys.push((NSIS, nsi.id.as_str()));
    deps.records
        .delete_records(
            &keys,
            &[netorch_core::events::NewEvent::new(
                "nsi",
                "deleted",
                json!({"_id": nsi.id}),
            )],
        )
        .await?;
    Ok(())
}

/// Instantiate a network slice instance.
#[utoipa::path(post, path = "/osm/nsilcm/v1/netslice_instances/{nsi_id}/instantiate", tag = "osm", operation_id = "instantiate_netslice_instance",
    security(("bearerAuth" = [])), params(("nsi_id" = String, Path, description = "Slice instance id")),
    request_body(content = Object, description = "Free object (OSM's nsi_instantiate keys)", content_type = "application/json"),
    responses((status = 202, description = "{id: <nsilcmop>}; Location"), (status = 409, description = "Already instantiated", body = OsmErrorBody)))]
async fn instantiate(
    State(s): State<OsmState>,
    Authenticated(me): Authenticated,
    q: OsmQuery,
    OsmId(id): OsmId,
    OsmValue(body): OsmValue,
) -> Result<Reply, OsmError> {
    me.authorize("slice_instances:id:instantiate:post", "post", &q.admin)?;
    if !(body.is_null() || body.is_object()) {
        return Err(OsmError::format_error("", "is not of type 'object'"));
    }
    let nsi = load_nsi(&s, &me, &q, &id, true).await?;
    busy(&s, &nsi.id).await?;
    if nsi.body["_admin"]["nsiState"] == json!("INSTANTIATED") {
        return Err(OsmError::conflict(format!(
            "netslice_instance '{id}' cannot be 'instantiate' because it is already instantiated"
        )));
    }
    let op = start_instantiate(&s, &me, &q, &nsi).await?;
    Ok(accepted(&op))
}

/// Terminate a network slice instance.
#[utoipa::path(post, path = "/osm/nsilcm/v1/netslice_instances/{nsi_id}/terminate", tag = "osm", operation_id = "terminate_netslice_instance",
    security(("bearerAuth" = [])), params(("nsi_id" = String, Path, description = "Slice instance id")),
    request_body(content = Object, description = "{autoremove?}", content_type = "application/json"),
    responses((status = 202, description = "{id: <nsilcmop>}; Location"), (status = 409, description = "Not instantiated", body = OsmErrorBody)))]
async fn terminate(
    State(s): State<OsmState>,
    Authenticated(me): Authenticated,
    q: OsmQuery,
    OsmId(id): OsmId,
    OsmValue(body): OsmValue,
) -> Result<Reply, OsmError> {
    me.authorize("slice_instances:id:terminate:post", "post", &q.admin)?;
    let nsi = load_nsi(&s, &me, &q, &id, true).await?;
    busy(&s, &nsi.id).await?;
    if nsi.body["_admin"]["nsiState"] != json!("INSTANTIATED") {
        return Err(OsmError::conflict(format!(
            "netslice_instance '{id}' cannot be 'terminate' because it is not instantiated"
        )));
    }
    let op = start_terminate(&s, &me, &nsi, body["autoremove"] == json!(true)).await?;
    Ok(accepted(&op))
}

/// Run a primitive on a VNF of one of the slice's subnets: `{nss-id, member_vnf_index, primitive,
/// primitive_params}`. The subnet's NS runs it; the slice operation waits for that NS operation.
#[utoipa::path(post, path = "/osm/nsilcm/v1/netslice_instances/{nsi_id}/action", tag = "osm", operation_id = "action_netslice_instance",
    security(("bearerAuth" = [])), params(("nsi_id" = String, Path, description = "Slice instance id")),
    request_body(content = Object, description = "{nss-id, member_vnf_index, vdu_id?, primitive, primitive_params}", content_type = "application/json"),
    responses((status = 202, description = "{id: <nsilcmop>}; Location"),
        (status = 409, description = "Not instantiated", body = OsmErrorBody),
        (status = 422, description = "Unknown subnet, primitive or parameter", body = OsmErrorBody)))]
async fn action(
    State(s): State<OsmState>,
    Authenticated(me): Authenticated,
    q: OsmQuery,
    OsmId(id): OsmId,
    OsmValue(body): OsmValue,
) -> Result<Reply, OsmError> {
    me.authorize("slice_instances:id:action:post", "post", &q.admin)?;
    let nsi = load_nsi(&s, &me, &q, &id, true).await?;
    busy(&s, &nsi.id).await?;
    if nsi.body["_admin"]["nsiState"] != json!("INSTANTIATED") {
        return Err(OsmError::conflict(format!(
            "netslice_instance '{id}' cannot be 'action' because it is not instantiated"
        )));
    }
    let Some(nss) = body["nss-id"].as_str() else {
        return Err(OsmError::format_error(
            "",
            "'nss-id' (the netslice subnet) is a required property",
        ));
    };
    let nsr = nsi.body["_admin"]["nsrs-detailed-list"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|d| d["nss-id"].as_str() == Some(nss))
        .and_then(|d| d["nsrId"].as_str().map(str::to_string))
        .ok_or_else(|| {
            OsmError::unprocessable(format!(
                "'{nss}' is not a netslice subnet of netslice_instance '{id}'"
            ))
        })?;
    let mut ns_body = body.clone();
    if let Some(m) = ns_body.as_object_mut() {
        m.remove("nss-id");
    }
    let (ns_op, _) = instances::queue_action(&s, &me, &q, &nsr, &ns_body).await?;
    let op = queue_nsi_op(&s, &me, &nsi, "action", &body, &[json!(ns_op)]).await?;
    Ok(accepted(&op))
}

/// List slice operation occurrences.
#[utoipa::path(get, path = "/osm/nsilcm/v1/nsi_lcm_op_occs", tag = "osm", operation_id = "list_nsi_lcm_op_occs",
    security(("bearerAuth" = [])), responses((status = 200, description = "Operations")))]
async fn list_ops(
    State(s): State<OsmState>,
    Authenticated(me): Authenticated,
    q: OsmQuery,
) -> Result<Reply, OsmError> {
    me.authorize("slice_instances:opps:get", "get", &q.admin)?;
    crate::tenancy::list_reply(&s, &me, &q, NSILCMOPS, |r| record_json(r, &[])).await
}

/// Show a slice operation occurrence.
#[utoipa::path(get, path = "/osm/nsilcm/v1/nsi_lcm_op_occs/{op_id}", tag = "osm", operation_id = "show_nsi_lcm_op_occ",
    security(("bearerAuth" = [])), params(("op_id" = String, Path, description = "Operation id")),
    responses((status = 200, description = "The operation"), (status = 404, description = "Not found", body = OsmErrorBody)))]
async fn show_op(
    State(s): State<OsmState>,
    Authenticated(me): Authenticated,
    q: OsmQuery,
    OsmId(id): OsmId,
) -> Result<Reply, OsmError> {
    me.authorize("slice_instances:opps:id:get", "get", &q.admin)?;
    let r = crate::tenancy::load(
        &s,
        &me,
        &q,
        "get",
        NSILCMOPS,
        &id,
        Access::Show,
        "nsi_lcm_op_occ",
    )
    .await?;
    Ok(Reply::ok(record_json(&r, &[])))
}

/// A slice operation: waits for the NS operations it started, then records the slice's state.
pub(crate) struct NsiOperation {
    pub deps: Deps,
}

impl NsiOperation {
    /// The slice's own virtual links (`netslice-vld`): one network each in the slice's VIM, under
    /// keys of the slice, recorded in `_admin.netslice-vld`.
    async fn slice_networks(&self, nsi_id: &str) -> Result<(), JobError> {
        let retry = |e: netorch_core::StoreError| JobError::Retry(e.to_string());
        let records = &self.deps.records;
        let Some(nsi) = records
            .get_record(NSIS, nsi_id, &ProjectScope::All, false)
            .await
            .map_err(retry)?
        else {
            return Ok(());
        };
        let vlds: Vec<Value> = nsi.body["_admin"]["netslice-vld"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        if vlds.is_empty() {
            return Ok(());
        }
        let vim_id = nsi.body["instantiation_parameters"]["vimAccountId"]
            .as_str()
            .unwrap_or_default();
        let Some(vim) = records
            .get_record("vim_accounts", vim_id, &ProjectScope::All, false)
            .await
            .map_err(retry)?
        else {
            return Err(JobError::Fatal(format!(
                "VIM account '{vim_id}' of the slice no longer exists"
            )));
        };
        let target = netorch_lcm::documents::vim_target(&vim);
        let mut out = Vec::new();
        for v in vlds {
            let id = v["id"].as_str().unwrap_or_default();
            let net = self
                .deps
                .cloud
                .create(
                    &target,
                    &netorch_core::cloud::ResourceSpec {
                        key: format!("nsi-{nsi_id}/vld/{id}"),
                        kind: netorch_core::cloud::ResourceKind::Network,
                        name: slice_network_name(&nsi.body, id),
                        demand: Default::default(),
                        image: None,
                    },
                )
                .await
                .map_err(|e| JobError::Retry(e.to_string()))?;
            let mut v = v.clone();
            v["status"] = json!("ACTIVE");
            v["vim-id"] = json!(net.vim_id);
            v["vim-network-name"] = json!(net.name);
            v["vim-account-id"] = json!(vim_id);
            v["ip-profile"] = json!({"subnet-address": net.address});
            out.push(v);
        }
        modify_record(&self.deps, NSIS, nsi_id, |b| {
            b["_admin"]["netslice-vld"] = json!(out)
        })
        .await
        .map_err(retry)?;
        Ok(())
    }

    /// Releases the slice's own networks, except one an NS still attached to it uses (a shared
    /// subnet's NS outlives the slice that created it); such a network goes with a later slice
    /// termination, once its slice is gone or not instantiated and no NS uses it.
    async fn release_slice_networks(&self, nsi_id: &str) -> Result<(), JobError> {
        let retry = |e: String| JobError::Retry(e);
        let held = self
            .deps
            .cloud
            .resources("nsi-")
            .await
            .map_err(|e| retry(e.to_string()))?;
        if held.is_empty() {
            return Ok(());
        }
        let records = &self.deps.records;
        let in_use: std::collections::HashSet<String> = records
            .list_records(NSRS, &ProjectScope::All)
            .await
            .map_err(|e| retry(e.to_string()))?
            .iter()
            .flat_map(|n| n.body["vld"].as_array().cloned().unwrap_or_default())
            .flat_map(|l| {
                l["vim_info"]
                    .as_object()
                    .map(|m| m.values().cloned().collect::<Vec<_>>())
                    .unwrap_or_default()
            })
            .filter_map(|i| i["vim-id"].as_str().map(str::to_string))
            .collect();
        for r in held {
            if in_use.contains(&r.vim_id) {
                continue;
            }
            let owner = r
                .key
                .strip_prefix("nsi-")
                .and_then(|k| k.split('/').next())
                .unwrap_or_default();
            if owner != nsi_id {
                let other = records
                    .get_record(NSIS, owner, &ProjectScope::All, false)
                    .await
                    .map_err(|e| retry(e.to_string()))?;
                if other.is_some_and(|o| o.body["_admin"]["nsiState"] == json!("INSTANTIATED")) {
                    continue;
                }
            }
            let vim = records
                .get_record("vim_accounts", &r.vim_account_id, &ProjectScope::All, false)
                .await
                .map_err(|e| retry(e.to_string()))?;
            let target = match vim {
                Some(v) => netorch_lcm::documents::vim_target(&v),
                None => netorch_core::cloud::VimTarget {
                    account_id: r.vim_account_id.clone(),
                    name: r.vim_account_id.clone(),
                    vim_type: "dummy".into(),
                    config: Value::Null,
                },
            };
            self.deps
                .cloud
                .delete(&target, &r.key)
                .await
                .map_err(|e| retry(e.to_string()))?;
        }
        Ok(())
    }
}

#[async_trait]
impl JobHandler for NsiOperation {
    async fn run(&self, ctx: JobContext) -> Result<Value, JobError> {
        let retry = |e: netorch_core::StoreError| JobError::Retry(e.to_string());
        let id = ctx.job.payload["nsilcmop"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let records = &self.deps.records;
        let Some(op) = records
            .get_record(NSILCMOPS, &id, &ProjectScope::All, false)
            .await
            .map_err(retry)?
        else {
            return Ok(json!({"skipped": "the operation no longer exists"}));
        };
        if op.body["operationState"] != json!("PROCESSING") {
            return Ok(json!({"skipped": "finished"}));
        }
        let waits = netorch_lcm::documents::strings(&op.body["_admin"]["waits-for"]);
        let kind = op.body["lcmOperationType"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let nsi_id = op.body["netsliceInstanceId"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        if kind == "instantiate" {
            self.slice_networks(&nsi_id).await?;
        }
        let timeout = op.body["operationParams"]["timeout_nsi_deploy"]
            .as_u64()
            .unwrap_or(3600);
        let started = std::time::Instant::now();
        let mut failed = Vec::new();
        for ns_op in &waits {
            loop {
                match records
                    .get_record(NSLCMOPS, ns_op, &ProjectScope::All, false)
                    .await
                    .map_err(retry)?
                {
                    // Removed with its NS (a terminate with autoremove): done.
                    None => break,
                    Some(o) => match o.body["operationState"].as_str() {
                        Some("PROCESSING" | "ROLLING_BACK") => {}
                        Some("COMPLETED") => break,
                        _ => {
                            failed.push(format!(
                                "{ns_op}: {}",
                                o.body["errorMessage"].as_str().unwrap_or("failed")
                            ));
                            break;
                        }
                    },
                }
                if started.elapsed() > Duration::from_secs(timeout) {
                    failed.push(format!("{ns_op}: still running after {timeout} s"));
                    break;
                }
                ctx.progress(&format!("waiting for NS operation {ns_op}"))
                    .await;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        let autoremove = op.body["operationParams"]["autoremove"] == json!(true);
        let ok = failed.is_empty();
        if kind == "terminate" && ok {
            self.release_slice_networks(&nsi_id).await?;
        }
        let now = self.deps.clock.now();
        if let Some(mut nsi) = records
            .get_record(NSIS, &nsi_id, &ProjectScope::All, true)
            .await
            .map_err(retry)?
        {
            if kind == "terminate" && ok && autoremove {
                delete_nsi(&self.deps, &nsi).await.map_err(retry)?;
                let nst = nsi.body["nst-id"].as_str().unwrap_or_default().to_string();
                let s = OsmState {
                    deps: self.deps.clone(),
                    lists: Default::default(),
                };
                set_nst_usage(&s, &nst)
                    .await
                    .map_err(|e| JobError::Retry(e.to_string()))?;
                return Ok(json!({"terminated": true, "removed": true}));
            }
            let (state, status) = match (kind.as_str(), ok) {
                ("action", _) => ("INSTANTIATED", "running"),
                ("instantiate", true) => ("INSTANTIATED", "running"),
                ("instantiate", false) => ("INSTANTIATED", "failed"),
                (_, true) => ("NOT_INSTANTIATED", "terminated"),
                (_, false) => ("INSTANTIATED", "failed"),
            };
            nsi.body["_admin"]["nsiState"] = json!(state);
            if state == "NOT_INSTANTIATED" {
                for v in nsi.body["_admin"]["netslice-vld"]
                    .as_array_mut()
                    .into_iter()
                    .flatten()
                {
                    v["status"] = Value::Null;
                    v["vim-id"] = Value::Null;
                }
            }
            nsi.body["nsi-status"] = json!(state);
            nsi.body["operational-status"] = json!(status);
            nsi.body["detailed-status"] = json!(if ok {
                "Done".to_string()
            } else {
                failed.join("; ")
            });
            nsi.touch(now);
            records
                .update_record(NSIS, &nsi, &[])
                .await
                .map_err(retry)?;
        }
        let mut op = op;
        let t = micros_to_secs(now);
        op.body["operationState"] = json!(if ok { "COMPLETED" } else { "FAILED" });
        op.body["statusEnteredTime"] = json!(t);
        op.body["detailed-status"] = json!(if ok {
            "Done".to_string()
        } else {
            failed.join("; ")
        });
        op.body["errorMessage"] = if ok {
            Value::Null
        } else {
            json!(failed.join("; "))
        };
        op.touch(now);
        let key = if kind == "instantiate" {
            "instantiated"
        } else {
            "terminated"
        };
        let event = netorch_core::events::NewEvent::new(
            "nsi",
            key,
            json!({"nsir_id": nsi_id, "nsilcmop_id": id, "operationState": op.body["operationState"]}),
        );
        records
            .update_record(NSILCMOPS, &op, &[event])
            .await
            .map_err(retry)?;
        Ok(json!({"ok": ok}))
    }
}
