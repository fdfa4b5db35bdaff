//! The southbound against a real netconfd (skipped, loudly, where netconfd cannot run).

use std::{sync::Arc, time::Duration};

use netorch_netconf::{
    Auth, EditOp, Endpoint, ModelCache, NetconfError, Pool, PoolConfig, ResourcePath,
};
use netorch_test_support::netconf::{NETCONF_PASSWORD, NETCONF_USER, NetconfDevice};
use serde_json::json;

fn device() -> Option<NetconfDevice> {
    if !NetconfDevice::available() {
        eprintln!("SKIPPED: netconfd/sshd/root not available (scripts/test installs them)");
        return None;
    }
    Some(NetconfDevice::start().expect("netconfd starts"))
}

/// The connect and RPC limit of tests that expect answers: the suite runs them beside tests that
/// start several processes on a 2-core machine, where netconfd's first answer once took over 10 s.
const PATIENT: Duration = Duration::from_secs(30);

fn pool(state: &std::path::Path, timeout: Duration) -> Pool {
    Pool::new(PoolConfig {
        connect_timeout: timeout,
        rpc_timeout: timeout,
        backoff_initial: Duration::from_millis(50),
        backoff_max: Duration::from_millis(200),
        state_dir: state.to_path_buf(),
        ..Default::default()
    })
}

fn endpoint(d: &NetconfDevice) -> Endpoint {
    Endpoint {
        host: "127.0.0.1".into(),
        port: d.port,
        username: NETCONF_USER.into(),
        auth: Auth::Password(NETCONF_PASSWORD.into()),
        host_key: Some(d.fingerprint.clone()),
    }
}

fn p(s: &str) -> ResourcePath {
    ResourcePath::parse(s).expect("ok")
}

#[tokio::test(flavor = "multi_thread")]
async fn writes_land_in_the_running_datastore_and_reads_answer_as_restconf() {
    let Some(dev) = device() else { return };
    let state = tempfile::tempdir().expect("ok");
    let pool = pool(state.path(), PATIENT);
    pool.set_device("d1", endpoint(&dev));
    let cache = ModelCache::new(state.path().join("models"));
    let models = cache
        .load(&pool, "d1", "d1", false)
        .await
        .unwrap_or_else(|e| panic!("{e:?}\nnetconfd log:\n{}", dev.log()));
    let needed = vec!["netorch-bookstore".to_string(), "ietf-netconf".to_string()];
    cache
        .prepare(&pool, "d1", &models, &needed)
        .await
        .expect("ok");
    assert!(models.has_module("netorch-bookstore"), "{models:?}");

    let create = models
        .edit(
            &p("netorch-bookstore:bookstore"),
            EditOp::Create,
            Some(&json!({"netorch-bookstore:categories": [{"code": "01", "name": "SciFi"}]})),
        )
        .expect("ok");
    pool.edit("d1", &[create]).await.expect("ok");
    let book = models
        .edit(
            &p("netorch-bookstore:bookstore/categories=01"),
            EditOp::Create,
            Some(&json!({"netorch-bookstore:books": [{"title": "Dune", "price": 10, "authors": ["Frank Herbert"]}]})),
        )
        .expect("ok");
    pool.edit("d1", &[book]).await.expect("ok");

    let path = p("netorch-bookstore:bookstore/categories=01/books=Dune");
    let data = pool
        .get_config("d1", models.filter(&path).expect("ok").as_deref())
        .await
        .expect("ok");
    assert!(data.contains("<title>Dune</title>"), "{data}");
    let read = models.read(&data, &path).expect("ok");
    assert_eq!(
        read,
        json!({"netorch-bookstore:books": [{"title": "Dune", "price": 10, "authors": ["Frank Herbert"]}]})
    );
    let price = p("netorch-bookstore:bookstore/categories=01/books=Dune/price");
    let data = pool
        .get("d1", models.filter(&price).expect("ok").as_deref())
        .await
        .expect("ok");
    assert_eq!(
        models.read(&data, &price).expect("ok"),
        json!({"netorch-bookstore:price": 10})
    );

    // A second create of the same entry is the device's data-exists.
    let again = models
        .edit(
            &p("netorch-bookstore:bookstore/categories=01"),
            EditOp::Create,
            Some(&json!({"netorch-bookstore:books": [{"title": "Dune", "price": 11}]})),
        )
        .expect("ok");
    match pool.edit("d1", &[again]).await {
        Err(NetconfError::Rejected { tag, .. }) => assert_eq!(tag, "data-exists"),
        other => panic!("{other:?}"),
    }
    // The must: a discount above the price is the device's own validation error.
    let bad = models
        .edit(
            &path,
            EditOp::Merge,
            Some(&json!({"netorch-bookstore:books": [{"title": "Dune", "discount": 50}]})),
        )
        .expect("ok");
    match pool.edit("d1", &[bad]).await {
        Err(NetconfError::Rejected { message, .. }) => {
            assert!(message.contains("discount must be lower"), "{message}")
        }
        other => panic!("{other:?}"),
    }
    // Replace, then delete.
    let put = models
        .edit(
            &path,
            EditOp::Replace,
            Some(&json!({"netorch-bookstore:books": [{"title": "Dune", "price": 12}]})),
        )
        .expect("ok");
    pool.edit("d1", &[put]).await.expect("ok");
    let data = pool
        .get_config("d1", models.filter(&path).expect("ok").as_deref())
        .await
        .expect("ok");
    assert_eq!(
        models.read(&data, &path).expect("ok"),
        json!({"netorch-bookstore:books": [{"title": "Dune", "price": 12}]})
    );
    pool.edit(
        "d1",
        &[models.edit(&path, EditOp::Delete, None).expect("ok")],
    )
    .await
    .expect("ok");
    let data = pool
        .get_config("d1", models.filter(&path).expect("ok").as_deref())
        .await
        .expect("ok");
    assert!(matches!(
        models.read(&data, &path),
        Err(netorch_netconf::ModelError::DataMissing(_))
    ));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_session_whose_first_request_the_device_loses_is_replaced_and_the_request_answered() {
    let Some(dev) = device() else { return };
    dev.lose_next_sessions_first_request().expect("flag");
    let state = tempfile::tempdir().expect("ok");
    let pool = pool(state.path(), PATIENT);
    pool.set_device("d1", endpoint(&dev));
    let data = pool
        .get("d1", Some("<netconf-state xmlns=\"urn:ietf:params:xml:ns:yang:ietf-netconf-monitoring\"><sessions/></netconf-state>"))
        .await
        .unwrap_or_else(|e| panic!("{e:?}\nnetconfd log:\n{}", dev.log()));
    assert!(dev.first_request_was_lost(), "the device took the flag");
    assert!(
        data.contains("<session>") || data.contains(":session>"),
        "{data}"
    );
    let log = dev.log();
    assert!(
        log.matches("now active").count() >= 2,
        "a second session answered:\n{log}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_device_that_says_hello_but_answers_nothing_within_the_connect_limit_is_a_timeout() {
    let Some(dev) = device() else { return };
    dev.lose_next_sessions_first_request().expect("flag");
    let state = tempfile::tempdir().expect("ok");
    // One second leaves room for one probe (half a second) and no second session.
    let pool = pool(state.path(), Duration::from_secs(1));
    pool.set_device("d1", endpoint(&dev));
    let e = pool.get_config("d1", None).await.expect_err("no answer");
    assert!(matches!(e, NetconfError::Timeout(_)), "{e:?}");
    assert!(dev.first_request_was_lost(), "the device took the flag");
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_input_is_refused_before_anything_reaches_the_device() {
    let Some(dev) = device() else { return };
    let state = tempfile::tempdir().expect("ok");
    let pool = pool(state.path(), PATIENT);
    pool.set_device("d1", endpoint(&dev));
    let cache = ModelCache::new(state.path().join("models"));
    let models = cache.load(&pool, "d1", "tag", false).await.expect("ok");
    let needed = vec!["netorch-bookstore".to_string(), "ietf-netconf".to_string()];
    cache
        .prepare(&pool, "d1", &models, &needed)
        .await
        .expect("ok");
    let out_of_range = models.edit(
        &p("netorch-bookstore:bookstore/categories=01"),
        EditOp::Create,
        Some(&json!({"netorch-bookstore:books": [{"title": "X", "price": 5000}]})),
    );
    assert!(format!("{:?}", out_of_range.expect_err("an error")).contains("range"));
    let unknown = models.edit(
        &p("netorch-bookstore:bookstore"),
        EditOp::Merge,
        Some(&json!({"netorch-bookstore:bookstore": {"shelves": 3}})),
    );
    assert!(format!("{:?}", unknown.expect_err("an error")).contains("shelves"));
    assert!(models.check_path(&p("netorch-bookstore:nope")).is_err());
    assert!(
        models
            .check_path(&p("netorch-bookstore:bookstore/categories/books"))
            .is_err()
    );
    let state_data = models.edit(
        &p("netorch-bookstore:bookstore"),
        EditOp::Merge,
        Some(&json!({"netorch-bookstore:bookstore": {"statistics": {"books-sold": "3"}}})),
    );
    assert!(state_data.is_err(), "{state_data:?}");
    // The second load of a tag comes from memory, a new cache from disk: no device needed.
    drop(dev);
    let again = ModelCache::new(state.path().join("models"));
    let m = again.load(&pool, "d1", "tag", false).await.expect("ok");
    again.prepare(&pool, "d1", &m, &needed).await.expect("ok");
    assert!(m.has_module("netorch-bookstore"));
}

#[tokio::test(flavor = "multi_thread")]
async fn an_rpc_is_validated_by_the_model_and_answered_by_the_device() {
    let Some(dev) = device() else { return };
    let state = tempfile::tempdir().expect("ok");
    let pool = pool(state.path(), PATIENT);
    pool.set_device("d1", endpoint(&dev));
    let cache = ModelCache::new(state.path().join("m"));
    let models = cache
        .load(&pool, "d1", "d1", false)
        .await
        .unwrap_or_else(|e| panic!("{e:?}\nnetconfd log:\n{}", dev.log()));
    cache
        .prepare(&pool, "d1", &models, &["netorch-bookstore".to_string()])
        .await
        .expect("ok");
    let rpc = models
        .rpc(
            "netorch-bookstore",
            "restock",
            Some(&json!({"netorch-bookstore:input": {"category": "01", "title": "Dune", "copies": 3}})),
        )
        .expect("ok");
    let reply = pool.rpc("d1", &rpc).await.expect("ok");
    assert!(reply.contains("<ok/>"), "{reply}");
    let too_many = models.rpc(
        "netorch-bookstore",
        "restock",
        Some(
            &json!({"netorch-bookstore:input": {"category": "01", "title": "Dune", "copies": 900}}),
        ),
    );
    assert!(too_many.is_err());
    assert!(models.rpc("netorch-bookstore", "burn", None).is_err());
}

/// Waits until `device` answers again through the same pool, with no re-registration. The pool's
/// 2 s limit makes each fault quick to see, but a thawed or restarted netconfd may first work off
/// the sessions it was left with, which on a loaded 2-core machine takes longer than one limit:
/// what must hold is that it comes back by itself, not how soon.
async fn recovers(pool: &Pool, device: &str) {
    let deadline = tokio::time::Instant::now() + PATIENT;
    loop {
        match pool.get_config(device, None).await {
            Ok(_) => return,
            Err(
                e @ (NetconfError::Timeout(_)
                | NetconfError::Unreachable(_)
                | NetconfError::SessionLost(_)),
            ) if tokio::time::Instant::now() < deadline => {
                eprintln!("not back yet: {e:?}");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e) => panic!("device {device} did not come back: {e:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn device_faults_are_clear_errors_and_the_pool_recovers_by_itself() {
    let Some(mut dev) = device() else { return };
    let state = tempfile::tempdir().expect("ok");
    let pool = Arc::new(pool(state.path(), Duration::from_secs(2)));
    pool.set_device("d1", endpoint(&dev));
    pool.get_config("d1", None).await.expect("ok");

    // Frozen: the open session times out, a new one never completes its hello.
    dev.freeze();
    let e = pool.get_config("d1", None).await.expect_err("an error");
    assert!(matches!(e, NetconfError::Timeout(_)), "{e:?}");
    let e = pool.get_config("d1", None).await.expect_err("an error");
    assert!(matches!(e, NetconfError::Timeout(_)), "{e:?}");
    dev.thaw();
    recovers(&pool, "d1").await;

    // Down: refused at once, then back without re-registration.
    dev.stop();
    let e = pool.get_config("d1", None).await.expect_err("an error");
    assert!(matches!(e, NetconfError::Unreachable(_)), "{e:?}");
    dev.restart().expect("ok");
    recovers(&pool, "d1").await;

    // Dropped mid-request: the server dies while it holds a request.
    dev.freeze();
    let p2 = pool.clone();
    let pending = tokio::spawn(async move { p2.get_config("d1", None).await });
    tokio::time::sleep(Duration::from_millis(200)).await;
    dev.kill_netconfd();
    let e = pending.await.expect("ok").expect_err("an error");
    assert!(
        matches!(
            e,
            NetconfError::SessionLost(_) | NetconfError::Timeout(_) | NetconfError::Unreachable(_)
        ),
        "{e:?}"
    );
    dev.restart().expect("ok");
    recovers(&pool, "d1").await;

    // Wrong credentials.
    pool.set_device(
        "d2",
        Endpoint {
            auth: Auth::Password("wrong".into()),
            ..endpoint(&dev)
        },
    );
    let e = pool.get_config("d2", None).await.expect_err("an error");
    assert!(matches!(e, NetconfError::Authentication(_)), "{e:?}");
    // A pinned host key that is not the device's.
    pool.set_device(
        "d3",
        Endpoint {
            host_key: Some("SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA".into()),
            ..endpoint(&dev)
        },
    );
    let e = pool.get_config("d3", None).await.expect_err("an error");
    assert!(matches!(e, NetconfError::Authentication(_)), "{e:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_private_key_logs_in() {
    let Some(dev) = device() else { return };
    let state = tempfile::tempdir().expect("ok");
    let pool = pool(state.path(), PATIENT);
    pool.set_device(
        "k",
        Endpoint {
            auth: Auth::PrivateKey {
                pem: dev.private_key.clone(),
                passphrase: None,
            },
            host_key: None,
            ..endpoint(&dev)
        },
    );
    let caps = pool.capabilities("k").await.expect("ok");
    assert!(caps.iter().any(|c| c.contains("candidate")));
    // The staged key file is gone once connected.
    let left = std::fs::read_dir(state.path().join("keys"))
        .expect("ok")
        .count();
    assert_eq!(left, 0);
}
