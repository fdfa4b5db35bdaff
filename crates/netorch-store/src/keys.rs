//! `SigningKeyRepository` on sqlx: response-signing and issuer keys, sealed at rest.

use async_trait::async_trait;
use netorch_core::{
    Micros, StoreError,
    keys::{SigningKeyRepository, StoredKey},
};
use sqlx::{Row, any::AnyRow};

use crate::db::{Store, map_err};

fn key_from(row: &AnyRow) -> Result<StoredKey, StoreError> {
    Ok(StoredKey {
        kid: row.try_get("kid").map_err(map_err)?,
        purpose: row.try_get("purpose").map_err(map_err)?,
        alg: row.try_get("alg").map_err(map_err)?,
        sealed_private: row.try_get("sealed_private").map_err(map_err)?,
        created_at: row.try_get("created_at").map_err(map_err)?,
        retired_at: row.try_get("retired_at").map_err(map_err)?,
        publish_until: row.try_get("publish_until").map_err(map_err)?,
    })
}

#[async_trait]
impl SigningKeyRepository for Store {
    async fn list_keys(&self, purpose: &str, now: Micros) -> Result<Vec<StoredKey>, StoreError> {
        let rows = sqlx::query(
            "SELECT kid, purpose, alg, sealed_private, created_at, retired_at, publish_until FROM signing_keys \
             WHERE purpose = $1 AND (publish_until IS NULL OR publish_until > $2) ORDER BY created_at DESC, kid",
        )
        .bind(purpose)
        .bind(now)
        .fetch_all(self.read())
        .await
        .map_err(map_err)?;
        rows.iter().map(key_from).collect()
    }

    async fn rotate_key(&self, key: &StoredKey, publish_until: Micros) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "UPDATE signing_keys SET retired_at = $1, publish_until = $2 WHERE purpose = $3 AND retired_at IS NULL",
        )
        .bind(key.created_at)
        .bind(publish_until)
        .bind(&key.purpose)
        .execute(&mut *tx)
        .await
        .map_err(map_err)?;
        sqlx::query(
            "INSERT INTO signing_keys (kid, purpose, alg, sealed_private, created_at, retired_at, publish_until) \
             VALUES ($1, $2, $3, $4, $5, NULL, NULL)",
        )
        .bind(&key.kid)
        .bind(&key.purpose)
        .bind(&key.alg)
        .bind(&key.sealed_private)
        .bind(key.created_at)
        .execute(&mut *tx)
        .await
        .map_err(map_err)?;
        self.commit(tx, false).await
    }

    async fn prune_keys(&self, purpose: &str, now: Micros) -> Result<u64, StoreError> {
        let done = sqlx::query(
            "DELETE FROM signing_keys WHERE purpose = $1 AND publish_until IS NOT NULL AND publish_until <= $2",
        )
        .bind(purpose)
        .bind(now)
        .execute(self.write())
        .await
        .map_err(map_err)?;
        Ok(done.rows_affected())
    }
}
