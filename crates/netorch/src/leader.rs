//! The singleton lease: one replica at a time ticks the periodic work (heartbeats, syncs,
//! sweeps, pruning). Each replica tries to take or renew the lease every third of its period;
//! the holder trusts it only until a third before its expiry, so when renewals fail (the
//! database is away) it stops ticking before anyone else can take over. A clean shutdown
//! releases it at once; a killed holder is replaced after one lease period.

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use netorch_core::{Clock, Micros};
use netorch_store::{LeaseHolder, Store};
use tokio_util::sync::CancellationToken;

/// The lease every replica competes for.
pub const SINGLETONS: &str = "singletons";

/// This replica's view of the singleton lease.
#[derive(Clone)]
pub struct Leadership {
    store: Store,
    clock: Arc<dyn Clock>,
    id: String,
    ttl: Duration,
    holding: Arc<AtomicBool>,
    last: Arc<Mutex<Option<LeaseHolder>>>,
    on_change: Arc<dyn Fn(bool) + Send + Sync>,
}

impl Leadership {
    /// A contender named `id`; `on_change` hears when this replica gains or loses the lease.
    pub fn new(
        store: Store,
        clock: Arc<dyn Clock>,
        id: String,
        ttl: Duration,
        on_change: Arc<dyn Fn(bool) + Send + Sync>,
    ) -> Self {
        Self {
            store,
            clock,
            id,
            ttl,
            holding: Arc::new(AtomicBool::new(false)),
            last: Arc::default(),
            on_change,
        }
    }

    /// True while this replica may run singleton work.
    pub fn gate(&self) -> Arc<AtomicBool> {
        self.holding.clone()
    }

    /// This replica's id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The holder seen at the last attempt.
    pub fn holder(&self) -> Option<LeaseHolder> {
        self.last.lock().ok().and_then(|l| l.clone())
    }

    fn set(&self, holding: bool) {
        if self.holding.swap(holding, Ordering::AcqRel) != holding {
            if holding {
                tracing::info!(replica = %self.id, "this replica now runs the periodic work");
            } else {
                tracing::info!(replica = %self.id, "this replica no longer runs the periodic work");
            }
            (self.on_change)(holding);
        }
    }

    /// One attempt to take or renew the lease.
    pub async fn attempt(&self) {
        let ttl = self.ttl.as_micros() as Micros;
        let now = self.clock.now();
        match self
            .store
            .acquire_lease(SINGLETONS, &self.id, now, ttl)
            .await
        {
            Ok(h) => {
                // Trusted until a third of the period before the expiry this replica wrote.
                let mine = h.holder == self.id && self.clock.now() < h.expires_at - ttl / 3;
                if let Ok(mut l) = self.last.lock() {
                    *l = Some(h);
                }
                self.set(mine);
            }
            Err(e) => {
                tracing::warn!(replica = %self.id, error = %e, "singleton lease not renewed");
                let still = self.holder().is_some_and(|h| {
                    h.holder == self.id && self.clock.now() < h.expires_at - ttl / 3
                });
                self.set(still);
            }
        }
    }

    /// Renews until `cancel`, then releases the lease if held.
    pub async fn run(self, cancel: CancellationToken) {
        loop {
            self.attempt().await;
            tokio::select! {
                _ = cancel.cancelled() => break,
                _ = tokio::time::sleep(self.ttl / 3) => {}
            }
        }
        if self.holding.load(Ordering::Acquire) {
            self.set(false);
            if let Err(e) = self.store.release_lease(SINGLETONS, &self.id).await {
                tracing::warn!(error = %e, "singleton lease not released; it expires by itself");
            }
        }
    }
}

/// This replica's id: configured, or `$HOSTNAME` (the pod name) / the host name, with the pid.
pub fn replica_id(configured: Option<&str>) -> String {
    if let Some(id) = configured.filter(|s| !s.is_empty()) {
        return id.to_string();
    }
    let host = std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| {
            std::fs::read_to_string("/etc/hostname")
                .ok()
                .map(|h| h.trim().to_string())
        })
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "netorch".into());
    format!("{host}-{}", std::process::id())
}
