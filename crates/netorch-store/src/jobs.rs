//! `JobRepository` on sqlx.

use async_trait::async_trait;
use netorch_core::{
    Micros, StoreError,
    jobs::{Job, JobRepository, JobState, NewJob, PeriodicTask},
    tenancy::ProjectScope,
};
use sqlx::{Row, any::AnyRow};

use crate::db::{Store, json_text, map_err, placeholders};

fn job_from(r: &AnyRow) -> Result<Job, StoreError> {
    let state: String = r.try_get("state").map_err(map_err)?;
    Ok(Job {
        id: r.try_get("id").map_err(map_err)?,
        kind: r.try_get("kind").map_err(map_err)?,
        project_id: r.try_get("project_id").map_err(map_err)?,
        payload: json_text(&r.try_get::<String, _>("payload").map_err(map_err)?)?,
        state: JobState::parse(&state)
            .ok_or_else(|| StoreError::Internal(format!("bad job state {state}")))?,
        attempts: r.try_get("attempts").map_err(map_err)?,
        max_attempts: r.try_get("max_attempts").map_err(map_err)?,
        next_run_at: r.try_get("next_run_at").map_err(map_err)?,
        lease_owner: r.try_get("lease_owner").map_err(map_err)?,
        lease_expires_at: r.try_get("lease_expires_at").map_err(map_err)?,
        last_error: r.try_get("last_error").map_err(map_err)?,
        result: r
            .try_get::<Option<String>, _>("result")
            .map_err(map_err)?
            .map(|s| json_text(&s))
            .transpose()?,
        progress: r.try_get("progress").map_err(map_err)?,
        dedupe_key: r.try_get("dedupe_key").map_err(map_err)?,
        created_at: r.try_get("created_at").map_err(map_err)?,
        updated_at: r.try_get("updated_at").map_err(map_err)?,
    })
}

#[async_trait]
impl JobRepository for Store {
    async fn enqueue(&self, job: &NewJob, now: Micros) -> Result<Job, StoreError> {
        let id = netorch_core::new_id();
        let inserted = sqlx::query(
            "INSERT INTO jobs (id, kind, project_id, payload, state, attempts, max_attempts, next_run_at, dedupe_key, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, 'queued', 0, $5, $6, $7, $8, $8)",
        )
        .bind(&id)
        .bind(&job.kind)
        .bind(job.project_id.as_deref())
        .bind(job.payload.to_string())
        .bind(job.max_attempts.max(1))
        .bind(job.run_at)
        .bind(job.dedupe_key.as_deref())
        .bind(now)
        .execute(self.write())
        .await;
        match inserted {
            Ok(_) => {}
            Err(e) => match map_err(e) {
                StoreError::Conflict(_) if job.dedupe_key.is_some() => {
                    let row = sqlx::query("SELECT * FROM jobs WHERE dedupe_key = $1")
                        .bind(job.dedupe_key.as_deref())
                        .fetch_one(self.write())
                        .await
                        .map_err(map_err)?;
                    return job_from(&row);
                }
                other => return Err(other),
            },
        }
        let row = sqlx::query("SELECT * FROM jobs WHERE id = $1")
            .bind(&id)
            .fetch_one(self.write())
            .await
            .map_err(map_err)?;
        job_from(&row)
    }

    async fn get_job(&self, id: &str) -> Result<Option<Job>, StoreError> {
        let row = sqlx::query("SELECT * FROM jobs WHERE id = $1")
            .bind(id)
            .fetch_optional(self.read())
            .await
            .map_err(map_err)?;
        row.as_ref().map(job_from).transpose()
    }

    async fn list_jobs(
        &self,
        scope: &ProjectScope,
        kind: Option<&str>,
        limit: i64,
    ) -> Result<Vec<Job>, StoreError> {
        let mut sql = String::from("SELECT * FROM jobs WHERE ($1 IS NULL OR kind = $1)");
        let projects = match scope {
            ProjectScope::All => Vec::new(),
            ProjectScope::Only { projects: p, .. } => {
                if p.is_empty() {
                    return Ok(Vec::new());
                }
                sql.push_str(&format!(
                    " AND project_id IN ({})",
                    placeholders(3, p.len())
                ));
                p.clone()
            }
        };
        sql.push_str(" ORDER BY created_at DESC, id LIMIT $2");
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(kind).bind(limit);
        for p in &projects {
            q = q.bind(p);
        }
        let rows = q.fetch_all(self.read()).await.map_err(map_err)?;
        rows.iter().map(job_from).collect()
    }

    async fn claim_jobs(
        &self,
        owner: &str,
        kinds: &[String],
        limit: i64,
        now: Micros,
        lease_until: Micros,
    ) -> Result<Vec<Job>, StoreError> {
        if kinds.is_empty() || limit <= 0 {
            return Ok(Vec::new());
        }
        let lock = if self.is_postgres() {
            "FOR UPDATE SKIP LOCKED"
        } else {
            ""
        };
        let sql = format!(
            "UPDATE jobs SET state = 'running', lease_owner = $1, lease_expires_at = $2, attempts = attempts + 1, updated_at = $3 \
             WHERE id IN (SELECT id FROM jobs WHERE kind IN ({kinds}) AND \
             ((state = 'queued' AND next_run_at <= $3) OR (state = 'running' AND lease_expires_at < $3)) \
             ORDER BY next_run_at, created_at LIMIT $4 {lock}) RETURNING *",
            kinds = placeholders(5, kinds.len())
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(owner)
            .bind(lease_until)
            .bind(now)
            .bind(limit);
        for k in kinds {
            q = q.bind(k);
        }
        let rows = q.fetch_all(self.write()).await.map_err(map_err)?;
        let mut jobs = rows.iter().map(job_from).collect::<Result<Vec<_>, _>>()?;
        jobs.sort_by_key(|j| j.next_run_at);
        Ok(jobs)
    }

    async fn heartbeat(
        &self,
        id: &str,
        owner: &str,
        lease_until: Micros,
        progress: Option<&str>,
        now: Micros,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE jobs SET lease_expires_at = $3, progress = COALESCE($4, progress), updated_at = $5 \
             WHERE id = $1 AND lease_owner = $2 AND state = 'running'",
        )
        .bind(id)
        .bind(owner)
        .bind(lease_until)
        .bind(progress)
        .bind(now)
        .execute(self.write())
        .await
        .map_err(map_err)?;
        Ok(done.rows_affected() == 1)
    }

    async fn complete_job(
        &self,
        id: &str,
        owner: &str,
        result: &serde_json::Value,
        now: Micros,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE jobs SET state = 'succeeded', result = $3, lease_owner = NULL, lease_expires_at = NULL, last_error = NULL, updated_at = $4 \
             WHERE id = $1 AND lease_owner = $2 AND state = 'running'",
        )
        .bind(id)
        .bind(owner)
        .bind(result.to_string())
        .bind(now)
        .execute(self.write())
        .await
        .map_err(map_err)?;
        Ok(done.rows_affected() == 1)
    }

    async fn fail_job(
        &self,
        id: &str,
        owner: &str,
        error: &str,
        retry_at: Option<Micros>,
        now: Micros,
    ) -> Result<bool, StoreError> {
        let (state, next) = match retry_at {
            Some(t) => ("queued", t),
            None => ("failed", now),
        };
        let done = sqlx::query(
            "UPDATE jobs SET state = $3, next_run_at = $4, last_error = $5, lease_owner = NULL, lease_expires_at = NULL, updated_at = $6 \
             WHERE id = $1 AND lease_owner = $2 AND state = 'running'",
        )
        .bind(id)
        .bind(owner)
        .bind(state)
        .bind(next)
        .bind(error)
        .bind(now)
        .execute(self.write())
        .await
        .map_err(map_err)?;
        Ok(done.rows_affected() == 1)
    }

    async fn release_leases(&self, owner: &str, now: Micros) -> Result<u64, StoreError> {
        let done = sqlx::query(
            "UPDATE jobs SET state = 'queued', attempts = CASE WHEN attempts > 0 THEN attempts - 1 ELSE 0 END, \
             next_run_at = $2, lease_owner = NULL, lease_expires_at = NULL, updated_at = $2 \
             WHERE lease_owner = $1 AND state = 'running'",
        )
        .bind(owner)
        .bind(now)
        .execute(self.write())
        .await
        .map_err(map_err)?;
        Ok(done.rows_affected())
    }

    async fn cancel_job(&self, id: &str, now: Micros) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE jobs SET state = 'cancelled', lease_owner = NULL, lease_expires_at = NULL, updated_at = $2 \
             WHERE id = $1 AND state IN ('queued', 'running')",
        )
        .bind(id)
        .bind(now)
        .execute(self.write())
        .await
        .map_err(map_err)?;
        Ok(done.rows_affected() == 1)
    }

    async fn prune_finished(&self, before: Micros, limit: i64) -> Result<u64, StoreError> {
        let done = sqlx::query(
            "DELETE FROM jobs WHERE id IN (SELECT id FROM jobs \
             WHERE state IN ('succeeded', 'failed', 'cancelled') AND updated_at < $1 \
             ORDER BY updated_at LIMIT $2)",
        )
        .bind(before)
        .bind(limit)
        .execute(self.write())
        .await
        .map_err(map_err)?;
        Ok(done.rows_affected())
    }

    async fn ensure_periodic(
        &self,
        name: &str,
        first_run_at: Micros,
    ) -> Result<PeriodicTask, StoreError> {
        sqlx::query("INSERT INTO periodic_tasks (name, next_run_at) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING")
            .bind(name)
            .bind(first_run_at)
            .execute(self.write())
            .await
            .map_err(map_err)?;
        let row = sqlx::query(
            "SELECT name, next_run_at, last_run_at FROM periodic_tasks WHERE name = $1",
        )
        .bind(name)
        .fetch_one(self.write())
        .await
        .map_err(map_err)?;
        Ok(PeriodicTask {
            name: row.try_get("name").map_err(map_err)?,
            next_run_at: row.try_get("next_run_at").map_err(map_err)?,
            last_run_at: row.try_get("last_run_at").map_err(map_err)?,
        })
    }

    async fn advance_periodic(
        &self,
        name: &str,
        due_at: Micros,
        next_at: Micros,
        now: Micros,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE periodic_tasks SET next_run_at = $3, last_run_at = $4 WHERE name = $1 AND next_run_at = $2",
        )
        .bind(name)
        .bind(due_at)
        .bind(next_at)
        .bind(now)
        .execute(self.write())
        .await
        .map_err(map_err)?;
        Ok(done.rows_affected() == 1)
    }

    async fn list_periodic(&self) -> Result<Vec<PeriodicTask>, StoreError> {
        let rows =
            sqlx::query("SELECT name, next_run_at, last_run_at FROM periodic_tasks ORDER BY name")
                .fetch_all(self.read())
                .await
                .map_err(map_err)?;
        rows.iter()
            .map(|row| {
                Ok(PeriodicTask {
                    name: row.try_get("name").map_err(map_err)?,
                    next_run_at: row.try_get("next_run_at").map_err(map_err)?,
                    last_run_at: row.try_get("last_run_at").map_err(map_err)?,
                })
            })
            .collect()
    }
}
