//! Web UI sign-in sessions, so a restart does not sign admins out.
//!
//! Keys are the SHA-256 (hex) of the session id: the database never holds
//! a usable cookie value. The table is created by its first write;
//! readers treat a missing table as empty, so databases of any earlier
//! schema version work unchanged (no migration needed, a downgrade just
//! ignores the table).

use redb::{ReadableDatabase, ReadableTable, TableDefinition, TableError};
use serde::{Deserialize, Serialize};

use crate::codec::{Json, Stored};
use crate::{tables, Result, Store};

/// Sessions by SHA-256 hex of the session id.
pub const WEB_SESSIONS: TableDefinition<&str, Json<WebSession>> =
    TableDefinition::new("web_sessions");

/// One signed-in browser (never the session id itself).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebSession {
    /// Account name.
    pub user: String,
    /// CSRF token of the session.
    pub csrf: String,
    /// Sign-in time (ms since epoch).
    pub created_ms: u64,
    /// Last request seen (ms since epoch; kept with about a minute's
    /// accuracy to spare the disk).
    pub last_seen_ms: u64,
}

impl Stored for WebSession {
    const NAME: &'static str = "bootbox.web_session";
}

impl Store {
    /// Stores (or refreshes) a session under the hash of its id.
    pub fn put_web_session(&self, id_hash: &str, s: &WebSession) -> Result<()> {
        let txn = self.db().begin_write()?;
        tables::put(&mut txn.open_table(WEB_SESSIONS)?, id_hash, s.clone())?;
        txn.commit()?;
        Ok(())
    }

    /// The session stored under `id_hash`.
    pub fn web_session(&self, id_hash: &str) -> Result<Option<WebSession>> {
        let txn = self.db().begin_read()?;
        match txn.open_table(WEB_SESSIONS) {
            Ok(t) => tables::get(&t, "web_sessions", id_hash),
            Err(TableError::TableDoesNotExist(_)) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// All stored sessions with their key (hash).
    pub fn web_sessions(&self) -> Result<Vec<(String, WebSession)>> {
        let txn = self.db().begin_read()?;
        let t = match txn.open_table(WEB_SESSIONS) {
            Ok(t) => t,
            Err(TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
            Err(e) => return Err(e.into()),
        };
        let keys: Vec<String> = t
            .iter()?
            .filter_map(|e| e.ok().map(|(k, _)| k.value().to_string()))
            .collect();
        let mut out = Vec::with_capacity(keys.len());
        for k in keys {
            if let Some(s) = tables::get(&t, "web_sessions", &k)? {
                out.push((k, s));
            }
        }
        Ok(out)
    }

    /// Removes the sessions for which `remove` is true; returns their keys.
    pub fn remove_web_sessions(
        &self,
        remove: impl Fn(&str, &WebSession) -> bool,
    ) -> Result<Vec<String>> {
        let doomed: Vec<String> = self
            .web_sessions()?
            .into_iter()
            .filter(|(k, s)| remove(k, s))
            .map(|(k, _)| k)
            .collect();
        if doomed.is_empty() {
            return Ok(doomed);
        }
        let txn = self.db().begin_write()?;
        {
            let mut t = txn.open_table(WEB_SESSIONS)?;
            for k in &doomed {
                t.remove(k.as_str())?;
            }
        }
        txn.commit()?;
        Ok(doomed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_survive_reopen_and_can_be_removed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("s.redb");
        {
            let store = Store::open(&path).expect("open");
            assert_eq!(store.web_session("h1").expect("read"), None, "no table yet");
            assert!(store.web_sessions().expect("list").is_empty());
            let s = WebSession {
                user: "admin".into(),
                csrf: "c".into(),
                created_ms: 1,
                last_seen_ms: 2,
            };
            store.put_web_session("h1", &s).expect("put");
            store.put_web_session("h2", &s).expect("put");
        }
        let store = Store::open(&path).expect("reopen");
        assert_eq!(store.web_sessions().expect("list").len(), 2);
        assert_eq!(
            store.remove_web_sessions(|k, _| k == "h1").expect("remove"),
            vec!["h1".to_string()]
        );
        assert!(store.web_session("h1").expect("read").is_none());
        assert_eq!(
            store.web_session("h2").expect("read").map(|s| s.user),
            Some("admin".into())
        );
    }
}
