//! The placement inventory in A&AI's shape: cloud regions (with flavours and HPA capabilities),
//! service instances, instance groups, license pools; and the candidate sites built from them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::request::{CandidateRef, IdentifierType};

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
pub(crate) fn best_flavor<'a>(
    region: &'a CloudRegion,
    feature: &Value,
) -> Option<(&'a Flavor, f64)> {
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
pub(crate) fn quantity(v: &Value, query: &BTreeMap<String, Value>) -> Option<f64> {
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

pub(crate) fn capacity_fits(
    r: &CloudRegion,
    request: &Value,
    query: &BTreeMap<String, Value>,
) -> bool {
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

    pub(crate) fn location(&self) -> Option<(f64, f64)> {
        Some((self.complex.latitude?, self.complex.longitude?))
    }

    pub(crate) fn zone(&self, category: &str) -> Option<String> {
        let v = match category {
            "complex" => &self.complex.complex_name,
            "region" => &self.cloud_region_id,
            "country" => &self.complex.country,
            "state" => &self.complex.state,
            _ => return None,
        };
        (!v.is_empty()).then(|| v.clone())
    }

    pub(crate) fn matches(&self, r: &CandidateRef) -> bool {
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
    pub(crate) fn field(&self, name: &str) -> Option<String> {
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

/// An existing VF module with its VNF and service instance (A&AI's `vf-module`, `generic-vnf` and
/// `service-instance`, flattened): a candidate for demands whose VNF policy has
/// `inventoryType: vfmodule` (ONAP's vFW traffic distribution).
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct VfModule {
    /// VF module id (the candidate id; identifierType `vfmodule`).
    pub vf_module_id: String,
    /// Its name.
    #[serde(default)]
    pub vf_module_name: String,
    /// The VNF it belongs to (`nf-id`, SO reads `vnfId`).
    #[serde(default)]
    pub vnf_id: String,
    /// The VNF's name (`nf-name`, HAS `host_id`, SO reads `vnfHostName`).
    #[serde(default)]
    pub vnf_name: String,
    /// The VNF's `nf-type`.
    #[serde(default)]
    pub nf_type: String,
    /// The VNF's type.
    #[serde(default)]
    pub vnf_type: String,
    /// The service instance the VNF belongs to.
    #[serde(default)]
    pub service_instance_id: String,
    /// The customer owning it.
    #[serde(default)]
    pub global_customer_id: String,
    /// Service type of its subscription.
    #[serde(default)]
    pub service_type: String,
    /// Model of the VNF (what a demand's `resourceModelInfo` names).
    #[serde(default)]
    pub model_invariant_id: String,
    /// Model version of the VNF.
    #[serde(default)]
    pub model_version_id: String,
    /// Equipment role.
    #[serde(default)]
    pub equipment_role: String,
    /// Provisioning status of the VNF.
    #[serde(default)]
    pub prov_status: String,
    /// Orchestration status of the VF module.
    #[serde(default)]
    pub orchestration_status: String,
    /// OAM address of the VNF (IPv4).
    #[serde(default)]
    pub ipv4_oam_address: String,
    /// OAM address of the VNF (IPv6).
    #[serde(default)]
    pub ipv6_oam_address: String,
    /// The module's servers (A&AI `vserver`s, as given: ids, names, l-interfaces).
    #[serde(default)]
    pub vservers: Vec<Value>,
    /// Owner of the cloud region it runs in.
    pub cloud_owner: String,
    /// The cloud region it runs in (must be in the inventory).
    pub cloud_region_id: String,
    /// Anything else, matched by VNF policy attributes.
    #[serde(default)]
    pub attributes: serde_json::Map<String, Value>,
}

impl VfModule {
    /// The module seen as an instance of its VNF, so that every rule written for service
    /// candidates (model, customer, role, attribute filters, subscriber policies) applies.
    pub(crate) fn as_instance(&self) -> ServiceInstance {
        let mut attributes = self.attributes.clone();
        for (k, v) in [
            ("vf-module-id", &self.vf_module_id),
            ("vf-module-name", &self.vf_module_name),
            ("nf-type", &self.nf_type),
        ] {
            attributes
                .entry(k.to_string())
                .or_insert_with(|| Value::String(v.clone()));
        }
        ServiceInstance {
            service_instance_id: self.service_instance_id.clone(),
            service_instance_name: String::new(),
            global_customer_id: self.global_customer_id.clone(),
            service_type: self.service_type.clone(),
            vnf_id: self.vnf_id.clone(),
            vnf_name: self.vnf_name.clone(),
            vnf_type: self.vnf_type.clone(),
            model_invariant_id: self.model_invariant_id.clone(),
            model_version_id: self.model_version_id.clone(),
            equipment_role: self.equipment_role.clone(),
            prov_status: self.prov_status.clone(),
            orchestration_status: self.orchestration_status.clone(),
            cloud_owner: self.cloud_owner.clone(),
            cloud_region_id: self.cloud_region_id.clone(),
            attributes,
        }
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

/// A placement candidate: a cloud region, or an existing service instance or VF module in a
/// cloud region.
#[derive(Debug, Clone)]
pub struct Site {
    /// The region (of the instance, for service and vfmodule candidates).
    pub region: CloudRegion,
    /// The service instance, for `service` candidates (the module's VNF for `vfmodule` ones).
    pub instance: Option<ServiceInstance>,
    /// The VF module, for `vfmodule` candidates.
    pub vf_module: Option<VfModule>,
    /// The VNF policy entry's `passthroughAttributes`, copied into the assignment info.
    pub passthrough: serde_json::Map<String, Value>,
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
    pub(crate) fn number(&self, attribute: &str) -> Option<f64> {
        self.instance
            .as_ref()
            .and_then(|i| i.attributes.get(attribute))
            .or_else(|| self.region.attributes.get(attribute))
            .and_then(num)
    }

    /// A cloud region candidate.
    pub fn region(region: CloudRegion) -> Self {
        Self {
            region,
            instance: None,
            vf_module: None,
            passthrough: Default::default(),
        }
    }

    /// The candidate id: the VF module id, else the service instance id, else the cloud region id.
    pub fn id(&self) -> &str {
        match (&self.vf_module, &self.instance) {
            (Some(m), _) => &m.vf_module_id,
            (None, Some(i)) => &i.service_instance_id,
            (None, None) => &self.region.cloud_region_id,
        }
    }

    /// The `identifierType` of the candidate in a solution.
    pub fn identifier_type(&self) -> &'static str {
        match (&self.vf_module, &self.instance) {
            (Some(_), _) => "vfmodule",
            (None, Some(_)) => "serviceInstanceId",
            (None, None) => "cloudRegionId",
        }
    }

    /// Whether a client's candidate reference names this candidate (region identifiers also
    /// name the instances in that region).
    pub(crate) fn matches(&self, r: &CandidateRef) -> bool {
        if let Some(IdentifierType::VfModule) = IdentifierType::parse(&r.identifier_type) {
            return self.vf_module.as_ref().is_some_and(|m| {
                r.identifiers.contains(&m.vf_module_id)
                    || (!m.vf_module_name.is_empty() && r.identifiers.contains(&m.vf_module_name))
            });
        }
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
    /// Existing VF modules (candidates of `vfmodule` demands).
    #[serde(default)]
    pub vf_module: Vec<VfModule>,
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
        let mut modules = std::collections::BTreeSet::new();
        for (i, m) in self.vf_module.iter().enumerate() {
            let at = format!("vf-module[{i}]");
            if m.vf_module_id.is_empty() {
                return Err((at, "vf-module-id must not be empty".into()));
            }
            if !modules.insert(&m.vf_module_id) {
                return Err((at, format!("VF module {} is listed twice", m.vf_module_id)));
            }
        }
        Ok(())
    }
}

pub(crate) fn num(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// A numeric comparison by operator name (`<`/`lt`, `<=`/`lte`, `>`/`gt`, `>=`/`gte`, `=`/`eq`).
pub(crate) fn compare(op: &str, left: f64, right: f64) -> bool {
    match op {
        "<" | "lt" => left < right,
        "<=" | "lte" => left <= right,
        ">" | "gt" => left > right,
        ">=" | "gte" => left >= right,
        "=" | "==" | "eq" => (left - right).abs() < 1e-9,
        _ => false,
    }
}
