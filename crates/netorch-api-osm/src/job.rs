//! Durable jobs of the family: account operations and their reconciliation.

use std::sync::Arc;

use async_trait::async_trait;
use netorch_core::{StoreError, clock::micros_to_secs, events::NewEvent, tenancy::ProjectScope};
use netorch_scheduler::{JobContext, JobError, JobHandler};
use serde_json::{Value, json};

use crate::{
    Deps,
    accounts::{ACCOUNT_JOB, KINDS, Kind, account_job, kind_of, load},
    connector,
    render::record_json,
};

/// Periodic job kind that re-enqueues operations whose job was lost.
pub const RECONCILE_JOB: &str = "osm.account.reconcile";
/// Periodic job kind that removes package files no record references and abandoned uploads.
pub const HOUSEKEEPING_JOB: &str = "osm.packages.housekeeping";

pub(crate) fn handlers(deps: &Deps) -> Vec<(&'static str, Arc<dyn JobHandler>)> {
    vec![
        (
            ACCOUNT_JOB,
            Arc::new(AccountOperation { deps: deps.clone() }) as Arc<dyn JobHandler>,
        ),
        (
            RECONCILE_JOB,
            Arc::new(Reconcile { deps: deps.clone() }) as Arc<dyn JobHandler>,
        ),
        (
            HOUSEKEEPING_JOB,
            Arc::new(Housekeeping { deps: deps.clone() }) as Arc<dyn JobHandler>,
        ),
        (
            crate::nslcm::slices::NSI_JOB,
            Arc::new(crate::nslcm::slices::NsiOperation { deps: deps.clone() })
                as Arc<dyn JobHandler>,
        ),
        (
            crate::nslcm::subscriptions::NOTIFY_JOB,
            Arc::new(crate::nslcm::subscriptions::Notify {
                deps: deps.clone(),
                seen: Arc::default(),
                since: Arc::default(),
            }) as Arc<dyn JobHandler>,
        ),
        (
            crate::nslcm::subscriptions::DELIVER_JOB,
            Arc::new(crate::nslcm::subscriptions::Deliver {
                deps: deps.clone(),
                http: reqwest::Client::builder()
                    .timeout(std::time::Duration::from_secs(10))
                    .build()
                    .unwrap_or_default(),
            }) as Arc<dyn JobHandler>,
        ),
        (
            netorch_lcm::NSLCM_JOB,
            Arc::new(
                netorch_lcm::Engine::new(
                    deps.records.clone(),
                    deps.cloud.clone(),
                    deps.primitives.clone(),
                    deps.clock.clone(),
                )
                .with_connectivity(deps.connectivity.clone()),
            ) as Arc<dyn JobHandler>,
        ),
    ]
}

struct AccountOperation {
    deps: Deps,
}

fn retry(e: StoreError) -> JobError {
    JobError::Retry(e.to_string())
}

#[async_trait]
impl JobHandler for AccountOperation {
    async fn run(&self, ctx: JobContext) -> Result<Value, JobError> {
        let p = &ctx.job.payload;
        let (Some(collection), Some(id), Some(op)) =
            (p["collection"].as_str(), p["id"].as_str(), p["op"].as_u64())
        else {
            return Err(JobError::Fatal(format!("malformed payload {p}")));
        };
        let op = op as usize;
        let kind = kind_of(collection)
            .ok_or_else(|| JobError::Fatal(format!("unknown collection {collection}")))?;
        let Some(record) = load(&self.deps, kind, id).await.map_err(retry)? else {
            return Ok(json!({"skipped": "the account no longer exists"}));
        };
        let entry = &record.body["_admin"]["operations"][op];
        if entry.is_null() {
            return Err(JobError::Fatal(format!(
                "operation {op} of {collection} {id} does not exist"
            )));
        }
        if entry["operationState"] != json!("PROCESSING") {
            return Ok(json!({"skipped": "the operation already finished"}));
        }
        if entry["lcmOperationType"] == json!("delete") {
            let event = NewEvent::new(kind.topic, "deleted", payload(kind, &record));
            self.deps
                .records
                .delete_record(collection, id, &[event])
                .await
                .map_err(retry)?;
            tracing::info!(collection, id, "account deleted");
            return Ok(json!({"deleted": true}));
        }
        ctx.progress(&format!("validating {collection} {id}")).await;
        let outcome = connector::validate(kind, &record.body, &self.deps.secrets).await;
        // The record may have changed while the endpoint was probed: apply to the latest revision.
        for _ in 0..5 {
            let Some(mut latest) = load(&self.deps, kind, id).await.map_err(retry)? else {
                return Ok(json!({"skipped": "the account was deleted meanwhile"}));
            };
            let now = self.deps.clock.now();
            let admin = &mut latest.body["_admin"];
            if admin["operations"][op]["operationState"] != json!("PROCESSING") {
                return Ok(json!({"skipped": "the operation already finished"}));
            }
            let state = if outcome.ok { "COMPLETED" } else { "FAILED" };
            admin["operations"][op]["operationState"] = json!(state);
            admin["operations"][op]["statusEnteredTime"] = json!(micros_to_secs(now));
            admin["operations"][op]["detailed-status"] = json!(outcome.detail);
            if admin["current_operation"] == json!(op) {
                admin["operationalState"] = json!(if outcome.ok { "ENABLED" } else { "ERROR" });
                admin["detailed-status"] = json!(outcome.detail);
                admin["current_operation"] = Value::Null;
            }
            admin["modified"] = json!(micros_to_secs(now));
            let event = NewEvent::new(
                kind.topic,
                if outcome.ok { "enabled" } else { "error" },
                json!({"_id": id, "operationalState": admin["operationalState"], "detailed-status": outcome.detail}),
            );
            latest.touch(now);
            match self
                .deps
                .records
                .update_record(collection, &latest, &[event])
                .await
            {
                Ok(()) => {
                    tracing::info!(collection, id, ok = outcome.ok, detail = %outcome.detail, "account validated");
                    return Ok(json!({"ok": outcome.ok, "detail": outcome.detail}));
                }
                Err(StoreError::Conflict(_)) => continue,
                Err(StoreError::NotFound { .. }) => {
                    return Ok(json!({"skipped": "the account was deleted meanwhile"}));
                }
                Err(e) => return Err(retry(e)),
            }
        }
        Err(JobError::Retry(
            "the account kept changing while its state was recorded".into(),
        ))
    }
}

fn payload(kind: &Kind, r: &netorch_core::tenancy::Record) -> Value {
    let mut doc = record_json(r, kind.secrets);
    if let Some(m) = doc.as_object_mut() {
        m.remove("_admin");
    }
    doc
}

/// Re-enqueues the job of every operation still PROCESSING (idempotent through the dedupe key):
/// covers a crash between an account's commit and its job's enqueue.
struct Reconcile {
    deps: Deps,
}

#[async_trait]
impl JobHandler for Reconcile {
    async fn run(&self, _ctx: JobContext) -> Result<Value, JobError> {
        let mut enqueued = 0;
        for kind in KINDS {
            for r in self
                .deps
                .records
                .list_records(kind.collection, &ProjectScope::All)
                .await
                .map_err(retry)?
            {
                let Some(ops) = r.body["_admin"]["operations"].as_array() else {
                    continue;
                };
                for (i, op) in ops.iter().enumerate() {
                    if op["operationState"] == json!("PROCESSING") {
                        let job =
                            account_job(kind.collection, &r.id, i, r.owners.write.first().cloned());
                        let now = self.deps.clock.now();
                        let j = self.deps.jobs.enqueue(&job, now).await.map_err(retry)?;
                        if j.created_at == now {
                            enqueued += 1;
                        }
                    }
                }
            }
        }
        // NS lifecycle operations: a lost job (crash between the operation's commit and the
        // enqueue) is enqueued again; a job that gave up while its operation still runs (its last
        // attempt was interrupted) gets a successor, which finishes or rolls back the operation.
        for op in self
            .deps
            .records
            .list_records(netorch_lcm::documents::NSLCMOPS, &ProjectScope::All)
            .await
            .map_err(retry)?
        {
            if !matches!(
                op.body["operationState"].as_str(),
                Some("PROCESSING" | "ROLLING_BACK")
            ) {
                continue;
            }
            let project = op.owners.write.first().cloned();
            let now = self.deps.clock.now();
            let job = netorch_lcm::op_job(&op.id, project.clone());
            let mut j = self.deps.jobs.enqueue(&job, now).await.map_err(retry)?;
            if j.created_at == now {
                enqueued += 1;
                continue;
            }
            // Follow the chain of successors (each keyed by the one it replaces) to its end: a
            // successor that gave up too gets its own successor, so an operation is never left
            // PROCESSING with no job (each link is made at most once per reconcile period).
            for _ in 0..64 {
                if j.state != netorch_core::jobs::JobState::Failed {
                    break;
                }
                let mut next = netorch_lcm::op_job(&op.id, project.clone());
                next.dedupe_key = Some(format!("nslcmop:{}:after:{}", op.id, j.id));
                let n = self.deps.jobs.enqueue(&next, now).await.map_err(retry)?;
                if n.created_at == now {
                    tracing::warn!(nslcmop = %op.id, failed_job = %j.id, "NS operation outlived its job; resuming it");
                    enqueued += 1;
                    break;
                }
                j = n;
            }
        }
        if enqueued > 0 {
            self.deps.job_waker.notify_one();
        }
        Ok(json!({"enqueued": enqueued}))
    }
}

/// Removes blobs that no package record references (left by a crash between writing files and
/// committing the record, or by deleted packages) once they are older than the grace period, and
/// chunked uploads abandoned for a day.
struct Housekeeping {
    deps: Deps,
}

#[async_trait]
impl JobHandler for Housekeeping {
    async fn run(&self, _ctx: JobContext) -> Result<Value, JobError> {
        let now = self.deps.clock.now();
        let uploads = self
            .deps
            .uploads
            .purge_uploads(now - 24 * 3_600_000_000)
            .await
            .map_err(retry)?;
        let mut referenced = std::collections::BTreeSet::new();
        for kind in crate::packages::KINDS {
            for r in self
                .deps
                .records
                .list_records(kind.collection, &ProjectScope::All)
                .await
                .map_err(retry)?
            {
                let storage = &r.body["_admin"]["storage"];
                if let Some(d) = storage["package"].as_str() {
                    referenced.insert(d.to_string());
                }
                for d in storage["files"]
                    .as_object()
                    .into_iter()
                    .flat_map(|m| m.values())
                {
                    if let Some(d) = d.as_str() {
                        referenced.insert(d.to_string());
                    }
                }
            }
        }
        let grace = self.deps.orphan_grace.as_micros() as i64;
        let mut removed = 0;
        for (digest, written) in self.deps.blobs.list().await.map_err(retry)? {
            if !referenced.contains(&digest)
                && written < now - grace
                && self.deps.blobs.delete(&digest).await.map_err(retry)?
            {
                removed += 1;
            }
        }
        if removed + uploads > 0 {
            tracing::info!(removed, uploads, "package housekeeping");
        }
        Ok(json!({"orphan_files_removed": removed, "abandoned_uploads_removed": uploads}))
    }
}
