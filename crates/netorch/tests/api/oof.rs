//! OOF placement over real HTTP with a real callback receiver: vCPE-style demands, policies from a
//! directory, an inventory file, async and sync modes, bad input, failing callbacks.

use std::{sync::Arc, time::Duration};

use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::sync::{Mutex, mpsc};

use crate::TestApp;

pub(crate) fn policies() -> Value {
    json!({
        "OSDF_vCPE_query": {"type": "onap.policies.optimization.service.QueryPolicy", "version": "1.0.0",
            "properties": {"services": ["vCPE"], "queryProperties": [
                {"attribute": "customerLatitude", "attribute_location": "customerLatitude"},
                {"attribute": "customerLongitude", "attribute_location": "customerLongitude"}]}},
        "distance-vG": {"type": "onap.policies.optimization.resource.DistancePolicy", "version": "1.0.0",
            "properties": {"services": ["vCPE"], "resources": ["vG", "vGMuxInfra"], "identity": "distance-vG",
                "distanceProperties": {"locationInfo": "customer_loc", "distance": {"value": "1500", "operator": "<", "unit": "km"}}}},
        "affinity_vCPE": {"type": "onap.policies.optimization.resource.AffinityPolicy", "version": "1.0.0",
            "properties": {"services": ["vCPE"], "resources": ["vG", "vGMuxInfra"], "identity": "affinity_vCPE",
                "affinityProperties": {"qualifier": "same", "category": "complex"}}},
        "optimization_vCPE": {"type": "onap.policies.optimization.resource.OptimizationPolicy", "version": "1.0.0",
            "properties": {"services": ["vCPE"], "resources": ["vG", "vGMuxInfra"], "objective": "minimize",
                "objectiveParameter": {"operator": "sum", "parameterAttributes": [
                    {"resources": ["vGMuxInfra"], "parameter": "distance", "weight": "1", "operator": "product", "customerLocationInfo": "customer_loc"},
                    {"resources": ["vG"], "parameter": "distance", "weight": "1", "operator": "product", "customerLocationInfo": "customer_loc"},
                    {"resources": ["vG"], "parameter": "hpa_score", "weight": "200", "operator": "product"}]}}}
    })
}

pub(crate) fn region(id: &str, complex: &str, lat: f64, lon: f64, hpa: f64) -> Value {
    json!({"cloud-owner": "CloudOwner", "cloud-region-id": id, "cloud-type": "openstack", "cloud-region-version": "titanium_cloud",
        "complex": {"physical-location-id": format!("{}CLLI", complex.to_uppercase()), "complex-name": complex,
            "latitude": lat.to_string(), "longitude": lon.to_string(), "country": "USA"},
        "attributes": {"hpa_score": hpa}})
}

pub(crate) fn inventory() -> Value {
    json!({
        "cloud-region": [
            region("dfw-1", "dallas", 32.90, -97.04, 0.0),
            region("dfw-2", "dallas", 32.95, -97.10, 5.0),
            region("chi-1", "chicago", 41.88, -87.63, 9.0),
            region("nyc-1", "newyork", 40.71, -74.00, 50.0),
            region("sfo-1", "sanfrancisco", 37.77, -122.42, 50.0)
        ],
        "license-pool": [
            {"model-invariant-id": "vg-model", "entitlement-pool-uuid": "ep-b", "license-key-group-uuid": "lkg-b", "cost": 2.0},
            {"model-invariant-id": "vg-model", "entitlement-pool-uuid": "ep-a", "license-key-group-uuid": "lkg-a", "cost": 1.0}
        ]
    })
}

/// A callback receiver: every POST is recorded (headers, body) and answered with `status`.
pub(crate) struct Receiver {
    pub(crate) url: String,
    rx: Mutex<mpsc::UnboundedReceiver<(axum::http::HeaderMap, Value)>>,
}

pub(crate) async fn receiver() -> Receiver {
    let (tx, rx) = mpsc::unbounded_channel();
    let app = axum::Router::new().route(
        "/cb",
        axum::routing::post(
            move |headers: axum::http::HeaderMap, axum::Json(body): axum::Json<Value>| {
                let tx = tx.clone();
                async move {
                    let _ = tx.send((headers, body));
                    StatusCode::NO_CONTENT
                }
            },
        ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/cb", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    Receiver {
        url,
        rx: Mutex::new(rx),
    }
}

impl Receiver {
    pub(crate) async fn next(&self) -> (axum::http::HeaderMap, Value) {
        tokio::time::timeout(Duration::from_secs(30), self.rx.lock().await.recv())
            .await
            .expect("callback arrives")
            .expect("receiver open")
    }
}

async fn start() -> TestApp {
    start_on(None, true).await
}

async fn start_on(db: Option<netorch_test_support::TestDb>, scheduler: bool) -> TestApp {
    let dir = tempfile::tempdir().expect("dir").keep();
    std::fs::create_dir_all(dir.join("policies")).expect("mkdir");
    std::fs::write(dir.join("policies/vcpe.json"), policies().to_string()).expect("write");
    std::fs::write(dir.join("inventory.json"), inventory().to_string()).expect("write");
    let tweak = move |c: &mut netorch::Config| {
        c.oof.policy_dir = Some(dir.join("policies"));
        c.oof.inventory_file = Some(dir.join("inventory.json"));
        c.oof.callback_username = Some("so".into());
        c.oof.callback_password = Some("so_secret".into());
        c.scheduler.enabled = scheduler;
    };
    let db = match db {
        Some(db) => db,
        None => netorch_test_support::TestDb::new().await.expect("db"),
    };
    TestApp::start_on(db, tweak, Arc::new(netorch_core::SystemClock)).await
}

pub(crate) fn request(id: &str, callback: &str) -> Value {
    json!({
        "requestInfo": {
            "transactionId": format!("tx-{id}"), "requestId": id, "callbackUrl": callback,
            "callbackHeader": {"X-Callback-Token": "abc123"},
            "sourceId": "so", "requestType": "create", "numSolutions": 1, "optimizers": ["placement"], "timeout": 60
        },
        "placementInfo": {
            "requestParameters": {"customerLatitude": 32.7, "customerLongitude": -96.8, "customerName": "xyz"},
            "subscriberInfo": {"globalSubscriberId": "SDN-ETHERNET-INTERNET", "subscriberName": "ABC"},
            "placementDemands": [
                {"resourceModuleName": "vGMuxInfra", "serviceResourceId": "vGMuxInfra-xx",
                 "resourceModelInfo": {"modelInvariantId": "mux-model", "modelVersionId": "mux-v1", "modelName": "vGMuxInfra"},
                 "excludedCandidates": [{"identifierType": "cloudRegionId", "identifiers": ["dfw-1"], "cloudOwner": "CloudOwner"}]},
                {"resourceModuleName": "vG", "serviceResourceId": "71d563e8-e714-4393-8f99-cc480144a05e",
                 "resourceModelInfo": {"modelInvariantId": "vg-model", "modelVersionId": "vg-v1", "modelName": "vG"},
                 "existingCandidates": [{"identifierType": "serviceInstanceId", "identifiers": ["gjhd-098-fhd-987"]}]}
            ]
        },
        "licenseInfo": {"licenseDemands": [
            {"resourceModuleName": "vG", "serviceResourceId": "vG-lic", "resourceModelInfo": {"modelInvariantId": "vg-model", "modelVersionId": "vg-v1"}}
        ]},
        "serviceInfo": {"serviceInstanceId": "4838454a-ad5f-4f59-a9aa-7d97dd5e66c1", "serviceName": "vCPE",
            "modelInfo": {"modelInvariantId": "vcpe-model", "modelVersionId": "vcpe-v1"}}
    })
}

pub(crate) async fn place(
    app: &TestApp,
    path: &str,
    body: &Value,
) -> (StatusCode, reqwest::header::HeaderMap, Value) {
    let r = app
        .client
        .post(format!("{}{path}", app.base))
        .basic_auth("admin", Some("admin"))
        .json(body)
        .send()
        .await
        .expect("send");
    let (s, h) = (r.status(), r.headers().clone());
    let text = r.text().await.expect("text");
    (
        s,
        h,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

pub(crate) fn solution_of<'a>(list: &'a Value, demand: &str) -> &'a Value {
    list.as_array()
        .expect("inner list")
        .iter()
        .find(|s| s["resourceModuleName"] == demand)
        .expect("demand in solution")
}

pub(crate) fn info(s: &Value, key: &str) -> Value {
    s["assignmentInfo"]
        .as_array()
        .expect("assignmentInfo")
        .iter()
        .find(|kv| kv["key"] == key)
        .map(|kv| kv["value"].clone())
        .unwrap_or(Value::Null)
}

#[tokio::test]
async fn a_vcpe_request_is_accepted_solved_optimally_and_posted_to_the_callback() {
    let app = start().await;
    let rx = receiver().await;
    let mut events = app.bus.subscribe();
    let (s, headers, v) = place(&app, "/api/oof/v1/placement", &request("req-1", &rx.url)).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    assert_eq!(
        v,
        json!({"requestId": "req-1", "transactionId": "tx-req-1", "requestStatus": "accepted", "statusMessage": ""})
    );
    assert_eq!(headers["x-latestversion"], "1.0.0");
    let (cb_headers, body) = rx.next().await;
    // Configured callback credentials and the client's callbackHeader entries.
    assert_eq!(cb_headers["authorization"], "Basic c286c29fc2VjcmV0");
    assert_eq!(cb_headers["x-callback-token"], "abc123");
    assert_eq!(body["requestStatus"], "completed", "{body}");
    assert_eq!(body["transactionId"], "tx-req-1");
    let sols = body["solutions"]["placementSolutions"]
        .as_array()
        .expect("list");
    assert_eq!(sols.len(), 1, "one inner list per solution");
    let (vg, mux) = (
        solution_of(&sols[0], "vG"),
        solution_of(&sols[0], "vGMuxInfra"),
    );
    // Same complex (affinity), within 1500 km, dfw-1 excluded for vGMuxInfra, and vG on the
    // region with the better HPA score: the optimum.
    assert_eq!(vg["solution"]["identifiers"], json!(["dfw-2"]));
    assert_eq!(mux["solution"]["identifiers"], json!(["dfw-2"]));
    assert_eq!(vg["solution"]["identifierType"], "cloudRegionId");
    assert_eq!(vg["solution"]["cloudOwner"], "CloudOwner");
    assert_eq!(
        vg["serviceResourceId"],
        "71d563e8-e714-4393-8f99-cc480144a05e"
    );
    assert_eq!(info(vg, "locationId"), json!("dfw-2"));
    assert_eq!(info(vg, "isRehome"), json!("false"));
    assert_eq!(info(vg, "cloudClli"), json!("DALLASCLLI"));
    assert_eq!(info(vg, "vimId"), json!("CloudOwner_dfw-2"));
    // License selection: the cheapest pool of the model.
    let lic = &body["solutions"]["licenseSolutions"];
    assert_eq!(lic[0]["entitlementPoolUUID"], json!(["ep-a"]), "{lic}");
    // The status resource shows the result and the delivery.
    let (s, v) = poll_status(&app, "req-1", |v| v["status"] == "completed").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["callbackAttempts"][0]["ok"], json!(true), "{v}");
    assert_eq!(v["result"], body);
    // Events: accepted, solved, callback delivered.
    let mut keys = Vec::new();
    while keys.len() < 3 {
        let e = tokio::time::timeout(Duration::from_secs(10), events.recv())
            .await
            .expect("event")
            .expect("bus");
        if e.topic == "oof.placement" {
            keys.push(e.key.clone());
        }
    }
    assert_eq!(keys, vec!["accepted", "solved", "callback_delivered"]);
    app.stop().await;
}

async fn poll_status(
    app: &TestApp,
    id: &str,
    done: impl Fn(&Value) -> bool,
) -> (StatusCode, Value) {
    for _ in 0..300 {
        let r = app
            .client
            .get(format!("{}/api/oof/v1/placement/{id}", app.base))
            .basic_auth("admin", Some("admin"))
            .send()
            .await
            .expect("send");
        let s = r.status();
        let v: Value = r.json().await.expect("json");
        if done(&v) {
            return (s, v);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("status of {id} never reached the expected state");
}

#[tokio::test]
async fn several_solutions_come_as_separate_lists_and_sync_mode_answers_201_or_520() {
    let app = start().await;
    let rx = receiver().await;
    let mut req = request("req-2", &rx.url);
    req["requestInfo"]["numSolutions"] = json!(3);
    let (s, _, v) = place(&app, "/api/oof/placement/v1", &req).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    let (_, body) = rx.next().await;
    let sols = body["solutions"]["placementSolutions"]
        .as_array()
        .expect("list");
    assert_eq!(sols.len(), 3, "{body}");
    let picks: Vec<String> = sols
        .iter()
        .map(|l| {
            format!(
                "{}/{}",
                solution_of(l, "vG")["solution"]["identifiers"][0],
                solution_of(l, "vGMuxInfra")["solution"]["identifiers"][0]
            )
        })
        .collect();
    let distinct: std::collections::BTreeSet<&String> = picks.iter().collect();
    assert_eq!(distinct.len(), 3, "{picks:?}");

    req["requestInfo"]["requestId"] = json!("req-3");
    req["requestInfo"]["numSolutions"] = json!(1);
    let (s, _, v) = place(&app, "/api/oof/v1/placement?sync=true", &req).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert_eq!(v["requestStatus"], "completed");
    // Only 2 × 2 + 1 feasible pairs exist (same complex, dfw-1 excluded for the mux): 50 cannot be found.
    req["requestInfo"]["numSolutions"] = json!(50);
    let (s, _, v) = place(&app, "/api/oof/v1/placement?sync=true", &req).await;
    assert_eq!(s.as_u16(), 520, "{v}");
    app.stop().await;
}

#[tokio::test]
async fn no_solution_is_completed_with_empty_lists_and_says_which_rule_emptied_which_demand() {
    let app = start().await;
    let rx = receiver().await;
    let mut req = request("req-4", &rx.url);
    req["placementInfo"]["placementDemands"][1]["requiredCandidates"] =
        json!([{"identifierType": "cloudRegionId", "identifiers": ["nyc-1"]}]);
    let (s, _, _) = place(&app, "/api/oof/v1/placement", &req).await;
    assert_eq!(s, StatusCode::ACCEPTED);
    let (_, body) = rx.next().await;
    assert_eq!(body["requestStatus"], "completed", "{body}");
    assert_eq!(body["solutions"]["placementSolutions"], json!([]));
    let msg = body["statusMessage"].as_str().expect("message");
    assert!(msg.contains("distance-vG") && msg.contains("vG"), "{msg}");
    // A malformed policy input leads to "failed" with a plain (not double-encoded) message.
    let mut req = request("req-5", &rx.url);
    req["placementInfo"]["requestParameters"] = json!({});
    let (s, _, _) = place(&app, "/api/oof/v1/placement", &req).await;
    assert_eq!(s, StatusCode::ACCEPTED);
    let (_, body) = rx.next().await;
    assert_eq!(body["requestStatus"], "failed", "{body}");
    assert!(
        body["statusMessage"]
            .as_str()
            .expect("plain string")
            .contains("customer location")
    );
    app.stop().await;
}

#[tokio::test]
async fn bad_input_gets_a_clear_4xx_in_osdf_shape() {
    let app = start().await;
    let url = format!("{}/api/oof/v1/placement", app.base);
    let good = request("req-6", "http://127.0.0.1:9/cb");
    let r = app
        .client
        .post(&url)
        .json(&good)
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(
        r.json::<Value>().await.expect("json")["serviceException"]["text"]
            .as_str()
            .expect("text")
            .contains("Authorization")
    );
    let r = app
        .client
        .post(&url)
        .basic_auth("admin", Some("nope"))
        .json(&good)
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        r.json::<Value>().await.expect("json"),
        json!({"serviceException": {"text": "Unauthorized, check username and password"}})
    );
    let bad = |mutate: &dyn Fn(&mut Value)| {
        let mut b = good.clone();
        mutate(&mut b);
        b
    };
    let cases: Vec<(Value, &str)> = vec![
        (bad(&|b| b["requestInfo"]["bogus"] = json!(1)), "bogus"),
        (
            bad(&|b| {
                b["placementInfo"]["placementDemands"][0]["excludedCandidates"] =
                    json!({"identifierType": "cloudRegionId", "identifiers": ["x"]})
            }),
            "excludedCandidates",
        ),
        (
            bad(&|b| {
                b["placementInfo"]["placementDemands"][1]["requiredCandidates"] =
                    json!({"identifierType": "cloudRegionId", "identifiers": ["x"]})
            }),
            "requiredCandidates",
        ),
        (
            bad(&|b| b["requestInfo"]["callbackUrl"] = json!("not a url")),
            "callbackUrl",
        ),
        (
            bad(&|b| {
                b["serviceInfo"]
                    .as_object_mut()
                    .map(|o| o.remove("serviceName"));
            }),
            "serviceName",
        ),
        // An unknown identifierType is not a schema error (OSDF accepts any string): the
        // request fails later, naming it (oof_inventory.rs, the vf-module test).
    ];
    for (body, field) in cases {
        let (s, _, v) = place(&app, "/api/oof/v1/placement", &body).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{field}: {v}");
        assert_eq!(
            v["serviceException"]["errorType"], "InvalidClientRequest",
            "{v}"
        );
        assert!(
            v["serviceException"]["exceptionMessage"]
                .as_str()
                .expect("message")
                .contains(field),
            "{field}: {v}"
        );
    }
    let r = app
        .client
        .post(&url)
        .basic_auth("admin", Some("admin"))
        .header("content-type", "application/json")
        .body("{\"requestInfo\": ")
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let big = "x".repeat(1024 * 1024 + 10);
    let r = app
        .client
        .post(&url)
        .basic_auth("admin", Some("admin"))
        .header("content-type", "application/json")
        .body(big)
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    // A service without policies: a clear 400 at once.
    let (s, _, v) = place(
        &app,
        "/api/oof/v1/placement",
        &bad(&|b| b["serviceInfo"]["serviceName"] = json!("vFW")),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    assert!(
        v["serviceException"]["text"]
            .as_str()
            .expect("text")
            .contains("vFW")
    );
    // Nothing was accepted.
    let r = app
        .client
        .get(format!("{url}/req-6"))
        .basic_auth("admin", Some("admin"))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    app.stop().await;
}

#[tokio::test]
async fn a_callback_to_a_closed_port_is_retried_and_every_attempt_recorded() {
    let app = start().await;
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = closed.local_addr().expect("addr").port();
    drop(closed);
    let (s, _, v) = place(
        &app,
        "/api/oof/v1/placement",
        &request("req-7", &format!("http://127.0.0.1:{port}/cb")),
    )
    .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    let (_, v) = poll_status(&app, "req-7", |v| {
        v["callbackAttempts"]
            .as_array()
            .is_some_and(|a| a.len() >= 2)
    })
    .await;
    let attempts = v["callbackAttempts"].as_array().expect("attempts");
    assert!(
        attempts
            .iter()
            .all(|a| a["ok"] == json!(false) && a["error"].is_string()),
        "{v}"
    );
    assert_eq!(v["status"], "solved");
    assert_eq!(v["result"]["requestStatus"], "completed");
    app.stop().await;
}

#[tokio::test]
async fn a_request_accepted_before_a_restart_is_solved_after_it_and_called_back_once() {
    // First process: accepts, but runs no jobs (as if it died before solving).
    let app = start_on(None, false).await;
    let rx = receiver().await;
    let (s, _, v) = place(&app, "/api/oof/v1/placement", &request("req-8", &rx.url)).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    let db = app.stop_keeping_db().await;
    // Second process on the same database: the durable job runs, the callback goes out once.
    let app = start_on(Some(db), true).await;
    let (_, body) = rx.next().await;
    assert_eq!(body["requestId"], "req-8");
    assert_eq!(body["requestStatus"], "completed");
    let (_, v) = poll_status(&app, "req-8", |v| v["status"] == "completed").await;
    assert_eq!(
        v["callbackAttempts"].as_array().map(Vec::len),
        Some(1),
        "{v}"
    );
    assert!(
        tokio::time::timeout(Duration::from_millis(500), async {
            rx.rx.lock().await.recv().await
        })
        .await
        .is_err(),
        "a second callback was delivered"
    );
    app.stop().await;
}

#[tokio::test]
async fn enabled_osm_vim_accounts_are_placement_candidates() {
    let app = start().await;
    let rx = receiver().await;
    let admin = app.admin_token().await;
    let (s, v) = app
        .post(
            "/osm/admin/v1/vim_accounts",
            &admin,
            json!({"name": "lab-dallas", "vim_type": "dummy", "vim_url": "http://lab", "vim_tenant_name": "t",
                   "vim_user": "u", "vim_password": "p",
                   "config": {"location": {"site": "dallas", "latitude": 32.71, "longitude": -96.81, "country": "USA"},
                              "capacity": {"vcpus": 64}}}),
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    let id = v["id"].as_str().expect("id").to_string();
    for _ in 0..300 {
        let (_, v) = app
            .get(&format!("/osm/admin/v1/vim_accounts/{id}"), &admin)
            .await;
        if v["_admin"]["operationalState"] == "ENABLED" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (s, _, v) = place(&app, "/api/oof/v1/placement", &request("req-9", &rx.url)).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    let (_, body) = rx.next().await;
    let sols = &body["solutions"]["placementSolutions"][0];
    // vGMuxInfra only needs distance: the VIM 1 km from the customer, in the vG's complex, wins.
    let mux = solution_of(sols, "vGMuxInfra");
    assert_eq!(
        mux["solution"]["identifiers"],
        json!(["lab-dallas"]),
        "{body}"
    );
    assert_eq!(mux["solution"]["cloudOwner"], "netorch");
    assert_eq!(info(mux, "vimId"), json!("netorch_lab-dallas"));
    app.stop().await;
}

#[tokio::test]
async fn hpa_and_vim_capacity_policies_choose_flavours_and_regions_with_room() {
    let app = start().await;
    let rx = receiver().await;
    let admin = |rb: reqwest::RequestBuilder| rb.basic_auth("admin", Some("admin"));
    let flavor = |name: &str, vcpus: u32, sriov: bool| {
        let mut caps = vec![
            json!({"hpa-feature": "basicCapabilities", "architecture": "generic",
            "hpa-feature-attributes": [{"hpa-attribute-key": "numVirtualCpu", "hpa-attribute-value": format!("{{\"value\":\"{vcpus}\"}}")}]}),
        ];
        if sriov {
            caps.push(json!({"hpa-feature": "sriovNICNetwork", "architecture": "intel64",
                "hpa-feature-attributes": [{"hpa-attribute-key": "pciVendorId", "hpa-attribute-value": "{\"value\":\"8086\"}"}]}));
        }
        json!({"flavor-name": name, "hpa-capabilities": caps})
    };
    let mut inv = inventory();
    let regions = inv["cloud-region"].as_array_mut().expect("regions");
    regions[0]["flavors"] = json!([flavor("small", 4, false)]);
    regions[0]["attributes"]["vcpus"] = json!(32);
    regions[1]["flavors"] = json!([flavor("big", 8, false)]);
    regions[1]["attributes"]["vcpus"] = json!(8);
    regions[2]["flavors"] = json!([flavor("big", 8, false), flavor("big-sriov", 8, true)]);
    regions[2]["attributes"]["vcpus"] = json!(64);
    let r = admin(app.client.put(format!("{}/api/oof/v1/inventory", app.base)))
        .json(&inv)
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::OK);
    let hpa = json!({"type": "onap.policies.optimization.resource.HpaPolicy", "properties": {"services": ["vCPE"], "resources": ["vG"],
        "flavorFeatures": [{"id": "vg_vnfc", "type": "vnfc",
            "directives": [{"type": "flavor_directives", "attributes": [{"attribute_name": "vg_flavor", "attribute_value": ""}]}],
            "flavorProperties": [
                {"hpa-feature": "basicCapabilities", "mandatory": "True", "architecture": "generic",
                 "hpa-feature-attributes": [{"hpa-attribute-key": "numVirtualCpu", "hpa-attribute-value": "8", "operator": ">="}]},
                {"hpa-feature": "sriovNICNetwork", "mandatory": "False", "score": "100", "architecture": "intel64",
                 "hpa-feature-attributes": [{"hpa-attribute-key": "pciVendorId", "hpa-attribute-value": "8086", "operator": "="}]}]}]}});
    let fit = json!({"type": "onap.policies.optimization.resource.Vim_fit", "properties": {"services": ["vCPE"], "resources": ["vGMuxInfra"],
        "capacityProperty": {"controller": "multicloud", "request": "{\"vCPU\": 16}"}}});
    for (id, p) in [("hpa-vG", hpa), ("capacity-mux", fit)] {
        let r = admin(
            app.client
                .put(format!("{}/api/oof/v1/policies/{id}", app.base)),
        )
        .json(&p)
        .send()
        .await
        .expect("send");
        assert_eq!(
            r.status(),
            StatusCode::OK,
            "{}",
            r.text().await.unwrap_or_default()
        );
    }
    let (s, _, v) = place(&app, "/api/oof/v1/placement", &request("req-10", &rx.url)).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    let (_, body) = rx.next().await;
    let sols = &body["solutions"]["placementSolutions"][0];
    let (vg, mux) = (solution_of(sols, "vG"), solution_of(sols, "vGMuxInfra"));
    // vG: only regions with an 8-vCPU flavour; SR-IOV (score 100 × weight 200) outweighs distance.
    assert_eq!(vg["solution"]["identifiers"], json!(["chi-1"]), "{body}");
    let directives = info(vg, "oof_directives");
    assert_eq!(
        directives["directives"][0]["directives"][0]["attributes"][0],
        json!({"attribute_name": "vg_flavor", "attribute_value": "big-sriov"}),
        "{directives}"
    );
    // vGMuxInfra follows into Chicago (affinity) where 64 vCPUs leave room for 16.
    assert_eq!(mux["solution"]["identifiers"], json!(["chi-1"]));
    app.stop().await;
}

#[tokio::test]
async fn the_inventory_and_policy_endpoints_refuse_bad_input_and_non_administrators() {
    let app = start().await;
    let base = &app.base;
    let put = |path: &str, body: &'static str, user: Option<(&str, &str)>| {
        let mut rb = app
            .client
            .put(format!("{base}{path}"))
            .header("content-type", "application/json")
            .body(body);
        if let Some((u, p)) = user {
            rb = rb.basic_auth(u, Some(p));
        }
        rb.send()
    };
    let admin = Some(("admin", "admin"));
    for (path, body) in [
        ("/api/oof/v1/inventory", "{\"cloud-region\": 5}"),
        ("/api/oof/v1/inventory", "{\"bogus\": []}"),
        ("/api/oof/v1/inventory", "{not json"),
        (
            "/api/oof/v1/inventory",
            r#"{"cloud-region": [{"cloud-owner": "o", "cloud-region-id": "r"}, {"cloud-owner": "o", "cloud-region-id": "r"}]}"#,
        ),
        (
            "/api/oof/v1/inventory",
            r#"{"service-instance": [{"service-instance-id": "", "cloud-owner": "o", "cloud-region-id": "r"}]}"#,
        ),
        (
            "/api/oof/v1/inventory",
            r#"{"service-instance": [{"service-instance-id": "s", "cloud-owner": "o", "cloud-region-id": "r", "vnf-colour": "red"}]}"#,
        ),
        ("/api/oof/v1/policies/p1", "{\"properties\": {}}"),
        ("/api/oof/v1/policies/p1", "[]"),
    ] {
        let r = put(path, body, admin).await.expect("send");
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{path} {body}");
        let v: Value = r.json().await.expect("json");
        assert_eq!(
            v["serviceException"]["errorType"], "InvalidClientRequest",
            "{v}"
        );
    }
    let r = put("/api/oof/v1/inventory", "{}", None)
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    // A user who may place but is not an administrator cannot change them.
    let token = app.admin_token().await;
    let p = app.project(&token, "placers").await;
    app.user(&token, "so-client", &p, "project_admin").await;
    let r = put(
        "/api/oof/v1/inventory",
        "{}",
        Some(("so-client", crate::PW)),
    )
    .await
    .expect("send");
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    // Nothing changed: the inventory file's five regions and the four policies are still there.
    let inv: Value = app
        .client
        .get(format!("{base}/api/oof/v1/inventory"))
        .basic_auth("admin", Some("admin"))
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    assert_eq!(inv["cloud-region"].as_array().map(Vec::len), Some(5));
    let pol: Value = app
        .client
        .get(format!("{base}/api/oof/v1/policies"))
        .basic_auth("admin", Some("admin"))
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    assert_eq!(pol.as_array().map(Vec::len), Some(4));
    let r = app
        .client
        .delete(format!("{base}/api/oof/v1/policies/nope"))
        .basic_auth("admin", Some("admin"))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    app.stop().await;
}
