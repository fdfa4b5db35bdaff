//! An authenticated caller.

use std::sync::Arc;

use netorch_core::{Micros, identity::Role};

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
}
