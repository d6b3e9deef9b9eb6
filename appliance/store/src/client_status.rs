//! What LINBO clients last reported about themselves (schema version 8):
//! per host, the last image sync from `image.status` and the last failure
//! found in `linbo.log`.
//!
//! ## Merge rules
//!
//! A report never erases what an earlier one said about the other half:
//! - an `image.status` sets [`ClientStatus::last_sync`] and leaves
//!   [`ClientStatus::last_error`] alone: a later successful sync does not
//!   silently clear the failure. [`ClientStatus::failing`] tells whether
//!   the failure is newer than the last sync (the host's last word was a
//!   failure) or older (it has synced since);
//! - a `linbo.log` with failure lines sets `last_error` to its last one.
//!   LINBO's log grows through a session and is pulled whole every time,
//!   so a log whose last failure is the stored message again does not
//!   refresh the error (its time stays that of the first report);
//! - a `linbo.log` without failures only sets [`ClientStatus::last_log_ms`];
//! - an `image.status` that does not parse is a failure of its own.
//!
//! An administrator can dismiss a failure ([`Store::clear_client_error`]).
//! The status follows its host: renaming moves it, removing the host (by
//! the API or a replacing import) removes it.

use redb::{ReadableDatabase, TableDefinition, WriteTransaction};
use serde::{Deserialize, Serialize};

use crate::codec::Json;
use crate::model::Event;
use crate::store::append_event;
use crate::{tables, Result, Store, StoreError};

/// Client status by hostname. Since version 8.
pub const CLIENT_STATUS: TableDefinition<&str, Json<ClientStatus>> =
    TableDefinition::new("client_status");

impl crate::codec::Stored for ClientStatus {
    const NAME: &'static str = "bootbox.client_status";
}

/// Longest failure message kept (characters).
const MAX_MESSAGE: usize = 300;

/// What the client last did with an image (`image.status`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SyncKind {
    /// The image was restored onto the PC.
    #[default]
    Applied,
    /// The image was created on the PC.
    Created,
}

/// The last `image.status` a client reported.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct LastSync {
    /// Restored or created.
    pub kind: SyncKind,
    /// Image file name, e.g. `win11.qcow2`.
    pub image: String,
    /// The image version's timestamp (`YYYYMMDDHHMM`), if the client named it.
    pub version: Option<String>,
    /// When it happened by the client's clock (`YYYYMMDDHHMM`).
    pub when: String,
    /// When the box received the report (ms since the Unix epoch).
    pub reported_ms: u64,
}

/// The last failure a client reported.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct LastError {
    /// The failure line (at most 300 characters).
    pub message: String,
    /// When the box first received this failure (ms since the Unix epoch).
    pub at_ms: u64,
    /// Which file reported it (`linbo.log`, `image.status`).
    pub source: String,
}

/// What the box knows about one host's LINBO client.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ClientStatus {
    /// The host.
    pub hostname: String,
    /// Time of the newest report of any kind (ms since the Unix epoch).
    pub updated_ms: u64,
    /// The last image restored or created.
    pub last_sync: Option<LastSync>,
    /// The last failure (kept after later successful syncs; see
    /// [`ClientStatus::failing`]).
    pub last_error: Option<LastError>,
    /// When the last `linbo.log` arrived.
    pub last_log_ms: Option<u64>,
}

impl ClientStatus {
    /// True when the host's newest word is a failure: there is a last
    /// error and no sync was reported after it.
    pub fn failing(&self) -> bool {
        match (&self.last_error, &self.last_sync) {
            (None, _) => false,
            (Some(_), None) => true,
            (Some(e), Some(s)) => e.at_ms >= s.reported_ms,
        }
    }
}

/// One report pulled from a client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientReport {
    /// A readable `image.status`.
    Sync {
        /// Restored or created.
        kind: SyncKind,
        /// Image file name.
        image: String,
        /// Image version timestamp.
        version: Option<String>,
        /// Client clock, `YYYYMMDDHHMM`.
        when: String,
    },
    /// A `linbo.log`, with its last failure line if it has one.
    Log {
        /// The last failure line, if any.
        failure: Option<String>,
    },
    /// An `image.status` that does not parse.
    BadStatus {
        /// Why it does not parse.
        reason: String,
    },
}

/// What [`Store::record_client_report`] changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportOutcome {
    /// The status after the report.
    pub status: ClientStatus,
    /// True when the report set a failure that differs from the stored one
    /// (the moment to notify someone).
    pub new_failure: bool,
}

fn clip(s: &str) -> String {
    s.trim().chars().take(MAX_MESSAGE).collect()
}

impl Store {
    /// The client status of `hostname`, if it ever reported.
    pub fn client_status(&self, hostname: &str) -> Result<Option<ClientStatus>> {
        let txn = self.db().begin_read()?;
        tables::get(&txn.open_table(CLIENT_STATUS)?, "client_status", hostname)
    }

    /// The client status of every host that reported, by hostname.
    pub fn client_statuses(&self) -> Result<Vec<ClientStatus>> {
        let txn = self.db().begin_read()?;
        tables::all(&txn.open_table(CLIENT_STATUS)?, "client_status")
    }

    /// Merges one report of the registered host `hostname`, received at
    /// `now_ms`, into its status (rules in the [module docs](self)).
    pub fn record_client_report(
        &self,
        hostname: &str,
        report: ClientReport,
        now_ms: u64,
    ) -> Result<ReportOutcome> {
        let txn = self.db().begin_write()?;
        if tables::get(&txn.open_table(crate::schema::HOSTS)?, "hosts", hostname)?.is_none() {
            return Err(StoreError::NotFound {
                kind: "host",
                name: hostname.to_string(),
            });
        }
        let mut t = txn.open_table(CLIENT_STATUS)?;
        let mut status = tables::get(&t, "client_status", hostname)?.unwrap_or_default();
        status.hostname = hostname.to_string();
        status.updated_ms = now_ms;
        let mut failure = None;
        match report {
            ClientReport::Sync {
                kind,
                image,
                version,
                when,
            } => {
                status.last_sync = Some(LastSync {
                    kind,
                    image,
                    version,
                    when,
                    reported_ms: now_ms,
                });
            }
            ClientReport::Log { failure: f } => {
                status.last_log_ms = Some(now_ms);
                failure = f.map(|m| (clip(&m), "linbo.log"));
            }
            ClientReport::BadStatus { reason } => {
                failure = Some((
                    clip(&format!("unreadable image.status: {reason}")),
                    "image.status",
                ));
            }
        }
        let mut new_failure = false;
        if let Some((message, source)) = failure {
            let same = status
                .last_error
                .as_ref()
                .is_some_and(|e| e.message == message);
            if !same {
                status.last_error = Some(LastError {
                    message,
                    at_ms: now_ms,
                    source: source.to_string(),
                });
                new_failure = true;
            }
        }
        tables::put(&mut t, hostname, status.clone())?;
        drop(t);
        txn.commit()?;
        Ok(ReportOutcome {
            status,
            new_failure,
        })
    }

    /// Dismisses the last failure of `hostname` (an admin has seen to it).
    /// Returns false when there was none.
    pub fn clear_client_error(&self, hostname: &str, actor: &str) -> Result<bool> {
        let txn = self.db().begin_write()?;
        let mut t = txn.open_table(CLIENT_STATUS)?;
        let Some(mut status) = tables::get(&t, "client_status", hostname)? else {
            return Ok(false);
        };
        let Some(old) = status.last_error.take() else {
            return Ok(false);
        };
        tables::put(&mut t, hostname, status)?;
        drop(t);
        append_event(
            &txn,
            Event::audit(
                actor,
                "client.error.clear",
                format!("failure of {hostname} dismissed: {}", old.message),
            ),
        )?;
        txn.commit()?;
        Ok(true)
    }
}

/// Removes the status of a removed host.
pub(crate) fn drop_status(txn: &WriteTransaction, hostname: &str) -> Result<()> {
    txn.open_table(CLIENT_STATUS)?.remove(hostname)?;
    Ok(())
}

/// Moves the status of a renamed host.
pub(crate) fn move_status(txn: &WriteTransaction, from: &str, to: &str) -> Result<()> {
    if from == to {
        return Ok(());
    }
    let mut t = txn.open_table(CLIENT_STATUS)?;
    let status = tables::get(&t, "client_status", from)?;
    t.remove(from)?;
    if let Some(mut s) = status {
        s.hostname = to.to_string();
        tables::put(&mut t, to, s)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store_with_host() -> (tempfile::TempDir, Store) {
        let d = tempfile::tempdir().expect("tmp");
        let s = Store::open(d.path().join("s.redb")).expect("open");
        let host = bootbox_linbo::devices::parse("r1;pc01;g1;00:00:00:00:00:01;DHCP;;;;;;1")
            .expect("row")
            .records
            .remove(0);
        s.add_host(host, "t").expect("add");
        (d, s)
    }

    fn sync(image: &str) -> ClientReport {
        ClientReport::Sync {
            kind: SyncKind::Applied,
            image: image.into(),
            version: Some("202611201200".into()),
            when: "202611221830".into(),
        }
    }

    fn log(f: Option<&str>) -> ClientReport {
        ClientReport::Log {
            failure: f.map(str::to_string),
        }
    }

    #[test]
    fn reports_merge_and_a_later_sync_keeps_the_error() {
        let (_d, s) = store_with_host();
        assert_eq!(s.client_status("pc01").expect("get"), None);
        let o = s
            .record_client_report("pc01", sync("win11.qcow2"), 1000)
            .expect("sync");
        assert!(!o.new_failure);
        assert!(!o.status.failing());
        let o = s
            .record_client_report("pc01", log(Some("rsync error: disk full")), 2000)
            .expect("log");
        assert!(o.new_failure);
        assert!(o.status.failing());
        let st = s.client_status("pc01").expect("get").expect("status");
        assert_eq!(st.last_sync.as_ref().expect("sync").image, "win11.qcow2");
        assert_eq!(st.last_error.as_ref().expect("error").at_ms, 2000);
        assert_eq!(st.last_log_ms, Some(2000));

        // The same log again (pulled whole) does not refresh the error.
        let o = s
            .record_client_report("pc01", log(Some("rsync error: disk full")), 3000)
            .expect("again");
        assert!(!o.new_failure);
        assert_eq!(o.status.last_error.as_ref().expect("e").at_ms, 2000);
        assert_eq!(o.status.last_log_ms, Some(3000));

        // A later sync: the error stays, but is older than the sync.
        let o = s
            .record_client_report("pc01", sync("ubuntu.qcow2"), 4000)
            .expect("sync");
        assert!(!o.status.failing());
        assert_eq!(
            o.status.last_error.as_ref().expect("kept").message,
            "rsync error: disk full"
        );
        // A log without failures changes nothing but its time.
        let o = s
            .record_client_report("pc01", log(None), 5000)
            .expect("clean");
        assert!(!o.new_failure && !o.status.failing());
        assert_eq!(o.status.updated_ms, 5000);

        // A different failure is new again; an unreadable status too.
        let o = s
            .record_client_report(
                "pc01",
                ClientReport::BadStatus {
                    reason: "names no image".into(),
                },
                6000,
            )
            .expect("bad");
        assert!(o.new_failure && o.status.failing());
        let e = o.status.last_error.expect("e");
        assert_eq!(e.source, "image.status");
        assert!(e.message.contains("names no image"));

        assert!(s.clear_client_error("pc01", "t").expect("clear"));
        assert!(!s.clear_client_error("pc01", "t").expect("again"));
        let st = s.client_status("pc01").expect("get").expect("status");
        assert_eq!(st.last_error, None);
        assert_eq!(st.last_sync.expect("kept").image, "ubuntu.qcow2");
        assert_eq!(s.client_statuses().expect("all").len(), 1);
    }

    #[test]
    fn unknown_hosts_and_long_messages() {
        let (_d, s) = store_with_host();
        assert!(matches!(
            s.record_client_report("nope", log(Some("x failed")), 1),
            Err(StoreError::NotFound { .. })
        ));
        let long = "error ".repeat(200);
        let o = s
            .record_client_report("pc01", log(Some(&long)), 1)
            .expect("log");
        assert_eq!(
            o.status.last_error.expect("e").message.chars().count(),
            MAX_MESSAGE
        );
    }

    #[test]
    fn status_follows_rename_and_removal() {
        let (_d, s) = store_with_host();
        s.record_client_report("pc01", log(Some("failed")), 1)
            .expect("log");
        let mut h = s.host("pc01").expect("get").expect("host");
        h.hostname = "pc02".into();
        s.update_host("pc01", h.clone(), "t").expect("rename");
        assert_eq!(s.client_status("pc01").expect("old"), None);
        let moved = s.client_status("pc02").expect("new").expect("moved");
        assert_eq!(moved.hostname, "pc02");
        // An update that keeps the name keeps the status.
        h.room = "r2".into();
        s.update_host("pc02", h, "t").expect("update");
        assert!(s.client_status("pc02").expect("get").is_some());
        s.remove_host("pc02", "t").expect("remove");
        assert_eq!(s.client_status("pc02").expect("gone"), None);
    }

    #[test]
    fn migrates_a_version_7_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("t.redb");
        {
            let store = Store::open(&path).expect("store");
            let host = bootbox_linbo::devices::parse("r1;pc01;g1;00:00:00:00:00:01;DHCP;;;;;;1")
                .expect("row")
                .records
                .remove(0);
            store.add_host(host, "t").expect("add");
            let txn = store.db().begin_write().expect("txn");
            txn.delete_table(CLIENT_STATUS).expect("drop status");
            txn.open_table(crate::schema::META)
                .expect("meta")
                .insert(crate::schema::VERSION_KEY, 7u64)
                .expect("version");
            txn.commit().expect("commit");
            let r = store.db().begin_read().expect("read");
            assert!(r.open_table(CLIENT_STATUS).is_err(), "v7 had no status");
        }
        let store = Store::open(&path).expect("reopen");
        assert_eq!(
            store.schema_version().expect("v"),
            crate::schema::SCHEMA_VERSION
        );
        assert!(store.host("pc01").expect("get").is_some());
        assert!(store.client_statuses().expect("all").is_empty());
        store
            .record_client_report("pc01", log(Some("failed")), 1)
            .expect("report");
        // Removing a host works on the migrated file.
        store.remove_host("pc01", "t").expect("remove");
    }
}
