//! Secrets at rest: AES-256-GCM with a per-value random nonce.
//!
//! Stored form: `enc:v1:<base64(nonce ‖ ciphertext ‖ tag)>`. The key comes from configuration or
//! a file generated in the data directory on first start; losing it makes stored secrets
//! unreadable (they must then be entered again), which is the point.

use aes_gcm::{
    Aes256Gcm, Key, Nonce,
    aead::{Aead, KeyInit},
};
use base64::Engine as _;
use rand::RngCore as _;

const PREFIX: &str = "enc:v1:";

/// What API responses show instead of a secret.
pub const MASK: &str = "********";

/// Encrypts and decrypts short secrets (passwords, API keys).
#[derive(Clone)]
pub struct SecretBox {
    cipher: Aes256Gcm,
    fingerprint: String,
}

impl std::fmt::Debug for SecretBox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretBox(..)")
    }
}

/// A key that is not 32 bytes of base64, or a value that does not decrypt.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct SecretError(pub String);

impl SecretBox {
    /// From a 32-byte key.
    pub fn new(key: &[u8; 32]) -> Self {
        use sha2::Digest as _;
        let mut h = sha2::Sha256::new();
        h.update(b"netorch sealing key fingerprint\0");
        h.update(key);
        let digest = h.finalize();
        Self {
            cipher: Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(key)),
            fingerprint: digest[..12].iter().map(|b| format!("{b:02x}")).collect(),
        }
    }

    /// A short, non-reversible name of the key (a domain-separated SHA-256 of it): stored with
    /// the database so that a replica started with another key is refused before it writes
    /// secrets nobody else can read, and shown where operators compare replicas.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// From a base64 key (as written by `generate_key`).
    pub fn from_base64(text: &str) -> Result<Self, SecretError> {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(text.trim())
            .map_err(|e| SecretError(format!("secret key is not base64: {e}")))?;
        let key: [u8; 32] = bytes
            .try_into()
            .map_err(|_| SecretError("secret key must be 32 bytes".into()))?;
        Ok(Self::new(&key))
    }

    /// A new random key, base64.
    pub fn generate_key() -> String {
        let mut key = [0u8; 32];
        rand::rng().fill_bytes(&mut key);
        base64::engine::general_purpose::STANDARD.encode(key)
    }

    /// Encrypts a value.
    pub fn seal(&self, plain: &str) -> String {
        let mut nonce = [0u8; 12];
        rand::rng().fill_bytes(&mut nonce);
        let sealed = self
            .cipher
            .encrypt(Nonce::from_slice(&nonce), plain.as_bytes())
            .unwrap_or_default();
        let mut out = nonce.to_vec();
        out.extend(sealed);
        format!(
            "{PREFIX}{}",
            base64::engine::general_purpose::STANDARD.encode(out)
        )
    }

    /// Decrypts a value written by `seal`.
    pub fn open(&self, stored: &str) -> Result<String, SecretError> {
        let b64 = stored
            .strip_prefix(PREFIX)
            .ok_or_else(|| SecretError("not an encrypted value".into()))?;
        let raw = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .map_err(|_| SecretError("corrupt encrypted value".into()))?;
        if raw.len() < 12 {
            return Err(SecretError("corrupt encrypted value".into()));
        }
        let (nonce, body) = raw.split_at(12);
        let plain = self
            .cipher
            .decrypt(Nonce::from_slice(nonce), body)
            .map_err(|_| SecretError("encrypted value does not match the key".into()))?;
        String::from_utf8(plain).map_err(|_| SecretError("decrypted value is not UTF-8".into()))
    }

    /// True if a stored value is in sealed form.
    pub fn is_sealed(value: &str) -> bool {
        value.starts_with(PREFIX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_secret_opens_only_with_its_key() {
        let a = SecretBox::from_base64(&SecretBox::generate_key()).expect("key");
        let b = SecretBox::from_base64(&SecretBox::generate_key()).expect("key");
        let s1 = a.seal("vimpassword");
        let s2 = a.seal("vimpassword");
        assert_ne!(s1, s2, "random nonces");
        assert!(SecretBox::is_sealed(&s1) && !s1.contains("vimpassword"));
        assert_eq!(a.open(&s1).expect("open"), "vimpassword");
        assert!(b.open(&s1).is_err());
        assert!(a.open("plain").is_err());
        assert!(SecretBox::from_base64("c2hvcnQ=").is_err());
    }
}
