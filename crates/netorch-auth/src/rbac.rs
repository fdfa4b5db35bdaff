//! OSM's RBAC permission tree.
//!
//! A permission is a string such as `users:id:patch` (the URL node's key plus the lower-case
//! method). A role maps keys to booleans; a key applies to every permission it is a string prefix
//! of. Resolution: the role's `default` (false if absent), overridden by the most specific key
//! that matches — more `:` separators first, then the longer key.

use std::collections::{BTreeMap, BTreeSet};

use crate::AuthError;

/// The admin query strings and the permission prefix each needs.
pub const ADMIN_QUERY_STRINGS: [&str; 4] = ["admin", "force", "public", "set_project"];

/// HTTP methods that appear in permission keys.
pub const METHODS: [&str; 5] = ["get", "put", "patch", "post", "delete"];

/// Whether a role's permission map grants `permission`.
pub fn role_grants(permissions: &BTreeMap<String, bool>, permission: &str) -> bool {
    let mut best: Option<((usize, usize), bool)> = None;
    for (key, value) in permissions {
        if key == "default" || !permission.starts_with(key.as_str()) {
            continue;
        }
        let score = (key.matches(':').count(), key.len());
        if best.is_none_or(|(b, _)| score > b) {
            best = Some((score, *value));
        }
    }
    match best {
        Some((_, v)) => v,
        None => permissions.get("default").copied().unwrap_or(false),
    }
}

/// One node of a family's URL table: its permission prefix (ending in `:`) and allowed methods.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PermissionSpec {
    /// E.g. `users:id:`.
    pub prefix: &'static str,
    /// Lower-case methods, e.g. `["get", "patch"]`.
    pub methods: &'static [&'static str],
}

/// Every concrete permission the running server knows (families register theirs). Used to
/// validate the keys of roles created through the API.
#[derive(Debug, Clone, Default)]
pub struct PermissionCatalog {
    permissions: BTreeSet<String>,
}

impl PermissionCatalog {
    /// A catalog with the admin query-string permissions and the given specs.
    pub fn new<'a>(specs: impl IntoIterator<Item = &'a PermissionSpec>) -> Self {
        let mut permissions = BTreeSet::new();
        for qs in ADMIN_QUERY_STRINGS {
            for m in METHODS {
                permissions.insert(format!("{qs}:{m}"));
            }
        }
        for s in specs {
            for m in s.methods {
                permissions.insert(format!("{}{m}", s.prefix));
            }
        }
        Self { permissions }
    }

    /// All permissions, sorted.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.permissions.iter().map(String::as_str)
    }

    /// Checks a role key: `default`, an existing permission, or an inner node (a prefix that is
    /// followed by `:` in some permission). Keys ending in `:` are refused, as OSM does.
    pub fn validate_key(&self, key: &str) -> Result<(), AuthError> {
        if key == "default" || key == "admin" {
            return Ok(());
        }
        if key.ends_with(':') {
            return Err(AuthError::Invalid(format!(
                "Invalid permission '{key}'. Operation cannot end with ':'"
            )));
        }
        let inner = format!("{key}:");
        let known = self.permissions.contains(key)
            || self
                .permissions
                .range(inner.clone()..)
                .next()
                .is_some_and(|p| p.starts_with(&inner));
        if known {
            Ok(())
        } else {
            Err(AuthError::Invalid(format!("Invalid permission '{key}'")))
        }
    }
}

/// The admin query strings of one request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AdminQuery {
    /// `FORCE`: skip dependency checks.
    pub force: bool,
    /// `PUBLIC` / `PUBLIC=false`: include/exclude public records, or make a record public.
    pub public: Option<bool>,
    /// `ADMIN` (all projects: empty list) or `ADMIN=p1,p2`.
    pub admin: Option<Vec<String>>,
    /// `SET_PROJECT` (empty: none named) or `SET_PROJECT=p1,p2`.
    pub set_project: Option<Vec<String>>,
}

fn truthy(v: &str) -> bool {
    !v.eq_ignore_ascii_case("false")
}

fn names(v: &str) -> Vec<String> {
    if v.is_empty() || v.eq_ignore_ascii_case("true") {
        Vec::new()
    } else {
        v.split(',')
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect()
    }
}

impl AdminQuery {
    /// Splits the admin query strings (case-sensitive upper-case keys, as OSM) from the others.
    /// `METHOD` is dropped: it is a method override, handled by the HTTP layer.
    pub fn split(pairs: Vec<(String, String)>) -> (Self, Vec<(String, String)>) {
        let mut q = AdminQuery::default();
        let mut rest = Vec::new();
        for (k, v) in pairs {
            match k.as_str() {
                "FORCE" => q.force = truthy(&v),
                "PUBLIC" => q.public = Some(truthy(&v)),
                "ADMIN" => q.admin = truthy(&v).then(|| names(&v)),
                "SET_PROJECT" => q.set_project = truthy(&v).then(|| names(&v)),
                "METHOD" => {}
                _ => rest.push((k, v)),
            }
        }
        (q, rest)
    }

    /// The query strings whose permission must be held (present and not `false`).
    pub fn required(&self) -> Vec<&'static str> {
        let mut out = Vec::new();
        if self.admin.is_some() {
            out.push("admin");
        }
        if self.force {
            out.push("force");
        }
        if self.public == Some(true) {
            out.push("public");
        }
        if self.set_project.is_some() {
            out.push("set_project");
        }
        out
    }
}

/// How much of a resource the caller may see after authorisation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grant {
    /// The permission is held.
    Full,
    /// OSM "bug 853" rule: listing/reading users, projects and roles is allowed without the
    /// permission, restricted to the caller's own user, projects and roles.
    OwnOnly,
}

/// Permissions granted to everyone in the restricted form (OSM bug 853).
const OWN_ONLY: [&str; 6] = [
    "projects:get",
    "projects:id:get",
    "roles:get",
    "roles:id:get",
    "users:get",
    "users:id:get",
];

/// Decides a request given the caller's roles (their permission maps).
pub fn authorize<'a>(
    roles: impl IntoIterator<Item = &'a BTreeMap<String, bool>> + Clone,
    permission: &str,
    method: &str,
    qs: &AdminQuery,
) -> Result<Grant, AuthError> {
    let required = qs.required();
    let mut op_granted = false;
    for perms in roles.clone() {
        if perms.get("anonymous").copied().unwrap_or(false) {
            return Ok(Grant::Full);
        }
        if !role_grants(perms, permission) {
            continue;
        }
        op_granted = true;
        if required
            .iter()
            .all(|q| role_grants(perms, &format!("{q}:{method}")))
        {
            return Ok(Grant::Full);
        }
    }
    if op_granted {
        return Err(AuthError::Denied(
            "Access denied: You have not permissions to use these admin query string".into(),
        ));
    }
    if OWN_ONLY.contains(&permission) {
        // OSM lets these through (filtered to the caller's own records) and only then looks at
        // the admin query strings.
        if required.is_empty() {
            return Ok(Grant::OwnOnly);
        }
        let admin = roles
            .clone()
            .into_iter()
            .any(|p| role_grants(p, &format!("admin:{method}")));
        return Err(AuthError::Denied(
            if required.contains(&"admin") && !admin {
                "Only admin projects can use 'ADMIN' query string".into()
            } else {
                "Access denied: You have not permissions to use these admin query string".into()
            },
        ));
    }
    Err(AuthError::Denied(
        "Access denied: lack of permissions.".into(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn role(pairs: &[(&str, bool)]) -> BTreeMap<String, bool> {
        pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
    }

    #[test]
    fn default_applies_when_no_key_matches() {
        assert!(role_grants(&role(&[("default", true)]), "vnfds:get"));
        assert!(!role_grants(&role(&[("default", false)]), "vnfds:get"));
        assert!(
            !role_grants(&role(&[]), "vnfds:get"),
            "missing default means denied"
        );
    }

    #[test]
    fn keys_match_by_string_prefix() {
        let r = role(&[("default", false), ("vims", true)]);
        assert!(r.keys().count() == 2);
        assert!(role_grants(&r, "vims:get"));
        assert!(role_grants(&r, "vims:id:delete"));
        assert!(!role_grants(&r, "vim_accounts:get"));
        // A pure string prefix, exactly as OSM: "k8scluster" also covers "k8sclusters:*".
        assert!(role_grants(
            &role(&[("k8scluster", true)]),
            "k8sclusters:get"
        ));
    }

    #[test]
    fn the_most_specific_key_wins() {
        let r = role(&[
            ("default", true),
            ("users", false),
            ("users:id:patch", true),
        ]);
        assert!(!role_grants(&r, "users:post"));
        assert!(!role_grants(&r, "users:id:get"));
        assert!(role_grants(&r, "users:id:patch"));
        assert!(role_grants(&r, "vnfds:get"));
        let r = role(&[("vims", false), ("vims:get", true), ("vims:id:get", true)]);
        assert!(role_grants(&r, "vims:get"));
        assert!(role_grants(&r, "vims:id:get"));
        assert!(!role_grants(&r, "vims:post"));
        assert!(!role_grants(&r, "vims:id:delete"));
    }

    #[test]
    fn with_equal_depth_the_longer_key_wins() {
        let r = role(&[("vim", true), ("vims", false)]);
        assert!(!role_grants(&r, "vims:get"));
        assert!(role_grants(&r, "vim_accounts:get"));
    }

    #[test]
    fn admin_query_strings_need_their_own_permission_in_the_same_role() {
        let user = role(&[("default", false), ("vnfds", true), ("public", true)]);
        let qs = AdminQuery {
            admin: Some(vec![]),
            ..Default::default()
        };
        let e = authorize([&user], "vnfds:get", "get", &qs).expect_err("ADMIN needs admin:get");
        assert!(e.to_string().contains("admin query string"));
        let public = AdminQuery {
            public: Some(true),
            ..Default::default()
        };
        assert_eq!(
            authorize([&user], "vnfds:get", "get", &public).ok(),
            Some(Grant::Full)
        );
        // A role that holds admin but not the operation does not lend it to another role.
        let admin_only = role(&[("admin", true)]);
        assert!(authorize([&user, &admin_only], "vnfds:get", "get", &qs).is_err());
        let sysadmin = role(&[("default", true), ("admin", true)]);
        assert_eq!(
            authorize([&sysadmin], "vnfds:get", "get", &qs).ok(),
            Some(Grant::Full)
        );
    }

    #[test]
    fn users_projects_and_roles_may_be_read_in_restricted_form_without_permission() {
        let user = role(&[("default", false), ("users", false)]);
        let none = AdminQuery::default();
        assert_eq!(
            authorize([&user], "users:get", "get", &none).ok(),
            Some(Grant::OwnOnly)
        );
        assert!(authorize([&user], "users:post", "post", &none).is_err());
        let admin = AdminQuery {
            admin: Some(vec![]),
            ..Default::default()
        };
        let e = authorize([&user], "users:get", "get", &admin).expect_err("not an admin");
        assert_eq!(
            e.to_string(),
            "Only admin projects can use 'ADMIN' query string"
        );
    }

    #[test]
    fn admin_query_strings_are_parsed_as_osm_does() {
        let pairs = vec![
            ("ADMIN".to_string(), "p1,p2".to_string()),
            ("FORCE".to_string(), "".to_string()),
            ("PUBLIC".to_string(), "false".to_string()),
            ("name".to_string(), "x".to_string()),
        ];
        let (q, rest) = AdminQuery::split(pairs);
        assert_eq!(q.admin, Some(vec!["p1".to_string(), "p2".to_string()]));
        assert!(q.force);
        assert_eq!(q.public, Some(false));
        assert_eq!(rest, vec![("name".to_string(), "x".to_string())]);
        assert_eq!(q.required(), vec!["admin", "force"]);
        let (q, _) = AdminQuery::split(vec![("ADMIN".into(), "false".into())]);
        assert_eq!(q.admin, None);
    }

    #[test]
    fn role_keys_are_validated_against_the_catalog() {
        let c = PermissionCatalog::new(&[PermissionSpec {
            prefix: "users:id:",
            methods: &["get", "patch"],
        }]);
        assert!(c.validate_key("users").is_ok());
        assert!(c.validate_key("users:id").is_ok());
        assert!(c.validate_key("users:id:patch").is_ok());
        assert!(c.validate_key("admin").is_ok());
        assert!(c.validate_key("force:get").is_ok());
        assert!(c.validate_key("users:").is_err());
        assert!(c.validate_key("user").is_err());
        assert!(c.validate_key("nothing").is_err());
    }
}
