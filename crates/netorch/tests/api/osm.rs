//! OSM NBI infrastructure accounts and PDUs.

use std::time::Duration;

use axum::{Json, Router, http::StatusCode as AxumStatus, routing::post};
use netorch_core::tenancy::{ProjectScope, RecordRepository};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::{PW, TestApp, assert_osm_error};

async fn wait_settled(app: &TestApp, path: &str, token: &str) -> Value {
    for _ in 0..500 {
        let (s, v) = app.get(path, token).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        if v["_admin"]["operationalState"] != json!("PROCESSING") {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("{path} stayed PROCESSING");
}

async fn wait_gone(app: &TestApp, path: &str, token: &str) {
    for _ in 0..500 {
        if app.get(path, token).await.0 == StatusCode::NOT_FOUND {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("{path} was not deleted");
}

fn vim(name: &str, vim_type: &str, url: &str, password: &str) -> Value {
    json!({"name": name, "vim_type": vim_type, "vim_url": url, "vim_tenant_name": "tenant", "vim_user": "osm",
           "vim_password": password, "config": {"capacity": {"vcpus": 16}, "location": {"site": "gent"}, "admin_password": "cfg-secret"}})
}

/// A minimal Keystone v3: password authentication succeeds only for user `osm` / password `right`.
async fn keystone() -> (String, tokio::task::JoinHandle<()>) {
    let app = Router::new().route(
        "/v3/auth/tokens",
        post(|Json(body): Json<Value>| async move {
            let user = &body["auth"]["identity"]["password"]["user"];
            if user["name"] == json!("osm")
                && user["password"] == json!("right")
                && body["auth"]["scope"]["project"]["name"] == json!("tenant")
            {
                (
                    AxumStatus::CREATED,
                    Json(json!({"token": {"methods": ["password"]}})),
                )
            } else {
                (
                    AxumStatus::UNAUTHORIZED,
                    Json(json!({"error": {"code": 401}})),
                )
            }
        }),
    );
    let l = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/v3", l.local_addr().expect("addr"));
    (
        url,
        tokio::spawn(async move { axum::serve(l, app).await.expect("serve") }),
    )
}

#[tokio::test]
async fn a_dummy_vim_is_validated_asynchronously_and_its_secrets_never_leave_the_server() {
    let app = TestApp::start().await;
    let mut rx = app.bus.subscribe();
    let t = app.admin_token().await;
    let (s, h, v) = app
        .call(
            Method::POST,
            "/osm/admin/v1/vim_accounts",
            Some(&t),
            Some(vim("v1", "dummy", "http://dummy", "s3cret")),
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    let id = v["id"].as_str().expect("id").to_string();
    assert_eq!(v["op_id"], json!(format!("{id}:0")));
    assert_eq!(
        h["location"].to_str().expect("l"),
        format!("/osm/admin/v1/vim_accounts/{id}")
    );
    let got = wait_settled(&app, &format!("/osm/admin/v1/vim_accounts/{id}"), &t).await;
    assert_eq!(got["_admin"]["operationalState"], json!("ENABLED"), "{got}");
    assert!(
        got["_admin"]["detailed-status"]
            .as_str()
            .expect("d")
            .contains("16 vCPU"),
        "{got}"
    );
    assert_eq!(
        got["_admin"]["operations"][0]["operationState"],
        json!("COMPLETED")
    );
    assert_eq!(
        (&got["vim_password"], &got["config"]["admin_password"]),
        (&json!("********"), &json!("********"))
    );
    let text = got.to_string();
    assert!(
        !text.contains("s3cret") && !text.contains("cfg-secret"),
        "{text}"
    );
    // At rest the secrets are sealed.
    let store = app.db.store().await.expect("store");
    let stored = store
        .get_record("vim_accounts", &id, &ProjectScope::All, false)
        .await
        .expect("get")
        .expect("record");
    assert!(
        stored.body["vim_password"]
            .as_str()
            .expect("pw")
            .starts_with("enc:v1:")
    );
    assert!(
        stored.body["config"]["admin_password"]
            .as_str()
            .expect("pw")
            .starts_with("enc:v1:")
    );
    // The alias lists the same collection, and the event carries no secret.
    let (_, list) = app.get("/osm/admin/v1/vims", &t).await;
    assert_eq!(list.as_array().map(|a| a.len()), Some(1));
    loop {
        let e = tokio::time::timeout(Duration::from_secs(10), rx.recv())
            .await
            .expect("event")
            .expect("event");
        if e.topic == "vim_account" && e.key == "created" {
            assert!(!e.payload.to_string().contains("s3cret"));
            break;
        }
    }
    app.stop().await;
}

#[tokio::test]
async fn an_openstack_vim_is_checked_against_keystone_with_its_credentials() {
    let app = TestApp::start().await;
    let t = app.admin_token().await;
    let (url, server) = keystone().await;
    let closed = format!(
        "http://127.0.0.1:{}/v3",
        std::net::TcpListener::bind("127.0.0.1:0")
            .expect("b")
            .local_addr()
            .expect("a")
            .port()
    );
    let mut ids = Vec::new();
    for (name, url, pw) in [
        ("good", url.as_str(), "right"),
        ("badpw", url.as_str(), "wrong"),
        ("down", closed.as_str(), "right"),
    ] {
        let (s, v) = app
            .post(
                "/osm/admin/v1/vim_accounts",
                &t,
                vim(name, "openstack", url, pw),
            )
            .await;
        assert_eq!(s, StatusCode::ACCEPTED, "{v}");
        ids.push(v["id"].as_str().expect("id").to_string());
    }
    let state = |v: &Value| {
        (
            v["_admin"]["operationalState"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            v["_admin"]["detailed-status"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        )
    };
    let good =
        state(&wait_settled(&app, &format!("/osm/admin/v1/vim_accounts/{}", ids[0]), &t).await);
    assert_eq!(good.0, "ENABLED", "{good:?}");
    let bad =
        state(&wait_settled(&app, &format!("/osm/admin/v1/vim_accounts/{}", ids[1]), &t).await);
    assert_eq!(bad.0, "ERROR");
    assert!(
        bad.1.contains("rejected the credentials") && bad.1.contains("vim_password"),
        "{bad:?}"
    );
    let down =
        state(&wait_settled(&app, &format!("/osm/admin/v1/vim_accounts/{}", ids[2]), &t).await);
    assert_eq!(down.0, "ERROR");
    assert!(down.1.contains("cannot reach Keystone"), "{down:?}");
    server.abort();
    app.stop().await;
}

#[tokio::test]
async fn account_edits_and_deletes_are_asynchronous_operations() {
    let app = TestApp::start().await;
    let t = app.admin_token().await;
    let (_, v) = app
        .post(
            "/osm/admin/v1/vim_accounts",
            &t,
            vim("v1", "dummy", "http://dummy", "pw"),
        )
        .await;
    let id = v["id"].as_str().expect("id").to_string();
    let path = format!("/osm/admin/v1/vim_accounts/{id}");
    wait_settled(&app, &path, &t).await;
    let (s, _, v) = app
        .call(
            Method::PATCH,
            &path,
            Some(&t),
            Some(json!({"description": "lab", "config": {"capacity": {"vcpus": 32}}})),
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    assert_eq!(v["op_id"], json!(format!("{id}:1")));
    let got = wait_settled(&app, &path, &t).await;
    assert_eq!(got["description"], json!("lab"));
    assert!(
        got["_admin"]["detailed-status"]
            .as_str()
            .expect("d")
            .contains("32 vCPU"),
        "{got}"
    );
    assert_eq!(
        got["_admin"]["operations"].as_array().map(|a| a.len()),
        Some(2)
    );
    assert_eq!(
        got["config"]["location"]["site"],
        json!("gent"),
        "merge keeps untouched keys"
    );
    let (s, _, v) = app
        .call(
            Method::PUT,
            &path,
            Some(&t),
            Some(json!({"vim_type": "bad;type"})),
        )
        .await;
    assert_osm_error(s, &v, StatusCode::UNPROCESSABLE_ENTITY);
    let (s, _, v) = app.call(Method::DELETE, &path, Some(&t), None).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    assert_eq!(v["_id"], json!(format!("{id}:2")));
    wait_gone(&app, &path, &t).await;
    let (_, v) = app
        .post(
            "/osm/admin/v1/wim_accounts",
            &t,
            json!({"name": "w", "wim_type": "dummy", "wim_url": "http://127.0.0.1:9/"}),
        )
        .await;
    let wim = format!(
        "/osm/admin/v1/wim_accounts/{}",
        v["id"].as_str().expect("id")
    );
    let (s, _, _) = app
        .call(Method::DELETE, &format!("{wim}?FORCE=true"), Some(&t), None)
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    assert_eq!(app.get(&wim, &t).await.0, StatusCode::NOT_FOUND);
    app.stop().await;
}

#[tokio::test]
async fn wim_and_sdn_accounts_report_unreachable_endpoints() {
    let app = TestApp::start().await;
    let t = app.admin_token().await;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("b")
        .local_addr()
        .expect("a")
        .port();
    let (s, v) = app.post("/osm/admin/v1/wim_accounts", &t, json!({"name": "w", "wim_type": "tapi", "wim_url": format!("http://127.0.0.1:{port}/"), "password": "p"})).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    let w = wait_settled(
        &app,
        &format!(
            "/osm/admin/v1/wim_accounts/{}",
            v["id"].as_str().expect("id")
        ),
        &t,
    )
    .await;
    assert_eq!(w["_admin"]["operationalState"], json!("ERROR"));
    assert!(
        w["_admin"]["detailed-status"]
            .as_str()
            .expect("d")
            .contains("cannot reach"),
        "{w}"
    );
    assert_eq!(w["password"], json!("********"));
    let (s, v) = app.post("/osm/admin/v1/sdns", &t, json!({"name": "s", "type": "onos", "ip": "127.0.0.1", "port": port, "user": "u", "password": "p"})).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    let sdn = wait_settled(
        &app,
        &format!("/osm/admin/v1/sdns/{}", v["id"].as_str().expect("id")),
        &t,
    )
    .await;
    assert_eq!(sdn["_admin"]["operationalState"], json!("ERROR"), "{sdn}");
    app.stop().await;
}

#[tokio::test]
async fn accounts_and_pdus_belong_to_their_project() {
    let app = TestApp::start().await;
    let t = app.admin_token().await;
    app.project(&t, "P1").await;
    app.project(&t, "P2").await;
    app.user(&t, "a1", "P1", "project_admin").await;
    app.user(&t, "a2", "P2", "project_admin").await;
    app.user(&t, "pu", "P1", "project_user").await;
    let (a1, a2, pu) = (
        app.token("a1", PW, None).await,
        app.token("a2", PW, None).await,
        app.token("pu", PW, None).await,
    );
    let (s, v) = app
        .post(
            "/osm/admin/v1/vim_accounts",
            &a1,
            vim("v1", "dummy", "http://d", "pw"),
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    let vim_path = format!(
        "/osm/admin/v1/vim_accounts/{}",
        v["id"].as_str().expect("id")
    );
    // The same name is free in another project.
    assert_eq!(
        app.post(
            "/osm/admin/v1/vim_accounts",
            &a2,
            vim("v1", "dummy", "http://d", "pw")
        )
        .await
        .0,
        StatusCode::ACCEPTED
    );
    let (s, v) = app
        .post(
            "/osm/admin/v1/vim_accounts",
            &a1,
            vim("v1", "dummy", "http://d", "pw"),
        )
        .await;
    assert_osm_error(s, &v, StatusCode::CONFLICT);
    assert_eq!(
        v["detail"],
        json!("name 'v1' already exists for vim_accounts")
    );
    assert_eq!(
        app.get("/osm/admin/v1/vim_accounts", &a2)
            .await
            .1
            .as_array()
            .map(|a| a.len()),
        Some(1)
    );
    let (s, v) = app.get(&vim_path, &a2).await;
    assert_osm_error(s, &v, StatusCode::NOT_FOUND);
    let (s, _, v) = app.call(Method::DELETE, &vim_path, Some(&a2), None).await;
    assert_osm_error(s, &v, StatusCode::NOT_FOUND);
    // Project users read accounts but do not create them.
    assert_eq!(app.get(&vim_path, &pu).await.0, StatusCode::OK);
    let (s, v) = app
        .post(
            "/osm/admin/v1/vim_accounts",
            &pu,
            vim("v2", "dummy", "http://d", "pw"),
        )
        .await;
    assert_osm_error(s, &v, StatusCode::UNAUTHORIZED);
    assert_eq!(
        app.get("/osm/admin/v1/vim_accounts?ADMIN", &t)
            .await
            .1
            .as_array()
            .map(|a| a.len()),
        Some(2)
    );
    let (s, v) = app.get("/osm/admin/v1/vim_accounts?ADMIN", &a1).await;
    assert_osm_error(s, &v, StatusCode::UNAUTHORIZED);
    app.stop().await;
}

#[tokio::test]
async fn account_bad_input_is_refused_with_osm_errors_and_nothing_stored() {
    let app = TestApp::start().await;
    let t = app.admin_token().await;
    let cases = [
        (
            json!({"vim_type": "dummy", "vim_url": "u", "vim_tenant_name": "t", "vim_user": "u", "vim_password": "p"}),
            "missing field `name`",
        ),
        (
            json!({"name": "v", "vim_type": "open;stack", "vim_url": "u", "vim_tenant_name": "t", "vim_user": "u", "vim_password": "p"}),
            "Format error at 'vim_type'",
        ),
        (
            json!({"name": "v", "vim_type": "dummy", "vim_url": "u", "vim_tenant_name": "t", "vim_user": "u", "vim_password": "p", "color": "red"}),
            "unknown field `color`",
        ),
        (
            json!({"name": "v", "vim_type": "dummy", "vim_url": 5, "vim_tenant_name": "t", "vim_user": "u", "vim_password": "p"}),
            "Format error at 'vim_url'",
        ),
        (
            json!({"name": "a(b)", "vim_type": "dummy", "vim_url": "u", "vim_tenant_name": "t", "vim_user": "u", "vim_password": "p"}),
            "Format error at 'name'",
        ),
        (
            json!({"name": "v", "vim_type": "dummy", "vim_url": "u", "vim_tenant_name": "t", "vim_user": "u", "vim_password": "p", "config": []}),
            "Format error at 'config'",
        ),
    ];
    for (body, detail) in cases {
        let (s, v) = app.post("/osm/admin/v1/vim_accounts", &t, body).await;
        assert_osm_error(s, &v, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(
            v["detail"].as_str().is_some_and(|d| d.contains(detail)),
            "{detail}: {v}"
        );
    }
    let (s, v) = app
        .post(
            "/osm/admin/v1/sdns",
            &t,
            json!({"name": "s", "type": "onos", "port": 70000}),
        )
        .await;
    assert_osm_error(s, &v, StatusCode::UNPROCESSABLE_ENTITY);
    let (s, v) = app
        .post(
            "/osm/admin/v1/wim_accounts",
            &t,
            json!({"name": "w", "wim_type": "x"}),
        )
        .await;
    assert_osm_error(s, &v, StatusCode::UNPROCESSABLE_ENTITY);
    let (s, _, v) = app
        .call(
            Method::PATCH,
            "/osm/admin/v1/vim_accounts/nope",
            Some(&t),
            Some(json!({"description": "x"})),
        )
        .await;
    assert_osm_error(s, &v, StatusCode::NOT_FOUND);
    let (s, _, v) = app
        .call(
            Method::PATCH,
            "/osm/admin/v1/sdns/nope",
            Some(&t),
            Some(json!({})),
        )
        .await;
    assert_osm_error(s, &v, StatusCode::BAD_REQUEST);
    assert_eq!(app.get("/osm/admin/v1/vim_accounts", &t).await.1, json!([]));
    assert_eq!(app.get("/osm/admin/v1/sdns", &t).await.1, json!([]));
    app.stop().await;
}

#[tokio::test]
async fn pdus_are_created_edited_replaced_and_deleted() {
    let app = TestApp::start().await;
    let t = app.admin_token().await;
    let (_, v) = app
        .post(
            "/osm/admin/v1/vim_accounts",
            &t,
            vim("v1", "dummy", "http://d", "pw"),
        )
        .await;
    let vim_id = v["id"].as_str().expect("id").to_string();
    let pdu = json!({"name": "gw", "type": "gateway", "vim_accounts": [vim_id], "shared": false,
                     "interfaces": [{"name": "mgmt", "mgmt": true, "ip-address": "192.168.1.1", "mac-address": "52:54:00:aa:bb:cc"}]});
    let (s, h, v) = app
        .call(
            Method::POST,
            "/osm/pdu/v1/pdu_descriptors",
            Some(&t),
            Some(pdu.clone()),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let id = v["id"].as_str().expect("id").to_string();
    let path = format!("/osm/pdu/v1/pdu_descriptors/{id}");
    assert_eq!(h["location"].to_str().expect("l"), path);
    let (_, got) = app.get(&path, &t).await;
    assert_eq!(
        (
            &got["_admin"]["usageState"],
            &got["_admin"]["operationalState"]
        ),
        (&json!("NOT_IN_USE"), &json!("ENABLED"))
    );
    assert_eq!(got["interfaces"][0]["ip-address"], json!("192.168.1.1"));
    let (s, v) = app
        .post("/osm/pdu/v1/pdu_descriptors", &t, pdu.clone())
        .await;
    assert_osm_error(s, &v, StatusCode::CONFLICT);
    let (s, _, _) = app
        .call(
            Method::PATCH,
            &path,
            Some(&t),
            Some(json!({"description": "edge gateway"})),
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    assert_eq!(
        app.get(&path, &t).await.1["description"],
        json!("edge gateway")
    );
    let mut replaced = pdu.clone();
    replaced["name"] = json!("gw2");
    replaced["vim_accounts"] = json!([]);
    let (s, _, v) = app.call(Method::PUT, &path, Some(&t), Some(replaced)).await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{v}");
    let (_, got) = app.get(&path, &t).await;
    assert_eq!(
        (&got["name"], got.get("description")),
        (&json!("gw2"), None),
        "PUT replaces"
    );
    let (s, v) = app.get("/osm/pdu/v1/pdu_descriptors?name=gw2", &t).await;
    assert_eq!(
        (s, v.as_array().map(|a| a.len())),
        (StatusCode::OK, Some(1))
    );
    let mut bad = pdu.clone();
    bad["vim_accounts"] = json!(["no-such-vim"]);
    bad["name"] = json!("x");
    let (s, v) = app.post("/osm/pdu/v1/pdu_descriptors", &t, bad).await;
    assert_osm_error(s, &v, StatusCode::CONFLICT);
    let (s, v) = app.post("/osm/pdu/v1/pdu_descriptors", &t, json!({"name": "x", "type": "t", "interfaces": [{"name": "e", "mgmt": "yes", "ip-address": "10.0.0.1"}]})).await;
    assert_osm_error(s, &v, StatusCode::UNPROCESSABLE_ENTITY);
    let (s, _, _) = app.call(Method::DELETE, &path, Some(&t), None).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, v) = app.get(&path, &t).await;
    assert_osm_error(s, &v, StatusCode::NOT_FOUND);
    app.stop().await;
}

#[tokio::test]
async fn an_operation_whose_job_was_lost_is_reconciled() {
    let app = TestApp::start_with(|c| c.osm.reconcile_interval = Duration::from_millis(100)).await;
    let t = app.admin_token().await;
    let (_, token) = app.get(&format!("/osm/admin/v1/tokens/{t}"), &t).await;
    // A record committed PROCESSING whose job never got enqueued (a crash in between).
    let store = app.db.store().await.expect("store");
    let record = netorch_core::tenancy::Record {
        id: "lost-op".into(),
        name: Some("lost".into()),
        body: json!({"name": "lost", "vim_type": "dummy", "vim_url": "http://d", "vim_tenant_name": "t", "vim_user": "u",
                     "vim_password": "x", "_id": "lost-op",
                     "_admin": {"operationalState": "PROCESSING", "current_operation": 0,
                                "operations": [{"lcmOperationType": "create", "operationState": "PROCESSING"}]}}),
        owners: netorch_core::tenancy::Ownership::project(
            token["project_id"].as_str().expect("project"),
        ),
        created: 0,
        modified: 0,
        revision: 1,
    };
    store
        .insert_record("vim_accounts", &record, &[])
        .await
        .expect("insert");
    let got = wait_settled(&app, "/osm/admin/v1/vim_accounts/lost-op", &t).await;
    assert_eq!(got["_admin"]["operationalState"], json!("ENABLED"), "{got}");
    app.stop().await;
}

/// `scripts/osm-client-flow` (the HTTP calls osmclient makes) against the server over HTTP, then
/// over HTTPS with the generated self-signed certificate.
#[tokio::test]
async fn the_osmclient_flow_script_passes_over_http_and_https() {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../scripts/osm-client-flow");
    for tls in [false, true] {
        let app = TestApp::start_with(|c| c.server.tls.enabled = tls).await;
        let out = tokio::process::Command::new("bash")
            .arg(script)
            .arg(format!("{}/osm", app.base))
            .output()
            .await
            .expect("run the script");
        assert!(
            out.status.success(),
            "tls={tls}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(String::from_utf8_lossy(&out.stdout).contains("osm-client-flow: ok"));
        app.stop().await;
    }
}

#[tokio::test]
async fn a_repeated_list_changes_as_soon_as_the_collection_does_even_when_another_replica_wrote() {
    let app = TestApp::start().await;
    let t = app.admin_token().await;
    let mut ids = Vec::new();
    for name in ["a", "b"] {
        let (s, v) = app
            .post(
                "/osm/pdu/v1/pdu_descriptors",
                &t,
                json!({"name": name, "type": "gw", "shared": false, "vim_accounts": [],
                       "interfaces": [{"name": "eth0", "mgmt": true, "ip-address": "10.0.0.1"}]}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
        ids.push(v["id"].as_str().expect("id").to_string());
    }
    let names = |v: &Value| -> Vec<String> {
        v.as_array()
            .expect("list")
            .iter()
            .map(|d| d["name"].as_str().unwrap_or_default().to_string())
            .collect()
    };
    let (_, first) = app.get("/osm/pdu/v1/pdu_descriptors", &t).await;
    let (_, again) = app.get("/osm/pdu/v1/pdu_descriptors", &t).await;
    assert_eq!(first, again);
    assert_eq!(names(&first), ["a", "b"]);
    // Filters are part of what is remembered.
    let (_, only_b) = app.get("/osm/pdu/v1/pdu_descriptors?name=b", &t).await;
    assert_eq!(names(&only_b), ["b"]);

    // Another replica renames a PDU: this process saw no request, only the database changed.
    let mut r = app
        .store
        .get_record("pdus", &ids[0], &ProjectScope::All, true)
        .await
        .expect("read")
        .expect("record");
    r.name = Some("renamed".into());
    r.body["name"] = json!("renamed");
    r.touch(r.modified + 1);
    app.store
        .update_record("pdus", &r, &[])
        .await
        .expect("update");
    let (_, after) = app.get("/osm/pdu/v1/pdu_descriptors", &t).await;
    assert_eq!(names(&after), ["renamed", "b"]);

    // A project that cannot read them gets its own (empty) answer, not the admin's.
    app.project(&t, "other").await;
    app.user(&t, "carol", "other", "project_admin").await;
    let carol = app.token("carol", PW, Some("other")).await;
    let (s, theirs) = app.get("/osm/pdu/v1/pdu_descriptors", &carol).await;
    assert_eq!(s, StatusCode::OK, "{theirs}");
    assert_eq!(theirs, json!([]));

    assert!(
        app.store
            .delete_record("pdus", &ids[1], &[])
            .await
            .expect("delete")
    );
    let (_, last) = app.get("/osm/pdu/v1/pdu_descriptors", &t).await;
    assert_eq!(names(&last), ["renamed"]);
    app.stop().await;
}
