//! `/osm/nslcm/v1`: NS instances, their lifecycle operations and VNF instances. The handlers
//! validate, write the records (NSR, VNFRs, nslcmop) and enqueue the operation's job; the
//! `netorch-lcm` engine carries it out.

mod instances;
mod occurrences;
pub(crate) mod slices;
pub(crate) mod subscriptions;

use std::collections::HashMap;

use netorch_auth::{Session, service::Access};
use netorch_core::{
    cloud::{Capacity, CloudError, Demand, VimTarget},
    tenancy::{ProjectScope, Record},
};
use netorch_http::osm::{OsmError, OsmQuery};
use netorch_lcm::{
    documents::{NSLCMOPS, NSRS, ResolvedMember},
    model::{NsModel, ns_model, vnf_model},
};
use serde_json::{Value, json};
use utoipa_axum::router::OpenApiRouter;

use crate::OsmState;

/// Every NS lifecycle endpoint.
pub(crate) fn register(r: OpenApiRouter<OsmState>) -> OpenApiRouter<OsmState> {
    let r = occurrences::register(instances::register(r));
    slices::register(subscriptions::register(r))
}

/// Keys of OSM's `ns_instantiate` schema (`additionalProperties: false`).
const INSTANTIATE_KEYS: [&str; 24] = [
    "nsName",
    "nsDescription",
    "nsdId",
    "vimAccountId",
    "wimAccountId",
    "placement-engine",
    "placement-constraints",
    "ssh_keys",
    "timeout_ns_deploy",
    "vnf",
    "vld",
    "additionalParamsForNs",
    "additionalParamsForVnf",
    "k8s-namespace",
    "config-units",
    "nsConfigTemplateId",
    "affinity-or-anti-affinity-group",
    "lcmOperationType",
    "nsInstanceId",
    "nsr_id",
    "netsliceInstanceId",
    "netslice-subnet",
    "netslice-vld",
    "nsiInstanceId",
];

/// Checks the instantiation parameters as OSM's schema does (`required` keys given).
fn check_params(body: &Value, required: &[&str]) -> Result<(), OsmError> {
    let Some(obj) = body.as_object() else {
        return Err(OsmError::format_error("", "is not of type 'object'"));
    };
    if let Some(k) = obj.keys().find(|k| !INSTANTIATE_KEYS.contains(&k.as_str())) {
        return Err(OsmError::format_error(
            "",
            &format!("Additional properties are not allowed ('{k}' was unexpected)"),
        ));
    }
    for k in required {
        match obj.get(*k) {
            None => {
                return Err(OsmError::format_error(
                    "",
                    &format!("'{k}' is a required property"),
                ));
            }
            Some(v) if !v.is_string() || v.as_str().is_some_and(str::is_empty) => {
                return Err(OsmError::format_error(
                    k,
                    &format!("{v} is not of type 'string'"),
                ));
            }
            Some(_) => {}
        }
    }
    for k in ["vnf", "vld", "additionalParamsForVnf", "ssh_keys"] {
        if obj.get(k).is_some_and(|v| !v.is_array() && !v.is_null()) {
            return Err(OsmError::format_error(k, "is not of type 'array'"));
        }
    }
    if obj
        .get("additionalParamsForNs")
        .is_some_and(|v| !v.is_object() && !v.is_null())
    {
        return Err(OsmError::format_error(
            "additionalParamsForNs",
            "is not of type 'object'",
        ));
    }
    Ok(())
}

/// What an NS is made of, resolved against the caller's catalogue and VIM accounts.
pub(crate) struct Resolved {
    pub nsd: Record,
    pub model: NsModel,
    pub members: Vec<ResolvedMember>,
    /// With `placement-engine`: the chosen VIMs and why (recorded on the operation).
    pub placement: Option<Value>,
}

/// A VIM account the caller may use, as the cloud connector needs it.
async fn vim_target(s: &OsmState, scope: &ProjectScope, id: &str) -> Result<VimTarget, OsmError> {
    let bad = || {
        OsmError::bad_request(format!(
            "Invalid vimAccountId='{id}' not present for the project"
        ))
    };
    let r = s
        .deps
        .records
        .get_record("vim_accounts", id, scope, false)
        .await?
        .ok_or_else(bad)?;
    let b = &r.body;
    let state = b["_admin"]["operationalState"]
        .as_str()
        .unwrap_or("ENABLED");
    if state != "ENABLED" {
        return Err(OsmError::conflict(format!(
            "VIM account '{}' is {state}; it cannot host an NS",
            b["name"].as_str().unwrap_or(id)
        )));
    }
    Ok(netorch_lcm::documents::vim_target(&r))
}

/// Resolves the NSD, its VNFDs and the VIM of each member from instantiation parameters, checking
/// everything a client can get wrong before any record is written.
pub(crate) async fn resolve(
    s: &OsmState,
    me: &Session,
    q: &OsmQuery,
    params: &Value,
) -> Result<Resolved, OsmError> {
    let scope = s
        .deps
        .identity
        .scope(me, "get", &q.admin, Access::Show)
        .await?;
    let nsd_id = params["nsdId"].as_str().unwrap_or_default();
    let nsd = s
        .deps
        .records
        .get_record("nsds", nsd_id, &scope, false)
        .await?
        .ok_or_else(|| OsmError::not_found(format!("nsd '{nsd_id}' not found")))?;
    if nsd.body["_admin"]["operationalState"] == json!("DISABLED") {
        return Err(OsmError::conflict(format!(
            "nsd '{nsd_id}' is DISABLED; enable it before instantiating"
        )));
    }
    if nsd.body["_admin"]["onboardingState"] != json!("ONBOARDED") {
        return Err(OsmError::conflict(format!(
            "nsd '{nsd_id}' has no content yet (onboardingState {})",
            nsd.body["_admin"]["onboardingState"]
        )));
    }
    let model = ns_model(&nsd.body);
    let vnf_params: Vec<&Value> = params["vnf"].as_array().into_iter().flatten().collect();
    for (i, v) in vnf_params.iter().enumerate() {
        let index = v["member-vnf-index"].as_str().unwrap_or_default();
        if !model.members.iter().any(|m| m.index == index) {
            return Err(OsmError::bad_request(format!(
                "Invalid member-vnf-index='{index}' at vnf:{i}: not present at nsd:df:vnf-profile"
            )));
        }
    }
    for p in params["additionalParamsForVnf"]
        .as_array()
        .into_iter()
        .flatten()
    {
        let index = p["member-vnf-index"].as_str().unwrap_or_default();
        if !model.members.iter().any(|m| m.index == index) {
            return Err(OsmError::bad_request(format!(
                "Invalid member-vnf-index='{index}' at additionalParamsForVnf: not present at nsd:df:vnf-profile"
            )));
        }
    }
    for (i, l) in params["vld"].as_array().into_iter().flatten().enumerate() {
        let name = l["name"].as_str().unwrap_or_default();
        if !model.links.iter().any(|m| m.id == name) {
            return Err(OsmError::unprocessable(format!(
                "Invalid parameter vld:name='{name}' at vld:{i}: not present at nsd:vld"
            )));
        }
        let net = &l["vim-network-name"];
        if !(net.is_null()
            || net.is_string()
            || net
                .as_object()
                .is_some_and(|o| o.values().all(Value::is_string)))
        {
            return Err(OsmError::format_error(
                &format!("vld:{i}:vim-network-name"),
                "is not a string nor an object of strings keyed by VIM account",
            ));
        }
    }
    let vnfds = s.deps.records.list_records("vnfds", &scope).await?;
    let default_vim = params["vimAccountId"].as_str().unwrap_or_default();
    let placement = match params.get("placement-engine") {
        Some(engine) if !engine.is_null() => {
            Some(place(s, &scope, params, &model, &vnfds, &vnf_params, engine).await?)
        }
        _ => None,
    };
    let placed = |index: &str| -> Option<String> {
        placement.as_ref().and_then(|p| {
            p["decisions"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|d| d["member-vnf-index"].as_str() == Some(index))
                .and_then(|d| d["vimAccountId"].as_str().map(str::to_string))
        })
    };
    let mut vims: HashMap<String, VimTarget> = HashMap::new();
    let mut members = Vec::new();
    for m in &model.members {
        let vnfd = vnfds
            .iter()
            .find(|r| r.body["id"].as_str() == Some(m.vnfd_id.as_str()))
            .ok_or_else(|| {
                OsmError::conflict(format!(
                    "vnfd '{}' of member-vnf-index '{}' is not in the catalogue",
                    m.vnfd_id, m.index
                ))
            })?;
        let vim = placed(&m.index).unwrap_or_else(|| {
            vnf_params
                .iter()
                .find(|v| v["member-vnf-index"].as_str() == Some(m.index.as_str()))
                .and_then(|v| v["vimAccountId"].as_str())
                .unwrap_or(default_vim)
                .to_string()
        });
        if !vims.contains_key(&vim) {
            let target = vim_target(s, &scope, &vim).await?;
            vims.insert(vim.clone(), target);
        }
        members.push(ResolvedMember {
            index: m.index.clone(),
            vnfd_record_id: vnfd.id.clone(),
            vnfd: vnfd.body.clone(),
            model: vnf_model(&vnfd.body),
            vim_account_id: vim,
        });
    }
    if !vims.contains_key(default_vim) {
        let target = vim_target(s, &scope, default_vim).await?;
        vims.insert(default_vim.to_string(), target);
    }
    check_capacity(s, &vims, &members, &model).await?;
    check_pdus(s, &scope, &members).await?;
    Ok(Resolved {
        nsd,
        model,
        members,
        placement,
    })
}

/// OSM's PLA convention: with `placement-engine`, the placement family chooses each member's VIM
/// among the enabled VIM accounts the caller may use (a member's `vnf[].vimAccountId` pins it),
/// honouring free capacity and `placement-constraints.vld-constraints[].link-constraints.latency`.
async fn place(
    s: &OsmState,
    scope: &ProjectScope,
    params: &Value,
    model: &NsModel,
    vnfds: &[Record],
    vnf_params: &[&Value],
    engine: &Value,
) -> Result<Value, OsmError> {
    use netorch_core::placement::{LinkConstraint, VimOption, VnfToPlace};
    let mut vnfs = Vec::new();
    for m in &model.members {
        let vnfd = vnfds
            .iter()
            .find(|r| r.body["id"].as_str() == Some(m.vnfd_id.as_str()))
            .ok_or_else(|| {
                OsmError::conflict(format!(
                    "vnfd '{}' of member-vnf-index '{}' is not in the catalogue",
                    m.vnfd_id, m.index
                ))
            })?;
        let (demand, instances) = vnf_model(&vnfd.body).demand();
        let pinned = vnf_params
            .iter()
            .find(|v| v["member-vnf-index"].as_str() == Some(m.index.as_str()))
            .and_then(|v| v["vimAccountId"].as_str())
            .map(str::to_string);
        vnfs.push(VnfToPlace {
            member: m.index.clone(),
            demand,
            instances,
            pinned,
        });
    }
    let mut vims = Vec::new();
    let mut accounts = s.deps.records.list_records("vim_accounts", scope).await?;
    accounts.sort_by(|a, b| a.name.cmp(&b.name));
    for r in accounts {
        let b = &r.body;
        if b["_admin"]["operationalState"] != json!("ENABLED") {
            continue;
        }
        let target = netorch_lcm::documents::vim_target(&r);
        // Only VIMs this server can deploy to are candidates.
        let Ok((total, used)) = s.deps.cloud.usage(&target).await else {
            continue;
        };
        let loc = &b["config"]["location"];
        vims.push(VimOption {
            account_id: r.id.clone(),
            name: target.name.clone(),
            site: loc["site"].as_str().unwrap_or(&target.name).to_string(),
            position: loc["latitude"].as_f64().zip(loc["longitude"].as_f64()),
            free: Capacity {
                vcpus: total.vcpus.saturating_sub(used.vcpus),
                ram_mb: total.ram_mb.saturating_sub(used.ram_mb),
                disk_gb: total.disk_gb.saturating_sub(used.disk_gb),
                instances: total.instances.saturating_sub(used.instances),
                networks: total.networks.saturating_sub(used.networks),
            },
            cost: b["config"]["cost"].as_f64().unwrap_or(1.0),
        });
    }
    let mut links = Vec::new();
    for (i, c) in params["placement-constraints"]["vld-constraints"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
    {
        let id = c["id"].as_str().unwrap_or_default();
        let Some(link) = model.links.iter().find(|l| l.id == id) else {
            return Err(OsmError::format_error(
                &format!("placement-constraints:vld-constraints:{i}:id"),
                &format!("'{id}' is not a virtual link of the NSD"),
            ));
        };
        if let Some(ms) = c["link-constraints"]["latency"].as_f64() {
            links.push(LinkConstraint {
                link: id.to_string(),
                members: link.members.clone(),
                latency_ms: ms,
            });
        }
    }
    let choices = s
        .deps
        .placer
        .place(&vnfs, &vims, &links)
        .await
        .map_err(|why| OsmError::conflict(format!("placement found no VIM for the NS: {why}")))?;
    let name = |id: &str| {
        vims.iter()
            .find(|v| v.account_id == id)
            .map(|v| (v.name.clone(), v.site.clone()))
    };
    Ok(json!({
        "engine": engine,
        "candidates": vims.len(),
        "decisions": choices.iter().map(|c| {
            let (vim_name, site) = name(&c.vim_account_id).unwrap_or_default();
            json!({"member-vnf-index": c.member, "vimAccountId": c.vim_account_id,
                   "vimAccountName": vim_name, "site": site, "reason": c.reason})
        }).collect::<Vec<_>>(),
    }))
}

/// Refuses, before anything is created, an NS its VIMs cannot host now (the engine still handles
/// the race with another deployment by rolling back).
async fn check_capacity(
    s: &OsmState,
    vims: &HashMap<String, VimTarget>,
    members: &[ResolvedMember],
    model: &NsModel,
) -> Result<(), OsmError> {
    for (id, vim) in vims {
        let mut need = Demand::default();
        let mut servers = 0;
        for m in members.iter().filter(|m| &m.vim_account_id == id) {
            let (d, n) = m.model.demand();
            need.vcpus += d.vcpus;
            need.ram_mb += d.ram_mb;
            need.disk_gb += d.disk_gb;
            servers += n;
        }
        let (total, used): (Capacity, Capacity) = match s.deps.cloud.usage(vim).await {
            Ok(u) => u,
            Err(CloudError::Unsupported(m)) => return Err(OsmError::unprocessable(m)),
            Err(CloudError::Unavailable(_)) => return Err(OsmError::Unavailable),
            Err(e) => return Err(OsmError::conflict(e.to_string())),
        };
        let networks =
            if vim.account_id == members.first().map_or("", |m| m.vim_account_id.as_str()) {
                model.links.len() as u64
            } else {
                0
            };
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
                servers,
                total.instances.saturating_sub(used.instances),
            ),
            (
                "networks",
                networks,
                total.networks.saturating_sub(used.networks),
            ),
        ]
        .into_iter()
        .find(|(_, need, free)| need > free);
        if let Some((what, need, free)) = short {
            return Err(OsmError::conflict(format!(
                "VIM account '{}' cannot host the NS: it needs {need} {what}, {free} free",
                vim.name
            )));
        }
    }
    Ok(())
}

/// Refuses an NS whose PDU VDUs (`pdu-type`) find too few free PDUs registered for their VIM.
async fn check_pdus(
    s: &OsmState,
    scope: &ProjectScope,
    members: &[ResolvedMember],
) -> Result<(), OsmError> {
    let mut need: Vec<(String, String, u64)> = Vec::new();
    for m in members {
        for (t, n) in m.model.pdus() {
            match need
                .iter_mut()
                .find(|(v, x, _)| v == &m.vim_account_id && x == &t)
            {
                Some((_, _, k)) => *k += n,
                None => need.push((m.vim_account_id.clone(), t, n)),
            }
        }
    }
    if need.is_empty() {
        return Ok(());
    }
    let pdus = s.deps.records.list_records("pdus", scope).await?;
    for (vim, t, n) in need {
        let free = pdus
            .iter()
            .filter(|p| {
                p.body["type"].as_str() == Some(t.as_str())
                    && p.body["_admin"]["usageState"] != json!("IN_USE")
                    && netorch_lcm::documents::strings(&p.body["vim_accounts"]).contains(&vim)
            })
            .count() as u64;
        if free < n {
            return Err(OsmError::conflict(format!(
                "the NS needs {n} PDU(s) of type '{t}' at VIM account '{vim}'; {free} free"
            )));
        }
    }
    Ok(())
}

/// The operation of an NS still running, if any.
pub(crate) async fn running_op(s: &OsmState, nsr_id: &str) -> Result<Option<String>, OsmError> {
    Ok(s.deps
        .records
        .find_records(NSLCMOPS, "nsInstanceId", nsr_id)
        .await?
        .into_iter()
        .find(|o| {
            matches!(
                o.body["operationState"].as_str(),
                Some("PROCESSING" | "ROLLING_BACK")
            )
        })
        .map(|o| o.id))
}

/// Loads an NSR the caller may see (`write` for operations).
pub(crate) async fn load_nsr(
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
        NSRS,
        id,
        access,
        "ns_instance",
    )
    .await
}
