//! OSM NS lifecycle over HTTP, as osmclient drives it: create + instantiate, wait, list, show, op
//! list, terminate, delete — on the simulated cloud, whose capacity is checked before and after.

use std::time::Duration;

use netorch_core::cloud::SimulatedCloudRepository;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::{PW, TestApp, assert_osm_error};

const VNFD: &str = "vnfd:
  id: web_vnfd
  product-name: web
  mgmt-cp: mgmt-ext
  ext-cpd: [{id: mgmt-ext, int-cpd: {vdu-id: web, cpd: eth0}}]
  vdu:
    - {id: web, name: web, sw-image-desc: ubuntu, virtual-compute-desc: small, virtual-storage-desc: [disk], int-cpd: [{id: eth0}]}
  virtual-compute-desc: [{id: small, virtual-cpu: {num-virtual-cpu: 2}, virtual-memory: {size: 1.0}}]
  virtual-storage-desc: [{id: disk, size-of-storage: 10}]
  sw-image-desc: [{id: ubuntu, name: ubuntu20.04, image: ubuntu20.04}]
  df:
    - id: default
      vdu-profile: [{id: web, min-number-of-instances: 1, max-number-of-instances: 3}]
      scaling-aspect: [{id: web_scale, max-scale-level: 2, aspect-delta-details: {deltas: [{id: one_more, vdu-delta: [{id: web, number-of-instances: 1}]}]}}]
";

const NSD: &str = "nsd:
  nsd:
    - id: web_ns
      name: web_ns
      vnfd-id: [web_vnfd]
      virtual-link-desc: [{id: mgmtnet, mgmt-network: true}]
      sapd: [{id: nsd_cp_mgmt, virtual-link-desc: mgmtnet}]
      df:
        - id: default
          vnf-profile:
            - {id: '1', vnfd-id: web_vnfd, virtual-link-connectivity: [{virtual-link-profile-id: mgmtnet, constituent-cpd-id: [{constituent-base-element-id: '1', constituent-cpd-id: mgmt-ext}]}]}
            - {id: '2', vnfd-id: web_vnfd, virtual-link-connectivity: [{virtual-link-profile-id: mgmtnet, constituent-cpd-id: [{constituent-base-element-id: '2', constituent-cpd-id: mgmt-ext}]}]}
";

/// Onboards a YAML descriptor (201); its id.
pub(crate) async fn onboard(app: &TestApp, token: &str, path: &str, yaml: &str) -> String {
    let r = app
        .client
        .post(format!("{}{path}", app.base))
        .bearer_auth(token)
        .header("Content-Type", "application/yaml")
        .header("Accept", "application/json")
        .body(yaml.to_string())
        .send()
        .await
        .expect("send");
    let status = r.status();
    let v: Value = r.json().await.expect("json");
    assert_eq!(status, StatusCode::CREATED, "{v}");
    v["id"].as_str().expect("id").to_string()
}

async fn dummy_vim(app: &TestApp, token: &str, name: &str, vcpus: u64) -> String {
    let (s, v) = app
        .post(
            "/osm/admin/v1/vim_accounts",
            token,
            json!({"name": name, "vim_type": "dummy", "vim_url": "http://dummy", "vim_tenant_name": "t",
                   "vim_user": "u", "vim_password": "p", "config": {"capacity": {"vcpus": vcpus}}}),
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    let id = v["id"].as_str().expect("id").to_string();
    for _ in 0..500 {
        let (_, v) = app
            .get(&format!("/osm/admin/v1/vim_accounts/{id}"), token)
            .await;
        if v["_admin"]["operationalState"] == json!("ENABLED") {
            return id;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("VIM {name} never became ENABLED");
}

/// Polls an operation until it leaves PROCESSING / ROLLING_BACK (what `--wait` does).
async fn wait_op(app: &TestApp, token: &str, op: &str) -> Value {
    for _ in 0..1000 {
        let (s, v) = app
            .get(&format!("/osm/nslcm/v1/ns_lcm_op_occs/{op}"), token)
            .await;
        assert_eq!(s, StatusCode::OK, "{v}");
        if !matches!(
            v["operationState"].as_str(),
            Some("PROCESSING" | "ROLLING_BACK")
        ) {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("operation {op} never finished");
}

async fn used_vcpus(app: &TestApp, vim: &str) -> u64 {
    app.store.used(vim).await.expect("usage").vcpus
}

#[tokio::test]
async fn an_ns_is_created_instantiated_listed_terminated_and_deleted_like_osmclient_does() {
    let app = TestApp::start().await;
    let mut rx = app.bus.subscribe();
    let t = app.admin_token().await;
    let vim = dummy_vim(&app, &t, "edge", 8).await;
    onboard(&app, &t, "/osm/vnfpkgm/v1/vnf_packages_content", VNFD).await;
    let nsd = onboard(&app, &t, "/osm/nsd/v1/ns_descriptors_content", NSD).await;

    // ns-create --wait
    let (s, h, v) = app
        .call(
            Method::POST,
            "/osm/nslcm/v1/ns_instances_content",
            Some(&t),
            Some(json!({"nsName": "web1", "nsdId": nsd, "vimAccountId": vim,
                        "additionalParamsForVnf": [{"member-vnf-index": "2", "additionalParams": {"port": 8080}}]})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let ns = v["id"].as_str().expect("id").to_string();
    let op = v["nslcmop_id"].as_str().expect("op").to_string();
    assert_eq!(v["nsName"], json!("web1"));
    assert_eq!(
        h["location"],
        format!("/osm/nslcm/v1/ns_instances_content/{ns}").as_str()
    );
    let done = wait_op(&app, &t, &op).await;
    assert_eq!(done["operationState"], json!("COMPLETED"), "{done}");
    assert_eq!(done["lcmOperationType"], json!("instantiate"));
    assert_eq!(done["nsInstanceId"], json!(ns));
    assert_eq!(done["operationParams"]["nsName"], json!("web1"));

    // ns-show
    let (s, nsr) = app
        .get(&format!("/osm/nslcm/v1/ns_instances_content/{ns}"), &t)
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(nsr["nsState"], json!("READY"), "{nsr}");
    assert_eq!(nsr["_admin"]["nsState"], json!("INSTANTIATED"));
    assert_eq!(nsr["operational-status"], json!("running"));
    assert_eq!(nsr["config-status"], json!("configured"));
    assert_eq!(nsr["detailed-status"], json!("Done"));
    assert_eq!(nsr["nsd-ref"], json!("web_ns"));
    assert_eq!(nsr["vld"][0]["status"], json!("ACTIVE"), "{nsr}");
    assert!(nsr["vld"][0]["vim-id"].is_string());
    assert_eq!(
        nsr["constituent-vnfr-ref"].as_array().map(Vec::len),
        Some(2)
    );
    // ns-list
    let (_, list) = app.get("/osm/nslcm/v1/ns_instances_content", &t).await;
    assert_eq!(list.as_array().map(Vec::len), Some(1));
    let (_, sol) = app.get("/osm/nslcm/v1/ns_instances", &t).await;
    assert_eq!(sol, list);
    // vnf-list --ns
    let (_, vnfs) = app
        .get(&format!("/osm/nslcm/v1/vnf_instances?nsr-id-ref={ns}"), &t)
        .await;
    let vnfs = vnfs.as_array().expect("list").clone();
    assert_eq!(vnfs.len(), 2);
    for vnfr in &vnfs {
        assert_eq!(vnfr["vim-account-id"], json!(vim));
        let vdur = &vnfr["vdur"][0];
        assert_eq!(vdur["status"], json!("ACTIVE"), "{vnfr}");
        assert!(vdur["vim-id"].is_string());
        assert!(
            vdur["ip-address"]
                .as_str()
                .is_some_and(|ip| ip.starts_with("10.")),
            "{vdur}"
        );
        assert_eq!(vnfr["ip-address"], vdur["ip-address"]);
    }
    let second = vnfs
        .iter()
        .find(|v| v["member-vnf-index-ref"] == json!("2"))
        .expect("member 2");
    assert_eq!(second["additionalParamsForVnf"], json!({"port": 8080}));
    let (s, alias) = app
        .get(
            &format!(
                "/osm/nslcm/v1/vnfrs/{}",
                second["_id"].as_str().expect("id")
            ),
            &t,
        )
        .await;
    assert_eq!((s, &alias), (StatusCode::OK, second));
    assert_eq!(used_vcpus(&app, &vim).await, 4);
    // The VIM account reports what it holds; the packages are in use; neither can go.
    let (_, account) = app
        .get(&format!("/osm/admin/v1/vim_accounts/{vim}"), &t)
        .await;
    assert_eq!(
        account["resources"]["compute"]["vcpus"],
        json!({"total": 8, "used": 4}),
        "{account}"
    );
    assert_eq!(
        account["resources"]["network"]["networks"]["used"],
        json!(1)
    );
    let (_, nsd_doc) = app
        .get(&format!("/osm/nsd/v1/ns_descriptors/{nsd}"), &t)
        .await;
    assert_eq!(
        nsd_doc["_admin"]["usageState"],
        json!("IN_USE"),
        "{nsd_doc}"
    );
    let (s, _, e) = app
        .call(
            Method::DELETE,
            &format!("/osm/nsd/v1/ns_descriptors/{nsd}"),
            Some(&t),
            None,
        )
        .await;
    assert_osm_error(s, &e, StatusCode::CONFLICT);
    let (s, _, e) = app
        .call(
            Method::DELETE,
            &format!("/osm/admin/v1/vim_accounts/{vim}"),
            Some(&t),
            None,
        )
        .await;
    assert_osm_error(s, &e, StatusCode::CONFLICT);
    assert!(e["detail"].as_str().is_some_and(|d| d.contains(&ns)), "{e}");

    // The NS's VNFs are service instances the placement family can choose (CloudInventory).
    let inventory = netorch::app::VimInventory::new(std::sync::Arc::new(app.store.clone()));
    let instances = netorch_core::placement::CloudInventory::service_instances(&inventory)
        .await
        .expect("instances");
    assert_eq!(instances.len(), 2, "{instances:?}");
    for i in &instances {
        let parsed: netorch_api_oof::inventory::ServiceInstance =
            serde_json::from_value(i.clone()).expect("the OOF inventory reads it");
        assert_eq!(parsed.cloud_region_id, "edge");
        assert_eq!(parsed.model_invariant_id, "web_ns");
        assert_eq!(parsed.orchestration_status, "Active");
        assert_eq!(parsed.attributes["ns_instance_id"], json!(ns));
    }

    // ns-op-list
    let (_, ops) = app
        .get(
            &format!("/osm/nslcm/v1/ns_lcm_op_occs?nsInstanceId={ns}"),
            &t,
        )
        .await;
    assert_eq!(ops.as_array().map(Vec::len), Some(1));

    // A second instantiation is refused and changes nothing.
    let (s, e) = app
        .post(
            &format!("/osm/nslcm/v1/ns_instances/{ns}/instantiate"),
            &t,
            json!({"vimAccountId": vim}),
        )
        .await;
    assert_osm_error(s, &e, StatusCode::CONFLICT);
    assert!(
        e["detail"]
            .as_str()
            .is_some_and(|d| d.contains("already instantiated")),
        "{e}"
    );

    // ns-terminate, then the NS is NOT_INSTANTIATED and the VIM is empty again.
    let (s, h, v) = app
        .call(
            Method::POST,
            &format!("/osm/nslcm/v1/ns_instances/{ns}/terminate"),
            Some(&t),
            Some(json!({})),
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    let term = v["id"].as_str().expect("op").to_string();
    assert_eq!(
        h["location"],
        format!("/osm/nslcm/v1/ns_lcm_op_occs/{term}").as_str()
    );
    assert_eq!(
        wait_op(&app, &t, &term).await["operationState"],
        json!("COMPLETED")
    );
    let (_, nsr) = app
        .get(&format!("/osm/nslcm/v1/ns_instances/{ns}"), &t)
        .await;
    assert_eq!(nsr["nsState"], json!("NOT_INSTANTIATED"), "{nsr}");
    assert_eq!(nsr["operational-status"], json!("terminated"));
    assert_eq!(used_vcpus(&app, &vim).await, 0);
    assert!(
        app.store
            .list_resources(&format!("{ns}/"))
            .await
            .expect("list")
            .is_empty()
    );
    let (s, e) = app
        .post(
            &format!("/osm/nslcm/v1/ns_instances/{ns}/terminate"),
            &t,
            json!({}),
        )
        .await;
    assert_osm_error(s, &e, StatusCode::CONFLICT);
    assert!(
        e["detail"]
            .as_str()
            .is_some_and(|d| d.contains("not instantiated")),
        "{e}"
    );

    // ns-delete: not instantiated, so at once; its VNFRs and operations go with it.
    let (s, _, _) = app
        .call(
            Method::DELETE,
            &format!("/osm/nslcm/v1/ns_instances_content/{ns}"),
            Some(&t),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _) = app
        .get(&format!("/osm/nslcm/v1/ns_instances_content/{ns}"), &t)
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (_, vnfs) = app.get("/osm/nslcm/v1/vnf_instances", &t).await;
    assert_eq!(vnfs, json!([]));
    let (_, ops) = app.get("/osm/nslcm/v1/ns_lcm_op_occs", &t).await;
    assert_eq!(ops, json!([]));
    let (_, nsd_doc) = app
        .get(&format!("/osm/nsd/v1/ns_descriptors/{nsd}"), &t)
        .await;
    assert_eq!(nsd_doc["_admin"]["usageState"], json!("NOT_IN_USE"));
    let (_, account) = app
        .get(&format!("/osm/admin/v1/vim_accounts/{vim}"), &t)
        .await;
    assert_eq!(account["resources"]["compute"]["vcpus"]["used"], json!(0));

    // OSM's Kafka topic `ns`, through the outbox: the NBI's hand-offs and the LCM's answers.
    let mut keys = Vec::new();
    while keys.last().map(String::as_str) != Some("deleted") {
        let e = tokio::time::timeout(Duration::from_secs(10), rx.recv())
            .await
            .expect("event")
            .expect("event");
        if e.topic == "ns" {
            if e.key == "instantiated" {
                assert_eq!(e.payload["nsr_id"], json!(ns));
                assert_eq!(e.payload["nslcmop_id"], json!(op));
                assert_eq!(e.payload["operationState"], json!("COMPLETED"));
            }
            keys.push(e.key.clone());
        }
    }
    assert_eq!(
        keys,
        [
            "created",
            "instantiate",
            "instantiated",
            "terminate",
            "terminated",
            "deleted"
        ]
    );
    app.stop().await;
}

#[tokio::test]
async fn deleting_an_instantiated_ns_terminates_it_and_then_removes_every_record() {
    let app = TestApp::start().await;
    let t = app.admin_token().await;
    let vim = dummy_vim(&app, &t, "edge", 8).await;
    onboard(&app, &t, "/osm/vnfpkgm/v1/vnf_packages_content", VNFD).await;
    let nsd = onboard(&app, &t, "/osm/nsd/v1/ns_descriptors_content", NSD).await;
    let (_, v) = app
        .post(
            "/osm/nslcm/v1/ns_instances_content",
            &t,
            json!({"nsName": "web2", "nsdId": nsd, "vimAccountId": vim}),
        )
        .await;
    let ns = v["id"].as_str().expect("id").to_string();
    wait_op(&app, &t, v["nslcmop_id"].as_str().expect("op")).await;
    // Without FORCE the SOL005 resource refuses; the _content resource terminates first.
    let (s, _, e) = app
        .call(
            Method::DELETE,
            &format!("/osm/nslcm/v1/ns_instances/{ns}"),
            Some(&t),
            None,
        )
        .await;
    assert_osm_error(s, &e, StatusCode::CONFLICT);
    let (s, _, v) = app
        .call(
            Method::DELETE,
            &format!("/osm/nslcm/v1/ns_instances_content/{ns}"),
            Some(&t),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    assert!(v["_id"].is_string(), "{v}");
    for _ in 0..1000 {
        let (s, _) = app
            .get(&format!("/osm/nslcm/v1/ns_instances_content/{ns}"), &t)
            .await;
        if s == StatusCode::NOT_FOUND {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let (s, _) = app
        .get(&format!("/osm/nslcm/v1/ns_instances_content/{ns}"), &t)
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_eq!(used_vcpus(&app, &vim).await, 0);
    let (_, vnfs) = app.get("/osm/nslcm/v1/vnf_instances", &t).await;
    assert_eq!(vnfs, json!([]));
    let (_, ops) = app.get("/osm/nslcm/v1/ns_lcm_op_occs", &t).await;
    assert_eq!(ops, json!([]));
    app.stop().await;
}

#[tokio::test]
async fn a_virtual_link_mapped_to_a_vim_network_by_name_uses_it_and_never_deletes_it() {
    let app = TestApp::start().await;
    let t = app.admin_token().await;
    let (s, v) = app
        .post(
            "/osm/admin/v1/vim_accounts",
            &t,
            json!({"name": "prov", "vim_type": "dummy", "vim_url": "http://dummy", "vim_tenant_name": "t",
                   "vim_user": "u", "vim_password": "p",
                   "config": {"networks": [{"name": "provider", "cidr": "172.16.0.0/16"}]}}),
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    let vim = v["id"].as_str().expect("id").to_string();
    for _ in 0..500 {
        let (_, v) = app
            .get(&format!("/osm/admin/v1/vim_accounts/{vim}"), &t)
            .await;
        if v["_admin"]["operationalState"] == json!("ENABLED") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    onboard(&app, &t, "/osm/vnfpkgm/v1/vnf_packages_content", VNFD).await;
    let nsd = onboard(&app, &t, "/osm/nsd/v1/ns_descriptors_content", NSD).await;

    // A virtual link the NSD does not have: refused before anything exists.
    let (s, e) = app
        .post(
            "/osm/nslcm/v1/ns_instances_content",
            &t,
            json!({"nsName": "bad", "nsdId": nsd, "vimAccountId": vim,
                   "vld": [{"name": "datanet", "vim-network-name": "provider"}]}),
        )
        .await;
    assert_osm_error(s, &e, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        e["detail"].as_str().expect("detail").contains("datanet"),
        "{e}"
    );
    let (_, none) = app.get("/osm/nslcm/v1/ns_instances", &t).await;
    assert_eq!(none, json!([]));

    // The provider network the VIM account declares: used as it is, no network created.
    let (_, v) = app
        .post(
            "/osm/nslcm/v1/ns_instances_content",
            &t,
            json!({"nsName": "on-provider", "nsdId": nsd, "vimAccountId": vim,
                   "vld": [{"name": "mgmtnet", "vim-network-name": "provider"}]}),
        )
        .await;
    let ns = v["id"].as_str().expect("id").to_string();
    let done = wait_op(&app, &t, v["nslcmop_id"].as_str().expect("op")).await;
    assert_eq!(done["operationState"], json!("COMPLETED"), "{done}");
    let (_, nsr) = app
        .get(&format!("/osm/nslcm/v1/ns_instances_content/{ns}"), &t)
        .await;
    assert_eq!(
        nsr["vld"][0]["vim-network-name"],
        json!("provider"),
        "{nsr}"
    );
    assert_eq!(
        nsr["vld"][0]["ip-profile"]["subnet-address"],
        json!("172.16.0.0/16")
    );
    assert_eq!(app.store.used(&vim).await.expect("usage").networks, 0);

    // A second NS joins the first one's network by its name; terminating the first leaves it.
    let first_net = nsr["vld"][0]["vim-id"].clone();
    let (_, v) = app
        .post(
            "/osm/nslcm/v1/ns_instances_content",
            &t,
            json!({"nsName": "owner", "nsdId": nsd, "vimAccountId": vim}),
        )
        .await;
    let owner = v["id"].as_str().expect("id").to_string();
    wait_op(&app, &t, v["nslcmop_id"].as_str().expect("op")).await;
    let (_, owner_nsr) = app
        .get(&format!("/osm/nslcm/v1/ns_instances_content/{owner}"), &t)
        .await;
    let owned = owner_nsr["vld"][0]["vim-network-name"].clone();
    assert_ne!(owner_nsr["vld"][0]["vim-id"], first_net);
    let (_, v) = app
        .post(
            "/osm/nslcm/v1/ns_instances_content",
            &t,
            json!({"nsName": "joiner", "nsdId": nsd, "vimAccountId": vim,
                   "vld": [{"name": "mgmtnet", "vim-network-name": {vim.as_str(): owned.clone()}}]}),
        )
        .await;
    let joiner = v["id"].as_str().expect("id").to_string();
    let done = wait_op(&app, &t, v["nslcmop_id"].as_str().expect("op")).await;
    assert_eq!(done["operationState"], json!("COMPLETED"), "{done}");
    let (_, joiner_nsr) = app
        .get(&format!("/osm/nslcm/v1/ns_instances_content/{joiner}"), &t)
        .await;
    assert_eq!(
        joiner_nsr["vld"][0]["vim-id"],
        owner_nsr["vld"][0]["vim-id"]
    );
    assert_eq!(app.store.used(&vim).await.expect("usage").networks, 1);
    let (s, v) = app
        .post(
            &format!("/osm/nslcm/v1/ns_instances/{joiner}/terminate"),
            &t,
            json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    wait_op(&app, &t, v["id"].as_str().expect("op")).await;
    assert_eq!(app.store.used(&vim).await.expect("usage").networks, 1);

    // A name the VIM does not have fails the operation, which rolls back.
    let (_, v) = app
        .post(
            "/osm/nslcm/v1/ns_instances_content",
            &t,
            json!({"nsName": "lost", "nsdId": nsd, "vimAccountId": vim,
                   "vld": [{"name": "mgmtnet", "vim-network-name": "nowhere"}]}),
        )
        .await;
    let done = wait_op(&app, &t, v["nslcmop_id"].as_str().expect("op")).await;
    assert_eq!(done["operationState"], json!("FAILED"), "{done}");
    assert!(
        done["errorMessage"]
            .as_str()
            .unwrap_or_default()
            .contains("VIM network 'nowhere' not found"),
        "{done}"
    );
    let used = app.store.used(&vim).await.expect("usage");
    assert_eq!((used.networks, used.vcpus), (1, 4 + 4));
    app.stop().await;
}

#[tokio::test]
async fn bad_instantiation_requests_are_refused_in_osms_shape_and_leave_nothing_behind() {
    let app = TestApp::start().await;
    let t = app.admin_token().await;
    let vim = dummy_vim(&app, &t, "small", 3).await;
    onboard(&app, &t, "/osm/vnfpkgm/v1/vnf_packages_content", VNFD).await;
    let nsd = onboard(&app, &t, "/osm/nsd/v1/ns_descriptors_content", NSD).await;
    // A VIM of another project.
    app.project(&t, "other").await;
    app.user(&t, "olga", "other", "project_admin").await;
    let olga = app.token("olga", PW, Some("other")).await;
    let theirs = dummy_vim(&app, &olga, "theirs", 64).await;

    let ok = json!({"nsName": "x", "nsdId": nsd, "vimAccountId": vim});
    let with = |k: &str, v: Value| {
        let mut b = ok.clone();
        b[k] = v;
        b
    };
    let cases: Vec<(Value, StatusCode, &str)> = vec![
        (
            json!({"nsName": "x", "nsdId": nsd}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "'vimAccountId' is a required property",
        ),
        (
            with("colour", json!("blue")),
            StatusCode::UNPROCESSABLE_ENTITY,
            "'colour' was unexpected",
        ),
        (
            with("nsdId", json!("00000000-0000-0000-0000-000000000000")),
            StatusCode::NOT_FOUND,
            "not found",
        ),
        (
            with("vimAccountId", json!(theirs)),
            StatusCode::BAD_REQUEST,
            "not present for the project",
        ),
        (
            with(
                "vnf",
                json!([{"member-vnf-index": "9", "vimAccountId": vim}]),
            ),
            StatusCode::BAD_REQUEST,
            "member-vnf-index='9'",
        ),
        // Two VNFs of 2 vCPU each on a VIM with 3.
        (ok.clone(), StatusCode::CONFLICT, "needs 4 vCPU, 3 free"),
    ];
    for (body, status, text) in cases {
        let (s, e) = app
            .post("/osm/nslcm/v1/ns_instances_content", &t, body.clone())
            .await;
        assert_osm_error(s, &e, status);
        assert!(
            e["detail"].as_str().is_some_and(|d| d.contains(text)),
            "{body}: {e}"
        );
    }
    // A disabled NSD cannot be instantiated.
    let (s, _, v) = app
        .call(
            Method::PATCH,
            &format!("/osm/nsd/v1/ns_descriptors/{nsd}"),
            Some(&t),
            Some(json!({"nsdOperationalState": "DISABLED"})),
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{v}");
    let (s, e) = app
        .post(
            "/osm/nslcm/v1/ns_instances_content",
            &t,
            with("nsName", json!("y")),
        )
        .await;
    assert_osm_error(s, &e, StatusCode::CONFLICT);
    assert!(
        e["detail"].as_str().is_some_and(|d| d.contains("DISABLED")),
        "{e}"
    );
    let (_, nsrs) = app.get("/osm/nslcm/v1/ns_instances", &t).await;
    assert_eq!(nsrs, json!([]));
    let (_, vnfs) = app.get("/osm/nslcm/v1/vnf_instances", &t).await;
    assert_eq!(vnfs, json!([]));
    let (_, ops) = app.get("/osm/nslcm/v1/ns_lcm_op_occs", &t).await;
    assert_eq!(ops, json!([]));
    assert_eq!(used_vcpus(&app, &vim).await, 0);
    app.stop().await;
}

#[tokio::test]
async fn a_failing_vim_rolls_the_instantiation_back_and_the_ns_can_be_instantiated_again() {
    let app = TestApp::start().await;
    let t = app.admin_token().await;
    let vim = dummy_vim(&app, &t, "edge", 8).await;
    onboard(&app, &t, "/osm/vnfpkgm/v1/vnf_packages_content", VNFD).await;
    let nsd = onboard(&app, &t, "/osm/nsd/v1/ns_descriptors_content", NSD).await;
    let (s, _, v) = app
        .call(
            Method::POST,
            "/osm/nslcm/v1/ns_instances",
            Some(&t),
            Some(json!({"nsName": "web3", "nsdId": nsd, "vimAccountId": vim})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let ns = v["id"].as_str().expect("id").to_string();
    let (_, nsr) = app
        .get(&format!("/osm/nslcm/v1/ns_instances/{ns}"), &t)
        .await;
    assert_eq!(nsr["nsState"], json!("NOT_INSTANTIATED"));

    // The VIM now fails every creation: the first VDU fails after the network was created.
    let (s, v) = app
        .call(
            Method::PATCH,
            &format!("/osm/admin/v1/vim_accounts/{vim}"),
            Some(&t),
            Some(json!({"config": {"simulate": {"failure_rate": 1.0}}})),
        )
        .await
        .into_status_and_body();
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    dummy_settled(&app, &t, &vim).await;
    let (s, v) = app
        .post(
            &format!("/osm/nslcm/v1/ns_instances/{ns}/instantiate"),
            &t,
            json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    let failed = wait_op(&app, &t, v["id"].as_str().expect("op")).await;
    assert_eq!(failed["operationState"], json!("FAILED"), "{failed}");
    assert!(
        failed["errorMessage"]
            .as_str()
            .is_some_and(|m| m.contains("simulated failure")),
        "{failed}"
    );
    let (_, nsr) = app
        .get(&format!("/osm/nslcm/v1/ns_instances/{ns}"), &t)
        .await;
    assert_eq!(nsr["nsState"], json!("BROKEN"), "{nsr}");
    assert_eq!(nsr["_admin"]["nsState"], json!("NOT_INSTANTIATED"));
    assert!(
        app.store
            .list_resources(&format!("{ns}/"))
            .await
            .expect("list")
            .is_empty()
    );
    assert_eq!(app.store.used(&vim).await.expect("usage").networks, 0);

    // Healed VIM: the same NS instantiates.
    let (s, v) = app
        .call(
            Method::PATCH,
            &format!("/osm/admin/v1/vim_accounts/{vim}"),
            Some(&t),
            Some(json!({"config": {"simulate": {"failure_rate": 0.0}}})),
        )
        .await
        .into_status_and_body();
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    dummy_settled(&app, &t, &vim).await;
    let (s, v) = app
        .post(
            &format!("/osm/nslcm/v1/ns_instances/{ns}/instantiate"),
            &t,
            json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    let done = wait_op(&app, &t, v["id"].as_str().expect("op")).await;
    assert_eq!(done["operationState"], json!("COMPLETED"), "{done}");
    assert_eq!(used_vcpus(&app, &vim).await, 4);
    app.stop().await;
}

async fn dummy_settled(app: &TestApp, token: &str, vim: &str) {
    for _ in 0..500 {
        let (_, v) = app
            .get(&format!("/osm/admin/v1/vim_accounts/{vim}"), token)
            .await;
        if v["_admin"]["operationalState"] == json!("ENABLED") {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("VIM {vim} did not settle");
}

trait StatusAndBody {
    fn into_status_and_body(self) -> (StatusCode, Value);
}

impl StatusAndBody for (StatusCode, reqwest::header::HeaderMap, Value) {
    fn into_status_and_body(self) -> (StatusCode, Value) {
        (self.0, self.2)
    }
}

#[tokio::test]
async fn an_ns_operation_whose_job_was_lost_is_reconciled_and_carried_out() {
    let app = TestApp::start_with(|c| c.osm.reconcile_interval = Duration::from_millis(100)).await;
    let t = app.admin_token().await;
    let vim = dummy_vim(&app, &t, "edge", 8).await;
    onboard(&app, &t, "/osm/vnfpkgm/v1/vnf_packages_content", VNFD).await;
    let nsd = onboard(&app, &t, "/osm/nsd/v1/ns_descriptors_content", NSD).await;
    let (s, v) = app
        .post(
            "/osm/nslcm/v1/ns_instances",
            &t,
            json!({"nsName": "lost", "nsdId": nsd, "vimAccountId": vim}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let ns = v["id"].as_str().expect("id").to_string();
    // An instantiate operation committed whose job never got enqueued (a crash in between).
    let store = app.db.store().await.expect("store");
    let nsr = netorch_core::tenancy::RecordRepository::get_record(
        &store,
        "nsrs",
        &ns,
        &netorch_core::tenancy::ProjectScope::All,
        false,
    )
    .await
    .expect("read")
    .expect("nsr");
    let op = netorch_lcm::documents::new_op(
        "lost-op",
        &ns,
        "instantiate",
        &nsr.body["instantiate_params"],
        &nsr.owners,
        1,
    );
    netorch_core::tenancy::RecordRepository::insert_record(&store, "nslcmops", &op, &[])
        .await
        .expect("insert");
    let done = wait_op(&app, &t, "lost-op").await;
    assert_eq!(done["operationState"], json!("COMPLETED"), "{done}");
    assert_eq!(used_vcpus(&app, &vim).await, 4);
    app.stop().await;
}

#[tokio::test]
async fn an_ns_operation_whose_job_and_its_successor_both_gave_up_is_still_carried_out() {
    use netorch_core::jobs::JobRepository;
    let app = TestApp::start_with(|c| c.osm.reconcile_interval = Duration::from_millis(100)).await;
    let t = app.admin_token().await;
    let vim = dummy_vim(&app, &t, "edge", 8).await;
    onboard(&app, &t, "/osm/vnfpkgm/v1/vnf_packages_content", VNFD).await;
    let nsd = onboard(&app, &t, "/osm/nsd/v1/ns_descriptors_content", NSD).await;
    let (_, v) = app
        .post(
            "/osm/nslcm/v1/ns_instances",
            &t,
            json!({"nsName": "twice", "nsdId": nsd, "vimAccountId": vim}),
        )
        .await;
    let ns = v["id"].as_str().expect("id").to_string();
    let store = app.db.store().await.expect("store");
    // The operation's job, then the successor reconciliation made for it, both failed for good
    // (their last attempts interrupted), while the operation still says PROCESSING. They are
    // made due far in the future and failed here, so the server never runs them.
    let later = i64::MAX / 4;
    let mut key = None::<String>;
    for _ in 0..2 {
        let mut job = netorch_lcm::op_job("stuck-op", None);
        if let Some(prev) = &key {
            job.dedupe_key = Some(format!("nslcmop:stuck-op:after:{prev}"));
        }
        job.run_at = later;
        let j = store.enqueue(&job, 1).await.expect("enqueue");
        let claimed = store
            .claim_jobs("test", std::slice::from_ref(&j.kind), 10, later, later + 1)
            .await
            .expect("claim");
        assert_eq!(claimed.len(), 1);
        assert!(
            store
                .fail_job(&j.id, "test", "interrupted", None, later)
                .await
                .expect("fail")
        );
        key = Some(j.id);
    }
    let nsr = netorch_core::tenancy::RecordRepository::get_record(
        &store,
        "nsrs",
        &ns,
        &netorch_core::tenancy::ProjectScope::All,
        false,
    )
    .await
    .expect("read")
    .expect("nsr");
    let op = netorch_lcm::documents::new_op(
        "stuck-op",
        &ns,
        "instantiate",
        &nsr.body["instantiate_params"],
        &nsr.owners,
        1,
    );
    netorch_core::tenancy::RecordRepository::insert_record(&store, "nslcmops", &op, &[])
        .await
        .expect("insert");
    let done = wait_op(&app, &t, "stuck-op").await;
    assert_eq!(done["operationState"], json!("COMPLETED"), "{done}");
    assert_eq!(used_vcpus(&app, &vim).await, 4);
    app.stop().await;
}

async fn scale(
    app: &TestApp,
    token: &str,
    ns: &str,
    kind: &str,
    member: &str,
    group: &str,
) -> (StatusCode, Value) {
    app.post(
        &format!("/osm/nslcm/v1/ns_instances/{ns}/scale"),
        token,
        json!({"scaleType": "SCALE_VNF", "scaleVnfData": {"scaleVnfType": kind,
               "scaleByStepData": {"scaling-group-descriptor": group, "member-vnf-index": member}}}),
    )
    .await
}

async fn vdu_count(app: &TestApp, token: &str, ns: &str, member: &str) -> usize {
    let (_, v) = app
        .get(&format!("/osm/nslcm/v1/vnf_instances/{ns}-{member}"), token)
        .await;
    let vdur = v["vdur"].as_array().expect("vdur");
    assert!(vdur.iter().all(|d| d["status"] == json!("ACTIVE")), "{v}");
    vdur.len()
}

#[tokio::test]
async fn a_vnf_scales_out_and_in_within_its_vnfds_limits_and_the_vims_capacity() {
    let app = TestApp::start().await;
    let t = app.admin_token().await;
    let vim = dummy_vim(&app, &t, "edge", 8).await;
    onboard(&app, &t, "/osm/vnfpkgm/v1/vnf_packages_content", VNFD).await;
    let nsd = onboard(&app, &t, "/osm/nsd/v1/ns_descriptors_content", NSD).await;
    let (_, v) = app
        .post(
            "/osm/nslcm/v1/ns_instances_content",
            &t,
            json!({"nsName": "elastic", "nsdId": nsd, "vimAccountId": vim}),
        )
        .await;
    let ns = v["id"].as_str().expect("id").to_string();
    wait_op(&app, &t, v["nslcmop_id"].as_str().expect("op")).await;
    assert_eq!(used_vcpus(&app, &vim).await, 4);

    for expected in [2, 3] {
        let (s, v) = scale(&app, &t, &ns, "SCALE_OUT", "1", "web_scale").await;
        assert_eq!(s, StatusCode::ACCEPTED, "{v}");
        let done = wait_op(&app, &t, v["id"].as_str().expect("op")).await;
        assert_eq!(done["operationState"], json!("COMPLETED"), "{done}");
        assert_eq!(done["lcmOperationType"], json!("scale"));
        assert_eq!(vdu_count(&app, &t, &ns, "1").await, expected);
    }
    assert_eq!(used_vcpus(&app, &vim).await, 8);
    let (_, nsr) = app
        .get(&format!("/osm/nslcm/v1/ns_instances/{ns}"), &t)
        .await;
    assert_eq!(nsr["nsState"], json!("READY"));
    assert_eq!(
        nsr["_admin"]["scaling-group"][0]["nb-scale-op"],
        json!(2),
        "{nsr}"
    );

    // Refused before anything runs: beyond the aspect's max level, an unknown group or member,
    // the VIM full (member 2 has room in its VNFD, the VIM has none left).
    let refused: Vec<((&str, &str, &str), StatusCode, &str)> = vec![
        (
            ("SCALE_OUT", "1", "web_scale"),
            StatusCode::UNPROCESSABLE_ENTITY,
            "maximum scale level 2",
        ),
        (
            ("SCALE_OUT", "1", "nope"),
            StatusCode::UNPROCESSABLE_ENTITY,
            "'nope' is not defined",
        ),
        (
            ("SCALE_OUT", "7", "web_scale"),
            StatusCode::BAD_REQUEST,
            "member-vnf-index='7'",
        ),
        (
            ("SCALE_OUT", "2", "web_scale"),
            StatusCode::CONFLICT,
            "needs 2 vCPU, 0 free",
        ),
        (
            ("SCALE_IN", "2", "web_scale"),
            StatusCode::UNPROCESSABLE_ENTITY,
            "instantiation level",
        ),
        (
            ("SCALE_SIDEWAYS", "1", "web_scale"),
            StatusCode::UNPROCESSABLE_ENTITY,
            "SCALE_OUT",
        ),
    ];
    for ((kind, member, group), status, text) in refused {
        let (s, e) = scale(&app, &t, &ns, kind, member, group).await;
        assert_osm_error(s, &e, status);
        assert!(
            e["detail"].as_str().is_some_and(|d| d.contains(text)),
            "{kind} {member} {group}: {e}"
        );
    }
    assert_eq!(used_vcpus(&app, &vim).await, 8);

    for expected in [2, 1] {
        let (s, v) = scale(&app, &t, &ns, "SCALE_IN", "1", "web_scale").await;
        assert_eq!(s, StatusCode::ACCEPTED, "{v}");
        let done = wait_op(&app, &t, v["id"].as_str().expect("op")).await;
        assert_eq!(done["operationState"], json!("COMPLETED"), "{done}");
        assert_eq!(vdu_count(&app, &t, &ns, "1").await, expected);
    }
    assert_eq!(used_vcpus(&app, &vim).await, 4);
    let (_, ops) = app
        .get(
            &format!("/osm/nslcm/v1/ns_lcm_op_occs?nsInstanceId={ns}&lcmOperationType=scale"),
            &t,
        )
        .await;
    assert_eq!(ops.as_array().map(Vec::len), Some(4));
    app.stop().await;
}

const VNFD_PRIMS: &str = "vnfd:
  id: app_vnfd
  vdu: [{id: app, virtual-compute-desc: c}]
  virtual-compute-desc: [{id: c, virtual-cpu: {num-virtual-cpu: 1}}]
  df:
    - id: default
      lcm-operations-configuration:
        operate-vnf-op-config:
          day1-2:
            - id: app_vnfd
              initial-config-primitive: [{seq: 1, name: setup, parameter: [{name: listen, value: '<rw_mgmt_ip>:<port>'}]}]
              config-primitive:
                - {name: touch, parameter: [{name: filename, data-type: STRING}, {name: mode, data-type: STRING, default-value: '0644'}]}
                - {name: explode}
";

const NSD_PRIMS: &str = "nsd: {nsd: [{id: app_ns, vnfd-id: [app_vnfd], df: [{id: d, vnf-profile: [{id: '1', vnfd-id: app_vnfd}]}]}]}";

/// A VNF's primitive endpoint: records every call; `explode` answers 500.
async fn primitive_receiver() -> (String, std::sync::Arc<std::sync::Mutex<Vec<Value>>>) {
    use axum::{Json, Router, http::StatusCode as S, routing::post};
    let calls = std::sync::Arc::new(std::sync::Mutex::new(Vec::<Value>::new()));
    let seen = calls.clone();
    let app = Router::new().route(
        "/primitives",
        post(move |Json(v): Json<Value>| {
            let seen = seen.clone();
            async move {
                seen.lock().expect("lock").push(v.clone());
                if v["primitive"] == json!("explode") {
                    (S::INTERNAL_SERVER_ERROR, Json(json!({"error": "boom"})))
                } else {
                    (S::OK, Json(json!({"output": format!("{} done", v["primitive"].as_str().unwrap_or_default())})))
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}/primitives"), calls)
}

#[tokio::test]
async fn day_1_and_day_2_primitives_run_through_the_vnfs_webhook_and_bad_actions_are_refused_first()
{
    let app = TestApp::start().await;
    let t = app.admin_token().await;
    let (endpoint, calls) = primitive_receiver().await;
    let vim = dummy_vim(&app, &t, "edge", 8).await;
    onboard(&app, &t, "/osm/vnfpkgm/v1/vnf_packages_content", VNFD_PRIMS).await;
    let nsd = onboard(&app, &t, "/osm/nsd/v1/ns_descriptors_content", NSD_PRIMS).await;
    let (s, v) = app
        .post(
            "/osm/nslcm/v1/ns_instances_content",
            &t,
            json!({"nsName": "app", "nsdId": nsd, "vimAccountId": vim,
                   "additionalParamsForVnf": [{"member-vnf-index": "1",
                       "additionalParams": {"primitive_endpoint": endpoint, "port": 8080}}]}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let ns = v["id"].as_str().expect("id").to_string();
    let done = wait_op(&app, &t, v["nslcmop_id"].as_str().expect("op")).await;
    assert_eq!(done["operationState"], json!("COMPLETED"), "{done}");
    let (_, vnfr) = app
        .get(&format!("/osm/nslcm/v1/vnf_instances/{ns}-1"), &t)
        .await;
    let ip = vnfr["ip-address"].as_str().expect("ip").to_string();
    {
        let seen = calls.lock().expect("lock");
        assert_eq!(seen.len(), 1, "{seen:?}");
        assert_eq!(seen[0]["primitive"], json!("setup"));
        assert_eq!(seen[0]["params"]["listen"], json!(format!("{ip}:8080")));
        assert_eq!(seen[0]["ns_instance_id"], json!(ns));
    }

    let act = |body: Value| {
        let (app, t, ns) = (&app, &t, &ns);
        async move {
            app.post(&format!("/osm/nslcm/v1/ns_instances/{ns}/action"), t, body)
                .await
        }
    };
    // Refused before anything runs.
    for (body, status, text) in [
        (
            json!({"member_vnf_index": "1", "primitive": "dance", "primitive_params": {}}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "offers: touch, explode",
        ),
        (
            json!({"member_vnf_index": "1", "primitive": "touch", "primitive_params": {}}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "needs parameter 'filename'",
        ),
        (
            json!({"member_vnf_index": "1", "primitive": "touch"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "primitive_params",
        ),
        (
            json!({"member_vnf_index": "9", "primitive": "touch", "primitive_params": {"filename": "f"}}),
            StatusCode::BAD_REQUEST,
            "member_vnf_index='9'",
        ),
    ] {
        let (s, e) = act(body.clone()).await;
        assert_osm_error(s, &e, status);
        assert!(
            e["detail"].as_str().is_some_and(|d| d.contains(text)),
            "{body}: {e}"
        );
    }
    assert_eq!(calls.lock().expect("lock").len(), 1);

    // ns-action: the output is recorded on the operation.
    let (s, v) = act(json!({"member_vnf_index": "1", "primitive": "touch", "primitive_params": {"filename": "/tmp/x"}})).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    let done = wait_op(&app, &t, v["id"].as_str().expect("op")).await;
    assert_eq!(done["operationState"], json!("COMPLETED"), "{done}");
    assert_eq!(done["lcmOperationType"], json!("action"));
    assert_eq!(done["detailed-status"], json!("touch done"));
    {
        let seen = calls.lock().expect("lock");
        assert_eq!(
            seen[1]["params"],
            json!({"filename": "/tmp/x", "mode": "0644"})
        );
        assert_eq!(seen[1]["ip_address"], json!(ip));
    }
    // A failing primitive fails its operation; the NS keeps running.
    let (_, v) =
        act(json!({"member_vnf_index": "1", "primitive": "explode", "primitive_params": {}})).await;
    let failed = wait_op(&app, &t, v["id"].as_str().expect("op")).await;
    assert_eq!(failed["operationState"], json!("FAILED"), "{failed}");
    assert!(
        failed["errorMessage"]
            .as_str()
            .is_some_and(|m| m.contains("HTTP 500")),
        "{failed}"
    );
    let (_, nsr) = app
        .get(&format!("/osm/nslcm/v1/ns_instances/{ns}"), &t)
        .await;
    assert_eq!(nsr["nsState"], json!("READY"), "{nsr}");
    assert_eq!(nsr["currentOperation"], json!("IDLE"));
    app.stop().await;
}

async fn vim_at(app: &TestApp, token: &str, name: &str, site: &str) -> String {
    let (s, v) = app
        .post(
            "/osm/admin/v1/vim_accounts",
            token,
            json!({"name": name, "vim_type": "dummy", "vim_url": "http://dummy", "vim_tenant_name": "t",
                   "vim_user": "u", "vim_password": "p",
                   "config": {"capacity": {"vcpus": 8}, "location": {"site": site}}}),
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    let id = v["id"].as_str().expect("id").to_string();
    dummy_settled(app, token, &id).await;
    id
}

async fn links_of(app: &TestApp, ns: &str) -> Vec<netorch_core::connectivity::Reservation> {
    use netorch_core::connectivity::{ConnectivityRepository, ReservationFilter};
    app.store
        .list_reservations(&ReservationFilter {
            experiment_id: Some(format!("nsr:{ns}")),
            limit: 100,
            ..Default::default()
        })
        .await
        .expect("reservations")
}

async fn free_between(app: &TestApp, a: &str, b: &str) -> String {
    use netorch_core::connectivity::ConnectivityRepository;
    let now = netorch_core::Clock::now(&netorch_core::SystemClock);
    let hour = 3_600_000_000;
    format!(
        "{:?}",
        app.store
            .availability(a, b, now + hour, now + 2 * hour)
            .await
            .expect("availability")
    )
}

#[tokio::test]
async fn a_virtual_link_across_two_sites_gets_a_slices_reservation_that_terminate_gives_back() {
    let app = TestApp::start().await;
    let t = app.admin_token().await;
    let gent = vim_at(&app, &t, "gent", "be-gent1").await;
    let poznan = vim_at(&app, &t, "poznan", "pl-poznan1").await;
    onboard(&app, &t, "/osm/vnfpkgm/v1/vnf_packages_content", VNFD).await;
    let nsd = onboard(&app, &t, "/osm/nsd/v1/ns_descriptors_content", NSD).await;
    let before = free_between(&app, "be-gent1", "pl-poznan1").await;

    let (s, v) = app
        .post(
            "/osm/nslcm/v1/ns_instances_content",
            &t,
            json!({"nsName": "two-sites", "nsdId": nsd, "vimAccountId": gent,
                   "vnf": [{"member-vnf-index": "2", "vimAccountId": poznan}],
                   "vld": [{"name": "mgmtnet", "bandwidth": 500}]}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let ns = v["id"].as_str().expect("id").to_string();
    let done = wait_op(&app, &t, v["nslcmop_id"].as_str().expect("op")).await;
    assert_eq!(done["operationState"], json!("COMPLETED"), "{done}");
    let (_, nsr) = app
        .get(&format!("/osm/nslcm/v1/ns_instances/{ns}"), &t)
        .await;
    let link = &nsr["vld"][0]["connectivity"][0];
    assert_eq!(
        (&link["site1"], &link["site2"], &link["bandwidth"]),
        (&json!("be-gent1"), &json!("pl-poznan1"), &json!(500)),
        "{nsr}"
    );
    assert!(
        link["site1_s_tag"]
            .as_u64()
            .is_some_and(|t| (2703..=2799).contains(&t)),
        "{link}"
    );
    assert!(
        link["site2_s_tag"]
            .as_u64()
            .is_some_and(|t| (3505..=3599).contains(&t)),
        "{link}"
    );
    // One network per site's VIM.
    assert_eq!(
        nsr["vld"][0]["vim_info"].as_object().map(|m| m.len()),
        Some(2),
        "{nsr}"
    );
    let held = links_of(&app, &ns).await;
    assert_eq!(held.len(), 1);
    assert_eq!(held[0].id, link["reservation"].as_str().expect("id"));
    assert_ne!(free_between(&app, "be-gent1", "pl-poznan1").await, before);
    assert_eq!(used_vcpus(&app, &gent).await, 2);
    assert_eq!(used_vcpus(&app, &poznan).await, 2);

    let (s, v) = app
        .post(
            &format!("/osm/nslcm/v1/ns_instances/{ns}/terminate"),
            &t,
            json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    wait_op(&app, &t, v["id"].as_str().expect("op")).await;
    // Exactly the start state: VIM capacity, link bandwidth and VLANs.
    assert!(links_of(&app, &ns).await.is_empty());
    assert_eq!(free_between(&app, "be-gent1", "pl-poznan1").await, before);
    assert_eq!(used_vcpus(&app, &gent).await, 0);
    assert_eq!(used_vcpus(&app, &poznan).await, 0);
    let (_, nsr) = app
        .get(&format!("/osm/nslcm/v1/ns_instances/{ns}"), &t)
        .await;
    assert_eq!(nsr["vld"][0]["connectivity"], json!([]));

    // A link the topology cannot carry fails the instantiation; nothing is left anywhere.
    let (s, v) = app
        .post(
            &format!("/osm/nslcm/v1/ns_instances/{ns}/instantiate"),
            &t,
            json!({"vld": [{"name": "mgmtnet", "bandwidth": 20000}]}),
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    let failed = wait_op(&app, &t, v["id"].as_str().expect("op")).await;
    assert_eq!(failed["operationState"], json!("FAILED"), "{failed}");
    assert!(
        failed["errorMessage"]
            .as_str()
            .is_some_and(|m| m.contains("refused") && m.contains("10000 Mbps")),
        "{failed}"
    );
    assert!(links_of(&app, &ns).await.is_empty());
    assert_eq!(free_between(&app, "be-gent1", "pl-poznan1").await, before);
    assert_eq!(
        used_vcpus(&app, &gent).await + used_vcpus(&app, &poznan).await,
        0
    );
    assert!(
        app.store
            .list_resources(&format!("{ns}/"))
            .await
            .expect("list")
            .is_empty()
    );
    app.stop().await;
}

#[tokio::test]
async fn placement_spreads_an_ns_over_two_sites_and_terminate_returns_vims_and_link_to_the_start_state()
 {
    let app = TestApp::start().await;
    let t = app.admin_token().await;
    let mut ids = Vec::new();
    // Gent is cheaper but has room for one VNF only; Poznań takes the other.
    for (name, site, lat, lon, vcpus, cost) in [
        ("gent", "be-gent1", 51.05, 3.72, 2, 1.0),
        ("poznan", "pl-poznan1", 52.41, 16.93, 8, 2.0),
    ] {
        let (s, v) = app
            .post(
                "/osm/admin/v1/vim_accounts",
                &t,
                json!({"name": name, "vim_type": "dummy", "vim_url": "http://dummy", "vim_tenant_name": "t",
                       "vim_user": "u", "vim_password": "p",
                       "config": {"capacity": {"vcpus": vcpus}, "cost": cost,
                                  "location": {"site": site, "latitude": lat, "longitude": lon}}}),
            )
            .await;
        assert_eq!(s, StatusCode::ACCEPTED, "{v}");
        let id = v["id"].as_str().expect("id").to_string();
        dummy_settled(&app, &t, &id).await;
        ids.push(id);
    }
    let (gent, poznan) = (ids[0].clone(), ids[1].clone());
    onboard(&app, &t, "/osm/vnfpkgm/v1/vnf_packages_content", VNFD).await;
    let nsd = onboard(&app, &t, "/osm/nsd/v1/ns_descriptors_content", NSD).await;
    let before = free_between(&app, "be-gent1", "pl-poznan1").await;

    let (s, v) = app
        .post(
            "/osm/nslcm/v1/ns_instances_content",
            &t,
            json!({"nsName": "placed", "nsdId": nsd, "vimAccountId": poznan, "placement-engine": "PLA",
                   "vld": [{"name": "mgmtnet", "bandwidth": 250}]}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let ns = v["id"].as_str().expect("id").to_string();
    let op = v["nslcmop_id"].as_str().expect("op").to_string();
    let done = wait_op(&app, &t, &op).await;
    assert_eq!(done["operationState"], json!("COMPLETED"), "{done}");
    // The chosen VIMs and the reason are on the operation.
    let decisions = done["_admin"]["placement"]["decisions"]
        .as_array()
        .expect("decisions")
        .clone();
    let mut chosen: Vec<&str> = decisions
        .iter()
        .map(|d| d["vimAccountId"].as_str().expect("vim"))
        .collect();
    chosen.sort();
    let mut both = vec![gent.as_str(), poznan.as_str()];
    both.sort();
    assert_eq!(chosen, both, "{done}");
    assert!(
        decisions.iter().all(|d| d["reason"]
            .as_str()
            .is_some_and(|r| r.contains("least total cost"))),
        "{done}"
    );
    assert_eq!(used_vcpus(&app, &gent).await, 2);
    assert_eq!(used_vcpus(&app, &poznan).await, 2);
    let (_, nsr) = app
        .get(&format!("/osm/nslcm/v1/ns_instances/{ns}"), &t)
        .await;
    let link = &nsr["vld"][0]["connectivity"][0];
    assert_eq!(link["bandwidth"], json!(250), "{nsr}");
    assert!(
        link["site1_s_tag"].is_u64() && link["site2_s_tag"].is_u64(),
        "{link}"
    );
    assert_eq!(links_of(&app, &ns).await.len(), 1);

    let (s, _, v) = app
        .call(
            Method::DELETE,
            &format!("/osm/nslcm/v1/ns_instances_content/{ns}"),
            Some(&t),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    for _ in 0..1000 {
        if app
            .get(&format!("/osm/nslcm/v1/ns_instances/{ns}"), &t)
            .await
            .0
            == StatusCode::NOT_FOUND
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(
        used_vcpus(&app, &gent).await + used_vcpus(&app, &poznan).await,
        0
    );
    assert!(links_of(&app, &ns).await.is_empty());
    assert_eq!(free_between(&app, "be-gent1", "pl-poznan1").await, before);

    // No VIM can take a VNF: refused before anything is created.
    let (s, e) = app
        .post(
            "/osm/nslcm/v1/ns_instances_content",
            &t,
            json!({"nsName": "too-big", "nsdId": nsd, "vimAccountId": poznan, "placement-engine": "PLA",
                   "vnf": [{"member-vnf-index": "1", "vimAccountId": gent}, {"member-vnf-index": "2", "vimAccountId": gent}]}),
        )
        .await;
    assert_osm_error(s, &e, StatusCode::CONFLICT);
    assert!(
        e["detail"]
            .as_str()
            .is_some_and(|d| d.contains("placement found no VIM")),
        "{e}"
    );
    let (_, nsrs) = app.get("/osm/nslcm/v1/ns_instances", &t).await;
    assert_eq!(nsrs, json!([]));
    app.stop().await;
}

#[tokio::test]
async fn a_cancelled_instantiation_stops_at_the_next_stage_and_leaves_nothing_in_the_vim() {
    let app = TestApp::start().await;
    let t = app.admin_token().await;
    let (s, v) = app
        .post(
            "/osm/admin/v1/vim_accounts",
            &t,
            json!({"name": "slow", "vim_type": "dummy", "vim_url": "http://dummy", "vim_tenant_name": "t",
                   "vim_user": "u", "vim_password": "p",
                   "config": {"capacity": {"vcpus": 8}, "simulate": {"latency_ms": 300}}}),
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    let vim = v["id"].as_str().expect("id").to_string();
    dummy_settled(&app, &t, &vim).await;
    onboard(&app, &t, "/osm/vnfpkgm/v1/vnf_packages_content", VNFD).await;
    let nsd = onboard(&app, &t, "/osm/nsd/v1/ns_descriptors_content", NSD).await;
    let (_, v) = app
        .post(
            "/osm/nslcm/v1/ns_instances_content",
            &t,
            json!({"nsName": "cancelled", "nsdId": nsd, "vimAccountId": vim}),
        )
        .await;
    let ns = v["id"].as_str().expect("id").to_string();
    let op = v["nslcmop_id"].as_str().expect("op").to_string();
    let (s, h, body) = app
        .call(
            Method::POST,
            &format!("/osm/nslcm/v1/ns_lcm_op_occs/{op}/cancel"),
            Some(&t),
            Some(json!({"cancelMode": "GRACEFUL"})),
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{body}");
    assert_eq!(
        h["location"],
        format!("/osm/nslcm/v1/ns_lcm_op_occs/{op}").as_str()
    );
    let done = wait_op(&app, &t, &op).await;
    assert_eq!(done["operationState"], json!("FAILED"), "{done}");
    assert_eq!(done["isCancelPending"], json!(true));
    assert!(
        done["errorMessage"]
            .as_str()
            .is_some_and(|m| m.contains("cancelled")),
        "{done}"
    );
    assert!(
        app.store
            .list_resources(&format!("{ns}/"))
            .await
            .expect("list")
            .is_empty()
    );
    assert_eq!(used_vcpus(&app, &vim).await, 0);
    // A finished operation cannot be cancelled.
    let (s, e) = app
        .post(
            &format!("/osm/nslcm/v1/ns_lcm_op_occs/{op}/cancel"),
            &t,
            json!({}),
        )
        .await;
    assert_osm_error(s, &e, StatusCode::CONFLICT);
    app.stop().await;
}

#[tokio::test]
async fn heal_gives_a_vdu_its_server_back_and_update_says_why_it_cannot() {
    let app = TestApp::start().await;
    let t = app.admin_token().await;
    let vim = dummy_vim(&app, &t, "edge", 8).await;
    onboard(&app, &t, "/osm/vnfpkgm/v1/vnf_packages_content", VNFD).await;
    let nsd = onboard(&app, &t, "/osm/nsd/v1/ns_descriptors_content", NSD).await;
    let (_, v) = app
        .post(
            "/osm/nslcm/v1/ns_instances_content",
            &t,
            json!({"nsName": "healme", "nsdId": nsd, "vimAccountId": vim}),
        )
        .await;
    let ns = v["id"].as_str().expect("id").to_string();
    wait_op(&app, &t, v["nslcmop_id"].as_str().expect("op")).await;
    let (_, before) = app
        .get(&format!("/osm/nslcm/v1/vnf_instances/{ns}-1"), &t)
        .await;
    // The VIM loses the server of member 1 (deleted behind the orchestrator's back).
    assert!(
        app.store
            .release(&vim, &format!("{ns}/1/web/0"))
            .await
            .expect("release")
    );
    assert_eq!(used_vcpus(&app, &vim).await, 2);
    let (s, v) = app
        .post(
            &format!("/osm/nslcm/v1/ns_instances/{ns}/heal"),
            &t,
            json!({"healVnfData": [{"vnfInstanceId": format!("{ns}-1"), "cause": "server lost",
                   "additionalParams": {"vdu": [{"vdu-id": "web", "count-index": 0}]}}]}),
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    let done = wait_op(&app, &t, v["id"].as_str().expect("op")).await;
    assert_eq!(done["operationState"], json!("COMPLETED"), "{done}");
    assert_eq!(used_vcpus(&app, &vim).await, 4);
    let (_, after) = app
        .get(&format!("/osm/nslcm/v1/vnf_instances/{ns}-1"), &t)
        .await;
    assert_eq!(after["vdur"][0]["status"], json!("ACTIVE"));
    assert_ne!(
        after["vdur"][0]["vim-id"], before["vdur"][0]["vim-id"],
        "a new server"
    );
    let (s, e) = app
        .post(
            &format!("/osm/nslcm/v1/ns_instances/{ns}/heal"),
            &t,
            json!({"healVnfData": [{"vnfInstanceId": format!("{ns}-1"), "additionalParams": {"vdu": [{"vdu-id": "web", "count-index": 5}]}}]}),
        )
        .await;
    assert_osm_error(s, &e, StatusCode::UNPROCESSABLE_ENTITY);
    let (s, e) = app
        .post(
            &format!("/osm/nslcm/v1/ns_instances/{ns}/update"),
            &t,
            json!({"updateType": "CHANGE_VNFPKG", "changeVnfPackageData": {"vnfInstanceId": format!("{ns}-1"), "vnfdId": "x"}}),
        )
        .await;
    assert_osm_error(s, &e, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        e["detail"]
            .as_str()
            .is_some_and(|d| d.contains("CHANGE_VNFPKG is not supported")),
        "{e}"
    );
    app.stop().await;
}

/// A subscriber: answers the probe GET with 204 and records POSTed notifications (with their
/// Authorization header); refuses the first delivery with 503 to exercise the retry.
async fn subscriber() -> (
    String,
    std::sync::Arc<std::sync::Mutex<Vec<(Option<String>, Value)>>>,
) {
    use axum::{
        Json, Router,
        http::{HeaderMap, StatusCode as S},
        routing::get,
    };
    type Seen = std::sync::Arc<std::sync::Mutex<Vec<(Option<String>, Value)>>>;
    let seen: Seen = Default::default();
    let failed_once = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (s2, f2) = (seen.clone(), failed_once.clone());
    let app = Router::new().route(
        "/notify",
        get(|| async { S::NO_CONTENT }).post(move |h: HeaderMap, Json(v): Json<Value>| {
            let (seen, failed) = (s2.clone(), f2.clone());
            async move {
                if !failed.swap(true, std::sync::atomic::Ordering::SeqCst) {
                    return S::SERVICE_UNAVAILABLE;
                }
                let auth = h
                    .get("authorization")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string);
                seen.lock().expect("lock").push((auth, v));
                S::NO_CONTENT
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}/notify"), seen)
}

#[tokio::test]
async fn subscribers_are_probed_filtered_authenticated_and_get_every_notification_despite_failures()
{
    let app = TestApp::start_with(|c| c.osm.notify_interval = Duration::from_millis(50)).await;
    let t = app.admin_token().await;
    let (uri, seen) = subscriber().await;
    let sub = json!({"CallbackUri": uri,
        "filter": {"notificationTypes": ["NsLcmOperationOccurrenceNotification"], "operationTypes": ["INSTANTIATE", "TERMINATE"],
                   "operationStates": ["COMPLETED", "FAILED"]},
        "authentication": {"authType": "basic", "paramsBasic": {"userName": "hook", "password": "hook-secret"}}});
    let (s, h, v) = app
        .call(
            Method::POST,
            "/osm/nslcm/v1/subscriptions",
            Some(&t),
            Some(sub.clone()),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let sub_id = v["id"].as_str().expect("id").to_string();
    assert_eq!(
        h["location"],
        format!("/osm/nslcm/v1/subscriptions/{sub_id}").as_str()
    );
    assert_eq!(v["callbackUri"], json!(uri));
    // The same again: 409; a callback that does not answer 204: 400; a bad filter: 422.
    let (s, e) = app
        .post("/osm/nslcm/v1/subscriptions", &t, sub.clone())
        .await;
    assert_osm_error(s, &e, StatusCode::CONFLICT);
    let (s, e) = app
        .post(
            "/osm/nslcm/v1/subscriptions",
            &t,
            json!({"CallbackUri": "http://127.0.0.1:9/nobody"}),
        )
        .await;
    assert_osm_error(s, &e, StatusCode::BAD_REQUEST);
    assert!(
        e["detail"]
            .as_str()
            .is_some_and(|d| d.contains("Cannot access to the notification URL")),
        "{e}"
    );
    let (s, e) = app
        .post(
            "/osm/nslcm/v1/subscriptions",
            &t,
            json!({"CallbackUri": uri, "filter": {"operationTypes": ["DANCE"]}}),
        )
        .await;
    assert_osm_error(s, &e, StatusCode::UNPROCESSABLE_ENTITY);
    let (_, shown) = app
        .get(&format!("/osm/nslcm/v1/subscriptions/{sub_id}"), &t)
        .await;
    assert!(!shown.to_string().contains("hook-secret"), "{shown}");

    let vim = dummy_vim(&app, &t, "edge", 8).await;
    onboard(&app, &t, "/osm/vnfpkgm/v1/vnf_packages_content", VNFD).await;
    let nsd = onboard(&app, &t, "/osm/nsd/v1/ns_descriptors_content", NSD).await;
    let (_, v) = app
        .post(
            "/osm/nslcm/v1/ns_instances_content",
            &t,
            json!({"nsName": "watched", "nsdId": nsd, "vimAccountId": vim}),
        )
        .await;
    let ns = v["id"].as_str().expect("id").to_string();
    let op = v["nslcmop_id"].as_str().expect("op").to_string();
    wait_op(&app, &t, &op).await;
    let (_, v) = app
        .post(
            &format!("/osm/nslcm/v1/ns_instances/{ns}/terminate"),
            &t,
            json!({}),
        )
        .await;
    let term = v["id"].as_str().expect("op").to_string();
    wait_op(&app, &t, &term).await;
    // PROCESSING is filtered out; the first delivery attempt got a 503 and was retried.
    for _ in 0..1000 {
        if seen.lock().expect("lock").len() >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let got = seen.lock().expect("lock").clone();
    assert_eq!(got.len(), 2, "{got:?}");
    let mut ops: Vec<(&str, &str)> = got
        .iter()
        .map(|(_, n)| {
            (
                n["nsLcmOpOccId"].as_str().expect("op"),
                n["operation"].as_str().expect("type"),
            )
        })
        .collect();
    ops.sort();
    let mut want = vec![(op.as_str(), "INSTANTIATE"), (term.as_str(), "TERMINATE")];
    want.sort();
    assert_eq!(ops, want);
    for (auth, n) in &got {
        assert_eq!(
            n["notificationType"],
            json!("NsLcmOperationOccurrenceNotification")
        );
        assert_eq!(n["operationState"], json!("COMPLETED"));
        assert_eq!(n["nsInstanceId"], json!(ns));
        assert_eq!(n["subscriptionId"], json!(sub_id));
        // Basic hook:hook-secret
        assert_eq!(auth.as_deref(), Some("Basic aG9vazpob29rLXNlY3JldA=="));
    }
    let (s, _, _) = app
        .call(
            Method::DELETE,
            &format!("/osm/nslcm/v1/subscriptions/{sub_id}"),
            Some(&t),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    app.stop().await;
}

const NST: &str = "nst:
- id: web_slice
  name: web_slice
  netslice-subnet:
  - {id: shared-core, is-shared-nss: true, nsd-ref: web_ns}
  - {id: edge, is-shared-nss: false, nsd-ref: web_ns}
  netslice-vld:
  - id: slice-mgmt
    mgmt-network: true
    nss-connection-point-ref:
    - {nss-ref: shared-core, nsd-connection-point-ref: nsd_cp_mgmt}
    - {nss-ref: edge, nsd-connection-point-ref: mgmtnet}
";

async fn wait_nsi_op(app: &TestApp, token: &str, op: &str) -> Value {
    for _ in 0..1000 {
        let (s, v) = app
            .get(&format!("/osm/nsilcm/v1/nsi_lcm_op_occs/{op}"), token)
            .await;
        assert_eq!(s, StatusCode::OK, "{v}");
        if v["operationState"] != json!("PROCESSING") {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("slice operation {op} never finished");
}

#[tokio::test]
async fn two_slice_instances_share_one_subnet_and_the_shared_ns_goes_with_the_last_slice() {
    let app = TestApp::start().await;
    let t = app.admin_token().await;
    let vim = dummy_vim(&app, &t, "edge", 16).await;
    onboard(&app, &t, "/osm/vnfpkgm/v1/vnf_packages_content", VNFD).await;
    onboard(&app, &t, "/osm/nsd/v1/ns_descriptors_content", NSD).await;
    let nst = onboard(&app, &t, "/osm/nst/v1/netslice_templates_content", NST).await;
    for (body, status) in [
        (
            json!({"nsiName": "x", "nstId": "00000000-0000-0000-0000-000000000000", "vimAccountId": vim}),
            StatusCode::NOT_FOUND,
        ),
        (
            json!({"nsiName": "x", "nstId": nst, "vimAccountId": vim, "netslice-subnet": [{"id": "nope"}]}),
            StatusCode::BAD_REQUEST,
        ),
        (
            json!({"nstId": nst, "vimAccountId": vim}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
    ] {
        let (s, e) = app
            .post("/osm/nsilcm/v1/netslice_instances_content", &t, body)
            .await;
        assert_osm_error(s, &e, status);
    }
    let (_, none) = app.get("/osm/nsilcm/v1/netslice_instances", &t).await;
    assert_eq!(none, json!([]));
    let mut slices = Vec::new();
    for name in ["slice-a", "slice-b"] {
        let (s, h, v) = app
            .call(
                Method::POST,
                "/osm/nsilcm/v1/netslice_instances_content",
                Some(&t),
                Some(json!({"nsiName": name, "nstId": nst, "vimAccountId": vim})),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
        let id = v["id"].as_str().expect("id").to_string();
        assert_eq!(
            h["location"],
            format!("/osm/nsilcm/v1/netslice_instances_content/{id}").as_str()
        );
        let done = wait_nsi_op(&app, &t, v["nsilcmop_id"].as_str().expect("op")).await;
        assert_eq!(done["operationState"], json!("COMPLETED"), "{done}");
        slices.push(id);
    }
    // Three NS instances: the shared core once, an edge per slice.
    let (_, nsrs) = app.get("/osm/nslcm/v1/ns_instances", &t).await;
    let mut names: Vec<&str> = nsrs
        .as_array()
        .expect("list")
        .iter()
        .map(|n| n["name"].as_str().expect("name"))
        .collect();
    names.sort();
    assert_eq!(
        names,
        ["slice-a.edge", "slice-a.shared-core", "slice-b.edge"]
    );
    assert_eq!(used_vcpus(&app, &vim).await, 12);
    let (_, a) = app
        .get(
            &format!("/osm/nsilcm/v1/netslice_instances/{}", slices[0]),
            &t,
        )
        .await;
    assert_eq!(a["_admin"]["nsiState"], json!("INSTANTIATED"), "{a}");
    assert_eq!(a["operational-status"], json!("running"));
    // The slice's own virtual link is a network of the slice.
    assert_eq!(
        a["_admin"]["netslice-vld"][0]["status"],
        json!("ACTIVE"),
        "{a}"
    );
    assert_eq!(
        app.store
            .list_resources(&format!("nsi-{}/", slices[0]))
            .await
            .expect("list")
            .len(),
        1
    );
    let (_, b) = app
        .get(
            &format!("/osm/nsilcm/v1/netslice_instances/{}", slices[1]),
            &t,
        )
        .await;
    // Each subnet's NS is attached to its slice's network (not a network of its own): the
    // shared core to slice A's, which created it; each edge to its own slice's.
    let slice_net = |nsi: &Value| nsi["_admin"]["netslice-vld"][0]["vim-id"].clone();
    let mgmt_of = |nsr: &Value| {
        let l = &nsr["vld"][0];
        assert_eq!(l["id"], json!("mgmtnet"));
        assert!(
            l["vim_info"]
                .as_object()
                .expect("vim_info")
                .values()
                .all(|i| i["external"] == json!(true)),
            "{l}"
        );
        l["vim-id"].clone()
    };
    let nsr_named = |name: &str| {
        nsrs.as_array()
            .expect("list")
            .iter()
            .find(|n| n["name"] == json!(name))
            .cloned()
            .expect("nsr")
    };
    assert!(slice_net(&a).is_string(), "{a}");
    assert_eq!(mgmt_of(&nsr_named("slice-a.edge")), slice_net(&a));
    assert_eq!(mgmt_of(&nsr_named("slice-a.shared-core")), slice_net(&a));
    assert_eq!(mgmt_of(&nsr_named("slice-b.edge")), slice_net(&b));
    assert_ne!(slice_net(&a), slice_net(&b));
    let shared_of = |nsi: &Value| {
        nsi["_admin"]["nsrs-detailed-list"]
            .as_array()
            .expect("list")
            .iter()
            .find(|d| d["nss-id"] == json!("shared-core"))
            .map(|d| d["nsrId"].clone())
    };
    assert_eq!(
        shared_of(&a),
        shared_of(&b),
        "the second slice reuses the shared NS"
    );
    // The template is in use; an NS of a slice is terminated through the slice.
    let (_, nst_doc) = app
        .get(&format!("/osm/nst/v1/netslice_templates/{nst}"), &t)
        .await;
    assert_eq!(
        nst_doc["_admin"]["usageState"],
        json!("IN_USE"),
        "{nst_doc}"
    );
    let shared = shared_of(&a)
        .and_then(|v| v.as_str().map(str::to_string))
        .expect("shared");
    let (s, e) = app
        .post(
            &format!("/osm/nslcm/v1/ns_instances/{shared}/terminate"),
            &t,
            json!({}),
        )
        .await;
    assert_osm_error(s, &e, StatusCode::CONFLICT);

    // Slice A goes: its edge NS goes, the shared core stays for B.
    let (s, _, v) = app
        .call(
            Method::DELETE,
            &format!("/osm/nsilcm/v1/netslice_instances_content/{}", slices[0]),
            Some(&t),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    // Terminated, then removed with its operations.
    for _ in 0..1000 {
        let (s, _) = app
            .get(
                &format!("/osm/nsilcm/v1/netslice_instances/{}", slices[0]),
                &t,
            )
            .await;
        if s == StatusCode::NOT_FOUND {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    for _ in 0..500 {
        let (_, nsrs) = app.get("/osm/nslcm/v1/ns_instances", &t).await;
        if nsrs.as_array().map(Vec::len) == Some(2) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let (_, nsrs) = app.get("/osm/nslcm/v1/ns_instances", &t).await;
    let mut names: Vec<&str> = nsrs
        .as_array()
        .expect("list")
        .iter()
        .map(|n| n["name"].as_str().expect("name"))
        .collect();
    names.sort();
    assert_eq!(names, ["slice-a.shared-core", "slice-b.edge"]);
    assert_eq!(used_vcpus(&app, &vim).await, 8);
    // Slice A's network stays while the shared NS it carries runs.
    assert_eq!(
        app.store
            .list_resources(&format!("nsi-{}/", slices[0]))
            .await
            .expect("list")
            .len(),
        1
    );
    let (s, _) = app
        .get(
            &format!("/osm/nsilcm/v1/netslice_instances/{}", slices[0]),
            &t,
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    // Slice B goes: everything is back to the start.
    let (s, v) = app
        .post(
            &format!("/osm/nsilcm/v1/netslice_instances/{}/terminate", slices[1]),
            &t,
            json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    let done = wait_nsi_op(&app, &t, v["id"].as_str().expect("op")).await;
    assert_eq!(done["operationState"], json!("COMPLETED"), "{done}");
    let (_, b) = app
        .get(
            &format!("/osm/nsilcm/v1/netslice_instances/{}", slices[1]),
            &t,
        )
        .await;
    assert_eq!(b["_admin"]["nsiState"], json!("NOT_INSTANTIATED"), "{b}");
    assert!(
        app.store
            .list_resources("nsi-")
            .await
            .expect("list")
            .is_empty()
    );
    for _ in 0..500 {
        if used_vcpus(&app, &vim).await == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(used_vcpus(&app, &vim).await, 0);
    let (s, _, _) = app
        .call(
            Method::DELETE,
            &format!("/osm/nsilcm/v1/netslice_instances/{}", slices[1]),
            Some(&t),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (_, nst_doc) = app
        .get(&format!("/osm/nst/v1/netslice_templates/{nst}"), &t)
        .await;
    assert_eq!(
        nst_doc["_admin"]["usageState"],
        json!("NOT_IN_USE"),
        "{nst_doc}"
    );
    let (_, nsrs) = app.get("/osm/nslcm/v1/ns_instances", &t).await;
    assert_eq!(nsrs, json!([]));
    app.stop().await;
}

#[tokio::test]
async fn a_pnf_vdu_takes_a_free_pdu_of_its_type_and_gives_it_back_on_terminate() {
    let app = TestApp::start().await;
    let t = app.admin_token().await;
    let vim = dummy_vim(&app, &t, "edge", 8).await;
    let (s, v) = app
        .post(
            "/osm/pdu/v1/pdu_descriptors",
            &t,
            json!({"name": "gw-1", "type": "gateway", "shared": false, "vim_accounts": [vim],
                   "interfaces": [{"name": "mgmt", "mgmt": true, "ip-address": "192.0.2.10"}]}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let pdu = v["id"].as_str().expect("id").to_string();
    onboard(&app, &t, "/osm/vnfpkgm/v1/vnf_packages_content",
        "vnfd: {id: gw_vnfd, vdu: [{id: gw, name: gw, pdu-type: gateway}], df: [{id: d, vdu-profile: [{id: gw, min-number-of-instances: 1}]}]}").await;
    let nsd = onboard(&app, &t, "/osm/nsd/v1/ns_descriptors_content",
        "nsd: {nsd: [{id: gw_ns, vnfd-id: [gw_vnfd], df: [{id: d, vnf-profile: [{id: '1', vnfd-id: gw_vnfd}]}]}]}").await;
    let (s, v) = app
        .post(
            "/osm/nslcm/v1/ns_instances_content",
            &t,
            json!({"nsName": "pnf1", "nsdId": nsd, "vimAccountId": vim}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let ns = v["id"].as_str().expect("id").to_string();
    let done = wait_op(&app, &t, v["nslcmop_id"].as_str().expect("op")).await;
    assert_eq!(done["operationState"], json!("COMPLETED"), "{done}");
    let (_, vnfr) = app
        .get(&format!("/osm/nslcm/v1/vnf_instances/{ns}-1"), &t)
        .await;
    assert_eq!(vnfr["vdur"][0]["pdu-id"], json!(pdu), "{vnfr}");
    assert_eq!(vnfr["vdur"][0]["ip-address"], json!("192.0.2.10"));
    assert_eq!(vnfr["ip-address"], json!("192.0.2.10"));
    assert_eq!(
        used_vcpus(&app, &vim).await,
        0,
        "a PDU takes no VIM capacity"
    );
    let (_, p) = app
        .get(&format!("/osm/pdu/v1/pdu_descriptors/{pdu}"), &t)
        .await;
    assert_eq!(p["_admin"]["usageState"], json!("IN_USE"), "{p}");
    // The only gateway is taken: a second NS is refused at once; the PDU cannot be deleted.
    let (s, e) = app
        .post(
            "/osm/nslcm/v1/ns_instances_content",
            &t,
            json!({"nsName": "pnf2", "nsdId": nsd, "vimAccountId": vim}),
        )
        .await;
    assert_osm_error(s, &e, StatusCode::CONFLICT);
    assert!(
        e["detail"]
            .as_str()
            .is_some_and(|d| d.contains("PDU(s) of type 'gateway'")),
        "{e}"
    );
    let (s, _, e) = app
        .call(
            Method::DELETE,
            &format!("/osm/pdu/v1/pdu_descriptors/{pdu}"),
            Some(&t),
            None,
        )
        .await;
    assert_osm_error(s, &e, StatusCode::CONFLICT);

    let (_, v) = app
        .post(
            &format!("/osm/nslcm/v1/ns_instances/{ns}/terminate"),
            &t,
            json!({}),
        )
        .await;
    assert_eq!(
        wait_op(&app, &t, v["id"].as_str().expect("op")).await["operationState"],
        json!("COMPLETED")
    );
    let (_, p) = app
        .get(&format!("/osm/pdu/v1/pdu_descriptors/{pdu}"), &t)
        .await;
    assert_eq!(p["_admin"]["usageState"], json!("NOT_IN_USE"), "{p}");
    let (s, v) = app
        .post(
            "/osm/nslcm/v1/ns_instances_content",
            &t,
            json!({"nsName": "pnf2", "nsdId": nsd, "vimAccountId": vim}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert_eq!(
        wait_op(&app, &t, v["nslcmop_id"].as_str().expect("op")).await["operationState"],
        json!("COMPLETED")
    );
    app.stop().await;
}

#[tokio::test]
async fn on_postgres_two_replicas_share_ns_operations_and_run_each_exactly_once() {
    use netorch_core::jobs::JobRepository;
    let app = TestApp::start().await;
    if netorch_test_support::skip_unless(&app.db, true, "two replicas") {
        app.stop().await;
        return;
    }
    // A second replica on the same database (its own data dir, the same sealing key).
    let dir = tempfile::tempdir().expect("dir");
    let mut cfg = app.cfg.clone();
    cfg.data_dir = dir.path().to_path_buf();
    cfg.osm.secret_key_file = Some(app.cfg.data_dir.join("secret.key"));
    let second = netorch::App::build(&cfg).await.expect("second replica");
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let stop = tokio_util::sync::CancellationToken::new();
    let s2 = stop.clone();
    let cfg2 = cfg.clone();
    let replica = tokio::spawn(async move { second.serve(&cfg2, listener, s2).await });

    let t = app.admin_token().await;
    let vim = dummy_vim(&app, &t, "shared", 64).await;
    onboard(&app, &t, "/osm/vnfpkgm/v1/vnf_packages_content", VNFD).await;
    let nsd = onboard(&app, &t, "/osm/nsd/v1/ns_descriptors_content", NSD).await;
    let mut ops = Vec::new();
    for i in 0..10 {
        let (s, v) = app
            .post(
                "/osm/nslcm/v1/ns_instances_content",
                &t,
                json!({"nsName": format!("r{i}"), "nsdId": nsd, "vimAccountId": vim}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
        ops.push(v["nslcmop_id"].as_str().expect("op").to_string());
    }
    for op in &ops {
        assert_eq!(
            wait_op(&app, &t, op).await["operationState"],
            json!("COMPLETED")
        );
    }
    // 10 NSs × (2 servers + 1 network), none twice; every operation's job ran once.
    assert_eq!(app.store.list_resources("").await.expect("list").len(), 30);
    assert_eq!(used_vcpus(&app, &vim).await, 40);
    let jobs = app
        .store
        .list_jobs(
            &netorch_core::tenancy::ProjectScope::All,
            Some(netorch_lcm::NSLCM_JOB),
            100,
        )
        .await
        .expect("jobs");
    assert_eq!(jobs.len(), 10);
    assert!(jobs.iter().all(|j| j.attempts == 1), "{jobs:?}");
    stop.cancel();
    let _ = replica.await;
    app.stop().await;
}

#[tokio::test]
async fn a_slice_action_runs_the_primitive_on_its_subnets_ns() {
    let app = TestApp::start().await;
    let t = app.admin_token().await;
    let (endpoint, calls) = primitive_receiver().await;
    let vim = dummy_vim(&app, &t, "edge", 8).await;
    onboard(&app, &t, "/osm/vnfpkgm/v1/vnf_packages_content", VNFD_PRIMS).await;
    onboard(&app, &t, "/osm/nsd/v1/ns_descriptors_content", NSD_PRIMS).await;
    let nst = onboard(
        &app,
        &t,
        "/osm/nst/v1/netslice_templates_content",
        "nst: [{id: app_slice, netslice-subnet: [{id: s1, nsd-ref: app_ns}]}]",
    )
    .await;
    let (s, v) = app
        .post(
            "/osm/nsilcm/v1/netslice_instances_content",
            &t,
            json!({"nsiName": "apps", "nstId": nst, "vimAccountId": vim,
                   "netslice-subnet": [{"id": "s1", "additionalParamsForVnf": [{"member-vnf-index": "1",
                       "additionalParams": {"primitive_endpoint": endpoint, "port": 80}}]}]}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let nsi = v["id"].as_str().expect("id").to_string();
    assert_eq!(
        wait_nsi_op(&app, &t, v["nsilcmop_id"].as_str().expect("op")).await["operationState"],
        json!("COMPLETED")
    );
    let (s, e) = app
        .post(&format!("/osm/nsilcm/v1/netslice_instances/{nsi}/action"), &t,
            json!({"nss-id": "nope", "member_vnf_index": "1", "primitive": "touch", "primitive_params": {"filename": "f"}}))
        .await;
    assert_osm_error(s, &e, StatusCode::UNPROCESSABLE_ENTITY);
    let (s, v) = app
        .post(&format!("/osm/nsilcm/v1/netslice_instances/{nsi}/action"), &t,
            json!({"nss-id": "s1", "member_vnf_index": "1", "primitive": "touch", "primitive_params": {"filename": "/slice"}}))
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    let done = wait_nsi_op(&app, &t, v["id"].as_str().expect("op")).await;
    assert_eq!(done["operationState"], json!("COMPLETED"), "{done}");
    let seen = calls.lock().expect("lock").clone();
    assert!(seen.iter().any(|c| c["primitive"] == json!("touch") && c["params"]["filename"] == json!("/slice")), "{seen:?}");
    let (_, slice) = app
        .get(&format!("/osm/nsilcm/v1/netslice_instances/{nsi}"), &t)
        .await;
    assert_eq!(slice["_admin"]["nsiState"], json!("INSTANTIATED"));
    app.stop().await;
}
