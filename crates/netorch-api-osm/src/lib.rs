#![doc = include_str!("../README.md")]

mod accounts;
pub mod archive;
pub mod catalog_source;
mod connector;
pub mod descriptor;
mod job;
mod names;
mod nslcm;
mod packages;
mod pdus;
mod render;
mod tenancy;

use std::sync::Arc;

use axum::{Router, extract::FromRef, http::Method};
use netorch_auth::{IdentityService, secrets::SecretBox};
use netorch_core::{
    Clock, blobs::BlobStore, jobs::JobRepository, tenancy::RecordRepository,
    uploads::UploadRepository,
};
use netorch_http::osm::{self, BasicAuthPolicy, OsmError};
use netorch_scheduler::JobHandler;
use tokio::sync::Notify;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;

pub use accounts::ACCOUNT_JOB;
pub use job::{HOUSEKEEPING_JOB, RECONCILE_JOB};
pub use nslcm::subscriptions::NOTIFY_JOB;

/// What the OSM family needs.
#[derive(Clone)]
pub struct Deps {
    /// Identity (authentication, RBAC, tenancy scopes).
    pub identity: Arc<IdentityService>,
    /// Tenant records.
    pub records: Arc<dyn RecordRepository>,
    /// Durable jobs (account operations).
    pub jobs: Arc<dyn JobRepository>,
    /// Wakes the scheduler after an enqueue, so operations start at once.
    pub job_waker: Arc<Notify>,
    /// Time.
    pub clock: Arc<dyn Clock>,
    /// Seals passwords at rest.
    pub secrets: SecretBox,
    /// Whether `Authorization: Basic` is accepted.
    pub allow_basic: bool,
    /// Package files, content-addressed.
    pub blobs: Arc<dyn BlobStore>,
    /// Chunked uploads in progress.
    pub uploads: Arc<dyn UploadRepository>,
    /// What an uploaded package may expand to.
    pub package_limits: archive::Limits,
    /// Largest package upload (one request or chunk), in bytes.
    pub max_upload: usize,
    /// Unreferenced package files younger than this are kept (their record may be committing).
    pub orphan_grace: std::time::Duration,
    /// Southbound clouds (NS deployment, VIM usage).
    pub cloud: Arc<dyn netorch_core::cloud::CloudConnector>,
    /// Runs VNF configuration primitives (day-1 and `action`).
    pub primitives: Arc<dyn netorch_core::primitives::PrimitiveExecutor>,
    /// Inter-site links for virtual links that span SLICES sites.
    pub connectivity: Arc<dyn netorch_core::connectivity::ConnectivityRepository>,
    /// Chooses VIMs for VNFs (`placement-engine`), implemented by the placement family.
    pub placer: Arc<dyn netorch_core::placement::VimPlacer>,
}

#[derive(Clone)]
pub(crate) struct OsmState {
    pub deps: Deps,
    /// Lists rendered per scope and query, valid while their collection's version holds.
    pub lists: Arc<tenancy::ListCache>,
}

impl FromRef<OsmState> for Arc<IdentityService> {
    fn from_ref(s: &OsmState) -> Self {
        s.deps.identity.clone()
    }
}

impl FromRef<OsmState> for BasicAuthPolicy {
    fn from_ref(s: &OsmState) -> Self {
        BasicAuthPolicy(s.deps.allow_basic)
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "netorch OSM NBI", description = "OSM SOL005 NBI: infrastructure accounts, PDUs, VNF/NS packages and slice templates"),
    components(schemas(accounts::VimNew, accounts::WimNew, accounts::SdnNew, pdus::PduNew, osm::OsmErrorBody)),
    tags((name = "osm", description = "OSM NBI"))
)]
struct OsmApi;

/// The routes of the family (with their state) and their OpenAPI document. Their documents are
/// JSON until `netorch_http::osm::RenderLayer` renders them: the server applies it once around all
/// its routes, since every layer applied to a router costs each of its requests a boxed service.
pub fn router(deps: Deps) -> (Router, utoipa::openapi::OpenApi) {
    let max_upload = deps.max_upload;
    let r = OpenApiRouter::with_openapi(OsmApi::openapi());
    let r = accounts::register(r);
    let r = pdus::register(r);
    let r = nslcm::register(r);
    let (router, mut api) = packages::register(r, max_upload).split_for_parts();
    // axum spells a catch-all `{*path}`; OpenAPI knows only `{path}`.
    api.paths.paths = std::mem::take(&mut api.paths.paths)
        .into_iter()
        .map(|(path, item)| (path.replace("{*", "{"), item))
        .collect();
    let router = router
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(OsmState {
            deps,
            lists: Arc::default(),
        });
    (router, api)
}

/// Job handlers the binary registers with its scheduler, by kind.
pub fn job_handlers(deps: &Deps) -> Vec<(&'static str, Arc<dyn JobHandler>)> {
    job::handlers(deps)
}

async fn method_not_allowed(method: Method) -> OsmError {
    OsmError::method_not_allowed(format!("Method {method} not supported for this URL"))
}
