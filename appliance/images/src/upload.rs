//! Streaming uploads into `images/tmp/`, hashed while they arrive.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::names::ImageFile;
use crate::{ImageError, Result};

/// Limits applied before and during an upload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UploadLimits {
    /// Largest accepted image (bytes).
    pub max_size: u64,
    /// Free space that must remain after the upload (bytes), so the box
    /// keeps working (logs, database).
    pub reserve: u64,
}

impl Default for UploadLimits {
    fn default() -> Self {
        Self {
            max_size: 512 << 30,
            reserve: 256 << 20,
        }
    }
}

/// An upload being written to the staging folder. Dropping it without
/// [`StagedUpload::finish`] removes the partial file.
#[derive(Debug)]
pub struct StagedUpload {
    pub(crate) target: ImageFile,
    pub(crate) path: PathBuf,
    file: Option<File>,
    hasher: Sha256,
    received: u64,
    declared_size: Option<u64>,
    limit: u64,
    done: bool,
}

/// A complete, verified upload waiting for promotion.
#[derive(Debug)]
pub struct Finished {
    pub(crate) target: ImageFile,
    pub(crate) path: PathBuf,
    /// Size in bytes.
    pub size: u64,
    /// Hex SHA-256.
    pub sha256: String,
}

impl Drop for Finished {
    fn drop(&mut self) {
        // Not promoted (error or caller gave up): remove the staged file.
        if self.path.exists() {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// Free bytes for unprivileged writers on the file system of `dir`.
pub fn free_space(dir: &Path) -> Result<u64> {
    let st = nix::sys::statvfs::statvfs(dir).map_err(|e| ImageError::Io {
        what: "cannot query free space of",
        path: dir.to_path_buf(),
        source: std::io::Error::from(e),
    })?;
    Ok((st.blocks_available() as u64).saturating_mul(st.fragment_size() as u64))
}

impl StagedUpload {
    pub(crate) fn create(
        staging: &Path,
        target: ImageFile,
        declared_size: Option<u64>,
        limits: UploadLimits,
    ) -> Result<Self> {
        if let Some(size) = declared_size {
            if size > limits.max_size {
                return Err(ImageError::TooLarge {
                    size,
                    limit: limits.max_size,
                });
            }
            let available = free_space(staging)?;
            if size.saturating_add(limits.reserve) > available {
                return Err(ImageError::NoSpace {
                    needed: size,
                    available,
                    reserve: limits.reserve,
                });
            }
        }
        let path = staging.join(format!("{}.{}.part", target.name(), unique()));
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(ImageError::io("cannot create staging file", &path))?;
        Ok(Self {
            target,
            path,
            file: Some(file),
            hasher: Sha256::new(),
            received: 0,
            declared_size,
            limit: limits.max_size,
            done: false,
        })
    }

    /// Appends a chunk. Fails (and the upload is void) when the size limit
    /// or the announced size is exceeded, or the disk is full.
    pub fn write(&mut self, chunk: &[u8]) -> Result<()> {
        let new_len = self.received + chunk.len() as u64;
        if new_len > self.limit {
            return Err(ImageError::TooLarge {
                size: new_len,
                limit: self.limit,
            });
        }
        if let Some(declared) = self.declared_size {
            if new_len > declared {
                return Err(ImageError::Truncated {
                    received: new_len,
                    declared,
                });
            }
        }
        let file = self
            .file
            .as_mut()
            .ok_or_else(|| ImageError::BadName("upload already finished".into()))?;
        file.write_all(chunk)
            .map_err(ImageError::io("cannot write staging file", &self.path))?;
        self.hasher.update(chunk);
        self.received = new_len;
        Ok(())
    }

    /// Bytes received so far.
    pub fn received(&self) -> u64 {
        self.received
    }

    /// The target file name.
    pub fn target(&self) -> &ImageFile {
        &self.target
    }

    /// Completes the upload: size and (if declared) SHA-256 must match.
    /// The data is on disk (fsync) when this returns.
    pub fn finish(mut self, declared_sha256: Option<&str>) -> Result<Finished> {
        if let Some(declared) = self.declared_size {
            if self.received != declared {
                return Err(ImageError::Truncated {
                    received: self.received,
                    declared,
                });
            }
        }
        let file = self
            .file
            .take()
            .ok_or_else(|| ImageError::BadName("upload already finished".into()))?;
        file.sync_all()
            .map_err(ImageError::io("cannot flush staging file", &self.path))?;
        drop(file);
        let sha256 = hex(&std::mem::take(&mut self.hasher).finalize());
        if let Some(declared) = declared_sha256 {
            if !declared.trim().eq_ignore_ascii_case(&sha256) {
                return Err(ImageError::ChecksumMismatch {
                    declared: declared.trim().to_string(),
                    actual: sha256,
                });
            }
        }
        self.done = true;
        Ok(Finished {
            target: self.target.clone(),
            path: self.path.clone(),
            size: self.received,
            sha256,
        })
    }
}

impl Finished {
    /// Takes over a complete file written by someone else (the rsync
    /// daemon's upload folder): hashes it and moves it into `staging`
    /// (same file system, so a rename). The file is gone from `path`
    /// afterwards; dropping the result without promotion removes it.
    pub(crate) fn adopt(staging: &Path, target: ImageFile, path: &Path) -> Result<Finished> {
        let mut file = File::open(path).map_err(ImageError::io("cannot open upload", path))?;
        let mut hasher = Sha256::new();
        let mut size = 0u64;
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = std::io::Read::read(&mut file, &mut buf)
                .map_err(ImageError::io("cannot read upload", path))?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            size += n as u64;
        }
        drop(file);
        let staged = staging.join(format!("{}.{}.part", target.name(), unique()));
        std::fs::rename(path, &staged)
            .map_err(ImageError::io("cannot move the upload to staging", path))?;
        Ok(Finished {
            target,
            path: staged,
            size,
            sha256: hex(&hasher.finalize()),
        })
    }
}

impl Drop for StagedUpload {
    fn drop(&mut self) {
        if !self.done {
            drop(self.file.take());
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// Lower-case hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unique() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("{}-{nanos}", std::process::id())
}
