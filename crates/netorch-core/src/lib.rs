#![doc = include_str!("../README.md")]

pub mod blobs;
pub mod clock;
pub mod cloud;
pub mod connectivity;
pub mod descriptors;
pub mod error;
pub mod events;
pub mod identity;
pub mod jobs;
pub mod keys;
pub mod placement;
pub mod primitives;
pub mod tenancy;
pub mod uploads;

pub use clock::{Clock, Micros, SystemClock};
pub use error::{StoreError, error_chain};

/// A new random identifier (UUID v4, hyphenated), the form OSM uses for `_id`.
pub fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// True if `s` parses as a UUID. OSM refuses user names and project names of that shape because
/// every `{id}` path segment accepts either an id or a name.
pub fn looks_like_uuid(s: &str) -> bool {
    uuid::Uuid::parse_str(s).is_ok()
}
