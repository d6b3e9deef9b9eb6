//! Errors of image operations, phrased for the admin.

use std::path::PathBuf;

/// Everything that can go wrong with the image tree.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    /// A name that cannot be used as an image or file name.
    #[error("{0}")]
    BadName(String),
    /// The upload is larger than allowed.
    #[error("the upload is {size} bytes, more than the limit of {limit} bytes")]
    TooLarge {
        /// Declared or received size.
        size: u64,
        /// Configured limit.
        limit: u64,
    },
    /// Not enough free space to accept the upload.
    #[error("not enough disk space: the upload needs {needed} bytes, {available} are free (keeping a reserve of {reserve})")]
    NoSpace {
        /// Bytes needed.
        needed: u64,
        /// Bytes free.
        available: u64,
        /// Reserve kept free.
        reserve: u64,
    },
    /// Received bytes do not match the declared size.
    #[error(
        "the upload ended after {received} bytes, {declared} were announced; nothing was changed"
    )]
    Truncated {
        /// Bytes received.
        received: u64,
        /// Bytes announced.
        declared: u64,
    },
    /// The SHA-256 does not match the declared one.
    #[error("checksum mismatch: the file's SHA-256 is {actual}, the upload declared {declared}; nothing was changed")]
    ChecksumMismatch {
        /// Declared hex digest.
        declared: String,
        /// Computed hex digest.
        actual: String,
    },
    /// The image or version does not exist.
    #[error("{0} does not exist")]
    NotFound(String),
    /// The image is still used and cannot be deleted.
    #[error("image {image} is used by the start.conf of group(s) {}; change them first", .groups.join(", "))]
    InUse {
        /// Image base name.
        image: String,
        /// Groups whose start.conf names it.
        groups: Vec<String>,
    },
    /// Another upload of the same file is running.
    #[error("another upload of {0} is in progress")]
    Busy(String),
    /// File system error.
    #[error("{what} {}: {source}", .path.display())]
    Io {
        /// What was being done.
        what: &'static str,
        /// On which path.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
}

impl ImageError {
    /// Wraps an I/O error with context.
    pub fn io(what: &'static str, path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| ImageError::Io { what, path, source }
    }

    /// True for the disk-full error of the OS (ENOSPC).
    pub fn is_disk_full(&self) -> bool {
        matches!(self, ImageError::NoSpace { .. })
            || matches!(self, ImageError::Io { source, .. } if source.raw_os_error() == Some(28))
    }
}

/// Result alias.
pub type Result<T, E = ImageError> = std::result::Result<T, E>;
