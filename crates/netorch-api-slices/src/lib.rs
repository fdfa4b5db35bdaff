#![doc = include_str!("../README.md")]

pub mod auth;
mod connectivity;
pub mod error;
pub mod json;
pub mod service;
pub mod topology;

use std::{sync::Arc, time::Duration};

use async_trait::async_trait;
use axum::{
    Json, Router,
    http::{HeaderMap, HeaderValue, Method, StatusCode, header},
    response::{IntoResponse, Response},
};
use netorch_auth::{
    IdentityService,
    jwt::{KeyRing, TokenVerifier},
};
use netorch_core::{
    Clock,
    connectivity::{ConnectivityRepository, Reservation},
};
use netorch_scheduler::{JobContext, JobError, JobHandler};
use serde_json::{Value, json};
use utoipa::OpenApi;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    auth::{ClaimPaths, Experiment},
    error::{Detail, ErrorBody, SlicesError},
    json::{ConnectivityClaims, ReservationBody, format_date},
    service::Service,
};

netorch_http::family_extractors!(SlicesError);

/// Periodic job archiving reservations whose end passed.
pub const EXPIRE_JOB: &str = "slices.reservations.expire";
/// Periodic job rotating the response-signing key when due.
pub const ROTATE_JOB: &str = "slices.keys.rotate";
/// Key-ring purpose of the response-signing keys.
pub const RESPONSE_KEYS: &str = "slices.response";
/// Key-ring purpose of the development issuer's keys.
pub const LOCAL_ISSUER_KEYS: &str = "slices.local-issuer";

/// What the SLICES family needs.
#[derive(Clone)]
pub struct Deps {
    /// Topology and reservations.
    pub repo: Arc<dyn ConnectivityRepository>,
    /// netorch identity (administrators edit the topology).
    pub identity: Arc<IdentityService>,
    /// Verifies SLICES user and experiment tokens.
    pub verifier: Arc<TokenVerifier>,
    /// Signs `application/jwt` responses; published at `/.well-known/jwks.json`.
    pub response_keys: Arc<KeyRing>,
    /// Time.
    pub clock: Arc<dyn Clock>,
    /// Validation rules.
    pub rules: service::Rules,
    /// Claim paths in experiment tokens.
    pub claims: ClaimPaths,
    /// The service's public URL: `iss` of signed responses; its host names reservation ids.
    pub public_url: String,
    /// Lifetime of signed responses.
    pub response_token_ttl: Duration,
    /// Largest request body.
    pub body_limit: usize,
}

/// Handler state.
#[derive(Clone)]
pub struct SlicesState {
    deps: Deps,
    service: Service,
}

/// The host part of a URL (`https://h:8443/x` → `h`), used in reservation ids.
pub fn url_host(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split('/').next().unwrap_or(rest);
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = if host.starts_with('[') {
        host.split(']')
            .next()
            .unwrap_or(host)
            .trim_start_matches('[')
    } else {
        host.split(':').next().unwrap_or(host)
    };
    if host.is_empty() {
        "localhost".into()
    } else {
        host.to_string()
    }
}

#[derive(OpenApi)]
#[openapi(
    components(schemas(ReservationBody, json::ReservationRequestBody, ErrorBody, Detail)),
    tags(
        (name = "slices-connectivity", description = "SLICES connectivity reservations: VLANs and bandwidth between sites over time"),
        (name = "slices-topology", description = "Sites, links, capacities and VLAN pools (changes need a netorch administrator)")
    )
)]
struct SlicesApi;

/// The routes of the family (with their state) and their OpenAPI document.
pub fn router(deps: Deps) -> (Router, utoipa::openapi::OpenApi) {
    let service = Service {
        repo: deps.repo.clone(),
        clock: deps.clock.clone(),
        rules: deps.rules.clone(),
        id_host: url_host(&deps.public_url),
    };
    let state = SlicesState { deps, service };
    let (router, api) = OpenApiRouter::with_openapi(SlicesApi::openapi())
        .routes(routes!(
            connectivity::list_connectivity,
            connectivity::create_connectivity
        ))
        .routes(routes!(
            connectivity::get_connectivity,
            connectivity::update_connectivity,
            connectivity::delete_connectivity
        ))
        .routes(routes!(connectivity::availability))
        .routes(routes!(connectivity::jwks))
        .routes(routes!(topology::list_sites))
        .routes(routes!(topology::put_site, topology::delete_site))
        .routes(routes!(topology::list_links))
        .routes(routes!(topology::put_link, topology::delete_link))
        .split_for_parts();
    let router = router
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state);
    (router, api)
}

async fn method_not_allowed(method: Method) -> SlicesError {
    SlicesError::MethodNotAllowed(format!("Method {method} not allowed on this URL"))
}

/// Scheduler jobs of the family.
pub fn job_handlers(deps: &Deps) -> Vec<(&'static str, Arc<dyn JobHandler>)> {
    vec![
        (
            EXPIRE_JOB,
            Arc::new(ExpireJob {
                repo: deps.repo.clone(),
                clock: deps.clock.clone(),
            }) as Arc<dyn JobHandler>,
        ),
        (
            ROTATE_JOB,
            Arc::new(RotateJob {
                keys: deps.response_keys.clone(),
            }),
        ),
    ]
}

struct ExpireJob {
    repo: Arc<dyn ConnectivityRepository>,
    clock: Arc<dyn Clock>,
}

#[async_trait]
impl JobHandler for ExpireJob {
    async fn run(&self, ctx: JobContext) -> Result<Value, JobError> {
        let mut total = 0;
        loop {
            let batch = self
                .repo
                .expire(self.clock.now(), 500)
                .await
                .map_err(|e| JobError::Retry(e.to_string()))?;
            total += batch.len();
            for r in &batch {
                tracing::info!(id = %r.id, experiment = %r.experiment_id, "reservation expired");
            }
            if batch.len() < 500 || ctx.shutdown.is_cancelled() {
                break;
            }
        }
        Ok(json!({ "expired": total }))
    }
}

struct RotateJob {
    keys: Arc<KeyRing>,
}

#[async_trait]
impl JobHandler for RotateJob {
    async fn run(&self, _ctx: JobContext) -> Result<Value, JobError> {
        let kid = self
            .keys
            .rotate_if_due()
            .await
            .map_err(|e| JobError::Retry(e.to_string()))?;
        Ok(json!({ "rotated": kid }))
    }
}

fn wants_jwt(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| {
            v.split(',')
                .any(|m| m.trim().starts_with("application/jwt"))
        })
}

impl SlicesState {
    async fn experiment(&self, headers: &HeaderMap) -> Result<Experiment, SlicesError> {
        auth::experiment(headers, &self.deps.verifier, &self.deps.claims).await
    }

    async fn writer(&self, headers: &HeaderMap, action: &str) -> Result<Experiment, SlicesError> {
        let exp = self.experiment(headers).await?;
        if !exp.role.may_write() {
            return Err(SlicesError::Forbidden(format!(
                "your role in experiment {} is VIEWER: it may read reservations; to {action} one you need LEAD or ADMIN",
                exp.id
            )));
        }
        let now = self.deps.clock.now();
        if exp.expires_at <= now {
            return Err(SlicesError::Forbidden(format!(
                "experiment {} expired at {}; reservations can no longer change",
                exp.id,
                format_date(exp.expires_at)
            )));
        }
        Ok(exp)
    }

    /// The reservation as JSON, or as a signed JWT when the client asked for `application/jwt`.
    async fn render(
        &self,
        headers: &HeaderMap,
        status: StatusCode,
        r: &Reservation,
    ) -> Result<Response, SlicesError> {
        let body = ReservationBody::from(r);
        let mut resp = if wants_jwt(headers) {
            let iat = self.deps.clock.now() / 1_000_000;
            let claims = ConnectivityClaims {
                iss: &self.deps.public_url,
                connectivity: &body,
                exp: iat + self.deps.response_token_ttl.as_secs() as i64,
                iat,
                sub: &r.id,
            };
            // Signed from the struct, not a JSON map, so that claims keep the documented order.
            let token = self
                .deps
                .response_keys
                .sign(&claims)
                .await
                .map_err(|e| SlicesError::Internal(e.to_string()))?;
            (status, [(header::CONTENT_TYPE, "application/jwt")], token).into_response()
        } else {
            (status, Json(body)).into_response()
        };
        if let Ok(v) = HeaderValue::from_str(r.state.as_str()) {
            resp.headers_mut().insert("x-reservation-state", v);
        }
        Ok(resp)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reservation_ids_use_the_host_of_the_public_url() {
        assert_eq!(
            url_host("https://slices-cs.apps.dcw1.paas.psnc.pl"),
            "slices-cs.apps.dcw1.paas.psnc.pl"
        );
        assert_eq!(url_host("http://127.0.0.1:8080/x"), "127.0.0.1");
        assert_eq!(url_host("http://[::1]:80"), "::1");
        let id = service::new_reservation_id("h.example");
        assert!(id.starts_with("con_h.example_"));
        assert_eq!(id.len(), "con_h.example_".len() + 26);
    }
}
