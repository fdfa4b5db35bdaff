//! An in-process harness for one family's router: a migrated store, an identity service with the
//! bootstrap administrator (`admin` / `admin`), a manual clock, and requests sent with
//! `tower::ServiceExt::oneshot`, no socket. The end-to-end HTTP tests of the binary stay beside
//! these; this is for tests that belong next to a family's code.

use std::{sync::Arc, time::Duration};

use axum::{
    Router,
    body::{Body, Bytes},
    http::{HeaderMap, Request, StatusCode},
};
use netorch_auth::{AuthConfig, IdentityService, PermissionCatalog, service::TokenRequest};
use netorch_store::Store;
use serde_json::Value;
use tower::ServiceExt as _;

use crate::{ManualClock, TestDb};

/// A family's dependencies for in-process tests.
pub struct TestApp {
    /// The database (and temporary directory for files).
    pub db: TestDb,
    /// The migrated store.
    pub store: Store,
    /// Time, moved by the test.
    pub clock: Arc<ManualClock>,
    /// Identity with the bootstrap administrator.
    pub identity: Arc<IdentityService>,
}

/// 2026-01-01T00:00:00Z, where every harness clock starts.
pub const START: netorch_core::Micros = 1_767_225_600_000_000;

impl TestApp {
    /// A fresh store and identity whose roles know `catalog`'s permissions.
    pub async fn new(catalog: PermissionCatalog) -> anyhow::Result<Self> {
        // Families build HTTP clients (callbacks, controllers) that need a TLS provider, as the
        // binary installs at start-up.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let db = TestDb::new().await?;
        let store = db.store().await?;
        let clock = ManualClock::at(START);
        let identity = Arc::new(IdentityService::new(
            Arc::new(store.clone()),
            clock.clone(),
            AuthConfig {
                throttle_delay: Duration::ZERO,
                ..AuthConfig::default()
            },
            Arc::new(catalog),
        ));
        identity
            .bootstrap("admin")
            .await
            .map_err(|e| anyhow::anyhow!("bootstrap: {e}"))?;
        Ok(Self {
            db,
            store,
            clock,
            identity,
        })
    }

    /// A token of the bootstrap administrator.
    pub async fn admin_token(&self) -> anyhow::Result<String> {
        let (id, _) = self
            .identity
            .issue_token(
                TokenRequest {
                    username: Some("admin".into()),
                    password: Some("admin".into()),
                    project_id: None,
                },
                None,
                ("127.0.0.1".into(), 0),
            )
            .await
            .map_err(|e| anyhow::anyhow!("token: {e}"))?;
        Ok(id)
    }
}

/// What a router answered.
#[derive(Debug)]
pub struct Answer {
    /// Status.
    pub status: StatusCode,
    /// Headers.
    pub headers: HeaderMap,
    /// Body bytes.
    pub body: Bytes,
}

impl Answer {
    /// The body as JSON (`Null` when empty or not JSON).
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    /// The `Content-Type` header.
    pub fn content_type(&self) -> &str {
        self.headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }
}

/// Sends one request through `router` in-process.
pub async fn call(router: &Router, req: Request<Body>) -> Answer {
    let resp = router
        .clone()
        .oneshot(req)
        .await
        .unwrap_or_else(|e| match e {});
    let status = resp.status();
    let headers = resp.headers().clone();
    let body = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .unwrap_or_default();
    Answer {
        status,
        headers,
        body,
    }
}

/// A request with headers and a body.
pub fn request(
    method: &str,
    uri: &str,
    headers: &[(&str, &str)],
    body: impl Into<Body>,
) -> Request<Body> {
    let mut b = Request::builder().method(method).uri(uri);
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    b.body(body.into())
        .unwrap_or_else(|e| panic!("request {method} {uri}: {e}"))
}
