#![doc = include_str!("../README.md")]
#![recursion_limit = "256"]

pub mod documents;
pub mod engine;
pub mod model;
pub mod usage;

pub use engine::{Engine, NSLCM_JOB, op_job, primitive_endpoint};
