//! The relay against a real store (SQLite, or PostgreSQL with NETORCH_TEST_DATABASE_URL).

use std::{sync::Arc, time::Duration};

use netorch_core::{
    Clock, SystemClock,
    events::{NewEvent, OutboxRepository},
};
use netorch_events::{InProcessBus, Relay, RelayConfig};
use netorch_store::Store;
use netorch_test_support::{RecordingSink, TestDb};
use serde_json::json;
use tokio_util::sync::CancellationToken;

fn cfg() -> RelayConfig {
    RelayConfig {
        min_backoff: Duration::from_millis(1),
        max_backoff: Duration::from_millis(5),
        poll_interval: Duration::from_millis(20),
        lease: Duration::from_millis(200),
        ..Default::default()
    }
}

fn relay(store: &Store, sink: Arc<dyn netorch_core::events::EventSink>) -> Relay {
    relay_at(store, sink, Arc::new(SystemClock))
}

fn relay_at(
    store: &Store,
    sink: Arc<dyn netorch_core::events::EventSink>,
    clock: Arc<dyn Clock>,
) -> Relay {
    Relay::new(
        Arc::new(store.clone()),
        sink,
        clock,
        store.outbox_wake(),
        cfg(),
    )
}

async fn wait_until(mut cond: impl FnMut() -> bool) {
    for _ in 0..500 {
        if cond() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("condition not reached within 5 s");
}

#[tokio::test]
async fn events_written_while_the_sink_is_down_are_delivered_after_it_comes_back() {
    let db = TestDb::new().await.expect("db");
    let store = db.store().await.expect("store");
    let sink = RecordingSink::default();
    sink.set_down(true);
    let cancel = CancellationToken::new();
    let task = tokio::spawn(relay(&store, Arc::new(sink.clone())).run(cancel.clone()));

    let written: Vec<NewEvent> = (0..5)
        .map(|i| NewEvent::new("vim_account", "created", json!({"n": i})))
        .collect();
    store.append(&written).await.expect("append");
    wait_until(|| sink.refused() >= 2).await;
    assert!(sink.received().is_empty());
    assert_eq!(
        store.pending_count().await.expect("pending"),
        5,
        "nothing lost while down"
    );

    sink.set_down(false);
    wait_until(|| sink.received().len() >= 5).await;
    cancel.cancel();
    task.await.expect("relay");
    let got: Vec<String> = sink.received().iter().map(|e| e.id.clone()).collect();
    let want: Vec<String> = written.iter().map(|e| e.id.clone()).collect();
    assert_eq!(got, want, "delivered once each, in order");
    assert_eq!(store.pending_count().await.expect("pending"), 0);
}

#[tokio::test]
async fn a_relay_that_died_before_confirming_is_followed_by_redelivery_with_the_same_id() {
    let db = TestDb::new().await.expect("db");
    let store = db.store().await.expect("store");
    let ev = NewEvent::new("ns", "instantiate", json!({}));
    store
        .append(std::slice::from_ref(&ev))
        .await
        .expect("append");
    // A relay claims the event, publishes it, and dies before marking it delivered.
    let now = SystemClock.now();
    let claimed = store
        .claim("dead-relay", 10, now, now + 50_000)
        .await
        .expect("claim");
    assert_eq!(claimed.len(), 1);
    // The dead relay's lease runs out: a relay whose clock is past it takes the event over.
    let later = netorch_test_support::ManualClock::at(now + 60_000);
    let sink = RecordingSink::default();
    relay_at(&store, Arc::new(sink.clone()), later)
        .run_once()
        .await
        .expect("deliver");
    assert_eq!(sink.received().len(), 1);
    assert_eq!(
        sink.received()[0].id,
        ev.id,
        "consumers can de-duplicate on the id"
    );
}

#[tokio::test]
async fn in_process_subscribers_receive_committed_events() {
    let db = TestDb::new().await.expect("db");
    let store = db.store().await.expect("store");
    let bus = InProcessBus::new(64);
    let mut rx = bus.subscribe();
    let ev = NewEvent::new("users", "created", json!({"username": "u1"}));
    store
        .append(std::slice::from_ref(&ev))
        .await
        .expect("append");
    assert_eq!(
        relay(&store, Arc::new(bus)).run_once().await.expect("run"),
        1
    );
    let got = rx.recv().await.expect("event");
    assert_eq!(
        (got.topic.as_str(), got.key.as_str(), &got.payload),
        ("users", "created", &json!({"username": "u1"}))
    );
    let env = netorch_events::envelope(&got);
    assert_eq!(env["id"], json!(ev.id));
    assert_eq!(env["type"], json!("users.created"));
}
