//! The placement family's answer to the OSM family: which VIM each VNF of an NS goes to
//! (`netorch_core::placement::VimPlacer`), solved exactly by the same optimiser as placement
//! requests.

use std::collections::BTreeMap;

use async_trait::async_trait;
use netorch_core::placement::{LinkConstraint, VimChoice, VimOption, VimPlacer, VnfToPlace};
use netorch_solver::{Candidate, Demand, PairRule, Problem, SumRule};

/// One-way latency per kilometre of great-circle distance, ms (light in fibre, ≈ 200 km/ms, plus
/// routing detours).
const MS_PER_KM: f64 = 0.0075;

/// A [`VimPlacer`] over the MILP solver.
pub struct SolverVimPlacer {
    options: netorch_solver::Options,
}

impl SolverVimPlacer {
    /// A placer using `backend`.
    pub fn new(backend: netorch_solver::Backend) -> Self {
        Self {
            options: netorch_solver::Options {
                backend,
                time_limit: std::time::Duration::from_secs(5),
                ..Default::default()
            },
        }
    }
}

fn latency(a: &VimOption, b: &VimOption) -> f64 {
    if a.site == b.site {
        return 0.0;
    }
    match (a.position, b.position) {
        (Some(p), Some(q)) => netorch_solver::haversine(p, q) * MS_PER_KM,
        // Two sites without coordinates: unknown distance, assume far.
        _ => f64::INFINITY,
    }
}

#[async_trait]
impl VimPlacer for SolverVimPlacer {
    async fn place(
        &self,
        vnfs: &[VnfToPlace],
        vims: &[VimOption],
        links: &[LinkConstraint],
    ) -> Result<Vec<VimChoice>, String> {
        let mut problem = Problem::default();
        let mut options: Vec<Vec<usize>> = Vec::new();
        for v in vnfs {
            let fits: Vec<usize> = vims
                .iter()
                .enumerate()
                .filter(|(_, o)| v.pinned.as_deref().is_none_or(|p| p == o.account_id))
                .filter(|(_, o)| {
                    o.free.vcpus >= v.demand.vcpus
                        && o.free.ram_mb >= v.demand.ram_mb
                        && o.free.disk_gb >= v.demand.disk_gb
                        && o.free.instances >= v.instances
                })
                .map(|(i, _)| i)
                .collect();
            if fits.is_empty() {
                return Err(format!(
                    "no VIM account can host member '{}' ({} vCPU, {} MB RAM, {} GB disk){}",
                    v.member,
                    v.demand.vcpus,
                    v.demand.ram_mb,
                    v.demand.disk_gb,
                    v.pinned
                        .as_ref()
                        .map_or(String::new(), |p| format!(" on its pinned VIM '{p}'"))
                ));
            }
            problem.demands.push(Demand {
                name: v.member.clone(),
                candidates: fits
                    .iter()
                    .map(|&i| Candidate {
                        id: vims[i].account_id.clone(),
                        cost: vims[i].cost * v.demand.vcpus.max(1) as f64,
                        zones: BTreeMap::from([("site".to_string(), vims[i].site.clone())]),
                    })
                    .collect(),
            });
            options.push(fits);
        }
        // Together, the VNFs placed on a VIM fit its free capacity.
        for (vi, vim) in vims.iter().enumerate() {
            let resources: [(&str, u64, fn(&VnfToPlace) -> u64); 4] = [
                ("vCPU", vim.free.vcpus, |v| v.demand.vcpus),
                ("MB of RAM", vim.free.ram_mb, |v| v.demand.ram_mb),
                ("GB of disk", vim.free.disk_gb, |v| v.demand.disk_gb),
                ("instances", vim.free.instances, |v| v.instances),
            ];
            for (what, free, need) in resources {
                let terms: Vec<(usize, Vec<f64>)> = options
                    .iter()
                    .enumerate()
                    .filter(|(_, opts)| opts.contains(&vi))
                    .map(|(d, opts)| {
                        let q = need(&vnfs[d]) as f64;
                        (
                            d,
                            opts.iter()
                                .map(|&o| if o == vi { q } else { 0.0 })
                                .collect(),
                        )
                    })
                    .collect();
                if terms.len() > 1 {
                    problem.sums.push(SumRule {
                        name: format!("free {what} of VIM '{}'", vim.name),
                        terms,
                        at_most: Some(free as f64),
                        at_least: None,
                    });
                }
            }
        }
        // Latency bounds between the VNFs of a virtual link.
        for l in links {
            let idx: Vec<usize> = l
                .members
                .iter()
                .filter_map(|m| vnfs.iter().position(|v| &v.member == m))
                .collect();
            for (a, &first) in idx.iter().enumerate() {
                for &second in &idx[a + 1..] {
                    let mut forbidden = Vec::new();
                    for (i, &ci) in options[first].iter().enumerate() {
                        for (j, &cj) in options[second].iter().enumerate() {
                            if latency(&vims[ci], &vims[cj]) > l.latency_ms {
                                forbidden.push((i, j));
                            }
                        }
                    }
                    if !forbidden.is_empty() {
                        problem.pairs.push(PairRule {
                            name: format!(
                                "latency of virtual link '{}' ≤ {} ms",
                                l.link, l.latency_ms
                            ),
                            first,
                            second,
                            forbidden,
                        });
                    }
                }
            }
        }
        let answer = netorch_solver::solve(&problem, &self.options).map_err(|e| e.to_string())?;
        if let Some(why) = answer.infeasible {
            return Err(why.message);
        }
        let best = answer
            .solutions
            .first()
            .ok_or_else(|| "the solver returned no solution".to_string())?;
        Ok(vnfs
            .iter()
            .enumerate()
            .map(|(d, v)| {
                let vim = &vims[options[d][best.choice[d]]];
                VimChoice {
                    member: v.member.clone(),
                    vim_account_id: vim.account_id.clone(),
                    reason: format!(
                        "least total cost ({:.1}) among {} VIM account(s) with room; '{}' at site '{}' had {} vCPU free",
                        best.objective,
                        options[d].len(),
                        vim.name,
                        vim.site,
                        vim.free.vcpus
                    ),
                }
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use netorch_core::cloud::{Capacity, Demand as Need};

    use super::*;

    fn vim(id: &str, site: &str, pos: (f64, f64), vcpus: u64, cost: f64) -> VimOption {
        VimOption {
            account_id: id.into(),
            name: id.into(),
            site: site.into(),
            position: Some(pos),
            free: Capacity {
                vcpus,
                ram_mb: 1 << 20,
                disk_gb: 1 << 20,
                instances: 100,
                networks: 100,
            },
            cost,
        }
    }

    fn vnf(m: &str, vcpus: u64) -> VnfToPlace {
        VnfToPlace {
            member: m.into(),
            demand: Need {
                vcpus,
                ram_mb: 1,
                disk_gb: 1,
            },
            instances: 1,
            pinned: None,
        }
    }

    #[tokio::test]
    async fn the_cheapest_vims_with_room_win_and_capacity_and_latency_bind() {
        let p = SolverVimPlacer::new(netorch_solver::Backend::default());
        let gent = vim("gent", "be-gent1", (51.05, 3.72), 4, 1.0);
        let poznan = vim("poznan", "pl-poznan1", (52.41, 16.93), 64, 2.0);
        let vnfs = [vnf("1", 4), vnf("2", 4)];
        // Gent is cheaper but holds only one of the two.
        let c = p
            .place(&vnfs, &[gent.clone(), poznan.clone()], &[])
            .await
            .expect("placed");
        let vims: Vec<&str> = c.iter().map(|c| c.vim_account_id.as_str()).collect();
        assert!(
            vims.contains(&"gent") && vims.contains(&"poznan"),
            "{vims:?}"
        );
        // Gent–Poznań is ≈ 930 km: ≈ 7 ms one way; a 5 ms bound keeps both VNFs at one site.
        let tight = [LinkConstraint {
            link: "data".into(),
            members: vec!["1".into(), "2".into()],
            latency_ms: 5.0,
        }];
        let c = p
            .place(&vnfs, &[gent.clone(), poznan.clone()], &tight)
            .await
            .expect("placed");
        assert!(c.iter().all(|c| c.vim_account_id == "poznan"), "{c:?}");
        // Nothing fits a VNF bigger than any VIM.
        let e = p.place(&[vnf("1", 100)], &[gent, poznan], &[]).await;
        assert!(e.is_err_and(|e| e.contains("member '1'")));
    }
}
