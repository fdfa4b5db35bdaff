#![doc = include_str!("../README.md")]

use std::{collections::HashMap, str::FromStr, sync::Arc, time::Duration};

use async_trait::async_trait;
use netorch_core::{
    Clock, Micros,
    jobs::{Job, JobRepository, NewJob},
};
use rand::Rng as _;
use serde_json::Value;
use tokio::{sync::Notify, task::JoinSet};
use tokio_util::sync::CancellationToken;

/// Kind of the periodic job that deletes finished jobs (see [`PruneJobs`]).
pub const PRUNE_JOB: &str = "scheduler.prune_jobs";

/// Deletes jobs that finished longer than `retention` ago, in batches, so that the job table
/// (which every periodic sweep adds a row to) stays the size of its recent history.
pub struct PruneJobs {
    /// The job table.
    pub repo: Arc<dyn JobRepository>,
    /// Time source.
    pub clock: Arc<dyn Clock>,
    /// How long a finished job stays readable (`GET` of its operation status, debugging).
    pub retention: Duration,
}

#[async_trait]
impl JobHandler for PruneJobs {
    async fn run(&self, _ctx: JobContext) -> Result<Value, JobError> {
        const BATCH: i64 = 5_000;
        let before = self.clock.now() - self.retention.as_micros() as Micros;
        let mut total = 0;
        loop {
            let n = self
                .repo
                .prune_finished(before, BATCH)
                .await
                .map_err(|e| JobError::Retry(e.to_string()))?;
            total += n;
            // Small batches keep each write transaction short on SQLite's single writer.
            if n < BATCH as u64 {
                break;
            }
            tokio::task::yield_now().await;
        }
        if total > 0 {
            tracing::info!(pruned = total, "finished jobs pruned");
        }
        Ok(serde_json::json!({"pruned": total}))
    }
}

/// How a job attempt ended badly.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// Worth retrying (network error, peer down).
    #[error("{0}")]
    Retry(String),
    /// Retrying cannot help (invalid input).
    #[error("{0}")]
    Fatal(String),
}

impl From<anyhow::Error> for JobError {
    fn from(e: anyhow::Error) -> Self {
        JobError::Retry(format!("{e:#}"))
    }
}

/// What a handler sees while it runs.
#[derive(Clone)]
pub struct JobContext {
    /// The job (payload, attempt number...).
    pub job: Job,
    repo: Arc<dyn JobRepository>,
    clock: Arc<dyn Clock>,
    owner: String,
    lease: Duration,
    /// Cancelled when the server shuts down; long handlers should stop at a safe point.
    pub shutdown: CancellationToken,
}

impl JobContext {
    /// Records a progress note (shown in status resources) and renews the lease.
    pub async fn progress(&self, note: &str) {
        let now = self.clock.now();
        let until = now + self.lease.as_micros() as Micros;
        if let Err(e) = self
            .repo
            .heartbeat(&self.job.id, &self.owner, until, Some(note), now)
            .await
        {
            tracing::warn!(job_id = %self.job.id, error = %e, "progress not recorded");
        }
    }
}

/// A kind of job.
#[async_trait]
pub trait JobHandler: Send + Sync + 'static {
    /// Runs one attempt; the returned value is stored as the job's result.
    async fn run(&self, ctx: JobContext) -> Result<Value, JobError>;
}

/// When a periodic task is due.
#[derive(Debug, Clone)]
pub enum Schedule {
    /// Every fixed interval.
    Every(Duration),
    /// A cron expression (5 or 6 fields, UTC).
    Cron(Box<croner::Cron>),
}

impl Schedule {
    /// Parses `"30s"`-style intervals are given by the caller as `Every`; this parses cron.
    pub fn cron(expr: &str) -> Result<Self, String> {
        croner::Cron::from_str(expr)
            .map(|c| Schedule::Cron(Box::new(c)))
            .map_err(|e| format!("invalid cron expression '{expr}': {e}"))
    }

    /// The first due time strictly after `after`.
    pub fn next_after(&self, after: Micros) -> Micros {
        match self {
            Schedule::Every(d) => after + (d.as_micros() as Micros).max(1_000),
            Schedule::Cron(c) => {
                let t = chrono::DateTime::from_timestamp_micros(after).unwrap_or_default();
                c.find_next_occurrence(&t, false)
                    .map(|n| n.timestamp_micros())
                    .unwrap_or(after + 3_600_000_000)
            }
        }
    }
}

/// A periodic task: enqueues a job of kind `name` at every tick.
#[derive(Debug, Clone)]
pub struct PeriodicSpec {
    /// Task name and job kind.
    pub name: String,
    /// When.
    pub schedule: Schedule,
    /// Input of every job.
    pub payload: Value,
}

/// Scheduler settings (`scheduler.*`).
#[derive(Debug, Clone)]
pub struct SchedulerConfig {
    /// Jobs run at once by this process.
    pub concurrency: usize,
    /// How often to look for due jobs when not woken.
    pub poll_interval: Duration,
    /// Lease length; renewed at a third of it while a job runs.
    pub lease: Duration,
    /// First retry delay (doubles per attempt, with jitter).
    pub min_backoff: Duration,
    /// Longest retry delay.
    pub max_backoff: Duration,
    /// How long a graceful shutdown waits for running jobs before handing them back.
    pub shutdown_grace: Duration,
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        Self {
            concurrency: 4,
            poll_interval: Duration::from_millis(500),
            lease: Duration::from_secs(30),
            min_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(300),
            shutdown_grace: Duration::from_secs(10),
        }
    }
}

/// Runs jobs of the registered kinds.
pub struct Scheduler {
    repo: Arc<dyn JobRepository>,
    clock: Arc<dyn Clock>,
    handlers: HashMap<String, Arc<dyn JobHandler>>,
    periodic: Vec<PeriodicSpec>,
    cfg: SchedulerConfig,
    owner: String,
    wake: Arc<Notify>,
    leader: Option<Arc<std::sync::atomic::AtomicBool>>,
}

impl Scheduler {
    /// A scheduler with no handlers yet.
    pub fn new(repo: Arc<dyn JobRepository>, clock: Arc<dyn Clock>, cfg: SchedulerConfig) -> Self {
        Self {
            repo,
            clock,
            handlers: HashMap::new(),
            periodic: Vec::new(),
            cfg,
            owner: format!("worker-{}", netorch_core::new_id()),
            wake: Arc::new(Notify::new()),
            leader: None,
        }
    }

    /// Ticks periodic tasks only while `gate` is true (this replica holds the singleton lease).
    /// Every replica still runs queued jobs; the ticks' compare-and-set already makes each tick
    /// enqueue once, the gate makes one replica responsible for them and spares the others the
    /// polling.
    pub fn set_leader_gate(&mut self, gate: Arc<std::sync::atomic::AtomicBool>) {
        self.leader = Some(gate);
    }

    /// Registers the handler of a job kind.
    pub fn register(&mut self, kind: &str, handler: Arc<dyn JobHandler>) {
        self.handlers.insert(kind.to_string(), handler);
    }

    /// Adds a periodic task (its kind must have a handler).
    pub fn add_periodic(&mut self, spec: PeriodicSpec) {
        self.periodic.push(spec);
    }

    /// Notify this to look for jobs at once (e.g. right after enqueueing).
    pub fn waker(&self) -> Arc<Notify> {
        self.wake.clone()
    }

    /// Uses a waker created before the scheduler (families are built first and hold it).
    pub fn set_waker(&mut self, wake: Arc<Notify>) {
        self.wake = wake;
    }

    /// This worker's lease owner id.
    pub fn owner(&self) -> &str {
        &self.owner
    }

    fn backoff(&self, attempts: i64) -> Duration {
        let exp = (attempts - 1).clamp(0, 20) as u32;
        let base = self
            .cfg
            .min_backoff
            .saturating_mul(2u32.saturating_pow(exp))
            .min(self.cfg.max_backoff);
        // Up to 20 % jitter so that jobs failing together do not retry together.
        let jitter = rand::rng().random_range(0.0..0.2);
        base.mul_f64(1.0 + jitter)
    }

    async fn tick_periodic(&self) {
        if self
            .leader
            .as_ref()
            .is_some_and(|g| !g.load(std::sync::atomic::Ordering::Acquire))
        {
            return;
        }
        let now = self.clock.now();
        for spec in &self.periodic {
            let row = match self
                .repo
                .ensure_periodic(&spec.name, spec.schedule.next_after(now))
                .await
            {
                Ok(r) => r,
                Err(e) => {
                    tracing::warn!(task = %spec.name, error = %e, "periodic task unavailable");
                    continue;
                }
            };
            let next = spec.schedule.next_after(now);
            // A stored next run later than this schedule's own next run means the schedule was
            // shortened since it was stored (a restart with a new configuration): run now
            // rather than at the old schedule's time, possibly a year away.
            if row.next_run_at > now && row.next_run_at <= next {
                continue;
            }
            match self
                .repo
                .advance_periodic(&spec.name, row.next_run_at, next, now)
                .await
            {
                Ok(true) => {
                    let job = NewJob {
                        kind: spec.name.clone(),
                        project_id: None,
                        payload: spec.payload.clone(),
                        max_attempts: 1,
                        run_at: now,
                        dedupe_key: Some(format!("periodic:{}:{}", spec.name, row.next_run_at)),
                    };
                    if let Err(e) = self.repo.enqueue(&job, now).await {
                        tracing::warn!(task = %spec.name, error = %e, "periodic job not enqueued");
                    }
                }
                Ok(false) => {} // another replica took this tick
                Err(e) => tracing::warn!(task = %spec.name, error = %e, "periodic tick failed"),
            }
        }
    }

    async fn run_job(self: Arc<Self>, job: Job, cancel: CancellationToken) {
        let Some(handler) = self.handlers.get(&job.kind).cloned() else {
            return;
        };
        let id = job.id.clone();
        let kind = job.kind.clone();
        if job.attempts > job.max_attempts {
            // Its last attempt was interrupted (the lease expired): do not run it forever.
            let now = self.clock.now();
            let _ = self
                .repo
                .fail_job(
                    &id,
                    &self.owner,
                    "interrupted during its last attempt",
                    None,
                    now,
                )
                .await;
            tracing::warn!(job_id = %id, kind = %kind, "job failed: interrupted during its last attempt");
            return;
        }
        // Periodic sweeps run every second or so: their routine start and success are debug
        // lines, or the log would be mostly them. Their failures stay warnings and errors.
        let periodic = job
            .dedupe_key
            .as_deref()
            .is_some_and(|k| k.starts_with("periodic:"));
        if periodic {
            tracing::debug!(job_id = %id, kind = %kind, attempt = job.attempts, "job started");
        } else {
            tracing::info!(job_id = %id, kind = %kind, attempt = job.attempts, "job started");
        }
        let ctx = JobContext {
            job: job.clone(),
            repo: self.repo.clone(),
            clock: self.clock.clone(),
            owner: self.owner.clone(),
            lease: self.cfg.lease,
            shutdown: cancel.clone(),
        };
        // Renew the lease while the handler runs, so a slow job is not taken by another worker.
        let beat = {
            let repo = self.repo.clone();
            let clock = self.clock.clone();
            let owner = self.owner.clone();
            let lease = self.cfg.lease;
            let id = id.clone();
            tokio_util::task::AbortOnDropHandle::new(tokio::spawn(async move {
                loop {
                    tokio::time::sleep(lease / 3).await;
                    let now = clock.now();
                    match repo
                        .heartbeat(&id, &owner, now + lease.as_micros() as Micros, None, now)
                        .await
                    {
                        Ok(true) => {}
                        _ => break,
                    }
                }
            }))
        };
        let outcome = handler.run(ctx).await;
        drop(beat);
        let now = self.clock.now();
        let recorded = match &outcome {
            Ok(result) => {
                if periodic {
                    tracing::debug!(job_id = %id, kind = %kind, "job succeeded");
                } else {
                    tracing::info!(job_id = %id, kind = %kind, "job succeeded");
                }
                self.repo.complete_job(&id, &self.owner, result, now).await
            }
            Err(JobError::Retry(msg)) if job.attempts < job.max_attempts => {
                let retry_at = now + self.backoff(job.attempts).as_micros() as Micros;
                tracing::warn!(job_id = %id, kind = %kind, attempt = job.attempts, error = %msg, "job failed; will retry");
                self.repo
                    .fail_job(&id, &self.owner, msg, Some(retry_at), now)
                    .await
            }
            Err(e) => {
                tracing::error!(job_id = %id, kind = %kind, attempt = job.attempts, error = %e, "job failed");
                self.repo
                    .fail_job(&id, &self.owner, &e.to_string(), None, now)
                    .await
            }
        };
        match recorded {
            Ok(true) => {}
            Ok(false) => {
                tracing::warn!(job_id = %id, "job outcome not recorded: lease lost or job cancelled")
            }
            Err(e) => tracing::error!(job_id = %id, error = %e, "job outcome not recorded"),
        }
    }

    /// Runs until `cancel` fires; then waits up to the grace period for running jobs and hands the
    /// rest back to the queue.
    pub async fn run(self, cancel: CancellationToken) {
        let this = Arc::new(self);
        let kinds: Vec<String> = this.handlers.keys().cloned().collect();
        let mut running: JoinSet<()> = JoinSet::new();
        tracing::info!(owner = %this.owner, kinds = ?kinds, "scheduler started");
        loop {
            this.tick_periodic().await;
            while running.try_join_next().is_some() {}
            let free = this.cfg.concurrency.saturating_sub(running.len()) as i64;
            if free > 0 {
                let now = this.clock.now();
                let until = now + this.cfg.lease.as_micros() as Micros;
                match this
                    .repo
                    .claim_jobs(&this.owner, &kinds, free, now, until)
                    .await
                {
                    Ok(jobs) => {
                        for job in jobs {
                            running.spawn(this.clone().run_job(job, cancel.clone()));
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "could not claim jobs"),
                }
            }
            tokio::select! {
                _ = cancel.cancelled() => break,
                _ = this.wake.notified() => {}
                Some(_) = running.join_next(), if !running.is_empty() => {}
                _ = tokio::time::sleep(this.cfg.poll_interval) => {}
            }
        }
        let grace = tokio::time::sleep(this.cfg.shutdown_grace);
        tokio::pin!(grace);
        while !running.is_empty() {
            tokio::select! {
                _ = &mut grace => break,
                _ = running.join_next() => {}
            }
        }
        running.abort_all();
        let released = this
            .repo
            .release_leases(&this.owner, this.clock.now())
            .await;
        tracing::info!(released = ?released.ok(), "scheduler stopped");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_and_cron_expressions_give_the_next_due_time() {
        let every = Schedule::Every(Duration::from_secs(10));
        assert_eq!(every.next_after(1_000_000), 11_000_000);
        let cron = Schedule::cron("0 * * * *").expect("cron");
        // 1970-01-01T00:00:01Z → next full hour.
        assert_eq!(cron.next_after(1_000_000), 3_600_000_000);
        assert!(Schedule::cron("not a cron").is_err());
    }
}
