//! Transfer events for a boot timeline.

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// Why a transfer ended without delivering the whole file.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AbortReason {
    /// The client sent an ERROR packet (e.g. EDK2's tsize probe after the
    /// OACK, GRUB's "closed"). A normal outcome, not a server failure.
    ClientError {
        /// The client's error code.
        code: u16,
        /// The client's message.
        message: String,
    },
    /// No acknowledgement after all retransmissions.
    Timeout,
    /// The file does not exist (ERROR 1 sent).
    NotFound,
    /// Refused: path checks, not a regular file, write request, ... (ERROR 2
    /// sent); the text says why.
    AccessDenied(String),
    /// Too many concurrent transfers (ERROR 0 "server busy" sent).
    Busy,
    /// Malformed or unsupported request, e.g. mode "mail" (ERROR 4 sent).
    IllegalOperation(String),
    /// Local I/O error (socket or file read); the text says which.
    Io(String),
}

impl AbortReason {
    /// True when the client ended the transfer itself.
    pub fn is_client_abort(&self) -> bool {
        matches!(self, AbortReason::ClientError { .. })
    }
}

impl fmt::Display for AbortReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AbortReason::ClientError { code, message } => {
                write!(f, "aborted by client (error {code}: {message})")
            }
            AbortReason::Timeout => f.write_str("timed out"),
            AbortReason::NotFound => f.write_str("file not found"),
            AbortReason::AccessDenied(why) => write!(f, "access denied: {why}"),
            AbortReason::Busy => f.write_str("server busy"),
            AbortReason::IllegalOperation(why) => write!(f, "illegal operation: {why}"),
            AbortReason::Io(why) => write!(f, "I/O error: {why}"),
        }
    }
}

/// One step of a transfer. `path` is always the file name as requested
/// (lossily decoded), so events of one request can be correlated with
/// `client` + `path`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TransferEvent {
    /// A read or write request arrived.
    Requested {
        /// Requester.
        client: SocketAddr,
        /// Requested file name.
        path: String,
        /// Options as sent by the client.
        options: Vec<(String, String)>,
    },
    /// The file was opened and options negotiated; data (or OACK) follows.
    Started {
        /// Requester.
        client: SocketAddr,
        /// Requested file name.
        path: String,
        /// File size if known.
        size: Option<u64>,
        /// Negotiated block size.
        blksize: u16,
        /// Negotiated window size (1 = lock-step).
        windowsize: u16,
    },
    /// The last block was acknowledged.
    Completed {
        /// Requester.
        client: SocketAddr,
        /// Requested file name.
        path: String,
        /// Bytes delivered.
        bytes: u64,
        /// From start (file opened) to last acknowledgement.
        duration: Duration,
    },
    /// The transfer ended early or was refused.
    Aborted {
        /// Requester.
        client: SocketAddr,
        /// Requested file name.
        path: String,
        /// Bytes acknowledged before the end.
        bytes: u64,
        /// Why.
        reason: AbortReason,
    },
}

/// Receives [`TransferEvent`]s. Called inline from transfer tasks, so it must
/// be quick and must not block (push into a channel for heavy work).
pub trait TransferObserver: Send + Sync + 'static {
    /// Handles one event.
    fn on_event(&self, event: TransferEvent);
}

impl<T: TransferObserver + ?Sized> TransferObserver for Arc<T> {
    fn on_event(&self, event: TransferEvent) {
        T::on_event(self, event);
    }
}

/// Discards all events.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoopObserver;

impl TransferObserver for NoopObserver {
    fn on_event(&self, _event: TransferEvent) {}
}
