//! The family's durable jobs: solving an accepted request, and delivering its callback.

use async_trait::async_trait;
use netorch_core::{jobs::NewJob, tenancy::ProjectScope};
use netorch_scheduler::{JobContext, JobError, JobHandler};
use serde_json::{Value, json};

use crate::{
    CALLBACK_JOB, OofState, placement,
    request::PlacementRequest,
    store::{self, REQUESTS},
};

/// Solves an accepted request, then enqueues its callback.
pub(crate) struct SolveJob(pub(crate) OofState);

#[async_trait]
impl JobHandler for SolveJob {
    async fn run(&self, ctx: JobContext) -> Result<Value, JobError> {
        let deps = &self.0.deps;
        let id = ctx.job.payload["requestId"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let Some(mut rec) = deps
            .records
            .get_record(REQUESTS, &id, &ProjectScope::All, true)
            .await
            .map_err(|e| JobError::Retry(e.to_string()))?
        else {
            // Its request may not be stored yet (the job is enqueued first); a request whose
            // submission failed never comes, and the job ends with its last attempt.
            return Err(JobError::Retry(format!("request {id} is not stored (yet)")));
        };
        // Solved before a restart: only the callback is left to enqueue.
        if rec.body["result"].is_null() {
            let req: PlacementRequest = serde_json::from_value(rec.body["request"].clone())
                .map_err(|e| JobError::Fatal(e.to_string()))?;
            ctx.progress("solving").await;
            let (result, n, code) = placement::compute(deps, &req).await;
            // The store was away (a restart, a fail-over): try again later rather than tell
            // the caller its request failed; only the last attempt reports it.
            if code == axum::http::StatusCode::SERVICE_UNAVAILABLE
                && ctx.job.attempts < ctx.job.max_attempts
            {
                return Err(JobError::Retry(
                    result["statusMessage"]
                        .as_str()
                        .unwrap_or("store unavailable")
                        .to_string(),
                ));
            }
            let status = if result["requestStatus"] == "failed" {
                "failed"
            } else {
                "solved"
            };
            rec.body["status"] = json!(status);
            rec.body["result"] = result;
            rec.touch(deps.clock.now());
            let ev = store::event(status, json!({"requestId": id, "solutions": n}));
            deps.records
                .update_record(REQUESTS, &rec, &[ev])
                .await
                .map_err(|e| JobError::Retry(e.to_string()))?;
            tracing::info!(request_id = %id, status, solutions = n, "placement request solved");
        }
        let now = deps.clock.now();
        deps.jobs
            .enqueue(
                &NewJob {
                    kind: CALLBACK_JOB.into(),
                    project_id: None,
                    payload: json!({"requestId": id}),
                    max_attempts: deps.callback_attempts,
                    run_at: now,
                    dedupe_key: Some(format!("oof.callback:{id}")),
                },
                now,
            )
            .await
            .map_err(|e| JobError::Retry(e.to_string()))?;
        deps.job_waker.notify_one();
        Ok(json!({"requestId": id}))
    }
}

/// Delivers a result to the client's callback URL; every attempt is recorded on the request.
pub(crate) struct CallbackJob(pub(crate) OofState);

#[async_trait]
impl JobHandler for CallbackJob {
    async fn run(&self, ctx: JobContext) -> Result<Value, JobError> {
        let deps = &self.0.deps;
        let id = ctx.job.payload["requestId"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let Some(rec) = deps
            .records
            .get_record(REQUESTS, &id, &ProjectScope::All, true)
            .await
            .map_err(|e| JobError::Retry(e.to_string()))?
        else {
            // Its request may not be stored yet (the job is enqueued first); a request whose
            // submission failed never comes, and the job ends with its last attempt.
            return Err(JobError::Retry(format!("request {id} is not stored (yet)")));
        };
        let url = rec.body["request"]["requestInfo"]["callbackUrl"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let mut rb = self.0.http.post(&url).json(&rec.body["result"]);
        if let Some((u, p)) = &deps.callback_auth {
            rb = rb.basic_auth(u, Some(p));
        }
        if let Some(Value::Object(h)) = rec.body["request"]["requestInfo"].get("callbackHeader") {
            for (k, v) in h {
                let value = match v {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                rb = rb.header(k.as_str(), value);
            }
        }
        let started = deps.clock.now();
        let outcome = match rb.send().await {
            Ok(r) if r.status().is_success() => Ok(r.status().as_u16()),
            Ok(r) => Err(format!("callback answered {}", r.status())),
            Err(e) => Err(format!("callback failed: {e}")),
        };
        let attempt = json!({
            "attempt": ctx.job.attempts,
            "at": started,
            "ok": outcome.is_ok(),
            "status": outcome.as_ref().ok(),
            "error": outcome.as_ref().err(),
        });
        // Re-read: the record may have changed while the POST was in flight.
        let mut rec = deps
            .records
            .get_record(REQUESTS, &id, &ProjectScope::All, true)
            .await
            .map_err(|e| JobError::Retry(e.to_string()))?
            .ok_or_else(|| JobError::Fatal(format!("request {id} is gone")))?;
        if let Some(a) = rec.body["attempts"].as_array_mut() {
            a.push(attempt);
        }
        let delivered = outcome.is_ok();
        if delivered {
            rec.body["status"] = json!(if rec.body["status"] == "failed" {
                "failed-delivered"
            } else {
                "completed"
            });
        }
        rec.touch(deps.clock.now());
        let events = if delivered {
            vec![store::event(
                "callback_delivered",
                json!({"requestId": id, "attempt": ctx.job.attempts}),
            )]
        } else {
            Vec::new()
        };
        deps.records
            .update_record(REQUESTS, &rec, &events)
            .await
            .map_err(|e| JobError::Retry(e.to_string()))?;
        match outcome {
            Ok(status) => {
                tracing::info!(request_id = %id, status, "placement callback delivered");
                Ok(json!({"delivered": status}))
            }
            Err(e) => {
                tracing::warn!(request_id = %id, attempt = ctx.job.attempts, error = %e, "placement callback failed; will retry");
                Err(JobError::Retry(e))
            }
        }
    }
}
