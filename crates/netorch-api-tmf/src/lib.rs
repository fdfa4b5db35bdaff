#![doc = include_str!("../README.md")]

mod auth;
mod catalog;
pub mod characteristics;
mod descriptors;
mod entities;
pub mod error;
mod hub;
mod oauth;
mod party;
pub mod peer;
pub mod peering;
pub mod query;
mod transfer;

use std::sync::Arc;

use axum::{Router, http::Method};
use netorch_auth::{IdentityService, secrets::SecretBox};
use netorch_core::{
    Clock, Micros, events::OutboxRepository, jobs::JobRepository, tenancy::RecordRepository,
};
use netorch_scheduler::JobHandler;
use utoipa::OpenApi;
use utoipa_axum::{router::OpenApiRouter, routes};

pub use catalog::EVENT_TOPIC as CATALOG_EVENT_TOPIC;
pub use descriptors::SYNC_JOB as DESCRIPTOR_SYNC_JOB;
pub use error::TmfError;
pub use hub::NOTIFY_JOB as HUB_NOTIFY_JOB;
pub use oauth::OAuthError;
pub use party::EVENT_TOPIC as PARTY_EVENT_TOPIC;

netorch_http::family_extractors!(TmfError);

/// What the TMF family needs.
#[derive(Clone)]
pub struct Deps {
    /// Identity: bearer tokens, administrators, the OAuth2 token endpoint.
    pub identity: Arc<IdentityService>,
    /// Parties (and, later, catalog entities) are stored as records.
    pub records: Arc<dyn RecordRepository>,
    /// Seals the peering secrets among party characteristics.
    pub secrets: SecretBox,
    /// Time.
    pub clock: Arc<dyn Clock>,
    /// Answer creations and deletions with 200, as OpenSlice does (`tmf.openslice_compat`).
    pub openslice_compat: bool,
    /// Serve catalog reads without a token, as OpenSlice (`tmf.anonymous_catalog_reads`).
    pub anonymous_catalog_reads: bool,
    /// Events that go with no record change (peering failures).
    pub outbox: Arc<dyn OutboxRepository>,
    /// Calls to peer OSSs.
    pub peer: peer::PeerClient,
    /// Durable jobs (hub deliveries).
    pub jobs: Arc<dyn JobRepository>,
    /// Wakes the scheduler after an enqueue.
    pub job_waker: Arc<tokio::sync::Notify>,
    /// This server's public base URL (`tmf.public_url`): peers notify `<it>/tmf-api/...`.
    pub public_url: Option<String>,
    /// Onboarded NSDs and NSTs, offered as service specifications.
    pub descriptors: Option<Arc<dyn netorch_core::descriptors::DescriptorSource>>,
}

#[derive(Clone)]
pub(crate) struct TmfState {
    deps: Deps,
}

#[derive(OpenApi)]
#[openapi(
    components(schemas(error::ErrorBody, oauth::OAuthErrorBody)),
    tags((name = "tmf632", description = "TMF632 Party Management v4 (OpenSlice dialect)"),
         (name = "tmf633", description = "TMF633 Service Catalog Management v4 (OpenSlice dialect out, both dialects in)"),
         (name = "peering", description = "HypO peering API: import a peer OSS's service specifications, heartbeat"),
         (name = "oauth2", description = "OAuth2 token endpoint over netorch identity"))
)]
struct TmfApi;

/// The routes of the family (with their state) and their OpenAPI document.
pub fn router(deps: Deps) -> (Router, utoipa::openapi::OpenApi) {
    let (router, api) = OpenApiRouter::with_openapi(TmfApi::openapi())
        .routes(routes!(
            party::organization::list,
            party::organization::create
        ))
        .routes(routes!(
            party::organization::show,
            party::organization::patch,
            party::organization::delete
        ))
        .routes(routes!(party::individual::list, party::individual::create))
        .routes(routes!(
            party::individual::show,
            party::individual::patch,
            party::individual::delete
        ))
        .routes(routes!(
            catalog::service_catalog::list,
            catalog::service_catalog::create
        ))
        .routes(routes!(
            catalog::service_catalog::show,
            catalog::service_catalog::patch,
            catalog::service_catalog::delete
        ))
        .routes(routes!(
            catalog::service_category::list,
            catalog::service_category::create
        ))
        .routes(routes!(
            catalog::service_category::show,
            catalog::service_category::patch,
            catalog::service_category::delete
        ))
        .routes(routes!(
            catalog::service_candidate::list,
            catalog::service_candidate::create
        ))
        .routes(routes!(
            catalog::service_candidate::show,
            catalog::service_candidate::patch,
            catalog::service_candidate::delete
        ))
        .routes(routes!(
            catalog::service_specification::list,
            catalog::service_specification::create
        ))
        .routes(routes!(
            catalog::service_specification::show,
            catalog::service_specification::patch,
            catalog::service_specification::delete
        ))
        .routes(routes!(transfer::list_exports, transfer::create_export))
        .routes(routes!(transfer::show_export, transfer::delete_export))
        .routes(routes!(transfer::export_content))
        .routes(routes!(transfer::list_imports, transfer::create_import))
        .routes(routes!(transfer::show_import, transfer::delete_import))
        .routes(routes!(hub::subscribe, hub::list))
        .routes(routes!(hub::unsubscribe))
        .routes(routes!(hub::subscribe_party))
        .routes(routes!(hub::unsubscribe_party))
        .routes(routes!(hub::listener))
        .routes(routes!(peering::list, peering::fetch))
        .routes(routes!(peering::add))
        .routes(routes!(peering::show, peering::update, peering::remove))
        .split_for_parts();
    // The token endpoint answers in RFC 6749's shape, a wrong method included.
    let (oauth, oauth_api) = OpenApiRouter::new()
        .routes(routes!(oauth::token))
        .split_for_parts();
    let mut api = api;
    api.merge(oauth_api);
    let state = TmfState { deps };
    let router = router
        .method_not_allowed_fallback(method_not_allowed)
        .merge(oauth.method_not_allowed_fallback(oauth::method_not_allowed))
        .with_state(state);
    (router, api)
}

/// Scheduler jobs of the family (the peering heartbeat).
pub fn job_handlers(deps: &Deps) -> Vec<(&'static str, Arc<dyn JobHandler>)> {
    let state = TmfState { deps: deps.clone() };
    let mut jobs: Vec<(&'static str, Arc<dyn JobHandler>)> = Vec::new();
    if let Some(source) = &deps.descriptors {
        jobs.push((
            descriptors::SYNC_JOB,
            Arc::new(descriptors::Sync {
                state: state.clone(),
                source: source.clone(),
                seen: Arc::default(),
            }),
        ));
    }
    jobs.extend([
        (
            peering::HEARTBEAT_JOB,
            Arc::new(peering::Heartbeat {
                state: state.clone(),
            }) as Arc<dyn JobHandler>,
        ),
        (
            hub::NOTIFY_JOB,
            Arc::new(hub::Notify {
                state,
                seen: Arc::default(),
            }),
        ),
        (hub::DELIVER_JOB, Arc::new(hub::Deliver::new())),
        (
            transfer::EXPORT_JOB,
            Arc::new(transfer::Transfer {
                state: TmfState { deps: deps.clone() },
                export: true,
            }),
        ),
        (
            transfer::IMPORT_JOB,
            Arc::new(transfer::Transfer {
                state: TmfState { deps: deps.clone() },
                export: false,
            }),
        ),
    ]);
    jobs
}

async fn method_not_allowed(method: Method) -> TmfError {
    TmfError::MethodNotAllowed(format!("method {method} is not supported for this URL"))
}

/// RFC 3339 UTC time of a timestamp, as TMF events and dates carry it.
pub fn rfc3339(t: Micros) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(t) * 1000)
        .ok()
        .and_then(|d| {
            d.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}
