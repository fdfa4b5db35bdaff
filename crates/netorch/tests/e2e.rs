//! The real `netorch` binary: start-up on an empty data dir, restart after kill -9, graceful
//! shutdown on SIGTERM, and the command line.

use std::{
    process::{Child, Command, Stdio},
    time::Duration,
};

use netorch_test_support::TestDb;
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_netorch");

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

struct Server {
    child: Child,
    base: String,
}

fn command(db: &TestDb, port: u16) -> Command {
    let mut c = Command::new(BIN);
    c.env_remove(netorch_test_support::PG_ENV)
        .env("NETORCH_DATA_DIR", db.dir.path().join("data"))
        .env("NETORCH_DATABASE__URL", &db.url)
        .env("NETORCH_SERVER__LISTEN", format!("127.0.0.1:{port}"))
        .env("NETORCH_AUTH__THROTTLE_DELAY", "0s")
        .env("NETORCH_LOG__LEVEL", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    c
}

#[expect(
    clippy::zombie_processes,
    reason = "each test kills and waits for its server"
)]
async fn start(db: &TestDb, port: u16) -> Server {
    netorch::install_crypto();
    let child = command(db, port)
        .arg("serve")
        .spawn()
        .expect("spawn netorch");
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    for _ in 0..300 {
        if let Ok(r) = client.get(format!("{base}/healthz")).send().await
            && r.status().is_success()
        {
            return Server { child, base };
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("netorch did not answer /healthz");
}

async fn token(base: &str, user: &str, pw: &str) -> reqwest::Response {
    netorch::install_crypto();
    reqwest::Client::new()
        .post(format!("{base}/osm/admin/v1/tokens"))
        .header("Accept", "application/json")
        .json(&json!({"username": user, "password": pw}))
        .send()
        .await
        .expect("send")
}

#[tokio::test]
async fn the_binary_starts_on_an_empty_data_dir_and_serves_the_admin_api() {
    let db = TestDb::new().await.expect("db");
    let port = free_port();
    let mut s = start(&db, port).await;
    let r = token(&s.base, "admin", "admin").await;
    assert_eq!(r.status(), 200);
    if !db.is_postgres() {
        assert!(db.dir.path().join("data/netorch.db").exists() || db.url.contains("test.db"));
    }
    s.child.kill().expect("kill");
    let _ = s.child.wait();
}

#[tokio::test]
async fn users_and_tokens_survive_a_kill_9_restart() {
    let db = TestDb::new().await.expect("db");
    let port = free_port();
    let mut s = start(&db, port).await;
    let t: Value = token(&s.base, "admin", "admin")
        .await
        .json()
        .await
        .expect("json");
    let t = t["id"].as_str().expect("id").to_string();
    let client = reqwest::Client::new();
    let r = client
        .post(format!("{}/osm/admin/v1/projects", s.base))
        .bearer_auth(&t)
        .json(&json!({"name": "P1"}))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 201);
    let r = client
        .post(format!("{}/osm/admin/v1/users", s.base))
        .bearer_auth(&t)
        .json(&json!({"username": "survivor", "password": "Surv1ve!pw", "projects": ["P1"]}))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 201);
    s.child.kill().expect("kill -9"); // SIGKILL: no shutdown code runs
    let _ = s.child.wait();

    let mut s = start(&db, port).await;
    let r = client
        .get(format!("{}/osm/admin/v1/users/survivor", s.base))
        .bearer_auth(&t)
        .header("Accept", "application/json")
        .send()
        .await
        .expect("send");
    assert_eq!(
        r.status(),
        200,
        "the token issued before the crash is still valid"
    );
    let u: Value = r.json().await.expect("json");
    assert_eq!(u["projects"], json!(["P1"]));
    assert_eq!(token(&s.base, "survivor", "Surv1ve!pw").await.status(), 200);
    s.child.kill().expect("kill");
    let _ = s.child.wait();
}

#[cfg(unix)]
#[tokio::test]
async fn sigterm_stops_the_server_gracefully() {
    let db = TestDb::new().await.expect("db");
    let mut s = start(&db, free_port()).await;
    let status = Command::new("kill")
        .arg("-TERM")
        .arg(s.child.id().to_string())
        .status()
        .expect("kill");
    assert!(status.success());
    let st = exit_status(&mut s.child, 500).await;
    assert!(st.success(), "clean exit: {st:?}");
}

/// Waits up to `tries` × 20 ms for the child to exit.
async fn exit_status(child: &mut Child, tries: usize) -> std::process::ExitStatus {
    for _ in 0..tries {
        if let Some(st) = child.try_wait().expect("wait") {
            return st;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the server did not exit after SIGTERM");
}

#[cfg(unix)]
#[tokio::test]
async fn a_sigterm_while_the_server_is_still_starting_stops_it_gracefully() {
    let db = TestDb::new().await.expect("db");
    let port = free_port();
    let mut child = command(&db, port).arg("serve").spawn().expect("spawn");
    // The port is bound before the store is opened and migrated, so the signal lands in the
    // middle of start-up — where a handler installed later would let the default action kill it.
    let mut bound = false;
    for _ in 0..1000 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            bound = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    assert!(bound, "netorch never listened on its port");
    let status = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status()
        .expect("kill");
    assert!(status.success());
    let st = exit_status(&mut child, 1500).await;
    assert!(st.success(), "clean exit: {st:?}");
}

#[tokio::test]
async fn on_sqlite_a_second_server_on_the_same_data_dir_is_refused() {
    let db = TestDb::new().await.expect("db");
    // Replicas may share PostgreSQL; only SQLite's data dir is exclusive.
    if netorch_test_support::skip_unless(&db, false, "the exclusive SQLite data dir") {
        return;
    }
    let mut s = start(&db, free_port()).await;
    let out = command(&db, free_port())
        .arg("serve")
        .stderr(Stdio::piped())
        .output()
        .expect("run");
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("another netorch process"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    s.child.kill().expect("kill");
    let _ = s.child.wait();
}

#[tokio::test]
async fn the_command_line_adds_lists_and_changes_users() {
    let db = TestDb::new().await.expect("db");
    let port = free_port();
    let run = |args: &[&str], pw: Option<&str>| {
        let mut c = command(&db, port);
        c.args(args).stdout(Stdio::piped()).stderr(Stdio::piped());
        if let Some(p) = pw {
            c.env("NETORCH_NEW_PASSWORD", p);
        }
        let out = c.output().expect("run");
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    assert!(run(&["migrate"], None).contains("migrations applied"));
    assert!(
        run(
            &["user", "add", "carol", "--role", "system_admin"],
            Some("Car0l!pass")
        )
        .contains("user 'carol' created")
    );
    let list = run(&["user", "list"], None);
    assert!(
        list.contains("carol") && list.contains("admin:system_admin"),
        "{list}"
    );
    run(&["user", "passwd", "carol"], Some("N3w!carolpw"));
    let mut s = start(&db, port).await;
    assert_eq!(token(&s.base, "carol", "N3w!carolpw").await.status(), 200);
    assert_eq!(token(&s.base, "carol", "Car0l!pass").await.status(), 401);
    s.child.kill().expect("kill");
    let _ = s.child.wait();
}

#[tokio::test]
async fn config_check_reports_invalid_settings() {
    let db = TestDb::new().await.expect("db");
    let out = command(&db, free_port())
        .env("NETORCH_SERVER__LISTEN", "not-an-address")
        .args(["config", "check"])
        .stderr(Stdio::piped())
        .output()
        .expect("run");
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("server.listen"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = command(&db, free_port())
        .env("NETORCH_AUTH__ADMIN_PASSWORD", "Sup3r!secret")
        .args(["config", "check"])
        .stdout(Stdio::piped())
        .output()
        .expect("run");
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("configuration OK") && !text.contains("Sup3r!secret"),
        "{text}"
    );
    let url_file = db.dir.path().join("db-url");
    std::fs::write(
        &url_file,
        "postgres://netorch:S3cret@db.example:5432/netorch\n",
    )
    .expect("write");
    let out = command(&db, free_port())
        .env_remove("NETORCH_DATABASE__URL")
        .env("NETORCH_DATABASE__URL_FILE", &url_file)
        .args(["config", "check"])
        .stdout(Stdio::piped())
        .output()
        .expect("run");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    assert!(
        text.contains("postgres://netorch:***@db.example:5432/netorch") && !text.contains("S3cret"),
        "{text}"
    );
    let out = command(&db, free_port())
        .env("NETORCH_BOGUS_KEY", "1")
        .args(["config", "check"])
        .stderr(Stdio::piped())
        .output()
        .expect("run");
    assert!(!out.status.success(), "unknown keys are refused");
}

/// The README's first-session commands, exactly as written, against the binary: every `curl`
/// must succeed (`--fail-with-body`), and the reservation must be made.
#[tokio::test]
async fn the_readmes_first_session_works_against_the_binary_today() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md"))
        .expect("README");
    let section = readme
        .split("<!-- first-session:begin -->")
        .nth(1)
        .and_then(|s| s.split("<!-- first-session:end -->").next())
        .expect("first-session markers in README.md");
    let mut commands = String::new();
    for block in section.split("```sh").skip(1) {
        commands.push_str(block.split("```").next().unwrap_or_default());
    }
    assert!(commands.contains("NBI=localhost:9999"), "{commands}");
    let db = TestDb::new().await.expect("db");
    let port = free_port();
    let mut s = start(&db, port).await;
    let script = format!(
        "set -euo pipefail\n\
         curl() {{ command curl --silent --show-error --fail-with-body \"$@\"; echo; }}\n\
         netorch() {{ {BIN:?} \"$@\"; }}\n{}",
        commands.replace("NBI=localhost:9999", &format!("NBI=127.0.0.1:{port}"))
    );
    // The script sees the server's configuration, as a newcomer's shell in the same directory would.
    let mut bash = Command::new("bash");
    bash.arg("-c").arg(&script);
    for (k, v) in command(&db, port).get_envs() {
        match v {
            Some(v) => bash.env(k, v),
            None => bash.env_remove(k),
        };
    }
    let out = bash.output().expect("bash");
    s.child.kill().expect("kill");
    let _ = s.child.wait();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "the README's first session failed:\n{stdout}\n{stderr}"
    );
    assert!(
        stdout.contains("op_id"),
        "no VIM account operation:\n{stdout}"
    );
    assert!(
        stdout.contains("\"con_127.0.0.1_"),
        "no reservation made:\n{stdout}"
    );
}

/// Commands that print data print only data on standard output, on SQLite and PostgreSQL alike
/// (the second run meets existing migrations, which PostgreSQL reports as notices): logs, even at
/// `debug`, go to standard error, so `| jq` and scripts work.
#[tokio::test]
async fn commands_that_print_data_keep_logs_off_standard_output() {
    let db = TestDb::new().await.expect("db");
    for round in 0..2 {
        let out = command(&db, free_port())
            .env("NETORCH_LOG__LEVEL", "debug")
            .args([
                "token",
                "slices",
                "--experiment",
                "exp_cli",
                "--role",
                "lead",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .output()
            .expect("run");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "round {round}: stdout is not one JSON document ({e}):\n{}",
                String::from_utf8_lossy(&out.stdout)
            )
        });
        assert!(
            v["user_token"].is_string() && v["experiment_token"].is_string(),
            "{v}"
        );
        let out = command(&db, free_port())
            .env("NETORCH_LOG__LEVEL", "debug")
            .args(["user", "list"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .output()
            .expect("run");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.lines()
                .all(|l| l.starts_with("admin\t") || l.split('\t').count() == 4),
            "round {round}: not only user rows on stdout:\n{text}"
        );
    }
}

#[expect(
    clippy::zombie_processes,
    reason = "each test kills and waits for its server"
)]
async fn crash_server(db: &TestDb, port: u16) -> Server {
    netorch::install_crypto();
    let child = command(db, port)
        .env("NETORCH_SCHEDULER__LEASE", "2s")
        .env("NETORCH_SCHEDULER__POLL_INTERVAL", "100ms")
        .arg("serve")
        .spawn()
        .expect("spawn netorch");
    let base = format!("http://127.0.0.1:{port}");
    for _ in 0..300 {
        if let Ok(r) = reqwest::get(format!("{base}/healthz")).await
            && r.status().is_success()
        {
            return Server { child, base };
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("netorch did not answer /healthz");
}

async fn call(
    base: &str,
    token: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut rb = reqwest::Client::new()
        .request(method, format!("{base}{path}"))
        .bearer_auth(token)
        .header("Accept", "application/json");
    if let Some(b) = body {
        rb = rb.json(&b);
    }
    let r = rb.send().await.expect("send");
    let s = r.status().as_u16();
    let text = r.text().await.expect("text");
    (s, serde_json::from_str(&text).unwrap_or(Value::Null))
}

async fn op_state_after_restart(base: &str, token: &str, op: &str) -> Value {
    for _ in 0..1500 {
        let (_, v) = call(
            base,
            token,
            reqwest::Method::GET,
            &format!("/osm/nslcm/v1/ns_lcm_op_occs/{op}"),
            None,
        )
        .await;
        if !matches!(
            v["operationState"].as_str(),
            Some("PROCESSING" | "ROLLING_BACK")
        ) {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("operation {op} did not finish after the restart");
}

#[tokio::test]
async fn an_ns_operation_killed_with_sigkill_completes_after_restart_and_leaves_nothing_orphaned() {
    use netorch_core::cloud::SimulatedCloudRepository as _;
    let db = TestDb::new().await.expect("db");
    let store = db.store().await.expect("store");
    let port = free_port();
    let mut s = crash_server(&db, port).await;
    let t: Value = token(&s.base, "admin", "admin")
        .await
        .json()
        .await
        .expect("json");
    let t = t["id"].as_str().expect("id").to_string();
    let base = s.base.clone();
    // Each VIM call takes 150 ms, so the kill lands in the middle of the deployment.
    let (st, v) = call(&base, &t, reqwest::Method::POST, "/osm/admin/v1/vim_accounts", Some(json!({
        "name": "slow", "vim_type": "dummy", "vim_url": "http://dummy", "vim_tenant_name": "t", "vim_user": "u",
        "vim_password": "p", "config": {"capacity": {"vcpus": 16}, "simulate": {"latency_ms": 150}}}))).await;
    assert_eq!(st, 202, "{v}");
    let vim = v["id"].as_str().expect("id").to_string();
    for _ in 0..300 {
        let (_, v) = call(
            &base,
            &t,
            reqwest::Method::GET,
            &format!("/osm/admin/v1/vim_accounts/{vim}"),
            None,
        )
        .await;
        if v["_admin"]["operationalState"] == json!("ENABLED") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for (path, yaml) in [
        (
            "/osm/vnfpkgm/v1/vnf_packages_content",
            "vnfd: {id: v, vdu: [{id: vm, virtual-compute-desc: c}], virtual-compute-desc: [{id: c, virtual-cpu: {num-virtual-cpu: 1}}], df: [{id: d, vdu-profile: [{id: vm, min-number-of-instances: 2}]}]}",
        ),
        (
            "/osm/nsd/v1/ns_descriptors_content",
            "nsd: {nsd: [{id: n, vnfd-id: [v], virtual-link-desc: [{id: mgmt, mgmt-network: true}], df: [{id: d, vnf-profile: [{id: '1', vnfd-id: v}, {id: '2', vnfd-id: v}, {id: '3', vnfd-id: v}]}]}]}",
        ),
    ] {
        let r = reqwest::Client::new()
            .post(format!("{base}{path}"))
            .bearer_auth(&t)
            .header("Content-Type", "application/yaml")
            .header("Accept", "application/json")
            .body(yaml)
            .send()
            .await
            .expect("send");
        assert_eq!(r.status(), 201, "{}", r.text().await.unwrap_or_default());
    }
    let (_, nsds) = call(
        &base,
        &t,
        reqwest::Method::GET,
        "/osm/nsd/v1/ns_descriptors",
        None,
    )
    .await;
    let nsd = nsds[0]["_id"].as_str().expect("nsd").to_string();
    let (st, v) = call(
        &base,
        &t,
        reqwest::Method::POST,
        "/osm/nslcm/v1/ns_instances_content",
        Some(json!({"nsName": "crash", "nsdId": nsd, "vimAccountId": vim})),
    )
    .await;
    assert_eq!(st, 201, "{v}");
    let ns = v["id"].as_str().expect("ns").to_string();
    let op = v["nslcmop_id"].as_str().expect("op").to_string();
    // Wait until some, not all, of the 6 servers exist; then SIGKILL.
    for _ in 0..500 {
        let n = store
            .list_resources(&format!("{ns}/"))
            .await
            .expect("list")
            .len();
        if n >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    s.child.kill().expect("kill -9");
    let _ = s.child.wait();
    let before = store
        .list_resources(&format!("{ns}/"))
        .await
        .expect("list")
        .len();
    assert!(
        before < 7,
        "the kill came after the deployment ({before} resources)"
    );

    let mut s = crash_server(&db, port).await;
    let done = op_state_after_restart(&base, &t, &op).await;
    assert_eq!(done["operationState"], json!("COMPLETED"), "{done}");
    let (_, nsr) = call(
        &base,
        &t,
        reqwest::Method::GET,
        &format!("/osm/nslcm/v1/ns_instances/{ns}"),
        None,
    )
    .await;
    assert_eq!(nsr["nsState"], json!("READY"), "{nsr}");
    // Exactly the NS's servers and network: nothing created twice.
    let held = store.list_resources(&format!("{ns}/")).await.expect("list");
    assert_eq!(held.len(), 7, "{held:?}");
    assert_eq!(store.used(&vim).await.expect("used").vcpus, 6);
    let (_, vnfs) = call(
        &base,
        &t,
        reqwest::Method::GET,
        &format!("/osm/nslcm/v1/vnf_instances?nsr-id-ref={ns}"),
        None,
    )
    .await;
    for vnfr in vnfs.as_array().expect("vnfrs") {
        for vdur in vnfr["vdur"].as_array().expect("vdur") {
            assert_eq!(vdur["status"], json!("ACTIVE"), "{vnfr}");
            assert!(
                held.iter()
                    .any(|r| Some(r.vim_id.as_str()) == vdur["vim-id"].as_str()),
                "{vdur}"
            );
        }
    }

    // The same during termination.
    let (st, v) = call(
        &base,
        &t,
        reqwest::Method::POST,
        &format!("/osm/nslcm/v1/ns_instances/{ns}/terminate"),
        Some(json!({})),
    )
    .await;
    assert_eq!(st, 202, "{v}");
    let term = v["id"].as_str().expect("op").to_string();
    for _ in 0..500 {
        if store
            .list_resources(&format!("{ns}/"))
            .await
            .expect("list")
            .len()
            <= 5
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    s.child.kill().expect("kill -9");
    let _ = s.child.wait();
    assert!(
        !store
            .list_resources(&format!("{ns}/"))
            .await
            .expect("list")
            .is_empty(),
        "the kill came after the termination"
    );
    let mut s = crash_server(&db, port).await;
    let done = op_state_after_restart(&base, &t, &term).await;
    assert_eq!(done["operationState"], json!("COMPLETED"), "{done}");
    assert!(
        store
            .list_resources(&format!("{ns}/"))
            .await
            .expect("list")
            .is_empty()
    );
    assert_eq!(store.used(&vim).await.expect("used"), Default::default());
    let (_, nsr) = call(
        &base,
        &t,
        reqwest::Method::GET,
        &format!("/osm/nslcm/v1/ns_instances/{ns}"),
        None,
    )
    .await;
    assert_eq!(nsr["nsState"], json!("NOT_INSTANTIATED"), "{nsr}");
    s.child.kill().expect("kill");
    let _ = s.child.wait();
}
