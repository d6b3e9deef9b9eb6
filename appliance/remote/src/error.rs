//! Errors of remote control, phrased for the admin who started the action.

use bootbox_store::StoreError;

/// Everything that can stop a remote action before or while it runs.
/// Failures of single hosts are not errors: they are reported per host in
/// the job's [`crate::job::JobSnapshot`].
#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    /// The registry could not be read or written.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The request is not valid (bad command, bad target, option clash).
    #[error("{0}")]
    Invalid(String),
    /// A file or process operation failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The network interface for Wake-on-LAN is unusable.
    #[error("network interface {name}: {reason}")]
    Interface {
        /// Interface name.
        name: String,
        /// Why.
        reason: String,
    },
    /// The box's SSH key could not be created.
    #[error("SSH key: {0}")]
    Key(String),
    /// A schedule's cron expression or time zone is not valid.
    #[error("schedule: {0}")]
    Schedule(String),
    /// A webhook could not be delivered.
    /// A failure mail could not be sent.
    #[error("mail: {0}")]
    Mail(String),
    #[error("webhook {url}: {reason}")]
    Webhook {
        /// Target URL.
        url: String,
        /// Why.
        reason: String,
    },
}

impl RemoteError {
    /// An [`RemoteError::Io`] with context.
    pub fn io(what: impl Into<String>, source: std::io::Error) -> Self {
        Self::Io {
            what: what.into(),
            source,
        }
    }
}

/// Result alias of this crate.
pub type Result<T, E = RemoteError> = std::result::Result<T, E>;
