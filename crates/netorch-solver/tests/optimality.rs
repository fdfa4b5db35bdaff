//! The solver against brute-force enumeration on random small instances: every returned solution
//! is feasible and distinct, and the k objectives equal the k best of the enumeration; when the
//! enumeration finds nothing, the answer explains which rules cannot hold. Instances mix zone, pair
//! and sum rules.

use std::collections::BTreeSet;

use netorch_solver::{
    Backend, Candidate, Demand, Options, PairRule, Problem, Qualifier, SumRule, ZoneRule, feasible,
    objective, solve,
};
use proptest::{prelude::*, test_runner::TestCaseError};

fn instance() -> impl Strategy<Value = (Problem, usize)> {
    let candidate = (0u32..20, prop::option::of(0usize..3)).prop_map(|(cost, zone)| (cost, zone));
    let demand = prop::collection::vec(candidate, 1..5);
    (prop::collection::vec(demand, 1..5), 1usize..5).prop_flat_map(|(demands, k)| {
        let n = demands.len();
        let sizes: Vec<usize> = demands.iter().map(Vec::len).collect();
        let zone_rule = (prop::collection::btree_set(0..n, 1..=n), any::<bool>());
        let pair_rule = (
            0..n,
            0..n,
            prop::collection::vec((0usize..4, 0usize..4), 0..6),
        );
        // A sum rule: demands, a quantity 0..6 per candidate slot, and at-most / at-least bounds.
        let sum_rule = (
            prop::collection::btree_set(0..n, 1..=n),
            prop::collection::vec(prop::collection::vec(0u32..6, 4), n),
            prop::option::of(0u32..12),
            prop::option::of(0u32..12),
        );
        (
            Just(demands),
            Just(k),
            Just(sizes),
            prop::collection::vec(zone_rule, 0..3),
            prop::collection::vec(pair_rule, 0..3),
            prop::collection::vec(sum_rule, 0..2),
        )
            .prop_map(move |(demands, k, sizes, zones, pairs, sums)| {
                let names = ["A", "B", "C"];
                let problem = Problem {
                    demands: demands
                        .iter()
                        .enumerate()
                        .map(|(d, cs)| Demand {
                            name: format!("d{d}"),
                            candidates: cs
                                .iter()
                                .enumerate()
                                .map(|(i, (cost, zone))| Candidate {
                                    id: format!("c{i}"),
                                    cost: f64::from(*cost),
                                    zones: zone
                                        .map(|z| ("complex".to_string(), names[z].to_string()))
                                        .into_iter()
                                        .collect(),
                                })
                                .collect(),
                        })
                        .collect(),
                    zones: zones
                        .into_iter()
                        .enumerate()
                        .filter(|(_, (ds, _))| ds.len() >= 2 && ds.iter().all(|&d| d < n))
                        .map(|(i, (ds, same))| ZoneRule {
                            name: format!("zone{i}"),
                            category: "complex".into(),
                            qualifier: if same {
                                Qualifier::Same
                            } else {
                                Qualifier::Different
                            },
                            demands: ds.into_iter().collect(),
                        })
                        .collect(),
                    pairs: pairs
                        .into_iter()
                        .enumerate()
                        .filter(|(_, (a, b, _))| a != b)
                        .map(|(i, (a, b, f))| PairRule {
                            name: format!("pair{i}"),
                            first: a,
                            second: b,
                            forbidden: f
                                .into_iter()
                                .filter(|&(x, y)| x < sizes[a] && y < sizes[b])
                                .collect(),
                        })
                        .collect(),
                    sums: sums
                        .into_iter()
                        .enumerate()
                        .filter(|(_, (_, _, most, least))| most.is_some() || least.is_some())
                        .map(|(i, (ds, amounts, most, least))| SumRule {
                            name: format!("sum{i}"),
                            terms: ds
                                .into_iter()
                                .map(|d| {
                                    let v = amounts[d][..sizes[d]]
                                        .iter()
                                        .map(|&a| f64::from(a))
                                        .collect();
                                    (d, v)
                                })
                                .collect(),
                            at_most: most.map(f64::from),
                            at_least: least.map(f64::from),
                        })
                        .collect(),
                };
                (problem, k)
            })
    })
}

fn all_assignments(p: &Problem) -> Vec<Vec<usize>> {
    let mut out = vec![vec![]];
    for d in &p.demands {
        out = out
            .into_iter()
            .flat_map(|prefix| {
                (0..d.candidates.len()).map(move |c| {
                    let mut v = prefix.clone();
                    v.push(c);
                    v
                })
            })
            .collect();
    }
    out
}

/// Every way the solver can run: each backend of this build, through its MILP and (default) with
/// small components enumerated.
fn configurations(k: usize) -> Vec<Options> {
    let backends = [
        Backend::Microlp,
        #[cfg(feature = "cbc")]
        Backend::Cbc,
    ];
    backends
        .into_iter()
        .flat_map(|backend| {
            [0, Options::default().enumerate_up_to].map(|enumerate_up_to| Options {
                num_solutions: k,
                backend,
                enumerate_up_to,
                ..Options::default()
            })
        })
        .collect()
}

fn agrees_with_brute_force(p: &Problem, o: &Options) -> Result<(), TestCaseError> {
    let k = o.num_solutions;
    let answer = solve(p, o).expect("solve");
    let mut best: Vec<f64> = all_assignments(p)
        .into_iter()
        .filter(|c| feasible(p, c))
        .map(|c| objective(p, &c))
        .collect();
    best.sort_by(f64::total_cmp);
    if best.is_empty() {
        prop_assert!(answer.solutions.is_empty());
        let e = answer.infeasible.expect("an explanation");
        prop_assert!(!e.message.is_empty());
        // The named rules alone already make it infeasible.
        let rules: BTreeSet<&String> = e.rules.iter().collect();
        let only = Problem {
            demands: p.demands.clone(),
            zones: p
                .zones
                .iter()
                .filter(|z| rules.contains(&z.name))
                .cloned()
                .collect(),
            pairs: p
                .pairs
                .iter()
                .filter(|r| rules.contains(&r.name))
                .cloned()
                .collect(),
            sums: p
                .sums
                .iter()
                .filter(|r| rules.contains(&r.name))
                .cloned()
                .collect(),
        };
        prop_assert!(
            all_assignments(&only)
                .into_iter()
                .all(|c| !feasible(&only, &c))
        );
    } else {
        prop_assert!(answer.proven, "{o:?}");
        prop_assert!(answer.infeasible.is_none());
        let want: Vec<f64> = best.into_iter().take(k).collect();
        let got: Vec<f64> = answer.solutions.iter().map(|s| s.objective).collect();
        prop_assert_eq!(&got, &want, "{:?}", o);
        let distinct: BTreeSet<&Vec<usize>> = answer.solutions.iter().map(|s| &s.choice).collect();
        prop_assert_eq!(distinct.len(), answer.solutions.len());
        for s in &answer.solutions {
            prop_assert!(feasible(p, &s.choice), "infeasible solution {:?}", s.choice);
            prop_assert_eq!(objective(p, &s.choice), s.objective);
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn the_solver_matches_brute_force_enumeration_on_every_backend((p, k) in instance()) {
        for o in configurations(k) {
            agrees_with_brute_force(&p, &o)?;
        }
    }
}
