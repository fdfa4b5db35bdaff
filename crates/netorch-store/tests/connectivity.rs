//! Reservations on the real store (SQLite, and PostgreSQL when NETORCH_TEST_DATABASE_URL is set):
//! random reserve/update/delete sequences never double-book a VLAN nor overload a link, and the
//! database itself refuses a double booking.

use netorch_core::connectivity::{
    Booking, ConnectivityRepository, Link, Outcome, Reservation, ReservationFilter,
    ReservationRequest, ReserveCommand, Site, TagRange, UpdateCommand, peak_load,
};
use netorch_store::Store;
use netorch_test_support::TestDb;
use proptest::prelude::*;

const HOUR: i64 = 3_600_000_000;
const SITES: [&str; 3] = ["a", "b", "c"];
const PAIRS: [(&str, &str); 3] = [("a", "b"), ("b", "c"), ("c", "a")];

fn capacity(a: &str, b: &str) -> i64 {
    match Link::key(a, b).as_str() {
        "a|c" => 150,
        _ => 100,
    }
}

async fn topology(store: &Store) {
    // Two S-tags per site, so VLANs run out as often as bandwidth does.
    let sites: Vec<Site> = SITES
        .iter()
        .map(|n| Site {
            name: (*n).into(),
            description: String::new(),
            s_tags: vec![TagRange { lo: 10, hi: 11 }],
            c_tags: vec![TagRange { lo: 100, hi: 100 }],
        })
        .collect();
    let links: Vec<Link> = PAIRS
        .iter()
        .map(|(a, b)| Link {
            site_a: (*a).into(),
            site_b: (*b).into(),
            capacity_ab: capacity(a, b),
            capacity_ba: capacity(a, b) + 50,
        })
        .collect();
    assert!(store.seed_topology(&sites, &links).await.expect("seed"));
}

#[derive(Debug, Clone)]
enum Op {
    Reserve(usize, i64, i64, i64, bool),
    Update(usize, usize, i64, i64, i64),
    Delete(usize),
}

fn op() -> impl Strategy<Value = Op> {
    let window = (0i64..8, 1i64..4);
    let bw = prop::sample::select(vec![20i64, 40, 60, 100]);
    prop_oneof![
        4 => (0usize..3, window.clone(), bw.clone(), any::<bool>())
            .prop_map(|(p, (s, d), b, q)| Op::Reserve(p, s, s + d, b, q)),
        2 => (0usize..64, 0usize..3, window, bw).prop_map(|(i, p, (s, d), b)| Op::Update(i, p, s, s + d, b)),
        1 => (0usize..64).prop_map(Op::Delete),
    ]
}

async fn active(store: &Store) -> Vec<Reservation> {
    store
        .list_reservations(&ReservationFilter {
            limit: 10_000,
            ..Default::default()
        })
        .await
        .expect("list")
}

/// The two invariants, checked over every active reservation.
fn check(all: &[Reservation]) {
    for (i, x) in all.iter().enumerate() {
        for y in &all[i + 1..] {
            if x.start < y.end && y.start < x.end {
                for (sx, tx) in [(&x.site1, x.site1_s_tag), (&x.site2, x.site2_s_tag)] {
                    for (sy, ty) in [(&y.site1, y.site1_s_tag), (&y.site2, y.site2_s_tag)] {
                        assert!(
                            !(sx == sy && tx == ty),
                            "S-tag {tx} at {sx} double-booked by {} and {}",
                            x.id,
                            y.id
                        );
                    }
                }
            }
        }
        assert!((10..=11).contains(&x.site1_s_tag) && (10..=11).contains(&x.site2_s_tag));
    }
    for (a, b) in PAIRS {
        let on: Vec<Booking> = all
            .iter()
            .filter(|r| Link::key(&r.site1, &r.site2) == Link::key(a, b))
            .map(|r| Booking {
                start: r.start,
                end: r.end,
                amount: r.bandwidth,
            })
            .collect();
        assert!(
            peak_load(&on, 0, 100 * HOUR) <= capacity(a, b),
            "link {a}-{b} overloaded"
        );
    }
}

async fn run(ops: Vec<Op>) {
    let db = TestDb::new().await.expect("db");
    let store = db.store().await.expect("store");
    topology(&store).await;
    let mut ids: Vec<String> = Vec::new();
    for (n, op) in ops.into_iter().enumerate() {
        let before = active(&store).await;
        let request = |p: usize, s: i64, e: i64, bw: i64, qinq: bool| {
            let (a, b) = PAIRS[p];
            ReservationRequest {
                site1: a.into(),
                site2: b.into(),
                bandwidth: bw,
                start: s * HOUR,
                end: e * HOUR,
                qinq,
            }
        };
        let outcome = match op {
            Op::Reserve(p, s, e, bw, q) => {
                let id = format!("r{n}");
                let out = store
                    .reserve(&ReserveCommand {
                        id: id.clone(),
                        experiment_id: "exp".into(),
                        created_by: "u".into(),
                        request: request(p, s, e, bw, q),
                        idempotency: None,
                        now: 0,
                    })
                    .await
                    .expect("reserve");
                if let Outcome::Done(r) = &out {
                    assert_eq!(r.site1_c_tag, if q { 100 } else { 0 });
                    ids.push(id);
                }
                out
            }
            Op::Update(i, p, s, e, bw) if !ids.is_empty() => {
                let id = ids[i % ids.len()].clone();
                store
                    .update(&UpdateCommand {
                        id,
                        experiment_id: "exp".into(),
                        request: request(p, s, e, bw, false),
                        now: 0,
                    })
                    .await
                    .expect("update")
            }
            Op::Delete(i) if !ids.is_empty() => {
                let id = ids.remove(i % ids.len());
                store.release(&id, "exp", 0).await.expect("release");
                Outcome::NotFound
            }
            _ => continue,
        };
        let after = active(&store).await;
        if matches!(outcome, Outcome::Refused(_) | Outcome::NotFound)
            && !matches!(op, Op::Delete(_))
        {
            assert_eq!(before, after, "a refused {op:?} changed the stored state");
        }
        check(&after);
    }
    store.close().await;
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn random_reserve_update_delete_sequences_never_double_book_nor_overload_a_link(
        ops in prop::collection::vec(op(), 1..40)
    ) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        rt.block_on(run(ops));
    }
}

#[tokio::test]
async fn on_postgres_the_database_itself_refuses_a_vlan_double_booking_that_skips_the_application()
{
    let db = TestDb::new().await.expect("db");
    // SQLite has one writer connection; the exclusion constraint is PostgreSQL's.
    if netorch_test_support::skip_unless(&db, true, "the exclusion constraint on VLAN bookings") {
        return;
    }
    let store = db.store().await.expect("store");
    topology(&store).await;
    let out = store
        .reserve(&ReserveCommand {
            id: "first".into(),
            experiment_id: "exp".into(),
            created_by: "u".into(),
            request: ReservationRequest {
                site1: "a".into(),
                site2: "b".into(),
                bandwidth: 10,
                start: 0,
                end: 2 * HOUR,
                qinq: false,
            },
            idempotency: None,
            now: 0,
        })
        .await
        .expect("reserve");
    let Outcome::Done(r) = out else {
        panic!("{out:?}")
    };
    sqlx::any::install_default_drivers();
    let mut conn = <sqlx::AnyConnection as sqlx::Connection>::connect(&db.url)
        .await
        .expect("connect");
    sqlx::query(
        "INSERT INTO slices_reservations (id, experiment_id, created_by, site1, site2, link_key, bandwidth, \
         start_us, end_us, created_at, updated_at, site1_s_tag, site1_c_tag, site2_s_tag, site2_c_tag, state) \
         VALUES ('second', 'exp', 'u', 'a', 'b', 'a|b', 1, 0, 1, 0, 0, 0, 0, 0, 0, 'active')",
    )
    .execute(&mut conn)
    .await
    .expect("row");
    let book = |start: i64, end: i64| {
        sqlx::AssertSqlSafe(format!(
            "INSERT INTO slices_vlan_bookings (reservation_id, site, s_tag, start_us, end_us) \
             VALUES ('second', 'a', {}, {start}, {end})",
            r.site1_s_tag
        ))
    };
    // Same site, same tag, overlapping window: refused by the exclusion constraint.
    let err = sqlx::query(book(HOUR, 3 * HOUR))
        .execute(&mut conn)
        .await
        .expect_err("overlapping booking refused");
    let code = err
        .as_database_error()
        .and_then(|d| d.code())
        .map(|c| c.to_string());
    assert_eq!(code.as_deref(), Some("23P01"), "{err}");
    // Half-open ranges: a booking starting when the first ends does not overlap.
    sqlx::query(book(2 * HOUR, 4 * HOUR))
        .execute(&mut conn)
        .await
        .expect("back-to-back booking");
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_reservations_are_allocated_in_batches_without_double_booking() {
    let db = TestDb::new().await.expect("db");
    let store = db.store().await.expect("store");
    topology(&store).await;
    let mut tasks = Vec::new();
    for i in 0..96i64 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let (a, b) = PAIRS[(i % 2) as usize];
            // The same key twice (i = 0 and i = 48), in one batch or in two.
            let key = if i % 48 == 0 {
                Some(("same".to_string(), "h".to_string()))
            } else {
                None
            };
            store
                .reserve(&ReserveCommand {
                    id: format!("c{i}"),
                    experiment_id: "exp".into(),
                    created_by: "u".into(),
                    request: ReservationRequest {
                        site1: a.into(),
                        site2: b.into(),
                        bandwidth: 20 + (i % 3) * 20,
                        start: (i % 6) * HOUR,
                        end: (i % 6 + 1 + i % 3) * HOUR,
                        qinq: false,
                    },
                    idempotency: key,
                    now: 0,
                })
                .await
                .expect("reserve")
        }));
    }
    let (mut done, mut replayed, mut keyed_done) = (0, 0, 0);
    for (i, t) in tasks.into_iter().enumerate() {
        match t.await.expect("join") {
            Outcome::Done(_) => {
                done += 1;
                if i % 48 == 0 {
                    keyed_done += 1;
                }
            }
            Outcome::Replayed(r) => {
                replayed += 1;
                assert!(r.id == "c0" || r.id == "c48");
            }
            Outcome::Refused(_) => {}
            Outcome::NotFound => panic!("not found on reserve"),
        }
    }
    // One key, at most one reservation; a replay only of one that was made (the first of the two
    // may have been refused for lack of room, and then the second is planned afresh).
    assert!(keyed_done <= 1, "one idempotency key made two reservations");
    assert!(
        replayed <= keyed_done,
        "replayed a reservation that was never made"
    );
    let all = active(&store).await;
    assert_eq!(all.len(), done);
    assert!(done > 0);
    check(&all);
    store.close().await;
}
