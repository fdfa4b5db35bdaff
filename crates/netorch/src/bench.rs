//! `netorch bench`: an HTTP load driver that measures, in one run and on one machine, an
//! authenticated `GET /osm/admin/v1/users/{id}` against a bare axum handler returning a constant.

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
    /// Packages onboarded before measuring (`packages` scenario).
    #[arg(long, default_value_t = 1000)]
    pub packages: usize,
    /// Size of the package uploaded for the throughput figure, MB (`packages` scenario).
    #[arg(long, default_value_t = 50)]
    pub upload_mb: usize,
}

/// Bench scenarios.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Scenario {
    /// Authenticated `GET /osm/admin/v1/users/{id}` and `/healthz` against a bare handler.
    Auth,
    /// GET one VNF package, list all of them, and upload throughput against `cp`.
    Packages,
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
    let app = App::build(&cfg).await?;
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
    let health = format!("http://127.0.0.1:{port}/healthz");

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
    let mut first = None;
    let mut tasks = Vec::new();
    let chunk = args.packages.div_ceil(8).max(1);
    for w in 0..8 {
        let (client, url, token) = (client.clone(), url.clone(), token.to_string());
        let range = (w * chunk)..((w + 1) * chunk).min(args.packages);
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

fn tempfile_dir() -> anyhow::Result<std::path::PathBuf> {
    let d = std::env::temp_dir().join(format!("netorch-bench-{}", netorch_core::new_id()));
    std::fs::create_dir_all(&d)?;
    Ok(d)
}
