//! The HTTP API over real sockets: an in-process server on port 0 with a real store (SQLite, or
//! PostgreSQL when NETORCH_TEST_DATABASE_URL is set).

mod admin;
mod bad_input;
mod dmi;
mod nslcm;
mod oof;
mod oof_inventory;
mod osm;
mod packages;
mod rejections;
mod slices;
mod system;
mod tmf;

use std::time::Duration;

use netorch::{App, Config};
use netorch_test_support::TestDb;
use reqwest::{Method, StatusCode, header::HeaderMap};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

/// A running server and a client for it.
pub struct TestApp {
    /// `http://127.0.0.1:<port>` (or https).
    pub base: String,
    /// A client accepting the self-signed certificate.
    pub client: reqwest::Client,
    /// The server's event bus.
    pub bus: netorch_events::InProcessBus,
    stop: CancellationToken,
    handle: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
    /// The database (and temporary data dir).
    pub db: TestDb,
    /// The configuration the server runs with.
    pub cfg: Config,
    /// The server's store.
    pub store: netorch_store::Store,
}

/// A strong password accepted by the default policy.
pub const PW: &str = "Secr3t!pass";

impl TestApp {
    /// A server with the default test configuration.
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    /// A server with a tweaked configuration.
    pub async fn start_with(tweak: impl FnOnce(&mut Config)) -> Self {
        Self::start_with_clock(tweak, std::sync::Arc::new(netorch_core::SystemClock)).await
    }

    /// A server with a tweaked configuration and an injected clock.
    pub async fn start_with_clock(
        tweak: impl FnOnce(&mut Config),
        clock: std::sync::Arc<dyn netorch_core::Clock>,
    ) -> Self {
        Self::start_on(TestDb::new().await.expect("db"), tweak, clock).await
    }

    /// A server on an existing database and data dir (a restart: stop one, start another on its `db`).
    pub async fn start_on(
        db: TestDb,
        tweak: impl FnOnce(&mut Config),
        clock: std::sync::Arc<dyn netorch_core::Clock>,
    ) -> Self {
        Self::start_at(db, tweak, clock, 0).await
    }

    /// As `start_on`, listening on a given port (0: any), so that a restart keeps its address.
    pub async fn start_at(
        db: TestDb,
        tweak: impl FnOnce(&mut Config),
        clock: std::sync::Arc<dyn netorch_core::Clock>,
        port: u16,
    ) -> Self {
        netorch::install_crypto();
        let mut cfg = Config {
            data_dir: db.dir.path().join("data"),
            ..Default::default()
        };
        cfg.database.url = Some(db.url.clone());
        cfg.auth.throttle_delay = Duration::ZERO;
        cfg.log.level = "warn".into();
        tweak(&mut cfg);
        let app = App::build_with_clock(&cfg, clock).await.expect("app");
        let bus = app.bus.clone();
        let store = app.store.clone();
        let served_cfg = cfg.clone();
        let listener = std::net::TcpListener::bind(("127.0.0.1", port)).expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let stop = CancellationToken::new();
        let s = stop.clone();
        let tls = cfg.server.tls.enabled;
        let handle = tokio::spawn(async move { app.serve(&cfg, listener, s).await });
        let scheme = if tls { "https" } else { "http" };
        let client = reqwest::Client::builder()
            .danger_accept_invalid_certs(true)
            .build()
            .expect("client");
        Self {
            base: format!("{scheme}://127.0.0.1:{port}"),
            client,
            bus,
            stop,
            handle: Some(handle),
            db,
            cfg: served_cfg,
            store,
        }
    }

    /// Graceful shutdown; fails the test if serving failed.
    pub async fn stop(self) {
        self.stop_keeping_db().await;
    }

    /// Graceful shutdown, handing back the database for a restart.
    pub async fn stop_keeping_db(mut self) -> TestDb {
        self.stop.cancel();
        if let Some(h) = self.handle.take() {
            h.await.expect("join").expect("serve");
        }
        self.store.close().await;
        self.db
    }

    /// Sends a JSON request (Accept: application/json) and returns status, headers and body.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, HeaderMap, Value) {
        let mut rb = self
            .client
            .request(method, format!("{}{}", self.base, path))
            .header("Accept", "application/json");
        if let Some(t) = token {
            rb = rb.bearer_auth(t);
        }
        if let Some(b) = body {
            rb = rb.json(&b);
        }
        let resp = rb.send().await.expect("send");
        let status = resp.status();
        let headers = resp.headers().clone();
        let text = resp.text().await.expect("body");
        let value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        (status, headers, value)
    }

    /// The served OpenAPI document (`/api-spec.json`, no credentials).
    pub async fn openapi(&self) -> Value {
        self.client
            .get(format!("{}/api-spec.json", self.base))
            .send()
            .await
            .expect("send")
            .json()
            .await
            .expect("json")
    }

    /// GET with a token.
    pub async fn get(&self, path: &str, token: &str) -> (StatusCode, Value) {
        let (s, _, v) = self.call(Method::GET, path, Some(token), None).await;
        (s, v)
    }

    /// POST JSON with a token.
    pub async fn post(&self, path: &str, token: &str, body: Value) -> (StatusCode, Value) {
        let (s, _, v) = self.call(Method::POST, path, Some(token), Some(body)).await;
        (s, v)
    }

    /// Issues a token; panics unless 200.
    pub async fn token(&self, user: &str, password: &str, project: Option<&str>) -> String {
        let mut body = json!({"username": user, "password": password});
        if let Some(p) = project {
            body["project_id"] = json!(p);
        }
        let (s, _, v) = self
            .call(Method::POST, "/osm/admin/v1/tokens", None, Some(body))
            .await;
        assert_eq!(s, StatusCode::OK, "token for {user}: {v}");
        v["id"].as_str().expect("id").to_string()
    }

    /// A token of the bootstrap admin.
    pub async fn admin_token(&self) -> String {
        self.token("admin", "admin", None).await
    }

    /// Creates a project; returns its id.
    pub async fn project(&self, admin: &str, name: &str) -> String {
        let (s, v) = self
            .post("/osm/admin/v1/projects", admin, json!({"name": name}))
            .await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
        v["id"].as_str().expect("id").to_string()
    }

    /// Creates a user with one (project, role) mapping; returns its id.
    pub async fn user(&self, admin: &str, name: &str, project: &str, role: &str) -> String {
        let (s, v) = self
            .post(
                "/osm/admin/v1/users",
                admin,
                json!({"username": name, "password": PW, "project_role_mappings": [{"project": project, "role": role}]}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
        v["id"].as_str().expect("id").to_string()
    }
}

/// Asserts an OSM error body.
pub fn assert_osm_error(status: StatusCode, body: &Value, want: StatusCode) {
    assert_eq!(status, want, "{body}");
    assert_eq!(body["status"], json!(want.as_u16()), "{body}");
    assert!(body["code"].is_string(), "{body}");
    assert!(body["detail"].is_string(), "{body}");
}
