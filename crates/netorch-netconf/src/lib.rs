#![doc = include_str!("../README.md")]

pub mod cache;
mod dom;
pub mod models;
pub mod path;
pub mod pool;
pub mod xml;

pub use cache::ModelCache;
pub use models::{EditOp, ModelError, ModelSet};
pub use path::ResourcePath;
pub use pool::{Auth, Endpoint, NetconfError, Pool, PoolConfig};
pub use xml::SchemaRef;
