//! Signing keys on the real store: rotation publishes the next key before it signs and keeps the
//! old one until its tokens expire; verification reads issuer keys from a file and refreshes on an
//! unknown `kid`.

use std::{sync::Arc, time::Duration};

use netorch_auth::{
    jwt::{KeyRing, KeyRingConfig, KeySource, TokenVerifier, TrustedIssuer, VerifyError},
    secrets::SecretBox,
};
use netorch_core::Clock as _;
use netorch_test_support::{ManualClock, TestDb};
use serde_json::{Value, json};

fn kids(jwks: &Value) -> Vec<String> {
    jwks["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .map(|k| k["kid"].as_str().expect("kid").to_string())
        .collect()
}

fn kid_of(token: &str) -> String {
    jsonwebtoken::decode_header(token)
        .expect("header")
        .kid
        .expect("kid")
}

#[tokio::test]
async fn a_rotated_key_is_published_before_it_signs_and_the_old_one_stays_until_its_tokens_expire()
{
    let db = TestDb::new().await.expect("db");
    let store = Arc::new(db.store().await.expect("store"));
    let clock = ManualClock::at(1_800_000_000 * 1_000_000);
    let ring = KeyRing::new(
        store.clone(),
        SecretBox::new(&[7u8; 32]),
        clock.clone(),
        KeyRingConfig {
            purpose: "test".into(),
            rotate_after: Duration::from_secs(3600),
            activation_delay: Duration::from_secs(300),
            token_ttl: Duration::from_secs(600),
        },
    );
    let first = kid_of(&ring.sign(&json!({"n": 1})).await.expect("sign"));
    assert_eq!(kids(&ring.jwks().await.expect("jwks")), vec![first.clone()]);
    assert_eq!(
        ring.rotate_if_due().await.expect("rotate"),
        None,
        "not due yet"
    );

    clock.advance(Duration::from_secs(3600));
    let second = ring
        .rotate_if_due()
        .await
        .expect("rotate")
        .expect("rotated");
    assert_ne!(first, second);
    // Published at once, signing only after the activation delay.
    assert_eq!(
        kids(&ring.jwks().await.expect("jwks")),
        vec![first.clone(), second.clone()]
    );
    assert_eq!(kid_of(&ring.sign(&json!({})).await.expect("sign")), first);
    clock.advance(Duration::from_secs(301));
    assert_eq!(kid_of(&ring.sign(&json!({})).await.expect("sign")), second);
    // The old key stays while tokens it signed can still be valid, then goes.
    clock.advance(Duration::from_secs(590));
    ring.rotate_if_due().await.expect("prune");
    assert!(kids(&ring.jwks().await.expect("jwks")).contains(&first));
    clock.advance(Duration::from_secs(20));
    ring.rotate_if_due().await.expect("prune");
    assert_eq!(kids(&ring.jwks().await.expect("jwks")), vec![second]);
    store.close().await;
}

#[tokio::test]
async fn an_issuer_jwks_file_is_reread_when_a_token_names_an_unknown_kid() {
    let db = TestDb::new().await.expect("db");
    let store = Arc::new(db.store().await.expect("store"));
    let clock = Arc::new(netorch_core::SystemClock);
    let issuer = |purpose: &str| {
        KeyRing::new(
            store.clone(),
            SecretBox::new(&[9u8; 32]),
            clock.clone(),
            KeyRingConfig {
                purpose: purpose.into(),
                rotate_after: Duration::from_secs(86_400),
                activation_delay: Duration::ZERO,
                token_ttl: Duration::from_secs(600),
            },
        )
    };
    // Two keys of "the SLICES portal"; the JWKS file first lists only the first.
    let (a, b) = (issuer("portal-a"), issuer("portal-b"));
    let file = db.dir.path().join("jwks.json");
    std::fs::write(&file, a.jwks().await.expect("jwks").to_string()).expect("write");
    let verifier = TokenVerifier::new(
        vec![TrustedIssuer {
            issuer: "https://portal.example".into(),
            audiences: vec!["https://cs.example".into()],
            keys: KeySource::File(file.clone()),
        }],
        Duration::from_secs(60),
        Duration::from_secs(600),
    )
    .with_min_refresh(Duration::ZERO);
    let now = clock.now() / 1_000_000;
    let claims = |aud: &str| json!({"iss": "https://portal.example", "aud": aud, "sub": "user_x", "iat": now, "exp": now + 600});
    let t1 = a.sign(&claims("https://cs.example")).await.expect("sign");
    assert_eq!(verifier.verify(&t1).await.expect("verify")["sub"], "user_x");
    let wrong_aud = a.sign(&claims("https://elsewhere")).await.expect("sign");
    assert!(matches!(
        verifier.verify(&wrong_aud).await,
        Err(VerifyError::Audience(_))
    ));
    // The portal rotates: the file now lists both keys; a token with the new kid is accepted
    // after one re-read.
    let t2 = b.sign(&claims("https://cs.example")).await.expect("sign");
    let mut both = a.jwks().await.expect("jwks");
    let extra = b.jwks().await.expect("jwks")["keys"][0].clone();
    both["keys"].as_array_mut().expect("keys").push(extra);
    std::fs::write(&file, both.to_string()).expect("write");
    assert_eq!(
        verifier.verify(&t2).await.expect("verify after refresh")["sub"],
        "user_x"
    );
    let stranger = issuer("stranger")
        .sign(&json!({"iss": "https://other.example", "sub": "x", "exp": now + 600}))
        .await
        .expect("sign");
    assert!(matches!(
        verifier.verify(&stranger).await,
        Err(VerifyError::UnknownIssuer(_))
    ));
    store.close().await;
}
