//! The Kafka sink against a real Kafka-protocol broker (tansu). Compiled with `--features kafka`;
//! needs the `tansu` binary (`scripts/dev-kafka install`), found on PATH or in `NETORCH_TEST_TANSU`.
#![cfg(feature = "kafka")]

use std::{
    process::{Child, Command, Stdio},
    sync::Arc,
    time::Duration,
};

use netorch_core::{
    SystemClock,
    events::{NewEvent, OutboxRepository},
};
use netorch_events::{Relay, RelayConfig, kafka::KafkaSink};
use netorch_test_support::TestDb;
use rskafka::client::{ClientBuilder, partition::UnknownTopicHandling};
use serde_json::{Value, json};

struct Broker(Child);

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn tansu() -> String {
    std::env::var("NETORCH_TEST_TANSU").unwrap_or_else(|_| "tansu".into())
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

#[expect(
    clippy::zombie_processes,
    reason = "Broker kills and waits for it on drop"
)]
async fn start_broker(port: u16) -> Broker {
    let url = format!("tcp://127.0.0.1:{port}");
    let child = Command::new(tansu())
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
        .expect("the tansu broker must be installed: run scripts/dev-kafka install");
    for _ in 0..500 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return Broker(child);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("tansu did not listen on {port}");
}

#[tokio::test]
async fn events_written_while_the_broker_is_down_reach_kafka_once_it_is_up() {
    let db = TestDb::new().await.expect("db");
    let store = db.store().await.expect("store");
    let port = free_port();
    let prefix = format!("t{}-", &netorch_core::new_id()[..8]);
    let sink = Arc::new(KafkaSink::new(
        vec![format!("127.0.0.1:{port}")],
        prefix.clone(),
        true,
    ));
    let relay = Relay::new(
        Arc::new(store.clone()),
        sink.clone(),
        Arc::new(SystemClock),
        store.outbox_wake(),
        RelayConfig {
            min_backoff: Duration::from_millis(1),
            ..Default::default()
        },
    );
    let events: Vec<NewEvent> = (0..3)
        .map(|i| NewEvent::new("vim_account", "created", json!({"n": i})))
        .collect();
    store.append(&events).await.expect("append");

    assert!(relay.run_once().await.is_err(), "no broker yet");
    assert_eq!(
        store.pending_count().await.expect("pending"),
        3,
        "kept in the outbox"
    );

    let _broker = start_broker(port).await;
    // The topic does not exist yet: the sink creates it on first use.
    assert_eq!(relay.run_once().await.expect("delivered"), 3);
    assert_eq!(store.pending_count().await.expect("pending"), 0);

    let client = ClientBuilder::new(vec![format!("127.0.0.1:{port}")])
        .build()
        .await
        .expect("client");
    let partition = client
        .partition_client(
            format!("{prefix}vim_account"),
            0,
            UnknownTopicHandling::Error,
        )
        .await
        .expect("partition");
    let (records, _) = partition
        .fetch_records(0, 1..1_000_000, 1_000)
        .await
        .expect("fetch");
    assert_eq!(records.len(), 3);
    for (r, e) in records.iter().zip(&events) {
        assert_eq!(r.record.key.as_deref(), Some(b"created".as_slice()));
        assert_eq!(
            r.record.headers.get("event-id").map(Vec::as_slice),
            Some(e.id.as_bytes())
        );
        let v: Value =
            serde_json::from_slice(r.record.value.as_deref().expect("value")).expect("json");
        assert_eq!(
            (&v["id"], &v["type"], &v["data"]),
            (&json!(e.id), &json!("vim_account.created"), &e.payload)
        );
    }
}
