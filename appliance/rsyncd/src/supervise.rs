//! Keeps `rsync --daemon` running.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use tokio::process::Command;

use crate::config::{write_private, RsyncConfig};

/// Longest pause between restarts of a crashing daemon.
const MAX_BACKOFF: Duration = Duration::from_secs(60);
/// A daemon that ran this long resets the back-off.
const HEALTHY_AFTER: Duration = Duration::from_secs(30);

/// Why the daemon could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum SupervisorError {
    /// The configuration is invalid.
    #[error("invalid rsync configuration: {0}")]
    Config(String),
    /// Files could not be written.
    #[error("cannot write {path}: {source}")]
    Write {
        /// Which file.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
}

/// Writes `rsyncd.conf` to `conf_path` and runs `rsync --daemon
/// --no-detach` (binary `rsync_bin`) until `stop` resolves; a daemon that
/// exits is restarted with exponential back-off (1 s … 60 s). Returns an
/// error only when the configuration cannot be written.
pub async fn supervise(
    cfg: &RsyncConfig,
    rsync_bin: &Path,
    conf_path: &Path,
    stop: impl std::future::Future<Output = ()>,
) -> Result<(), SupervisorError> {
    let text = cfg.render().map_err(SupervisorError::Config)?;
    for dir in [&cfg.upload, &cfg.linbo] {
        std::fs::create_dir_all(dir).map_err(|source| SupervisorError::Write {
            path: dir.clone(),
            source,
        })?;
    }
    if let Some(parent) = cfg.pid_file.parent() {
        let _ = std::fs::create_dir_all(parent);
    }
    write_private(conf_path, text.as_bytes()).map_err(|source| SupervisorError::Write {
        path: conf_path.to_path_buf(),
        source,
    })?;
    tokio::pin!(stop);
    let mut backoff = Duration::from_secs(1);
    loop {
        // A stale PID file from a killed daemon makes rsync refuse to start.
        let _ = std::fs::remove_file(&cfg.pid_file);
        let started = Instant::now();
        let child = Command::new(rsync_bin)
            .arg("--daemon")
            .arg("--no-detach")
            .arg(format!("--config={}", conf_path.display()))
            .arg("--log-file=/dev/stderr")
            .kill_on_drop(true)
            .spawn();
        let mut child = match child {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(error = %e, rsync = %rsync_bin.display(), "cannot start the rsync daemon");
                tokio::select! {
                    () = tokio::time::sleep(backoff) => {}
                    () = &mut stop => return Ok(()),
                }
                backoff = (backoff * 2).min(MAX_BACKOFF);
                continue;
            }
        };
        tracing::info!(address = %cfg.address, port = cfg.port, "rsync daemon started");
        let status = tokio::select! {
            s = child.wait() => s,
            () = &mut stop => {
                let _ = child.start_kill();
                let _ = child.wait().await;
                let _ = std::fs::remove_file(&cfg.pid_file);
                tracing::info!("rsync daemon stopped");
                return Ok(());
            }
        };
        if started.elapsed() >= HEALTHY_AFTER {
            backoff = Duration::from_secs(1);
        }
        tracing::warn!(status = ?status, retry_in = ?backoff, "rsync daemon exited; restarting");
        tokio::select! {
            () = tokio::time::sleep(backoff) => {}
            () = &mut stop => return Ok(()),
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}
