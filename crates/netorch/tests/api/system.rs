//! Health, metrics, OpenAPI, Swagger UI and TLS.

use std::{sync::Arc, time::Duration};

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::TestApp;

#[tokio::test]
async fn health_and_readiness_answer_200() {
    let app = TestApp::start().await;
    for path in ["/healthz", "/readyz"] {
        let r = app
            .client
            .get(format!("{}{path}", app.base))
            .send()
            .await
            .expect("send");
        assert_eq!(r.status(), StatusCode::OK, "{path}");
        assert!(r.headers().contains_key("x-request-id"));
    }
    app.stop().await;
}

#[tokio::test]
async fn a_callers_request_id_is_echoed_and_one_is_made_when_it_brings_none() {
    let app = TestApp::start().await;
    let url = format!("{}/healthz", app.base);
    let r = app
        .client
        .get(&url)
        .header("x-request-id", "client-chosen-42")
        .send()
        .await
        .expect("send");
    assert_eq!(r.headers()["x-request-id"], "client-chosen-42");
    let mut made = Vec::new();
    for _ in 0..2 {
        let r = app.client.get(&url).send().await.expect("send");
        let id = r.headers()["x-request-id"]
            .to_str()
            .expect("ascii")
            .to_string();
        let (prefix, counter) = id.split_once('-').expect("prefix-counter");
        assert_eq!(prefix.len(), 16, "{id}");
        assert!(u64::from_str_radix(counter, 16).is_ok(), "{id}");
        made.push(id);
    }
    assert_ne!(made[0], made[1], "ids are unique");
    app.stop().await;
}

#[tokio::test]
async fn metrics_count_requests_per_route_and_status_in_prometheus_format() {
    let app = TestApp::start().await;
    let t = app.admin_token().await;
    app.get("/osm/admin/v1/users", &t).await;
    app.get("/osm/admin/v1/users/nobody", &t).await;
    let text = app
        .client
        .get(format!("{}/metrics", app.base))
        .send()
        .await
        .expect("send")
        .text()
        .await
        .expect("text");
    assert!(text.contains(r#"netorch_http_requests_total{method="GET",route="/osm/admin/v1/users",status="200"} 1"#), "{text}");
    assert!(
        text.contains(r#"route="/osm/admin/v1/users/{user_id}",status="404""#),
        "{text}"
    );
    assert!(
        text.contains("netorch_http_request_duration_seconds_bucket"),
        "{text}"
    );
    assert!(text.contains("netorch_outbox_pending_events"), "{text}");
    app.stop().await;
}

#[tokio::test]
async fn the_openapi_document_is_valid_openapi_3_and_covers_the_admin_api() {
    let app = TestApp::start().await;
    let doc = app.openapi().await;
    // An independent OpenAPI 3.1 model (utoipa 6 emits 3.1) must accept the document.
    let parsed = oas3::from_json(doc.to_string()).expect("a valid OpenAPI 3.1 document");
    assert!(parsed.openapi.starts_with("3.1"), "{}", parsed.openapi);
    for (name, schema) in doc["components"]["schemas"].as_object().expect("schemas") {
        assert!(schema.is_object(), "{name}");
    }
    // Every $ref points at a defined component.
    let text = doc.to_string();
    for r in text.split("\"$ref\":\"#/components/schemas/").skip(1) {
        let name = r.split('"').next().expect("name");
        assert!(
            doc["components"]["schemas"][name].is_object(),
            "dangling $ref {name}"
        );
    }
    for (path, methods) in [
        ("/osm/admin/v1/tokens", vec!["get", "post", "delete"]),
        ("/osm/admin/v1/tokens/{token_id}", vec!["get", "delete"]),
        ("/osm/admin/v1/users", vec!["get", "post"]),
        (
            "/osm/admin/v1/users/{user_id}",
            vec!["get", "put", "patch", "delete"],
        ),
        ("/osm/admin/v1/projects", vec!["get", "post"]),
        (
            "/osm/admin/v1/projects/{project_id}",
            vec!["get", "put", "patch", "delete"],
        ),
        ("/osm/admin/v1/roles", vec!["get", "post"]),
        (
            "/osm/admin/v1/roles/{role_id}",
            vec!["get", "put", "patch", "delete"],
        ),
        ("/healthz", vec!["get"]),
        ("/osm/admin/v1/vim_accounts", vec!["get", "post"]),
        (
            "/osm/admin/v1/vims/{id}",
            vec!["get", "put", "patch", "delete"],
        ),
        (
            "/osm/admin/v1/wim_accounts/{id}",
            vec!["get", "put", "patch", "delete"],
        ),
        ("/osm/admin/v1/sdns", vec!["get", "post"]),
        (
            "/osm/pdu/v1/pdu_descriptors/{id}",
            vec!["get", "put", "patch", "delete"],
        ),
        ("/osm/vnfpkgm/v1/vnf_packages_content", vec!["get", "post"]),
        (
            "/osm/vnfpkgm/v1/vnf_packages/{id}/package_content",
            vec!["get", "put"],
        ),
        (
            "/osm/nsd/v1/ns_descriptors/{id}",
            vec!["get", "patch", "delete"],
        ),
        (
            "/osm/nst/v1/netslice_templates/{id}/artifacts/{path}",
            vec!["get"],
        ),
    ] {
        for m in methods {
            assert!(doc["paths"][path][m].is_object(), "{m} {path} missing");
        }
    }
    assert!(doc["components"]["schemas"]["UserCreateDto"].is_object());
    let yaml = app
        .client
        .get(format!("{}/api-spec", app.base))
        .send()
        .await
        .expect("send");
    assert_eq!(yaml.headers()["content-type"], "application/yaml");
    let y: Value = yaml_serde::from_str(&yaml.text().await.expect("t")).expect("yaml");
    assert_eq!(
        y["paths"].as_object().map(|p| p.len()),
        doc["paths"].as_object().map(|p| p.len())
    );
    let j = app
        .client
        .get(format!("{}/api-spec", app.base))
        .header("Accept", "application/json")
        .send()
        .await
        .expect("send");
    assert_eq!(j.headers()["content-type"], "application/json");
    app.stop().await;
}

#[tokio::test]
async fn swagger_ui_is_served_from_the_binary() {
    let app = TestApp::start().await;
    let html = app
        .client
        .get(format!("{}/api-docs/", app.base))
        .send()
        .await
        .expect("send");
    assert_eq!(html.status(), StatusCode::OK);
    assert!(
        html.text()
            .await
            .expect("t")
            .to_lowercase()
            .contains("swagger")
    );
    for asset in [
        "swagger-ui.css",
        "swagger-ui-bundle.js",
        "swagger-initializer.js",
    ] {
        let r = app
            .client
            .get(format!("{}/api-docs/{asset}", app.base))
            .send()
            .await
            .expect("send");
        assert_eq!(r.status(), StatusCode::OK, "{asset}");
    }
    let init = app
        .client
        .get(format!("{}/api-docs/swagger-initializer.js", app.base))
        .send()
        .await
        .expect("send")
        .text()
        .await
        .expect("t");
    assert!(init.contains("/api-docs/openapi.json"), "{init}");
    let doc: Value = app
        .client
        .get(format!("{}/api-docs/openapi.json", app.base))
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    assert!(doc["paths"]["/osm/admin/v1/users"].is_object());
    app.stop().await;
}

#[tokio::test]
async fn https_works_with_a_self_signed_certificate_generated_on_first_start() {
    let app = TestApp::start_with(|c| c.server.tls.enabled = true).await;
    assert!(app.base.starts_with("https://"));
    let t = app.admin_token().await;
    assert_eq!(app.get("/osm/admin/v1/users", &t).await.0, StatusCode::OK);
    let data = app.db.dir.path().join("data/tls");
    assert!(data.join("cert.pem").exists() && data.join("key.pem").exists());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(data.join("key.pem"))
            .expect("meta")
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "the private key is not readable by others");
    }
    app.stop().await;
}

#[tokio::test]
async fn the_version_endpoint_answers() {
    let app = TestApp::start().await;
    let r = app
        .client
        .get(format!("{}/osm/version", app.base))
        .header("Accept", "application/json")
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::OK);
    let v: Value = r.json().await.expect("json");
    assert_eq!(v["version"], json!(env!("CARGO_PKG_VERSION")));
    app.stop().await;
}

/// The served document is compared with `docs/openapi.json`, so that any change to the API shows
/// in review; `NETORCH_UPDATE_SNAPSHOTS=1` rewrites the file. `scripts/test` validates that file
/// with an OpenAPI 3.1 validator.
#[tokio::test]
async fn the_served_openapi_document_matches_its_reviewed_snapshot() {
    let app = TestApp::start().await;
    let doc = app.openapi().await;
    app.stop().await;
    // Generators and fuzzers need a schema for every parameter and one id per operation.
    let mut ids = std::collections::BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("item") {
            for p in op["parameters"].as_array().into_iter().flatten() {
                assert!(
                    p["schema"].is_object(),
                    "{method} {path}: parameter {} has no schema",
                    p["name"]
                );
            }
            let id = op["operationId"].as_str().expect("operationId");
            assert!(ids.insert(id.to_string()), "operationId {id} used twice");
        }
    }
    let snapshot = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/openapi.json");
    let served = serde_json::to_string_pretty(&doc).expect("json") + "\n";
    if std::env::var_os("NETORCH_UPDATE_SNAPSHOTS").is_some() {
        std::fs::write(&snapshot, &served).expect("write snapshot");
        return;
    }
    let committed = std::fs::read_to_string(&snapshot).unwrap_or_default();
    assert!(
        committed == served,
        "the served OpenAPI document differs from docs/openapi.json: review the change and \
         rerun with NETORCH_UPDATE_SNAPSHOTS=1 to accept it"
    );
}

/// A typo in a configured file (a policy directory, a policy or inventory that does not parse,
/// duplicate inventory ids) fails start-up before the database is created or migrated.
#[tokio::test]
async fn a_bad_configured_file_fails_start_up_before_the_store_is_touched() {
    netorch::install_crypto();
    let dir = tempfile::tempdir().expect("dir");
    std::fs::write(dir.path().join("broken.json"), "{not json").expect("write");
    std::fs::write(
        dir.path().join("dup.json"),
        r#"{"cloud-region": [{"cloud-owner": "o", "cloud-region-id": "r1"}, {"cloud-owner": "o", "cloud-region-id": "r1"}]}"#,
    )
    .expect("write");
    std::fs::create_dir(dir.path().join("policies")).expect("mkdir");
    std::fs::write(dir.path().join("policies/p.json"), "[1, 2").expect("write");
    type Tweak = Box<dyn Fn(&mut netorch::Config)>;
    let cases: Vec<(&str, Tweak)> = vec![
        ("oof.policy_dir", {
            let p = dir.path().join("missing");
            Box::new(move |c| c.oof.policy_dir = Some(p.clone()))
        }),
        ("p.json", {
            let p = dir.path().join("policies");
            Box::new(move |c| c.oof.policy_dir = Some(p.clone()))
        }),
        ("broken.json", {
            let p = dir.path().join("broken.json");
            Box::new(move |c| c.oof.inventory_file = Some(p.clone()))
        }),
        ("dup.json", {
            let p = dir.path().join("dup.json");
            Box::new(move |c| c.oof.inventory_file = Some(p.clone()))
        }),
    ];
    for (named, tweak) in cases {
        let db = netorch_test_support::TestDb::new().await.expect("db");
        let mut cfg = netorch::Config {
            data_dir: db.dir.path().join("data"),
            ..Default::default()
        };
        cfg.database.url = Some(db.url.clone());
        tweak(&mut cfg);
        let Err(e) =
            netorch::App::build_with_clock(&cfg, Arc::new(netorch_core::SystemClock)).await
        else {
            panic!("{named}: start-up succeeded");
        };
        assert!(format!("{e:#}").contains(named), "{named}: {e:#}");
        if db.is_postgres() {
            let store = netorch_store::Store::connect(&db.url, &Default::default())
                .await
                .expect("connect");
            assert!(
                !store.ready().await.unwrap_or(false),
                "{named}: migrations were applied"
            );
            store.close().await;
        } else {
            assert!(
                !db.dir.path().join("test.db").exists(),
                "{named}: the SQLite database was created"
            );
        }
        assert!(
            !cfg.data_dir.join("secret.key").exists(),
            "{named}: keys were generated"
        );
    }
}

#[tokio::test]
async fn finished_jobs_are_deleted_once_older_than_the_configured_retention() {
    use netorch_core::jobs::{JobRepository, JobState};
    let app = TestApp::start_with(|c| {
        c.scheduler.job_retention = Duration::from_millis(200);
        c.osm.notify_interval = Duration::from_millis(100);
    })
    .await;
    let sweeps = || async {
        app.store
            .list_jobs(
                &netorch_core::tenancy::ProjectScope::All,
                Some("osm.nslcm.notify"),
                1000,
            )
            .await
            .expect("jobs")
    };
    // The notification sweep leaves a finished job every run; the oldest ones go.
    let mut first = None;
    for _ in 0..200 {
        let jobs = sweeps().await;
        if first.is_none() {
            first = jobs
                .iter()
                .find(|j| j.state == JobState::Succeeded)
                .map(|j| j.id.clone());
        }
        if let Some(id) = &first
            && app.store.get_job(id).await.expect("get").is_none()
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let id = first.expect("a sweep finished");
    assert!(
        app.store.get_job(&id).await.expect("get").is_none(),
        "finished job {id} was never pruned"
    );
    app.stop().await;
}
