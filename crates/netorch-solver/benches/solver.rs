//! Solve times of placement instances (demands × candidates) with zone and distance rules, against
//! the fit-first baseline in the same run. `cargo bench -p netorch-solver --bench solver`.

use std::{
    collections::BTreeMap,
    time::{Duration, Instant},
};

use netorch_solver::{
    Backend, Candidate, Demand, Options, PairRule, Problem, Qualifier, ZoneRule, greedy, haversine,
    solve,
};

/// A deterministic xorshift generator, so every run measures the same instances.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % 1_000_000) as f64 / 1_000_000.0
    }
}

/// `demands` demands over `candidates` cloud regions in 40 complexes spread over Europe; cost =
/// distance to the demand's customer (km) + 2 (HAS's cloud cost) + a per-demand preference of
/// up to 400 (an HPA score); candidates farther than 1,500
/// km (500 km for demands 10 and 11) are filtered out first (distance_to_location); one zone-same
/// rule over 5 demands, one zone-different rule over 5 others, and a 300 km
/// distance_between_demands rule between demands 10 and 11.
fn instance(demands: usize, candidates: usize, seed: u64) -> Problem {
    let mut rng = Rng(seed);
    let complexes: Vec<(f64, f64)> = (0..40)
        .map(|_| (36.0 + rng.next() * 24.0, -9.0 + rng.next() * 33.0))
        .collect();
    let regions: Vec<(usize, (f64, f64))> = (0..candidates)
        .map(|i| {
            let c = i % complexes.len();
            let (la, lo) = complexes[c];
            (c, (la + rng.next() * 0.2, lo + rng.next() * 0.2))
        })
        .collect();
    let mut ds = Vec::new();
    // Demands of one rule serve one customer (vCPE: vG and vGMuxInfra for one site).
    let mut group_customer = BTreeMap::new();
    for d in 0..demands {
        let fresh = (40.0 + rng.next() * 16.0, -4.0 + rng.next() * 24.0);
        let group = match d {
            0..=4 => Some(0),
            10 | 11 => Some(1),
            _ => None,
        };
        let customer = match group {
            Some(g) => *group_customer.entry(g).or_insert(fresh),
            None => fresh,
        };
        let cands: Vec<Candidate> = regions
            .iter()
            .enumerate()
            .filter_map(|(i, (c, at))| {
                let km = haversine(customer, *at);
                // The two demands of the distance rule sit close to their customer (vG-style).
                let radius = if d == 10 || d == 11 { 500.0 } else { 1500.0 };
                (km < radius).then(|| Candidate {
                    id: format!("region-{i}"),
                    // Distance plus a per-demand preference (HPA score of the flavours there).
                    cost: (km + 2.0 + rng.next() * 400.0).round(),
                    zones: [("complex".to_string(), format!("complex-{c}"))].into(),
                })
            })
            .collect();
        ds.push(Demand {
            name: format!("demand-{d}"),
            candidates: cands,
        });
    }
    let first: Vec<usize> = (0..5.min(demands)).collect();
    let second: Vec<usize> = (5..10.min(demands)).collect();
    let mut zones = vec![ZoneRule {
        name: "affinity".into(),
        category: "complex".into(),
        qualifier: Qualifier::Same,
        demands: first,
    }];
    if second.len() >= 2 {
        zones.push(ZoneRule {
            name: "anti-affinity".into(),
            category: "complex".into(),
            qualifier: Qualifier::Different,
            demands: second,
        });
    }
    let mut pairs = Vec::new();
    if demands > 11 {
        let (a, b) = (10, 11);
        let loc = |d: usize, c: usize| {
            let i: usize = ds[d].candidates[c].id["region-".len()..]
                .parse()
                .unwrap_or(0);
            regions[i].1
        };
        let mut forbidden = Vec::new();
        for i in 0..ds[a].candidates.len() {
            for j in 0..ds[b].candidates.len() {
                if haversine(loc(a, i), loc(b, j)) > 300.0 {
                    forbidden.push((i, j));
                }
            }
        }
        pairs.push(PairRule {
            name: "distance-10-11".into(),
            first: a,
            second: b,
            forbidden,
        });
    }
    Problem {
        demands: ds,
        zones,
        pairs,
        sums: Vec::new(),
    }
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    // `cargo bench` passes --bench; a plain `cargo test --benches` run passes nothing: keep it short.
    let full = std::env::args().any(|a| a == "--bench");
    let sizes: &[(usize, usize)] = if full {
        &[(10, 100), (50, 1_000), (200, 5_000)]
    } else {
        &[(10, 100)]
    };
    println!(
        "| demands × candidates | candidates after distance_to_location | backend | exact: median solve | proven optimal | fit-first: median | fit-first objective gap |"
    );
    println!("|---|---|---|---|---|---|---|");
    for &(d, c) in sizes {
        let p = instance(d, c, 0x5EED + d as u64);
        let vars: usize = p.demands.iter().map(|x| x.candidates.len()).sum::<usize>();
        let runs = if d >= 200 { 3 } else { 7 };
        let mut fit = Vec::new();
        let mut g = None;
        for _ in 0..runs {
            let t = Instant::now();
            g = greedy(&p, 200_000);
            fit.push(t.elapsed());
        }
        let fit = median(fit);
        // Each backend as deployed, then with enumeration off (every component through the MILP).
        let modes = Backend::available().iter().flat_map(|name| {
            [
                (name.to_string(), Options::default().enumerate_up_to),
                (format!("{name}, MILP only"), 0),
            ]
        });
        for (name, enumerate_up_to) in modes {
            let backend =
                Backend::parse(name.split(',').next().unwrap_or_default()).expect("a backend");
            let mut exact = Vec::new();
            let mut answer = None;
            for _ in 0..runs {
                let t = Instant::now();
                let a = solve(
                    &p,
                    &Options {
                        num_solutions: 1,
                        time_limit: Duration::from_secs(60),
                        backend,
                        enumerate_up_to,
                    },
                )
                .expect("solve");
                exact.push(t.elapsed());
                answer = Some(a);
            }
            let answer = answer.expect("answer");
            let best = answer
                .solutions
                .first()
                .map(|s| s.objective)
                .unwrap_or(f64::NAN);
            let gap = match &g {
                Some(g) => format!(
                    "+{:.1} % ({} vs {})",
                    (g.objective - best) / best * 100.0,
                    g.objective,
                    best
                ),
                None => "no solution found".into(),
            };
            println!(
                "| {d} × {c} | {vars} | {name} | {:.1} ms | {} | {:.2} ms | {gap} |",
                median(exact).as_secs_f64() * 1e3,
                answer.proven,
                fit.as_secs_f64() * 1e3,
            );
        }
    }
}
