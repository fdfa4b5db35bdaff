#![doc = include_str!("../README.md")]

mod json;
pub mod permissions;
mod projects;
mod roles;
mod tokens;
mod users;

use std::sync::Arc;

use axum::{Router, extract::FromRef, http::Method, routing::get};
use netorch_auth::IdentityService;
use netorch_http::osm::{BasicAuthPolicy, OsmError, Reply};
use serde_json::json;
use utoipa::OpenApi;
use utoipa_axum::{router::OpenApiRouter, routes};

/// What the admin API needs.
#[derive(Clone)]
pub struct Deps {
    /// Identity use-cases.
    pub identity: Arc<IdentityService>,
    /// Whether `Authorization: Basic` is accepted besides bearer tokens.
    pub allow_basic: bool,
}

#[derive(Clone)]
pub(crate) struct AdminState {
    pub identity: Arc<IdentityService>,
    pub basic: BasicAuthPolicy,
}

impl FromRef<AdminState> for Arc<IdentityService> {
    fn from_ref(s: &AdminState) -> Self {
        s.identity.clone()
    }
}

impl FromRef<AdminState> for BasicAuthPolicy {
    fn from_ref(s: &AdminState) -> Self {
        s.basic
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "netorch OSM NBI: admin", description = "OSM SOL005 NBI identity API (tokens, users, projects, roles)"),
    tags((name = "admin", description = "OSM NBI /osm/admin/v1")),
    modifiers(&BearerAuth)
)]
struct AdminApi;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearerAuth",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The admin routes (already carrying their state) and their OpenAPI document. Their documents
/// are JSON until `netorch_http::osm::RenderLayer` renders them: the server applies it once around all its
/// routes, since every layer applied to a router costs each of its requests a boxed service.
pub fn router(deps: Deps) -> (Router, utoipa::openapi::OpenApi) {
    let state = AdminState {
        identity: deps.identity,
        basic: BasicAuthPolicy(deps.allow_basic),
    };
    let (router, api) = OpenApiRouter::with_openapi(AdminApi::openapi())
        .routes(routes!(
            tokens::post_token,
            tokens::list_tokens,
            tokens::delete_current_token
        ))
        .routes(routes!(tokens::get_token, tokens::delete_token))
        .routes(routes!(users::list_users, users::create_user))
        .routes(routes!(
            users::get_user,
            users::put_user,
            users::patch_user,
            users::delete_user
        ))
        .routes(routes!(projects::list_projects, projects::create_project))
        .routes(routes!(
            projects::get_project,
            projects::put_project,
            projects::patch_project,
            projects::delete_project
        ))
        .routes(routes!(roles::list_roles, roles::create_role))
        .routes(routes!(
            roles::get_role,
            roles::put_role,
            roles::patch_role,
            roles::delete_role
        ))
        .routes(routes!(version))
        .routes(routes!(domains))
        .split_for_parts();
    let router = router
        .route("/osm", get(unknown_url))
        .route("/osm/{*rest}", axum::routing::any(unknown_url))
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state);
    (router, api)
}

/// The NBI's version (osmclient reads it first).
#[utoipa::path(get, path = "/osm/version", tag = "admin",
    responses((status = 200, description = "{version, date, server}")))]
async fn version() -> Reply {
    Reply::ok(json!({"version": env!("CARGO_PKG_VERSION"), "date": "netorch", "server": "netorch"}))
}

/// The user and project domains (always `default`: netorch has no Keystone domains).
#[utoipa::path(get, path = "/osm/admin/v1/domains", tag = "admin",
    responses((status = 200, description = "{user_domain_name, project_domain_name}")))]
async fn domains() -> Reply {
    Reply::ok(json!({"user_domain_name": "default", "project_domain_name": "default"}))
}

/// OSM answers unknown URLs under `/osm` with 405 and names the unexpected item.
async fn unknown_url(uri: axum::http::Uri) -> OsmError {
    let rest = uri
        .path()
        .trim_start_matches("/osm")
        .trim_start_matches('/');
    let mut parts = rest.split('/');
    let main = parts.next().unwrap_or_default();
    let detail = match (main, parts.next()) {
        ("", _) => "Missing URL main_topic".to_string(),
        (m, _) if !permissions::MAIN_TOPICS.contains(&m) => {
            format!("URL main_topic '{m}' not supported")
        }
        (_, Some("v1")) => match parts.next() {
            Some(item) if !item.is_empty() => format!("Unexpected URL item {item}"),
            _ => "Missing URL topic".to_string(),
        },
        (_, Some(v)) => format!("URL version '{v}' not supported"),
        (_, None) => "Missing URL version".to_string(),
    };
    OsmError::method_not_allowed(detail)
}

async fn method_not_allowed(method: Method) -> OsmError {
    OsmError::method_not_allowed(format!("Method {method} not supported for this URL"))
}
