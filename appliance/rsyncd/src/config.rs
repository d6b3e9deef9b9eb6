//! `rsyncd.conf` for LINBO's modules.

use std::fmt::Write as _;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

/// The user LINBO clients upload as (`linbo@server::linbo-upload`).
pub const SECRETS_USER: &str = "linbo";

/// Extensions rsync must not try to compress (images are compressed or
/// random already), as LINBO's own configuration lists them.
const DONT_COMPRESS: &str = "*.qcow2 *.qdiff *.cloop *.rsync *.gz *.xz *.lz *.zst *.torrent *.iso";

/// What the daemon serves and how it calls back.
#[derive(Debug, Clone)]
pub struct RsyncConfig {
    /// Address to listen on (the LAN address; never all interfaces).
    pub address: Ipv4Addr,
    /// TCP port (873).
    pub port: u16,
    /// The LINBO tree, served read-only as module `linbo`.
    pub linbo: PathBuf,
    /// Where uploads land (module `linbo-upload`) before the service
    /// moves them into the tree.
    pub upload: PathBuf,
    /// `linbo:<password>` file, mode 0600, outside every served tree.
    pub secrets: PathBuf,
    /// PID file of the daemon.
    pub pid_file: PathBuf,
    /// The hook command rsync runs (the `bootbox` binary with its
    /// arguments, e.g. `/usr/bin/bootbox --data /data hook`); the phase is
    /// appended.
    pub hook_command: String,
}

impl RsyncConfig {
    /// Renders `rsyncd.conf`. Paths and the hook command must not contain
    /// newlines (checked).
    pub fn render(&self) -> Result<String, String> {
        for (what, p) in [
            ("LINBO tree", &self.linbo),
            ("upload folder", &self.upload),
            ("secrets file", &self.secrets),
            ("PID file", &self.pid_file),
        ] {
            check_line(what, &p.to_string_lossy())?;
        }
        check_line("hook command", &self.hook_command)?;
        let hook = |phase: &str| format!("{} {phase}", self.hook_command);
        let mut s = String::new();
        let _ = writeln!(s, "# Written by bootbox; changes are overwritten.");
        let _ = writeln!(s, "address = {}", self.address);
        let _ = writeln!(s, "port = {}", self.port);
        let _ = writeln!(s, "pid file = {}", self.pid_file.display());
        let _ = writeln!(s, "use chroot = no");
        let _ = writeln!(s, "max connections = 0");
        let _ = writeln!(s, "reverse lookup = no");
        let _ = writeln!(s, "transfer logging = no");
        let _ = writeln!(s, "dont compress = {DONT_COMPRESS}");
        let _ = writeln!(s);
        let _ = writeln!(s, "[linbo]");
        let _ = writeln!(s, "comment = LINBO tree (read-only)");
        let _ = writeln!(s, "path = {}", self.linbo.display());
        let _ = writeln!(s, "read only = yes");
        let _ = writeln!(s, "list = yes");
        let _ = writeln!(s, "uid = nobody");
        let _ = writeln!(s, "gid = nogroup");
        // Files whose contents the service keeps out of the tree anyway;
        // refused even if an admin drops one in.
        let _ = writeln!(s, "refuse options = delete");
        let _ = writeln!(s, "exclude = /images/tmp/ *.part .bootbox-*");
        let _ = writeln!(s, "pre-xfer exec = {}", hook("pre-download"));
        let _ = writeln!(s, "post-xfer exec = {}", hook("post-download"));
        let _ = writeln!(s);
        let _ = writeln!(s, "[linbo-upload]");
        let _ = writeln!(s, "comment = LINBO uploads (user {SECRETS_USER})");
        let _ = writeln!(s, "path = {}", self.upload.display());
        let _ = writeln!(s, "read only = no");
        let _ = writeln!(s, "write only = yes");
        let _ = writeln!(s, "list = no");
        let _ = writeln!(s, "uid = root");
        let _ = writeln!(s, "gid = root");
        let _ = writeln!(s, "auth users = {SECRETS_USER}");
        let _ = writeln!(s, "secrets file = {}", self.secrets.display());
        let _ = writeln!(s, "strict modes = yes");
        let _ = writeln!(s, "refuse options = delete");
        let _ = writeln!(s, "pre-xfer exec = {}", hook("pre-upload"));
        let _ = writeln!(s, "post-xfer exec = {}", hook("post-upload"));
        Ok(s)
    }

    /// Writes the secrets file (`linbo:<password>`, mode 0600, atomically).
    pub fn write_secrets(&self, password: &str) -> std::io::Result<()> {
        if password.is_empty() || password.contains(['\n', '\r', '\0']) {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "the LINBO upload password must be one non-empty line",
            ));
        }
        write_private(
            &self.secrets,
            format!("{SECRETS_USER}:{password}\n").as_bytes(),
        )
    }
}

fn check_line(what: &str, value: &str) -> Result<(), String> {
    if value.contains(['\n', '\r', '\0']) {
        return Err(format!("{what} must not contain line breaks: {value:?}"));
    }
    Ok(())
}

/// Writes `bytes` to `path` with mode 0600 via a temporary file and rename.
pub fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> RsyncConfig {
        RsyncConfig {
            address: Ipv4Addr::new(10, 0, 0, 1),
            port: 873,
            linbo: "/data/linbo".into(),
            upload: "/data/rsync-upload".into(),
            secrets: "/data/rsyncd.secrets".into(),
            pid_file: "/data/run/rsyncd.pid".into(),
            hook_command: "/usr/bin/bootbox --data /data hook".into(),
        }
    }

    #[test]
    fn modules_as_linbo_uses_them() {
        let text = cfg().render().expect("renders");
        assert!(text.contains("address = 10.0.0.1\n"));
        assert!(text.contains(
            "[linbo]\ncomment = LINBO tree (read-only)\npath = /data/linbo\nread only = yes"
        ));
        assert!(text.contains("[linbo-upload]"));
        assert!(text.contains("auth users = linbo\nsecrets file = /data/rsyncd.secrets"));
        assert!(text.contains("pre-xfer exec = /usr/bin/bootbox --data /data hook pre-download"));
        assert!(text.contains("post-xfer exec = /usr/bin/bootbox --data /data hook post-upload"));
    }

    #[test]
    fn line_breaks_cannot_inject_directives() {
        let mut c = cfg();
        c.linbo = "/data/linbo\n[evil]\npath = /".into();
        assert!(c.render().is_err());
        let mut c = cfg();
        c.hook_command = "x\npre-xfer exec = rm -rf /".into();
        assert!(c.render().is_err());
    }

    #[test]
    fn secrets_are_private_and_one_line() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut c = cfg();
        c.secrets = dir.path().join("rsyncd.secrets");
        c.write_secrets("geheim").expect("written");
        use std::os::unix::fs::PermissionsExt as _;
        let meta = std::fs::metadata(&c.secrets).expect("meta");
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        assert_eq!(
            std::fs::read_to_string(&c.secrets).expect("read"),
            "linbo:geheim\n"
        );
        assert!(c.write_secrets("a\nb").is_err());
        assert!(c.write_secrets("").is_err());
    }
}
