#![doc = include_str!("../README.md")]

mod db;
mod identity;
mod jobs;
mod migrate;
mod outbox;

pub use db::{Backend, Store, StoreOptions, redact_url};
