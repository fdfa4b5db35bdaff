//! `IdentityRepository` on sqlx.

use std::collections::BTreeMap;

use async_trait::async_trait;
use netorch_core::{
    StoreError,
    events::NewEvent,
    identity::{
        IdentityRepository, NamedMapping, Project, ProjectRoleMapping, Role, TokenRecord, User,
    },
};
use sqlx::{Row, any::AnyRow};

use crate::db::{Store, json_text, map_err};

fn project_from(row: &AnyRow) -> Result<Project, StoreError> {
    let quotas: BTreeMap<String, i64> = serde_json::from_value(json_text(
        &row.try_get::<String, _>("quotas").map_err(map_err)?,
    )?)
    .map_err(|e| StoreError::Internal(format!("corrupt quotas: {e}")))?;
    Ok(Project {
        id: row.try_get("id").map_err(map_err)?,
        name: row.try_get("name").map_err(map_err)?,
        admin: row.try_get::<i64, _>("admin").map_err(map_err)? != 0,
        quotas,
        created: row.try_get("created").map_err(map_err)?,
        modified: row.try_get("modified").map_err(map_err)?,
    })
}

fn role_from(row: &AnyRow) -> Result<Role, StoreError> {
    let permissions: BTreeMap<String, bool> = serde_json::from_value(json_text(
        &row.try_get::<String, _>("permissions").map_err(map_err)?,
    )?)
    .map_err(|e| StoreError::Internal(format!("corrupt permissions: {e}")))?;
    Ok(Role {
        id: row.try_get("id").map_err(map_err)?,
        name: row.try_get("name").map_err(map_err)?,
        permissions,
        created: row.try_get("created").map_err(map_err)?,
        modified: row.try_get("modified").map_err(map_err)?,
    })
}

fn user_from(row: &AnyRow, mappings: Vec<ProjectRoleMapping>) -> Result<User, StoreError> {
    Ok(User {
        id: row.try_get("id").map_err(map_err)?,
        username: row.try_get("username").map_err(map_err)?,
        password_hash: row.try_get("password_hash").map_err(map_err)?,
        status: row.try_get("status").map_err(map_err)?,
        mappings,
        created: row.try_get("created").map_err(map_err)?,
        modified: row.try_get("modified").map_err(map_err)?,
    })
}

fn token_from(row: &AnyRow) -> Result<TokenRecord, StoreError> {
    Ok(TokenRecord {
        hash: row.try_get("hash").map_err(map_err)?,
        user_id: row.try_get("user_id").map_err(map_err)?,
        project_id: row.try_get("project_id").map_err(map_err)?,
        issued_at: row.try_get("issued_at").map_err(map_err)?,
        expires: row.try_get("expires").map_err(map_err)?,
        remote_host: row.try_get("remote_host").map_err(map_err)?,
        remote_port: row.try_get::<i64, _>("remote_port").map_err(map_err)? as u16,
    })
}

fn conflict(e: StoreError, msg: impl FnOnce() -> String) -> StoreError {
    match e {
        StoreError::Conflict(_) => StoreError::Conflict(msg()),
        other => other,
    }
}

/// Users joined with their mappings and the names of the mapped projects and roles.
const USERS_NAMED: &str = "SELECT u.id, u.username, u.password_hash, u.status, u.created, u.modified, \
     m.project_id, p.name AS project_name, m.role_id, r.name AS role_name \
     FROM users u \
     LEFT JOIN user_project_roles m ON m.user_id = u.id \
     LEFT JOIN projects p ON p.id = m.project_id \
     LEFT JOIN roles r ON r.id = m.role_id";

/// Folds joined rows (ordered by user, then mapping position) into users.
fn fold_named(rows: &[AnyRow]) -> Result<Vec<(User, Vec<NamedMapping>)>, StoreError> {
    let mut out: Vec<(User, Vec<NamedMapping>)> = Vec::new();
    for row in rows {
        let id: String = row.try_get("id").map_err(map_err)?;
        if out.last().is_none_or(|(u, _)| u.id != id) {
            out.push((user_from(row, Vec::new())?, Vec::new()));
        }
        let project_id: Option<String> = row.try_get("project_id").map_err(map_err)?;
        if let (Some(project_id), Some((user, named))) = (project_id, out.last_mut()) {
            let role_id: String = row.try_get("role_id").map_err(map_err)?;
            user.mappings.push(ProjectRoleMapping {
                project_id: project_id.clone(),
                role_id: role_id.clone(),
            });
            named.push(NamedMapping {
                project_id,
                project_name: row.try_get("project_name").map_err(map_err)?,
                role_id,
                role_name: row.try_get("role_name").map_err(map_err)?,
            });
        }
    }
    Ok(out)
}

impl Store {
    async fn mappings_of(&self, user_id: &str) -> Result<Vec<ProjectRoleMapping>, StoreError> {
        let rows = sqlx::query(
            "SELECT project_id, role_id FROM user_project_roles WHERE user_id = $1 ORDER BY position",
        )
        .bind(user_id)
        .fetch_all(self.read())
        .await
        .map_err(map_err)?;
        rows.iter()
            .map(|r| {
                Ok(ProjectRoleMapping {
                    project_id: r.try_get("project_id").map_err(map_err)?,
                    role_id: r.try_get("role_id").map_err(map_err)?,
                })
            })
            .collect()
    }

    async fn write_mappings(
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        user: &User,
    ) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM user_project_roles WHERE user_id = $1")
            .bind(&user.id)
            .execute(&mut **tx)
            .await
            .map_err(map_err)?;
        for (pos, m) in user.mappings.iter().enumerate() {
            sqlx::query(
                "INSERT INTO user_project_roles (user_id, project_id, role_id, position) VALUES ($1, $2, $3, $4)",
            )
            .bind(&user.id)
            .bind(&m.project_id)
            .bind(&m.role_id)
            .bind(pos as i64)
            .execute(&mut **tx)
            .await
            .map_err(|e| match map_err(e) {
                StoreError::InUse(_) => StoreError::NotFound {
                    kind: "project or role",
                    key: format!("{}/{}", m.project_id, m.role_id),
                },
                other => other,
            })?;
        }
        Ok(())
    }

    /// Name of one user still mapped to a project or role (for a helpful 409).
    async fn first_user_using(
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        column: &str,
        id: &str,
    ) -> Result<Option<String>, StoreError> {
        let sql = format!(
            "SELECT u.username FROM user_project_roles m JOIN users u ON u.id = m.user_id WHERE m.{column} = $1 ORDER BY u.username LIMIT 1"
        );
        let row: Option<(String,)> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(&mut **tx)
            .await
            .map_err(map_err)?;
        Ok(row.map(|r| r.0))
    }

    async fn delete_by_id(
        &self,
        table: &'static str,
        kind: &'static str,
        id: &str,
        events: &[NewEvent],
        in_use_column: Option<(&'static str, bool)>,
    ) -> Result<(), StoreError> {
        let mut tx = self.write().begin().await.map_err(map_err)?;
        if let Some((col, true)) = in_use_column {
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "DELETE FROM user_project_roles WHERE {col} = $1"
            )))
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
        }
        if let Some((col, false)) = in_use_column
            && let Some(user) = Self::first_user_using(&mut tx, col, id).await?
        {
            return Err(StoreError::InUse(format!(
                "{} '{id}' is being used by user '{user}'",
                capitalise(kind)
            )));
        }
        let done = sqlx::query(sqlx::AssertSqlSafe(format!(
            "DELETE FROM {table} WHERE id = $1"
        )))
        .bind(id)
        .execute(&mut *tx)
        .await
        .map_err(map_err)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound {
                kind,
                key: id.to_string(),
            });
        }
        self.commit_with(tx, events).await
    }
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
        None => String::new(),
    }
}

#[async_trait]
impl IdentityRepository for Store {
    async fn insert_project(&self, p: &Project, events: &[NewEvent]) -> Result<(), StoreError> {
        let mut tx = self.write().begin().await.map_err(map_err)?;
        sqlx::query(
            "INSERT INTO projects (id, name, admin, quotas, created, modified) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&p.id)
        .bind(&p.name)
        .bind(p.admin as i64)
        .bind(serde_json::to_string(&p.quotas).unwrap_or_else(|_| "{}".into()))
        .bind(p.created)
        .bind(p.modified)
        .execute(&mut *tx)
        .await
        .map_err(|e| conflict(map_err(e), || format!("project '{}' exists", p.name)))?;
        self.commit_with(tx, events).await
    }

    async fn update_project(&self, p: &Project, events: &[NewEvent]) -> Result<(), StoreError> {
        let mut tx = self.write().begin().await.map_err(map_err)?;
        let done = sqlx::query(
            "UPDATE projects SET name = $2, admin = $3, quotas = $4, modified = $5 WHERE id = $1",
        )
        .bind(&p.id)
        .bind(&p.name)
        .bind(p.admin as i64)
        .bind(serde_json::to_string(&p.quotas).unwrap_or_else(|_| "{}".into()))
        .bind(p.modified)
        .execute(&mut *tx)
        .await
        .map_err(|e| conflict(map_err(e), || format!("project '{}' exists", p.name)))?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound {
                kind: "project",
                key: p.id.clone(),
            });
        }
        self.commit_with(tx, events).await
    }

    async fn delete_project(
        &self,
        id: &str,
        force: bool,
        events: &[NewEvent],
    ) -> Result<(), StoreError> {
        self.delete_by_id(
            "projects",
            "project",
            id,
            events,
            Some(("project_id", force)),
        )
        .await
    }

    async fn find_project(&self, id_or_name: &str) -> Result<Option<Project>, StoreError> {
        let row = sqlx::query(
            "SELECT * FROM projects WHERE id = $1 OR name = $1 ORDER BY (id = $1) DESC LIMIT 1",
        )
        .bind(id_or_name)
        .fetch_optional(self.read())
        .await
        .map_err(map_err)?;
        row.as_ref().map(project_from).transpose()
    }

    async fn list_projects(&self) -> Result<Vec<Project>, StoreError> {
        let rows = sqlx::query("SELECT * FROM projects ORDER BY name")
            .fetch_all(self.read())
            .await
            .map_err(map_err)?;
        rows.iter().map(project_from).collect()
    }

    async fn insert_user(&self, u: &User, events: &[NewEvent]) -> Result<(), StoreError> {
        let mut tx = self.write().begin().await.map_err(map_err)?;
        sqlx::query(
            "INSERT INTO users (id, username, password_hash, status, created, modified) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&u.id)
        .bind(&u.username)
        .bind(&u.password_hash)
        .bind(&u.status)
        .bind(u.created)
        .bind(u.modified)
        .execute(&mut *tx)
        .await
        .map_err(|e| conflict(map_err(e), || format!("username '{}' is already used", u.username)))?;
        Store::write_mappings(&mut tx, u).await?;
        self.commit_with(tx, events).await
    }

    async fn update_user(&self, u: &User, events: &[NewEvent]) -> Result<(), StoreError> {
        let mut tx = self.write().begin().await.map_err(map_err)?;
        let done = sqlx::query(
            "UPDATE users SET username = $2, password_hash = $3, status = $4, modified = $5 WHERE id = $1",
        )
        .bind(&u.id)
        .bind(&u.username)
        .bind(&u.password_hash)
        .bind(&u.status)
        .bind(u.modified)
        .execute(&mut *tx)
        .await
        .map_err(|e| conflict(map_err(e), || format!("username '{}' is already used", u.username)))?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound {
                kind: "user",
                key: u.id.clone(),
            });
        }
        Store::write_mappings(&mut tx, u).await?;
        self.commit_with(tx, events).await
    }

    async fn delete_user(&self, id: &str, events: &[NewEvent]) -> Result<(), StoreError> {
        self.delete_by_id("users", "user", id, events, None).await
    }

    async fn find_user(&self, id_or_name: &str) -> Result<Option<User>, StoreError> {
        let row = sqlx::query(
            "SELECT * FROM users WHERE id = $1 OR username = $1 ORDER BY (id = $1) DESC LIMIT 1",
        )
        .bind(id_or_name)
        .fetch_optional(self.read())
        .await
        .map_err(map_err)?;
        match row {
            None => Ok(None),
            Some(row) => {
                let id: String = row.try_get("id").map_err(map_err)?;
                let mappings = self.mappings_of(&id).await?;
                user_from(&row, mappings).map(Some)
            }
        }
    }

    async fn list_users(&self) -> Result<Vec<User>, StoreError> {
        let rows = sqlx::query("SELECT * FROM users ORDER BY username")
            .fetch_all(self.read())
            .await
            .map_err(map_err)?;
        let maps = sqlx::query("SELECT user_id, project_id, role_id FROM user_project_roles ORDER BY user_id, position")
            .fetch_all(self.read())
            .await
            .map_err(map_err)?;
        let mut by_user: BTreeMap<String, Vec<ProjectRoleMapping>> = BTreeMap::new();
        for m in &maps {
            by_user
                .entry(m.try_get("user_id").map_err(map_err)?)
                .or_default()
                .push(ProjectRoleMapping {
                    project_id: m.try_get("project_id").map_err(map_err)?,
                    role_id: m.try_get("role_id").map_err(map_err)?,
                });
        }
        rows.iter()
            .map(|r| {
                let id: String = r.try_get("id").map_err(map_err)?;
                user_from(r, by_user.remove(&id).unwrap_or_default())
            })
            .collect()
    }

    async fn find_user_named(
        &self,
        id_or_name: &str,
    ) -> Result<Option<(User, Vec<NamedMapping>)>, StoreError> {
        // Ids win over names: a user name can never look like an id (uuid), but be exact anyway.
        let sql = format!(
            "{USERS_NAMED} WHERE u.id = (SELECT id FROM users WHERE id = $1 OR username = $1 ORDER BY (id = $1) DESC LIMIT 1) ORDER BY m.position"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id_or_name)
            .fetch_all(self.read())
            .await
            .map_err(map_err)?;
        Ok(fold_named(&rows)?.into_iter().next())
    }

    async fn list_users_named(&self) -> Result<Vec<(User, Vec<NamedMapping>)>, StoreError> {
        let sql = format!("{USERS_NAMED} ORDER BY u.username, u.id, m.position");
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .fetch_all(self.read())
            .await
            .map_err(map_err)?;
        fold_named(&rows)
    }

    async fn count_users(&self) -> Result<i64, StoreError> {
        let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM users")
            .fetch_one(self.read())
            .await
            .map_err(map_err)?;
        Ok(n)
    }

    async fn insert_role(&self, r: &Role, events: &[NewEvent]) -> Result<(), StoreError> {
        let mut tx = self.write().begin().await.map_err(map_err)?;
        sqlx::query("INSERT INTO roles (id, name, permissions, created, modified) VALUES ($1, $2, $3, $4, $5)")
            .bind(&r.id)
            .bind(&r.name)
            .bind(serde_json::to_string(&r.permissions).unwrap_or_else(|_| "{}".into()))
            .bind(r.created)
            .bind(r.modified)
            .execute(&mut *tx)
            .await
            .map_err(|e| conflict(map_err(e), || format!("role name '{}' exists", r.name)))?;
        self.commit_with(tx, events).await
    }

    async fn update_role(&self, r: &Role, events: &[NewEvent]) -> Result<(), StoreError> {
        let mut tx = self.write().begin().await.map_err(map_err)?;
        let done = sqlx::query(
            "UPDATE roles SET name = $2, permissions = $3, modified = $4 WHERE id = $1",
        )
        .bind(&r.id)
        .bind(&r.name)
        .bind(serde_json::to_string(&r.permissions).unwrap_or_else(|_| "{}".into()))
        .bind(r.modified)
        .execute(&mut *tx)
        .await
        .map_err(|e| conflict(map_err(e), || format!("role name '{}' exists", r.name)))?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound {
                kind: "role",
                key: r.id.clone(),
            });
        }
        self.commit_with(tx, events).await
    }

    async fn delete_role(
        &self,
        id: &str,
        force: bool,
        events: &[NewEvent],
    ) -> Result<(), StoreError> {
        self.delete_by_id("roles", "role", id, events, Some(("role_id", force)))
            .await
    }

    async fn find_role(&self, id_or_name: &str) -> Result<Option<Role>, StoreError> {
        let row = sqlx::query(
            "SELECT * FROM roles WHERE id = $1 OR name = $1 ORDER BY (id = $1) DESC LIMIT 1",
        )
        .bind(id_or_name)
        .fetch_optional(self.read())
        .await
        .map_err(map_err)?;
        row.as_ref().map(role_from).transpose()
    }

    async fn list_roles(&self) -> Result<Vec<Role>, StoreError> {
        let rows = sqlx::query("SELECT * FROM roles ORDER BY name")
            .fetch_all(self.read())
            .await
            .map_err(map_err)?;
        rows.iter().map(role_from).collect()
    }

    async fn insert_token(&self, t: &TokenRecord) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO tokens (hash, user_id, project_id, issued_at, expires, remote_host, remote_port) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&t.hash)
        .bind(&t.user_id)
        .bind(&t.project_id)
        .bind(t.issued_at)
        .bind(t.expires)
        .bind(&t.remote_host)
        .bind(t.remote_port as i64)
        .execute(self.write())
        .await
        .map_err(map_err)?;
        Ok(())
    }

    async fn find_token(&self, hash: &str) -> Result<Option<TokenRecord>, StoreError> {
        let row = sqlx::query("SELECT * FROM tokens WHERE hash = $1")
            .bind(hash)
            .fetch_optional(self.read())
            .await
            .map_err(map_err)?;
        row.as_ref().map(token_from).transpose()
    }

    async fn list_tokens(&self, user_id: &str, now: i64) -> Result<Vec<TokenRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT * FROM tokens WHERE user_id = $1 AND expires > $2 ORDER BY issued_at",
        )
        .bind(user_id)
        .bind(now)
        .fetch_all(self.read())
        .await
        .map_err(map_err)?;
        rows.iter().map(token_from).collect()
    }

    async fn delete_token(&self, hash: &str, events: &[NewEvent]) -> Result<bool, StoreError> {
        let mut tx = self.write().begin().await.map_err(map_err)?;
        let done = sqlx::query("DELETE FROM tokens WHERE hash = $1")
            .bind(hash)
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

    async fn purge_expired_tokens(&self, now: i64) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM tokens WHERE expires <= $1")
            .bind(now)
            .execute(self.write())
            .await
            .map_err(map_err)?;
        Ok(done.rows_affected())
    }
}
