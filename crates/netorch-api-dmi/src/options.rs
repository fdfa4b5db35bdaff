//! Read options: RESTCONF's `depth` and `fields` (RFC 8040 4.8.2/4.8.3) and the seed's `scope`,
//! given as query parameters (seed API) or as NCMP's one `options=(k=v,k=v)` string.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::error::Failure;

/// How to trim what a read returns.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReadOptions {
    /// Levels kept below the target (the target is level 1).
    pub depth: Option<u32>,
    /// RFC 8040 `fields` expression (`a/b;c(d;e)`).
    pub fields: Option<String>,
    /// `path=value`: only list entries whose `path` is `value`.
    pub scope: Option<(Vec<String>, String)>,
}

/// A `fields` selection: member name (unprefixed) → what to keep below it (None = all).
#[derive(Debug, Default)]
struct Selection(BTreeMap<String, Option<Box<Selection>>>);

fn unprefixed(n: &str) -> &str {
    n.rsplit_once(':').map(|(_, n)| n).unwrap_or(n)
}

impl ReadOptions {
    /// From separate parameters (the seed API's query).
    pub fn new(
        depth: Option<&str>,
        fields: Option<&str>,
        scope: Option<&str>,
    ) -> Result<Self, Failure> {
        let depth = match depth {
            None | Some("unbounded") => None,
            Some(d) => Some(
                d.parse::<u32>()
                    .ok()
                    .filter(|d| (1..=65535).contains(d))
                    .ok_or_else(|| {
                        Failure::bad_request(format!(
                            "depth '{d}' is not a number from 1 to 65535 (or 'unbounded')"
                        ))
                    })?,
            ),
        };
        if let Some(f) = fields {
            parse_fields(f)?;
        }
        let scope = match scope {
            None => None,
            Some(s) => {
                let (p, v) = s.split_once('=').ok_or_else(|| {
                    Failure::bad_request(format!("scope '{s}' must be path=value"))
                })?;
                let v = v.trim().trim_matches(|c| c == '\'' || c == '"').to_string();
                let path: Vec<String> = p
                    .trim()
                    .split('/')
                    .filter(|x| !x.is_empty())
                    .map(|x| unprefixed(x).to_string())
                    .collect();
                if path.is_empty() {
                    return Err(Failure::bad_request(format!("scope '{s}' names no node")));
                }
                Some((path, v))
            }
        };
        Ok(Self {
            depth,
            fields: fields.map(str::to_string),
            scope,
        })
    }

    /// From NCMP's `options` string: `(depth=2,fields=a/b(c;d))`.
    pub fn from_ncmp(options: Option<&str>) -> Result<Self, Failure> {
        let Some(raw) = options.map(str::trim).filter(|o| !o.is_empty()) else {
            return Ok(Self::default());
        };
        let inner = raw
            .strip_prefix('(')
            .and_then(|r| r.strip_suffix(')'))
            .ok_or_else(|| {
                Failure::bad_request(format!(
                    "options '{raw}' must be wrapped in parentheses: (depth=N,fields=a/b)"
                ))
            })?;
        let (mut depth, mut fields, mut scope) = (None, None, None);
        for part in split_top(inner, ',') {
            let (k, v) = part.split_once('=').ok_or_else(|| {
                Failure::bad_request(format!("option '{part}' in '{raw}' is not key=value"))
            })?;
            match k.trim() {
                "depth" => depth = Some(v.trim().to_string()),
                "fields" => fields = Some(v.trim().to_string()),
                "scope" => scope = Some(v.trim().to_string()),
                other => {
                    return Err(Failure::bad_request(format!(
                        "unknown option '{other}' in '{raw}' (depth, fields, scope)"
                    )));
                }
            }
        }
        Self::new(depth.as_deref(), fields.as_deref(), scope.as_deref())
    }

    /// Applies the options to a RESTCONF answer (`{"module:target": value}`).
    pub fn apply(&self, mut v: Value) -> Result<Value, Failure> {
        if let Some((path, want)) = &self.scope
            && let Some(obj) = v.as_object_mut()
        {
            for (_, target) in obj.iter_mut() {
                if let Value::Array(entries) = target {
                    entries.retain(|e| scoped(e, path, want));
                }
            }
        }
        if let Some(f) = &self.fields {
            let sel = parse_fields(f)?;
            if let Some(obj) = v.as_object_mut() {
                for (_, target) in obj.iter_mut() {
                    select(target, &sel);
                }
            }
        }
        if let Some(d) = self.depth
            && let Some(obj) = v.as_object_mut()
        {
            for (_, target) in obj.iter_mut() {
                trim(target, 1, d);
            }
        }
        Ok(v)
    }
}

/// Splits on `sep` outside parentheses.
fn split_top(s: &str, sep: char) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut depth, mut start) = (0i32, 0usize);
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            c if c == sep && depth == 0 => {
                out.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&s[start..]);
    out.into_iter().filter(|p| !p.trim().is_empty()).collect()
}

fn parse_fields(expr: &str) -> Result<Selection, Failure> {
    let bad = || {
        Failure::bad_request(format!(
            "fields '{expr}' is not an RFC 8040 fields expression"
        ))
    };
    let mut depth = 0i32;
    for c in expr.chars() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            _ => {}
        }
        if depth < 0 {
            return Err(bad());
        }
    }
    if depth != 0 || expr.trim().is_empty() {
        return Err(bad());
    }
    let mut sel = Selection::default();
    for item in split_top(expr, ';') {
        let item = item.trim();
        let (path, sub) = match item.find('(') {
            Some(i) if item.ends_with(')') => (&item[..i], Some(&item[i + 1..item.len() - 1])),
            Some(_) => return Err(bad()),
            None => (item, None),
        };
        let names: Vec<&str> = path.split('/').collect();
        if names.iter().any(|n| n.trim().is_empty()) {
            return Err(bad());
        }
        let leaf_sel = match sub {
            Some(s) => Some(Box::new(parse_fields(s)?)),
            None => None,
        };
        insert(&mut sel, &names, leaf_sel);
    }
    Ok(sel)
}

fn insert(sel: &mut Selection, names: &[&str], leaf: Option<Box<Selection>>) {
    let key = unprefixed(names[0].trim()).to_string();
    if names.len() == 1 {
        sel.0.insert(key, leaf);
        return;
    }
    let entry = sel.0.entry(key).or_insert_with(|| Some(Box::default()));
    if let Some(child) = entry {
        insert(child, &names[1..], leaf);
    }
}

fn select(v: &mut Value, sel: &Selection) {
    match v {
        Value::Array(a) => a.iter_mut().for_each(|e| select(e, sel)),
        Value::Object(o) => {
            let kept: Map<String, Value> = std::mem::take(o)
                .into_iter()
                .filter_map(|(k, mut child)| {
                    let s = sel.0.get(unprefixed(&k))?;
                    if let Some(sub) = s {
                        select(&mut child, sub);
                    }
                    Some((k, child))
                })
                .collect();
            *o = kept;
        }
        _ => {}
    }
}

fn trim(v: &mut Value, level: u32, max: u32) {
    match v {
        Value::Array(a) => a.iter_mut().for_each(|e| trim(e, level, max)),
        Value::Object(o) => {
            if level >= max {
                o.retain(|_, c| {
                    !c.is_object() && !c.as_array().is_some_and(|a| a.iter().any(Value::is_object))
                });
                if level > max {
                    o.clear();
                }
                return;
            }
            for (_, c) in o.iter_mut() {
                trim(c, level + 1, max);
            }
        }
        _ => {}
    }
}

fn scoped(entry: &Value, path: &[String], want: &str) -> bool {
    let mut cur = entry;
    for p in path {
        let Some(o) = cur.as_object() else {
            return false;
        };
        let Some(next) = o.iter().find(|(k, _)| unprefixed(k) == p).map(|(_, v)| v) else {
            return false;
        };
        cur = next;
    }
    match cur {
        Value::Array(a) => a.iter().any(|x| scalar_is(x, want)),
        other => scalar_is(other, want),
    }
}

fn scalar_is(v: &Value, want: &str) -> bool {
    match v {
        Value::String(s) => s == want,
        Value::Number(n) => n.to_string() == want,
        Value::Bool(b) => (if *b { "true" } else { "false" }) == want,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn doc() -> Value {
        json!({"m:store": {"name": "s", "categories": [
            {"code": "01", "books": [{"title": "A", "price": 1}, {"title": "B", "price": 2}]},
            {"code": "02", "books": [{"title": "C", "price": 3}]}
        ]}})
    }

    #[test]
    fn ncmp_options_are_parsed_with_nested_fields() {
        let o = ReadOptions::from_ncmp(Some("(depth=3,fields=categories(code;books/title))"))
            .expect("valid");
        assert_eq!(o.depth, Some(3));
        assert_eq!(o.fields.as_deref(), Some("categories(code;books/title)"));
        let v = o.apply(doc()).expect("applies");
        assert_eq!(
            v,
            json!({"m:store": {"categories": [
                {"code": "01", "books": [{"title": "A"}, {"title": "B"}]},
                {"code": "02", "books": [{"title": "C"}]}
            ]}})
        );
    }

    #[test]
    fn malformed_options_are_refused() {
        for bad in [
            "depth=2",
            "(depth)",
            "(depth=0)",
            "(colour=red)",
            "(fields=a(b)",
            "(fields=a//b)",
        ] {
            assert!(ReadOptions::from_ncmp(Some(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn depth_keeps_the_levels_asked_for() {
        let one = ReadOptions::new(Some("1"), None, None)
            .expect("valid")
            .apply(doc())
            .expect("ok");
        assert_eq!(one, json!({"m:store": {"name": "s"}}));
        let two = ReadOptions::new(Some("2"), None, None)
            .expect("valid")
            .apply(doc())
            .expect("ok");
        assert_eq!(
            two,
            json!({"m:store": {"name": "s", "categories": [{"code": "01"}, {"code": "02"}]}})
        );
    }

    #[test]
    fn scope_keeps_matching_entries() {
        let v = json!({"m:categories": [{"code": "01"}, {"code": "02"}]});
        let s = ReadOptions::new(None, None, Some("code='02'"))
            .expect("valid")
            .apply(v)
            .expect("ok");
        assert_eq!(s, json!({"m:categories": [{"code": "02"}]}));
    }
}
