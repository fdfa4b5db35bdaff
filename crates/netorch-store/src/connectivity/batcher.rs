//! Group commit for allocations: one worker per link takes whatever has queued and allocates it in
//! one transaction.

use std::collections::HashMap;

use netorch_core::{
    StoreError,
    connectivity::{Outcome, ReserveCommand},
};
use tokio::sync::{mpsc, oneshot};

use crate::db::Store;

/// A reservation waiting for its link's worker, with where to send the outcome.
type Pending = (ReserveCommand, oneshot::Sender<Result<Outcome, StoreError>>);

/// Most reservations allocated in one transaction.
const BATCH: usize = 64;

/// Group commit for allocations: requests for one (site1, site2) pair queue for one worker, which
/// takes whatever has queued (up to [`BATCH`]) and allocates it in one transaction: one lock, one
/// overlap read, planning in memory in arrival order, multi-row inserts, one commit. Allocations on
/// one link are serialised anyway (the site locks); batching makes each turn carry many of them.
#[derive(Default)]
pub(crate) struct Batcher {
    queues: std::sync::Mutex<HashMap<(String, String), mpsc::UnboundedSender<Pending>>>,
}

/// A worker with nothing to do for this long retires (unknown site pairs must not pin tasks).
const IDLE: std::time::Duration = std::time::Duration::from_secs(10);

impl Batcher {
    pub(super) fn queue(
        &self,
        store: &Store,
        key: &(String, String),
    ) -> mpsc::UnboundedSender<Pending> {
        let mut queues = self.queues.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(q) = queues.get(key)
            && !q.is_closed()
        {
            return q.clone();
        }
        let (tx, rx) = mpsc::unbounded_channel();
        queues.insert(key.clone(), tx.clone());
        tokio::spawn(worker(store.clone(), key.clone(), rx));
        tx
    }

    pub(super) fn forget(&self, key: &(String, String), queue: &mpsc::UnboundedSender<Pending>) {
        let mut queues = self.queues.lock().unwrap_or_else(|e| e.into_inner());
        if queues.get(key).is_some_and(|q| q.same_channel(queue)) {
            queues.remove(key);
        }
    }
}

pub(super) async fn worker(
    store: Store,
    key: (String, String),
    mut rx: mpsc::UnboundedReceiver<Pending>,
) {
    loop {
        let first = match tokio::time::timeout(IDLE, rx.recv()).await {
            Ok(Some(p)) => p,
            Ok(None) => return,
            Err(_) => {
                let retire = {
                    let mut queues = store
                        .batcher()
                        .queues
                        .lock()
                        .unwrap_or_else(|e| e.into_inner());
                    let idle = rx.is_empty();
                    if idle {
                        queues.remove(&key);
                        rx.close();
                    }
                    idle
                };
                if retire {
                    // Anything sent between the check and the close is still answered.
                    while let Ok(p) = rx.try_recv() {
                        let out = store.reserve_one(&p.0).await;
                        let _ = p.1.send(out);
                    }
                    return;
                }
                continue;
            }
        };
        let mut batch = vec![first];
        while batch.len() < BATCH {
            match rx.try_recv() {
                Ok(p) => batch.push(p),
                Err(_) => break,
            }
        }
        let cmds: Vec<ReserveCommand> = batch.iter().map(|p| p.0.clone()).collect();
        let results = store.reserve_batch(&cmds).await;
        for ((_, done), r) in batch.into_iter().zip(results) {
            let _ = done.send(r);
        }
    }
}
