//! Who may call: HTTP Basic against netorch users (or a netorch bearer token) holding a permission.

use std::sync::Arc;

use axum::http::HeaderMap;
use netorch_auth::Session;
use netorch_http::osm::{Credentials, RemoteAddr, credentials};

use crate::{OofState, error::OofError};

/// Permission to request placements.
pub(crate) const PLACE: &str = "oof:placement:post";
/// Permission to poll requests and read the inventory and policies.
pub(crate) const READ: &str = "oof:placement:get";

/// Authenticates HTTP Basic (or a netorch bearer token) and checks `permission`. A store outage
/// is a 503, never a 401: the credentials may well be right.
pub(crate) async fn authorize(
    state: &OofState,
    headers: &HeaderMap,
    remote: &RemoteAddr,
    permission: &str,
) -> Result<Arc<Session>, OofError> {
    let creds = credentials(headers).map_err(|_| OofError::Unauthorized)?;
    let session = match creds {
        None => return Err(OofError::MissingAuthorization),
        Some(Credentials::Basic(u, p)) => state
            .deps
            .identity
            .authenticate_basic(&u, &p, (remote.0.clone(), remote.1))
            .await
            .map(Arc::new)?,
        Some(Credentials::Bearer(t)) => state.deps.identity.authenticate(&t).await?,
    };
    if !session.grants(permission) {
        return Err(OofError::Forbidden(format!(
            "user '{}' is not allowed to {permission}",
            session.username
        )));
    }
    Ok(session)
}

/// A caller allowed to read who is also a netorch administrator for `method`.
pub(crate) async fn administrator(
    state: &OofState,
    headers: &HeaderMap,
    remote: &RemoteAddr,
    method: &str,
) -> Result<(), OofError> {
    let s = authorize(state, headers, remote, READ).await?;
    if !s.is_admin(method) {
        return Err(OofError::Forbidden(
            "changing the inventory or policies needs a netorch administrator".into(),
        ));
    }
    Ok(())
}
