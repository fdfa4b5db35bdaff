//! TMF630 list features: `fields`, `offset`/`limit`, `sort` and attribute filters
//! (`attr=value`, dotted paths into nested objects and lists, `attr.gt|gte|lt|lte=`, a comma for OR,
//! values optionally quoted as the TMF CTK sends dates).

use std::cmp::Ordering;

use axum::{
    Json,
    http::{HeaderName, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
};
use serde_json::{Map, Value};

use crate::TmfError;

/// A parsed list (or show) query.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct ListQuery {
    /// Attributes to return (`id`, `href` and `@type` always are).
    pub fields: Option<Vec<String>>,
    /// Items to skip.
    pub offset: usize,
    /// Items to return at most; none = all (OpenSlice returns whole collections).
    pub limit: Option<usize>,
    /// Sort keys: attribute path and whether descending (`-name`).
    pub sort: Vec<(Vec<String>, bool)>,
    /// Attribute filters, all of which must hold.
    pub filters: Vec<Filter>,
}

/// One attribute filter.
#[derive(Debug, Clone, PartialEq)]
pub struct Filter {
    path: Vec<String>,
    op: Op,
    /// Any of these (comma-separated in the query).
    values: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Eq,
    Gt,
    Gte,
    Lt,
    Lte,
}

const RESERVED: [&str; 4] = ["fields", "offset", "limit", "sort"];

fn path(s: &str) -> Result<Vec<String>, TmfError> {
    let parts: Vec<String> = s.split('.').map(str::to_string).collect();
    if parts.iter().any(String::is_empty) {
        return Err(TmfError::BadRequest(format!(
            "query: '{s}' is not an attribute path"
        )));
    }
    Ok(parts)
}

fn unquote(v: &str) -> &str {
    v.strip_prefix('"')
        .and_then(|x| x.strip_suffix('"'))
        .unwrap_or(v)
}

impl ListQuery {
    /// Parses a raw query string; a reserved parameter given twice, a bad number or an empty
    /// attribute path is a 400.
    pub fn parse(raw: Option<&str>) -> Result<Self, TmfError> {
        let mut q = ListQuery::default();
        let mut seen = Vec::new();
        for (k, v) in form_urlencoded::parse(raw.unwrap_or_default().as_bytes()) {
            let (k, v) = (k.into_owned(), v.into_owned());
            if RESERVED.contains(&k.as_str()) {
                if seen.contains(&k) {
                    return Err(TmfError::BadRequest(format!(
                        "query: parameter '{k}' is given more than once"
                    )));
                }
                seen.push(k.clone());
            }
            let number =
                |what: &str, min: usize| -> Result<usize, TmfError> {
                    v.parse::<usize>().ok().filter(|n| *n >= min).ok_or_else(|| {
                    TmfError::BadRequest(format!(
                        "query: '{what}' must be a whole number of at least {min}, not '{v}'"
                    ))
                })
                };
            match k.as_str() {
                "fields" => {
                    q.fields = Some(
                        v.split(',')
                            .map(str::trim)
                            .filter(|f| !f.is_empty())
                            .map(str::to_string)
                            .collect(),
                    )
                }
                "offset" => q.offset = number("offset", 0)?,
                "limit" => q.limit = Some(number("limit", 1)?),
                "sort" => {
                    for key in v.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                        let (key, desc) = match key.strip_prefix('-') {
                            Some(k) => (k, true),
                            None => (key.strip_prefix('+').unwrap_or(key), false),
                        };
                        q.sort.push((path(key)?, desc));
                    }
                }
                "" => {
                    return Err(TmfError::BadRequest(
                        "query: a parameter has no name".into(),
                    ));
                }
                _ => {
                    let (attr, op) = match k.rsplit_once('.') {
                        Some((a, "gt")) => (a, Op::Gt),
                        Some((a, "gte")) => (a, Op::Gte),
                        Some((a, "lt")) => (a, Op::Lt),
                        Some((a, "lte")) => (a, Op::Lte),
                        _ => (k.as_str(), Op::Eq),
                    };
                    q.filters.push(Filter {
                        path: path(attr)?,
                        op,
                        values: v.split(',').map(|x| unquote(x).to_string()).collect(),
                    });
                }
            }
        }
        Ok(q)
    }

    /// Whether a document passes every filter.
    pub fn matches(&self, doc: &Value) -> bool {
        self.filters.iter().all(|f| {
            let mut found = Vec::new();
            collect(doc, &f.path, &mut found);
            found
                .iter()
                .any(|v| f.values.iter().any(|want| compare(v, want, f.op)))
        })
    }

    /// Filters, sorts and pages documents; `(total matching, page)`.
    pub fn apply(&self, docs: Vec<Value>) -> (usize, Vec<Value>) {
        let mut docs: Vec<Value> = docs.into_iter().filter(|d| self.matches(d)).collect();
        if !self.sort.is_empty() {
            docs.sort_by(|a, b| {
                for (p, desc) in &self.sort {
                    let (mut x, mut y) = (Vec::new(), Vec::new());
                    collect(a, p, &mut x);
                    collect(b, p, &mut y);
                    let o = order(x.first().copied(), y.first().copied());
                    let o = if *desc { o.reverse() } else { o };
                    if o != Ordering::Equal {
                        return o;
                    }
                }
                Ordering::Equal
            });
        }
        let total = docs.len();
        let page = docs
            .into_iter()
            .skip(self.offset)
            .take(self.limit.unwrap_or(usize::MAX))
            .map(|d| self.select(d))
            .collect();
        (total, page)
    }

    /// Keeps the requested attributes (and `id`, `href`, `@type`) when `fields` was given.
    pub fn select(&self, doc: Value) -> Value {
        let (Some(fields), Value::Object(map)) = (&self.fields, &doc) else {
            return doc;
        };
        let mut out = Map::new();
        for (k, v) in map {
            let top = |f: &String| f.split('.').next() == Some(k.as_str());
            if ["id", "href", "@type"].contains(&k.as_str()) || fields.iter().any(top) {
                out.insert(k.clone(), v.clone());
            }
        }
        Value::Object(out)
    }
}

/// Every value at `path`, descending into lists.
fn collect<'a>(v: &'a Value, path: &[String], out: &mut Vec<&'a Value>) {
    match (v, path.split_first()) {
        (Value::Array(items), _) => items.iter().for_each(|i| collect(i, path, out)),
        (_, None) => out.push(v),
        (Value::Object(m), Some((first, rest))) => {
            if let Some(x) = m.get(first) {
                collect(x, rest, out);
            }
        }
        _ => {}
    }
}

fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Null => Some("null".into()),
        _ => None,
    }
}

fn compare(v: &Value, want: &str, op: Op) -> bool {
    let Some(have) = scalar_text(v) else {
        return false;
    };
    let o = match (have.parse::<f64>(), want.parse::<f64>()) {
        (Ok(a), Ok(b)) if v.is_number() => a.partial_cmp(&b).unwrap_or(Ordering::Equal),
        // Text (RFC 3339 dates included) compares as text.
        _ => have.as_str().cmp(want),
    };
    match op {
        Op::Eq => o == Ordering::Equal,
        Op::Gt => o == Ordering::Greater,
        Op::Gte => o != Ordering::Less,
        Op::Lt => o == Ordering::Less,
        Op::Lte => o != Ordering::Greater,
    }
}

fn order(a: Option<&Value>, b: Option<&Value>) -> Ordering {
    match (a, b) {
        (None, None) => Ordering::Equal,
        (None, _) => Ordering::Greater,
        (_, None) => Ordering::Less,
        (Some(Value::Number(x)), Some(Value::Number(y))) => x
            .as_f64()
            .partial_cmp(&y.as_f64())
            .unwrap_or(Ordering::Equal),
        (Some(x), Some(y)) => scalar_text(x).cmp(&scalar_text(y)),
    }
}

/// A list answer with TMF630's headers: 200 with the whole set, 206 with a page of it.
pub struct ListReply {
    /// Matching items.
    pub total: usize,
    /// The items returned.
    pub items: Vec<Value>,
}

impl IntoResponse for ListReply {
    fn into_response(self) -> Response {
        let status = if self.items.len() < self.total {
            StatusCode::PARTIAL_CONTENT
        } else {
            StatusCode::OK
        };
        let count = self.items.len();
        let mut r = (status, Json(self.items)).into_response();
        let h = r.headers_mut();
        h.insert(
            HeaderName::from_static("x-total-count"),
            HeaderValue::from(self.total),
        );
        h.insert(
            HeaderName::from_static("x-result-count"),
            HeaderValue::from(count),
        );
        r
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn q(s: &str) -> ListQuery {
        ListQuery::parse(Some(s)).expect("parse")
    }

    #[test]
    fn attribute_filters_follow_paths_into_lists_and_take_any_of_comma_separated_values() {
        let doc = json!({"name": "a", "partyCharacteristic": [{"name": "X", "value": {"value": "1"}}],
                         "validFor": {"startDateTime": "2020-01-01T00:00:00Z"}, "n": 5});
        assert!(q("name=b,a").matches(&doc));
        assert!(!q("name=b").matches(&doc));
        assert!(q("partyCharacteristic.name=X").matches(&doc));
        assert!(q("partyCharacteristic.value.value=1&name=a").matches(&doc));
        assert!(q("validFor.startDateTime.gte=\"2019-12-31T00:00:00Z\"").matches(&doc));
        assert!(!q("validFor.startDateTime.lt=2019-12-31").matches(&doc));
        assert!(q("n.gt=4&n.lte=5").matches(&doc));
        assert!(!q("missing=1").matches(&doc));
    }

    #[test]
    fn pages_sort_and_select_fields() {
        let docs: Vec<Value> = (0..5)
            .map(|i| json!({"id": i.to_string(), "href": "h", "name": format!("n{i}"), "x": i}))
            .collect();
        let (total, page) = q("sort=-x&offset=1&limit=2&fields=name").apply(docs);
        assert_eq!(total, 5);
        assert_eq!(
            page,
            vec![
                json!({"id": "3", "href": "h", "name": "n3"}),
                json!({"id": "2", "href": "h", "name": "n2"})
            ]
        );
    }

    #[test]
    fn repeated_or_malformed_parameters_are_refused() {
        for bad in [
            "limit=1&limit=2",
            "limit=0",
            "offset=-1",
            "a..b=1",
            "=x",
            "sort=a..b",
        ] {
            assert!(ListQuery::parse(Some(bad)).is_err(), "{bad}");
        }
    }
}
