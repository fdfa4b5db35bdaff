//! RFC 7396 merge patch, extended with OSM's array edition.
//!
//! Inside an object that patches an array, keys starting with `$` edit the array: `$[i]` edits or
//! (null) deletes index `i`, `$+[i]` inserts before `i`, `$+` appends, `$value` edits or deletes the
//! items equal to `value` (read as YAML: `$'3'` is a string, `$3` a number, `${a: 1}` matches items
//! that are objects with `a == 1`), `$+value` appends unless such an item exists.

use serde_json::{Map, Value};

/// An invalid patch; the message names the path.
#[derive(Debug, thiserror::Error, PartialEq)]
#[error("{0}")]
pub struct MergeError(pub String);

/// Applies `patch` to `target`.
pub fn merge(target: &mut Value, patch: &Value) -> Result<(), MergeError> {
    merge_at(target, patch, &mut Vec::new())
}

fn merge_at(target: &mut Value, patch: &Value, path: &mut Vec<String>) -> Result<(), MergeError> {
    let Value::Object(p) = patch else {
        *target = patch.clone();
        return Ok(());
    };
    if let Value::Array(arr) = target
        && p.keys().any(|k| k.starts_with('$'))
    {
        return edit_array(arr, p, path);
    }
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let Value::Object(t) = target else {
        return Ok(());
    };
    for (k, v) in p {
        path.push(k.clone());
        if v.is_null() {
            t.remove(k);
        } else {
            let slot = t.entry(k.clone()).or_insert(Value::Null);
            if v.is_object() {
                merge_at(slot, v, path)?;
            } else {
                *slot = v.clone();
            }
        }
        path.pop();
    }
    Ok(())
}

fn strip_nulls(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(_, x)| !x.is_null())
                .map(|(k, x)| (k.clone(), strip_nulls(x)))
                .collect(),
        ),
        other => other.clone(),
    }
}

fn item_matches(item: &Value, probe: &Value) -> bool {
    match probe {
        Value::Object(keys) => match item {
            Value::Object(m) => keys.iter().all(|(k, v)| m.get(k) == Some(v)),
            _ => false,
        },
        other => item == other,
    }
}

fn edit_array(
    arr: &mut Vec<Value>,
    p: &Map<String, Value>,
    path: &mut Vec<String>,
) -> Result<(), MergeError> {
    let at = |path: &Vec<String>, k: &str| {
        let mut v = path.clone();
        v.push(k.to_string());
        v.join(":")
    };
    let mut edits: Vec<(usize, Value)> = Vec::new();
    let mut inserts: Vec<(usize, Value)> = Vec::new();
    let mut appends: Vec<Value> = Vec::new();
    for (k, v) in p {
        let Some(rest) = k.strip_prefix('$') else {
            return Err(MergeError(format!(
                "Found array edition (keys starting with '$') and pure dictionary edition in the same dict at '{}'",
                path.join(":")
            )));
        };
        let (insert, item) = match rest.strip_prefix('+') {
            Some(r) => (true, r),
            None => (false, rest),
        };
        if insert && v.is_null() {
            return Err(MergeError(format!(
                "A value of None has not sense for insertions at '{}'",
                at(path, k)
            )));
        }
        if let Some(idx) = item.strip_prefix('[').and_then(|s| s.strip_suffix(']')) {
            let i: i64 = idx.parse().map_err(|_| {
                MergeError(format!(
                    "Wrong format at '{}'. Expecting integer index inside quotes",
                    at(path, k)
                ))
            })?;
            let i = if i < 0 {
                (i + arr.len() as i64).max(0) as usize
            } else {
                i as usize
            };
            if insert {
                inserts.push((i, v.clone()));
            } else {
                edits.push((i, v.clone()));
            }
        } else if item.is_empty() {
            if !insert {
                return Err(MergeError(format!(
                    "Wrong format at '{}'. Expecting '$+', '$[<index]' or '$[<filter>]'",
                    at(path, k)
                )));
            }
            appends.push(v.clone());
        } else {
            let probe: Value = yaml_serde::from_str(item).map_err(|_| {
                MergeError(format!(
                    "Wrong format at '{}'. Expecting '$<yaml-format>'",
                    at(path, k)
                ))
            })?;
            let hits: Vec<usize> = arr
                .iter()
                .enumerate()
                .filter(|(_, it)| item_matches(it, &probe))
                .map(|(i, _)| i)
                .collect();
            if insert {
                if hits.is_empty() {
                    appends.push(v.clone());
                }
            } else {
                edits.extend(hits.into_iter().map(|i| (i, v.clone())));
            }
        }
    }
    edits.sort_by_key(|e| std::cmp::Reverse(e.0));
    edits.dedup_by_key(|e| e.0);
    for (i, v) in edits {
        if i >= arr.len() {
            if v.is_null() {
                continue;
            }
            return Err(MergeError(format!(
                "Array edition index out of range at '{}'",
                at(path, &i.to_string())
            )));
        }
        if v.is_null() {
            arr.remove(i);
        } else if v.is_object() && arr[i].is_object() {
            path.push(i.to_string());
            merge_at(&mut arr[i], &v, path)?;
            path.pop();
        } else {
            arr[i] = strip_nulls(&v);
        }
    }
    inserts.sort_by_key(|e| std::cmp::Reverse(e.0));
    for (i, v) in inserts {
        let i = i.min(arr.len());
        arr.insert(i, strip_nulls(&v));
    }
    for v in appends {
        arr.push(strip_nulls(&v));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn merged(mut t: Value, p: Value) -> Value {
        merge(&mut t, &p).expect("merge");
        t
    }

    #[test]
    fn plain_rfc7396_merge_replaces_and_deletes() {
        assert_eq!(
            merged(
                json!({"a": 1, "b": {"c": 2, "d": 3}}),
                json!({"a": null, "b": {"c": 5}})
            ),
            json!({"b": {"c": 5, "d": 3}})
        );
    }

    #[test]
    fn array_edition_removes_adds_and_inserts() {
        let t = json!({"projects": ["P1", "P2"]});
        assert_eq!(
            merged(t.clone(), json!({"projects": {"$'P1'": null}})),
            json!({"projects": ["P2"]})
        );
        assert_eq!(
            merged(t.clone(), json!({"projects": {"$+'P3'": "P3"}})),
            json!({"projects": ["P1", "P2", "P3"]})
        );
        assert_eq!(
            merged(t.clone(), json!({"projects": {"$+'P1'": "P1"}})),
            json!({"projects": ["P1", "P2"]})
        );
        assert_eq!(
            merged(t.clone(), json!({"projects": {"$+[0]": "P0"}})),
            json!({"projects": ["P0", "P1", "P2"]})
        );
        assert_eq!(
            merged(t.clone(), json!({"projects": {"$[1]": "X"}})),
            json!({"projects": ["P1", "X"]})
        );
        assert_eq!(
            merged(t, json!({"projects": {"$+": "P9"}})),
            json!({"projects": ["P1", "P2", "P9"]})
        );
    }

    #[test]
    fn array_edition_matches_objects_by_keys() {
        let t = json!({"l": [{"name": "a", "v": 1}, {"name": "b", "v": 2}]});
        assert_eq!(
            merged(t, json!({"l": {"${name: b}": {"v": 3}}})),
            json!({"l": [{"name": "a", "v": 1}, {"name": "b", "v": 3}]})
        );
    }

    #[test]
    fn mixing_array_and_dictionary_edition_is_an_error() {
        let mut t = json!({"l": [1]});
        assert!(merge(&mut t, &json!({"l": {"$+": 2, "x": 1}})).is_err());
        assert!(merge(&mut t, &json!({"l": {"$[x]": 2}})).is_err());
    }
}
