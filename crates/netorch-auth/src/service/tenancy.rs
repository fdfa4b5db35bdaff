//! Tenancy: which records a caller may see (scopes), who owns a new record, sharing (`SET_PROJECT`, `PUBLIC`) and quotas.

use super::*;

impl IdentityService {
    /// Resolves project names or ids given in a query string to ids. Unknown names are kept as
    /// they are: they match no record, as in OSM.
    pub(super) async fn project_ids(&self, names: &[String]) -> Result<Vec<String>, AuthError> {
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
            // A bare `SET_PROJECT` adds the caller's own project ("add to my catalog").
            let (extra, ids) = if extra.is_empty() {
                (vec![s.project_name.clone()], vec![s.project_id.clone()])
            } else {
                (extra.clone(), self.project_ids(extra).await?)
            };
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

    /// Whether an edit only adds the caller's own project to a record's readers (`SET_PROJECT`
    /// bare or naming that project, no `ADMIN`, no `PUBLIC`): OSM lets a project take a record it
    /// can read, such as a public package, into its catalogue without write access to it.
    pub async fn joins_own_project(&self, s: &Session, qs: &AdminQuery) -> Result<bool, AuthError> {
        let Some(list) = &qs.set_project else {
            return Ok(false);
        };
        if qs.admin.is_some() || qs.public.is_some() {
            return Ok(false);
        }
        Ok(self
            .project_ids(list)
            .await?
            .iter()
            .all(|id| *id == s.project_id))
    }

    /// The quota of a project for a topic (OSM `quotas`), if one is set.
    pub async fn quota(&self, project_id: &str, topic: &str) -> Result<Option<i64>, AuthError> {
        Ok(self
            .repo
            .find_project(project_id)
            .await?
            .and_then(|p| p.quotas.get(topic).copied()))
    }
}
