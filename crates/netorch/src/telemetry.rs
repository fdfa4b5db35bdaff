//! Logging set-up.

use tracing_subscriber::{EnvFilter, fmt};

/// Installs the global subscriber (text or JSON). `RUST_LOG` overrides `log.level`.
pub fn init(format: &str, level: &str) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level));
    let builder = fmt().with_env_filter(filter).with_target(false);
    let _ = if format == "json" {
        builder.json().flatten_event(true).try_init()
    } else {
        builder.try_init()
    };
}
