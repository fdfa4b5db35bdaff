//! Leases for singleton work among replicas, and settings the first replica pins for the others.
//!
//! A lease is a row (name, holder, expiry) taken or renewed by one compare-and-set upsert: it
//! changes hands only when it expired, so a replica killed without a word is replaced after one
//! lease period, and two replicas never both believe they hold it (each trusts its lease only
//! until the expiry it wrote, measured on its own clock, minus the renewal margin the caller
//! keeps). Rows rather than PostgreSQL advisory locks: they work on SQLite too, survive a
//! database restart (a session lock does not), and show who holds what with a plain SELECT.

use netorch_core::{Micros, StoreError};
use sqlx::Row;

use crate::db::{Store, map_err};

/// Who holds a lease, and until when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseHolder {
    /// The holder's id (a replica id).
    pub holder: String,
    /// Since when this holder has it.
    pub acquired_at: Micros,
    /// Until when (unless renewed).
    pub expires_at: Micros,
}

impl Store {
    /// Takes or renews lease `name` for `holder` until `now + ttl_micros`, if it is free,
    /// expired or already `holder`'s; the lease's holder afterwards (someone else's if taken).
    pub async fn acquire_lease(
        &self,
        name: &str,
        holder: &str,
        now: Micros,
        ttl_micros: Micros,
    ) -> Result<LeaseHolder, StoreError> {
        sqlx::query(
            "INSERT INTO leases (name, holder, acquired_at, expires_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (name) DO UPDATE SET \
               acquired_at = CASE WHEN leases.holder = excluded.holder THEN leases.acquired_at ELSE excluded.acquired_at END, \
               holder = excluded.holder, expires_at = excluded.expires_at \
             WHERE leases.holder = excluded.holder OR leases.expires_at < excluded.acquired_at",
        )
        .bind(name)
        .bind(holder)
        .bind(now)
        .bind(now + ttl_micros)
        .execute(self.write())
        .await
        .map_err(map_err)?;
        self.lease(name)
            .await?
            .ok_or_else(|| StoreError::Internal(format!("lease {name} vanished")))
    }

    /// The holder of lease `name`, if anyone ever took it.
    pub async fn lease(&self, name: &str) -> Result<Option<LeaseHolder>, StoreError> {
        let row = sqlx::query("SELECT holder, acquired_at, expires_at FROM leases WHERE name = $1")
            .bind(name)
            .fetch_optional(self.write())
            .await
            .map_err(map_err)?;
        row.map(|r| {
            Ok(LeaseHolder {
                holder: r.try_get("holder").map_err(map_err)?,
                acquired_at: r.try_get("acquired_at").map_err(map_err)?,
                expires_at: r.try_get("expires_at").map_err(map_err)?,
            })
        })
        .transpose()
    }

    /// Gives lease `name` up if `holder` has it (a clean shutdown: the next replica need not
    /// wait for the expiry).
    pub async fn release_lease(&self, name: &str, holder: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM leases WHERE name = $1 AND holder = $2")
            .bind(name)
            .bind(holder)
            .execute(self.write())
            .await
            .map_err(map_err)?;
        Ok(())
    }

    /// Pins setting `name` to `value` unless a value is pinned already; the pinned value (the
    /// caller compares it with its own).
    pub async fn pin_setting(
        &self,
        name: &str,
        value: &str,
        now: Micros,
    ) -> Result<String, StoreError> {
        sqlx::query(
            "INSERT INTO pinned_settings (name, value, pinned_at) VALUES ($1, $2, $3) \
             ON CONFLICT (name) DO NOTHING",
        )
        .bind(name)
        .bind(value)
        .bind(now)
        .execute(self.write())
        .await
        .map_err(map_err)?;
        let (v,): (String,) = sqlx::query_as("SELECT value FROM pinned_settings WHERE name = $1")
            .bind(name)
            .fetch_one(self.write())
            .await
            .map_err(map_err)?;
        Ok(v)
    }
}
