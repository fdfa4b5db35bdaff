//! Reading an upload: integrity headers, archive extraction and descriptor checks, query-string overrides, references.

use axum::http::HeaderMap;
use base64::Engine as _;
use md5::{Digest as _, Md5};
use netorch_auth::{Session, service::Access};
use netorch_core::{
    clock::micros_to_secs,
    tenancy::{ProjectScope, Record},
};
use netorch_http::osm::{OsmError, OsmQuery};
use serde_json::{Map, Value, json};
use sha2::Sha384;

use super::kinds::*;
use crate::{
    OsmState,
    archive::{self, ArchiveError, Format},
    descriptor::{self, DescKind},
};

pub(super) fn archive_error(e: ArchiveError) -> OsmError {
    match e {
        ArchiveError::Invalid(m) => OsmError::bad_request(m),
        ArchiveError::TooLarge(m) => OsmError::too_large(m),
    }
}

pub(super) fn header_str<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok()).map(str::trim)
}

/// `Content-File-MD5` (hex) and `Digest: sha-384=<base64>` integrity checks.
pub(super) fn check_integrity(h: &HeaderMap, bytes: &[u8]) -> Result<(), OsmError> {
    if let Some(md5) = header_str(h, "content-file-md5")
        && !hex::encode(Md5::digest(bytes)).eq_ignore_ascii_case(md5)
    {
        return Err(OsmError::conflict("Error, MD5 mismatch"));
    }
    if let Some(digest) = header_str(h, "digest") {
        let (alg, value) = digest
            .split_once('=')
            .ok_or_else(|| OsmError::bad_request("Digest header must be 'sha-384=<base64>'"))?;
        if !alg.eq_ignore_ascii_case("sha-384") {
            return Err(OsmError::bad_request(format!(
                "Digest algorithm '{alg}' is not supported; use sha-384"
            )));
        }
        let mine = base64::engine::general_purpose::STANDARD.encode(Sha384::digest(bytes));
        if mine != value.trim() {
            return Err(OsmError::conflict("Error, SHA384 mismatch"));
        }
    }
    Ok(())
}

/// OSM's query-string overrides of an upload: `?a.b=v` sets that path of the descriptor (value
/// read as YAML, numeric parts index lists, empty removes).
pub(super) fn apply_overrides(doc: &mut Value, rest: &[(String, String)]) -> Result<(), OsmError> {
    for (k, v) in rest {
        let parts: Vec<&str> = k.split('.').collect();
        let mut cur = &mut *doc;
        for (i, p) in parts.iter().enumerate() {
            let last = i == parts.len() - 1;
            let next = match cur {
                Value::Object(m) if last => {
                    if v.is_empty() {
                        m.remove(*p);
                    } else {
                        let val: Value = yaml_serde::from_str(v).unwrap_or_else(|_| json!(v));
                        m.insert(p.to_string(), val);
                    }
                    break;
                }
                Value::Object(m) => m.entry(p.to_string()).or_insert_with(|| json!({})),
                Value::Array(a) => {
                    let idx: usize = p
                        .parse()
                        .map_err(|_| OsmError::format_error(k, "a list is indexed by a number"))?;
                    let slot = a
                        .get_mut(idx)
                        .ok_or_else(|| OsmError::format_error(k, "index out of range"))?;
                    if last {
                        *slot = yaml_serde::from_str(v).unwrap_or_else(|_| json!(v));
                        break;
                    }
                    slot
                }
                _ => {
                    return Err(OsmError::format_error(
                        k,
                        "cannot set a field inside a value",
                    ));
                }
            };
            cur = next;
        }
    }
    Ok(())
}

/// Descriptor ids of a collection visible to the caller.
pub(super) async fn visible_ids(
    s: &OsmState,
    collection: &str,
    scope: &ProjectScope,
) -> Result<Vec<(String, Record)>, OsmError> {
    Ok(s.deps
        .records
        .list_records(collection, scope)
        .await?
        .into_iter()
        .filter_map(|r| r.body["id"].as_str().map(|id| (id.to_string(), r.clone())))
        .collect())
}

/// Reads, checks and stores an upload; returns the body of the package record.
/// An uploaded body with its headers.
pub(super) struct Upload<'a> {
    pub(super) headers: &'a HeaderMap,
    pub(super) bytes: &'a [u8],
}

pub(super) async fn ingest(
    kind: &PkgKind,
    s: &OsmState,
    me: &Session,
    q: &OsmQuery,
    upload: Upload<'_>,
    record_id: &str,
    previous: Option<&Record>,
) -> Result<Value, OsmError> {
    let Upload { headers, bytes } = upload;
    if bytes.is_empty() {
        return Err(OsmError::bad_request("The package content is empty"));
    }
    check_integrity(headers, bytes)?;
    let media = header_str(headers, "content-type");
    let format = Format::detect(media, bytes);
    let pkg = archive::open(bytes, format, s.deps.package_limits).map_err(archive_error)?;
    let desc_media = if pkg.descriptor.ends_with(".json") {
        Some("application/json")
    } else {
        None
    };
    let mut parsed = descriptor::parse(kind.desc, pkg.descriptor_bytes(), desc_media)?;
    if !q.rest.is_empty() {
        apply_overrides(&mut parsed.doc, &q.rest)?;
        parsed.id = parsed.doc["id"].as_str().unwrap_or_default().to_string();
        crate::names::check_name("id", &parsed.id)?;
    }
    for (path, candidates) in descriptor::required_files(&parsed.doc) {
        if kind.desc != DescKind::Vnfd || pkg.format == Format::Plain {
            continue;
        }
        let prefixed = |c: &str| {
            if pkg.root.is_empty() {
                c.to_string()
            } else {
                format!("{}/{c}", pkg.root)
            }
        };
        let present = candidates.iter().any(|c| {
            let full = prefixed(c);
            if full.ends_with('/') {
                pkg.files.keys().any(|f| f.starts_with(&full))
            } else {
                pkg.files.contains_key(&full)
            }
        });
        if !present {
            return Err(OsmError::format_error(
                &path,
                &format!(
                    "'{}' is not in the package",
                    candidates[0].trim_end_matches('/')
                ),
            ));
        }
    }
    if let Some((collection, what)) = kind.refers_to {
        let scope = s
            .deps
            .identity
            .scope(me, "get", &q.admin, Access::Show)
            .await?;
        let known = visible_ids(s, collection, &scope).await?;
        if kind.desc == DescKind::Nsd && parsed.format == "sol006" {
            let ext = |vnfd: &str| {
                known.iter().find(|(id, _)| id == vnfd).map(|(_, r)| {
                    r.body["ext-cpd"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|c| c["id"].as_str().map(str::to_string))
                        .collect()
                })
            };
            descriptor::check_nsd_connectivity(&parsed.doc, &ext)?;
        }
        let field = if what == "vnfd" { "vnfd-id" } else { "nsd-ref" };
        for r in &parsed.refs {
            if !known.iter().any(|(id, _)| id == r) {
                return Err(OsmError::conflict(format!(
                    "Descriptor error at '{field}'='{r}' references a non existing {what}"
                )));
            }
        }
    }
    // Files first, record second: a crash in between leaves only unreferenced blobs.
    let package_digest = s.deps.blobs.put(bytes).await?;
    let mut files = Map::new();
    for (path, content) in &pkg.files {
        let d = s.deps.blobs.put(content).await?;
        files.insert(path.clone(), json!(d));
    }
    let now = s.deps.clock.now();
    let prev_admin = previous
        .map(|p| p.body["_admin"].clone())
        .unwrap_or_else(|| json!({}));
    let revision = prev_admin["revision"].as_i64().unwrap_or(0) + 1;
    let filename = header_str(headers, "content-filename")
        .map(|f| f.rsplit('/').next().unwrap_or(f).to_string())
        .unwrap_or_else(|| match format {
            Format::Zip => "package.zip".into(),
            Format::Plain => "package".into(),
            Format::TarGz => kind.default_filename.into(),
        });
    // A first onboarding enables the package; a re-upload keeps what the operator set.
    let operational_state = match previous {
        Some(p) if p.body["_admin"]["onboardingState"] == json!("ONBOARDED") => {
            p.body["_admin"]["operationalState"].clone()
        }
        _ => json!("ENABLED"),
    };
    let mut doc = parsed.doc;
    doc["_id"] = json!(record_id);
    doc["_admin"] = json!({
        "created": prev_admin.get("created").cloned().unwrap_or(json!(micros_to_secs(now))),
        "modified": micros_to_secs(now),
        "onboardingState": "ONBOARDED",
        "operationalState": operational_state,
        "usageState": prev_admin.get("usageState").cloned().unwrap_or(json!("NOT_IN_USE")),
        "userDefinedData": prev_admin.get("userDefinedData").cloned().unwrap_or(json!({})),
        "revision": revision,
        "type": kind.topic,
        "descriptor-format": parsed.format,
        "references": parsed.refs,
        "storage": {
            "fs": "netorch",
            "folder": record_id,
            "pkg-dir": pkg.root,
            "descriptor": pkg.descriptor,
            "zipfile": filename,
            "format": match format { Format::TarGz => "tar.gz", Format::Zip => "zip", Format::Plain => "plain" },
            "package": package_digest,
            "files": files,
        },
    });
    Ok(doc)
}
