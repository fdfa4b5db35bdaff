//! OSDF policies: the local-file format, which policies apply to a request (service, resources,
//! subscriber roles), and the objective and aggregation parts of optimization policies.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{inventory::num, request::PlacementRequest};

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

    pub(crate) fn list(&self, key: &str) -> Vec<String> {
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

fn names(p: &Policy, demand: &str) -> bool {
    p.resources().iter().any(|x| x.eq_ignore_ascii_case(demand))
}

/// Whether `p` applies to `demand` among the request's policies `all`: a policy naming the demand
/// does; a default policy (no `resources`) does unless a policy of the same type names the
/// demand — the specific one overrides it, as OSDF intends (its override branch crashes).
pub(crate) fn applies(p: &Policy, demand: &str, all: &[&Policy]) -> bool {
    if !p.resources().is_empty() {
        return names(p, demand);
    }
    !all.iter()
        .any(|q| q.short_type() == p.short_type() && names(q, demand))
}

/// The subscriber policies of the request's service that name its subscriber, with the name.
pub(crate) fn subscriber_policies<'a>(
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

/// One linear objective term of a demand.
pub(crate) enum Term {
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
pub(crate) fn normalise(v: f64, norm: Option<(f64, f64)>) -> f64 {
    match norm {
        Some((start, end)) => (v - start) / (end - start),
        None => v,
    }
}

/// The objective terms an optimization policy gives a demand: v1 (`objectiveParameter`) or v2
/// (`goal` + `operation_function`, sums only: min/max are not linear).
pub(crate) fn objective_terms(p: &Policy, demand: &str) -> Result<Vec<Term>, PlanError> {
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
pub(crate) struct Aggregation {
    /// The summed attribute.
    pub(crate) attribute: String,
    /// `lte`, `lt`, `gte`, `gt`, `eq`.
    pub(crate) operator: String,
    /// A number or a `get_param`.
    pub(crate) threshold: Value,
}

/// The entries of an aggregation policy (`aggregationProperties`), checked.
pub(crate) fn aggregation_entries(p: &Policy) -> Result<Vec<Aggregation>, PlanError> {
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
