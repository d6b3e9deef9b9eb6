//! The dropbear host keys baked into linbofs. Generated once with Debian's
//! `dropbearkey` (dropbear-bin) and reused for every rebuild: all LINBO
//! clients share them, as with LINBO's own server, so the box sees one
//! stable host key whatever client it talks to.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::Error;

/// Key types LINBO's init starts dropbear with (`-r` per file).
pub const TYPES: [&str; 3] = ["rsa", "ecdsa", "ed25519"];

/// File name of a host key of `kind` (`dropbear_<kind>_host_key`).
pub fn file_name(kind: &str) -> String {
    format!("dropbear_{kind}_host_key")
}

/// Makes sure `<dir>/dropbear_{rsa,ecdsa,ed25519}_host_key` exist (mode
/// 0600), creating missing ones with `dropbearkey`. Returns their paths in
/// [`TYPES`] order.
pub fn ensure_host_keys(dir: &Path, dropbearkey: &Path) -> Result<Vec<PathBuf>, Error> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    set_mode(dir, 0o700)?;
    let mut out = Vec::new();
    for kind in TYPES {
        let path = dir.join(file_name(kind));
        if !path.is_file() {
            let tmp = dir.join(format!(".{}.tmp-{}", file_name(kind), std::process::id()));
            let _ = std::fs::remove_file(&tmp);
            let mut cmd = Command::new(dropbearkey);
            cmd.args(["-t", kind, "-f"]).arg(&tmp);
            if kind == "rsa" {
                cmd.args(["-s", "3072"]);
            }
            let o = cmd.stdin(Stdio::null()).output().map_err(|e| {
                Error::Tool(format!(
                    "cannot run {} (install dropbear-bin): {e}",
                    dropbearkey.display()
                ))
            })?;
            if !o.status.success() {
                let _ = std::fs::remove_file(&tmp);
                return Err(Error::Tool(format!(
                    "dropbearkey -t {kind} failed: {}",
                    String::from_utf8_lossy(&o.stderr).trim()
                )));
            }
            set_mode(&tmp, 0o600)?;
            std::fs::rename(&tmp, &path).map_err(|e| Error::io(&path, e))?;
        }
        out.push(path);
    }
    Ok(out)
}

fn set_mode(path: &Path, mode: u32) -> Result<(), Error> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(|e| Error::io(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_once_then_reused() {
        let dir = tempfile::tempdir().unwrap();
        let keys = dir.path().join("k");
        let first =
            ensure_host_keys(&keys, Path::new("dropbearkey")).expect("dropbear-bin installed");
        let bytes: Vec<Vec<u8>> = first.iter().map(|p| std::fs::read(p).unwrap()).collect();
        assert!(bytes.iter().all(|b| !b.is_empty()));
        let again = ensure_host_keys(&keys, Path::new("dropbearkey")).unwrap();
        let bytes2: Vec<Vec<u8>> = again.iter().map(|p| std::fs::read(p).unwrap()).collect();
        assert_eq!(bytes, bytes2, "reused, not regenerated");
        // dropbearkey can read what it wrote (a real dropbear key).
        let o = Command::new("dropbearkey")
            .arg("-y")
            .arg("-f")
            .arg(&first[2])
            .output()
            .unwrap();
        assert!(String::from_utf8_lossy(&o.stdout).contains("ssh-ed25519"));
        let err = ensure_host_keys(&dir.path().join("x"), Path::new("/nonexistent/dropbearkey"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("dropbear-bin"), "{err}");
    }
}
