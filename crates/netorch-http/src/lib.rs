#![doc = include_str!("../README.md")]

pub mod filter;
pub mod merge;
pub mod osm;

pub use filter::Filter;
