//! `bootbox serve`: the long-running service.
//!
//! Starts the HTTP front (health, metrics) and, in later work, the boot
//! protocol servers, each enable-able in the configuration. Stops cleanly on
//! SIGTERM or SIGINT.

use std::sync::Arc;

use anyhow::{Context, Result};
use bootbox_store::Store;
use tokio::net::TcpListener;

use crate::cli::ServeArgs;
use crate::datadir::DataDir;

/// Runs the service until SIGTERM/SIGINT.
pub fn run(dir: &DataDir, store: Store, args: &ServeArgs) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(serve(dir, Arc::new(store), args))
}

async fn serve(dir: &DataDir, store: Arc<Store>, args: &ServeArgs) -> Result<()> {
    let listener = TcpListener::bind(args.http)
        .await
        .with_context(|| format!("cannot listen on {} (in use? try --http)", args.http))?;
    let local = listener.local_addr()?;
    tracing::info!(
        data = %dir.root().display(),
        http = %local,
        hosts = store.host_count().unwrap_or(0),
        "bootbox started"
    );
    let _ = store.record("service.start", format!("service started, HTTP on {local}"));
    let app = bootbox_web::router(bootbox_web::AppState::new(store.clone()));
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown_signal())
        .await
        .context("HTTP server failed")?;
    let _ = store.record("service.stop", "service stopped");
    tracing::info!("bootbox stopped");
    Ok(())
}

async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let term = signal(SignalKind::terminate());
    let int = signal(SignalKind::interrupt());
    match (term, int) {
        (Ok(mut term), Ok(mut int)) => {
            tokio::select! {
                _ = term.recv() => tracing::info!("SIGTERM received, shutting down"),
                _ = int.recv() => tracing::info!("SIGINT received, shutting down"),
            }
        }
        _ => {
            tracing::warn!("cannot install signal handlers; stop with kill -9");
            std::future::pending::<()>().await;
        }
    }
}
