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
    let mut exited = None;
    for _ in 0..500 {
        if let Some(st) = s.child.try_wait().expect("wait") {
            exited = Some(st);
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let st = exited.expect("the server exits after SIGTERM");
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
