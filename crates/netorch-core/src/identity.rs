//! Users, projects, roles and tokens: the identity shared by every API family.

use std::collections::BTreeMap;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::{Micros, StoreError, events::NewEvent};

/// A project (tenant). Every multi-tenant record belongs to one or more projects.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Project {
    /// `_id`.
    pub id: String,
    /// Unique name.
    pub name: String,
    /// Whether the project is an administrative one (OSM `admin`).
    pub admin: bool,
    /// Per-topic quotas (`{"vnfds": 10, ...}`), OSM semantics.
    pub quotas: BTreeMap<String, i64>,
    /// Creation time.
    pub created: Micros,
    /// Last modification time.
    pub modified: Micros,
}

/// One (project, role) pair granted to a user.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ProjectRoleMapping {
    /// Project id.
    pub project_id: String,
    /// Role id.
    pub role_id: String,
}

/// A mapping with the names of its project and role resolved (for rendering).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NamedMapping {
    /// Project id.
    pub project_id: String,
    /// Project name.
    pub project_name: String,
    /// Role id.
    pub role_id: String,
    /// Role name.
    pub role_name: String,
}

/// A user account.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct User {
    /// `_id`.
    pub id: String,
    /// Unique login name.
    pub username: String,
    /// PHC-formatted argon2 hash. Never leaves the server.
    pub password_hash: String,
    /// `active`, `locked`, `expired` or `always-active` (OSM user statuses).
    pub status: String,
    /// Project-role mappings, in the order they were granted (the first is the default project).
    pub mappings: Vec<ProjectRoleMapping>,
    /// Creation time.
    pub created: Micros,
    /// Last modification time.
    pub modified: Micros,
}

/// A role: a named set of permission keys, each `true` or `false` (OSM RBAC tree).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Role {
    /// `_id`.
    pub id: String,
    /// Unique name.
    pub name: String,
    /// Permission keys (`default`, `admin`, `users`, `users:id:patch`, ...).
    pub permissions: BTreeMap<String, bool>,
    /// Creation time.
    pub created: Micros,
    /// Last modification time.
    pub modified: Micros,
}

/// An issued bearer token. Only the SHA-256 of the secret is stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TokenRecord {
    /// Hex SHA-256 of the bearer secret (primary key).
    pub hash: String,
    /// User the token was issued to.
    pub user_id: String,
    /// Project the token is scoped to.
    pub project_id: String,
    /// Issue time.
    pub issued_at: Micros,
    /// Expiry time.
    pub expires: Micros,
    /// Client address at issue time.
    pub remote_host: String,
    /// Client port at issue time.
    pub remote_port: u16,
}

/// Persistence of identity records. Every mutating call takes the outbox events that describe
/// it and writes them in the same transaction.
#[async_trait]
pub trait IdentityRepository: Send + Sync + 'static {
    /// Inserts a project; `Conflict` if the name is taken.
    async fn insert_project(&self, p: &Project, events: &[NewEvent]) -> Result<(), StoreError>;
    /// Replaces a project's mutable fields; `Conflict` on a duplicate name.
    async fn update_project(&self, p: &Project, events: &[NewEvent]) -> Result<(), StoreError>;
    /// Deletes a project; `InUse` while a user is mapped to it, unless `force` (which removes
    /// those mappings in the same transaction).
    async fn delete_project(
        &self,
        id: &str,
        force: bool,
        events: &[NewEvent],
    ) -> Result<(), StoreError>;
    /// Finds a project by id or by name.
    async fn find_project(&self, id_or_name: &str) -> Result<Option<Project>, StoreError>;
    /// All projects, by name.
    async fn list_projects(&self) -> Result<Vec<Project>, StoreError>;

    /// Inserts a user with its mappings; `Conflict` if the username is taken.
    async fn insert_user(&self, u: &User, events: &[NewEvent]) -> Result<(), StoreError>;
    /// Replaces a user's fields and mappings.
    async fn update_user(&self, u: &User, events: &[NewEvent]) -> Result<(), StoreError>;
    /// Deletes a user with its mappings and tokens.
    async fn delete_user(&self, id: &str, events: &[NewEvent]) -> Result<(), StoreError>;
    /// Finds a user by id or by username.
    async fn find_user(&self, id_or_name: &str) -> Result<Option<User>, StoreError>;
    /// All users, by username.
    async fn list_users(&self) -> Result<Vec<User>, StoreError>;
    /// A user with project and role names, in one round trip (the hot read path).
    async fn find_user_named(
        &self,
        id_or_name: &str,
    ) -> Result<Option<(User, Vec<NamedMapping>)>, StoreError>;
    /// Every user with project and role names, by username.
    async fn list_users_named(&self) -> Result<Vec<(User, Vec<NamedMapping>)>, StoreError>;
    /// Number of users (bootstrap runs only on an empty store).
    async fn count_users(&self) -> Result<i64, StoreError>;

    /// Inserts a role; `Conflict` if the name is taken.
    async fn insert_role(&self, r: &Role, events: &[NewEvent]) -> Result<(), StoreError>;
    /// Replaces a role's name and permissions.
    async fn update_role(&self, r: &Role, events: &[NewEvent]) -> Result<(), StoreError>;
    /// Deletes a role; `InUse` while a user holds it, unless `force` (which removes those
    /// mappings in the same transaction).
    async fn delete_role(
        &self,
        id: &str,
        force: bool,
        events: &[NewEvent],
    ) -> Result<(), StoreError>;
    /// Finds a role by id or by name.
    async fn find_role(&self, id_or_name: &str) -> Result<Option<Role>, StoreError>;
    /// All roles, by name.
    async fn list_roles(&self) -> Result<Vec<Role>, StoreError>;

    /// Stores an issued token.
    async fn insert_token(&self, t: &TokenRecord) -> Result<(), StoreError>;
    /// Looks a token up by the hash of its secret.
    async fn find_token(&self, hash: &str) -> Result<Option<TokenRecord>, StoreError>;
    /// A user's tokens that expire after `now`.
    async fn list_tokens(&self, user_id: &str, now: Micros)
    -> Result<Vec<TokenRecord>, StoreError>;
    /// Revokes one token; returns whether it existed.
    async fn delete_token(&self, hash: &str, events: &[NewEvent]) -> Result<bool, StoreError>;
    /// Removes expired tokens; returns how many.
    async fn purge_expired_tokens(&self, now: Micros) -> Result<u64, StoreError>;
}
