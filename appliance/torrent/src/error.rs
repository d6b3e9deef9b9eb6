//! Error types of the crate.

use std::io;

use thiserror::Error;

use crate::bencode::BencodeError;

/// Errors from torrent creation, parsing and the resume store.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum TorrentError {
    /// Reading the image or a `.torrent`, or writing a file, failed.
    #[error("I/O error: {0}")]
    Io(#[from] io::Error),
    /// The metainfo is not valid bencoding.
    #[error("bad bencoding: {0}")]
    Bencode(#[from] BencodeError),
    /// The metainfo or a parameter is not acceptable; the text says why.
    #[error("invalid torrent: {0}")]
    Invalid(String),
}

/// Errors from the seeder's API (the network side never returns errors to
/// the caller; it reports events).
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum SeederError {
    /// Binding the listener or opening an image failed.
    #[error("I/O error: {0}")]
    Io(#[from] io::Error),
    /// The image on disk does not match the metainfo.
    #[error("{path}: file is {actual} bytes, the torrent says {expected}")]
    SizeMismatch {
        /// The image.
        path: String,
        /// Length in the metainfo.
        expected: u64,
        /// Length on disk.
        actual: u64,
    },
    /// The seeder has been shut down.
    #[error("seeder is shut down")]
    Shutdown,
}
