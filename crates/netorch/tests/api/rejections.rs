//! Every route of every family, walked from the served OpenAPI document (so a new route is covered
//! the day it is registered): a bad path parameter, duplicated and malformed query strings, an
//! oversize body and a method the route does not serve. Whatever the status, a refusal must come in
//! the family's body shape and content type, never as the framework's plain text, and never as a
//! 5xx.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::TestApp;

const LIMIT: usize = 4096;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Family {
    Osm,
    Oof,
    Slices,
    Tmf,
    OAuth,
    Dmi,
    DmiSeed,
}

fn family(path: &str) -> Option<Family> {
    if path.starts_with("/osm") {
        Some(Family::Osm)
    } else if path.starts_with("/api/oof/") {
        Some(Family::Oof)
    } else if path.starts_with("/apis/v1alpha1/") || path.starts_with("/.well-known/") {
        Some(Family::Slices)
    } else if path.starts_with("/tmf-api/") || path.starts_with("/peering-api/") {
        Some(Family::Tmf)
    } else if path.starts_with("/oauth2/") {
        Some(Family::OAuth)
    } else if path.starts_with("/dmi/v1/data/ch/")
        || path.starts_with("/dmi/v1/operations/")
        || path.starts_with("/dmi/v1/model/")
        || path.starts_with("/dmi/v1/sync/")
        || path.starts_with("/v1/dmi-source")
    {
        Some(Family::DmiSeed)
    } else if path.starts_with("/dmi/") {
        Some(Family::Dmi)
    } else {
        // System endpoints (health, metrics, the document itself) belong to no family.
        None
    }
}

/// Asserts that a refusal has the family's shape; `what` says which probe it was.
fn assert_shape(f: Family, what: &str, status: StatusCode, content_type: &str, body: &str) {
    // 501 is a documented answer (OSM's upload_from_uri); every other 5xx is a defect.
    assert!(
        !status.is_server_error() || status == StatusCode::NOT_IMPLEMENTED,
        "{what}: {status} is a server error: {body}"
    );
    if status.is_success() || status.is_redirection() {
        return;
    }
    assert!(
        content_type.starts_with("application/json"),
        "{what}: {status} answered {content_type:?}: {body}"
    );
    let v: Value = serde_json::from_str(body)
        .unwrap_or_else(|e| panic!("{what}: {status} body is not JSON ({e}): {body}"));
    match f {
        Family::Osm => {
            assert_eq!(v["status"], status.as_u16(), "{what}: {v}");
            assert!(v["code"].is_string(), "{what}: {v}");
            assert!(v["detail"].is_string(), "{what}: {v}");
        }
        Family::Oof => {
            assert!(v["serviceException"]["text"].is_string(), "{what}: {v}");
        }
        Family::Tmf => {
            assert_eq!(v["status"], status.as_u16().to_string(), "{what}: {v}");
            assert_eq!(v["@type"], "Error", "{what}: {v}");
            assert!(
                v["code"].is_string() && v["message"].is_string(),
                "{what}: {v}"
            );
        }
        Family::Dmi => {
            assert!(
                v["status"]
                    .as_str()
                    .is_some_and(|t| t.starts_with(&status.as_u16().to_string())),
                "{what}: {v}"
            );
            assert!(
                v["message"].is_string() && v["details"].is_string(),
                "{what}: {v}"
            );
        }
        Family::DmiSeed => {
            let e = &v["error"];
            assert!(
                e["error-type"].is_string()
                    && e["error-tag"].is_string()
                    && e["error-message"].is_string(),
                "{what}: {v}"
            );
        }
        Family::OAuth => {
            assert!(v["error"].is_string(), "{what}: {v}");
            assert!(v["error_description"].is_string(), "{what}: {v}");
        }
        Family::Slices => {
            let detail = v["detail"]
                .as_array()
                .unwrap_or_else(|| panic!("{what}: {v}"));
            assert!(!detail.is_empty(), "{what}: {v}");
            for d in detail {
                assert!(d["loc"].is_array(), "{what}: {v}");
                assert!(d["msg"].is_string(), "{what}: {v}");
                assert!(d["type"].is_string(), "{what}: {v}");
            }
        }
    }
}

struct Walker {
    app: TestApp,
    experiment_token: String,
    admin_token: String,
}

impl Walker {
    async fn send(
        &self,
        f: Family,
        method: Method,
        url: &str,
        body: Option<Vec<u8>>,
    ) -> (StatusCode, String, String) {
        let mut rb = self
            .app
            .client
            .request(method, format!("{}{url}", self.app.base))
            .header("Accept", "application/json")
            .timeout(Duration::from_secs(30));
        rb = match f {
            // Basic, not a token: the walk also probes `DELETE /osm/admin/v1/tokens`.
            Family::Osm | Family::Oof | Family::OAuth | Family::Dmi | Family::DmiSeed => {
                rb.basic_auth("admin", Some("admin"))
            }
            Family::Slices => rb.bearer_auth(&self.experiment_token),
            Family::Tmf => rb.bearer_auth(&self.admin_token),
        };
        if let Some(b) = body {
            rb = rb.header("Content-Type", "application/json").body(b);
        }
        let resp = rb.send().await.expect("send");
        let status = resp.status();
        let ct = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        (status, ct, resp.text().await.unwrap_or_default())
    }
}

/// The path with every parameter filled by `value`.
fn fill(path: &str, value: &str) -> String {
    let mut out = String::new();
    let mut rest = path;
    while let Some(i) = rest.find('{') {
        out.push_str(&rest[..i]);
        let j = rest[i..].find('}').map_or(rest.len(), |j| i + j + 1);
        out.push_str(value);
        rest = &rest[j..];
    }
    out.push_str(rest);
    out
}

#[tokio::test]
async fn every_route_refuses_bad_paths_queries_bodies_and_methods_in_its_familys_shape() {
    let app = TestApp::start_with(|c| {
        c.server.body_limit = LIMIT;
        c.osm.package_max_bytes = LIMIT;
        c.auth.allow_basic = true;
    })
    .await;
    let (_, experiment_token) = netorch::app::mint_dev_tokens(
        &app.cfg,
        &app.store,
        &netorch::app::DevTokenRequest {
            experiment: "exp_walk".into(),
            role: "lead".into(),
            user: "user_walk".into(),
            experiment_expires: Duration::from_secs(24 * 3600),
            ttl: Duration::from_secs(3600),
        },
    )
    .await
    .expect("tokens");
    let admin_token = app.admin_token().await;
    let w = Walker {
        app,
        experiment_token,
        admin_token,
    };
    let doc = w.app.openapi().await;
    let mut probes = 0;
    for (path, item) in doc["paths"].as_object().expect("paths") {
        let Some(f) = family(path) else { continue };
        let ops = item.as_object().expect("item");
        for (m, op) in ops {
            let method = Method::from_bytes(m.to_uppercase().as_bytes()).expect("method");
            let sample = fill(path, "walk-probe");
            // A path parameter that is invalid UTF-8 once percent-decoded.
            if path.contains('{') {
                let url = fill(path, "%FF%FE");
                let (s, ct, b) = w.send(f, method.clone(), &url, None).await;
                assert!(s.is_client_error(), "{m} {url}: {s} {b}");
                assert_shape(f, &format!("{m} {url}"), s, &ct, &b);
                probes += 1;
            }
            // The declared query parameters (or an undeclared one) given twice, then garbage.
            let mut names: Vec<String> = op["parameters"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|p| p["in"] == "query")
                .filter_map(|p| p["name"].as_str().map(str::to_string))
                .collect();
            if names.is_empty() {
                names.push("x".into());
            }
            let body = op["requestBody"].is_object().then(|| b"{}".to_vec());
            for name in &names {
                let url = format!("{sample}?{name}=true&{name}=false");
                let (s, ct, b) = w.send(f, method.clone(), &url, body.clone()).await;
                assert_shape(f, &format!("{m} {url}"), s, &ct, &b);
                probes += 1;
            }
            let url = format!("{sample}?%=%zz&&=&{}=%FF", names[0]);
            let (s, ct, b) = w.send(f, method.clone(), &url, body.clone()).await;
            assert_shape(f, &format!("{m} {url}"), s, &ct, &b);
            probes += 1;
            // A body over the limit.
            if op["requestBody"].is_object() {
                let big = format!("{{\"x\": \"{}\"}}", "a".repeat(LIMIT * 2)).into_bytes();
                let (s, ct, b) = w.send(f, method.clone(), &sample, Some(big)).await;
                assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE, "{m} {sample}: {b}");
                assert_shape(f, &format!("{m} {sample} (oversize)"), s, &ct, &b);
                probes += 1;
            }
        }
        // A method the route does not serve.
        if let Some(wrong) = ["get", "post", "put", "patch", "delete"]
            .iter()
            .find(|m| !ops.contains_key(**m))
        {
            let method = Method::from_bytes(wrong.to_uppercase().as_bytes()).expect("method");
            let url = fill(path, "walk-probe");
            let (s, ct, b) = w.send(f, method, &url, None).await;
            assert_eq!(s, StatusCode::METHOD_NOT_ALLOWED, "{wrong} {url}: {b}");
            assert_shape(f, &format!("{wrong} {url}"), s, &ct, &b);
            probes += 1;
        }
    }
    assert!(
        probes > 200,
        "only {probes} probes: did the document lose its paths?"
    );
    w.app.stop().await;
}
