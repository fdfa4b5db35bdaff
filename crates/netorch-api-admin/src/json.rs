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
use serde::{Deserialize, Serialize};
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
    serde_json::to_value(UserDoc::new(v)).unwrap_or_default()
}

/// The user document, typed so that `GET /users/{id}` serialises it without building a `Value`.
/// Fields are declared in the order `serde_json` sorts a `Value`'s keys, so both paths give the
/// same bytes (a test compares them).
#[derive(Serialize)]
pub struct UserDoc<'a> {
    _admin: UserAdmin<'a>,
    _id: &'a str,
    project_role_mappings: Vec<MappingDoc<'a>>,
    projects: Vec<&'a str>,
    username: &'a str,
}

#[derive(Serialize)]
struct UserAdmin<'a> {
    created: f64,
    modified: f64,
    user_status: &'a str,
}

#[derive(Serialize)]
struct MappingDoc<'a> {
    project: &'a str,
    project_name: &'a str,
    role: &'a str,
    role_name: &'a str,
}

impl<'a> UserDoc<'a> {
    /// The document of `v`.
    pub fn new(v: &'a UserView) -> Self {
        let mut projects: Vec<&str> = Vec::new();
        for m in &v.mappings {
            if !projects.contains(&m.project_name.as_str()) {
                projects.push(&m.project_name);
            }
        }
        Self {
            _admin: UserAdmin {
                created: micros_to_secs(v.user.created),
                modified: micros_to_secs(v.user.modified),
                user_status: &v.user.status,
            },
            _id: &v.user.id,
            project_role_mappings: v
                .mappings
                .iter()
                .map(|m| MappingDoc {
                    project: &m.project_id,
                    project_name: &m.project_name,
                    role: &m.role_id,
                    role_name: &m.role_name,
                })
                .collect(),
            projects,
            username: &v.user.username,
        }
    }
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

#[cfg(test)]
mod user_doc_tests {
    use netorch_core::identity::User;

    use super::*;

    #[test]
    fn the_typed_user_document_serialises_to_the_same_bytes_as_the_value() {
        let v = UserView::new(
            User {
                id: "u-1".into(),
                username: "alice \"the\" admin".into(),
                password_hash: "secret".into(),
                status: "active".into(),
                created: 1_700_000_000_123_456,
                modified: 1_700_000_001_000_000,
                mappings: Vec::new(),
            },
            vec![
                netorch_core::identity::NamedMapping {
                    project_id: "p1".into(),
                    project_name: "admin".into(),
                    role_id: "r1".into(),
                    role_name: "system_admin".into(),
                },
                netorch_core::identity::NamedMapping {
                    project_id: "p1".into(),
                    project_name: "admin".into(),
                    role_id: "r2".into(),
                    role_name: "project_user".into(),
                },
            ],
        );
        let typed = serde_json::to_vec(&UserDoc::new(&v)).unwrap_or_default();
        let legacy = serde_json::to_vec(&json!({
            "_id": "u-1",
            "username": "alice \"the\" admin",
            "_admin": {"created": 1_700_000_000.123456, "modified": 1_700_000_001.0, "user_status": "active"},
            "project_role_mappings": [
                {"project": "p1", "project_name": "admin", "role": "r1", "role_name": "system_admin"},
                {"project": "p1", "project_name": "admin", "role": "r2", "role_name": "project_user"},
            ],
            "projects": ["admin"],
        }))
        .unwrap_or_default();
        assert_eq!(
            String::from_utf8_lossy(&typed),
            String::from_utf8_lossy(&legacy)
        );
        assert!(!String::from_utf8_lossy(&typed).contains("secret"));
    }
}
