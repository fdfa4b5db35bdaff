//! Contract tests of the repository ports. Run on SQLite always and on PostgreSQL when
//! `NETORCH_TEST_DATABASE_URL` is set (scripts/test does both).

use std::{collections::BTreeMap, sync::Arc};

use netorch_core::{
    StoreError,
    events::{NewEvent, OutboxRepository},
    identity::{IdentityRepository, Project, ProjectRoleMapping, Role, TokenRecord, User},
    jobs::{JobRepository, JobState, NewJob},
    new_id,
    tenancy::ProjectScope,
};
use netorch_store::Store;
use netorch_test_support::TestDb;
use serde_json::json;

async fn store() -> (TestDb, Store) {
    let db = TestDb::new().await.expect("test database");
    let s = db.store().await.expect("store");
    (db, s)
}

fn project(name: &str) -> Project {
    Project {
        id: new_id(),
        name: name.into(),
        admin: false,
        quotas: BTreeMap::from([("vnfds".to_string(), 3)]),
        created: 1,
        modified: 1,
    }
}

fn role(name: &str) -> Role {
    Role {
        id: new_id(),
        name: name.into(),
        permissions: BTreeMap::from([("default".to_string(), true)]),
        created: 1,
        modified: 1,
    }
}

fn user(name: &str, mappings: Vec<ProjectRoleMapping>) -> User {
    User {
        id: new_id(),
        username: name.into(),
        password_hash: "$argon2id$x".into(),
        status: "active".into(),
        mappings,
        created: 1,
        modified: 1,
    }
}

#[tokio::test]
async fn projects_are_unique_by_name_and_found_by_id_or_name() {
    let (_db, s) = store().await;
    let p = project("P1");
    s.insert_project(&p, &[]).await.expect("insert");
    let dup = s.insert_project(&project("P1"), &[]).await;
    assert!(
        matches!(dup, Err(StoreError::Conflict(ref m)) if m == "project 'P1' exists"),
        "{dup:?}"
    );
    assert_eq!(s.find_project("P1").await.expect("find").expect("some"), p);
    assert_eq!(
        s.find_project(&p.id)
            .await
            .expect("find")
            .expect("some")
            .name,
        "P1"
    );
    let mut edited = p.clone();
    edited.name = "P2".into();
    edited.admin = true;
    s.update_project(&edited, &[]).await.expect("update");
    assert_eq!(s.find_project(&p.id).await.expect("find"), Some(edited));
    assert!(s.find_project("P1").await.expect("find").is_none());
    s.delete_project(&p.id, false, &[]).await.expect("delete");
    assert!(matches!(
        s.delete_project(&p.id, false, &[]).await,
        Err(StoreError::NotFound { .. })
    ));
}

#[tokio::test]
async fn users_keep_mapping_order_and_refuse_unknown_projects() {
    let (_db, s) = store().await;
    let (p1, p2, r) = (project("P1"), project("P2"), role("r"));
    s.insert_project(&p1, &[]).await.expect("p1");
    s.insert_project(&p2, &[]).await.expect("p2");
    s.insert_role(&r, &[]).await.expect("role");
    let maps = vec![
        ProjectRoleMapping {
            project_id: p2.id.clone(),
            role_id: r.id.clone(),
        },
        ProjectRoleMapping {
            project_id: p1.id.clone(),
            role_id: r.id.clone(),
        },
    ];
    let u = user("alice", maps.clone());
    s.insert_user(&u, &[]).await.expect("insert");
    assert_eq!(
        s.find_user("alice")
            .await
            .expect("find")
            .expect("some")
            .mappings,
        maps
    );
    assert!(matches!(
        s.insert_user(&user("alice", vec![]), &[]).await,
        Err(StoreError::Conflict(_))
    ));
    let bad = user(
        "bob",
        vec![ProjectRoleMapping {
            project_id: "nope".into(),
            role_id: r.id.clone(),
        }],
    );
    assert!(s.insert_user(&bad, &[]).await.is_err());
    assert!(
        s.find_user("bob").await.expect("find").is_none(),
        "a failed insert leaves nothing behind"
    );
    assert_eq!(s.count_users().await.expect("count"), 1);
}

#[tokio::test]
async fn projects_and_roles_in_use_cannot_be_deleted() {
    let (_db, s) = store().await;
    let (p, r) = (project("P1"), role("r"));
    s.insert_project(&p, &[]).await.expect("p");
    s.insert_role(&r, &[]).await.expect("r");
    let u = user(
        "alice",
        vec![ProjectRoleMapping {
            project_id: p.id.clone(),
            role_id: r.id.clone(),
        }],
    );
    s.insert_user(&u, &[]).await.expect("u");
    let e = s.delete_project(&p.id, false, &[]).await;
    assert!(
        matches!(e, Err(StoreError::InUse(ref m)) if m.contains("alice")),
        "{e:?}"
    );
    assert!(matches!(
        s.delete_role(&r.id, false, &[]).await,
        Err(StoreError::InUse(_))
    ));
    s.delete_role(&r.id, true, &[])
        .await
        .expect("forced: the mapping goes with the role");
    assert!(
        s.find_user("alice")
            .await
            .expect("find")
            .expect("user")
            .mappings
            .is_empty()
    );
    s.delete_project(&p.id, false, &[])
        .await
        .expect("project now free");
}

#[tokio::test]
async fn tokens_expire_are_revoked_and_go_with_their_user() {
    let (_db, s) = store().await;
    let (p, r) = (project("P1"), role("r"));
    s.insert_project(&p, &[]).await.expect("p");
    s.insert_role(&r, &[]).await.expect("r");
    let u = user(
        "alice",
        vec![ProjectRoleMapping {
            project_id: p.id.clone(),
            role_id: r.id.clone(),
        }],
    );
    s.insert_user(&u, &[]).await.expect("u");
    let tok = |hash: &str, expires| TokenRecord {
        hash: hash.into(),
        user_id: u.id.clone(),
        project_id: p.id.clone(),
        issued_at: 0,
        expires,
        remote_host: "127.0.0.1".into(),
        remote_port: 1234,
    };
    s.insert_token(&tok("a", 100)).await.expect("a");
    s.insert_token(&tok("b", 1_000)).await.expect("b");
    assert_eq!(s.find_token("a").await.expect("find"), Some(tok("a", 100)));
    let live: Vec<String> = s
        .list_tokens(&u.id, 500)
        .await
        .expect("list")
        .into_iter()
        .map(|t| t.hash)
        .collect();
    assert_eq!(live, vec!["b".to_string()]);
    assert_eq!(s.purge_expired_tokens(500).await.expect("purge"), 1);
    assert!(s.delete_token("b", &[]).await.expect("delete"));
    assert!(!s.delete_token("b", &[]).await.expect("delete again"));
    s.insert_token(&tok("c", 1_000)).await.expect("c");
    s.delete_user(&u.id, &[]).await.expect("delete user");
    assert!(s.find_token("c").await.expect("find").is_none());
}

#[tokio::test]
async fn events_are_written_with_the_change_or_not_at_all() {
    let (_db, s) = store().await;
    let ev = NewEvent::new("project", "created", json!({"name": "P1"}));
    s.insert_project(&project("P1"), std::slice::from_ref(&ev))
        .await
        .expect("insert");
    let dup = NewEvent::new("project", "created", json!({"name": "P1"}));
    assert!(s.insert_project(&project("P1"), &[dup]).await.is_err());
    assert_eq!(
        s.pending_count().await.expect("count"),
        1,
        "the failed insert wrote no event"
    );
    let batch = s.claim("relay-a", 10, 10, 1_000).await.expect("claim");
    assert_eq!(batch.len(), 1);
    assert_eq!(batch[0].id, ev.id);
    assert_eq!(batch[0].payload, json!({"name": "P1"}));
    assert!(
        s.claim("relay-b", 10, 20, 1_000)
            .await
            .expect("claim")
            .is_empty(),
        "leased"
    );
    s.mark_failed(std::slice::from_ref(&ev.id), "down", 50)
        .await
        .expect("fail");
    assert!(
        s.claim("relay-b", 10, 40, 1_000)
            .await
            .expect("claim")
            .is_empty(),
        "not before retry time"
    );
    let again = s.claim("relay-b", 10, 60, 1_000).await.expect("claim");
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].attempts, 2);
    s.mark_delivered(std::slice::from_ref(&ev.id), 70)
        .await
        .expect("delivered");
    assert_eq!(s.pending_count().await.expect("count"), 0);
    assert_eq!(s.prune_delivered(71).await.expect("prune"), 1);
}

#[tokio::test]
async fn an_expired_outbox_lease_can_be_taken_over() {
    let (_db, s) = store().await;
    s.append(&[NewEvent::new("t", "k", json!(1))])
        .await
        .expect("append");
    assert_eq!(s.claim("a", 10, 0, 100).await.expect("claim").len(), 1);
    assert_eq!(s.claim("b", 10, 101, 200).await.expect("claim").len(), 1);
}

fn job(kind: &str, run_at: i64) -> NewJob {
    NewJob {
        kind: kind.into(),
        project_id: Some("p1".into()),
        payload: json!({"x": 1}),
        max_attempts: 3,
        run_at,
        dedupe_key: None,
    }
}

#[tokio::test]
async fn jobs_are_claimed_when_due_and_only_for_known_kinds() {
    let (_db, s) = store().await;
    let a = s.enqueue(&job("a", 100), 0).await.expect("a");
    s.enqueue(&job("b", 0), 0).await.expect("b");
    assert_eq!(a.state, JobState::Queued);
    let kinds = vec!["a".to_string()];
    assert!(
        s.claim_jobs("w", &kinds, 10, 50, 1_000)
            .await
            .expect("claim")
            .is_empty()
    );
    let got = s
        .claim_jobs("w", &kinds, 10, 100, 1_000)
        .await
        .expect("claim");
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].id, a.id);
    assert_eq!(got[0].attempts, 1);
    assert_eq!(got[0].state, JobState::Running);
    assert!(
        s.heartbeat(&a.id, "w", 2_000, Some("halfway"), 150)
            .await
            .expect("beat")
    );
    assert!(
        !s.heartbeat(&a.id, "other", 2_000, None, 150)
            .await
            .expect("beat")
    );
    assert!(
        s.complete_job(&a.id, "w", &json!({"ok": true}), 200)
            .await
            .expect("complete")
    );
    let done = s.get_job(&a.id).await.expect("get").expect("some");
    assert_eq!(done.state, JobState::Succeeded);
    assert_eq!(done.result, Some(json!({"ok": true})));
    assert_eq!(done.progress.as_deref(), Some("halfway"));
}

#[tokio::test]
async fn a_job_whose_worker_vanished_is_claimed_again_after_its_lease() {
    let (_db, s) = store().await;
    let j = s.enqueue(&job("a", 0), 0).await.expect("enqueue");
    let kinds = vec!["a".to_string()];
    assert_eq!(
        s.claim_jobs("dead", &kinds, 1, 10, 100)
            .await
            .expect("claim")
            .len(),
        1
    );
    assert!(
        s.claim_jobs("w2", &kinds, 1, 50, 150)
            .await
            .expect("claim")
            .is_empty()
    );
    let again = s
        .claim_jobs("w2", &kinds, 1, 101, 200)
        .await
        .expect("claim");
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].id, j.id);
    assert_eq!(again[0].attempts, 2);
    assert!(
        !s.complete_job(&j.id, "dead", &json!(null), 150)
            .await
            .expect("stale"),
        "the old owner lost it"
    );
}

#[tokio::test]
async fn failed_jobs_retry_then_fail_and_released_leases_do_not_count() {
    let (_db, s) = store().await;
    let j = s.enqueue(&job("a", 0), 0).await.expect("enqueue");
    let kinds = vec!["a".to_string()];
    s.claim_jobs("w", &kinds, 1, 1, 100).await.expect("claim");
    assert!(
        s.fail_job(&j.id, "w", "boom", Some(500), 2)
            .await
            .expect("fail")
    );
    let q = s.get_job(&j.id).await.expect("get").expect("job");
    assert_eq!(
        (q.state, q.next_run_at, q.last_error.as_deref()),
        (JobState::Queued, 500, Some("boom"))
    );
    s.claim_jobs("w", &kinds, 1, 500, 600).await.expect("claim");
    assert_eq!(s.release_leases("w", 510).await.expect("release"), 1);
    let r = s.get_job(&j.id).await.expect("get").expect("job");
    assert_eq!((r.state, r.attempts), (JobState::Queued, 1));
    s.claim_jobs("w", &kinds, 1, 520, 600).await.expect("claim");
    assert!(
        s.fail_job(&j.id, "w", "fatal", None, 530)
            .await
            .expect("fail")
    );
    assert_eq!(
        s.get_job(&j.id).await.expect("get").expect("job").state,
        JobState::Failed
    );
    assert!(
        !s.cancel_job(&j.id, 540).await.expect("cancel"),
        "final jobs stay final"
    );
}

#[tokio::test]
async fn finished_jobs_are_pruned_after_their_retention_and_unfinished_ones_never() {
    let (_db, s) = store().await;
    let kinds = ["k".to_string()];
    let mut ids = Vec::new();
    for (key, at) in [("a", 10), ("b", 20), ("c", 30)] {
        let mut j = job("k", at);
        j.dedupe_key = Some(key.into());
        ids.push(s.enqueue(&j, at).await.expect("enqueue").id);
    }
    // a succeeds at 10, b fails for good at 20, c stays queued.
    for (id, at) in [(&ids[0], 10), (&ids[1], 20)] {
        let claimed = s
            .claim_jobs("w", &kinds, 1, at, at + 100)
            .await
            .expect("claim");
        assert_eq!(&claimed[0].id, id);
        if at == 10 {
            assert!(
                s.complete_job(id, "w", &json!({}), at)
                    .await
                    .expect("complete")
            );
        } else {
            assert!(s.fail_job(id, "w", "no", None, at).await.expect("fail"));
        }
    }
    assert_eq!(s.prune_finished(15, 100).await.expect("prune"), 1);
    assert!(s.get_job(&ids[0]).await.expect("get").is_none());
    assert!(s.get_job(&ids[1]).await.expect("get").is_some());
    // The limit bounds one call; queued jobs stay whatever their age.
    assert_eq!(s.prune_finished(i64::MAX, 0).await.expect("none"), 0);
    assert_eq!(s.prune_finished(i64::MAX, 100).await.expect("prune"), 1);
    assert!(s.get_job(&ids[2]).await.expect("get").is_some());
    // A pruned job's dedupe key is free again.
    let mut again = job("k", 40);
    again.dedupe_key = Some("a".into());
    assert_ne!(s.enqueue(&again, 40).await.expect("enqueue").id, ids[0]);
}

#[tokio::test]
async fn dedupe_keys_return_the_existing_job() {
    let (_db, s) = store().await;
    let mut j = job("a", 0);
    j.dedupe_key = Some("k".into());
    let first = s.enqueue(&j, 0).await.expect("first");
    let second = s.enqueue(&j, 5).await.expect("second");
    assert_eq!(first.id, second.id);
}

#[tokio::test]
async fn job_listings_are_filtered_by_project() {
    let (_db, s) = store().await;
    s.enqueue(&job("a", 0), 0).await.expect("p1 job");
    let mut other = job("a", 0);
    other.project_id = Some("p2".into());
    s.enqueue(&other, 1).await.expect("p2 job");
    let only_p1 = s
        .list_jobs(
            &ProjectScope::Only {
                projects: vec!["p1".into()],
                public: netorch_core::tenancy::Public::Ignore,
            },
            None,
            100,
        )
        .await
        .expect("list");
    assert_eq!(only_p1.len(), 1);
    assert_eq!(only_p1[0].project_id.as_deref(), Some("p1"));
    assert_eq!(
        s.list_jobs(&ProjectScope::All, Some("a"), 100)
            .await
            .expect("list")
            .len(),
        2
    );
    assert!(
        s.list_jobs(
            &ProjectScope::Only {
                projects: vec![],
                public: netorch_core::tenancy::Public::Ignore
            },
            None,
            100
        )
        .await
        .expect("list")
        .is_empty()
    );
}

#[tokio::test]
async fn a_periodic_tick_is_taken_once() {
    let (_db, s) = store().await;
    let t = s.ensure_periodic("tick", 100).await.expect("ensure");
    assert_eq!(t.next_run_at, 100);
    assert_eq!(
        s.ensure_periodic("tick", 999)
            .await
            .expect("again")
            .next_run_at,
        100,
        "existing row kept"
    );
    assert!(
        s.advance_periodic("tick", 100, 200, 150)
            .await
            .expect("first")
    );
    assert!(
        !s.advance_periodic("tick", 100, 200, 150)
            .await
            .expect("second")
    );
    assert_eq!(
        s.list_periodic().await.expect("list")[0].last_run_at,
        Some(150)
    );
}

#[tokio::test]
async fn concurrent_workers_never_claim_one_job_twice() {
    let (_db, s) = store().await;
    for i in 0..60 {
        s.enqueue(&job("a", i), 0).await.expect("enqueue");
    }
    let s = Arc::new(s);
    let mut tasks = Vec::new();
    for w in 0..6 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            let kinds = vec!["a".to_string()];
            let mut mine = Vec::new();
            loop {
                let got = s
                    .claim_jobs(&format!("w{w}"), &kinds, 3, 1_000, 1_000_000)
                    .await
                    .expect("claim");
                if got.is_empty() {
                    break;
                }
                mine.extend(got.into_iter().map(|j| j.id));
            }
            mine
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.expect("task"));
    }
    let total = all.len();
    all.sort();
    all.dedup();
    assert_eq!(total, 60, "every job claimed");
    assert_eq!(all.len(), 60, "no job claimed twice");
}

#[tokio::test]
async fn readiness_reports_applied_migrations() {
    let (_db, s) = store().await;
    assert!(s.ready().await.expect("ready"));
    s.migrate().await.expect("migrations are idempotent");
}

#[tokio::test]
async fn users_are_read_with_project_and_role_names_in_mapping_order() {
    let (_db, s) = store().await;
    let (p1, p2, r) = (project("P1"), project("P2"), role("viewer"));
    for p in [&p1, &p2] {
        s.insert_project(p, &[]).await.expect("project");
    }
    s.insert_role(&r, &[]).await.expect("role");
    let maps = vec![
        ProjectRoleMapping {
            project_id: p2.id.clone(),
            role_id: r.id.clone(),
        },
        ProjectRoleMapping {
            project_id: p1.id.clone(),
            role_id: r.id.clone(),
        },
    ];
    let alice = user("alice", maps.clone());
    s.insert_user(&alice, &[]).await.expect("alice");
    s.insert_user(&user("bob", vec![]), &[]).await.expect("bob");
    let (u, named) = s
        .find_user_named("alice")
        .await
        .expect("find")
        .expect("some");
    assert_eq!(u.mappings, maps);
    let names: Vec<(&str, &str)> = named
        .iter()
        .map(|m| (m.project_name.as_str(), m.role_name.as_str()))
        .collect();
    assert_eq!(names, vec![("P2", "viewer"), ("P1", "viewer")]);
    assert_eq!(
        s.find_user_named(&alice.id)
            .await
            .expect("find")
            .expect("some")
            .0
            .username,
        "alice"
    );
    assert!(s.find_user_named("nobody").await.expect("find").is_none());
    let all = s.list_users_named().await.expect("list");
    let summary: Vec<(&str, usize)> = all
        .iter()
        .map(|(u, m)| (u.username.as_str(), m.len()))
        .collect();
    assert_eq!(summary, vec![("alice", 2), ("bob", 0)]);
}

mod records {
    use netorch_core::{
        StoreError,
        events::{NewEvent, OutboxRepository},
        tenancy::{ANY, Ownership, ProjectScope, Public, Record, RecordRepository},
    };
    use serde_json::json;

    use super::store;

    fn rec(id: &str, name: &str, read: &[&str], write: &[&str]) -> Record {
        Record {
            id: id.into(),
            name: Some(name.into()),
            body: json!({"name": name, "vim_type": "dummy"}),
            owners: Ownership {
                read: read.iter().map(|s| s.to_string()).collect(),
                write: write.iter().map(|s| s.to_string()).collect(),
            },
            created: 1,
            modified: 1,
            revision: 1,
        }
    }

    fn only(p: &[&str], public: Public) -> ProjectScope {
        ProjectScope::Only {
            projects: p.iter().map(|s| s.to_string()).collect(),
            public,
        }
    }

    fn ids(v: &[Record]) -> Vec<&str> {
        v.iter().map(|r| r.id.as_str()).collect()
    }

    #[tokio::test]
    async fn a_project_never_sees_another_projects_records() {
        let (_db, s) = store().await;
        s.insert_record("vim_accounts", &rec("a", "vim1", &["p1"], &["p1"]), &[])
            .await
            .expect("a");
        s.insert_record("vim_accounts", &rec("b", "vim1", &["p2"], &["p2"]), &[])
            .await
            .expect("b");
        s.insert_record("vim_accounts", &rec("c", "pub", &["p2", ANY], &["p2"]), &[])
            .await
            .expect("c");
        let p1 = only(&["p1"], Public::Ignore);
        assert_eq!(
            ids(&s.list_records("vim_accounts", &p1).await.expect("list")),
            ["a"]
        );
        assert!(
            s.get_record("vim_accounts", "b", &p1, false)
                .await
                .expect("get")
                .is_none()
        );
        assert!(
            s.get_record("vim_accounts", "b", &only(&["p1"], Public::Include), false)
                .await
                .expect("get")
                .is_none()
        );
        assert_eq!(
            ids(&s
                .list_records("vim_accounts", &only(&["p1"], Public::Include))
                .await
                .expect("list")),
            ["a", "c"]
        );
        assert_eq!(
            ids(&s
                .list_records("vim_accounts", &only(&["p2"], Public::Exclude))
                .await
                .expect("list")),
            ["b"]
        );
        assert_eq!(
            s.list_records("vim_accounts", &ProjectScope::All)
                .await
                .expect("list")
                .len(),
            3
        );
        assert!(
            s.list_records("vim_accounts", &only(&[], Public::Ignore))
                .await
                .expect("list")
                .is_empty()
        );
        assert!(
            s.list_records("pdus", &ProjectScope::All)
                .await
                .expect("list")
                .is_empty(),
            "collections are separate"
        );
        let c = s
            .get_record("vim_accounts", "c", &only(&["p1"], Public::Include), false)
            .await
            .expect("get")
            .expect("public");
        assert_eq!(c.owners.read, vec!["ANY".to_string(), "p2".to_string()]);
        assert_eq!(c.body["vim_type"], json!("dummy"));
    }

    #[tokio::test]
    async fn shared_records_are_readable_but_only_writable_by_their_write_set() {
        let (_db, s) = store().await;
        s.insert_record("nsds", &rec("a", "ns", &["p1", "p2"], &["p1"]), &[])
            .await
            .expect("insert");
        let p2 = only(&["p2"], Public::Ignore);
        assert!(
            s.get_record("nsds", "a", &p2, false)
                .await
                .expect("read")
                .is_some()
        );
        assert!(
            s.get_record("nsds", "a", &p2, true)
                .await
                .expect("write")
                .is_none()
        );
        assert!(
            s.get_record("nsds", "a", &only(&["p1"], Public::Ignore), true)
                .await
                .expect("write")
                .is_some()
        );
        assert_eq!(s.count_records("nsds", "p2").await.expect("count"), 1);
        assert_eq!(s.count_records("nsds", "p3").await.expect("count"), 0);
    }

    #[tokio::test]
    async fn the_collection_version_moves_with_every_change_and_a_failed_change_leaves_it() {
        let (_db, s) = store().await;
        let v = |s: &netorch_store::Store| {
            let s = s.clone();
            async move { s.collection_version("vim_accounts").await.expect("version") }
        };
        assert_eq!(v(&s).await, 0);
        let mut a = rec("a", "vim1", &["p1"], &["p1"]);
        s.insert_record("vim_accounts", &a, &[])
            .await
            .expect("insert");
        let v1 = v(&s).await;
        assert!(v1 > 0);
        // Another collection's changes leave this one's version alone.
        s.insert_record("pdus", &rec("x", "pdu", &["p1"], &["p1"]), &[])
            .await
            .expect("other");
        assert_eq!(v(&s).await, v1);
        // A refused insert (duplicate name) rolls its bump back with it.
        assert!(
            s.insert_record("vim_accounts", &rec("b", "vim1", &["p1"], &["p1"]), &[])
                .await
                .is_err()
        );
        assert_eq!(v(&s).await, v1);
        a.body = json!({"changed": true});
        a.touch(a.modified + 1);
        s.update_record("vim_accounts", &a, &[])
            .await
            .expect("update");
        let v2 = v(&s).await;
        assert!(v2 > v1);
        // Sharing with another project changes only owners; lists of that project change.
        a.owners.read.push("p2".into());
        a.touch(a.modified + 1);
        s.update_record("vim_accounts", &a, &[])
            .await
            .expect("share");
        let v3 = v(&s).await;
        assert!(v3 > v2);
        assert!(
            s.delete_record("vim_accounts", "a", &[])
                .await
                .expect("delete")
        );
        assert!(v(&s).await > v3);
    }

    #[tokio::test]
    async fn records_are_found_by_a_body_field_and_by_when_they_changed() {
        let (_db, s) = store().await;
        let op = |id: &str, ns: &str, at: i64| {
            let mut r = rec(id, id, &["p1"], &["p1"]);
            r.name = None;
            r.body = json!({"nsInstanceId": ns, "lcmOperationType": "instantiate"});
            (r.created, r.modified) = (at, at);
            r
        };
        for (id, ns, at) in [("o1", "ns-a", 10), ("o2", "ns-b", 20), ("o3", "ns-a", 30)] {
            s.insert_record("nslcmops", &op(id, ns, at), &[])
                .await
                .expect("insert");
        }
        // Same field and value in another collection: not found.
        s.insert_record("nsilcmops", &op("x1", "ns-a", 5), &[])
            .await
            .expect("other");
        let found = s
            .find_records("nslcmops", "nsInstanceId", "ns-a")
            .await
            .expect("find");
        assert_eq!(ids(&found), ["o1", "o3"]);
        assert_eq!(found[0].owners.read, ["p1"]);
        assert!(
            s.find_records("nslcmops", "nsInstanceId", "ns-z")
                .await
                .expect("none")
                .is_empty()
        );
        // Any field may be looked up (unindexed ones are read in the database, not here).
        assert_eq!(
            ids(&s
                .find_records("nslcmops", "lcmOperationType", "instantiate")
                .await
                .expect("unindexed")),
            ["o1", "o2", "o3"]
        );
        assert!(matches!(
            s.find_records("nslcmops", "x') OR ('1'='1", "a").await,
            Err(StoreError::Internal(_))
        ));
        // In batches: by ids, and by several values of a field (more than one IN chunk).
        let many: Vec<String> = (0..1200).map(|i| format!("nobody-{i}")).collect();
        let mut wanted = many.clone();
        wanted.extend(["o3".to_string(), "o1".to_string(), "x1".to_string()]);
        let by_ids = s.get_records_in("nslcmops", &wanted).await.expect("by ids");
        let mut got = ids(&by_ids);
        got.sort();
        assert_eq!(got, ["o1", "o3"]);
        let mut values = many.clone();
        values.extend(["ns-b".to_string(), "ns-a".to_string()]);
        let by_values = s
            .find_records_in("nslcmops", "nsInstanceId", &values)
            .await
            .expect("by values");
        let mut got = ids(&by_values);
        got.sort();
        assert_eq!(got, ["o1", "o2", "o3"]);
        assert!(
            s.get_records_in("nslcmops", &[])
                .await
                .expect("empty")
                .is_empty()
        );
        let mut o2 = op("o2", "ns-b", 20);
        o2.body["operationState"] = json!("COMPLETED");
        o2.touch(40);
        s.update_record("nslcmops", &o2, &[]).await.expect("update");
        assert_eq!(
            ids(&s
                .records_modified_since("nslcmops", 25)
                .await
                .expect("since")),
            ["o3", "o2"]
        );
        assert_eq!(
            s.records_modified_since("nslcmops", 0)
                .await
                .expect("all")
                .len(),
            3
        );
    }

    #[tokio::test]
    async fn names_are_unique_per_project_and_collection() {
        let (_db, s) = store().await;
        s.insert_record("vim_accounts", &rec("a", "vim1", &["p1"], &["p1"]), &[])
            .await
            .expect("a");
        let e = s
            .insert_record(
                "vim_accounts",
                &rec("b", "vim1", &["p1"], &["p1"]),
                &[NewEvent::new("vim_account", "created", json!({}))],
            )
            .await;
        assert!(
            matches!(e, Err(StoreError::Conflict(ref m)) if m == "name 'vim1' already exists for vim_accounts"),
            "{e:?}"
        );
        assert_eq!(
            s.pending_count().await.expect("pending"),
            0,
            "no event for the refused insert"
        );
        assert!(
            s.get_record("vim_accounts", "b", &ProjectScope::All, false)
                .await
                .expect("get")
                .is_none(),
            "nothing half-written"
        );
        s.insert_record("vim_accounts", &rec("c", "vim1", &["p2"], &["p2"]), &[])
            .await
            .expect("other project");
        s.insert_record("wim_accounts", &rec("d", "vim1", &["p1"], &["p1"]), &[])
            .await
            .expect("other collection");
        assert!(
            s.delete_record("vim_accounts", "a", &[])
                .await
                .expect("delete")
        );
        assert!(
            !s.delete_record("vim_accounts", "a", &[])
                .await
                .expect("again")
        );
        s.insert_record("vim_accounts", &rec("e", "vim1", &["p1"], &["p1"]), &[])
            .await
            .expect("name free again");
    }

    #[tokio::test]
    async fn updates_are_refused_when_someone_else_updated_first() {
        let (_db, s) = store().await;
        s.insert_record("vim_accounts", &rec("a", "vim1", &["p1"], &["p1"]), &[])
            .await
            .expect("insert");
        let mut first = rec("a", "vim1-renamed", &["p1", "p2"], &["p1"]);
        first.revision = 2;
        s.update_record("vim_accounts", &first, &[])
            .await
            .expect("first update");
        let mut stale = rec("a", "vim1-other", &["p1"], &["p1"]);
        stale.revision = 2;
        let e = s.update_record("vim_accounts", &stale, &[]).await;
        assert!(matches!(e, Err(StoreError::Conflict(_))), "{e:?}");
        let got = s
            .get_record("vim_accounts", "a", &only(&["p2"], Public::Ignore), false)
            .await
            .expect("get")
            .expect("shared now");
        assert_eq!(
            (got.name.as_deref(), got.revision),
            (Some("vim1-renamed"), 2)
        );
        let mut ghost = rec("zz", "x", &["p1"], &["p1"]);
        ghost.revision = 2;
        assert!(matches!(
            s.update_record("vim_accounts", &ghost, &[]).await,
            Err(StoreError::NotFound { .. })
        ));
    }

    #[tokio::test]
    async fn of_concurrent_updates_from_one_revision_exactly_one_wins() {
        let (_db, s) = store().await;
        s.insert_record("vim_accounts", &rec("a", "vim1", &["p1"], &["p1"]), &[])
            .await
            .expect("insert");
        let s = std::sync::Arc::new(s);
        let mut tasks = Vec::new();
        for i in 0..8 {
            let s = s.clone();
            tasks.push(tokio::spawn(async move {
                let mut r = rec("a", &format!("v{i}"), &["p1"], &["p1"]);
                r.revision = 2;
                s.update_record("vim_accounts", &r, &[]).await.is_ok()
            }));
        }
        let mut wins = 0;
        for t in tasks {
            wins += t.await.expect("task") as usize;
        }
        assert_eq!(wins, 1);
    }
}

#[tokio::test]
async fn chunked_uploads_append_in_order_and_come_back_whole() {
    use netorch_core::uploads::{Append, UploadRepository};
    let (_db, s) = store().await;
    assert_eq!(
        s.append_chunk("u", 0, 9, b"abc", 1).await.expect("first"),
        Append::Stored(3)
    );
    assert_eq!(
        s.append_chunk("u", 6, 9, b"ghi", 1).await.expect("gap"),
        Append::OutOfOrder(3)
    );
    assert_eq!(
        s.append_chunk("u", 3, 9, b"def", 1).await.expect("second"),
        Append::Stored(6)
    );
    assert_eq!(
        s.append_chunk("u", 3, 9, b"def", 1).await.expect("replay"),
        Append::OutOfOrder(6)
    );
    assert_eq!(
        s.append_chunk("nope", 3, 9, b"x", 1)
            .await
            .expect("unknown"),
        Append::Unknown
    );
    assert_eq!(
        s.append_chunk("u", 6, 9, b"gh\x00", 1)
            .await
            .expect("third"),
        Append::Stored(9)
    );
    assert_eq!(
        s.take_upload("u").await.expect("take").as_deref(),
        Some(b"abcdefgh\x00".as_slice())
    );
    assert!(s.take_upload("u").await.expect("gone").is_none());
    assert_eq!(
        s.append_chunk("old", 0, 5, b"x", 10).await.expect("old"),
        Append::Stored(1)
    );
    assert_eq!(s.purge_uploads(11).await.expect("purge"), 1);
}
