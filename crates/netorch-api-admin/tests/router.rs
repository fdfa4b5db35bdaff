//! The admin router in-process (no socket): tokens, OSM's unknown-URL answers, a store outage.

use axum::Router;
use netorch_api_admin::{Deps, permissions::OSM_PERMISSIONS, router};
use netorch_auth::PermissionCatalog;
use netorch_test_support::{TestApp, call, request};

async fn app() -> (TestApp, Router) {
    let t = TestApp::new(PermissionCatalog::new(OSM_PERMISSIONS.iter()))
        .await
        .expect("harness");
    let (r, _) = router(Deps {
        identity: t.identity.clone(),
        allow_basic: false,
    });
    (t, r)
}

#[tokio::test]
async fn a_token_is_issued_for_the_bootstrap_administrator() {
    let (_t, r) = app().await;
    let a = call(
        &r,
        request(
            "POST",
            "/osm/admin/v1/tokens",
            &[
                ("content-type", "application/json"),
                ("accept", "application/json"),
            ],
            r#"{"username": "admin", "password": "admin"}"#,
        ),
    )
    .await;
    assert_eq!(a.status, 200, "{:?}", a.json());
    assert!(a.json()["id"].is_string());
    assert!(a.headers.contains_key("location"));
}

#[tokio::test]
async fn unknown_urls_under_osm_are_405_naming_the_item() {
    let (_t, r) = app().await;
    let a = call(
        &r,
        request(
            "GET",
            "/osm/admin/v1/nothing",
            &[("accept", "application/json")],
            "",
        ),
    )
    .await;
    assert_eq!(a.status, 405);
    assert_eq!(a.json()["detail"], "Unexpected URL item nothing");
}

#[tokio::test]
async fn a_store_outage_while_issuing_a_token_is_a_503() {
    let (t, r) = app().await;
    t.store.close().await;
    let a = call(
        &r,
        request(
            "POST",
            "/osm/admin/v1/tokens",
            &[
                ("content-type", "application/json"),
                ("accept", "application/json"),
            ],
            r#"{"username": "admin", "password": "admin"}"#,
        ),
    )
    .await;
    assert_eq!(a.status, 503, "{:?}", a.json());
    assert_eq!(a.json()["code"], "SERVICE_UNAVAILABLE");
}
