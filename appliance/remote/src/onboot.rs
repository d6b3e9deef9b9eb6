//! On-boot command files `<linbo>/linbocmd/<host>.cmd`, as LINBO clients
//! fetch them at boot.
//!
//! - Written atomically (temporary file + rename), always through
//!   [`bootbox_linbo::onboot::OnbootCmd`], so the file is valid and
//!   canonical.
//! - Consumed once: the HTTP server deletes the file right after serving it
//!   (`bootbox-web`, `GET /linbo/linbocmd/<host>.cmd`). A job learns that a
//!   host picked its commands up when the file is gone.
//! - Never holds a password: `linbo:<password>` is refused by the grammar.
//!   LINBO's `linbo-remote` writes the cleartext rsync password into the
//!   file for `upload_*` commands; the file lies in the download area every
//!   client (and anyone on the LAN) can read. See the crate docs for how
//!   uploads are authorised instead.

use std::io::Write;
use std::path::{Path, PathBuf};

use bootbox_linbo::names;
use bootbox_linbo::onboot::{Command, OnbootCmd};
use serde::Serialize;

use crate::{RemoteError, Result};

/// Builds an on-boot file from commands and the `-n` / `-d` flags
/// (appended as `noauto` / `disablegui`, as `linbo-remote` does).
pub fn build(commands: &[Command], noauto: bool, disablegui: bool) -> OnbootCmd {
    let mut cmd = OnbootCmd {
        commands: commands.to_vec(),
    };
    if noauto && !cmd.commands.contains(&Command::NoAuto) {
        cmd.commands.push(Command::NoAuto);
    }
    if disablegui && !cmd.commands.contains(&Command::DisableGui) {
        cmd.commands.push(Command::DisableGui);
    }
    cmd
}

/// One pending on-boot file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OnbootEntry {
    /// Host name (file name without `.cmd`).
    pub host: String,
    /// The file's single line.
    pub commands: String,
    /// Last modification (ms since epoch).
    pub modified_ms: u64,
}

/// The `linbocmd/` folder of a LINBO tree.
#[derive(Debug, Clone)]
pub struct OnbootDir {
    dir: PathBuf,
}

impl OnbootDir {
    /// The folder `<linbo_root>/linbocmd` (created on first write).
    pub fn new(linbo_root: &Path) -> Self {
        Self {
            dir: linbo_root.join("linbocmd"),
        }
    }

    /// The folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Path of a host's file. The host name is checked, so no name can
    /// point outside the folder.
    pub fn path(&self, host: &str) -> Result<PathBuf> {
        let host = names::hostname(host).map_err(RemoteError::Invalid)?;
        Ok(self.dir.join(format!("{host}.cmd")))
    }

    /// Writes (or replaces) a host's file atomically.
    pub fn write(&self, host: &str, cmd: &OnbootCmd) -> Result<PathBuf> {
        let path = self.path(host)?;
        std::fs::create_dir_all(&self.dir)
            .map_err(|e| RemoteError::io(format!("cannot create {}", self.dir.display()), e))?;
        let tmp = self
            .dir
            .join(format!(".{host}.cmd.tmp-{}", std::process::id()));
        let text = cmd.render();
        let res = (|| -> std::io::Result<()> {
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(text.as_bytes())?;
            f.sync_all()?;
            std::fs::rename(&tmp, &path)
        })();
        if let Err(e) = res {
            let _ = std::fs::remove_file(&tmp);
            return Err(RemoteError::io(
                format!("cannot write {}", path.display()),
                e,
            ));
        }
        Ok(path)
    }

    /// True while a host's file is waiting to be fetched.
    pub fn pending(&self, host: &str) -> bool {
        self.path(host).is_ok_and(|p| p.is_file())
    }

    /// Every pending file, by host name.
    pub fn list(&self) -> Result<Vec<OnbootEntry>> {
        let rd = match std::fs::read_dir(&self.dir) {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => {
                return Err(RemoteError::io(
                    format!("cannot list {}", self.dir.display()),
                    e,
                ))
            }
        };
        let mut out = Vec::new();
        for entry in rd.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some(host) = name.strip_suffix(".cmd") else {
                continue;
            };
            if host.starts_with('.') {
                continue;
            }
            let commands = std::fs::read_to_string(entry.path())
                .map(|t| t.trim().to_string())
                .unwrap_or_default();
            let modified_ms = entry
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map(|d| d.as_millis() as u64)
                .unwrap_or(0);
            out.push(OnbootEntry {
                host: host.to_string(),
                commands,
                modified_ms,
            });
        }
        out.sort_by(|a, b| a.host.cmp(&b.host));
        Ok(out)
    }

    /// Deletes a host's file; `false` when there was none.
    pub fn remove(&self, host: &str) -> Result<bool> {
        let path = self.path(host)?;
        match std::fs::remove_file(&path) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(RemoteError::io(
                format!("cannot delete {}", path.display()),
                e,
            )),
        }
    }

    /// Deletes several files; returns the hosts whose file existed.
    pub fn remove_many(&self, hosts: &[String]) -> Result<Vec<String>> {
        let mut out = Vec::new();
        for h in hosts {
            if self.remove(h)? {
                out.push(h.clone());
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_list_remove() {
        let tmp = tempfile::tempdir().expect("tmp");
        let d = OnbootDir::new(tmp.path());
        assert!(d.list().expect("empty").is_empty());
        let cmds = crate::validate::parse_commands("sync:1,start:1").expect("parse");
        let path = d.write("PC01", &build(&cmds, true, false)).expect("write");
        assert_eq!(path, tmp.path().join("linbocmd/pc01.cmd"));
        assert_eq!(
            std::fs::read_to_string(&path).expect("read"),
            "sync:1,start:1,noauto\n"
        );
        assert!(d.pending("pc01"));
        let l = d.list().expect("list");
        assert_eq!(l.len(), 1);
        assert_eq!(l[0].host, "pc01");
        assert!(d.path("../etc/passwd").is_err());
        assert_eq!(
            d.remove_many(&["pc01".into(), "pc02".into()]).expect("rm"),
            vec!["pc01"]
        );
        assert!(!d.pending("pc01"));
        assert!(crate::validate::parse_commands("linbo:secret,upload_image:1").is_err());
    }
}
