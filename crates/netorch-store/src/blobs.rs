//! `BlobStore` on a local (or mounted) directory.

use std::{
    io::Write as _,
    path::{Path, PathBuf},
};

use async_trait::async_trait;
use netorch_core::{
    StoreError,
    blobs::{BlobStore, is_digest},
};
use sha2::{Digest, Sha256};

/// Blobs as files `<root>/<first two hex digits>/<digest>`. Writes go to `<root>/tmp/` first and are
/// renamed into place after an fsync, so readers never see a partial blob.
#[derive(Debug, Clone)]
pub struct FsBlobStore {
    root: PathBuf,
}

fn io(e: std::io::Error) -> StoreError {
    StoreError::Unavailable(format!("blob storage: {e}"))
}

impl FsBlobStore {
    /// A store rooted at `root` (created if missing).
    pub fn new(root: impl Into<PathBuf>) -> Result<Self, StoreError> {
        let root = root.into();
        std::fs::create_dir_all(root.join("tmp")).map_err(io)?;
        Ok(Self { root })
    }

    fn path(&self, digest: &str) -> PathBuf {
        self.root.join(&digest[..2]).join(digest)
    }

    fn put_sync(root: &Path, bytes: &[u8]) -> Result<String, StoreError> {
        let digest = hex::encode(Sha256::digest(bytes));
        let dir = root.join(&digest[..2]);
        let target = dir.join(&digest);
        if target.exists() {
            return Ok(digest);
        }
        std::fs::create_dir_all(&dir).map_err(io)?;
        let tmp = root
            .join("tmp")
            .join(format!("{digest}.{}", std::process::id()));
        {
            let mut f = std::fs::File::create(&tmp).map_err(io)?;
            f.write_all(bytes).map_err(io)?;
            f.sync_all().map_err(io)?;
        }
        std::fs::rename(&tmp, &target).map_err(io)?;
        if let Ok(d) = std::fs::File::open(&dir) {
            let _ = d.sync_all();
        }
        Ok(digest)
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| StoreError::Internal(format!("blob worker: {e}")))?
}

#[async_trait]
impl BlobStore for FsBlobStore {
    async fn put(&self, bytes: &[u8]) -> Result<String, StoreError> {
        let root = self.root.clone();
        let bytes = bytes.to_vec();
        blocking(move || Self::put_sync(&root, &bytes)).await
    }

    async fn get(&self, digest: &str) -> Result<Option<Vec<u8>>, StoreError> {
        if !is_digest(digest) {
            return Ok(None);
        }
        let path = self.path(digest);
        blocking(move || match std::fs::read(&path) {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io(e)),
        })
        .await
    }

    async fn delete(&self, digest: &str) -> Result<bool, StoreError> {
        if !is_digest(digest) {
            return Ok(false);
        }
        let path = self.path(digest);
        blocking(move || match std::fs::remove_file(&path) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(io(e)),
        })
        .await
    }

    async fn list(&self) -> Result<Vec<(String, i64)>, StoreError> {
        let root = self.root.clone();
        blocking(move || {
            let mut out = Vec::new();
            for shard in std::fs::read_dir(&root).map_err(io)? {
                let shard = shard.map_err(io)?;
                let name = shard.file_name().to_string_lossy().to_string();
                if name.len() != 2 || !shard.path().is_dir() {
                    continue;
                }
                for f in std::fs::read_dir(shard.path()).map_err(io)? {
                    let f = f.map_err(io)?;
                    let name = f.file_name().to_string_lossy().to_string();
                    if is_digest(&name) {
                        let written = f
                            .metadata()
                            .and_then(|m| m.modified())
                            .ok()
                            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                            .map(|d| d.as_micros() as i64)
                            .unwrap_or(0);
                        out.push((name, written));
                    }
                }
            }
            out.sort();
            Ok(out)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn blobs_round_trip_by_digest_and_are_stored_once() {
        let dir = tempfile::tempdir().expect("dir");
        let s = FsBlobStore::new(dir.path()).expect("store");
        let d = s.put(b"package bytes").await.expect("put");
        assert_eq!(d, hex::encode(Sha256::digest(b"package bytes")));
        assert_eq!(s.put(b"package bytes").await.expect("again"), d);
        assert_eq!(
            s.get(&d).await.expect("get").as_deref(),
            Some(b"package bytes".as_slice())
        );
        let listed = s.list().await.expect("list");
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].0, d);
        assert!(listed[0].1 > 0, "write time known");
        assert!(s.delete(&d).await.expect("delete"));
        assert!(!s.delete(&d).await.expect("again"));
        assert!(s.get(&d).await.expect("get").is_none());
    }

    #[tokio::test]
    async fn strings_that_are_not_digests_never_reach_the_file_system() {
        let dir = tempfile::tempdir().expect("dir");
        std::fs::write(dir.path().join("secret"), b"x").expect("write");
        let s = FsBlobStore::new(dir.path().join("blobs")).expect("store");
        for bad in ["../secret", "../../etc/passwd", "ab", &"g".repeat(64)] {
            assert!(s.get(bad).await.expect("get").is_none(), "{bad}");
            assert!(!s.delete(bad).await.expect("delete"), "{bad}");
        }
    }
}
