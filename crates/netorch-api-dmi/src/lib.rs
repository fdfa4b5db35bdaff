#![doc = include_str!("../README.md")]

pub mod access;
mod auth;
pub mod error;
mod inventory;
pub mod jobs;
mod ncmp;
pub mod options;
mod seed;

use std::{sync::Arc, time::Duration};

use axum::{Router, http::Method};
use netorch_auth::{IdentityService, secrets::SecretBox};
use netorch_core::{
    Clock, events::OutboxRepository, jobs::JobRepository, tenancy::RecordRepository,
};
use netorch_netconf::{ModelCache, Pool};
use netorch_scheduler::JobHandler;
use utoipa::OpenApi;
use utoipa_axum::{router::OpenApiRouter, routes};

pub use auth::PERMISSIONS;
pub use error::{Failure, NcmpError, SeedError};
pub use jobs::{BULK_JOB, DATA_OPERATION_JOB, MODULE_SYNC_JOB, NCMP_REGISTER_JOB};

/// The collection of CM handles.
pub const HANDLES: &str = "dmi_cm_handles";
/// Topic of CM-handle LCM events (NCMP's `ncmp-events`).
pub const LCM_TOPIC: &str = "ncmp-events";

/// Request extractors whose rejections answer in each API's error shape.
pub(crate) mod ex {
    /// NCMP's `{status, message, details}`.
    pub(crate) mod ncmp {
        netorch_http::family_extractors!(crate::error::NcmpError);
    }
    /// The seed's `{"error": {...}}`.
    pub(crate) mod seed {
        netorch_http::family_extractors!(crate::error::SeedError);
    }
}

/// Settings of the family (`[dmi]`).
#[derive(Debug, Clone)]
pub struct DmiConfig {
    /// How NCMP reaches this plugin (`dmiPlugin` in registrations, `source` of events).
    pub plugin_id: String,
    /// Topic of asynchronous results (NCMP's `ncmp-async-m2m`).
    pub async_topic: String,
    /// Default topic of the data-source refresh (the seed's `NCMP_INVENTORY`).
    pub inventory_topic: String,
    /// Time limit of one asynchronous operation on a device.
    pub async_timeout: Duration,
    /// Most handles in one registration or bulk request.
    pub max_batch: usize,
    /// Module sets synced at once.
    pub sync_concurrency: usize,
    /// Device reads of a bulk request at once.
    pub bulk_concurrency: usize,
    /// First wait before a LOCKED handle's sync is retried (doubling).
    pub sync_retry: Duration,
    /// Longest wait between sync retries.
    pub sync_retry_max: Duration,
    /// NCMP to register handles with (`POST {it}/ncmpInventory/v1/ch`); none = no registration.
    pub ncmp_url: Option<String>,
    /// HTTP Basic credentials for NCMP.
    pub ncmp_credentials: Option<(String, String)>,
    /// Handles per registration request (NCMP's k6 suite uses 2,000; keep under 1 MB).
    pub ncmp_batch: usize,
}

impl Default for DmiConfig {
    fn default() -> Self {
        Self {
            plugin_id: "http://localhost:8080".into(),
            async_topic: "ncmp-async-m2m".into(),
            inventory_topic: "NCMP_INVENTORY".into(),
            async_timeout: Duration::from_secs(30),
            max_batch: 5000,
            sync_concurrency: 8,
            bulk_concurrency: 32,
            sync_retry: Duration::from_secs(5),
            sync_retry_max: Duration::from_secs(300),
            ncmp_url: None,
            ncmp_credentials: None,
            ncmp_batch: 2000,
        }
    }
}

/// What the DMI family needs.
#[derive(Clone)]
pub struct Deps {
    /// Identity (HTTP Basic or bearer).
    pub identity: Arc<IdentityService>,
    /// CM handles are records.
    pub records: Arc<dyn RecordRepository>,
    /// Seals device credentials.
    pub secrets: SecretBox,
    /// Time.
    pub clock: Arc<dyn Clock>,
    /// Events with no record change (async results, inventory events).
    pub outbox: Arc<dyn OutboxRepository>,
    /// Durable jobs.
    pub jobs: Arc<dyn JobRepository>,
    /// Wakes the scheduler after an enqueue.
    pub job_waker: Arc<tokio::sync::Notify>,
    /// NETCONF sessions.
    pub pool: Arc<Pool>,
    /// Compiled YANG model sets.
    pub models: Arc<ModelCache>,
    /// Settings.
    pub config: DmiConfig,
}

#[derive(Clone)]
pub(crate) struct DmiState {
    deps: Deps,
}

#[derive(OpenApi)]
#[openapi(
    components(schemas(error::NcmpErrorBody, error::SeedErrorBody)),
    tags((name = "dmi", description = "ONAP CPS NCMP DMI plugin: the contract NCMP calls (modules, module resources, data pass-through, bulk)"),
         (name = "dmi-inventory", description = "CM-handle inventory: devices behind the plugin, their state (ADVISED, READY, LOCKED)"),
         (name = "dmi-seed", description = "The seed's resource-style API (CPS-391): data by RESTCONF path, RPCs, model, sync, data sources"))
)]
struct DmiApi;

/// The routes of the family (with their state) and their OpenAPI document.
pub fn router(deps: Deps) -> (Router, utoipa::openapi::OpenApi) {
    let (ncmp, mut api) = OpenApiRouter::with_openapi(DmiApi::openapi())
        .routes(routes!(ncmp::health))
        .routes(routes!(inventory::register, inventory::list))
        .routes(routes!(inventory::show, inventory::remove))
        .routes(routes!(ncmp::modules))
        .routes(routes!(ncmp::module_resources))
        .routes(routes!(ncmp::passthrough))
        .routes(routes!(ncmp::bulk))
        .routes(routes!(ncmp::read_job))
        .routes(routes!(ncmp::write_job))
        .split_for_parts();
    let (seed, seed_api) = OpenApiRouter::new()
        .routes(routes!(
            seed::read,
            seed::put,
            seed::create,
            seed::patch,
            seed::delete
        ))
        .routes(routes!(seed::read_root))
        .routes(routes!(seed::operation))
        .routes(routes!(seed::model, seed::model_put))
        .routes(routes!(seed::sync))
        .routes(routes!(seed::sources))
        .routes(routes!(seed::source))
        .split_for_parts();
    api.merge(seed_api);
    // axum spells a catch-all `{*resource}`; OpenAPI knows only `{resource}`.
    api.paths.paths = std::mem::take(&mut api.paths.paths)
        .into_iter()
        .map(|(path, item)| (path.replace("{*", "{"), item))
        .collect();
    let state = DmiState { deps };
    let router = ncmp
        .method_not_allowed_fallback(ncmp_method_not_allowed)
        .merge(seed.method_not_allowed_fallback(seed_method_not_allowed))
        .with_state(state);
    (router, api)
}

async fn ncmp_method_not_allowed(method: Method) -> NcmpError {
    let mut f = Failure::bad_request(format!("method {method} is not supported on this path"));
    f.status = axum::http::StatusCode::METHOD_NOT_ALLOWED;
    f.into()
}

async fn seed_method_not_allowed(method: Method) -> SeedError {
    let mut f = Failure::bad_request(format!("method {method} is not supported on this path"));
    f.status = axum::http::StatusCode::METHOD_NOT_ALLOWED;
    f.error_tag = "operation-not-supported".into();
    f.into()
}

/// Scheduler jobs of the family.
pub fn job_handlers(deps: &Deps) -> Vec<(&'static str, Arc<dyn JobHandler>)> {
    let state = DmiState { deps: deps.clone() };
    vec![
        (
            MODULE_SYNC_JOB,
            Arc::new(jobs::ModuleSync {
                state: state.clone(),
                running: Arc::default(),
            }) as Arc<dyn JobHandler>,
        ),
        (
            DATA_OPERATION_JOB,
            Arc::new(jobs::DataOperation {
                state: state.clone(),
            }),
        ),
        (
            BULK_JOB,
            Arc::new(jobs::Bulk {
                state: state.clone(),
            }),
        ),
        (NCMP_REGISTER_JOB, Arc::new(jobs::NcmpRegister::new(state))),
    ]
}
