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
use serde_json::{Value, json};

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
    Err(OsmError::unprocessable(match kind {
        DescKind::Vnfd => {
            "ERROR: Unsupported descriptor format. Expected an ETSI SOL006 'vnfd' or an OSM 'vnfd:vnfd-catalog'"
        }
        DescKind::Nsd => {
            "ERROR: Unsupported descriptor format. Expected an ETSI SOL006 'nsd' or an OSM 'nsd:nsd-catalog'"
        }
        DescKind::Nst => "ERROR: Unsupported descriptor format. Expected an OSM 'nst'",
    }))
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

/// The elements of a list with their index (nothing for a missing or non-list value).
fn items(v: &Value) -> impl Iterator<Item = (usize, &Value)> {
    v.as_array().into_iter().flatten().enumerate()
}

fn ids(v: &Value) -> Vec<&str> {
    v.as_array()
        .map(|a| a.iter().filter_map(|x| x["id"].as_str()).collect())
        .unwrap_or_default()
}

/// SOL006 VNFD cross-references inside the descriptor (osm-nbi.md §6.3): the management CP is an
/// external CP; external CPs point at a VDU's internal CP; internal CPs, images, compute and storage
/// descriptors, VDU profiles and instantiation levels name things that exist.
fn check_vnfd_references(doc: &Value) -> Result<(), OsmError> {
    let vdus = ids(&doc["vdu"]);
    let ext = ids(&doc["ext-cpd"]);
    if let Some(mgmt) = doc["mgmt-cp"].as_str()
        && !ext.contains(&mgmt)
    {
        return Err(invalid(
            "mgmt-cp",
            &format!("'{mgmt}' is not an ext-cpd id"),
        ));
    }
    for (i, cp) in items(&doc["ext-cpd"]) {
        let link = &cp["int-cpd"];
        if let (Some(vdu), Some(cpd)) = (link["vdu-id"].as_str(), link["cpd"].as_str()) {
            let vdu_doc = doc["vdu"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|v| v["id"] == json!(vdu));
            match vdu_doc {
                None => {
                    return Err(invalid(
                        &format!("ext-cpd:{i}:int-cpd:vdu-id"),
                        &format!("'{vdu}' is not a vdu id"),
                    ));
                }
                Some(v) if !ids(&v["int-cpd"]).contains(&cpd) => {
                    return Err(invalid(
                        &format!("ext-cpd:{i}:int-cpd:cpd"),
                        &format!("'{cpd}' is not an int-cpd of vdu '{vdu}'"),
                    ));
                }
                Some(_) => {}
            }
        }
    }
    let links = ids(&doc["int-virtual-link-desc"]);
    let images = ids(&doc["sw-image-desc"]);
    let computes = ids(&doc["virtual-compute-desc"]);
    let storages = ids(&doc["virtual-storage-desc"]);
    for (i, vdu) in items(&doc["vdu"]) {
        for (j, cp) in items(&vdu["int-cpd"]) {
            if let Some(l) = cp["int-virtual-link-desc"].as_str()
                && !links.contains(&l)
            {
                return Err(invalid(
                    &format!("vdu:{i}:int-cpd:{j}:int-virtual-link-desc"),
                    &format!("'{l}' is not an int-virtual-link-desc id"),
                ));
            }
        }
        let single = |field: &str, known: &[&str]| -> Result<(), OsmError> {
            match vdu[field].as_str() {
                Some(x) if !known.is_empty() && !known.contains(&x) => Err(invalid(
                    &format!("vdu:{i}:{field}"),
                    &format!("'{x}' is not a {field} id"),
                )),
                _ => Ok(()),
            }
        };
        single("sw-image-desc", &images)?;
        single("virtual-compute-desc", &computes)?;
        for (j, st) in items(&vdu["virtual-storage-desc"]) {
            if let Some(x) = st.as_str()
                && !storages.contains(&x)
            {
                return Err(invalid(
                    &format!("vdu:{i}:virtual-storage-desc:{j}"),
                    &format!("'{x}' is not a virtual-storage-desc id"),
                ));
            }
        }
    }
    for (k, kdu) in items(&doc["kdu"]) {
        if let Some(chart) = kdu["helm-chart"].as_str() {
            let url = chart.starts_with("http://")
                || chart.starts_with("https://")
                || chart.starts_with("oci://");
            let repo_name = chart.split('/').count() == 2
                && chart
                    .split('/')
                    .all(|p| !p.is_empty() && !p.contains(char::is_whitespace));
            if !(url || repo_name) {
                return Err(invalid(
                    &format!("kdu:{k}:helm-chart"),
                    &format!("'{chart}' must be '<repo>/<name>' or a URL"),
                ));
            }
        }
    }
    for (d, df) in items(&doc["df"]) {
        for (a, aspect) in items(&df["scaling-aspect"]) {
            for (x, delta) in items(&aspect["aspect-delta-details"]["deltas"]) {
                for (v, vd) in items(&delta["vdu-delta"]) {
                    if let Some(id) = vd["id"].as_str()
                        && !vdus.contains(&id)
                    {
                        return Err(invalid(
                            &format!(
                                "df:{d}:scaling-aspect:{a}:aspect-delta-details:deltas:{x}:vdu-delta:{v}:id"
                            ),
                            &format!("'{id}' is not a vdu id"),
                        ));
                    }
                }
            }
        }
        for (p, profile) in items(&df["vdu-profile"]) {
            if let Some(x) = profile["id"].as_str()
                && !vdus.contains(&x)
            {
                return Err(invalid(
                    &format!("df:{d}:vdu-profile:{p}:id"),
                    &format!("'{x}' is not a vdu id"),
                ));
            }
        }
        for (l, level) in items(&df["instantiation-level"]) {
            for (v, vl) in items(&level["vdu-level"]) {
                if let Some(x) = vl["vdu-id"].as_str()
                    && !vdus.contains(&x)
                {
                    return Err(invalid(
                        &format!("df:{d}:instantiation-level:{l}:vdu-level:{v}:vdu-id"),
                        &format!("'{x}' is not a vdu id"),
                    ));
                }
            }
        }
    }
    Ok(())
}

/// Files a VNFD needs inside its package: the `cloud-init-file` of each VDU (OSM looks in
/// `cloud_init/`) and the juju charms of its day-1/2 execution environments (in `charms/`, as a
/// folder or a `.charm` file). Each entry: the descriptor path, and the candidate package paths.
pub fn required_files(doc: &Value) -> Vec<(String, Vec<String>)> {
    let mut out: Vec<(String, Vec<String>)> = items(&doc["vdu"])
        .filter_map(|(i, v)| {
            v["cloud-init-file"].as_str().map(|f| {
                (
                    format!("vdu:{i}:cloud-init-file"),
                    vec![format!("cloud_init/{f}")],
                )
            })
        })
        .collect();
    for (d, df) in items(&doc["df"]) {
        let day12 = &df["lcm-operations-configuration"]["operate-vnf-op-config"]["day1-2"];
        for (c, cfg) in day12.as_array().into_iter().flatten().enumerate() {
            for (e, ee) in items(&cfg["execution-environment-list"]) {
                if let Some(charm) = ee["juju"]["charm"].as_str() {
                    out.push((
                        format!("df:{d}:lcm-operations-configuration:operate-vnf-op-config:day1-2:{c}:execution-environment-list:{e}:juju:charm"),
                        vec![format!("charms/{charm}/"), format!("charms/{charm}.charm")],
                    ));
                }
            }
        }
    }
    out
}

/// An NSD's virtual-link connectivity names external CPs of its VNFDs (`vnfd_ext_cpds` gives them
/// per VNFD id) and virtual links it declares.
pub fn check_nsd_connectivity(
    doc: &Value,
    vnfd_ext_cpds: &dyn Fn(&str) -> Option<Vec<String>>,
) -> Result<(), OsmError> {
    let vlds = ids(&doc["virtual-link-desc"]);
    for (i, vld) in items(&doc["virtual-link-desc"]) {
        let mgmt = matches!(&vld["mgmt-network"], Value::Bool(true))
            || vld["mgmt-network"].as_str() == Some("true");
        if mgmt && !vld["virtual-link-protocol-data"].is_null() {
            return Err(invalid(
                &format!("virtual-link-desc:{i}:virtual-link-protocol-data"),
                "a mgmt-network virtual link cannot carry virtual-link-protocol-data",
            ));
        }
    }
    for (d, df) in items(&doc["df"]) {
        for (p, profile) in items(&df["vnf-profile"]) {
            let vnfd = profile["vnfd-id"].as_str().unwrap_or_default();
            let Some(ext) = vnfd_ext_cpds(vnfd) else {
                continue;
            };
            for (c, conn) in items(&profile["virtual-link-connectivity"]) {
                let base = format!("df:{d}:vnf-profile:{p}:virtual-link-connectivity:{c}");
                if let Some(vl) = conn["virtual-link-profile-id"].as_str()
                    && !vlds.is_empty()
                    && !vlds.contains(&vl)
                {
                    return Err(invalid(
                        &format!("{base}:virtual-link-profile-id"),
                        &format!("'{vl}' is not a virtual-link-desc id"),
                    ));
                }
                for (k, cpd) in items(&conn["constituent-cpd-id"]) {
                    if let Some(x) = cpd["constituent-cpd-id"].as_str()
                        && !ext.iter().any(|e| e == x)
                    {
                        return Err(invalid(
                            &format!("{base}:constituent-cpd-id:{k}:constituent-cpd-id"),
                            &format!("'{x}' is not an ext-cpd of vnfd '{vnfd}'"),
                        ));
                    }
                }
            }
        }
    }
    Ok(())
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
    crate::names::check_name("id", &id)?;
    check_unique_ids(&doc, &mut Vec::new())?;
    if kind == DescKind::Vnfd && format == "sol006" {
        check_vnfd_references(&doc)?;
    }
    let name = ["name", "product-name", "short-name"]
        .iter()
        .find_map(|k| doc.get(*k).and_then(Value::as_str))
        .unwrap_or(&id)
        .to_string();
    let refs = match (kind, format) {
        (DescKind::Nsd, "sol006") => {
            let listed = strings(&doc["vnfd-id"]);
            for (d, df) in items(&doc["df"]) {
                for (p, profile) in items(&df["vnf-profile"]) {
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
            bad.to_string()
                .starts_with("Format error at 'df:0:vnf-profile:0:vnfd-id'"),
            "{}",
            bad.to_string()
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
    fn sol006_vnfd_cross_references_must_resolve() {
        let good = b"vnfd:\n  id: v\n  mgmt-cp: mgmt-ext\n  sw-image-desc: [{id: img}]\n  virtual-compute-desc: [{id: c}]\n  int-virtual-link-desc: [{id: internal}]\n  vdu:\n  - {id: vm, sw-image-desc: img, virtual-compute-desc: c, int-cpd: [{id: eth0, int-virtual-link-desc: internal}]}\n  ext-cpd: [{id: mgmt-ext, int-cpd: {vdu-id: vm, cpd: eth0}}]\n  df: [{id: d, vdu-profile: [{id: vm}], instantiation-level: [{id: l, vdu-level: [{vdu-id: vm}]}]}]\n";
        assert!(parse(DescKind::Vnfd, good, None).is_ok());
        let text = String::from_utf8_lossy(good).to_string();
        for (from, to, path) in [
            ("mgmt-cp: mgmt-ext", "mgmt-cp: nope", "mgmt-cp"),
            ("cpd: eth0}", "cpd: eth9}", "ext-cpd:0:int-cpd:cpd"),
            (
                "vdu-id: vm, cpd",
                "vdu-id: vx, cpd",
                "ext-cpd:0:int-cpd:vdu-id",
            ),
            (
                "int-virtual-link-desc: internal}",
                "int-virtual-link-desc: other}",
                "vdu:0:int-cpd:0:int-virtual-link-desc",
            ),
            (
                "sw-image-desc: img,",
                "sw-image-desc: other,",
                "vdu:0:sw-image-desc",
            ),
            (
                "vdu-profile: [{id: vm}]",
                "vdu-profile: [{id: vx}]",
                "df:0:vdu-profile:0:id",
            ),
            (
                "vdu-level: [{vdu-id: vm}]",
                "vdu-level: [{vdu-id: vx}]",
                "df:0:instantiation-level:0:vdu-level:0:vdu-id",
            ),
        ] {
            let bad = text.replace(from, to);
            let e = parse(DescKind::Vnfd, bad.as_bytes(), None).expect_err(path);
            assert!(
                e.to_string()
                    .starts_with(&format!("Format error at '{path}'")),
                "{path}: {}",
                e
            );
        }
        let doc = json!({"vdu": [{"id": "a", "cloud-init-file": "init.cfg"}]});
        assert_eq!(
            required_files(&doc),
            vec![(
                "vdu:0:cloud-init-file".to_string(),
                vec!["cloud_init/init.cfg".to_string()]
            )]
        );
        let charmed = json!({"df": [{"lcm-operations-configuration": {"operate-vnf-op-config": {"day1-2": [{"execution-environment-list": [{"juju": {"charm": "simple"}}]}]}}}]});
        assert_eq!(
            required_files(&charmed)[0].1,
            ["charms/simple/", "charms/simple.charm"]
        );
        let kdu = parse(
            DescKind::Vnfd,
            b"vnfd: {id: k, kdu: [{name: k1, helm-chart: 'just a name'}]}",
            None,
        )
        .expect_err("helm");
        assert!(
            kdu.to_string()
                .starts_with("Format error at 'kdu:0:helm-chart'"),
            "{}",
            kdu.to_string()
        );
        assert!(
            parse(
                DescKind::Vnfd,
                b"vnfd: {id: k, kdu: [{name: k1, helm-chart: stable/openldap}]}",
                None
            )
            .is_ok()
        );
        let scaling = b"vnfd: {id: s, vdu: [{id: vm}], df: [{id: d, scaling-aspect: [{id: a, aspect-delta-details: {deltas: [{id: x, vdu-delta: [{id: nope}]}]}}]}]}";
        assert!(
            parse(DescKind::Vnfd, scaling, None)
                .expect_err("delta")
                .to_string()
                .contains("vdu-delta:0:id")
        );
        let mgmt = json!({"virtual-link-desc": [{"id": "m", "mgmt-network": true, "virtual-link-protocol-data": {"l3-protocol-data": {}}}]});
        assert!(check_nsd_connectivity(&mgmt, &|_: &str| None).is_err());
    }

    #[test]
    fn nsd_connectivity_names_the_vnfds_external_cps() {
        let nsd = json!({"virtual-link-desc": [{"id": "mgmt"}], "df": [{"vnf-profile": [{"vnfd-id": "v", "virtual-link-connectivity": [
            {"virtual-link-profile-id": "mgmt", "constituent-cpd-id": [{"constituent-cpd-id": "mgmt-ext"}]}]}]}]});
        let ext = |_: &str| Some(vec!["mgmt-ext".to_string()]);
        assert!(check_nsd_connectivity(&nsd, &ext).is_ok());
        let none = |_: &str| Some(vec!["other".to_string()]);
        let e = check_nsd_connectivity(&nsd, &none).expect_err("bad cp");
        assert!(
            e.to_string().contains("is not an ext-cpd of vnfd 'v'"),
            "{}",
            e.to_string()
        );
    }

    #[test]
    fn malformed_descriptors_get_422_naming_the_problem() {
        let e = parse(DescKind::Vnfd, b"something: else", None).expect_err("envelope");
        assert!(
            e.to_string().contains("Unsupported descriptor format"),
            "{}",
            e.to_string()
        );
        let e = parse(DescKind::Vnfd, b"vnfd: {product-name: x}", None).expect_err("id");
        assert!(
            e.to_string().contains("'id' is a required property"),
            "{}",
            e.to_string()
        );
        let e = parse(
            DescKind::Vnfd,
            b"vnfd: {id: v, vdu: [{id: a}, {id: a}]}",
            None,
        )
        .expect_err("dup");
        assert!(
            e.to_string().starts_with("Format error at 'vdu:1:id'"),
            "{}",
            e.to_string()
        );
        let e = parse(DescKind::Nsd, b"nsd: {nsd: [{id: a}, {id: b}]}", None).expect_err("two");
        assert_eq!(e.status(), axum::http::StatusCode::UNPROCESSABLE_ENTITY);
        assert!(parse(DescKind::Vnfd, b"vnfd: [unclosed", None).is_err());
        assert_eq!(
            parse(DescKind::Vnfd, b"vnfd: {id: v}", None)
                .expect("min")
                .doc,
            json!({"id": "v"})
        );
    }
}
