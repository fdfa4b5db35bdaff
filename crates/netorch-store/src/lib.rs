#![doc = include_str!("../README.md")]

mod blobs;
mod connectivity;
mod db;
mod identity;
mod jobs;
mod keys;
mod leases;
mod migrate;
mod outbox;
mod records;
mod simulated;
mod uploads;

pub use blobs::{FsBlobStore, S3BlobStore, S3Location};
pub use db::{Backend, Store, StoreOptions, redact_url};
pub use leases::LeaseHolder;
