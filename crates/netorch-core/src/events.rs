//! The outbox: events written in the same transaction as the change they describe.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::{Micros, StoreError};

/// An event to append to the outbox together with a state change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewEvent {
    /// Unique id; consumers de-duplicate on it (delivery is at-least-once).
    pub id: String,
    /// Topic, named as the owning family's clients expect (OSM: `users`, `project`, `vim_account`...).
    pub topic: String,
    /// Key within the topic (OSM: `created`, `edited`, `deleted`, `revoke_token`...).
    pub key: String,
    /// The event body.
    pub payload: serde_json::Value,
}

impl NewEvent {
    /// An event with a fresh id.
    pub fn new(
        topic: impl Into<String>,
        key: impl Into<String>,
        payload: serde_json::Value,
    ) -> Self {
        Self {
            id: crate::new_id(),
            topic: topic.into(),
            key: key.into(),
            payload,
        }
    }
}

/// An event as stored in the outbox.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutboxEvent {
    /// Monotonic sequence number assigned by the store (delivery order within one relay).
    pub seq: i64,
    /// Unique event id.
    pub id: String,
    /// Topic.
    pub topic: String,
    /// Key.
    pub key: String,
    /// Body.
    pub payload: serde_json::Value,
    /// When it was written.
    pub created_at: Micros,
    /// Delivery attempts so far.
    pub attempts: i64,
}

/// Outbox access for the relay.
#[async_trait]
pub trait OutboxRepository: Send + Sync + 'static {
    /// Appends events outside of any other change (for events that describe no stored state).
    async fn append(&self, events: &[NewEvent]) -> Result<(), StoreError>;
    /// Leases up to `limit` undelivered events whose retry time has come, oldest first. A lease
    /// keeps other relays (replicas) off them until `lease_until`.
    async fn claim(
        &self,
        owner: &str,
        limit: i64,
        now: Micros,
        lease_until: Micros,
    ) -> Result<Vec<OutboxEvent>, StoreError>;
    /// Marks events delivered.
    async fn mark_delivered(&self, ids: &[String], now: Micros) -> Result<(), StoreError>;
    /// Records a failed attempt; the events become claimable again at `retry_at`.
    async fn mark_failed(
        &self,
        ids: &[String],
        error: &str,
        retry_at: Micros,
    ) -> Result<(), StoreError>;
    /// Number of undelivered events (exported as a metric and used by tests).
    async fn pending_count(&self) -> Result<i64, StoreError>;
    /// Deletes delivered events older than `before`.
    async fn prune_delivered(&self, before: Micros) -> Result<u64, StoreError>;
}

/// Why a sink refused a batch.
#[derive(Debug, thiserror::Error)]
#[error("event sink unavailable: {0}")]
pub struct SinkError(pub String);

/// Where the relay delivers events: the in-process bus, Kafka, or a test probe.
#[async_trait]
pub trait EventSink: Send + Sync + 'static {
    /// Delivers a batch. Either the whole batch is accepted or an error is returned and the
    /// batch is retried later (at-least-once).
    async fn publish(&self, events: &[OutboxEvent]) -> Result<(), SinkError>;
}
