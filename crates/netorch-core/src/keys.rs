//! Signing keys kept in the store so that every replica signs with, and publishes, the same keys.

use async_trait::async_trait;

use crate::{Micros, StoreError};

/// A private signing key as stored. The key material is sealed (encrypted) by the caller before
/// it reaches the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredKey {
    /// Key id (`kid`), an RFC 7638 thumbprint.
    pub kid: String,
    /// What the key signs (`slices.response`, `slices.local-issuer`).
    pub purpose: String,
    /// Algorithm (`ES256`).
    pub alg: String,
    /// Sealed PKCS#8 PEM of the private key.
    pub sealed_private: String,
    /// When it was created.
    pub created_at: Micros,
    /// When a newer key replaced it for signing (it is still published).
    pub retired_at: Option<Micros>,
    /// Until when its public half stays in the JWKS (tokens it signed expire by then).
    pub publish_until: Option<Micros>,
}

/// Storage of signing keys.
#[async_trait]
pub trait SigningKeyRepository: Send + Sync + 'static {
    /// Keys of one purpose still published at `now`, newest first.
    async fn list_keys(&self, purpose: &str, now: Micros) -> Result<Vec<StoredKey>, StoreError>;
    /// Adds a key and, in the same transaction, retires every other active key of its purpose
    /// (they stay published until `publish_until`).
    async fn rotate_key(&self, key: &StoredKey, publish_until: Micros) -> Result<(), StoreError>;
    /// Deletes keys whose publication ended before `now`.
    async fn prune_keys(&self, purpose: &str, now: Micros) -> Result<u64, StoreError>;
}
