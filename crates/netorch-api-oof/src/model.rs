//! From a request, the inventory and the policies to a solver problem, and from the solver's
//! answer to the callback body ONAP SO and VF-C parse.

use std::collections::BTreeMap;

use netorch_solver::{
    Answer, Candidate, Demand, Options, PairRule, Problem, Qualifier, SumRule, ZoneRule,
};
use serde_json::{Value, json};

pub use crate::{
    inventory::{
        CloudRegion, Complex, Flavor, HpaAttribute, HpaCapability, InstanceGroup, Inventory,
        LicensePool, ServiceInstance, Site,
    },
    policy::{PlanError, Policy, dotted, parse_policies, select},
};
use crate::{
    inventory::{best_flavor, capacity_fits, compare, num},
    policy::{Term, aggregation_entries, applies, normalise, objective_terms, subscriber_policies},
    request::PlacementRequest,
};

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
