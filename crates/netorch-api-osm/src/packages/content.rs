//! Reading a package back: the file, the descriptor, the artifacts.

use axum::{
    extract::State,
    http::{HeaderMap, header},
    response::{IntoResponse, Response},
};
use netorch_auth::service::Access;
use netorch_core::tenancy::Record;
use netorch_http::osm::{Authenticated, OsmError, OsmId, OsmQuery, Reply, internal};
use serde_json::{Value, json};

use super::{ingest::*, kinds::*};
use crate::{
    OsmState,
    archive::{self},
};

pub(super) fn onboarded(r: &Record) -> Result<(), OsmError> {
    if r.body["_admin"]["onboardingState"] != json!("ONBOARDED") {
        return Err(OsmError::conflict(
            "Cannot get content because this resource is not at 'ONBOARDED' state",
        ));
    }
    Ok(())
}

pub(super) async fn blob(s: &OsmState, digest: &Value) -> Result<Vec<u8>, OsmError> {
    let d = digest.as_str().unwrap_or_default();
    s.deps.blobs.get(d).await?.ok_or_else(|| {
        internal(&netorch_core::StoreError::Internal(format!(
            "package file {d} is missing from blob storage"
        )))
    })
}

pub(super) fn bytes_response(content_type: &str, bytes: Vec<u8>) -> Response {
    ([(header::CONTENT_TYPE, content_type.to_string())], bytes).into_response()
}

/// `GET …/package_content`: the uploaded file (`application/zip`, or `application/gzip` when asked),
/// or the descriptor as text for single-file packages. OSM's Accept rules: 406 otherwise.
pub(super) async fn download(
    kind: &PkgKind,
    State(s): State<OsmState>,
    Authenticated(me): Authenticated,
    q: OsmQuery,
    OsmId(id): OsmId,
    headers: HeaderMap,
) -> Result<Response, OsmError> {
    me.authorize(&format!("{}:id:content:get", kind.perm), "get", &q.admin)?;
    let accept = header_str(&headers, "accept")
        .unwrap_or_default()
        .to_ascii_lowercase();
    let zip = accept.contains("application/zip") || accept.contains("*/*");
    let gzip = accept.contains("application/gzip") || accept.contains("application/x-gzip");
    let text = accept.contains("text/plain");
    if !(zip || gzip || text) {
        return Err(OsmError::not_acceptable(
            "Only 'Accept' of type 'text/plain' or 'application/zip' is allowed",
        ));
    }
    let r = load(kind, &s, &me, &q, &id, Access::Show, "get").await?;
    onboarded(&r)?;
    let storage = &r.body["_admin"]["storage"];
    let files = storage["files"].as_object().map(|m| m.len()).unwrap_or(0);
    if text && !zip && !gzip {
        if files > 1 {
            return Err(OsmError::not_acceptable(
                "Packages that contain several files need to be retrieved with 'application/zip'Accept header",
            ));
        }
        return Ok(bytes_response(
            "text/plain",
            blob(
                &s,
                &storage["files"][storage["descriptor"].as_str().unwrap_or_default()],
            )
            .await?,
        ));
    }
    let ct = if gzip && storage["format"] == json!("tar.gz") {
        "application/gzip"
    } else {
        "application/zip"
    };
    Ok(bytes_response(ct, blob(&s, &storage["package"]).await?))
}

/// `GET …/vnfd` (`nsd`, `nst`): the descriptor file as uploaded.
pub(super) async fn descriptor_file(
    kind: &PkgKind,
    State(s): State<OsmState>,
    Authenticated(me): Authenticated,
    q: OsmQuery,
    OsmId(id): OsmId,
) -> Result<Response, OsmError> {
    me.authorize(
        &format!("{}:id:{}:get", kind.perm, kind.desc_leaf),
        "get",
        &q.admin,
    )?;
    let r = load(kind, &s, &me, &q, &id, Access::Show, "get").await?;
    onboarded(&r)?;
    let storage = &r.body["_admin"]["storage"];
    let path = storage["descriptor"].as_str().unwrap_or_default();
    Ok(bytes_response(
        "text/plain",
        blob(&s, &storage["files"][path]).await?,
    ))
}

/// `GET …/artifacts[/path]`: a listing of the package folder, or one file.
pub(super) async fn artifacts(
    kind: &PkgKind,
    State(s): State<OsmState>,
    Authenticated(me): Authenticated,
    q: OsmQuery,
    id: String,
    path: String,
) -> Result<Response, OsmError> {
    me.authorize(
        &format!("{}:id:{}_artifact:get", kind.perm, kind.desc_leaf),
        "get",
        &q.admin,
    )?;
    let r = load(kind, &s, &me, &q, &id, Access::Show, "get").await?;
    onboarded(&r)?;
    let storage = &r.body["_admin"]["storage"];
    let root = storage["pkg-dir"].as_str().unwrap_or_default();
    let Some(files) = storage["files"].as_object() else {
        return Err(OsmError::bad_request(
            "Packages does not contains artifacts",
        ));
    };
    let sub = if path.is_empty() {
        String::new()
    } else {
        archive::safe_path(&path).map_err(|e| OsmError::bad_request(e.to_string()))?
    };
    let full = [root, sub.as_str()]
        .iter()
        .filter(|p| !p.is_empty())
        .copied()
        .collect::<Vec<_>>()
        .join("/");
    if let Some(digest) = files.get(&full) {
        return Ok(bytes_response(
            "application/octet-stream",
            blob(&s, digest).await?,
        ));
    }
    let prefix = if full.is_empty() {
        String::new()
    } else {
        format!("{full}/")
    };
    let mut names: Vec<String> = files
        .keys()
        .filter_map(|p| p.strip_prefix(&prefix))
        .map(|rest| rest.split('/').next().unwrap_or(rest).to_string())
        .collect();
    names.dedup();
    if names.is_empty() {
        return Err(OsmError::not_found(format!("artifact '{path}' not found")));
    }
    Ok(Reply::ok(json!(names)).into_response())
}
