//! The in-process event bus.

use std::sync::Arc;

use async_trait::async_trait;
use netorch_core::events::{EventSink, OutboxEvent, SinkError};
use tokio::sync::broadcast;

/// A broadcast channel of delivered events. Slow subscribers that fall more than the channel
/// capacity behind miss events (they see `RecvError::Lagged`) — durable consumers should read the
/// outbox through Kafka instead.
#[derive(Debug, Clone)]
pub struct InProcessBus {
    tx: broadcast::Sender<Arc<OutboxEvent>>,
}

impl InProcessBus {
    /// A bus buffering `capacity` events per subscriber.
    pub fn new(capacity: usize) -> Self {
        let (tx, _) = broadcast::channel(capacity.max(16));
        Self { tx }
    }

    /// A new subscription, starting with the next event.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<OutboxEvent>> {
        self.tx.subscribe()
    }
}

impl Default for InProcessBus {
    fn default() -> Self {
        Self::new(1024)
    }
}

#[async_trait]
impl EventSink for InProcessBus {
    async fn publish(&self, events: &[OutboxEvent]) -> Result<(), SinkError> {
        for e in events {
            // No subscriber is not an error: the event is delivered to nobody, as on a topic
            // without consumers.
            let _ = self.tx.send(Arc::new(e.clone()));
        }
        Ok(())
    }
}
