//! The data directory: where the registry, the LINBO tree and logs live,
//! and the lock that keeps two bootbox processes from sharing it.
//!
//! ```text
//! <data>/bootbox.redb   registry (bootbox-store)
//! <data>/bootbox.lock   held while a bootbox process uses the directory
//! <data>/linbo/         laid out like LINBO's /srv/linbo (TFTP/HTTP/rsync root)
//! <data>/log/           logs that outlive the process
//! ```

use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

/// Paths inside one data directory.
#[derive(Debug, Clone)]
pub struct DataDir {
    root: PathBuf,
}

/// Exclusive use of a data directory; released when dropped (or when the
/// process dies, since the OS drops the lock with the file descriptor).
#[derive(Debug)]
pub struct DirLock {
    _file: File,
}

impl DataDir {
    /// Creates the directory and its sub-folders when missing.
    pub fn prepare(root: &Path) -> Result<Self> {
        for dir in [root.to_path_buf(), root.join("linbo"), root.join("log")] {
            fs::create_dir_all(&dir)
                .with_context(|| format!("cannot create data directory {}", dir.display()))?;
        }
        Ok(Self {
            root: root.to_path_buf(),
        })
    }

    /// Root of the data directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The registry database file.
    pub fn db_path(&self) -> PathBuf {
        self.root.join("bootbox.redb")
    }

    /// LINBO's tree (`/srv/linbo` on a linuxmuster server).
    pub fn linbo(&self) -> PathBuf {
        self.root.join("linbo")
    }

    /// Takes the directory's lock, or explains who holds it.
    pub fn lock(&self) -> Result<DirLock> {
        let path = self.root.join("bootbox.lock");
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .with_context(|| format!("cannot open lock file {}", path.display()))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                let holder = holder.trim();
                let who = if holder.is_empty() {
                    "another bootbox process".to_string()
                } else {
                    format!("bootbox process {holder}")
                };
                bail!(
                    "data directory {} is in use by {who}; stop it first or use another --data",
                    self.root.display()
                );
            }
            Err(TryLockError::Error(e)) => {
                return Err(e).with_context(|| format!("cannot lock {}", path.display()))
            }
        }
        file.set_len(0)?;
        file.seek(SeekFrom::Start(0))?;
        write!(file, "{}", std::process::id())?;
        file.flush()?;
        Ok(DirLock { _file: file })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_lock_is_refused_with_the_holders_pid() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = DataDir::prepare(&tmp.path().join("var")).expect("prepare");
        assert!(dir.linbo().is_dir());
        let held = dir.lock().expect("first lock");
        let err = dir.lock().expect_err("second lock must fail").to_string();
        assert!(err.contains(&std::process::id().to_string()), "{err}");
        drop(held);
        dir.lock().expect("lock again after release");
    }
}
