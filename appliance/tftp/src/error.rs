//! The error type a [`crate::FileSource`] returns, and its wire mapping.

use std::io;

use thiserror::Error;

use crate::packet::ErrorCode;
use crate::path::PathError;

/// Why a file could not be opened for a client.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum TftpError {
    /// No such file (ERROR 1).
    #[error("file not found")]
    NotFound,
    /// The request path was refused by the path checks (ERROR 2).
    #[error(transparent)]
    Path(#[from] PathError),
    /// Refused for another reason (ERROR 2 with this message).
    #[error("access violation: {0}")]
    AccessDenied(String),
    /// Any other I/O error (ERROR 0).
    #[error("I/O error: {0}")]
    Io(#[from] io::Error),
}

impl TftpError {
    /// Maps an error from opening/resolving a file: "not found" and "not a
    /// directory" become [`TftpError::NotFound`], "permission denied"
    /// becomes [`TftpError::AccessDenied`], the rest stays I/O.
    pub fn from_open_error(err: io::Error) -> TftpError {
        match err.kind() {
            io::ErrorKind::NotFound | io::ErrorKind::NotADirectory => TftpError::NotFound,
            io::ErrorKind::PermissionDenied => TftpError::AccessDenied("permission denied".into()),
            _ => TftpError::Io(err),
        }
    }

    /// The TFTP error code and message sent to the client.
    pub fn wire(&self) -> (ErrorCode, String) {
        match self {
            TftpError::NotFound => (ErrorCode::FileNotFound, "file not found".into()),
            TftpError::Path(e) => (ErrorCode::AccessViolation, e.to_string()),
            TftpError::AccessDenied(msg) => (ErrorCode::AccessViolation, msg.clone()),
            // Do not leak server paths or OS details to the network.
            TftpError::Io(_) => (ErrorCode::NotDefined, "I/O error".into()),
        }
    }
}
