//! Logging set-up.

use tracing_subscriber::{EnvFilter, fmt, util::SubscriberInitExt as _};

use crate::request_span::{self, LazyRequestSpans};

/// Installs the global subscriber (text or JSON). `RUST_LOG` overrides `log.level`. Logs go to
/// standard error, always: standard output carries only what a command prints as its result
/// (`netorch token slices | jq`), and a database's notices must not end up in it.
pub fn init(format: &str, level: &str) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level));
    // Colours only for a person at a terminal: log files and collectors get plain text, and the
    // escape codes are not formatted into every request's span.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_ansi(ansi)
        .with_writer(std::io::stderr);
    // Requests' spans are created when first needed (request_span.rs); the output is the same.
    let installed = if format == "json" {
        LazyRequestSpans::new(builder.json().flatten_event(true).finish()).try_init()
    } else {
        LazyRequestSpans::new(builder.finish()).try_init()
    };
    if installed.is_ok() {
        request_span::register_callsite();
    }
}
