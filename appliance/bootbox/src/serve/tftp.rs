//! Wires the TFTP server to the LINBO tree and to the boot timeline.

use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result};
use bootbox_boot::timeline::Recorder;
use bootbox_tftp::{
    AbortReason, DirSource, TftpConfig, TftpServer, TransferEvent, TransferObserver,
};
use bootbox_web::Metrics;

/// Binds the TFTP server for `root` on `bind`.
pub async fn start(
    bind: SocketAddr,
    root: &Path,
    recorder: Recorder,
    metrics: Arc<Metrics>,
) -> Result<TftpServer<DirSource, Timeline>> {
    let source =
        DirSource::new(root).with_context(|| format!("cannot serve {} by TFTP", root.display()))?;
    let server = TftpServer::bind(
        TftpConfig::new(bind),
        source,
        Timeline { recorder, metrics },
    )
    .await
    .with_context(|| format!("cannot start TFTP on {bind} (port in use, or needs root)"))?;
    tracing::info!(addr = %server.local_addr(), root = %root.display(), "TFTP listening");
    Ok(server)
}

/// TFTP transfers into the timeline (by client address) and the metrics.
pub struct Timeline {
    recorder: Recorder,
    metrics: Arc<Metrics>,
}

impl Timeline {
    fn record(&self, client: SocketAddr, step: &str, detail: String) {
        if let IpAddr::V4(ip) = client.ip() {
            self.recorder.record_ip(ip, "tftp", step, detail);
        }
    }
}

impl TransferObserver for Timeline {
    fn on_event(&self, event: TransferEvent) {
        match event {
            TransferEvent::Started {
                client,
                path,
                size,
                blksize,
                windowsize,
            } => self.record(
                client,
                "tftp.start",
                format!(
                    "{path}: {} bytes, blksize {blksize}, windowsize {windowsize}",
                    size.unwrap_or(0)
                ),
            ),
            TransferEvent::Completed {
                client,
                path,
                bytes,
                duration,
            } => {
                self.metrics.tftp_transfer("completed", bytes);
                self.record(
                    client,
                    "tftp.done",
                    format!("{path}: {bytes} bytes in {:.1} s", duration.as_secs_f64()),
                );
            }
            TransferEvent::Aborted {
                client,
                path,
                bytes,
                reason,
            } => {
                let outcome = match &reason {
                    AbortReason::ClientError { .. } => "aborted_by_client",
                    AbortReason::Timeout => "timeout",
                    AbortReason::NotFound => "not_found",
                    AbortReason::AccessDenied(_) => "denied",
                    AbortReason::Busy => "busy",
                    _ => "error",
                };
                self.metrics.tftp_transfer(outcome, bytes);
                // EDK2 probes the size and aborts on purpose: not worth a
                // timeline entry that would look like a failure.
                if !(reason.is_client_abort() && bytes == 0) {
                    self.record(client, "tftp.aborted", format!("{path}: {reason}"));
                }
            }
            _ => {}
        }
    }
}
