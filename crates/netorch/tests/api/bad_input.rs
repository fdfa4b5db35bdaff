//! Bad input: every case answered with a 4xx in OSM's error body, nothing written.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::{PW, TestApp, assert_osm_error};

/// (name, method, path, content type, body, expected status, expected detail fragment)
type Case<'a> = (
    &'a str,
    Method,
    String,
    Option<&'a str>,
    Vec<u8>,
    StatusCode,
    &'a str,
);

async fn raw(
    app: &TestApp,
    method: Method,
    path: &str,
    token: &str,
    ctype: Option<&str>,
    body: Vec<u8>,
) -> (StatusCode, Value) {
    let mut rb = app
        .client
        .request(method, format!("{}{}", app.base, path))
        .header("Accept", "application/json")
        .bearer_auth(token)
        .body(body);
    if let Some(c) = ctype {
        rb = rb.header("Content-Type", c);
    }
    let r = rb.send().await.expect("send");
    let s = r.status();
    let text = r.text().await.expect("text");
    (
        s,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

async fn snapshot(app: &TestApp, t: &str) -> (Value, Value, Value) {
    (
        app.get("/osm/admin/v1/users", t).await.1,
        app.get("/osm/admin/v1/projects", t).await.1,
        app.get("/osm/admin/v1/roles", t).await.1,
    )
}

#[tokio::test]
async fn bad_input_gets_a_clear_4xx_in_the_osm_body_and_changes_nothing() {
    let app = TestApp::start().await;
    let t = app.admin_token().await;
    app.project(&t, "P1").await;
    app.user(&t, "u1", "P1", "project_user").await;
    let before = snapshot(&app, &t).await;
    let users = "/osm/admin/v1/users";
    let json_ct = Some("application/json");

    let cases: Vec<Case> = vec![
        (
            "malformed JSON",
            Method::POST,
            users.into(),
            json_ct,
            b"{\"username\": ".to_vec(),
            StatusCode::BAD_REQUEST,
            "Invalid json format",
        ),
        (
            "malformed YAML",
            Method::POST,
            users.into(),
            Some("application/yaml"),
            b"username: [unclosed\n".to_vec(),
            StatusCode::BAD_REQUEST,
            "Invalid yaml format",
        ),
        (
            "wrong content type",
            Method::POST,
            users.into(),
            Some("application/xml"),
            b"<user/>".to_vec(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Unsupported Content-Type",
        ),
        (
            "10 MB body",
            Method::POST,
            users.into(),
            json_ct,
            {
                let mut b = b"{\"username\": \"".to_vec();
                b.extend(std::iter::repeat_n(b'a', 10 * 1024 * 1024));
                b.extend(b"\"}");
                b
            },
            StatusCode::PAYLOAD_TOO_LARGE,
            "too large",
        ),
        (
            "unknown field",
            Method::POST,
            users.into(),
            json_ct,
            serde_json::to_vec(&json!({"username": "z", "password": PW, "admin": true}))
                .expect("j"),
            StatusCode::UNPROCESSABLE_ENTITY,
            "unknown field `admin`",
        ),
        (
            "missing field",
            Method::POST,
            users.into(),
            json_ct,
            serde_json::to_vec(&json!({"username": "z"})).expect("j"),
            StatusCode::UNPROCESSABLE_ENTITY,
            "missing field `password`",
        ),
        (
            "wrong type",
            Method::POST,
            users.into(),
            json_ct,
            serde_json::to_vec(&json!({"username": 5, "password": PW})).expect("j"),
            StatusCode::UNPROCESSABLE_ENTITY,
            "Format error at 'username'",
        ),
        (
            "wrong nested type",
            Method::POST,
            "/osm/admin/v1/projects".into(),
            json_ct,
            serde_json::to_vec(&json!({"name": "Q", "quotas": {"vnfds": "x"}})).expect("j"),
            StatusCode::UNPROCESSABLE_ENTITY,
            "Format error at 'quotas:vnfds'",
        ),
        (
            "unknown quota",
            Method::POST,
            "/osm/admin/v1/projects".into(),
            json_ct,
            serde_json::to_vec(&json!({"name": "Q", "quotas": {"bogus": 1}})).expect("j"),
            StatusCode::UNPROCESSABLE_ENTITY,
            "unknown quota",
        ),
        (
            "weak password",
            Method::POST,
            users.into(),
            json_ct,
            serde_json::to_vec(&json!({"username": "z", "password": "short"})).expect("j"),
            StatusCode::UNPROCESSABLE_ENTITY,
            "password",
        ),
        (
            "uuid as user name",
            Method::POST,
            users.into(),
            json_ct,
            serde_json::to_vec(
                &json!({"username": "0b8a6e4c-2f4e-4a8e-9d2b-3c7d9c1e5f10", "password": PW}),
            )
            .expect("j"),
            StatusCode::UNPROCESSABLE_ENTITY,
            "uuid",
        ),
        (
            "forbidden characters",
            Method::POST,
            "/osm/admin/v1/projects".into(),
            json_ct,
            serde_json::to_vec(&json!({"name": "a/../b"})).expect("j"),
            StatusCode::UNPROCESSABLE_ENTITY,
            "forbidden character",
        ),
        (
            "duplicate user",
            Method::POST,
            users.into(),
            json_ct,
            serde_json::to_vec(&json!({"username": "u1", "password": PW})).expect("j"),
            StatusCode::CONFLICT,
            "username 'u1' is already used",
        ),
        (
            "duplicate project",
            Method::POST,
            "/osm/admin/v1/projects".into(),
            json_ct,
            serde_json::to_vec(&json!({"name": "P1"})).expect("j"),
            StatusCode::CONFLICT,
            "project 'P1' exists",
        ),
        (
            "unknown project in mapping",
            Method::POST,
            users.into(),
            json_ct,
            serde_json::to_vec(&json!({"username": "z", "password": PW, "projects": ["nope"]}))
                .expect("j"),
            StatusCode::CONFLICT,
            "project 'nope' not found",
        ),
        (
            "unknown id",
            Method::GET,
            "/osm/admin/v1/users/nobody".into(),
            None,
            vec![],
            StatusCode::NOT_FOUND,
            "User 'nobody' not found",
        ),
        (
            "unknown id on edit",
            Method::PATCH,
            "/osm/admin/v1/projects/nope".into(),
            json_ct,
            serde_json::to_vec(&json!({"admin": true})).expect("j"),
            StatusCode::NOT_FOUND,
            "not found",
        ),
        (
            "unknown id on delete",
            Method::DELETE,
            "/osm/admin/v1/roles/nope".into(),
            None,
            vec![],
            StatusCode::NOT_FOUND,
            "not found",
        ),
        (
            "path traversal",
            Method::GET,
            "/osm/admin/v1/users/..%2F..%2Fetc%2Fpasswd".into(),
            None,
            vec![],
            StatusCode::BAD_REQUEST,
            "Invalid identifier",
        ),
        (
            "backslash traversal",
            Method::DELETE,
            "/osm/admin/v1/projects/..%5C..%5Cwindows".into(),
            None,
            vec![],
            StatusCode::BAD_REQUEST,
            "Invalid identifier",
        ),
        (
            "NUL in id",
            Method::GET,
            "/osm/admin/v1/roles/a%00b".into(),
            None,
            vec![],
            StatusCode::BAD_REQUEST,
            "Invalid identifier",
        ),
        (
            "oversize id",
            Method::GET,
            format!("/osm/admin/v1/users/{}", "x".repeat(300)),
            None,
            vec![],
            StatusCode::BAD_REQUEST,
            "Invalid identifier",
        ),
        (
            "empty edit",
            Method::PATCH,
            "/osm/admin/v1/users/u1".into(),
            json_ct,
            b"{}".to_vec(),
            StatusCode::BAD_REQUEST,
            "Nothing to update",
        ),
        (
            "edit with empty body",
            Method::PUT,
            "/osm/admin/v1/projects/P1".into(),
            None,
            vec![],
            StatusCode::BAD_REQUEST,
            "Nothing to update",
        ),
        (
            "unknown field in edit",
            Method::PATCH,
            "/osm/admin/v1/users/u1".into(),
            json_ct,
            serde_json::to_vec(&json!({"is_admin": true})).expect("j"),
            StatusCode::UNPROCESSABLE_ENTITY,
            "unknown field",
        ),
        (
            "bad array edition",
            Method::PATCH,
            "/osm/admin/v1/users/u1".into(),
            json_ct,
            serde_json::to_vec(&json!({"projects": {"P1": "P1"}})).expect("j"),
            StatusCode::UNPROCESSABLE_ENTITY,
            "keys must start with $",
        ),
        (
            "method not allowed",
            Method::PUT,
            users.into(),
            json_ct,
            b"{}".to_vec(),
            StatusCode::METHOD_NOT_ALLOWED,
            "Method PUT not supported",
        ),
        (
            "unknown URL",
            Method::GET,
            "/osm/admin/v1/nothing".into(),
            None,
            vec![],
            StatusCode::METHOD_NOT_ALLOWED,
            "Unexpected URL item nothing",
        ),
        (
            "unknown main topic",
            Method::GET,
            "/osm/bogus/v1/x".into(),
            None,
            vec![],
            StatusCode::METHOD_NOT_ALLOWED,
            "main_topic 'bogus' not supported",
        ),
        (
            "JSON body that is not an object",
            Method::POST,
            users.into(),
            json_ct,
            b"[1, 2]".to_vec(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "Format error",
        ),
    ];
    for (name, method, path, ctype, body, want, detail) in cases {
        let (s, v) = raw(&app, method, &path, &t, ctype, body).await;
        assert_osm_error(s, &v, want);
        assert!(
            v["detail"].as_str().is_some_and(|d| d.contains(detail)),
            "{name}: expected detail containing {detail:?}, got {v}"
        );
    }
    assert_eq!(snapshot(&app, &t).await, before, "nothing was written");
    app.stop().await;
}

#[tokio::test]
async fn errors_are_yaml_when_asked_and_json_otherwise() {
    let app = TestApp::start().await;
    let r = app
        .client
        .get(format!("{}/osm/admin/v1/users", app.base))
        .header("Accept", "application/yaml")
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let text = r.text().await.expect("t");
    let v: Value = yaml_serde::from_str(&text).expect("yaml");
    assert_eq!(v["code"], json!("UNAUTHORIZED"));
    let r = app
        .client
        .get(format!("{}/osm/admin/v1/users", app.base))
        .header("Accept", "text/csv")
        .send()
        .await
        .expect("send");
    assert_eq!(r.headers()["content-type"], "application/json");
    app.stop().await;
}
