//! The outbox relay.

use std::{sync::Arc, time::Duration};

use netorch_core::{
    Clock,
    events::{EventSink, OutboxEvent, OutboxRepository},
};
use serde_json::{Value, json};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// Relay settings (`events.*`).
#[derive(Debug, Clone)]
pub struct RelayConfig {
    /// Events per batch.
    pub batch: i64,
    /// Poll interval when not woken by a commit.
    pub poll_interval: Duration,
    /// Lease on a claimed batch (another replica may take it after this).
    pub lease: Duration,
    /// First retry delay after a sink failure; doubles up to `max_backoff`.
    pub min_backoff: Duration,
    /// Longest retry delay.
    pub max_backoff: Duration,
    /// Delivered events are deleted after this long.
    pub retention: Duration,
}

impl Default for RelayConfig {
    fn default() -> Self {
        Self {
            batch: 100,
            poll_interval: Duration::from_secs(1),
            lease: Duration::from_secs(30),
            min_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(30),
            retention: Duration::from_secs(24 * 3600),
        }
    }
}

/// Moves events from the outbox to a sink.
pub struct Relay {
    repo: Arc<dyn OutboxRepository>,
    sink: Arc<dyn EventSink>,
    clock: Arc<dyn Clock>,
    wake: Arc<Notify>,
    cfg: RelayConfig,
    owner: String,
}

impl Relay {
    /// A relay; `wake` is notified by the store after commits that appended events.
    pub fn new(
        repo: Arc<dyn OutboxRepository>,
        sink: Arc<dyn EventSink>,
        clock: Arc<dyn Clock>,
        wake: Arc<Notify>,
        cfg: RelayConfig,
    ) -> Self {
        Self {
            repo,
            sink,
            clock,
            wake,
            cfg,
            owner: format!("relay-{}", netorch_core::new_id()),
        }
    }

    /// Delivers what is pending now; returns how many events were delivered, or the sink error.
    pub async fn run_once(&self) -> Result<usize, String> {
        let mut delivered = 0;
        loop {
            let now = self.clock.now();
            let lease_until = now + self.cfg.lease.as_micros() as i64;
            let batch = self
                .repo
                .claim(&self.owner, self.cfg.batch, now, lease_until)
                .await
                .map_err(|e| e.to_string())?;
            if batch.is_empty() {
                return Ok(delivered);
            }
            let ids: Vec<String> = batch.iter().map(|e| e.id.clone()).collect();
            match self.sink.publish(&batch).await {
                Ok(()) => {
                    self.repo
                        .mark_delivered(&ids, self.clock.now())
                        .await
                        .map_err(|e| e.to_string())?;
                    delivered += batch.len();
                    tracing::debug!(
                        count = batch.len(),
                        first_seq = batch[0].seq,
                        "events delivered"
                    );
                }
                Err(e) => {
                    let attempts = batch.iter().map(|e| e.attempts).max().unwrap_or(1).max(1);
                    let retry_at = self.clock.now() + self.backoff(attempts).as_micros() as i64;
                    let msg = e.to_string();
                    if let Err(store) = self.repo.mark_failed(&ids, &msg, retry_at).await {
                        tracing::warn!(error = %store, "could not record failed delivery");
                    }
                    tracing::warn!(error = %msg, count = batch.len(), attempts, "event sink unavailable; will retry");
                    return Err(msg);
                }
            }
        }
    }

    fn backoff(&self, attempts: i64) -> Duration {
        let exp = (attempts - 1).clamp(0, 20) as u32;
        self.cfg
            .min_backoff
            .saturating_mul(2u32.saturating_pow(exp))
            .min(self.cfg.max_backoff)
    }

    /// Runs until cancelled, then makes one last delivery attempt (flush on shutdown).
    pub async fn run(self, cancel: CancellationToken) {
        let mut last_prune = self.clock.now();
        loop {
            let result = self.run_once().await;
            let pause = match result {
                Ok(_) => self.cfg.poll_interval,
                Err(_) => self.cfg.min_backoff,
            };
            let now = self.clock.now();
            if now - last_prune > 3_600_000_000 {
                last_prune = now;
                let before = now - self.cfg.retention.as_micros() as i64;
                if let Err(e) = self.repo.prune_delivered(before).await {
                    tracing::warn!(error = %e, "outbox pruning failed");
                }
            }
            tokio::select! {
                _ = cancel.cancelled() => break,
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(pause) => {}
            }
        }
        if let Err(e) = self.run_once().await {
            tracing::warn!(error = %e, "events left in the outbox at shutdown; they will be delivered after restart");
        }
    }
}

/// The CloudEvents-style JSON envelope used on external sinks.
pub fn envelope(e: &OutboxEvent) -> Value {
    json!({
        "specversion": "1.0",
        "id": e.id,
        "source": "netorch",
        "type": format!("{}.{}", e.topic, e.key),
        "subject": e.key,
        "time_us": e.created_at,
        "datacontenttype": "application/json",
        "data": e.payload,
    })
}
