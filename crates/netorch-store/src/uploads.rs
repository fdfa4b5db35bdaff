//! `UploadRepository` on sqlx: chunks as rows, concatenated when the upload completes.

use async_trait::async_trait;
use netorch_core::{
    Micros, StoreError,
    uploads::{Append, UploadRepository},
};
use sqlx::Row;

use crate::db::{Store, map_err};

#[async_trait]
impl UploadRepository for Store {
    async fn append_chunk(
        &self,
        id: &str,
        start: u64,
        total: u64,
        bytes: &[u8],
        now: Micros,
    ) -> Result<Append, StoreError> {
        let mut tx = self.write().begin().await.map_err(map_err)?;
        let len = bytes.len() as i64;
        if start == 0 {
            sqlx::query("DELETE FROM uploads WHERE id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(map_err)?;
            sqlx::query(
                "INSERT INTO uploads (id, total, received, created) VALUES ($1, $2, $3, $4)",
            )
            .bind(id)
            .bind(total as i64)
            .bind(len)
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
        } else {
            // Compare-and-set on the received size: a chunk applies only where the upload ends.
            let done = sqlx::query("UPDATE uploads SET received = received + $2 WHERE id = $1 AND received = $3 AND total = $4")
                .bind(id)
                .bind(len)
                .bind(start as i64)
                .bind(total as i64)
                .execute(&mut *tx)
                .await
                .map_err(map_err)?;
            if done.rows_affected() == 0 {
                let row = sqlx::query("SELECT received FROM uploads WHERE id = $1")
                    .bind(id)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(map_err)?;
                return Ok(match row {
                    None => Append::Unknown,
                    Some(r) => {
                        Append::OutOfOrder(r.try_get::<i64, _>("received").map_err(map_err)? as u64)
                    }
                });
            }
        }
        sqlx::query(
            "INSERT INTO upload_chunks (upload_id, offset_bytes, data) VALUES ($1, $2, $3)",
        )
        .bind(id)
        .bind(start as i64)
        .bind(bytes.to_vec())
        .execute(&mut *tx)
        .await
        .map_err(map_err)?;
        tx.commit().await.map_err(map_err)?;
        Ok(Append::Stored(start + bytes.len() as u64))
    }

    async fn take_upload(&self, id: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let mut tx = self.write().begin().await.map_err(map_err)?;
        let exists = sqlx::query("SELECT received FROM uploads WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(map_err)?;
        if exists.is_none() {
            return Ok(None);
        }
        let rows = sqlx::query(
            "SELECT data FROM upload_chunks WHERE upload_id = $1 ORDER BY offset_bytes",
        )
        .bind(id)
        .fetch_all(&mut *tx)
        .await
        .map_err(map_err)?;
        let mut out = Vec::new();
        for r in &rows {
            out.extend(r.try_get::<Vec<u8>, _>("data").map_err(map_err)?);
        }
        sqlx::query("DELETE FROM uploads WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
        tx.commit().await.map_err(map_err)?;
        Ok(Some(out))
    }

    async fn purge_uploads(&self, before: Micros) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM uploads WHERE created < $1")
            .bind(before)
            .execute(self.write())
            .await
            .map_err(map_err)?;
        Ok(done.rows_affected())
    }
}
