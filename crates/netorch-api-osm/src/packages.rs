//! VNF packages, NS descriptors and slice templates: one implementation, three kinds.

use axum::{
    body::Bytes,
    extract::State,
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
};
use base64::Engine as _;
use md5::{Digest as _, Md5};
use netorch_auth::{Session, service::Access};
use netorch_core::{
    clock::micros_to_secs,
    events::NewEvent,
    tenancy::{ProjectScope, Record},
};
use netorch_http::osm::{
    Authenticated, OsmError, OsmId, OsmQuery, OsmValue, Reply, check_id, edit_body, internal,
};
use serde_json::{Map, Value, json};
use sha2::Sha384;
use utoipa_axum::router::OpenApiRouter;

use crate::{
    OsmState,
    archive::{self, ArchiveError, Format},
    descriptor::{self, DescKind},
    render::record_json,
};

/// One kind of package.
#[derive(Debug)]
pub(crate) struct PkgKind {
    desc: DescKind,
    pub collection: &'static str,
    topic: &'static str,
    base: &'static str,
    sol: &'static str,
    content: &'static str,
    desc_leaf: &'static str,
    perm: &'static str,
    /// Collection whose descriptor ids this kind references.
    refers_to: Option<(&'static str, &'static str)>,
    /// Collection that references this kind, and OSM's conflict text.
    referenced_by: Option<(&'static str, &'static str)>,
    /// Prefix of the SOL005 state fields (`nsd` for NSDs).
    state_prefix: &'static str,
    /// OSM quota topic.
    quota: &'static str,
    default_filename: &'static str,
}

pub(crate) static VNF: PkgKind = PkgKind {
    desc: DescKind::Vnfd,
    collection: "vnfds",
    topic: "vnfd",
    base: "/osm/vnfpkgm/v1",
    sol: "vnf_packages",
    content: "vnf_packages_content",
    desc_leaf: "vnfd",
    perm: "vnfds",
    refers_to: None,
    referenced_by: Some((
        "nsds",
        "There is at least one NS package referencing this descriptor",
    )),
    state_prefix: "",
    quota: "vnfds",
    default_filename: "package.tar.gz",
};

pub(crate) static NSD: PkgKind = PkgKind {
    desc: DescKind::Nsd,
    collection: "nsds",
    topic: "nsd",
    base: "/osm/nsd/v1",
    sol: "ns_descriptors",
    content: "ns_descriptors_content",
    desc_leaf: "nsd",
    perm: "nsds",
    refers_to: Some(("vnfds", "vnfd")),
    referenced_by: Some((
        "nsts",
        "There is at least one NetSlice Template referencing this descriptor",
    )),
    state_prefix: "nsd",
    quota: "nsds",
    default_filename: "package.tar.gz",
};

pub(crate) static NST: PkgKind = PkgKind {
    desc: DescKind::Nst,
    collection: "nsts",
    topic: "nst",
    base: "/osm/nst/v1",
    sol: "netslice_templates",
    content: "netslice_templates_content",
    desc_leaf: "nst",
    perm: "slice_templates",
    refers_to: Some(("nsds", "nsd")),
    referenced_by: None,
    state_prefix: "",
    quota: "slice_templates",
    default_filename: "package.tar.gz",
};

/// Every package kind.
pub(crate) static KINDS: [&PkgKind; 3] = [&VNF, &NSD, &NST];

fn state_field(kind: &PkgKind, s: &str) -> String {
    if kind.state_prefix.is_empty() {
        let mut c = s.chars();
        c.next()
            .map(|f| f.to_lowercase().collect::<String>() + c.as_str())
            .unwrap_or_default()
    } else {
        format!("{}{s}", kind.state_prefix)
    }
}

/// The record as OSM shows it, with SOL005's projection (states at the top level and `_links`).
fn package_json(kind: &PkgKind, r: &Record) -> Value {
    let mut doc = record_json(r, &[]);
    let admin = doc["_admin"].clone();
    let id = &r.id;
    for s in ["OnboardingState", "OperationalState", "UsageState"] {
        let src = format!("{}{}", s[..1].to_lowercase(), &s[1..]);
        doc[state_field(kind, s)] = admin[&src].clone();
    }
    let self_href = format!("{}/{}/{id}", kind.base.trim_start_matches("/osm"), kind.sol);
    doc["_links"] = match kind.desc {
        DescKind::Vnfd => {
            json!({"self": {"href": self_href}, "vnfd": {"href": format!("{self_href}/vnfd")}, "packageContent": {"href": format!("{self_href}/package_content")}})
        }
        DescKind::Nsd => {
            json!({"self": {"href": self_href}, "nsd_content": {"href": format!("{self_href}/nsd_content")}})
        }
        DescKind::Nst => {
            json!({"self": {"href": self_href}, "nst": {"href": format!("{self_href}/nst")}})
        }
    };
    doc
}

fn archive_error(e: ArchiveError) -> OsmError {
    match e {
        ArchiveError::Invalid(m) => OsmError::bad_request(m),
        ArchiveError::TooLarge(m) => OsmError::too_large(m),
    }
}

fn header_str<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok()).map(str::trim)
}

/// `Content-File-MD5` (hex) and `Digest: sha-384=<base64>` integrity checks.
fn check_integrity(h: &HeaderMap, bytes: &[u8]) -> Result<(), OsmError> {
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
fn apply_overrides(doc: &mut Value, rest: &[(String, String)]) -> Result<(), OsmError> {
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
async fn visible_ids(
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
struct Upload<'a> {
    headers: &'a HeaderMap,
    bytes: &'a [u8],
}

async fn ingest(
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
        crate::accounts::check_name("id", &parsed.id)?;
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
    let package_digest = s.deps.blobs.put(bytes).await.map_err(|e| internal(&e))?;
    let mut files = Map::new();
    for (path, content) in &pkg.files {
        let d = s.deps.blobs.put(content).await.map_err(|e| internal(&e))?;
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

/// A request body: the whole package, or a chunk that was staged (answer it with the reply).
enum Body {
    Whole(Vec<u8>),
    Chunk(Reply),
}

/// `Content-Range: bytes <first>-<last>/<total>` (inclusive last byte).
fn content_range(h: &HeaderMap) -> Result<Option<(u64, u64, u64)>, OsmError> {
    let Some(raw) = header_str(h, "content-range") else {
        return Ok(None);
    };
    let bad = || {
        OsmError::range_not_satisfiable(format!(
            "invalid Content-Range header format '{raw}'; expected 'bytes <first>-<last>/<total>'"
        ))
    };
    let spec = raw.strip_prefix("bytes ").ok_or_else(bad)?;
    let (range, total) = spec.split_once('/').ok_or_else(bad)?;
    let (a, b) = range.split_once('-').ok_or_else(bad)?;
    let a: u64 = a.trim().parse().map_err(|_| bad())?;
    let b: u64 = b.trim().parse().map_err(|_| bad())?;
    let total: u64 = total.trim().parse().map_err(|_| bad())?;
    if a > b || b >= total {
        return Err(bad());
    }
    Ok(Some((a, b, total)))
}

/// Stages a chunk of a `Content-Range` upload, or passes a whole body through. POST uploads are
/// keyed by the `Transaction-Id` the first chunk answered (the future package id); PUT uploads
/// by the package they replace.
async fn receive(
    s: &OsmState,
    headers: &HeaderMap,
    body: Bytes,
    id: &str,
    post: bool,
) -> Result<(String, Body), OsmError> {
    use netorch_core::uploads::Append;
    let Some((a, b, total)) = content_range(headers)? else {
        return Ok((id.to_string(), Body::Whole(body.to_vec())));
    };
    if body.len() as u64 != b - a + 1 {
        return Err(OsmError::range_not_satisfiable(format!(
            "Mismatch between Content-Range header {a}-{b} and body length of {}",
            body.len()
        )));
    }
    let upload_id = if post && a > 0 {
        let tx = header_str(headers, "transaction-id")
            .ok_or_else(|| OsmError::not_found("invalid Transaction-Id header"))?;
        check_id(tx)?;
        tx.to_string()
    } else {
        id.to_string()
    };
    let now = s.deps.clock.now();
    match s
        .deps
        .uploads
        .append_chunk(&upload_id, a, total, &body, now)
        .await?
    {
        Append::Unknown => Err(OsmError::not_found("invalid Transaction-Id header")),
        Append::OutOfOrder(expected) => Err(OsmError::range_not_satisfiable(format!(
            "invalid Content-Range start sequence, expected '{expected}' but received '{a}'"
        ))),
        Append::Stored(n) if n < total => {
            let reply = if post {
                Reply::with_status(StatusCode::CREATED, json!({"id": upload_id}))
            } else {
                Reply::no_content()
            };
            Ok((
                upload_id.clone(),
                Body::Chunk(reply.header("transaction-id", upload_id)),
            ))
        }
        Append::Stored(_) => {
            let whole = s
                .deps
                .uploads
                .take_upload(&upload_id)
                .await?
                .ok_or_else(|| OsmError::not_found("invalid Transaction-Id header"))?;
            Ok((upload_id, Body::Whole(whole)))
        }
    }
}

fn duplicate(kind: &PkgKind, e: netorch_core::StoreError, id: &str) -> OsmError {
    match e {
        netorch_core::StoreError::Conflict(m) if m.starts_with("name ") => {
            OsmError::conflict(format!(
                "{} with id '{id}' already exists for this project",
                kind.topic
            ))
        }
        other => other.into(),
    }
}

fn new_record(id: &str, body: Value, owners: netorch_core::tenancy::Ownership, now: i64) -> Record {
    Record {
        id: id.into(),
        name: body["id"].as_str().map(str::to_string),
        body,
        owners,
        created: now,
        modified: now,
        revision: 1,
    }
}

async fn load(
    kind: &PkgKind,
    s: &OsmState,
    me: &Session,
    q: &OsmQuery,
    id: &str,
    access: Access,
    method: &str,
) -> Result<Record, OsmError> {
    crate::tenancy::load(s, me, q, method, kind.collection, id, access, kind.topic).await
}

/// The endpoints of one package kind at literal paths, with their OpenAPI operations:
/// `$module::register` adds them to the family's router. Uploads take bodies up to `max_upload`.
macro_rules! package_endpoints {
    ($module:ident, $kind:expr, $what:literal,
     content = $content:literal, content_item = $content_item:literal,
     sol = $sol:literal, sol_item = $sol_item:literal,
     package_content = $package_content:literal, upload_from_uri = $upload_from_uri:literal,
     descriptor = $descriptor:literal, artifacts = $artifacts:literal, artifact = $artifact:literal) => {
        pub(crate) mod $module {
            use axum::{extract::{DefaultBodyLimit, State}, http::HeaderMap, response::Response};
            use netorch_http::osm::{
                Authenticated, OsmError, OsmErrorBody, OsmId, OsmQuery, OsmValue, Reply, check_id,
                extractors::{Body, Path},
            };
            use utoipa_axum::{router::OpenApiRouter, routes};

            use crate::OsmState;

            #[utoipa::path(get, path = $content, tag = "osm", operation_id = concat!("list_", stringify!($module), "_content"),
                summary = concat!("List ", $what, "s"), security(("bearerAuth" = [])),
                responses((status = 200, description = "The records the caller's projects may read"),
                    (status = 401, description = "No or bad token, or RBAC refused", body = OsmErrorBody)))]
            async fn list_content(s: State<OsmState>, a: Authenticated, q: OsmQuery) -> Result<Reply, OsmError> {
                super::list(&$kind, "content:get", s, a, q).await
            }

            #[utoipa::path(post, path = $content, tag = "osm", operation_id = concat!("onboard_", stringify!($module)),
                summary = concat!("Onboard a ", $what, " package in one request (tar.gz, zip or YAML/JSON; Content-File-MD5, Digest, Content-Range + Transaction-Id for chunks)"),
                security(("bearerAuth" = [])),
                request_body(content = Vec<u8>, description = "tar.gz, zip/CSAR, or a YAML/JSON descriptor", content_type = "application/octet-stream"),
                responses((status = 201, description = "Onboarded: {id}"), (status = 204, description = "Chunk accepted"),
                    (status = 400, description = "Invalid package", body = OsmErrorBody),
                    (status = 409, description = "Descriptor id in use", body = OsmErrorBody),
                    (status = 413, description = "Over the upload limit", body = OsmErrorBody),
                    (status = 422, description = "Invalid descriptor", body = OsmErrorBody)))]
            async fn onboard(s: State<OsmState>, a: Authenticated, q: OsmQuery, h: HeaderMap, b: Body) -> Result<Reply, OsmError> {
                super::upload_new(&$kind, s, a, q, h, b.0).await
            }

            #[utoipa::path(get, path = $content_item, tag = "osm", operation_id = concat!("show_", stringify!($module), "_content"),
                summary = concat!("Show a ", $what), security(("bearerAuth" = [])),
                params(("id" = String, Path, description = "Id")),
                responses((status = 200, description = "The record"), (status = 404, description = "Not found", body = OsmErrorBody)))]
            async fn show_content(s: State<OsmState>, a: Authenticated, q: OsmQuery, id: OsmId) -> Result<Reply, OsmError> {
                super::show(&$kind, s, a, q, id).await
            }

            #[utoipa::path(put, path = $content_item, tag = "osm", operation_id = concat!("revise_", stringify!($module)),
                summary = concat!("Upload a new revision of a ", $what, " package"), security(("bearerAuth" = [])),
                params(("id" = String, Path, description = "Id")),
                request_body(content = Vec<u8>, description = "tar.gz, zip/CSAR, or a YAML/JSON descriptor", content_type = "application/octet-stream"),
                responses((status = 204, description = "Replaced"), (status = 409, description = "Conflict", body = OsmErrorBody)))]
            async fn revise(s: State<OsmState>, a: Authenticated, q: OsmQuery, id: OsmId, h: HeaderMap, b: Body) -> Result<Reply, OsmError> {
                super::upload_into(&$kind, "id:put", s, a, q, id, h, b.0).await
            }

            #[utoipa::path(delete, path = $content_item, tag = "osm", operation_id = concat!("delete_", stringify!($module), "_content"),
                summary = concat!("Delete a ", $what, " (409 while referenced, unless FORCE)"), security(("bearerAuth" = [])),
                params(("id" = String, Path, description = "Id")),
                responses((status = 204, description = "Deleted"), (status = 409, description = "Referenced or in use", body = OsmErrorBody)))]
            async fn delete_content(s: State<OsmState>, a: Authenticated, q: OsmQuery, id: OsmId) -> Result<Reply, OsmError> {
                super::remove(&$kind, s, a, q, id).await
            }

            #[utoipa::path(get, path = $sol, tag = "osm", operation_id = concat!("list_", stringify!($module)),
                summary = concat!("List ", $what, "s (SOL005)"), security(("bearerAuth" = [])),
                responses((status = 200, description = "The records the caller's projects may read")))]
            async fn list(s: State<OsmState>, a: Authenticated, q: OsmQuery) -> Result<Reply, OsmError> {
                super::list(&$kind, "get", s, a, q).await
            }

            #[utoipa::path(post, path = $sol, tag = "osm", operation_id = concat!("create_", stringify!($module)),
                summary = concat!("Create an empty ", $what, " record (SOL005 two-step upload)"), security(("bearerAuth" = [])),
                request_body(content = Object, description = "{userDefinedData}: JSON, or YAML with Content-Type: application/yaml", content_type = "application/json"),
                responses((status = 201, description = "Created: {_id, id}"), (status = 422, description = "Invalid", body = OsmErrorBody)))]
            async fn create(s: State<OsmState>, a: Authenticated, q: OsmQuery, b: OsmValue) -> Result<Reply, OsmError> {
                super::create_empty(&$kind, s, a, q, b).await
            }

            #[utoipa::path(get, path = $sol_item, tag = "osm", operation_id = concat!("show_", stringify!($module)),
                summary = concat!("Show a ", $what, " (SOL005)"), security(("bearerAuth" = [])),
                params(("id" = String, Path, description = "Id")),
                responses((status = 200, description = "The record"), (status = 404, description = "Not found", body = OsmErrorBody)))]
            async fn show(s: State<OsmState>, a: Authenticated, q: OsmQuery, id: OsmId) -> Result<Reply, OsmError> {
                super::show(&$kind, s, a, q, id).await
            }

            #[utoipa::path(patch, path = $sol_item, tag = "osm", operation_id = concat!("edit_", stringify!($module)),
                summary = "Change the operational state or userDefinedData; SET_PROJECT / PUBLIC with an empty body share it",
                security(("bearerAuth" = [])),
                params(("id" = String, Path, description = "Id")),
                request_body(content = Object, description = "JSON, or YAML with Content-Type: application/yaml", content_type = "application/json"),
                responses((status = 204, description = "Changed"), (status = 409, description = "Already in that state", body = OsmErrorBody)))]
            async fn patch(s: State<OsmState>, a: Authenticated, q: OsmQuery, id: OsmId, b: OsmValue) -> Result<Reply, OsmError> {
                super::patch_states(&$kind, s, a, q, id, b).await
            }

            #[utoipa::path(delete, path = $sol_item, tag = "osm", operation_id = concat!("delete_", stringify!($module)),
                summary = concat!("Delete a ", $what), security(("bearerAuth" = [])),
                params(("id" = String, Path, description = "Id")),
                responses((status = 204, description = "Deleted"), (status = 409, description = "Referenced or in use", body = OsmErrorBody)))]
            async fn delete(s: State<OsmState>, a: Authenticated, q: OsmQuery, id: OsmId) -> Result<Reply, OsmError> {
                super::remove(&$kind, s, a, q, id).await
            }

            #[utoipa::path(get, path = $package_content, tag = "osm", operation_id = concat!("download_", stringify!($module)),
                summary = "Download the package (Accept: application/zip, application/gzip or text/plain)", security(("bearerAuth" = [])),
                params(("id" = String, Path, description = "Id")),
                responses((status = 200, description = "The package file", content_type = "application/zip"),
                    (status = 406, description = "Unacceptable Accept", body = OsmErrorBody),
                    (status = 409, description = "Not onboarded", body = OsmErrorBody)))]
            async fn download(s: State<OsmState>, a: Authenticated, q: OsmQuery, id: OsmId, h: HeaderMap) -> Result<Response, OsmError> {
                super::download(&$kind, s, a, q, id, h).await
            }

            #[utoipa::path(put, path = $package_content, tag = "osm", operation_id = concat!("upload_", stringify!($module)),
                summary = "Upload the package content", security(("bearerAuth" = [])),
                params(("id" = String, Path, description = "Id")),
                request_body(content = Vec<u8>, description = "tar.gz, zip/CSAR, or a YAML/JSON descriptor", content_type = "application/octet-stream"),
                responses((status = 204, description = "Onboarded"), (status = 413, description = "Over the upload limit", body = OsmErrorBody)))]
            async fn upload(s: State<OsmState>, a: Authenticated, q: OsmQuery, id: OsmId, h: HeaderMap, b: Body) -> Result<Reply, OsmError> {
                super::upload_into(&$kind, "id:content:put", s, a, q, id, h, b.0).await
            }

            #[utoipa::path(post, path = $upload_from_uri, tag = "osm", operation_id = concat!("upload_", stringify!($module), "_from_uri"),
                summary = "Not supported yet (501), as OSM", security(("bearerAuth" = [])),
                params(("id" = String, Path, description = "Id")),
                responses((status = 501, description = "Not implemented", body = OsmErrorBody)))]
            async fn upload_from_uri(_a: Authenticated, _id: OsmId) -> OsmError {
                OsmError::NotImplemented("Method POST not supported yet for this URL".into())
            }

            #[utoipa::path(get, path = $descriptor, tag = "osm", operation_id = concat!("descriptor_of_", stringify!($module)),
                summary = "The descriptor file as uploaded", security(("bearerAuth" = [])),
                params(("id" = String, Path, description = "Id")),
                responses((status = 200, description = "The descriptor", content_type = "text/plain")))]
            async fn descriptor(s: State<OsmState>, a: Authenticated, q: OsmQuery, id: OsmId) -> Result<Response, OsmError> {
                super::descriptor_file(&$kind, s, a, q, id).await
            }

            #[utoipa::path(get, path = $artifacts, tag = "osm", operation_id = concat!("artifacts_of_", stringify!($module)),
                summary = "List the package's files", security(("bearerAuth" = [])),
                params(("id" = String, Path, description = "Id")),
                responses((status = 200, description = "File and folder names")))]
            async fn artifacts(s: State<OsmState>, a: Authenticated, q: OsmQuery, id: OsmId) -> Result<Response, OsmError> {
                super::artifacts(&$kind, s, a, q, id.0, String::new()).await
            }

            #[utoipa::path(get, path = $artifact, tag = "osm", operation_id = concat!("artifact_of_", stringify!($module)),
                summary = "One file of the package, or a folder listing", security(("bearerAuth" = [])),
                params(("id" = String, Path, description = "Id"), ("path" = String, Path, description = "File or folder inside the package")),
                responses((status = 200, description = "The file, or the folder's entries"), (status = 404, description = "No such file", body = OsmErrorBody)))]
            async fn artifact(s: State<OsmState>, a: Authenticated, q: OsmQuery, Path((id, path)): Path<(String, String)>) -> Result<Response, OsmError> {
                check_id(&id)?;
                super::artifacts(&$kind, s, a, q, id, path).await
            }

            /// Adds the kind's routes and operations; uploads accept up to `max_upload` bytes.
            pub(crate) fn register(r: OpenApiRouter<OsmState>, max_upload: usize) -> OpenApiRouter<OsmState> {
                let limit = || DefaultBodyLimit::max(max_upload);
                let (schemas, paths, content) = routes!(list_content, onboard);
                let r = r.routes((schemas, paths, content.layer(limit())));
                let (schemas, paths, item) = routes!(show_content, revise, delete_content);
                let r = r.routes((schemas, paths, item.layer(limit())));
                let (schemas, paths, package) = routes!(download, upload);
                r.routes(routes!(list, create))
                    .routes(routes!(show, patch, delete))
                    .routes((schemas, paths, package.layer(limit())))
                    .routes(routes!(upload_from_uri))
                    .routes(routes!(descriptor))
                    .routes(routes!(artifacts))
                    .routes(routes!(artifact))
            }
        }
    };
}

package_endpoints!(
    vnf_packages,
    super::VNF,
    "VNF package",
    content = "/osm/vnfpkgm/v1/vnf_packages_content",
    content_item = "/osm/vnfpkgm/v1/vnf_packages_content/{id}",
    sol = "/osm/vnfpkgm/v1/vnf_packages",
    sol_item = "/osm/vnfpkgm/v1/vnf_packages/{id}",
    package_content = "/osm/vnfpkgm/v1/vnf_packages/{id}/package_content",
    upload_from_uri = "/osm/vnfpkgm/v1/vnf_packages/{id}/package_content/upload_from_uri",
    descriptor = "/osm/vnfpkgm/v1/vnf_packages/{id}/vnfd",
    artifacts = "/osm/vnfpkgm/v1/vnf_packages/{id}/artifacts",
    artifact = "/osm/vnfpkgm/v1/vnf_packages/{id}/artifacts/{*path}"
);
package_endpoints!(
    ns_descriptors,
    super::NSD,
    "NS descriptor",
    content = "/osm/nsd/v1/ns_descriptors_content",
    content_item = "/osm/nsd/v1/ns_descriptors_content/{id}",
    sol = "/osm/nsd/v1/ns_descriptors",
    sol_item = "/osm/nsd/v1/ns_descriptors/{id}",
    package_content = "/osm/nsd/v1/ns_descriptors/{id}/nsd_content",
    upload_from_uri = "/osm/nsd/v1/ns_descriptors/{id}/package_content/upload_from_uri",
    descriptor = "/osm/nsd/v1/ns_descriptors/{id}/nsd",
    artifacts = "/osm/nsd/v1/ns_descriptors/{id}/artifacts",
    artifact = "/osm/nsd/v1/ns_descriptors/{id}/artifacts/{*path}"
);
package_endpoints!(
    netslice_templates,
    super::NST,
    "network slice template",
    content = "/osm/nst/v1/netslice_templates_content",
    content_item = "/osm/nst/v1/netslice_templates_content/{id}",
    sol = "/osm/nst/v1/netslice_templates",
    sol_item = "/osm/nst/v1/netslice_templates/{id}",
    package_content = "/osm/nst/v1/netslice_templates/{id}/nst_content",
    upload_from_uri = "/osm/nst/v1/netslice_templates/{id}/package_content/upload_from_uri",
    descriptor = "/osm/nst/v1/netslice_templates/{id}/nst",
    artifacts = "/osm/nst/v1/netslice_templates/{id}/artifacts",
    artifact = "/osm/nst/v1/netslice_templates/{id}/artifacts/{*path}"
);

/// Every package endpoint.
pub(crate) fn register(r: OpenApiRouter<OsmState>, max_upload: usize) -> OpenApiRouter<OsmState> {
    let r = vnf_packages::register(r, max_upload);
    let r = ns_descriptors::register(r, max_upload);
    netslice_templates::register(r, max_upload)
}

async fn list(
    kind: &PkgKind,
    op: &str,
    State(s): State<OsmState>,
    Authenticated(me): Authenticated,
    q: OsmQuery,
) -> Result<Reply, OsmError> {
    me.authorize(&format!("{}:{op}", kind.perm), "get", &q.admin)?;
    let records = crate::tenancy::list(&s, &me, &q, kind.collection).await?;
    let docs = records.iter().map(|r| package_json(kind, r)).collect();
    q.list(docs)
}

async fn show(
    kind: &PkgKind,
    State(s): State<OsmState>,
    Authenticated(me): Authenticated,
    q: OsmQuery,
    OsmId(id): OsmId,
) -> Result<Reply, OsmError> {
    me.authorize(&format!("{}:id:get", kind.perm), "get", &q.admin)?;
    let r = load(kind, &s, &me, &q, &id, Access::Show, "get").await?;
    Ok(Reply::ok(package_json(kind, &r)))
}

async fn upload_new(
    kind: &PkgKind,
    State(s): State<OsmState>,
    Authenticated(me): Authenticated,
    q: OsmQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Reply, OsmError> {
    me.authorize(&format!("{}:content:post", kind.perm), "post", &q.admin)?;
    crate::tenancy::check_quota(&s, &me, &q, kind.collection, kind.quota).await?;
    let (id, body) = match receive(&s, &headers, body, &netorch_core::new_id(), true).await? {
        (_, Body::Chunk(reply)) => return Ok(reply),
        (id, Body::Whole(bytes)) => (id, bytes),
    };
    let doc = ingest(
        kind,
        &s,
        &me,
        &q,
        Upload {
            headers: &headers,
            bytes: &body,
        },
        &id,
        None,
    )
    .await?;
    let owners = s.deps.identity.new_ownership(&me, "post", &q.admin).await?;
    let now = s.deps.clock.now();
    let r = new_record(&id, doc, owners, now);
    let descriptor_id = r.name.clone().unwrap_or_default();
    let event = NewEvent::new(kind.topic, "created", event_payload(kind, &r));
    s.deps
        .records
        .insert_record(kind.collection, &r, &[event])
        .await
        .map_err(|e| duplicate(kind, e, &descriptor_id))?;
    tracing::info!(collection = kind.collection, id = %id, descriptor = %descriptor_id, "package onboarded");
    Ok(Reply::with_status(StatusCode::CREATED, json!({"id": id}))
        .location(format!("{}/{}/{id}", kind.base, kind.content)))
}

#[expect(
    clippy::too_many_arguments,
    reason = "axum extractors plus the route's kind"
)]
async fn upload_into(
    kind: &PkgKind,
    op: &str,
    State(s): State<OsmState>,
    Authenticated(me): Authenticated,
    q: OsmQuery,
    OsmId(id): OsmId,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Reply, OsmError> {
    me.authorize(&format!("{}:{op}", kind.perm), "put", &q.admin)?;
    let mut r = load(kind, &s, &me, &q, &id, Access::Write, "put").await?;
    let body = match receive(&s, &headers, body, &id, false).await? {
        (_, Body::Chunk(reply)) => return Ok(reply),
        (_, Body::Whole(bytes)) => bytes,
    };
    let doc = ingest(
        kind,
        &s,
        &me,
        &q,
        Upload {
            headers: &headers,
            bytes: &body,
        },
        &id,
        Some(&r),
    )
    .await?;
    let now = s.deps.clock.now();
    r.name = doc["id"].as_str().map(str::to_string);
    r.body = doc;
    r.touch(now);
    let descriptor_id = r.name.clone().unwrap_or_default();
    let event = NewEvent::new(kind.topic, "edited", event_payload(kind, &r));
    s.deps
        .records
        .update_record(kind.collection, &r, &[event])
        .await
        .map_err(|e| duplicate(kind, e, &descriptor_id))?;
    Ok(Reply::no_content())
}

async fn create_empty(
    kind: &PkgKind,
    State(s): State<OsmState>,
    Authenticated(me): Authenticated,
    q: OsmQuery,
    OsmValue(body): OsmValue,
) -> Result<Reply, OsmError> {
    me.authorize(&format!("{}:post", kind.perm), "post", &q.admin)?;
    crate::tenancy::check_quota(&s, &me, &q, kind.collection, kind.quota).await?;
    let user_data = match body {
        Value::Null => json!({}),
        Value::Object(mut m) => {
            let data = m.remove("userDefinedData").unwrap_or(json!({}));
            if let Some(extra) = m.keys().next() {
                return Err(OsmError::format_error(
                    extra,
                    "Additional properties are not allowed",
                ));
            }
            if !data.is_object() {
                return Err(OsmError::format_error(
                    "userDefinedData",
                    "must be an object",
                ));
            }
            data
        }
        _ => return Err(OsmError::format_error("", "must be an object")),
    };
    let owners = s.deps.identity.new_ownership(&me, "post", &q.admin).await?;
    let now = s.deps.clock.now();
    let id = netorch_core::new_id();
    let doc = json!({"_id": id, "_admin": {
        "created": micros_to_secs(now), "modified": micros_to_secs(now),
        "onboardingState": "CREATED", "operationalState": "DISABLED", "usageState": "NOT_IN_USE",
        "userDefinedData": user_data, "revision": 0, "type": kind.topic,
    }});
    let mut r = new_record(&id, doc, owners, now);
    r.name = None;
    let event = NewEvent::new(kind.topic, "created", event_payload(kind, &r));
    s.deps
        .records
        .insert_record(kind.collection, &r, &[event])
        .await?;
    Ok(Reply::created(
        format!("{}/{}/{id}", kind.base, kind.sol),
        &id,
    ))
}

async fn patch_states(
    kind: &PkgKind,
    State(s): State<OsmState>,
    Authenticated(me): Authenticated,
    q: OsmQuery,
    OsmId(id): OsmId,
    OsmValue(body): OsmValue,
) -> Result<Reply, OsmError> {
    me.authorize(&format!("{}:id:patch", kind.perm), "patch", &q.admin)?;
    if crate::tenancy::sharing_only(&q, &body)? {
        let event = |r: &Record| NewEvent::new(kind.topic, "edited", event_payload(kind, r));
        return crate::tenancy::share(&s, &me, "patch", &q, kind.collection, &id, &event).await;
    }
    let patch: Map<String, Value> = edit_body(body)?;
    let state_key = state_field(kind, "OperationalState");
    let mut r = load(kind, &s, &me, &q, &id, Access::Write, "patch").await?;
    for (k, v) in &patch {
        if k == &state_key {
            let want = v
                .as_str()
                .filter(|v| *v == "ENABLED" || *v == "DISABLED")
                .ok_or_else(|| {
                    OsmError::bad_request(format!("{state_key} must be ENABLED or DISABLED"))
                })?;
            if r.body["_admin"]["operationalState"] == json!(want) {
                return Err(OsmError::conflict(format!("{state_key} already {want}")));
            }
            r.body["_admin"]["operationalState"] = json!(want);
        } else if k == "userDefinedData" {
            let Value::Object(data) = v else {
                return Err(OsmError::format_error(
                    "userDefinedData",
                    "must be an object",
                ));
            };
            let target = &mut r.body["_admin"]["userDefinedData"];
            if !target.is_object() {
                *target = json!({});
            }
            netorch_http::merge::merge(target, &Value::Object(data.clone()))
                .map_err(|e| OsmError::unprocessable(e.0))?;
        } else {
            return Err(OsmError::format_error(
                k,
                &format!("only {state_key} and userDefinedData can be changed here"),
            ));
        }
    }
    let now = s.deps.clock.now();
    r.body["_admin"]["modified"] = json!(micros_to_secs(now));
    r.touch(now);
    let event = NewEvent::new(kind.topic, "edited", event_payload(kind, &r));
    s.deps
        .records
        .update_record(kind.collection, &r, &[event])
        .await?;
    Ok(Reply::no_content())
}

async fn remove(
    kind: &PkgKind,
    State(s): State<OsmState>,
    Authenticated(me): Authenticated,
    q: OsmQuery,
    OsmId(id): OsmId,
) -> Result<Reply, OsmError> {
    me.authorize(&format!("{}:id:delete", kind.perm), "delete", &q.admin)?;
    let r = load(kind, &s, &me, &q, &id, Access::Write, "delete").await?;
    if !q.admin.force {
        if r.body["_admin"]["usageState"] == json!("IN_USE") {
            return Err(OsmError::conflict(
                "There is at least one NS instance using this descriptor",
            ));
        }
        if let (Some((collection, message)), Some(descriptor_id)) =
            (kind.referenced_by, r.body["id"].as_str())
        {
            let scope = s
                .deps
                .identity
                .scope(&me, "get", &q.admin, Access::Show)
                .await?;
            let users = s.deps.records.list_records(collection, &scope).await?;
            if users.iter().any(|u| {
                u.body["_admin"]["references"]
                    .as_array()
                    .is_some_and(|refs| refs.iter().any(|x| x == descriptor_id))
            }) {
                return Err(OsmError::conflict(message));
            }
        }
    }
    let event = NewEvent::new(kind.topic, "deleted", event_payload(kind, &r));
    s.deps
        .records
        .delete_record(kind.collection, &id, &[event])
        .await?;
    Ok(Reply::no_content())
}

fn event_payload(kind: &PkgKind, r: &Record) -> Value {
    let mut doc = package_json(kind, r);
    if let Some(m) = doc.as_object_mut() {
        m.remove("_admin");
        m.remove("_links");
    }
    doc
}

fn onboarded(r: &Record) -> Result<(), OsmError> {
    if r.body["_admin"]["onboardingState"] != json!("ONBOARDED") {
        return Err(OsmError::conflict(
            "Cannot get content because this resource is not at 'ONBOARDED' state",
        ));
    }
    Ok(())
}

async fn blob(s: &OsmState, digest: &Value) -> Result<Vec<u8>, OsmError> {
    let d = digest.as_str().unwrap_or_default();
    s.deps.blobs.get(d).await?.ok_or_else(|| {
        internal(&netorch_core::StoreError::Internal(format!(
            "package file {d} is missing from blob storage"
        )))
    })
}

fn bytes_response(content_type: &str, bytes: Vec<u8>) -> Response {
    ([(header::CONTENT_TYPE, content_type.to_string())], bytes).into_response()
}

/// `GET …/package_content`: the uploaded file (`application/zip`, or `application/gzip` when asked),
/// or the descriptor as text for single-file packages. OSM's Accept rules: 406 otherwise.
async fn download(
    kind: &PkgKind,
    State(s): State<OsmState>,
    Authenticated(me): Authenticated,
    q: OsmQuery,
    OsmId(id): OsmId,
    headers: HeaderMap,
) -> Result<Response, OsmError> {
    me.authorize(&format!("{}:id:content:get", kind.perm), "get", &q.admin)?;
    let accept = header_str(&headers, "accept")
        .unwrap_or_default()
        .to_ascii_lowercase();
    let zip = accept.contains("application/zip") || accept.contains("*/*");
    let gzip = accept.contains("application/gzip") || accept.contains("application/x-gzip");
    let text = accept.contains("text/plain");
    if !(zip || gzip || text) {
        return Err(OsmError::not_acceptable(
            "Only 'Accept' of type 'text/plain' or 'application/zip' is allowed",
        ));
    }
    let r = load(kind, &s, &me, &q, &id, Access::Show, "get").await?;
    onboarded(&r)?;
    let storage = &r.body["_admin"]["storage"];
    let files = storage["files"].as_object().map(|m| m.len()).unwrap_or(0);
    if text && !zip && !gzip {
        if files > 1 {
            return Err(OsmError::not_acceptable(
                "Packages that contain several files need to be retrieved with 'application/zip'Accept header",
            ));
        }
        return Ok(bytes_response(
            "text/plain",
            blob(
                &s,
                &storage["files"][storage["descriptor"].as_str().unwrap_or_default()],
            )
            .await?,
        ));
    }
    let ct = if gzip && storage["format"] == json!("tar.gz") {
        "application/gzip"
    } else {
        "application/zip"
    };
    Ok(bytes_response(ct, blob(&s, &storage["package"]).await?))
}

/// `GET …/vnfd` (`nsd`, `nst`): the descriptor file as uploaded.
async fn descriptor_file(
    kind: &PkgKind,
    State(s): State<OsmState>,
    Authenticated(me): Authenticated,
    q: OsmQuery,
    OsmId(id): OsmId,
) -> Result<Response, OsmError> {
    me.authorize(
        &format!("{}:id:{}:get", kind.perm, kind.desc_leaf),
        "get",
        &q.admin,
    )?;
    let r = load(kind, &s, &me, &q, &id, Access::Show, "get").await?;
    onboarded(&r)?;
    let storage = &r.body["_admin"]["storage"];
    let path = storage["descriptor"].as_str().unwrap_or_default();
    Ok(bytes_response(
        "text/plain",
        blob(&s, &storage["files"][path]).await?,
    ))
}

/// `GET …/artifacts[/path]`: a listing of the package folder, or one file.
async fn artifacts(
    kind: &PkgKind,
    State(s): State<OsmState>,
    Authenticated(me): Authenticated,
    q: OsmQuery,
    id: String,
    path: String,
) -> Result<Response, OsmError> {
    me.authorize(
        &format!("{}:id:{}_artifact:get", kind.perm, kind.desc_leaf),
        "get",
        &q.admin,
    )?;
    let r = load(kind, &s, &me, &q, &id, Access::Show, "get").await?;
    onboarded(&r)?;
    let storage = &r.body["_admin"]["storage"];
    let root = storage["pkg-dir"].as_str().unwrap_or_default();
    let Some(files) = storage["files"].as_object() else {
        return Err(OsmError::bad_request(
            "Packages does not contains artifacts",
        ));
    };
    let sub = if path.is_empty() {
        String::new()
    } else {
        archive::safe_path(&path).map_err(|e| OsmError::bad_request(e.to_string()))?
    };
    let full = [root, sub.as_str()]
        .iter()
        .filter(|p| !p.is_empty())
        .copied()
        .collect::<Vec<_>>()
        .join("/");
    if let Some(digest) = files.get(&full) {
        return Ok(bytes_response(
            "application/octet-stream",
            blob(&s, digest).await?,
        ));
    }
    let prefix = if full.is_empty() {
        String::new()
    } else {
        format!("{full}/")
    };
    let mut names: Vec<String> = files
        .keys()
        .filter_map(|p| p.strip_prefix(&prefix))
        .map(|rest| rest.split('/').next().unwrap_or(rest).to_string())
        .collect();
    names.dedup();
    if names.is_empty() {
        return Err(OsmError::not_found(format!("artifact '{path}' not found")));
    }
    Ok(Reply::ok(json!(names)).into_response())
}
