//! Time as the store and the wire see it.

use std::time::{SystemTime, UNIX_EPOCH};

/// Microseconds since the Unix epoch. Stored as `BIGINT` so that ordering and equality are exact
/// on both backends; OSM's float seconds are derived from it at the edge.
pub type Micros = i64;

/// Converts microseconds to OSM's epoch float seconds.
pub fn micros_to_secs(m: Micros) -> f64 {
    m as f64 / 1_000_000.0
}

/// Source of the current time; injected so that expiry and scheduling can be tested.
pub trait Clock: Send + Sync + 'static {
    /// Now, in microseconds since the epoch.
    fn now(&self) -> Micros;
}

/// The wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Micros {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_micros() as Micros)
            .unwrap_or_default()
    }
}
