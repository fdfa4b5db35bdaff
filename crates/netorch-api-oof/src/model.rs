//! From a request, the inventory and the policies to a solver problem, and from the solver's
//! answer to the callback body ONAP SO and VF-C parse.

use std::collections::BTreeMap;

use netorch_solver::{
    Answer, Candidate, Demand, Options, PairRule, Problem, Qualifier, SumRule, ZoneRule,
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::request::{CandidateRef, IdentifierType, PlacementRequest};

/// A complex (site) as A&AI describes it.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct Complex {
    /// CLLI / site id.
    #[serde(default)]
    pub physical_location_id: String,
    /// Name (the `complex` zone).
    #[serde(default)]
    pub complex_name: String,
    /// Latitude (A&AI sends strings).
    #[serde(default, deserialize_with = "number_like")]
    pub latitude: Option<f64>,
    /// Longitude.
    #[serde(default, deserialize_with = "number_like")]
    pub longitude: Option<f64>,
    /// City.
    #[serde(default)]
    pub city: String,
    /// State.
    #[serde(default)]
    pub state: String,
    /// Country (the `country` zone).
    #[serde(default)]
    pub country: String,
    /// Region.
    #[serde(default)]
    pub region: String,
}

fn number_like<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    match Option::<Value>::deserialize(d)? {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => Ok(n.as_f64()),
        Some(Value::String(s)) => s
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| serde::de::Error::custom(format!("'{s}' is not a number"))),
        Some(other) => Err(serde::de::Error::custom(format!("{other} is not a number"))),
    }
}

/// A cloud region: a placement candidate.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct CloudRegion {
    /// Owner.
    pub cloud_owner: String,
    /// Region id.
    pub cloud_region_id: String,
    /// `openstack`...
    #[serde(default)]
    pub cloud_type: String,
    /// Version (HAS `aic_version`).
    #[serde(default)]
    pub cloud_region_version: String,
    /// Its site.
    #[serde(default)]
    pub complex: Complex,
    /// Anything else (hypervisor, dataplane, numeric capacities for threshold policies...).
    #[serde(default)]
    pub attributes: serde_json::Map<String, Value>,
    /// Flavours with their HPA capabilities (A&AI `flavors.flavor[]`).
    #[serde(default)]
    pub flavors: Vec<Flavor>,
}

/// A flavour of a cloud region.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct Flavor {
    /// Name.
    pub flavor_name: String,
    /// HPA capabilities.
    #[serde(default)]
    pub hpa_capabilities: Vec<HpaCapability>,
}

/// One HPA capability of a flavour.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct HpaCapability {
    /// Feature (`basicCapabilities`, `numa`, `sriovNICNetwork`...).
    pub hpa_feature: String,
    /// Architecture (`generic`, `intel64`...).
    #[serde(default)]
    pub architecture: String,
    /// Attributes; values are A&AI's JSON strings like `{"value":"4"}` or plain values.
    #[serde(default)]
    pub hpa_feature_attributes: Vec<HpaAttribute>,
}

/// An HPA attribute.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct HpaAttribute {
    /// Key (`numVirtualCpu`, `virtualMemSize`...).
    pub hpa_attribute_key: String,
    /// Value.
    #[serde(default)]
    pub hpa_attribute_value: Value,
}

/// The plain value of an A&AI HPA attribute (`"{\"value\":\"4\"}"` → `4`).
fn hpa_value(v: &Value) -> Value {
    match v {
        Value::String(s) => match serde_json::from_str::<Value>(s) {
            Ok(Value::Object(o)) => o.get("value").cloned().unwrap_or(Value::Null),
            _ => v.clone(),
        },
        Value::Object(o) => o.get("value").cloned().unwrap_or(Value::Null),
        other => other.clone(),
    }
}

fn mandatory(v: &Value) -> bool {
    match v {
        Value::Bool(b) => *b,
        Value::String(s) => s.eq_ignore_ascii_case("true"),
        _ => true,
    }
}

/// The best flavour of `region` for one VNFC's HPA requirements: every mandatory feature matched,
/// the highest summed score of matched optional ones. `None` if no flavour fits.
fn best_flavor<'a>(region: &'a CloudRegion, feature: &Value) -> Option<(&'a Flavor, f64)> {
    let props = feature["flavorProperties"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let mut best: Option<(&Flavor, f64)> = None;
    for fl in &region.flavors {
        let mut score = 0.0;
        let mut ok = true;
        for p in &props {
            let want_feature = p["hpa-feature"].as_str().unwrap_or_default();
            let arch = p["architecture"].as_str().unwrap_or("generic");
            let matched = fl.hpa_capabilities.iter().any(|c| {
                c.hpa_feature == want_feature
                    && (arch == "generic" || c.architecture.is_empty() || c.architecture == arch)
                    && p["hpa-feature-attributes"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .all(|a| {
                            let key = a["hpa-attribute-key"].as_str().unwrap_or_default();
                            let op = a["operator"].as_str().unwrap_or("=");
                            let want = &a["hpa-attribute-value"];
                            c.hpa_feature_attributes.iter().any(|h| {
                                h.hpa_attribute_key == key && {
                                    let have = hpa_value(&h.hpa_attribute_value);
                                    match (num(&have), num(want)) {
                                        (Some(x), Some(y)) => compare(op, x, y),
                                        _ => op == "=" && have.as_str() == want.as_str(),
                                    }
                                }
                            })
                        })
            });
            if matched {
                if !mandatory(&p["mandatory"]) {
                    score += num(&p["score"]).unwrap_or(0.0);
                }
            } else if mandatory(&p["mandatory"]) {
                ok = false;
                break;
            }
        }
        if ok && best.is_none_or(|(_, s)| score > s) {
            best = Some((fl, score));
        }
    }
    best
}

/// A VIM capacity request value: a number, or `{"get_param": "REQUIRED_MEM"}` resolved from the
/// query policies (`requiredMemory`, `requiredDisk`), in GB.
fn quantity(v: &Value, query: &BTreeMap<String, Value>) -> Option<f64> {
    let q = &v["quantity"];
    let raw = match q.get("get_param").and_then(Value::as_str) {
        Some("REQUIRED_MEM") => query.get("requiredMemory").and_then(num),
        Some("REQUIRED_DISK") => query.get("requiredDisk").and_then(num),
        Some(other) => query.get(other).and_then(num),
        None => num(q),
    }?;
    Some(match v["unit"].as_str() {
        Some("MB") => raw / 1024.0,
        Some("TB") => raw * 1024.0,
        _ => raw,
    })
}

fn capacity_fits(r: &CloudRegion, request: &Value, query: &BTreeMap<String, Value>) -> bool {
    let have = |keys: &[&str]| keys.iter().find_map(|k| r.attributes.get(*k).and_then(num));
    let need_cpu = request.get("vCPU").and_then(num);
    let need_mem = request.get("Memory").and_then(|m| quantity(m, query));
    let need_disk = request.get("Storage").and_then(|m| quantity(m, query));
    [
        (need_cpu, have(&["vcpus", "vCPU", "free_vcpus"])),
        (need_mem, have(&["memory_gb", "ram_gb", "free_memory_gb"])),
        (need_disk, have(&["disk_gb", "storage_gb", "free_disk_gb"])),
    ]
    .iter()
    .all(|(need, have)| match (need, have) {
        (None, _) => true,
        (Some(n), Some(h)) => h >= n,
        (Some(_), None) => false,
    })
}

impl CloudRegion {
    /// `<cloud-owner>_<cloud-region-id>`, ONAP's VIM id.
    pub fn vim_id(&self) -> String {
        format!("{}_{}", self.cloud_owner, self.cloud_region_id)
    }

    fn location(&self) -> Option<(f64, f64)> {
        Some((self.complex.latitude?, self.complex.longitude?))
    }

    fn zone(&self, category: &str) -> Option<String> {
        let v = match category {
            "complex" => &self.complex.complex_name,
            "region" => &self.cloud_region_id,
            "country" => &self.complex.country,
            "state" => &self.complex.state,
            _ => return None,
        };
        (!v.is_empty()).then(|| v.clone())
    }

    fn matches(&self, r: &CandidateRef) -> bool {
        let id = match IdentifierType::parse(&r.identifier_type) {
            Some(IdentifierType::CloudRegionId) => {
                if r.cloud_owner
                    .as_ref()
                    .is_some_and(|o| *o != self.cloud_owner)
                {
                    return false;
                }
                self.cloud_region_id.clone()
            }
            Some(IdentifierType::VimId) => self.vim_id(),
            _ => return false,
        };
        r.identifiers.contains(&id)
    }
}

/// An entitlement pool / license key group a license demand can use.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct LicensePool {
    /// The resource model it licenses.
    pub model_invariant_id: String,
    /// Entitlement pool.
    pub entitlement_pool_uuid: String,
    /// Its invariant id.
    #[serde(default)]
    pub entitlement_pool_invariant_uuid: String,
    /// License key group.
    pub license_key_group_uuid: String,
    /// Its invariant id.
    #[serde(default)]
    pub license_key_group_invariant_uuid: String,
    /// Preference (lower first).
    #[serde(default)]
    pub cost: f64,
}

/// An existing service instance and its VNF (A&AI's `service-instance` and `generic-vnf` fields,
/// flattened): a candidate for demands whose VNF policy has `inventoryType: service`.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct ServiceInstance {
    /// Service instance id (the candidate id; identifierType `serviceInstanceId`).
    pub service_instance_id: String,
    /// Its name.
    #[serde(default)]
    pub service_instance_name: String,
    /// The customer owning it.
    #[serde(default)]
    pub global_customer_id: String,
    /// Service type of its subscription.
    #[serde(default)]
    pub service_type: String,
    /// VNF id (SO reads `vnfId`).
    #[serde(default)]
    pub vnf_id: String,
    /// VNF name (HAS `host_id`, SO reads `vnfHostName`; identifierType `vnfName`).
    #[serde(default)]
    pub vnf_name: String,
    /// VNF type.
    #[serde(default)]
    pub vnf_type: String,
    /// Model of the VNF.
    #[serde(default)]
    pub model_invariant_id: String,
    /// Model version of the VNF.
    #[serde(default)]
    pub model_version_id: String,
    /// Equipment role.
    #[serde(default)]
    pub equipment_role: String,
    /// Provisioning status (`PROV`, `PREPROV`...).
    #[serde(default)]
    pub prov_status: String,
    /// Orchestration status (`Active`, `Created`...).
    #[serde(default)]
    pub orchestration_status: String,
    /// Owner of the cloud region it runs in.
    pub cloud_owner: String,
    /// The cloud region it runs in (must be in the inventory).
    pub cloud_region_id: String,
    /// Anything else, matched by VNF policy attributes.
    #[serde(default)]
    pub attributes: serde_json::Map<String, Value>,
}

impl ServiceInstance {
    /// A field by the VNF-policy attribute names OSDF uses (camelCase or A&AI kebab-case).
    fn field(&self, name: &str) -> Option<String> {
        let v = match name {
            "orchestrationStatus" | "orchestration-status" => &self.orchestration_status,
            "provStatus" | "prov-status" => &self.prov_status,
            "equipmentRole" | "equipment-role" => &self.equipment_role,
            "globalCustomerId" | "global-customer-id" | "customerId" => &self.global_customer_id,
            "serviceType" | "service-type" => &self.service_type,
            "vnfType" | "vnf-type" => &self.vnf_type,
            "modelInvariantId" | "model-invariant-id" => &self.model_invariant_id,
            "modelVersionId" | "model-version-id" => &self.model_version_id,
            "cloudRegionId" | "cloud-region-id" => &self.cloud_region_id,
            other => {
                return self.attributes.get(other).map(|v| match v {
                    Value::String(s) => s.clone(),
                    v => v.to_string(),
                });
            }
        };
        Some(v.clone())
    }
}

/// A group of candidates that may be chosen together by the two demands of an inventory group
/// policy (A&AI's `instance-group`, its relationships flattened to candidate ids).
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct InstanceGroup {
    /// Group id.
    pub id: String,
    /// Description (HAS selects `DHV_VVIG_PAIR`; a policy may name the one it wants).
    #[serde(default)]
    pub description: String,
    /// Group type.
    #[serde(default)]
    pub instance_group_type: String,
    /// Member candidate ids (service instance or cloud region ids).
    #[serde(default)]
    pub members: Vec<String>,
}

/// A placement candidate: a cloud region, or an existing service instance in a cloud region.
#[derive(Debug, Clone)]
pub struct Site {
    /// The region (of the instance, for service candidates).
    pub region: CloudRegion,
    /// The service instance, for `service` candidates.
    pub instance: Option<ServiceInstance>,
}

/// Every location rule (distance, zone, attribute, HPA, capacity) reads the region a candidate is
/// in, for new VNFs and existing instances alike.
impl std::ops::Deref for Site {
    type Target = CloudRegion;
    fn deref(&self) -> &CloudRegion {
        &self.region
    }
}

impl Site {
    /// A numeric attribute: the instance's, else its region's.
    fn number(&self, attribute: &str) -> Option<f64> {
        self.instance
            .as_ref()
            .and_then(|i| i.attributes.get(attribute))
            .or_else(|| self.region.attributes.get(attribute))
            .and_then(num)
    }

    /// The candidate id: the service instance id, else the cloud region id.
    pub fn id(&self) -> &str {
        match &self.instance {
            Some(i) => &i.service_instance_id,
            None => &self.region.cloud_region_id,
        }
    }

    /// Whether a client's candidate reference names this candidate (region identifiers also
    /// name the instances in that region).
    fn matches(&self, r: &CandidateRef) -> bool {
        match (IdentifierType::parse(&r.identifier_type), &self.instance) {
            (Some(IdentifierType::ServiceInstanceId), Some(i)) => {
                r.identifiers.contains(&i.service_instance_id)
            }
            (Some(IdentifierType::VnfName), Some(i)) => r.identifiers.contains(&i.vnf_name),
            (Some(IdentifierType::ServiceInstanceId | IdentifierType::VnfName), None) => false,
            _ => self.region.matches(r),
        }
    }
}

/// The inventory, in A&AI's shape.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Inventory {
    /// Cloud regions.
    #[serde(default)]
    pub cloud_region: Vec<CloudRegion>,
    /// Existing service instances (candidates of `service` demands).
    #[serde(default)]
    pub service_instance: Vec<ServiceInstance>,
    /// Instance groups (inventory group policies).
    #[serde(default)]
    pub instance_group: Vec<InstanceGroup>,
    /// License pools.
    #[serde(default)]
    pub license_pool: Vec<LicensePool>,
}

impl Inventory {
    /// Checks what the types cannot: identifiers present and unique. The error is
    /// `(field path, message)`.
    pub fn validate(&self) -> Result<(), (String, String)> {
        let mut regions = std::collections::BTreeSet::new();
        for (i, r) in self.cloud_region.iter().enumerate() {
            let at = format!("cloud-region[{i}]");
            if r.cloud_owner.is_empty() || r.cloud_region_id.is_empty() {
                return Err((
                    at,
                    "cloud-owner and cloud-region-id must not be empty".into(),
                ));
            }
            if !regions.insert((&r.cloud_owner, &r.cloud_region_id)) {
                return Err((
                    at,
                    format!(
                        "cloud region {}/{} is listed twice",
                        r.cloud_owner, r.cloud_region_id
                    ),
                ));
            }
        }
        let mut groups = std::collections::BTreeSet::new();
        for (i, g) in self.instance_group.iter().enumerate() {
            if g.id.is_empty() || !groups.insert(&g.id) {
                return Err((
                    format!("instance-group[{i}]"),
                    format!("instance group id '{}' is empty or listed twice", g.id),
                ));
            }
        }
        let mut instances = std::collections::BTreeSet::new();
        for (i, x) in self.service_instance.iter().enumerate() {
            let at = format!("service-instance[{i}]");
            if x.service_instance_id.is_empty() {
                return Err((at, "service-instance-id must not be empty".into()));
            }
            if !instances.insert(&x.service_instance_id) {
                return Err((
                    at,
                    format!("service instance {} is listed twice", x.service_instance_id),
                ));
            }
        }
        Ok(())
    }
}

/// A policy in OSDF's local-file format.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct Policy {
    /// Policy id.
    #[serde(default)]
    pub id: String,
    /// TOSCA type, e.g. `onap.policies.optimization.resource.DistancePolicy`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Properties.
    #[serde(default)]
    pub properties: Value,
}

impl Policy {
    /// The short type name (`DistancePolicy`).
    pub fn short_type(&self) -> &str {
        self.kind.rsplit('.').next().unwrap_or(&self.kind)
    }

    fn list(&self, key: &str) -> Vec<String> {
        self.properties[key]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Whether the policy applies to a service (no `services` list: to all).
    pub fn applies_to_service(&self, service: &str) -> bool {
        let s = self.list("services");
        s.is_empty() || s.iter().any(|x| x.eq_ignore_ascii_case(service))
    }

    /// The demands it names (empty: every demand).
    pub fn resources(&self) -> Vec<String> {
        self.list("resources")
    }
}

/// Reads policies from a file's JSON: `{id: policy}`, `{"policies": {...}}` or a list.
pub fn parse_policies(v: &Value) -> Result<Vec<Policy>, String> {
    let map = match v.get("policies") {
        Some(inner) => inner,
        None => v,
    };
    let mut out = Vec::new();
    match map {
        Value::Object(m) => {
            for (id, p) in m {
                let mut p: Policy =
                    serde_json::from_value(p.clone()).map_err(|e| format!("policy {id}: {e}"))?;
                p.id = id.clone();
                out.push(p);
            }
        }
        Value::Array(a) => {
            for p in a {
                let p: Policy = serde_json::from_value(p.clone()).map_err(|e| e.to_string())?;
                if p.id.is_empty() {
                    return Err("a policy in a list needs an \"id\"".into());
                }
                out.push(p);
            }
        }
        _ => return Err("policies must be an object keyed by policy id, or a list".into()),
    }
    Ok(out)
}

/// Follows a dotted path into request parameters, as OSDF does (lists apply the rest of the path
/// to every element).
pub fn dotted(root: &Value, path: &str) -> Option<Value> {
    fn walk(v: &Value, parts: &[&str]) -> Option<Value> {
        match parts.split_first() {
            None => Some(v.clone()),
            Some((head, rest)) => match v {
                Value::Object(m) => walk(m.get(*head)?, rest),
                Value::Array(a) => Some(Value::Array(
                    a.iter().filter_map(|x| walk(x, parts)).collect(),
                )),
                _ => None,
            },
        }
    }
    let parts: Vec<&str> = path.split('.').filter(|p| !p.is_empty()).collect();
    walk(root, &parts).filter(|v| !v.is_null())
}

fn haversine(a: (f64, f64), b: (f64, f64)) -> f64 {
    let (la1, lo1, la2, lo2) = (
        a.0.to_radians(),
        a.1.to_radians(),
        b.0.to_radians(),
        b.1.to_radians(),
    );
    let h = ((la2 - la1) / 2.0).sin().powi(2)
        + la1.cos() * la2.cos() * ((lo2 - lo1) / 2.0).sin().powi(2);
    2.0 * 6371.0 * h.sqrt().asin()
}

fn num(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn compare(op: &str, left: f64, right: f64) -> bool {
    match op {
        "<" | "lt" => left < right,
        "<=" | "lte" => left <= right,
        ">" | "gt" => left > right,
        ">=" | "gte" => left >= right,
        "=" | "==" | "eq" => (left - right).abs() < 1e-9,
        _ => false,
    }
}

/// A request translated for the solver, with what is needed to answer.
pub struct Plan {
    /// The problem.
    pub problem: Problem,
    /// The candidates behind each demand's solver candidates (same order).
    pub sites: Vec<Vec<Site>>,
    /// HPA flavour directives per demand and region (empty without an HPA policy).
    pub directives: Vec<Vec<Vec<Value>>>,
    /// Solver options.
    pub options: Options,
    /// Why a demand has no candidate, if one has none.
    pub emptied: Option<String>,
    /// Controller capacity checks still to be asked before the plan is final (instance_fit /
    /// region_fit candidates without an answer in the `fits` given to [`plan`]).
    pub fit_checks: Vec<FitCheck>,
}

/// One capacity question for a controller: can this candidate take this demand?
#[derive(Debug, Clone, PartialEq)]
pub struct FitCheck {
    /// The policy asking.
    pub policy: String,
    /// `instance_fit` (an existing instance) or `region_fit` (a new VNF in a region).
    pub kind: &'static str,
    /// The policy's request, `get_param`s resolved (`service_type`, `e2evpnkey`, `bw_up`...).
    pub request: serde_json::Map<String, Value>,
    /// The demand.
    pub demand: String,
    /// The demand's `serviceResourceId`.
    pub service_resource_id: String,
    /// The candidate id (service instance or cloud region id).
    pub candidate_id: String,
    /// The candidate's cloud region id.
    pub cloud_region_id: String,
    /// The VNF name, for instance candidates.
    pub host_id: Option<String>,
}

impl FitCheck {
    /// The key of its answer in [`FitAnswers`].
    pub fn key(&self) -> (String, String, String) {
        (
            self.policy.clone(),
            self.demand.clone(),
            self.candidate_id.clone(),
        )
    }
}

/// Controller answers: (policy, demand, candidate id) → fits.
pub type FitAnswers = BTreeMap<(String, String, String), bool>;

/// Why a request cannot be planned (answered as `failed`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct PlanError(pub String);

/// The policies that apply to a request; an error names what is missing.
pub fn select<'a>(req: &PlacementRequest, all: &'a [Policy]) -> Result<Vec<&'a Policy>, PlanError> {
    let service = &req.service_info.service_name;
    let demands: Vec<String> = req
        .placement_info
        .placement_demands
        .iter()
        .map(|d| d.resource_module_name.to_lowercase())
        .collect();
    let for_service: Vec<&Policy> = all
        .iter()
        .filter(|p| p.applies_to_service(service))
        .collect();
    // The subscriber's roles, from the subscriber policies that name it; a policy with a
    // `subscriberRoles` list applies only to subscribers holding one of them.
    let roles: Vec<String> = subscriber_policies(req, &for_service)
        .into_iter()
        .flat_map(|(p, _)| p.list("subscriberRole"))
        .collect();
    let picked: Vec<&Policy> = for_service
        .into_iter()
        .filter(|p| {
            let need = p.list("subscriberRoles");
            need.is_empty()
                || need
                    .iter()
                    .any(|n| roles.iter().any(|r| r.eq_ignore_ascii_case(n)))
        })
        .filter(|p| {
            let r = p.resources();
            r.is_empty()
                || r.iter().any(|x| demands.contains(&x.to_lowercase()))
                || p.short_type() == "QueryPolicy"
        })
        .collect();
    if picked.is_empty() && !demands.is_empty() {
        return Err(PlanError(format!(
            "no placement policy applies to service '{service}' (demands: {}); load policies for it (oof.policy_dir or PUT /api/oof/v1/policies/{{id}})",
            demands.join(", ")
        )));
    }
    Ok(picked)
}

fn applies(p: &Policy, demand: &str) -> bool {
    let r = p.resources();
    r.is_empty() || r.iter().any(|x| x.eq_ignore_ascii_case(demand))
}

/// The subscriber policies of the request's service that name its subscriber, with the name.
fn subscriber_policies<'a>(
    req: &PlacementRequest,
    policies: &[&'a Policy],
) -> Vec<(&'a Policy, String)> {
    let Some(who) = req
        .placement_info
        .subscriber_info
        .as_ref()
        .and_then(|s| s.subscriber_name.clone())
    else {
        return Vec::new();
    };
    policies
        .iter()
        .filter(|p| p.short_type() == "SubscriberPolicy")
        .filter(|p| {
            p.list("subscriberName")
                .iter()
                .any(|n| n.eq_ignore_ascii_case(&who))
        })
        .map(|p| (*p, who.clone()))
        .collect()
}

/// A policy value with HAS's `{"get_param": name}` resolved from the query parameters.
fn resolve(v: &Value, query: &BTreeMap<String, Value>) -> Value {
    match v.get("get_param").and_then(Value::as_str) {
        Some(name) => query.get(name).cloned().unwrap_or(Value::Null),
        None => v.clone(),
    }
}

fn text(v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::String(s) if s.is_empty() => None,
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

/// Whether an instance passes one VNF-policy filtering attribute: a value, a list (any of), or
/// `{"not": [...]}` (passes when the field is absent or none of them).
fn attribute_passes(i: &ServiceInstance, key: &str, want: &Value) -> bool {
    let have = i.field(key).filter(|h| !h.is_empty());
    let list = |v: &Value| -> Vec<String> {
        v.as_array()
            .into_iter()
            .flatten()
            .filter_map(text)
            .collect()
    };
    match want {
        Value::Null => true,
        Value::String(s) if s.is_empty() => true,
        Value::Object(o) if o.contains_key("not") => {
            have.is_none_or(|h| !list(&o["not"]).iter().any(|x| x.eq_ignore_ascii_case(&h)))
        }
        Value::Array(_) => {
            have.is_some_and(|h| list(want).iter().any(|x| x.eq_ignore_ascii_case(&h)))
        }
        other => have.is_some_and(|h| text(other).is_some_and(|x| x.eq_ignore_ascii_case(&h))),
    }
}

/// A demand's candidates, from the inventory types its VNF policies name (several entries:
/// the union, as HAS treats several requirements of one demand); without a VNF policy, every
/// cloud region. When there are none, also why.
fn sources(
    d: &crate::request::PlacementDemand,
    policies: &[&Policy],
    inv: &Inventory,
    query: &BTreeMap<String, Value>,
) -> Result<(Vec<Site>, String), PlanError> {
    let name = &d.resource_module_name;
    let entries: Vec<(&Policy, &Value)> = policies
        .iter()
        .filter(|p| p.short_type() == "VnfPolicy" && applies(p, name))
        .flat_map(|p| {
            p.properties["vnfProperties"]
                .as_array()
                .into_iter()
                .flatten()
                .map(move |e| (*p, e))
        })
        .collect();
    let cloud = || {
        inv.cloud_region
            .iter()
            .map(|r| Site {
                region: r.clone(),
                instance: None,
            })
            .collect::<Vec<_>>()
    };
    if entries.is_empty() {
        return Ok((
            cloud(),
            format!("the inventory has no cloud region for demand {name}"),
        ));
    }
    let mut out: Vec<Site> = Vec::new();
    let mut why = Vec::new();
    let add = |out: &mut Vec<Site>, s: Site| {
        if !out.iter().any(|x| x.id() == s.id()) {
            out.push(s);
        }
    };
    for (p, e) in entries {
        let kind = e["inventoryType"]
            .as_str()
            .unwrap_or("cloud")
            .to_lowercase();
        match kind.as_str() {
            "cloud" => {
                for s in cloud() {
                    add(&mut out, s);
                }
                why.push(format!(
                    "the inventory has no cloud region for demand {name}"
                ));
            }
            "service" => {
                let model = &d.resource_model_info;
                let role = text(&resolve(&e["equipmentRole"], query));
                let customer = text(&resolve(&e["customerId"], query));
                let attrs: Vec<(String, Value)> = e["attributes"]
                    .as_object()
                    .into_iter()
                    .flatten()
                    .map(|(k, v)| (k.clone(), resolve(v, query)))
                    .collect();
                for i in &inv.service_instance {
                    let fits = (model.model_invariant_id.is_empty()
                        || i.model_invariant_id == model.model_invariant_id)
                        && (model.model_version_id.is_empty()
                            || i.model_version_id == model.model_version_id)
                        && role
                            .as_ref()
                            .is_none_or(|r| i.equipment_role.eq_ignore_ascii_case(r))
                        && customer.as_ref().is_none_or(|c| &i.global_customer_id == c)
                        && attrs.iter().all(|(k, v)| attribute_passes(i, k, v));
                    // An instance is placed where its region is: one outside the inventory
                    // cannot be located, so it is no candidate (as in HAS).
                    let region = inv.cloud_region.iter().find(|r| {
                        r.cloud_owner == i.cloud_owner && r.cloud_region_id == i.cloud_region_id
                    });
                    if let (true, Some(r)) = (fits, region) {
                        add(
                            &mut out,
                            Site {
                                region: r.clone(),
                                instance: Some(i.clone()),
                            },
                        );
                    }
                }
                why.push(format!(
                    "no service instance in the inventory matches policy {} for demand {name} (model {}{}{}, in a known cloud region)",
                    p.id,
                    model.model_invariant_id,
                    customer.map(|c| format!(", customer {c}")).unwrap_or_default(),
                    role.map(|r| format!(", equipment role {r}")).unwrap_or_default(),
                ));
            }
            other => {
                return Err(PlanError(format!(
                    "policy {}: inventoryType '{other}' is not supported by netorch (cloud, service)",
                    p.id
                )));
            }
        }
    }
    Ok((out, why.join("; ")))
}

/// One linear objective term of a demand.
enum Term {
    /// v1 `distance`: weight × (km to the customer + HAS's candidate cost).
    DistanceWithCost(f64),
    /// v1 `hpa_score`: − weight × the HPA score.
    HpaScore(f64),
    /// v2 `distance_between` the customer and the demand: weight × normalised km.
    Distance {
        weight: f64,
        norm: Option<(f64, f64)>,
    },
    /// v2 `attribute`: weight × the normalised numeric attribute of the candidate.
    Attribute {
        policy: String,
        name: String,
        weight: f64,
        norm: Option<(f64, f64)>,
    },
}

/// HAS's normalisation `(v − start) / (end − start)`.
fn normalise(v: f64, norm: Option<(f64, f64)>) -> f64 {
    match norm {
        Some((start, end)) => (v - start) / (end - start),
        None => v,
    }
}

/// The objective terms an optimization policy gives a demand: v1 (`objectiveParameter`) or v2
/// (`goal` + `operation_function`, sums only: min/max are not linear).
fn objective_terms(p: &Policy, demand: &str) -> Result<Vec<Term>, PlanError> {
    let fail = |why: String| PlanError(format!("policy {}: {why}", p.id));
    let mut out = Vec::new();
    if let Some(v1) = p.properties.get("objectiveParameter") {
        for a in v1["parameterAttributes"].as_array().into_iter().flatten() {
            let names: Vec<String> = a["resources"]
                .as_array()
                .map(|x| {
                    x.iter()
                        .filter_map(|v| v.as_str().map(str::to_lowercase))
                        .collect()
                })
                .unwrap_or_default();
            if !names.is_empty() && !names.contains(&demand.to_lowercase()) {
                continue;
            }
            let weight = num(&a["weight"]).unwrap_or(1.0);
            match a["parameter"].as_str() {
                Some("distance") => out.push(Term::DistanceWithCost(weight)),
                Some("hpa_score") => out.push(Term::HpaScore(weight)),
                other => {
                    return Err(fail(format!(
                        "objective parameter {other:?} is not supported (distance, hpa_score)"
                    )));
                }
            }
        }
        return Ok(out);
    }
    let Some(function) = p.properties.get("operation_function") else {
        return Err(fail(
            "neither objectiveParameter (v1) nor goal and operation_function (v2)".into(),
        ));
    };
    let sign = match p.properties["goal"].as_str().unwrap_or("minimize") {
        "minimize" => 1.0,
        "maximize" => -1.0,
        other => return Err(fail(format!("goal '{other}' is not minimize or maximize"))),
    };
    fn walk(
        p: &Policy,
        f: &Value,
        scale: f64,
        demand: &str,
        out: &mut Vec<Term>,
        fail: &dyn Fn(String) -> PlanError,
    ) -> Result<(), PlanError> {
        let operator = f["operator"].as_str().unwrap_or("sum");
        if operator != "sum" {
            return Err(fail(format!(
                "operator '{operator}' is not supported: only sums are linear"
            )));
        }
        for op in f["operands"].as_array().into_iter().flatten() {
            let weight = scale * num(&op["weight"]).unwrap_or(1.0);
            if let Some(inner) = op.get("operation_function") {
                walk(p, inner, weight, demand, out, fail)?;
                continue;
            }
            if op.get("operands").is_some() {
                walk(p, op, weight, demand, out, fail)?;
                continue;
            }
            let params = &op["params"];
            if !params["demand"]
                .as_str()
                .is_some_and(|d| d.eq_ignore_ascii_case(demand))
            {
                continue;
            }
            let norm = match op.get("normalization") {
                None | Some(Value::Null) => None,
                Some(n) => match (num(&n["start"]), num(&n["end"])) {
                    (Some(s), Some(e)) if s != e => Some((s, e)),
                    _ => {
                        return Err(fail(
                            "normalization needs a start and a different end".into(),
                        ));
                    }
                },
            };
            match op["function"].as_str() {
                Some("distance_between") => {
                    let location = params["location"].as_str().unwrap_or("customer_loc");
                    if location != "customer_loc" {
                        return Err(fail(format!(
                            "location '{location}' is unknown (customer_loc)"
                        )));
                    }
                    out.push(Term::Distance { weight, norm });
                }
                Some("attribute") => {
                    let Some(name) = params["attribute"].as_str() else {
                        return Err(fail("an attribute operand needs params.attribute".into()));
                    };
                    out.push(Term::Attribute {
                        policy: p.id.clone(),
                        name: name.to_string(),
                        weight,
                        norm,
                    });
                }
                Some("latency_between") => {
                    return Err(fail(
                        "latency_between needs latency data netorch does not have; use an attribute operand on a latency attribute".into(),
                    ));
                }
                other => {
                    return Err(fail(format!(
                        "objective function {other:?} is not supported (distance_between, attribute)"
                    )));
                }
            }
        }
        Ok(())
    }
    walk(p, function, sign, demand, &mut out, &fail)?;
    Ok(out)
}

/// One entry of an aggregation policy.
struct Aggregation {
    attribute: String,
    operator: String,
    threshold: Value,
}

/// The entries of an aggregation policy (`aggregationProperties`), checked.
fn aggregation_entries(p: &Policy) -> Result<Vec<Aggregation>, PlanError> {
    let entries = p.properties["aggregationProperties"]
        .as_array()
        .ok_or_else(|| {
            PlanError(format!(
                "policy {}: aggregationProperties must be a list",
                p.id
            ))
        })?;
    entries
        .iter()
        .map(|e| {
            let function = e["function"].as_str().unwrap_or("sum");
            if function != "sum" {
                return Err(PlanError(format!(
                    "policy {}: aggregation function '{function}' is not supported (sum)",
                    p.id
                )));
            }
            let attribute = e["attribute"]
                .as_str()
                .filter(|a| !a.is_empty())
                .ok_or_else(|| {
                    PlanError(format!(
                        "policy {}: an aggregation needs an attribute",
                        p.id
                    ))
                })?;
            Ok(Aggregation {
                attribute: attribute.to_string(),
                operator: e["operator"].as_str().unwrap_or("lte").to_string(),
                threshold: e["threshold"].clone(),
            })
        })
        .collect()
}

/// Builds the solver problem.
pub fn plan(
    req: &PlacementRequest,
    inv: &Inventory,
    policies: &[&Policy],
    fits: &FitAnswers,
) -> Result<Plan, PlanError> {
    let params = Value::Object(
        req.placement_info
            .request_parameters
            .clone()
            .unwrap_or_default(),
    );
    // Query policies: named values from requestParameters (later policies overwrite earlier).
    let mut query: BTreeMap<String, Value> = BTreeMap::new();
    for p in policies.iter().filter(|p| p.short_type() == "QueryPolicy") {
        for q in p.properties["queryProperties"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let Some(attr) = q["attribute"].as_str() else {
                continue;
            };
            let value = match &q["value"] {
                Value::Null => None,
                Value::String(s) if s.is_empty() => None,
                v => Some(v.clone()),
            }
            .or_else(|| {
                q["attribute_location"]
                    .as_str()
                    .and_then(|path| dotted(&params, path))
            });
            if let Some(v) = value {
                query.insert(attr.to_string(), v);
            }
        }
    }
    let customer = match (
        query.get("customerLatitude").and_then(num),
        query.get("customerLongitude").and_then(num),
    ) {
        (Some(la), Some(lo)) => Some((la, lo)),
        _ => None,
    };
    let needs_location = |what: &str| {
        PlanError(format!(
            "{what} needs the customer location, but no query policy gives customerLatitude and customerLongitude for service '{}'",
            req.service_info.service_name
        ))
    };
    // Subscriber policies naming the request's subscriber restrict existing instances to the
    // provisioning states that subscriber may be served from.
    let subscribed: Vec<(String, String, Vec<String>)> = subscriber_policies(req, policies)
        .into_iter()
        .filter_map(|(p, who)| {
            let statuses = p.list("provStatus");
            (!statuses.is_empty()).then(|| (p.id.clone(), who, statuses))
        })
        .collect();
    let mut demands = Vec::new();
    let mut fit_checks = Vec::new();
    let mut regions_out = Vec::new();
    let mut directives_out: Vec<Vec<Vec<Value>>> = Vec::new();
    let mut emptied = None;
    for d in &req.placement_info.placement_demands {
        let name = &d.resource_module_name;
        let (mut regions, why_none) = sources(d, policies, inv, &query)?;
        let mut hpa: BTreeMap<String, (f64, Vec<Value>)> = BTreeMap::new();
        if regions.is_empty() && emptied.is_none() {
            emptied = Some(why_none);
        }
        let mut stage = |label: String, regions: &mut Vec<Site>, keep: &dyn Fn(&Site) -> bool| {
            let before = regions.len();
            regions.retain(|r| keep(r));
            if before > 0 && regions.is_empty() && emptied.is_none() {
                emptied = Some(format!("{label} left no candidate for demand {name}"));
            }
        };
        if !d.required_candidates.is_empty() {
            stage("requiredCandidates".into(), &mut regions, &|r| {
                d.required_candidates.iter().any(|c| r.matches(c))
            });
        }
        if !d.excluded_candidates.is_empty() {
            stage("excludedCandidates".into(), &mut regions, &|r| {
                !d.excluded_candidates.iter().any(|c| r.matches(c))
            });
        }
        for (id, subscriber, statuses) in &subscribed {
            stage(
                format!("policy {id} (prov-status of subscriber {subscriber})"),
                &mut regions,
                &|s| {
                    s.instance.as_ref().is_none_or(|i| {
                        statuses
                            .iter()
                            .any(|x| x.eq_ignore_ascii_case(&i.prov_status))
                    })
                },
            );
        }
        for p in policies.iter().filter(|p| applies(p, name)) {
            match p.short_type() {
                "DistancePolicy" => {
                    let dist = &p.properties["distanceProperties"]["distance"];
                    let limit = num(&dist["value"]).ok_or_else(|| {
                        PlanError(format!("policy {}: distance value is not a number", p.id))
                    })?;
                    let km = if dist["unit"].as_str() == Some("mi") {
                        limit * 1.609344
                    } else {
                        limit
                    };
                    let op = dist["operator"].as_str().unwrap_or("<").to_string();
                    let at = customer.ok_or_else(|| needs_location(&format!("policy {}", p.id)))?;
                    stage(
                        format!(
                            "policy {} (distance {op} {limit} {})",
                            p.id,
                            dist["unit"].as_str().unwrap_or("km")
                        ),
                        &mut regions,
                        &|r| {
                            r.location()
                                .is_some_and(|l| compare(&op, haversine(at, l), km))
                        },
                    );
                }
                "AttributePolicy" => {
                    let props = p.properties["attributeProperties"].clone();
                    stage(
                        format!("policy {} (attributes)", p.id),
                        &mut regions,
                        &|r| attributes_match(r, &props),
                    );
                }
                "ThresholdPolicy" => {
                    let rules = p.properties["thresholdProperties"].clone();
                    stage(
                        format!("policy {} (thresholds)", p.id),
                        &mut regions,
                        &|r| {
                            rules.as_array().into_iter().flatten().all(|t| {
                                let (Some(attr), Some(op), Some(limit)) = (
                                    t["attribute"].as_str(),
                                    t["operator"].as_str(),
                                    num(&t["threshold"]),
                                ) else {
                                    return false;
                                };
                                r.attributes
                                    .get(attr)
                                    .and_then(num)
                                    .is_some_and(|v| compare(op, v, limit))
                            })
                        },
                    );
                }
                "HpaPolicy" => {
                    let features = p.properties["flavorFeatures"]
                        .as_array()
                        .cloned()
                        .unwrap_or_default();
                    let mut found: BTreeMap<String, (f64, Vec<Value>)> = BTreeMap::new();
                    for r in &regions {
                        let mut total = 0.0;
                        let mut directives = Vec::new();
                        let fits = features.iter().all(|f| match best_flavor(r, f) {
                            Some((fl, score)) => {
                                total += score;
                                let mut attrs: Vec<Value> = f["directives"]
                                    .as_array()
                                    .into_iter()
                                    .flatten()
                                    .flat_map(|d| d["attributes"].as_array().cloned().unwrap_or_default())
                                    .map(|a| json!({"attribute_name": a["attribute_name"], "attribute_value": fl.flavor_name}))
                                    .collect();
                                if attrs.is_empty() {
                                    attrs.push(json!({"attribute_name": "flavorName", "attribute_value": fl.flavor_name}));
                                }
                                directives.push(json!({"id": f["id"], "type": f["type"],
                                    "directives": [{"type": "flavor_directives", "attributes": attrs}]}));
                                true
                            }
                            None => false,
                        });
                        if fits {
                            found.insert(r.cloud_region_id.clone(), (total, directives));
                        }
                    }
                    stage(
                        format!("policy {} (HPA flavours)", p.id),
                        &mut regions,
                        &|r| found.contains_key(&r.cloud_region_id),
                    );
                    for (id, v) in found {
                        hpa.insert(id, v);
                    }
                }
                "Vim_fit" | "VimFitPolicy" => {
                    let prop = if p.properties["capacityProperty"].is_null() {
                        &p.properties["capacityProperties"]
                    } else {
                        &p.properties["capacityProperty"]
                    };
                    let request = match &prop["request"] {
                        Value::String(s) => serde_json::from_str(s).map_err(|e| {
                            PlanError(format!(
                                "policy {}: capacity request is not JSON: {e}",
                                p.id
                            ))
                        })?,
                        v => v.clone(),
                    };
                    stage(
                        format!("policy {} (VIM capacity)", p.id),
                        &mut regions,
                        &|r| capacity_fits(r, &request, &query),
                    );
                }
                kind @ ("ResourceInstancePolicy" | "ResourceRegionPolicy") => {
                    let (fit, prop) = if kind == "ResourceInstancePolicy" {
                        ("instance_fit", &p.properties["resourceInstanceProperty"])
                    } else {
                        ("region_fit", &p.properties["resourceRegionProperty"])
                    };
                    let controller = prop["controller"].as_str().unwrap_or_default();
                    if !controller.eq_ignore_ascii_case("SDN-C") {
                        return Err(PlanError(format!(
                            "policy {}: controller '{controller}' is not supported (SDN-C)",
                            p.id
                        )));
                    }
                    let request = match &prop["request"] {
                        Value::String(s) => serde_json::from_str(s).map_err(|e| {
                            PlanError(format!("policy {}: request is not JSON: {e}", p.id))
                        })?,
                        v => v.clone(),
                    };
                    let Value::Object(request) = request else {
                        return Err(PlanError(format!(
                            "policy {}: request must be a JSON object",
                            p.id
                        )));
                    };
                    let request: serde_json::Map<String, Value> = request
                        .into_iter()
                        .map(|(k, v)| {
                            let v = resolve(&v, &query);
                            (k, v)
                        })
                        .collect();
                    let key = |s: &Site| (p.id.clone(), name.clone(), s.id().to_string());
                    stage(
                        format!("policy {} (SDN-C {fit}: no capacity)", p.id),
                        &mut regions,
                        &|s| fits.get(&key(s)).copied().unwrap_or(true),
                    );
                    for s in regions.iter().filter(|s| !fits.contains_key(&key(s))) {
                        fit_checks.push(FitCheck {
                            policy: p.id.clone(),
                            kind: fit,
                            request: request.clone(),
                            demand: name.clone(),
                            service_resource_id: d.service_resource_id.clone(),
                            candidate_id: s.id().to_string(),
                            cloud_region_id: s.cloud_region_id.clone(),
                            host_id: s.instance.as_ref().map(|i| i.vnf_name.clone()),
                        });
                    }
                }
                "AggregationPolicy" => {
                    // A candidate without the summed quantity cannot be counted: it is dropped, as
                    // a threshold policy drops it.
                    let attrs: Vec<String> = aggregation_entries(p)?
                        .into_iter()
                        .map(|e| e.attribute)
                        .collect();
                    stage(
                        format!(
                            "policy {} (aggregated attributes {})",
                            p.id,
                            attrs.join(", ")
                        ),
                        &mut regions,
                        &|s| attrs.iter().all(|a| s.number(a).is_some()),
                    );
                }
                "SubscriberPolicy"
                | "QueryPolicy"
                | "OptimizationPolicy"
                | "AffinityPolicy"
                | "VnfPolicy"
                | "InventoryGroupPolicy" => {}
                other => {
                    return Err(PlanError(format!(
                        "policy {}: type {other} is not supported by netorch (supported: Query, Vnf, Subscriber, Distance, Attribute, Threshold, Hpa, Vim_fit, ResourceInstance, ResourceRegion, Affinity, Aggregation, InventoryGroup, Optimization)",
                        p.id
                    )));
                }
            }
        }
        // Objective: HAS's linear form, weight × (distance + candidate cost) − weight × hpa_score
        // (v1 policies), or weighted, normalised distances and attributes (v2 policies).
        let mut terms: Vec<Term> = Vec::new();
        for p in policies
            .iter()
            .filter(|p| p.short_type() == "OptimizationPolicy")
        {
            terms.extend(objective_terms(p, name)?);
        }
        let distance_needed = terms
            .iter()
            .any(|t| matches!(t, Term::DistanceWithCost(_) | Term::Distance { .. }));
        if distance_needed && customer.is_none() {
            return Err(needs_location("the distance objective"));
        }
        for t in &terms {
            if let Term::Attribute {
                policy, name: attr, ..
            } = t
            {
                stage(
                    format!("policy {policy} (objective attribute {attr})"),
                    &mut regions,
                    &|s| s.number(attr).is_some(),
                );
            }
        }
        let existing = |r: &Site| d.existing_candidates.iter().any(|c| r.matches(c));
        let candidates = regions
            .iter()
            .map(|r| {
                // HAS: cloud candidates cost 2, service candidates 1, an existing placement −8000.
                let base = match (existing(r), &r.instance) {
                    (true, _) => -8000.0,
                    (false, Some(_)) => 1.0,
                    (false, None) => 2.0,
                };
                let km = || match (customer, r.location()) {
                    (Some(a), Some(b)) => haversine(a, b),
                    _ => 20_000.0,
                };
                let mut cost = 0.0;
                for t in &terms {
                    match t {
                        Term::DistanceWithCost(w) => cost += w * (km() + base),
                        Term::HpaScore(w) => {
                            let score = hpa
                                .get(&r.cloud_region_id)
                                .map(|h| h.0)
                                .or_else(|| r.attributes.get("hpa_score").and_then(num))
                                .unwrap_or(0.0);
                            cost -= w * score
                        }
                        Term::Distance { weight, norm, .. } => {
                            cost += weight * normalise(km(), *norm)
                        }
                        Term::Attribute {
                            name: attr,
                            weight,
                            norm,
                            ..
                        } => cost += weight * normalise(r.number(attr).unwrap_or(0.0), *norm),
                    }
                }
                if terms.is_empty() {
                    cost = base;
                }
                Candidate {
                    id: r.id().to_string(),
                    cost: (cost * 1000.0).round() / 1000.0,
                    zones: ["complex", "region", "country", "state"]
                        .iter()
                        .filter_map(|c| r.zone(c).map(|v| (c.to_string(), v)))
                        .collect(),
                }
            })
            .collect();
        demands.push(Demand {
            name: name.clone(),
            candidates,
        });
        directives_out.push(
            regions
                .iter()
                .map(|r| {
                    hpa.get(&r.cloud_region_id)
                        .map(|h| h.1.clone())
                        .unwrap_or_default()
                })
                .collect(),
        );
        regions_out.push(regions);
    }
    let index: BTreeMap<String, usize> = demands
        .iter()
        .enumerate()
        .map(|(i, d)| (d.name.to_lowercase(), i))
        .collect();
    let mut zones = Vec::new();
    for p in policies
        .iter()
        .filter(|p| p.short_type() == "AffinityPolicy")
    {
        let a = &p.properties["affinityProperties"];
        let qualifier = match a["qualifier"].as_str() {
            Some("same") => Qualifier::Same,
            Some("different") => Qualifier::Different,
            other => {
                return Err(PlanError(format!(
                    "policy {}: qualifier {other:?} is not same or different",
                    p.id
                )));
            }
        };
        let category = a["category"].as_str().unwrap_or("complex").to_string();
        if !matches!(
            category.as_str(),
            "complex" | "region" | "country" | "state"
        ) {
            return Err(PlanError(format!(
                "policy {}: zone category '{category}' is not supported (complex, region, country, state)",
                p.id
            )));
        }
        let members: Vec<usize> = p
            .resources()
            .iter()
            .filter_map(|r| index.get(&r.to_lowercase()).copied())
            .collect();
        if members.len() >= 2 {
            zones.push(ZoneRule {
                name: p.id.clone(),
                category,
                qualifier,
                demands: members,
            });
        }
    }
    let mut sums = Vec::new();
    let mut pairs = Vec::new();
    for p in policies {
        let named = p.resources();
        let members: Vec<usize> = if named.is_empty() {
            (0..demands.len()).collect()
        } else {
            named
                .iter()
                .filter_map(|r| index.get(&r.to_lowercase()).copied())
                .collect()
        };
        match p.short_type() {
            "AggregationPolicy" => {
                for e in aggregation_entries(p)? {
                    let limit = num(&resolve(&e.threshold, &query)).ok_or_else(|| {
                        PlanError(format!(
                            "policy {}: threshold of {} is not a number",
                            p.id, e.attribute
                        ))
                    })?;
                    // Strict bounds on a sum of reals: a margin far below any meaningful unit.
                    let eps = 1e-6 * (1.0 + limit.abs());
                    let (at_most, at_least) = match e.operator.as_str() {
                        "lte" | "<=" => (Some(limit), None),
                        "lt" | "<" => (Some(limit - eps), None),
                        "gte" | ">=" => (None, Some(limit)),
                        "gt" | ">" => (None, Some(limit + eps)),
                        "eq" | "=" | "==" => (Some(limit), Some(limit)),
                        other => {
                            return Err(PlanError(format!(
                                "policy {}: operator '{other}' is not one of lte, lt, gte, gt, eq",
                                p.id
                            )));
                        }
                    };
                    let terms = members
                        .iter()
                        .map(|&d| {
                            let v = regions_out[d]
                                .iter()
                                .map(|s| s.number(&e.attribute).unwrap_or(0.0))
                                .collect();
                            (d, v)
                        })
                        .collect::<Vec<_>>();
                    if !terms.is_empty() {
                        sums.push(SumRule {
                            name: format!(
                                "{} (sum of {} {} {limit})",
                                p.id, e.attribute, e.operator
                            ),
                            terms,
                            at_most,
                            at_least,
                        });
                    }
                }
            }
            "InventoryGroupPolicy" => {
                let [first, second] = members.as_slice() else {
                    return Err(PlanError(format!(
                        "policy {}: an inventory group policy names exactly two demands of the request, not {}",
                        p.id,
                        members.len()
                    )));
                };
                let wanted = p.properties["description"].as_str();
                let groups: Vec<&InstanceGroup> = inv
                    .instance_group
                    .iter()
                    .filter(|g| wanted.is_none_or(|w| g.description == w))
                    .collect();
                let paired = |a: &str, b: &str| {
                    a != b
                        && groups.iter().any(|g| {
                            g.members.iter().any(|m| m == a) && g.members.iter().any(|m| m == b)
                        })
                };
                let mut forbidden = Vec::new();
                for (i, a) in regions_out[*first].iter().enumerate() {
                    for (j, b) in regions_out[*second].iter().enumerate() {
                        if !paired(a.id(), b.id()) {
                            forbidden.push((i, j));
                        }
                    }
                }
                pairs.push(PairRule {
                    name: p.id.clone(),
                    first: *first,
                    second: *second,
                    forbidden,
                });
            }
            _ => {}
        }
    }
    let timeout = req.request_info.timeout.unwrap_or(600).clamp(1, 3600) as u64;
    Ok(Plan {
        problem: Problem {
            demands,
            zones,
            pairs,
            sums,
        },
        sites: regions_out,
        fit_checks,
        directives: directives_out,
        options: Options {
            num_solutions: req.request_info.num_solutions.unwrap_or(1).max(1) as usize,
            time_limit: std::time::Duration::from_secs(timeout),
            ..Options::default()
        },
        emptied,
    })
}

fn attributes_match(r: &CloudRegion, props: &Value) -> bool {
    let Some(map) = props.as_object() else {
        return true;
    };
    map.iter().all(|(k, want)| {
        if want.is_null() {
            return true;
        }
        let have: Option<String> = match k.as_str() {
            "cloudVersion" => Some(r.cloud_region_version.clone()),
            "cloudType" => Some(r.cloud_type.clone()),
            "complex" => Some(r.complex.complex_name.clone()),
            "country" => Some(r.complex.country.clone()),
            "state" => Some(r.complex.state.clone()),
            "region" => Some(r.complex.region.clone()),
            "cloudOwner" => Some(r.cloud_owner.clone()),
            other => r.attributes.get(other).map(|v| match v {
                Value::String(s) => s.clone(),
                v => v.to_string(),
            }),
        };
        let Some(have) = have else { return false };
        let list = |v: &Value| -> Vec<String> {
            v.as_array()
                .map(|a| {
                    a.iter()
                        .map(|x| {
                            x.as_str()
                                .map(str::to_string)
                                .unwrap_or_else(|| x.to_string())
                        })
                        .collect()
                })
                .unwrap_or_default()
        };
        match want {
            Value::Object(o) if o.contains_key("any") => list(&o["any"]).contains(&have),
            Value::Object(o) if o.contains_key("all") => list(&o["all"]).iter().all(|x| *x == have),
            Value::Array(_) => list(want).contains(&have),
            Value::String(s) => *s == have,
            Value::Number(n) => have.parse::<f64>().ok() == n.as_f64(),
            Value::Bool(b) => have.parse::<bool>().ok() == Some(*b),
            _ => false,
        }
    })
}

/// The license solutions: per license demand, an existing license still in the inventory, else
/// the cheapest pool for its model.
pub fn licenses(req: &PlacementRequest, inv: &Inventory) -> Result<Vec<Value>, PlanError> {
    let mut out = Vec::new();
    for d in req.license_info.iter().flat_map(|l| &l.license_demands) {
        let model = &d.resource_model_info.model_invariant_id;
        let mut pools: Vec<&LicensePool> = inv
            .license_pool
            .iter()
            .filter(|p| &p.model_invariant_id == model)
            .collect();
        pools.sort_by(|a, b| {
            a.cost
                .total_cmp(&b.cost)
                .then(a.entitlement_pool_uuid.cmp(&b.entitlement_pool_uuid))
        });
        let existing = d.existing_licenses.as_ref().and_then(|e| {
            pools
                .iter()
                .find(|p| e.entitlement_pool_uuid.contains(&p.entitlement_pool_uuid))
                .copied()
        });
        let Some(pool) = existing.or_else(|| pools.first().copied()) else {
            return Err(PlanError(format!(
                "no license pool for license demand {} (model {model})",
                d.resource_module_name
            )));
        };
        out.push(json!({
            "resourceModuleName": d.resource_module_name,
            "serviceResourceId": d.service_resource_id,
            "entitlementPoolUUID": [pool.entitlement_pool_uuid],
            "licenseKeyGroupUUID": [pool.license_key_group_uuid],
            "entitlementPoolInvariantUUID": [pool.entitlement_pool_invariant_uuid],
            "licenseKeyGroupInvariantUUID": [pool.license_key_group_invariant_uuid],
        }));
    }
    Ok(out)
}

/// The placement solutions in the callback shape: one inner list per solution (never flattened).
pub fn placement_solutions(req: &PlacementRequest, plan: &Plan, answer: &Answer) -> Vec<Value> {
    answer
        .solutions
        .iter()
        .map(|s| {
            Value::Array(
                req.placement_info
                    .placement_demands
                    .iter()
                    .enumerate()
                    .map(|(d, demand)| {
                        let site = &plan.sites[d][s.choice[d]];
                        let r = &site.region;
                        let kv = |k: &str, v: Value| json!({"key": k, "value": v});
                        let mut info = vec![
                            kv("locationType", json!(r.cloud_type)),
                            kv("locationId", json!(r.cloud_region_id)),
                            kv("isRehome", json!("false")),
                        ];
                        if let Some(i) = &site.instance {
                            info.push(kv("vnfHostName", json!(i.vnf_name)));
                            info.push(kv("vnfId", json!(i.vnf_id)));
                            info.push(kv("serviceInstanceId", json!(i.service_instance_id)));
                        }
                        info.extend([
                            kv("cloudOwner", json!(r.cloud_owner)),
                            kv("cloudClli", json!(r.complex.physical_location_id)),
                            kv("aicClli", json!(r.complex.physical_location_id)),
                            kv("aicVersion", json!(r.cloud_region_version)),
                            kv("cloudRegionId", json!(r.cloud_region_id)),
                            kv("vimId", json!(r.vim_id())),
                            kv("oof_directives", json!({"directives": plan.directives[d][s.choice[d]]})),
                        ]);
                        json!({
                            "resourceModuleName": demand.resource_module_name,
                            "serviceResourceId": demand.service_resource_id,
                            "solution": {
                                "identifierType": if site.instance.is_some() { "serviceInstanceId" } else { "cloudRegionId" },
                                "identifiers": [site.id()],
                                "cloudOwner": r.cloud_owner,
                            },
                            "assignmentInfo": info,
                        })
                    })
                    .collect(),
            )
        })
        .collect()
}
