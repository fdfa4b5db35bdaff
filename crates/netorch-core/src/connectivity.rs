//! Inter-site connectivity: topology, reservations over time, and the pure planning rules that
//! decide whether a reservation fits (bandwidth as a step function, VLAN tags free for the whole
//! window). The store runs [`plan`] inside the transaction that holds the site locks, so the rules
//! live here once and every backend applies them identically.

use std::collections::BTreeSet;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::{Micros, StoreError, events::NewEvent};

/// Lowest and highest usable VLAN id (0 and 4095 are reserved by IEEE 802.1Q).
pub const VLAN_MIN: u16 = 1;
/// See [`VLAN_MIN`].
pub const VLAN_MAX: u16 = 4094;

/// Outbox topic of reservation events.
pub const EVENT_TOPIC: &str = "slices.connectivity";

/// An inclusive range of VLAN tags, written `100-199` or `42`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct TagRange {
    /// First tag.
    pub lo: u16,
    /// Last tag (inclusive).
    pub hi: u16,
}

impl TagRange {
    /// Parses `lo-hi` or a single tag; both ends must lie in 1..=4094 and `lo <= hi`.
    pub fn parse(s: &str) -> Result<Self, String> {
        let s = s.trim();
        let (lo, hi) = match s.split_once('-') {
            Some((a, b)) => (a.trim(), b.trim()),
            None => (s, s),
        };
        let num = |t: &str| {
            t.parse::<u16>()
                .map_err(|_| format!("'{s}' is not a VLAN range like 100-199"))
        };
        let (lo, hi) = (num(lo)?, num(hi)?);
        if lo < VLAN_MIN || hi > VLAN_MAX || lo > hi {
            return Err(format!(
                "VLAN range '{s}' must lie within {VLAN_MIN}-{VLAN_MAX} with the lower bound first"
            ));
        }
        Ok(Self { lo, hi })
    }

    /// Number of tags.
    pub fn len(&self) -> usize {
        usize::from(self.hi - self.lo) + 1
    }

    /// Never empty (kept for clippy's `len_without_is_empty`).
    pub fn is_empty(&self) -> bool {
        false
    }
}

impl std::fmt::Display for TagRange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.lo == self.hi {
            write!(f, "{}", self.lo)
        } else {
            write!(f, "{}-{}", self.lo, self.hi)
        }
    }
}

impl Serialize for TagRange {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for TagRange {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Text(String),
            Num(u16),
        }
        match Raw::deserialize(d)? {
            Raw::Text(t) => TagRange::parse(&t).map_err(serde::de::Error::custom),
            Raw::Num(n) => TagRange::parse(&n.to_string()).map_err(serde::de::Error::custom),
        }
    }
}

/// Total number of tags in a set of ranges (overlaps counted once).
pub fn tag_count(ranges: &[TagRange]) -> usize {
    let mut all = BTreeSet::new();
    for r in ranges {
        all.extend(r.lo..=r.hi);
    }
    all.len()
}

/// A site: an endpoint of inter-site links with its usable VLAN tags.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Site {
    /// Name (`pl-poznan1`).
    pub name: String,
    /// Free text shown to users.
    #[serde(default)]
    pub description: String,
    /// Service (outer) VLAN tags the service may allocate at this site.
    pub s_tags: Vec<TagRange>,
    /// Customer (inner) VLAN tags handed out for QinQ reservations.
    #[serde(default)]
    pub c_tags: Vec<TagRange>,
}

/// A link between two sites. Reservations are bidirectional: a reservation of B Mbps uses B in
/// each direction, so it must fit the capacity of both.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Link {
    /// One end.
    pub site_a: String,
    /// The other end.
    pub site_b: String,
    /// Capacity from `site_a` to `site_b`, Mbps.
    pub capacity_ab: i64,
    /// Capacity from `site_b` to `site_a`, Mbps.
    pub capacity_ba: i64,
}

impl Link {
    /// The link's key: its two site names in lexical order, so `a|b` and `b|a` are one link.
    pub fn key(a: &str, b: &str) -> String {
        if a <= b {
            format!("{a}|{b}")
        } else {
            format!("{b}|{a}")
        }
    }

    /// The capacity a bidirectional reservation can use: the smaller direction.
    pub fn usable_capacity(&self) -> i64 {
        self.capacity_ab.min(self.capacity_ba)
    }
}

/// Lifecycle of a reservation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReservationState {
    /// Holds its tags and bandwidth.
    Active,
    /// Released by a user; kept for audit.
    Deleted,
    /// Its end passed and the sweeper archived it.
    Expired,
}

impl ReservationState {
    /// Storage name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Deleted => "deleted",
            Self::Expired => "expired",
        }
    }

    /// Parses a storage name.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "active" => Self::Active,
            "deleted" => Self::Deleted,
            "expired" => Self::Expired,
            _ => return None,
        })
    }
}

/// A reservation as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reservation {
    /// `con_<host>_<suffix>`.
    pub id: String,
    /// Experiment it belongs to.
    pub experiment_id: String,
    /// User who created it.
    pub created_by: String,
    /// First site.
    pub site1: String,
    /// Second site.
    pub site2: String,
    /// Mbps, both directions.
    pub bandwidth: i64,
    /// Start (inclusive).
    pub start: Micros,
    /// End (exclusive).
    pub end: Micros,
    /// Creation time.
    pub created_at: Micros,
    /// Last change.
    pub updated_at: Micros,
    /// S-tag at site1.
    pub site1_s_tag: u16,
    /// C-tag at site1 (0 unless QinQ).
    pub site1_c_tag: u16,
    /// S-tag at site2.
    pub site2_s_tag: u16,
    /// C-tag at site2 (0 unless QinQ).
    pub site2_c_tag: u16,
    /// Whether C-tags were requested.
    pub qinq: bool,
    /// Lifecycle state.
    pub state: ReservationState,
}

/// What a caller asks for (create or update).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReservationRequest {
    /// First site.
    pub site1: String,
    /// Second site.
    pub site2: String,
    /// Mbps.
    pub bandwidth: i64,
    /// Start (inclusive).
    pub start: Micros,
    /// End (exclusive).
    pub end: Micros,
    /// Allocate C-tags too.
    pub qinq: bool,
}

/// A new reservation to allocate.
#[derive(Debug, Clone)]
pub struct ReserveCommand {
    /// Id chosen by the caller.
    pub id: String,
    /// Experiment.
    pub experiment_id: String,
    /// Creating user.
    pub created_by: String,
    /// What to allocate.
    pub request: ReservationRequest,
    /// `Idempotency-Key` and a hash of the request it came with.
    pub idempotency: Option<(String, String)>,
    /// The server's now.
    pub now: Micros,
}

/// A change to an existing reservation.
#[derive(Debug, Clone)]
pub struct UpdateCommand {
    /// Reservation id.
    pub id: String,
    /// Experiment the caller acts for; a reservation of another experiment is not found.
    pub experiment_id: String,
    /// The new values.
    pub request: ReservationRequest,
    /// The server's now.
    pub now: Micros,
}

/// Why a reservation cannot be made. Structured so that the API can say what to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// A site is not in the topology.
    UnknownSite {
        /// The unknown name.
        site: String,
        /// Every known site.
        known: Vec<String>,
    },
    /// No link joins the two sites.
    NotConnected {
        /// First site.
        site1: String,
        /// Second site.
        site2: String,
        /// Sites that `site1` does connect to.
        reachable: Vec<String>,
    },
    /// More than the link could ever carry.
    OverCapacity {
        /// Link capacity usable in both directions.
        capacity: i64,
    },
    /// The link is too loaded somewhere in the window.
    Bandwidth {
        /// Usable capacity.
        capacity: i64,
        /// Peak load of other reservations in the window.
        peak: i64,
        /// Requested Mbps.
        requested: i64,
        /// Earliest start at which the same duration and bandwidth fit, if one was found.
        earliest: Option<Micros>,
    },
    /// Every S-tag of a site is taken somewhere in the window.
    NoVlan {
        /// The site without a free tag.
        site: String,
        /// Size of the site's S-tag pool.
        pool: usize,
        /// Earliest start at which a tag is free for the same duration, if one was found.
        earliest: Option<Micros>,
    },
    /// QinQ was asked for but the site has no C-tag range.
    NoCTag {
        /// The site.
        site: String,
    },
    /// The idempotency key was used before with a different request.
    IdempotencyMismatch,
    /// The reservation is expired; it can no longer change.
    Ended,
}

/// Result of a reserve or update.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Allocated (or changed).
    Done(Reservation),
    /// An `Idempotency-Key` replay: the reservation made the first time.
    Replayed(Reservation),
    /// Did not fit; nothing changed.
    Refused(Refusal),
    /// No active reservation with that id in the caller's experiment.
    NotFound,
}

/// Filter for listing reservations.
#[derive(Debug, Clone, Default)]
pub struct ReservationFilter {
    /// Only this experiment.
    pub experiment_id: Option<String>,
    /// Only reservations touching this site.
    pub site: Option<String>,
    /// Only reservations overlapping `[from, to)`.
    pub from: Option<Micros>,
    /// See `from`.
    pub to: Option<Micros>,
    /// Only these states (empty: active only).
    pub states: Vec<ReservationState>,
    /// At most this many.
    pub limit: i64,
}

/// Storage of topology and reservations. Allocation is atomic: implementations lock both sites
/// (PostgreSQL: rows `FOR UPDATE` in name order; SQLite: the single writer), read what overlaps the
/// window, run [`plan`], and write the result with its event in one transaction.
#[async_trait]
pub trait ConnectivityRepository: Send + Sync + 'static {
    /// Every site, by name.
    async fn list_sites(&self) -> Result<Vec<Site>, StoreError>;
    /// Creates or replaces a site.
    async fn put_site(&self, site: &Site) -> Result<(), StoreError>;
    /// Deletes a site; `InUse` while links or active reservations reference it.
    async fn delete_site(&self, name: &str) -> Result<(), StoreError>;
    /// Every link.
    async fn list_links(&self) -> Result<Vec<Link>, StoreError>;
    /// Creates or replaces a link (both sites must exist).
    async fn put_link(&self, link: &Link) -> Result<(), StoreError>;
    /// Deletes a link; `InUse` while active reservations use it.
    async fn delete_link(&self, a: &str, b: &str) -> Result<(), StoreError>;
    /// Loads a topology only if the store has no site yet. Returns whether it did.
    async fn seed_topology(&self, sites: &[Site], links: &[Link]) -> Result<bool, StoreError>;

    /// Allocates a new reservation.
    async fn reserve(&self, cmd: &ReserveCommand) -> Result<Outcome, StoreError>;
    /// Re-plans an active reservation with itself excluded; on refusal the old one stays.
    async fn update(&self, cmd: &UpdateCommand) -> Result<Outcome, StoreError>;
    /// Releases an active or expired reservation of `experiment_id` at once. `None` if there is none.
    async fn release(
        &self,
        id: &str,
        experiment_id: &str,
        now: Micros,
    ) -> Result<Option<Reservation>, StoreError>;
    /// One reservation in any state.
    async fn get_reservation(&self, id: &str) -> Result<Option<Reservation>, StoreError>;
    /// Reservations matching a filter, by start time.
    async fn list_reservations(
        &self,
        filter: &ReservationFilter,
    ) -> Result<Vec<Reservation>, StoreError>;
    /// Archives up to `limit` active reservations whose end has passed; returns them.
    async fn expire(&self, now: Micros, limit: i64) -> Result<Vec<Reservation>, StoreError>;
    /// What is free between two sites over `[start, end)` (a read; nothing is held).
    async fn availability(
        &self,
        site1: &str,
        site2: &str,
        start: Micros,
        end: Micros,
    ) -> Result<Result<Availability, Refusal>, StoreError>;
    /// Writes reservations as given, without planning (imports from another system, benchmarks).
    /// Database constraints still apply: on PostgreSQL a VLAN double booking is refused.
    async fn import_reservations(&self, rs: &[Reservation]) -> Result<(), StoreError>;
}

/// Free resources between two sites over a window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Availability {
    /// Usable link capacity, Mbps.
    pub capacity: i64,
    /// Peak load of existing reservations in the window, Mbps.
    pub peak: i64,
    /// `capacity - peak`: the most a new reservation could get.
    pub free_mbps: i64,
    /// The S-tag a reservation would get at site 1, if any is free for the whole window.
    pub site1_s_tag: Option<u16>,
    /// Same at site 2.
    pub site2_s_tag: Option<u16>,
    /// S-tags free at site 1 for the whole window.
    pub site1_free_tags: usize,
    /// Same at site 2.
    pub site2_free_tags: usize,
}

/// An interval of use of a link (bandwidth) or of a tag at a site.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Booking {
    /// Start (inclusive).
    pub start: Micros,
    /// End (exclusive).
    pub end: Micros,
    /// Mbps for link bookings; the tag for VLAN bookings.
    pub amount: i64,
}

impl Booking {
    fn overlaps(&self, start: Micros, end: Micros) -> bool {
        self.start < end && self.end > start
    }
}

/// Peak of the summed amounts of `bookings` over `[start, end)`: a sweep over +/- steps, ends
/// before starts at equal instants because intervals are half-open (back-to-back bookings do not
/// overlap). Steps are kept in a list, never a set: equal steps at one instant all count.
pub fn peak_load(bookings: &[Booking], start: Micros, end: Micros) -> i64 {
    let mut steps: Vec<(Micros, i64)> = Vec::with_capacity(bookings.len() * 2);
    for b in bookings.iter().filter(|b| b.overlaps(start, end)) {
        steps.push((b.start.max(start), b.amount));
        steps.push((b.end.min(end), -b.amount));
    }
    steps.sort_unstable_by_key(|&(t, d)| (t, d));
    let (mut load, mut peak) = (0i64, 0i64);
    for (_, d) in steps {
        load += d;
        peak = peak.max(load);
    }
    peak
}

/// Candidate start times at or after `from`: `from` itself and every booking end after it; the
/// earliest feasible start is always one of them (a window can only become free when something ends).
fn candidate_starts(bookings: &[Booking], from: Micros, limit: usize) -> Vec<Micros> {
    let mut c: Vec<Micros> = bookings
        .iter()
        .map(|b| b.end)
        .filter(|&e| e > from)
        .collect();
    c.push(from);
    c.sort_unstable();
    c.dedup();
    c.truncate(limit);
    c
}

/// Earliest start `t >= from` such that `[t, t + duration)` has room for `requested` Mbps.
/// `bookings` are the link's active bookings ending after `from`.
pub fn earliest_bandwidth_fit(
    bookings: &[Booking],
    capacity: i64,
    requested: i64,
    from: Micros,
    duration: Micros,
) -> Option<Micros> {
    candidate_starts(bookings, from, 5_000)
        .into_iter()
        .find(|&t| peak_load(bookings, t, t + duration) + requested <= capacity)
}

/// The lowest tag of `pool` not in `used`, preferring `keep` when it is free.
pub fn lowest_free_tag(pool: &[TagRange], used: &BTreeSet<u16>, keep: Option<u16>) -> Option<u16> {
    let in_pool = |t: u16| pool.iter().any(|r| r.lo <= t && t <= r.hi);
    if let Some(k) = keep
        && in_pool(k)
        && !used.contains(&k)
    {
        return Some(k);
    }
    let mut ranges = pool.to_vec();
    ranges.sort();
    ranges
        .iter()
        .flat_map(|r| r.lo..=r.hi)
        .find(|t| !used.contains(t))
}

/// Tags of `bookings` (amount = tag) in use somewhere in `[start, end)`.
pub fn used_tags(bookings: &[Booking], start: Micros, end: Micros) -> BTreeSet<u16> {
    bookings
        .iter()
        .filter(|b| b.overlaps(start, end))
        .filter_map(|b| u16::try_from(b.amount).ok())
        .collect()
}

/// Earliest start `t >= from` at which some tag of `pool` is free for `[t, t + duration)`.
pub fn earliest_tag_fit(
    bookings: &[Booking],
    pool: &[TagRange],
    from: Micros,
    duration: Micros,
) -> Option<Micros> {
    candidate_starts(bookings, from, 5_000)
        .into_iter()
        .find(|&t| lowest_free_tag(pool, &used_tags(bookings, t, t + duration), None).is_some())
}

/// What the store read under its locks for one request.
#[derive(Debug, Clone)]
pub struct Snapshot<'a> {
    /// The link between the sites.
    pub link: &'a Link,
    /// Site 1 as stored.
    pub site1: &'a Site,
    /// Site 2 as stored.
    pub site2: &'a Site,
    /// Other active reservations on the link overlapping the window (amount = Mbps).
    pub link_load: &'a [Booking],
    /// Other active S-tag bookings at site 1 overlapping the window (amount = tag).
    pub site1_tags: &'a [Booking],
    /// Same at site 2.
    pub site2_tags: &'a [Booking],
}

/// The tags chosen for a reservation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Allocation {
    /// S-tag at site 1.
    pub site1_s_tag: u16,
    /// C-tag at site 1.
    pub site1_c_tag: u16,
    /// S-tag at site 2.
    pub site2_s_tag: u16,
    /// C-tag at site 2.
    pub site2_c_tag: u16,
}

/// Which refusal needs a wider look (to find the earliest time that would work).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Shortage {
    /// Bandwidth: the store should load the link's later bookings and call [`earliest_bandwidth_fit`].
    Bandwidth {
        /// Usable capacity.
        capacity: i64,
        /// Peak in the window.
        peak: i64,
    },
    /// No S-tag at this site (1 or 2): load the site's later bookings and call [`earliest_tag_fit`].
    Vlan {
        /// 1 or 2.
        side: u8,
    },
    /// A final refusal.
    Final(Refusal),
}

/// Decides whether `req` fits `snap`. `keep` are the tags an updated reservation already holds
/// (kept when still free). Pure: the same snapshot always gives the same answer.
pub fn plan(
    req: &ReservationRequest,
    snap: &Snapshot<'_>,
    keep: Option<(u16, u16)>,
) -> Result<Allocation, Shortage> {
    let capacity = snap.link.usable_capacity();
    if req.bandwidth > capacity {
        return Err(Shortage::Final(Refusal::OverCapacity { capacity }));
    }
    let peak = peak_load(snap.link_load, req.start, req.end);
    if peak + req.bandwidth > capacity {
        return Err(Shortage::Bandwidth { capacity, peak });
    }
    let s1 = lowest_free_tag(
        &snap.site1.s_tags,
        &used_tags(snap.site1_tags, req.start, req.end),
        keep.map(|k| k.0),
    )
    .ok_or(Shortage::Vlan { side: 1 })?;
    let s2 = lowest_free_tag(
        &snap.site2.s_tags,
        &used_tags(snap.site2_tags, req.start, req.end),
        keep.map(|k| k.1),
    )
    .ok_or(Shortage::Vlan { side: 2 })?;
    // The S-tag is exclusive to the reservation at each site, so any C-tag of the site's pool is
    // free inside it: QinQ hands out the lowest one.
    let c_tag = |site: &Site| -> Result<u16, Shortage> {
        if !req.qinq {
            return Ok(0);
        }
        lowest_free_tag(&site.c_tags, &BTreeSet::new(), None).ok_or_else(|| {
            Shortage::Final(Refusal::NoCTag {
                site: site.name.clone(),
            })
        })
    };
    Ok(Allocation {
        site1_s_tag: s1,
        site1_c_tag: c_tag(snap.site1)?,
        site2_s_tag: s2,
        site2_c_tag: c_tag(snap.site2)?,
    })
}

/// The outbox event for a reservation change (`created`, `updated`, `deleted`, `expired`).
pub fn reservation_event(key: &str, r: &Reservation) -> NewEvent {
    NewEvent::new(
        EVENT_TOPIC,
        key,
        serde_json::to_value(r).unwrap_or(serde_json::Value::Null),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(start: Micros, end: Micros, amount: i64) -> Booking {
        Booking { start, end, amount }
    }

    #[test]
    fn peak_load_is_the_maximum_of_the_step_function_not_the_sum_of_overlaps() {
        // Two bookings that both overlap the window but not each other.
        let bookings = [b(0, 10, 60), b(10, 20, 60)];
        assert_eq!(peak_load(&bookings, 0, 20), 60);
        assert_eq!(peak_load(&bookings, 5, 15), 60);
        assert_eq!(peak_load(&[b(0, 10, 60), b(5, 20, 30)], 0, 20), 90);
    }

    #[test]
    fn equal_bookings_starting_at_one_instant_all_count() {
        let bookings = [b(0, 10, 50), b(0, 10, 50), b(0, 10, 50)];
        assert_eq!(peak_load(&bookings, 0, 10), 150);
    }

    #[test]
    fn back_to_back_intervals_do_not_overlap() {
        assert_eq!(peak_load(&[b(0, 10, 100)], 10, 20), 0);
        assert!(used_tags(&[b(0, 10, 5)], 10, 20).is_empty());
    }

    #[test]
    fn lowest_free_tag_prefers_the_kept_tag_and_skips_used_ones() {
        let pool = [TagRange { lo: 10, hi: 12 }, TagRange { lo: 3, hi: 3 }];
        let used: BTreeSet<u16> = [3, 10].into();
        assert_eq!(lowest_free_tag(&pool, &used, None), Some(11));
        assert_eq!(lowest_free_tag(&pool, &used, Some(12)), Some(12));
        assert_eq!(lowest_free_tag(&pool, &used, Some(10)), Some(11));
        let all: BTreeSet<u16> = [3, 10, 11, 12].into();
        assert_eq!(lowest_free_tag(&pool, &all, None), None);
    }

    #[test]
    fn earliest_fit_finds_the_first_gap_long_enough() {
        let bookings = [b(0, 10, 100), b(15, 30, 100)];
        assert_eq!(earliest_bandwidth_fit(&bookings, 100, 10, 0, 5), Some(10));
        assert_eq!(earliest_bandwidth_fit(&bookings, 100, 10, 0, 6), Some(30));
        let tags = [b(0, 10, 7), b(5, 40, 8)];
        let pool = [TagRange { lo: 7, hi: 8 }];
        assert_eq!(earliest_tag_fit(&tags, &pool, 0, 20), Some(10));
    }

    #[test]
    fn tag_ranges_parse_and_reject_reserved_tags() {
        assert_eq!(
            TagRange::parse("100-199"),
            Ok(TagRange { lo: 100, hi: 199 })
        );
        assert_eq!(TagRange::parse("42"), Ok(TagRange { lo: 42, hi: 42 }));
        assert!(TagRange::parse("0-10").is_err());
        assert!(TagRange::parse("4000-4095").is_err());
        assert!(TagRange::parse("20-10").is_err());
        assert!(TagRange::parse("x").is_err());
        assert_eq!(
            tag_count(&[TagRange { lo: 1, hi: 10 }, TagRange { lo: 5, hi: 12 }]),
            12
        );
    }
}
