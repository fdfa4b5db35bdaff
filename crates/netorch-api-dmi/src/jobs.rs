//! The family's durable work: the module-sync watchdog (ADVISED → READY or LOCKED, LOCKED
//! retried with backoff), asynchronous pass-through and bulk reads (results as NCMP CloudEvents
//! through the outbox), and registration with a configured NCMP.

use std::{collections::BTreeMap, sync::Arc, time::Duration};

use async_trait::async_trait;
use futures::StreamExt;
use netorch_core::{Micros, events::NewEvent, tenancy::Record};
use netorch_scheduler::{JobContext, JobError, JobHandler};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::{
    DmiState, HANDLES,
    access::{self, Handle},
    error::Failure,
    inventory::lcm_event,
    ncmp::{Operation, perform},
};

/// The module-sync watchdog (periodic, and queued by every registration).
pub const MODULE_SYNC_JOB: &str = "dmi.module_sync";
/// One asynchronous pass-through (`topic` given).
pub const DATA_OPERATION_JOB: &str = "dmi.data_operation";
/// One bulk request (`POST /dmi/v1/data`).
pub const BULK_JOB: &str = "dmi.bulk";
/// Registration of handles with the configured NCMP.
pub const NCMP_REGISTER_JOB: &str = "dmi.ncmp_register";

fn retry(e: impl std::fmt::Display) -> JobError {
    JobError::Retry(e.to_string())
}

/// Queues a job of the family and wakes the scheduler.
pub(crate) async fn enqueue(
    s: &DmiState,
    kind: &str,
    payload: Value,
    max_attempts: i64,
    now: Micros,
) -> Result<(), Failure> {
    s.deps
        .jobs
        .enqueue(
            &netorch_core::jobs::NewJob {
                kind: kind.into(),
                project_id: None,
                payload,
                max_attempts,
                run_at: now,
                dedupe_key: None,
            },
            now,
        )
        .await?;
    s.deps.job_waker.notify_one();
    Ok(())
}

/// RFC 3339 of a timestamp.
pub(crate) fn now_iso(now: Micros) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(now as i128 * 1000)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

/// Marks a handle READY with its module list (after a sync the caller did itself).
pub(crate) async fn mark_ready(s: &DmiState, id: &str) -> Result<(), Failure> {
    let h = access::handle(s, id).await?;
    let now = s.deps.clock.now();
    let modules = s
        .deps
        .models
        .cached(&h.set_key())
        .map(|m| m.modules().to_vec())
        .unwrap_or_default();
    let mut r = h.record.clone();
    set_ready(&mut r.body, &modules, now);
    if r.body != h.record.body {
        r.touch(now);
        s.deps
            .records
            .update_record(
                HANDLES,
                &r,
                &[lcm_event(id, Some(&h.record.body), Some(&r.body), now)],
            )
            .await?;
    }
    Ok(())
}

fn set_ready(body: &mut Value, modules: &[netorch_netconf::SchemaRef], now: Micros) {
    body["state"] = json!("READY");
    body["lockReason"] = Value::Null;
    body["syncAttempts"] = json!(0);
    body["retryAt"] = json!(0);
    body["moduleCount"] = json!(modules.len());
    body["lastUpdateTime"] = json!(now_iso(now));
}

/// Brings ADVISED handles (and LOCKED ones whose retry time came) to READY: one device round
/// trip per module set (a tag's handles share the first one's models), bounded concurrency.
pub struct ModuleSync {
    pub(crate) state: DmiState,
    pub(crate) running: Arc<tokio::sync::Mutex<()>>,
}

#[async_trait]
impl JobHandler for ModuleSync {
    async fn run(&self, _ctx: JobContext) -> Result<Value, JobError> {
        // Syncs queued while one runs have nothing left to do: one at a time per process.
        let _one = self.running.lock().await;
        let s = &self.state;
        let now = s.deps.clock.now();
        let mut due: Vec<Record> = s
            .deps
            .records
            .find_records(HANDLES, "state", "ADVISED")
            .await
            .map_err(retry)?;
        due.extend(
            s.deps
                .records
                .find_records(HANDLES, "state", "LOCKED")
                .await
                .map_err(retry)?
                .into_iter()
                .filter(|r| r.body.get("retryAt").and_then(Value::as_i64).unwrap_or(0) <= now),
        );
        if due.is_empty() {
            return Ok(json!({"synced": 0}));
        }
        let mut groups: BTreeMap<String, Vec<Record>> = BTreeMap::new();
        for r in due {
            let h = Handle { record: r };
            groups.entry(h.set_key()).or_default().push(h.record);
        }
        let results: Vec<(usize, usize)> = futures::stream::iter(groups.into_values())
            .map(|records| sync_group(s, records))
            .buffer_unordered(s.deps.config.sync_concurrency.max(1))
            .collect()
            .await;
        let ready: usize = results.iter().map(|r| r.0).sum();
        let locked: usize = results.iter().map(|r| r.1).sum();
        if ready + locked > 0 {
            tracing::info!(ready, locked, "cm handle module sync");
        }
        Ok(json!({"ready": ready, "locked": locked}))
    }
}

async fn sync_group(s: &DmiState, records: Vec<Record>) -> (usize, usize) {
    let now = s.deps.clock.now();
    let mut modules: Option<Vec<netorch_netconf::SchemaRef>> = None;
    let mut updates: Vec<(Record, Value)> = Vec::new();
    let (mut ready, mut locked) = (0, 0);
    for r in records {
        let h = Handle { record: r };
        let before = h.record.body.clone();
        let mut r = h.record.clone();
        if modules.is_none() {
            match access::models(s, &h, false).await {
                Ok(m) => modules = Some(m.modules().to_vec()),
                Err(f) => {
                    let attempts = r
                        .body
                        .get("syncAttempts")
                        .and_then(Value::as_i64)
                        .unwrap_or(0)
                        + 1;
                    let base = s.deps.config.sync_retry.as_micros() as i64;
                    let wait = base
                        .saturating_mul(1i64 << (attempts - 1).clamp(0, 20))
                        .min(s.deps.config.sync_retry_max.as_micros() as i64);
                    r.body["state"] = json!("LOCKED");
                    r.body["lockReason"] = json!({
                        "reason": "MODULE_SYNC_FAILED",
                        "details": format!("Attempt #{attempts} failed: {}", f.message),
                    });
                    r.body["syncAttempts"] = json!(attempts);
                    r.body["retryAt"] = json!(now + wait);
                    r.body["lastUpdateTime"] = json!(now_iso(now));
                    tracing::warn!(cm_handle = %r.id, attempt = attempts, error = %f.message, "module sync failed");
                    locked += 1;
                    updates.push((r, before));
                    continue;
                }
            }
        }
        set_ready(&mut r.body, modules.as_deref().unwrap_or_default(), now);
        ready += 1;
        updates.push((r, before));
    }
    for chunk in updates.chunks_mut(500) {
        let events: Vec<NewEvent> = chunk
            .iter()
            .map(|(r, before)| lcm_event(&r.id, Some(before), Some(&r.body), now))
            .collect();
        for (r, _) in chunk.iter_mut() {
            r.touch(now);
        }
        let recs: Vec<(&str, &Record)> = chunk.iter().map(|(r, _)| (HANDLES, r)).collect();
        if let Err(e) = s.deps.records.write_records(&[], &recs, &[], &events).await {
            // A handle changed meanwhile (re-registered, removed): write the others one by one;
            // the changed one is synced again at the next run.
            tracing::debug!(error = %e, "module sync batch conflicted; writing one by one");
            for ((r, _), ev) in chunk.iter().zip(&events) {
                let _ = s
                    .deps
                    .records
                    .update_record(HANDLES, r, std::slice::from_ref(ev))
                    .await;
            }
        }
    }
    (ready, locked)
}

/// NCMP's status code and message for a failed operation on one handle.
fn status_of(f: &Failure) -> (&'static str, String) {
    match f.status {
        StatusCode::NOT_FOUND if f.message.contains("cm handle") => ("100", f.message.clone()),
        StatusCode::CONFLICT if f.message.contains("need it READY") => ("101", f.message.clone()),
        StatusCode::GATEWAY_TIMEOUT | StatusCode::BAD_GATEWAY => ("102", f.message.clone()),
        _ => ("103", f.message.clone()),
    }
}

/// The CloudEvent NCMP expects on `ncmp-async-m2m` (`DataOperationEvent`).
fn data_operation_event(
    s: &DmiState,
    topic: &str,
    request_id: &str,
    responses: Vec<Value>,
    now: Micros,
) -> NewEvent {
    NewEvent::new(
        s.deps.config.async_topic.clone(),
        request_id,
        json!({
            "specversion": "1.0",
            "id": netorch_core::new_id(),
            "source": s.deps.config.plugin_id,
            "type": "org.onap.cps.ncmp.events.async1_0_0.DataOperationEvent",
            "dataschema": "urn:cps:org.onap.cps.ncmp.events.async1_0_0.DataOperationEvent:1.0.0",
            "time": now_iso(now),
            "datacontenttype": "application/json",
            "destination": topic,
            "correlationid": request_id,
            "data": {"data": {"responses": responses}},
        }),
    )
}

/// Runs `op` within the async limit: NCMP's response entry for it.
async fn outcome(s: &DmiState, op: &Operation, operation_id: Value) -> (&'static str, Value) {
    let (code, message, result) =
        match tokio::time::timeout(s.deps.config.async_timeout, perform(s, op)).await {
            Ok(Ok((_, body))) => ("0", "Successfully applied changes".to_string(), body),
            Ok(Err(f)) => {
                let (c, m) = status_of(&f);
                (c, m, None)
            }
            Err(_) => ("102", "the device did not answer in time".to_string(), None),
        };
    (
        code,
        json!({
            "operationId": operation_id,
            "ids": [op.cm_handle],
            "resourceIdentifier": op.resource_identifier,
            "options": op.options,
            "statusCode": code,
            "statusMessage": message,
            "result": result.unwrap_or(json!({})),
        }),
    )
}

/// One asynchronous pass-through.
pub struct DataOperation {
    pub(crate) state: DmiState,
}

#[async_trait]
impl JobHandler for DataOperation {
    async fn run(&self, ctx: JobContext) -> Result<Value, JobError> {
        let s = &self.state;
        let p = &ctx.job.payload;
        let op: Operation = serde_json::from_value(p["operation"].clone())
            .map_err(|e| JobError::Fatal(format!("bad payload: {e}")))?;
        let topic = p["topic"].as_str().unwrap_or_default();
        let request_id = p["requestId"].as_str().unwrap_or_default();
        let (code, response) = outcome(s, &op, json!(request_id)).await;
        let now = s.deps.clock.now();
        s.deps
            .outbox
            .append(&[data_operation_event(
                s,
                topic,
                request_id,
                vec![response],
                now,
            )])
            .await
            .map_err(retry)?;
        Ok(json!({"statusCode": code}))
    }
}

/// One bulk request: every (operation, handle) read, one event per handle.
pub struct Bulk {
    pub(crate) state: DmiState,
}

#[async_trait]
impl JobHandler for Bulk {
    async fn run(&self, ctx: JobContext) -> Result<Value, JobError> {
        let s = &self.state;
        let p = &ctx.job.payload;
        let topic = p["topic"].as_str().unwrap_or_default().to_string();
        let request_id = p["requestId"].as_str().unwrap_or_default().to_string();
        let mut work = Vec::new();
        for o in p["operations"].as_array().into_iter().flatten() {
            for ch in o["cmHandles"].as_array().into_iter().flatten() {
                let id = ch
                    .get("id")
                    .and_then(Value::as_str)
                    .or_else(|| ch.as_str())
                    .unwrap_or_default()
                    .to_string();
                work.push((
                    Operation {
                        cm_handle: id,
                        datastore: o["datastore"].as_str().unwrap_or_default().to_string(),
                        resource_identifier: o["resourceIdentifier"]
                            .as_str()
                            .unwrap_or("/")
                            .to_string(),
                        options: o["options"].as_str().map(str::to_string),
                        operation: "read".into(),
                        data_type: "application/json".into(),
                        data: None,
                    },
                    o["operationId"].clone(),
                ));
            }
        }
        let total = work.len();
        let mut events = futures::stream::iter(work)
            .map(|(op, operation_id)| {
                let topic = topic.clone();
                let request_id = request_id.clone();
                async move {
                    let (_, response) = outcome(s, &op, operation_id).await;
                    data_operation_event(s, &topic, &request_id, vec![response], s.deps.clock.now())
                }
            })
            .buffer_unordered(s.deps.config.bulk_concurrency.max(1));
        let mut batch = Vec::with_capacity(200);
        let mut sent = 0usize;
        while let Some(ev) = events.next().await {
            batch.push(ev);
            if batch.len() == 200 {
                s.deps.outbox.append(&batch).await.map_err(retry)?;
                sent += batch.len();
                batch.clear();
                ctx.progress(&format!("{sent}/{total} results published"))
                    .await;
            }
        }
        if !batch.is_empty() {
            sent += batch.len();
            s.deps.outbox.append(&batch).await.map_err(retry)?;
        }
        Ok(json!({"events": sent}))
    }
}

/// Registers handles with NCMP (`POST {ncmp}/ncmpInventory/v1/ch`) in batches; per-handle
/// failures of a 500 answer are recorded on the handles (`ncmpRegistration`).
pub struct NcmpRegister {
    pub(crate) state: DmiState,
    pub(crate) http: reqwest::Client,
}

impl NcmpRegister {
    /// A registrar with its own HTTP client (timeouts from the configuration).
    pub(crate) fn new(state: DmiState) -> Self {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap_or_default();
        Self { state, http }
    }
}

#[async_trait]
impl JobHandler for NcmpRegister {
    async fn run(&self, ctx: JobContext) -> Result<Value, JobError> {
        let s = &self.state;
        let Some(base) = s.deps.config.ncmp_url.clone() else {
            return Ok(json!({"skipped": "no dmi.ncmp_url"}));
        };
        let p = &ctx.job.payload;
        let ids = |k: &str| -> Vec<String> {
            p[k].as_array()
                .into_iter()
                .flatten()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        };
        let (created, updated, removed) = (ids("created"), ids("updated"), ids("removed"));
        let entry = |r: &Record| {
            json!({
                "cmHandle": r.id,
                "cmHandleProperties": r.body.get("additionalProperties").cloned().unwrap_or(json!({})),
                "moduleSetTag": r.body.get("moduleSetTag").cloned().unwrap_or(json!("")),
                "alternateId": r.body.get("alternateId").cloned().unwrap_or(json!("")),
                "dataProducerIdentifier": r.body.get("dataProducerIdentifier").cloned().unwrap_or(json!("")),
            })
        };
        let url = format!("{}/ncmpInventory/v1/ch", base.trim_end_matches('/'));
        let batch = s.deps.config.ncmp_batch.max(1);
        let mut failures: Vec<Value> = Vec::new();
        let mut ok_ids: Vec<String> = Vec::new();
        let kinds = [
            ("createdCmHandles", &created),
            ("updatedCmHandles", &updated),
        ];
        for (field, list) in kinds {
            for chunk in list.chunks(batch) {
                let mut handles = Vec::new();
                let mut sent = Vec::new();
                for id in chunk {
                    if let Ok(h) = access::handle(s, id).await {
                        handles.push(entry(&h.record));
                        sent.push(id.clone());
                    }
                }
                if handles.is_empty() {
                    continue;
                }
                let body = json!({"dmiPlugin": s.deps.config.plugin_id, field: handles});
                let f = self.send(&url, &body).await?;
                ok_ids.extend(sent.into_iter().filter(|id| {
                    !f.iter()
                        .any(|x| x["cmHandle"].as_str() == Some(id.as_str()))
                }));
                failures.extend(f);
            }
        }
        for chunk in removed.chunks(batch) {
            let body = json!({"dmiPlugin": s.deps.config.plugin_id, "removedCmHandles": chunk});
            failures.extend(self.send(&url, &body).await?);
        }
        ok_ids.sort();
        ok_ids.dedup();
        let now = s.deps.clock.now();
        for id in &ok_ids {
            record_registration(s, id, json!({"state": "REGISTERED", "time": now_iso(now)})).await;
        }
        for f in &failures {
            if let Some(id) = f["cmHandle"].as_str() {
                record_registration(
                    s,
                    id,
                    json!({"state": "FAILED", "errorCode": f["errorCode"], "errorText": f["errorText"], "time": now_iso(now)}),
                )
                .await;
            }
        }
        Ok(json!({"registered": ok_ids.len(), "failed": failures.len()}))
    }
}

impl NcmpRegister {
    /// One POST; the per-handle failures of a 500, or a retry for anything else.
    async fn send(&self, url: &str, body: &Value) -> Result<Vec<Value>, JobError> {
        let cfg = &self.state.deps.config;
        let mut req = self.http.post(url).json(body);
        if let Some((u, p)) = &cfg.ncmp_credentials {
            req = req.basic_auth(u, Some(p));
        }
        let resp = req
            .send()
            .await
            .map_err(|e| retry(format!("NCMP at {url}: {e}")))?;
        let status = resp.status();
        if status.is_success() {
            return Ok(Vec::new());
        }
        let text = resp.text().await.unwrap_or_default();
        if status == StatusCode::INTERNAL_SERVER_ERROR
            && let Ok(v) = serde_json::from_str::<Value>(&text)
            && v.is_object()
        {
            let mut failures = Vec::new();
            for k in [
                "failedCreatedCmHandles",
                "failedUpdatedCmHandles",
                "failedRemovedCmHandles",
                "failedUpgradeCmHandles",
            ] {
                failures.extend(v[k].as_array().cloned().unwrap_or_default());
            }
            if !failures.is_empty() {
                return Ok(failures);
            }
        }
        Err(retry(format!("NCMP answered {status}: {text}")))
    }
}

async fn record_registration(s: &DmiState, id: &str, value: Value) {
    for _ in 0..3 {
        let Ok(h) = access::handle(s, id).await else {
            return;
        };
        let mut r = h.record;
        r.body["ncmpRegistration"] = value.clone();
        r.touch(s.deps.clock.now());
        match s.deps.records.update_record(HANDLES, &r, &[]).await {
            Ok(()) => return,
            Err(netorch_core::StoreError::Conflict(_)) => continue,
            Err(e) => {
                tracing::warn!(cm_handle = %id, error = %e, "recording the NCMP registration failed");
                return;
            }
        }
    }
}
