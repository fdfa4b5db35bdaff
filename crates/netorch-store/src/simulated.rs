//! The simulated cloud's resources (`SimulatedCloudRepository`).

use async_trait::async_trait;
use netorch_core::{
    Micros, StoreError,
    cloud::{Capacity, Demand, Resource, ResourceKind, ResourceSpec, SimulatedCloudRepository},
};
use sqlx::Row as _;

use crate::{Store, db::map_err};

const COLUMNS: &str =
    "vim_account_id, res_key, kind, vim_id, name, address, vcpus, ram_mb, disk_gb, created";

fn resource(row: &sqlx::any::AnyRow) -> Result<Resource, StoreError> {
    let get_i = |c: &str| row.try_get::<i64, _>(c).map_err(map_err);
    let get_s = |c: &str| row.try_get::<String, _>(c).map_err(map_err);
    let kind = match get_s("kind")?.as_str() {
        "server" => ResourceKind::Server,
        "network" => ResourceKind::Network,
        other => {
            return Err(StoreError::Internal(format!(
                "unknown simulated resource kind '{other}'"
            )));
        }
    };
    Ok(Resource {
        vim_account_id: get_s("vim_account_id")?,
        key: get_s("res_key")?,
        kind,
        vim_id: get_s("vim_id")?,
        name: get_s("name")?,
        address: get_s("address")?,
        demand: Demand {
            vcpus: get_i("vcpus")?.max(0) as u64,
            ram_mb: get_i("ram_mb")?.max(0) as u64,
            disk_gb: get_i("disk_gb")?.max(0) as u64,
        },
        created: get_i("created")?,
    })
}

/// A private address per resource from the account's sequence: servers in 10.0.0.0/9, networks
/// as /24s in 10.128.0.0/9, so the two never overlap.
fn address(kind: ResourceKind, seq: i64) -> String {
    let n = seq.max(1) as u64;
    match kind {
        ResourceKind::Server => format!(
            "10.{}.{}.{}",
            (n >> 16) & 127,
            (n >> 8) & 255,
            (n & 255).max(1)
        ),
        ResourceKind::Network => format!("10.{}.{}.0/24", 128 + ((n >> 8) & 127), n & 255),
    }
}

#[async_trait]
impl SimulatedCloudRepository for Store {
    async fn allocate(
        &self,
        vim_account_id: &str,
        spec: &ResourceSpec,
        limit: &Capacity,
        now: Micros,
    ) -> Result<Resource, StoreError> {
        let mut tx = self.write().begin().await.map_err(map_err)?;
        // Locks the account's row first (PostgreSQL row lock; SQLite's write lock), so the usage
        // read below cannot be raced by another allocation on the same VIM.
        let seq: i64 = sqlx::query(
            "INSERT INTO sim_vims (vim_account_id, next_seq) VALUES ($1, 1) \
             ON CONFLICT (vim_account_id) DO UPDATE SET next_seq = sim_vims.next_seq + 1 \
             RETURNING next_seq",
        )
        .bind(vim_account_id)
        .fetch_one(&mut *tx)
        .await
        .map_err(map_err)?
        .try_get(0)
        .map_err(map_err)?;
        let existing = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM sim_resources WHERE vim_account_id = $1 AND res_key = $2"
        )))
        .bind(vim_account_id)
        .bind(&spec.key)
        .fetch_optional(&mut *tx)
        .await
        .map_err(map_err)?;
        if let Some(row) = existing {
            let r = resource(&row)?;
            tx.commit().await.map_err(map_err)?;
            return Ok(r);
        }
        let used = used_in(&mut tx, vim_account_id).await?;
        let d = &spec.demand;
        let short = match spec.kind {
            ResourceKind::Server => [
                ("vCPU", used.vcpus + d.vcpus, limit.vcpus, used.vcpus),
                (
                    "MB of RAM",
                    used.ram_mb + d.ram_mb,
                    limit.ram_mb,
                    used.ram_mb,
                ),
                (
                    "GB of disk",
                    used.disk_gb + d.disk_gb,
                    limit.disk_gb,
                    used.disk_gb,
                ),
                (
                    "instances",
                    used.instances + 1,
                    limit.instances,
                    used.instances,
                ),
            ]
            .into_iter()
            .find(|(_, want, max, _)| want > max),
            ResourceKind::Network => {
                [("networks", used.networks + 1, limit.networks, used.networks)]
                    .into_iter()
                    .find(|(_, want, max, _)| want > max)
            }
        };
        if let Some((what, want, max, in_use)) = short {
            return Err(StoreError::Conflict(format!(
                "not enough {what}: {name} needs {need}, {free} of {max} free",
                name = spec.name,
                need = want - in_use,
                free = max.saturating_sub(in_use),
            )));
        }
        let r = Resource {
            vim_account_id: vim_account_id.to_string(),
            key: spec.key.clone(),
            kind: spec.kind,
            vim_id: netorch_core::new_id(),
            name: spec.name.clone(),
            address: address(spec.kind, seq),
            demand: spec.demand.clone(),
            created: now,
        };
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO sim_resources ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
        )))
        .bind(&r.vim_account_id)
        .bind(&r.key)
        .bind(r.kind.as_str())
        .bind(&r.vim_id)
        .bind(&r.name)
        .bind(&r.address)
        .bind(r.demand.vcpus as i64)
        .bind(r.demand.ram_mb as i64)
        .bind(r.demand.disk_gb as i64)
        .bind(r.created)
        .execute(&mut *tx)
        .await
        .map_err(map_err)?;
        tx.commit().await.map_err(map_err)?;
        Ok(r)
    }

    async fn release(&self, vim_account_id: &str, key: &str) -> Result<bool, StoreError> {
        let done =
            sqlx::query("DELETE FROM sim_resources WHERE vim_account_id = $1 AND res_key = $2")
                .bind(vim_account_id)
                .bind(key)
                .execute(self.write())
                .await
                .map_err(map_err)?;
        Ok(done.rows_affected() > 0)
    }

    async fn list_resources(&self, prefix: &str) -> Result<Vec<Resource>, StoreError> {
        // A range instead of LIKE: keys may contain `%` or `_`.
        let upper = format!("{prefix}\u{10FFFF}");
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM sim_resources WHERE res_key >= $1 AND res_key < $2 \
             ORDER BY created, res_key"
        )))
        .bind(prefix)
        .bind(upper)
        .fetch_all(self.read())
        .await
        .map_err(map_err)?;
        rows.iter().map(resource).collect()
    }

    async fn used(&self, vim_account_id: &str) -> Result<Capacity, StoreError> {
        let mut conn = self.read().acquire().await.map_err(map_err)?;
        used_in(&mut conn, vim_account_id).await
    }

    async fn find_network(
        &self,
        vim_account_id: &str,
        name: &str,
    ) -> Result<Option<Resource>, StoreError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM sim_resources WHERE vim_account_id = $1 AND kind = 'network' \
             AND name = $2 ORDER BY created, res_key LIMIT 1"
        )))
        .bind(vim_account_id)
        .bind(name)
        .fetch_optional(self.read())
        .await
        .map_err(map_err)?;
        row.as_ref().map(resource).transpose()
    }
}

async fn used_in(
    conn: &mut sqlx::AnyConnection,
    vim_account_id: &str,
) -> Result<Capacity, StoreError> {
    // PostgreSQL sums BIGINTs into NUMERIC, which the Any driver does not decode: cast back.
    let row = sqlx::query(
        "SELECT CAST(COALESCE(SUM(vcpus), 0) AS BIGINT), CAST(COALESCE(SUM(ram_mb), 0) AS BIGINT), \
         CAST(COALESCE(SUM(disk_gb), 0) AS BIGINT), \
         CAST(COALESCE(SUM(CASE WHEN kind = 'server' THEN 1 ELSE 0 END), 0) AS BIGINT), \
         CAST(COALESCE(SUM(CASE WHEN kind = 'network' THEN 1 ELSE 0 END), 0) AS BIGINT) \
         FROM sim_resources WHERE vim_account_id = $1",
    )
    .bind(vim_account_id)
    .fetch_one(&mut *conn)
    .await
    .map_err(map_err)?;
    let n = |i: usize| -> Result<u64, StoreError> {
        row.try_get::<i64, _>(i)
            .map(|v| v.max(0) as u64)
            .map_err(map_err)
    };
    Ok(Capacity {
        vcpus: n(0)?,
        ram_mb: n(1)?,
        disk_gb: n(2)?,
        instances: n(3)?,
        networks: n(4)?,
    })
}
