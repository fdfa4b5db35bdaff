//! VNF packages, NS descriptors and slice templates: one implementation, three kinds.
//!
//! `kinds` (records and projection), `ingest` (reading an upload), `chunks` (chunked uploads),
//! `handlers` (record operations), `content` (reading a package back); the endpoints below.

mod chunks;
mod content;
mod handlers;
mod ingest;
mod kinds;

pub(crate) use kinds::KINDS;

use content::{artifacts, descriptor_file, download};
use handlers::{create_empty, list, patch_states, remove, show, upload_into, upload_new};
use kinds::{NSD, NST, VNF};
use utoipa_axum::router::OpenApiRouter;

use crate::OsmState;

/// The endpoints of one package kind at literal paths, with their OpenAPI operations:
/// `$module::register` adds them to the family's router. Uploads take bodies up to `max_upload`.
macro_rules! package_endpoints {
    ($module:ident, $kind:expr, $what:literal,
     content = $content:literal, content_item = $content_item:literal,
     sol = $sol:literal, sol_item = $sol_item:literal,
     package_content = $package_content:literal, upload_from_uri = $upload_from_uri:literal,
     descriptor = $descriptor:literal, artifacts = $artifacts:literal, artifact = $artifact:literal) => {
        pub(crate) mod $module {
            use axum::{extract::{DefaultBodyLimit, State}, http::HeaderMap, response::Response};
            use netorch_http::osm::{
                Authenticated, OsmError, OsmErrorBody, OsmId, OsmQuery, OsmValue, Reply, check_id,
                extractors::{Body, Path},
            };
            use utoipa_axum::{router::OpenApiRouter, routes};

            use crate::OsmState;

            #[utoipa::path(get, path = $content, tag = "osm", operation_id = concat!("list_", stringify!($module), "_content"),
                summary = concat!("List ", $what, "s"), security(("bearerAuth" = [])),
                responses((status = 200, description = "The records the caller's projects may read"),
                    (status = 401, description = "No or bad token, or RBAC refused", body = OsmErrorBody)))]
            async fn list_content(s: State<OsmState>, a: Authenticated, q: OsmQuery) -> Result<Reply, OsmError> {
                super::list(&$kind, "content:get", s, a, q).await
            }

            #[utoipa::path(post, path = $content, tag = "osm", operation_id = concat!("onboard_", stringify!($module)),
                summary = concat!("Onboard a ", $what, " package in one request (tar.gz, zip or YAML/JSON; Content-File-MD5, Digest, Content-Range + Transaction-Id for chunks)"),
                security(("bearerAuth" = [])),
                request_body(content = Vec<u8>, description = "tar.gz, zip/CSAR, or a YAML/JSON descriptor", content_type = "application/octet-stream"),
                responses((status = 201, description = "Onboarded: {id}"), (status = 204, description = "Chunk accepted"),
                    (status = 400, description = "Invalid package", body = OsmErrorBody),
                    (status = 409, description = "Descriptor id in use", body = OsmErrorBody),
                    (status = 413, description = "Over the upload limit", body = OsmErrorBody),
                    (status = 422, description = "Invalid descriptor", body = OsmErrorBody)))]
            async fn onboard(s: State<OsmState>, a: Authenticated, q: OsmQuery, h: HeaderMap, b: Body) -> Result<Reply, OsmError> {
                super::upload_new(&$kind, s, a, q, h, b.0).await
            }

            #[utoipa::path(get, path = $content_item, tag = "osm", operation_id = concat!("show_", stringify!($module), "_content"),
                summary = concat!("Show a ", $what), security(("bearerAuth" = [])),
                params(("id" = String, Path, description = "Id")),
                responses((status = 200, description = "The record"), (status = 404, description = "Not found", body = OsmErrorBody)))]
            async fn show_content(s: State<OsmState>, a: Authenticated, q: OsmQuery, id: OsmId) -> Result<Reply, OsmError> {
                super::show(&$kind, s, a, q, id).await
            }

            #[utoipa::path(put, path = $content_item, tag = "osm", operation_id = concat!("revise_", stringify!($module)),
                summary = concat!("Upload a new revision of a ", $what, " package"), security(("bearerAuth" = [])),
                params(("id" = String, Path, description = "Id")),
                request_body(content = Vec<u8>, description = "tar.gz, zip/CSAR, or a YAML/JSON descriptor", content_type = "application/octet-stream"),
                responses((status = 204, description = "Replaced"), (status = 409, description = "Conflict", body = OsmErrorBody)))]
            async fn revise(s: State<OsmState>, a: Authenticated, q: OsmQuery, id: OsmId, h: HeaderMap, b: Body) -> Result<Reply, OsmError> {
                super::upload_into(&$kind, "id:put", s, a, q, id, h, b.0).await
            }

            #[utoipa::path(delete, path = $content_item, tag = "osm", operation_id = concat!("delete_", stringify!($module), "_content"),
                summary = concat!("Delete a ", $what, " (409 while referenced, unless FORCE)"), security(("bearerAuth" = [])),
                params(("id" = String, Path, description = "Id")),
                responses((status = 204, description = "Deleted"), (status = 409, description = "Referenced or in use", body = OsmErrorBody)))]
            async fn delete_content(s: State<OsmState>, a: Authenticated, q: OsmQuery, id: OsmId) -> Result<Reply, OsmError> {
                super::remove(&$kind, s, a, q, id).await
            }

            #[utoipa::path(get, path = $sol, tag = "osm", operation_id = concat!("list_", stringify!($module)),
                summary = concat!("List ", $what, "s (SOL005)"), security(("bearerAuth" = [])),
                responses((status = 200, description = "The records the caller's projects may read")))]
            async fn list(s: State<OsmState>, a: Authenticated, q: OsmQuery) -> Result<Reply, OsmError> {
                super::list(&$kind, "get", s, a, q).await
            }

            #[utoipa::path(post, path = $sol, tag = "osm", operation_id = concat!("create_", stringify!($module)),
                summary = concat!("Create an empty ", $what, " record (SOL005 two-step upload)"), security(("bearerAuth" = [])),
                request_body(content = Object, description = "{userDefinedData}: JSON, or YAML with Content-Type: application/yaml", content_type = "application/json"),
                responses((status = 201, description = "Created: {_id, id}"), (status = 422, description = "Invalid", body = OsmErrorBody)))]
            async fn create(s: State<OsmState>, a: Authenticated, q: OsmQuery, b: OsmValue) -> Result<Reply, OsmError> {
                super::create_empty(&$kind, s, a, q, b).await
            }

            #[utoipa::path(get, path = $sol_item, tag = "osm", operation_id = concat!("show_", stringify!($module)),
                summary = concat!("Show a ", $what, " (SOL005)"), security(("bearerAuth" = [])),
                params(("id" = String, Path, description = "Id")),
                responses((status = 200, description = "The record"), (status = 404, description = "Not found", body = OsmErrorBody)))]
            async fn show(s: State<OsmState>, a: Authenticated, q: OsmQuery, id: OsmId) -> Result<Reply, OsmError> {
                super::show(&$kind, s, a, q, id).await
            }

            #[utoipa::path(patch, path = $sol_item, tag = "osm", operation_id = concat!("edit_", stringify!($module)),
                summary = "Change the operational state or userDefinedData; SET_PROJECT / PUBLIC with an empty body share it",
                security(("bearerAuth" = [])),
                params(("id" = String, Path, description = "Id")),
                request_body(content = Object, description = "JSON, or YAML with Content-Type: application/yaml", content_type = "application/json"),
                responses((status = 204, description = "Changed"), (status = 409, description = "Already in that state", body = OsmErrorBody)))]
            async fn patch(s: State<OsmState>, a: Authenticated, q: OsmQuery, id: OsmId, b: OsmValue) -> Result<Reply, OsmError> {
                super::patch_states(&$kind, s, a, q, id, b).await
            }

            #[utoipa::path(delete, path = $sol_item, tag = "osm", operation_id = concat!("delete_", stringify!($module)),
                summary = concat!("Delete a ", $what), security(("bearerAuth" = [])),
                params(("id" = String, Path, description = "Id")),
                responses((status = 204, description = "Deleted"), (status = 409, description = "Referenced or in use", body = OsmErrorBody)))]
            async fn delete(s: State<OsmState>, a: Authenticated, q: OsmQuery, id: OsmId) -> Result<Reply, OsmError> {
                super::remove(&$kind, s, a, q, id).await
            }

            #[utoipa::path(get, path = $package_content, tag = "osm", operation_id = concat!("download_", stringify!($module)),
                summary = "Download the package (Accept: application/zip, application/gzip or text/plain)", security(("bearerAuth" = [])),
                params(("id" = String, Path, description = "Id")),
                responses((status = 200, description = "The package file", content_type = "application/zip"),
                    (status = 406, description = "Unacceptable Accept", body = OsmErrorBody),
                    (status = 409, description = "Not onboarded", body = OsmErrorBody)))]
            async fn download(s: State<OsmState>, a: Authenticated, q: OsmQuery, id: OsmId, h: HeaderMap) -> Result<Response, OsmError> {
                super::download(&$kind, s, a, q, id, h).await
            }

            #[utoipa::path(put, path = $package_content, tag = "osm", operation_id = concat!("upload_", stringify!($module)),
                summary = "Upload the package content", security(("bearerAuth" = [])),
                params(("id" = String, Path, description = "Id")),
                request_body(content = Vec<u8>, description = "tar.gz, zip/CSAR, or a YAML/JSON descriptor", content_type = "application/octet-stream"),
                responses((status = 204, description = "Onboarded"), (status = 413, description = "Over the upload limit", body = OsmErrorBody)))]
            async fn upload(s: State<OsmState>, a: Authenticated, q: OsmQuery, id: OsmId, h: HeaderMap, b: Body) -> Result<Reply, OsmError> {
                super::upload_into(&$kind, "id:content:put", s, a, q, id, h, b.0).await
            }

            #[utoipa::path(post, path = $upload_from_uri, tag = "osm", operation_id = concat!("upload_", stringify!($module), "_from_uri"),
                summary = "Not supported yet (501), as OSM", security(("bearerAuth" = [])),
                params(("id" = String, Path, description = "Id")),
                responses((status = 501, description = "Not implemented", body = OsmErrorBody)))]
            async fn upload_from_uri(_a: Authenticated, _id: OsmId) -> OsmError {
                OsmError::NotImplemented("Method POST not supported yet for this URL".into())
            }

            #[utoipa::path(get, path = $descriptor, tag = "osm", operation_id = concat!("descriptor_of_", stringify!($module)),
                summary = "The descriptor file as uploaded", security(("bearerAuth" = [])),
                params(("id" = String, Path, description = "Id")),
                responses((status = 200, description = "The descriptor", content_type = "text/plain")))]
            async fn descriptor(s: State<OsmState>, a: Authenticated, q: OsmQuery, id: OsmId) -> Result<Response, OsmError> {
                super::descriptor_file(&$kind, s, a, q, id).await
            }

            #[utoipa::path(get, path = $artifacts, tag = "osm", operation_id = concat!("artifacts_of_", stringify!($module)),
                summary = "List the package's files", security(("bearerAuth" = [])),
                params(("id" = String, Path, description = "Id")),
                responses((status = 200, description = "File and folder names")))]
            async fn artifacts(s: State<OsmState>, a: Authenticated, q: OsmQuery, id: OsmId) -> Result<Response, OsmError> {
                super::artifacts(&$kind, s, a, q, id.0, String::new()).await
            }

            #[utoipa::path(get, path = $artifact, tag = "osm", operation_id = concat!("artifact_of_", stringify!($module)),
                summary = "One file of the package, or a folder listing", security(("bearerAuth" = [])),
                params(("id" = String, Path, description = "Id"), ("path" = String, Path, description = "File or folder inside the package")),
                responses((status = 200, description = "The file, or the folder's entries"), (status = 404, description = "No such file", body = OsmErrorBody)))]
            async fn artifact(s: State<OsmState>, a: Authenticated, q: OsmQuery, Path((id, path)): Path<(String, String)>) -> Result<Response, OsmError> {
                check_id(&id)?;
                super::artifacts(&$kind, s, a, q, id, path).await
            }

            /// Adds the kind's routes and operations; uploads accept up to `max_upload` bytes.
            pub(crate) fn register(r: OpenApiRouter<OsmState>, max_upload: usize) -> OpenApiRouter<OsmState> {
                let limit = || DefaultBodyLimit::max(max_upload);
                let (schemas, paths, content) = routes!(list_content, onboard);
                let r = r.routes((schemas, paths, content.layer(limit())));
                let (schemas, paths, item) = routes!(show_content, revise, delete_content);
                let r = r.routes((schemas, paths, item.layer(limit())));
                let (schemas, paths, package) = routes!(download, upload);
                r.routes(routes!(list, create))
                    .routes(routes!(show, patch, delete))
                    .routes((schemas, paths, package.layer(limit())))
                    .routes(routes!(upload_from_uri))
                    .routes(routes!(descriptor))
                    .routes(routes!(artifacts))
                    .routes(routes!(artifact))
            }
        }
    };
}

package_endpoints!(
    vnf_packages,
    super::VNF,
    "VNF package",
    content = "/osm/vnfpkgm/v1/vnf_packages_content",
    content_item = "/osm/vnfpkgm/v1/vnf_packages_content/{id}",
    sol = "/osm/vnfpkgm/v1/vnf_packages",
    sol_item = "/osm/vnfpkgm/v1/vnf_packages/{id}",
    package_content = "/osm/vnfpkgm/v1/vnf_packages/{id}/package_content",
    upload_from_uri = "/osm/vnfpkgm/v1/vnf_packages/{id}/package_content/upload_from_uri",
    descriptor = "/osm/vnfpkgm/v1/vnf_packages/{id}/vnfd",
    artifacts = "/osm/vnfpkgm/v1/vnf_packages/{id}/artifacts",
    artifact = "/osm/vnfpkgm/v1/vnf_packages/{id}/artifacts/{*path}"
);
package_endpoints!(
    ns_descriptors,
    super::NSD,
    "NS descriptor",
    content = "/osm/nsd/v1/ns_descriptors_content",
    content_item = "/osm/nsd/v1/ns_descriptors_content/{id}",
    sol = "/osm/nsd/v1/ns_descriptors",
    sol_item = "/osm/nsd/v1/ns_descriptors/{id}",
    package_content = "/osm/nsd/v1/ns_descriptors/{id}/nsd_content",
    upload_from_uri = "/osm/nsd/v1/ns_descriptors/{id}/package_content/upload_from_uri",
    descriptor = "/osm/nsd/v1/ns_descriptors/{id}/nsd",
    artifacts = "/osm/nsd/v1/ns_descriptors/{id}/artifacts",
    artifact = "/osm/nsd/v1/ns_descriptors/{id}/artifacts/{*path}"
);
package_endpoints!(
    netslice_templates,
    super::NST,
    "network slice template",
    content = "/osm/nst/v1/netslice_templates_content",
    content_item = "/osm/nst/v1/netslice_templates_content/{id}",
    sol = "/osm/nst/v1/netslice_templates",
    sol_item = "/osm/nst/v1/netslice_templates/{id}",
    package_content = "/osm/nst/v1/netslice_templates/{id}/nst_content",
    upload_from_uri = "/osm/nst/v1/netslice_templates/{id}/package_content/upload_from_uri",
    descriptor = "/osm/nst/v1/netslice_templates/{id}/nst",
    artifacts = "/osm/nst/v1/netslice_templates/{id}/artifacts",
    artifact = "/osm/nst/v1/netslice_templates/{id}/artifacts/{*path}"
);

/// Every package endpoint.
pub(crate) fn register(r: OpenApiRouter<OsmState>, max_upload: usize) -> OpenApiRouter<OsmState> {
    let r = vnf_packages::register(r, max_upload);
    let r = ns_descriptors::register(r, max_upload);
    netslice_templates::register(r, max_upload)
}
