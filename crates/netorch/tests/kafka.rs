//! The real binary built with `--features kafka`, publishing to a real Kafka-protocol broker
//! (tansu, see scripts/dev-kafka): an identity change made over HTTP arrives on its topic.
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

#[tokio::test]
async fn identity_events_reach_kafka_from_the_running_server() {
    netorch::install_crypto();
    let kafka = free_port();
    let url = format!("tcp://127.0.0.1:{kafka}");
    let tansu = std::env::var("NETORCH_TEST_TANSU").unwrap_or_else(|_| "tansu".into());
    let _broker = Kill(
        Command::new(tansu)
            .args([
                "broker",
                "--listener-url",
                &url,
                "--advertised-listener-url",
                &url,
                "--storage-engine",
                "memory://tansu/",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("the tansu broker must be installed: run scripts/dev-kafka install"),
    );
    wait_for_port(kafka).await;

    let dir = tempfile::tempdir().expect("dir");
    let http = free_port();
    let _server = Kill(
        Command::new(env!("CARGO_BIN_EXE_netorch"))
            .arg("serve")
            .env_remove("NETORCH_TEST_DATABASE_URL")
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
