//! The five default roles created at first start (OSM `roles_to_operations.yml`).

use std::collections::BTreeMap;

fn map(pairs: &[(&str, bool)]) -> BTreeMap<String, bool> {
    pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
}

/// `(name, permissions)` of the default roles.
pub fn default_roles() -> Vec<(&'static str, BTreeMap<String, bool>)> {
    let mut project_user = vec![
        ("default", false),
        ("admin", false),
        ("force", false),
        ("public", true),
        ("set_project", true),
        ("vnfds", true),
        ("nsds", true),
        ("slice_templates", true),
        ("ns_instances", true),
        ("vnf_instances", true),
        ("slice_instances", true),
        ("projects", false),
        ("roles", false),
        ("users", false),
        ("users:id:patch", true),
        ("k8srepos", true),
        ("osmrepos", true),
    ];
    // Infrastructure accounts are read-only for project users.
    const READ_ONLY: [(&str, &str, &str); 8] = [
        ("vims", "vims:get", "vims:id:get"),
        ("vim_accounts", "vim_accounts:get", "vim_accounts:id:get"),
        (
            "sdn_controllers",
            "sdn_controllers:get",
            "sdn_controllers:id:get",
        ),
        ("k8sclusters", "k8sclusters:get", "k8sclusters:id:get"),
        ("vca", "vca:get", "vca:id:get"),
        ("wim_accounts", "wim_accounts:get", "wim_accounts:id:get"),
        ("pduds", "pduds:get", "pduds:id:get"),
        ("alarms", "alarms:get", "alarms:id:get"),
    ];
    for (node, get, id_get) in READ_ONLY {
        project_user.push((node, false));
        project_user.push((get, true));
        project_user.push((id_get, true));
    }
    vec![
        ("system_admin", map(&[("default", true), ("admin", true)])),
        (
            "account_manager",
            map(&[
                ("default", false),
                ("admin", false),
                ("force", true),
                ("tokens", true),
                ("users", true),
                ("projects", true),
                ("roles", true),
            ]),
        ),
        (
            "project_admin",
            map(&[
                ("default", true),
                ("admin", false),
                ("projects", false),
                ("roles", false),
                ("users", false),
                ("users:id:patch", true),
            ]),
        ),
        ("project_user", map(&project_user)),
        ("anonymous", BTreeMap::new()),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rbac::role_grants;

    #[test]
    fn project_users_read_but_do_not_edit_vim_accounts() {
        let roles = default_roles();
        let (_, pu) = roles
            .iter()
            .find(|(n, _)| *n == "project_user")
            .expect("role");
        assert!(role_grants(pu, "vim_accounts:get"));
        assert!(role_grants(pu, "vim_accounts:id:get"));
        assert!(!role_grants(pu, "vim_accounts:post"));
        assert!(!role_grants(pu, "users:post"));
        assert!(role_grants(pu, "users:id:patch"));
        assert!(role_grants(pu, "vnfds:id:delete"));
    }

    #[test]
    fn system_admin_holds_everything() {
        let roles = default_roles();
        let (_, sa) = roles
            .iter()
            .find(|(n, _)| *n == "system_admin")
            .expect("role");
        assert!(role_grants(sa, "users:post"));
        assert!(role_grants(sa, "admin:get"));
    }
}
