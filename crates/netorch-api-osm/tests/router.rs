//! The family's router in-process (no socket): OSM's error bodies and negotiation, a record's
//! life, and a store outage.

use std::{sync::Arc, time::Duration};

use axum::Router;
use netorch_api_admin::permissions::OSM_PERMISSIONS;
use netorch_api_osm::{Deps, archive::Limits, router};
use netorch_auth::{PermissionCatalog, secrets::SecretBox};
use netorch_test_support::{Answer, TestApp, call, request};
use serde_json::json;

async fn app() -> (TestApp, Router, String) {
    let t = TestApp::new(PermissionCatalog::new(OSM_PERMISSIONS.iter()))
        .await
        .expect("harness");
    let deps = Deps {
        identity: t.identity.clone(),
        records: Arc::new(t.store.clone()),
        jobs: Arc::new(t.store.clone()),
        job_waker: Arc::new(tokio::sync::Notify::new()),
        clock: t.clock.clone(),
        secrets: SecretBox::from_base64(&SecretBox::generate_key()).expect("key"),
        allow_basic: false,
        blobs: Arc::new(
            netorch_store::FsBlobStore::new(t.db.dir.path().join("packages")).expect("blobs"),
        ),
        uploads: Arc::new(t.store.clone()),
        package_limits: Limits {
            max_total: 1 << 20,
            max_files: 100,
        },
        max_upload: 64 * 1024,
        orphan_grace: Duration::from_secs(60),
        cloud: Arc::new(netorch_cloud::Clouds::new(
            Arc::new(t.store.clone()),
            t.clock.clone(),
        )),
        primitives: Arc::new(netorch_cloud::WebhookExecutor::new().expect("executor")),
        connectivity: Arc::new(t.store.clone()),
        placer: Arc::new(NoPlacer),
    };
    let (r, _) = router(deps);
    // As the server does, around all routes.
    let r = r.layer(netorch_http::osm::RenderLayer);
    let token = t.admin_token().await.expect("token");
    (t, r, format!("Bearer {token}"))
}

fn assert_osm_error(a: &Answer, status: u16) {
    assert_eq!(a.status, status, "{:?}", a.body);
    assert_eq!(a.content_type(), "application/json");
    let v = a.json();
    assert_eq!(v["status"], status, "{v}");
    assert!(v["code"].is_string() && v["detail"].is_string(), "{v}");
}

#[tokio::test]
async fn a_pdu_is_created_shown_and_deleted_in_yaml_by_default() {
    let (_t, r, auth) = app().await;
    let pdu = json!({"name": "router-1", "type": "gateway", "shared": false,
        "interfaces": [{"name": "eth0", "ip-address": "10.0.0.1", "mgmt": true, "vim-network-name": "mgmt"}]});
    let a = call(
        &r,
        request(
            "POST",
            "/osm/pdu/v1/pdu_descriptors",
            &[
                ("authorization", &auth),
                ("content-type", "application/json"),
                ("accept", "application/json"),
            ],
            pdu.to_string(),
        ),
    )
    .await;
    assert_eq!(a.status, 201, "{:?}", a.json());
    let id = a.json()["id"].as_str().expect("id").to_string();
    assert_eq!(
        a.headers["location"],
        format!("/osm/pdu/v1/pdu_descriptors/{id}").as_str()
    );
    // No Accept: YAML, as the NBI.
    let a = call(
        &r,
        request(
            "GET",
            &format!("/osm/pdu/v1/pdu_descriptors/{id}"),
            &[("authorization", &auth)],
            "",
        ),
    )
    .await;
    assert_eq!(a.status, 200);
    assert_eq!(a.content_type(), "application/yaml");
    assert!(a.body.starts_with(b"---\n"));
    let a = call(
        &r,
        request(
            "DELETE",
            &format!("/osm/pdu/v1/pdu_descriptors/{id}"),
            &[("authorization", &auth)],
            "",
        ),
    )
    .await;
    assert_eq!(a.status, 204);
}

#[tokio::test]
async fn refusals_come_in_osms_error_body() {
    let (_t, r, auth) = app().await;
    let json_accept = [
        ("authorization", auth.as_str()),
        ("accept", "application/json"),
    ];
    // No token.
    let a = call(
        &r,
        request(
            "GET",
            "/osm/admin/v1/vim_accounts",
            &[("accept", "application/json")],
            "",
        ),
    )
    .await;
    assert_osm_error(&a, 401);
    assert!(a.headers.contains_key("www-authenticate"));
    // An identifier that is not UTF-8, or a traversal.
    let a = call(
        &r,
        request("GET", "/osm/admin/v1/vim_accounts/%FF", &json_accept, ""),
    )
    .await;
    assert_osm_error(&a, 400);
    let a = call(
        &r,
        request("GET", "/osm/vnfpkgm/v1/vnf_packages/..", &json_accept, ""),
    )
    .await;
    assert_osm_error(&a, 400);
    // A method the route does not serve, as OSM: 405.
    let a = call(
        &r,
        request(
            "PATCH",
            "/osm/vnfpkgm/v1/vnf_packages_content",
            &json_accept,
            "",
        ),
    )
    .await;
    assert_osm_error(&a, 405);
    // A package over the upload limit.
    let a = call(
        &r,
        request(
            "POST",
            "/osm/vnfpkgm/v1/vnf_packages_content",
            &json_accept,
            vec![0u8; 128 * 1024],
        ),
    )
    .await;
    assert_osm_error(&a, 413);
}

#[tokio::test]
async fn a_store_outage_is_a_503_in_osms_shape() {
    let (t, r, auth) = app().await;
    t.store.close().await;
    let a = call(
        &r,
        request(
            "GET",
            "/osm/admin/v1/vim_accounts",
            &[("authorization", &auth), ("accept", "application/json")],
            "",
        ),
    )
    .await;
    // The token may still be in the session cache; the store is asked for the records either way.
    assert_osm_error(&a, 503);
}

/// The router tests place nothing.
struct NoPlacer;

#[async_trait::async_trait]
impl netorch_core::placement::VimPlacer for NoPlacer {
    async fn place(
        &self,
        _: &[netorch_core::placement::VnfToPlace],
        _: &[netorch_core::placement::VimOption],
        _: &[netorch_core::placement::LinkConstraint],
    ) -> Result<Vec<netorch_core::placement::VimChoice>, String> {
        Err("no placement in this test".into())
    }
}
