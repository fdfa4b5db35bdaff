//! The DMI plugin over HTTP against a real NETCONF device (yuma123 netconfd behind sshd): NCMP's
//! current contract, the seed's resource API, async results as events, device faults, bad input.
//! Writes are cross-checked by reading the device with a second, independent client (ncclient).

use std::time::{Duration, Instant};

use netorch_test_support::netconf::{NETCONF_PASSWORD, NETCONF_USER, NetconfDevice};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::TestApp;

const BS: &str = "netorch-bookstore";

fn device() -> Option<NetconfDevice> {
    if !NetconfDevice::available() {
        eprintln!("SKIPPED: netconfd/sshd/root not available (scripts/test installs them)");
        return None;
    }
    Some(NetconfDevice::start().expect("netconfd starts"))
}

/// A server whose device limits are generous: the suite runs these tests beside ones that start
/// several processes on a 2-core machine, where netconfd's first answer once took over 10 s.
async fn app() -> TestApp {
    app_with_device_limit(Duration::from_secs(30)).await
}

async fn app_with_device_limit(limit: Duration) -> TestApp {
    TestApp::start_with(move |c| {
        c.dmi.sync_interval = Duration::from_millis(200);
        c.dmi.sync_retry = Duration::from_millis(200);
        c.dmi.sync_retry_max = Duration::from_millis(400);
        c.dmi.connect_timeout = limit;
        c.dmi.rpc_timeout = limit;
        c.dmi.reconnect_max = Duration::from_millis(200);
        c.dmi.async_timeout = limit + Duration::from_secs(2);
    })
    .await
}

/// An HTTP call with NCMP's credentials (HTTP Basic, a netorch administrator).
async fn dmi(
    app: &TestApp,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    dmi_raw(
        app,
        method,
        path,
        body.map(|b| ("application/json", b.to_string())),
    )
    .await
}

async fn dmi_raw(
    app: &TestApp,
    method: Method,
    path: &str,
    body: Option<(&str, String)>,
) -> (StatusCode, Value) {
    let mut rb = app
        .client
        .request(method, format!("{}{path}", app.base))
        .basic_auth("admin", Some("admin"));
    if let Some((ct, b)) = body {
        rb = rb.header("Content-Type", ct).body(b);
    }
    let r = rb.send().await.expect("send");
    let status = r.status();
    let text = r.text().await.expect("body");
    let v = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    };
    (status, v)
}

fn handle_entry(dev: &NetconfDevice, id: &str, password: &str) -> Value {
    json!({
        "cmHandle": id,
        "netconf": {"host": "127.0.0.1", "port": dev.port, "username": NETCONF_USER,
                    "password": password, "hostKey": dev.fingerprint},
        "additionalProperties": {"subsystemId": "system-001", "targetId": format!("ManagedElement={id}")},
        "dataProducerIdentifier": "source-1",
    })
}

async fn register(app: &TestApp, entries: Vec<Value>) -> (StatusCode, Value) {
    dmi(
        app,
        Method::POST,
        "/dmi/v1/inventory/cmHandles",
        Some(json!({"cmHandles": entries})),
    )
    .await
}

async fn wait_state(app: &TestApp, id: &str, want: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (s, v) = dmi(
            app,
            Method::GET,
            &format!("/dmi/v1/inventory/cmHandles/{id}"),
            None,
        )
        .await;
        assert_eq!(s, StatusCode::OK, "{v}");
        if v["state"] == json!(want) {
            return v;
        }
        assert!(Instant::now() < deadline, "{id} never became {want}: {v}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn ready_handle(app: &TestApp, dev: &NetconfDevice, id: &str) {
    let (s, v) = register(app, vec![handle_entry(dev, id, NETCONF_PASSWORD)]).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    wait_state(app, id, "READY").await;
}

/// The device's running configuration of the test module, read by ncclient (a second client).
fn device_running(dev: &NetconfDevice) -> String {
    let script = format!(
        r#"
from ncclient import manager
m = manager.connect(host="127.0.0.1", port={port}, username="{user}", password="{pw}",
    hostkey_verify=False, allow_agent=False, look_for_keys=False, timeout=10)
print(m.get_config(source="running", filter=("subtree", '<bookstore xmlns="urn:netorch:test:bookstore"/>')).data_xml)
m.close_session()
"#,
        port = dev.port,
        user = NETCONF_USER,
        pw = NETCONF_PASSWORD
    );
    let out = std::process::Command::new("/usr/bin/python3")
        .arg("-c")
        .arg(script)
        .output()
        .expect("python3 with ncclient");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn passthrough(ch: &str, ds: &str, rid: &str, extra: &str) -> String {
    format!("/dmi/v1/ch/{ch}/data/ds/ncmp-datastore:{ds}?resourceIdentifier={rid}{extra}")
}

fn assert_ncmp_error(s: StatusCode, v: &Value, want: StatusCode) {
    assert_eq!(s, want, "{v}");
    assert!(
        v["status"]
            .as_str()
            .is_some_and(|t| t.starts_with(&want.as_u16().to_string())),
        "{v}"
    );
    assert!(v["message"].is_string() && v["details"].is_string(), "{v}");
}

fn assert_seed_error(s: StatusCode, v: &Value, want: StatusCode, tag: &str) {
    assert_eq!(s, want, "{v}");
    assert_eq!(v["error"]["error-tag"], json!(tag), "{v}");
    assert!(
        v["error"]["error-type"].is_string() && v["error"]["error-message"].is_string(),
        "{v}"
    );
}

#[tokio::test]
async fn a_registered_device_becomes_ready_and_serves_ncmp_its_modules_and_sources() {
    let Some(dev) = device() else { return };
    let app = app().await;
    let mut rx = app.bus.subscribe();
    let (s, v) = register(&app, vec![handle_entry(&dev, "ch-1", NETCONF_PASSWORD)]).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert_eq!(v["cmHandles"][0]["status"], json!("CREATED"), "{v}");
    assert_eq!(v["cmHandles"][0]["state"], json!("ADVISED"), "{v}");
    let h = wait_state(&app, "ch-1", "READY").await;
    let text = h.to_string();
    assert!(
        !text.contains(NETCONF_PASSWORD) && !text.contains("secret"),
        "{text}"
    );
    assert_eq!(h["netconf"]["authentication"], json!("password"));
    // The stored credentials are sealed.
    let stored = netorch_core::tenancy::RecordRepository::get_record(
        &app.store,
        "dmi_cm_handles",
        "ch-1",
        &netorch_core::tenancy::ProjectScope::All,
        false,
    )
    .await
    .expect("read")
    .expect("stored");
    assert!(!stored.body.to_string().contains(NETCONF_PASSWORD));

    let (s, v) = dmi(
        &app,
        Method::POST,
        "/dmi/v1/ch/ch-1/modules",
        Some(json!({"cmHandleProperties": {}})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let schemas = v["schemas"].as_array().expect("schemas");
    let mine = schemas
        .iter()
        .find(|m| m["moduleName"] == json!(BS))
        .expect("test module listed");
    assert_eq!(mine["revision"], json!("2026-12-01"));
    assert_eq!(mine["namespace"], json!("urn:netorch:test:bookstore"));

    let (s, v) = dmi(
        &app,
        Method::POST,
        "/dmi/v1/ch/ch-1/moduleResources",
        Some(json!({"data": {"modules": [{"name": BS, "revision": "2026-12-01"}]}})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let source = std::fs::read_to_string(NetconfDevice::yang_dir().join("netorch-bookstore.yang"))
        .expect("yang");
    assert_eq!(v[0]["yangSource"], json!(source));
    assert_eq!(v[0]["moduleName"], json!(BS));
    let (s, v) = dmi(
        &app,
        Method::POST,
        "/dmi/v1/ch/ch-1/moduleResources",
        Some(json!({"data": {"modules": [{"name": "no-such-module"}]}})),
    )
    .await;
    assert_ncmp_error(s, &v, StatusCode::NOT_FOUND);

    // The seed's model API: an ietf-yang-library module set.
    let (s, v) = dmi(&app, Method::GET, "/dmi/v1/model/ch/ch-1", None).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let set = &v["ietf-yang-library:modules-state"];
    assert_eq!(set["module-set-id"], json!("ch-1"));
    assert!(
        set["module"]
            .as_array()
            .expect("modules")
            .iter()
            .any(|m| m["name"] == json!(BS))
    );

    // LCM events: created ADVISED, then READY.
    let mut states = Vec::new();
    while let Ok(Ok(e)) = tokio::time::timeout(Duration::from_millis(500), rx.recv()).await {
        if e.topic == "ncmp-events" && e.key == "ch-1" {
            states.push(e.payload["event"]["newValues"]["cmHandleState"].clone());
        }
    }
    assert_eq!(states.first(), Some(&json!("ADVISED")), "{states:?}");
    assert!(states.contains(&json!("READY")), "{states:?}");

    // Health, as NCMP polls it: no credentials.
    let r = app
        .client
        .get(format!("{}/actuator/health", app.base))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        r.json::<Value>().await.expect("json"),
        json!({"status": "UP"})
    );
}

#[tokio::test]
async fn ncmp_passthrough_writes_land_on_the_device_and_reads_answer_what_it_holds() {
    let Some(dev) = device() else { return };
    let app = app().await;
    ready_handle(&app, &dev, "ch-1").await;
    let data = |op: &str, d: Value| json!({"operation": op, "dataType": "application/yang-data+json", "data": d.to_string(), "requestId": "r1"});

    // create: the child under the resource identifier.
    let (s, v) = dmi(
        &app,
        Method::POST,
        &passthrough(
            "ch-1",
            "passthrough-running",
            "netorch-bookstore:bookstore",
            "",
        ),
        Some(data(
            "create",
            json!({"netorch-bookstore:categories": [{"code": "01", "name": "SciFi",
            "books": [{"title": "Dune", "price": 10, "authors": ["Frank Herbert"]},
                      {"title": "Solaris", "price": 8}]}]}),
        )),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let on_device = device_running(&dev);
    assert!(
        on_device.contains("<title>Dune</title>") && on_device.contains("<code>01</code>"),
        "{on_device}"
    );

    // read: what the device holds, as RESTCONF answers it.
    let (s, v) = dmi(
        &app,
        Method::POST,
        &passthrough(
            "ch-1",
            "passthrough-operational",
            "netorch-bookstore:bookstore/categories=01/books=Dune",
            "",
        ),
        Some(json!({"operation": "read"})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(
        v,
        json!({"netorch-bookstore:books": [{"title": "Dune", "price": 10, "authors": ["Frank Herbert"]}]})
    );
    // options trim it: fields, depth.
    let (s, v) = dmi(
        &app,
        Method::POST,
        &passthrough(
            "ch-1",
            "passthrough-running",
            "netorch-bookstore:bookstore",
            "&options=(fields=categories/books/title)",
        ),
        Some(json!({"operation": "read"})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(
        v,
        json!({"netorch-bookstore:bookstore": {"categories": [{"books": [{"title": "Dune"}, {"title": "Solaris"}]}]}})
    );
    let (s, v) = dmi(
        &app,
        Method::POST,
        &passthrough(
            "ch-1",
            "passthrough-running",
            "netorch-bookstore:bookstore/categories=01",
            "&options=(depth=1)",
        ),
        Some(json!({"operation": "read"})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(
        v,
        json!({"netorch-bookstore:categories": [{"code": "01", "name": "SciFi"}]})
    );

    // update (replace) and patch (merge).
    let (s, v) = dmi(
        &app,
        Method::POST,
        &passthrough("ch-1", "passthrough-running", "netorch-bookstore:bookstore/categories=01/books=Solaris", ""),
        Some(data("update", json!({"netorch-bookstore:books": [{"title": "Solaris", "price": 9, "isbn": "0156027607"}]}))),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (s, v) = dmi(
        &app,
        Method::POST,
        &passthrough(
            "ch-1",
            "passthrough-running",
            "netorch-bookstore:bookstore/categories=01",
            "",
        ),
        Some(data(
            "patch",
            json!({"netorch-bookstore:categories": [{"code": "01", "name": "Science fiction"}]}),
        )),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let on_device = device_running(&dev);
    assert!(
        on_device.contains("<isbn>0156027607</isbn>") && on_device.contains("Science fiction"),
        "{on_device}"
    );

    // a yang-patch: two edits, one commit.
    let patch = json!({"ietf-yang-patch:yang-patch": {"patch-id": "p1", "edit": [
        {"edit-id": "e1", "operation": "merge", "target": "/categories=01/books=Dune",
         "value": {"netorch-bookstore:books": [{"title": "Dune", "price": 11}]}},
        {"edit-id": "e2", "operation": "create", "target": "/categories=02",
         "value": {"netorch-bookstore:categories": [{"code": "02", "name": "Poetry"}]}}
    ]}});
    let (s, v) = dmi(
        &app,
        Method::POST,
        &passthrough("ch-1", "passthrough-running", "netorch-bookstore:bookstore", ""),
        Some(json!({"operation": "patch", "dataType": "application/yang-patch+json", "data": patch.to_string()})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let on_device = device_running(&dev);
    assert!(
        on_device.contains("<price>11</price>") && on_device.contains("Poetry"),
        "{on_device}"
    );

    // delete.
    let (s, v) = dmi(
        &app,
        Method::POST,
        &passthrough(
            "ch-1",
            "passthrough-running",
            "netorch-bookstore:bookstore/categories=02",
            "",
        ),
        Some(json!({"operation": "delete"})),
    )
    .await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{v}");
    assert!(!device_running(&dev).contains("Poetry"));
    // NCMP percent-encodes the datastore segment and the query.
    let (s, v) = dmi(
        &app,
        Method::POST,
        "/dmi/v1/ch/ch-1/data/ds/ncmp-datastore%3Apassthrough-running?resourceIdentifier=netorch-bookstore%3Abookstore%2Fcategories%3D01%2Fname",
        Some(json!({"operation": "read"})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v, json!({"netorch-bookstore:name": "Science fiction"}));

    // The device's own validation (the must) is the client's error, in NCMP's shape.
    let (s, v) = dmi(
        &app,
        Method::POST,
        &passthrough(
            "ch-1",
            "passthrough-running",
            "netorch-bookstore:bookstore/categories=01/books=Dune",
            "",
        ),
        Some(data(
            "patch",
            json!({"netorch-bookstore:books": [{"title": "Dune", "discount": 50}]}),
        )),
    )
    .await;
    assert_ncmp_error(s, &v, StatusCode::BAD_REQUEST);
    assert!(
        v["message"]
            .as_str()
            .expect("message")
            .contains("discount must be lower"),
        "{v}"
    );
    // A second create of an existing entry: the device's data-exists, 409.
    let (s, v) = dmi(
        &app,
        Method::POST,
        &passthrough(
            "ch-1",
            "passthrough-running",
            "netorch-bookstore:bookstore",
            "",
        ),
        Some(data(
            "create",
            json!({"netorch-bookstore:categories": [{"code": "01"}]}),
        )),
    )
    .await;
    assert_ncmp_error(s, &v, StatusCode::CONFLICT);
}

#[tokio::test]
async fn the_seed_api_creates_reads_patches_deletes_and_invokes_rpcs() {
    let Some(dev) = device() else { return };
    let app = app().await;
    ready_handle(&app, &dev, "ch-9").await;
    let base = "/dmi/v1/data/ch/ch-9/ds/ncmp-datastore:running";
    let (s, v) = dmi(
        &app,
        Method::POST,
        &format!("{base}/netorch-bookstore:bookstore"),
        Some(
            json!({"netorch-bookstore:categories": [{"code": "07", "name": "Essays",
            "books": [{"title": "Walden", "price": 5}, {"title": "Nature", "price": 7}]}]}),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert!(device_running(&dev).contains("<title>Walden</title>"));
    // Create again: the seed's conflict body.
    let (s, v) = dmi(
        &app,
        Method::POST,
        &format!("{base}/netorch-bookstore:bookstore"),
        Some(json!({"netorch-bookstore:categories": [{"code": "07"}]})),
    )
    .await;
    assert_seed_error(s, &v, StatusCode::CONFLICT, "data-exists");

    // Reads: GET, and the seed's PUT on operational, with fields, depth and scope.
    let (s, v) = dmi(
        &app,
        Method::GET,
        "/dmi/v1/data/ch/ch-9/ds/ncmp-datastore:operational/netorch-bookstore:bookstore/categories=07?fields=books(title)",
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    // The device orders a system-ordered list by key.
    assert_eq!(
        v,
        json!({"netorch-bookstore:categories": [{"books": [{"title": "Nature"}, {"title": "Walden"}]}]})
    );
    let (s, v) = dmi(
        &app,
        Method::PUT,
        "/dmi/v1/data/ch/ch-9/ds/ncmp-datastore:operational/netorch-bookstore:bookstore/categories=07/books?scope=price=7",
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(
        v,
        json!({"netorch-bookstore:books": [{"title": "Nature", "price": 7}]})
    );
    let (s, v) = dmi(
        &app,
        Method::GET,
        "/dmi/v1/data/ch/ch-9/ds/ncmp-datastore:running/netorch-bookstore:bookstore?depth=2",
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(
        v,
        json!({"netorch-bookstore:bookstore": {"categories": [{"code": "07", "name": "Essays"}]}})
    );

    // PATCH merge, PUT replace, yang-patch, DELETE.
    let (s, v) = dmi(
        &app,
        Method::PATCH,
        &format!("{base}/netorch-bookstore:bookstore/categories=07/books=Walden"),
        Some(json!({"netorch-bookstore:books": [{"title": "Walden", "price": 6}]})),
    )
    .await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{v}");
    let (s, v) = dmi(
        &app,
        Method::PUT,
        &format!("{base}/netorch-bookstore:bookstore/categories=07/books=Nature"),
        Some(json!({"netorch-bookstore:books": [{"title": "Nature", "price": 3}]})),
    )
    .await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{v}");
    let (s, v) = dmi_raw(
        &app,
        Method::PATCH,
        &format!("{base}/netorch-bookstore:bookstore"),
        Some((
            "application/yang-patch+json",
            json!({"ietf-yang-patch:yang-patch": {"patch-id": "x", "edit": [
                {"edit-id": "1", "operation": "delete", "target": "/categories=07/books=Nature"}]}})
            .to_string(),
        )),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(
        v["ietf-yang-patch:yang-patch-status"]["patch-id"],
        json!("x")
    );
    let on_device = device_running(&dev);
    assert!(
        on_device.contains("<price>6</price>") && !on_device.contains("Nature"),
        "{on_device}"
    );
    let (s, v) = dmi(
        &app,
        Method::DELETE,
        &format!("{base}/netorch-bookstore:bookstore/categories=07"),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{v}");
    let (s, v) = dmi(
        &app,
        Method::DELETE,
        &format!("{base}/netorch-bookstore:bookstore/categories=07"),
        None,
    )
    .await;
    assert_seed_error(s, &v, StatusCode::NOT_FOUND, "data-missing");
    assert!(!device_running(&dev).contains("Walden"));

    // An RPC: the model validates the input, the device answers.
    let rpc = "/dmi/v1/operations/ch/ch-9/ds/ncmp-datastore:operational/netorch-bookstore:restock";
    let (s, v) = dmi(
        &app,
        Method::POST,
        rpc,
        Some(
            json!({"netorch-bookstore:input": {"category": "07", "title": "Walden", "copies": 3}}),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{v}");
    let (s, v) = dmi(
        &app,
        Method::POST,
        rpc,
        Some(json!({"netorch-bookstore:input": {"category": "07", "title": "Walden", "copies": 9000}})),
    )
    .await;
    assert_seed_error(s, &v, StatusCode::BAD_REQUEST, "invalid-value");

    // Sync: the models again, and the device's whole tree.
    let (s, v) = dmi(&app, Method::PUT, "/dmi/v1/sync/ch/ch-9", None).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert!(v.is_object(), "{v}");
}

#[tokio::test]
async fn async_passthrough_and_bulk_reads_arrive_as_ncmp_cloud_events() {
    let Some(dev) = device() else { return };
    let app = app().await;
    ready_handle(&app, &dev, "ch-a").await;
    ready_handle(&app, &dev, "ch-b").await;
    let mut rx = app.bus.subscribe();
    let (s, v) = dmi(
        &app,
        Method::POST,
        &passthrough(
            "ch-a",
            "passthrough-running",
            "netorch-bookstore:bookstore",
            "&topic=client-topic",
        ),
        Some(
            json!({"operation": "create", "dataType": "application/json", "requestId": "req-1",
                    "data": json!({"netorch-bookstore:name": "Shop"}).to_string()}),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{v}");
    let e = next_event(&mut rx, "ncmp-async-m2m").await;
    assert_eq!(
        e["type"],
        json!("org.onap.cps.ncmp.events.async1_0_0.DataOperationEvent")
    );
    assert_eq!(e["destination"], json!("client-topic"));
    assert_eq!(e["correlationid"], json!("req-1"));
    let r = &e["data"]["data"]["responses"][0];
    assert_eq!(r["statusCode"], json!("0"), "{e}");
    assert_eq!(r["ids"], json!(["ch-a"]));
    assert!(device_running(&dev).contains("<name>Shop</name>"));

    let (s, v) = dmi(
        &app,
        Method::POST,
        "/dmi/v1/data?topic=bulk-topic&requestId=req-2",
        Some(
            json!({"operations": [{"operation": "read", "operationId": "op-1",
            "datastore": "ncmp-datastore:passthrough-operational",
            "resourceIdentifier": "netorch-bookstore:bookstore/name",
            "cmHandles": [{"id": "ch-a"}, {"id": "ch-b"}, {"id": "ch-unknown"}]}]}),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    let mut by_handle = std::collections::BTreeMap::new();
    for _ in 0..3 {
        let e = next_event(&mut rx, "ncmp-async-m2m").await;
        assert_eq!(e["correlationid"], json!("req-2"));
        let r = e["data"]["data"]["responses"][0].clone();
        by_handle.insert(r["ids"][0].as_str().expect("id").to_string(), r);
    }
    assert_eq!(by_handle["ch-a"]["statusCode"], json!("0"));
    assert_eq!(
        by_handle["ch-a"]["result"],
        json!({"netorch-bookstore:name": "Shop"})
    );
    assert_eq!(by_handle["ch-a"]["operationId"], json!("op-1"));
    // ch-b is the same device under another handle: the same answer.
    assert_eq!(
        by_handle["ch-b"]["result"],
        json!({"netorch-bookstore:name": "Shop"})
    );
    assert_eq!(by_handle["ch-unknown"]["statusCode"], json!("100"));

    // Only reads in bulk; data jobs are not implemented.
    let (s, v) = dmi(
        &app,
        Method::POST,
        "/dmi/v1/data?topic=t&requestId=r",
        Some(json!({"operations": [{"operation": "create", "datastore": "ncmp-datastore:passthrough-running",
            "cmHandles": [{"id": "ch-a"}]}]})),
    )
    .await;
    assert_ncmp_error(s, &v, StatusCode::NOT_IMPLEMENTED);
    let (s, v) = dmi(
        &app,
        Method::POST,
        "/dmi/v1/cmwriteJob?destination=x",
        Some(json!({})),
    )
    .await;
    assert_ncmp_error(s, &v, StatusCode::NOT_IMPLEMENTED);
}

async fn next_event(
    rx: &mut tokio::sync::broadcast::Receiver<std::sync::Arc<netorch_core::events::OutboxEvent>>,
    topic: &str,
) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let e = tokio::time::timeout(left, rx.recv())
            .await
            .unwrap_or_else(|_| panic!("no event on {topic}"))
            .expect("bus");
        if e.topic == topic {
            return e.payload.clone();
        }
    }
}

#[tokio::test]
async fn device_faults_are_clear_errors_within_the_timeout_and_the_handle_recovers_by_itself() {
    let Some(mut dev) = device() else { return };
    // Short limits, so that a frozen device is seen quickly.
    let app = app_with_device_limit(Duration::from_secs(3)).await;
    ready_handle(&app, &dev, "ch-f").await;
    let path = passthrough(
        "ch-f",
        "passthrough-running",
        "netorch-bookstore:bookstore",
        "",
    );
    let read = || {
        dmi(
            &app,
            Method::POST,
            &path,
            Some(json!({"operation": "read"})),
        )
    };
    let (s, v) = read().await;
    assert_eq!(s, StatusCode::NOT_FOUND, "empty store: {v}");

    // Frozen: 504 within the RPC limit.
    dev.freeze();
    let t = Instant::now();
    let (s, v) = read().await;
    assert_ncmp_error(s, &v, StatusCode::GATEWAY_TIMEOUT);
    assert!(
        t.elapsed() < Duration::from_secs(10),
        "answered after {:?}",
        t.elapsed()
    );
    dev.thaw();

    // Down: 502 at once, the seed's shape on its API.
    dev.stop();
    let (s, v) = read().await;
    assert_ncmp_error(s, &v, StatusCode::BAD_GATEWAY);
    let (s, v) = dmi(
        &app,
        Method::GET,
        "/dmi/v1/data/ch/ch-f/ds/ncmp-datastore:running/netorch-bookstore:bookstore",
        None,
    )
    .await;
    assert_eq!(s, StatusCode::BAD_GATEWAY, "{v}");
    assert_eq!(v["error"]["error-type"], json!("transport"), "{v}");

    // Back: served again without re-registration.
    dev.restart().expect("restart");
    // What must hold is that it comes back by itself, not how soon: a restarted netconfd on a
    // loaded machine can take longer than one 3 s limit.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (s, _) = read().await;
        if s == StatusCode::NOT_FOUND {
            break;
        }
        assert!(Instant::now() < deadline, "never recovered: {s}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Wrong credentials: LOCKED with the reason, retried; fixed by re-registration.
    let (s, v) = register(&app, vec![handle_entry(&dev, "ch-w", "wrong")]).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let h = wait_state(&app, "ch-w", "LOCKED").await;
    assert_eq!(
        h["lockReason"]["reason"],
        json!("MODULE_SYNC_FAILED"),
        "{h}"
    );
    assert!(
        h["lockReason"]["details"]
            .as_str()
            .expect("details")
            .starts_with("Attempt #"),
        "{h}"
    );
    let (s, v) = register(&app, vec![handle_entry(&dev, "ch-w", NETCONF_PASSWORD)]).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["cmHandles"][0]["status"], json!("UPDATED"));
    wait_state(&app, "ch-w", "READY").await;
}

#[tokio::test]
async fn bad_input_is_refused_before_anything_reaches_the_device() {
    let Some(dev) = device() else { return };
    let app = app().await;
    ready_handle(&app, &dev, "ch-x").await;
    let before = device_running(&dev);
    let cases: Vec<(String, Value, StatusCode)> = vec![
        (
            passthrough(
                "nope",
                "passthrough-running",
                "netorch-bookstore:bookstore",
                "",
            ),
            json!({"operation": "read"}),
            StatusCode::NOT_FOUND,
        ),
        (
            passthrough("ch-x", "running", "netorch-bookstore:bookstore", ""),
            json!({"operation": "read"}),
            StatusCode::BAD_REQUEST,
        ),
        (
            passthrough(
                "ch-x",
                "passthrough-running",
                "netorch-bookstore:bookstore",
                "&options=depth=2",
            ),
            json!({"operation": "read"}),
            StatusCode::BAD_REQUEST,
        ),
        (
            passthrough(
                "ch-x",
                "passthrough-running",
                "netorch-bookstore:bookstore",
                "&options=(colour=red)",
            ),
            json!({"operation": "read"}),
            StatusCode::BAD_REQUEST,
        ),
        (
            passthrough(
                "ch-x",
                "passthrough-running",
                "netorch-bookstore:bookstore",
                "",
            ),
            json!({"operation": "create", "data": "{not json"}),
            StatusCode::BAD_REQUEST,
        ),
        (
            passthrough(
                "ch-x",
                "passthrough-running",
                "netorch-bookstore:bookstore",
                "",
            ),
            json!({"operation": "create", "data": json!({"netorch-bookstore:categories": [{"code": "1", "books": [{"title": "t", "price": 5000}]}]}).to_string()}),
            StatusCode::BAD_REQUEST,
        ),
        (
            passthrough(
                "ch-x",
                "passthrough-running",
                "netorch-bookstore:shelves",
                "",
            ),
            json!({"operation": "read"}),
            StatusCode::BAD_REQUEST,
        ),
        (
            passthrough(
                "ch-x",
                "passthrough-running",
                "netorch-bookstore:bookstore",
                "",
            ),
            json!({"operation": "create", "data": json!({"netorch-bookstore:nonsense": 1}).to_string()}),
            StatusCode::BAD_REQUEST,
        ),
        (
            passthrough(
                "ch-x",
                "passthrough-operational",
                "netorch-bookstore:bookstore",
                "",
            ),
            json!({"operation": "create", "data": "{}"}),
            StatusCode::BAD_REQUEST,
        ),
        (
            passthrough("ch-x", "passthrough-running", "/ManagedElement=1", ""),
            json!({"operation": "read"}),
            StatusCode::BAD_REQUEST,
        ),
        (
            passthrough(
                "ch-x",
                "passthrough-running",
                "netorch-bookstore:bookstore",
                "",
            ),
            json!({"operation": "explode"}),
            StatusCode::BAD_REQUEST,
        ),
    ];
    for (path, body, want) in cases {
        let (s, v) = dmi(&app, Method::POST, &path, Some(body.clone())).await;
        assert_ncmp_error(s, &v, want);
        let _ = (path, body);
    }
    assert_eq!(device_running(&dev), before, "nothing reached the device");

    // The seed API refuses in its shape.
    let (s, v) = dmi(
        &app,
        Method::GET,
        "/dmi/v1/data/ch/ch-x/ds/ncmp-datastore:candidate/netorch-bookstore:bookstore",
        None,
    )
    .await;
    assert_seed_error(s, &v, StatusCode::BAD_REQUEST, "malformed-message");
    let (s, v) = dmi(
        &app,
        Method::POST,
        "/dmi/v1/data/ch/ch-x/ds/ncmp-datastore:operational/netorch-bookstore:bookstore",
        Some(json!({})),
    )
    .await;
    assert_seed_error(s, &v, StatusCode::BAD_REQUEST, "malformed-message");
    let (s, v) = dmi(
        &app,
        Method::GET,
        "/dmi/v1/data/ch/ch-x/ds/ncmp-datastore:running/netorch-bookstore:bookstore?depth=0",
        None,
    )
    .await;
    assert_seed_error(s, &v, StatusCode::BAD_REQUEST, "malformed-message");

    // Registration: per-handle results, nothing half-stored.
    let (s, v) = register(
        &app,
        vec![
            json!({"cmHandle": "bad id/with slash", "netconf": {"host": "h", "username": "u", "password": "p"}}),
            json!({"cmHandle": "no-device"}),
            json!({"cmHandle": "two-secrets", "netconf": {"host": "h", "username": "u", "password": "p", "privateKey": "k"}}),
            json!({"cmHandle": "ok-1", "netconf": {"host": "127.0.0.1", "port": dev.port, "username": "u", "password": "p"}, "alternateId": "ME=1"}),
            json!({"cmHandle": "ok-2", "netconf": {"host": "127.0.0.1", "port": dev.port, "username": "u", "password": "p"}, "alternateId": "ME=1"}),
        ],
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let r = v["cmHandles"].as_array().expect("results");
    assert_eq!(r[0]["errorCode"], json!("110"), "{v}");
    assert_eq!(r[1]["errorCode"], json!("108"), "{v}");
    assert_eq!(r[2]["errorCode"], json!("108"), "{v}");
    assert_eq!(r[3]["status"], json!("CREATED"), "{v}");
    assert_eq!(r[4]["errorCode"], json!("111"), "{v}");
    let (s, v) = dmi(
        &app,
        Method::POST,
        "/dmi/v1/inventory/cmHandles",
        Some(json!({"cmHandles": []})),
    )
    .await;
    assert_ncmp_error(s, &v, StatusCode::BAD_REQUEST);
    // By alternate id, as NCMP may address a handle.
    let (s, v) = dmi(&app, Method::GET, "/dmi/v1/inventory/cmHandles/ME=1", None).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["cmHandle"], json!("ok-1"));
}

#[tokio::test]
async fn credentials_and_permissions_are_checked_in_ncmp_shape() {
    let app = app().await;
    let r = app
        .client
        .post(format!("{}/dmi/v1/ch/x/modules", app.base))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(r.headers().contains_key("www-authenticate"));
    let v: Value = r.json().await.expect("json");
    assert_eq!(v["status"], json!("401 UNAUTHORIZED"), "{v}");
    let r = app
        .client
        .get(format!("{}/dmi/v1/inventory/cmHandles", app.base))
        .basic_auth("admin", Some("wrong"))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    // A user whose role lacks the DMI permissions.
    let t = app.admin_token().await;
    let (s, _, v) = app
        .call(
            Method::POST,
            "/osm/admin/v1/users",
            Some(&t),
            Some(json!({"username": "viewer", "password": crate::PW,
                        "project_role_mappings": [{"project": "admin", "role": "project_user"}]})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let r = app
        .client
        .get(format!("{}/dmi/v1/inventory/cmHandles", app.base))
        .basic_auth("viewer", Some(crate::PW))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn the_data_source_refresh_publishes_the_seed_inventory_event_and_removal_ends_deleted() {
    let Some(dev) = device() else { return };
    let app = app().await;
    ready_handle(&app, &dev, "ch-s").await;
    let mut rx = app.bus.subscribe();
    let (s, v) = dmi(
        &app,
        Method::GET,
        "/v1/dmi-source/source-1?topic=my-inventory",
        None,
    )
    .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    let e = next_event(&mut rx, "my-inventory").await;
    assert_eq!(e["dmi-source-id"], json!("source-1"));
    assert_eq!(e["createdcmhandles"][0]["cmhandle"], json!("ch-s"));
    assert_eq!(
        e["createdcmhandles"][0]["additionalProperties"]["subsystemId"],
        json!("system-001")
    );
    let (s, _) = dmi(&app, Method::GET, "/v1/dmi-source?topic=", None).await;
    assert_eq!(s, StatusCode::ACCEPTED);
    let e = next_event(&mut rx, "NCMP_INVENTORY").await;
    assert_eq!(e["dmi-source-id"], json!("source-1"));
    let (s, v) = dmi(&app, Method::GET, "/v1/dmi-source/nobody", None).await;
    assert_seed_error(s, &v, StatusCode::NOT_FOUND, "invalid-value");

    let (s, v) = dmi(
        &app,
        Method::DELETE,
        "/dmi/v1/inventory/cmHandles/ch-s",
        None,
    )
    .await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{v}");
    let mut states = Vec::new();
    while let Ok(Ok(e)) = tokio::time::timeout(Duration::from_millis(500), rx.recv()).await {
        if e.topic == "ncmp-events" && e.key == "ch-s" {
            states.push((
                e.payload["event"]["oldValues"]["cmHandleState"].clone(),
                e.payload["event"]["newValues"]["cmHandleState"].clone(),
            ));
        }
    }
    assert_eq!(
        states.first().map(|s| &s.1),
        Some(&json!("DELETING")),
        "{states:?}"
    );
    assert_eq!(
        states.last().map(|s| &s.0),
        Some(&json!("DELETED")),
        "{states:?}"
    );
    let (s, v) = dmi(&app, Method::GET, "/dmi/v1/inventory/cmHandles/ch-s", None).await;
    assert_ncmp_error(s, &v, StatusCode::NOT_FOUND);
}

/// A stand-in NCMP inventory: records every registration body, refuses handle `ch-dup` as NCMP
/// does (500 with a per-handle failure).
async fn fake_ncmp() -> (String, std::sync::Arc<std::sync::Mutex<Vec<Value>>>) {
    use axum::{Json, Router, http::HeaderMap, routing::post};
    let seen: std::sync::Arc<std::sync::Mutex<Vec<Value>>> = Default::default();
    let s2 = seen.clone();
    let app = Router::new().route(
        "/ncmpInventory/v1/ch",
        post(move |headers: HeaderMap, Json(body): Json<Value>| {
            let seen = s2.clone();
            async move {
                let auth = headers
                    .get("authorization")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_string();
                let mut b = body.clone();
                b["authorization"] = json!(auth);
                seen.lock().expect("lock").push(b);
                let dup = body["createdCmHandles"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|h| h["cmHandle"] == json!("ch-dup"));
                if dup {
                    (
                        StatusCode::INTERNAL_SERVER_ERROR,
                        Json(json!({"failedCreatedCmHandles": [{"cmHandle": "ch-dup", "errorCode": "109", "errorText": "cm-handle already exists"}],
                                    "failedUpdatedCmHandles": [], "failedRemovedCmHandles": [], "failedUpgradeCmHandles": []})),
                    )
                } else {
                    (StatusCode::OK, Json(json!({})))
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    (base, seen)
}

#[tokio::test]
async fn handles_are_registered_with_ncmp_in_batches_and_its_per_handle_failures_are_recorded() {
    let (ncmp, seen) = fake_ncmp().await;
    let app = TestApp::start_with(|c| {
        c.dmi.ncmp_url = Some(ncmp.clone());
        c.dmi.ncmp_username = Some("cpsuser".into());
        c.dmi.ncmp_password = Some("cpsuser-pass".into());
        c.dmi.ncmp_batch = 2;
        c.dmi.plugin_id = Some("http://dmi.example:8080".into());
        c.dmi.sync_interval = Duration::from_secs(3600);
    })
    .await;
    let entry = |id: &str| {
        json!({"cmHandle": id, "netconf": {"host": "127.0.0.1", "port": 9, "username": "u", "password": "p"},
               "moduleSetTag": "tagA", "alternateId": format!("ME={id}"), "additionalProperties": {"color": "blue"}})
    };
    let (s, v) = register(&app, vec![entry("ch-1"), entry("ch-2"), entry("ch-dup")]).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let deadline = Instant::now() + Duration::from_secs(20);
    let dup = loop {
        let (_, v) = dmi(
            &app,
            Method::GET,
            "/dmi/v1/inventory/cmHandles/ch-dup",
            None,
        )
        .await;
        if v["ncmpRegistration"]["state"].is_string() {
            break v;
        }
        assert!(Instant::now() < deadline, "never registered: {v}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(dup["ncmpRegistration"]["state"], json!("FAILED"), "{dup}");
    assert_eq!(dup["ncmpRegistration"]["errorCode"], json!("109"), "{dup}");
    let (_, one) = dmi(&app, Method::GET, "/dmi/v1/inventory/cmHandles/ch-1", None).await;
    assert_eq!(
        one["ncmpRegistration"]["state"],
        json!("REGISTERED"),
        "{one}"
    );
    {
        let bodies = seen.lock().expect("lock");
        assert_eq!(bodies.len(), 2, "3 handles in batches of 2: {bodies:?}");
        for b in bodies.iter() {
            assert_eq!(b["dmiPlugin"], json!("http://dmi.example:8080"));
            assert!(b["createdCmHandles"].as_array().expect("created").len() <= 2);
            assert!(
                b["authorization"]
                    .as_str()
                    .expect("auth")
                    .starts_with("Basic ")
            );
        }
        let first = &bodies[0]["createdCmHandles"][0];
        assert_eq!(first["cmHandle"], json!("ch-1"));
        assert_eq!(first["moduleSetTag"], json!("tagA"));
        assert_eq!(first["alternateId"], json!("ME=ch-1"));
        assert_eq!(first["cmHandleProperties"], json!({"color": "blue"}));
        assert!(!b_contains_secret(&bodies));
    }
    // The DMI contract's own call: ids of known handles, registered with NCMP again.
    let before = seen.lock().expect("lock").len();
    let (s, v) = dmi(
        &app,
        Method::POST,
        "/dmi/v1/inventory/cmHandles",
        Some(json!({"cmHandles": ["ch-1"]})),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert_eq!(v, json!("cm-handle registered successfully"));
    let (s, v) = dmi(
        &app,
        Method::POST,
        "/dmi/v1/inventory/cmHandles",
        Some(json!({"cmHandles": ["nobody"]})),
    )
    .await;
    assert_ncmp_error(s, &v, StatusCode::BAD_REQUEST);
    let deadline = Instant::now() + Duration::from_secs(20);
    while seen.lock().expect("lock").len() == before {
        assert!(
            Instant::now() < deadline,
            "the re-registration never reached NCMP"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Removal is registered too.
    let (s, _) = dmi(
        &app,
        Method::DELETE,
        "/dmi/v1/inventory/cmHandles/ch-2",
        None,
    )
    .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if seen
            .lock()
            .expect("lock")
            .iter()
            .any(|b| b["removedCmHandles"] == json!(["ch-2"]))
        {
            break;
        }
        assert!(Instant::now() < deadline, "removal never sent");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn b_contains_secret(bodies: &[Value]) -> bool {
    bodies.iter().any(|b| {
        let t = b["createdCmHandles"].to_string();
        t.contains("\"p\"") || t.contains("password")
    })
}
