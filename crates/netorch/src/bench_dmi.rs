//! `netorch bench --scenario dmi`: the DMI plugin against a real NETCONF device
//! (`scripts/dev-netconf start DIR` prints the `--netconf-*` values). Pass-through overhead:
//! a read through netorch (HTTP, auth, handle lookup, RESTCONF path → subtree filter, NETCONF,
//! libyang XML → JSON) against the same `<get-config>` sent directly on a session of its own, in
//! interleaved rounds. Registration of `--handles` handles in batches of 2,000 and their module
//! sync; bulk reads (one event per handle) cold and warm.

use std::time::{Duration, Instant};

use anyhow::Context as _;
use netorch_netconf::{Auth, Endpoint, Pool, PoolConfig};
use serde_json::{Value, json};

use crate::bench::BenchArgs;

const READ: &str = "netorch-bookstore:bookstore/categories=01";
const FILTER: &str = r#"<bookstore xmlns="urn:netorch:test:bookstore"><categories><code>01</code></categories></bookstore>"#;

fn pct(mut v: Vec<Duration>, q: f64) -> f64 {
    v.sort();
    let i = ((v.len() as f64 - 1.0) * q).round() as usize;
    v.get(i).map(|d| d.as_secs_f64() * 1e3).unwrap_or(0.0)
}

fn endpoint(args: &BenchArgs) -> Endpoint {
    Endpoint {
        host: "127.0.0.1".into(),
        port: args.netconf_port,
        username: args.netconf_user.clone(),
        auth: Auth::Password(args.netconf_password.clone()),
        host_key: args.netconf_host_key.clone(),
    }
}

fn handle(args: &BenchArgs, id: &str, tag: &str) -> Value {
    json!({"cmHandle": id, "moduleSetTag": tag, "alternateId": format!("ManagedElement={id}"),
           "additionalProperties": {"subsystemId": "bench"},
           "netconf": {"host": "127.0.0.1", "port": args.netconf_port, "username": args.netconf_user,
                       "password": args.netconf_password, "hostKey": args.netconf_host_key}})
}

async fn post(client: &reqwest::Client, url: &str, body: &Value) -> anyhow::Result<(u16, Value)> {
    let r = client
        .post(url)
        .basic_auth("admin", Some("admin"))
        .json(body)
        .send()
        .await?;
    let status = r.status().as_u16();
    let text = r.text().await?;
    Ok((
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    ))
}

async fn wait_ready(client: &reqwest::Client, base: &str, want: usize) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(1800);
    loop {
        let r: Value = client
            .get(format!("{base}/dmi/v1/inventory/cmHandles?state=READY"))
            .basic_auth("admin", Some("admin"))
            .send()
            .await?
            .json()
            .await?;
        let n = r["cmHandles"].as_array().map(|a| a.len()).unwrap_or(0);
        if n >= want {
            return Ok(());
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "only {n} of {want} handles READY"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Runs the scenario against the server at `port`.
pub async fn dmi(
    client: &reqwest::Client,
    port: u16,
    bus: &netorch_events::InProcessBus,
    args: &BenchArgs,
) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.netconf_port != 0,
        "--netconf-port is required (scripts/dev-netconf start /tmp/ncb prints it)"
    );
    let base = format!("http://127.0.0.1:{port}");
    // One handle, READY, with data to read.
    let (s, v) = post(
        client,
        &format!("{base}/dmi/v1/inventory/cmHandles"),
        &json!({"cmHandles": [handle(args, "bench-0", "")]}),
    )
    .await?;
    anyhow::ensure!(s == 201 || s == 200, "registration answered {s}: {v}");
    wait_ready(client, &base, 1).await?;
    let write = format!(
        "{base}/dmi/v1/ch/bench-0/data/ds/ncmp-datastore:passthrough-running?resourceIdentifier=netorch-bookstore:bookstore"
    );
    let books: Vec<Value> = (0..10)
        .map(|i| json!({"title": format!("Book {i}"), "price": 10 + i, "authors": ["A", "B"]}))
        .collect();
    let (s, v) = post(
        client,
        &write,
        &json!({"operation": "update", "data": json!({"netorch-bookstore:bookstore": {"name": "bench", "categories": [{"code": "01", "name": "c", "books": books}]}}).to_string()}),
    )
    .await?;
    anyhow::ensure!(s == 200, "seeding data answered {s}: {v}");

    let read_url = format!(
        "{base}/dmi/v1/ch/bench-0/data/ds/ncmp-datastore:passthrough-running?resourceIdentifier={READ}"
    );
    let direct = Pool::new(PoolConfig::default());
    direct.set_device("direct", endpoint(args));
    direct.get_config("direct", Some(FILTER)).await?;
    let body = json!({"operation": "read"});
    let n = args.requests.clamp(100, 5000);
    let (mut via, mut raw) = (Vec::new(), Vec::new());
    for _ in 0..args.rounds.max(1) {
        for _ in 0..n / args.rounds.max(1) {
            let t = Instant::now();
            let (s, _) = post(client, &read_url, &body).await?;
            anyhow::ensure!(s == 200, "read answered {s}");
            via.push(t.elapsed());
        }
        for _ in 0..n / args.rounds.max(1) {
            let t = Instant::now();
            direct.get_config("direct", Some(FILTER)).await?;
            raw.push(t.elapsed());
        }
    }
    let (v50, v95, r50, r95) = (
        pct(via.clone(), 0.5),
        pct(via, 0.95),
        pct(raw.clone(), 0.5),
        pct(raw, 0.95),
    );
    println!(
        "pass-through read ({n} sequential): netorch p50 {v50:.2} ms p95 {v95:.2} ms; direct NETCONF p50 {r50:.2} ms p95 {r95:.2} ms; overhead p50 {:.2} ms p95 {:.2} ms",
        v50 - r50,
        v95 - r95
    );

    // Registration of --handles handles in batches of 2,000, then their module sync.
    let total = args.handles;
    let tag = format!("bench-{}", std::process::id());
    let start = Instant::now();
    for chunk in (1..=total).collect::<Vec<_>>().chunks(2000) {
        let entries: Vec<Value> = chunk
            .iter()
            .map(|i| handle(args, &format!("ch-{i}"), &tag))
            .collect();
        let (s, v) = post(
            client,
            &format!("{base}/dmi/v1/inventory/cmHandles"),
            &json!({"cmHandles": entries}),
        )
        .await?;
        anyhow::ensure!(s == 201, "registration answered {s}: {v}");
    }
    let registered = start.elapsed();
    wait_ready(client, &base, total + 1).await?;
    let ready = start.elapsed();
    println!(
        "registration of {total} handles (batches of 2,000): {:.1} s, {:.0} handles/s; all READY after {:.1} s ({:.0} handles/s end to end)",
        registered.as_secs_f64(),
        total as f64 / registered.as_secs_f64(),
        ready.as_secs_f64(),
        total as f64 / ready.as_secs_f64()
    );

    // Bulk reads: 100 handles per request, one event each.
    let per = 100.min(total);
    let ids: Vec<Value> = (1..=per)
        .map(|i| json!({"id": format!("ch-{i}")}))
        .collect();
    let mut rx = bus.subscribe();
    // One request at a time, its 100 events awaited: the first pass opens a session per handle
    // (what a real network costs the first time), the others reuse them.
    for pass in ["cold (a session to open per handle)", "warm", "warm"] {
        let start = Instant::now();
        let requests = 5;
        let mut failed = 0;
        for r in 0..requests {
            let (s, v) = post(
                client,
                &format!("{base}/dmi/v1/data?topic=bench&requestId=bulk-{r}"),
                &json!({"operations": [{"operation": "read", "operationId": "1",
                    "datastore": "ncmp-datastore:passthrough-running",
                    "resourceIdentifier": "netorch-bookstore:bookstore/name", "cmHandles": ids}]}),
            )
            .await?;
            anyhow::ensure!(s == 202, "bulk answered {s}: {v}");
            let mut got = 0;
            let deadline = Instant::now() + Duration::from_secs(600);
            while got < per {
                let left = deadline.saturating_duration_since(Instant::now());
                let e = tokio::time::timeout(left, rx.recv())
                    .await
                    .context("bulk events did not all arrive")??;
                if e.topic == "ncmp-async-m2m" {
                    if e.payload["data"]["data"]["responses"][0]["statusCode"] != "0" {
                        failed += 1;
                    }
                    got += 1;
                }
            }
        }
        let want = requests * per;
        let wall = start.elapsed();
        println!(
            "bulk read, {pass}: {requests} requests × {per} handles = {want} events in {:.2} s, {:.0} events/s ({failed} failed)",
            wall.as_secs_f64(),
            want as f64 / wall.as_secs_f64()
        );
    }
    Ok(())
}
