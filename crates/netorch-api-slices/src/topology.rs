//! Topology as data: a TOML or YAML file seeds the store; the admin API edits it.

use std::collections::BTreeSet;

use axum::{
    Json,
    extract::State,
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
};
use netorch_core::connectivity::{Link, Site, TagRange};
use serde::Deserialize;
use serde_json::Value;

use crate::{
    Body, Path, SlicesState,
    error::{Detail, Loc, SlicesError},
};

/// The topology shipped with netorch: the seed's 12 sites, fully meshed (example values).
pub const DEFAULT_TOPOLOGY: &str = include_str!("../topology/default.toml");

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileLink {
    sites: [String; 2],
    capacity: Option<i64>,
    capacity_ab: Option<i64>,
    capacity_ba: Option<i64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TopologyFile {
    #[serde(default)]
    full_mesh: bool,
    default_capacity: Option<i64>,
    sites: Vec<Site>,
    #[serde(default)]
    links: Vec<FileLink>,
}

/// A validated topology.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topology {
    /// Sites.
    pub sites: Vec<Site>,
    /// Links.
    pub links: Vec<Link>,
}

fn valid_name(n: &str) -> bool {
    !n.is_empty()
        && n.len() <= 63
        && n.chars().all(|c| {
            c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_' || c == '.'
        })
}

/// Checks a site as given by a file or the admin API.
pub fn check_site(s: &Site) -> Result<(), String> {
    if !valid_name(&s.name) {
        return Err(format!(
            "site name '{}' must be 1-63 characters of a-z, 0-9, '-', '_' or '.'",
            s.name
        ));
    }
    if s.s_tags.is_empty() {
        return Err(format!("site '{}' needs at least one S-tag range", s.name));
    }
    Ok(())
}

fn link_of(a: &str, b: &str, l: &FileLink, default: Option<i64>) -> Result<Link, String> {
    let ab = l.capacity_ab.or(l.capacity).or(default);
    let ba = l.capacity_ba.or(l.capacity).or(default);
    match (ab, ba) {
        (Some(ab), Some(ba)) if ab > 0 && ba > 0 => Ok(Link {
            site_a: a.into(),
            site_b: b.into(),
            capacity_ab: ab,
            capacity_ba: ba,
        }),
        _ => Err(format!(
            "link {a} <-> {b} needs a positive capacity (capacity, or capacity_ab and capacity_ba, in Mbps)"
        )),
    }
}

/// Parses a topology file (`.yaml`/`.yml` as YAML, anything else as TOML).
pub fn parse(text: &str, yaml: bool) -> Result<Topology, String> {
    let file: TopologyFile = if yaml {
        yaml_serde::from_str(text).map_err(|e| e.to_string())?
    } else {
        toml::from_str(text).map_err(|e| e.to_string())?
    };
    let mut names = BTreeSet::new();
    for s in &file.sites {
        check_site(s)?;
        if !names.insert(s.name.clone()) {
            return Err(format!("site '{}' is listed twice", s.name));
        }
    }
    let mut links = Vec::new();
    let mut seen = BTreeSet::new();
    for l in &file.links {
        let [a, b] = &l.sites;
        for s in [a, b] {
            if !names.contains(s) {
                return Err(format!(
                    "link {a} <-> {b}: site '{s}' is not listed under [[sites]]"
                ));
            }
        }
        if a == b {
            return Err(format!("link {a} <-> {b} joins a site to itself"));
        }
        if !seen.insert(Link::key(a, b)) {
            return Err(format!("link {a} <-> {b} is listed twice"));
        }
        links.push(link_of(a, b, l, file.default_capacity)?);
    }
    if file.full_mesh {
        let all: Vec<&String> = names.iter().collect();
        for (i, a) in all.iter().enumerate() {
            for b in &all[i + 1..] {
                if seen.insert(Link::key(a, b)) {
                    let none = FileLink {
                        sites: [(*a).clone(), (*b).clone()],
                        capacity: None,
                        capacity_ab: None,
                        capacity_ba: None,
                    };
                    links.push(link_of(a, b, &none, file.default_capacity)?);
                }
            }
        }
    }
    Ok(Topology {
        sites: file.sites,
        links,
    })
}

async fn require_admin(
    state: &SlicesState,
    headers: &HeaderMap,
    method: &str,
) -> Result<(), SlicesError> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(s, _)| s.eq_ignore_ascii_case("bearer"))
        .map(|(_, t)| t.trim().to_string())
        .ok_or_else(|| {
            SlicesError::header_auth(
                "send a netorch administrator token as 'Authorization: Bearer <token>'",
            )
        })?;
    let session = state
        .deps
        .identity
        .authenticate(&token)
        .await
        .map_err(|e| match e {
            // An outage is not the caller's fault: 503, and the store's text stays in the log.
            netorch_auth::AuthError::Store(s) => SlicesError::from(s),
            other => SlicesError::header_auth(other.to_string()),
        })?;
    if !session.is_admin(method) {
        return Err(SlicesError::Forbidden(
            "changing the topology needs a netorch administrator (system_admin role)".into(),
        ));
    }
    Ok(())
}

fn body<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, SlicesError> {
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let mut loc: Vec<Value> = vec!["body".into()];
        loc.extend(
            e.path()
                .to_string()
                .split('.')
                .filter(|p| !p.is_empty() && *p != "?")
                .map(|p| Value::String(p.into())),
        );
        SlicesError::Validation(vec![Detail {
            loc,
            msg: e.inner().to_string(),
            kind: "value_error".into(),
        }])
    })
}

/// `GET /apis/v1alpha1/sites`
#[utoipa::path(get, path = "/apis/v1alpha1/sites", tag = "slices-topology",
    responses((status = 200, description = "Sites with their VLAN pools")))]
pub async fn list_sites(State(state): State<SlicesState>) -> Result<Response, SlicesError> {
    Ok(Json(state.deps.repo.list_sites().await?).into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SiteBody {
    #[serde(default)]
    description: String,
    s_tags: Vec<TagRange>,
    #[serde(default)]
    c_tags: Vec<TagRange>,
}

/// `PUT /apis/v1alpha1/sites/{name}` (administrators).
#[utoipa::path(put, path = "/apis/v1alpha1/sites/{name}", tag = "slices-topology",
    params(("name" = String, Path, description = "Site name")),
    request_body(content = Object, description = "{\"description\": \"...\", \"s_tags\": [\"100-199\"], \"c_tags\": [\"100-4000\"]}"),
    responses((status = 200, description = "Created or replaced"), (status = 403, description = "Not an administrator")))]
pub async fn put_site(
    State(state): State<SlicesState>,
    Path(name): Path<String>,
    headers: HeaderMap,
    Body(raw): Body,
) -> Result<Response, SlicesError> {
    require_admin(&state, &headers, "put").await?;
    let b: SiteBody = body(&raw)?;
    let site = Site {
        name,
        description: b.description,
        s_tags: b.s_tags,
        c_tags: b.c_tags,
    };
    check_site(&site).map_err(|m| SlicesError::Invalid(Loc::Site, m))?;
    state.deps.repo.put_site(&site).await?;
    Ok(Json(site).into_response())
}

/// `DELETE /apis/v1alpha1/sites/{name}` (administrators; refused while links remain).
#[utoipa::path(delete, path = "/apis/v1alpha1/sites/{name}", tag = "slices-topology",
    params(("name" = String, Path, description = "Site name")),
    responses((status = 204, description = "Deleted"), (status = 409, description = "Still linked")))]
pub async fn delete_site(
    State(state): State<SlicesState>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Result<Response, SlicesError> {
    require_admin(&state, &headers, "delete").await?;
    state.deps.repo.delete_site(&name).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `GET /apis/v1alpha1/links`
#[utoipa::path(get, path = "/apis/v1alpha1/links", tag = "slices-topology",
    responses((status = 200, description = "Links with capacities per direction (Mbps)")))]
pub async fn list_links(State(state): State<SlicesState>) -> Result<Response, SlicesError> {
    Ok(Json(state.deps.repo.list_links().await?).into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LinkBody {
    capacity: Option<i64>,
    capacity_ab: Option<i64>,
    capacity_ba: Option<i64>,
}

/// `PUT /apis/v1alpha1/links/{site_a}/{site_b}` (administrators).
#[utoipa::path(put, path = "/apis/v1alpha1/links/{site_a}/{site_b}", tag = "slices-topology",
    params(("site_a" = String, Path, description = "One end"), ("site_b" = String, Path, description = "Other end")),
    request_body(content = Object, description = "{\"capacity\": 10000} or {\"capacity_ab\": 2000, \"capacity_ba\": 1000} (Mbps)"),
    responses((status = 200, description = "Created or replaced")))]
pub async fn put_link(
    State(state): State<SlicesState>,
    Path((a, b)): Path<(String, String)>,
    headers: HeaderMap,
    Body(raw): Body,
) -> Result<Response, SlicesError> {
    require_admin(&state, &headers, "put").await?;
    let body: LinkBody = body(&raw)?;
    if a == b {
        return Err(SlicesError::Invalid(
            Loc::Site,
            format!("a link joins two different sites; both ends are '{a}'"),
        ));
    }
    let file = FileLink {
        sites: [a.clone(), b.clone()],
        capacity: body.capacity,
        capacity_ab: body.capacity_ab,
        capacity_ba: body.capacity_ba,
    };
    let link = link_of(&a, &b, &file, None).map_err(|m| SlicesError::Invalid(Loc::Bandwidth, m))?;
    state.deps.repo.put_link(&link).await.map_err(|e| match e {
        netorch_core::StoreError::NotFound { .. } => SlicesError::Invalid(
            Loc::Site,
            format!("both sites must exist before linking them ({a}, {b})"),
        ),
        other => other.into(),
    })?;
    Ok(Json(link).into_response())
}

/// `DELETE /apis/v1alpha1/links/{site_a}/{site_b}` (administrators; refused while reservations
/// use it).
#[utoipa::path(delete, path = "/apis/v1alpha1/links/{site_a}/{site_b}", tag = "slices-topology",
    params(("site_a" = String, Path, description = "One end"), ("site_b" = String, Path, description = "Other end")),
    responses((status = 204, description = "Deleted"), (status = 409, description = "Active reservations use it")))]
pub async fn delete_link(
    State(state): State<SlicesState>,
    Path((a, b)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, SlicesError> {
    require_admin(&state, &headers, "delete").await?;
    state.deps.repo.delete_link(&a, &b).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_topology_has_the_twelve_seed_sites_fully_meshed() {
        let t = parse(DEFAULT_TOPOLOGY, false).expect("default topology");
        assert_eq!(t.sites.len(), 12);
        assert_eq!(t.links.len(), 12 * 11 / 2);
        let asym = t
            .links
            .iter()
            .find(|l| Link::key(&l.site_a, &l.site_b) == Link::key("gr-uth", "pl-poznan1"))
            .expect("asymmetric link");
        assert_eq!((asym.capacity_ab, asym.capacity_ba), (2000, 1000));
    }

    #[test]
    fn topology_files_with_unknown_sites_or_duplicates_are_refused() {
        let bad = "[[sites]]\nname = \"a\"\ns_tags = [\"10-20\"]\n[[links]]\nsites = [\"a\", \"b\"]\ncapacity = 10\n";
        assert!(parse(bad, false).expect_err("refused").contains("'b'"));
        let twice = "sites:\n - {name: a, s_tags: ['1-5']}\n - {name: a, s_tags: ['1-5']}\n";
        assert!(parse(twice, true).expect_err("refused").contains("twice"));
        let no_cap = "full_mesh: true\nsites:\n - {name: a, s_tags: ['1-5']}\n - {name: b, s_tags: ['1-5']}\n";
        assert!(
            parse(no_cap, true)
                .expect_err("refused")
                .contains("capacity")
        );
    }
}
