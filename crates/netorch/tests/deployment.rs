//! What an operator's deployment relies on, with the real binary: the health check command and
//! its exit codes, probes on a management port, readiness detail, refusing a foreign sealing
//! key, clear start-up errors for bad deployment input, a shutdown that keeps its grace with the
//! database gone, and the singleton lease moving to a surviving replica.

use std::{path::Path, process::Command, time::Duration};

use netorch_test_support::{
    TestDb,
    process::{Moto, Netorch, TcpProxy, client, free_port},
};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_netorch");

fn bin() -> &'static Path {
    Path::new(BIN)
}

/// `netorch <args>` with only the given configuration; its exit code and standard error.
fn run(args: &[&str], env: &[(&str, &str)]) -> (i32, String) {
    let mut c = Command::new(BIN);
    for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("NETORCH_")) {
        c.env_remove(k);
    }
    let out = c
        .args(args)
        .envs(env.iter().copied())
        .output()
        .expect("run");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

async fn get(url: &str) -> (u16, Value) {
    let r = client().get(url).send().await.expect("send");
    let s = r.status().as_u16();
    (s, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn the_health_check_command_answers_0_for_a_live_or_ready_server_and_1_otherwise() {
    let db = TestDb::new().await.expect("db");
    let mgmt = free_port();
    let mgmt_addr = format!("127.0.0.1:{mgmt}");
    let mut s = Netorch::new(
        bin(),
        &db,
        "a",
        &[("NETORCH_SERVER__MANAGEMENT_LISTEN", mgmt_addr.as_str())],
    );
    s.start().await.expect("start");
    let listen = format!("127.0.0.1:{}", s.port);
    let env = [
        ("NETORCH_SERVER__LISTEN", listen.as_str()),
        ("NETORCH_SERVER__MANAGEMENT_LISTEN", mgmt_addr.as_str()),
    ];
    // From the configuration: the management listener.
    assert_eq!(run(&["healthcheck"], &env).0, 0);
    assert_eq!(run(&["healthcheck", "--ready"], &env).0, 0);
    // Given a URL: the main listener serves the probes too.
    assert_eq!(run(&["healthcheck", "--url", &s.base], &[]).0, 0);
    // The management port serves probes and metrics, not the API.
    let (st, ready) = get(&format!("http://{mgmt_addr}/readyz")).await;
    assert_eq!(st, 200, "{ready}");
    assert_eq!(ready["status"], "ready");
    assert_eq!(ready["checks"]["database"]["ok"], true);
    assert_eq!(ready["checks"]["events"]["sink"], "bus");
    assert!(ready["checks"]["secrets"]["sealingKeyFingerprint"].is_string());
    let (st, _) = get(&format!("http://{mgmt_addr}/livez")).await;
    assert_eq!(st, 200);
    let metrics = client()
        .get(format!("http://{mgmt_addr}/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    assert!(metrics.contains("netorch_leader"), "{metrics}");
    let (st, _) = get(&format!("http://{mgmt_addr}/osm/admin/v1/users")).await;
    assert_eq!(st, 404, "no API on the management port");
    // The lease: a single replica takes it.
    for _ in 0..200 {
        if get(&format!("{}/readyz", s.base)).await.1["leader"]["self"] == true {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let (_, ready) = get(&format!("{}/readyz", s.base)).await;
    assert_eq!(ready["leader"]["self"], true, "{ready}");
    assert_eq!(ready["leader"]["holder"], ready["replica"]);

    // Nothing listens: 1, with the reason on standard error.
    s.kill();
    let (code, err) = run(&["healthcheck"], &env);
    assert_eq!(code, 1);
    assert!(err.contains("livez"), "{err}");
    let (code, _) = run(
        &["healthcheck", "--ready", "--url", "http://127.0.0.1:1"],
        &[],
    );
    assert_eq!(code, 1);
}

#[tokio::test]
async fn a_replica_whose_sealing_key_differs_from_the_databases_refuses_to_start_and_says_why() {
    let db = TestDb::new().await.expect("db");
    let key_a = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
    let key_b = "BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBA=";
    let mut a = Netorch::new(bin(), &db, "a", &[("NETORCH_OSM__SECRET_KEY", key_a)]);
    a.start().await.expect("the first key is pinned");
    a.kill();
    let mut b = Netorch::new(bin(), &db, "b", &[("NETORCH_OSM__SECRET_KEY", key_b)]);
    let err = b.start().await.expect_err("refused").to_string();
    assert!(
        err.contains("fingerprint") && err.contains("same key"),
        "the error names the cause: {err}"
    );
    // The right key still starts.
    let mut c = Netorch::new(bin(), &db, "c", &[("NETORCH_OSM__SECRET_KEY", key_a)]);
    c.start().await.expect("same key");
}

#[tokio::test]
async fn bad_deployment_input_stops_start_up_with_an_error_naming_the_cause() {
    let dir = tempfile::tempdir().expect("dir");
    let data = dir.path().display().to_string();
    let listen = format!("127.0.0.1:{}", free_port());
    let base = [
        ("NETORCH_DATA_DIR", data.as_str()),
        ("NETORCH_SERVER__LISTEN", listen.as_str()),
    ];
    let closed = format!("postgres://netorch@127.0.0.1:{}/netorch", free_port());
    let missing = dir.path().join("no-such-secret").display().to_string();
    for (extra, cause) in [
        (("NETORCH_DATABASE__URL", closed.as_str()), "database"),
        (
            ("NETORCH_OSM__SECRET_KEY_FILE", missing.as_str()),
            "no-such-secret",
        ),
        (
            ("NETORCH_DATABASE__URL_FILE", missing.as_str()),
            "no-such-secret",
        ),
        (("NETORCH_SERVER__NO_SUCH_KEY", "1"), "no_such_key"),
        (("NETORCH_SERVER__LEADER_LEASE", "0s"), "leader_lease"),
        (
            ("NETORCH_SERVER__MANAGEMENT_LISTEN", "nowhere"),
            "management_listen",
        ),
    ] {
        let mut env = base.to_vec();
        env.push(extra);
        let started = std::time::Instant::now();
        let (code, err) = run(&["serve"], &env);
        assert_ne!(code, 0, "{extra:?} must not start");
        assert!(
            err.to_ascii_lowercase().contains(cause),
            "{extra:?}: the error names '{cause}': {err}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "{extra:?}: fails instead of hanging"
        );
    }
}

/// The database URL of `db` with its port replaced by `port` (PostgreSQL through a proxy).
fn through(db: &TestDb, port: u16) -> String {
    let (scheme_host, rest) = db.url.rsplit_once(':').expect("port");
    let path = rest.split_once('/').map(|(_, p)| p).expect("path");
    format!("{scheme_host}:{port}/{path}")
}

#[tokio::test]
async fn on_postgres_sigterm_exits_within_the_grace_while_the_database_is_down() {
    let db = TestDb::new().await.expect("db");
    if netorch_test_support::skip_unless(&db, true, "a PostgreSQL that goes away") {
        return;
    }
    let target = db
        .url
        .split('@')
        .nth(1)
        .and_then(|h| h.split('/').next())
        .expect("host:port")
        .to_string();
    let proxy = TcpProxy::start(target).await.expect("proxy");
    let url = through(&db, proxy.port);
    let mut s = Netorch::new(
        bin(),
        &db,
        "a",
        &[
            ("NETORCH_DATABASE__URL", url.as_str()),
            // Well below the pool's 5 s wait for a connection, which every database step used
            // to spend in turn.
            ("NETORCH_SERVER__SHUTDOWN_GRACE", "1s"),
        ],
    );
    s.start().await.expect("start");
    let t = s.oauth_token("admin", "admin").await.expect("token");
    // Work in flight while the database goes: a request waiting for a connection.
    proxy.cut();
    let base = s.base.clone();
    let pending = tokio::spawn(async move {
        client()
            .get(format!("{base}/osm/admin/v1/users"))
            .bearer_auth(t)
            .header("Accept", "application/json")
            .send()
            .await
            .map(|r| r.status().as_u16())
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (_, ready) = get(&format!("{}/readyz", s.base)).await;
    assert_eq!(ready["checks"]["database"]["ok"], false, "{ready}");
    let started = tokio::time::Instant::now();
    let exited = s.terminate(Duration::from_secs(20)).await;
    let took = started.elapsed();
    assert!(exited.is_some(), "exits after SIGTERM\n{}", s.log());
    // The bound is the pool's 5 s connection wait, not the grace: a shutdown that waits out even
    // one of them is the fault; anything shorter is the machine's load.
    assert!(
        took < Duration::from_secs(5),
        "exited {took:?} after SIGTERM with a 1 s grace\n{}",
        s.log()
    );
    // The request got an answer or a closed connection, not silence.
    let _ = tokio::time::timeout(Duration::from_secs(5), pending)
        .await
        .expect("the pending request ended");
}

#[tokio::test]
async fn on_postgres_the_singleton_lease_moves_to_a_surviving_replica_after_a_kill() {
    let db = TestDb::new().await.expect("db");
    if netorch_test_support::skip_unless(&db, true, "two replicas on one database") {
        return;
    }
    let env = [
        ("NETORCH_SERVER__LEADER_LEASE", "1s"),
        (
            "NETORCH_OSM__SECRET_KEY",
            "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
        ),
    ];
    let mut a = Netorch::new(bin(), &db, "a", &env);
    let mut b = Netorch::new(bin(), &db, "b", &env);
    a.start().await.expect("a");
    b.start().await.expect("b");
    let leader = async |p: &Netorch| get(&format!("{}/readyz", p.base)).await.1["leader"].clone();
    let mut first = Value::Null;
    for _ in 0..200 {
        first = leader(&a).await;
        if first["holder"].is_string() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(first["holder"].is_string(), "someone holds it: {first}");
    let (mut holder, mut other) = if first["self"] == true {
        (a, b)
    } else {
        (b, a)
    };
    for _ in 0..200 {
        if leader(&other).await["holder"].is_string() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(leader(&other).await["self"], false, "one holder");
    holder.kill();
    let mut took_over = false;
    for _ in 0..200 {
        if leader(&other).await["self"] == true {
            took_over = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        took_over,
        "the survivor takes the lease over\n{}",
        other.log()
    );
    // A clean stop hands it back at once.
    let st = other
        .terminate(Duration::from_secs(15))
        .await
        .expect("exits");
    assert!(st.success());
    holder.start().await.expect("restart");
    let mut back = false;
    for _ in 0..100 {
        if leader(&holder).await["self"] == true {
            back = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(back, "the restarted replica takes the released lease");
}

#[test]
fn the_binary_needs_only_what_the_image_base_and_the_dockerfile_provide() {
    // gcr.io/distroless/cc carries glibc and libgcc; deploy/Dockerfile copies anything else.
    const BASE: [&str; 8] = [
        "linux-vdso.so.1",
        "ld-linux-x86-64.so.2",
        "libc.so.6",
        "libm.so.6",
        "libgcc_s.so.1",
        "libpthread.so.0",
        "libdl.so.2",
        "librt.so.1",
    ];
    let dockerfile = include_str!("../../../deploy/Dockerfile");
    let out = Command::new("ldd").arg(BIN).output().expect("ldd");
    let listing = String::from_utf8_lossy(&out.stdout);
    let needed: Vec<&str> = listing
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .map(|lib| lib.rsplit('/').next().unwrap_or(lib))
        .collect();
    assert!(needed.contains(&"libc.so.6"), "{listing}");
    for lib in needed {
        assert!(
            BASE.contains(&lib) || dockerfile.contains(&format!("/{lib} ")),
            "{lib} is neither in the distroless base nor copied by deploy/Dockerfile:\n{listing}"
        );
    }
    let (code, _) = run(&["--version"], &[]);
    assert_eq!(code, 0);
    let out = Command::new(BIN).arg("--version").output().expect("run");
    assert!(
        String::from_utf8_lossy(&out.stdout)
            .starts_with(&format!("netorch {}", env!("CARGO_PKG_VERSION")))
    );
}

#[tokio::test]
async fn a_package_uploaded_to_one_replica_is_served_by_another_from_s3() {
    let Some(moto) = Moto::start().await else {
        return;
    };
    moto.bucket("netorch-packages").await;
    let db = TestDb::new().await.expect("db");
    let endpoint = moto.endpoint();
    let env = [
        (
            "NETORCH_OSM__SECRET_KEY",
            "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
        ),
        ("NETORCH_OSM__PACKAGE_S3__BUCKET", "netorch-packages"),
        ("NETORCH_OSM__PACKAGE_S3__PREFIX", "site-a"),
        ("NETORCH_OSM__PACKAGE_S3__ENDPOINT", endpoint.as_str()),
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
    ];
    let vnfd = "vnfd:\n  id: s3_vnfd\n  product-name: s3\n  version: '1.0'\n  vdu:\n  - id: vm\n    sw-image-desc: cirros040\n";
    // One replica onboards (on SQLite the two run one after the other on one database file).
    let mut a = Netorch::new(bin(), &db, "a", &env);
    a.start().await.expect("a");
    let t = a.oauth_token("admin", "admin").await.expect("token");
    let r = client()
        .post(format!("{}/osm/vnfpkgm/v1/vnf_packages_content", a.base))
        .bearer_auth(&t)
        .header("Content-Type", "application/yaml")
        .header("Accept", "application/json")
        .body(vnfd)
        .send()
        .await
        .expect("upload");
    assert_eq!(r.status(), 201);
    let id = r.json::<Value>().await.expect("json")["id"]
        .as_str()
        .expect("id")
        .to_string();
    a.kill();
    // Another, with a data dir of its own, serves the content from the bucket.
    let mut b = Netorch::new(bin(), &db, "b", &env);
    b.start().await.expect("b");
    let r = client()
        .get(format!(
            "{}/osm/vnfpkgm/v1/vnf_packages/{id}/package_content",
            b.base
        ))
        .bearer_auth(&t)
        .send()
        .await
        .expect("download");
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await.expect("body"), vnfd);
    assert!(
        !db.dir.path().join("b/packages").exists()
            || std::fs::read_dir(db.dir.path().join("b/packages"))
                .map(|d| d.count() <= 1)
                .unwrap_or(true),
        "nothing stored locally"
    );
    // A bucket that does not exist stops start-up with the reason.
    let mut c = Netorch::new(
        bin(),
        &db,
        "c",
        &[
            env[0],
            ("NETORCH_OSM__PACKAGE_S3__BUCKET", "no-such-bucket"),
            ("NETORCH_OSM__PACKAGE_S3__ENDPOINT", endpoint.as_str()),
            ("AWS_ACCESS_KEY_ID", "testing"),
            ("AWS_SECRET_ACCESS_KEY", "testing"),
        ],
    );
    let err = c.start().await.expect_err("refused").to_string();
    assert!(err.contains("no-such-bucket"), "{err}");
}
