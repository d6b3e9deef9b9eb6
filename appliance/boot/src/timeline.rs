//! The per-MAC boot timeline: protocol servers report what they did, a
//! background task writes it to the store in batches, and
//! [`hints`] explains a stalled boot in plain words.
//!
//! Reporting never blocks a protocol server: events go into a bounded
//! channel and are dropped (with a counter) if the writer falls behind.

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bootbox_linbo::MacAddr;
use bootbox_store::{now_ms, BootEvent, Store};
use tokio::sync::mpsc;

/// How many unwritten events may queue before new ones are dropped.
const QUEUE: usize = 4096;
/// How many IP → MAC associations are remembered.
const IP_TABLE_MAX: usize = 16_384;

/// Cheap, cloneable handle the protocol servers report through.
#[derive(Clone)]
pub struct Recorder {
    tx: mpsc::Sender<(MacAddr, BootEvent)>,
    ip_to_mac: Arc<Mutex<HashMap<Ipv4Addr, MacAddr>>>,
    dropped: Arc<AtomicU64>,
}

impl Recorder {
    /// Starts the writer task on the current tokio runtime. It flushes
    /// every `flush_every` (durable commit) and when all recorders are gone.
    pub fn start(store: Arc<Store>, flush_every: Duration) -> Self {
        let (tx, rx) = mpsc::channel(QUEUE);
        tokio::spawn(writer(store, rx, flush_every));
        Self {
            tx,
            ip_to_mac: Arc::default(),
            dropped: Arc::default(),
        }
    }

    /// Records one step for `mac`.
    pub fn record(&self, mac: MacAddr, source: &str, step: &str, detail: impl Into<String>) {
        let ev = BootEvent {
            time_ms: now_ms(),
            source: source.to_string(),
            step: step.to_string(),
            detail: detail.into(),
        };
        if self.tx.try_send((mac, ev)).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Records a step for whatever MAC was last seen with `ip` (TFTP and
    /// HTTP only know the client's address). Unknown addresses are skipped.
    pub fn record_ip(&self, ip: Ipv4Addr, source: &str, step: &str, detail: impl Into<String>) {
        if let Some(mac) = self.mac_of(ip) {
            self.record(mac, source, step, detail);
        }
    }

    /// Remembers that `ip` belongs to `mac` (learned from DHCP or from an
    /// iPXE script request carrying `mac=`).
    pub fn learn_ip(&self, ip: Ipv4Addr, mac: MacAddr) {
        if let Ok(mut t) = self.ip_to_mac.lock() {
            if t.len() >= IP_TABLE_MAX && !t.contains_key(&ip) {
                t.clear();
            }
            t.insert(ip, mac);
        }
    }

    /// The MAC last seen with `ip`.
    pub fn mac_of(&self, ip: Ipv4Addr) -> Option<MacAddr> {
        self.ip_to_mac.lock().ok().and_then(|t| t.get(&ip).copied())
    }

    /// Events dropped because the writer fell behind.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

async fn writer(
    store: Arc<Store>,
    mut rx: mpsc::Receiver<(MacAddr, BootEvent)>,
    flush_every: Duration,
) {
    let mut tick = tokio::time::interval(flush_every);
    tick.tick().await;
    let mut dirty = false;
    loop {
        tokio::select! {
            first = rx.recv() => {
                let Some(first) = first else { break };
                let mut batch = vec![first];
                while batch.len() < 512 {
                    match rx.try_recv() {
                        Ok(ev) => batch.push(ev),
                        Err(_) => break,
                    }
                }
                let s = store.clone();
                match tokio::task::spawn_blocking(move || s.append_boot_events(&batch)).await {
                    Ok(Ok(())) => dirty = true,
                    Ok(Err(e)) => tracing::warn!(error = %e, "cannot write boot timeline"),
                    Err(e) => tracing::warn!(error = %e, "boot timeline writer failed"),
                }
            }
            _ = tick.tick(), if dirty => {
                let s = store.clone();
                if let Ok(Err(e)) = tokio::task::spawn_blocking(move || s.flush()).await {
                    tracing::warn!(error = %e, "cannot flush boot timeline");
                }
                dirty = false;
            }
        }
    }
    let _ = tokio::task::spawn_blocking(move || store.flush()).await;
}

/// Plain-language explanations of where a boot stopped, newest situation
/// first. Empty when the timeline looks complete (or is empty).
pub fn hints(events: &[BootEvent]) -> Vec<String> {
    let mut out = Vec::new();
    let Some(last) = events.last() else {
        out.push("No boot activity seen from this PC. Is network boot (PXE) enabled in its firmware, and is it on the same network segment as the box?".into());
        return out;
    };
    let step = |s: &str| events.iter().rposition(|e| e.step == s);
    let after = |a: Option<usize>, b: Option<usize>| matches!((a, b), (Some(a), Some(b)) if b > a);
    let offer = step("offer").max(step("ack"));
    let tftp = step("tftp.done").max(step("tftp.start"));
    let script = step("script");
    let kernel = step("file");
    let booted = step("booted");
    match last.step.as_str() {
        "ignored" => out.push(format!("The box deliberately did not answer: {}.", last.detail)),
        "offer" | "ack" if last.detail.contains(".kpxe") || last.detail.contains(".efi") => out.push(
            "ProxyDHCP offer sent, no TFTP request followed. The PC may not have got an address from the school's DHCP server, or UDP port 69 to the box is blocked.".into(),
        ),
        "offer" | "ack" => out.push("ProxyDHCP answer sent, but the PC did not ask for its boot script. Check that TCP port 80/8080 of the box is reachable from the PC's network.".into()),
        "tftp.aborted" => out.push(format!("The TFTP download was aborted ({}). If this repeats, the PC's firmware may not accept the boot file; try the other iPXE build (ipxe.efi instead of snponly.efi).", last.detail)),
        "tftp.done" => out.push("The iPXE program was downloaded, but it did not come back for its script. iPXE may have failed to get an address a second time.".into()),
        "script" => out.push("The boot script was sent, but the PC did not download a kernel. The script may have told it to boot locally, or the kernel file is missing.".into()),
        "file" if booted.is_none() || !after(kernel, booted) => out.push("Kernel and initrd were downloaded, but the system did not report back yet. It may still be starting, or it stopped early (check its screen).".into()),
        _ => {}
    }
    if offer.is_some()
        && tftp.is_none()
        && script.is_none()
        && !out.iter().any(|h| h.contains("TFTP"))
        && last.step != "ignored"
    {
        out.push("No TFTP or HTTP request was seen after the DHCP answer.".into());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(step: &str, detail: &str) -> BootEvent {
        BootEvent {
            time_ms: 0,
            source: "x".into(),
            step: step.into(),
            detail: detail.into(),
        }
    }

    #[test]
    fn hints_name_the_missing_step() {
        assert!(hints(&[])[0].contains("No boot activity"));
        let h = hints(&[ev("offer", "boot/ipxe/snponly.efi")]);
        assert!(h[0].contains("no TFTP request followed"), "{h:?}");
        let h = hints(&[ev("offer", "x.efi"), ev("tftp.done", "snponly.efi")]);
        assert!(h[0].contains("did not come back"), "{h:?}");
        let h = hints(&[
            ev("offer", "http://x/boot.ipxe"),
            ev("script", "linbo"),
            ev("file", "linbo64"),
        ]);
        assert!(h[0].contains("did not report back"), "{h:?}");
        let h = hints(&[
            ev("offer", "u"),
            ev("script", "linbo"),
            ev("file", "linbo64"),
            ev("booted", ""),
        ]);
        assert!(h.is_empty(), "{h:?}");
        let h = hints(&[ev("ignored", "PXE flag 0")]);
        assert!(h[0].contains("PXE flag 0"), "{h:?}");
    }

    #[tokio::test]
    async fn recorder_writes_to_the_store() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Arc::new(Store::open(dir.path().join("t.redb")).expect("store"));
        let rec = Recorder::start(store.clone(), Duration::from_millis(20));
        let mac = MacAddr([2, 0, 0, 0, 0, 1]);
        rec.learn_ip(Ipv4Addr::new(10, 0, 0, 9), mac);
        rec.record(mac, "dhcp", "offer", "snponly.efi");
        rec.record_ip(
            Ipv4Addr::new(10, 0, 0, 9),
            "tftp",
            "tftp.done",
            "snponly.efi",
        );
        rec.record_ip(
            Ipv4Addr::new(10, 0, 0, 99),
            "tftp",
            "tftp.done",
            "unknown ip: skipped",
        );
        for _ in 0..200 {
            if store.timeline(mac, 10).expect("timeline").len() == 2 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let steps: Vec<String> = store
            .timeline(mac, 10)
            .expect("timeline")
            .into_iter()
            .map(|e| e.step)
            .collect();
        assert_eq!(steps, vec!["offer", "tftp.done"]);
        assert_eq!(rec.dropped(), 0);
    }
}
