//! The real `netorch` binary as a separate OS process: started on a port and data dir of its
//! own, killed (SIGKILL) or stopped (SIGTERM), and started again on the same port and store, as
//! an operator or a crash would do it. Tests that need several processes (a peered OSS, replicas)
//! build on this instead of each spawning the binary its own way.

use std::{
    path::{Path, PathBuf},
    process::{Child, Command, ExitStatus, Stdio},
    time::Duration,
};

use crate::TestDb;

/// Sends `signal` (`STOP`, `CONT`, `TERM`...) to process `pid`.
pub fn signal(pid: u32, signal: &str) {
    let _ = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .status();
}

/// A free TCP port on 127.0.0.1 (free when asked; the server binds it soon after).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port on 127.0.0.1")
}

/// A client for test processes: accepts their self-signed certificates, times out.
pub fn client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .danger_accept_invalid_certs(true)
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client")
}

/// One `netorch serve` process.
pub struct Netorch {
    bin: PathBuf,
    env: Vec<(String, String)>,
    child: Option<Child>,
    log: PathBuf,
    /// The port it listens on (kept across restarts).
    pub port: u16,
    /// `http(s)://127.0.0.1:<port>`.
    pub base: String,
}

impl Netorch {
    /// Configuration for a server on `db` (its own data dir under `db.dir/<name>`), a free port,
    /// no login throttling, warnings only. `extra` is `NETORCH_*` configuration on top.
    pub fn new(bin: &Path, db: &TestDb, name: &str, extra: &[(&str, &str)]) -> Self {
        Self::on(bin, db.dir.path(), &db.url, name, extra)
    }

    /// Like [`Netorch::new`] on any database URL, with its data dir and log under `dir`.
    pub fn on(bin: &Path, dir: &Path, url: &str, name: &str, extra: &[(&str, &str)]) -> Self {
        let port = free_port();
        let data = dir.join(name);
        let mut env: Vec<(String, String)> = [
            ("NETORCH_DATA_DIR", data.display().to_string()),
            ("NETORCH_DATABASE__URL", url.to_string()),
            ("NETORCH_SERVER__LISTEN", format!("127.0.0.1:{port}")),
            ("NETORCH_AUTH__THROTTLE_DELAY", "0s".into()),
            ("NETORCH_LOG__LEVEL", "warn".into()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let tls = env
            .iter()
            .any(|(k, v)| k == "NETORCH_SERVER__TLS__ENABLED" && v == "true");
        let scheme = if tls { "https" } else { "http" };
        Self {
            bin: bin.to_path_buf(),
            env,
            child: None,
            log: dir.join(format!("{name}.log")),
            port,
            base: format!("{scheme}://127.0.0.1:{port}"),
        }
    }

    /// Sets one `NETORCH_*` key for the next start (a changed configuration across a restart).
    pub fn set(&mut self, key: &str, value: &str) {
        self.env.retain(|(k, _)| k != key);
        self.env.push((key.to_string(), value.to_string()));
    }

    /// Starts the process and waits until `/healthz` answers.
    pub async fn start(&mut self) -> anyhow::Result<()> {
        anyhow::ensure!(self.child.is_none(), "already running");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)?;
        let mut cmd = Command::new(&self.bin);
        cmd.arg("serve");
        // NETORCH_* is configuration to the server (an unknown key refuses start-up): only
        // what this process was given, nothing inherited from the test's environment.
        for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("NETORCH_")) {
            cmd.env_remove(k);
        }
        cmd.envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log);
        self.child = Some(cmd.spawn()?);
        let client = client();
        for _ in 0..600 {
            if let Ok(r) = client.get(format!("{}/healthz", self.base)).send().await
                && r.status().is_success()
            {
                return Ok(());
            }
            if let Some(st) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                self.child = None;
                anyhow::bail!("netorch exited with {st} during start-up:\n{}", self.log());
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        anyhow::bail!("netorch did not answer /healthz:\n{}", self.log())
    }

    /// SIGKILL: no shutdown code runs.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM, then waits up to `within` for the exit; `None` if it did not exit (it is then
    /// killed).
    pub async fn terminate(&mut self, within: Duration) -> Option<ExitStatus> {
        let mut c = self.child.take()?;
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(c.id().to_string())
            .status();
        let deadline = tokio::time::Instant::now() + within;
        while tokio::time::Instant::now() < deadline {
            if let Ok(Some(st)) = c.try_wait() {
                return Some(st);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let _ = c.kill();
        let _ = c.wait();
        None
    }

    /// The process id while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// True while the process runs.
    pub fn running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// Everything the process wrote so far (for assertion messages).
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// A token for `user` from the OAuth2 endpoint (password grant).
    pub async fn oauth_token(&self, user: &str, password: &str) -> anyhow::Result<String> {
        let r = client()
            .post(format!("{}/oauth2/token", self.base))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(
                form_urlencoded::Serializer::new(String::new())
                    .append_pair("grant_type", "password")
                    .append_pair("username", user)
                    .append_pair("password", password)
                    .finish(),
            )
            .send()
            .await?;
        let status = r.status();
        let v: serde_json::Value = r.json().await?;
        anyhow::ensure!(status.is_success(), "token: {status} {v}");
        v["access_token"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| anyhow::anyhow!("no access_token in {v}"))
    }
}

impl Drop for Netorch {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A TCP forwarder in front of a server (the database), which a test can cut — every open
/// connection dropped and new ones refused, as when the database host goes away — and restore.
pub struct TcpProxy {
    /// The port clients connect to.
    pub port: u16,
    up: std::sync::Arc<std::sync::atomic::AtomicBool>,
    generation: tokio::sync::watch::Sender<u64>,
    task: tokio::task::JoinHandle<()>,
}

impl TcpProxy {
    /// Forwards `127.0.0.1:<port>` to `target` (`host:port`).
    pub async fn start(target: String) -> anyhow::Result<Self> {
        use std::sync::atomic::Ordering;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let port = listener.local_addr()?.port();
        let up = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
        let (generation, _) = tokio::sync::watch::channel(0u64);
        let (flag, gen_tx) = (up.clone(), generation.clone());
        let task = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                if !flag.load(Ordering::Acquire) {
                    drop(inbound); // refused: closed at once
                    continue;
                }
                let target = target.clone();
                let mut cut = gen_tx.subscribe();
                tokio::spawn(async move {
                    let Ok(mut outbound) = tokio::net::TcpStream::connect(&target).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        _ = cut.changed() => {}
                    }
                });
            }
        });
        Ok(Self {
            port,
            up,
            generation,
            task,
        })
    }

    /// Drops every connection and refuses new ones.
    pub fn cut(&self) {
        self.up.store(false, std::sync::atomic::Ordering::Release);
        self.generation.send_modify(|g| *g += 1);
    }

    /// Accepts connections again.
    pub fn restore(&self) {
        self.up.store(true, std::sync::atomic::Ordering::Release);
    }
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// An S3 implementation for tests: moto's server (scripts/test installs it in its test venv and
/// names it in `MOTO_SERVER_BIN`; else `moto_server` on the PATH).
pub struct Moto {
    child: Child,
    /// Its port on 127.0.0.1.
    pub port: u16,
}

impl Moto {
    /// A server on a free port, or `None` (with a loud line) when moto is not installed; in CI
    /// (`CI` set) a missing moto fails instead.
    pub async fn start() -> Option<Self> {
        let bin = std::env::var("MOTO_SERVER_BIN").unwrap_or_else(|_| "moto_server".into());
        let port = free_port();
        let child = match Command::new(&bin)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
        {
            Ok(c) => c,
            Err(e) => {
                assert!(
                    std::env::var("CI").is_err(),
                    "moto must be installed in CI (scripts/test does it): {e}"
                );
                eprintln!("SKIPPED: no moto server ({bin}: {e}); scripts/test installs one");
                return None;
            }
        };
        let m = Self { child, port };
        for _ in 0..400 {
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                return Some(m);
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("moto did not listen on {port}");
    }

    /// `http://127.0.0.1:<port>`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Creates `bucket` (moto takes any credentials).
    pub async fn bucket(&self, bucket: &str) {
        let r = client()
            .put(format!("{}/{bucket}", self.endpoint()))
            .body(
                "<CreateBucketConfiguration><LocationConstraint>eu-west-1</LocationConstraint></CreateBucketConfiguration>",
            )
            .send()
            .await
            .expect("create bucket");
        assert!(r.status().is_success(), "create bucket: {}", r.status());
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A Kafka-protocol broker for tests: tansu with in-memory storage (`scripts/dev-kafka install`;
/// `NETORCH_TEST_TANSU` may name the binary). Stopped and removed on drop.
pub struct Tansu {
    child: Child,
    /// Its port on 127.0.0.1.
    pub port: u16,
}

impl Tansu {
    /// A broker on `port` (a test may choose the port before the broker exists).
    pub fn start_on(port: u16) -> Self {
        Self::start_with(port, &[])
    }

    fn bin() -> String {
        std::env::var("NETORCH_TEST_TANSU").unwrap_or_else(|_| "tansu".into())
    }

    /// A broker on `port` with more options (`--authentication`: SASL required).
    pub fn start_with(port: u16, extra: &[&str]) -> Self {
        let url = format!("tcp://127.0.0.1:{port}");
        let child = Command::new(Self::bin())
            .args(["broker", "--listener-url", &url])
            .args(["--advertised-listener-url", &url])
            .args(["--storage-engine", "memory://tansu/"])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("the tansu broker must be installed: run scripts/dev-kafka install");
        Self { child, port }
    }

    /// A broker on a free port.
    pub fn start() -> Self {
        Self::start_on(free_port())
    }

    /// Freezes (`STOP`) or resumes (`CONT`) the broker: unreachable without losing what it holds.
    pub fn signal(&self, sig: &str) {
        signal(self.child.id(), sig);
    }
}

impl Drop for Tansu {
    fn drop(&mut self) {
        self.signal("CONT");
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
