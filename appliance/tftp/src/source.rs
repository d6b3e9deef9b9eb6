//! Where served files come from: the [`FileSource`] trait and the default
//! [`DirSource`] (one confined directory).

use std::fmt;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::io::AsyncRead;

use crate::error::TftpError;
use crate::path::{resolve_under, PathError};

/// An opened file: a byte stream plus its size if known.
pub struct Opened {
    /// The content. The server reads it in 64 KiB chunks on a read-ahead
    /// task, a little ahead of the blocks it sends.
    pub reader: Box<dyn AsyncRead + Send + Unpin>,
    /// Size in bytes, if known; answered to `tsize` requests. When `None`,
    /// a `tsize` option is left out of the OACK.
    pub size: Option<u64>,
}

impl Opened {
    /// Wraps a reader and an optional size.
    pub fn new(reader: impl AsyncRead + Send + Unpin + 'static, size: Option<u64>) -> Self {
        Opened {
            reader: Box::new(reader),
            size,
        }
    }

    /// An in-memory file (for generated content such as menus).
    pub fn from_bytes(bytes: impl Into<Vec<u8>>) -> Self {
        let bytes = bytes.into();
        let size = bytes.len() as u64;
        Opened::new(io::Cursor::new(bytes), Some(size))
    }
}

impl fmt::Debug for Opened {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Opened")
            .field("size", &self.size)
            .finish_non_exhaustive()
    }
}

/// Supplies the content for read requests.
///
/// `path` has already passed [`crate::path::sanitize`]: valid UTF-8, relative,
/// no leading `/`, no `.`/`..`/empty components, no backslash or NUL, e.g.
/// `boot/grub/x86_64-efi/core.efi`. `client` is the requester's address
/// (for per-client generated files).
///
/// Each request's `open` runs in that request's own task, so a slow open
/// delays only that client. Errors map to TFTP errors via
/// [`TftpError::wire`]. Implemented for `Arc<T>` so a source can be shared.
pub trait FileSource: Send + Sync + 'static {
    /// Opens `path` for `client`.
    fn open(
        &self,
        client: SocketAddr,
        path: &str,
    ) -> impl Future<Output = Result<Opened, TftpError>> + Send;
}

impl<T: FileSource> FileSource for Arc<T> {
    fn open(
        &self,
        client: SocketAddr,
        path: &str,
    ) -> impl Future<Output = Result<Opened, TftpError>> + Send {
        T::open(self, client, path)
    }
}

/// Serves regular files from one directory tree, confined to it (see
/// [`crate::path`]: symlinks are followed only while they stay inside).
#[derive(Debug, Clone)]
pub struct DirSource {
    root: PathBuf,
}

impl DirSource {
    /// Canonicalises `root` once; fails if it does not exist or is not a
    /// directory.
    pub fn new(root: impl AsRef<Path>) -> io::Result<DirSource> {
        let root = root.as_ref().canonicalize()?;
        if !root.is_dir() {
            return Err(io::Error::new(
                io::ErrorKind::NotADirectory,
                format!("TFTP root {} is not a directory", root.display()),
            ));
        }
        Ok(DirSource { root })
    }

    /// The canonical root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }
}

impl FileSource for DirSource {
    async fn open(&self, _client: SocketAddr, path: &str) -> Result<Opened, TftpError> {
        let resolved = resolve_under(&self.root, path).await?;
        let file = tokio::fs::File::open(&resolved)
            .await
            .map_err(TftpError::from_open_error)?;
        let meta = file.metadata().await?;
        if !meta.is_file() {
            return Err(PathError::NotRegularFile.into());
        }
        Ok(Opened::new(file, Some(meta.len())))
    }
}
