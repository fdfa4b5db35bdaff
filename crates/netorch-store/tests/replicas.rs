//! What replicas on one database rely on (SQLite, and PostgreSQL when NETORCH_TEST_DATABASE_URL
//! is set): migrations run by several at once, leases that change hands only when they expire,
//! settings the first replica pins.

use netorch_test_support::TestDb;

const SECOND: i64 = 1_000_000;

#[tokio::test]
async fn on_postgres_replicas_starting_at_once_on_a_fresh_database_all_migrate_it_without_error() {
    let db = TestDb::new().await.expect("db");
    // On SQLite one process owns the data dir (a second is refused at start-up), so only
    // PostgreSQL sees several migrators; sqlx serialises them with an advisory lock.
    if netorch_test_support::skip_unless(&db, true, "replicas migrating one database") {
        return;
    }
    let starts: Vec<_> = (0..4)
        .map(|_| {
            let url = db.url.clone();
            tokio::spawn(async move {
                let store = netorch_store::Store::connect(&url, &Default::default()).await?;
                store.migrate().await?;
                Ok::<_, netorch_core::StoreError>(store)
            })
        })
        .collect();
    for s in starts {
        let store = s.await.expect("task").expect("a replica starts");
        assert!(
            store.ready().await.expect("ready"),
            "every migration applied"
        );
    }
}

#[tokio::test]
async fn a_lease_is_kept_by_its_holders_renewals_and_changes_hands_only_once_expired() {
    let db = TestDb::new().await.expect("db");
    let store = db.store().await.expect("store");
    let t0 = 1_000 * SECOND;
    let a = store
        .acquire_lease("singletons", "a", t0, 10 * SECOND)
        .await
        .expect("a");
    assert_eq!(a.holder, "a");
    // b asks while a's lease runs: still a's.
    let b = store
        .acquire_lease("singletons", "b", t0 + 5 * SECOND, 10 * SECOND)
        .await
        .expect("b");
    assert_eq!(b.holder, "a");
    // a renews: the expiry moves, the acquisition time stays.
    let a2 = store
        .acquire_lease("singletons", "a", t0 + 8 * SECOND, 10 * SECOND)
        .await
        .expect("a");
    assert_eq!(
        (a2.holder.as_str(), a2.acquired_at, a2.expires_at),
        ("a", t0, t0 + 18 * SECOND)
    );
    let b = store
        .acquire_lease("singletons", "b", t0 + 15 * SECOND, 10 * SECOND)
        .await
        .expect("b");
    assert_eq!(b.holder, "a", "not expired yet");
    // a stops renewing (killed): b takes it after the expiry.
    let b = store
        .acquire_lease("singletons", "b", t0 + 19 * SECOND, 10 * SECOND)
        .await
        .expect("b");
    assert_eq!((b.holder.as_str(), b.acquired_at), ("b", t0 + 19 * SECOND));
    // A clean release hands it over at once; a release by a non-holder changes nothing.
    store
        .release_lease("singletons", "a")
        .await
        .expect("release");
    assert_eq!(
        store
            .lease("singletons")
            .await
            .expect("get")
            .expect("held")
            .holder,
        "b"
    );
    store
        .release_lease("singletons", "b")
        .await
        .expect("release");
    assert_eq!(store.lease("singletons").await.expect("get"), None);
    let c = store
        .acquire_lease("singletons", "c", t0 + 20 * SECOND, 10 * SECOND)
        .await
        .expect("c");
    assert_eq!(c.holder, "c");
}

#[tokio::test]
async fn replicas_racing_for_a_free_lease_agree_on_one_holder() {
    let db = TestDb::new().await.expect("db");
    let store = db.store().await.expect("store");
    let tries: Vec<_> = (0..8)
        .map(|i| {
            let s = store.clone();
            tokio::spawn(async move {
                s.acquire_lease("race", &format!("r{i}"), 1_000 * SECOND, 10 * SECOND)
                    .await
            })
        })
        .collect();
    let mut holders = std::collections::BTreeSet::new();
    for t in tries {
        holders.insert(t.await.expect("task").expect("acquire").holder);
    }
    assert_eq!(holders.len(), 1, "{holders:?}");
}

#[tokio::test]
async fn the_first_pinned_value_of_a_setting_stays() {
    let db = TestDb::new().await.expect("db");
    let store = db.store().await.expect("store");
    assert_eq!(store.pin_setting("k", "one", 1).await.expect("pin"), "one");
    assert_eq!(store.pin_setting("k", "two", 2).await.expect("pin"), "one");
}
