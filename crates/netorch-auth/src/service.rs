//! Identity use-cases: bootstrap, tokens, users, projects, roles.

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

    // ---------------------------------------------------------------- tokens

    /// Issues a token: with user name and password, or by re-scoping the caller's valid token
    /// (`current`) to another project. Repeated requests for one user within the throttle
    /// window are delayed (brute-force damping, as OSM).
    pub async fn issue_token(
        &self,
        req: TokenRequest,
        current: Option<&Session>,
        remote: (String, u16),
    ) -> Result<(String, Session), AuthError> {
        let user = match (&req.username, &req.password, current) {
            (Some(name), Some(pw), _) => {
                let found = self.repo.find_user(name).await?;
                let phc = found
                    .as_ref()
                    .map(|u| u.password_hash.clone())
                    .unwrap_or_else(|| password::decoy_hash().to_string());
                let ok = verify_password(pw.clone(), phc).await?;
                match found {
                    Some(u) if ok => u,
                    _ => {
                        tracing::info!(username = %name, "token refused: invalid username/password");
                        return Err(AuthError::Unauthenticated(
                            "Invalid username/password".into(),
                        ));
                    }
                }
            }
            (None, None, Some(s)) => self.repo.find_user(&s.user_id).await?.ok_or_else(|| {
                AuthError::Unauthenticated("Invalid Token or Authorization HTTP header".into())
            })?,
            (Some(_), None, _) | (None, Some(_), _) => {
                return Err(AuthError::Unauthenticated(
                    "Both 'username' and 'password' are needed".into(),
                ));
            }
            (None, None, None) => {
                return Err(AuthError::Unauthenticated(
                    "Needed a token or Authorization http header".into(),
                ));
            }
        };
        if user.status == "locked" || user.status == "expired" {
            return Err(AuthError::Unauthenticated(format!(
                "User is {}",
                user.status
            )));
        }
        let project_id = match req.project_id.as_deref().or(current
            .filter(|_| req.username.is_none())
            .map(|s| s.project_id.as_str()))
        {
            Some(p) => {
                let project = self.repo.find_project(p).await?;
                match project {
                    Some(pr) if user.mappings.iter().any(|m| m.project_id == pr.id) => pr.id,
                    _ => {
                        return Err(AuthError::Unauthenticated(format!(
                            "project {p} not allowed for this user"
                        )));
                    }
                }
            }
            None => user
                .mappings
                .first()
                .map(|m| m.project_id.clone())
                .ok_or_else(|| {
                    AuthError::Unauthenticated("can't find a default project for this user".into())
                })?,
        };
        self.throttle(&user.id).await;
        let now = self.now();
        let secret = token::generate_secret();
        let record = TokenRecord {
            hash: token::hash_secret(&secret),
            user_id: user.id.clone(),
            project_id,
            issued_at: now,
            expires: now + micros(self.cfg.token_ttl),
            remote_host: remote.0,
            remote_port: remote.1,
        };
        self.repo.insert_token(&record).await?;
        let session = self.session_for(&record, &user).await?;
        tracing::info!(username = %user.username, project = %session.project_name, "token issued");
        Ok((secret, session))
    }

    /// Authenticates one request carrying `Authorization: Basic`: the password is verified and a
    /// session for the user's default project is returned, without storing a token (a token per
    /// request, as the NBI does, only fills the token table).
    pub async fn authenticate_basic(
        &self,
        username: &str,
        password: &str,
        remote: (String, u16),
    ) -> Result<Session, AuthError> {
        // A verified (user, password) pair is remembered like a token for `token_cache_ttl`, keyed
        // by a digest: clients that send Basic on every request (OOF's SO and VF-C) would otherwise
        // pay an argon2 verification (~14 ms) per request. Any identity change clears it.
        let key = format!(
            "basic:{}",
            token::hash_secret(&format!("{username}\u{0}{password}"))
        );
        let now = self.now();
        if let Ok(cache) = self.sessions.read()
            && let Some(c) = cache.get(&key)
            && c.valid_until > now
        {
            return Ok(c.session.as_ref().clone());
        }
        let session = self.verify_basic(username, password, remote).await?;
        if let Ok(mut cache) = self.sessions.write() {
            if cache.len() >= SESSION_CACHE_MAX {
                cache.retain(|_, c| c.valid_until > now);
                if cache.len() >= SESSION_CACHE_MAX {
                    cache.clear();
                }
            }
            cache.insert(
                key,
                CachedSession {
                    session: Arc::new(session.clone()),
                    valid_until: now + micros(self.cfg.token_cache_ttl),
                },
            );
        }
        Ok(session)
    }

    async fn verify_basic(
        &self,
        username: &str,
        password: &str,
        remote: (String, u16),
    ) -> Result<Session, AuthError> {
        let found = self.repo.find_user(username).await?;
        let phc = found
            .as_ref()
            .map(|u| u.password_hash.clone())
            .unwrap_or_else(|| password::decoy_hash().to_string());
        let ok = verify_password(password.to_string(), phc).await?;
        let user = match found {
            Some(u) if ok && u.status != "locked" && u.status != "expired" => u,
            _ => {
                return Err(AuthError::Unauthenticated(
                    "Invalid username/password".into(),
                ));
            }
        };
        let project_id = user
            .mappings
            .first()
            .map(|m| m.project_id.clone())
            .ok_or_else(|| {
                AuthError::Unauthenticated("can't find a default project for this user".into())
            })?;
        let now = self.now();
        let record = TokenRecord {
            hash: String::new(),
            user_id: user.id.clone(),
            project_id,
            issued_at: now,
            expires: now,
            remote_host: remote.0,
            remote_port: remote.1,
        };
        self.session_for(&record, &user).await
    }

    async fn throttle(&self, user_id: &str) {
        let now = self.now();
        let previous = self
            .last_issue
            .lock()
            .map(|mut m| {
                if m.len() > SESSION_CACHE_MAX {
                    m.clear();
                }
                m.insert(user_id.to_string(), now)
            })
            .ok()
            .flatten();
        if let Some(prev) = previous
            && now - prev < micros(self.cfg.throttle_window)
            && !self.cfg.throttle_delay.is_zero()
        {
            tracing::debug!(user_id, "repeated token request: throttled");
            tokio::time::sleep(self.cfg.throttle_delay).await;
        }
    }

    async fn session_for(&self, t: &TokenRecord, user: &User) -> Result<Session, AuthError> {
        let project = self
            .repo
            .find_project(&t.project_id)
            .await?
            .ok_or_else(|| {
                AuthError::Unauthenticated("Invalid Token or Authorization HTTP header".into())
            })?;
        let mut roles = Vec::new();
        for m in user.mappings.iter().filter(|m| m.project_id == project.id) {
            if let Some(r) = self.repo.find_role(&m.role_id).await? {
                roles.push(Arc::new(r));
            }
        }
        Ok(Session {
            token_hash: t.hash.clone(),
            user_id: user.id.clone(),
            username: user.username.clone(),
            project_id: project.id,
            project_name: project.name,
            roles,
            issued_at: t.issued_at,
            expires: t.expires,
            remote_host: t.remote_host.clone(),
            remote_port: t.remote_port,
        })
    }

    /// Validates a bearer secret.
    pub async fn authenticate(&self, secret: &str) -> Result<Arc<Session>, AuthError> {
        let hash = token::hash_secret(secret);
        let now = self.now();
        if let Ok(cache) = self.sessions.read()
            && let Some(c) = cache.get(&hash)
            && now < c.valid_until
        {
            return Ok(c.session.clone());
        }
        let record = self.repo.find_token(&hash).await?.ok_or_else(|| {
            AuthError::Unauthenticated("Invalid Token or Authorization HTTP header".into())
        })?;
        if record.expires <= now {
            return Err(AuthError::Unauthenticated(
                "Expired Token or Authorization HTTP header".into(),
            ));
        }
        let user = self.repo.find_user(&record.user_id).await?.ok_or_else(|| {
            AuthError::Unauthenticated("Invalid Token or Authorization HTTP header".into())
        })?;
        let session = Arc::new(self.session_for(&record, &user).await?);
        let valid_until = record.expires.min(now + micros(self.cfg.token_cache_ttl));
        if let Ok(mut cache) = self.sessions.write() {
            if cache.len() >= SESSION_CACHE_MAX {
                cache.retain(|_, c| c.valid_until > now);
                if cache.len() >= SESSION_CACHE_MAX {
                    cache.clear();
                }
            }
            cache.insert(
                hash,
                CachedSession {
                    session: session.clone(),
                    valid_until,
                },
            );
        }
        Ok(session)
    }

    /// Resolves a token id given in a URL (the secret, or the hash shown in listings) to its hash.
    fn token_hash_of(id: &str) -> String {
        if id.len() == 64 && id.chars().all(|c| c.is_ascii_hexdigit()) {
            id.to_ascii_lowercase()
        } else {
            token::hash_secret(id)
        }
    }

    /// Shows a token: the caller's own, or anyone's for an admin.
    pub async fn get_token(
        &self,
        actor: &Session,
        id: &str,
        method: &str,
    ) -> Result<TokenView, AuthError> {
        let hash = Self::token_hash_of(id);
        let record = self
            .repo
            .find_token(&hash)
            .await?
            .filter(|t| t.expires > self.now())
            .ok_or_else(|| AuthError::NotFound("token not found".into()))?;
        if record.user_id != actor.user_id && !actor.is_admin(method) {
            return Err(AuthError::Denied("needed admin privileges".into()));
        }
        let user = self
            .repo
            .find_user(&record.user_id)
            .await?
            .ok_or_else(|| AuthError::NotFound("token not found".into()))?;
        Ok(TokenView {
            id: id.to_string(),
            session: self.session_for(&record, &user).await?,
        })
    }

    /// The caller's unexpired tokens (ids are hashes: secrets are not stored).
    pub async fn list_tokens(&self, actor: &Session) -> Result<Vec<TokenView>, AuthError> {
        let user = self
            .repo
            .find_user(&actor.user_id)
            .await?
            .ok_or_else(|| AuthError::NotFound("user not found".into()))?;
        let mut out = Vec::new();
        for t in self.repo.list_tokens(&actor.user_id, self.now()).await? {
            if let Ok(session) = self.session_for(&t, &user).await {
                out.push(TokenView {
                    id: t.hash.clone(),
                    session,
                });
            }
        }
        Ok(out)
    }

    /// Revokes a token (the caller's own, or anyone's for an admin).
    pub async fn revoke_token(
        &self,
        actor: &Session,
        id: &str,
        method: &str,
    ) -> Result<(), AuthError> {
        let hash = Self::token_hash_of(id);
        let record = self
            .repo
            .find_token(&hash)
            .await?
            .ok_or_else(|| AuthError::NotFound("token not found".into()))?;
        if record.user_id != actor.user_id && !actor.is_admin(method) {
            return Err(AuthError::Denied("needed admin privileges".into()));
        }
        let event = NewEvent::new("admin", "revoke_token", json!({"_id": hash}));
        self.repo.delete_token(&hash, &[event]).await?;
        if let Ok(mut cache) = self.sessions.write() {
            cache.remove(&hash);
        }
        tracing::info!(username = %actor.username, "token revoked");
        Ok(())
    }

    // ---------------------------------------------------------------- tenancy

    /// Resolves project names or ids given in a query string to ids. Unknown names are kept as
    /// they are: they match no record, as in OSM.
    async fn project_ids(&self, names: &[String]) -> Result<Vec<String>, AuthError> {
        let mut out = Vec::new();
        for n in names {
            out.push(match self.repo.find_project(n).await? {
                Some(p) => p.id,
                None => n.clone(),
            });
        }
        Ok(out)
    }

    /// The tenant records a request may touch: the token's project, or with `ADMIN` every project
    /// (`ADMIN`) or the named ones (`ADMIN=p1,p2`), which needs an admin role; `PUBLIC` decides
    /// whether public (`ANY`) records count.
    pub async fn scope(
        &self,
        s: &Session,
        method: &str,
        qs: &AdminQuery,
        access: Access,
    ) -> Result<ProjectScope, AuthError> {
        let projects = match &qs.admin {
            Some(_) if !s.is_admin(method) => {
                return Err(AuthError::Denied(
                    "Only admin projects can use 'ADMIN' query string".into(),
                ));
            }
            Some(list) if list.is_empty() => return Ok(ProjectScope::All),
            Some(list) => self.project_ids(list).await?,
            None => vec![s.project_id.clone()],
        };
        let public = match (access, qs.public) {
            (_, Some(false)) => Public::Exclude,
            (Access::List, Some(true)) => Public::Include,
            (Access::List, None) => Public::Ignore,
            (Access::Show | Access::Write, _) => Public::Include,
        };
        Ok(ProjectScope::Only { projects, public })
    }

    /// Owners of a record created by this request: the token's project (or the `ADMIN=p…`
    /// projects), plus `ANY` for reading with `PUBLIC=true`, plus read access for the
    /// `SET_PROJECT=p…` projects, which must lie within the caller's `ADMIN` scope.
    pub async fn new_ownership(
        &self,
        s: &Session,
        method: &str,
        qs: &AdminQuery,
    ) -> Result<Ownership, AuthError> {
        let base = match &qs.admin {
            Some(_) if !s.is_admin(method) => {
                return Err(AuthError::Denied(
                    "Only admin projects can use 'ADMIN' query string".into(),
                ));
            }
            Some(list) if !list.is_empty() => self.project_ids(list).await?,
            _ => vec![s.project_id.clone()],
        };
        let mut owners = Ownership {
            read: base.clone(),
            write: base,
        };
        if qs.public == Some(true) {
            owners.read.push(ANY.to_string());
        }
        if let Some(extra) = &qs.set_project {
            let ids = self.project_ids(extra).await?;
            let allowed = match &qs.admin {
                Some(list) if list.is_empty() => true,
                Some(_) => ids.iter().all(|id| owners.write.contains(id)),
                None => ids.iter().all(|id| id == &s.project_id),
            };
            if !allowed {
                return Err(AuthError::Denied(format!(
                    "Unauthorized for 'SET_PROJECT={}'. Try with 'ADMIN=True' or 'ADMIN={}'",
                    extra.join(","),
                    extra.join(",")
                )));
            }
            for id in ids {
                if !owners.read.contains(&id) {
                    owners.read.push(id);
                }
            }
        }
        Ok(owners)
    }

    /// Applies the sharing query strings of an edit to a record's owners: `SET_PROJECT=p…` adds
    /// read access for those projects (within the caller's `ADMIN` scope), `PUBLIC=true|false`
    /// publishes or withdraws it. Returns whether anything changed.
    pub async fn share(
        &self,
        s: &Session,
        method: &str,
        qs: &AdminQuery,
        owners: &mut Ownership,
    ) -> Result<bool, AuthError> {
        let before = owners.clone();
        if let Some(extra) = &qs.set_project {
            let ids = self.project_ids(extra).await?;
            let scope: Vec<String> = match &qs.admin {
                Some(_) if !s.is_admin(method) => {
                    return Err(AuthError::Denied(
                        "Only admin projects can use 'ADMIN' query string".into(),
                    ));
                }
                Some(list) if list.is_empty() => ids.clone(),
                Some(list) => self.project_ids(list).await?,
                None => vec![s.project_id.clone()],
            };
            if let Some(bad) = extra.iter().zip(&ids).find(|(_, id)| !scope.contains(id)) {
                return Err(AuthError::Denied(format!(
                    "Unauthorized for 'SET_PROJECT={}'. Try with 'ADMIN=True' or 'ADMIN={}'",
                    bad.0, bad.0
                )));
            }
            for id in ids {
                if !owners.read.contains(&id) {
                    owners.read.push(id);
                }
            }
        }
        match qs.public {
            Some(true) if !owners.read.iter().any(|p| p == ANY) => {
                owners.read.push(ANY.to_string())
            }
            Some(false) => owners.read.retain(|p| p != ANY),
            _ => {}
        }
        Ok(*owners != before)
    }

    /// The quota of a project for a topic (OSM `quotas`), if one is set.
    pub async fn quota(&self, project_id: &str, topic: &str) -> Result<Option<i64>, AuthError> {
        Ok(self
            .repo
            .find_project(project_id)
            .await?
            .and_then(|p| p.quotas.get(topic).copied()))
    }

    // ---------------------------------------------------------------- lookups

    /// Users visible to the caller: all, or (restricted grant) only the caller.
    pub async fn list_users(
        &self,
        actor: Option<&Session>,
        own_only: bool,
    ) -> Result<Vec<UserView>, AuthError> {
        let mut users: Vec<UserView> = self
            .repo
            .list_users_named()
            .await?
            .into_iter()
            .map(|(user, mappings)| UserView { user, mappings })
            .collect();
        if let (true, Some(a)) = (own_only, actor) {
            users.retain(|u| u.user.id == a.user_id);
        }
        Ok(users)
    }

    /// One user by id or name, subject to the same visibility. Views are cached under the same
    /// rule as sessions (which already carry the user's roles): dropped on every local identity
    /// change, trusted for at most `token_cache_ttl`.
    pub async fn get_user(
        &self,
        actor: &Session,
        id: &str,
        own_only: bool,
    ) -> Result<Arc<UserView>, AuthError> {
        let now = self.now();
        let cached = self.users.read().ok().and_then(|c| {
            c.get(id)
                .filter(|(_, until)| now < *until)
                .map(|(v, _)| v.clone())
        });
        let view = match cached {
            Some(v) => Some(v),
            None => match self.repo.find_user_named(id).await? {
                Some((user, mappings)) => {
                    let v = Arc::new(UserView { user, mappings });
                    if let Ok(mut c) = self.users.write() {
                        if c.len() >= SESSION_CACHE_MAX {
                            c.clear();
                        }
                        let until = now + micros(self.cfg.token_cache_ttl);
                        c.insert(v.user.id.clone(), (v.clone(), until));
                        c.insert(v.user.username.clone(), (v.clone(), until));
                    }
                    Some(v)
                }
                None => None,
            },
        };
        match view {
            Some(v) if !own_only || v.user.id == actor.user_id => Ok(v),
            _ => Err(AuthError::NotFound(format!("User '{id}' not found"))),
        }
    }

    /// Resolves a mapping reference. A project or role that does not exist is a conflict (409, as
    /// OSM), or skipped (`None`) with `force`.
    async fn resolve_mapping(
        &self,
        m: &MappingRef,
        force: bool,
    ) -> Result<Option<ProjectRoleMapping>, AuthError> {
        let Some(project) = self.repo.find_project(&m.project).await? else {
            return if force {
                Ok(None)
            } else {
                Err(AuthError::Conflict(format!(
                    "project '{}' not found",
                    m.project
                )))
            };
        };
        let role_name = m.role.clone().unwrap_or_else(|| "project_admin".into());
        let Some(role) = self.repo.find_role(&role_name).await? else {
            return if force {
                Ok(None)
            } else {
                Err(AuthError::Conflict(format!("role '{role_name}' not found")))
            };
        };
        Ok(Some(ProjectRoleMapping {
            project_id: project.id,
            role_id: role.id,
        }))
    }

    fn user_event(key: &str, u: &User) -> NewEvent {
        NewEvent::new(
            "users",
            key,
            json!({"_id": u.id, "username": u.username, "project_role_mappings": u.mappings.iter().map(|m| json!({"project": m.project_id, "role": m.role_id})).collect::<Vec<_>>()}),
        )
    }

    /// Creates a user. `actor` is `None` for the command line.
    pub async fn create_user(
        &self,
        actor: Option<&Session>,
        new: NewUser,
    ) -> Result<User, AuthError> {
        validate_name("username", &new.username, 60)?;
        if looks_like_uuid(&new.username) {
            return Err(AuthError::Invalid(format!(
                "username '{}' cannot have a uuid format",
                new.username
            )));
        }
        self.cfg.password_policy.check(&new.password)?;
        if self.repo.find_user(&new.username).await?.is_some() {
            return Err(AuthError::Conflict(format!(
                "username '{}' is already used",
                new.username
            )));
        }
        let mut mappings: Vec<ProjectRoleMapping> = Vec::new();
        let refs = new
            .project_role_mappings
            .iter()
            .cloned()
            .chain(new.projects.iter().map(|p| MappingRef {
                project: p.clone(),
                role: None,
            }));
        for r in refs {
            if let Some(m) = self.resolve_mapping(&r, new.force).await?
                && !mappings.contains(&m)
            {
                mappings.push(m);
            }
        }
        let now = self.now();
        let user = User {
            id: new_id(),
            username: new.username,
            password_hash: hash_password(new.password).await?,
            status: "active".into(),
            mappings,
            created: now,
            modified: now,
        };
        self.repo
            .insert_user(&user, &[Self::user_event("created", &user)])
            .await?;
        tracing::info!(username = %user.username, by = actor.map(|a| a.username.as_str()).unwrap_or("cli"), "user created");
        Ok(user)
    }

    /// Edits a user. Callers without `users:post` (user managers) may only change their own
    /// password; editing project-role mappings also needs the `roles` permission.
    pub async fn edit_user(
        &self,
        actor: Option<&Session>,
        id: &str,
        edit: UserEdit,
    ) -> Result<(), AuthError> {
        let mut user = self
            .repo
            .find_user(id)
            .await?
            .ok_or_else(|| AuthError::NotFound(format!("User '{id}' not found")))?;
        let touches_mappings = edit.projects.is_some()
            || edit.project_role_mappings.is_some()
            || !edit.add_project_role_mappings.is_empty()
            || !edit.remove_project_role_mappings.is_empty();
        if let Some(a) = actor {
            let manager = a.grants("users:post");
            if !manager && (a.user_id != user.id || touches_mappings || edit.username.is_some()) {
                return Err(AuthError::Denied(
                    "Access denied: lack of permissions.".into(),
                ));
            }
            if touches_mappings && !a.grants("roles:get") {
                return Err(AuthError::Denied(
                    "Access denied: lack of permissions.".into(),
                ));
            }
        }
        if edit.project_role_mappings.is_some()
            && (!edit.add_project_role_mappings.is_empty()
                || !edit.remove_project_role_mappings.is_empty())
        {
            return Err(AuthError::BadRequest(
                "Option 'project_role_mappings' is incompatible with 'add_project_role_mappings' or 'remove_project_role_mappings'".into(),
            ));
        }
        if let Some(name) = &edit.username {
            validate_name("username", name, 60)?;
            if looks_like_uuid(name) {
                return Err(AuthError::Invalid(format!(
                    "username '{name}' cannot have an uuid format"
                )));
            }
            if name != &user.username && self.repo.find_user(name).await?.is_some() {
                return Err(AuthError::Conflict(format!(
                    "username '{name}' is already used"
                )));
            }
            user.username = name.clone();
        }
        if let Some(pw) = edit.password {
            self.cfg.password_policy.check(&pw)?;
            user.password_hash = hash_password(pw).await?;
        }
        if let Some(list) = &edit.project_role_mappings {
            let mut mappings = Vec::new();
            for r in list {
                if let Some(m) = self.resolve_mapping(r, edit.force).await?
                    && !mappings.contains(&m)
                {
                    mappings.push(m);
                }
            }
            user.mappings = mappings;
        }
        let default_role = self.resolve_role_id("project_admin").await?;
        match &edit.projects {
            None => {}
            Some(ProjectsEdit::List(names)) => {
                let mut keep = Vec::new();
                for name in names {
                    let Some(pid) = self.known_project(name, edit.force).await? else {
                        continue;
                    };
                    let existing: Vec<_> = user
                        .mappings
                        .iter()
                        .filter(|m| m.project_id == pid)
                        .cloned()
                        .collect();
                    if existing.is_empty() {
                        keep.push(ProjectRoleMapping {
                            project_id: pid,
                            role_id: default_role.clone(),
                        });
                    } else {
                        keep.extend(existing);
                    }
                }
                keep.dedup();
                user.mappings = keep;
            }
            Some(ProjectsEdit::Edition(ops)) => {
                // OSM applies removals before insertions; removing an absent project is a no-op.
                let mut removals = Vec::new();
                let mut additions = Vec::new();
                for (key, value) in ops {
                    let Some(k) = key.strip_prefix('$') else {
                        return Err(AuthError::Invalid(format!(
                            "Format error at 'projects:{key}' 'keys must start with $' "
                        )));
                    };
                    match (k.strip_prefix('+'), value) {
                        (None, None) => removals.push(strip_quotes(k)),
                        (Some(target), Some(project)) => {
                            additions.push((target == "[0]", project.clone()))
                        }
                        _ => {
                            return Err(AuthError::Invalid(format!(
                                "Format error at 'projects:{key}' 'use \"$<project>\": null to remove or \"$+<project>\": <project> to add' "
                            )));
                        }
                    }
                }
                for name in removals {
                    if let Some(p) = self.repo.find_project(&name).await? {
                        user.mappings.retain(|m| m.project_id != p.id);
                    }
                }
                let mut front = Vec::new();
                for (first, project) in additions {
                    let Some(pid) = self.known_project(&project, edit.force).await? else {
                        continue;
                    };
                    if user.mappings.iter().any(|m| m.project_id == pid) {
                        if first {
                            // Make it the default project: move its mappings first.
                            let (mine, rest): (Vec<_>, Vec<_>) =
                                user.mappings.drain(..).partition(|m| m.project_id == pid);
                            user.mappings = mine.into_iter().chain(rest).collect();
                        }
                        continue;
                    }
                    let m = ProjectRoleMapping {
                        project_id: pid,
                        role_id: default_role.clone(),
                    };
                    if first {
                        front.push(m);
                    } else {
                        user.mappings.push(m);
                    }
                }
                if !front.is_empty() {
                    front.append(&mut user.mappings);
                    user.mappings = front;
                }
            }
        }
        for r in &edit.remove_project_role_mappings {
            if user.username == "admin"
                && (r.project == "admin"
                    || self.resolve_project_id(&r.project).await.ok().as_deref()
                        == self.admin_project_id().await.as_deref())
                && r.role.as_deref().is_none_or(|role| role == "system_admin")
            {
                return Err(AuthError::Forbidden(
                    "You cannot remove system_admin role from admin user".into(),
                ));
            }
            let Some(pid) = self.repo.find_project(&r.project).await?.map(|p| p.id) else {
                continue;
            };
            let rid = match &r.role {
                Some(role) => match self.repo.find_role(role).await? {
                    Some(found) => Some(found.id),
                    None => continue,
                },
                None => None,
            };
            user.mappings.retain(|m| {
                !(m.project_id == pid && rid.as_ref().is_none_or(|rid| &m.role_id == rid))
            });
        }
        for r in &edit.add_project_role_mappings {
            if let Some(m) = self.resolve_mapping(r, edit.force).await?
                && !user.mappings.contains(&m)
            {
                user.mappings.push(m);
            }
        }
        user.modified = self.now();
        self.repo
            .update_user(&user, &[Self::user_event("edited", &user)])
            .await?;
        self.forget_sessions();
        Ok(())
    }

    async fn admin_project_id(&self) -> Option<String> {
        self.repo
            .find_project("admin")
            .await
            .ok()
            .flatten()
            .map(|p| p.id)
    }

    /// The id of a project named in an edit: unknown is a conflict, or skipped with `force`.
    async fn known_project(
        &self,
        id_or_name: &str,
        force: bool,
    ) -> Result<Option<String>, AuthError> {
        match self.repo.find_project(id_or_name).await? {
            Some(p) => Ok(Some(p.id)),
            None if force => Ok(None),
            None => Err(AuthError::Conflict(format!(
                "project '{id_or_name}' not found"
            ))),
        }
    }

    async fn resolve_project_id(&self, id_or_name: &str) -> Result<String, AuthError> {
        self.repo
            .find_project(id_or_name)
            .await?
            .map(|p| p.id)
            .ok_or_else(|| AuthError::NotFound(format!("project '{id_or_name}' not found")))
    }

    async fn resolve_role_id(&self, id_or_name: &str) -> Result<String, AuthError> {
        self.repo
            .find_role(id_or_name)
            .await?
            .map(|r| r.id)
            .ok_or_else(|| AuthError::NotFound(format!("role '{id_or_name}' not found")))
    }

    /// Deletes a user (not oneself), with its tokens.
    pub async fn delete_user(&self, actor: Option<&Session>, id: &str) -> Result<(), AuthError> {
        let user = self
            .repo
            .find_user(id)
            .await?
            .ok_or_else(|| AuthError::NotFound(format!("User '{id}' not found")))?;
        if actor.is_some_and(|a| a.user_id == user.id) {
            return Err(AuthError::Conflict(
                "You cannot delete your own login user ".into(),
            ));
        }
        self.repo
            .delete_user(&user.id, &[Self::user_event("deleted", &user)])
            .await?;
        self.forget_sessions();
        Ok(())
    }

    /// Replaces a user's password (command line `netorch user passwd`).
    pub async fn set_password(&self, id: &str, password: String) -> Result<(), AuthError> {
        self.edit_user(
            None,
            id,
            UserEdit {
                password: Some(password),
                ..Default::default()
            },
        )
        .await
    }

    // ---------------------------------------------------------------- projects

    fn project_event(key: &str, p: &Project) -> NewEvent {
        NewEvent::new(
            "project",
            key,
            json!({"_id": p.id, "name": p.name, "admin": p.admin, "quotas": p.quotas}),
        )
    }

    fn check_quotas<'a>(
        keys: impl IntoIterator<Item = (&'a String, Option<i64>)>,
    ) -> Result<(), AuthError> {
        for (k, v) in keys {
            if !QUOTA_TOPICS.contains(&k.as_str()) {
                return Err(AuthError::Invalid(format!(
                    "Format error at 'quotas:{k}' 'unknown quota; expected one of {}' ",
                    QUOTA_TOPICS.join(", ")
                )));
            }
            if v.is_some_and(|n| n < 0) {
                return Err(AuthError::Invalid(format!(
                    "Format error at 'quotas:{k}' 'must be greater than or equal to 0' "
                )));
            }
        }
        Ok(())
    }

    /// Projects visible to the caller: all, or only those the caller belongs to.
    pub async fn list_projects(
        &self,
        actor: &Session,
        own_only: bool,
    ) -> Result<Vec<Project>, AuthError> {
        let mut projects = self.repo.list_projects().await?;
        if own_only {
            let mine = self.member_projects(actor).await?;
            projects.retain(|p| mine.contains(&p.id));
        }
        Ok(projects)
    }

    async fn member_projects(&self, actor: &Session) -> Result<Vec<String>, AuthError> {
        Ok(self
            .repo
            .find_user(&actor.user_id)
            .await?
            .map(|u| u.mappings.into_iter().map(|m| m.project_id).collect())
            .unwrap_or_default())
    }

    /// One project by id or name.
    pub async fn get_project(
        &self,
        actor: &Session,
        id: &str,
        own_only: bool,
    ) -> Result<Project, AuthError> {
        let p = self
            .repo
            .find_project(id)
            .await?
            .ok_or_else(|| AuthError::NotFound(format!("project '{id}' not found")))?;
        if own_only && !self.member_projects(actor).await?.contains(&p.id) {
            return Err(AuthError::NotFound(format!("project '{id}' not found")));
        }
        Ok(p)
    }

    /// Creates a project.
    pub async fn create_project(&self, new: NewProject) -> Result<Project, AuthError> {
        validate_name("name", &new.name, 255)?;
        if looks_like_uuid(&new.name) {
            return Err(AuthError::Invalid(format!(
                "project name '{}' cannot have an uuid format",
                new.name
            )));
        }
        Self::check_quotas(new.quotas.iter().map(|(k, v)| (k, Some(*v))))?;
        if self.repo.find_project(&new.name).await?.is_some() {
            return Err(AuthError::Conflict(format!(
                "project '{}' exists",
                new.name
            )));
        }
        let now = self.now();
        let p = Project {
            id: new_id(),
            name: new.name,
            admin: new.admin,
            quotas: new.quotas,
            created: now,
            modified: now,
        };
        self.repo
            .insert_project(&p, &[Self::project_event("created", &p)])
            .await?;
        Ok(p)
    }

    /// Edits a project.
    pub async fn edit_project(&self, id: &str, edit: ProjectEdit) -> Result<(), AuthError> {
        let mut p = self
            .repo
            .find_project(id)
            .await?
            .ok_or_else(|| AuthError::NotFound(format!("project '{id}' not found")))?;
        if let Some(name) = edit.name {
            validate_name("name", &name, 255)?;
            if looks_like_uuid(&name) {
                return Err(AuthError::Invalid(format!(
                    "project name '{name}' cannot have an uuid format"
                )));
            }
            if p.name == "admin" && name != "admin" {
                return Err(AuthError::Forbidden(
                    "You cannot rename project 'admin'".into(),
                ));
            }
            if name != p.name && self.repo.find_project(&name).await?.is_some() {
                return Err(AuthError::Conflict(format!("project '{name}' exists")));
            }
            p.name = name;
        }
        if let Some(admin) = edit.admin {
            p.admin = admin;
        }
        if let Some(q) = edit.quotas {
            Self::check_quotas(q.iter().map(|(k, v)| (k, *v)))?;
            for (k, v) in q {
                match v {
                    Some(n) => p.quotas.insert(k, n),
                    None => p.quotas.remove(&k),
                };
            }
        }
        p.modified = self.now();
        self.repo
            .update_project(&p, &[Self::project_event("edited", &p)])
            .await?;
        self.forget_sessions();
        Ok(())
    }

    /// Deletes a project that no user belongs to (and that is not the caller's).
    pub async fn delete_project(
        &self,
        actor: Option<&Session>,
        id: &str,
        force: bool,
    ) -> Result<(), AuthError> {
        let p = self
            .repo
            .find_project(id)
            .await?
            .ok_or_else(|| AuthError::NotFound(format!("project '{id}' not found")))?;
        if actor.is_some_and(|a| a.project_id == p.id) {
            return Err(AuthError::Conflict(
                "You cannot delete your own project".into(),
            ));
        }
        self.repo
            .delete_project(&p.id, force, &[Self::project_event("deleted", &p)])
            .await?;
        self.forget_sessions();
        Ok(())
    }

    // ---------------------------------------------------------------- roles

    fn role_event(key: &str, r: &Role) -> NewEvent {
        NewEvent::new(
            "roles",
            key,
            json!({"_id": r.id, "name": r.name, "permissions": r.permissions}),
        )
    }

    fn check_permissions<'a>(
        &self,
        keys: impl IntoIterator<Item = &'a String>,
    ) -> Result<(), AuthError> {
        for k in keys {
            self.catalog.validate_key(k)?;
        }
        Ok(())
    }

    /// Roles visible to the caller: all, or only those the caller holds.
    pub async fn list_roles(
        &self,
        actor: &Session,
        own_only: bool,
    ) -> Result<Vec<Role>, AuthError> {
        let mut roles = self.repo.list_roles().await?;
        if own_only {
            let mine = self.member_roles(actor).await?;
            roles.retain(|r| mine.contains(&r.id));
        }
        Ok(roles)
    }

    async fn member_roles(&self, actor: &Session) -> Result<Vec<String>, AuthError> {
        Ok(self
            .repo
            .find_user(&actor.user_id)
            .await?
            .map(|u| u.mappings.into_iter().map(|m| m.role_id).collect())
            .unwrap_or_default())
    }

    /// One role by id or name.
    pub async fn get_role(
        &self,
        actor: &Session,
        id: &str,
        own_only: bool,
    ) -> Result<Role, AuthError> {
        let r = self
            .repo
            .find_role(id)
            .await?
            .ok_or_else(|| AuthError::NotFound(format!("role '{id}' not found")))?;
        if own_only && !self.member_roles(actor).await?.contains(&r.id) {
            return Err(AuthError::NotFound(format!("role '{id}' not found")));
        }
        Ok(r)
    }

    /// Creates a role; its keys must be known permissions or inner nodes.
    pub async fn create_role(&self, new: NewRole) -> Result<Role, AuthError> {
        validate_name("name", &new.name, 60)?;
        if looks_like_uuid(&new.name) {
            return Err(AuthError::Invalid(format!(
                "role name '{}' cannot have an uuid format",
                new.name
            )));
        }
        self.check_permissions(new.permissions.keys())?;
        if self.repo.find_role(&new.name).await?.is_some() {
            return Err(AuthError::Conflict(format!(
                "role name '{}' exists",
                new.name
            )));
        }
        let now = self.now();
        let r = Role {
            id: new_id(),
            name: new.name,
            permissions: new.permissions,
            created: now,
            modified: now,
        };
        self.repo
            .insert_role(&r, &[Self::role_event("created", &r)])
            .await?;
        Ok(r)
    }

    /// Edits a role (permission keys are merged; null removes a key).
    pub async fn edit_role(&self, id: &str, edit: RoleEdit) -> Result<(), AuthError> {
        let mut r = self
            .repo
            .find_role(id)
            .await?
            .ok_or_else(|| AuthError::NotFound(format!("role '{id}' not found")))?;
        if let Some(name) = edit.name {
            validate_name("name", &name, 60)?;
            if name != r.name && PROTECTED_ROLES.contains(&r.name.as_str()) {
                return Err(AuthError::Forbidden(format!(
                    "You cannot rename role '{}'",
                    r.name
                )));
            }
            if name != r.name && self.repo.find_role(&name).await?.is_some() {
                return Err(AuthError::Conflict(format!("role name '{name}' exists")));
            }
            r.name = name;
        }
        if let Some(perms) = edit.permissions {
            self.check_permissions(perms.keys())?;
            for (k, v) in perms {
                match v {
                    Some(b) => r.permissions.insert(k, b),
                    None => r.permissions.remove(&k),
                };
            }
        }
        r.modified = self.now();
        self.repo
            .update_role(&r, &[Self::role_event("edited", &r)])
            .await?;
        self.forget_sessions();
        Ok(())
    }

    /// Deletes a role nobody holds; `system_admin` and `project_admin` are protected.
    pub async fn delete_role(&self, id: &str, force: bool) -> Result<(), AuthError> {
        let r = self
            .repo
            .find_role(id)
            .await?
            .ok_or_else(|| AuthError::NotFound(format!("role '{id}' not found")))?;
        if PROTECTED_ROLES.contains(&r.name.as_str()) {
            return Err(AuthError::Forbidden(format!(
                "You cannot delete role '{}'",
                r.name
            )));
        }
        self.repo
            .delete_role(&r.id, force, &[Self::role_event("deleted", &r)])
            .await?;
        self.forget_sessions();
        Ok(())
    }

    /// Whether a role map would grant a permission (for callers rendering `admin_show` etc.).
    pub fn role_grants(perms: &BTreeMap<String, bool>, permission: &str) -> bool {
        role_grants(perms, permission)
    }
}
