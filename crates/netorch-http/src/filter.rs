//! SOL005 attribute-based filtering (ETSI GS NFV-SOL 013 §5.2, as OSM implements it).
//!
//! `?name=x`, `?_admin.created.gt=1`, `?vdu.ANYINDEX.id=a&vdu.ANYINDEX.image=b` (the same array
//! element must match both), `?name.neq=a,b` (comma = list). Unknown operator suffixes are read as
//! path segments, as OSM does, so `name.bogus=1` simply matches nothing.

use serde_json::Value;

/// Comparison operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// Equal to any of the values (also `cont`).
    Eq,
    /// Different from every value (also `ne`, `ncont`).
    Neq,
    /// Greater than.
    Gt,
    /// Less than.
    Lt,
    /// Greater than or equal.
    Gte,
    /// Less than or equal.
    Lte,
}

impl Op {
    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "eq" | "cont" => Op::Eq,
            "neq" | "ne" | "ncont" => Op::Neq,
            "gt" => Op::Gt,
            "lt" => Op::Lt,
            "gte" => Op::Gte,
            "lte" => Op::Lte,
            _ => return None,
        })
    }
}

/// One `attr.op=v1,v2` condition.
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    /// Attribute path; `ANYINDEX` segments bind to one array element shared by all conditions
    /// with the same prefix.
    pub path: Vec<String>,
    /// Operator.
    pub op: Op,
    /// Values (the query value split on commas; empty value = null).
    pub values: Vec<String>,
}

/// A conjunction of conditions.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Filter {
    /// Conditions; all must hold.
    pub conditions: Vec<Condition>,
}

impl Filter {
    /// Builds a filter from query pairs (admin query strings must already be removed).
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        let mut conditions: Vec<Condition> = Vec::new();
        for (key, value) in pairs {
            let mut path: Vec<String> = key.split('.').map(str::to_string).collect();
            let op = match path.last().and_then(|l| Op::parse(l)) {
                Some(op) if path.len() > 1 => {
                    path.pop();
                    op
                }
                _ => Op::Eq,
            };
            let values: Vec<String> = if value.is_empty() {
                Vec::new()
            } else {
                value.split(',').map(str::to_string).collect()
            };
            // Repeated keys accumulate values, as in OSM.
            if let Some(c) = conditions.iter_mut().find(|c| c.path == path && c.op == op) {
                c.values.extend(values);
            } else {
                conditions.push(Condition { path, op, values });
            }
        }
        Self { conditions }
    }

    /// True if there is nothing to filter.
    pub fn is_empty(&self) -> bool {
        self.conditions.is_empty()
    }

    /// Whether a document satisfies every condition.
    pub fn matches(&self, doc: &Value) -> bool {
        let conds: Vec<&Condition> = self.conditions.iter().collect();
        matches_group(doc, &conds, 0)
    }

    /// Keeps the matching documents.
    pub fn apply(&self, docs: Vec<Value>) -> Vec<Value> {
        if self.is_empty() {
            return docs;
        }
        docs.into_iter().filter(|d| self.matches(d)).collect()
    }
}

/// Evaluates conditions whose paths share their first `depth` segments on `doc`. Conditions
/// whose next segment is `ANYINDEX` are grouped: one element of the array must satisfy them all.
fn matches_group(doc: &Value, conds: &[&Condition], depth: usize) -> bool {
    let mut i = 0;
    let mut handled = vec![false; conds.len()];
    while i < conds.len() {
        if handled[i] {
            i += 1;
            continue;
        }
        let c = conds[i];
        if let Some(pos) = c.path[depth..].iter().position(|s| s == "ANYINDEX") {
            let anyidx = depth + pos;
            let prefix = &c.path[..anyidx];
            let group: Vec<usize> = (i..conds.len())
                .filter(|&j| {
                    !handled[j]
                        && conds[j].path.len() > anyidx
                        && conds[j].path[..anyidx] == *prefix
                        && conds[j].path[anyidx] == "ANYINDEX"
                })
                .collect();
            for &j in &group {
                handled[j] = true;
            }
            let members: Vec<&Condition> = group.iter().map(|&j| conds[j]).collect();
            let arrays = resolve(doc, &prefix[depth..]);
            let ok = arrays.iter().any(|arr| match arr {
                Value::Array(items) => items
                    .iter()
                    .any(|item| matches_group(item, &members, anyidx + 1)),
                _ => false,
            });
            if !ok {
                return false;
            }
        } else {
            handled[i] = true;
            if !eval(doc, &c.path[depth..], c) {
                return false;
            }
        }
        i += 1;
    }
    true
}

/// All values reachable by `path`, fanning out over arrays for non-numeric segments (Mongo
/// semantics: a condition on an array field holds if it holds for some element).
fn resolve<'a>(doc: &'a Value, path: &[String]) -> Vec<&'a Value> {
    let mut current = vec![doc];
    for seg in path {
        let mut next = Vec::new();
        for v in current {
            match v {
                Value::Object(m) => {
                    if let Some(x) = m.get(seg) {
                        next.push(x);
                    }
                }
                Value::Array(items) => {
                    if let Ok(idx) = seg.parse::<usize>() {
                        if let Some(x) = items.get(idx) {
                            next.push(x);
                        }
                    } else {
                        for it in items {
                            if let Value::Object(m) = it
                                && let Some(x) = m.get(seg)
                            {
                                next.push(x);
                            }
                        }
                    }
                }
                _ => {}
            }
        }
        current = next;
    }
    current
}

/// Scalars a resolved value stands for (an array stands for its elements).
fn scalars(v: &Value) -> Vec<&Value> {
    match v {
        Value::Array(items) => items.iter().collect(),
        other => vec![other],
    }
}

fn equals(v: &Value, s: &str) -> bool {
    match v {
        Value::String(x) => x == s,
        Value::Number(n) => s
            .parse::<f64>()
            .ok()
            .zip(n.as_f64())
            .is_some_and(|(a, b)| a == b),
        Value::Bool(b) => s.eq_ignore_ascii_case(if *b { "true" } else { "false" }),
        Value::Null => s.is_empty() || s == "null",
        _ => false,
    }
}

fn compare(v: &Value, s: &str) -> Option<std::cmp::Ordering> {
    match (v, s.parse::<f64>()) {
        (Value::Number(n), Ok(x)) => n.as_f64()?.partial_cmp(&x),
        (Value::String(a), _) => Some(a.as_str().cmp(s)),
        _ => None,
    }
}

fn eval(doc: &Value, path: &[String], c: &Condition) -> bool {
    let found = resolve(doc, path);
    let values: Vec<&Value> = found.iter().flat_map(|v| scalars(v)).collect();
    let hit = |pred: &dyn Fn(&Value, &str) -> bool| {
        values.iter().any(|v| c.values.iter().any(|s| pred(v, s)))
    };
    match c.op {
        Op::Eq if c.values.is_empty() => values.is_empty() || values.iter().all(|v| v.is_null()),
        Op::Eq => hit(&|v, s| equals(v, s)),
        Op::Neq if c.values.is_empty() => values.iter().any(|v| !v.is_null()),
        Op::Neq => !hit(&|v, s| equals(v, s)),
        Op::Gt => hit(&|v, s| compare(v, s) == Some(std::cmp::Ordering::Greater)),
        Op::Lt => hit(&|v, s| compare(v, s) == Some(std::cmp::Ordering::Less)),
        Op::Gte => hit(&|v, s| compare(v, s).is_some_and(|o| o != std::cmp::Ordering::Less)),
        Op::Lte => hit(&|v, s| compare(v, s).is_some_and(|o| o != std::cmp::Ordering::Greater)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn f(q: &[(&str, &str)]) -> Filter {
        Filter::from_pairs(q.iter().copied())
    }

    fn doc() -> Value {
        json!({
            "name": "cirros_vnf",
            "_admin": {"created": 10.5, "projects_read": ["p1", "ANY"]},
            "vdu": [{"id": "a", "image": "x"}, {"id": "b", "image": "y"}],
            "count": 3
        })
    }

    #[test]
    fn equality_and_lists_match_as_osm() {
        assert!(f(&[("name", "cirros_vnf")]).matches(&doc()));
        assert!(f(&[("name.eq", "cirros_vnf")]).matches(&doc()));
        assert!(f(&[("name.cont", "cirros_vnf,other")]).matches(&doc()));
        assert!(!f(&[("name.neq", "cirros_vnf")]).matches(&doc()));
        assert!(f(&[("name.ncont", "a,b")]).matches(&doc()));
        assert!(!f(&[("name", "other")]).matches(&doc()));
    }

    #[test]
    fn numbers_compare_numerically() {
        assert!(f(&[("_admin.created.gt", "1")]).matches(&doc()));
        assert!(!f(&[("_admin.created.lt", "1")]).matches(&doc()));
        assert!(f(&[("count.gte", "3"), ("count.lte", "3")]).matches(&doc()));
        assert!(f(&[("count", "3.0")]).matches(&doc()));
    }

    #[test]
    fn arrays_match_when_any_element_matches() {
        assert!(f(&[("_admin.projects_read.cont", "p1")]).matches(&doc()));
        assert!(f(&[("vdu.id", "b")]).matches(&doc()));
        assert!(f(&[("vdu.1.id", "b")]).matches(&doc()));
        assert!(!f(&[("vdu.0.id", "b")]).matches(&doc()));
    }

    #[test]
    fn anyindex_requires_one_element_to_match_every_condition() {
        assert!(f(&[("vdu.ANYINDEX.id", "a"), ("vdu.ANYINDEX.image", "x")]).matches(&doc()));
        assert!(!f(&[("vdu.ANYINDEX.id", "a"), ("vdu.ANYINDEX.image", "y")]).matches(&doc()));
        // Without ANYINDEX, different elements may satisfy different conditions.
        assert!(f(&[("vdu.id", "a"), ("vdu.image", "y")]).matches(&doc()));
    }

    #[test]
    fn unknown_operators_are_paths_and_match_nothing() {
        assert!(!f(&[("name.bogus", "1")]).matches(&doc()));
    }

    #[test]
    fn an_empty_value_means_null_or_missing() {
        assert!(f(&[("missing", "")]).matches(&doc()));
        assert!(!f(&[("name", "")]).matches(&doc()));
    }

    proptest::proptest! {
        #[test]
        fn a_document_matches_a_filter_on_its_own_string_field(name in "[a-zA-Z0-9_-]{1,20}") {
            let d = json!({"name": name.clone()});
            proptest::prop_assert!(f(&[("name", name.as_str())]).matches(&d));
            proptest::prop_assert!(!f(&[("name.neq", name.as_str())]).matches(&d));
        }

        #[test]
        fn parsing_never_panics(key in "[a-zA-Z._0-9]{0,30}", value in ".{0,30}") {
            let _ = f(&[(key.as_str(), value.as_str())]).matches(&doc());
        }
    }
}
