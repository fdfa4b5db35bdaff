//! Peering between two netorch processes, as the seed describes HypO and an OSS: the peered OSS
//! is the real binary in its own process, over HTTPS with a self-signed certificate, logged in
//! to with OAuth2; it is killed and started again. The hyper-orchestrator is a second process,
//! restarted with a different heartbeat half-way.

use std::time::Duration;

use netorch_test_support::{TestDb, process::Netorch};
use reqwest::Method;
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_netorch");
const SCM: &str = "/tmf-api/serviceCatalogManagement/v4";
const ORGS: &str = "/tmf-api/party/v4/organization";
const PEERING: &str = "/peering-api/peering";

async fn call(
    p: &Netorch,
    method: Method,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut r = netorch_test_support::process::client()
        .request(method, format!("{}{path}", p.base))
        .bearer_auth(token);
    if let Some(b) = body {
        r = r.json(&b);
    }
    let r = r.send().await.expect("send");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// The seed's organization (step 1), pointed at the peer's address and bootstrap administrator.
fn seed_organization(peer: &str) -> Value {
    let mut org: Value =
        serde_json::from_str(include_str!("api/fixtures/seed_organization.json")).expect("seed");
    for c in org["partyCharacteristic"].as_array_mut().expect("list") {
        let v = match c["name"].as_str().expect("name") {
            "EXTERNAL_TMF_API_BASE_URL" => peer.to_string(),
            "EXTERNAL_TMF_API_OAUTH2_TOKEN_URI" => format!("{peer}/oauth2/token"),
            "EXTERNAL_TMF_API_PASSWORD" => "admin".to_string(),
            _ => continue,
        };
        c["value"]["value"] = json!(v);
    }
    org
}

async fn eventually(what: &str, mut check: impl AsyncFnMut() -> bool) {
    for _ in 0..400 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("never happened: {what}");
}

#[tokio::test]
async fn a_peer_oss_in_its_own_process_is_peered_over_tls_followed_through_a_kill_and_removed() {
    let peer_db = TestDb::new().await.expect("db");
    let hypo_db = TestDb::new().await.expect("db");
    let mut peer = Netorch::new(
        std::path::Path::new(BIN),
        &peer_db,
        "peer",
        &[
            ("NETORCH_SERVER__TLS__ENABLED", "true"),
            ("NETORCH_TMF__NOTIFY_INTERVAL", "100ms"),
        ],
    );
    peer.start().await.expect("peer");
    let mut hypo = Netorch::new(std::path::Path::new(BIN), &hypo_db, "hypo", &[]);
    // First a heartbeat that never comes (once a year): what changes now arrives by notification.
    let public = hypo.base.clone();
    hypo.set("NETORCH_TMF__PUBLIC_URL", &public);
    hypo.set("NETORCH_TMF__HEARTBEAT_INTERVAL", "0 0 1 1 *");
    hypo.set("NETORCH_TMF__PEER_ATTEMPTS", "1");
    hypo.start().await.expect("hypo");

    let pt = peer
        .oauth_token("admin", "admin")
        .await
        .expect("peer token");
    let mut remote = Vec::new();
    for (name, version) in [("K8aaS", "0.1.0"), ("A GST(NEST) Service Example", "5.0.0")] {
        let (s, v) = call(
            &peer,
            Method::POST,
            &format!("{SCM}/serviceSpecification"),
            &pt,
            Some(json!({"name": name, "version": version, "lifecycleStatus": "In design"})),
        )
        .await;
        assert_eq!(s, 201, "{v}");
        remote.push(v["id"].as_str().expect("id").to_string());
    }
    let t = hypo
        .oauth_token("admin", "admin")
        .await
        .expect("hypo token");

    // Step 1, with TLS verified (the default): the peer's self-signed certificate is refused,
    // with the reason, and nothing is peered.
    let (s, org) = call(
        &hypo,
        Method::POST,
        ORGS,
        &t,
        Some(seed_organization(&peer.base)),
    )
    .await;
    assert_eq!(s, 201, "{org}");
    let org_id = org["id"].as_str().expect("id").to_string();
    let listing =
        json!({"organization": org, "serviceSpecs": {}, "peeredSpecs": {}, "serviceCatalogs": []});
    let (s, e) = call(&hypo, Method::POST, PEERING, &t, Some(listing.clone())).await;
    assert_eq!(s, 502, "{e}");
    assert!(
        e["message"]
            .as_str()
            .is_some_and(|m| m.contains("certificate")),
        "the reason names the certificate: {e}"
    );
    // The operator trusts this peer's certificate explicitly.
    let (s, org) = call(&hypo, Method::PATCH, &format!("{ORGS}/{org_id}"), &t,
        Some(json!({"partyCharacteristic": [{"name": "EXTERNAL_TMF_API_TLS_VERIFY", "valueType": "TEXT",
            "value": {"value": "false", "alias": null}}]}))).await;
    assert_eq!(s, 200, "{org}");

    // Step 2: the peer's specifications.
    let listing =
        json!({"organization": org, "serviceSpecs": {}, "peeredSpecs": {}, "serviceCatalogs": []});
    let (s, listed) = call(&hypo, Method::POST, PEERING, &t, Some(listing)).await;
    assert_eq!(s, 200, "{listed}");
    let mut names: Vec<&str> = listed
        .as_array()
        .expect("list")
        .iter()
        .map(|v| v["name"].as_str().expect("name"))
        .collect();
    names.sort();
    assert_eq!(names, ["A GST(NEST) Service Example", "K8aaS"]);

    // Step 3: K8aaS into a catalog and category made for it.
    let k8s = remote[0].as_str();
    let (s, peering) = call(&hypo, Method::POST, &format!("{PEERING}/add"), &t,
        Some(json!({"organization": org, "serviceSpecs": {k8s: "K8aaS"}, "peeredSpecs": {},
            "serviceCatalogs": [{"name": "test-peer-catalog", "categories": [{"name": "test-peer-category", "specifications": ["K8aaS"]}]}]}))).await;
    assert_eq!(s, 200, "{peering}");
    assert_eq!(peering["status"], json!("ACTIVE"));
    let local = peering["peeredSpecs"][k8s]
        .as_str()
        .expect("local id")
        .to_string();
    let spec_path = format!("{SCM}/serviceSpecification/{local}");

    // A change on the peer arrives through the hyper-orchestrator's listener.
    let (s, v) = call(
        &peer,
        Method::PATCH,
        &format!("{SCM}/serviceSpecification/{k8s}"),
        &pt,
        Some(json!({"version": "0.2.0"})),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    eventually("the notified change", async || {
        call(&hypo, Method::GET, &spec_path, &t, None).await.1["version"] == json!("0.2.0")
    })
    .await;

    // The hyper-orchestrator restarts (SIGTERM, a clean exit) with a heartbeat every 300 ms.
    let st = hypo
        .terminate(Duration::from_secs(30))
        .await
        .expect("exits");
    assert!(st.success(), "{st:?}\n{}", hypo.log());
    hypo.set("NETORCH_TMF__HEARTBEAT_INTERVAL", "300ms");
    hypo.start().await.expect("hypo again");
    let (s, p) = call(&hypo, Method::GET, &format!("{PEERING}/{org_id}"), &t, None).await;
    assert_eq!((s, &p["status"]), (200, &json!("ACTIVE")), "{p}");

    // The peer is killed: the heartbeat notices and its specification becomes unavailable.
    peer.kill();
    eventually("the peering is unreachable", async || {
        let (_, p) = call(&hypo, Method::GET, &format!("{PEERING}/{org_id}"), &t, None).await;
        p["status"] == json!("UNREACHABLE")
    })
    .await;
    let (_, p) = call(&hypo, Method::GET, &format!("{PEERING}/{org_id}"), &t, None).await;
    assert!(
        p["consecutiveFailures"].as_u64().is_some_and(|n| n >= 1),
        "{p}"
    );
    assert!(
        p["lastError"].as_str().is_some_and(|e| !e.is_empty()),
        "{p}"
    );
    let (_, spec) = call(&hypo, Method::GET, &spec_path, &t, None).await;
    assert_eq!(spec["lifecycleStatus"], json!("Unavailable"));

    // It comes back on the same address: so does the specification.
    peer.start().await.expect("peer again");
    eventually("the peering is active again", async || {
        let (_, p) = call(&hypo, Method::GET, &format!("{PEERING}/{org_id}"), &t, None).await;
        p["status"] == json!("ACTIVE") && p["consecutiveFailures"] == json!(0)
    })
    .await;
    let (_, spec) = call(&hypo, Method::GET, &spec_path, &t, None).await;
    assert_eq!(spec["lifecycleStatus"], json!("In design"));
    assert_eq!(spec["version"], json!("0.2.0"));

    // DELETE removes the peering, what it imported, and the subscription at the peer.
    let (s, _) = call(
        &hypo,
        Method::DELETE,
        &format!("{PEERING}/{org_id}"),
        &t,
        None,
    )
    .await;
    assert_eq!(s, 200);
    let (s, _) = call(&hypo, Method::GET, &spec_path, &t, None).await;
    assert_eq!(s, 404);
    let pt = peer
        .oauth_token("admin", "admin")
        .await
        .expect("peer token");
    let (_, hubs) = call(&peer, Method::GET, &format!("{SCM}/hub"), &pt, None).await;
    assert_eq!(hubs, json!([]));
}
