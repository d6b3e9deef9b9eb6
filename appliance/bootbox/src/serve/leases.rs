//! Full-DHCP leases persisted in `<data>/dhcp-leases.json`, so a restart
//! does not hand a PC's address to another one.
//!
//! The DHCP engine calls [`FileLeases`] under its lock after every change;
//! it only swaps the newest snapshot into a watch channel, and a background
//! task writes the file (temp file + rename: old or new, never half).

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::time::{Duration, UNIX_EPOCH};

use bootbox_proxydhcp::{Lease, LeaseStore, Mac};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

#[derive(Debug, Serialize, Deserialize)]
struct Record {
    mac: String,
    ip: Ipv4Addr,
    hostname: Option<String>,
    expires_unix: u64,
}

/// Reads the leases file; a missing or damaged file gives no leases (and a
/// warning), never a failed start.
pub fn load(path: &Path) -> Vec<Lease> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return Vec::new();
    };
    let records: Vec<Record> = match serde_json::from_str(&text) {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(file = %path.display(), error = %e, "ignoring damaged DHCP leases file");
            return Vec::new();
        }
    };
    records
        .into_iter()
        .filter_map(|r| {
            let mac: bootbox_linbo::MacAddr = r.mac.parse().ok()?;
            Some(Lease {
                mac: Mac(mac.octets()),
                ip: r.ip,
                hostname: r.hostname,
                expires: UNIX_EPOCH + Duration::from_secs(r.expires_unix),
            })
        })
        .collect()
}

/// Lease persistence for the DHCP engine.
pub struct FileLeases {
    tx: watch::Sender<Vec<Record>>,
}

impl FileLeases {
    /// Starts the writer task for `path` on the current runtime.
    pub fn start(path: PathBuf) -> Self {
        let (tx, mut rx) = watch::channel(Vec::new());
        tokio::spawn(async move {
            while rx.changed().await.is_ok() {
                let json = match serde_json::to_vec_pretty(&*rx.borrow_and_update()) {
                    Ok(j) => j,
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot encode DHCP leases");
                        continue;
                    }
                };
                let p = path.clone();
                let written =
                    tokio::task::spawn_blocking(move || crate::commands::write_atomic(&p, &json))
                        .await;
                if let Ok(Err(e)) = written {
                    tracing::warn!(error = %e, "cannot save DHCP leases");
                }
            }
        });
        Self { tx }
    }
}

impl LeaseStore for FileLeases {
    fn snapshot(&self, leases: &[Lease]) {
        let records = leases
            .iter()
            .map(|l| Record {
                mac: bootbox_linbo::MacAddr(l.mac.octets()).to_string(),
                ip: l.ip,
                hostname: l.hostname.clone(),
                expires_unix: l
                    .expires
                    .duration_since(UNIX_EPOCH)
                    .map(|d| d.as_secs())
                    .unwrap_or(0),
            })
            .collect();
        self.tx.send_replace(records);
    }
}
