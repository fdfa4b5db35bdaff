//! Use-cases: validate a request against the rules users were promised, hand it to the store's
//! atomic allocation, and turn refusals into messages that say what to do.

use std::{sync::Arc, time::Duration};

use netorch_core::{
    Clock, Micros,
    connectivity::{
        ConnectivityRepository, Outcome, Refusal, Reservation, ReservationFilter,
        ReservationRequest, ReserveCommand, UpdateCommand,
    },
};
use sha2::{Digest as _, Sha256};

use crate::{
    auth::Experiment,
    error::{Loc, SlicesError},
    json::{Bandwidth, ReservationInput, format_date},
};

/// Rules of the service.
#[derive(Debug, Clone)]
pub struct Rules {
    /// Shortest reservation.
    pub min_duration: Duration,
    /// How far in the past an explicit start may lie (clock skew, slow clients).
    pub past_tolerance: Duration,
}

impl Default for Rules {
    fn default() -> Self {
        Self {
            min_duration: Duration::from_secs(15 * 60),
            past_tolerance: Duration::from_secs(5 * 60),
        }
    }
}

/// The connectivity use-cases.
#[derive(Clone)]
pub struct Service {
    /// Storage.
    pub repo: Arc<dyn ConnectivityRepository>,
    /// Time.
    pub clock: Arc<dyn Clock>,
    /// Validation rules.
    pub rules: Rules,
    /// Host part of reservation ids (`con_<host>_<suffix>`).
    pub id_host: String,
}

fn micros(d: Duration) -> Micros {
    d.as_micros().min(i64::MAX as u128) as Micros
}

/// A new reservation id: `con_<host>_<26 base58 characters>` (about 152 random bits).
pub fn new_reservation_id(host: &str) -> String {
    const ALPHABET: &[u8] = b"123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
    let suffix: String = (0..26)
        .map(|_| ALPHABET[rand::random_range(0..ALPHABET.len())] as char)
        .collect();
    format!("con_{host}_{suffix}")
}

/// What a create or update turned into.
pub enum Done {
    /// New or changed.
    Fresh(Reservation),
    /// Idempotent replay.
    Replayed(Reservation),
}

impl Service {
    /// Now at millisecond precision, the precision the API's dates carry.
    fn now(&self) -> Micros {
        let now = self.clock.now();
        now - now.rem_euclid(1_000)
    }

    /// Checks a parsed body against the rules and the experiment; resolves `start_now`.
    /// `previous_start` is the start of the reservation being updated: keeping it is always allowed,
    /// even once it has passed.
    pub fn validate(
        &self,
        input: &ReservationInput,
        start_now: bool,
        exp: &Experiment,
        previous_start: Option<Micros>,
    ) -> Result<ReservationRequest, SlicesError> {
        let now = self.now();
        if input.site1 == input.site2 {
            return Err(SlicesError::Invalid(
                Loc::Site,
                format!(
                    "site1 and site2 must be two different sites; both are '{}'",
                    input.site1
                ),
            ));
        }
        let bandwidth = match &input.bandwidth {
            Bandwidth::Mbps(b) => *b,
            Bandwidth::Invalid(msg) => {
                return Err(SlicesError::Invalid(Loc::Bandwidth, msg.clone()));
            }
        };
        let start = match (start_now, input.start) {
            (true, None) => now,
            (true, Some(_)) => {
                return Err(SlicesError::Invalid(
                    Loc::Date,
                    "start_now=true takes the server's clock as start: send \"start_date\": null"
                        .into(),
                ));
            }
            (false, None) => {
                return Err(SlicesError::Invalid(
                    Loc::Date,
                    "start_date is missing: give a start date, or null with ?start_now=true".into(),
                ));
            }
            (false, Some(s)) => s,
        };
        let end = input.end;
        if end <= start {
            return Err(SlicesError::Invalid(
                Loc::Date,
                format!(
                    "end_date {} must be after start_date {}",
                    format_date(end),
                    format_date(start)
                ),
            ));
        }
        if previous_start != Some(start) && start < now - micros(self.rules.past_tolerance) {
            return Err(SlicesError::Invalid(
                Loc::Date,
                format!(
                    "start_date {} is in the past (server time {}); use a later start, or ?start_now=true with \"start_date\": null",
                    format_date(start),
                    format_date(now)
                ),
            ));
        }
        if end <= now {
            return Err(SlicesError::Invalid(
                Loc::Date,
                format!(
                    "end_date {} is in the past (server time {})",
                    format_date(end),
                    format_date(now)
                ),
            ));
        }
        let min = micros(self.rules.min_duration);
        // When the server picks the start, the client computed its end from its own clock, a
        // moment (or a little skew) earlier: the same tolerance as for explicit starts applies.
        let slack = if start_now {
            micros(self.rules.past_tolerance)
        } else {
            0
        };
        if end - start + slack < min {
            return Err(SlicesError::Invalid(
                Loc::Date,
                format!(
                    "a reservation lasts at least {}; {} to {} is shorter: move end_date to {} or later",
                    humantime::format_duration(self.rules.min_duration),
                    format_date(start),
                    format_date(end),
                    format_date(start + min)
                ),
            ));
        }
        if end > exp.expires_at {
            return Err(SlicesError::Invalid(
                Loc::Date,
                format!(
                    "end_date {} is after the expiry of experiment {} ({}); end the reservation by then or extend the experiment",
                    format_date(end),
                    exp.id,
                    format_date(exp.expires_at)
                ),
            ));
        }
        Ok(ReservationRequest {
            site1: input.site1.clone(),
            site2: input.site2.clone(),
            bandwidth,
            start,
            end,
            qinq: input.qinq,
        })
    }

    /// Creates a reservation.
    pub async fn reserve(
        &self,
        exp: &Experiment,
        user: String,
        input: &ReservationInput,
        start_now: bool,
        idempotency_key: Option<String>,
    ) -> Result<Done, SlicesError> {
        let request = self.validate(input, start_now, exp, None)?;
        let idempotency = idempotency_key.map(|k| {
            // The request as sent (start_now, not the clock it resolved to), so that a replay
            // seconds later still matches.
            let canonical = format!(
                "{}|{}|{}|{:?}|{}|{}|{}",
                request.site1,
                request.site2,
                request.bandwidth,
                input.start,
                request.end,
                request.qinq,
                start_now
            );
            (k, hex::encode(Sha256::digest(canonical.as_bytes())))
        });
        let cmd = ReserveCommand {
            id: new_reservation_id(&self.id_host),
            experiment_id: exp.id.clone(),
            created_by: user,
            request,
            idempotency,
            now: self.now(),
        };
        match self.repo.reserve(&cmd).await? {
            Outcome::Done(r) => {
                tracing::info!(id = %r.id, experiment = %r.experiment_id, site1 = %r.site1, site2 = %r.site2,
                    bandwidth = r.bandwidth, s_tag1 = r.site1_s_tag, s_tag2 = r.site2_s_tag, "reservation created");
                Ok(Done::Fresh(r))
            }
            Outcome::Replayed(r) => Ok(Done::Replayed(r)),
            Outcome::Refused(r) => Err(self.explain(&cmd.request, r)),
            Outcome::NotFound => Err(SlicesError::Internal("reserve returned NotFound".into())),
        }
    }

    /// Replaces a reservation's values; on refusal nothing changes.
    pub async fn update(
        &self,
        exp: &Experiment,
        id: &str,
        input: &ReservationInput,
        start_now: bool,
    ) -> Result<Reservation, SlicesError> {
        let current = self.get(exp, id).await?;
        if current.state == netorch_core::connectivity::ReservationState::Expired {
            return Err(self.explain_ended(&current));
        }
        let request = self.validate(input, start_now, exp, Some(current.start))?;
        let cmd = UpdateCommand {
            id: id.into(),
            experiment_id: exp.id.clone(),
            request,
            now: self.now(),
        };
        match self.repo.update(&cmd).await? {
            Outcome::Done(r) | Outcome::Replayed(r) => {
                tracing::info!(id = %r.id, "reservation updated");
                Ok(r)
            }
            Outcome::Refused(r) => Err(self.explain(&cmd.request, r)),
            Outcome::NotFound => Err(not_found(id)),
        }
    }

    /// Releases a reservation.
    pub async fn delete(&self, exp: &Experiment, id: &str) -> Result<Reservation, SlicesError> {
        let r = self
            .repo
            .release(id, &exp.id, self.clock.now())
            .await?
            .ok_or_else(|| not_found(id))?;
        tracing::info!(id = %r.id, "reservation released");
        Ok(r)
    }

    /// A reservation of the experiment (active or expired; released ones are gone).
    pub async fn get(&self, exp: &Experiment, id: &str) -> Result<Reservation, SlicesError> {
        match self.repo.get_reservation(id).await? {
            Some(r)
                if r.experiment_id == exp.id
                    && r.state != netorch_core::connectivity::ReservationState::Deleted =>
            {
                Ok(r)
            }
            _ => Err(not_found(id)),
        }
    }

    /// Reservations of the experiment.
    pub async fn list(&self, filter: ReservationFilter) -> Result<Vec<Reservation>, SlicesError> {
        Ok(self.repo.list_reservations(&filter).await?)
    }

    fn explain_ended(&self, r: &Reservation) -> SlicesError {
        SlicesError::Conflict(
            Loc::Date,
            format!(
                "reservation {} ended at {} and was archived; create a new one",
                r.id,
                format_date(r.end)
            ),
        )
    }

    /// A refusal about a window between two sites (availability queries).
    pub fn refusal(
        &self,
        start: Micros,
        end: Micros,
        site1: &str,
        site2: &str,
        r: Refusal,
    ) -> SlicesError {
        let req = ReservationRequest {
            site1: site1.into(),
            site2: site2.into(),
            bandwidth: 0,
            start,
            end,
            qinq: false,
        };
        self.explain(&req, r)
    }

    /// Turns a refusal into the message a user needs.
    fn explain(&self, req: &ReservationRequest, r: Refusal) -> SlicesError {
        let window = format!("{} to {}", format_date(req.start), format_date(req.end));
        let link = format!("{} <-> {}", req.site1, req.site2);
        match r {
            Refusal::UnknownSite { site, known } => SlicesError::Invalid(
                Loc::Site,
                format!(
                    "site '{site}' does not exist; known sites: {}",
                    known.join(", ")
                ),
            ),
            Refusal::NotConnected {
                site1,
                site2,
                reachable,
            } => SlicesError::Invalid(
                Loc::Site,
                if reachable.is_empty() {
                    format!(
                        "sites {site1} and {site2} are not interconnected; {site1} has no links"
                    )
                } else {
                    format!(
                        "sites {site1} and {site2} are not interconnected; {site1} connects to: {}",
                        reachable.join(", ")
                    )
                },
            ),
            Refusal::OverCapacity { capacity } => SlicesError::Invalid(
                Loc::Bandwidth,
                format!(
                    "bandwidth {} Mbps exceeds the capacity of link {link} ({capacity} Mbps)",
                    req.bandwidth
                ),
            ),
            Refusal::Bandwidth {
                capacity,
                peak,
                requested,
                earliest,
            } => {
                let left = (capacity - peak).max(0);
                let hint = match earliest {
                    Some(t) => format!(
                        "; {requested} Mbps for the same duration are free from {} on",
                        format_date(t)
                    ),
                    None => String::new(),
                };
                SlicesError::Conflict(
                    Loc::Bandwidth,
                    format!(
                        "not enough bandwidth between {link} from {window}: {left} Mbps left of {capacity} Mbps, {requested} Mbps requested{hint}"
                    ),
                )
            }
            Refusal::NoVlan {
                site,
                pool,
                earliest,
            } => {
                let hint = match earliest {
                    Some(t) => format!(
                        "; the earliest start with a free tag there for the same duration is {}",
                        format_date(t)
                    ),
                    None => String::new(),
                };
                SlicesError::Conflict(
                    Loc::Bandwidth,
                    format!(
                        "No available vlans between {link}: all {pool} S-tags of site {site} are booked at some time from {window}{hint}"
                    ),
                )
            }
            Refusal::NoCTag { site } => SlicesError::Invalid(
                Loc::Bandwidth,
                format!("QinQ was requested but site {site} has no C-tag range; omit \"qinq\""),
            ),
            Refusal::IdempotencyMismatch => SlicesError::Validation(vec![crate::error::Detail {
                loc: vec!["header".into(), "Idempotency-Key".into()],
                msg:
                    "this Idempotency-Key was already used with a different request; use a new key"
                        .into(),
                kind: "IdempotencyMismatch".into(),
            }]),
            Refusal::Ended => SlicesError::Conflict(
                Loc::Date,
                "the reservation has ended and was archived; create a new one".into(),
            ),
        }
    }
}

fn not_found(id: &str) -> SlicesError {
    SlicesError::NotFound(format!(
        "connectivity reservation '{id}' does not exist in this experiment"
    ))
}
