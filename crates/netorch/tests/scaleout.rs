//! Three replicas under faults: three `netorch serve` processes (built with the Kafka sink) on
//! one PostgreSQL cluster of their own and a tansu broker, mixed load across all of them (VIM
//! accounts, package uploads, SLICES reservations, OOF placements, NS instantiations); during it
//! one replica is killed with SIGKILL and started again, PostgreSQL is restarted, the broker is
//! stopped (SIGSTOP) for five seconds. Afterwards nothing is lost or duplicated, no VLAN is booked
//! twice, every outbox event is on the broker, every request got an answer or a visible error.
//!
//! The throughput of 1, 2 and 3 replicas (BENCHMARKS.md) is the ignored test at the end:
//!   cargo test --release -p netorch --features kafka --test scaleout -- --ignored --nocapture
#![cfg(feature = "kafka")]

use std::{
    collections::{BTreeMap, BTreeSet, HashMap},
    path::{Path, PathBuf},
    process::{Command, Stdio},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use netorch_test_support::process::{Netorch, Tansu, client};
use reqwest::Method;
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_netorch");
const KEY: &str = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";

fn scripts() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts")
}

/// A PostgreSQL cluster of this test's own (it is restarted mid-test), removed on drop.
struct Postgres {
    dir: PathBuf,
    admin_url: String,
}

impl Postgres {
    fn start(dir: &Path) -> Self {
        let dir = dir.join("pg");
        let out = Command::new(scripts().join("dev-postgres"))
            .arg("start")
            .arg(&dir)
            .stderr(Stdio::inherit())
            .output()
            .expect("dev-postgres");
        assert!(out.status.success(), "PostgreSQL did not start");
        let admin_url = String::from_utf8_lossy(&out.stdout).trim().to_string();
        Self { dir, admin_url }
    }

    fn restart(&self) {
        let st = Command::new(scripts().join("dev-postgres"))
            .arg("restart")
            .arg(&self.dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("dev-postgres restart");
        assert!(st.success(), "PostgreSQL did not restart");
    }

    fn url(&self, db: &str) -> String {
        let base = self
            .admin_url
            .rsplit_once('/')
            .map(|(b, _)| b)
            .expect("url");
        format!("{base}/{db}")
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let _ = Command::new(scripts().join("dev-postgres"))
            .arg("stop")
            .arg(&self.dir)
            .status();
    }
}

/// The stack: database, broker, replicas sharing a sealing key and a package directory.
struct Stack {
    _dir: tempfile::TempDir,
    pg: Postgres,
    broker: Tansu,
    replicas: Vec<Netorch>,
    url: String,
}

async fn stack(replicas: usize) -> Stack {
    netorch::install_crypto();
    let dir = tempfile::tempdir().expect("dir");
    let pg = Postgres::start(dir.path());
    {
        use sqlx::Connection as _;
        sqlx::any::install_default_drivers();
        let mut c = sqlx::AnyConnection::connect(&pg.admin_url)
            .await
            .expect("admin connection");
        sqlx::query("CREATE DATABASE netorch")
            .execute(&mut c)
            .await
            .expect("create database");
    }
    let url = pg.url("netorch");
    let broker = Tansu::start();
    let brokers = format!("[\"127.0.0.1:{}\"]", broker.port);
    let packages = dir.path().join("packages").display().to_string();
    let env: Vec<(&str, &str)> = vec![
        ("NETORCH_OSM__SECRET_KEY", KEY),
        ("NETORCH_OSM__PACKAGE_DIR", packages.as_str()),
        ("NETORCH_EVENTS__SINK", "kafka"),
        ("NETORCH_EVENTS__KAFKA__BROKERS", brokers.as_str()),
        ("NETORCH_EVENTS__KAFKA__CREATE_TOPICS", "true"),
        ("NETORCH_SERVER__LEADER_LEASE", "3s"),
        ("NETORCH_SERVER__SHUTDOWN_GRACE", "5s"),
        ("NETORCH_DATABASE__MAX_CONNECTIONS", "12"),
        ("NETORCH_SLICES__PUBLIC_URL", "http://netorch.test"),
    ];
    let mut all = Vec::new();
    for i in 0..replicas {
        let mut r = Netorch::on(Path::new(BIN), dir.path(), &url, &format!("r{i}"), &env);
        r.start().await.expect("replica");
        all.push(r);
    }
    Stack {
        _dir: dir,
        pg,
        broker,
        replicas: all,
        url,
    }
}

/// What the load needs: a token, an enabled VIM account, an NSD, SLICES tokens.
#[derive(Clone)]
struct Fixture {
    bases: Arc<Mutex<Vec<String>>>,
    token: String,
    vim: String,
    nsd: String,
    experiment_token: String,
    user_token: String,
    /// Where placement results are posted, and the request ids that arrived there.
    callback: String,
    called_back: Arc<Mutex<HashMap<String, usize>>>,
}

/// A placement caller's callback endpoint: records each result's request id.
async fn callback_receiver() -> (String, Arc<Mutex<HashMap<String, usize>>>) {
    use axum::{Json, Router, routing::post};
    let seen = Arc::new(Mutex::new(HashMap::new()));
    let log = seen.clone();
    let app = Router::new().route(
        "/callback",
        post(move |Json(v): Json<Value>| {
            let log = log.clone();
            async move {
                if let Some(id) = v["requestId"].as_str() {
                    *log.lock().expect("lock").entry(id.to_string()).or_insert(0) += 1;
                }
                axum::http::StatusCode::NO_CONTENT
            }
        }),
    );
    let l = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = l.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(l, app).await });
    (format!("http://{addr}/callback"), seen)
}

async fn call(
    base: &str,
    t: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut r = client()
        .request(method, format!("{base}{path}"))
        .bearer_auth(t)
        .header("Accept", "application/json");
    if let Some(b) = body {
        r = r.json(&b);
    }
    let r = r.send().await.expect("send");
    let s = r.status().as_u16();
    (s, r.json().await.unwrap_or(Value::Null))
}

async fn fixture(s: &Stack) -> Fixture {
    let base = s.replicas[0].base.clone();
    let r = client()
        .post(format!("{base}/osm/admin/v1/tokens"))
        .header("Accept", "application/json")
        .json(&json!({"username": "admin", "password": "admin"}))
        .send()
        .await
        .expect("token");
    let token = r.json::<Value>().await.expect("json")["id"]
        .as_str()
        .expect("id")
        .to_string();
    let (st, v) = call(&base, &token, Method::POST, "/osm/admin/v1/vim_accounts", Some(json!({
        "name": "site", "vim_type": "dummy", "vim_url": "http://dummy", "vim_tenant_name": "t",
        "vim_user": "u", "vim_password": "p",
        "config": {"capacity": {"vcpus": 100000, "memory_mb": 100000000}, "location": {"site": "gent", "latitude": 51.0, "longitude": 3.7}}}))).await;
    assert_eq!(st, 202, "{v}");
    let vim = v["id"].as_str().expect("vim").to_string();
    for _ in 0..400 {
        let (_, v) = call(
            &base,
            &token,
            Method::GET,
            &format!("/osm/admin/v1/vim_accounts/{vim}"),
            None,
        )
        .await;
        if v["_admin"]["operationalState"] == json!("ENABLED") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    for (path, yaml) in [
        (
            "/osm/vnfpkgm/v1/vnf_packages_content",
            "vnfd: {id: v, vdu: [{id: vm, virtual-compute-desc: c}], virtual-compute-desc: [{id: c, virtual-cpu: {num-virtual-cpu: 1}}], df: [{id: d, vdu-profile: [{id: vm, min-number-of-instances: 1}]}]}",
        ),
        (
            "/osm/nsd/v1/ns_descriptors_content",
            "nsd: {nsd: [{id: n, vnfd-id: [v], virtual-link-desc: [{id: mgmt, mgmt-network: true}], df: [{id: d, vnf-profile: [{id: '1', vnfd-id: v}]}]}]}",
        ),
    ] {
        let r = client()
            .post(format!("{base}{path}"))
            .bearer_auth(&token)
            .header("Content-Type", "application/yaml")
            .header("Accept", "application/json")
            .body(yaml)
            .send()
            .await
            .expect("send");
        assert_eq!(r.status(), 201, "{}", r.text().await.unwrap_or_default());
    }
    // Placement policies: the service's query parameters and a distance bound to the customer.
    for (id, p) in [
        (
            "query-vCPE",
            json!({"type": "onap.policies.optimization.service.QueryPolicy", "version": "1.0.0",
            "properties": {"services": ["vCPE"], "queryProperties": [
                {"attribute": "customerLatitude", "attribute_location": "customerLatitude"},
                {"attribute": "customerLongitude", "attribute_location": "customerLongitude"}]}}),
        ),
        (
            "distance-vG",
            json!({"type": "onap.policies.optimization.resource.DistancePolicy", "version": "1.0.0",
            "properties": {"services": ["vCPE"], "resources": ["vG"], "identity": "distance-vG",
                "distanceProperties": {"locationInfo": "customer_loc", "distance": {"value": "1500", "operator": "<", "unit": "km"}}}}),
        ),
    ] {
        let r = client()
            .put(format!("{base}/api/oof/v1/policies/{id}"))
            .basic_auth("admin", Some("admin"))
            .json(&p)
            .send()
            .await
            .expect("policy");
        assert_eq!(r.status(), 200, "{}", r.text().await.unwrap_or_default());
    }
    let (_, nsds) = call(
        &base,
        &token,
        Method::GET,
        "/osm/nsd/v1/ns_descriptors",
        None,
    )
    .await;
    let nsd = nsds[0]["_id"].as_str().expect("nsd").to_string();
    let out = Command::new(BIN)
        .args([
            "token",
            "slices",
            "--experiment",
            "exp_scale",
            "--role",
            "lead",
        ])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("NETORCH_DATABASE__URL", &s.url)
        .env("NETORCH_OSM__SECRET_KEY", KEY)
        .env("NETORCH_SLICES__PUBLIC_URL", "http://netorch.test")
        .env("NETORCH_DATA_DIR", s._dir.path().join("cli"))
        .output()
        .expect("token slices");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let tokens: Value = serde_json::from_slice(&out.stdout).expect("tokens");
    let (callback, called_back) = callback_receiver().await;
    Fixture {
        callback,
        called_back,
        bases: Arc::new(Mutex::new(
            s.replicas.iter().map(|r| r.base.clone()).collect(),
        )),
        token,
        vim,
        nsd,
        experiment_token: tokens["experiment_token"].as_str().expect("t").to_string(),
        user_token: tokens["user_token"].as_str().expect("t").to_string(),
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Kind {
    Vim,
    Package,
    Reservation,
    Placement,
    Ns,
}

/// One logical operation's fate.
#[derive(Debug, Clone)]
struct Outcome {
    kind: Kind,
    name: String,
    /// The final answer's status and body, or None when every attempt ended without one.
    status: Option<u16>,
    body: Value,
    /// A try ended in a transport error after the request may have reached a server.
    uncertain: bool,
    attempts: u32,
}

fn iso(t: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(t)
        .expect("time")
        .format(&time::format_description::well_known::Rfc3339)
        .expect("format")
}

fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// The request of operation `i` of kind `k`.
fn request(
    f: &Fixture,
    k: Kind,
    i: usize,
) -> (Method, String, Option<String>, Value, &'static str) {
    match k {
        Kind::Vim => (
            Method::POST,
            "/osm/admin/v1/vim_accounts".into(),
            None,
            json!({
            "name": format!("vim-{i}"), "vim_type": "dummy", "vim_url": "http://dummy",
            "vim_tenant_name": "t", "vim_user": "u", "vim_password": "p"}),
            "osm",
        ),
        Kind::Package => (
            Method::POST,
            "/osm/vnfpkgm/v1/vnf_packages_content".into(),
            None,
            json!(format!(
                "vnfd: {{id: pkg-{i}, product-name: p, version: '1.0', vdu: [{{id: vm}}]}}"
            )),
            "yaml",
        ),
        Kind::Reservation => {
            let sites = ["pl-poznan1", "be-gent1", "be-antwerp"];
            let (a, b) = (sites[i % 3], sites[(i + 1) % 3]);
            // Neighbouring operations overlap in time: the links' bandwidth and the sites' VLANs
            // run out now and then, so the database's constraints are exercised, not just hit.
            let start = now_secs() + 3600 + (i as i64 % 150) * 1800;
            (
                Method::POST,
                "/apis/v1alpha1/connectivity".into(),
                Some(format!("op-{i}")),
                json!({
                "site1": a, "site2": b, "bandwidth": 500 + (i % 5) * 500,
                "start_date": iso(start), "end_date": iso(start + 2 * 3600),
                "tokens": [f.user_token]}),
                "slices",
            )
        }
        Kind::Placement => (
            Method::POST,
            "/api/oof/v1/placement".into(),
            None,
            json!({
            "requestInfo": {"transactionId": format!("tx-{i}"), "requestId": format!("place-{i}"),
                "callbackUrl": f.callback, "sourceId": "so", "requestType": "create",
                "numSolutions": 1, "optimizers": ["placement"], "timeout": 60},
            "placementInfo": {"requestParameters": {"customerLatitude": 50.8, "customerLongitude": 4.3},
                "subscriberInfo": {"globalSubscriberId": "s", "subscriberName": "s"},
                "placementDemands": [{"resourceModuleName": "vG", "serviceResourceId": format!("vg-{i}"),
                    "resourceModelInfo": {"modelInvariantId": "vg", "modelVersionId": "vg-v1", "modelName": "vG"}}]},
            "serviceInfo": {"serviceInstanceId": format!("si-{i}"), "serviceName": "vCPE",
                "modelInfo": {"modelInvariantId": "vcpe", "modelVersionId": "vcpe-v1"}}}),
            "oof",
        ),
        Kind::Ns => (
            Method::POST,
            "/osm/nslcm/v1/ns_instances_content".into(),
            None,
            json!({"nsName": format!("ns-{i}"), "nsdId": f.nsd, "vimAccountId": f.vim}),
            "osm",
        ),
    }
}

fn kind_of(i: usize) -> Kind {
    match i % 10 {
        0 | 5 => Kind::Vim,
        1 | 6 => Kind::Package,
        2 | 7 => Kind::Reservation,
        3 | 8 => Kind::Placement,
        _ if i % 20 == 4 => Kind::Ns,
        _ => Kind::Reservation,
    }
}

/// Runs operation `i`, moving to another replica after a failure as a load balancer would.
/// Retries after a refused connection always (nothing was sent); after other transport errors
/// only where a repeat cannot duplicate (unique names, an Idempotency-Key, a request id).
async fn run_op(f: &Fixture, i: usize) -> Outcome {
    let k = kind_of(i);
    let (method, path, idem, body, style) = request(f, k, i);
    let mut uncertain = false;
    let mut attempts = 0;
    loop {
        attempts += 1;
        let bases = f.bases.lock().expect("bases").clone();
        let base = &bases[(i + attempts as usize) % bases.len()];
        let mut r = client()
            .request(method.clone(), format!("{base}{path}"))
            .header("Accept", "application/json")
            .timeout(Duration::from_secs(30));
        r = match style {
            "slices" => r.bearer_auth(&f.experiment_token).json(&body),
            "oof" => r.basic_auth("admin", Some("admin")).json(&body),
            "yaml" => r
                .bearer_auth(&f.token)
                .header("Content-Type", "application/yaml")
                .body(body.as_str().unwrap_or_default().to_string()),
            _ => r.bearer_auth(&f.token).json(&body),
        };
        if let Some(key) = &idem {
            r = r.header("Idempotency-Key", key);
        }
        let name = match k {
            Kind::Vim => format!("vim-{i}"),
            Kind::Package => format!("pkg-{i}"),
            Kind::Reservation => format!("op-{i}"),
            Kind::Placement => format!("place-{i}"),
            Kind::Ns => format!("ns-{i}"),
        };
        let give_up = attempts >= 8;
        match r.send().await {
            Ok(resp) => {
                let status = resp.status().as_u16();
                let v: Value = resp.json().await.unwrap_or(Value::Null);
                // 503: the store is away (a restart); 502/504 would be a proxy's.
                if matches!(status, 502..=504) && !give_up {
                    tokio::time::sleep(Duration::from_millis(250)).await;
                    continue;
                }
                return Outcome {
                    kind: k,
                    name,
                    status: Some(status),
                    body: v,
                    uncertain,
                    attempts,
                };
            }
            Err(e) => {
                let safe = e.is_connect() || k != Kind::Ns;
                if !e.is_connect() {
                    uncertain = true;
                }
                if !safe || give_up {
                    return Outcome {
                        kind: k,
                        name,
                        status: None,
                        body: json!(e.to_string()),
                        uncertain,
                        attempts,
                    };
                }
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        }
    }
}

/// Runs operations from `workers` tasks until `stop`; every outcome.
async fn load(f: &Fixture, workers: usize, duration: Duration) -> Vec<Outcome> {
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let deadline = Instant::now() + duration;
    let tasks: Vec<_> = (0..workers)
        .map(|_| {
            let (f, next) = (f.clone(), next.clone());
            tokio::spawn(async move {
                let mut out = Vec::new();
                while Instant::now() < deadline {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    out.push(run_op(&f, i).await);
                }
                out
            })
        })
        .collect();
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.expect("worker"));
    }
    all
}

/// Every `event-id` header on the broker, with how often it is there.
async fn broker_ids(port: u16) -> HashMap<String, usize> {
    use rskafka::client::{ClientBuilder, partition::UnknownTopicHandling};
    let c = ClientBuilder::new(vec![format!("127.0.0.1:{port}")])
        .build()
        .await
        .expect("kafka client");
    let mut seen = HashMap::new();
    for topic in c.list_topics().await.expect("topics") {
        for p in topic.partitions {
            let pc = c
                .partition_client(topic.name.clone(), p, UnknownTopicHandling::Error)
                .await
                .expect("partition");
            let mut offset = 0;
            loop {
                let (records, high) = pc
                    .fetch_records(offset, 1..10_000_000, 1_000)
                    .await
                    .expect("fetch");
                for r in &records {
                    if let Some(id) = r.record.headers.get("event-id") {
                        *seen
                            .entry(String::from_utf8_lossy(id).to_string())
                            .or_insert(0) += 1;
                    }
                    offset = r.offset + 1;
                }
                if records.is_empty() || offset >= high {
                    break;
                }
            }
        }
    }
    seen
}

async fn outbox(url: &str) -> (Vec<String>, i64) {
    use sqlx::{Connection as _, Row as _};
    let mut c = sqlx::AnyConnection::connect(url).await.expect("connect");
    let ids = sqlx::query("SELECT id FROM outbox")
        .fetch_all(&mut c)
        .await
        .expect("outbox")
        .into_iter()
        .map(|r| r.get::<String, _>(0))
        .collect();
    let pending: i64 = sqlx::query("SELECT COUNT(*) FROM outbox WHERE delivered_at IS NULL")
        .fetch_one(&mut c)
        .await
        .expect("pending")
        .get(0);
    (ids, pending)
}

#[tokio::test]
async fn three_replicas_lose_nothing_through_a_kill_a_database_restart_and_a_broker_outage() {
    let mut s = stack(3).await;
    let f = fixture(&s).await;
    let started = Instant::now();
    let driver = {
        let f = f.clone();
        tokio::spawn(async move { load(&f, 9, Duration::from_secs(24)).await })
    };
    let at = |secs: u64| tokio::time::sleep_until((started + Duration::from_secs(secs)).into());
    // Faults, one after the other.
    at(4).await;
    s.replicas[1].kill();
    at(7).await;
    let restarted = Instant::now();
    s.replicas[1]
        .start()
        .await
        .expect("the killed replica starts again");
    let recovery = restarted.elapsed();
    at(10).await;
    s.pg.restart();
    at(14).await;
    s.broker.signal("STOP");
    at(19).await;
    s.broker.signal("CONT");
    let outcomes = driver.await.expect("load");
    let elapsed = started.elapsed();

    // Every operation ended with an answer or a visible error; no internal error.
    let answered = outcomes.iter().filter(|o| o.status.is_some()).count();
    let retried = outcomes.iter().filter(|o| o.attempts > 1).count();
    let by_status: BTreeMap<String, usize> = outcomes.iter().fold(BTreeMap::new(), |mut m, o| {
        *m.entry(format!(
            "{:?} {}",
            o.kind,
            o.status.map_or("error".into(), |s| s.to_string())
        ))
        .or_insert(0) += 1;
        m
    });
    eprintln!(
        "scale-out: {} operations in {elapsed:?} ({:.0}/s), {answered} answered, {retried} moved to another replica; recovery after the kill {recovery:?}; {by_status:?}",
        outcomes.len(),
        outcomes.len() as f64 / elapsed.as_secs_f64()
    );
    for o in &outcomes {
        if o.status == Some(500) {
            let logs: Vec<String> = s
                .replicas
                .iter()
                .flat_map(|r| {
                    r.log()
                        .lines()
                        .filter(|l| l.contains("ERROR") || l.contains("internal"))
                        .map(str::to_string)
                        .collect::<Vec<_>>()
                })
                .collect();
            panic!("an internal error: {o:?}\n{}", logs.join("\n"));
        }
        // Refusals are the service's own (no capacity, a duplicate after a retry), never a
        // malformed request of this test's.
        if o.kind == Kind::Placement {
            let own_retry = o.uncertain && o.body.to_string().contains("already submitted");
            assert!(o.status.is_none_or(|s| s < 300) || own_retry, "{o:?}");
        }
    }
    assert!(
        answered as f64 >= outcomes.len() as f64 * 0.95,
        "{by_status:?}"
    );

    let base = s.replicas[0].base.clone();
    let t = &f.token;
    // NS operations all end (completed or failed, never stuck).
    for _ in 0..600 {
        let (_, ops) = call(&base, t, Method::GET, "/osm/nslcm/v1/ns_lcm_op_occs", None).await;
        if ops.as_array().is_some_and(|a| {
            a.iter().all(|o| {
                matches!(
                    o["operationState"].as_str(),
                    Some("COMPLETED" | "FAILED" | "FAILED_TEMP")
                )
            })
        }) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (_, ops) = call(&base, t, Method::GET, "/osm/nslcm/v1/ns_lcm_op_occs", None).await;
    let states: BTreeMap<String, usize> =
        ops.as_array()
            .expect("ops")
            .iter()
            .fold(BTreeMap::new(), |mut m, o| {
                *m.entry(o["operationState"].as_str().unwrap_or("?").to_string())
                    .or_insert(0) += 1;
                m
            });
    eprintln!("NS operations: {states:?}");
    for o in ops.as_array().expect("ops") {
        assert!(
            matches!(
                o["operationState"].as_str(),
                Some("COMPLETED" | "FAILED" | "FAILED_TEMP")
            ),
            "an NS operation is stuck: {o}"
        );
    }

    // Nothing lost, nothing twice.
    let (_, vims) = call(&base, t, Method::GET, "/osm/admin/v1/vim_accounts", None).await;
    let (_, pkgs) = call(&base, t, Method::GET, "/osm/vnfpkgm/v1/vnf_packages", None).await;
    let (_, nss) = call(&base, t, Method::GET, "/osm/nslcm/v1/ns_instances", None).await;
    let count = |list: &Value, field: &str| -> HashMap<String, usize> {
        list.as_array()
            .expect("list")
            .iter()
            .fold(HashMap::new(), |mut m, v| {
                *m.entry(v[field].as_str().unwrap_or_default().to_string())
                    .or_insert(0) += 1;
                m
            })
    };
    let (vims, pkgs, nss) = (
        count(&vims, "name"),
        count(&pkgs, "id"),
        count(&nss, "name"),
    );
    let mut slices_ok = Vec::new();
    let mut placements: Vec<String> = Vec::new();
    for o in &outcomes {
        let created = match (o.kind, o.status) {
            (Kind::Vim, Some(202)) | (Kind::Package, Some(201)) | (Kind::Ns, Some(201)) => true,
            // A retry of a request whose first answer was lost meets its own earlier success.
            (Kind::Vim | Kind::Package, Some(409)) => o.uncertain,
            _ => false,
        };
        let stored = match o.kind {
            Kind::Vim => vims.get(&o.name).copied().unwrap_or(0),
            Kind::Package => pkgs.get(&o.name).copied().unwrap_or(0),
            Kind::Ns => nss.get(&o.name).copied().unwrap_or(0),
            Kind::Reservation => {
                if o.status == Some(201) {
                    slices_ok.push(o.body["id"].as_str().expect("id").to_string());
                }
                continue;
            }
            Kind::Placement => {
                if o.status == Some(202) {
                    placements.push(o.name.clone());
                }
                continue;
            }
        };
        if created {
            assert_eq!(stored, 1, "{o:?}");
        } else {
            assert!(stored <= 1, "duplicated: {o:?}");
        }
    }
    // Every accepted placement is solved and its result posted to the caller (at least once).
    for _ in 0..600 {
        let got = f.called_back.lock().expect("lock").clone();
        if placements.iter().all(|p| got.contains_key(p)) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let got = f.called_back.lock().expect("lock").clone();
    for p in &placements {
        assert!(
            got.contains_key(p),
            "placement {p} accepted but never called back"
        );
        let r = client()
            .get(format!("{base}/api/oof/v1/placement/{p}"))
            .basic_auth("admin", Some("admin"))
            .send()
            .await
            .expect("status");
        let v: Value = r.json().await.expect("json");
        assert_eq!(v["status"], json!("completed"), "{v}");
    }
    // Reservations: each accepted one is there, and no S-tag is booked twice at once.
    let r = client()
        .get(format!("{base}/apis/v1alpha1/connectivity?limit=1000"))
        .bearer_auth(&f.experiment_token)
        .send()
        .await
        .expect("list");
    let all: Vec<Value> = r.json().await.expect("json");
    let ids: BTreeSet<&str> = all.iter().filter_map(|v| v["id"].as_str()).collect();
    for id in &slices_ok {
        assert!(ids.contains(id.as_str()), "reservation {id} lost");
    }
    assert_eq!(ids.len(), all.len(), "one entry per reservation");
    let mut bookings: Vec<(String, i64, String, String)> = Vec::new();
    for v in &all {
        for side in ["site1", "site2"] {
            bookings.push((
                v[side].as_str().expect("site").to_string(),
                v[format!("{side}_s_tag")].as_i64().expect("tag"),
                v["start_date"].as_str().expect("start").to_string(),
                v["end_date"].as_str().expect("end").to_string(),
            ));
        }
    }
    for (i, a) in bookings.iter().enumerate() {
        for b in &bookings[i + 1..] {
            let overlap = a.2 < b.3 && b.2 < a.3;
            assert!(
                !(a.0 == b.0 && a.1 == b.1 && overlap),
                "S-tag {} at {} booked twice: {a:?} {b:?}",
                a.1,
                a.0
            );
        }
    }

    // Every event reached the broker (at least once), counted by id.
    let mut pending = i64::MAX;
    for _ in 0..600 {
        pending = outbox(&s.url).await.1;
        if pending == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(pending, 0, "undelivered events remain");
    let (ids, _) = outbox(&s.url).await;
    let seen = broker_ids(s.broker.port).await;
    let missing: Vec<&String> = ids.iter().filter(|id| !seen.contains_key(*id)).collect();
    let repeated = seen.values().filter(|n| **n > 1).count();
    eprintln!(
        "events: {} in the outbox, {} distinct on the broker, {repeated} delivered more than once",
        ids.len(),
        seen.len()
    );
    assert!(
        missing.is_empty(),
        "{} events never reached the broker: {:?}",
        missing.len(),
        &missing[..missing.len().min(5)]
    );
    assert!(!ids.is_empty());
}

#[tokio::test]
#[ignore = "a measurement (BENCHMARKS.md), not a check"]
async fn throughput_with_one_two_and_three_replicas() {
    for n in 1..=3 {
        let s = stack(n).await;
        let f = fixture(&s).await;
        let started = Instant::now();
        let outcomes = load(&f, 12, Duration::from_secs(15)).await;
        let secs = started.elapsed().as_secs_f64();
        let ok = outcomes
            .iter()
            .filter(|o| o.status.is_some_and(|s| s < 500))
            .count();
        // Per replica: peak resident memory and CPU over the run (for the chart's sizing).
        let usage: Vec<String> = s
            .replicas
            .iter()
            .filter_map(|r| r.pid())
            .map(|pid| {
                let status =
                    std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
                let hwm = status
                    .lines()
                    .find(|l| l.starts_with("VmHWM:"))
                    .and_then(|l| l.split_whitespace().nth(1))
                    .and_then(|kb| kb.parse::<u64>().ok())
                    .unwrap_or(0);
                let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
                let fields: Vec<&str> = stat
                    .rsplit(')')
                    .next()
                    .unwrap_or("")
                    .split_whitespace()
                    .collect();
                let ticks: u64 = fields.get(11).and_then(|v| v.parse().ok()).unwrap_or(0)
                    + fields.get(12).and_then(|v| v.parse().ok()).unwrap_or(0);
                format!(
                    "peak {} MB, {:.2} cores",
                    hwm / 1024,
                    ticks as f64 / 100.0 / secs
                )
            })
            .collect();
        println!(
            "{n} replica(s): {} operations in {secs:.1} s = {:.0} ops/s ({ok} answered below 500); per replica: {usage:?}",
            outcomes.len(),
            outcomes.len() as f64 / secs
        );
    }
}
