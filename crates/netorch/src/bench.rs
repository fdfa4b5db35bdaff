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

fn tempfile_dir() -> anyhow::Result<std::path::PathBuf> {
    let d = std::env::temp_dir().join(format!("netorch-bench-{}", netorch_core::new_id()));
    std::fs::create_dir_all(&d)?;
    Ok(d)
}
