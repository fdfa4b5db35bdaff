//! A real NETCONF device for tests: yuma123's `netconfd` behind its own `sshd` (a `netconf`
//! subsystem) on a free loopback port, loaded with the repository's test module
//! (`yang/netorch-bookstore.yang`) and `toaster`. Each test gets its own device, which it may
//! stop, freeze (SIGSTOP: TCP and SSH answer, NETCONF never does) and start again.
//!
//! Needs `netconfd`, `sshd` and root (sshd authenticates the `ncuser` account, which is created
//! when missing); `scripts/test` installs the packages. [`NetconfDevice::available`] says
//! whether this machine can run one.

use std::{
    net::TcpListener,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

/// The SSH user of every test device.
pub const NETCONF_USER: &str = "ncuser";
/// Its password.
pub const NETCONF_PASSWORD: &str = "ncpass";

const NETCONFD: &str = "/usr/sbin/netconfd";

/// sshd's `netconf` subsystem command: `netconf-subsystem` itself, unless the `coalesce-once`
/// flag is there (taken by exactly one session): then the client's `<hello>` and its first
/// chunked request are held back and handed on in one write.
const RELAY: &str = r#"#!/usr/bin/python3
import os, subprocess, sys
flag = os.path.join(os.path.dirname(os.path.abspath(__file__)), "flags", "coalesce-once")
try:
    os.remove(flag)
except OSError:
    os.execv(sys.argv[1], sys.argv[1:])
child = subprocess.Popen(sys.argv[1:], stdin=subprocess.PIPE)
buf = b""
while True:
    chunk = os.read(0, 65536)
    if not chunk:
        break
    buf += chunk
    hello_end = buf.find(b"]]>]]>")
    if hello_end >= 0 and b"\n##\n" in buf[hello_end:]:
        break
child.stdin.write(buf)
child.stdin.flush()
while True:
    chunk = os.read(0, 65536)
    if not chunk:
        break
    child.stdin.write(chunk)
    child.stdin.flush()
child.stdin.close()
child.wait()
"#;
const SSHD: &str = "/usr/sbin/sshd";
const SUBSYSTEM: &str = "/usr/sbin/netconf-subsystem";

/// A running test device.
pub struct NetconfDevice {
    dir: tempfile::TempDir,
    /// The SSH port (on 127.0.0.1).
    pub port: u16,
    /// `SHA256:...` fingerprint of the device's host key.
    pub fingerprint: String,
    /// An authorised private key of [`NETCONF_USER`] (OpenSSH format).
    pub private_key: String,
    sshd: Option<Child>,
    netconfd: Option<Child>,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn run(cmd: &mut Command) -> anyhow::Result<String> {
    let out = cmd.output()?;
    if !out.status.success() {
        anyhow::bail!(
            "{cmd:?} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn is_root() -> bool {
    run(Command::new("id").arg("-u"))
        .map(|s| s.trim() == "0")
        .unwrap_or(false)
}

impl NetconfDevice {
    /// Whether netconfd, sshd and root are here.
    pub fn available() -> bool {
        Path::new(NETCONFD).exists()
            && Path::new(SSHD).exists()
            && Path::new(SUBSYSTEM).exists()
            && is_root()
    }

    /// The repository's test YANG modules.
    pub fn yang_dir() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("yang")
    }

    /// Starts a device and waits until it accepts SSH and serves its socket.
    pub fn start() -> anyhow::Result<Self> {
        ensure_user()?;
        // netconfd's socket path must stay short (~80 characters): a directory right in /tmp.
        let dir = tempfile::Builder::new().prefix("ncd").tempdir_in("/tmp")?;
        let d = dir.path();
        std::fs::set_permissions(d, std::os::unix::fs::PermissionsExt::from_mode(0o755))?;
        std::fs::create_dir_all(d.join("yang"))?;
        std::fs::create_dir_all(d.join("home"))?;
        std::fs::create_dir_all("/run/sshd")?;
        for e in std::fs::read_dir(Self::yang_dir())? {
            let e = e?;
            std::fs::copy(e.path(), d.join("yang").join(e.file_name()))?;
        }
        run(Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-f"])
            .arg(d.join("hostkey")))?;
        let fp = run(Command::new("ssh-keygen")
            .arg("-lf")
            .arg(d.join("hostkey.pub")))?;
        let fingerprint = fp
            .split_whitespace()
            .nth(1)
            .ok_or_else(|| anyhow::anyhow!("no fingerprint in '{fp}'"))?
            .to_string();
        run(Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-f"])
            .arg(d.join("userkey")))?;
        let private_key = std::fs::read_to_string(d.join("userkey"))?;
        let authorized = d.join("authorized_keys");
        std::fs::copy(d.join("userkey.pub"), &authorized)?;
        let mut dev = Self {
            port: 0,
            fingerprint,
            private_key,
            sshd: None,
            netconfd: None,
            dir,
        };
        // A port found free may be taken by another test before sshd binds it (then something
        // else would answer on it): sshd must say it listens, else try another port.
        let mut last = None;
        for _ in 0..5 {
            dev.port = free_port();
            dev.write_sshd_config()?;
            match dev.start_netconfd().and_then(|_| dev.start_sshd()) {
                Ok(()) => return Ok(dev),
                Err(e) => {
                    dev.stop();
                    last = Some(e);
                }
            }
        }
        Err(last.unwrap_or_else(|| anyhow::anyhow!("no port")))
    }

    fn write_sshd_config(&self) -> anyhow::Result<()> {
        let d = self.path();
        let port = self.port;
        let config = format!(
            "Port {port}\nListenAddress 127.0.0.1\nHostKey {hk}\nPidFile {pid}\n\
             PasswordAuthentication yes\nPubkeyAuthentication yes\nAuthorizedKeysFile {ak}\n\
             StrictModes no\nKbdInteractiveAuthentication no\nUsePAM no\nAllowUsers {NETCONF_USER}\n\
             MaxStartups 200\nMaxSessions 200\n\
             Subsystem netconf {relay} {SUBSYSTEM} --ncxserver-sockname={port}@{sock}\n",
            relay = d.join("relay.py").display(),
            hk = d.join("hostkey").display(),
            pid = d.join("sshd.pid").display(),
            ak = d.join("authorized_keys").display(),
            sock = d.join("ncxserver.sock").display(),
        );
        std::fs::write(d.join("sshd_config"), config)?;
        std::fs::write(d.join("relay.py"), RELAY)?;
        std::fs::set_permissions(
            d.join("relay.py"),
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )?;
        // The relay runs as the NETCONF user and must be able to consume the flag.
        std::fs::create_dir_all(d.join("flags"))?;
        std::fs::set_permissions(
            d.join("flags"),
            std::os::unix::fs::PermissionsExt::from_mode(0o777),
        )?;
        Ok(())
    }

    /// The next session's first request reaches netconfd in the same read as the client's
    /// `<hello>`, which netconfd (yuma123) loses: it is still in end-of-message framing then and
    /// waits for a `]]>]]>` a chunked request never sends. This is what happens by chance under
    /// load; here it happens once, for certain.
    pub fn lose_next_sessions_first_request(&self) -> anyhow::Result<()> {
        std::fs::write(self.path().join("flags").join("coalesce-once"), b"")?;
        Ok(())
    }

    /// Whether the flag set by [`Self::lose_next_sessions_first_request`] was used up.
    pub fn first_request_was_lost(&self) -> bool {
        !self.path().join("flags").join("coalesce-once").exists()
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn start_netconfd(&mut self) -> anyhow::Result<()> {
        let d = self.path().to_path_buf();
        let sock = d.join("ncxserver.sock");
        let _ = std::fs::remove_file(&sock);
        let _ = std::fs::remove_file(d.join("netconfd.log"));
        let child = Command::new(NETCONFD)
            .arg(format!("--superuser={NETCONF_USER}"))
            .arg("--no-startup")
            .arg(format!("--ncxserver-sockname={}", sock.display()))
            .arg(format!("--port={}", self.port))
            .arg(format!("--log={}", d.join("netconfd.log").display()))
            .arg("--log-level=info")
            .arg(format!(
                "--modpath={}:/usr/share/yuma/modules",
                d.join("yang").display()
            ))
            .arg("--module=toaster")
            .arg("--module=netorch-bookstore")
            .env("HOME", d.join("home"))
            // It writes backup-cfg.xml into its working directory.
            .current_dir(&d)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(std::fs::File::create(d.join("netconfd.out"))?))
            .spawn()?;
        self.netconfd = Some(child);
        // Ready when it says so (its socket appears a little before it serves).
        let deadline = Instant::now() + Duration::from_secs(20);
        while !std::fs::read_to_string(d.join("netconfd.log"))
            .is_ok_and(|l| l.contains("Running netconfd server"))
        {
            if Instant::now() > deadline {
                anyhow::bail!(
                    "netconfd did not start: {}",
                    std::fs::read_to_string(d.join("netconfd.out")).unwrap_or_default()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(())
    }

    fn start_sshd(&mut self) -> anyhow::Result<()> {
        let d = self.path().to_path_buf();
        let _ = std::fs::remove_file(d.join("sshd.log"));
        let child = Command::new(SSHD)
            .arg("-D")
            .arg("-f")
            .arg(d.join("sshd_config"))
            .arg("-E")
            .arg(d.join("sshd.log"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        self.sshd = Some(child);
        let log = d.join("sshd.log");
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            if text.contains("Server listening on") {
                return Ok(());
            }
            let exited = self
                .sshd
                .as_mut()
                .is_some_and(|c| c.try_wait().ok().flatten().is_some());
            if exited || Instant::now() > deadline {
                anyhow::bail!("sshd did not listen on {}: {text}", self.port);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The device goes away: nothing listens on its port any more.
    pub fn stop(&mut self) {
        for c in [self.sshd.take(), self.netconfd.take()]
            .into_iter()
            .flatten()
        {
            kill(c);
        }
    }

    /// The device comes back on the same port with the same keys (its datastore starts empty).
    pub fn restart(&mut self) -> anyhow::Result<()> {
        self.stop();
        self.start_netconfd()?;
        self.start_sshd()
    }

    /// Kills the NETCONF server only: open sessions drop, SSH still answers.
    pub fn kill_netconfd(&mut self) {
        if let Some(c) = self.netconfd.take() {
            kill(c);
        }
    }

    /// Stops the NETCONF server (SIGSTOP): TCP and SSH answer, NETCONF never does.
    pub fn freeze(&self) {
        self.signal("-STOP");
    }

    /// Lets a frozen server go on.
    pub fn thaw(&self) {
        self.signal("-CONT");
    }

    fn signal(&self, sig: &str) {
        if let Some(c) = &self.netconfd {
            let _ = Command::new("kill")
                .arg(sig)
                .arg(c.id().to_string())
                .status();
        }
    }

    /// The server's log (for failure messages).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.path().join("netconfd.log")).unwrap_or_default()
    }
}

fn kill(mut c: Child) {
    // SIGKILL ends a stopped process too (no SIGCONT first: it would let it answer once more).
    let _ = c.kill();
    let _ = c.wait();
}

impl Drop for NetconfDevice {
    fn drop(&mut self) {
        self.stop();
        // NETORCH_KEEP_NETCONF=1 keeps the device's directory (logs) for a post-mortem.
        if std::env::var_os("NETORCH_KEEP_NETCONF").is_some() {
            let d = std::mem::replace(&mut self.dir, tempfile::TempDir::new().expect("tmp"));
            eprintln!("netconf device kept in {}", d.keep().display());
        }
    }
}

fn ensure_user() -> anyhow::Result<()> {
    if run(Command::new("id").arg(NETCONF_USER)).is_ok() {
        return Ok(());
    }
    // Two tests may race to create the user: a second useradd failing is fine if the user exists.
    let _ = run(Command::new("useradd").args(["-m", "-s", "/bin/sh", NETCONF_USER]));
    let mut p = Command::new("chpasswd").stdin(Stdio::piped()).spawn()?;
    {
        use std::io::Write;
        p.stdin
            .as_mut()
            .expect("stdin")
            .write_all(format!("{NETCONF_USER}:{NETCONF_PASSWORD}\n").as_bytes())?;
    }
    p.wait()?;
    run(Command::new("id").arg(NETCONF_USER)).map(|_| ())
}
