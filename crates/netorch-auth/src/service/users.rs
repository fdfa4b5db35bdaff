//! Users: listing, showing, creating, editing (projects and roles, passwords), deleting, and the name/id resolution they need.

use super::*;

impl IdentityService {
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
            .map(|(user, mappings)| UserView::new(user, mappings))
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
                    let v = Arc::new(UserView::new(user, mappings));
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
    pub(super) async fn resolve_mapping(
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

    pub(super) fn user_event(key: &str, u: &User) -> NewEvent {
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

    pub(super) async fn admin_project_id(&self) -> Option<String> {
        self.repo
            .find_project("admin")
            .await
            .ok()
            .flatten()
            .map(|p| p.id)
    }

    /// The id of a project named in an edit: unknown is a conflict, or skipped with `force`.
    pub(super) async fn known_project(
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

    pub(super) async fn resolve_project_id(&self, id_or_name: &str) -> Result<String, AuthError> {
        self.repo
            .find_project(id_or_name)
            .await?
            .map(|p| p.id)
            .ok_or_else(|| AuthError::NotFound(format!("project '{id_or_name}' not found")))
    }

    pub(super) async fn resolve_role_id(&self, id_or_name: &str) -> Result<String, AuthError> {
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
}
