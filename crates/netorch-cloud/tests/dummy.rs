//! The simulated cloud on the real store (SQLite, or PostgreSQL with NETORCH_TEST_DATABASE_URL).

use std::sync::Arc;

use netorch_cloud::Clouds;
use netorch_core::{
    SystemClock,
    cloud::{CloudConnector, CloudError, Demand, ResourceKind, ResourceSpec, VimTarget},
};
use netorch_test_support::TestDb;
use serde_json::json;

fn vim(id: &str, config: serde_json::Value) -> VimTarget {
    VimTarget {
        account_id: id.into(),
        name: format!("vim-{id}"),
        vim_type: "dummy".into(),
        config,
    }
}

fn server(key: &str, vcpus: u64) -> ResourceSpec {
    ResourceSpec {
        key: key.into(),
        kind: ResourceKind::Server,
        name: key.replace('/', "-"),
        demand: Demand {
            vcpus,
            ram_mb: 1024,
            disk_gb: 10,
        },
        image: Some("cirros".into()),
    }
}

async fn clouds() -> (TestDb, Clouds) {
    let db = TestDb::new().await.expect("db");
    let store = db.store().await.expect("store");
    (db, Clouds::new(Arc::new(store), Arc::new(SystemClock)))
}

#[tokio::test]
async fn servers_consume_capacity_are_refused_when_full_and_give_it_back() {
    let (_db, c) = clouds().await;
    let v = vim("a", json!({"capacity": {"vcpus": 4}}));
    let one = c.create(&v, &server("ns1/1/vm/0", 2)).await.expect("first");
    assert!(one.address.starts_with("10."), "{one:?}");
    // The same key again is the same server (an interrupted operation re-run).
    let again = c.create(&v, &server("ns1/1/vm/0", 2)).await.expect("again");
    assert_eq!(one, again);
    c.create(&v, &server("ns1/2/vm/0", 2))
        .await
        .expect("second");
    let full = c.create(&v, &server("ns2/1/vm/0", 1)).await;
    match full {
        Err(CloudError::Full(m)) => assert!(
            m.contains("vim-a") && m.contains("vCPU") && m.contains("0 of 4 free"),
            "{m}"
        ),
        other => panic!("expected Full, got {other:?}"),
    }
    let (total, used) = c.usage(&v).await.expect("usage");
    assert_eq!((total.vcpus, used.vcpus, used.instances), (4, 4, 2));
    assert_eq!(c.resources("ns1/").await.expect("list").len(), 2);
    assert!(c.delete(&v, "ns1/1/vm/0").await.expect("delete"));
    assert!(!c.delete(&v, "ns1/1/vm/0").await.expect("gone"));
    c.create(&v, &server("ns2/1/vm/0", 1))
        .await
        .expect("fits now");
    // Another account's capacity is its own.
    let other = vim("b", json!({}));
    c.create(&other, &server("ns3/1/vm/0", 32))
        .await
        .expect("other VIM");
    assert_eq!(c.usage(&v).await.expect("usage").1.vcpus, 3);
}

#[tokio::test]
async fn concurrent_deployments_never_overbook_a_vim() {
    let (_db, c) = clouds().await;
    let c = Arc::new(c);
    let v = vim("a", json!({"capacity": {"vcpus": 10}}));
    let mut tasks = Vec::new();
    for i in 0..24 {
        let (c, v) = (c.clone(), v.clone());
        tasks.push(tokio::spawn(async move {
            c.create(&v, &server(&format!("ns{i}/1/vm/0"), 1)).await
        }));
    }
    let mut ok = 0;
    for t in tasks {
        match t.await.expect("join") {
            Ok(_) => ok += 1,
            Err(CloudError::Full(_)) => {}
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(ok, 10);
    assert_eq!(c.usage(&v).await.expect("usage").1.vcpus, 10);
}

#[tokio::test]
async fn other_vim_types_are_refused_by_name_and_failures_can_be_simulated() {
    let (_db, c) = clouds().await;
    let mut os = vim("o", json!({}));
    os.vim_type = "openstack".into();
    match c.create(&os, &server("x/1/vm/0", 1)).await {
        Err(CloudError::Unsupported(m)) => assert!(m.contains("'openstack'"), "{m}"),
        other => panic!("{other:?}"),
    }
    let flaky = vim("f", json!({"simulate": {"failure_rate": 1.0}}));
    match c.create(&flaky, &server("x/1/vm/0", 1)).await {
        Err(CloudError::Failed(m)) => assert!(m.contains("simulated"), "{m}"),
        other => panic!("{other:?}"),
    }
    assert!(c.resources("x/").await.expect("list").is_empty());
}
