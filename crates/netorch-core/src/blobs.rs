//! Content-addressed file storage (package contents).

use async_trait::async_trait;

use crate::{Micros, StoreError};

/// Stores byte blobs under the hex SHA-256 of their content. Writing the same bytes twice stores
/// them once; a blob is complete or absent (written aside, then renamed into place), so a crash
/// never leaves a record pointing at half a file if the record is committed after `put`.
#[async_trait]
pub trait BlobStore: Send + Sync + 'static {
    /// Stores bytes; returns their digest.
    async fn put(&self, bytes: &[u8]) -> Result<String, StoreError>;
    /// The bytes of a digest, if stored. A string that is not a digest is never found.
    async fn get(&self, digest: &str) -> Result<Option<Vec<u8>>, StoreError>;
    /// Removes a blob; false if it was not there.
    async fn delete(&self, digest: &str) -> Result<bool, StoreError>;
    /// Every stored digest with the time it was written (orphan cleanup spares recent blobs,
    /// whose record may still be about to commit).
    async fn list(&self) -> Result<Vec<(String, Micros)>, StoreError>;
}

/// Whether `s` is a digest this store can hold (64 lower-case hex characters), which also keeps
/// any path trick out of the file system.
pub fn is_digest(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}
