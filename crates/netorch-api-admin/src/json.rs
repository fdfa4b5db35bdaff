//! Wire DTOs (requests) and renderers (responses) of the admin API.

use std::collections::BTreeMap;

use netorch_auth::{
    Session,
    service::{
        MappingRef, NewProject, NewRole, NewUser, ProjectEdit, ProjectsEdit, RoleEdit, UserEdit,
        UserView,
    },
};
use netorch_core::{
    clock::micros_to_secs,
    identity::{Project, Role},
};
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa::ToSchema;

/// `POST /tokens` body.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenRequestDto {
    /// User name or id.
    pub username: Option<String>,
    /// Password.
    pub password: Option<String>,
    /// Project name or id (default: the user's first project).
    pub project_id: Option<String>,
    /// Accepted for keystone compatibility; ignored.
    #[expect(dead_code, reason = "accepted for keystone compatibility, not used")]
    pub project_domain_name: Option<String>,
    /// Accepted for keystone compatibility; ignored.
    #[expect(dead_code, reason = "accepted for keystone compatibility, not used")]
    pub user_domain_name: Option<String>,
}

/// A (project, role) mapping.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MappingDto {
    /// Project id or name.
    pub project: String,
    /// Role id or name.
    pub role: Option<String>,
}

impl From<MappingDto> for MappingRef {
    fn from(m: MappingDto) -> Self {
        MappingRef {
            project: m.project,
            role: m.role,
        }
    }
}

/// `POST /users` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserCreateDto {
    /// Login name.
    pub username: String,
    /// Password.
    pub password: String,
    /// Projects to join with role `project_admin`.
    pub projects: Option<Vec<String>>,
    /// Explicit mappings.
    pub project_role_mappings: Option<Vec<MappingDto>>,
    /// Accepted for keystone compatibility; ignored.
    pub domain_name: Option<String>,
}

impl From<UserCreateDto> for NewUser {
    fn from(d: UserCreateDto) -> Self {
        NewUser {
            username: d.username,
            password: d.password,
            projects: d.projects.unwrap_or_default(),
            project_role_mappings: d
                .project_role_mappings
                .unwrap_or_default()
                .into_iter()
                .map(Into::into)
                .collect(),
            force: false,
        }
    }
}

/// `projects` in a user edit.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum ProjectsDto {
    /// The new list of projects.
    List(Vec<String>),
    /// OSM array edition: `{"$P": null}` removes, `{"$+P": "P"}` adds, `{"$+[0]": "P"}` makes default.
    Edition(BTreeMap<String, Option<String>>),
}

/// `PUT/PATCH /users/{id}` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserEditDto {
    /// New login name.
    pub username: Option<String>,
    /// New password.
    pub password: Option<String>,
    /// Projects.
    pub projects: Option<ProjectsDto>,
    /// Replace all mappings.
    pub project_role_mappings: Option<Vec<MappingDto>>,
    /// Add mappings.
    pub add_project_role_mappings: Option<Vec<MappingDto>>,
    /// Remove mappings (role optional: all roles in the project).
    pub remove_project_role_mappings: Option<Vec<MappingDto>>,
}

impl From<UserEditDto> for UserEdit {
    fn from(d: UserEditDto) -> Self {
        let conv = |v: Option<Vec<MappingDto>>| {
            v.unwrap_or_default().into_iter().map(Into::into).collect()
        };
        UserEdit {
            username: d.username,
            password: d.password,
            projects: d.projects.map(|p| match p {
                ProjectsDto::List(l) => ProjectsEdit::List(l),
                ProjectsDto::Edition(e) => ProjectsEdit::Edition(e),
            }),
            project_role_mappings: d
                .project_role_mappings
                .map(|v| v.into_iter().map(Into::into).collect()),
            add_project_role_mappings: conv(d.add_project_role_mappings),
            remove_project_role_mappings: conv(d.remove_project_role_mappings),
            force: false,
        }
    }
}

/// `POST /projects` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProjectCreateDto {
    /// Name.
    pub name: String,
    /// Administrative project.
    pub admin: Option<bool>,
    /// Per-topic quotas.
    pub quotas: Option<BTreeMap<String, i64>>,
    /// Accepted for keystone compatibility; ignored.
    pub domain_name: Option<String>,
}

impl From<ProjectCreateDto> for NewProject {
    fn from(d: ProjectCreateDto) -> Self {
        NewProject {
            name: d.name,
            admin: d.admin.unwrap_or(false),
            quotas: d.quotas.unwrap_or_default(),
        }
    }
}

/// `PUT/PATCH /projects/{id}` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProjectEditDto {
    /// New name.
    pub name: Option<String>,
    /// New admin flag.
    pub admin: Option<bool>,
    /// Quota changes (null removes).
    pub quotas: Option<BTreeMap<String, Option<i64>>>,
}

impl From<ProjectEditDto> for ProjectEdit {
    fn from(d: ProjectEditDto) -> Self {
        ProjectEdit {
            name: d.name,
            admin: d.admin,
            quotas: d.quotas,
        }
    }
}

/// `POST /roles` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RoleCreateDto {
    /// Name.
    pub name: String,
    /// Permission keys.
    pub permissions: Option<BTreeMap<String, bool>>,
}

impl From<RoleCreateDto> for NewRole {
    fn from(d: RoleCreateDto) -> Self {
        NewRole {
            name: d.name,
            permissions: d.permissions.unwrap_or_default(),
        }
    }
}

/// `PUT/PATCH /roles/{id}` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RoleEditDto {
    /// New name.
    pub name: Option<String>,
    /// Permission changes (null removes a key).
    pub permissions: Option<BTreeMap<String, Option<bool>>>,
}

impl From<RoleEditDto> for RoleEdit {
    fn from(d: RoleEditDto) -> Self {
        RoleEdit {
            name: d.name,
            permissions: d.permissions,
        }
    }
}

/// A token as OSM shows it.
pub fn token_json(id: &str, s: &Session) -> Value {
    json!({
        "_id": id,
        "id": id,
        "issued_at": micros_to_secs(s.issued_at),
        "expires": micros_to_secs(s.expires),
        "project_id": s.project_id,
        "project_name": s.project_name,
        "username": s.username,
        "user_id": s.user_id,
        "admin": s.is_admin("get"),
        "roles": s.roles.iter().map(|r| json!({"name": r.name, "id": r.id})).collect::<Vec<_>>(),
        "remote_host": s.remote_host,
        "remote_port": s.remote_port,
        "admin_show": s.is_admin("get"),
        "user_show": s.grants("users:get"),
    })
}

/// A user without secrets.
pub fn user_json(v: &UserView) -> Value {
    let mut projects: Vec<&str> = Vec::new();
    for m in &v.mappings {
        if !projects.contains(&m.project_name.as_str()) {
            projects.push(&m.project_name);
        }
    }
    json!({
        "_id": v.user.id,
        "username": v.user.username,
        "_admin": {
            "created": micros_to_secs(v.user.created),
            "modified": micros_to_secs(v.user.modified),
            "user_status": v.user.status,
        },
        "project_role_mappings": v.mappings.iter().map(|m| json!({
            "project": m.project_id, "project_name": m.project_name, "role": m.role_id, "role_name": m.role_name
        })).collect::<Vec<_>>(),
        "projects": projects,
    })
}

/// A project.
pub fn project_json(p: &Project) -> Value {
    json!({
        "_id": p.id,
        "name": p.name,
        "admin": p.admin,
        "quotas": p.quotas,
        "_admin": {"created": micros_to_secs(p.created), "modified": micros_to_secs(p.modified)},
    })
}

/// A role.
pub fn role_json(r: &Role) -> Value {
    json!({
        "_id": r.id,
        "name": r.name,
        "permissions": r.permissions,
        "_admin": {"created": micros_to_secs(r.created), "modified": micros_to_secs(r.modified)},
    })
}
