//! ES256 signing keys kept in the store (published as a JWKS, rotated without breaking verifiers)
//! and verification of tokens from configured issuers.
//!
//! Only ES256 is accepted: the algorithm is read from the token header only to name it in the
//! refusal, never to choose how to verify (RFC 8725 §3.1). `none`, HS256 (the classic key-confusion
//! attack with a public key as HMAC secret) and everything else are refused before any key lookup.

use std::{
    collections::HashMap,
    path::PathBuf,
    sync::Arc,
    time::{Duration, Instant},
};

use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, errors::ErrorKind};
use netorch_core::{
    Clock, Micros,
    keys::{SigningKeyRepository, StoredKey},
};
use p256::{
    SecretKey,
    elliptic_curve::sec1::ToEncodedPoint as _,
    pkcs8::{DecodePrivateKey as _, EncodePrivateKey as _, LineEnding},
};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};
use tokio::sync::Mutex;

use crate::secrets::SecretBox;

/// A signing-key failure (store, sealing, or encoding).
#[derive(Debug, thiserror::Error)]
#[error("signing keys: {0}")]
pub struct KeyError(pub String);

/// Settings of a key ring.
#[derive(Debug, Clone)]
pub struct KeyRingConfig {
    /// What the keys sign; one ring per purpose.
    pub purpose: String,
    /// A new key is created when the signing key is older than this.
    pub rotate_after: Duration,
    /// A new key is published this long before it signs, so that verifiers with a cached JWKS
    /// (and other replicas' caches) see it first.
    pub activation_delay: Duration,
    /// Lifetime of the tokens signed: a retired key stays published this long after its
    /// successor starts signing.
    pub token_ttl: Duration,
}

#[derive(Clone)]
struct LoadedKey {
    kid: String,
    created_at: Micros,
    encoding: EncodingKey,
    x: String,
    y: String,
}

/// The ES256 keys of one purpose: the current signing key and every key still published.
pub struct KeyRing {
    repo: Arc<dyn SigningKeyRepository>,
    secrets: SecretBox,
    clock: Arc<dyn Clock>,
    cfg: KeyRingConfig,
    cache: Mutex<Option<(Instant, Vec<LoadedKey>)>>,
}

/// How long a replica trusts its in-memory copy of the key table.
const KEY_CACHE: Duration = Duration::from_secs(30);

fn micros(d: Duration) -> Micros {
    d.as_micros().min(i64::MAX as u128) as Micros
}

/// RFC 7638 thumbprint of an EC P-256 public key: the `kid` of its JWK.
pub fn thumbprint(x: &str, y: &str) -> String {
    // Members in lexicographic order, no whitespace, as the RFC requires.
    let canonical = format!(r#"{{"crv":"P-256","kty":"EC","x":"{x}","y":"{y}"}}"#);
    URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()))
}

/// A fresh P-256 key as PKCS#8 PEM, with its JWK coordinates.
pub fn generate_p256() -> Result<(String, String, String), KeyError> {
    let key = loop {
        let bytes: [u8; 32] = rand::random();
        // A random 256-bit value is a valid scalar except with negligible probability.
        if let Ok(k) = SecretKey::from_slice(&bytes) {
            break k;
        }
    };
    let pem = key
        .to_pkcs8_pem(LineEnding::LF)
        .map_err(|e| KeyError(e.to_string()))?;
    let (x, y) = coordinates(&key);
    Ok((pem.to_string(), x, y))
}

fn coordinates(key: &SecretKey) -> (String, String) {
    let point = key.public_key().to_encoded_point(false);
    // Uncompressed points always carry both 32-byte coordinates (full length, as RFC 7518 asks).
    let x = point
        .x()
        .map(|c| URL_SAFE_NO_PAD.encode(c))
        .unwrap_or_default();
    let y = point
        .y()
        .map(|c| URL_SAFE_NO_PAD.encode(c))
        .unwrap_or_default();
    (x, y)
}

impl KeyRing {
    /// A key ring over `repo`; private keys are sealed with `secrets`.
    pub fn new(
        repo: Arc<dyn SigningKeyRepository>,
        secrets: SecretBox,
        clock: Arc<dyn Clock>,
        cfg: KeyRingConfig,
    ) -> Self {
        Self {
            repo,
            secrets,
            clock,
            cfg,
            cache: Mutex::new(None),
        }
    }

    async fn load(&self, force: bool) -> Result<Vec<LoadedKey>, KeyError> {
        let mut cache = self.cache.lock().await;
        if !force
            && let Some((at, keys)) = cache.as_ref()
            && at.elapsed() < KEY_CACHE
            && !keys.is_empty()
        {
            return Ok(keys.clone());
        }
        let now = self.clock.now();
        let mut stored = self
            .repo
            .list_keys(&self.cfg.purpose, now)
            .await
            .map_err(|e| KeyError(e.to_string()))?;
        if stored.is_empty() {
            self.create(now, None).await?;
            stored = self
                .repo
                .list_keys(&self.cfg.purpose, now)
                .await
                .map_err(|e| KeyError(e.to_string()))?;
        }
        let keys = stored
            .iter()
            .map(|k| self.open(k))
            .collect::<Result<Vec<_>, _>>()?;
        *cache = Some((Instant::now(), keys.clone()));
        Ok(keys)
    }

    fn open(&self, k: &StoredKey) -> Result<LoadedKey, KeyError> {
        let pem = self
            .secrets
            .open(&k.sealed_private)
            .map_err(|e| KeyError(format!("key {}: {e}", k.kid)))?;
        let secret =
            SecretKey::from_pkcs8_pem(&pem).map_err(|e| KeyError(format!("key {}: {e}", k.kid)))?;
        let (x, y) = coordinates(&secret);
        Ok(LoadedKey {
            kid: k.kid.clone(),
            created_at: k.created_at,
            encoding: EncodingKey::from_ec_pem(pem.as_bytes())
                .map_err(|e| KeyError(format!("key {}: {e}", k.kid)))?,
            x,
            y,
        })
    }

    async fn create(
        &self,
        now: Micros,
        publish_old_until: Option<Micros>,
    ) -> Result<String, KeyError> {
        let (pem, x, y) = generate_p256()?;
        let kid = thumbprint(&x, &y);
        let key = StoredKey {
            kid: kid.clone(),
            purpose: self.cfg.purpose.clone(),
            alg: "ES256".into(),
            sealed_private: self.secrets.seal(&pem),
            created_at: now,
            retired_at: None,
            publish_until: None,
        };
        self.repo
            .rotate_key(&key, publish_old_until.unwrap_or(now))
            .await
            .map_err(|e| KeyError(e.to_string()))?;
        tracing::info!(purpose = %self.cfg.purpose, %kid, "created signing key");
        Ok(kid)
    }

    /// The key that signs now: the newest one published for at least the activation delay, or the
    /// only one there is.
    fn signer(&self, keys: &[LoadedKey]) -> Option<LoadedKey> {
        let ready = self.clock.now() - micros(self.cfg.activation_delay);
        keys.iter()
            .filter(|k| k.created_at <= ready)
            .max_by_key(|k| k.created_at)
            .or_else(|| keys.iter().min_by_key(|k| k.created_at))
            .cloned()
    }

    /// Signs `claims` as a compact ES256 JWT with the current key's `kid`.
    pub async fn sign<T: serde::Serialize + Sync>(&self, claims: &T) -> Result<String, KeyError> {
        let keys = self.load(false).await?;
        let key = self
            .signer(&keys)
            .ok_or_else(|| KeyError("no signing key".into()))?;
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(key.kid.clone());
        jsonwebtoken::encode(&header, claims, &key.encoding).map_err(|e| KeyError(e.to_string()))
    }

    /// The public keys as a JWK Set (RFC 7517 §5), the signing key first.
    pub async fn jwks(&self) -> Result<Value, KeyError> {
        let keys = self.load(false).await?;
        let signer = self.signer(&keys).map(|k| k.kid);
        let mut ordered: Vec<&LoadedKey> = keys.iter().collect();
        ordered.sort_by_key(|k| {
            (
                Some(&k.kid) != signer.as_ref(),
                std::cmp::Reverse(k.created_at),
            )
        });
        Ok(json!({
            "keys": ordered.iter().map(|k| json!({
                "kty": "EC", "crv": "P-256", "x": k.x, "y": k.y,
                "kid": k.kid, "use": "sig", "alg": "ES256",
            })).collect::<Vec<_>>()
        }))
    }

    /// Decoding keys by `kid` (for verifying tokens this ring signed).
    pub async fn decoding_keys(
        &self,
        refresh: bool,
    ) -> Result<HashMap<String, DecodingKey>, KeyError> {
        let keys = self.load(refresh).await?;
        keys.iter()
            .map(|k| {
                DecodingKey::from_ec_components(&k.x, &k.y)
                    .map(|d| (k.kid.clone(), d))
                    .map_err(|e| KeyError(e.to_string()))
            })
            .collect()
    }

    /// Creates a new key now. Older keys stay published until the new one has signed for a full
    /// token lifetime (activation delay + token TTL).
    pub async fn rotate(&self) -> Result<String, KeyError> {
        let now = self.clock.now();
        let until = now + micros(self.cfg.activation_delay) + micros(self.cfg.token_ttl);
        let kid = self.create(now, Some(until)).await?;
        self.load(true).await?;
        Ok(kid)
    }

    /// Rotates if the newest key is older than `rotate_after`, and prunes keys no longer
    /// published. Returns the new kid if it rotated.
    pub async fn rotate_if_due(&self) -> Result<Option<String>, KeyError> {
        let keys = self.load(true).await?;
        let now = self.clock.now();
        self.repo
            .prune_keys(&self.cfg.purpose, now)
            .await
            .map_err(|e| KeyError(e.to_string()))?;
        let newest = keys.iter().map(|k| k.created_at).max().unwrap_or(0);
        if now - newest >= micros(self.cfg.rotate_after) {
            return self.rotate().await.map(Some);
        }
        Ok(None)
    }
}

/// Where an issuer's public keys come from.
#[derive(Clone)]
pub enum KeySource {
    /// A JWKS URL, fetched and cached.
    Url(String),
    /// A JWKS file, read and re-read when an unknown `kid` shows up.
    File(PathBuf),
    /// netorch's own key ring (the development issuer).
    Ring(Arc<KeyRing>),
}

/// One trusted token issuer.
#[derive(Clone)]
pub struct TrustedIssuer {
    /// Exact `iss` value.
    pub issuer: String,
    /// Accepted `aud` values; empty: `aud` is not checked.
    pub audiences: Vec<String>,
    /// Its keys.
    pub keys: KeySource,
}

/// Why a token was refused. Messages are meant for the caller.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// Not a compact JWS.
    #[error("the token is not a JWT (expected three base64url parts separated by dots)")]
    Malformed,
    /// Any algorithm but ES256.
    #[error("the token is signed with '{0}'; only ES256 is accepted")]
    Algorithm(String),
    /// `iss` is not configured.
    #[error("the token issuer '{0}' is not trusted by this service")]
    UnknownIssuer(String),
    /// No key with the token's `kid`.
    #[error("no key '{0}' is published by the token issuer")]
    UnknownKey(String),
    /// Signature mismatch.
    #[error("the token signature is invalid")]
    Signature,
    /// Past `exp`.
    #[error("the token has expired")]
    Expired,
    /// Before `nbf`.
    #[error("the token is not valid yet (nbf)")]
    NotYetValid,
    /// Wrong audience.
    #[error("the token audience does not include this service ({0})")]
    Audience(String),
    /// A required claim is absent.
    #[error("the token lacks the '{0}' claim")]
    MissingClaim(String),
    /// The issuer's keys could not be loaded.
    #[error("the keys of issuer '{0}' cannot be fetched right now")]
    KeysUnavailable(String),
}

struct IssuerState {
    cfg: TrustedIssuer,
    keys: HashMap<String, DecodingKey>,
    fetched: Option<Instant>,
    last_attempt: Option<Instant>,
}

/// Verifies ES256 JWTs from trusted issuers, caching their keys and refreshing on an unknown `kid`
/// (rate-limited, so a flood of forged kids cannot make netorch hammer the issuer).
pub struct TokenVerifier {
    issuers: HashMap<String, Mutex<IssuerState>>,
    /// Tokens already verified (by SHA-256 of the whole token) with their `exp`: the same bytes
    /// verify the same way until they expire, so a client sending one token per request pays for
    /// one ECDSA verification, not one per request.
    verified: std::sync::Mutex<HashMap<[u8; 32], (Value, i64)>>,
    leeway: u64,
    cache_ttl: Duration,
    min_refresh: Duration,
    /// Built on first use: only URL issuers need it (and it needs a TLS provider installed).
    http: std::sync::OnceLock<reqwest::Client>,
}

impl TokenVerifier {
    /// A verifier for `issuers`, with `leeway` for `exp`/`nbf` and a JWKS cache TTL.
    pub fn new(issuers: Vec<TrustedIssuer>, leeway: Duration, cache_ttl: Duration) -> Self {
        Self {
            issuers: issuers
                .into_iter()
                .map(|i| {
                    (
                        i.issuer.clone(),
                        Mutex::new(IssuerState {
                            cfg: i,
                            keys: HashMap::new(),
                            fetched: None,
                            last_attempt: None,
                        }),
                    )
                })
                .collect(),
            verified: std::sync::Mutex::new(HashMap::new()),
            leeway: leeway.as_secs(),
            cache_ttl,
            min_refresh: Duration::from_secs(10),
            http: std::sync::OnceLock::new(),
        }
    }

    /// Sets the shortest interval between two key refreshes of one issuer (default 10 s).
    pub fn with_min_refresh(mut self, interval: Duration) -> Self {
        self.min_refresh = interval;
        self
    }

    /// The configured issuers' names.
    pub fn issuers(&self) -> Vec<String> {
        self.issuers.keys().cloned().collect()
    }

    async fn fetch(
        &self,
        source: &KeySource,
        force: bool,
    ) -> Result<HashMap<String, DecodingKey>, String> {
        let doc: Value = match source {
            KeySource::Ring(r) => return r.decoding_keys(force).await.map_err(|e| e.to_string()),
            KeySource::File(p) => {
                let text = tokio::fs::read_to_string(p)
                    .await
                    .map_err(|e| format!("{}: {e}", p.display()))?;
                serde_json::from_str(&text).map_err(|e| format!("{}: {e}", p.display()))?
            }
            KeySource::Url(u) => self
                .http
                .get_or_init(|| {
                    reqwest::Client::builder()
                        .timeout(Duration::from_secs(5))
                        .build()
                        .unwrap_or_default()
                })
                .get(u)
                .send()
                .await
                .and_then(|r| r.error_for_status())
                .map_err(|e| e.to_string())?
                .json()
                .await
                .map_err(|e| e.to_string())?,
        };
        let mut keys = HashMap::new();
        for k in doc["keys"].as_array().into_iter().flatten() {
            // Keys of other types or curves are ignored, as RFC 7517 §5 says.
            if k["kty"] != "EC" || k["crv"] != "P-256" {
                continue;
            }
            let (Some(kid), Some(x), Some(y)) =
                (k["kid"].as_str(), k["x"].as_str(), k["y"].as_str())
            else {
                continue;
            };
            if let Ok(d) = DecodingKey::from_ec_components(x, y) {
                keys.insert(kid.to_string(), d);
            }
        }
        Ok(keys)
    }

    async fn key(
        &self,
        issuer: &str,
        kid: &str,
    ) -> Result<(DecodingKey, Vec<String>), VerifyError> {
        let state = self
            .issuers
            .get(issuer)
            .ok_or_else(|| VerifyError::UnknownIssuer(issuer.into()))?;
        let mut st = state.lock().await;
        let stale = st.fetched.is_none_or(|t| t.elapsed() >= self.cache_ttl);
        let unknown = !st.keys.contains_key(kid);
        let may_retry = st
            .last_attempt
            .is_none_or(|t| t.elapsed() >= self.min_refresh);
        if stale || (unknown && may_retry) {
            st.last_attempt = Some(Instant::now());
            match self.fetch(&st.cfg.keys, unknown).await {
                Ok(keys) => {
                    st.keys = keys;
                    st.fetched = Some(Instant::now());
                }
                Err(e) => {
                    tracing::warn!(%issuer, error = %e, "cannot load issuer keys");
                    if st.keys.is_empty() {
                        return Err(VerifyError::KeysUnavailable(issuer.into()));
                    }
                }
            }
        }
        st.keys
            .get(kid)
            .cloned()
            .map(|k| (k, st.cfg.audiences.clone()))
            .ok_or_else(|| VerifyError::UnknownKey(kid.into()))
    }

    /// Verifies `token` and returns its claims.
    pub async fn verify(&self, token: &str) -> Result<Value, VerifyError> {
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or_default();
        if let Ok(cache) = self.verified.lock()
            && let Some((claims, exp)) = cache.get(&digest)
        {
            if now <= exp + self.leeway as i64 {
                return Ok(claims.clone());
            }
            return Err(VerifyError::Expired);
        }
        let claims = self.verify_uncached(token).await?;
        if let Some(exp) = claims["exp"].as_i64()
            && let Ok(mut cache) = self.verified.lock()
        {
            if cache.len() >= 10_000 {
                cache.retain(|_, (_, e)| now <= *e + self.leeway as i64);
                if cache.len() >= 10_000 {
                    cache.clear();
                }
            }
            cache.insert(digest, (claims.clone(), exp));
        }
        Ok(claims)
    }

    async fn verify_uncached(&self, token: &str) -> Result<Value, VerifyError> {
        let parts: Vec<&str> = token.split('.').collect();
        if parts.len() != 3 {
            return Err(VerifyError::Malformed);
        }
        let part = |s: &str| -> Result<Value, VerifyError> {
            let bytes = URL_SAFE_NO_PAD
                .decode(s.trim_end_matches('='))
                .map_err(|_| VerifyError::Malformed)?;
            serde_json::from_slice(&bytes).map_err(|_| VerifyError::Malformed)
        };
        let header = part(parts[0])?;
        let alg = header["alg"].as_str().unwrap_or("none");
        if alg != "ES256" {
            return Err(VerifyError::Algorithm(alg.into()));
        }
        let unverified = part(parts[1])?;
        let iss = unverified["iss"]
            .as_str()
            .ok_or_else(|| VerifyError::MissingClaim("iss".into()))?;
        let kid = header["kid"].as_str().unwrap_or_default();
        let (key, audiences) = self.key(iss, kid).await?;
        let mut v = Validation::new(Algorithm::ES256);
        v.leeway = self.leeway;
        v.validate_nbf = true;
        v.set_issuer(&[iss]);
        v.set_required_spec_claims(&["exp", "iss"]);
        if audiences.is_empty() {
            v.validate_aud = false;
        } else {
            v.set_audience(&audiences);
        }
        jsonwebtoken::decode::<Value>(token, &key, &v)
            .map(|d| d.claims)
            .map_err(|e| match e.kind() {
                ErrorKind::ExpiredSignature => VerifyError::Expired,
                ErrorKind::ImmatureSignature => VerifyError::NotYetValid,
                ErrorKind::InvalidAudience => VerifyError::Audience(audiences.join(", ")),
                ErrorKind::MissingRequiredClaim(c) => VerifyError::MissingClaim(c.clone()),
                ErrorKind::InvalidIssuer => VerifyError::UnknownIssuer(iss.into()),
                ErrorKind::InvalidToken
                | ErrorKind::Base64(_)
                | ErrorKind::Json(_)
                | ErrorKind::Utf8(_) => VerifyError::Malformed,
                _ => VerifyError::Signature,
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thumbprints_are_43_characters_and_coordinates_full_length() {
        let (_, x, y) = generate_p256().expect("key");
        assert_eq!(x.len(), 43);
        assert_eq!(y.len(), 43);
        assert_eq!(thumbprint(&x, &y).len(), 43);
    }

    #[test]
    fn rfc7638_example_thumbprint_shape_is_stable() {
        // Same input, same kid: thumbprints are deterministic.
        assert_eq!(thumbprint("a", "b"), thumbprint("a", "b"));
        assert_ne!(thumbprint("a", "b"), thumbprint("b", "a"));
    }
}
