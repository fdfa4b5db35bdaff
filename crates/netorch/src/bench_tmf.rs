//! `netorch bench --scenario tmf`: the peering API against itself on loopback (the server is its
//! own peer OSS, so both sides share the machine). `/add` of `--specs` specifications into a
//! catalog, against the bare fetch of the same specifications; one heartbeat round over
//! `--peerings` peerings with nothing changed and with every specification changed, against the
//! bare fetches a round makes.

use std::time::{Duration, Instant};

use anyhow::Context as _;
use netorch_core::jobs::{JobRepository, JobState, NewJob};
use netorch_store::Store;
use serde_json::{Value, json};

use crate::bench::BenchArgs;

fn organization(root: &str, name: &str) -> Value {
    let c = |n: &str, v: &str| json!({"name": n, "value": {"value": v, "alias": null}});
    json!({"name": name, "partyCharacteristic": [
        c("EXTERNAL_TMF_API_BASE_URL", root),
        c("EXTERNAL_TMF_API_OAUTH2_TOKEN_URI", &format!("{root}/oauth2/token")),
        c("EXTERNAL_TMF_API_USERNAME", "admin"),
        c("EXTERNAL_TMF_API_PASSWORD", "admin"),
        c("EXTERNAL_TMF_API_OAUTH2_CLIENT_ID", "bench"),
        c("EXTERNAL_TMF_API_OAUTH2_CLIENT_SECRET", "bench"),
        c("EXTERNAL_TMF_API_OAUTH2_SCOPES", "admin;read")]})
}

async fn post(
    client: &reqwest::Client,
    url: &str,
    token: &str,
    body: &Value,
) -> anyhow::Result<Value> {
    let r = client
        .post(url)
        .bearer_auth(token)
        .json(body)
        .send()
        .await?;
    let status = r.status();
    let v: Value = r.json().await?;
    anyhow::ensure!(status.is_success(), "{url} answered {status}: {v}");
    Ok(v)
}

/// Runs one heartbeat round now; its wall time and result.
async fn round(store: &Store, tag: &str) -> anyhow::Result<(Duration, Value)> {
    let start = Instant::now();
    let now = netorch_core::Clock::now(&netorch_core::SystemClock);
    let job = store
        .enqueue(
            &NewJob {
                kind: netorch_api_tmf::peering::HEARTBEAT_JOB.into(),
                project_id: None,
                payload: json!({}),
                max_attempts: 1,
                run_at: now,
                dedupe_key: Some(format!("bench:{tag}:{now}")),
            },
            now,
        )
        .await?;
    loop {
        let j = store.get_job(&job.id).await?.context("job gone")?;
        match j.state {
            JobState::Succeeded => return Ok((start.elapsed(), j.result.unwrap_or_default())),
            JobState::Failed | JobState::Cancelled => {
                anyhow::bail!("heartbeat failed: {:?}", j.last_error)
            }
            _ => tokio::time::sleep(Duration::from_millis(5)).await,
        }
    }
}

/// The scenario.
pub(crate) async fn tmf(
    client: &reqwest::Client,
    port: u16,
    store: &Store,
    args: &BenchArgs,
) -> anyhow::Result<()> {
    let root = format!("http://127.0.0.1:{port}");
    let scm = format!("{root}/tmf-api/serviceCatalogManagement/v4");
    let tok: Value = client
        .post(format!("{root}/oauth2/token"))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body("grant_type=password&username=admin&password=admin")
        .send()
        .await?
        .json()
        .await?;
    let token = tok["access_token"]
        .as_str()
        .context("no token")?
        .to_string();
    let mut specs = serde_json::Map::new();
    for i in 0..args.specs {
        let v = post(client, &format!("{scm}/serviceSpecification"), &token, &json!({
            "name": format!("spec-{i}"), "version": "1", "@type": "CustomerFacingServiceSpecification",
            "serviceSpecCharacteristic": [{"name": "bandwidth", "valueType": "INTEGER",
                "serviceSpecCharacteristicValue": [{"value": {"value": "100", "alias": null}}]}]})).await?;
        specs.insert(
            v["id"].as_str().context("id")?.to_string(),
            json!(format!("spec-{i}")),
        );
    }
    let ids: Vec<String> = specs.keys().cloned().collect();
    let names: Vec<Value> = specs.values().cloned().collect();
    let fetch_all = || async {
        let t = Instant::now();
        for id in &ids {
            let r = client
                .get(format!("{scm}/serviceSpecification/{id}"))
                .bearer_auth(&token)
                .send()
                .await?;
            anyhow::ensure!(r.status().is_success(), "GET answered {}", r.status());
            let _ = r.bytes().await?;
        }
        Ok::<_, anyhow::Error>(t.elapsed())
    };
    let mut adds = Vec::new();
    let mut bare = Vec::new();
    for r in 0..args.rounds.max(1) {
        bare.push(fetch_all().await?);
        let org = post(
            client,
            &format!("{root}/tmf-api/party/v4/organization"),
            &token,
            &organization(&root, &format!("peer-{r}")),
        )
        .await?;
        let t = Instant::now();
        post(client, &format!("{root}/peering-api/peering/add"), &token, &json!({
            "organization": org["id"], "serviceSpecs": specs, "peeredSpecs": {},
            "serviceCatalogs": [{"name": format!("bench-{r}"), "categories": [{"name": format!("bench-{r}"), "specifications": names}]}]})).await?;
        adds.push(t.elapsed());
    }
    adds.sort();
    bare.sort();
    let (add, fetch) = (adds[adds.len() / 2], bare[bare.len() / 2]);
    println!(
        "netorch bench tmf: {} rounds, the server peering with itself on loopback, {}",
        args.rounds.max(1),
        if store.backend() == netorch_store::Backend::Postgres {
            "PostgreSQL"
        } else {
            "SQLite"
        }
    );
    println!(
        "/peering-api/peering/add of {} specs: median {:.1} ms ({:.0} specs/s); the bare GETs of the same specs {:.1} ms; ratio {:.2}x",
        ids.len(),
        add.as_secs_f64() * 1e3,
        ids.len() as f64 / add.as_secs_f64(),
        fetch.as_secs_f64() * 1e3,
        add.as_secs_f64() / fetch.as_secs_f64()
    );

    // Many peerings, one specification each.
    let first = ids[0].clone();
    let t = Instant::now();
    for i in 0..args.peerings {
        let org = post(
            client,
            &format!("{root}/tmf-api/party/v4/organization"),
            &token,
            &organization(&root, &format!("hb-{i}")),
        )
        .await?;
        post(
            client,
            &format!("{root}/peering-api/peering/add"),
            &token,
            &json!({"organization": org["id"], "serviceSpecs": {first.as_str(): "spec-0"}}),
        )
        .await?;
    }
    let setup = t.elapsed();
    let t = Instant::now();
    for _ in 0..args.peerings {
        let r = client
            .get(format!("{scm}/serviceSpecification/{first}"))
            .bearer_auth(&token)
            .send()
            .await?;
        let _ = r.bytes().await?;
    }
    let bare_round = t.elapsed();
    let (quiet, quiet_result) = round(store, "quiet").await?;
    let r = client
        .patch(format!("{scm}/serviceSpecification/{first}"))
        .bearer_auth(&token)
        .json(&json!({"version": "2"}))
        .send()
        .await?;
    anyhow::ensure!(r.status().is_success(), "PATCH answered {}", r.status());
    let (busy, busy_result) = round(store, "changed").await?;
    // Per changed peering: its specification's change event and the topic event.
    let events = busy_result["updated"].as_u64().unwrap_or(0) * 2;
    println!(
        "{} peerings made with /add in {:.1} s ({:.0}/s)",
        args.peerings,
        setup.as_secs_f64(),
        args.peerings as f64 / setup.as_secs_f64()
    );
    println!(
        "heartbeat round, nothing changed: {:.2} s ({:.0} peerings/s) {quiet_result}; the bare GETs it makes {:.2} s; ratio {:.2}x",
        quiet.as_secs_f64(),
        args.peerings as f64 / quiet.as_secs_f64(),
        bare_round.as_secs_f64(),
        quiet.as_secs_f64() / bare_round.as_secs_f64()
    );
    println!(
        "heartbeat round, every specification changed: {:.2} s ({:.0} peerings/s, {:.0} events/s) {busy_result}",
        busy.as_secs_f64(),
        args.peerings as f64 / busy.as_secs_f64(),
        events as f64 / busy.as_secs_f64()
    );
    Ok(())
}
