#![doc = include_str!("../README.md")]

mod admin;
mod auth;
pub mod error;
pub mod inventory;
mod jobs;
pub mod model;
mod placement;
pub mod policy;
pub mod request;
pub mod sdnc;
mod store;
pub mod vim_placement;

use std::{sync::Arc, time::Duration};

use axum::{Router, http::Method};
use netorch_auth::{IdentityService, PermissionSpec};
use netorch_core::{Clock, jobs::JobRepository, tenancy::RecordRepository};
use netorch_scheduler::JobHandler;
use tokio::sync::Notify;
use utoipa::OpenApi;
use utoipa_axum::{router::OpenApiRouter, routes};

pub use error::OofError;
pub use store::{store_inventory, store_policy};

netorch_http::family_extractors!(OofError);

/// Job that solves an accepted request.
pub const SOLVE_JOB: &str = "oof.solve";
/// Job that delivers a result to the client's callback URL (retried with backoff).
pub const CALLBACK_JOB: &str = "oof.callback";
/// Outbox topic of placement events.
pub const EVENT_TOPIC: &str = "oof.placement";

/// Permissions this family checks (`oof:placement:post` to place, `:get` to poll).
pub const PERMISSIONS: &[PermissionSpec] = &[PermissionSpec {
    prefix: "oof:placement:",
    methods: &["get", "post"],
}];

/// What the OOF family needs.
#[derive(Clone)]
pub struct Deps {
    /// Identity (HTTP Basic against netorch users).
    pub identity: Arc<IdentityService>,
    /// Requests, policies and the inventory are stored as records.
    pub records: Arc<dyn RecordRepository>,
    /// Durable jobs.
    pub jobs: Arc<dyn JobRepository>,
    /// Wakes the scheduler after an enqueue.
    pub job_waker: Arc<Notify>,
    /// Time.
    pub clock: Arc<dyn Clock>,
    /// Basic credentials netorch presents to callback URLs.
    pub callback_auth: Option<(String, String)>,
    /// Delivery attempts before a callback is given up.
    pub callback_attempts: i64,
    /// Largest request body (OSDF documents 1 MB).
    pub body_limit: usize,
    /// Cloud regions from other families (the OSM family's enabled VIM accounts).
    pub clouds: Option<Arc<dyn netorch_core::placement::CloudInventory>>,
    /// The controller `instance_fit` / `region_fit` policies ask (`controller: SDN-C`).
    pub sdnc: Option<sdnc::Controller>,
    /// The MILP engine.
    pub solver: netorch_solver::Backend,
}

#[derive(Clone)]
pub(crate) struct OofState {
    deps: Deps,
    http: reqwest::Client,
}

impl OofState {
    fn new(deps: Deps) -> Self {
        // The builder fails only when the TLS back-end cannot initialise, and then so would
        // any client: the default keeps the type simple and callbacks fail (and retry) visibly.
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap_or_default();
        Self { deps, http }
    }
}

#[derive(OpenApi)]
#[openapi(
    components(schemas(error::OofErrorBody, error::ServiceException)),
    tags((name = "oof", description = "ONAP OOF/HAS placement: exact optimiser, asynchronous callbacks"))
)]
struct OofApi;

/// The routes of the family (with their state) and their OpenAPI document.
pub fn router(deps: Deps) -> (Router, utoipa::openapi::OpenApi) {
    let (router, api) = OpenApiRouter::with_openapi(OofApi::openapi())
        .routes(routes!(placement::place))
        .routes(routes!(placement::place_alias))
        .routes(routes!(placement::status))
        .routes(routes!(admin::healthcheck))
        .routes(routes!(admin::get_inventory, admin::put_inventory))
        .routes(routes!(admin::list_policies))
        .routes(routes!(admin::put_policy, admin::delete_policy))
        .split_for_parts();
    let router = router
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(OofState::new(deps));
    (router, api)
}

async fn method_not_allowed(method: Method) -> OofError {
    OofError::MethodNotAllowed(format!("Method {method} not supported for this URL"))
}

/// Scheduler jobs of the family.
pub fn job_handlers(deps: &Deps) -> Vec<(&'static str, Arc<dyn JobHandler>)> {
    let state = OofState::new(deps.clone());
    vec![
        (
            SOLVE_JOB,
            Arc::new(jobs::SolveJob(state.clone())) as Arc<dyn JobHandler>,
        ),
        (CALLBACK_JOB, Arc::new(jobs::CallbackJob(state))),
    ]
}
