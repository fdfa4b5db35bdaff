//! Descriptors: ETSI SOL006 (current OSM) and the legacy OSM-IM catalogs (Release ≤ 8, still
//! used by OSM's own test packages), normalised to one model: the descriptor object, its id, its
//! name and the ids it references (an NSD's VNFDs, an NST's NSDs).
//!
//! Validation is typed where it pays (the envelope, the identifiers, the references) rather than
//! through the full YANG models: the checks that clients depend on — a clear 422 naming the path,
//! 409 for references to missing descriptors — are expressed directly, and unknown leaves are kept
//! so that OSM augments survive a round trip.

use std::collections::BTreeSet;

use netorch_http::osm::{OsmError, parse_document};
use serde_json::Value;

/// What kind of descriptor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DescKind {
    /// VNF descriptor.
    Vnfd,
    /// NS descriptor.
    Nsd,
    /// Network slice template.
    Nst,
}

/// A parsed descriptor.
#[derive(Debug, Clone, PartialEq)]
pub struct Parsed {
    /// The descriptor object, without its envelope.
    pub doc: Value,
    /// Its `id`.
    pub id: String,
    /// A human name (`name`, `product-name`, or the id).
    pub name: String,
    /// Referenced descriptor ids (NSD → VNFDs, NST → NSDs).
    pub refs: Vec<String>,
    /// `sol006` or `osm-im`.
    pub format: &'static str,
}

fn invalid(path: &str, msg: &str) -> OsmError {
    OsmError::format_error(path, msg)
}

/// Unwraps `{key: {inner: [one]}}` catalogs and `{key: obj}` envelopes.
fn unwrap_one(v: &Value, path: &str) -> Result<Value, OsmError> {
    match v {
        Value::Array(items) if items.len() == 1 => Ok(items[0].clone()),
        Value::Array(items) => Err(invalid(
            path,
            &format!("exactly one descriptor expected, found {}", items.len()),
        )),
        Value::Object(_) => Ok(v.clone()),
        _ => Err(invalid(path, "must be an object or a list with one object")),
    }
}

fn envelope(kind: DescKind, top: &Value) -> Result<(Value, &'static str), OsmError> {
    let Value::Object(m) = top else {
        return Err(invalid("", "the descriptor must be a YAML or JSON object"));
    };
    let get = |k: &str| m.get(k);
    match kind {
        DescKind::Vnfd => {
            if let Some(cat) = get("vnfd:vnfd-catalog").or(get("vnfd-catalog")) {
                return Ok((unwrap_one(&cat["vnfd"], "vnfd-catalog:vnfd")?, "osm-im"));
            }
            if let Some(v) = get("etsi-nfv-vnfd:vnfd").or(get("vnfd")) {
                return Ok((unwrap_one(v, "vnfd")?, "sol006"));
            }
        }
        DescKind::Nsd => {
            if let Some(cat) = get("nsd:nsd-catalog").or(get("nsd-catalog")) {
                return Ok((unwrap_one(&cat["nsd"], "nsd-catalog:nsd")?, "osm-im"));
            }
            if let Some(v) = get("etsi-nfv-nsd:nsd").or(get("nsd")) {
                let inner = match v.get("nsd") {
                    Some(list) => unwrap_one(list, "nsd:nsd")?,
                    None => unwrap_one(v, "nsd")?,
                };
                return Ok((inner, "sol006"));
            }
        }
        DescKind::Nst => {
            if let Some(v) = get("nst:nst").or(get("nst")) {
                return Ok((unwrap_one(v, "nst")?, "osm-im"));
            }
        }
    }
    Err(OsmError::new(
        axum::http::StatusCode::UNPROCESSABLE_ENTITY,
        match kind {
            DescKind::Vnfd => {
                "ERROR: Unsupported descriptor format. Expected an ETSI SOL006 'vnfd' or an OSM 'vnfd:vnfd-catalog'"
            }
            DescKind::Nsd => {
                "ERROR: Unsupported descriptor format. Expected an ETSI SOL006 'nsd' or an OSM 'nsd:nsd-catalog'"
            }
            DescKind::Nst => "ERROR: Unsupported descriptor format. Expected an OSM 'nst'",
        },
    ))
}

/// Strips YANG module prefixes from keys (`etsi-nfv-vnfd:vdu` → `vdu`), as OSM stores them.
fn strip_prefixes(v: Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.into_iter()
                .map(|(k, v)| {
                    (
                        k.rsplit_once(':').map(|(_, k)| k.to_string()).unwrap_or(k),
                        strip_prefixes(v),
                    )
                })
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.into_iter().map(strip_prefixes).collect()),
        other => other,
    }
}

/// Every list of objects that carry an `id` must not repeat one.
fn check_unique_ids(v: &Value, path: &mut Vec<String>) -> Result<(), OsmError> {
    match v {
        Value::Object(m) => {
            for (k, child) in m {
                path.push(k.clone());
                check_unique_ids(child, path)?;
                path.pop();
            }
        }
        Value::Array(items) => {
            let mut seen = BTreeSet::new();
            for (i, item) in items.iter().enumerate() {
                if let Some(id) = item.get("id").and_then(Value::as_str)
                    && !seen.insert(id.to_string())
                {
                    return Err(invalid(
                        &format!("{}:{i}:id", path.join(":")),
                        &format!("identifier '{id}' is not unique"),
                    ));
                }
                path.push(i.to_string());
                check_unique_ids(item, path)?;
                path.pop();
            }
        }
        _ => {}
    }
    Ok(())
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// Parses and checks a descriptor file.
pub fn parse(kind: DescKind, bytes: &[u8], media: Option<&str>) -> Result<Parsed, OsmError> {
    let top = parse_document(media.or(Some("application/yaml")), bytes)?;
    let (doc, format) = envelope(kind, &top)?;
    let doc = strip_prefixes(doc);
    let id = match doc.get("id") {
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        Some(_) => return Err(invalid("id", "must be a non-empty string")),
        None => return Err(invalid("", "'id' is a required property")),
    };
    crate::accounts::check_name("id", &id)?;
    check_unique_ids(&doc, &mut Vec::new())?;
    let name = ["name", "product-name", "short-name"]
        .iter()
        .find_map(|k| doc.get(*k).and_then(Value::as_str))
        .unwrap_or(&id)
        .to_string();
    let refs = match (kind, format) {
        (DescKind::Nsd, "sol006") => {
            let listed = strings(&doc["vnfd-id"]);
            for (d, df) in doc["df"].as_array().into_iter().flatten().enumerate() {
                for (p, profile) in df["vnf-profile"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .enumerate()
                {
                    let vnfd = profile["vnfd-id"].as_str().unwrap_or_default();
                    if !listed.iter().any(|l| l == vnfd) {
                        return Err(invalid(
                            &format!("df:{d}:vnf-profile:{p}:vnfd-id"),
                            &format!("'{vnfd}' is not in the vnfd-id list"),
                        ));
                    }
                }
            }
            listed
        }
        (DescKind::Nsd, _) => doc["constituent-vnfd"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|c| c["vnfd-id-ref"].as_str().map(str::to_string))
            .collect(),
        (DescKind::Nst, _) => doc["netslice-subnet"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|s| s["nsd-ref"].as_str().map(str::to_string))
            .collect(),
        (DescKind::Vnfd, _) => Vec::new(),
    };
    let mut refs = refs;
    refs.sort();
    refs.dedup();
    Ok(Parsed {
        doc,
        id,
        name,
        refs,
        format,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn sol006_and_osm_im_vnfds_normalise_to_one_model() {
        let sol = parse(
            DescKind::Vnfd,
            b"vnfd:\n  id: cirros\n  product-name: cirros-vnf\n  vdu: [{id: vm}]\n",
            None,
        )
        .expect("sol006");
        assert_eq!(
            (sol.id.as_str(), sol.name.as_str(), sol.format),
            ("cirros", "cirros-vnf", "sol006")
        );
        let im = parse(DescKind::Vnfd, br#"{"vnfd:vnfd-catalog": {"vnfd": [{"id": "cirros_vnfd", "name": "cirros", "vnfd:vdu": [{"id": "vm"}]}]}}"#, Some("application/json")).expect("im");
        assert_eq!((im.id.as_str(), im.format), ("cirros_vnfd", "osm-im"));
        assert!(
            im.doc.get("vdu").is_some(),
            "module prefixes stripped: {}",
            im.doc
        );
    }

    #[test]
    fn nsds_and_nsts_expose_their_references() {
        let nsd = parse(
            DescKind::Nsd,
            b"nsd:\n  nsd:\n  - id: ns1\n    vnfd-id: [a, b]\n    df: [{id: d, vnf-profile: [{id: '1', vnfd-id: a}]}]\n",
            None,
        )
        .expect("nsd");
        assert_eq!(nsd.refs, ["a", "b"]);
        let bad = parse(DescKind::Nsd, b"nsd: {nsd: [{id: ns1, vnfd-id: [a], df: [{id: d, vnf-profile: [{id: '1', vnfd-id: z}]}]}]}", None)
            .expect_err("profile outside the list");
        assert!(
            bad.detail
                .starts_with("Format error at 'df:0:vnf-profile:0:vnfd-id'"),
            "{}",
            bad.detail
        );
        let im = parse(DescKind::Nsd, b"nsd:nsd-catalog: {nsd: [{id: ns, constituent-vnfd: [{member-vnf-index: 1, vnfd-id-ref: cirros_vnfd}]}]}", None).expect("im nsd");
        assert_eq!(im.refs, ["cirros_vnfd"]);
        let nst = parse(
            DescKind::Nst,
            b"nst: [{id: slice, netslice-subnet: [{id: s1, nsd-ref: ns}, {id: s2, nsd-ref: ns}]}]",
            None,
        )
        .expect("nst");
        assert_eq!(nst.refs, ["ns"]);
    }

    #[test]
    fn malformed_descriptors_get_422_naming_the_problem() {
        let e = parse(DescKind::Vnfd, b"something: else", None).expect_err("envelope");
        assert!(
            e.detail.contains("Unsupported descriptor format"),
            "{}",
            e.detail
        );
        let e = parse(DescKind::Vnfd, b"vnfd: {product-name: x}", None).expect_err("id");
        assert!(
            e.detail.contains("'id' is a required property"),
            "{}",
            e.detail
        );
        let e = parse(
            DescKind::Vnfd,
            b"vnfd: {id: v, vdu: [{id: a}, {id: a}]}",
            None,
        )
        .expect_err("dup");
        assert!(
            e.detail.starts_with("Format error at 'vdu:1:id'"),
            "{}",
            e.detail
        );
        let e = parse(DescKind::Nsd, b"nsd: {nsd: [{id: a}, {id: b}]}", None).expect_err("two");
        assert_eq!(e.status, axum::http::StatusCode::UNPROCESSABLE_ENTITY);
        assert!(parse(DescKind::Vnfd, b"vnfd: [unclosed", None).is_err());
        assert_eq!(
            parse(DescKind::Vnfd, b"vnfd: {id: v}", None)
                .expect("min")
                .doc,
            json!({"id": "v"})
        );
    }
}
