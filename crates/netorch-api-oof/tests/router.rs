//! The family's router in-process (no socket): authentication, refusals in OSDF's shape, a store
//! outage, and a synchronous placement end to end.

use std::sync::Arc;

use axum::Router;
use base64::Engine as _;
use netorch_api_oof::{Deps, PERMISSIONS, router};
use netorch_auth::PermissionCatalog;
use netorch_test_support::{TestApp, call, request};
use serde_json::{Value, json};

async fn app() -> (TestApp, Router) {
    let t = TestApp::new(PermissionCatalog::new(PERMISSIONS.iter()))
        .await
        .expect("harness");
    let deps = Deps {
        identity: t.identity.clone(),
        records: Arc::new(t.store.clone()),
        jobs: Arc::new(t.store.clone()),
        job_waker: Arc::new(tokio::sync::Notify::new()),
        clock: t.clock.clone(),
        callback_auth: None,
        callback_attempts: 3,
        body_limit: 1024 * 1024,
        clouds: None,
        sdnc: None,
        solver: netorch_solver::Backend::default(),
    };
    let (r, _) = router(deps);
    (t, r)
}

fn basic(user: &str, password: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    )
}

#[tokio::test]
async fn the_healthcheck_answers_ok_without_credentials() {
    let (_t, r) = app().await;
    let a = call(&r, request("GET", "/api/oof/v1/healthcheck", &[], "")).await;
    assert_eq!(a.status, 200);
    assert_eq!(&a.body[..], b"OK");
}

#[tokio::test]
async fn credentials_are_checked_in_osdfs_words() {
    let (_t, r) = app().await;
    let a = call(&r, request("POST", "/api/oof/v1/placement", &[], "{}")).await;
    assert_eq!(a.status, 400);
    assert!(
        a.json()["serviceException"]["text"]
            .as_str()
            .is_some_and(|t| t.starts_with("Missing Authorization header")),
        "{:?}",
        a.json()
    );
    let auth = basic("admin", "wrong");
    let a = call(
        &r,
        request(
            "POST",
            "/api/oof/v1/placement",
            &[("authorization", &auth)],
            "{}",
        ),
    )
    .await;
    assert_eq!(a.status, 401);
    assert_eq!(
        a.json(),
        json!({"serviceException": {"text": "Unauthorized, check username and password"}})
    );
}

#[tokio::test]
async fn a_schema_error_names_the_field_and_a_bad_path_is_refused_in_the_same_shape() {
    let (_t, r) = app().await;
    let auth = basic("admin", "admin");
    let a = call(
        &r,
        request(
            "POST",
            "/api/oof/v1/placement",
            &[("authorization", &auth)],
            r#"{"requestInfo": {"requestId": 7}}"#,
        ),
    )
    .await;
    assert_eq!(a.status, 400);
    let e = &a.json()["serviceException"];
    assert_eq!(e["errorType"], "InvalidClientRequest");
    assert!(
        e["exceptionMessage"]
            .as_str()
            .is_some_and(|m| m.contains("requestInfo")),
        "{e}"
    );
    let a = call(
        &r,
        request(
            "GET",
            "/api/oof/v1/placement/%FF",
            &[("authorization", &auth)],
            "",
        ),
    )
    .await;
    assert_eq!(a.status, 400);
    assert_eq!(a.content_type(), "application/json");
    assert!(a.json()["serviceException"]["text"].is_string());
    let a = call(&r, request("DELETE", "/api/oof/v1/placement", &[], "")).await;
    assert_eq!(a.status, 405);
    assert!(a.json()["serviceException"]["text"].is_string());
}

#[tokio::test]
async fn a_store_outage_is_a_503_not_a_refusal_of_the_credentials() {
    let (t, r) = app().await;
    t.store.close().await;
    let auth = basic("admin", "admin");
    let a = call(
        &r,
        request(
            "GET",
            "/api/oof/v1/policies",
            &[("authorization", &auth)],
            "",
        ),
    )
    .await;
    assert_eq!(a.status, 503, "{:?}", a.json());
    let text = a.json()["serviceException"]["text"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        !text.to_lowercase().contains("pool"),
        "store text leaked: {text}"
    );
}

#[tokio::test]
async fn a_synchronous_placement_is_solved_in_process() {
    let (t, r) = app().await;
    let deps_inventory: Value = json!({"cloud-region": [
        {"cloud-owner": "o", "cloud-region-id": "near", "complex": {"latitude": "32.9", "longitude": "-97.0"}},
        {"cloud-owner": "o", "cloud-region-id": "far", "complex": {"latitude": "37.7", "longitude": "-122.4"}}
    ]});
    let token = t.admin_token().await.expect("token");
    let bearer = format!("Bearer {token}");
    let put = |path: &'static str, body: Value| {
        request(
            "PUT",
            path,
            &[
                ("authorization", &bearer),
                ("content-type", "application/json"),
            ],
            body.to_string(),
        )
    };
    assert_eq!(
        call(&r, put("/api/oof/v1/inventory", deps_inventory))
            .await
            .status,
        200
    );
    let policies = [
        (
            "q",
            json!({"type": "onap.policies.optimization.service.QueryPolicy", "version": "1.0.0",
            "properties": {"services": ["svc"], "queryProperties": [
                {"attribute": "customerLatitude", "attribute_location": "customerLatitude"},
                {"attribute": "customerLongitude", "attribute_location": "customerLongitude"}]}}),
        ),
        (
            "o",
            json!({"type": "onap.policies.optimization.resource.OptimizationPolicy", "version": "1.0.0",
            "properties": {"services": ["svc"], "resources": ["vfw"], "objective": "minimize",
                "objectiveParameter": {"operator": "sum", "parameterAttributes": [
                    {"resources": ["vfw"], "parameter": "distance", "weight": "1", "operator": "product", "customerLocationInfo": "customer_loc"}]}}}),
        ),
    ];
    for (id, p) in policies {
        let path: &'static str = if id == "q" {
            "/api/oof/v1/policies/q"
        } else {
            "/api/oof/v1/policies/o"
        };
        assert_eq!(call(&r, put(path, p)).await.status, 200);
    }
    let body = json!({
        "requestInfo": {"transactionId": "t", "requestId": "r1", "callbackUrl": "http://127.0.0.1:1/cb",
            "sourceId": "so", "requestType": "create", "numSolutions": 1, "optimizers": ["placement"], "timeout": 60},
        "placementInfo": {"requestParameters": {"customerLatitude": 32.7, "customerLongitude": -96.8},
            "placementDemands": [{"resourceModuleName": "vfw", "serviceResourceId": "vfw-1",
                "resourceModelInfo": {"modelInvariantId": "m", "modelVersionId": "v"}}]},
        "serviceInfo": {"serviceInstanceId": "si", "serviceName": "svc", "modelInfo": {"modelInvariantId": "m", "modelVersionId": "v"}}
    });
    let a = call(
        &r,
        request(
            "POST",
            "/api/oof/v1/placement?sync=true",
            &[
                ("authorization", &bearer),
                ("content-type", "application/json"),
            ],
            body.to_string(),
        ),
    )
    .await;
    assert_eq!(a.status, 201, "{:?}", a.json());
    let v = a.json();
    assert_eq!(v["requestStatus"], "completed");
    assert_eq!(
        v["solutions"]["placementSolutions"][0][0]["assignmentInfo"]
            .as_array()
            .and_then(|info| info.iter().find(|kv| kv["key"] == "locationId"))
            .map(|kv| kv["value"].clone()),
        Some(json!("near")),
        "{v}"
    );
}
