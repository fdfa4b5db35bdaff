#![doc = include_str!("../README.md")]

pub mod extract;
pub mod filter;
pub mod merge;
pub mod osm;

pub use filter::Filter;

/// What [`family_extractors!`] expands to refers to through here, so that a family crate needs no
/// direct dependency on the exact versions.
#[doc(hidden)]
pub mod __private {
    pub use axum;
    pub use bytes;
    pub use serde;
}
