//! The engine: each NS lifecycle operation is one durable job that walks its stages, writing
//! progress into the NSR and the operation as it goes.
//!
//! Every step is idempotent (cloud resources are created under keys derived from the NSR, records
//! are rewritten from what the cloud returns), so a job interrupted at any point — a crash, a
//! lost lease — is simply run again by the scheduler and finishes the operation. A failed
//! instantiation first marks the operation `ROLLING_BACK`, then releases everything created under
//! the NSR's key prefix, then ends `FAILED`: an interrupted rollback resumes as a rollback.

use std::{collections::HashMap, sync::Arc, time::Duration};

use async_trait::async_trait;
use netorch_core::{
    Clock, StoreError,
    clock::micros_to_secs,
    cloud::{CloudConnector, CloudError, Demand, Resource, ResourceKind, ResourceSpec, VimTarget},
    connectivity::{
        ConnectivityRepository, Outcome, ReservationFilter, ReservationRequest, ReserveCommand,
    },
    events::NewEvent,
    jobs::NewJob,
    primitives::{PrimitiveCall, PrimitiveExecutor},
    tenancy::{ProjectScope, Record, RecordRepository},
};
use netorch_scheduler::{JobContext, JobError, JobHandler};
use serde_json::{Value, json};

use crate::documents::{NSLCMOPS, NSRS, VNFRS};

/// Job kind of NS lifecycle operations.
pub const NSLCM_JOB: &str = "osm.nslcm.operation";

/// The job that carries out operation `op_id`. Its dedupe key makes enqueueing idempotent.
pub fn op_job(op_id: &str, project: Option<String>) -> NewJob {
    NewJob {
        kind: NSLCM_JOB.into(),
        project_id: project,
        payload: json!({"nslcmop": op_id}),
        max_attempts: 8,
        run_at: 0,
        dedupe_key: Some(format!("nslcmop:{op_id}")),
    }
}

/// Why a step stopped.
#[derive(Debug)]
enum Stop {
    /// Transient (store or VIM unreachable): run the job again.
    Retry(String),
    /// Final: the operation fails (and an instantiation is rolled back).
    Fail(String),
}

impl From<StoreError> for Stop {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(m) => Stop::Retry(m),
            other => Stop::Retry(other.to_string()),
        }
    }
}

impl From<CloudError> for Stop {
    fn from(e: CloudError) -> Self {
        match e {
            CloudError::Unavailable(m) => Stop::Retry(m),
            other => Stop::Fail(other.to_string()),
        }
    }
}

/// The lifecycle engine (a job handler).
#[derive(Clone)]
pub struct Engine {
    records: Arc<dyn RecordRepository>,
    cloud: Arc<dyn CloudConnector>,
    executor: Arc<dyn PrimitiveExecutor>,
    clock: Arc<dyn Clock>,
    connectivity: Option<Arc<dyn ConnectivityRepository>>,
}

fn at<'a>(v: &'a mut Value, key: &str) -> &'a mut Value {
    if !v.is_object() {
        *v = json!({});
    }
    &mut v[key]
}

impl Engine {
    /// An engine over the records, a cloud connector, a primitive executor and a clock.
    pub fn new(
        records: Arc<dyn RecordRepository>,
        cloud: Arc<dyn CloudConnector>,
        executor: Arc<dyn PrimitiveExecutor>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            records,
            cloud,
            executor,
            clock,
            connectivity: None,
        }
    }

    /// Reserves inter-site links (SLICES connectivity) for virtual links whose VNFs land at
    /// different sites.
    pub fn with_connectivity(mut self, connectivity: Arc<dyn ConnectivityRepository>) -> Self {
        self.connectivity = Some(connectivity);
        self
    }

    async fn get(&self, collection: &str, id: &str) -> Result<Option<Record>, Stop> {
        Ok(self
            .records
            .get_record(collection, id, &ProjectScope::All, false)
            .await?)
    }

    /// Read-modify-write with optimistic concurrency: re-read and re-apply on a conflict.
    async fn modify(
        &self,
        collection: &str,
        id: &str,
        f: impl FnMut(&mut Value),
    ) -> Result<Value, Stop> {
        self.modify_emitting(collection, id, &[], f).await
    }

    /// `modify`, committing `events` to the outbox in the same transaction.
    async fn modify_emitting(
        &self,
        collection: &str,
        id: &str,
        events: &[NewEvent],
        mut f: impl FnMut(&mut Value),
    ) -> Result<Value, Stop> {
        for _ in 0..8 {
            let Some(mut r) = self.get(collection, id).await? else {
                return Err(Stop::Fail(format!("{collection} '{id}' no longer exists")));
            };
            f(&mut r.body);
            let now = self.clock.now();
            *at(at(&mut r.body, "_admin"), "modified") = json!(micros_to_secs(now));
            r.touch(now);
            match self.records.update_record(collection, &r, events).await {
                Ok(()) => return Ok(r.body),
                Err(StoreError::Conflict(_)) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(Stop::Retry(format!(
            "{collection} '{id}' kept changing while being updated"
        )))
    }

    async fn progress(&self, ctx: &JobContext, op_id: &str, stage: &str) -> Result<(), Stop> {
        let body = self
            .modify(NSLCMOPS, op_id, |b| {
                b["stage"] = json!(stage);
                b["detailed-status"] = json!(stage);
                b["detailedStatus"] = json!(stage);
            })
            .await?;
        ctx.progress(stage).await;
        if body["isCancelPending"] == json!(true) {
            return Err(Stop::Fail("Operation cancelled by the user".into()));
        }
        Ok(())
    }

    /// The existing network a virtual link is to use. A netslice subnet's NS may start before its
    /// slice has created the slice's networks, so it waits for them (bounded by the operation's
    /// `timeout_ns_deploy`, at most an hour); any other NS fails at once, as OSM's RO does.
    async fn existing_network(
        &self,
        ctx: &JobContext,
        op_id: &str,
        nsr: &Value,
        vim: &VimTarget,
        link_id: &str,
        wanted: &str,
    ) -> Result<Resource, Stop> {
        let sliced = nsr["_admin"]["netslice-instances"]
            .as_array()
            .is_some_and(|l| !l.is_empty());
        let limit = nsr["instantiate_params"]["timeout_ns_deploy"]
            .as_u64()
            .unwrap_or(300)
            .min(3600);
        let started = std::time::Instant::now();
        let mut told = false;
        loop {
            if let Some(net) = self.cloud.find_network(vim, wanted).await? {
                return Ok(net);
            }
            if !sliced || started.elapsed() > Duration::from_secs(limit) {
                return Err(Stop::Fail(format!(
                    "virtual link '{link_id}': VIM network '{wanted}' not found in VIM account '{}'",
                    vim.name
                )));
            }
            if !told {
                self.progress(
                    ctx,
                    op_id,
                    &format!("Stage 2/3: Waiting for the slice's network '{wanted}'"),
                )
                .await?;
                told = true;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn vim(&self, id: &str) -> Result<VimTarget, Stop> {
        let Some(r) = self.get("vim_accounts", id).await? else {
            return Err(Stop::Fail(format!("VIM account '{id}' no longer exists")));
        };
        let b = &r.body;
        let state = b["_admin"]["operationalState"]
            .as_str()
            .unwrap_or("ENABLED");
        if state != "ENABLED" {
            return Err(Stop::Fail(format!(
                "VIM account '{}' is {state}: {}",
                b["name"].as_str().unwrap_or(id),
                b["_admin"]["detailed-status"].as_str().unwrap_or("")
            )));
        }
        Ok(crate::documents::vim_target(&r))
    }

    /// The VIM a resource lives in, for deleting it even if its account has since been disabled.
    async fn vim_of(&self, r: &Resource) -> Result<VimTarget, Stop> {
        let b = self
            .get("vim_accounts", &r.vim_account_id)
            .await?
            .map(|r| r.body)
            .unwrap_or(Value::Null);
        Ok(VimTarget {
            account_id: r.vim_account_id.clone(),
            name: b["name"].as_str().unwrap_or(&r.vim_account_id).to_string(),
            // Resources are only ever listed from the simulated cloud today.
            vim_type: b["vim_type"].as_str().unwrap_or("dummy").to_string(),
            config: b["config"].clone(),
        })
    }

    async fn finish_op(&self, op_id: &str, state: &str, error: Option<&str>) -> Result<(), Stop> {
        self.finish_op_with(op_id, state, error, None).await
    }

    /// Ends the operation; `output` (a primitive's) becomes its `detailed-status`.
    async fn finish_op_with(
        &self,
        op_id: &str,
        state: &str,
        error: Option<&str>,
        output: Option<&str>,
    ) -> Result<(), Stop> {
        let now = micros_to_secs(self.clock.now());
        let detail = error.or(output).unwrap_or("Done").to_string();
        // OSM's LCM answers on topic `ns` with the past tense of the operation (`instantiated`,
        // `terminated`, `scaled`, ...), committed with the operation's final state.
        let event = match self.get(NSLCMOPS, op_id).await? {
            Some(op) => {
                let kind = op.body["lcmOperationType"].as_str().unwrap_or_default();
                let key = match kind {
                    "instantiate" => "instantiated".to_string(),
                    "terminate" => "terminated".to_string(),
                    "scale" => "scaled".to_string(),
                    "action" => "actioned".to_string(),
                    other => format!("{other}d"),
                };
                vec![NewEvent::new(
                    "ns",
                    key,
                    json!({"nsr_id": op.body["nsInstanceId"], "nslcmop_id": op_id,
                           "operationState": state, "startTime": op.body["startTime"],
                           "links": op.body["links"], "operationParams": op.body["operationParams"],
                           "autoremove": op.body["operationParams"]["autoremove"] == json!(true)}),
                )]
            }
            None => Vec::new(),
        };
        self.modify_emitting(NSLCMOPS, op_id, &event, |b| {
            b["operationState"] = json!(state);
            b["statusEnteredTime"] = json!(now);
            b["detailed-status"] = json!(detail);
            b["detailedStatus"] = json!(detail);
            b["errorMessage"] = json!(error);
            b["stage"] = json!("");
        })
        .await?;
        Ok(())
    }

    /// Refreshes what other records show about this NS: the `resources` of the VIMs it used and,
    /// once it is gone, its packages' `usageState`. Best effort: the operation's outcome stands.
    async fn refresh_others(&self, nsr: &Value, vims: &[String], removed: bool) {
        let now = self.clock.now();
        let mut vims: Vec<String> = vims.to_vec();
        if let Some(dc) = nsr["datacenter"].as_str() {
            vims.push(dc.to_string());
        }
        vims.sort();
        vims.dedup();
        for vim in &vims {
            if let Err(e) =
                crate::usage::refresh_vim_resources(&*self.records, &*self.cloud, vim, now).await
            {
                tracing::warn!(vim_account = %vim, error = %e, "VIM resources not refreshed");
            }
        }
        if removed {
            let strings = crate::documents::strings;
            if let Err(e) = crate::usage::refresh_package_usage(
                &*self.records,
                &strings(&nsr["nsd-id"]),
                &strings(&nsr["vnfd-id"]),
                now,
            )
            .await
            {
                tracing::warn!(error = %e, "package usage not refreshed");
            }
        }
    }

    async fn vim_ids(&self, nsr: &Value) -> Vec<String> {
        self.vnfrs(nsr)
            .await
            .unwrap_or_default()
            .iter()
            .filter_map(|v| v.body["vim-account-id"].as_str().map(str::to_string))
            .collect()
    }

    async fn vnfrs(&self, nsr: &Value) -> Result<Vec<Record>, Stop> {
        let mut out = Vec::new();
        for id in nsr["constituent-vnfr-ref"].as_array().into_iter().flatten() {
            if let Some(r) = self.get(VNFRS, id.as_str().unwrap_or_default()).await? {
                out.push(r);
            }
        }
        Ok(out)
    }

    async fn instantiate(
        &self,
        ctx: &JobContext,
        op_id: &str,
        nsr_id: &str,
    ) -> Result<Value, Stop> {
        let nsr = self
            .modify(NSRS, nsr_id, |b| {
                b["nsState"] = json!("BUILDING");
                b["currentOperation"] = json!("INSTANTIATING");
                b["currentOperationID"] = json!(op_id);
                b["detailed-status"] = json!("creating");
                b["operational-status"] = json!("init");
                b["errorDescription"] = Value::Null;
                b["errorDetail"] = Value::Null;
                // As OSM's LCM: INSTANTIATED once deployment starts, so terminate is allowed.
                *at(at(b, "_admin"), "nsState") = json!("INSTANTIATED");
            })
            .await?;
        self.progress(ctx, op_id, "Stage 1/3: Preparing the deployment")
            .await?;
        let name = nsr["name"].as_str().unwrap_or(nsr_id).to_string();
        let ns_vim = self
            .vim(nsr["datacenter"].as_str().unwrap_or_default())
            .await?;
        let vnfrs = self.vnfrs(&nsr).await?;
        let mut vims = std::collections::HashMap::new();
        for v in &vnfrs {
            let id = v.body["vim-account-id"].as_str().unwrap_or_default();
            if !vims.contains_key(id) {
                vims.insert(id.to_string(), self.vim(id).await?);
            }
        }

        self.progress(ctx, op_id, "Stage 2/3: Deploying virtual links")
            .await?;
        let op_start = self
            .get(NSLCMOPS, op_id)
            .await?
            .and_then(|o| o.body["startTime"].as_f64())
            .unwrap_or(0.0);
        let member_vim: HashMap<String, String> = vnfrs
            .iter()
            .map(|v| {
                (
                    v.body["member-vnf-index-ref"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string(),
                    v.body["vim-account-id"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string(),
                )
            })
            .collect();
        let links: Vec<Value> = nsr["vld"].as_array().cloned().unwrap_or_default();
        for link in &links {
            let link_id = link["id"].as_str().unwrap_or_default().to_string();
            // One network per VIM the link's VNFs run in (the NS's VIM if none is connected).
            let mut link_vims: Vec<String> = link["vnfd-connection-point-ref"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|c| c["member-vnf-index-ref"].as_str())
                .filter_map(|m| member_vim.get(m).cloned())
                .collect();
            link_vims.sort();
            link_vims.dedup();
            if link_vims.is_empty() {
                link_vims.push(ns_vim.account_id.clone());
            }
            let mut vim_info = serde_json::Map::new();
            let mut first: Option<Resource> = None;
            for vim_id in &link_vims {
                let vim = match vims.get(vim_id) {
                    Some(v) => v.clone(),
                    None => self.vim(vim_id).await?,
                };
                let (net, external) = match external_network(&nsr, &link_id, vim_id) {
                    // An existing network: used, never created nor deleted by this NS.
                    Some(wanted) => (
                        self.existing_network(ctx, op_id, &nsr, &vim, &link_id, &wanted)
                            .await?,
                        true,
                    ),
                    None => (
                        self.cloud
                            .create(
                                &vim,
                                &ResourceSpec {
                                    key: format!("{nsr_id}/vld/{link_id}/{vim_id}"),
                                    kind: ResourceKind::Network,
                                    name: format!("{name}-{link_id}"),
                                    demand: Demand::default(),
                                    image: None,
                                },
                            )
                            .await?,
                        false,
                    ),
                };
                vim_info.insert(
                    vim_id.clone(),
                    json!({"vim-id": net.vim_id, "vim-network-name": net.name, "vim-account-name": vim.name,
                           "site": site_of(&vim), "subnet-address": net.address, "external": external}),
                );
                first.get_or_insert(net);
            }
            let mut sites: Vec<String> = link_vims
                .iter()
                .filter_map(|v| vims.get(v).map(site_of))
                .collect();
            sites.sort();
            sites.dedup();
            let mut reservations = Vec::new();
            if sites.len() > 1 {
                let bandwidth = link_bandwidth(&nsr, &link_id);
                for pair in sites.windows(2) {
                    reservations.push(
                        self.reserve(
                            op_id, nsr_id, &link_id, &pair[0], &pair[1], bandwidth, op_start,
                        )
                        .await?,
                    );
                }
            }
            let net =
                first.ok_or_else(|| Stop::Fail(format!("virtual link '{link_id}' has no VIM")))?;
            self.modify(NSRS, nsr_id, |b| {
                for l in b["vld"].as_array_mut().into_iter().flatten() {
                    if l["id"].as_str() == Some(link_id.as_str()) {
                        l["status"] = json!("ACTIVE");
                        l["vim-id"] = json!(net.vim_id);
                        l["vim-network-name"] = json!(net.name);
                        l["vim-account-id"] = json!(net.vim_account_id);
                        l["ip-profile"] =
                            json!({"subnet-address": net.address, "ip-version": "ipv4"});
                        l["vim_info"] = Value::Object(vim_info.clone());
                        l["connectivity"] = json!(reservations);
                    }
                }
            })
            .await?;
        }

        let total: usize = vnfrs
            .iter()
            .map(|v| v.body["vdur"].as_array().map_or(0, Vec::len))
            .sum();
        let mut done = 0;
        for v in &vnfrs {
            let vim = &vims[v.body["vim-account-id"].as_str().unwrap_or_default()];
            let member = v.body["member-vnf-index-ref"].as_str().unwrap_or_default();
            for vdur in v.body["vdur"].as_array().into_iter().flatten() {
                self.progress(
                    ctx,
                    op_id,
                    &format!("Stage 3/3: Deploying VDUs ({done}/{total} running)"),
                )
                .await?;
                let (vim_id, address, pdu) = match vdur["pdu-type"].as_str() {
                    Some(t) => {
                        let (pdu, ip) = self
                            .claim_pdu(nsr_id, &v.id, vdur, t, &vim.account_id)
                            .await?;
                        (pdu.clone(), ip, Some(pdu))
                    }
                    None => {
                        let server = self.server_for(vim, nsr_id, member, vdur).await?;
                        (server.vim_id, Some(server.address), None)
                    }
                };
                let vdur_id = vdur["_id"].clone();
                let vim_account = vim.account_id.clone();
                self.modify(VNFRS, &v.id, |b| {
                    for d in b["vdur"].as_array_mut().into_iter().flatten() {
                        if d["_id"] == vdur_id {
                            d["status"] = json!("ACTIVE");
                            d["status-detailed"] = Value::Null;
                            d["vim-id"] = json!(vim_id);
                            d["vim-account-id"] = json!(vim_account);
                            d["ip-address"] = json!(address);
                            if let Some(p) = &pdu {
                                d["pdu-id"] = json!(p);
                            }
                        }
                    }
                    if b["ip-address"].is_null() {
                        b["ip-address"] = json!(address);
                    }
                    *at(at(b, "_admin"), "nsState") = json!("INSTANTIATED");
                })
                .await?;
                done += 1;
            }
        }

        self.day1(ctx, op_id, nsr_id, &nsr, &vnfrs).await?;

        let deployed: Vec<Value> = vnfrs
            .iter()
            .map(|v| json!({"member-vnf-index": v.body["member-vnf-index-ref"], "vnfd_id": v.body["vnfd-ref"], "vim-account-id": v.body["vim-account-id"]}))
            .collect();
        self.modify(NSRS, nsr_id, |b| {
            b["nsState"] = json!("READY");
            b["currentOperation"] = json!("IDLE");
            b["currentOperationID"] = Value::Null;
            b["operational-status"] = json!("running");
            b["config-status"] = json!("configured");
            b["detailed-status"] = json!("Done");
            let admin = at(b, "_admin");
            *at(admin, "nsState") = json!("INSTANTIATED");
            *at(at(admin, "deployed"), "RO") =
                json!({"vnfd": deployed, "operational-status": "running"});
        })
        .await?;
        let vim_ids: Vec<String> = vims.keys().cloned().collect();
        self.refresh_others(&nsr, &vim_ids, false).await;
        self.finish_op(op_id, "COMPLETED", None).await?;
        tracing::info!(
            nslcmop = op_id,
            nsr = nsr_id,
            vdus = total,
            "NS instantiated"
        );
        Ok(json!({"nsState": "READY", "vdus": total}))
    }

    /// The server of one VDU instance (`vdur`), created under its key if the VIM lacks it.
    async fn server_for(
        &self,
        vim: &VimTarget,
        nsr_id: &str,
        member: &str,
        vdur: &Value,
    ) -> Result<Resource, Stop> {
        let vdu = vdur["vdu-id-ref"].as_str().unwrap_or_default();
        let count = vdur["count-index"].as_u64().unwrap_or(0);
        let c = &vdur["virtual-compute"];
        Ok(self
            .cloud
            .create(
                vim,
                &ResourceSpec {
                    key: format!("{nsr_id}/{member}/{vdu}/{count}"),
                    kind: ResourceKind::Server,
                    name: vdur["name"].as_str().unwrap_or(vdu).to_string(),
                    demand: Demand {
                        vcpus: c["vcpus"].as_u64().unwrap_or(1),
                        ram_mb: c["ram_mb"].as_u64().unwrap_or(512),
                        disk_gb: c["disk_gb"].as_u64().unwrap_or(1),
                    },
                    image: vdur["ns-image-id"].as_str().map(str::to_string),
                },
            )
            .await?)
    }

    /// A free PDU of `pdu_type` registered for the VIM, claimed for this VDU instance (the same one
    /// again when the operation is re-run): `(pdu id, its management address)`.
    async fn claim_pdu(
        &self,
        nsr_id: &str,
        vnfr_id: &str,
        vdur: &Value,
        pdu_type: &str,
        vim_id: &str,
    ) -> Result<(String, Option<String>), Stop> {
        let mgmt_ip = |pdu: &Value| {
            pdu["interfaces"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|i| i["mgmt"] == json!(true))
                .and_then(|i| i["ip-address"].as_str().map(str::to_string))
        };
        let vdur_id = vdur["_id"].clone();
        for _ in 0..8 {
            let pdus = self
                .records
                .list_records("pdus", &ProjectScope::All)
                .await?;
            if let Some(mine) = pdus.iter().find(|p| {
                p.body["_admin"]["usage"]["nsr_id"].as_str() == Some(nsr_id)
                    && p.body["_admin"]["usage"]["vdur"] == vdur_id
            }) {
                return Ok((mine.id.clone(), mgmt_ip(&mine.body)));
            }
            let free = pdus.iter().find(|p| {
                p.body["type"].as_str() == Some(pdu_type)
                    && p.body["_admin"]["usageState"] != json!("IN_USE")
                    && crate::documents::strings(&p.body["vim_accounts"])
                        .iter()
                        .any(|v| v == vim_id)
            });
            let Some(free) = free else {
                return Err(Stop::Fail(format!(
                    "no free PDU of type '{pdu_type}' is registered for VIM account '{vim_id}'"
                )));
            };
            let mut r = free.clone();
            r.body["_admin"]["usageState"] = json!("IN_USE");
            r.body["_admin"]["usage"] =
                json!({"nsr_id": nsr_id, "vnfr_id": vnfr_id, "vdur": vdur_id});
            r.touch(self.clock.now());
            match self.records.update_record("pdus", &r, &[]).await {
                Ok(()) => return Ok((r.id.clone(), mgmt_ip(&r.body))),
                // Another deployment took it first: look again.
                Err(StoreError::Conflict(_)) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(Stop::Retry(
            "PDUs kept changing while one was claimed".into(),
        ))
    }

    /// Gives back every PDU the NS holds.
    async fn release_pdus(&self, nsr_id: &str) -> Result<usize, Stop> {
        let mut n = 0;
        for p in self
            .records
            .list_records("pdus", &ProjectScope::All)
            .await?
        {
            if p.body["_admin"]["usage"]["nsr_id"].as_str() != Some(nsr_id) {
                continue;
            }
            self.modify("pdus", &p.id, |b| {
                b["_admin"]["usageState"] = json!("NOT_IN_USE");
                if let Some(a) = b["_admin"].as_object_mut() {
                    a.remove("usage");
                }
            })
            .await?;
            n += 1;
        }
        Ok(n)
    }

    /// Releases everything created under the NSR's prefix: servers first, then networks.
    async fn release(&self, ctx: &JobContext, op_id: &str, nsr_id: &str) -> Result<usize, Stop> {
        let links = self.release_links(nsr_id).await?;
        if links > 0 {
            tracing::info!(nsr = nsr_id, links, "inter-site links released");
        }
        let pdus = self.release_pdus(nsr_id).await?;
        if pdus > 0 {
            tracing::info!(nsr = nsr_id, pdus, "PDUs released");
        }
        let mut resources = self.cloud.resources(&format!("{nsr_id}/")).await?;
        resources.sort_by_key(|r| r.kind != ResourceKind::Server);
        let total = resources.len();
        for (i, r) in resources.iter().enumerate() {
            if i % 8 == 0 {
                ctx.progress(&format!("releasing resources ({i}/{total})"))
                    .await;
                let note = format!("Deleting resources ({i}/{total} deleted)");
                self.modify(NSLCMOPS, op_id, |b| {
                    b["detailed-status"] = json!(note);
                    b["detailedStatus"] = json!(note);
                })
                .await?;
            }
            let vim = self.vim_of(r).await?;
            self.cloud.delete(&vim, &r.key).await?;
        }
        Ok(total)
    }

    async fn clear_vnfrs(&self, nsr: &Value, status: Option<&str>) -> Result<(), Stop> {
        for v in self.vnfrs(nsr).await? {
            self.modify(VNFRS, &v.id, |b| {
                for d in b["vdur"].as_array_mut().into_iter().flatten() {
                    d["status"] = json!(status);
                    d["vim-id"] = Value::Null;
                    d["ip-address"] = Value::Null;
                    if let Some(m) = d.as_object_mut() {
                        m.remove("pdu-id");
                    }
                }
                b["ip-address"] = Value::Null;
                *at(at(b, "_admin"), "nsState") = json!("NOT_INSTANTIATED");
            })
            .await?;
        }
        Ok(())
    }

    fn clear_links(b: &mut Value) {
        for l in b["vld"].as_array_mut().into_iter().flatten() {
            l["status"] = Value::Null;
            l["vim-id"] = Value::Null;
            l["vim_info"] = json!({});
            l["connectivity"] = json!([]);
        }
    }

    async fn roll_back(
        &self,
        ctx: &JobContext,
        op_id: &str,
        nsr_id: &str,
        why: &str,
    ) -> Result<Value, Stop> {
        let released = self.release(ctx, op_id, nsr_id).await?;
        let nsr = self
            .modify(NSRS, nsr_id, |b| {
                // OSM shows BROKEN after a failed instantiation; netorch has also released what
                // was created, so `_admin.nsState` says NOT_INSTANTIATED: the NS can be
                // instantiated again or deleted without a terminate.
                b["nsState"] = json!("BROKEN");
                b["currentOperation"] = json!("IDLE");
                b["currentOperationID"] = Value::Null;
                b["operational-status"] = json!("failed");
                b["detailed-status"] = json!(why);
                b["errorDescription"] = json!("Operation: INSTANTIATING.");
                b["errorDetail"] = json!(why);
                Self::clear_links(b);
                *at(at(b, "_admin"), "nsState") = json!("NOT_INSTANTIATED");
            })
            .await?;
        self.clear_vnfrs(&nsr, None).await?;
        let vims = self.vim_ids(&nsr).await;
        self.refresh_others(&nsr, &vims, false).await;
        self.finish_op(op_id, "FAILED", Some(why)).await?;
        tracing::warn!(
            nslcmop = op_id,
            nsr = nsr_id,
            released,
            reason = why,
            "NS instantiation failed and was rolled back"
        );
        Ok(json!({"failed": why, "released": released}))
    }

    async fn terminate(
        &self,
        ctx: &JobContext,
        op_id: &str,
        nsr_id: &str,
        autoremove: bool,
    ) -> Result<Value, Stop> {
        self.modify(NSRS, nsr_id, |b| {
            b["nsState"] = json!("TERMINATING");
            b["currentOperation"] = json!("TERMINATING");
            b["currentOperationID"] = json!(op_id);
            b["operational-status"] = json!("terminating");
            b["config-status"] = json!("terminating");
            b["detailed-status"] = json!("terminating");
        })
        .await?;
        self.progress(ctx, op_id, "Stage 1/2: Deleting resources")
            .await?;
        let released = self.release(ctx, op_id, nsr_id).await?;
        self.progress(ctx, op_id, "Stage 2/2: Updating records")
            .await?;
        let nsr = self
            .modify(NSRS, nsr_id, |b| {
                b["nsState"] = json!("NOT_INSTANTIATED");
                b["currentOperation"] = json!("IDLE");
                b["currentOperationID"] = Value::Null;
                b["operational-status"] = json!("terminated");
                b["config-status"] = json!("terminated");
                b["detailed-status"] = json!("Done");
                Self::clear_links(b);
                let admin = at(b, "_admin");
                *at(admin, "nsState") = json!("NOT_INSTANTIATED");
                *at(at(admin, "deployed"), "RO") = json!({"vnfd": [], "operational-status": null});
            })
            .await?;
        self.clear_vnfrs(&nsr, Some("DELETED")).await?;
        let vims = self.vim_ids(&nsr).await;
        if autoremove {
            // The NSR, its VNFRs and its operations go in one transaction (OSM deletes them once
            // LCM reports the termination).
            let ops: Vec<String> = self
                .records
                .find_records(NSLCMOPS, "nsInstanceId", nsr_id)
                .await?
                .into_iter()
                .map(|o| o.id)
                .collect();
            let vnfrs: Vec<String> = nsr["constituent-vnfr-ref"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect();
            let mut keys: Vec<(&str, &str)> = ops.iter().map(|o| (NSLCMOPS, o.as_str())).collect();
            keys.extend(vnfrs.iter().map(|v| (VNFRS, v.as_str())));
            keys.push((NSRS, nsr_id));
            let event = NewEvent::new(
                "ns",
                "terminated",
                json!({"nsr_id": nsr_id, "nslcmop_id": op_id, "operationState": "COMPLETED",
                       "autoremove": true}),
            );
            self.records.delete_records(&keys, &[event]).await?;
            self.refresh_others(&nsr, &vims, true).await;
            tracing::info!(
                nslcmop = op_id,
                nsr = nsr_id,
                released,
                "NS terminated and removed"
            );
            return Ok(json!({"terminated": true, "removed": true, "released": released}));
        }
        self.refresh_others(&nsr, &vims, false).await;
        self.finish_op(op_id, "COMPLETED", None).await?;
        tracing::info!(nslcmop = op_id, nsr = nsr_id, released, "NS terminated");
        Ok(json!({"terminated": true, "released": released}))
    }
}

impl Engine {
    async fn scale(
        &self,
        ctx: &JobContext,
        op_id: &str,
        nsr_id: &str,
        plan: &Value,
    ) -> Result<Value, Stop> {
        let nsr = self
            .modify(NSRS, nsr_id, |b| {
                b["currentOperation"] = json!("SCALING");
                b["currentOperationID"] = json!(op_id);
                b["operational-status"] = json!("scaling");
            })
            .await?;
        let vnfr_id = plan["vnfr"].as_str().unwrap_or_default();
        let member = plan["member"].as_str().unwrap_or_default();
        let Some(vnfr) = self.get(VNFRS, vnfr_id).await? else {
            return Err(Stop::Fail(format!(
                "VNF record '{vnfr_id}' no longer exists"
            )));
        };
        let vim = self
            .vim(vnfr.body["vim-account-id"].as_str().unwrap_or_default())
            .await?;
        let adds: Vec<Value> = plan["add"].as_array().cloned().unwrap_or_default();
        let removes: Vec<Value> = plan["remove"].as_array().cloned().unwrap_or_default();
        let total = adds.len() + removes.len();
        for (i, add) in adds.iter().enumerate() {
            self.progress(
                ctx,
                op_id,
                &format!("Stage 1/2: Scaling VDUs ({i}/{total})"),
            )
            .await?;
            let entry = add.clone();
            self.modify(VNFRS, vnfr_id, |b| {
                let list = b["vdur"].as_array_mut();
                if let Some(list) = list
                    && !list.iter().any(|d| d["_id"] == entry["_id"])
                {
                    let mut e = entry.clone();
                    e["status"] = json!("BUILD");
                    list.push(e);
                }
            })
            .await?;
            let server = self.server_for(&vim, nsr_id, member, add).await?;
            let id = add["_id"].clone();
            self.modify(VNFRS, vnfr_id, |b| {
                for d in b["vdur"].as_array_mut().into_iter().flatten() {
                    if d["_id"] == id {
                        d["status"] = json!("ACTIVE");
                        d["vim-id"] = json!(server.vim_id);
                        d["vim-account-id"] = json!(server.vim_account_id);
                        d["ip-address"] = json!(server.address);
                    }
                }
            })
            .await?;
        }
        for (i, rm) in removes.iter().enumerate() {
            self.progress(
                ctx,
                op_id,
                &format!("Stage 1/2: Scaling VDUs ({}/{total})", adds.len() + i),
            )
            .await?;
            let vdu = rm["vdu-id-ref"].as_str().unwrap_or_default();
            let count = rm["count-index"].as_u64().unwrap_or(0);
            self.cloud
                .delete(&vim, &format!("{nsr_id}/{member}/{vdu}/{count}"))
                .await?;
            let id = rm["_id"].clone();
            self.modify(VNFRS, vnfr_id, |b| {
                if let Some(list) = b["vdur"].as_array_mut() {
                    list.retain(|d| d["_id"] != id);
                }
            })
            .await?;
        }
        self.progress(ctx, op_id, "Stage 2/2: Updating records")
            .await?;
        let group = plan["group"].clone();
        let steps = plan["steps"].clone();
        let member_v = json!(member);
        self.modify(NSRS, nsr_id, |b| {
            b["currentOperation"] = json!("IDLE");
            b["currentOperationID"] = Value::Null;
            b["operational-status"] = json!("running");
            let admin = at(b, "_admin");
            let groups = at(admin, "scaling-group");
            if !groups.is_array() {
                *groups = json!([]);
            }
            if let Some(list) = groups.as_array_mut() {
                list.retain(|g| !(g["name"] == group && g["vnf_index"] == member_v));
                list.push(json!({"name": group, "vnf_index": member_v, "nb-scale-op": steps}));
            }
        })
        .await?;
        self.refresh_others(&nsr, std::slice::from_ref(&vim.account_id), false)
            .await;
        self.finish_op(op_id, "COMPLETED", None).await?;
        tracing::info!(
            nslcmop = op_id,
            nsr = nsr_id,
            added = adds.len(),
            removed = removes.len(),
            "NS scaled"
        );
        Ok(json!({"added": adds.len(), "removed": removes.len()}))
    }

    /// Undoes what a failed scale-out added; the NS keeps running at its previous size.
    async fn undo_scale(
        &self,
        op_id: &str,
        nsr_id: &str,
        plan: &Value,
        why: &str,
    ) -> Result<Value, Stop> {
        let vnfr_id = plan["vnfr"].as_str().unwrap_or_default();
        let member = plan["member"].as_str().unwrap_or_default();
        let vim_id = self
            .get(VNFRS, vnfr_id)
            .await?
            .and_then(|v| v.body["vim-account-id"].as_str().map(str::to_string))
            .unwrap_or_default();
        for add in plan["add"].as_array().into_iter().flatten() {
            let vdu = add["vdu-id-ref"].as_str().unwrap_or_default();
            let count = add["count-index"].as_u64().unwrap_or(0);
            let key = format!("{nsr_id}/{member}/{vdu}/{count}");
            let held = self.cloud.resources(&key).await?;
            for r in held.iter().filter(|r| r.key == key) {
                let vim = self.vim_of(r).await?;
                self.cloud.delete(&vim, &r.key).await?;
            }
            let id = add["_id"].clone();
            if self.get(VNFRS, vnfr_id).await?.is_some() {
                self.modify(VNFRS, vnfr_id, |b| {
                    if let Some(list) = b["vdur"].as_array_mut() {
                        list.retain(|d| d["_id"] != id);
                    }
                })
                .await?;
            }
        }
        let nsr = self
            .modify(NSRS, nsr_id, |b| {
                b["currentOperation"] = json!("IDLE");
                b["currentOperationID"] = Value::Null;
                b["operational-status"] = json!("running");
            })
            .await?;
        self.refresh_others(&nsr, &[vim_id], false).await;
        self.finish_op(op_id, "FAILED", Some(why)).await?;
        Ok(json!({"failed": why}))
    }
}

/// `<rw_mgmt_ip>` and `<param>` placeholders of day-1 parameter values.
fn substitute(v: &Value, ip: &str, params: &Value) -> Value {
    match v {
        Value::String(s) => {
            let mut out = s.replace("<rw_mgmt_ip>", ip);
            if let Some(m) = params.as_object() {
                for (k, val) in m {
                    let text = val.as_str().map_or_else(|| val.to_string(), str::to_string);
                    out = out.replace(&format!("<{k}>"), &text);
                }
            }
            Value::String(out)
        }
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, x)| (k.clone(), substitute(x, ip, params)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// The primitive endpoint of a member, from `additionalParamsForVnf`.
pub fn primitive_endpoint(instantiate_params: &Value, member: &str) -> Option<String> {
    instantiate_params["additionalParamsForVnf"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|p| p["member-vnf-index"].as_str() == Some(member))
        .and_then(|p| p["additionalParams"]["primitive_endpoint"].as_str())
        .map(str::to_string)
}

impl Engine {
    /// Runs each VNF's day-1 primitives (in `seq` order) once its VDUs run; those done are noted
    /// in the VNFR, so a re-run operation does not repeat them.
    async fn day1(
        &self,
        ctx: &JobContext,
        op_id: &str,
        nsr_id: &str,
        nsr: &Value,
        vnfrs: &[Record],
    ) -> Result<(), Stop> {
        for v in vnfrs {
            let member = v.body["member-vnf-index-ref"].as_str().unwrap_or_default();
            let Some(endpoint) = primitive_endpoint(&nsr["instantiate_params"], member) else {
                continue;
            };
            let vnfd_id = v.body["vnfd-id"].as_str().unwrap_or_default();
            let Some(vnfd) = self.get("vnfds", vnfd_id).await? else {
                continue;
            };
            let current = self
                .get(VNFRS, &v.id)
                .await?
                .map(|r| r.body)
                .unwrap_or_default();
            let ip = current["ip-address"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            let additional = current["additionalParamsForVnf"].clone();
            for (name, params) in crate::model::initial_primitives(&vnfd.body) {
                let done = current["_admin"]["day1-done"]
                    .as_array()
                    .is_some_and(|d| d.iter().any(|x| x.as_str() == Some(name.as_str())));
                if done {
                    continue;
                }
                self.progress(
                    ctx,
                    op_id,
                    &format!("Stage 3/3: Running day-1 primitive '{name}' on member '{member}'"),
                )
                .await?;
                let call = PrimitiveCall {
                    endpoint: endpoint.clone(),
                    nslcmop_id: op_id.to_string(),
                    ns_instance_id: nsr_id.to_string(),
                    member_vnf_index: member.to_string(),
                    vdu_id: None,
                    vdu_count_index: None,
                    ip_address: Some(ip.clone()),
                    primitive: name.clone(),
                    params: substitute(&params, &ip, &additional),
                };
                self.executor.execute(&call).await.map_err(|e| {
                    Stop::Fail(format!(
                        "day-1 primitive '{name}' of member '{member}': {e}"
                    ))
                })?;
                let n = name.clone();
                self.modify(VNFRS, &v.id, |b| {
                    let admin = at(b, "_admin");
                    let list = at(admin, "day1-done");
                    if !list.is_array() {
                        *list = json!([]);
                    }
                    if let Some(l) = list.as_array_mut() {
                        l.push(json!(n));
                    }
                })
                .await?;
            }
        }
        Ok(())
    }

    /// A day-2 primitive. Its failure fails the operation; the NS keeps running.
    async fn action(
        &self,
        ctx: &JobContext,
        op_id: &str,
        nsr_id: &str,
        plan: &Value,
    ) -> Result<Value, Stop> {
        let primitive = plan["primitive"].as_str().unwrap_or_default().to_string();
        let member = plan["member"].as_str().unwrap_or_default().to_string();
        self.modify(NSRS, nsr_id, |b| {
            b["currentOperation"] = json!(format!("RUNNING ACTION {primitive}"));
            b["currentOperationID"] = json!(op_id);
        })
        .await?;
        self.progress(
            ctx,
            op_id,
            &format!("Running primitive '{primitive}' on member '{member}'"),
        )
        .await?;
        let call = PrimitiveCall {
            endpoint: plan["endpoint"].as_str().unwrap_or_default().to_string(),
            nslcmop_id: op_id.to_string(),
            ns_instance_id: nsr_id.to_string(),
            member_vnf_index: member.clone(),
            vdu_id: plan["vdu_id"].as_str().map(str::to_string),
            vdu_count_index: plan["vdu_count_index"].as_u64(),
            ip_address: plan["ip_address"].as_str().map(str::to_string),
            primitive: primitive.clone(),
            params: plan["params"].clone(),
        };
        let outcome = self.executor.execute(&call).await;
        self.modify(NSRS, nsr_id, |b| {
            b["currentOperation"] = json!("IDLE");
            b["currentOperationID"] = Value::Null;
        })
        .await?;
        match outcome {
            Ok(output) => {
                self.finish_op_with(op_id, "COMPLETED", None, Some(&output))
                    .await?;
                tracing::info!(nslcmop = op_id, nsr = nsr_id, primitive = %primitive, "NS action completed");
                Ok(json!({"output": output}))
            }
            Err(e) => {
                self.finish_op(op_id, "FAILED", Some(&e)).await?;
                tracing::warn!(nslcmop = op_id, nsr = nsr_id, primitive = %primitive, error = %e, "NS action failed");
                Ok(json!({"failed": e}))
            }
        }
    }
}

/// The SLICES site of a VIM account: `config.location.site`, else its name.
fn site_of(vim: &VimTarget) -> String {
    vim.config["location"]["site"]
        .as_str()
        .unwrap_or(&vim.name)
        .to_string()
}

/// The existing VIM network the instantiation maps a virtual link to (OSM's
/// `vld: [{name, vim-network-name}]`, the name given once or per VIM account id).
fn external_network(nsr: &Value, link: &str, vim_account_id: &str) -> Option<String> {
    let entry = nsr["instantiate_params"]["vld"]
        .as_array()?
        .iter()
        .find(|l| l["name"].as_str() == Some(link))?;
    match &entry["vim-network-name"] {
        Value::String(n) if !n.is_empty() => Some(n.clone()),
        Value::Object(per_vim) => per_vim
            .get(vim_account_id)
            .and_then(Value::as_str)
            .map(str::to_string),
        _ => None,
    }
}

/// Mbps for a virtual link: the instantiation's `vld[name].bandwidth`, else the NSD's
/// `virtual-link-desc[id].bandwidth`, else 100.
fn link_bandwidth(nsr: &Value, link: &str) -> i64 {
    let from = |list: &Value, key: &str| {
        list.as_array()
            .into_iter()
            .flatten()
            .find(|l| l[key].as_str() == Some(link))
            .and_then(|l| l["bandwidth"].as_i64())
    };
    from(&nsr["instantiate_params"]["vld"], "name")
        .or_else(|| from(&nsr["nsd"]["virtual-link-desc"], "id"))
        .unwrap_or(100)
}

/// A refused reservation in words.
fn refusal_text(r: &netorch_core::connectivity::Refusal) -> String {
    use netorch_core::connectivity::Refusal as R;
    match r {
        R::UnknownSite { site, known } => {
            format!(
                "site '{site}' is not in the SLICES topology (known: {})",
                known.join(", ")
            )
        }
        R::NotConnected { site1, site2, .. } => {
            format!("no link joins sites '{site1}' and '{site2}'")
        }
        R::OverCapacity { capacity } => format!("the link carries at most {capacity} Mbps"),
        R::Bandwidth {
            capacity,
            peak,
            requested,
            ..
        } => format!(
            "the link has {} of {capacity} Mbps free, {requested} Mbps requested",
            capacity - peak
        ),
        R::NoVlan { site, pool, .. } => format!("site '{site}' has no free VLAN (pool of {pool})"),
        R::NoCTag { site } => format!("site '{site}' has no C-tag range"),
        R::IdempotencyMismatch => "the reservation was made before with other parameters".into(),
        R::Ended => "the reservation has ended".into(),
    }
}

impl Engine {
    /// Reserves the link between two sites for a virtual link. Idempotent within an operation:
    /// the key is the operation, the link and the sites, and the window starts at the operation's
    /// start.
    #[expect(clippy::too_many_arguments, reason = "one reservation's coordinates")]
    async fn reserve(
        &self,
        op_id: &str,
        nsr_id: &str,
        link: &str,
        site1: &str,
        site2: &str,
        bandwidth: i64,
        op_start: f64,
    ) -> Result<Value, Stop> {
        let Some(conn) = &self.connectivity else {
            return Err(Stop::Fail(format!(
                "virtual link '{link}' spans sites '{site1}' and '{site2}' but inter-site connectivity is not available"
            )));
        };
        let start = (op_start * 1_000_000.0) as netorch_core::Micros;
        // Ten years: an NS holds its link for as long as it runs; terminate releases it.
        let end = start + 10 * 365 * 86_400 * 1_000_000;
        let key = format!("nslcmop:{op_id}/vld/{link}/{site1}-{site2}");
        let cmd = ReserveCommand {
            id: format!(
                "con_nslcm_{}",
                &netorch_core::new_id().replace('-', "")[..16]
            ),
            experiment_id: format!("nsr:{nsr_id}"),
            created_by: "netorch-lcm".into(),
            request: ReservationRequest {
                site1: site1.to_string(),
                site2: site2.to_string(),
                bandwidth,
                start,
                end,
                qinq: false,
            },
            idempotency: Some((key, format!("{site1}|{site2}|{bandwidth}|{start}|{end}"))),
            now: self.clock.now(),
        };
        match conn.reserve(&cmd).await? {
            Outcome::Done(r) | Outcome::Replayed(r) => Ok(json!({
                "reservation": r.id, "site1": r.site1, "site2": r.site2, "bandwidth": r.bandwidth,
                "site1_s_tag": r.site1_s_tag, "site1_c_tag": r.site1_c_tag,
                "site2_s_tag": r.site2_s_tag, "site2_c_tag": r.site2_c_tag,
            })),
            Outcome::Refused(why) => Err(Stop::Fail(format!(
                "inter-site link for virtual link '{link}' ({site1} - {site2}, {bandwidth} Mbps) refused: {}",
                refusal_text(&why)
            ))),
            Outcome::NotFound => Err(Stop::Fail(
                "the reservation vanished while being made".into(),
            )),
        }
    }

    /// Releases every reservation made for the NS (found by its experiment, so one made just
    /// before a crash is found too).
    async fn release_links(&self, nsr_id: &str) -> Result<usize, Stop> {
        let Some(conn) = &self.connectivity else {
            return Ok(0);
        };
        let experiment = format!("nsr:{nsr_id}");
        let held = conn
            .list_reservations(&ReservationFilter {
                experiment_id: Some(experiment.clone()),
                limit: 10_000,
                ..Default::default()
            })
            .await?;
        for r in &held {
            conn.release(&r.id, &experiment, self.clock.now()).await?;
        }
        Ok(held.len())
    }
}

impl Engine {
    /// Heal: every listed VDU instance gets its server back (created again under its key if the
    /// VIM lost it; an existing one is kept), and its record is refreshed.
    async fn heal(
        &self,
        ctx: &JobContext,
        op_id: &str,
        nsr_id: &str,
        plan: &Value,
    ) -> Result<Value, Stop> {
        let nsr = self
            .modify(NSRS, nsr_id, |b| {
                b["currentOperation"] = json!("HEALING");
                b["currentOperationID"] = json!(op_id);
            })
            .await?;
        let mut healed = 0;
        let mut vims_used = Vec::new();
        for target in plan.as_array().into_iter().flatten() {
            let vnfr_id = target["vnfr"].as_str().unwrap_or_default();
            let Some(vnfr) = self.get(VNFRS, vnfr_id).await? else {
                return Err(Stop::Fail(format!(
                    "VNF instance '{vnfr_id}' no longer exists"
                )));
            };
            let vim = self
                .vim(vnfr.body["vim-account-id"].as_str().unwrap_or_default())
                .await?;
            vims_used.push(vim.account_id.clone());
            let member = vnfr.body["member-vnf-index-ref"]
                .as_str()
                .unwrap_or_default();
            let wanted: Vec<&str> = target["vdur"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|v| v.as_str())
                .collect();
            for vdur in vnfr.body["vdur"].as_array().into_iter().flatten() {
                let id = vdur["_id"].as_str().unwrap_or_default();
                // A PDU is physical: nothing to re-create.
                if (!wanted.is_empty() && !wanted.contains(&id)) || vdur["pdu-type"].is_string() {
                    continue;
                }
                self.progress(ctx, op_id, &format!("Healing VDU '{id}'"))
                    .await?;
                let server = self.server_for(&vim, nsr_id, member, vdur).await?;
                let vdur_id = vdur["_id"].clone();
                self.modify(VNFRS, vnfr_id, |b| {
                    for d in b["vdur"].as_array_mut().into_iter().flatten() {
                        if d["_id"] == vdur_id {
                            d["status"] = json!("ACTIVE");
                            d["vim-id"] = json!(server.vim_id);
                            d["ip-address"] = json!(server.address);
                        }
                    }
                })
                .await?;
                healed += 1;
            }
        }
        self.modify(NSRS, nsr_id, |b| {
            b["currentOperation"] = json!("IDLE");
            b["currentOperationID"] = Value::Null;
        })
        .await?;
        self.refresh_others(&nsr, &vims_used, false).await;
        self.finish_op(op_id, "COMPLETED", None).await?;
        tracing::info!(nslcmop = op_id, nsr = nsr_id, healed, "NS healed");
        Ok(json!({"healed": healed}))
    }
}

#[async_trait]
impl JobHandler for Engine {
    async fn run(&self, ctx: JobContext) -> Result<Value, JobError> {
        let Some(op_id) = ctx.job.payload["nslcmop"].as_str().map(str::to_string) else {
            return Err(JobError::Fatal(format!(
                "malformed payload {}",
                ctx.job.payload
            )));
        };
        let op = match self.get(NSLCMOPS, &op_id).await {
            Ok(Some(op)) => op,
            Ok(None) => return Ok(json!({"skipped": "the operation no longer exists"})),
            Err(Stop::Retry(m) | Stop::Fail(m)) => return Err(JobError::Retry(m)),
        };
        let state = op.body["operationState"].as_str().unwrap_or_default();
        let nsr_id = op.body["nsInstanceId"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let kind = op.body["lcmOperationType"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let last = ctx.job.attempts >= ctx.job.max_attempts;
        let outcome = match state {
            "PROCESSING" => match kind.as_str() {
                "instantiate" => self.instantiate(&ctx, &op_id, &nsr_id).await,
                "terminate" => {
                    let auto = op.body["operationParams"]["autoremove"] == json!(true);
                    self.terminate(&ctx, &op_id, &nsr_id, auto).await
                }
                "scale" => {
                    self.scale(&ctx, &op_id, &nsr_id, &op.body["_admin"]["scale-plan"])
                        .await
                }
                "action" => {
                    self.action(&ctx, &op_id, &nsr_id, &op.body["_admin"]["action-plan"])
                        .await
                }
                "heal" => {
                    self.heal(&ctx, &op_id, &nsr_id, &op.body["_admin"]["heal-plan"])
                        .await
                }
                other => Err(Stop::Fail(format!(
                    "operation '{other}' is not supported by this engine"
                ))),
            },
            "ROLLING_BACK" => {
                let why = op.body["errorMessage"]
                    .as_str()
                    .unwrap_or("rolled back")
                    .to_string();
                if kind == "scale" {
                    self.undo_scale(&op_id, &nsr_id, &op.body["_admin"]["scale-plan"], &why)
                        .await
                } else {
                    self.roll_back(&ctx, &op_id, &nsr_id, &why).await
                }
            }
            _ => return Ok(json!({"skipped": "the operation already finished"})),
        };
        let why = match outcome {
            Ok(v) => return Ok(v),
            Err(Stop::Retry(m)) if !last => return Err(JobError::Retry(m)),
            Err(Stop::Retry(m) | Stop::Fail(m)) => m,
        };
        tracing::warn!(nslcmop = %op_id, nsr = %nsr_id, kind = %kind, error = %why, "NS operation failed");
        let failed = async {
            if kind == "scale" {
                self.modify(NSLCMOPS, &op_id, |b| {
                    b["operationState"] = json!("ROLLING_BACK");
                    b["errorMessage"] = json!(why);
                    b["detailed-status"] = json!(format!("rolling back: {why}"));
                })
                .await?;
                self.undo_scale(&op_id, &nsr_id, &op.body["_admin"]["scale-plan"], &why)
                    .await
            } else if kind == "instantiate" {
                // Marked first, so that an interruption resumes as a rollback, not a retry.
                self.modify(NSLCMOPS, &op_id, |b| {
                    b["operationState"] = json!("ROLLING_BACK");
                    b["errorMessage"] = json!(why);
                    b["detailed-status"] = json!(format!("rolling back: {why}"));
                })
                .await?;
                self.roll_back(&ctx, &op_id, &nsr_id, &why).await
            } else {
                self.modify(NSRS, &nsr_id, |b| {
                    b["nsState"] = json!("BROKEN");
                    b["currentOperation"] = json!("IDLE");
                    b["currentOperationID"] = Value::Null;
                    b["operational-status"] = json!("failed");
                    b["errorDescription"] = json!(format!("Operation: {}.", kind.to_uppercase()));
                    b["errorDetail"] = json!(why);
                    b["detailed-status"] = json!(why);
                })
                .await?;
                self.finish_op(&op_id, "FAILED", Some(&why)).await?;
                Ok(json!({"failed": why}))
            }
        };
        match failed.await {
            Ok(v) => Ok(v),
            Err(Stop::Retry(m) | Stop::Fail(m)) => Err(JobError::Retry(m)),
        }
    }
}
