//! Wires udpcast multicast into the service: one session per image listed
//! in `<linbo>/multicast.list` (which the image catalogue rewrites on every
//! change), restarted when the list changes, with transfers and dropped
//! receivers written to the event log and a live status snapshot for the
//! API and metrics.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bootbox_linbo::multicast::MulticastList;
use bootbox_store::Store;
use bootbox_udpcast::{
    sessions_from_list, Config, DropReason, Event, Outcome, Phase, Service, SessionEvent,
    SessionSpec, SessionStatus,
};
use tokio::sync::{broadcast, watch};

/// How often the list is re-read and the status snapshot refreshed.
const TICK: Duration = Duration::from_secs(2);
/// Pause before trying again after the sessions could not be started.
const RETRY: Duration = Duration::from_secs(30);

/// Latest status of every session, shared with the API and metrics.
#[derive(Clone, Default)]
pub struct MulticastStatus(Arc<Mutex<Inner>>);

#[derive(Default)]
struct Inner {
    sessions: Vec<SessionStatus>,
    /// Per image file: bytes of finished rounds, and which round is in it.
    rounds: HashMap<String, Rounds>,
}

#[derive(Default)]
struct Rounds {
    /// Round announced last (`Waiting`).
    current: u64,
    /// Last round whose bytes are in `bytes`.
    counted: u64,
    /// Image bytes sent by finished rounds since the service started.
    bytes: u64,
}

impl MulticastStatus {
    /// Snapshot of all sessions in `multicast.list` order.
    pub fn sessions(&self) -> Vec<SessionStatus> {
        self.lock().sessions.clone()
    }

    /// Image bytes sent per image file since the service started: finished
    /// rounds (counted exactly from their end events) plus the running one.
    pub fn sent_bytes(&self) -> Vec<(String, u64)> {
        let inner = self.lock();
        let mut out: Vec<(String, u64)> = inner
            .rounds
            .iter()
            .map(|(image, r)| (image.clone(), r.bytes))
            .collect();
        for s in &inner.sessions {
            let counted = inner.rounds.get(&*s.image).map_or(0, |r| r.counted);
            if s.phase == Phase::Transferring && s.round > counted {
                match out.iter_mut().find(|(i, _)| **i == *s.image) {
                    Some((_, b)) => *b += s.bytes_sent,
                    None => out.push((s.image.to_string(), s.bytes_sent)),
                }
            }
        }
        out
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn set(&self, sessions: Vec<SessionStatus>) {
        self.lock().sessions = sessions;
    }

    /// A new service numbers its rounds from 1 again.
    fn restarted(&self) {
        for r in self.lock().rounds.values_mut() {
            r.current = 0;
            r.counted = 0;
        }
    }

    fn observe(&self, ev: &SessionEvent) {
        let mut inner = self.lock();
        let r = inner.rounds.entry(ev.image.to_string()).or_default();
        match &ev.event {
            Event::Waiting { round } => r.current = *round,
            Event::TransferFinished { bytes, .. } => {
                r.bytes += bytes;
                r.counted = r.current.max(r.counted + 1);
            }
            _ => {}
        }
    }
}

/// Runs the multicast sessions until `stop`; never returns an error (a bad
/// list or a busy port is logged and retried, the rest of the box keeps
/// serving).
pub async fn run(
    cfg: Config,
    linbo: PathBuf,
    store: Arc<Store>,
    status: MulticastStatus,
    mut stop: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let list_path = linbo.join("multicast.list");
    // What runs now: the sessions asked for, and the service serving them
    // (none while the list is empty).
    let mut active: Vec<Wanted> = Vec::new();
    let mut service: Option<Service> = None;
    let mut events: Option<broadcast::Receiver<SessionEvent>> = None;
    let mut tick = tokio::time::interval(TICK);
    let mut retry_at: Option<tokio::time::Instant> = None;
    let mut last_error: Option<String> = None;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            ev = next_event(&mut events) => {
                if let Some(ev) = ev {
                    status.observe(&ev);
                    log_event(&store, &ev);
                }
                continue;
            }
            _ = stop.changed() => {}
        }
        if *stop.borrow() {
            break;
        }
        if let Some(svc) = &service {
            status.set(svc.status());
        }
        let wanted = match wanted_sessions(&list_path, &linbo) {
            Ok(w) => {
                last_error = None;
                w
            }
            Err(e) => {
                if last_error.as_deref() != Some(e.as_str()) {
                    tracing::warn!(error = %e, "multicast.list not usable; sessions unchanged");
                    let _ = store.record("multicast.error", e.clone());
                    last_error = Some(e);
                }
                continue;
            }
        };
        let started = service.is_some() || active.is_empty();
        if wanted == active && started {
            continue;
        }
        // A running transfer finishes first: the room would otherwise lose
        // the image mid-way. The list is checked again next tick.
        if service
            .as_ref()
            .is_some_and(|svc| svc.status().iter().any(|s| s.phase == Phase::Transferring))
        {
            continue;
        }
        if retry_at.is_some_and(|t| tokio::time::Instant::now() < t) {
            continue;
        }
        if let Some(svc) = service.take() {
            events = None;
            svc.shutdown().await;
        }
        active = wanted;
        status.set(Vec::new());
        status.restarted();
        if active.is_empty() {
            continue;
        }
        let specs: Vec<SessionSpec> = active.iter().map(|w| w.spec.clone()).collect();
        match Service::start(cfg.clone(), specs) {
            Ok(svc) => {
                let names: Vec<String> = active
                    .iter()
                    .map(|w| format!("{} on port {}", w.spec.image, w.spec.port))
                    .collect();
                let msg = format!(
                    "multicast sessions on {}: {}",
                    cfg.interface,
                    names.join(", ")
                );
                tracing::info!("{msg}");
                let _ = store.record("multicast.sessions", msg);
                events = Some(svc.subscribe());
                status.set(svc.status());
                service = Some(svc);
                retry_at = None;
            }
            Err(e) => {
                let msg = format!("cannot start the multicast sessions: {e}");
                tracing::warn!("{msg}");
                let _ = store.record("multicast.error", msg);
                retry_at = Some(tokio::time::Instant::now() + RETRY);
            }
        }
    }
    if let Some(svc) = service {
        svc.shutdown().await;
    }
    status.set(Vec::new());
    Ok(())
}

/// A session `multicast.list` asks for, with the identity of its image
/// file: a new version (promoted by rename) is a new file, and the session
/// must reopen it rather than send the old bytes it holds open.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Wanted {
    spec: SessionSpec,
    /// (device, inode, length, mtime) of the image file.
    file: Option<(u64, u64, u64, i64)>,
}

/// The sessions `multicast.list` asks for; images it names that are not on
/// disk are left out (and named in the log once per change).
fn wanted_sessions(list_path: &Path, linbo: &Path) -> Result<Vec<Wanted>, String> {
    use std::os::unix::fs::MetadataExt as _;
    Ok(session_specs(list_path, linbo)?
        .into_iter()
        .map(|spec| {
            let file = std::fs::metadata(&spec.path)
                .ok()
                .map(|m| (m.dev(), m.ino(), m.len(), m.mtime()));
            Wanted { spec, file }
        })
        .collect())
}

fn session_specs(list_path: &Path, linbo: &Path) -> Result<Vec<SessionSpec>, String> {
    let text = match std::fs::read_to_string(list_path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(format!("cannot read {}: {e}", list_path.display())),
    };
    let list = MulticastList::parse(&text)
        .map_err(|e| format!("{} is invalid: {e}", list_path.display()))?;
    let (specs, missing) = sessions_from_list(&list, |name| image_path(linbo, name));
    if !missing.is_empty() {
        tracing::debug!(missing = ?missing, "multicast.list names images not on disk");
    }
    Ok(specs)
}

/// `<linbo>/images/<base>/<file>` for an image file name (`win10.qcow2`
/// lives in `images/win10/`), if it exists.
fn image_path(linbo: &Path, file: &str) -> Option<PathBuf> {
    bootbox_linbo::multicast::check_image_name(file).ok()?;
    let path = linbo
        .join("images")
        .join(super::transfers::image_base(file))
        .join(file);
    path.is_file().then_some(path)
}

async fn next_event(rx: &mut Option<broadcast::Receiver<SessionEvent>>) -> Option<SessionEvent> {
    let Some(r) = rx else {
        return std::future::pending().await;
    };
    match r.recv().await {
        Ok(ev) => Some(ev),
        Err(broadcast::error::RecvError::Lagged(n)) => {
            tracing::warn!(lost = n, "multicast events lost");
            None
        }
        Err(broadcast::error::RecvError::Closed) => {
            *rx = None;
            None
        }
    }
}

/// Writes the events an admin cares about into the event log (and thereby
/// the UI's live stream); per-receiver chatter stays in the status.
fn log_event(store: &Store, ev: &SessionEvent) {
    let Some((action, msg)) = describe(ev) else {
        return;
    };
    tracing::info!(image = %ev.image, port = ev.port, "{msg}");
    let _ = store.record(action, msg);
}

fn describe(ev: &SessionEvent) -> Option<(&'static str, String)> {
    let image = &ev.image;
    Some(match &ev.event {
        Event::TransferStarted { receivers, reason } => (
            "multicast.start",
            format!(
                "multicast of {image} started for {receivers} PC(s) ({})",
                match reason {
                    bootbox_udpcast::StartReason::MinClients => "enough PCs".to_string(),
                    bootbox_udpcast::StartReason::MaxWait => "waited long enough".to_string(),
                    bootbox_udpcast::StartReason::Go { ip } => format!("started on {ip}"),
                }
            ),
        ),
        Event::ReceiverDropped {
            ip, reason, bytes, ..
        } => (
            "multicast.dropped",
            format!(
                "multicast of {image}: {ip} dropped after {} MB ({}); it falls back to HTTP/BitTorrent",
                bytes / 1_000_000,
                match reason {
                    DropReason::Slow { held_back_ms } => format!(
                        "too slow, held the room back {:.1} s",
                        *held_back_ms as f64 / 1000.0
                    ),
                    DropReason::Timeout { silent_ms } => format!(
                        "stopped answering for {:.1} s",
                        *silent_ms as f64 / 1000.0
                    ),
                    DropReason::Disconnected => "aborted on the PC".to_string(),
                }
            ),
        ),
        Event::TransferFinished {
            outcome,
            finished,
            failed,
            seconds,
            bytes,
            ..
        } => (
            "multicast.finished",
            format!(
                "multicast of {image} ended ({}): {finished} PC(s) complete, {failed} dropped, {} MB in {seconds:.0} s",
                match outcome {
                    Outcome::Complete => "complete".to_string(),
                    Outcome::NoReceivers => "no PC left".to_string(),
                    Outcome::SourceFailed { message } => format!("image unreadable: {message}"),
                    Outcome::Shutdown => "service stopping".to_string(),
                },
                bytes / 1_000_000
            ),
        ),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_resolves_only_existing_images() {
        let dir = tempfile::tempdir().expect("tempdir");
        let linbo = dir.path();
        std::fs::create_dir_all(linbo.join("images/win10")).expect("mkdir");
        std::fs::write(linbo.join("images/win10/win10.qcow2"), b"x").expect("write");
        std::fs::write(
            linbo.join("multicast.list"),
            "win10.qcow2 10.0.0.1:9000\nubuntu.qcow2 10.0.0.1:9002\n",
        )
        .expect("write");
        let specs = session_specs(&linbo.join("multicast.list"), linbo).expect("parses");
        assert_eq!(specs.len(), 1);
        assert_eq!(specs[0].image, "win10.qcow2");
        assert_eq!(specs[0].port, 9000);
        assert!(specs[0].path.ends_with("images/win10/win10.qcow2"));
    }

    #[test]
    fn missing_list_means_no_sessions_and_bad_list_is_an_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("multicast.list");
        assert_eq!(wanted_sessions(&path, dir.path()), Ok(Vec::new()));
        assert_eq!(session_specs(&path, dir.path()), Ok(Vec::new()));
        std::fs::write(&path, "win10.qcow2 nonsense\n").expect("write");
        let err = session_specs(&path, dir.path()).expect_err("invalid");
        assert!(err.contains("multicast.list is invalid"), "{err}");
    }

    #[test]
    fn a_replaced_image_is_a_different_session() {
        let dir = tempfile::tempdir().expect("tempdir");
        let linbo = dir.path();
        std::fs::create_dir_all(linbo.join("images/win10")).expect("mkdir");
        let image = linbo.join("images/win10/win10.qcow2");
        std::fs::write(&image, b"v1").expect("write");
        let list = linbo.join("multicast.list");
        std::fs::write(&list, "win10.qcow2 10.0.0.1:9000\n").expect("write");
        let before = wanted_sessions(&list, linbo).expect("parses");
        assert_eq!(before, wanted_sessions(&list, linbo).expect("parses"));
        // Promotion renames the new version over the old one.
        let next = linbo.join("images/win10/next");
        std::fs::write(&next, b"v2").expect("write");
        std::fs::rename(&next, &image).expect("rename");
        let after = wanted_sessions(&list, linbo).expect("parses");
        assert_eq!(before[0].spec, after[0].spec);
        assert_ne!(
            before, after,
            "the session must be restarted for the new file"
        );
    }

    #[test]
    fn traversal_in_list_names_is_not_resolved() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert_eq!(image_path(dir.path(), "../../etc/passwd"), None);
        assert_eq!(image_path(dir.path(), "a/b.qcow2"), None);
    }
}
