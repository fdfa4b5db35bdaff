//! The real binary built with `--features kafka`, publishing to a real Kafka-protocol broker
//! (tansu, see scripts/dev-kafka): an identity change made over HTTP arrives on its topic, and the
//! peering API's six topics arrive with their exact names although the broker came up late.
#![cfg(feature = "kafka")]

use std::{
    process::{Child, Command, Stdio},
    time::Duration,
};

use rskafka::client::{ClientBuilder, partition::UnknownTopicHandling};
use serde_json::{Value, json};

struct Kill(Child);

impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

async fn wait_for_port(port: u16) {
    for _ in 0..500 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("nothing listens on {port}");
}

fn tansu(kafka: u16) -> netorch_test_support::process::Tansu {
    netorch_test_support::process::Tansu::start_on(kafka)
}

async fn call(
    client: &reqwest::Client,
    method: reqwest::Method,
    url: &str,
    token: &str,
    body: Value,
) -> (u16, Value) {
    let r = client
        .request(method, url)
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .expect("send");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn the_peering_topics_reach_kafka_with_their_exact_names_after_the_broker_was_down() {
    netorch::install_crypto();
    let kafka = free_port();
    let dir = tempfile::tempdir().expect("dir");
    let http = free_port();
    let root = format!("http://127.0.0.1:{http}");
    // The broker is down while everything happens: the outbox keeps the events.
    let _server = Kill(
        Command::new(env!("CARGO_BIN_EXE_netorch"))
            .arg("serve")
            .env_remove("NETORCH_TEST_DATABASE_URL")
            // NETORCH_* is configuration to the server: an unknown key refuses to start.
            .env_remove("NETORCH_TEST_TANSU")
            .env("NETORCH_DATA_DIR", dir.path())
            .env("NETORCH_SERVER__LISTEN", format!("127.0.0.1:{http}"))
            .env("NETORCH_EVENTS__SINK", "kafka")
            .env(
                "NETORCH_EVENTS__KAFKA__BROKERS",
                format!("[\"127.0.0.1:{kafka}\"]"),
            )
            .env("NETORCH_TMF__HEARTBEAT_INTERVAL", "300ms")
            .env("NETORCH_TMF__PEER_ATTEMPTS", "1")
            .env("NETORCH_LOG__LEVEL", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn netorch"),
    );
    wait_for_port(http).await;
    let client = reqwest::Client::new();
    let tok: Value = client
        .post(format!("{root}/oauth2/token"))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body("grant_type=password&username=admin&password=admin")
        .send()
        .await
        .expect("token")
        .json()
        .await
        .expect("json");
    let t = tok["access_token"].as_str().expect("token").to_string();
    use reqwest::Method as M;
    let scm = format!("{root}/tmf-api/serviceCatalogManagement/v4");
    let (_, spec) = call(
        &client,
        M::POST,
        &format!("{scm}/serviceSpecification"),
        &t,
        json!({"name": "s"}),
    )
    .await;
    let spec_id = spec["id"].as_str().expect("spec").to_string();
    // The server is its own peer OSS.
    let c = |n: &str, v: &str| json!({"name": n, "value": {"value": v, "alias": null}});
    let (_, org) = call(&client, M::POST, &format!("{root}/tmf-api/party/v4/organization"), &t, json!({"name": "self",
        "partyCharacteristic": [c("EXTERNAL_TMF_API_BASE_URL", &root), c("EXTERNAL_TMF_API_OAUTH2_TOKEN_URI", &format!("{root}/oauth2/token")),
            c("EXTERNAL_TMF_API_USERNAME", "admin"), c("EXTERNAL_TMF_API_PASSWORD", "admin")]})).await;
    let org_id = org["id"].as_str().expect("org").to_string();
    let peering = format!("{root}/peering-api/peering");
    // A failure (and its alarm), a peering, an update.
    let (s, _) = call(
        &client,
        M::POST,
        &format!("{peering}/add"),
        &t,
        json!({"organization": org_id, "serviceSpecs": {"nope": "x"}}),
    )
    .await;
    assert_eq!(s, 400);
    let (s, v) = call(
        &client,
        M::POST,
        &format!("{peering}/add"),
        &t,
        json!({"organization": org_id, "serviceSpecs": {spec_id.as_str(): "s"}}),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    let (s, v) = call(
        &client,
        M::PATCH,
        &format!("{peering}/{org_id}"),
        &t,
        json!({}),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    // The peer becomes unreachable: the heartbeat fails.
    let closed = format!("http://127.0.0.1:{}", free_port());
    let (s, v) = call(&client, M::PATCH, &format!("{root}/tmf-api/party/v4/organization/{org_id}"), &t,
        json!({"partyCharacteristic": [c("EXTERNAL_TMF_API_BASE_URL", &closed), c("EXTERNAL_TMF_API_OAUTH2_TOKEN_URI", &format!("{closed}/oauth2/token"))]})).await;
    assert_eq!(s, 200, "{v}");
    for _ in 0..200 {
        let (_, p) = call(
            &client,
            M::GET,
            &format!("{peering}/{org_id}"),
            &t,
            Value::Null,
        )
        .await;
        if p["status"] == json!("UNREACHABLE") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (s, _) = call(
        &client,
        M::DELETE,
        &format!("{peering}/{org_id}"),
        &t,
        Value::Null,
    )
    .await;
    assert_eq!(s, 200);

    // Now the broker comes up: every topic arrives, under its exact name.
    let _broker = tansu(kafka);
    wait_for_port(kafka).await;
    let kc = ClientBuilder::new(vec![format!("127.0.0.1:{kafka}")])
        .build()
        .await
        .expect("kafka client");
    let mut missing: Vec<&str> = vec![
        "tmf-api-peered-organization-service-specs",
        "updated-peered-organization-service-specs",
        "east-west-peering-failure",
        "east-west-peering-termination",
        "peered-organization-heartbeat-failure",
        "alarm-management-channel",
    ];
    for _ in 0..400 {
        let mut still = Vec::new();
        for topic in missing {
            let found = match kc
                .partition_client(topic, 0, UnknownTopicHandling::Error)
                .await
            {
                Ok(p) => p
                    .fetch_records(0, 1..1_000_000, 500)
                    .await
                    .is_ok_and(|(r, _)| !r.is_empty()),
                Err(_) => false,
            };
            if !found {
                still.push(topic);
            }
        }
        missing = still;
        if missing.is_empty() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("topics never reached Kafka: {missing:?}");
}

#[tokio::test]
async fn identity_events_reach_kafka_from_the_running_server() {
    netorch::install_crypto();
    let kafka = free_port();
    let _broker = tansu(kafka);
    wait_for_port(kafka).await;

    let dir = tempfile::tempdir().expect("dir");
    let http = free_port();
    let _server = Kill(
        Command::new(env!("CARGO_BIN_EXE_netorch"))
            .arg("serve")
            .env_remove("NETORCH_TEST_DATABASE_URL")
            // NETORCH_* is configuration to the server: an unknown key refuses to start.
            .env_remove("NETORCH_TEST_TANSU")
            .env("NETORCH_DATA_DIR", dir.path())
            .env("NETORCH_SERVER__LISTEN", format!("127.0.0.1:{http}"))
            .env("NETORCH_EVENTS__SINK", "kafka")
            .env(
                "NETORCH_EVENTS__KAFKA__BROKERS",
                format!("[\"127.0.0.1:{kafka}\"]"),
            )
            .env("NETORCH_EVENTS__KAFKA__TOPIC_PREFIX", "netorch.")
            .env("NETORCH_LOG__LEVEL", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn netorch"),
    );
    wait_for_port(http).await;
    let client = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{http}/osm/admin/v1");
    let tok: Value = client
        .post(format!("{base}/tokens"))
        .header("Accept", "application/json")
        .json(&json!({"username": "admin", "password": "admin"}))
        .send()
        .await
        .expect("token")
        .json()
        .await
        .expect("json");
    let created: Value = client
        .post(format!("{base}/projects"))
        .bearer_auth(tok["id"].as_str().expect("id"))
        .header("Accept", "application/json")
        .json(&json!({"name": "kafka-project"}))
        .send()
        .await
        .expect("create")
        .json()
        .await
        .expect("json");

    let kc = ClientBuilder::new(vec![format!("127.0.0.1:{kafka}")])
        .build()
        .await
        .expect("kafka client");
    for _ in 0..200 {
        if let Ok(partition) = kc
            .partition_client("netorch.project", 0, UnknownTopicHandling::Error)
            .await
            && let Ok((records, _)) = partition.fetch_records(0, 1..1_000_000, 500).await
            && let Some(r) = records.first()
        {
            let v: Value =
                serde_json::from_slice(r.record.value.as_deref().expect("value")).expect("json");
            assert_eq!(v["type"], json!("project.created"));
            assert_eq!(v["data"]["_id"], created["id"]);
            assert_eq!(v["data"]["name"], json!("kafka-project"));
            assert_eq!(r.record.key.as_deref(), Some(b"created".as_slice()));
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the event did not reach Kafka");
}
