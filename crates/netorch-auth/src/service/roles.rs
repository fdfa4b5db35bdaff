//! Roles: listing, showing, creating, editing (permission maps) and deleting; the protected roles stay.

use super::*;

impl IdentityService {
    pub(super) fn role_event(key: &str, r: &Role) -> NewEvent {
        NewEvent::new(
            "roles",
            key,
            json!({"_id": r.id, "name": r.name, "permissions": r.permissions}),
        )
    }

    pub(super) fn check_permissions<'a>(
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

    pub(super) async fn member_roles(&self, actor: &Session) -> Result<Vec<String>, AuthError> {
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
