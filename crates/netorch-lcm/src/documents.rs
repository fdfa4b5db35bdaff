//! The records of the NS lifecycle in OSM's shapes: the NS record (NSR, collection `nsrs`), one
//! VNF record per member (VNFR, `vnfrs`) and one record per operation (nslcmop, `nslcmops`).

use netorch_core::{
    Micros,
    clock::micros_to_secs,
    tenancy::{Ownership, Record},
};
use serde_json::{Value, json};

use crate::model::{NsModel, Vdu, VnfModel};

/// Collection of NS records.
pub const NSRS: &str = "nsrs";
/// Collection of VNF records.
pub const VNFRS: &str = "vnfrs";
/// Collection of NS lifecycle operation occurrences.
pub const NSLCMOPS: &str = "nslcmops";

/// One member VNF as the NBI resolved it: its VNFD record and the VIM it goes to.
#[derive(Debug, Clone)]
pub struct ResolvedMember {
    /// `member-vnf-index`.
    pub index: String,
    /// The VNFD record's `_id`.
    pub vnfd_record_id: String,
    /// The VNFD document (descriptor object).
    pub vnfd: Value,
    /// VDUs of the VNFD.
    pub model: VnfModel,
    /// VIM account the VNF is deployed to.
    pub vim_account_id: String,
}

/// What creating an NS needs.
#[derive(Debug, Clone)]
pub struct NewNs<'a> {
    /// The NSR `_id`.
    pub id: &'a str,
    /// The request (`nsName`, `nsdId`, `vimAccountId`, ...), stored as `instantiate_params`.
    pub params: &'a Value,
    /// The NSD record's `_id`.
    pub nsd_record_id: &'a str,
    /// The NSD document.
    pub nsd: &'a Value,
    /// Its members and links.
    pub model: &'a NsModel,
    /// Members with their VNFDs and VIMs, in NSD order.
    pub members: &'a [ResolvedMember],
    /// Owners (the creating project).
    pub owners: &'a Ownership,
    /// Now.
    pub now: Micros,
}

fn without_admin(v: &Value) -> Value {
    let mut v = v.clone();
    if let Value::Object(m) = &mut v {
        m.remove("_admin");
        m.remove("_id");
    }
    v
}

fn record(id: &str, name: Option<&str>, body: Value, owners: &Ownership, now: Micros) -> Record {
    Record {
        id: id.to_string(),
        name: name.map(str::to_string),
        body,
        owners: owners.clone(),
        created: now,
        modified: now,
        revision: 1,
    }
}

/// The VNFR `_id` of a member of an NS: derived, so that re-running a creation cannot make two.
pub fn vnfr_id(nsr_id: &str, index: &str) -> String {
    format!("{nsr_id}-{index}")
}

/// The NSR and its VNFRs, NOT_INSTANTIATED.
pub fn new_ns(n: &NewNs<'_>) -> Vec<(&'static str, Record)> {
    let now_s = micros_to_secs(n.now);
    let name = n.params["nsName"].as_str().unwrap_or_default();
    let vnfr_ids: Vec<String> = n.members.iter().map(|m| vnfr_id(n.id, &m.index)).collect();
    let vld: Vec<Value> = n
        .model
        .links
        .iter()
        .map(|l| {
            json!({
                "id": l.id, "name": l.id, "mgmt-network": l.mgmt, "status": null, "vim-id": null,
                "vim-network-name": null, "vnfd-connection-point-ref": l.members.iter()
                    .map(|m| json!({"member-vnf-index-ref": m})).collect::<Vec<_>>(),
            })
        })
        .collect();
    let mut vnfd_ids: Vec<&str> = n
        .members
        .iter()
        .map(|m| m.vnfd_record_id.as_str())
        .collect();
    vnfd_ids.dedup();
    let nsr = json!({
        "id": n.id,
        "name": name,
        "name-ref": name,
        "short-name": name,
        "description": n.params["nsDescription"].as_str().unwrap_or(name),
        "admin-status": "ENABLED",
        "nsState": "NOT_INSTANTIATED",
        "currentOperation": "IDLE",
        "currentOperationID": null,
        "errorDescription": null,
        "errorDetail": null,
        "deploymentStatus": null,
        "configurationStatus": [],
        "vcaStatus": null,
        "nsd": without_admin(n.nsd),
        "nsd-id": n.nsd_record_id,
        "nsd-ref": n.nsd["id"],
        "nsd-name-ref": n.nsd["name"].as_str().or(n.nsd["id"].as_str()),
        "vnfd-id": vnfd_ids,
        "datacenter": n.params["vimAccountId"],
        "resource-orchestrator": "netorch",
        "constituent-vnfr-ref": vnfr_ids,
        "operational-status": "init",
        "config-status": "init",
        "detailed-status": "scheduled",
        "orchestration-progress": {},
        "create-time": now_s,
        "operational-events": [],
        "instantiate_params": n.params,
        "additionalParamsForNs": n.params.get("additionalParamsForNs").cloned().unwrap_or(Value::Null),
        "ns-instance-config-ref": n.id,
        "ssh-authorized-key": n.params.get("ssh_keys").cloned().unwrap_or(Value::Null),
        "vld": vld,
        "_admin": {"created": now_s, "modified": now_s, "nsState": "NOT_INSTANTIATED",
                   "deployed": {"RO": {"vnfd": [], "operational-status": null}, "VCA": [], "K8s": []}},
    });
    let mut out = vec![(NSRS, record(n.id, Some(name), nsr, n.owners, n.now))];
    for (m, vnfr) in n.members.iter().zip(&vnfr_ids) {
        let params = n.params["additionalParamsForVnf"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|p| p["member-vnf-index"].as_str() == Some(m.index.as_str()))
            .and_then(|p| p.get("additionalParams").cloned())
            .unwrap_or(Value::Null);
        let vdur: Vec<Value> = m
            .model
            .vdus
            .iter()
            .flat_map(|v| {
                (0..u64::from(v.min)).map(move |i| vdur_entry(vnfr, name, &m.index, v, i))
            })
            .collect();
        let body = json!({
            "id": vnfr,
            "nsr-id-ref": n.id,
            "member-vnf-index-ref": m.index,
            "vnfd-ref": m.vnfd["id"],
            "vnfd-id": m.vnfd_record_id,
            "additionalParamsForVnf": params,
            "created-time": now_s,
            "vim-account-id": m.vim_account_id,
            "vca-id": null,
            "vdur": vdur,
            "connection-point": [],
            "ip-address": null,
            "vld": [],
            "kdur": [],
            "_admin": {"created": now_s, "modified": now_s, "nsState": "NOT_INSTANTIATED"},
        });
        out.push((VNFRS, record(vnfr, None, body, n.owners, n.now)));
    }
    out
}

/// A new operation occurrence, PROCESSING.
pub fn new_op(
    id: &str,
    nsr_id: &str,
    op_type: &str,
    params: &Value,
    owners: &Ownership,
    now: Micros,
) -> Record {
    let now_s = micros_to_secs(now);
    let mut operation_params = match params {
        Value::Object(_) => params.clone(),
        _ => json!({}),
    };
    operation_params["lcmOperationType"] = json!(op_type);
    operation_params["nsInstanceId"] = json!(nsr_id);
    let body = json!({
        "id": id,
        "operationState": "PROCESSING",
        "queuePosition": null,
        "stage": null,
        "errorMessage": null,
        "detailedStatus": null,
        "detailed-status": "",
        "statusEnteredTime": now_s,
        "nsInstanceId": nsr_id,
        "lcmOperationType": op_type,
        "startTime": now_s,
        "isAutomaticInvocation": false,
        "isCancelPending": false,
        "operationParams": operation_params,
        "links": {"self": format!("/osm/nslcm/v1/ns_lcm_op_occs/{id}"),
                  "nsInstance": format!("/osm/nslcm/v1/ns_instances/{nsr_id}")},
        "_admin": {"created": now_s, "modified": now_s},
    });
    record(id, None, body, owners, now)
}

/// A VIM account record as the cloud connector needs it.
pub fn vim_target(r: &Record) -> netorch_core::cloud::VimTarget {
    let b = &r.body;
    netorch_core::cloud::VimTarget {
        account_id: r.id.clone(),
        name: b["name"].as_str().unwrap_or(&r.id).to_string(),
        vim_type: b["vim_type"].as_str().unwrap_or_default().to_string(),
        config: b["config"].clone(),
    }
}

/// The strings of a field that holds one string or a list of them.
pub fn strings(v: &Value) -> Vec<String> {
    match v {
        Value::String(s) => vec![s.clone()],
        Value::Array(a) => a
            .iter()
            .filter_map(|x| x.as_str().map(str::to_string))
            .collect(),
        _ => Vec::new(),
    }
}

/// One VDU instance of a VNFR (`vdur`), not deployed yet.
pub fn vdur_entry(vnfr_id: &str, ns_name: &str, member: &str, vdu: &Vdu, index: u64) -> Value {
    json!({
        "_id": format!("{vnfr_id}-{}-{index}", vdu.id), "id": format!("{vnfr_id}-{}-{index}", vdu.id),
        "vdu-id-ref": vdu.id, "vdu-name": vdu.name, "count-index": index,
        "name": format!("{ns_name}-{member}-{}-{index}", vdu.id),
        "status": null, "status-detailed": null, "vim-id": null, "ip-address": null,
        "ns-image-id": vdu.image, "virtual-compute": {"vcpus": vdu.demand.vcpus,
            "ram_mb": vdu.demand.ram_mb, "disk_gb": vdu.demand.disk_gb},
        "pdu-type": vdu.pdu_type,
        "interfaces": [],
    })
}
