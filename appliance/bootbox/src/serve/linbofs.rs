//! Keeps the served linbofs64 built from the current inputs: the LINBO
//! password, the box's SSH key, the default start.conf, the torrent
//! defaults and LINBO's original linbofs64 (see `bootbox linbofs build`).
//! An admin who changes any of them — or copies a new LINBO linbofs64 into
//! the tree — gets a rebuilt archive within one check interval; clients
//! notice it by its md5 on their next network boot.

use std::time::Duration;

use bootbox_store::Store;
use std::sync::Arc;
use tokio::sync::watch;

use crate::commands::linbofs::{rebuild_if_changed, AutoBuild};
use crate::datadir::DataDir;

/// How often the inputs are compared with the last build.
const CHECK_EVERY: Duration = Duration::from_secs(5);

/// Longest pause between attempts while builds keep failing.
const MAX_RETRY: Duration = Duration::from_secs(600);

/// Runs until `stop`: checks at start and then every [`CHECK_EVERY`].
/// A failing build is reported once per distinct error and retried after
/// a minute, then every [`MAX_RETRY`], so a bad input is not unpacked
/// again every few seconds.
pub(super) async fn keep_current(dir: DataDir, store: Arc<Store>, stop: watch::Receiver<bool>) {
    let mut last_error: Option<String> = None;
    let mut pause = Duration::ZERO;
    loop {
        tokio::select! {
            () = tokio::time::sleep(pause) => {}
            () = super::wait_stop(stop.clone()) => return,
        }
        pause = CHECK_EVERY;
        let d = dir.clone();
        let outcome = tokio::task::spawn_blocking(move || rebuild_if_changed(&d)).await;
        match outcome {
            Ok(Ok(AutoBuild::Rebuilt(report))) => {
                last_error = None;
                let text = format!(
                    "linbofs64 rebuilt ({}, md5 {}): an input changed",
                    report.linbo_version, report.md5
                );
                tracing::info!(md5 = %report.md5, "{text}");
                let _ = store.record("linbofs.rebuilt", text);
            }
            Ok(Ok(AutoBuild::Current | AutoBuild::NoOriginal)) => {}
            Ok(Err(e)) => {
                pause = if last_error.is_some() {
                    MAX_RETRY
                } else {
                    CHECK_EVERY * 12
                };
                let text = format!("{e:#}");
                if last_error.as_deref() != Some(text.as_str()) {
                    tracing::warn!(error = %text, "linbofs64 not rebuilt");
                    let _ =
                        store.record("linbofs.failed", format!("linbofs64 not rebuilt: {text}"));
                    last_error = Some(text);
                }
            }
            Err(e) => tracing::warn!(error = %e, "linbofs rebuild task failed"),
        }
    }
}
