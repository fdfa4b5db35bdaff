//! Scopes and ownership computed from sessions and OSM's admin query strings, applied to the real
//! record store (SQLite, or PostgreSQL with NETORCH_TEST_DATABASE_URL).

use std::{sync::Arc, time::Duration};

use netorch_auth::{
    AdminQuery, AuthConfig, AuthError, IdentityService, PermissionCatalog, Session,
    password::PasswordPolicy,
    service::{Access, MappingRef, NewProject, NewUser, TokenRequest},
};
use netorch_core::{
    SystemClock,
    tenancy::{ANY, ProjectScope, Public, Record, RecordRepository},
};
use netorch_store::Store;
use netorch_test_support::TestDb;
use serde_json::json;

struct World {
    _db: TestDb,
    store: Store,
    svc: IdentityService,
    p1: String,
    p2: String,
}

async fn world() -> World {
    let db = TestDb::new().await.expect("db");
    let store = db.store().await.expect("store");
    let svc = IdentityService::new(
        Arc::new(store.clone()),
        Arc::new(SystemClock),
        AuthConfig {
            throttle_delay: Duration::ZERO,
            password_policy: PasswordPolicy {
                min_length: 1,
                require_mixed: false,
            },
            ..Default::default()
        },
        Arc::new(PermissionCatalog::default()),
    );
    svc.bootstrap("admin").await.expect("bootstrap");
    let p1 = svc
        .create_project(NewProject {
            name: "P1".into(),
            ..Default::default()
        })
        .await
        .expect("p1")
        .id;
    let p2 = svc
        .create_project(NewProject {
            name: "P2".into(),
            ..Default::default()
        })
        .await
        .expect("p2")
        .id;
    for (u, p) in [("u1", "P1"), ("u2", "P2")] {
        svc.create_user(
            None,
            NewUser {
                username: u.into(),
                password: "pw".into(),
                project_role_mappings: vec![MappingRef {
                    project: p.into(),
                    role: Some("project_user".into()),
                }],
                ..Default::default()
            },
        )
        .await
        .expect("user");
    }
    World {
        _db: db,
        store,
        svc,
        p1,
        p2,
    }
}

async fn login(w: &World, user: &str, pw: &str) -> Session {
    let req = TokenRequest {
        username: Some(user.into()),
        password: Some(pw.into()),
        project_id: None,
    };
    w.svc
        .issue_token(req, None, ("127.0.0.1".into(), 1))
        .await
        .expect("token")
        .1
}

fn qs(pairs: &[(&str, &str)]) -> AdminQuery {
    AdminQuery::split(
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    )
    .0
}

#[tokio::test]
async fn scopes_follow_the_token_project_and_the_public_query_string() {
    let w = world().await;
    let u1 = login(&w, "u1", "pw").await;
    let only = |public| ProjectScope::Only {
        projects: vec![w.p1.clone()],
        public,
    };
    assert_eq!(
        w.svc
            .scope(&u1, "get", &qs(&[]), Access::List)
            .await
            .expect("s"),
        only(Public::Ignore)
    );
    assert_eq!(
        w.svc
            .scope(&u1, "get", &qs(&[("PUBLIC", "true")]), Access::List)
            .await
            .expect("s"),
        only(Public::Include)
    );
    assert_eq!(
        w.svc
            .scope(&u1, "get", &qs(&[]), Access::Show)
            .await
            .expect("s"),
        only(Public::Include)
    );
    assert_eq!(
        w.svc
            .scope(&u1, "get", &qs(&[("PUBLIC", "false")]), Access::Show)
            .await
            .expect("s"),
        only(Public::Exclude)
    );
    let e = w
        .svc
        .scope(&u1, "get", &qs(&[("ADMIN", "")]), Access::List)
        .await
        .expect_err("not admin");
    assert!(
        matches!(e, AuthError::Denied(ref m) if m == "Only admin projects can use 'ADMIN' query string")
    );

    let admin = login(&w, "admin", "admin").await;
    assert_eq!(
        w.svc
            .scope(&admin, "get", &qs(&[("ADMIN", "")]), Access::List)
            .await
            .expect("s"),
        ProjectScope::All
    );
    assert_eq!(
        w.svc
            .scope(&admin, "get", &qs(&[("ADMIN", "P2")]), Access::List)
            .await
            .expect("s"),
        ProjectScope::Only {
            projects: vec![w.p2.clone()],
            public: Public::Ignore
        }
    );
}

#[tokio::test]
async fn new_records_belong_to_the_callers_project_and_set_project_needs_admin_scope() {
    let w = world().await;
    let u1 = login(&w, "u1", "pw").await;
    let own = w
        .svc
        .new_ownership(&u1, "post", &qs(&[("PUBLIC", "true")]))
        .await
        .expect("ownership");
    assert_eq!(own.read, vec![w.p1.clone(), ANY.to_string()]);
    assert_eq!(own.write, vec![w.p1.clone()]);
    let e = w
        .svc
        .new_ownership(&u1, "post", &qs(&[("SET_PROJECT", "P2")]))
        .await
        .expect_err("outside scope");
    assert!(
        matches!(e, AuthError::Denied(ref m) if m.starts_with("Unauthorized for 'SET_PROJECT=P2'"))
    );
    let admin = login(&w, "admin", "admin").await;
    let shared = w
        .svc
        .new_ownership(
            &admin,
            "post",
            &qs(&[("ADMIN", "P1"), ("SET_PROJECT", "P1")]),
        )
        .await
        .expect("ownership");
    assert_eq!(shared.read, vec![w.p1.clone()]);
    let wide = w
        .svc
        .new_ownership(&admin, "post", &qs(&[("ADMIN", ""), ("SET_PROJECT", "P2")]))
        .await
        .expect("ownership");
    assert!(wide.read.contains(&w.p2) && !wide.write.contains(&w.p2));
}

#[tokio::test]
async fn a_user_in_p1_never_sees_p2s_records_and_admin_sees_all() {
    let w = world().await;
    let (u1, u2, admin) = (
        login(&w, "u1", "pw").await,
        login(&w, "u2", "pw").await,
        login(&w, "admin", "admin").await,
    );
    for (who, id) in [(&u1, "r1"), (&u2, "r2")] {
        let owners = w
            .svc
            .new_ownership(who, "post", &qs(&[]))
            .await
            .expect("ownership");
        let r = Record {
            id: id.into(),
            name: Some(id.into()),
            body: json!({}),
            owners,
            created: 0,
            modified: 0,
            revision: 1,
        };
        w.store
            .insert_record("vnfds", &r, &[])
            .await
            .expect("insert");
    }
    let list = |s: Session, q: AdminQuery| {
        let w = &w;
        async move {
            let scope = w
                .svc
                .scope(&s, "get", &q, Access::List)
                .await
                .expect("scope");
            w.store
                .list_records("vnfds", &scope)
                .await
                .expect("list")
                .into_iter()
                .map(|r| r.id)
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(list(u1.clone(), qs(&[])).await, ["r1"]);
    assert_eq!(list(u2.clone(), qs(&[])).await, ["r2"]);
    assert_eq!(
        list(admin.clone(), qs(&[("ADMIN", "")])).await,
        ["r1", "r2"]
    );
    assert!(
        list(admin, qs(&[])).await.is_empty(),
        "admin's own project holds nothing"
    );
    let show = w
        .svc
        .scope(&u1, "get", &qs(&[]), Access::Show)
        .await
        .expect("scope");
    assert!(
        w.store
            .get_record("vnfds", "r2", &show, false)
            .await
            .expect("get")
            .is_none()
    );
}
