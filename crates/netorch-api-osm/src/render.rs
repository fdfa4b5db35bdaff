//! Shared rendering of tenant records in OSM's shape.

use netorch_auth::secrets::MASK;
use netorch_core::tenancy::Record;
use serde_json::{Value, json};

/// `config` keys whose values are secrets (sealed at rest, masked on output). Matched
/// case-insensitively as substrings, since VIM plugins name them freely (`admin_password`,
/// `nsx_password`, `vrops_password`, `api_token`, ...).
const SECRET_MARKERS: [&str; 5] = ["password", "secret", "token", "private_key", "credentials"];

/// Whether a `config` key holds a secret.
pub fn is_secret_key(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    SECRET_MARKERS.iter().any(|m| k.contains(m))
}

/// Applies `f` to every secret string of a document: the given top-level fields and secret-looking
/// keys anywhere under `config`.
pub fn for_each_secret(doc: &mut Value, top_level: &[&str], f: &mut dyn FnMut(&mut Value)) {
    for field in top_level {
        if let Some(v) = doc.get_mut(*field).filter(|v| v.is_string()) {
            f(v);
        }
    }
    fn walk(v: &mut Value, f: &mut dyn FnMut(&mut Value)) {
        if let Value::Object(m) = v {
            for (k, child) in m.iter_mut() {
                if is_secret_key(k) && child.is_string() {
                    f(child);
                } else {
                    walk(child, f);
                }
            }
        }
    }
    if let Some(config) = doc.get_mut("config") {
        walk(config, f);
    }
}

/// The record as OSM shows it: the document, `_id`, and `_admin.projects_read/write` from the
/// owners; secrets masked.
pub fn record_json(r: &Record, secret_fields: &[&str]) -> Value {
    let mut doc = r.body.clone();
    for_each_secret(&mut doc, secret_fields, &mut |v| *v = json!(MASK));
    if let Value::Object(m) = &mut doc {
        m.insert("_id".into(), json!(r.id));
        let admin = m.entry("_admin").or_insert_with(|| json!({}));
        if let Value::Object(a) = admin {
            a.insert("projects_read".into(), json!(r.owners.read));
            a.insert("projects_write".into(), json!(r.owners.write));
        }
    }
    doc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_found_at_the_top_and_under_config() {
        let mut d = json!({"vim_password": "a", "name": "n", "config": {"admin_password": "b", "nested": {"api_token": "c"}, "region": "r"}});
        let mut seen = Vec::new();
        for_each_secret(&mut d, &["vim_password"], &mut |v| {
            seen.push(v.as_str().unwrap_or_default().to_string())
        });
        seen.sort();
        assert_eq!(seen, ["a", "b", "c"]);
    }
}
