//! Opaque bearer tokens.

use base64::Engine as _;
use rand::RngCore as _;
use sha2::{Digest, Sha256};

/// A new token secret: 32 random bytes, URL-safe base64 without padding (43 characters, the form
/// of OSM's `secrets.token_urlsafe(32)`).
pub fn generate_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// The stored key of a token: hex SHA-256 of the secret.
pub fn hash_secret(secret: &str) -> String {
    // Every authenticated request hashes its token: the table-based encoder, not `hex::encode`'s
    // char-by-char collection (visible in a profile under load).
    let digest = Sha256::digest(secret.as_bytes());
    let mut out = [0u8; 64];
    match hex::encode_to_slice(digest, &mut out) {
        Ok(()) => String::from_utf8_lossy(&out).into_owned(),
        Err(_) => hex::encode(digest),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_43_url_safe_characters_and_unique() {
        let a = generate_secret();
        let b = generate_secret();
        assert_eq!(a.len(), 43);
        assert!(
            a.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        );
        assert_ne!(a, b);
        assert_eq!(hash_secret(&a).len(), 64);
        assert_eq!(hash_secret(&a), hash_secret(&a));
    }
}
