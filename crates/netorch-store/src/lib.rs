#![doc = include_str!("../README.md")]

mod db;
mod identity;
mod jobs;
mod migrate;
mod outbox;
mod records;

pub use db::{Backend, Store, StoreOptions, redact_url};
