//! SLICES tokens: the experiment token in `Authorization: Bearer` names the experiment, its expiry
//! and the caller's role; the user token(s) in the body name the user.

use axum::http::{HeaderMap, header};
use netorch_auth::jwt::{TokenVerifier, VerifyError};
use netorch_core::Micros;
use serde_json::Value;

use crate::{error::SlicesError, json::parse_date};

/// Where the experiment token keeps what netorch needs (dotted paths into the claims).
#[derive(Debug, Clone)]
pub struct ClaimPaths {
    /// Experiment id (default `sub`).
    pub experiment: String,
    /// Experiment expiry, epoch seconds or RFC 3339 (default `expires_at`).
    pub expires: String,
    /// The caller's role in the experiment, a string or a list (default `role`).
    pub role: String,
    /// The user the experiment token speaks for; when present it must match the user token's `sub`
    /// (default `user_id`).
    pub user: String,
}

impl Default for ClaimPaths {
    fn default() -> Self {
        Self {
            experiment: "sub".into(),
            expires: "expires_at".into(),
            role: "role".into(),
            user: "user_id".into(),
        }
    }
}

/// A member's role in an experiment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    /// May read.
    Viewer,
    /// May create, update and delete.
    Lead,
    /// Same as lead.
    Admin,
}

impl Role {
    fn parse(s: &str) -> Option<Self> {
        match s.trim().to_ascii_uppercase().as_str() {
            "VIEWER" | "MEMBER" => Some(Role::Viewer),
            "LEAD" | "LEADER" => Some(Role::Lead),
            "ADMIN" => Some(Role::Admin),
            _ => None,
        }
    }

    /// Whether the role may change reservations.
    pub fn may_write(self) -> bool {
        self >= Role::Lead
    }
}

/// The experiment a request acts for.
#[derive(Debug, Clone)]
pub struct Experiment {
    /// Experiment id.
    pub id: String,
    /// When the experiment ends; reservations must end by then.
    pub expires_at: Micros,
    /// The caller's role.
    pub role: Role,
    /// The user the token speaks for, if it says.
    pub user: Option<String>,
}

/// Follows a dotted path into claims.
fn claim<'a>(claims: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(claims, |v, k| v.get(k))
}

fn refused(loc: Vec<Value>, e: &VerifyError) -> SlicesError {
    SlicesError::Unauthenticated(loc, e.to_string())
}

/// Verifies the experiment token of a request.
pub async fn experiment(
    headers: &HeaderMap,
    verifier: &TokenVerifier,
    paths: &ClaimPaths,
) -> Result<Experiment, SlicesError> {
    let raw = headers
        .get(header::AUTHORIZATION)
        .ok_or_else(|| {
            SlicesError::header_auth(
                "Authorization header missing: send the experiment token as 'Authorization: Bearer <token>'",
            )
        })?
        .to_str()
        .map_err(|_| SlicesError::header_auth("Authorization header is not valid text"))?;
    let token = raw
        .split_once(' ')
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, t)| t.trim())
        .filter(|t| !t.is_empty())
        .ok_or_else(|| {
            SlicesError::header_auth("Authorization header must be 'Bearer <experiment token>'")
        })?;
    let loc = || vec![Value::from("header"), Value::from("Authorization")];
    let claims = verifier
        .verify(token)
        .await
        .map_err(|e| refused(loc(), &e))?;
    let missing = |what: &str, path: &str| {
        SlicesError::Unauthenticated(
            loc(),
            format!("the experiment token has no {what} (claim '{path}')"),
        )
    };
    let id = claim(&claims, &paths.experiment)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| missing("experiment id", &paths.experiment))?
        .to_string();
    let expires_at = match claim(&claims, &paths.expires) {
        Some(Value::Number(n)) => n.as_f64().map(|s| (s * 1e6) as Micros),
        Some(Value::String(s)) => parse_date(s),
        _ => None,
    }
    .ok_or_else(|| missing("experiment expiry", &paths.expires))?;
    let roles: Vec<&str> = match claim(&claims, &paths.role) {
        Some(Value::String(s)) => vec![s.as_str()],
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    let role = roles
        .iter()
        .filter_map(|r| Role::parse(r))
        .max()
        .ok_or_else(|| {
            SlicesError::Forbidden(format!(
                "the experiment token grants no role in experiment {id} (claim '{}'); VIEWER, LEAD or ADMIN is needed",
                paths.role
            ))
        })?;
    let user = claim(&claims, &paths.user)
        .and_then(Value::as_str)
        .map(str::to_string);
    Ok(Experiment {
        id,
        expires_at,
        role,
        user,
    })
}

/// Verifies the user token(s) of a body and returns the user (`sub` of the first).
pub async fn user(
    tokens: &[String],
    verifier: &TokenVerifier,
    experiment: &Experiment,
) -> Result<String, SlicesError> {
    if tokens.is_empty() {
        return Err(SlicesError::Unauthenticated(
            vec!["body".into(), "tokens".into()],
            "tokens must contain your SLICES user token".into(),
        ));
    }
    let mut user = None;
    for (i, t) in tokens.iter().enumerate() {
        let loc = || vec![Value::from("body"), Value::from("tokens"), Value::from(i)];
        let claims = verifier.verify(t).await.map_err(|e| refused(loc(), &e))?;
        let sub = claims["sub"].as_str().ok_or_else(|| {
            SlicesError::Unauthenticated(loc(), "the user token has no 'sub' claim".into())
        })?;
        user.get_or_insert_with(|| sub.to_string());
    }
    let user = user.unwrap_or_default();
    if let Some(bound) = &experiment.user
        && *bound != user
    {
        return Err(SlicesError::Forbidden(format!(
            "the experiment token was issued to {bound}, but the user token is {user}'s"
        )));
    }
    Ok(user)
}
