//! Model sets per module-set key (a handle's `moduleSetTag`, or its id): the sources are fetched
//! from a device once with `<get-schema>`, kept on disk and compiled once per process.

use std::{
    collections::HashMap,
    path::PathBuf,
    sync::{Arc, Mutex},
};

use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};

use crate::{
    models::{ModelSet, module_file},
    pool::{NetconfError, Pool},
    xml::SchemaRef,
};

/// Compiled model sets and their sources on disk.
#[derive(Debug)]
pub struct ModelCache {
    root: PathBuf,
    sets: Mutex<HashMap<String, Arc<ModelSet>>>,
    loading: tokio::sync::Mutex<()>,
}

impl ModelCache {
    /// A cache keeping sources under `root`.
    pub fn new(root: PathBuf) -> Self {
        Self {
            root,
            sets: Mutex::new(HashMap::new()),
            loading: tokio::sync::Mutex::new(()),
        }
    }

    fn dir(&self, key: &str) -> PathBuf {
        self.root
            .join(utf8_percent_encode(key, NON_ALPHANUMERIC).to_string())
    }

    /// The compiled set `key`, if this process has it.
    pub fn cached(&self, key: &str) -> Option<Arc<ModelSet>> {
        self.sets
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(key)
            .cloned()
    }

    /// Drops set `key` (its sources stay on disk unless `purge`).
    pub fn forget(&self, key: &str, purge: bool) {
        self.sets
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(key);
        if purge {
            let _ = std::fs::remove_dir_all(self.dir(key));
        }
    }

    /// A module's source from set `key`'s disk cache.
    pub fn source(&self, key: &str, module: &SchemaRef) -> Option<String> {
        std::fs::read_to_string(module_file(&self.dir(key), module)).ok()
    }

    /// Set `key` as device `device` publishes it: from memory, else from the disk cache's module
    /// list, else from the device's. `refresh` asks the device for its list again. No source is
    /// fetched here (see [`ModelCache::prepare`]).
    pub async fn load(
        &self,
        pool: &Pool,
        device: &str,
        key: &str,
        refresh: bool,
    ) -> Result<Arc<ModelSet>, NetconfError> {
        if !refresh && let Some(s) = self.cached(key) {
            return Ok(s);
        }
        let _one_at_a_time = self.loading.lock().await;
        if !refresh && let Some(s) = self.cached(key) {
            return Ok(s);
        }
        let dir = self.dir(key);
        let list_file = dir.join("modules.json");
        let listed: Option<Vec<SchemaRef>> = if refresh {
            None
        } else {
            std::fs::read(&list_file)
                .ok()
                .and_then(|b| serde_json::from_slice(&b).ok())
        };
        let modules = match listed {
            Some(m) => m,
            None => pool.schemas(device).await?,
        };
        if modules.is_empty() {
            return Err(NetconfError::Protocol(format!(
                "device '{device}' publishes no YANG modules (ietf-netconf-monitoring schemas)"
            )));
        }
        std::fs::create_dir_all(&dir)
            .map_err(|e| NetconfError::Protocol(format!("model cache {}: {e}", dir.display())))?;
        let _ = std::fs::write(&list_file, serde_json::to_vec(&modules).expect("JSON"));
        let set = ModelSet::open(&dir, &modules).map_err(NetconfError::Protocol)?;
        let set = Arc::new(set);
        self.sets
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key.to_string(), set.clone());
        Ok(set)
    }

    /// Makes sure `names` (and what they import) are compiled in `set`, fetching the sources the
    /// disk cache lacks from device `device` (one `<get-schema>` each). Fetching only what a
    /// request needs keeps devices from serving dozens of sources at once (yuma123's netconfd
    /// corrupts its heap after a few dozen `<get-schema>`s on one session).
    pub async fn prepare(
        &self,
        pool: &Pool,
        device: &str,
        set: &ModelSet,
        names: &[String],
    ) -> Result<(), NetconfError> {
        if set.loaded(names) {
            return Ok(());
        }
        let _one_at_a_time = self.loading.lock().await;
        let mut queue: Vec<String> = names.to_vec();
        let mut seen = std::collections::HashSet::new();
        while let Some(n) = queue.pop() {
            if !seen.insert(n.clone()) {
                continue;
            }
            let Some(m) = set.module(&n).cloned() else {
                continue;
            };
            let file = module_file(set.dir(), &m);
            let text = match std::fs::read_to_string(&file) {
                Ok(t) => t,
                Err(_) => {
                    let t = pool.get_schema(device, &m.name, &m.revision).await?;
                    let tmp = file.with_extension("tmp");
                    std::fs::write(&tmp, &t)
                        .and_then(|_| std::fs::rename(&tmp, &file))
                        .map_err(|e| {
                            NetconfError::Protocol(format!("model cache {}: {e}", file.display()))
                        })?;
                    t
                }
            };
            queue.extend(crate::models::imports(&text));
        }
        set.ensure_loaded(names);
        Ok(())
    }
}
