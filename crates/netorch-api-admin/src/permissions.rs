//! The OSM NBI's RBAC permission nodes (its URL table), registered here so that roles may name
//! them before every family is mounted. Families add their own nodes for non-OSM APIs.

use netorch_auth::PermissionSpec;

/// OSM `main_topic` values.
pub const MAIN_TOPICS: [&str; 9] = [
    "admin", "vnfpkgm", "nsd", "nslcm", "pdu", "nst", "nsilcm", "nspm", "nsfm",
];

const GP: &[&str] = &["get", "post"];
const GDP: &[&str] = &["get", "delete", "patch", "put"];
const G: &[&str] = &["get"];
const P: &[&str] = &["post"];
const GPUT: &[&str] = &["get", "put"];
const GD: &[&str] = &["get", "delete"];

macro_rules! spec {
    ($p:literal, $m:expr) => {
        PermissionSpec {
            prefix: $p,
            methods: $m,
        }
    };
}

/// Every permission node of the OSM NBI.
pub const OSM_PERMISSIONS: &[PermissionSpec] = &[
    spec!("tokens:", &["get", "post", "delete"]),
    spec!("tokens:id:", GD),
    spec!("users:", GP),
    spec!("users:id:", GDP),
    spec!("projects:", GP),
    spec!("projects:id:", GDP),
    spec!("roles:", GP),
    spec!("roles:id:", GDP),
    spec!("domains:", G),
    spec!("vims:", GP),
    spec!("vims:id:", GDP),
    spec!("vim_accounts:", GP),
    spec!("vim_accounts:id:", GDP),
    spec!("wim_accounts:", GP),
    spec!("wim_accounts:id:", GDP),
    spec!("sdn_controllers:", GP),
    spec!("sdn_controllers:id:", GDP),
    spec!("k8sclusters:", GP),
    spec!("k8sclusters:id:", GDP),
    spec!("vca:", GP),
    spec!("vca:id:", GDP),
    spec!("k8srepos:", GP),
    spec!("k8srepos:id:", GD),
    spec!("osmrepos:", GP),
    spec!("osmrepos:id:", GDP),
    spec!("pduds:", GP),
    spec!("pduds:id:", &["get", "post", "delete", "patch", "put"]),
    spec!("nsds:", GP),
    spec!("nsds:content:", GP),
    spec!("nsds:id:", GDP),
    spec!("nsds:id:content:", GPUT),
    spec!("nsds:id:nsd:", G),
    spec!("nsds:id:nsd_artifact:", G),
    spec!("vnfds:", GP),
    spec!("vnfds:content:", GP),
    spec!("vnfds:id:", GDP),
    spec!("vnfds:id:content:", GPUT),
    spec!("vnfds:id:upload:", P),
    spec!("vnfds:id:vnfd:", G),
    spec!("vnfds:id:vnfd_artifact:", G),
    spec!("vnfds:id:action:", P),
    spec!("vnfds:vnfpkgops:", G),
    spec!("vnfds:vnfpkgops:id:", G),
    spec!("ns_instances:", GP),
    spec!("ns_instances:content:", GP),
    spec!("ns_instances:id:", GD),
    spec!("ns_instances:id:instantiate:", P),
    spec!("ns_instances:id:terminate:", P),
    spec!("ns_instances:id:action:", P),
    spec!("ns_instances:id:scale:", P),
    spec!("ns_instances:id:update:", P),
    spec!("ns_instances:id:heal:", P),
    spec!("ns_instances:id:migrate:", P),
    spec!("ns_instances:opps:", G),
    spec!("ns_instances:opps:id:", G),
    spec!("ns_instances:opps:cancel:", P),
    spec!("vnf_instances:", G),
    spec!("vnf_instances:id:", G),
    spec!("ns_subscriptions:", GP),
    spec!("ns_subscriptions:id:", GD),
    spec!("slice_templates:", GP),
    spec!("slice_templates:content:", GP),
    spec!("slice_templates:id:", GDP),
    spec!("slice_templates:id:content:", GPUT),
    spec!("slice_templates:id:nst:", G),
    spec!("slice_templates:id:nst_artifact:", G),
    spec!("slice_instances:", GP),
    spec!("slice_instances:content:", GP),
    spec!("slice_instances:id:", GD),
    spec!("slice_instances:id:instantiate:", P),
    spec!("slice_instances:id:terminate:", P),
    spec!("slice_instances:id:action:", P),
    spec!("slice_instances:opps:", G),
    spec!("slice_instances:opps:id:", G),
    spec!("reports:id:", G),
    spec!("alarms:", G),
    spec!("alarms:id:", &["get", "patch"]),
];
