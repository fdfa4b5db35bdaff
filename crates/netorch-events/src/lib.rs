#![doc = include_str!("../README.md")]

mod bus;
#[cfg(feature = "kafka")]
pub mod kafka;
mod relay;

pub use bus::InProcessBus;
pub use relay::{Relay, RelayConfig, envelope};
