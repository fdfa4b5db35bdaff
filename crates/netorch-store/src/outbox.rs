//! `OutboxRepository` on sqlx.

use async_trait::async_trait;
use netorch_core::{
    Micros, StoreError,
    events::{NewEvent, OutboxEvent, OutboxRepository},
};
use sqlx::Row;

use crate::db::{Store, json_text, map_err, placeholders};

impl Store {
    /// Undelivered events and the creation time of the oldest (readiness reports the sink's lag).
    pub async fn outbox_backlog(&self) -> Result<(i64, Option<Micros>), StoreError> {
        let (n, oldest): (i64, Option<i64>) = sqlx::query_as(
            "SELECT COUNT(*), MIN(created_at) FROM outbox WHERE delivered_at IS NULL",
        )
        .fetch_one(self.read())
        .await
        .map_err(map_err)?;
        Ok((n, oldest))
    }
}

#[async_trait]
impl OutboxRepository for Store {
    async fn append(&self, events: &[NewEvent]) -> Result<(), StoreError> {
        if events.is_empty() {
            return Ok(());
        }
        let tx = self.write().begin().await.map_err(map_err)?;
        self.commit_with(tx, events).await
    }

    async fn claim(
        &self,
        owner: &str,
        limit: i64,
        now: Micros,
        lease_until: Micros,
    ) -> Result<Vec<OutboxEvent>, StoreError> {
        // SKIP LOCKED keeps concurrent relays of other replicas off the same rows; SQLite has a
        // single writer, so the plain sub-select is already atomic there.
        let lock = if self.is_postgres() {
            "FOR UPDATE SKIP LOCKED"
        } else {
            ""
        };
        let sql = format!(
            "UPDATE outbox SET lease_owner = $1, lease_until = $2, attempts = attempts + 1 \
             WHERE seq IN (SELECT seq FROM outbox WHERE delivered_at IS NULL AND available_at <= $3 \
             AND (lease_until IS NULL OR lease_until < $3) ORDER BY seq LIMIT $4 {lock}) \
             RETURNING seq, id, topic, key, payload, created_at, attempts"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(owner)
            .bind(lease_until)
            .bind(now)
            .bind(limit)
            .fetch_all(self.write())
            .await
            .map_err(map_err)?;
        let mut out = rows
            .iter()
            .map(|r| {
                Ok(OutboxEvent {
                    seq: r.try_get("seq").map_err(map_err)?,
                    id: r.try_get("id").map_err(map_err)?,
                    topic: r.try_get("topic").map_err(map_err)?,
                    key: r.try_get("key").map_err(map_err)?,
                    payload: json_text(&r.try_get::<String, _>("payload").map_err(map_err)?)?,
                    created_at: r.try_get("created_at").map_err(map_err)?,
                    attempts: r.try_get("attempts").map_err(map_err)?,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        out.sort_by_key(|e| e.seq);
        Ok(out)
    }

    async fn mark_delivered(&self, ids: &[String], now: Micros) -> Result<(), StoreError> {
        if ids.is_empty() {
            return Ok(());
        }
        let sql = format!(
            "UPDATE outbox SET delivered_at = $1, lease_owner = NULL, lease_until = NULL, last_error = NULL WHERE id IN ({})",
            placeholders(2, ids.len())
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(now);
        for id in ids {
            q = q.bind(id);
        }
        q.execute(self.write()).await.map_err(map_err)?;
        Ok(())
    }

    async fn mark_failed(
        &self,
        ids: &[String],
        error: &str,
        retry_at: Micros,
    ) -> Result<(), StoreError> {
        if ids.is_empty() {
            return Ok(());
        }
        let sql = format!(
            "UPDATE outbox SET available_at = $1, last_error = $2, lease_owner = NULL, lease_until = NULL WHERE id IN ({})",
            placeholders(3, ids.len())
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(retry_at)
            .bind(error);
        for id in ids {
            q = q.bind(id);
        }
        q.execute(self.write()).await.map_err(map_err)?;
        Ok(())
    }

    async fn pending_count(&self) -> Result<i64, StoreError> {
        let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM outbox WHERE delivered_at IS NULL")
            .fetch_one(self.read())
            .await
            .map_err(map_err)?;
        Ok(n)
    }

    async fn prune_delivered(&self, before: Micros) -> Result<u64, StoreError> {
        let done =
            sqlx::query("DELETE FROM outbox WHERE delivered_at IS NOT NULL AND delivered_at < $1")
                .bind(before)
                .execute(self.write())
                .await
                .map_err(map_err)?;
        Ok(done.rows_affected())
    }
}
