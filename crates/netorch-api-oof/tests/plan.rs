//! `plan()` is pure: a request, an inventory and policies in, a solver problem (or the reason
//! there is none) out. These tests run it without a store, a server or a solver.

use netorch_api_oof::{
    inventory::Inventory,
    model::{FitAnswers, Plan, plan},
    policy::{PlanError, Policy, parse_policies, select},
    request::PlacementRequest,
};
use serde_json::{Value, json};

fn region(id: &str, complex: &str, lat: f64, lon: f64, vcpus: u32) -> Value {
    json!({"cloud-owner": "CloudOwner", "cloud-region-id": id, "cloud-type": "openstack",
        "cloud-region-version": "titanium_cloud",
        "complex": {"physical-location-id": format!("{}CLLI", complex.to_uppercase()), "complex-name": complex,
            "latitude": lat.to_string(), "longitude": lon.to_string(), "country": "USA"},
        "vcpus": vcpus})
}

fn inventory() -> Inventory {
    serde_json::from_value(json!({"cloud-region": [
        region("dfw-1", "dallas", 32.90, -97.04, 64),
        region("chi-1", "chicago", 41.88, -87.63, 8),
        region("sfo-1", "sanfrancisco", 37.77, -122.42, 64),
    ]}))
    .expect("inventory")
}

fn request(demands: &[&str]) -> PlacementRequest {
    let demands: Vec<Value> = demands
        .iter()
        .map(|d| json!({"resourceModuleName": d, "serviceResourceId": format!("{d}-1"),
            "resourceModelInfo": {"modelInvariantId": format!("{d}-model"), "modelVersionId": "v1"}}))
        .collect();
    let body = json!({
        "requestInfo": {"transactionId": "tx", "requestId": "r", "callbackUrl": "http://127.0.0.1:1/cb",
            "sourceId": "so", "requestType": "create", "numSolutions": 1, "optimizers": ["placement"], "timeout": 60},
        "placementInfo": {"requestParameters": {"customerLatitude": 32.7, "customerLongitude": -96.8},
            "placementDemands": demands},
        "serviceInfo": {"serviceInstanceId": "si", "serviceName": "vCPE", "modelInfo": {"modelInvariantId": "m", "modelVersionId": "v"}}
    });
    PlacementRequest::parse(body.to_string().as_bytes()).expect("request")
}

fn policies(extra: Value) -> Vec<Policy> {
    let mut all = json!({
        "query": {"type": "onap.policies.optimization.service.QueryPolicy", "version": "1.0.0",
            "properties": {"services": ["vCPE"], "queryProperties": [
                {"attribute": "customerLatitude", "attribute_location": "customerLatitude"},
                {"attribute": "customerLongitude", "attribute_location": "customerLongitude"}]}}
    });
    if let (Some(m), Value::Object(e)) = (all.as_object_mut(), extra) {
        m.extend(e);
    }
    parse_policies(&all).expect("policies")
}

fn run(req: &PlacementRequest, all: &[Policy]) -> Result<Plan, PlanError> {
    let selected = select(req, all)?;
    plan(req, &inventory(), &selected, &FitAnswers::new())
}

fn candidates(p: &Plan, demand: usize) -> Vec<String> {
    let mut c: Vec<String> = p.sites[demand]
        .iter()
        .map(|s| s.cloud_region_id.clone())
        .collect();
    c.sort();
    c
}

#[test]
fn without_location_rules_every_region_is_a_candidate() {
    let p = run(&request(&["vG"]), &policies(json!({}))).expect("plan");
    assert!(p.emptied.is_none());
    assert_eq!(candidates(&p, 0), ["chi-1", "dfw-1", "sfo-1"]);
    assert!(p.fit_checks.is_empty());
}

#[test]
fn a_distance_policy_keeps_only_the_regions_within_its_radius() {
    let p = run(
        &request(&["vG"]),
        &policies(json!({"distance": {"type": "onap.policies.optimization.resource.DistancePolicy", "version": "1.0.0",
            "properties": {"services": ["vCPE"], "resources": ["vG"], "identity": "distance",
                "distanceProperties": {"locationInfo": "customer_loc",
                    "distance": {"value": "1500", "operator": "<", "unit": "km"}}}}})),
    )
    .expect("plan");
    // Dallas is next door, Chicago ~1,300 km away, San Francisco ~2,400 km.
    assert_eq!(candidates(&p, 0), ["chi-1", "dfw-1"]);
}

#[test]
fn a_capacity_rule_that_no_region_meets_empties_the_demand_and_names_the_policy() {
    let p = run(
        &request(&["vG"]),
        &policies(json!({"fit": {"type": "onap.policies.optimization.resource.Vim_fit", "version": "1.0.0",
            "properties": {"services": ["vCPE"], "resources": ["vG"], "identity": "fit",
                "capacityProperty": {"controller": "multicloud", "request": {"vCPU": 128, "Memory": 1, "Storage": 1}}}}})),
    )
    .expect("plan");
    let why = p.emptied.expect("no region has 128 vCPUs");
    assert!(why.contains("fit"), "{why}");
}

#[test]
fn a_service_no_policy_applies_to_is_refused_before_planning() {
    let mut req = request(&["vG"]);
    req.service_info.service_name = "vFW".into();
    let Err(e) = run(&req, &policies(json!({}))) else {
        panic!("a request for vFW was planned with vCPE's policies");
    };
    assert!(e.0.contains("vFW"), "{}", e.0);
}
