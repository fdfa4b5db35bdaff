#![doc = include_str!("../README.md")]

use std::{
    cmp::Ordering,
    collections::{BTreeMap, BTreeSet, BinaryHeap, HashMap},
    time::{Duration, Instant},
};

use good_lp::{
    Expression, ProblemVariables, ResolutionError, Solution as _, SolutionStatus, SolverModel,
    Variable, WithTimeLimit, constraint, microlp, variable,
};

/// Great-circle distance in km between two (latitude, longitude) points in degrees, on HAS's
/// sphere of radius 6,371 km: the distance rules and objectives are written in it.
pub fn haversine(a: (f64, f64), b: (f64, f64)) -> f64 {
    let (la1, lo1, la2, lo2) = (
        a.0.to_radians(),
        a.1.to_radians(),
        b.0.to_radians(),
        b.1.to_radians(),
    );
    let h = ((la2 - la1) / 2.0).sin().powi(2)
        + la1.cos() * la2.cos() * ((lo2 - lo1) / 2.0).sin().powi(2);
    2.0 * 6371.0 * h.sqrt().asin()
}

/// A place a demand can go.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    /// Identifier (cloud-region id, service instance id...).
    pub id: String,
    /// Objective coefficient of choosing it for this demand (lower is better).
    pub cost: f64,
    /// Zone value per category (`region`, `complex`, `country`...).
    pub zones: BTreeMap<String, String>,
}

/// Something to place, with the candidates that passed every unary rule.
#[derive(Debug, Clone, PartialEq)]
pub struct Demand {
    /// Name (`resourceModuleName`).
    pub name: String,
    /// Candidates, in a stable order (ties go to the earlier one).
    pub candidates: Vec<Candidate>,
}

/// `same` or `different`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Qualifier {
    /// All demands of the rule in one zone.
    Same,
    /// No two demands of the rule in one zone.
    Different,
}

/// A zone rule over several demands.
#[derive(Debug, Clone, PartialEq)]
pub struct ZoneRule {
    /// Rule name (the policy's identity), used in explanations.
    pub name: String,
    /// Zone category compared.
    pub category: String,
    /// Same or different.
    pub qualifier: Qualifier,
    /// Indexes of the demands.
    pub demands: Vec<usize>,
}

/// A rule between two demands: some candidate pairs may not be chosen together.
#[derive(Debug, Clone, PartialEq)]
pub struct PairRule {
    /// Rule name, used in explanations.
    pub name: String,
    /// First demand.
    pub first: usize,
    /// Second demand.
    pub second: usize,
    /// Forbidden `(candidate of first, candidate of second)` index pairs.
    pub forbidden: Vec<(usize, usize)>,
}

/// A bound on the sum of a per-candidate quantity over several demands (an aggregation policy:
/// the summed latency, cost or capacity of the chosen candidates).
#[derive(Debug, Clone, PartialEq)]
pub struct SumRule {
    /// Rule name, used in explanations.
    pub name: String,
    /// Per demand, the quantity of each of its candidates (same order as the candidates).
    pub terms: Vec<(usize, Vec<f64>)>,
    /// The sum must be at most this.
    pub at_most: Option<f64>,
    /// The sum must be at least this.
    pub at_least: Option<f64>,
}

impl SumRule {
    /// Whether a sum satisfies the bounds (with a tolerance for floating-point sums).
    fn holds(&self, sum: f64) -> bool {
        let tol = 1e-9 * (1.0 + sum.abs());
        self.at_most.is_none_or(|b| sum <= b + tol) && self.at_least.is_none_or(|b| sum >= b - tol)
    }

    fn sum(&self, choice: impl Fn(usize) -> usize) -> f64 {
        self.terms.iter().map(|(d, v)| v[choice(*d)]).sum()
    }
}

/// A placement problem.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Problem {
    /// Demands.
    pub demands: Vec<Demand>,
    /// Zone rules.
    pub zones: Vec<ZoneRule>,
    /// Pair rules.
    pub pairs: Vec<PairRule>,
    /// Sum rules.
    pub sums: Vec<SumRule>,
}

/// The rules of one component (or a subset of them, while explaining infeasibility).
#[derive(Clone, Default)]
struct RuleSet<'a> {
    zones: Vec<&'a ZoneRule>,
    pairs: Vec<&'a PairRule>,
    sums: Vec<&'a SumRule>,
}

/// How to solve.
#[derive(Debug, Clone)]
pub struct Options {
    /// Distinct solutions wanted, best first.
    pub num_solutions: usize,
    /// Budget for the whole solve; when it runs out the best solutions found so far are returned
    /// as not proven.
    pub time_limit: Duration,
    /// The MILP engine.
    pub backend: Backend,
    /// Components whose whole assignment space is at most this large are enumerated instead of
    /// solved as a MILP (exact, and faster for small components); 0 always uses the MILP.
    pub enumerate_up_to: usize,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            num_solutions: 1,
            time_limit: Duration::from_secs(10),
            backend: Backend::default(),
            enumerate_up_to: ENUMERATE_UP_TO,
        }
    }
}

/// The MILP engine behind [`solve`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Backend {
    /// `microlp`: pure Rust, no native dependency (the default).
    #[default]
    Microlp,
    /// COIN-OR Cbc through the system's `libCbc` (feature `cbc`): faster on large instances.
    #[cfg(feature = "cbc")]
    Cbc,
}

impl Backend {
    /// The backend named `name` (`microlp`, `cbc`), if this build has it.
    pub fn parse(name: &str) -> Result<Self, String> {
        match name {
            "microlp" => Ok(Self::Microlp),
            #[cfg(feature = "cbc")]
            "cbc" => Ok(Self::Cbc),
            #[cfg(not(feature = "cbc"))]
            "cbc" => Err(
                "solver backend 'cbc' needs a build with the feature netorch-solver/cbc (and libCbc installed)"
                    .into(),
            ),
            other => Err(format!(
                "unknown solver backend '{other}' (known: {})",
                Self::available().join(", ")
            )),
        }
    }

    /// The backends this build has.
    pub fn available() -> &'static [&'static str] {
        if cfg!(feature = "cbc") {
            &["microlp", "cbc"]
        } else {
            &["microlp"]
        }
    }
}

/// One assignment.
#[derive(Debug, Clone, PartialEq)]
pub struct Solution {
    /// Chosen candidate index per demand.
    pub choice: Vec<usize>,
    /// Its objective.
    pub objective: f64,
}

/// Why no solution exists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Explanation {
    /// The demand that ran out of candidates, when one demand explains it.
    pub demand: Option<String>,
    /// The rules that cannot be satisfied together (a minimal set).
    pub rules: Vec<String>,
    /// A sentence for the caller.
    pub message: String,
}

/// The result of a solve.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    /// Up to `num_solutions` distinct solutions, best first.
    pub solutions: Vec<Solution>,
    /// True when each returned solution is proven to be the next best one; false when the time
    /// limit stopped the search.
    pub proven: bool,
    /// Set when there is no solution at all.
    pub infeasible: Option<Explanation>,
}

/// A solver failure (not infeasibility, which is an [`Answer`]).
#[derive(Debug, thiserror::Error)]
pub enum SolveError {
    /// A rule names a demand or candidate that does not exist.
    #[error("invalid problem: {0}")]
    Invalid(String),
    /// The MILP backend failed.
    #[error("solver failure: {0}")]
    Backend(String),
}

fn check(p: &Problem) -> Result<(), SolveError> {
    let n = p.demands.len();
    for z in &p.zones {
        if let Some(d) = z.demands.iter().find(|&&d| d >= n) {
            return Err(SolveError::Invalid(format!(
                "zone rule {} names demand #{d}",
                z.name
            )));
        }
    }
    for r in &p.pairs {
        if r.first >= n || r.second >= n || r.first == r.second {
            return Err(SolveError::Invalid(format!(
                "pair rule {} needs two different existing demands",
                r.name
            )));
        }
        let (a, b) = (
            p.demands[r.first].candidates.len(),
            p.demands[r.second].candidates.len(),
        );
        if r.forbidden.iter().any(|&(i, j)| i >= a || j >= b) {
            return Err(SolveError::Invalid(format!(
                "pair rule {} names a candidate that does not exist",
                r.name
            )));
        }
    }
    for r in &p.sums {
        if r.terms.is_empty() {
            return Err(SolveError::Invalid(format!(
                "sum rule {} names no demand",
                r.name
            )));
        }
        if r.at_most.is_none() && r.at_least.is_none() {
            return Err(SolveError::Invalid(format!(
                "sum rule {} has no bound",
                r.name
            )));
        }
        for (d, v) in &r.terms {
            if *d >= n
                || v.len() != p.demands[*d].candidates.len()
                || v.iter().any(|x| !x.is_finite())
            {
                return Err(SolveError::Invalid(format!(
                    "sum rule {} needs one finite quantity per candidate of an existing demand",
                    r.name
                )));
            }
        }
    }
    Ok(())
}

/// Objective of a full assignment.
pub fn objective(p: &Problem, choice: &[usize]) -> f64 {
    choice
        .iter()
        .enumerate()
        .map(|(d, &c)| p.demands[d].candidates[c].cost)
        .sum()
}

/// Whether an assignment satisfies every rule.
pub fn feasible(p: &Problem, choice: &[usize]) -> bool {
    let zone = |d: usize, cat: &str| p.demands[d].candidates[choice[d]].zones.get(cat);
    for z in &p.zones {
        let values: Vec<Option<&String>> =
            z.demands.iter().map(|&d| zone(d, &z.category)).collect();
        let ok = match z.qualifier {
            Qualifier::Same => {
                values.iter().all(|v| v.is_some()) && values.windows(2).all(|w| w[0] == w[1])
            }
            Qualifier::Different => {
                let present: Vec<&String> = values.iter().flatten().copied().collect();
                let unique: BTreeSet<&String> = present.iter().copied().collect();
                values.iter().all(|v| v.is_some()) && unique.len() == present.len()
            }
        };
        if !ok {
            return false;
        }
    }
    p.pairs
        .iter()
        .all(|r| !r.forbidden.contains(&(choice[r.first], choice[r.second])))
        && p.sums.iter().all(|r| r.holds(r.sum(|d| choice[d])))
}

/// Groups of demands linked by rules (independent groups are solved apart).
fn components(p: &Problem) -> Vec<Vec<usize>> {
    let n = p.demands.len();
    let mut parent: Vec<usize> = (0..n).collect();
    fn find(parent: &mut [usize], x: usize) -> usize {
        let mut r = x;
        while parent[r] != r {
            r = parent[r];
        }
        let mut y = x;
        while parent[y] != r {
            let next = parent[y];
            parent[y] = r;
            y = next;
        }
        r
    }
    let mut union = |a: usize, b: usize| {
        let (ra, rb) = (find(&mut parent, a), find(&mut parent, b));
        if ra != rb {
            parent[ra.max(rb)] = ra.min(rb);
        }
    };
    for z in &p.zones {
        for w in z.demands.windows(2) {
            union(w[0], w[1]);
        }
    }
    for r in &p.pairs {
        union(r.first, r.second);
    }
    for r in &p.sums {
        for w in r.terms.windows(2) {
            union(w[0].0, w[1].0);
        }
    }
    let mut groups: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for d in 0..n {
        let root = find(&mut parent, d);
        groups.entry(root).or_default().push(d);
    }
    groups.into_values().collect()
}

/// A partial solution over some demands: (objective, [(demand, candidate)]).
type Part = (f64, Vec<(usize, usize)>);

#[derive(PartialEq)]
struct HeapItem(f64, usize, usize);
impl Eq for HeapItem {}
impl PartialOrd for HeapItem {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for HeapItem {
    fn cmp(&self, other: &Self) -> Ordering {
        // Min-heap on objective, then on indexes for determinism.
        other
            .0
            .total_cmp(&self.0)
            .then_with(|| other.1.cmp(&self.1))
            .then_with(|| other.2.cmp(&self.2))
    }
}

/// The `k` best combinations of two independent lists of parts (each sorted best first).
fn merge(a: &[Part], b: &[Part], k: usize) -> Vec<Part> {
    let mut out = Vec::new();
    let mut heap = BinaryHeap::new();
    let mut seen = std::collections::HashSet::new();
    if a.is_empty() || b.is_empty() {
        return out;
    }
    heap.push(HeapItem(a[0].0 + b[0].0, 0, 0));
    seen.insert((0, 0));
    while let Some(HeapItem(v, i, j)) = heap.pop() {
        let mut parts = a[i].1.clone();
        parts.extend_from_slice(&b[j].1);
        out.push((v, parts));
        if out.len() == k {
            break;
        }
        for (ni, nj) in [(i + 1, j), (i, j + 1)] {
            if ni < a.len() && nj < b.len() && seen.insert((ni, nj)) {
                heap.push(HeapItem(a[ni].0 + b[nj].0, ni, nj));
            }
        }
    }
    out
}

/// Candidates worth modelling for a demand: those of a demand that only zone rules touch are
/// grouped by their zone values in the rules' categories; beyond the `k` cheapest of a group none
/// can be in the `k` best solutions (swap it for a cheaper one of the group: still feasible).
fn useful_candidates(p: &Problem, d: usize, k: usize) -> Vec<usize> {
    let all: Vec<usize> = (0..p.demands[d].candidates.len()).collect();
    if p.pairs.iter().any(|r| r.first == d || r.second == d) {
        return all;
    }
    let cats: BTreeSet<&str> = p
        .zones
        .iter()
        .filter(|z| z.demands.contains(&d))
        .map(|z| z.category.as_str())
        .collect();
    let cands = &p.demands[d].candidates;
    // A sum rule's quantity is part of the signature: only candidates equal in every rule may be
    // swapped for one another.
    let quantities: Vec<&Vec<f64>> = p
        .sums
        .iter()
        .flat_map(|r| r.terms.iter().filter(|(t, _)| *t == d).map(|(_, v)| v))
        .collect();
    type Signature<'s> = (Vec<Option<&'s String>>, Vec<u64>);
    let mut groups: BTreeMap<Signature<'_>, Vec<usize>> = BTreeMap::new();
    for c in all {
        let zones = cats.iter().map(|cat| cands[c].zones.get(*cat)).collect();
        let amounts = quantities.iter().map(|v| v[c].to_bits()).collect();
        groups.entry((zones, amounts)).or_default().push(c);
    }
    let mut keep = Vec::new();
    for (_, mut members) in groups {
        members.sort_by(|&a, &b| cands[a].cost.total_cmp(&cands[b].cost).then(a.cmp(&b)));
        members.truncate(k);
        keep.extend(members);
    }
    keep.sort_unstable();
    keep
}

/// Outcome of solving one component.
enum ComponentResult {
    Parts(Vec<Part>, bool),
    Infeasible,
}

/// Solves one component exactly for its `k` best solutions (no-good cuts), within `deadline`.
fn solve_component(
    p: &Problem,
    o: &Options,
    demands: &[usize],
    k: usize,
    deadline: Instant,
    rules: &RuleSet<'_>,
) -> Result<ComponentResult, SolveError> {
    if demands.len() == 1
        && rules.zones.is_empty()
        && rules.pairs.is_empty()
        && rules.sums.is_empty()
    {
        let d = demands[0];
        let mut order: Vec<usize> = (0..p.demands[d].candidates.len()).collect();
        order.sort_by(|&a, &b| {
            let c = &p.demands[d].candidates;
            c[a].cost.total_cmp(&c[b].cost).then(a.cmp(&b))
        });
        order.truncate(k);
        if order.is_empty() {
            return Ok(ComponentResult::Infeasible);
        }
        let parts = order
            .into_iter()
            .map(|c| (p.demands[d].candidates[c].cost, vec![(d, c)]))
            .collect();
        return Ok(ComponentResult::Parts(parts, true));
    }
    let useful: HashMap<usize, Vec<usize>> = demands
        .iter()
        .map(|&d| (d, useful_candidates(p, d, k)))
        .collect();
    let space = demands
        .iter()
        .try_fold(1usize, |acc, d| acc.checked_mul(useful[d].len()));
    if space.is_some_and(|n| n <= o.enumerate_up_to) {
        let parts = enumerate(p, demands, &useful, rules, k);
        if parts.is_empty() {
            return Ok(ComponentResult::Infeasible);
        }
        return Ok(ComponentResult::Parts(parts, true));
    }
    let mut cuts: Vec<Vec<(usize, usize)>> = Vec::new();
    let mut parts = Vec::new();
    let mut proven = true;
    while parts.len() < k {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            proven = false;
            break;
        }
        let model = Rules {
            p,
            demands,
            useful: &useful,
            zones: &rules.zones,
            pairs: &rules.pairs,
            sums: &rules.sums,
            cuts: &cuts,
        };
        match milp(&model, o.backend, left)? {
            Milp::Found(part, optimal) => {
                proven &= optimal;
                cuts.push(part.1.clone());
                parts.push(part);
                if !optimal {
                    break;
                }
            }
            Milp::Infeasible => break,
            Milp::OutOfTime => {
                proven = false;
                break;
            }
        }
    }
    if parts.is_empty() && proven {
        return Ok(ComponentResult::Infeasible);
    }
    Ok(ComponentResult::Parts(parts, proven))
}

/// Forbidden candidate pairs of one rule, for constant-time lookups.
type Forbidden = std::collections::HashSet<(usize, usize)>;

/// Components whose whole assignment space is at most this large are enumerated: exact, and
/// faster than building a MILP (a distance rule between two demands is one such component).
const ENUMERATE_UP_TO: usize = 20_000;

/// Every assignment of a small component, keeping the `k` best feasible ones (ties by candidate
/// order, so the result is deterministic).
fn enumerate(
    p: &Problem,
    demands: &[usize],
    useful: &HashMap<usize, Vec<usize>>,
    rules: &RuleSet<'_>,
    k: usize,
) -> Vec<Part> {
    let (zones, pairs) = (&rules.zones, &rules.pairs);
    let forbidden: Vec<(usize, usize, Forbidden)> = pairs
        .iter()
        .map(|r| (r.first, r.second, r.forbidden.iter().copied().collect()))
        .collect();
    let lists: Vec<&Vec<usize>> = demands.iter().map(|d| &useful[d]).collect();
    let mut idx = vec![0usize; demands.len()];
    let mut choice: HashMap<usize, usize> = HashMap::new();
    let mut best: Vec<(f64, Vec<usize>)> = Vec::new();
    'outer: loop {
        for (i, &d) in demands.iter().enumerate() {
            choice.insert(d, lists[i][idx[i]]);
        }
        let zone = |d: usize, cat: &str| p.demands[d].candidates[choice[&d]].zones.get(cat);
        let ok_zones = zones.iter().all(|z| {
            let values: Vec<Option<&String>> =
                z.demands.iter().map(|&d| zone(d, &z.category)).collect();
            values.iter().all(Option::is_some)
                && match z.qualifier {
                    Qualifier::Same => values.windows(2).all(|w| w[0] == w[1]),
                    Qualifier::Different => {
                        values.iter().collect::<BTreeSet<_>>().len() == values.len()
                    }
                }
        });
        if ok_zones
            && forbidden
                .iter()
                .all(|(a, b, set)| !set.contains(&(choice[a], choice[b])))
            && rules.sums.iter().all(|r| r.holds(r.sum(|d| choice[&d])))
        {
            let value: f64 = demands
                .iter()
                .map(|&d| p.demands[d].candidates[choice[&d]].cost)
                .sum();
            let picks: Vec<usize> = demands.iter().map(|d| choice[d]).collect();
            let worse = |a: &(f64, Vec<usize>), b: &(f64, Vec<usize>)| {
                a.0.total_cmp(&b.0).then_with(|| a.1.cmp(&b.1))
            };
            let item = (value, picks);
            if best.len() < k || best.last().is_some_and(|w| worse(&item, w).is_lt()) {
                let at = best
                    .binary_search_by(|probe| worse(probe, &item))
                    .unwrap_or_else(|e| e);
                best.insert(at, item);
                best.truncate(k);
            }
        }
        // Next assignment (odometer).
        let mut i = demands.len();
        loop {
            if i == 0 {
                break 'outer;
            }
            i -= 1;
            idx[i] += 1;
            if idx[i] < lists[i].len() {
                break;
            }
            idx[i] = 0;
        }
    }
    best.into_iter()
        .map(|(v, picks)| (v, demands.iter().copied().zip(picks).collect()))
        .collect()
}

enum Milp {
    Found(Part, bool),
    Infeasible,
    OutOfTime,
}

/// What one MILP solve of a component is made of.
struct Rules<'a> {
    p: &'a Problem,
    demands: &'a [usize],
    useful: &'a HashMap<usize, Vec<usize>>,
    zones: &'a [&'a ZoneRule],
    pairs: &'a [&'a PairRule],
    sums: &'a [&'a SumRule],
    cuts: &'a [Vec<(usize, usize)>],
}

fn milp(r: &Rules<'_>, backend: Backend, time: Duration) -> Result<Milp, SolveError> {
    let mut vars = ProblemVariables::new();
    let mut x: HashMap<(usize, usize), Variable> = HashMap::new();
    for &d in r.demands {
        for &c in &r.useful[&d] {
            x.insert((d, c), vars.add(variable().binary()));
        }
    }
    let mut zone_vars: Vec<(usize, BTreeMap<String, Variable>)> = Vec::new();
    for (i, z) in r.zones.iter().enumerate() {
        if z.qualifier == Qualifier::Same {
            let mut values = BTreeMap::new();
            for &d in &z.demands {
                for &c in &r.useful[&d] {
                    if let Some(v) = r.p.demands[d].candidates[c].zones.get(&z.category) {
                        values
                            .entry(v.clone())
                            .or_insert_with(|| vars.add(variable().binary()));
                    }
                }
            }
            zone_vars.push((i, values));
        }
    }
    let mut obj = Expression::from(0.0);
    for (&(d, c), &v) in &x {
        obj += r.p.demands[d].candidates[c].cost * v;
    }
    let secs = time.as_secs_f64();
    match backend {
        Backend::Microlp => finish(
            vars.minimise(obj).using(microlp).with_time_limit(secs),
            r,
            &x,
            &zone_vars,
        ),
        #[cfg(feature = "cbc")]
        Backend::Cbc => {
            let mut model = vars.minimise(obj).using(good_lp::coin_cbc);
            // Cbc prints its log on stdout by default; a server's stdout is for its own logs.
            model.set_parameter("log", "0");
            model.set_parameter("slogLevel", "0");
            finish(model.with_time_limit(secs), r, &x, &zone_vars)
        }
    }
}

/// Adds the rules to a model of any backend, solves it and reads the assignment back.
fn finish<M: SolverModel<Error = ResolutionError>>(
    mut model: M,
    r: &Rules<'_>,
    x: &HashMap<(usize, usize), Variable>,
    zone_vars: &[(usize, BTreeMap<String, Variable>)],
) -> Result<Milp, SolveError> {
    let (p, useful) = (r.p, r.useful);
    for &d in r.demands {
        let s: Expression = useful[&d]
            .iter()
            .map(|&c| Expression::from(x[&(d, c)]))
            .sum();
        model = model.with(constraint!(s == 1));
    }
    for (i, values) in zone_vars {
        let z = r.zones[*i];
        let sum: Expression = values.values().map(|&v| Expression::from(v)).sum();
        model = model.with(constraint!(sum == 1));
        for &d in &z.demands {
            for &c in &useful[&d] {
                match p.demands[d].candidates[c].zones.get(&z.category) {
                    Some(v) => model = model.with(constraint!(x[&(d, c)] <= values[v])),
                    // Without a value in the category a candidate cannot share a zone.
                    None => model = model.with(constraint!(x[&(d, c)] == 0)),
                }
            }
        }
    }
    for z in r
        .zones
        .iter()
        .filter(|z| z.qualifier == Qualifier::Different)
    {
        let mut by_value: BTreeMap<&String, Expression> = BTreeMap::new();
        for &d in &z.demands {
            for &c in &useful[&d] {
                match p.demands[d].candidates[c].zones.get(&z.category) {
                    Some(v) => *by_value.entry(v).or_default() += x[&(d, c)],
                    None => model = model.with(constraint!(x[&(d, c)] == 0)),
                }
            }
        }
        for (_, e) in by_value {
            model = model.with(constraint!(e <= 1));
        }
    }
    for rule in r.pairs {
        // One aggregated row per candidate of the first demand: choosing it excludes every
        // forbidden partner (the second demand chooses exactly one candidate).
        // A set: a pair listed twice must still count once in the row.
        let mut partners: BTreeMap<usize, BTreeSet<usize>> = BTreeMap::new();
        for &(a, b) in &rule.forbidden {
            partners.entry(a).or_default().insert(b);
        }
        let seconds = &useful[&rule.second];
        for (a, bs) in partners {
            let Some(&xa) = x.get(&(rule.first, a)) else {
                continue;
            };
            let far: Vec<usize> = seconds.iter().copied().filter(|b| bs.contains(b)).collect();
            // Since the second demand takes exactly one candidate, "a excludes the far ones" and
            // "a needs one of the near ones" are the same row: write the shorter one.
            if far.len() * 2 <= seconds.len() {
                let mut e = Expression::from(xa);
                for b in far {
                    e += x[&(rule.second, b)];
                }
                model = model.with(constraint!(e <= 1));
            } else {
                let near: Expression = seconds
                    .iter()
                    .filter(|b| !bs.contains(b))
                    .map(|&b| Expression::from(x[&(rule.second, b)]))
                    .sum();
                model = model.with(constraint!(xa <= near));
            }
        }
    }
    for rule in r.sums {
        let mut e = Expression::from(0.0);
        for (d, v) in &rule.terms {
            for &c in &useful[d] {
                e += v[c] * x[&(*d, c)];
            }
        }
        if let Some(b) = rule.at_most {
            model = model.with(constraint!(e.clone() <= b));
        }
        if let Some(b) = rule.at_least {
            model = model.with(constraint!(e >= b));
        }
    }
    for cut in r.cuts {
        let e: Expression = cut.iter().map(|k| Expression::from(x[k])).sum();
        let n = cut.len() as f64;
        model = model.with(constraint!(e <= n - 1.0));
    }
    let solution = match model.solve() {
        Ok(s) => s,
        Err(ResolutionError::Infeasible) => return Ok(Milp::Infeasible),
        Err(ResolutionError::Other(m)) if m.to_lowercase().contains("time") || m == "Stopped" => {
            return Ok(Milp::OutOfTime);
        }
        Err(e) => return Err(SolveError::Backend(e.to_string())),
    };
    let optimal = matches!(solution.status(), SolutionStatus::Optimal);
    let mut chosen = Vec::new();
    for &d in r.demands {
        let pick = useful[&d]
            .iter()
            .copied()
            .find(|&c| solution.value(x[&(d, c)]) > 0.5);
        match pick {
            Some(c) => chosen.push((d, c)),
            None => return Ok(Milp::OutOfTime),
        }
    }
    let value = chosen
        .iter()
        .map(|&(d, c)| p.demands[d].candidates[c].cost)
        .sum();
    Ok(Milp::Found((value, chosen), optimal))
}

/// Solves `p` for its `num_solutions` best distinct assignments.
pub fn solve(p: &Problem, o: &Options) -> Result<Answer, SolveError> {
    check(p)?;
    let deadline = Instant::now() + o.time_limit;
    let k = o.num_solutions.max(1);
    if let Some(d) = p.demands.iter().find(|d| d.candidates.is_empty()) {
        return Ok(infeasible(Explanation {
            demand: Some(d.name.clone()),
            rules: Vec::new(),
            message: format!("no candidate is left for demand {}", d.name),
        }));
    }
    let mut combined: Vec<Part> = vec![(0.0, Vec::new())];
    let mut proven = true;
    for comp in components(p) {
        let rules = RuleSet {
            zones: p
                .zones
                .iter()
                .filter(|z| z.demands.first().is_some_and(|d| comp.contains(d)))
                .collect(),
            pairs: p.pairs.iter().filter(|r| comp.contains(&r.first)).collect(),
            sums: p
                .sums
                .iter()
                .filter(|r| r.terms.first().is_some_and(|(d, _)| comp.contains(d)))
                .collect(),
        };
        match solve_component(p, o, &comp, k, deadline, &rules)? {
            ComponentResult::Parts(parts, ok) => {
                proven &= ok;
                if parts.is_empty() {
                    return Ok(Answer {
                        solutions: Vec::new(),
                        proven: false,
                        infeasible: None,
                    });
                }
                combined = merge(&combined, &parts, k);
            }
            ComponentResult::Infeasible => {
                return Ok(infeasible(explain(p, o, &comp, &rules, deadline)?));
            }
        }
    }
    let n = p.demands.len();
    let solutions = combined
        .into_iter()
        .map(|(objective, parts)| {
            let mut choice = vec![0; n];
            for (d, c) in parts {
                choice[d] = c;
            }
            Solution { choice, objective }
        })
        .collect();
    Ok(Answer {
        solutions,
        proven,
        infeasible: None,
    })
}

fn infeasible(e: Explanation) -> Answer {
    Answer {
        solutions: Vec::new(),
        proven: true,
        infeasible: Some(e),
    }
}

/// A minimal set of rules of an infeasible component that cannot hold together (deletion
/// filter: drop each rule in turn, keep it only if the rest becomes feasible without it).
fn explain(
    p: &Problem,
    o: &Options,
    comp: &[usize],
    rules: &RuleSet<'_>,
    deadline: Instant,
) -> Result<Explanation, SolveError> {
    let feasible_with = |set: &RuleSet<'_>| -> Result<bool, SolveError> {
        let budget = deadline.max(Instant::now() + Duration::from_secs(1));
        Ok(matches!(
            solve_component(p, o, comp, 1, budget, set)?,
            ComponentResult::Parts(parts, _) if !parts.is_empty()
        ))
    };
    let mut set = rules.clone();
    // One pass per kind of rule; `drop(set, i)` is the set without the i-th rule of that kind.
    fn filter<'a>(
        set: &mut RuleSet<'a>,
        len: fn(&RuleSet<'a>) -> usize,
        drop: fn(&RuleSet<'a>, usize) -> RuleSet<'a>,
        feasible: &dyn Fn(&RuleSet<'a>) -> Result<bool, SolveError>,
    ) -> Result<(), SolveError> {
        let mut i = 0;
        while i < len(set) {
            let without = drop(set, i);
            if feasible(&without)? {
                i += 1;
            } else {
                *set = without;
            }
        }
        Ok(())
    }
    filter(
        &mut set,
        |s| s.zones.len(),
        |s, i| {
            let mut t = s.clone();
            t.zones.remove(i);
            t
        },
        &feasible_with,
    )?;
    filter(
        &mut set,
        |s| s.pairs.len(),
        |s, i| {
            let mut t = s.clone();
            t.pairs.remove(i);
            t
        },
        &feasible_with,
    )?;
    filter(
        &mut set,
        |s| s.sums.len(),
        |s, i| {
            let mut t = s.clone();
            t.sums.remove(i);
            t
        },
        &feasible_with,
    )?;
    let mut names: Vec<String> = set.zones.iter().map(|z| z.name.clone()).collect();
    names.extend(set.pairs.iter().map(|r| r.name.clone()));
    names.extend(set.sums.iter().map(|r| r.name.clone()));
    let demands = |ds: &mut dyn Iterator<Item = usize>| {
        ds.map(|d| p.demands[d].name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let message = match (
        set.zones.as_slice(),
        set.pairs.as_slice(),
        set.sums.as_slice(),
    ) {
        ([one], [], []) => format!(
            "zone rule {} ({} {}) cannot hold: the candidates of {} share no {} that satisfies it",
            one.name,
            one.category,
            if one.qualifier == Qualifier::Same {
                "same"
            } else {
                "different"
            },
            demands(&mut one.demands.iter().copied()),
            one.category
        ),
        ([], [one], []) => format!(
            "rule {} leaves no allowed pair of candidates for {} and {}",
            one.name, p.demands[one.first].name, p.demands[one.second].name
        ),
        ([], [], [one]) => {
            // Alone, a sum rule fails only when even its extreme choices miss the bound.
            let fold = |pick: fn(f64, f64) -> f64, start: f64| -> f64 {
                one.terms
                    .iter()
                    .map(|(_, v)| v.iter().copied().fold(start, pick))
                    .sum()
            };
            let (low, high) = (
                fold(f64::min, f64::INFINITY),
                fold(f64::max, f64::NEG_INFINITY),
            );
            let bound = match (one.at_most, one.at_least) {
                (Some(a), Some(b)) => format!("between {b} and {a}"),
                (Some(a), None) => format!("at most {a}"),
                (None, Some(b)) => format!("at least {b}"),
                (None, None) => String::new(),
            };
            format!(
                "sum rule {} cannot hold: no choice of candidates for {} sums to {bound} (possible sums lie between {low} and {high})",
                one.name,
                demands(&mut one.terms.iter().map(|(d, _)| *d)),
            )
        }
        _ => format!(
            "rules {} cannot all hold for demands {}",
            names.join(", "),
            demands(&mut comp.iter().copied())
        ),
    };
    Ok(Explanation {
        demand: None,
        rules: names,
        message,
    })
}

/// HAS's FitFirst, the baseline: demands in order, each tries its candidates cheapest first
/// against the choices made so far, backtracking chronologically when a later demand has none;
/// the first complete assignment is returned (not proven optimal). `None` when nothing fits or
/// after `node_limit` steps.
pub fn greedy(p: &Problem, node_limit: usize) -> Option<Solution> {
    let n = p.demands.len();
    let orders: Vec<Vec<usize>> = p
        .demands
        .iter()
        .map(|d| {
            let mut o: Vec<usize> = (0..d.candidates.len()).collect();
            o.sort_by(|&a, &b| {
                d.candidates[a]
                    .cost
                    .total_cmp(&d.candidates[b].cost)
                    .then(a.cmp(&b))
            });
            o
        })
        .collect();
    let forbidden: Vec<Forbidden> = p
        .pairs
        .iter()
        .map(|r| r.forbidden.iter().copied().collect())
        .collect();
    let fits = |d: usize, c: usize, choice: &[Option<usize>]| {
        let zone =
            |d: usize, c: usize, cat: &str| p.demands[d].candidates[c].zones.get(cat).cloned();
        p.zones.iter().filter(|z| z.demands.contains(&d)).all(|z| {
            let mine = zone(d, c, &z.category);
            mine.is_some()
                && z.demands
                    .iter()
                    .filter(|&&o| o != d)
                    .all(|&o| match choice[o] {
                        None => true,
                        Some(oc) => {
                            let theirs = zone(o, oc, &z.category);
                            match z.qualifier {
                                Qualifier::Same => theirs == mine,
                                Qualifier::Different => theirs != mine,
                            }
                        }
                    })
        }) && p.pairs.iter().zip(&forbidden).all(|(r, f)| {
            if r.first == d {
                choice[r.second].is_none_or(|o| !f.contains(&(c, o)))
            } else if r.second == d {
                choice[r.first].is_none_or(|o| !f.contains(&(o, c)))
            } else {
                true
            }
        }) && p
            .sums
            .iter()
            .filter(|r| r.terms.iter().any(|(t, _)| *t == d))
            .all(|r| {
                // Checked once every demand of the rule has a candidate.
                let pick = |t: usize| if t == d { Some(c) } else { choice[t] };
                if r.terms.iter().all(|(t, _)| pick(*t).is_some()) {
                    r.holds(r.sum(|t| pick(t).unwrap_or(0)))
                } else {
                    true
                }
            })
    };
    let mut choice: Vec<Option<usize>> = vec![None; n];
    let mut next = vec![0usize; n];
    let (mut d, mut steps) = (0usize, 0usize);
    while d < n {
        steps += 1;
        if steps > node_limit {
            return None;
        }
        let found = (next[d]..orders[d].len()).find(|&i| fits(d, orders[d][i], &choice));
        match found {
            Some(i) => {
                choice[d] = Some(orders[d][i]);
                next[d] = i + 1;
                d += 1;
            }
            None => {
                next[d] = 0;
                choice[d] = None;
                if d == 0 {
                    return None;
                }
                d -= 1;
                choice[d] = None;
            }
        }
    }
    let choice: Vec<usize> = choice.into_iter().map(|c| c.unwrap_or(0)).collect();
    Some(Solution {
        objective: objective(p, &choice),
        choice,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cand(id: &str, cost: f64, zone: &str) -> Candidate {
        Candidate {
            id: id.into(),
            cost,
            zones: [("complex".to_string(), zone.to_string())].into(),
        }
    }

    #[test]
    fn a_zone_same_rule_is_decided_for_all_demands_together_not_by_the_first() {
        // Greedy puts vG in its cheapest complex (A), then vGMuxInfra must follow into A at a
        // high price; the optimum puts both in B.
        let p = Problem {
            demands: vec![
                Demand {
                    name: "vG".into(),
                    candidates: vec![cand("a1", 1.0, "A"), cand("b1", 2.0, "B")],
                },
                Demand {
                    name: "vGMuxInfra".into(),
                    candidates: vec![cand("a2", 100.0, "A"), cand("b2", 1.0, "B")],
                },
            ],
            zones: vec![ZoneRule {
                name: "affinity_vCPE".into(),
                category: "complex".into(),
                qualifier: Qualifier::Same,
                demands: vec![0, 1],
            }],
            pairs: vec![],
            sums: vec![],
        };
        let a = solve(&p, &Options::default()).expect("solve");
        assert!(a.proven);
        assert_eq!(a.solutions[0].choice, vec![1, 1]);
        assert_eq!(a.solutions[0].objective, 3.0);
        assert_eq!(greedy(&p, 1000).expect("greedy").objective, 101.0);
    }

    #[test]
    fn distinct_solutions_come_best_first() {
        let p = Problem {
            demands: vec![
                Demand {
                    name: "a".into(),
                    candidates: vec![cand("x", 1.0, "A"), cand("y", 2.0, "B")],
                },
                Demand {
                    name: "b".into(),
                    candidates: vec![cand("x", 5.0, "A"), cand("y", 3.0, "B")],
                },
            ],
            ..Default::default()
        };
        let a = solve(
            &p,
            &Options {
                num_solutions: 10,
                ..Default::default()
            },
        )
        .expect("solve");
        let objs: Vec<f64> = a.solutions.iter().map(|s| s.objective).collect();
        assert_eq!(objs, vec![4.0, 5.0, 6.0, 7.0]);
    }

    #[test]
    fn infeasibility_names_the_rule() {
        let p = Problem {
            demands: vec![
                Demand {
                    name: "a".into(),
                    candidates: vec![cand("x", 1.0, "A")],
                },
                Demand {
                    name: "b".into(),
                    candidates: vec![cand("y", 1.0, "A")],
                },
            ],
            zones: vec![ZoneRule {
                name: "anti".into(),
                category: "complex".into(),
                qualifier: Qualifier::Different,
                demands: vec![0, 1],
            }],
            pairs: vec![],
            sums: vec![],
        };
        let a = solve(&p, &Options::default()).expect("solve");
        let e = a.infeasible.expect("infeasible");
        assert_eq!(e.rules, vec!["anti".to_string()]);
        assert!(e.message.contains("anti"), "{}", e.message);
    }
    #[test]
    fn a_sum_rule_moves_demands_to_cheaper_combined_quantities_and_explains_when_impossible() {
        // Latency 5 / 1 on the cheap / dear candidates of both demands; a budget of 6 allows one
        // demand on its cheap candidate, never both.
        let mut p = Problem {
            demands: vec![
                Demand {
                    name: "a".into(),
                    candidates: vec![cand("x", 1.0, "A"), cand("y", 3.0, "B")],
                },
                Demand {
                    name: "b".into(),
                    candidates: vec![cand("x", 1.0, "A"), cand("y", 2.0, "B")],
                },
            ],
            sums: vec![SumRule {
                name: "latency".into(),
                terms: vec![(0, vec![5.0, 1.0]), (1, vec![5.0, 1.0])],
                at_most: Some(6.0),
                at_least: None,
            }],
            ..Default::default()
        };
        let a = solve(&p, &Options::default()).expect("solve");
        assert_eq!(a.solutions[0].choice, vec![0, 1]);
        assert_eq!(a.solutions[0].objective, 3.0);
        p.sums[0].at_most = Some(1.5);
        let a = solve(&p, &Options::default()).expect("solve");
        let e = a.infeasible.expect("infeasible");
        assert_eq!(e.rules, vec!["latency".to_string()]);
        assert!(
            e.message.contains("at most 1.5") && e.message.contains("between 2 and 10"),
            "{}",
            e.message
        );
    }
}
