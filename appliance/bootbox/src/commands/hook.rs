//! `bootbox hook <phase>`: run by the rsync daemon around every LINBO
//! transfer. Sends the transfer (from rsync's `RSYNC_*` variables) to the
//! running service and relays its verdict: a refused pre-transfer hook
//! exits non-zero, which makes rsync refuse the transfer.

use anyhow::{bail, Result};
use bootbox_rsyncd::{hook, HookPhase, HookRequest};

use crate::datadir::DataDir;

/// Socket the service listens on for hook calls, inside the data dir.
pub fn socket_path(dir: &DataDir) -> std::path::PathBuf {
    dir.root().join("run").join("hook.sock")
}

/// Handles one hook call.
pub fn run(dir: &DataDir, phase: &str) -> Result<()> {
    let Some(phase) = HookPhase::parse(phase) else {
        bail!("unknown hook phase '{phase}': use pre-download, post-download, pre-upload or post-upload");
    };
    let req = HookRequest::from_env(phase, |k| std::env::var(k).ok())?;
    let reply = hook::call(&socket_path(dir), &req)?;
    if !reply.message.is_empty() {
        eprintln!("bootbox: {}", reply.message);
    }
    if !reply.ok {
        bail!("{}", reply.message);
    }
    Ok(())
}
