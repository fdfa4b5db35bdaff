//! `netorch bench`: an HTTP load driver that measures, in one run and on one machine, each scenario
//! against a bare axum baseline: `auth` (an authenticated `GET /osm/admin/v1/users/{id}` against a
//! handler returning a constant), `packages` (VNF package onboarding and listing), `slices`
//! (connectivity reservations on one and many links) and `oof` (placement accept → callback).

use std::time::{Duration, Instant};

use anyhow::Context as _;
use axum::{Router, routing::get};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::{App, Config};

/// Options of `netorch bench`.
#[derive(Debug, Clone, clap::Args)]
pub struct BenchArgs {
    /// Requests per endpoint and round.
    #[arg(long, default_value_t = 5000)]
    pub requests: usize,
    /// Concurrent clients.
    #[arg(long, default_value_t = 16)]
    pub concurrency: usize,
    /// Alternating rounds per endpoint (reduces drift between the two measurements).
    #[arg(long, default_value_t = 3)]
    pub rounds: usize,
    /// What to measure.
    #[arg(long, value_enum, default_value_t = Scenario::Auth)]
    pub scenario: Scenario,
    /// Specifications peered by one `/add` (`tmf` scenario).
    #[arg(long, default_value_t = 100)]
    pub specs: usize,
    /// Peerings checked by one heartbeat round (`tmf` scenario).
    #[arg(long, default_value_t = 1000)]
    pub peerings: usize,
    /// Packages onboarded before measuring (`packages` scenario).
    #[arg(long, default_value_t = 1000)]
    pub packages: usize,
    /// Size of the package uploaded for the throughput figure, MB (`packages` scenario).
    #[arg(long, default_value_t = 50)]
    pub upload_mb: usize,
    /// Reservations stored on one link before the availability check is measured (`slices`).
    #[arg(long, default_value_t = 100_000)]
    pub stored: usize,
    /// CM handles registered (`dmi` scenario).
    #[arg(long, default_value_t = 50_000)]
    pub handles: usize,
    /// SSH port of the NETCONF device (`dmi` scenario; `scripts/dev-netconf start DIR`).
    #[arg(long, default_value_t = 0)]
    pub netconf_port: u16,
    /// NETCONF user (`dmi` scenario).
    #[arg(long, default_value = "ncuser")]
    pub netconf_user: String,
    /// NETCONF password (`dmi` scenario).
    #[arg(long, default_value = "ncpass")]
    pub netconf_password: String,
    /// The device's host key fingerprint, `SHA256:...` (`dmi` scenario; default: trust on first use).
    #[arg(long)]
    pub netconf_host_key: Option<String>,
    /// Database to run on (`postgres://...`); default: SQLite in a temporary directory.
    #[arg(long)]
    pub database_url: Option<String>,
    /// `auth` only: do not drive any load; print the two servers' URLs and the bearer token as one
    /// JSON line, then serve until standard input closes, so an external load generator (wrk, see
    /// `scripts/bench-wrk`) measures the same pair.
    #[arg(long)]
    pub hold: bool,
}

/// Bench scenarios.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Scenario {
    /// Authenticated `GET /osm/admin/v1/users/{id}` and `/healthz` against a bare handler.
    Auth,
    /// GET one VNF package, list all of them, and upload throughput against `cp`.
    Packages,
    /// SLICES reservations/s with concurrent clients, and the availability check with many stored
    /// reservations on one link against a naive full scan.
    Slices,
    /// OOF placement: accept → callback latency of a small vCPE request, sequentially.
    Oof,
    /// OSM lists (50 VIM accounts, `--packages` VNF packages) on one connection against a bare
    /// handler re-serialising the very same documents from memory.
    Lists,
    /// NS lifecycle: instantiate → READY of a 3-VNF NS on the dummy VIM, sequentially, then
    /// `--requests` concurrent instantiations (throughput; no lost or duplicated operation).
    Nslcm,
    /// TMF peering: `/add` of `--specs` specifications, and one heartbeat round over
    /// `--peerings` peerings, the server peering with itself.
    Tmf,
    /// DMI plugin against a NETCONF device (`--netconf-port`): pass-through overhead against a
    /// direct NETCONF read, registration of `--handles` handles, bulk-read events/s.
    Dmi,
}

/// Latency summary in microseconds.
#[derive(Debug, Clone, Copy)]
pub struct Summary {
    /// Median.
    pub p50: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Requests per second over the measurement.
    pub rps: f64,
}

fn summarize(mut samples: Vec<Duration>, wall: Duration) -> Summary {
    samples.sort();
    let pick = |q: f64| {
        let i = ((samples.len() as f64 - 1.0) * q).round() as usize;
        samples.get(i).map(|d| d.as_secs_f64() * 1e6).unwrap_or(0.0)
    };
    Summary {
        p50: pick(0.50),
        p99: pick(0.99),
        rps: samples.len() as f64 / wall.as_secs_f64().max(1e-9),
    }
}

async fn drive(
    client: &reqwest::Client,
    url: &str,
    token: Option<&str>,
    n: usize,
    conc: usize,
) -> anyhow::Result<(Vec<Duration>, Duration)> {
    let per = n.div_ceil(conc);
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..conc {
        let client = client.clone();
        let url = url.to_string();
        let token = token.map(str::to_string);
        tasks.push(tokio::spawn(async move {
            let mut out = Vec::with_capacity(per);
            for _ in 0..per {
                let t = Instant::now();
                let mut rb = client.get(&url).header("Accept", "application/json");
                if let Some(tok) = &token {
                    rb = rb.bearer_auth(tok);
                }
                let resp = rb.send().await?;
                anyhow::ensure!(
                    resp.status().is_success(),
                    "{} answered {}",
                    url,
                    resp.status()
                );
                let _ = resp.bytes().await?;
                out.push(t.elapsed());
            }
            Ok::<_, anyhow::Error>(out)
        }));
    }
    let mut all = Vec::with_capacity(n);
    for t in tasks {
        all.extend(t.await??);
    }
    Ok((all, start.elapsed()))
}

/// Starts netorch (SQLite in a temporary data dir) and a bare axum server on loopback, then
/// measures both and prints p50/p99 and the ratio.
pub async fn run(args: BenchArgs) -> anyhow::Result<()> {
    crate::install_crypto();
    let dir = tempfile_dir()?;
    let mut cfg = Config {
        data_dir: dir.clone(),
        ..Default::default()
    };
    cfg.auth.throttle_delay = Duration::ZERO;
    cfg.server.listen = "127.0.0.1:0".into();
    cfg.database.url = args.database_url.clone();
    cfg.log.level = "warn".into();
    if args.scenario == Scenario::Tmf {
        // Rounds are started by the scenario, not by the clock.
        cfg.tmf.heartbeat_interval = "24h".into();
    }
    if args.scenario == Scenario::Oof {
        std::fs::create_dir_all(dir.join("policies"))?;
        std::fs::write(dir.join("policies/vcpe.json"), OOF_POLICIES)?;
        std::fs::write(dir.join("inventory.json"), OOF_INVENTORY)?;
        cfg.oof.policy_dir = Some(dir.join("policies"));
        cfg.oof.inventory_file = Some(dir.join("inventory.json"));
    }
    if args.scenario == Scenario::Dmi {
        cfg.dmi.sync_interval = Duration::from_millis(200);
    }
    let app = App::build(&cfg).await?;
    let store = app.store.clone();
    let bus = app.bus.clone();
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let port = listener.local_addr()?.port();
    let stop = CancellationToken::new();
    let server_cfg = cfg.clone();
    let s = stop.clone();
    let server = tokio::spawn(async move { app.serve(&server_cfg, listener, s).await });

    let bare = Router::new().route("/const", get(|| async { "{\"ok\":true}" }));
    let bare_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let bare_port = bare_listener.local_addr()?.port();
    let s = stop.clone();
    let bare_server = tokio::spawn(async move {
        axum::serve(bare_listener, bare)
            .with_graceful_shutdown(s.cancelled_owned())
            .await
    });

    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(args.concurrency * 2)
        .build()?;
    let base = format!("http://127.0.0.1:{port}/osm/admin/v1");
    let tok: Value = client
        .post(format!("{base}/tokens"))
        .header("Accept", "application/json")
        .json(&serde_json::json!({"username": "admin", "password": "admin"}))
        .send()
        .await?
        .json()
        .await?;
    let token = tok["id"].as_str().context("no token")?.to_string();
    let user_id = tok["user_id"].as_str().context("no user id")?.to_string();
    let target = format!("{base}/users/{user_id}");
    let baseline = format!("http://127.0.0.1:{bare_port}/const");
    if args.scenario == Scenario::Packages {
        let result = packages(
            &client,
            &format!("http://127.0.0.1:{port}/osm"),
            &baseline,
            &token,
            &args,
            &dir,
        )
        .await;
        stop.cancel();
        let _ = server.await;
        let _ = bare_server.await;
        let _ = std::fs::remove_dir_all(&dir);
        return result;
    }
    if args.scenario == Scenario::Dmi {
        let result = crate::bench_dmi::dmi(&client, port, &bus, &args).await;
        stop.cancel();
        let _ = server.await;
        let _ = bare_server.await;
        let _ = std::fs::remove_dir_all(&dir);
        return result;
    }
    if args.scenario == Scenario::Tmf {
        let result = crate::bench_tmf::tmf(&client, port, &store, &args).await;
        stop.cancel();
        let _ = server.await;
        let _ = bare_server.await;
        let _ = std::fs::remove_dir_all(&dir);
        return result;
    }
    if args.scenario == Scenario::Nslcm {
        let result = nslcm(
            &client,
            &format!("http://127.0.0.1:{port}/osm"),
            &baseline,
            &token,
            &store,
            &args,
        )
        .await;
        stop.cancel();
        let _ = server.await;
        let _ = bare_server.await;
        let _ = std::fs::remove_dir_all(&dir);
        return result;
    }
    if args.scenario == Scenario::Lists {
        let result = lists(
            &client,
            &format!("http://127.0.0.1:{port}/osm"),
            &token,
            &args,
        )
        .await;
        stop.cancel();
        let _ = server.await;
        let _ = bare_server.await;
        let _ = std::fs::remove_dir_all(&dir);
        return result;
    }
    if args.scenario == Scenario::Oof {
        let result = oof(&client, port, &baseline, &args).await;
        stop.cancel();
        let _ = server.await;
        let _ = bare_server.await;
        let _ = std::fs::remove_dir_all(&dir);
        return result;
    }
    if args.scenario == Scenario::Slices {
        let result = slices(&client, port, &baseline, &cfg, &store, &args).await;
        stop.cancel();
        let _ = server.await;
        let _ = bare_server.await;
        let _ = std::fs::remove_dir_all(&dir);
        return result;
    }
    let health = format!("http://127.0.0.1:{port}/healthz");
    if args.hold {
        println!(
            "{}",
            serde_json::json!({"bare": baseline, "healthz": health, "target": target, "token": token})
        );
        // Blocking read on a plain thread: the servers keep the runtime's workers.
        let (tx, rx) = tokio::sync::oneshot::channel();
        std::thread::spawn(move || {
            let _ = std::io::copy(&mut std::io::stdin().lock(), &mut std::io::sink());
            let _ = tx.send(());
        });
        let _ = rx.await;
        stop.cancel();
        let _ = server.await;
        let _ = bare_server.await;
        let _ = std::fs::remove_dir_all(&dir);
        return Ok(());
    }

    // Warm up connections and caches.
    let endpoints: [(&str, &str, Option<&str>); 3] = [
        ("bare axum handler            ", &baseline, None),
        ("GET /healthz (all middleware)", &health, None),
        ("GET /osm/admin/v1/users/{id} ", &target, Some(&token)),
    ];
    for (_, url, tok) in &endpoints {
        drive(&client, url, *tok, 500, args.concurrency).await?;
    }
    let mut samples: Vec<(Vec<Duration>, Duration)> =
        vec![(Vec::new(), Duration::ZERO); endpoints.len()];
    for _ in 0..args.rounds.max(1) {
        for (i, (_, url, tok)) in endpoints.iter().enumerate() {
            let (s, w) = drive(&client, url, *tok, args.requests, args.concurrency).await?;
            samples[i].0.extend(s);
            samples[i].1 += w;
        }
    }
    let sums: Vec<Summary> = samples.into_iter().map(|(s, w)| summarize(s, w)).collect();
    println!(
        "netorch bench: {} requests x {} rounds per endpoint, {} concurrent clients, loopback, SQLite",
        args.requests, args.rounds, args.concurrency
    );
    for ((name, _, _), s) in endpoints.iter().zip(&sums) {
        println!(
            "{name} p50 {:8.1} us  p99 {:8.1} us  {:9.0} req/s",
            s.p50, s.p99, s.rps
        );
    }
    let (b, h, t) = (sums[0], sums[1], sums[2]);
    println!(
        "ratio /healthz / bare           p50 {:.2}x  p99 {:.2}x",
        h.p50 / b.p50,
        h.p99 / b.p99
    );
    println!(
        "ratio authenticated GET / bare  p50 {:.2}x  p99 {:.2}x",
        t.p50 / b.p50,
        t.p99 / b.p99
    );
    stop.cancel();
    let _ = server.await;
    let _ = bare_server.await;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

fn print(name: &str, s: &Summary) {
    println!(
        "{name:<34} p50 {:9.1} us  p99 {:9.1} us  {:9.0} req/s",
        s.p50, s.p99, s.rps
    );
}

/// Onboards `n` small VNF packages with 8 concurrent uploaders; returns the first one's id.
async fn onboard(
    client: &reqwest::Client,
    osm: &str,
    token: &str,
    n: usize,
) -> anyhow::Result<Option<String>> {
    let url = format!("{osm}/vnfpkgm/v1/vnf_packages_content");
    let mut first = None;
    let mut tasks = Vec::new();
    let chunk = n.div_ceil(8).max(1);
    for w in 0..8 {
        let (client, url, token) = (client.clone(), url.clone(), token.to_string());
        let range = (w * chunk)..((w + 1) * chunk).min(n);
        tasks.push(tokio::spawn(async move {
            let mut ids = Vec::new();
            for i in range {
                let body = format!("vnfd:\n  id: bench-{i}\n  product-name: bench\n  vdu: [{{id: vm, sw-image-desc: cirros}}]\n");
                let r = client.post(&url).bearer_auth(&token).header("Content-Type", "application/yaml").header("Accept", "application/json").body(body).send().await?;
                anyhow::ensure!(r.status() == 201, "upload answered {}", r.status());
                let v: Value = r.json().await?;
                ids.push(v["id"].as_str().unwrap_or_default().to_string());
            }
            Ok::<_, anyhow::Error>(ids)
        }));
    }
    for t in tasks {
        let ids = t.await??;
        if first.is_none() {
            first = ids.first().cloned();
        }
    }
    Ok(first)
}

/// Lists of 50 VIM accounts and of `args.packages` VNF packages, one client, against a bare
/// handler that re-serialises the very same documents from memory (the floor of any server that
/// renders them per request). Checks that both put the same bytes on the wire.
async fn lists(
    client: &reqwest::Client,
    osm: &str,
    token: &str,
    args: &BenchArgs,
) -> anyhow::Result<()> {
    let vims = format!("{osm}/admin/v1/vim_accounts");
    for i in 0..50 {
        let r = client
            .post(&vims)
            .bearer_auth(token)
            .header("Accept", "application/json")
            .json(&serde_json::json!({
                "name": format!("vim-{i:02}"), "vim_type": "dummy", "vim_url": "http://dummy.example/v3",
                "vim_tenant_name": "bench", "vim_user": "bench", "vim_password": "bench-secret",
                "description": "a VIM account of the lists benchmark, long enough to look like one",
                "config": {"location": {"site": format!("site-{i}"), "latitude": 45.0, "longitude": 7.0}},
            }))
            .send()
            .await?;
        anyhow::ensure!(
            r.status().is_success(),
            "VIM create answered {}",
            r.status()
        );
    }
    let fetch = |url: String| async move {
        let r = client
            .get(&url)
            .bearer_auth(token)
            .header("Accept", "application/json")
            .send()
            .await?;
        anyhow::ensure!(r.status().is_success(), "{url} answered {}", r.status());
        Ok::<_, anyhow::Error>(r.bytes().await?)
    };
    // Accounts settle asynchronously; measure the settled list.
    for _ in 0..500 {
        let body = fetch(vims.clone()).await?;
        if !String::from_utf8_lossy(&body).contains("PROCESSING") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    onboard(client, osm, token, args.packages).await?;
    let pkgs = format!("{osm}/vnfpkgm/v1/vnf_packages");
    let vim_bytes = fetch(vims.clone()).await?;
    let pkg_bytes = fetch(pkgs.clone()).await?;
    let vim_doc: std::sync::Arc<Value> = std::sync::Arc::new(serde_json::from_slice(&vim_bytes)?);
    let pkg_doc: std::sync::Arc<Value> = std::sync::Arc::new(serde_json::from_slice(&pkg_bytes)?);
    anyhow::ensure!(
        serde_json::to_vec(&*vim_doc)? == vim_bytes && serde_json::to_vec(&*pkg_doc)? == pkg_bytes,
        "netorch's lists are not the bytes of their documents re-serialised"
    );
    let floor = {
        let (v, p) = (vim_doc.clone(), pkg_doc.clone());
        let json = |doc: std::sync::Arc<Value>| {
            move || {
                let doc = doc.clone();
                async move {
                    (
                        [(axum::http::header::CONTENT_TYPE, "application/json")],
                        serde_json::to_vec(&*doc).unwrap_or_default(),
                    )
                }
            }
        };
        Router::new()
            .route("/vims", get(json(v)))
            .route("/pkgs", get(json(p)))
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    let stop = CancellationToken::new();
    let s = stop.clone();
    let server = tokio::spawn(async move {
        axum::serve(listener, floor)
            .with_graceful_shutdown(s.cancelled_owned())
            .await
    });
    let floor_vims = format!("http://127.0.0.1:{port}/vims");
    let floor_pkgs = format!("http://127.0.0.1:{port}/pkgs");
    let (n_vims, n_pkgs) = (
        args.requests.div_ceil(5).max(50),
        (args.requests / 50).max(20),
    );
    let plan: [(&str, &str, Option<&str>, usize); 4] = [
        (
            "floor: 50 VIM accounts re-serialised",
            &floor_vims,
            None,
            n_vims,
        ),
        (
            "GET /osm/admin/v1/vim_accounts (50)",
            &vims,
            Some(token),
            n_vims,
        ),
        ("floor: packages re-serialised", &floor_pkgs, None, n_pkgs),
        (
            "GET /osm/vnfpkgm/v1/vnf_packages",
            &pkgs,
            Some(token),
            n_pkgs,
        ),
    ];
    for (_, url, tok, _) in &plan {
        drive(client, url, *tok, 10, 1).await?;
    }
    let mut acc = vec![(Vec::new(), Duration::ZERO); plan.len()];
    for _ in 0..args.rounds.max(1) {
        for (i, (_, url, tok, n)) in plan.iter().enumerate() {
            let (s, w) = drive(client, url, *tok, *n, 1).await?;
            acc[i].0.extend(s);
            acc[i].1 += w;
        }
    }
    let sums: Vec<Summary> = acc.into_iter().map(|(s, w)| summarize(s, w)).collect();
    println!(
        "netorch bench (lists): 50 VIM accounts ({} KB), {} VNF packages ({} KB), one client, {} rounds, loopback",
        vim_bytes.len() / 1024,
        args.packages,
        pkg_bytes.len() / 1024,
        args.rounds
    );
    for ((name, ..), s) in plan.iter().zip(&sums) {
        print(name, s);
    }
    println!(
        "ratio VIM list / floor        p50 {:.2}x  p99 {:.2}x",
        sums[1].p50 / sums[0].p50,
        sums[1].p99 / sums[0].p99
    );
    println!(
        "ratio package list / floor    p50 {:.2}x  p99 {:.2}x",
        sums[3].p50 / sums[2].p50,
        sums[3].p99 / sums[2].p99
    );
    stop.cancel();
    let _ = server.await;
    Ok(())
}

/// Onboards `args.packages` VNF packages, then measures a package read, the full listing and a
/// large upload, each against its baseline in the same run.
async fn packages(
    client: &reqwest::Client,
    osm: &str,
    baseline: &str,
    token: &str,
    args: &BenchArgs,
    dir: &std::path::Path,
) -> anyhow::Result<()> {
    use std::io::Write as _;
    let url = format!("{osm}/vnfpkgm/v1/vnf_packages_content");
    let first = onboard(client, osm, token, args.packages).await?;
    let one = format!(
        "{osm}/vnfpkgm/v1/vnf_packages/{}",
        first.context("no package")?
    );
    let list = format!("{osm}/vnfpkgm/v1/vnf_packages");
    let list_requests = (args.requests / 25).max(40);
    drive(client, baseline, None, 200, args.concurrency).await?;
    drive(client, &one, Some(token), 200, args.concurrency).await?;
    drive(client, &list, Some(token), 10, 2).await?;
    let mut acc = vec![(Vec::new(), Duration::ZERO); 3];
    for _ in 0..args.rounds.max(1) {
        for (i, (u, n, c)) in [
            (baseline, args.requests, args.concurrency),
            (one.as_str(), args.requests, args.concurrency),
            (list.as_str(), list_requests, 4),
        ]
        .into_iter()
        .enumerate()
        {
            let (s, w) = drive(client, u, if i == 0 { None } else { Some(token) }, n, c).await?;
            acc[i].0.extend(s);
            acc[i].1 += w;
        }
    }
    let sums: Vec<Summary> = acc.into_iter().map(|(s, w)| summarize(s, w)).collect();
    println!(
        "netorch bench (packages): {} VNF packages stored, {} requests x {} rounds, {} clients (list: {} requests, 4 clients), loopback, SQLite",
        args.packages, args.requests, args.rounds, args.concurrency, list_requests
    );
    print("bare axum handler", &sums[0]);
    print("GET /vnfpkgm/v1/vnf_packages/{id}", &sums[1]);
    print(
        &format!("GET /vnfpkgm/v1/vnf_packages ({})", args.packages),
        &sums[2],
    );
    println!(
        "ratio GET one package / bare        p50 {:.2}x  p99 {:.2}x",
        sums[1].p50 / sums[0].p50,
        sums[1].p99 / sums[0].p99
    );
    println!(
        "ratio list {} packages / bare     p50 {:.1}x  p99 {:.1}x",
        args.packages,
        sums[2].p50 / sums[0].p50,
        sums[2].p99 / sums[0].p99
    );

    // A large package of incompressible bytes, uploaded in one request, against `cp` of the file.
    let size = args.upload_mb * 1024 * 1024;
    let mut data = vec![0u8; size];
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    for b in data.iter_mut() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        *b = x as u8;
    }
    let mut tarball = tar::Builder::new(Vec::new());
    for (name, content) in [
        ("big/big_vnfd.yaml", b"vnfd: {id: big-vnf}".as_slice()),
        ("big/images/disk.img", data.as_slice()),
    ] {
        let mut h = tar::Header::new_gnu();
        h.set_path(name)?;
        h.set_size(content.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        tarball.append(&h, content)?;
    }
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&tarball.into_inner()?)?;
    let package = gz.finish()?;
    let file = dir.join("big.tar.gz");
    std::fs::write(&file, &package)?;
    let mb = package.len() as f64 / (1024.0 * 1024.0);
    let mut cp_times = Vec::new();
    let mut up_times = Vec::new();
    for i in 0..3 {
        let copy = dir.join(format!("copy-{i}.tar.gz"));
        let t = Instant::now();
        std::fs::copy(&file, &copy)?;
        std::fs::File::open(&copy)?.sync_all()?;
        cp_times.push(t.elapsed());
        let t = Instant::now();
        let r = client
            .post(format!("{url}?id=big-vnf-{i}"))
            .bearer_auth(token)
            .header("Content-Type", "application/gzip")
            .header("Accept", "application/json")
            .body(package.clone())
            .send()
            .await?;
        anyhow::ensure!(
            r.status() == 201,
            "large upload answered {}: {}",
            r.status(),
            r.text().await.unwrap_or_default()
        );
        up_times.push(t.elapsed());
    }
    cp_times.sort();
    up_times.sort();
    let (cp, up) = (cp_times[1].as_secs_f64(), up_times[1].as_secs_f64());
    println!(
        "upload of a {mb:.1} MB package (median of 3): {:.1} MB/s; cp + fsync of the file: {:.1} MB/s; ratio {:.2}x",
        mb / up,
        mb / cp,
        up / cp
    );
    Ok(())
}

/// Reservations/s over HTTP with `args.concurrency` clients on one link, then the availability
/// check with `args.stored` reservations on another link against a naive full scan.
async fn slices(
    client: &reqwest::Client,
    port: u16,
    baseline: &str,
    cfg: &Config,
    store: &netorch_store::Store,
    args: &BenchArgs,
) -> anyhow::Result<()> {
    use netorch_core::connectivity::{
        Booking, ConnectivityRepository, Link, Reservation, ReservationFilter, ReservationState,
        peak_load,
    };
    const MIN: i64 = 60_000_000;
    let (user, exp) = crate::app::mint_dev_tokens(
        cfg,
        store,
        &crate::app::DevTokenRequest {
            experiment: "exp_bench".into(),
            role: "lead".into(),
            user: "user_bench".into(),
            experiment_expires: Duration::from_secs(20 * 365 * 24 * 3600),
            ttl: Duration::from_secs(3600),
        },
    )
    .await?;
    let backend = if args.database_url.is_some() {
        "PostgreSQL"
    } else {
        "SQLite"
    };
    let url = format!("http://127.0.0.1:{port}/apis/v1alpha1/connectivity");
    let conc = args.concurrency;
    let per = args.requests.div_ceil(conc);
    let base = netorch_core::Clock::now(&netorch_core::SystemClock) + 60 * MIN;
    drive(client, baseline, None, 500, conc).await?;
    let (b, bw) = drive(client, baseline, None, args.requests, conc).await?;
    let bare = summarize(b, bw);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..conc {
        let (client, url, user, exp) = (client.clone(), url.clone(), user.clone(), exp.clone());
        tasks.push(tokio::spawn(async move {
            let mut out = Vec::with_capacity(per);
            for k in 0..per {
                // Staggered 1-hour windows 10 minutes apart on one link: up to 6 overlap.
                let i = (c * per + k) as i64;
                let start = base + i * 10 * MIN;
                let body = serde_json::json!({"site1": "pl-poznan1", "site2": "be-gent1", "bandwidth": 10,
                    "start_date": netorch_api_slices::json::format_date(start),
                    "end_date": netorch_api_slices::json::format_date(start + 60 * MIN), "tokens": [user]});
                let t = Instant::now();
                let r = client.post(&url).bearer_auth(&exp).json(&body).send().await?;
                let status = r.status().as_u16();
                let _ = r.bytes().await?;
                out.push((t.elapsed(), status));
            }
            Ok::<_, anyhow::Error>(out)
        }));
    }
    let mut lat = Vec::new();
    let (mut created, mut conflicts) = (0usize, 0usize);
    for t in tasks {
        for (d, st) in t.await?? {
            lat.push(d);
            match st {
                201 => created += 1,
                409 => conflicts += 1,
                other => anyhow::bail!("reservation answered {other}"),
            }
        }
    }
    let wall = started.elapsed();
    let post = summarize(lat, wall);
    println!(
        "netorch bench (slices): {backend}, loopback, {conc} concurrent clients, {} POST /apis/v1alpha1/connectivity on one link",
        created + conflicts
    );
    print("bare axum handler (GET)", &bare);
    print("POST connectivity", &post);
    println!(
        "reservations/s: {:.0} created ({created} created, {conflicts} refused with 409); p50 ratio to bare {:.1}x",
        created as f64 / wall.as_secs_f64(),
        post.p50 / bare.p50
    );

    // Availability with many stored reservations on one link.
    let t0 = base + 400 * 24 * 60 * MIN;
    let n = args.stored;
    let started = Instant::now();
    let mut batch = Vec::with_capacity(5000);
    for i in 0..n as i64 {
        // 30-minute spacing, 1-40 h durations; tags round-robin over the 100 of each site never
        // meet themselves (a tag comes back 50 h later).
        let start = t0 + i * 30 * MIN;
        let end = start + (1 + (i * 7) % 40) * 60 * MIN;
        batch.push(Reservation {
            id: format!("con_bench_{i}"),
            experiment_id: "exp_bench_bulk".into(),
            created_by: "user_bench".into(),
            site1: "se-kth".into(),
            site2: "es-uc3m".into(),
            bandwidth: 10,
            start,
            end,
            created_at: 0,
            updated_at: 0,
            site1_s_tag: 1300 + (i % 100) as u16,
            site1_c_tag: 0,
            site2_s_tag: 1400 + (i % 100) as u16,
            site2_c_tag: 0,
            qinq: false,
            state: ReservationState::Active,
        });
        if batch.len() == 5000 {
            store.import_reservations(&batch).await?;
            batch.clear();
        }
    }
    store.import_reservations(&batch).await?;
    println!(
        "stored {n} reservations on se-kth <-> es-uc3m in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let span = n as i64 * 30 * MIN;
    let window = |k: i64| {
        let start = t0 + (k * 7919 * 30 * MIN) % span.max(1);
        (start, start + (1 + k % 48) * 60 * MIN)
    };
    let mut fast = Vec::new();
    for k in 0..1000 {
        let (s, e) = window(k);
        let t = Instant::now();
        let a = store.availability("se-kth", "es-uc3m", s, e).await?;
        fast.push(t.elapsed());
        anyhow::ensure!(a.is_ok(), "availability refused");
    }
    let mut naive = Vec::new();
    let mut agree = 0;
    for k in 0..20 {
        let (s, e) = window(k);
        let t = Instant::now();
        // The naive way: read every reservation of the site and sum what overlaps.
        let all = store
            .list_reservations(&ReservationFilter {
                site: Some("se-kth".into()),
                limit: i64::MAX / 2,
                ..Default::default()
            })
            .await?;
        let key = Link::key("se-kth", "es-uc3m");
        let sum: i64 = all
            .iter()
            .filter(|r| Link::key(&r.site1, &r.site2) == key && r.start < e && r.end > s)
            .map(|r| r.bandwidth)
            .sum();
        naive.push(t.elapsed());
        let on: Vec<Booking> = all
            .iter()
            .filter(|r| r.start < e && r.end > s)
            .map(|r| Booking {
                start: r.start,
                end: r.end,
                amount: r.bandwidth,
            })
            .collect();
        if let Ok(a) = store.availability("se-kth", "es-uc3m", s, e).await?
            && a.peak == peak_load(&on, s, e)
            && sum >= a.peak
        {
            agree += 1;
        }
    }
    anyhow::ensure!(
        agree == 20,
        "the indexed check disagreed with the full scan"
    );
    let f = summarize(fast, Duration::from_secs(1));
    let nv = summarize(naive, Duration::from_secs(1));
    println!(
        "availability check, {n} reservations on the link: indexed p50 {:.2} ms p99 {:.2} ms; naive full scan p50 {:.1} ms; ratio naive/indexed {:.0}x",
        f.p50 / 1000.0,
        f.p99 / 1000.0,
        nv.p50 / 1000.0,
        nv.p50 / f.p50
    );
    Ok(())
}

const OOF_POLICIES: &str = r#"{
 "query": {"type": "onap.policies.optimization.service.QueryPolicy", "properties": {"services": ["vCPE"],
   "queryProperties": [{"attribute": "customerLatitude", "attribute_location": "customerLatitude"},
                       {"attribute": "customerLongitude", "attribute_location": "customerLongitude"}]}},
 "distance": {"type": "onap.policies.optimization.resource.DistancePolicy", "properties": {"services": ["vCPE"],
   "resources": ["vG", "vGMuxInfra"], "distanceProperties": {"distance": {"value": "1500", "operator": "<", "unit": "km"}}}},
 "affinity": {"type": "onap.policies.optimization.resource.AffinityPolicy", "properties": {"services": ["vCPE"],
   "resources": ["vG", "vGMuxInfra"], "affinityProperties": {"qualifier": "same", "category": "complex"}}},
 "optimization": {"type": "onap.policies.optimization.resource.OptimizationPolicy", "properties": {"services": ["vCPE"],
   "objectiveParameter": {"parameterAttributes": [{"parameter": "distance", "weight": "1"}]}}}
}"#;

const OOF_INVENTORY: &str = r#"{"cloud-region": [
 {"cloud-owner": "o", "cloud-region-id": "dfw-1", "complex": {"complex-name": "dallas", "latitude": "32.9", "longitude": "-97.0"}},
 {"cloud-owner": "o", "cloud-region-id": "dfw-2", "complex": {"complex-name": "dallas", "latitude": "32.95", "longitude": "-97.1"}},
 {"cloud-owner": "o", "cloud-region-id": "chi-1", "complex": {"complex-name": "chicago", "latitude": "41.88", "longitude": "-87.63"}}
]}"#;

/// Sequential small placement requests: POST → callback received, against a bare handler's round
/// trip in the same run.
async fn oof(
    client: &reqwest::Client,
    port: u16,
    baseline: &str,
    args: &BenchArgs,
) -> anyhow::Result<()> {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<()>();
    let receiver = Router::new().route(
        "/cb",
        axum::routing::post(move || {
            let tx = tx.clone();
            async move {
                let _ = tx.send(());
                axum::http::StatusCode::NO_CONTENT
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let cb = format!("http://{}/cb", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, receiver).await });
    let url = format!("http://127.0.0.1:{port}/api/oof/v1/placement");
    let n = (args.requests / 10).max(50);
    let mut lat = Vec::with_capacity(n);
    for i in 0..n + 20 {
        let body = serde_json::json!({
            "requestInfo": {"transactionId": format!("t{i}"), "requestId": format!("r{i}"), "callbackUrl": cb,
                "sourceId": "bench", "requestType": "create", "numSolutions": 1, "timeout": 60},
            "placementInfo": {"requestParameters": {"customerLatitude": 32.7, "customerLongitude": -96.8},
                "placementDemands": [
                    {"resourceModuleName": "vG", "serviceResourceId": "a", "resourceModelInfo": {"modelInvariantId": "m", "modelVersionId": "v"}},
                    {"resourceModuleName": "vGMuxInfra", "serviceResourceId": "b", "resourceModelInfo": {"modelInvariantId": "m", "modelVersionId": "v"}}]},
            "serviceInfo": {"serviceInstanceId": "s", "serviceName": "vCPE", "modelInfo": {"modelInvariantId": "m", "modelVersionId": "v"}}
        });
        let t = Instant::now();
        let r = client
            .post(&url)
            .basic_auth("admin", Some("admin"))
            .json(&body)
            .send()
            .await?;
        anyhow::ensure!(r.status() == 202, "placement answered {}", r.status());
        let _ = r.bytes().await?;
        tokio::time::timeout(Duration::from_secs(30), rx.recv())
            .await
            .map_err(|_| anyhow::anyhow!("no callback within 30 s"))?;
        // The first requests warm up connections and caches.
        if i >= 20 {
            lat.push(t.elapsed());
        }
    }
    let (b, bw) = drive(client, baseline, None, n, 1).await?;
    let bare = summarize(b, bw);
    let wall: Duration = lat.iter().sum();
    let s = summarize(lat, wall);
    let backend = if args.database_url.is_some() {
        "PostgreSQL"
    } else {
        "SQLite"
    };
    println!(
        "netorch bench (oof): {n} sequential vCPE requests (2 demands, 3 regions, 4 policies), {backend}, loopback"
    );
    print("bare axum handler (GET)", &bare);
    print("POST placement → callback", &s);
    println!(
        "accept → callback p50 {:.2} ms, p99 {:.2} ms ({:.1}x the bare round trip)",
        s.p50 / 1000.0,
        s.p99 / 1000.0,
        s.p50 / bare.p50
    );
    Ok(())
}

fn tempfile_dir() -> anyhow::Result<std::path::PathBuf> {
    let d = std::env::temp_dir().join(format!("netorch-bench-{}", netorch_core::new_id()));
    std::fs::create_dir_all(&d)?;
    Ok(d)
}

/// Instantiate → READY of a 3-VNF NS on the dummy VIM: sequential latency (client-observed, and
/// the engine's own time from the operation's `startTime` to `statusEnteredTime`), then
/// `args.requests` instantiations submitted at once.
async fn nslcm(
    client: &reqwest::Client,
    osm: &str,
    baseline: &str,
    token: &str,
    store: &netorch_store::Store,
    args: &BenchArgs,
) -> anyhow::Result<()> {
    use netorch_core::cloud::SimulatedCloudRepository as _;
    let call = |method: reqwest::Method, url: String, body: Option<Value>| async move {
        let mut rb = client
            .request(method, &url)
            .bearer_auth(token)
            .header("Accept", "application/json");
        if let Some(b) = body {
            rb = rb.json(&b);
        }
        let r = rb.send().await?;
        let status = r.status();
        let v: Value = r.json().await.unwrap_or(Value::Null);
        anyhow::ensure!(status.is_success(), "{url} answered {status}: {v}");
        Ok::<_, anyhow::Error>(v)
    };
    let vim = call(
        reqwest::Method::POST,
        format!("{osm}/admin/v1/vim_accounts"),
        Some(serde_json::json!({"name": "bench", "vim_type": "dummy", "vim_url": "http://dummy",
            "vim_tenant_name": "t", "vim_user": "u", "vim_password": "p",
            "config": {"capacity": {"vcpus": 1_000_000, "ram_mb": 1_000_000_000u64, "disk_gb": 1_000_000,
                                    "instances": 1_000_000, "networks": 1_000_000}}})),
    )
    .await?["id"]
        .as_str()
        .context("no VIM id")?
        .to_string();
    for _ in 0..500 {
        let v = call(
            reqwest::Method::GET,
            format!("{osm}/admin/v1/vim_accounts/{vim}"),
            None,
        )
        .await?;
        if v["_admin"]["operationalState"] == "ENABLED" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    for (path, yaml) in [
        (
            "vnfpkgm/v1/vnf_packages_content",
            "vnfd: {id: b, vdu: [{id: vm, virtual-compute-desc: c}], virtual-compute-desc: [{id: c, virtual-cpu: {num-virtual-cpu: 1}, virtual-memory: {size: 1}}]}",
        ),
        (
            "nsd/v1/ns_descriptors_content",
            "nsd: {nsd: [{id: n3, vnfd-id: [b], virtual-link-desc: [{id: mgmt, mgmt-network: true}], df: [{id: d, vnf-profile: [{id: '1', vnfd-id: b}, {id: '2', vnfd-id: b}, {id: '3', vnfd-id: b}]}]}]}",
        ),
    ] {
        let r = client
            .post(format!("{osm}/{path}"))
            .bearer_auth(token)
            .header("Content-Type", "application/yaml")
            .header("Accept", "application/json")
            .body(yaml)
            .send()
            .await?;
        anyhow::ensure!(r.status() == 201, "onboarding answered {}", r.status());
    }
    let nsds = call(
        reqwest::Method::GET,
        format!("{osm}/nsd/v1/ns_descriptors"),
        None,
    )
    .await?;
    let nsd = nsds[0]["_id"].as_str().context("no NSD")?.to_string();

    // Waits for an operation, polling every 200 µs: the client-observed figure includes up to
    // one polling interval.
    let wait = |op: String| async move {
        loop {
            let v = call(
                reqwest::Method::GET,
                format!("{osm}/nslcm/v1/ns_lcm_op_occs/{op}"),
                None,
            )
            .await?;
            match v["operationState"].as_str() {
                Some("PROCESSING" | "ROLLING_BACK") => {
                    tokio::time::sleep(Duration::from_micros(200)).await
                }
                _ => return Ok::<_, anyhow::Error>(v),
            }
        }
    };
    let (bare, _) = drive(client, baseline, None, 2000, 1).await?;
    let bare = summarize(bare, Duration::from_secs(1));
    let sequential = (args.requests / 10).clamp(20, 200);
    let mut client_side = Vec::new();
    let mut engine_side = Vec::new();
    for i in 0..sequential {
        let t = Instant::now();
        let v = call(
            reqwest::Method::POST,
            format!("{osm}/nslcm/v1/ns_instances_content"),
            Some(serde_json::json!({"nsName": format!("seq-{i}"), "nsdId": nsd, "vimAccountId": vim})),
        )
        .await?;
        let done = wait(v["nslcmop_id"].as_str().context("no op")?.to_string()).await?;
        client_side.push(t.elapsed());
        anyhow::ensure!(
            done["operationState"] == "COMPLETED",
            "instantiation failed: {done}"
        );
        let secs = done["statusEnteredTime"].as_f64().unwrap_or(0.0)
            - done["startTime"].as_f64().unwrap_or(0.0);
        engine_side.push(Duration::from_secs_f64(secs.max(0.0)));
    }
    let c = summarize(client_side, Duration::from_secs(1));
    let e = summarize(engine_side, Duration::from_secs(1));

    let n = args.requests.max(1);
    let before = store.list_resources("").await?.len();
    let t = Instant::now();
    let mut tasks = Vec::new();
    for i in 0..n {
        let (client, osm, token, nsd, vim) = (
            client.clone(),
            osm.to_string(),
            token.to_string(),
            nsd.clone(),
            vim.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let r = client
                .post(format!("{osm}/nslcm/v1/ns_instances_content"))
                .bearer_auth(&token)
                .header("Accept", "application/json")
                .json(&serde_json::json!({"nsName": format!("par-{i}"), "nsdId": nsd, "vimAccountId": vim}))
                .send()
                .await?;
            anyhow::ensure!(r.status() == 201, "create answered {}", r.status());
            let v: Value = r.json().await?;
            Ok::<_, anyhow::Error>(v["nslcmop_id"].as_str().unwrap_or_default().to_string())
        }));
    }
    let mut ops = Vec::new();
    for task in tasks {
        ops.push(task.await??);
    }
    let mut completed = 0;
    for op in ops {
        let v = wait(op).await?;
        if v["operationState"] == "COMPLETED" {
            completed += 1;
        }
    }
    let wall = t.elapsed();
    let created = store.list_resources("").await?.len() - before;
    println!(
        "netorch bench (nslcm): 3-VNF NS (3 servers + 1 network) on a dummy VIM without injected latency, {}",
        if args.database_url.is_some() {
            "PostgreSQL"
        } else {
            "SQLite"
        }
    );
    println!(
        "bare axum handler, one client          p50 {:8.1} us",
        bare.p50
    );
    println!(
        "instantiate -> COMPLETED, client side   p50 {:8.1} us  p99 {:8.1} us  ({sequential} sequential)",
        c.p50, c.p99
    );
    println!(
        "instantiate, engine (startTime -> end) p50 {:8.1} us  p99 {:8.1} us",
        e.p50, e.p99
    );
    println!(
        "{n} concurrent instantiations: {completed} COMPLETED in {:.2} s = {:.1} NS/s; resources created {created} (expected {})",
        wall.as_secs_f64(),
        n as f64 / wall.as_secs_f64(),
        n * 4
    );
    anyhow::ensure!(
        completed == n && created == n * 4,
        "lost or duplicated work"
    );
    Ok(())
}
