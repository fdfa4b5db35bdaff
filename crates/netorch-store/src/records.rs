//! `RecordRepository` on sqlx: tenant records with owner projects as indexed rows.

use async_trait::async_trait;
use netorch_core::{
    StoreError,
    events::NewEvent,
    tenancy::{ANY, Ownership, ProjectScope, Public, Record, RecordRepository},
};
use sqlx::{Row, any::AnyRow};

use crate::db::{Store, json_text, map_err, placeholders};

/// The SQL condition restricting `records r` to a scope, and the values it binds (numbered from
/// `first`).
fn scope_condition(scope: &ProjectScope, for_write: bool, first: usize) -> (String, Vec<String>) {
    let access = if for_write { "can_write" } else { "can_read" };
    let owned_by = |n: usize, start: usize| {
        format!(
            "EXISTS (SELECT 1 FROM record_owners o WHERE o.collection = r.collection AND o.id = r.id \
             AND o.{access} = 1 AND o.project_id IN ({}))",
            placeholders(start, n)
        )
    };
    match scope {
        ProjectScope::All => ("1 = 1".into(), Vec::new()),
        ProjectScope::Only { projects, public } => {
            let mut values = projects.clone();
            match public {
                Public::Ignore => (owned_by(values.len().max(1), first), pad(values)),
                Public::Include => {
                    values.push(ANY.to_string());
                    (owned_by(values.len(), first), values)
                }
                Public::Exclude => {
                    let cond = format!(
                        "{} AND NOT EXISTS (SELECT 1 FROM record_owners a WHERE a.collection = r.collection \
                         AND a.id = r.id AND a.project_id = '{ANY}' AND a.can_read = 1)",
                        owned_by(values.len().max(1), first)
                    );
                    (cond, pad(values))
                }
            }
        }
    }
}

/// An empty project list still needs one (unmatchable) value for `IN (...)`.
fn pad(mut v: Vec<String>) -> Vec<String> {
    if v.is_empty() {
        v.push(String::new());
    }
    v
}

impl Store {
    fn owners_column(&self) -> &'static str {
        if self.is_postgres() {
            "(SELECT string_agg(o.project_id || ':' || o.can_read || o.can_write, ',') FROM record_owners o \
             WHERE o.collection = r.collection AND o.id = r.id) AS owners"
        } else {
            "(SELECT group_concat(o.project_id || ':' || o.can_read || o.can_write, ',') FROM record_owners o \
             WHERE o.collection = r.collection AND o.id = r.id) AS owners"
        }
    }

    async fn insert_in(
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        collection: &str,
        r: &Record,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO records (collection, id, name, body, created, modified, revision) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(collection)
        .bind(&r.id)
        .bind(r.name.as_deref())
        .bind(r.body.to_string())
        .bind(r.created)
        .bind(r.modified)
        .bind(r.revision)
        .execute(&mut **tx)
        .await
        .map_err(|e| match map_err(e) {
            StoreError::Conflict(_) => {
                StoreError::Conflict(format!("{collection} '{}' already exists", r.id))
            }
            other => other,
        })?;
        Store::write_owners(tx, collection, r).await
    }

    /// Replaces a record if its stored revision is still `r.revision - 1`.
    async fn update_in(
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        collection: &str,
        r: &Record,
    ) -> Result<(), StoreError> {
        let done = sqlx::query(
            "UPDATE records SET name = $3, body = $4, modified = $5, revision = $6 \
             WHERE collection = $1 AND id = $2 AND revision = $7",
        )
        .bind(collection)
        .bind(&r.id)
        .bind(r.name.as_deref())
        .bind(r.body.to_string())
        .bind(r.modified)
        .bind(r.revision)
        .bind(r.revision - 1)
        .execute(&mut **tx)
        .await
        .map_err(map_err)?;
        if done.rows_affected() == 0 {
            let exists: Option<(i64,)> =
                sqlx::query_as("SELECT revision FROM records WHERE collection = $1 AND id = $2")
                    .bind(collection)
                    .bind(&r.id)
                    .fetch_optional(&mut **tx)
                    .await
                    .map_err(map_err)?;
            return Err(match exists {
                None => StoreError::NotFound {
                    kind: "record",
                    key: r.id.clone(),
                },
                Some(_) => StoreError::Conflict(format!(
                    "{collection} '{}' was modified concurrently; read it again and retry",
                    r.id
                )),
            });
        }
        for table in ["record_owners", "record_names"] {
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "DELETE FROM {table} WHERE collection = $1 AND id = $2"
            )))
            .bind(collection)
            .bind(&r.id)
            .execute(&mut **tx)
            .await
            .map_err(map_err)?;
        }
        Store::write_owners(tx, collection, r).await
    }

    async fn write_owners(
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        collection: &str,
        r: &Record,
    ) -> Result<(), StoreError> {
        let mut projects: Vec<&String> = r.owners.read.iter().chain(&r.owners.write).collect();
        projects.sort();
        projects.dedup();
        for p in projects {
            sqlx::query(
                "INSERT INTO record_owners (collection, id, project_id, can_read, can_write) VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(collection)
            .bind(&r.id)
            .bind(p)
            .bind(r.owners.read.contains(p) as i64)
            .bind(r.owners.write.contains(p) as i64)
            .execute(&mut **tx)
            .await
            .map_err(map_err)?;
        }
        if let Some(name) = &r.name {
            for p in &r.owners.read {
                sqlx::query("INSERT INTO record_names (collection, project_id, name, id) VALUES ($1, $2, $3, $4)")
                    .bind(collection)
                    .bind(p)
                    .bind(name)
                    .bind(&r.id)
                    .execute(&mut **tx)
                    .await
                    .map_err(|e| match map_err(e) {
                        StoreError::Conflict(_) => {
                            StoreError::Conflict(format!("name '{name}' already exists for {collection}"))
                        }
                        other => other,
                    })?;
            }
        }
        Ok(())
    }
}

fn record_from(row: &AnyRow) -> Result<Record, StoreError> {
    let mut owners = Ownership::default();
    let packed: Option<String> = row.try_get("owners").map_err(map_err)?;
    for entry in packed
        .unwrap_or_default()
        .split(',')
        .filter(|e| !e.is_empty())
    {
        let (project, flags) = entry
            .rsplit_once(':')
            .ok_or_else(|| StoreError::Internal(format!("corrupt owner entry {entry}")))?;
        if flags.starts_with('1') {
            owners.read.push(project.to_string());
        }
        if flags.ends_with('1') {
            owners.write.push(project.to_string());
        }
    }
    owners.read.sort();
    owners.write.sort();
    Ok(Record {
        id: row.try_get("id").map_err(map_err)?,
        name: row.try_get("name").map_err(map_err)?,
        body: json_text(&row.try_get::<String, _>("body").map_err(map_err)?)?,
        owners,
        created: row.try_get("created").map_err(map_err)?,
        modified: row.try_get("modified").map_err(map_err)?,
        revision: row.try_get("revision").map_err(map_err)?,
    })
}

#[async_trait]
impl RecordRepository for Store {
    async fn insert_record(
        &self,
        collection: &str,
        r: &Record,
        events: &[NewEvent],
    ) -> Result<(), StoreError> {
        let mut tx = self.write().begin().await.map_err(map_err)?;
        sqlx::query(
            "INSERT INTO records (collection, id, name, body, created, modified, revision) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(collection)
        .bind(&r.id)
        .bind(r.name.as_deref())
        .bind(r.body.to_string())
        .bind(r.created)
        .bind(r.modified)
        .bind(r.revision)
        .execute(&mut *tx)
        .await
        .map_err(|e| match map_err(e) {
            StoreError::Conflict(_) => StoreError::Conflict(format!("{collection} '{}' already exists", r.id)),
            other => other,
        })?;
        Store::write_owners(&mut tx, collection, r).await?;
        self.commit_with(tx, events).await
    }

    async fn insert_records(
        &self,
        records: &[(&str, &Record)],
        events: &[NewEvent],
    ) -> Result<(), StoreError> {
        self.write_records(records, &[], &[], events).await
    }

    async fn write_records(
        &self,
        inserts: &[(&str, &Record)],
        updates: &[(&str, &Record)],
        deletes: &[(&str, &str)],
        events: &[NewEvent],
    ) -> Result<(), StoreError> {
        let mut tx = self.write().begin().await.map_err(map_err)?;
        for (collection, r) in inserts {
            Store::insert_in(&mut tx, collection, r).await?;
        }
        for (collection, r) in updates {
            Store::update_in(&mut tx, collection, r).await?;
        }
        for (collection, id) in deletes {
            sqlx::query("DELETE FROM records WHERE collection = $1 AND id = $2")
                .bind(*collection)
                .bind(*id)
                .execute(&mut *tx)
                .await
                .map_err(map_err)?;
        }
        self.commit_with(tx, events).await
    }

    async fn delete_records(
        &self,
        keys: &[(&str, &str)],
        events: &[NewEvent],
    ) -> Result<u64, StoreError> {
        let mut tx = self.write().begin().await.map_err(map_err)?;
        let mut n = 0;
        for (collection, id) in keys {
            n += sqlx::query("DELETE FROM records WHERE collection = $1 AND id = $2")
                .bind(*collection)
                .bind(*id)
                .execute(&mut *tx)
                .await
                .map_err(map_err)?
                .rows_affected();
        }
        if n > 0 {
            Store::append_events(&mut tx, events).await?;
        }
        self.commit(tx, n > 0 && !events.is_empty()).await?;
        Ok(n)
    }

    async fn get_record(
        &self,
        collection: &str,
        id: &str,
        scope: &ProjectScope,
        for_write: bool,
    ) -> Result<Option<Record>, StoreError> {
        let (cond, values) = scope_condition(scope, for_write, 3);
        let sql = format!(
            "SELECT r.id, r.name, r.body, r.created, r.modified, r.revision, {} FROM records r \
             WHERE r.collection = $1 AND r.id = $2 AND {cond}",
            self.owners_column()
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(collection)
            .bind(id);
        for v in &values {
            q = q.bind(v);
        }
        let row = q.fetch_optional(self.read()).await.map_err(map_err)?;
        row.as_ref().map(record_from).transpose()
    }

    async fn list_records(
        &self,
        collection: &str,
        scope: &ProjectScope,
    ) -> Result<Vec<Record>, StoreError> {
        let (cond, values) = scope_condition(scope, false, 2);
        let sql = format!(
            "SELECT r.id, r.name, r.body, r.created, r.modified, r.revision, {} FROM records r \
             WHERE r.collection = $1 AND {cond} ORDER BY r.created, r.id",
            self.owners_column()
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(collection);
        for v in &values {
            q = q.bind(v);
        }
        let rows = q.fetch_all(self.read()).await.map_err(map_err)?;
        rows.iter().map(record_from).collect()
    }

    async fn find_records(
        &self,
        collection: &str,
        field: &str,
        value: &str,
    ) -> Result<Vec<Record>, StoreError> {
        let sql = find_sql(self.is_postgres(), collection, field, self.owners_column())?;
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(value)
            .fetch_all(self.read())
            .await
            .map_err(map_err)?;
        rows.iter().map(record_from).collect()
    }

    async fn get_records_in(
        &self,
        collection: &str,
        ids: &[String],
    ) -> Result<Vec<Record>, StoreError> {
        let mut out = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(IN_CHUNK) {
            let sql = format!(
                "SELECT r.id, r.name, r.body, r.created, r.modified, r.revision, {} FROM records r \
                 WHERE r.collection = $1 AND r.id IN ({})",
                self.owners_column(),
                placeholders(2, chunk.len())
            );
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(collection);
            for id in chunk {
                q = q.bind(id);
            }
            let rows = q.fetch_all(self.read()).await.map_err(map_err)?;
            for row in &rows {
                out.push(record_from(row)?);
            }
        }
        Ok(out)
    }

    async fn find_records_in(
        &self,
        collection: &str,
        field: &str,
        values: &[String],
    ) -> Result<Vec<Record>, StoreError> {
        let mut out = Vec::new();
        for chunk in values.chunks(IN_CHUNK) {
            let sql = find_sql_in(
                self.is_postgres(),
                collection,
                field,
                self.owners_column(),
                chunk.len(),
            )?;
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for v in chunk {
                q = q.bind(v);
            }
            let rows = q.fetch_all(self.read()).await.map_err(map_err)?;
            for row in &rows {
                out.push(record_from(row)?);
            }
        }
        Ok(out)
    }

    async fn records_modified_since(
        &self,
        collection: &str,
        since: netorch_core::Micros,
    ) -> Result<Vec<Record>, StoreError> {
        let sql = format!(
            "SELECT r.id, r.name, r.body, r.created, r.modified, r.revision, {} FROM records r \
             WHERE r.collection = $1 AND r.modified >= $2 ORDER BY r.modified, r.id",
            self.owners_column()
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(collection)
            .bind(since)
            .fetch_all(self.read())
            .await
            .map_err(map_err)?;
        rows.iter().map(record_from).collect()
    }

    async fn update_record(
        &self,
        collection: &str,
        r: &Record,
        events: &[NewEvent],
    ) -> Result<(), StoreError> {
        let mut tx = self.write().begin().await.map_err(map_err)?;
        Store::update_in(&mut tx, collection, r).await?;
        self.commit_with(tx, events).await
    }

    async fn delete_record(
        &self,
        collection: &str,
        id: &str,
        events: &[NewEvent],
    ) -> Result<bool, StoreError> {
        let mut tx = self.write().begin().await.map_err(map_err)?;
        let done = sqlx::query("DELETE FROM records WHERE collection = $1 AND id = $2")
            .bind(collection)
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
        let existed = done.rows_affected() > 0;
        if existed {
            Store::append_events(&mut tx, events).await?;
        }
        self.commit(tx, existed && !events.is_empty()).await?;
        Ok(existed)
    }

    async fn collection_version(&self, collection: &str) -> Result<i64, StoreError> {
        let v: Option<(i64,)> =
            sqlx::query_as("SELECT version FROM collection_versions WHERE collection = $1")
                .bind(collection)
                .fetch_optional(self.read())
                .await
                .map_err(map_err)?;
        Ok(v.map_or(0, |(v,)| v))
    }

    async fn count_records(&self, collection: &str, project_id: &str) -> Result<i64, StoreError> {
        let (n,): (i64,) = sqlx::query_as(
            "SELECT COUNT(*) FROM record_owners WHERE collection = $1 AND project_id = $2 AND can_read = 1",
        )
        .bind(collection)
        .bind(project_id)
        .fetch_one(self.read())
        .await
        .map_err(map_err)?;
        Ok(n)
    }
}

/// Values bound per `IN (...)` query (far below SQLite's and PostgreSQL's parameter limits).
const IN_CHUNK: usize = 500;

/// `find_sql` for `n` values (`IN`).
fn find_sql_in(
    postgres: bool,
    collection: &str,
    field: &str,
    owners: &str,
    n: usize,
) -> Result<String, StoreError> {
    let one = find_sql(postgres, collection, field, owners)?;
    Ok(one.replace(
        " = $1 ORDER BY r.created, r.id",
        &format!(" IN ({})", placeholders(1, n)),
    ))
}

/// The query of `find_records`. Collection and field are spliced into the SQL (a JSON path cannot
/// be bound, and a partial index is only used when the query names its collection literally),
/// hence the check; the expression is spelled exactly as in the indexes of migration 0007.
fn find_sql(
    postgres: bool,
    collection: &str,
    field: &str,
    owners: &str,
) -> Result<String, StoreError> {
    let plain = |x: &str| {
        !x.is_empty()
            && x.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    if !plain(collection) || !plain(field) {
        return Err(StoreError::Internal(format!(
            "'{collection}'.'{field}' is not a record field"
        )));
    }
    let expr = if postgres {
        format!("((body::jsonb) ->> '{field}')")
    } else {
        format!("json_extract(body, '$.\"{field}\"')")
    };
    Ok(format!(
        "SELECT r.id, r.name, r.body, r.created, r.modified, r.revision, {owners} FROM records r \
         WHERE r.collection = '{collection}' AND {expr} = $1 ORDER BY r.created, r.id"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Store, StoreOptions};

    #[tokio::test]
    async fn lookups_by_a_body_field_use_the_partial_indexes_on_sqlite() {
        let dir = tempfile::tempdir().expect("dir");
        let url = format!("sqlite://{}/n.db?mode=rwc", dir.path().display());
        let store = Store::connect(&url, &StoreOptions::default())
            .await
            .expect("connect");
        store.migrate().await.expect("migrate");
        for (collection, field, index) in [
            (
                "nslcmops",
                "nsInstanceId",
                "records_nslcmops_by_nsinstanceid",
            ),
            (
                "nsilcmops",
                "netsliceInstanceId",
                "records_nsilcmops_by_netsliceinstanceid",
            ),
            ("nsrs", "nsd-id", "records_nsrs_by_nsd_id"),
            ("vnfrs", "vnfd-id", "records_vnfrs_by_vnfd_id"),
            ("nsis", "nst-id", "records_nsis_by_nst_id"),
        ] {
            let sql = find_sql(false, collection, field, store.owners_column()).expect("sql");
            let plan: Vec<String> =
                sqlx::query(sqlx::AssertSqlSafe(format!("EXPLAIN QUERY PLAN {sql}")))
                    .bind("x")
                    .fetch_all(store.read())
                    .await
                    .expect("explain")
                    .iter()
                    .map(|r| r.try_get::<String, _>("detail").expect("detail"))
                    .collect();
            assert!(
                plan.iter().any(|d| d.contains(index)),
                "{collection}.{field}: {plan:?}"
            );
        }
        assert!(find_sql(false, "nsrs", "a'b", "").is_err());
        assert!(find_sql(false, "ns rs", "id", "").is_err());
        store.close().await;
    }
}
