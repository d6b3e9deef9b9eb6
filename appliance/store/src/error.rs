//! Errors of the store, phrased for the admin who caused them.

/// Everything that can go wrong in a store operation.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A unique field (hostname, MAC, IP) is already taken.
    #[error("{field} {value} is already used by host {holder}")]
    Conflict {
        /// `hostname`, `MAC` or `IP`.
        field: &'static str,
        /// The contested value.
        value: String,
        /// The host that already has it.
        holder: String,
    },
    /// The named object does not exist.
    #[error("{kind} '{name}' does not exist")]
    NotFound {
        /// `host`, `room`, `group`, `image`.
        kind: &'static str,
        /// What was asked for.
        name: String,
    },
    /// The request is not valid (bad name, bad start.conf, …).
    #[error("{0}")]
    Invalid(String),
    /// An import would break uniqueness; nothing was changed.
    #[error("import refused, nothing was changed:\n  {}", .0.join("\n  "))]
    ImportConflicts(Vec<String>),
    /// The database file is used by another process.
    #[error("the database {path} is open in another bootbox process; stop it first (or use its web UI/API)")]
    InUse {
        /// Path of the database file.
        path: String,
    },
    /// The database was written by a newer bootbox.
    #[error("the database has schema version {found}, this bootbox understands up to {supported}; install a newer bootbox")]
    TooNew {
        /// Version in the file.
        found: u64,
        /// Newest version this build knows.
        supported: u64,
    },
    /// A stored value no longer decodes.
    #[error("stored {table} entry '{key}' is damaged: {reason}")]
    Corrupt {
        /// Table name.
        table: &'static str,
        /// Key of the damaged entry.
        key: String,
        /// Decoder message.
        reason: String,
    },
    /// Error from redb (I/O, corruption, …).
    #[error("database error: {0}")]
    Db(#[from] redb::Error),
}

macro_rules! from_redb {
    ($($t:ty),*) => {$(
        impl From<$t> for StoreError {
            fn from(e: $t) -> Self {
                StoreError::Db(e.into())
            }
        }
    )*};
}
from_redb!(
    redb::DatabaseError,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError
);

/// Result alias for store operations.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;
