#![doc = include_str!("../README.md")]

pub mod app;
pub mod bench;
mod bench_dmi;
mod bench_tmf;
pub mod config;
pub mod metrics;
pub mod observe;
mod system;
pub mod telemetry;

pub use app::App;
pub use config::Config;

/// Installs the process-wide TLS crypto provider (ring). Idempotent.
pub fn install_crypto() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Runs a server until SIGINT/SIGTERM.
pub async fn serve_until_signal(cfg: Config) -> anyhow::Result<()> {
    install_crypto();
    let listener = std::net::TcpListener::bind(&cfg.server.listen)
        .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", cfg.server.listen))?;
    let app = App::build(&cfg).await?;
    let shutdown = tokio_util::sync::CancellationToken::new();
    let s = shutdown.clone();
    tokio::spawn(async move {
        shutdown_signal().await;
        tracing::info!("shutdown requested");
        s.cancel();
    });
    app.serve(&cfg, listener, shutdown).await
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}
