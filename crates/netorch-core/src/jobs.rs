//! Durable jobs: asynchronous work that survives restarts (LCM operations, callbacks, heartbeats).

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::{Micros, StoreError, tenancy::ProjectScope};

/// Where a job is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JobState {
    /// Waiting for `next_run_at`.
    Queued,
    /// Leased by a worker.
    Running,
    /// Finished successfully.
    Succeeded,
    /// Gave up after its last attempt (or failed permanently).
    Failed,
    /// Cancelled before it finished.
    Cancelled,
}

impl JobState {
    /// Wire/storage name.
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Queued => "queued",
            JobState::Running => "running",
            JobState::Succeeded => "succeeded",
            JobState::Failed => "failed",
            JobState::Cancelled => "cancelled",
        }
    }

    /// Parses a storage name.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "queued" => JobState::Queued,
            "running" => JobState::Running,
            "succeeded" => JobState::Succeeded,
            "failed" => JobState::Failed,
            "cancelled" => JobState::Cancelled,
            _ => return None,
        })
    }

    /// True once the job will not run again.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            JobState::Succeeded | JobState::Failed | JobState::Cancelled
        )
    }
}

/// A job to enqueue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewJob {
    /// Handler name (e.g. `oof.solve`, `osm.vim.validate`).
    pub kind: String,
    /// Owning project, if the job acts on behalf of one (used to filter status queries).
    pub project_id: Option<String>,
    /// Input of the handler.
    pub payload: serde_json::Value,
    /// Attempts before the job is marked failed.
    pub max_attempts: i64,
    /// Earliest start.
    pub run_at: Micros,
    /// If set, a second job with the same key is not created; the existing one is returned.
    pub dedupe_key: Option<String>,
}

/// A job as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Job {
    /// Id.
    pub id: String,
    /// Handler name.
    pub kind: String,
    /// Owning project.
    pub project_id: Option<String>,
    /// Input.
    pub payload: serde_json::Value,
    /// State.
    pub state: JobState,
    /// Attempts started so far.
    pub attempts: i64,
    /// Attempts allowed.
    pub max_attempts: i64,
    /// When it may run next.
    pub next_run_at: Micros,
    /// Worker holding the lease.
    pub lease_owner: Option<String>,
    /// Lease expiry; an expired lease makes a running job claimable again (crash recovery).
    pub lease_expires_at: Option<Micros>,
    /// Last error text.
    pub last_error: Option<String>,
    /// Output of a successful run.
    pub result: Option<serde_json::Value>,
    /// Progress note the handler reported last (shown in status resources).
    pub progress: Option<String>,
    /// De-duplication key.
    pub dedupe_key: Option<String>,
    /// Creation time.
    pub created_at: Micros,
    /// Last change.
    pub updated_at: Micros,
}

/// A periodic task's schedule row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PeriodicTask {
    /// Unique name; also the job kind it enqueues.
    pub name: String,
    /// Next due time.
    pub next_run_at: Micros,
    /// Last time it was enqueued.
    pub last_run_at: Option<Micros>,
}

/// Persistence of jobs. Claiming is atomic: two workers (or two replicas on one PostgreSQL) never
/// hold the same job.
#[async_trait]
pub trait JobRepository: Send + Sync + 'static {
    /// Enqueues a job; with a `dedupe_key` already present, returns the existing job instead.
    async fn enqueue(&self, job: &NewJob, now: Micros) -> Result<Job, StoreError>;
    /// One job.
    async fn get_job(&self, id: &str) -> Result<Option<Job>, StoreError>;
    /// Jobs of the projects in `scope` (a job has one owner project; public does not apply),
    /// newest first, optionally of one kind.
    async fn list_jobs(
        &self,
        scope: &ProjectScope,
        kind: Option<&str>,
        limit: i64,
    ) -> Result<Vec<Job>, StoreError>;
    /// Leases up to `limit` due jobs of the given kinds: queued jobs whose time has come and
    /// running jobs whose lease expired. Increments `attempts`.
    async fn claim_jobs(
        &self,
        owner: &str,
        kinds: &[String],
        limit: i64,
        now: Micros,
        lease_until: Micros,
    ) -> Result<Vec<Job>, StoreError>;
    /// Extends a lease and records progress; false if the lease was lost.
    async fn heartbeat(
        &self,
        id: &str,
        owner: &str,
        lease_until: Micros,
        progress: Option<&str>,
        now: Micros,
    ) -> Result<bool, StoreError>;
    /// Marks a leased job succeeded.
    async fn complete_job(
        &self,
        id: &str,
        owner: &str,
        result: &serde_json::Value,
        now: Micros,
    ) -> Result<bool, StoreError>;
    /// Records a failed attempt: back to queued at `retry_at`, or failed for good when `None`.
    async fn fail_job(
        &self,
        id: &str,
        owner: &str,
        error: &str,
        retry_at: Option<Micros>,
        now: Micros,
    ) -> Result<bool, StoreError>;
    /// Gives back every lease of `owner` (graceful shutdown): running jobs become queued, and
    /// the interrupted attempt is not counted.
    async fn release_leases(&self, owner: &str, now: Micros) -> Result<u64, StoreError>;
    /// Cancels a job that has not finished.
    async fn cancel_job(&self, id: &str, now: Micros) -> Result<bool, StoreError>;
    /// Deletes jobs that finished (succeeded, failed or cancelled) before `before`, at most
    /// `limit` of them; how many went. Their dedupe keys become free again.
    async fn prune_finished(&self, before: Micros, limit: i64) -> Result<u64, StoreError>;

    /// Creates the schedule row if missing (keeps an existing row's next run).
    async fn ensure_periodic(
        &self,
        name: &str,
        first_run_at: Micros,
    ) -> Result<PeriodicTask, StoreError>;
    /// Moves a periodic task from `due_at` to `next_at` if nobody else did (compare-and-set);
    /// true if this caller won the tick.
    async fn advance_periodic(
        &self,
        name: &str,
        due_at: Micros,
        next_at: Micros,
        now: Micros,
    ) -> Result<bool, StoreError>;
    /// All schedule rows.
    async fn list_periodic(&self) -> Result<Vec<PeriodicTask>, StoreError>;
}
