//! Validation of an account against what it points at (the "connector port").

use std::time::Duration;

use netorch_auth::secrets::SecretBox;
use serde_json::{Value, json};

use crate::accounts::Kind;

/// The result of validating an account: ENABLED with a summary, or ERROR with what to fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Outcome {
    pub ok: bool,
    pub detail: String,
}

impl Outcome {
    fn ok(detail: impl Into<String>) -> Self {
        Self {
            ok: true,
            detail: detail.into(),
        }
    }

    fn error(detail: impl Into<String>) -> Self {
        Self {
            ok: false,
            detail: detail.into(),
        }
    }
}

/// Images a dummy VIM offers unless `config.images` lists others (those of OSM's dummy plugin).
const DUMMY_IMAGES: [&str; 7] = [
    "cirros034",
    "cirros040",
    "ubuntu18.04",
    "ubuntu16.04",
    "ubuntu1604",
    "hackfest3-mgmt",
    "hackfest-pktgen",
];

/// A dummy VIM is a simulated cloud described by its `config`: `capacity` (`vcpus`, `ram_mb`,
/// `disk_gb`), `location` (`site`, `latitude`, `longitude`), `images`, `networks`.
fn dummy(doc: &Value) -> Outcome {
    let config = &doc["config"];
    let cap = |k: &str, default: u64| -> Result<u64, String> {
        match &config["capacity"][k] {
            Value::Null => Ok(default),
            v => v.as_u64().ok_or_else(|| {
                format!("config.capacity.{k} must be a non-negative integer, got {v}")
            }),
        }
    };
    let (vcpus, ram, disk) = match (
        cap("vcpus", 64),
        cap("ram_mb", 262_144),
        cap("disk_gb", 4_096),
    ) {
        (Ok(a), Ok(b), Ok(c)) => (a, b, c),
        (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => return Outcome::error(e),
    };
    for (k, limit) in [("latitude", 90.0), ("longitude", 180.0)] {
        match &config["location"][k] {
            Value::Null => {}
            v => match v.as_f64() {
                Some(x) if x.abs() <= limit => {}
                _ => {
                    return Outcome::error(format!(
                        "config.location.{k} must be a number within ±{limit}, got {v}"
                    ));
                }
            },
        }
    }
    let images = match &config["images"] {
        Value::Null => DUMMY_IMAGES.len(),
        Value::Array(a) if a.iter().all(|i| i.is_string() || i["name"].is_string()) => a.len(),
        other => {
            return Outcome::error(format!(
                "config.images must be a list of image names, got {other}"
            ));
        }
    };
    let site = config["location"]["site"]
        .as_str()
        .or(doc["name"].as_str())
        .unwrap_or("unknown");
    Outcome::ok(format!(
        "dummy VIM ready: {vcpus} vCPU, {ram} MB RAM, {disk} GB disk, {images} images, site {site}"
    ))
}

fn client(doc: &Value) -> Result<reqwest::Client, Outcome> {
    let insecure = doc["config"]["insecure"].as_bool().unwrap_or(false);
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .connect_timeout(Duration::from_secs(5))
        .danger_accept_invalid_certs(insecure)
        .build()
        .map_err(|e| Outcome::error(format!("cannot build an HTTP client: {e}")))
}

/// Authenticates against Keystone v3 with the account's credentials.
async fn keystone(doc: &Value, secrets: &SecretBox) -> Outcome {
    let url = doc["vim_url"]
        .as_str()
        .unwrap_or_default()
        .trim_end_matches('/');
    let base = if url.ends_with("/v3") {
        url.to_string()
    } else {
        format!("{url}/v3")
    };
    let password = match doc["vim_password"].as_str().map(|p| secrets.open(p)) {
        Some(Ok(p)) => p,
        _ => {
            return Outcome::error(
                "the stored vim_password cannot be decrypted with this server's key; set it again",
            );
        }
    };
    let domain = |k: &str| doc["config"][k].as_str().unwrap_or("Default").to_string();
    let body = json!({"auth": {
        "identity": {"methods": ["password"], "password": {"user": {
            "name": doc["vim_user"], "password": password, "domain": {"name": domain("user_domain_name")}
        }}},
        "scope": {"project": {"name": doc["vim_tenant_name"], "domain": {"name": domain("project_domain_name")}}}
    }});
    let http = match client(doc) {
        Ok(c) => c,
        Err(o) => return o,
    };
    match http
        .post(format!("{base}/auth/tokens"))
        .json(&body)
        .send()
        .await
    {
        Ok(r) if r.status().as_u16() == 201 => {
            Outcome::ok(format!("Keystone at {base} accepted the credentials"))
        }
        Ok(r) if r.status().as_u16() == 401 => Outcome::error(format!(
            "Keystone at {base} rejected the credentials of user '{}' for project '{}' (HTTP 401): check vim_user, vim_password and vim_tenant_name",
            doc["vim_user"].as_str().unwrap_or_default(),
            doc["vim_tenant_name"].as_str().unwrap_or_default()
        )),
        Ok(r) => Outcome::error(format!(
            "Keystone at {base} answered HTTP {} to a password authentication: check vim_url",
            r.status().as_u16()
        )),
        Err(e) => Outcome::error(format!(
            "cannot reach Keystone at {base}: {}",
            netorch_core::error_chain(&e)
        )),
    }
}

/// Any HTTP answer from the endpoint means it is reachable.
async fn reachable(doc: &Value, url: &str) -> Outcome {
    let http = match client(doc) {
        Ok(c) => c,
        Err(o) => return o,
    };
    match http.get(url).send().await {
        Ok(r) => Outcome::ok(format!("{url} is reachable (HTTP {})", r.status().as_u16())),
        Err(e) => Outcome::error(format!(
            "cannot reach {url}: {}",
            netorch_core::error_chain(&e)
        )),
    }
}

/// Validates an account document (secrets sealed) of a kind.
pub(crate) async fn validate(kind: &Kind, doc: &Value, secrets: &SecretBox) -> Outcome {
    let account_type = doc[kind.type_field].as_str().unwrap_or_default();
    if kind.collection == "vim_accounts" && account_type == "dummy" {
        return dummy(doc);
    }
    if kind.collection == "vim_accounts" && account_type == "openstack" {
        return keystone(doc, secrets).await;
    }
    let url = match (
        doc[kind.url_field].as_str(),
        doc["ip"].as_str(),
        doc["port"].as_u64(),
    ) {
        (Some(u), _, _) if !u.is_empty() => u.to_string(),
        (_, Some(ip), Some(port)) => format!("http://{ip}:{port}"),
        _ => {
            return Outcome::ok(format!(
                "{account_type} account stored; no endpoint to probe"
            ));
        }
    };
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return Outcome::error(format!("{} '{url}' is not an http(s) URL", kind.url_field));
    }
    reachable(doc, &url).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dummy_vim_reports_its_capacity_or_what_is_wrong() {
        let ok = dummy(
            &json!({"name": "v", "config": {"capacity": {"vcpus": 8}, "location": {"site": "gent", "latitude": 51.05}}}),
        );
        assert!(ok.ok, "{}", ok.detail);
        assert!(
            ok.detail.contains("8 vCPU") && ok.detail.contains("site gent"),
            "{}",
            ok.detail
        );
        let bad = dummy(&json!({"config": {"capacity": {"vcpus": -1}}}));
        assert!(
            !bad.ok && bad.detail.contains("config.capacity.vcpus"),
            "{}",
            bad.detail
        );
        let bad = dummy(&json!({"config": {"location": {"latitude": 123}}}));
        assert!(!bad.ok && bad.detail.contains("latitude"), "{}", bad.detail);
    }
}
