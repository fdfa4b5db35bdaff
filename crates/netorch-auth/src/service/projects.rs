//! Projects: listing, showing, creating, editing (quotas) and deleting, with `FORCE` removing them from users.

use super::*;

impl IdentityService {
    pub(super) fn project_event(key: &str, p: &Project) -> NewEvent {
        NewEvent::new(
            "project",
            key,
            json!({"_id": p.id, "name": p.name, "admin": p.admin, "quotas": p.quotas}),
        )
    }

    pub(super) fn check_quotas<'a>(
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

    pub(super) async fn member_projects(&self, actor: &Session) -> Result<Vec<String>, AuthError> {
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
}
