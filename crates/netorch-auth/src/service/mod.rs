//! Identity use-cases: bootstrap here; tokens, tenancy, users, projects and roles in their modules.

mod projects;
mod roles;
mod tenancy;
mod tokens;
mod users;

use std::{
    collections::{BTreeMap, HashMap},
    sync::{Arc, Mutex, RwLock},
    time::Duration,
};

use netorch_core::{
    Clock, Micros,
    events::NewEvent,
    identity::{
        IdentityRepository, NamedMapping, Project, ProjectRoleMapping, Role, TokenRecord, User,
    },
    looks_like_uuid, new_id,
    tenancy::{ANY, Ownership, ProjectScope, Public},
};
use serde_json::json;

use crate::{
    AdminQuery, AuthError,
    password::{self, PasswordPolicy},
    rbac::{PermissionCatalog, role_grants},
    roles::default_roles,
    session::Session,
    token,
};

/// Identity settings (the `auth` section of the configuration).
#[derive(Debug, Clone)]
pub struct AuthConfig {
    /// Token lifetime.
    pub token_ttl: Duration,
    /// How long a validated token is trusted without asking the store again.
    pub token_cache_ttl: Duration,
    /// Two token requests of one user closer than this are slowed down...
    pub throttle_window: Duration,
    /// ...by this much (OSM: 2 s and 1 s).
    pub throttle_delay: Duration,
    /// Rules for new passwords.
    pub password_policy: PasswordPolicy,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            token_ttl: Duration::from_secs(3600),
            token_cache_ttl: Duration::from_secs(5),
            throttle_window: Duration::from_secs(2),
            throttle_delay: Duration::from_secs(1),
            password_policy: PasswordPolicy::default(),
        }
    }
}

/// The quota keys a project may carry (OSM `topics_with_quota`).
pub const QUOTA_TOPICS: [&str; 14] = [
    "vnfds",
    "nsds",
    "slice_templates",
    "pduds",
    "ns_instances",
    "slice_instances",
    "vim_accounts",
    "wim_accounts",
    "sdn_controllers",
    "k8sclusters",
    "vca",
    "k8srepos",
    "osmrepos",
    "ns_subscriptions",
];

/// Roles that cannot be renamed or deleted.
const PROTECTED_ROLES: [&str; 2] = ["system_admin", "project_admin"];

/// What a request does with tenant records, which decides how public records count (OSM §4.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// List or bulk delete: the caller's projects; public ones only with `PUBLIC=true`.
    List,
    /// Read one record: the caller's projects and public records.
    Show,
    /// Edit or delete one record: the write sets of the caller's projects and public ones.
    Write,
}

/// A request for a token.
#[derive(Debug, Clone, Default)]
pub struct TokenRequest {
    /// User name or id (absent: re-scope the caller's current token).
    pub username: Option<String>,
    /// Password.
    pub password: Option<String>,
    /// Project name or id (absent: the user's first project).
    pub project_id: Option<String>,
}

/// A token as shown to its owner.
#[derive(Debug, Clone)]
pub struct TokenView {
    /// The bearer secret when known to the caller, otherwise the stored hash.
    pub id: String,
    /// The session it stands for.
    pub session: Session,
}

/// A (project, role) pair referenced by id or name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MappingRef {
    /// Project id or name.
    pub project: String,
    /// Role id or name; `None` in a removal means every role in the project.
    pub role: Option<String>,
}

/// `projects` in a user edit: a plain list, or OSM array-edition keys (`$P`, `$+P`, `$+[0]`).
#[derive(Debug, Clone, PartialEq)]
pub enum ProjectsEdit {
    /// The user's projects become exactly these.
    List(Vec<String>),
    /// Array edition: key → value (null removes).
    Edition(BTreeMap<String, Option<String>>),
}

/// A new user.
#[derive(Debug, Clone, Default)]
pub struct NewUser {
    /// Login name.
    pub username: String,
    /// Password in clear (hashed before storage).
    pub password: String,
    /// Projects to join with the `project_admin` role.
    pub projects: Vec<String>,
    /// Explicit mappings.
    pub project_role_mappings: Vec<MappingRef>,
    /// `FORCE`: skip mappings whose project or role does not exist instead of refusing.
    pub force: bool,
}

/// Changes to a user.
#[derive(Debug, Clone, Default)]
pub struct UserEdit {
    /// New login name.
    pub username: Option<String>,
    /// New password.
    pub password: Option<String>,
    /// Projects (list or array edition).
    pub projects: Option<ProjectsEdit>,
    /// Replace all mappings.
    pub project_role_mappings: Option<Vec<MappingRef>>,
    /// Add mappings.
    pub add_project_role_mappings: Vec<MappingRef>,
    /// Remove mappings.
    pub remove_project_role_mappings: Vec<MappingRef>,
    /// `FORCE`: skip added mappings whose project or role does not exist.
    pub force: bool,
}

/// A new project.
#[derive(Debug, Clone, Default)]
pub struct NewProject {
    /// Name.
    pub name: String,
    /// Administrative project.
    pub admin: bool,
    /// Quotas.
    pub quotas: BTreeMap<String, i64>,
}

/// Changes to a project (`None` leaves a field alone; a `None` quota value removes it).
#[derive(Debug, Clone, Default)]
pub struct ProjectEdit {
    /// New name.
    pub name: Option<String>,
    /// New admin flag.
    pub admin: Option<bool>,
    /// Quota changes.
    pub quotas: Option<BTreeMap<String, Option<i64>>>,
}

/// A new role.
#[derive(Debug, Clone, Default)]
pub struct NewRole {
    /// Name.
    pub name: String,
    /// Permission keys.
    pub permissions: BTreeMap<String, bool>,
}

/// Changes to a role (a `None` permission value removes the key, RFC 7396 style).
#[derive(Debug, Clone, Default)]
pub struct RoleEdit {
    /// New name.
    pub name: Option<String>,
    /// Permission changes.
    pub permissions: Option<BTreeMap<String, Option<bool>>>,
}

/// A user with the names of its projects and roles resolved, for rendering.
#[derive(Debug, Clone)]
pub struct UserView {
    /// The user.
    pub user: User,
    /// Its mappings with names.
    pub mappings: Vec<NamedMapping>,
    /// The view's document as its first reader rendered it (the admin family's JSON), kept with the
    /// cached view: a view never changes and is dropped on every identity change, so the bytes
    /// cannot outlive what they show, and a hot read need not serialise again.
    pub rendered: std::sync::OnceLock<bytes::Bytes>,
}

impl UserView {
    /// A view not rendered yet.
    pub fn new(user: User, mappings: Vec<NamedMapping>) -> Self {
        Self {
            user,
            mappings,
            rendered: std::sync::OnceLock::new(),
        }
    }
}

struct CachedSession {
    session: Arc<Session>,
    valid_until: Micros,
}

/// Identity use-cases over an `IdentityRepository`.
pub struct IdentityService {
    repo: Arc<dyn IdentityRepository>,
    clock: Arc<dyn Clock>,
    cfg: AuthConfig,
    catalog: Arc<PermissionCatalog>,
    sessions: RwLock<HashMap<String, CachedSession>>,
    users: RwLock<HashMap<String, (Arc<UserView>, Micros)>>,
    last_issue: Mutex<HashMap<String, Micros>>,
}

impl std::fmt::Debug for IdentityService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IdentityService")
            .field("cfg", &self.cfg)
            .finish()
    }
}

const SESSION_CACHE_MAX: usize = 10_000;

fn micros(d: Duration) -> Micros {
    d.as_micros() as Micros
}

fn validate_name(field: &str, value: &str, max: usize) -> Result<(), AuthError> {
    let n = value.chars().count();
    if n == 0 || n > max {
        return Err(AuthError::Invalid(format!(
            "Format error at '{field}' '{value:?} must have between 1 and {max} characters' "
        )));
    }
    if value
        .chars()
        .any(|c| c.is_control() || ",;()$'\"/\\".contains(c))
        || value.trim() != value
    {
        return Err(AuthError::Invalid(format!(
            "Format error at '{field}' '{value:?} contains a forbidden character' "
        )));
    }
    Ok(())
}

fn strip_quotes(s: &str) -> String {
    let t = s.trim();
    for q in ['\'', '"'] {
        if t.len() >= 2 && t.starts_with(q) && t.ends_with(q) {
            return t[1..t.len() - 1].to_string();
        }
    }
    t.to_string()
}

fn blocking_err(e: tokio::task::JoinError) -> AuthError {
    AuthError::Store(netorch_core::StoreError::Internal(format!(
        "worker failed: {e}"
    )))
}

async fn hash_password(pw: String) -> Result<String, AuthError> {
    tokio::task::spawn_blocking(move || password::hash(&pw))
        .await
        .map_err(blocking_err)?
}

async fn verify_password(pw: String, phc: String) -> Result<bool, AuthError> {
    tokio::task::spawn_blocking(move || password::verify(&pw, &phc))
        .await
        .map_err(blocking_err)
}

impl IdentityService {
    /// A service over `repo`. `catalog` lists every permission of the mounted families.
    pub fn new(
        repo: Arc<dyn IdentityRepository>,
        clock: Arc<dyn Clock>,
        cfg: AuthConfig,
        catalog: Arc<PermissionCatalog>,
    ) -> Self {
        Self {
            repo,
            clock,
            cfg,
            catalog,
            sessions: RwLock::new(HashMap::new()),
            users: RwLock::new(HashMap::new()),
            last_issue: Mutex::new(HashMap::new()),
        }
    }

    /// The permission catalog.
    pub fn catalog(&self) -> &PermissionCatalog {
        &self.catalog
    }

    /// The settings.
    pub fn config(&self) -> &AuthConfig {
        &self.cfg
    }

    fn now(&self) -> Micros {
        self.clock.now()
    }

    /// Drops every cached session and user view: called after any identity change, so that this
    /// process sees it at once (other replicas within `token_cache_ttl`).
    fn forget_sessions(&self) {
        if let Ok(mut s) = self.sessions.write() {
            s.clear();
        }
        if let Ok(mut u) = self.users.write() {
            u.clear();
        }
    }

    /// First start: creates the missing default roles, and on an empty store the project `admin`
    /// and the user `admin` (with `admin_password`) holding `system_admin` there. Returns true if
    /// the `admin` user still has the password `admin`, so that the caller can warn.
    pub async fn bootstrap(&self, admin_password: &str) -> Result<bool, AuthError> {
        let now = self.now();
        for (name, permissions) in default_roles() {
            if self.repo.find_role(name).await?.is_none() {
                let role = Role {
                    id: new_id(),
                    name: name.to_string(),
                    permissions,
                    created: now,
                    modified: now,
                };
                match self.repo.insert_role(&role, &[]).await {
                    // Another replica created it at the same moment.
                    Err(netorch_core::StoreError::Conflict(_)) | Ok(()) => {}
                    Err(e) => return Err(e.into()),
                }
            }
        }
        if self.repo.count_users().await? == 0 {
            let project = match self.repo.find_project("admin").await? {
                Some(p) => p,
                None => {
                    let p = Project {
                        id: new_id(),
                        name: "admin".into(),
                        admin: true,
                        quotas: BTreeMap::new(),
                        created: now,
                        modified: now,
                    };
                    self.repo.insert_project(&p, &[]).await?;
                    p
                }
            };
            let role = self
                .repo
                .find_role("system_admin")
                .await?
                .ok_or_else(|| AuthError::NotFound("role 'system_admin' not found".into()))?;
            let user = User {
                id: new_id(),
                username: "admin".into(),
                password_hash: hash_password(admin_password.to_string()).await?,
                status: "always-active".into(),
                mappings: vec![ProjectRoleMapping {
                    project_id: project.id,
                    role_id: role.id,
                }],
                created: now,
                modified: now,
            };
            match self.repo.insert_user(&user, &[]).await {
                Err(netorch_core::StoreError::Conflict(_)) | Ok(()) => {}
                Err(e) => return Err(e.into()),
            }
        }
        match self.repo.find_user("admin").await? {
            Some(u) => verify_password("admin".into(), u.password_hash).await,
            None => Ok(false),
        }
    }
}
