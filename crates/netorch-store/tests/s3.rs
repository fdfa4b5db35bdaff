//! Package blobs on an S3 implementation (moto's server, started here; scripts/test installs it
//! into its test venv and names it in MOTO_SERVER_BIN): the same contract as the local
//! directory, shared by two stores as by two replicas, and clear errors when the bucket is wrong.

use netorch_core::blobs::BlobStore;
use netorch_store::{S3BlobStore, S3Location};
use netorch_test_support::process::Moto;

async fn moto() -> Option<Moto> {
    // As the netorch binary does at start: object_store's client needs a rustls provider.
    let _ = rustls::crypto::ring::default_provider().install_default();
    Moto::start().await
}

fn location(m: &Moto, bucket: &str) -> S3Location {
    S3Location {
        bucket: bucket.into(),
        prefix: "netorch/packages".into(),
        region: "eu-west-1".into(),
        endpoint: Some(m.endpoint()),
        credentials: Some(("testing".into(), "testing".into())),
    }
}

#[tokio::test]
async fn blobs_on_s3_round_trip_by_digest_and_two_replicas_share_them() {
    let Some(m) = moto().await else { return };
    m.bucket("packages").await;
    let a = S3BlobStore::new(&location(&m, "packages")).expect("store");
    let b = S3BlobStore::new(&location(&m, "packages")).expect("store");
    a.check().await.expect("the bucket answers");
    let body = vec![7u8; 3 * 1024 * 1024];
    let d = a.put(&body).await.expect("put");
    assert_eq!(a.put(&body).await.expect("again"), d, "content-addressed");
    assert_eq!(
        b.get(&d).await.expect("get").as_deref(),
        Some(body.as_slice())
    );
    let listed = b.list().await.expect("list");
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].0, d);
    assert!(listed[0].1 > 0, "write time known");
    assert!(b.delete(&d).await.expect("delete"));
    assert!(!a.delete(&d).await.expect("again"));
    assert!(a.get(&d).await.expect("get").is_none());
    for bad in ["../x", "ab", &"g".repeat(64)] {
        assert!(a.get(bad).await.expect("get").is_none(), "{bad}");
        assert!(!a.delete(bad).await.expect("delete"), "{bad}");
    }
}

#[tokio::test]
async fn a_missing_bucket_is_reported_by_the_start_up_check_with_the_reason() {
    let Some(m) = moto().await else { return };
    let s = S3BlobStore::new(&location(&m, "no-such-bucket")).expect("store");
    let e = s.check().await.expect_err("no bucket").to_string();
    assert!(
        e.contains("S3") && e.to_lowercase().contains("bucket"),
        "{e}"
    );
}
