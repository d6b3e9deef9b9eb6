//! Request path checks and confinement to a root directory.
//!
//! Two stages:
//! 1. [`sanitize`] (pure, done by the server for every source): the name
//!    must be UTF-8 without NUL or backslash; leading `/` are stripped; empty
//!    names, `..` components and anything still absolute are refused. The
//!    result is a clean relative path (`a/b/c`, no `.` or empty components).
//! 2. [`resolve_under`] (used by [`crate::DirSource`]): joins the clean path
//!    to the canonical root, canonicalises the result (resolving symlinks)
//!    and requires it to stay under the root and to be a regular file. So a
//!    symlink inside the root pointing inside the root is served; one
//!    pointing outside is refused.
//!
//! Backslashes are refused rather than mapped to `/`: Windows-style names
//! (`boot\x64\wdsnbp.com`) must be configured with forward slashes.

use std::path::{Component, Path, PathBuf};

use thiserror::Error;

use crate::error::TftpError;

/// Why a request path was refused (all answered with ERROR 2, access violation).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PathError {
    /// The name is not valid UTF-8.
    #[error("file name is not valid UTF-8")]
    NotUtf8,
    /// The name contains a NUL byte.
    #[error("file name contains a NUL byte")]
    Nul,
    /// The name contains a backslash (illegal here; use `/`).
    #[error("file name contains a backslash ('\\' is illegal, use '/')")]
    Backslash,
    /// Nothing left after stripping leading `/` and `.` components.
    #[error("empty file name")]
    Empty,
    /// A `..` component.
    #[error("file name contains a '..' component")]
    ParentComponent,
    /// Still absolute (or has a prefix) after stripping leading `/`.
    #[error("absolute file name")]
    Absolute,
    /// The resolved path (after following symlinks) is outside the root.
    #[error("path leaves the TFTP root")]
    OutsideRoot,
    /// The target exists but is not a regular file (directory, device, ...).
    #[error("not a regular file")]
    NotRegularFile,
}

/// Checks a raw request file name and returns it as a clean relative path.
pub fn sanitize(raw: &[u8]) -> Result<String, PathError> {
    let name = std::str::from_utf8(raw).map_err(|_| PathError::NotUtf8)?;
    if name.contains('\0') {
        return Err(PathError::Nul);
    }
    if name.contains('\\') {
        return Err(PathError::Backslash);
    }
    let stripped = name.trim_start_matches('/');
    let mut parts: Vec<&str> = Vec::new();
    for component in Path::new(stripped).components() {
        match component {
            Component::Normal(part) => {
                // `part` came from a &str, so it is valid UTF-8.
                parts.push(part.to_str().ok_or(PathError::NotUtf8)?);
            }
            Component::CurDir => {}
            Component::ParentDir => return Err(PathError::ParentComponent),
            Component::RootDir | Component::Prefix(_) => return Err(PathError::Absolute),
        }
    }
    if parts.is_empty() {
        return Err(PathError::Empty);
    }
    Ok(parts.join("/"))
}

/// Resolves a [`sanitize`]d relative path under `root`, which must already be
/// canonical. Returns the canonical path of a regular file inside the root.
///
/// Errors: [`TftpError::NotFound`] if it does not exist,
/// [`TftpError::Path`] with [`PathError::OutsideRoot`] or
/// [`PathError::NotRegularFile`], [`TftpError::Io`] otherwise.
///
/// There is a window between this check and the open in which a component
/// could be swapped for a symlink; the root is expected to be writable only
/// by the administrator.
pub async fn resolve_under(root: &Path, rel: &str) -> Result<PathBuf, TftpError> {
    let joined = root.join(rel);
    let canonical = tokio::fs::canonicalize(&joined)
        .await
        .map_err(TftpError::from_open_error)?;
    if !canonical.starts_with(root) {
        return Err(PathError::OutsideRoot.into());
    }
    // metadata() before open(): opening a FIFO would block.
    let meta = tokio::fs::metadata(&canonical)
        .await
        .map_err(TftpError::from_open_error)?;
    if !meta.is_file() {
        return Err(PathError::NotRegularFile.into());
    }
    Ok(canonical)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sanitize_accepts_and_normalises() {
        assert_eq!(sanitize(b"pxelinux.0").unwrap(), "pxelinux.0");
        assert_eq!(sanitize(b"/boot/grub/x.efi").unwrap(), "boot/grub/x.efi");
        assert_eq!(sanitize(b"//a//./b/").unwrap(), "a/b");
        assert_eq!(sanitize(b"./a").unwrap(), "a");
        assert_eq!(sanitize(b"a..b/..c").unwrap(), "a..b/..c");
    }

    #[test]
    fn sanitize_refuses() {
        assert_eq!(sanitize(b"../etc/passwd"), Err(PathError::ParentComponent));
        assert_eq!(sanitize(b"a/../../b"), Err(PathError::ParentComponent));
        assert_eq!(sanitize(b"/.."), Err(PathError::ParentComponent));
        assert_eq!(sanitize(b"a/.."), Err(PathError::ParentComponent));
        assert_eq!(
            sanitize(b"boot\\x64\\wdsnbp.com"),
            Err(PathError::Backslash)
        );
        assert_eq!(sanitize(b"..\\x"), Err(PathError::Backslash));
        assert_eq!(sanitize(b"a\0b"), Err(PathError::Nul));
        assert_eq!(sanitize(b""), Err(PathError::Empty));
        assert_eq!(sanitize(b"/"), Err(PathError::Empty));
        assert_eq!(sanitize(b"./."), Err(PathError::Empty));
        assert_eq!(sanitize(b"\xff\xfe"), Err(PathError::NotUtf8));
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn confinement_with_symlinks() {
        use std::os::unix::fs::symlink;
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret"), b"s").unwrap();
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        std::fs::create_dir(root.join("sub")).unwrap();
        std::fs::write(root.join("sub/file"), b"f").unwrap();
        symlink(outside.path().join("secret"), root.join("escape")).unwrap();
        symlink(outside.path(), root.join("escdir")).unwrap();
        symlink("sub/file", root.join("inside")).unwrap();
        symlink("sub", root.join("subdir-link")).unwrap();

        assert_eq!(
            resolve_under(&root, "sub/file").await.unwrap(),
            root.join("sub/file")
        );
        assert_eq!(
            resolve_under(&root, "inside").await.unwrap(),
            root.join("sub/file")
        );
        assert_eq!(
            resolve_under(&root, "subdir-link/file").await.unwrap(),
            root.join("sub/file")
        );
        assert!(matches!(
            resolve_under(&root, "escape").await,
            Err(TftpError::Path(PathError::OutsideRoot))
        ));
        assert!(matches!(
            resolve_under(&root, "escdir/secret").await,
            Err(TftpError::Path(PathError::OutsideRoot))
        ));
        assert!(matches!(
            resolve_under(&root, "sub").await,
            Err(TftpError::Path(PathError::NotRegularFile))
        ));
        assert!(matches!(
            resolve_under(&root, "missing").await,
            Err(TftpError::NotFound)
        ));
        assert!(matches!(
            resolve_under(&root, "sub/file/x").await,
            Err(TftpError::NotFound)
        ));
    }
}
