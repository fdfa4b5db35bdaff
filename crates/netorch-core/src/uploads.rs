//! Chunked uploads staged until their last chunk arrives (OSM `Content-Range` uploads).

use async_trait::async_trait;

use crate::{Micros, StoreError};

/// The outcome of appending a chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Append {
    /// Stored; the upload now holds this many bytes.
    Stored(u64),
    /// The chunk does not start where the upload ends; it should start here.
    OutOfOrder(u64),
    /// No upload with that id (a later chunk without a first one).
    Unknown,
}

/// Staging of chunked uploads, in the database so that every replica sees them.
#[async_trait]
pub trait UploadRepository: Send + Sync + 'static {
    /// Appends `bytes` at offset `start` of upload `id` whose full size is `total`. A chunk at
    /// offset 0 starts the upload afresh.
    async fn append_chunk(
        &self,
        id: &str,
        start: u64,
        total: u64,
        bytes: &[u8],
        now: Micros,
    ) -> Result<Append, StoreError>;
    /// Removes an upload and returns its bytes in order.
    async fn take_upload(&self, id: &str) -> Result<Option<Vec<u8>>, StoreError>;
    /// Removes uploads started before `before` (abandoned); returns how many.
    async fn purge_uploads(&self, before: Micros) -> Result<u64, StoreError>;
}
