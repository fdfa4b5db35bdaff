//! An authenticated caller.

use std::sync::Arc;

use netorch_core::{Micros, identity::Role, jobs::ProjectFilter};

use crate::{
    AuthError,
    rbac::{self, AdminQuery, Grant},
};

/// A validated token: who is calling, in which project, with which roles.
#[derive(Debug, Clone)]
pub struct Session {
    /// Hex SHA-256 of the bearer secret.
    pub token_hash: String,
    /// User id.
    pub user_id: String,
    /// User name.
    pub username: String,
    /// Project the token is scoped to.
    pub project_id: String,
    /// Name of that project.
    pub project_name: String,
    /// The roles the user holds in that project.
    pub roles: Vec<Arc<Role>>,
    /// Issue time.
    pub issued_at: Micros,
    /// Expiry.
    pub expires: Micros,
    /// Client address when the token was issued.
    pub remote_host: String,
    /// Client port when the token was issued.
    pub remote_port: u16,
}

impl Session {
    /// Whether any of the caller's roles grants `permission`.
    pub fn grants(&self, permission: &str) -> bool {
        self.roles
            .iter()
            .any(|r| rbac::role_grants(&r.permissions, permission))
    }

    /// OSM's per-request `admin` flag: some role holds `admin:<method>`.
    pub fn is_admin(&self, method: &str) -> bool {
        self.grants(&format!("admin:{method}"))
    }

    /// Authorises `permission` (e.g. `users:id:patch`) for `method` with the request's admin
    /// query strings.
    pub fn authorize(
        &self,
        permission: &str,
        method: &str,
        qs: &AdminQuery,
    ) -> Result<Grant, AuthError> {
        rbac::authorize(
            self.roles.iter().map(|r| &r.permissions),
            permission,
            method,
            qs,
        )
    }

    /// Which projects' records the request may touch: the token's project, or with `ADMIN` all
    /// projects (`ADMIN`) or the named ones (`ADMIN=p1,p2`, ids or names resolved by the caller).
    pub fn project_filter(
        &self,
        method: &str,
        qs: &AdminQuery,
    ) -> Result<ProjectFilter, AuthError> {
        match &qs.admin {
            None => Ok(ProjectFilter::Only(vec![self.project_id.clone()])),
            Some(_) if !self.is_admin(method) => Err(AuthError::Denied(
                "Only admin projects can use 'ADMIN' query string".into(),
            )),
            Some(list) if list.is_empty() => Ok(ProjectFilter::All),
            Some(list) => Ok(ProjectFilter::Only(list.clone())),
        }
    }
}
