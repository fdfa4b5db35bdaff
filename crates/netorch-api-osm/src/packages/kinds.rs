//! The three package kinds (VNF packages, NSDs, slice templates) and how their records look: SOL005 projection, events, loading.

use netorch_auth::{Session, service::Access};
use netorch_core::tenancy::Record;
use netorch_http::osm::{OsmError, OsmQuery};
use serde_json::{Value, json};

use crate::{OsmState, descriptor::DescKind, render::record_json};

/// One kind of package.
#[derive(Debug)]
pub(crate) struct PkgKind {
    pub(super) desc: DescKind,
    pub collection: &'static str,
    pub(super) topic: &'static str,
    pub(super) base: &'static str,
    pub(super) sol: &'static str,
    pub(super) content: &'static str,
    pub(super) desc_leaf: &'static str,
    pub(super) perm: &'static str,
    /// Collection whose descriptor ids this kind references.
    pub(super) refers_to: Option<(&'static str, &'static str)>,
    /// Collection that references this kind, and OSM's conflict text.
    pub(super) referenced_by: Option<(&'static str, &'static str)>,
    /// Prefix of the SOL005 state fields (`nsd` for NSDs).
    pub(super) state_prefix: &'static str,
    /// OSM quota topic.
    pub(super) quota: &'static str,
    pub(super) default_filename: &'static str,
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

pub(super) fn state_field(kind: &PkgKind, s: &str) -> String {
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
pub(super) fn package_json(kind: &PkgKind, r: &Record) -> Value {
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

pub(super) fn duplicate(kind: &PkgKind, e: netorch_core::StoreError, id: &str) -> OsmError {
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

pub(super) fn new_record(
    id: &str,
    body: Value,
    owners: netorch_core::tenancy::Ownership,
    now: i64,
) -> Record {
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

pub(super) async fn load(
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
