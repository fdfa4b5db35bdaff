//! From a request, the inventory and the policies to a solver problem, and from the solver's
//! answer to the callback body ONAP SO and VF-C parse.

use std::collections::BTreeMap;

use netorch_solver::{
    Answer, Candidate, Demand, Options, PairRule, Problem, Qualifier, SumRule, ZoneRule, haversine,
};
use serde_json::{Value, json};

pub use crate::{
    inventory::{
        CloudRegion, Complex, Flavor, HpaAttribute, HpaCapability, InstanceGroup, Inventory,
        LicensePool, ServiceInstance, Site, VfModule,
    },
    policy::{PlanError, Policy, dotted, parse_policies, select},
};
use crate::{
    inventory::{best_flavor, capacity_fits, compare, num},
    policy::{Term, aggregation_entries, applies, normalise, objective_terms, subscriber_policies},
    request::{IdentifierType, PlacementDemand, PlacementRequest},
};

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
        .filter(|p| p.short_type() == "VnfPolicy" && applies(p, name, policies))
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
            .map(|r| Site::region(r.clone()))
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
        let passthrough = e["passthroughAttributes"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        let add = |out: &mut Vec<Site>, mut s: Site| {
            s.passthrough = passthrough.clone();
            add(out, s);
        };
        match kind.as_str() {
            "cloud" => {
                for s in cloud() {
                    add(&mut out, s);
                }
                why.push(format!(
                    "the inventory has no cloud region for demand {name}"
                ));
            }
            "service" | "vfmodule" => {
                let model = &d.resource_model_info;
                let role = text(&resolve(&e["equipmentRole"], query));
                let customer = text(&resolve(&e["customerId"], query));
                let attrs: Vec<(String, Value)> = e["attributes"]
                    .as_object()
                    .into_iter()
                    .flatten()
                    .map(|(k, v)| (k.clone(), resolve(v, query)))
                    .collect();
                let modules: Vec<(ServiceInstance, Option<&VfModule>)> = if kind == "vfmodule" {
                    inv.vf_module
                        .iter()
                        .map(|m| (m.as_instance(), Some(m)))
                        .collect()
                } else {
                    inv.service_instance
                        .iter()
                        .map(|i| (i.clone(), None))
                        .collect()
                };
                for (i, module) in &modules {
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
                                vf_module: module.cloned(),
                                passthrough: Default::default(),
                            },
                        );
                    }
                }
                why.push(format!(
                    "no {} in the inventory matches policy {} for demand {name} (model {}{}{}, in a known cloud region)",
                    if kind == "vfmodule" { "VF module" } else { "service instance" },
                    p.id,
                    model.model_invariant_id,
                    customer.map(|c| format!(", customer {c}")).unwrap_or_default(),
                    role.map(|r| format!(", equipment role {r}")).unwrap_or_default(),
                ));
            }
            other => {
                return Err(PlanError(format!(
                    "policy {}: inventoryType '{other}' is not supported by netorch (cloud, service, vfmodule)",
                    p.id
                )));
            }
        }
    }
    Ok((out, why.join("; ")))
}

/// OSDF accepts any `identifierType`; one that no candidate kind has cannot be evaluated, so
/// the request fails naming it (HAS would silently ignore an exclusion and empty a demand with a
/// requirement).
fn check_identifier_types(req: &PlacementRequest) -> Result<(), PlanError> {
    for (i, d) in req.placement_info.placement_demands.iter().enumerate() {
        for (list, refs) in [
            ("existingCandidates", &d.existing_candidates),
            ("excludedCandidates", &d.excluded_candidates),
            ("requiredCandidates", &d.required_candidates),
        ] {
            for (j, c) in refs.iter().enumerate() {
                if IdentifierType::parse(&c.identifier_type).is_none() {
                    return Err(PlanError(format!(
                        "placementDemands[{i}].{list}[{j}]: identifierType '{}' cannot be evaluated; the candidates netorch knows are named by cloudRegionId, vimId, serviceInstanceId, vnfName or vfmodule",
                        c.identifier_type
                    )));
                }
            }
        }
    }
    Ok(())
}

/// What every rule of one request reads.
struct Ctx<'a> {
    req: &'a PlacementRequest,
    inv: &'a Inventory,
    policies: &'a [&'a Policy],
    fits: &'a FitAnswers,
    /// Query policy values (`customerLatitude`, `requiredMemory`, any `get_param` name).
    query: BTreeMap<String, Value>,
    /// The customer's location, when query policies give it.
    customer: Option<(f64, f64)>,
}

impl Ctx<'_> {
    fn needs_location(&self, what: &str) -> PlanError {
        PlanError(format!(
            "{what} needs the customer location, but no query policy gives customerLatitude and customerLongitude for service '{}'",
            self.req.service_info.service_name
        ))
    }

    fn customer(&self, p: &Policy) -> Result<(f64, f64), PlanError> {
        self.customer
            .ok_or_else(|| self.needs_location(&format!("policy {}", p.id)))
    }
}

/// Query policies: named values from `requestParameters` or the policy itself (later policies
/// overwrite earlier ones).
fn query_parameters(req: &PlacementRequest, policies: &[&Policy]) -> BTreeMap<String, Value> {
    let params = Value::Object(
        req.placement_info
            .request_parameters
            .clone()
            .unwrap_or_default(),
    );
    let mut query = BTreeMap::new();
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
    query
}

/// One demand's candidates as the rules narrow them down, remembering the first rule that left
/// none.
struct Narrowing<'a> {
    demand: &'a PlacementDemand,
    sites: Vec<Site>,
    /// Per region: the HPA score and flavour directives chosen for it.
    hpa: BTreeMap<String, (f64, Vec<Value>)>,
    emptied: Option<String>,
    /// Controller questions still to ask.
    checks: Vec<FitCheck>,
}

impl Narrowing<'_> {
    fn name(&self) -> &str {
        &self.demand.resource_module_name
    }

    /// Keeps the candidates `keep` accepts; `label` names the rule if none is left.
    fn keep(&mut self, label: impl FnOnce() -> String, keep: impl Fn(&Site) -> bool) {
        let before = self.sites.len();
        self.sites.retain(|s| keep(s));
        if before > 0 && self.sites.is_empty() && self.emptied.is_none() {
            self.emptied = Some(format!(
                "{} left no candidate for demand {}",
                label(),
                self.name()
            ));
        }
    }
}

/// A policy's JSON request, given as an object or as a JSON string (OSDF's files do both).
fn json_request(p: &Policy, v: &Value, what: &str) -> Result<Value, PlanError> {
    match v {
        Value::String(s) => serde_json::from_str(s)
            .map_err(|e| PlanError(format!("policy {}: {what} is not JSON: {e}", p.id))),
        v => Ok(v.clone()),
    }
}

fn distance_rule(ctx: &Ctx<'_>, p: &Policy, n: &mut Narrowing<'_>) -> Result<(), PlanError> {
    let dist = &p.properties["distanceProperties"]["distance"];
    let limit = num(&dist["value"])
        .ok_or_else(|| PlanError(format!("policy {}: distance value is not a number", p.id)))?;
    let unit = dist["unit"].as_str().unwrap_or("km");
    let km = if unit == "mi" {
        limit * 1.609344
    } else {
        limit
    };
    let op = dist["operator"].as_str().unwrap_or("<");
    let at = ctx.customer(p)?;
    n.keep(
        || format!("policy {} (distance {op} {limit} {unit})", p.id),
        |s| {
            s.location()
                .is_some_and(|l| compare(op, haversine(at, l), km))
        },
    );
    Ok(())
}

fn threshold_rule(p: &Policy, n: &mut Narrowing<'_>) {
    let rules = &p.properties["thresholdProperties"];
    n.keep(
        || format!("policy {} (thresholds)", p.id),
        |s| {
            rules.as_array().into_iter().flatten().all(|t| {
                let (Some(attr), Some(op), Some(limit)) = (
                    t["attribute"].as_str(),
                    t["operator"].as_str(),
                    num(&t["threshold"]),
                ) else {
                    return false;
                };
                s.attributes
                    .get(attr)
                    .and_then(num)
                    .is_some_and(|v| compare(op, v, limit))
            })
        },
    );
}

/// HPA: every VNFC of the policy needs a fitting flavour in the region; the chosen flavours and
/// their summed score are remembered for the objective and the directives.
fn hpa_rule(p: &Policy, n: &mut Narrowing<'_>) {
    let features = p.properties["flavorFeatures"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let mut found: BTreeMap<String, (f64, Vec<Value>)> = BTreeMap::new();
    for r in &n.sites {
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
                    attrs.push(
                        json!({"attribute_name": "flavorName", "attribute_value": fl.flavor_name}),
                    );
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
    n.keep(
        || format!("policy {} (HPA flavours)", p.id),
        |s| found.contains_key(&s.cloud_region_id),
    );
    n.hpa.extend(found);
}

fn vim_fit_rule(ctx: &Ctx<'_>, p: &Policy, n: &mut Narrowing<'_>) -> Result<(), PlanError> {
    // The code and fixtures say capacityProperty, the TOSCA type capacityProperties.
    let prop = if p.properties["capacityProperty"].is_null() {
        &p.properties["capacityProperties"]
    } else {
        &p.properties["capacityProperty"]
    };
    let request = json_request(p, &prop["request"], "capacity request")?;
    n.keep(
        || format!("policy {} (VIM capacity)", p.id),
        |s| capacity_fits(s, &request, &ctx.query),
    );
    Ok(())
}

/// instance_fit / region_fit: answered candidates are kept or dropped, the others are kept and
/// listed as questions for the controller.
fn controller_rule(
    ctx: &Ctx<'_>,
    p: &Policy,
    kind: &'static str,
    n: &mut Narrowing<'_>,
) -> Result<(), PlanError> {
    let prop = if kind == "instance_fit" {
        &p.properties["resourceInstanceProperty"]
    } else {
        &p.properties["resourceRegionProperty"]
    };
    let controller = prop["controller"].as_str().unwrap_or_default();
    if !controller.eq_ignore_ascii_case("SDN-C") {
        return Err(PlanError(format!(
            "policy {}: controller '{controller}' is not supported (SDN-C)",
            p.id
        )));
    }
    let Value::Object(request) = json_request(p, &prop["request"], "request")? else {
        return Err(PlanError(format!(
            "policy {}: request must be a JSON object",
            p.id
        )));
    };
    let request: serde_json::Map<String, Value> = request
        .into_iter()
        .map(|(k, v)| {
            let v = resolve(&v, &ctx.query);
            (k, v)
        })
        .collect();
    let demand = n.name().to_string();
    let key = |s: &Site| (p.id.clone(), demand.clone(), s.id().to_string());
    n.keep(
        || format!("policy {} (SDN-C {kind}: no capacity)", p.id),
        |s| ctx.fits.get(&key(s)).copied().unwrap_or(true),
    );
    let asks: Vec<FitCheck> = n
        .sites
        .iter()
        .filter(|s| !ctx.fits.contains_key(&key(s)))
        .map(|s| FitCheck {
            policy: p.id.clone(),
            kind,
            request: request.clone(),
            demand: demand.clone(),
            service_resource_id: n.demand.service_resource_id.clone(),
            candidate_id: s.id().to_string(),
            cloud_region_id: s.cloud_region_id.clone(),
            host_id: s.instance.as_ref().map(|i| i.vnf_name.clone()),
        })
        .collect();
    n.checks.extend(asks);
    Ok(())
}

/// Applies one policy's filter to a demand's candidates (policies that act on several demands
/// or on the objective only are handled elsewhere).
fn filter(ctx: &Ctx<'_>, p: &Policy, n: &mut Narrowing<'_>) -> Result<(), PlanError> {
    match p.short_type() {
        "DistancePolicy" => distance_rule(ctx, p, n)?,
        "AttributePolicy" => {
            let props = &p.properties["attributeProperties"];
            n.keep(
                || format!("policy {} (attributes)", p.id),
                |s| attributes_match(s, props),
            );
        }
        "ThresholdPolicy" => threshold_rule(p, n),
        "HpaPolicy" => hpa_rule(p, n),
        "Vim_fit" | "VimFitPolicy" => vim_fit_rule(ctx, p, n)?,
        "ResourceInstancePolicy" => controller_rule(ctx, p, "instance_fit", n)?,
        "ResourceRegionPolicy" => controller_rule(ctx, p, "region_fit", n)?,
        "AggregationPolicy" => {
            // A candidate without the summed quantity cannot be counted: it is dropped, as a
            // threshold policy drops it.
            let attrs: Vec<String> = aggregation_entries(p)?
                .into_iter()
                .map(|e| e.attribute)
                .collect();
            n.keep(
                || {
                    format!(
                        "policy {} (aggregated attributes {})",
                        p.id,
                        attrs.join(", ")
                    )
                },
                |s| attrs.iter().all(|a| s.number(a).is_some()),
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
    Ok(())
}

/// The solver candidates of a demand: HAS's linear objective, weight × (distance + candidate
/// cost) − weight × hpa_score (v1 policies), or weighted, normalised distances and attributes
/// (v2 policies).
fn costed(ctx: &Ctx<'_>, n: &mut Narrowing<'_>) -> Result<Vec<Candidate>, PlanError> {
    let mut terms: Vec<Term> = Vec::new();
    for p in ctx
        .policies
        .iter()
        .filter(|p| p.short_type() == "OptimizationPolicy" && applies(p, n.name(), ctx.policies))
    {
        terms.extend(objective_terms(p, n.name())?);
    }
    let distance_needed = terms
        .iter()
        .any(|t| matches!(t, Term::DistanceWithCost(_) | Term::Distance { .. }));
    if distance_needed && ctx.customer.is_none() {
        return Err(ctx.needs_location("the distance objective"));
    }
    for t in &terms {
        if let Term::Attribute {
            policy, name: attr, ..
        } = t
        {
            n.keep(
                || format!("policy {policy} (objective attribute {attr})"),
                |s| s.number(attr).is_some(),
            );
        }
    }
    let existing = |s: &Site| n.demand.existing_candidates.iter().any(|c| s.matches(c));
    let cost_of = |s: &Site| {
        // HAS: cloud candidates cost 2, service candidates 1, an existing placement −8000.
        let base = match (existing(s), &s.instance) {
            (true, _) => -8000.0,
            (false, Some(_)) => 1.0,
            (false, None) => 2.0,
        };
        if terms.is_empty() {
            return base;
        }
        let km = || match (ctx.customer, s.location()) {
            (Some(a), Some(b)) => haversine(a, b),
            _ => 20_000.0,
        };
        terms
            .iter()
            .map(|t| match t {
                Term::DistanceWithCost(w) => w * (km() + base),
                Term::HpaScore(w) => {
                    let score = n
                        .hpa
                        .get(&s.cloud_region_id)
                        .map(|h| h.0)
                        .or_else(|| s.attributes.get("hpa_score").and_then(num))
                        .unwrap_or(0.0);
                    -w * score
                }
                Term::Distance { weight, norm } => weight * normalise(km(), *norm),
                Term::Attribute {
                    name: attr,
                    weight,
                    norm,
                    ..
                } => weight * normalise(s.number(attr).unwrap_or(0.0), *norm),
            })
            .sum()
    };
    Ok(n.sites
        .iter()
        .map(|s| Candidate {
            id: s.id().to_string(),
            cost: (cost_of(s) * 1000.0).round() / 1000.0,
            zones: ["complex", "region", "country", "state"]
                .iter()
                .filter_map(|c| s.zone(c).map(|v| (c.to_string(), v)))
                .collect(),
        })
        .collect())
}

/// The demands a policy names, as indexes (no `resources`: all `n` demands).
fn members(p: &Policy, index: &BTreeMap<String, usize>, n: usize) -> Vec<usize> {
    let named = p.resources();
    if named.is_empty() {
        return (0..n).collect();
    }
    named
        .iter()
        .filter_map(|r| index.get(&r.to_lowercase()).copied())
        .collect()
}

fn zone_rule(p: &Policy, index: &BTreeMap<String, usize>) -> Result<Option<ZoneRule>, PlanError> {
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
    // Only the listed demands: an affinity policy without resources relates nothing.
    let demands: Vec<usize> = p
        .resources()
        .iter()
        .filter_map(|r| index.get(&r.to_lowercase()).copied())
        .collect();
    Ok((demands.len() >= 2).then(|| ZoneRule {
        name: p.id.clone(),
        category,
        qualifier,
        demands,
    }))
}

fn sum_rules(
    ctx: &Ctx<'_>,
    p: &Policy,
    members: &[usize],
    sites: &[Vec<Site>],
) -> Result<Vec<SumRule>, PlanError> {
    let mut out = Vec::new();
    for e in aggregation_entries(p)? {
        let limit = num(&resolve(&e.threshold, &ctx.query)).ok_or_else(|| {
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
        let terms: Vec<(usize, Vec<f64>)> = members
            .iter()
            .map(|&d| {
                let v = sites[d]
                    .iter()
                    .map(|s| s.number(&e.attribute).unwrap_or(0.0))
                    .collect();
                (d, v)
            })
            .collect();
        if !terms.is_empty() {
            out.push(SumRule {
                name: format!("{} (sum of {} {} {limit})", p.id, e.attribute, e.operator),
                terms,
                at_most,
                at_least,
            });
        }
    }
    Ok(out)
}

fn group_rule(
    ctx: &Ctx<'_>,
    p: &Policy,
    members: &[usize],
    sites: &[Vec<Site>],
) -> Result<PairRule, PlanError> {
    let [first, second] = members else {
        return Err(PlanError(format!(
            "policy {}: an inventory group policy names exactly two demands of the request, not {}",
            p.id,
            members.len()
        )));
    };
    let wanted = p.properties["description"].as_str();
    let groups: Vec<&InstanceGroup> = ctx
        .inv
        .instance_group
        .iter()
        .filter(|g| wanted.is_none_or(|w| g.description == w))
        .collect();
    let paired = |a: &str, b: &str| {
        a != b
            && groups
                .iter()
                .any(|g| g.members.iter().any(|m| m == a) && g.members.iter().any(|m| m == b))
    };
    let mut forbidden = Vec::new();
    for (i, a) in sites[*first].iter().enumerate() {
        for (j, b) in sites[*second].iter().enumerate() {
            if !paired(a.id(), b.id()) {
                forbidden.push((i, j));
            }
        }
    }
    Ok(PairRule {
        name: p.id.clone(),
        first: *first,
        second: *second,
        forbidden,
    })
}

/// Builds the solver problem. Candidates without an answer in `fits` for an instance_fit /
/// region_fit policy are kept and listed in [`Plan::fit_checks`]: ask, then plan again.
pub fn plan(
    req: &PlacementRequest,
    inv: &Inventory,
    policies: &[&Policy],
    fits: &FitAnswers,
) -> Result<Plan, PlanError> {
    check_identifier_types(req)?;
    let query = query_parameters(req, policies);
    let customer = match (
        query.get("customerLatitude").and_then(num),
        query.get("customerLongitude").and_then(num),
    ) {
        (Some(la), Some(lo)) => Some((la, lo)),
        _ => None,
    };
    let ctx = Ctx {
        req,
        inv,
        policies,
        fits,
        query,
        customer,
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
    let mut sites = Vec::new();
    let mut directives = Vec::new();
    let mut emptied = None;
    for d in &req.placement_info.placement_demands {
        let (found, why_none) = sources(d, policies, inv, &ctx.query)?;
        let mut n = Narrowing {
            demand: d,
            emptied: found.is_empty().then_some(why_none),
            sites: found,
            hpa: BTreeMap::new(),
            checks: Vec::new(),
        };
        if !d.required_candidates.is_empty() {
            n.keep(
                || "requiredCandidates".into(),
                |s| d.required_candidates.iter().any(|c| s.matches(c)),
            );
        }
        if !d.excluded_candidates.is_empty() {
            n.keep(
                || "excludedCandidates".into(),
                |s| !d.excluded_candidates.iter().any(|c| s.matches(c)),
            );
        }
        for (id, subscriber, statuses) in &subscribed {
            n.keep(
                || format!("policy {id} (prov-status of subscriber {subscriber})"),
                |s| {
                    s.instance.as_ref().is_none_or(|i| {
                        statuses
                            .iter()
                            .any(|x| x.eq_ignore_ascii_case(&i.prov_status))
                    })
                },
            );
        }
        for p in policies
            .iter()
            .filter(|p| applies(p, &d.resource_module_name, policies))
        {
            filter(&ctx, p, &mut n)?;
        }
        let candidates = costed(&ctx, &mut n)?;
        demands.push(Demand {
            name: d.resource_module_name.clone(),
            candidates,
        });
        directives.push(
            n.sites
                .iter()
                .map(|s| {
                    n.hpa
                        .get(&s.cloud_region_id)
                        .map(|h| h.1.clone())
                        .unwrap_or_default()
                })
                .collect(),
        );
        emptied = emptied.or(n.emptied);
        fit_checks.extend(n.checks);
        sites.push(n.sites);
    }
    let index: BTreeMap<String, usize> = demands
        .iter()
        .enumerate()
        .map(|(i, d)| (d.name.to_lowercase(), i))
        .collect();
    let (mut zones, mut pairs, mut sums) = (Vec::new(), Vec::new(), Vec::new());
    for p in policies {
        match p.short_type() {
            "AffinityPolicy" => zones.extend(zone_rule(p, &index)?),
            "AggregationPolicy" => {
                let members = members(p, &index, sites.len());
                sums.extend(sum_rules(&ctx, p, &members, &sites)?);
            }
            "InventoryGroupPolicy" => {
                let members = members(p, &index, sites.len());
                pairs.push(group_rule(&ctx, p, &members, &sites)?);
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
        sites,
        fit_checks,
        directives,
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
                        // HAS's vfmodule extras, under A&AI's names (what the vFW traffic
                        // distribution workflow reads).
                        if let Some(m) = &site.vf_module {
                            for (k, v) in [
                                ("vf-module-id", &m.vf_module_id),
                                ("vf-module-name", &m.vf_module_name),
                                ("nf-id", &m.vnf_id),
                                ("nf-name", &m.vnf_name),
                                ("nf-type", &m.nf_type),
                                ("vnf-type", &m.vnf_type),
                                ("ipv4-oam-address", &m.ipv4_oam_address),
                                ("ipv6-oam-address", &m.ipv6_oam_address),
                            ] {
                                info.push(kv(k, json!(v)));
                            }
                            info.push(kv("vservers", json!(m.vservers)));
                        }
                        info.extend([
                            kv("cloudOwner", json!(r.cloud_owner)),
                            kv("cloudClli", json!(r.complex.physical_location_id)),
                            kv("aicClli", json!(r.complex.physical_location_id)),
                            kv("aicVersion", json!(r.cloud_region_version)),
                            kv("cloudRegionId", json!(r.cloud_region_id)),
                            kv("vimId", json!(r.vim_id())),
                            kv(
                                "oof_directives",
                                json!({"directives": plan.directives[d][s.choice[d]]}),
                            ),
                        ]);
                        for (k, v) in &site.passthrough {
                            info.push(kv(k, v.clone()));
                        }
                        json!({
                            "resourceModuleName": demand.resource_module_name,
                            "serviceResourceId": demand.service_resource_id,
                            "solution": {
                                "identifierType": site.identifier_type(),
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
