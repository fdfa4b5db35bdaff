//! What an NS consists of, read from its onboarded descriptors: the member VNFs of the NSD's
//! deployment flavour, the virtual links, and each VNFD's VDUs with the capacity they need.
//! Both descriptor formats OSM accepts are read: ETSI SOL006 and the legacy OSM-IM catalogs.

use netorch_core::cloud::Demand;
use serde_json::Value;

/// One member VNF of an NS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// `member-vnf-index` (SOL006: the vnf-profile id).
    pub index: String,
    /// The VNFD's descriptor id.
    pub vnfd_id: String,
}

/// One virtual link of an NS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    /// Its id in the NSD.
    pub id: String,
    /// Whether it is the management network.
    pub mgmt: bool,
    /// Member indexes connected to it.
    pub members: Vec<String>,
}

/// The members and links of an NSD.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NsModel {
    /// Member VNFs, in descriptor order.
    pub members: Vec<Member>,
    /// Virtual links, in descriptor order.
    pub links: Vec<Link>,
}

/// One VDU of a VNFD.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vdu {
    /// Its id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// Image name, if the descriptor gives one.
    pub image: Option<String>,
    /// Capacity per instance.
    pub demand: Demand,
    /// Instances deployed at instantiation.
    pub min: u32,
    /// Instances scaling may reach.
    pub max: u32,
    /// A physical deployment unit of this type (a PDU registered for the VIM) instead of a server.
    pub pdu_type: Option<String>,
}

/// The VDUs of a VNFD.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VnfModel {
    /// VDUs in descriptor order.
    pub vdus: Vec<Vdu>,
}

fn items(v: &Value) -> impl Iterator<Item = &Value> {
    v.as_array().into_iter().flatten()
}

fn text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// A number that descriptors write as a number or a string.
fn number(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// The members and links of a stored NSD (`descriptor-format` in `_admin` says which format).
pub fn ns_model(nsd: &Value) -> NsModel {
    let profiles: Vec<&Value> = items(&nsd["df"])
        .next()
        .map(|df| items(&df["vnf-profile"]).collect())
        .unwrap_or_default();
    if !profiles.is_empty() || nsd["virtual-link-desc"].is_array() {
        let members = profiles
            .iter()
            .filter_map(|p| {
                Some(Member {
                    index: text(&p["id"])?,
                    vnfd_id: text(&p["vnfd-id"])?,
                })
            })
            .collect();
        let links = items(&nsd["virtual-link-desc"])
            .filter_map(|l| {
                let id = text(&l["id"])?;
                let members = profiles
                    .iter()
                    .filter(|p| {
                        items(&p["virtual-link-connectivity"])
                            .any(|c| c["virtual-link-profile-id"].as_str() == Some(id.as_str()))
                    })
                    .filter_map(|p| text(&p["id"]))
                    .collect();
                Some(Link {
                    mgmt: l["mgmt-network"].as_bool().unwrap_or(false),
                    id,
                    members,
                })
            })
            .collect();
        return NsModel { members, links };
    }
    let members = items(&nsd["constituent-vnfd"])
        .filter_map(|c| {
            Some(Member {
                index: text(&c["member-vnf-index"])?,
                vnfd_id: text(&c["vnfd-id-ref"])?,
            })
        })
        .collect();
    let links = items(&nsd["vld"])
        .filter_map(|l| {
            let mut members: Vec<String> = items(&l["vnfd-connection-point-ref"])
                .filter_map(|r| text(&r["member-vnf-index-ref"]))
                .collect();
            members.dedup();
            Some(Link {
                mgmt: l["mgmt-network"].as_bool().unwrap_or(false),
                id: text(&l["id"])?,
                members,
            })
        })
        .collect();
    NsModel { members, links }
}

/// The VDUs of a stored VNFD.
pub fn vnf_model(vnfd: &Value) -> VnfModel {
    let find = |list: &str, id: &Value| -> Value {
        items(&vnfd[list])
            .find(|x| id.is_string() && x["id"] == *id)
            .cloned()
            .unwrap_or(Value::Null)
    };
    let profiles: Vec<&Value> = items(&vnfd["df"])
        .next()
        .map(|df| items(&df["vdu-profile"]).collect())
        .unwrap_or_default();
    let vdus = items(&vnfd["vdu"])
        .filter_map(|v| {
            let id = text(&v["id"])?;
            let (demand, image, min, max) = if v["vm-flavor"].is_object() {
                // OSM-IM: the flavour and the count sit on the VDU.
                let f = &v["vm-flavor"];
                let count = number(&v["count"]).unwrap_or(1.0).max(0.0) as u32;
                (
                    Demand {
                        vcpus: number(&f["vcpu-count"]).unwrap_or(1.0).max(0.0) as u64,
                        ram_mb: number(&f["memory-mb"]).unwrap_or(512.0).max(0.0) as u64,
                        disk_gb: number(&f["storage-gb"]).unwrap_or(1.0).max(0.0) as u64,
                    },
                    text(&v["image"]),
                    count,
                    count.max(1),
                )
            } else {
                let compute = find("virtual-compute-desc", &v["virtual-compute-desc"]);
                let disk: f64 = match &v["virtual-storage-desc"] {
                    Value::Array(ids) => ids
                        .iter()
                        .map(|s| {
                            number(&find("virtual-storage-desc", s)["size-of-storage"])
                                .unwrap_or(0.0)
                        })
                        .sum(),
                    s @ Value::String(_) => {
                        number(&find("virtual-storage-desc", s)["size-of-storage"]).unwrap_or(0.0)
                    }
                    _ => 0.0,
                };
                let image = find("sw-image-desc", &v["sw-image-desc"]);
                let profile = profiles
                    .iter()
                    .find(|p| p["id"].as_str() == Some(id.as_str()));
                let min = profile
                    .and_then(|p| number(&p["min-number-of-instances"]))
                    .unwrap_or(1.0)
                    .max(0.0) as u32;
                let max = profile
                    .and_then(|p| number(&p["max-number-of-instances"]))
                    .map(|m| m.max(0.0) as u32)
                    .unwrap_or(min)
                    .max(min);
                (
                    Demand {
                        vcpus: number(&compute["virtual-cpu"]["num-virtual-cpu"])
                            .unwrap_or(1.0)
                            .max(0.0) as u64,
                        // SOL006 gives memory in GB.
                        ram_mb: (number(&compute["virtual-memory"]["size"]).unwrap_or(0.5) * 1024.0)
                            .max(0.0)
                            .round() as u64,
                        disk_gb: disk.max(0.0).ceil() as u64,
                    },
                    text(&image["image"])
                        .or_else(|| text(&image["name"]))
                        .or_else(|| text(&v["sw-image-desc"])),
                    min,
                    max,
                )
            };
            let pdu_type = text(&v["pdu-type"]);
            Some(Vdu {
                name: text(&v["name"]).unwrap_or_else(|| id.clone()),
                id,
                image,
                // A PDU takes no capacity from the VIM.
                demand: if pdu_type.is_some() {
                    Demand::default()
                } else {
                    demand
                },
                min,
                max,
                pdu_type,
            })
        })
        .collect();
    VnfModel { vdus }
}

impl VnfModel {
    /// PDUs the VNF needs at instantiation, by type.
    pub fn pdus(&self) -> Vec<(String, u64)> {
        let mut out: Vec<(String, u64)> = Vec::new();
        for v in &self.vdus {
            if let Some(t) = &v.pdu_type {
                match out.iter_mut().find(|(x, _)| x == t) {
                    Some((_, n)) => *n += u64::from(v.min),
                    None => out.push((t.clone(), u64::from(v.min))),
                }
            }
        }
        out
    }

    /// Capacity the VNF needs at instantiation (PDU VDUs need none).
    pub fn demand(&self) -> (Demand, u64) {
        let mut d = Demand::default();
        let mut n = 0;
        for v in self.vdus.iter().filter(|v| v.pdu_type.is_none()) {
            let k = u64::from(v.min);
            d.vcpus += v.demand.vcpus * k;
            d.ram_mb += v.demand.ram_mb * k;
            d.disk_gb += v.demand.disk_gb * k;
            n += k;
        }
        (d, n)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn sol006_descriptors_give_members_links_and_vdu_demands() {
        let nsd = json!({"id": "ns", "virtual-link-desc": [{"id": "mgmt", "mgmt-network": true}, {"id": "data"}],
            "df": [{"id": "d", "vnf-profile": [
                {"id": "1", "vnfd-id": "a", "virtual-link-connectivity": [{"virtual-link-profile-id": "mgmt"}, {"virtual-link-profile-id": "data"}]},
                {"id": "2", "vnfd-id": "b", "virtual-link-connectivity": [{"virtual-link-profile-id": "data"}]}]}]});
        let m = ns_model(&nsd);
        assert_eq!(
            m.members
                .iter()
                .map(|x| (x.index.as_str(), x.vnfd_id.as_str()))
                .collect::<Vec<_>>(),
            [("1", "a"), ("2", "b")]
        );
        assert_eq!(
            m.links[0],
            Link {
                id: "mgmt".into(),
                mgmt: true,
                members: vec!["1".into()]
            }
        );
        assert_eq!(m.links[1].members, ["1", "2"]);
        let vnfd = json!({"id": "a",
            "vdu": [{"id": "vm", "name": "VM", "sw-image-desc": "img", "virtual-compute-desc": "c", "virtual-storage-desc": ["s"]}],
            "virtual-compute-desc": [{"id": "c", "virtual-cpu": {"num-virtual-cpu": 2}, "virtual-memory": {"size": "1.5"}}],
            "virtual-storage-desc": [{"id": "s", "size-of-storage": "10"}],
            "sw-image-desc": [{"id": "img", "name": "ubuntu", "image": "ubuntu20.04"}],
            "df": [{"id": "d", "vdu-profile": [{"id": "vm", "min-number-of-instances": 2, "max-number-of-instances": 4}]}]});
        let v = vnf_model(&vnfd);
        assert_eq!(
            v.vdus,
            [Vdu {
                id: "vm".into(),
                name: "VM".into(),
                image: Some("ubuntu20.04".into()),
                demand: Demand {
                    vcpus: 2,
                    ram_mb: 1536,
                    disk_gb: 10
                },
                min: 2,
                max: 4,
                pdu_type: None,
            }]
        );
        assert_eq!(
            v.demand(),
            (
                Demand {
                    vcpus: 4,
                    ram_mb: 3072,
                    disk_gb: 20
                },
                2
            )
        );
    }

    #[test]
    fn osm_im_descriptors_are_read_too() {
        let nsd = json!({"id": "ns", "constituent-vnfd": [{"member-vnf-index": 1, "vnfd-id-ref": "a"}],
            "vld": [{"id": "mgmt", "mgmt-network": true, "vnfd-connection-point-ref": [{"member-vnf-index-ref": 1}]}]});
        let m = ns_model(&nsd);
        assert_eq!(
            m.members,
            [Member {
                index: "1".into(),
                vnfd_id: "a".into()
            }]
        );
        assert_eq!(m.links[0].members, ["1"]);
        let v = vnf_model(
            &json!({"id": "a", "vdu": [{"id": "vm", "count": 2, "image": "cirros", "vm-flavor": {"vcpu-count": 1, "memory-mb": 256, "storage-gb": 2}}]}),
        );
        assert_eq!(
            v.vdus[0].demand,
            Demand {
                vcpus: 1,
                ram_mb: 256,
                disk_gb: 2
            }
        );
        assert_eq!((v.vdus[0].min, v.vdus[0].max), (2, 2));
    }
}

/// A scaling group of a VNFD: what one scaling step adds or removes, and how many steps it allows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScalingGroup {
    /// Its name (SOL006: the scaling aspect id).
    pub name: String,
    /// Instances of each VDU per step.
    pub deltas: Vec<(String, u32)>,
    /// Most scale-out steps above the instantiation level, if limited.
    pub max_steps: Option<u32>,
}

/// The scaling group `name` of a stored VNFD (SOL006 `df[0].scaling-aspect`, OSM-IM
/// `scaling-group-descriptor`).
pub fn scaling_group(vnfd: &Value, name: &str) -> Option<ScalingGroup> {
    let aspect = items(&vnfd["df"])
        .flat_map(|df| items(&df["scaling-aspect"]))
        .find(|a| a["id"].as_str() == Some(name) || a["name"].as_str() == Some(name));
    if let Some(a) = aspect {
        let deltas = items(&a["aspect-delta-details"]["deltas"])
            .flat_map(|d| items(&d["vdu-delta"]))
            .filter_map(|d| {
                Some((
                    text(&d["id"])?,
                    number(&d["number-of-instances"]).unwrap_or(1.0).max(0.0) as u32,
                ))
            })
            .collect();
        return Some(ScalingGroup {
            name: name.to_string(),
            deltas,
            max_steps: number(&a["max-scale-level"]).map(|m| m.max(0.0) as u32),
        });
    }
    let g = items(&vnfd["scaling-group-descriptor"]).find(|g| g["name"].as_str() == Some(name))?;
    Some(ScalingGroup {
        name: name.to_string(),
        deltas: items(&g["vdu"])
            .filter_map(|d| {
                Some((
                    text(&d["vdu-id-ref"])?,
                    number(&d["count"]).unwrap_or(1.0).max(0.0) as u32,
                ))
            })
            .collect(),
        max_steps: number(&g["max-instance-count"]).map(|m| m.max(0.0) as u32),
    })
}

#[cfg(test)]
mod scaling_tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn scaling_groups_are_read_from_both_formats() {
        let sol = json!({"df": [{"id": "d", "scaling-aspect": [{"id": "web_scale", "max-scale-level": 2,
            "aspect-delta-details": {"deltas": [{"id": "x", "vdu-delta": [{"id": "web", "number-of-instances": 1}]}]}}]}]});
        assert_eq!(
            scaling_group(&sol, "web_scale"),
            Some(ScalingGroup {
                name: "web_scale".into(),
                deltas: vec![("web".into(), 1)],
                max_steps: Some(2)
            })
        );
        assert_eq!(scaling_group(&sol, "other"), None);
        let im = json!({"scaling-group-descriptor": [{"name": "g", "max-instance-count": 10, "vdu": [{"vdu-id-ref": "vm", "count": 2}]}]});
        assert_eq!(
            scaling_group(&im, "g").map(|g| g.deltas),
            Some(vec![("vm".into(), 2)])
        );
    }
}

/// A configuration primitive a VNF (or one of its VDUs) offers.
#[derive(Debug, Clone, PartialEq)]
pub struct PrimitiveDef {
    /// Name.
    pub name: String,
    /// Parameters with their default values (`None`: the caller must give it).
    pub params: Vec<(String, Option<Value>)>,
}

fn day12<'a>(vnfd: &'a Value, target: &str) -> Option<&'a Value> {
    items(&vnfd["df"])
        .flat_map(|df| {
            items(&df["lcm-operations-configuration"]["operate-vnf-op-config"]["day1-2"])
        })
        .find(|d| d["id"].as_str() == Some(target))
}

fn primitive_defs(list: &Value) -> Vec<PrimitiveDef> {
    items(list)
        .filter_map(|p| {
            Some(PrimitiveDef {
                name: text(&p["name"])?,
                params: items(&p["parameter"])
                    .filter_map(|x| {
                        let default = x.get("default-value").filter(|v| !v.is_null()).cloned();
                        Some((text(&x["name"])?, default))
                    })
                    .collect(),
            })
        })
        .collect()
}

/// The primitives of the VNF (`vdu: None`) or of one of its VDUs.
pub fn config_primitives(vnfd: &Value, vdu: Option<&str>) -> Vec<PrimitiveDef> {
    let vnfd_id = vnfd["id"].as_str().unwrap_or_default();
    let target = vdu.unwrap_or(vnfd_id);
    if let Some(d) = day12(vnfd, target) {
        return primitive_defs(&d["config-primitive"]);
    }
    match vdu {
        None => primitive_defs(&vnfd["vnf-configuration"]["config-primitive"]),
        Some(v) => items(&vnfd["vdu"])
            .find(|x| x["id"].as_str() == Some(v))
            .map(|x| primitive_defs(&x["vdu-configuration"]["config-primitive"]))
            .unwrap_or_default(),
    }
}

/// The VNF's day-1 primitives in `seq` order, with their parameter values.
pub fn initial_primitives(vnfd: &Value) -> Vec<(String, Value)> {
    let vnfd_id = vnfd["id"].as_str().unwrap_or_default();
    let list = day12(vnfd, vnfd_id)
        .map(|d| d["initial-config-primitive"].clone())
        .unwrap_or_else(|| vnfd["vnf-configuration"]["initial-config-primitive"].clone());
    let mut out: Vec<(f64, String, Value)> = items(&list)
        .filter_map(|p| {
            let params: serde_json::Map<String, Value> = items(&p["parameter"])
                .filter_map(|x| Some((text(&x["name"])?, x["value"].clone())))
                .collect();
            Some((
                number(&p["seq"]).unwrap_or(0.0),
                text(&p["name"])?,
                Value::Object(params),
            ))
        })
        .collect();
    out.sort_by(|a, b| a.0.total_cmp(&b.0));
    out.into_iter().map(|(_, n, p)| (n, p)).collect()
}

#[cfg(test)]
mod primitive_tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn primitives_and_day1_are_read_from_sol006_and_osm_im() {
        let sol = json!({"id": "v", "df": [{"id": "d", "lcm-operations-configuration": {"operate-vnf-op-config": {"day1-2": [
            {"id": "v", "config-primitive": [{"name": "touch", "parameter": [{"name": "filename", "data-type": "STRING"},
                                                                            {"name": "mode", "default-value": "644"}]}],
             "initial-config-primitive": [{"seq": 2, "name": "b"}, {"seq": 1, "name": "a", "parameter": [{"name": "x", "value": "<rw_mgmt_ip>"}]}]}]}}}]});
        let p = config_primitives(&sol, None);
        assert_eq!(p[0].name, "touch");
        assert_eq!(
            p[0].params,
            [
                ("filename".to_string(), None),
                ("mode".to_string(), Some(json!("644")))
            ]
        );
        assert_eq!(
            initial_primitives(&sol),
            [
                ("a".to_string(), json!({"x": "<rw_mgmt_ip>"})),
                ("b".to_string(), json!({}))
            ]
        );
        let im =
            json!({"id": "v", "vnf-configuration": {"config-primitive": [{"name": "restart"}]}});
        assert_eq!(config_primitives(&im, None)[0].name, "restart");
    }
}
