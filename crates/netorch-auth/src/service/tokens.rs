//! Tokens: issuing (password or re-scoping), HTTP Basic, authentication with the session cache, listing and revoking.

use super::*;

impl IdentityService {
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

    pub(super) async fn verify_basic(
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

    pub(super) async fn throttle(&self, user_id: &str) {
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

    pub(super) async fn session_for(
        &self,
        t: &TokenRecord,
        user: &User,
    ) -> Result<Session, AuthError> {
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
    pub(super) fn token_hash_of(id: &str) -> String {
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
}
