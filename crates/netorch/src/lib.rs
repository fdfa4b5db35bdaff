#![doc = include_str!("../README.md")]

pub mod app;
pub mod bench;
mod bench_dmi;
mod bench_tmf;
pub mod config;
pub mod leader;
pub mod metrics;
pub mod observe;
pub mod request_span;
mod system;
pub mod telemetry;

pub use app::App;
pub use config::Config;

/// Installs the process-wide TLS crypto provider (ring). Idempotent.
pub fn install_crypto() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Asks a running server's `/livez` (or `/readyz`): true on 200. The reason for false goes to
/// standard error. Used by `netorch healthcheck`, a container's health check.
pub async fn healthcheck(
    cfg: &Config,
    ready: bool,
    url: Option<&str>,
    timeout: std::time::Duration,
) -> bool {
    install_crypto();
    let base = match url {
        Some(u) => u.trim_end_matches('/').to_string(),
        None => {
            let (addr, tls) = match &cfg.server.management_listen {
                Some(m) => (m.as_str(), false),
                None => (cfg.server.listen.as_str(), cfg.server.tls.enabled),
            };
            let local = match addr.parse::<std::net::SocketAddr>() {
                Ok(a) if a.ip().is_unspecified() => format!("127.0.0.1:{}", a.port()),
                _ => addr.to_string(),
            };
            format!("{}://{local}", if tls { "https" } else { "http" })
        }
    };
    let path = if ready { "readyz" } else { "livez" };
    // The server's own certificate may be self-signed: this only asks the local process.
    let client = match reqwest::Client::builder()
        .timeout(timeout)
        .danger_accept_invalid_certs(true)
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            eprintln!("healthcheck: {e}");
            return false;
        }
    };
    match client.get(format!("{base}/{path}")).send().await {
        Ok(r) if r.status().is_success() => true,
        Ok(r) => {
            let status = r.status();
            eprintln!(
                "healthcheck: {base}/{path} answered {status}: {}",
                r.text().await.unwrap_or_default()
            );
            false
        }
        Err(e) => {
            eprintln!(
                "healthcheck: {base}/{path}: {}",
                netorch_core::error_chain(&e)
            );
            false
        }
    }
}

/// Runs a server until SIGINT/SIGTERM.
pub async fn serve_until_signal(cfg: Config) -> anyhow::Result<()> {
    install_crypto();
    // The handlers are registered before anything listens: a SIGTERM that arrives as soon as
    // the server answers (an orchestrator stopping a pod that just became ready) must stop it
    // gracefully, not kill it with the default action while a spawned task is still unpolled.
    let signals = ShutdownSignals::register()?;
    let listener = std::net::TcpListener::bind(&cfg.server.listen)
        .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", cfg.server.listen))?;
    let app = App::build(&cfg).await?;
    // Start-up is over: the store is migrated and seeded, every route and the OpenAPI document
    // built. What only that needed (free heap, code mapped once) goes back to the system.
    if cfg.server.release_startup_memory {
        let released = netorch_memory::release_startup_memory();
        tracing::debug!(
            executable_bytes = released.executable_bytes,
            heap_trimmed = released.heap_trimmed,
            "start-up memory released"
        );
    }
    let shutdown = tokio_util::sync::CancellationToken::new();
    let s = shutdown.clone();
    tokio::spawn(async move {
        signals.recv().await;
        tracing::info!("shutdown requested");
        s.cancel();
    });
    app.serve(&cfg, listener, shutdown).await
}

/// SIGINT and SIGTERM, registered with the runtime when created.
struct ShutdownSignals {
    #[cfg(unix)]
    int: tokio::signal::unix::Signal,
    #[cfg(unix)]
    term: tokio::signal::unix::Signal,
}

impl ShutdownSignals {
    fn register() -> anyhow::Result<Self> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            let int = signal(SignalKind::interrupt())
                .map_err(|e| anyhow::anyhow!("cannot handle SIGINT: {e}"))?;
            let term = signal(SignalKind::terminate())
                .map_err(|e| anyhow::anyhow!("cannot handle SIGTERM: {e}"))?;
            Ok(Self { int, term })
        }
        #[cfg(not(unix))]
        Ok(Self {})
    }

    async fn recv(self) {
        #[cfg(unix)]
        {
            let Self { mut int, mut term } = self;
            tokio::select! { _ = int.recv() => {}, _ = term.recv() => {} }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
