//! Who may call: OAuth2 bearer tokens (netorch identity tokens, from `/oauth2/token` or OSM's
//! `/osm/admin/v1/tokens`). As OpenSlice: writes and every TMF632 operation need an
//! administrator; reads of the catalog need any valid token unless anonymous reads are enabled.

use std::sync::Arc;

use axum::http::HeaderMap;
use netorch_auth::Session;
use netorch_http::osm::{Credentials, credentials};

use crate::{TmfError, TmfState};

/// The caller's session; 401 without a valid bearer token.
pub(crate) async fn session(s: &TmfState, headers: &HeaderMap) -> Result<Arc<Session>, TmfError> {
    let creds = credentials(headers)
        .map_err(|_| TmfError::Unauthenticated("malformed Authorization header".into()))?;
    match creds {
        Some(Credentials::Bearer(t)) => Ok(s.deps.identity.authenticate(&t).await?),
        Some(Credentials::Basic(..)) => Err(TmfError::Unauthenticated(
            "use an OAuth2 bearer token (POST /oauth2/token)".into(),
        )),
        None => Err(TmfError::Unauthenticated(
            "an OAuth2 bearer token is required (POST /oauth2/token)".into(),
        )),
    }
}

/// An administrator (a role holding `admin:<method>`, as `system_admin`), else 403.
pub(crate) async fn administrator(
    s: &TmfState,
    headers: &HeaderMap,
    method: &str,
) -> Result<Arc<Session>, TmfError> {
    let me = session(s, headers).await?;
    if !me.is_admin(method) {
        return Err(TmfError::Forbidden(format!(
            "user '{}' is not an administrator; this operation needs one",
            me.username
        )));
    }
    Ok(me)
}
