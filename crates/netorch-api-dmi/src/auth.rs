//! Who may call: netorch users by HTTP Basic (what NCMP sends: `ncmp.dmi.auth`) or a netorch
//! bearer token, holding the DMI permission of the operation (`dmi:data:...`,
//! `dmi:inventory:...` in the RBAC tree; administrators hold them all).

use std::sync::Arc;

use axum::http::HeaderMap;
use netorch_auth::{Session, rbac::PermissionSpec};
use netorch_http::osm::{Credentials, RemoteAddr, credentials};

use crate::{DmiState, error::Failure};

/// The family's permissions.
pub const PERMISSIONS: &[PermissionSpec] = &[
    PermissionSpec {
        prefix: "dmi:data:",
        methods: &["get", "post"],
    },
    PermissionSpec {
        prefix: "dmi:inventory:",
        methods: &["get", "post", "delete"],
    },
];

/// Read device data and models.
pub(crate) const DATA_READ: &str = "dmi:data:get";
/// Write device data, invoke RPCs, refresh models.
pub(crate) const DATA_WRITE: &str = "dmi:data:post";
/// List and show CM handles.
pub(crate) const INVENTORY_READ: &str = "dmi:inventory:get";
/// Register CM handles.
pub(crate) const INVENTORY_WRITE: &str = "dmi:inventory:post";
/// Remove CM handles.
pub(crate) const INVENTORY_DELETE: &str = "dmi:inventory:delete";

/// Authenticates and checks `permission`.
pub(crate) async fn authorize(
    s: &DmiState,
    headers: &HeaderMap,
    remote: &RemoteAddr,
    permission: &str,
) -> Result<Arc<Session>, Failure> {
    let creds = credentials(headers)
        .map_err(|_| Failure::unauthorized("malformed Authorization header"))?;
    let session = match creds {
        None => {
            return Err(Failure::unauthorized(
                "credentials are required (HTTP Basic with a netorch user, or a bearer token)",
            ));
        }
        Some(Credentials::Basic(u, p)) => s
            .deps
            .identity
            .authenticate_basic(&u, &p, (remote.0.clone(), remote.1))
            .await
            .map(Arc::new)?,
        Some(Credentials::Bearer(t)) => s.deps.identity.authenticate(&t).await?,
    };
    if !session.grants(permission) {
        return Err(Failure::forbidden(format!(
            "user '{}' lacks permission {permission}",
            session.username
        )));
    }
    Ok(session)
}
