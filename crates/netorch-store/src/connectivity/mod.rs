//! `ConnectivityRepository` on sqlx (the allocation batcher in `batcher`).
//!
//! Allocation runs in one write transaction: the two site rows are locked (`FOR UPDATE`, in name
//! order, on PostgreSQL; SQLite has one writer connection), everything overlapping the window is
//! read through index ranges bounded by the longest booking seen (`max_span`), the pure planner of
//! `netorch-core` decides, and the reservation, its VLAN bookings and its event are written before
//! the commit. On PostgreSQL an exclusion constraint on the bookings refuses a VLAN double booking
//! even if this code had a bug.

use async_trait::async_trait;
use netorch_core::{
    Micros, StoreError,
    connectivity::{
        Availability, Booking, ConnectivityRepository, Link, Outcome, Refusal, Reservation,
        ReservationFilter, ReservationRequest, ReservationState, ReserveCommand, Shortage, Site,
        Snapshot, TagRange, UpdateCommand, earliest_bandwidth_fit, earliest_tag_fit,
        lowest_free_tag, peak_load, plan, reservation_event, used_tags,
    },
};

use sqlx::{Any, Row, Transaction, any::AnyRow};

use crate::db::{Store, map_err};

mod batcher;

pub(crate) use batcher::Batcher;

const RESERVATION_COLUMNS: &str = "id, experiment_id, created_by, site1, site2, bandwidth, start_us, end_us, \
     created_at, updated_at, site1_s_tag, site1_c_tag, site2_s_tag, site2_c_tag, qinq, state";

/// Bookings read to explain a refusal (earliest time that would work) are capped: beyond that the
/// answer says no earlier time was found rather than scanning an unbounded future.
const EXPLAIN_LIMIT: i64 = 20_000;

fn ranges_json(r: &[TagRange]) -> String {
    serde_json::to_string(r).unwrap_or_else(|_| "[]".into())
}

fn ranges_from(text: &str) -> Result<Vec<TagRange>, StoreError> {
    serde_json::from_str(text)
        .map_err(|e| StoreError::Internal(format!("corrupt VLAN ranges: {e}")))
}

fn site_from(row: &AnyRow) -> Result<(Site, i64), StoreError> {
    Ok((
        Site {
            name: row.try_get("name").map_err(map_err)?,
            description: row.try_get("description").map_err(map_err)?,
            s_tags: ranges_from(&row.try_get::<String, _>("s_tags").map_err(map_err)?)?,
            c_tags: ranges_from(&row.try_get::<String, _>("c_tags").map_err(map_err)?)?,
        },
        row.try_get("max_span").map_err(map_err)?,
    ))
}

fn link_from(row: &AnyRow) -> Result<(Link, i64), StoreError> {
    Ok((
        Link {
            site_a: row.try_get("site_a").map_err(map_err)?,
            site_b: row.try_get("site_b").map_err(map_err)?,
            capacity_ab: row.try_get("capacity_ab").map_err(map_err)?,
            capacity_ba: row.try_get("capacity_ba").map_err(map_err)?,
        },
        row.try_get("max_span").map_err(map_err)?,
    ))
}

fn tag(row: &AnyRow, col: &str) -> Result<u16, StoreError> {
    let v: i64 = row.try_get(col).map_err(map_err)?;
    u16::try_from(v).map_err(|_| StoreError::Internal(format!("corrupt {col}: {v}")))
}

fn reservation_from(row: &AnyRow) -> Result<Reservation, StoreError> {
    let state: String = row.try_get("state").map_err(map_err)?;
    Ok(Reservation {
        id: row.try_get("id").map_err(map_err)?,
        experiment_id: row.try_get("experiment_id").map_err(map_err)?,
        created_by: row.try_get("created_by").map_err(map_err)?,
        site1: row.try_get("site1").map_err(map_err)?,
        site2: row.try_get("site2").map_err(map_err)?,
        bandwidth: row.try_get("bandwidth").map_err(map_err)?,
        start: row.try_get("start_us").map_err(map_err)?,
        end: row.try_get("end_us").map_err(map_err)?,
        created_at: row.try_get("created_at").map_err(map_err)?,
        updated_at: row.try_get("updated_at").map_err(map_err)?,
        site1_s_tag: tag(row, "site1_s_tag")?,
        site1_c_tag: tag(row, "site1_c_tag")?,
        site2_s_tag: tag(row, "site2_s_tag")?,
        site2_c_tag: tag(row, "site2_c_tag")?,
        qinq: row.try_get::<i64, _>("qinq").map_err(map_err)? != 0,
        state: ReservationState::parse(&state)
            .ok_or_else(|| StoreError::Internal(format!("corrupt reservation state {state}")))?,
    })
}

/// A VLAN double booking refused by PostgreSQL's exclusion constraint (SQLSTATE 23P01).
fn map_booking_err(e: sqlx::Error) -> StoreError {
    if let sqlx::Error::Database(db) = &e
        && db.code().as_deref() == Some("23P01")
    {
        return StoreError::Conflict(format!("VLAN already booked: {}", db.message()));
    }
    map_err(e)
}

type Tx<'a> = Transaction<'a, Any>;

/// A query with arguments.
type Query<'q> = sqlx::query::Query<'q, Any, sqlx::any::AnyArguments>;

/// Binds a reservation's values in [`RESERVATION_COLUMNS`] order.
fn bind_reservation<'q>(q: Query<'q>, r: &'q Reservation) -> Query<'q> {
    q.bind(&r.id)
        .bind(&r.experiment_id)
        .bind(&r.created_by)
        .bind(&r.site1)
        .bind(&r.site2)
        .bind(r.bandwidth)
        .bind(r.start)
        .bind(r.end)
        .bind(r.created_at)
        .bind(r.updated_at)
        .bind(i64::from(r.site1_s_tag))
        .bind(i64::from(r.site1_c_tag))
        .bind(i64::from(r.site2_s_tag))
        .bind(i64::from(r.site2_c_tag))
        .bind(r.qinq as i64)
        .bind(r.state.as_str())
}

/// Whose bookings to read ahead.
#[derive(Clone, Copy)]
enum Ahead<'a> {
    Link(&'a str),
    Site(&'a str),
}

/// What the allocation read under its locks.
struct Locked {
    site1: Site,
    site2: Site,
    span1: i64,
    span2: i64,
    link: Link,
    link_span: i64,
    link_key: String,
}

impl Store {
    pub(crate) async fn begin_write(&self) -> Result<Tx<'_>, StoreError> {
        self.write().begin().await.map_err(map_err)
    }

    /// Locks both sites (name order, so two allocations never wait on each other in a cycle) and
    /// reads their link. `Err(Refusal)` for an unknown site or missing link.
    async fn lock_pair(
        &self,
        tx: &mut Tx<'_>,
        site1: &str,
        site2: &str,
        for_update: bool,
    ) -> Result<Result<Locked, Refusal>, StoreError> {
        let lock = if for_update && self.is_postgres() {
            " FOR UPDATE"
        } else {
            ""
        };
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT name, description, s_tags, c_tags, max_span FROM slices_sites \
             WHERE name IN ($1, $2) ORDER BY name{lock}"
        )))
        .bind(site1)
        .bind(site2)
        .fetch_all(&mut **tx)
        .await
        .map_err(map_err)?;
        let mut found = Vec::new();
        for r in &rows {
            found.push(site_from(r)?);
        }
        let pick = |name: &str| found.iter().find(|(s, _)| s.name == name).cloned();
        let (Some((s1, span1)), Some((s2, span2))) = (pick(site1), pick(site2)) else {
            let site = if pick(site1).is_none() { site1 } else { site2 };
            let rows = sqlx::query("SELECT name FROM slices_sites ORDER BY name")
                .fetch_all(&mut **tx)
                .await
                .map_err(map_err)?;
            let known = rows
                .iter()
                .map(|r| r.try_get::<String, _>("name").map_err(map_err))
                .collect::<Result<Vec<_>, _>>()?;
            return Ok(Err(Refusal::UnknownSite {
                site: site.to_string(),
                known,
            }));
        };
        let key = Link::key(site1, site2);
        let row = sqlx::query(
            "SELECT site_a, site_b, capacity_ab, capacity_ba, max_span FROM slices_links WHERE link_key = $1",
        )
        .bind(&key)
        .fetch_optional(&mut **tx)
        .await
        .map_err(map_err)?;
        let Some(row) = row else {
            let rows = sqlx::query(
                "SELECT site_a, site_b FROM slices_links WHERE site_a = $1 OR site_b = $1 ORDER BY link_key",
            )
            .bind(site1)
            .fetch_all(&mut **tx)
            .await
            .map_err(map_err)?;
            let mut reachable = Vec::new();
            for r in rows {
                let a: String = r.try_get("site_a").map_err(map_err)?;
                let b: String = r.try_get("site_b").map_err(map_err)?;
                reachable.push(if a == site1 { b } else { a });
            }
            return Ok(Err(Refusal::NotConnected {
                site1: site1.into(),
                site2: site2.into(),
                reachable,
            }));
        };
        let (link, link_span) = link_from(&row)?;
        Ok(Ok(Locked {
            site1: s1,
            site2: s2,
            span1,
            span2,
            link,
            link_span,
            link_key: key,
        }))
    }

    /// Bookings ending after `start` (the first `EXPLAIN_LIMIT` by start), to find the earliest
    /// time a refused request would fit: a link's reservations (amount = Mbps) or a site's S-tag
    /// bookings (amount = tag).
    async fn ahead(
        tx: &mut Tx<'_>,
        of: Ahead<'_>,
        span: i64,
        start: Micros,
        exclude: &str,
    ) -> Result<Vec<Booking>, StoreError> {
        let (sql, key) = match of {
            Ahead::Link(k) => (
                "SELECT start_us, end_us, bandwidth AS amount FROM slices_reservations WHERE link_key = $1 \
                 AND state = 'active' AND start_us > $2 AND end_us > $3 AND id <> $4 ORDER BY start_us LIMIT $5",
                k,
            ),
            Ahead::Site(s) => (
                "SELECT start_us, end_us, s_tag AS amount FROM slices_vlan_bookings WHERE site = $1 \
                 AND start_us > $2 AND end_us > $3 AND reservation_id <> $4 ORDER BY start_us LIMIT $5",
                s,
            ),
        };
        let rows = sqlx::query(sql)
            .bind(key)
            .bind(start.saturating_sub(span).saturating_sub(1))
            .bind(start)
            .bind(exclude)
            .bind(EXPLAIN_LIMIT)
            .fetch_all(&mut **tx)
            .await
            .map_err(map_err)?;
        rows.iter()
            .map(|r| {
                Ok(Booking {
                    start: r.try_get("start_us").map_err(map_err)?,
                    end: r.try_get("end_us").map_err(map_err)?,
                    amount: r.try_get("amount").map_err(map_err)?,
                })
            })
            .collect()
    }

    /// Turns a shortage into a refusal that says when the same request would fit, reading the
    /// bookings ahead of it; `pending` are allocations of the current batch, not written yet.
    async fn explain_shortage(
        tx: &mut Tx<'_>,
        locked: &Locked,
        req: &ReservationRequest,
        exclude: &str,
        shortage: Shortage,
        pending: &[Reservation],
    ) -> Result<Refusal, StoreError> {
        let duration = req.end - req.start;
        let booking = |r: &Reservation, amount: i64| Booking {
            start: r.start,
            end: r.end,
            amount,
        };
        Ok(match shortage {
            Shortage::Final(r) => r,
            Shortage::Bandwidth { capacity, peak } => {
                let mut ahead = Self::ahead(
                    tx,
                    Ahead::Link(&locked.link_key),
                    locked.link_span,
                    req.start,
                    exclude,
                )
                .await?;
                ahead.extend(pending.iter().map(|r| booking(r, r.bandwidth)));
                Refusal::Bandwidth {
                    capacity,
                    peak,
                    requested: req.bandwidth,
                    earliest: earliest_bandwidth_fit(
                        &ahead,
                        capacity,
                        req.bandwidth,
                        req.start,
                        duration,
                    ),
                }
            }
            Shortage::Vlan { side } => {
                let (site, span) = if side == 1 {
                    (&locked.site1, locked.span1)
                } else {
                    (&locked.site2, locked.span2)
                };
                let mut ahead =
                    Self::ahead(tx, Ahead::Site(&site.name), span, req.start, exclude).await?;
                ahead.extend(pending.iter().map(|r| {
                    let tag = if side == 1 {
                        r.site1_s_tag
                    } else {
                        r.site2_s_tag
                    };
                    booking(r, i64::from(tag))
                }));
                Refusal::NoVlan {
                    site: site.name.clone(),
                    pool: netorch_core::connectivity::tag_count(&site.s_tags),
                    earliest: earliest_tag_fit(&ahead, &site.s_tags, req.start, duration),
                }
            }
        })
    }

    /// Everything overlapping the window in one round trip: the link's load and the S-tags booked
    /// at each site.
    async fn window_bookings(
        tx: &mut Tx<'_>,
        locked: &Locked,
        req: &ReservationRequest,
        exclude: &str,
    ) -> Result<(Vec<Booking>, Vec<Booking>, Vec<Booking>), StoreError> {
        let rows = sqlx::query(
            "SELECT 0 AS kind, start_us, end_us, bandwidth AS amount FROM slices_reservations WHERE link_key = $1 \
             AND state = 'active' AND start_us > $2 AND start_us < $3 AND end_us > $4 AND id <> $5 \
             UNION ALL SELECT 1 AS kind, start_us, end_us, s_tag AS amount FROM slices_vlan_bookings WHERE site = $6 \
             AND start_us > $7 AND start_us < $8 AND end_us > $9 AND reservation_id <> $10 \
             UNION ALL SELECT 2 AS kind, start_us, end_us, s_tag AS amount FROM slices_vlan_bookings WHERE site = $11 \
             AND start_us > $12 AND start_us < $13 AND end_us > $14 AND reservation_id <> $15",
        )
        .bind(&locked.link_key)
        .bind(req.start.saturating_sub(locked.link_span).saturating_sub(1))
        .bind(req.end)
        .bind(req.start)
        .bind(exclude)
        .bind(&req.site1)
        .bind(req.start.saturating_sub(locked.span1).saturating_sub(1))
        .bind(req.end)
        .bind(req.start)
        .bind(exclude)
        .bind(&req.site2)
        .bind(req.start.saturating_sub(locked.span2).saturating_sub(1))
        .bind(req.end)
        .bind(req.start)
        .bind(exclude)
        .fetch_all(&mut **tx)
        .await
        .map_err(map_err)?;
        let (mut load, mut t1, mut t2) = (Vec::new(), Vec::new(), Vec::new());
        for r in &rows {
            let kind: i64 = r.try_get("kind").map_err(map_err)?;
            let b = Booking {
                start: r.try_get("start_us").map_err(map_err)?,
                end: r.try_get("end_us").map_err(map_err)?,
                amount: r.try_get("amount").map_err(map_err)?,
            };
            match kind {
                0 => load.push(b),
                1 => t1.push(b),
                _ => t2.push(b),
            }
        }
        Ok((load, t1, t2))
    }

    /// Plans `req` under the locks; on a shortage, reads further ahead to say when it would fit.
    async fn plan_locked(
        tx: &mut Tx<'_>,
        locked: &Locked,
        req: &ReservationRequest,
        exclude: &str,
        keep: Option<(u16, u16)>,
    ) -> Result<Result<netorch_core::connectivity::Allocation, Refusal>, StoreError> {
        let (load, t1, t2) = Self::window_bookings(tx, locked, req, exclude).await?;
        let snap = Snapshot {
            link: &locked.link,
            site1: &locked.site1,
            site2: &locked.site2,
            link_load: &load,
            site1_tags: &t1,
            site2_tags: &t2,
        };
        Ok(match plan(req, &snap, keep) {
            Ok(a) => Ok(a),
            Err(shortage) => {
                Err(Self::explain_shortage(tx, locked, req, exclude, shortage, &[]).await?)
            }
        })
    }

    /// Writes the VLAN bookings of an active reservation and widens the scan bounds (`known`:
    /// the bounds read under the locks, to skip updates that would change nothing).
    async fn book(
        tx: &mut Tx<'_>,
        r: &Reservation,
        known: Option<&Locked>,
    ) -> Result<(), StoreError> {
        let span = r.end - r.start;
        if let Some(l) = known
            && span <= l.span1.min(l.span2).min(l.link_span)
        {
            sqlx::query(
                "INSERT INTO slices_vlan_bookings (reservation_id, site, s_tag, start_us, end_us) \
                 VALUES ($1, $2, $3, $4, $5), ($6, $7, $8, $9, $10)",
            )
            .bind(&r.id)
            .bind(&r.site1)
            .bind(i64::from(r.site1_s_tag))
            .bind(r.start)
            .bind(r.end)
            .bind(&r.id)
            .bind(&r.site2)
            .bind(i64::from(r.site2_s_tag))
            .bind(r.start)
            .bind(r.end)
            .execute(&mut **tx)
            .await
            .map_err(map_booking_err)?;
            return Ok(());
        }
        for (site, s_tag) in [(&r.site1, r.site1_s_tag), (&r.site2, r.site2_s_tag)] {
            sqlx::query(
                "INSERT INTO slices_vlan_bookings (reservation_id, site, s_tag, start_us, end_us) \
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(&r.id)
            .bind(site)
            .bind(i64::from(s_tag))
            .bind(r.start)
            .bind(r.end)
            .execute(&mut **tx)
            .await
            .map_err(map_booking_err)?;
            sqlx::query("UPDATE slices_sites SET max_span = $1 WHERE name = $2 AND max_span < $1")
                .bind(span)
                .bind(site)
                .execute(&mut **tx)
                .await
                .map_err(map_err)?;
        }
        sqlx::query("UPDATE slices_links SET max_span = $1 WHERE link_key = $2 AND max_span < $1")
            .bind(span)
            .bind(Link::key(&r.site1, &r.site2))
            .execute(&mut **tx)
            .await
            .map_err(map_err)?;
        Ok(())
    }

    async fn reservation_in(tx: &mut Tx<'_>, id: &str) -> Result<Option<Reservation>, StoreError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {RESERVATION_COLUMNS} FROM slices_reservations WHERE id = $1"
        )))
        .bind(id)
        .fetch_optional(&mut **tx)
        .await
        .map_err(map_err)?;
        row.as_ref().map(reservation_from).transpose()
    }

    async fn replay(
        tx: &mut Tx<'_>,
        experiment: &str,
        key: &str,
        hash: &str,
    ) -> Result<Option<Outcome>, StoreError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {RESERVATION_COLUMNS}, request_hash FROM slices_reservations \
             WHERE experiment_id = $1 AND idempotency_key = $2"
        )))
        .bind(experiment)
        .bind(key)
        .fetch_optional(&mut **tx)
        .await
        .map_err(map_err)?;
        let Some(row) = row else { return Ok(None) };
        let stored: Option<String> = row.try_get("request_hash").map_err(map_err)?;
        Ok(Some(if stored.as_deref() == Some(hash) {
            Outcome::Replayed(reservation_from(&row)?)
        } else {
            Outcome::Refused(Refusal::IdempotencyMismatch)
        }))
    }
}

fn new_reservation(
    cmd: &ReserveCommand,
    a: &netorch_core::connectivity::Allocation,
) -> Reservation {
    let req = &cmd.request;
    Reservation {
        id: cmd.id.clone(),
        experiment_id: cmd.experiment_id.clone(),
        created_by: cmd.created_by.clone(),
        site1: req.site1.clone(),
        site2: req.site2.clone(),
        bandwidth: req.bandwidth,
        start: req.start,
        end: req.end,
        created_at: cmd.now,
        updated_at: cmd.now,
        site1_s_tag: a.site1_s_tag,
        site1_c_tag: a.site1_c_tag,
        site2_s_tag: a.site2_s_tag,
        site2_c_tag: a.site2_c_tag,
        qinq: req.qinq,
        state: ReservationState::Active,
    }
}

impl Store {
    /// One reservation in its own transaction.
    async fn reserve_one(&self, cmd: &ReserveCommand) -> Result<Outcome, StoreError> {
        let req = &cmd.request;
        let mut tx = self.begin_write().await?;
        let locked = match self
            .lock_pair(&mut tx, &req.site1, &req.site2, true)
            .await?
        {
            Ok(l) => l,
            Err(r) => return Ok(Outcome::Refused(r)),
        };
        // Checked under the site locks: a replay racing its original waits for it and then finds it.
        if let Some((key, hash)) = &cmd.idempotency
            && let Some(out) = Self::replay(&mut tx, &cmd.experiment_id, key, hash).await?
        {
            return Ok(out);
        }
        let alloc = match Self::plan_locked(&mut tx, &locked, req, &cmd.id, None).await? {
            Ok(a) => a,
            Err(r) => return Ok(Outcome::Refused(r)),
        };
        let r = new_reservation(cmd, &alloc);
        // The same writer as a batch of one: reservation, bookings, scan bounds.
        let inserted =
            Self::insert_many(&mut tx, &locked, &[(r.clone(), cmd.idempotency.clone())]).await;
        if let Err(StoreError::Conflict(msg)) = &inserted
            && let Some((key, hash)) = &cmd.idempotency
        {
            // The same key was used concurrently on another site pair (other locks): the first
            // one won; answer as a replay of it.
            drop(tx);
            let mut again = self.begin_write().await?;
            if let Some(out) = Self::replay(&mut again, &cmd.experiment_id, key, hash).await? {
                return Ok(out);
            }
            return Err(StoreError::Conflict(msg.clone()));
        }
        inserted?;
        self.commit_with(tx, &[reservation_event("created", &r)])
            .await?;
        Ok(Outcome::Done(r))
    }

    /// Allocates `cmds` (all for one ordered site pair) together; if the batch cannot be written
    /// as a whole (a concurrent idempotency key, a constraint), each is retried on its own.
    async fn reserve_batch(&self, cmds: &[ReserveCommand]) -> Vec<Result<Outcome, StoreError>> {
        if cmds.len() > 1 {
            match self.try_batch(cmds).await {
                Ok(out) => return out,
                Err(e) => {
                    tracing::debug!(error = %e, n = cmds.len(), "batch allocation fell back to one by one")
                }
            }
        }
        let mut out = Vec::with_capacity(cmds.len());
        for c in cmds {
            out.push(self.reserve_one(c).await);
        }
        out
    }

    async fn try_batch(
        &self,
        cmds: &[ReserveCommand],
    ) -> Result<Vec<Result<Outcome, StoreError>>, StoreError> {
        let first = &cmds[0].request;
        let mut tx = self.begin_write().await?;
        let locked = match self
            .lock_pair(&mut tx, &first.site1, &first.site2, true)
            .await?
        {
            Ok(l) => l,
            Err(r) => {
                return Ok(cmds
                    .iter()
                    .map(|_| Ok(Outcome::Refused(r.clone())))
                    .collect());
            }
        };
        let mut made: Vec<(Reservation, Option<(String, String)>)> = Vec::new();
        let mut out = Vec::with_capacity(cmds.len());
        for cmd in cmds {
            let req = &cmd.request;
            if let Some((key, hash)) = &cmd.idempotency {
                let earlier = made.iter().find(|(r, k)| {
                    r.experiment_id == cmd.experiment_id && k.as_ref().is_some_and(|k| &k.0 == key)
                });
                if let Some((r, k)) = earlier {
                    let same = k.as_ref().is_some_and(|k| &k.1 == hash);
                    out.push(Ok(if same {
                        Outcome::Replayed(r.clone())
                    } else {
                        Outcome::Refused(Refusal::IdempotencyMismatch)
                    }));
                    continue;
                }
                if let Some(o) = Self::replay(&mut tx, &cmd.experiment_id, key, hash).await? {
                    out.push(Ok(o));
                    continue;
                }
            }
            // Each request reads its own window (a batch's windows may lie far apart), then adds
            // what this batch already allocated: not written yet, so not in the read.
            let (mut load, mut t1, mut t2) =
                Self::window_bookings(&mut tx, &locked, req, "").await?;
            for (r, _) in &made {
                let b = |amount: i64| Booking {
                    start: r.start,
                    end: r.end,
                    amount,
                };
                load.push(b(r.bandwidth));
                t1.push(b(i64::from(r.site1_s_tag)));
                t2.push(b(i64::from(r.site2_s_tag)));
            }
            let snap = Snapshot {
                link: &locked.link,
                site1: &locked.site1,
                site2: &locked.site2,
                link_load: &load,
                site1_tags: &t1,
                site2_tags: &t2,
            };
            match plan(req, &snap, None) {
                Ok(a) => {
                    let r = new_reservation(cmd, &a);
                    made.push((r.clone(), cmd.idempotency.clone()));
                    out.push(Ok(Outcome::Done(r)));
                }
                Err(shortage) => {
                    let pending: Vec<Reservation> = made.iter().map(|(r, _)| r.clone()).collect();
                    let refusal =
                        Self::explain_shortage(&mut tx, &locked, req, "", shortage, &pending)
                            .await?;
                    out.push(Ok(Outcome::Refused(refusal)));
                }
            }
        }
        if made.is_empty() {
            return Ok(out);
        }
        Self::insert_many(&mut tx, &locked, &made).await?;
        let events: Vec<_> = made
            .iter()
            .map(|(r, _)| reservation_event("created", r))
            .collect();
        self.commit_with(tx, &events).await?;
        Ok(out)
    }

    /// Multi-row inserts of new reservations and their bookings; widens the scan bounds once.
    async fn insert_many(
        tx: &mut Tx<'_>,
        locked: &Locked,
        made: &[(Reservation, Option<(String, String)>)],
    ) -> Result<(), StoreError> {
        const COLS: usize = 19;
        for chunk in made.chunks(40) {
            let rows: Vec<String> = (0..chunk.len())
                .map(|i| {
                    let p: Vec<String> = (1..=COLS).map(|c| format!("${}", i * COLS + c)).collect();
                    format!("({})", p.join(", "))
                })
                .collect();
            let mut q = sqlx::query(sqlx::AssertSqlSafe(format!(
                "INSERT INTO slices_reservations ({RESERVATION_COLUMNS}, link_key, idempotency_key, request_hash) VALUES {}",
                rows.join(", ")
            )));
            for (r, idem) in chunk {
                q = bind_reservation(q, r)
                    .bind(&locked.link_key)
                    .bind(idem.as_ref().map(|k| k.0.clone()))
                    .bind(idem.as_ref().map(|k| k.1.clone()));
            }
            q.execute(&mut **tx).await.map_err(map_err)?;
            let rows: Vec<String> = (0..chunk.len() * 2)
                .map(|i| {
                    format!(
                        "(${}, ${}, ${}, ${}, ${})",
                        i * 5 + 1,
                        i * 5 + 2,
                        i * 5 + 3,
                        i * 5 + 4,
                        i * 5 + 5
                    )
                })
                .collect();
            let mut q = sqlx::query(sqlx::AssertSqlSafe(format!(
                "INSERT INTO slices_vlan_bookings (reservation_id, site, s_tag, start_us, end_us) VALUES {}",
                rows.join(", ")
            )));
            for (r, _) in chunk {
                for (site, tag) in [(&r.site1, r.site1_s_tag), (&r.site2, r.site2_s_tag)] {
                    q = q
                        .bind(&r.id)
                        .bind(site)
                        .bind(i64::from(tag))
                        .bind(r.start)
                        .bind(r.end);
                }
            }
            q.execute(&mut **tx).await.map_err(map_booking_err)?;
        }
        let span = made.iter().map(|(r, _)| r.end - r.start).max().unwrap_or(0);
        if span > locked.span1.min(locked.span2).min(locked.link_span) {
            for site in [&locked.site1.name, &locked.site2.name] {
                sqlx::query(
                    "UPDATE slices_sites SET max_span = $1 WHERE name = $2 AND max_span < $1",
                )
                .bind(span)
                .bind(site)
                .execute(&mut **tx)
                .await
                .map_err(map_err)?;
            }
            sqlx::query(
                "UPDATE slices_links SET max_span = $1 WHERE link_key = $2 AND max_span < $1",
            )
            .bind(span)
            .bind(&locked.link_key)
            .execute(&mut **tx)
            .await
            .map_err(map_err)?;
        }
        Ok(())
    }
}

#[async_trait]
impl ConnectivityRepository for Store {
    async fn list_sites(&self) -> Result<Vec<Site>, StoreError> {
        let rows = sqlx::query(
            "SELECT name, description, s_tags, c_tags, max_span FROM slices_sites ORDER BY name",
        )
        .fetch_all(self.read())
        .await
        .map_err(map_err)?;
        rows.iter().map(|r| site_from(r).map(|s| s.0)).collect()
    }

    async fn put_site(&self, site: &Site) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO slices_sites (name, description, s_tags, c_tags) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (name) DO UPDATE SET description = excluded.description, \
             s_tags = excluded.s_tags, c_tags = excluded.c_tags",
        )
        .bind(&site.name)
        .bind(&site.description)
        .bind(ranges_json(&site.s_tags))
        .bind(ranges_json(&site.c_tags))
        .execute(&mut *tx)
        .await
        .map_err(map_err)?;
        self.commit(tx, false).await
    }

    async fn delete_site(&self, name: &str) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        let used: Option<(String,)> = sqlx::query_as(
            "SELECT link_key FROM slices_links WHERE site_a = $1 OR site_b = $1 LIMIT 1",
        )
        .bind(name)
        .fetch_optional(&mut *tx)
        .await
        .map_err(map_err)?;
        if let Some((link,)) = used {
            return Err(StoreError::InUse(format!(
                "site '{name}' still has link {link}; delete its links first"
            )));
        }
        let done = sqlx::query("DELETE FROM slices_sites WHERE name = $1")
            .bind(name)
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound {
                kind: "site",
                key: name.into(),
            });
        }
        self.commit(tx, false).await
    }

    async fn list_links(&self) -> Result<Vec<Link>, StoreError> {
        let rows = sqlx::query(
            "SELECT site_a, site_b, capacity_ab, capacity_ba, max_span FROM slices_links ORDER BY link_key",
        )
        .fetch_all(self.read())
        .await
        .map_err(map_err)?;
        rows.iter().map(|r| link_from(r).map(|l| l.0)).collect()
    }

    async fn put_link(&self, link: &Link) -> Result<(), StoreError> {
        // Stored with its ends in name order; capacities swap with them.
        let (a, b, ab, ba) = if link.site_a <= link.site_b {
            (
                &link.site_a,
                &link.site_b,
                link.capacity_ab,
                link.capacity_ba,
            )
        } else {
            (
                &link.site_b,
                &link.site_a,
                link.capacity_ba,
                link.capacity_ab,
            )
        };
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO slices_links (link_key, site_a, site_b, capacity_ab, capacity_ba) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (link_key) DO UPDATE SET capacity_ab = excluded.capacity_ab, capacity_ba = excluded.capacity_ba",
        )
        .bind(Link::key(a, b))
        .bind(a)
        .bind(b)
        .bind(ab)
        .bind(ba)
        .execute(&mut *tx)
        .await
        .map_err(|e| match map_err(e) {
            StoreError::InUse(_) => StoreError::NotFound {
                kind: "site",
                key: format!("{a} or {b}"),
            },
            other => other,
        })?;
        self.commit(tx, false).await
    }

    async fn delete_link(&self, a: &str, b: &str) -> Result<(), StoreError> {
        let key = Link::key(a, b);
        let mut tx = self.begin_write().await?;
        let used: Option<(String,)> = sqlx::query_as(
            "SELECT id FROM slices_reservations WHERE link_key = $1 AND state = 'active' LIMIT 1",
        )
        .bind(&key)
        .fetch_optional(&mut *tx)
        .await
        .map_err(map_err)?;
        if let Some((id,)) = used {
            return Err(StoreError::InUse(format!(
                "link {a} <-> {b} carries active reservation {id}"
            )));
        }
        let done = sqlx::query("DELETE FROM slices_links WHERE link_key = $1")
            .bind(&key)
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound {
                kind: "link",
                key: format!("{a} <-> {b}"),
            });
        }
        self.commit(tx, false).await
    }

    async fn seed_topology(&self, sites: &[Site], links: &[Link]) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM slices_sites")
            .fetch_one(&mut *tx)
            .await
            .map_err(map_err)?;
        if n > 0 {
            return Ok(false);
        }
        for s in sites {
            sqlx::query(
                "INSERT INTO slices_sites (name, description, s_tags, c_tags) VALUES ($1, $2, $3, $4)",
            )
            .bind(&s.name)
            .bind(&s.description)
            .bind(ranges_json(&s.s_tags))
            .bind(ranges_json(&s.c_tags))
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
        }
        for l in links {
            let (a, b, ab, ba) = if l.site_a <= l.site_b {
                (&l.site_a, &l.site_b, l.capacity_ab, l.capacity_ba)
            } else {
                (&l.site_b, &l.site_a, l.capacity_ba, l.capacity_ab)
            };
            sqlx::query(
                "INSERT INTO slices_links (link_key, site_a, site_b, capacity_ab, capacity_ba) VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(Link::key(a, b))
            .bind(a)
            .bind(b)
            .bind(ab)
            .bind(ba)
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
        }
        self.commit(tx, false).await?;
        Ok(true)
    }

    async fn reserve(&self, cmd: &ReserveCommand) -> Result<Outcome, StoreError> {
        let key = (cmd.request.site1.clone(), cmd.request.site2.clone());
        loop {
            let queue = self.batcher().queue(self, &key);
            let (done, result) = tokio::sync::oneshot::channel();
            if queue.send((cmd.clone(), done)).is_err() {
                // Its worker retired between lookup and send; the next lookup starts a new one.
                self.batcher().forget(&key, &queue);
                continue;
            }
            return result.await.map_err(|_| {
                StoreError::Internal("the allocation worker of this link stopped".into())
            })?;
        }
    }

    async fn update(&self, cmd: &UpdateCommand) -> Result<Outcome, StoreError> {
        let req = &cmd.request;
        let mut tx = self.begin_write().await?;
        let locked = match self
            .lock_pair(&mut tx, &req.site1, &req.site2, true)
            .await?
        {
            Ok(l) => l,
            Err(r) => return Ok(Outcome::Refused(r)),
        };
        let old = match Self::reservation_in(&mut tx, &cmd.id).await? {
            Some(r) if r.experiment_id == cmd.experiment_id => r,
            _ => return Ok(Outcome::NotFound),
        };
        match old.state {
            ReservationState::Active => {}
            ReservationState::Expired => return Ok(Outcome::Refused(Refusal::Ended)),
            ReservationState::Deleted => return Ok(Outcome::NotFound),
        }
        // Same sites in the same order: try to keep the tags the user already configured.
        let keep = (old.site1 == req.site1 && old.site2 == req.site2)
            .then_some((old.site1_s_tag, old.site2_s_tag));
        let alloc = match Self::plan_locked(&mut tx, &locked, req, &cmd.id, keep).await? {
            Ok(a) => a,
            Err(r) => return Ok(Outcome::Refused(r)),
        };
        let r = Reservation {
            site1: req.site1.clone(),
            site2: req.site2.clone(),
            bandwidth: req.bandwidth,
            start: req.start,
            end: req.end,
            updated_at: cmd.now,
            site1_s_tag: alloc.site1_s_tag,
            site1_c_tag: alloc.site1_c_tag,
            site2_s_tag: alloc.site2_s_tag,
            site2_c_tag: alloc.site2_c_tag,
            qinq: req.qinq,
            ..old
        };
        sqlx::query("DELETE FROM slices_vlan_bookings WHERE reservation_id = $1")
            .bind(&r.id)
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
        sqlx::query(
            "UPDATE slices_reservations SET site1 = $1, site2 = $2, link_key = $3, bandwidth = $4, start_us = $5, \
             end_us = $6, updated_at = $7, site1_s_tag = $8, site1_c_tag = $9, site2_s_tag = $10, site2_c_tag = $11, \
             qinq = $12 WHERE id = $13",
        )
        .bind(&r.site1)
        .bind(&r.site2)
        .bind(&locked.link_key)
        .bind(r.bandwidth)
        .bind(r.start)
        .bind(r.end)
        .bind(r.updated_at)
        .bind(i64::from(r.site1_s_tag))
        .bind(i64::from(r.site1_c_tag))
        .bind(i64::from(r.site2_s_tag))
        .bind(i64::from(r.site2_c_tag))
        .bind(r.qinq as i64)
        .bind(&r.id)
        .execute(&mut *tx)
        .await
        .map_err(map_err)?;
        Self::book(&mut tx, &r, Some(&locked)).await?;
        self.commit_with(tx, &[reservation_event("updated", &r)])
            .await?;
        Ok(Outcome::Done(r))
    }

    async fn release(
        &self,
        id: &str,
        experiment_id: &str,
        now: Micros,
    ) -> Result<Option<Reservation>, StoreError> {
        let mut tx = self.begin_write().await?;
        let Some(mut r) = Self::reservation_in(&mut tx, id).await? else {
            return Ok(None);
        };
        if r.experiment_id != experiment_id || r.state == ReservationState::Deleted {
            return Ok(None);
        }
        sqlx::query("DELETE FROM slices_vlan_bookings WHERE reservation_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
        sqlx::query(
            "UPDATE slices_reservations SET state = 'deleted', updated_at = $1 WHERE id = $2",
        )
        .bind(now)
        .bind(id)
        .execute(&mut *tx)
        .await
        .map_err(map_err)?;
        r.state = ReservationState::Deleted;
        r.updated_at = now;
        self.commit_with(tx, &[reservation_event("deleted", &r)])
            .await?;
        Ok(Some(r))
    }

    async fn get_reservation(&self, id: &str) -> Result<Option<Reservation>, StoreError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {RESERVATION_COLUMNS} FROM slices_reservations WHERE id = $1"
        )))
        .bind(id)
        .fetch_optional(self.read())
        .await
        .map_err(map_err)?;
        row.as_ref().map(reservation_from).transpose()
    }

    async fn list_reservations(
        &self,
        f: &ReservationFilter,
    ) -> Result<Vec<Reservation>, StoreError> {
        let mut sql = format!("SELECT {RESERVATION_COLUMNS} FROM slices_reservations WHERE 1 = 1");
        let mut texts: Vec<String> = Vec::new();
        let mut n = 0;
        let mut next = || {
            n += 1;
            format!("${n}")
        };
        if let Some(e) = &f.experiment_id {
            sql += &format!(" AND experiment_id = {}", next());
            texts.push(e.clone());
        }
        if let Some(s) = &f.site {
            let (a, b) = (next(), next());
            sql += &format!(" AND (site1 = {a} OR site2 = {b})");
            texts.push(s.clone());
            texts.push(s.clone());
        }
        let states = if f.states.is_empty() {
            vec![ReservationState::Active]
        } else {
            f.states.clone()
        };
        let list: Vec<String> = states.iter().map(|s| format!("'{}'", s.as_str())).collect();
        sql += &format!(" AND state IN ({})", list.join(", "));
        let mut ints: Vec<i64> = Vec::new();
        if let Some(to) = f.to {
            sql += &format!(" AND start_us < {}", next());
            ints.push(to);
        }
        if let Some(from) = f.from {
            sql += &format!(" AND end_us > {}", next());
            ints.push(from);
        }
        sql += &format!(" ORDER BY start_us, id LIMIT {}", next());
        ints.push(f.limit.max(1));
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for t in &texts {
            q = q.bind(t);
        }
        for i in ints {
            q = q.bind(i);
        }
        let rows = q.fetch_all(self.read()).await.map_err(map_err)?;
        rows.iter().map(reservation_from).collect()
    }

    async fn expire(&self, now: Micros, limit: i64) -> Result<Vec<Reservation>, StoreError> {
        let mut tx = self.begin_write().await?;
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {RESERVATION_COLUMNS} FROM slices_reservations WHERE state = 'active' AND end_us <= $1 \
             ORDER BY end_us LIMIT $2"
        )))
        .bind(now)
        .bind(limit)
        .fetch_all(&mut *tx)
        .await
        .map_err(map_err)?;
        let mut done = Vec::with_capacity(rows.len());
        for row in &rows {
            let mut r = reservation_from(row)?;
            sqlx::query("DELETE FROM slices_vlan_bookings WHERE reservation_id = $1")
                .bind(&r.id)
                .execute(&mut *tx)
                .await
                .map_err(map_err)?;
            sqlx::query(
                "UPDATE slices_reservations SET state = 'expired', updated_at = $1 WHERE id = $2 AND state = 'active'",
            )
            .bind(now)
            .bind(&r.id)
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
            r.state = ReservationState::Expired;
            r.updated_at = now;
            done.push(r);
        }
        let events: Vec<_> = done
            .iter()
            .map(|r| reservation_event("expired", r))
            .collect();
        self.commit_with(tx, &events).await?;
        Ok(done)
    }

    async fn availability(
        &self,
        site1: &str,
        site2: &str,
        start: Micros,
        end: Micros,
    ) -> Result<Result<Availability, Refusal>, StoreError> {
        // A read transaction on the read pool: consistent, and it holds no lock.
        let mut tx = self.read().begin().await.map_err(map_err)?;
        let locked = match self.lock_pair(&mut tx, site1, site2, false).await? {
            Ok(l) => l,
            Err(r) => return Ok(Err(r)),
        };
        let window = ReservationRequest {
            site1: site1.into(),
            site2: site2.into(),
            bandwidth: 0,
            start,
            end,
            qinq: false,
        };
        let (load, t1, t2) = Self::window_bookings(&mut tx, &locked, &window, "").await?;
        let capacity = locked.link.usable_capacity();
        let peak = peak_load(&load, start, end);
        let free = |pool: &[TagRange], used: &std::collections::BTreeSet<u16>| {
            pool.iter()
                .flat_map(|r| r.lo..=r.hi)
                .collect::<std::collections::BTreeSet<u16>>()
                .difference(used)
                .count()
        };
        let (u1, u2) = (used_tags(&t1, start, end), used_tags(&t2, start, end));
        Ok(Ok(Availability {
            capacity,
            peak,
            free_mbps: (capacity - peak).max(0),
            site1_s_tag: lowest_free_tag(&locked.site1.s_tags, &u1, None),
            site2_s_tag: lowest_free_tag(&locked.site2.s_tags, &u2, None),
            site1_free_tags: free(&locked.site1.s_tags, &u1),
            site2_free_tags: free(&locked.site2.s_tags, &u2),
        }))
    }

    async fn import_reservations(&self, rs: &[Reservation]) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        for r in rs {
            import_one(&mut tx, r).await?;
        }
        self.commit(tx, false).await
    }
}

async fn import_one(tx: &mut Tx<'_>, r: &Reservation) -> Result<(), StoreError> {
    let q = sqlx::query(sqlx::AssertSqlSafe(format!(
        "INSERT INTO slices_reservations ({RESERVATION_COLUMNS}, link_key) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)"
    )));
    bind_reservation(q, r)
        .bind(Link::key(&r.site1, &r.site2))
        .execute(&mut **tx)
        .await
        .map_err(map_err)?;
    if r.state == ReservationState::Active {
        Store::book(tx, r, None).await?;
    }
    Ok(())
}
