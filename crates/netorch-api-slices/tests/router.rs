//! The family's router in-process (no socket): refusals in the family's shape, administrator-only
//! topology edits, and a store outage.

use std::{sync::Arc, time::Duration};

use axum::Router;
use netorch_api_slices::{Deps, RESPONSE_KEYS, auth::ClaimPaths, router, service::Rules};
use netorch_auth::{
    PermissionCatalog,
    jwt::{KeyRing, KeyRingConfig, TokenVerifier},
    secrets::SecretBox,
};
use netorch_test_support::{Answer, TestApp, call, request};

async fn app() -> (TestApp, Router) {
    let t = TestApp::new(PermissionCatalog::new([].iter()))
        .await
        .expect("harness");
    let secrets = SecretBox::from_base64(&SecretBox::generate_key()).expect("key");
    let deps = Deps {
        repo: Arc::new(t.store.clone()),
        identity: t.identity.clone(),
        // No trusted issuer: every experiment token is refused, which these tests rely on.
        verifier: Arc::new(TokenVerifier::new(
            vec![],
            Duration::from_secs(30),
            Duration::from_secs(300),
        )),
        response_keys: Arc::new(KeyRing::new(
            Arc::new(t.store.clone()),
            secrets,
            t.clock.clone(),
            KeyRingConfig {
                purpose: RESPONSE_KEYS.into(),
                rotate_after: Duration::from_secs(86_400),
                activation_delay: Duration::ZERO,
                token_ttl: Duration::from_secs(3600),
            },
        )),
        clock: t.clock.clone(),
        rules: Rules {
            min_duration: Duration::from_secs(900),
            past_tolerance: Duration::from_secs(60),
        },
        claims: ClaimPaths::default(),
        public_url: "http://127.0.0.1".into(),
        response_token_ttl: Duration::from_secs(3600),
        body_limit: 4096,
    };
    let (r, _) = router(deps);
    (t, r)
}

/// Asserts `{"detail": [{"loc", "msg", "type"}]}` with JSON content.
fn assert_detail(a: &Answer, kind: &str) {
    assert_eq!(a.content_type(), "application/json", "{:?}", a.body);
    let v = a.json();
    let d = &v["detail"][0];
    assert!(d["loc"].is_array() && d["msg"].is_string(), "{v}");
    assert_eq!(d["type"], kind, "{v}");
}

#[tokio::test]
async fn the_jwks_is_public_and_cacheable() {
    let (_t, r) = app().await;
    let a = call(&r, request("GET", "/.well-known/jwks.json", &[], "")).await;
    assert_eq!(a.status, 200);
    assert_eq!(a.content_type(), "application/jwk-set+json");
    assert!(a.json()["keys"].is_array());
}

#[tokio::test]
async fn framework_refusals_come_in_the_familys_shape() {
    let (_t, r) = app().await;
    // A path parameter that is not UTF-8.
    let a = call(
        &r,
        request("GET", "/apis/v1alpha1/connectivity/%FF", &[], ""),
    )
    .await;
    assert_eq!(a.status, 422);
    assert_detail(&a, "path_error");
    // A repeated query parameter.
    let a = call(
        &r,
        request(
            "GET",
            "/apis/v1alpha1/connectivity?limit=1&limit=2",
            &[],
            "",
        ),
    )
    .await;
    assert_eq!(a.status, 422);
    assert_detail(&a, "query_error");
    // A method the route does not serve.
    let a = call(&r, request("PATCH", "/apis/v1alpha1/connectivity", &[], "")).await;
    assert_eq!(a.status, 405);
    assert_detail(&a, "MethodNotAllowed");
}

#[tokio::test]
async fn topology_edits_need_a_netorch_administrator() {
    let (t, r) = app().await;
    let site = r#"{"description": "lab", "s_tags": ["100-199"], "c_tags": ["100-199"]}"#;
    let a = call(&r, request("PUT", "/apis/v1alpha1/sites/lab", &[], site)).await;
    assert_eq!(a.status, 401);
    assert_detail(&a, "NotAuthenticated");
    let token = t.admin_token().await.expect("token");
    let bearer = format!("Bearer {token}");
    let a = call(
        &r,
        request(
            "PUT",
            "/apis/v1alpha1/sites/lab",
            &[("authorization", &bearer)],
            site,
        ),
    )
    .await;
    assert_eq!(a.status, 200, "{:?}", a.json());
    let a = call(&r, request("GET", "/apis/v1alpha1/sites", &[], "")).await;
    assert!(a.json().to_string().contains("\"lab\""), "{:?}", a.json());
}

#[tokio::test]
async fn a_store_outage_during_an_administrator_check_is_a_503() {
    let (t, r) = app().await;
    t.store.close().await;
    let a = call(
        &r,
        request(
            "PUT",
            "/apis/v1alpha1/sites/lab",
            &[("authorization", "Bearer some-token")],
            "{}",
        ),
    )
    .await;
    assert_eq!(a.status, 503, "{:?}", a.json());
    assert_detail(&a, "Unavailable");
}
