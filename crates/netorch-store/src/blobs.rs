//! `BlobStore` on a local (or mounted) directory, or on an S3-compatible object store that
//! replicas share without a shared file system.

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

/// Where S3 blobs live and how to reach them.
#[derive(Clone, Default)]
pub struct S3Location {
    /// Bucket name.
    pub bucket: String,
    /// Key prefix (`netorch/packages`), without slashes at the ends.
    pub prefix: String,
    /// Region (`us-east-1` when empty).
    pub region: String,
    /// Endpoint of a non-AWS implementation (`http://minio:9000`); path-style requests then.
    pub endpoint: Option<String>,
    /// Access key id and secret; `None`: from the environment (`AWS_ACCESS_KEY_ID`...).
    pub credentials: Option<(String, String)>,
}

impl std::fmt::Debug for S3Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Location")
            .field("bucket", &self.bucket)
            .field("prefix", &self.prefix)
            .field("region", &self.region)
            .field("endpoint", &self.endpoint)
            .finish_non_exhaustive()
    }
}

/// Blobs as objects `<prefix>/<first two hex digits>/<digest>` in an S3 bucket. Credentials come
/// from the environment (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, or
/// the instance's role), as every S3 tool reads them. A PUT is atomic, so readers never see a
/// partial blob; content addressing makes a repeated upload of the same bytes harmless.
#[derive(Debug, Clone)]
pub struct S3BlobStore {
    store: std::sync::Arc<dyn object_store::ObjectStore>,
    prefix: object_store::path::Path,
}

fn s3(e: object_store::Error) -> StoreError {
    StoreError::Unavailable(format!("blob storage (S3): {e}"))
}

impl S3BlobStore {
    /// A store on `loc`; fails on settings the client refuses (no request is made yet).
    pub fn new(loc: &S3Location) -> Result<Self, StoreError> {
        use object_store::aws::AmazonS3Builder;
        let mut b = AmazonS3Builder::from_env()
            .with_bucket_name(&loc.bucket)
            .with_region(if loc.region.is_empty() {
                "us-east-1"
            } else {
                &loc.region
            });
        if let Some((id, secret)) = &loc.credentials {
            b = b.with_access_key_id(id).with_secret_access_key(secret);
        }
        if let Some(ep) = &loc.endpoint {
            b = b
                .with_endpoint(ep)
                .with_allow_http(ep.starts_with("http://"))
                .with_virtual_hosted_style_request(false);
        }
        let store = b.build().map_err(s3)?;
        Ok(Self {
            store: std::sync::Arc::new(store),
            prefix: object_store::path::Path::from(loc.prefix.trim_matches('/')),
        })
    }

    fn path(&self, digest: &str) -> object_store::path::Path {
        self.prefix.clone().join(&digest[..2]).join(digest)
    }

    /// One request to the bucket: start-up fails early, with the reason, on a wrong bucket,
    /// endpoint or credentials.
    pub async fn check(&self) -> Result<(), StoreError> {
        use futures::StreamExt as _;
        let mut listing = self.store.list(Some(&self.prefix));
        match listing.next().await {
            Some(Err(e)) => Err(s3(e)),
            _ => Ok(()),
        }
    }
}

#[async_trait]
impl BlobStore for S3BlobStore {
    async fn put(&self, bytes: &[u8]) -> Result<String, StoreError> {
        use object_store::ObjectStoreExt as _;
        let digest = hex::encode(Sha256::digest(bytes));
        self.store
            .put(&self.path(&digest), bytes.to_vec().into())
            .await
            .map_err(s3)?;
        Ok(digest)
    }

    async fn get(&self, digest: &str) -> Result<Option<Vec<u8>>, StoreError> {
        use object_store::ObjectStoreExt as _;
        if !is_digest(digest) {
            return Ok(None);
        }
        match self.store.get(&self.path(digest)).await {
            Ok(r) => Ok(Some(r.bytes().await.map_err(s3)?.to_vec())),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(s3(e)),
        }
    }

    async fn delete(&self, digest: &str) -> Result<bool, StoreError> {
        use object_store::ObjectStoreExt as _;
        if !is_digest(digest) {
            return Ok(false);
        }
        let path = self.path(digest);
        // S3 answers a DELETE of a missing key with success: ask first, for the caller's answer.
        match self.store.head(&path).await {
            Err(object_store::Error::NotFound { .. }) => return Ok(false),
            Err(e) => return Err(s3(e)),
            Ok(_) => {}
        }
        match self.store.delete(&path).await {
            Ok(()) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(s3(e)),
        }
    }

    async fn list(&self) -> Result<Vec<(String, i64)>, StoreError> {
        use futures::TryStreamExt as _;
        let objects: Vec<object_store::ObjectMeta> = self
            .store
            .list(Some(&self.prefix))
            .try_collect()
            .await
            .map_err(s3)?;
        let mut out: Vec<(String, i64)> = objects
            .into_iter()
            .filter_map(|m| {
                let name = m.location.filename()?.to_string();
                is_digest(&name).then(|| (name, m.last_modified.timestamp_micros()))
            })
            .collect();
        out.sort();
        Ok(out)
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
