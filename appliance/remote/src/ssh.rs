//! Direct commands over SSH to a LINBO client (port 2222, user root), with
//! the box's own ed25519 key, through the system OpenSSH client.
//!
//! LINBO's server does the same with `ssh -F /etc/linuxmuster/linbo/ssh_config`;
//! using OpenSSH through `tokio::process` instead of an SSH library in the
//! process keeps the build lean and behaves exactly like LINBO's own tool
//! (the client runs dropbear). Options: `BatchMode=yes` (never prompt),
//! `StrictHostKeyChecking=no` with a separate known-hosts file (LINBO
//! clients get a new host key on every boot), `ConnectTimeout`, and
//! `-F none` so no user configuration changes the behaviour.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde::Serialize;
use tokio::io::AsyncReadExt;

use crate::{RemoteError, Result};

/// Port of the SSH server in LINBO's initramfs.
pub const LINBO_SSH_PORT: u16 = 2222;

/// Most output kept per command (the rest is cut).
pub const MAX_OUTPUT: usize = 64 * 1024;

/// The box's key pair.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SshKey {
    /// Private key (mode 0600).
    pub private: PathBuf,
    /// Public key, to be put into linbofs' `/.ssh/authorized_keys`.
    pub public: PathBuf,
}

/// Makes sure `<dir>/id_ed25519{,.pub}` exist, creating the pair with
/// `ssh-keygen` (openssh-client) when missing.
pub fn ensure_key(dir: &Path) -> Result<SshKey> {
    let key = SshKey {
        private: dir.join("id_ed25519"),
        public: dir.join("id_ed25519.pub"),
    };
    if key.private.is_file() && key.public.is_file() {
        return Ok(key);
    }
    std::fs::create_dir_all(dir)
        .map_err(|e| RemoteError::io(format!("cannot create {}", dir.display()), e))?;
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700));
    }
    let _ = std::fs::remove_file(&key.private);
    let _ = std::fs::remove_file(&key.public);
    let out = std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "bootbox", "-f"])
        .arg(&key.private)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| {
            RemoteError::Key(format!(
                "cannot run ssh-keygen (install openssh-client): {e}"
            ))
        })?;
    if !out.status.success() {
        return Err(RemoteError::Key(format!(
            "ssh-keygen failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(key)
}

/// How to reach clients.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SshConfig {
    /// The `ssh` program.
    pub program: PathBuf,
    /// Private key.
    pub key: PathBuf,
    /// Known-hosts file of the box (LINBO clients' keys change per boot).
    pub known_hosts: PathBuf,
    /// Port (2222).
    pub port: u16,
    /// User (root).
    pub user: String,
    /// TCP connect timeout.
    pub connect_timeout: Duration,
    /// The wrapper each command runs through (`linbo_wrapper`).
    pub wrapper: String,
    /// Where uploads find their one-time credential on the client (LINBO
    /// reads `linbo:<password>` from `/tmp/rsyncd.secrets`).
    pub secrets_path: String,
}

impl SshConfig {
    /// The defaults for keys in `<data>/ssh`.
    pub fn new(ssh_dir: &Path) -> Self {
        Self {
            program: PathBuf::from("ssh"),
            key: ssh_dir.join("id_ed25519"),
            known_hosts: ssh_dir.join("known_hosts"),
            port: LINBO_SSH_PORT,
            user: "root".into(),
            connect_timeout: Duration::from_secs(3),
            wrapper: "linbo_wrapper".into(),
            secrets_path: "/tmp/rsyncd.secrets".into(),
        }
    }
}

/// What one remote command did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Output {
    /// Exit code; `None` when killed or timed out. OpenSSH reports its own
    /// failures (connection, authentication) as 255.
    pub exit_code: Option<i32>,
    /// stdout followed by stderr, at most [`MAX_OUTPUT`] bytes each.
    pub output: String,
    /// The command ran into its time limit and was stopped.
    pub timed_out: bool,
}

/// Quotes `s` for a POSIX shell.
pub fn shell_quote(s: &str) -> String {
    if !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_-:.,/=".contains(&b))
    {
        return s.to_string();
    }
    format!("'{}'", s.replace('\'', "'\\''"))
}

async fn read_capped<R: tokio::io::AsyncRead + Unpin>(r: Option<R>) -> Vec<u8> {
    let mut out = Vec::new();
    if let Some(mut r) = r {
        let mut buf = [0u8; 8192];
        loop {
            match r.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    let room = MAX_OUTPUT.saturating_sub(out.len());
                    out.extend_from_slice(&buf[..n.min(room)]);
                }
            }
        }
    }
    out
}

/// Runs `remote_command` (a shell command line) on `host` as the
/// configured user, stopping it after `timeout`.
pub async fn exec(
    cfg: &SshConfig,
    host: &str,
    remote_command: &str,
    timeout: Duration,
) -> Result<Output> {
    exec_input(cfg, host, remote_command, None, timeout).await
}

/// Like [`exec`], feeding `input` to the remote command's stdin (used for
/// secrets, which must not appear on a command line).
pub async fn exec_input(
    cfg: &SshConfig,
    host: &str,
    remote_command: &str,
    input: Option<&[u8]>,
    timeout: Duration,
) -> Result<Output> {
    let mut cmd = ssh_command(cfg, host, remote_command);
    cmd.stdin(if input.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    });
    let mut child = cmd
        .spawn()
        .map_err(|e| RemoteError::io(format!("cannot run {}", cfg.program.display()), e))?;
    let stdout = child.stdout.take();
    let stderr = child.stderr.take();
    let stdin = child.stdin.take();
    let feed = async move {
        if let (Some(mut w), Some(data)) = (stdin, input) {
            use tokio::io::AsyncWriteExt;
            let _ = w.write_all(data).await;
            let _ = w.shutdown().await;
        }
    };
    let run = async {
        feed.await;
        let (o, e, status) = tokio::join!(read_capped(stdout), read_capped(stderr), child.wait());
        (o, e, status)
    };
    match tokio::time::timeout(timeout, run).await {
        Ok((o, e, status)) => {
            let status = status.map_err(|e| RemoteError::io("ssh", e))?;
            let mut output = String::from_utf8_lossy(&o).into_owned();
            output.push_str(&String::from_utf8_lossy(&e));
            Ok(Output {
                exit_code: status.code(),
                output,
                timed_out: false,
            })
        }
        Err(_) => Ok(Output {
            exit_code: None,
            output: format!("stopped after {} s", timeout.as_secs()),
            timed_out: true,
        }),
    }
}

/// Copies the file `path` from `host` (LINBO's "pull-trigger": logs,
/// image.status, hwinfo), at most `max_bytes`. `None` when the client has
/// no such file or cannot be reached.
pub async fn fetch(
    cfg: &SshConfig,
    host: &str,
    path: &str,
    max_bytes: u64,
    timeout: Duration,
) -> Result<Option<Vec<u8>>> {
    let command = format!("cat {}", shell_quote(path));
    let mut cmd = ssh_command(cfg, host, &command);
    cmd.stderr(Stdio::null());
    let mut child = cmd
        .spawn()
        .map_err(|e| RemoteError::io(format!("cannot run {}", cfg.program.display()), e))?;
    let stdout = child.stdout.take();
    let run = async {
        let mut out = Vec::new();
        if let Some(r) = stdout {
            let _ = r.take(max_bytes).read_to_end(&mut out).await;
        }
        (out, child.wait().await)
    };
    match tokio::time::timeout(timeout, run).await {
        Ok((out, Ok(status))) if status.success() => Ok(Some(out)),
        Ok(_) | Err(_) => Ok(None),
    }
}

fn ssh_command(cfg: &SshConfig, host: &str, remote_command: &str) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(&cfg.program);
    cmd.arg("-F")
        .arg("none")
        .arg("-p")
        .arg(cfg.port.to_string())
        .arg("-i")
        .arg(&cfg.key)
        .args(["-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no"])
        .args(["-o", "IdentitiesOnly=yes", "-o", "LogLevel=ERROR"])
        .arg("-o")
        .arg(format!("UserKnownHostsFile={}", cfg.known_hosts.display()))
        .arg("-o")
        .arg(format!(
            "ConnectTimeout={}",
            cfg.connect_timeout.as_secs().max(1)
        ))
        .arg("-l")
        .arg(&cfg.user)
        .arg(host)
        .arg("--")
        .arg(remote_command)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    cmd
}

/// "Is it up?": a TCP connection to the SSH port within `timeout`.
pub async fn probe(addr: SocketAddr, timeout: Duration) -> bool {
    matches!(
        tokio::time::timeout(timeout, tokio::net::TcpStream::connect(addr)).await,
        Ok(Ok(_))
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting() {
        assert_eq!(shell_quote("sync:1"), "sync:1");
        assert_eq!(
            shell_quote("create_image:1:\"new office\""),
            "'create_image:1:\"new office\"'"
        );
        assert_eq!(shell_quote("it's"), "'it'\\''s'");
    }

    #[test]
    fn key_is_created_once() {
        let tmp = tempfile::tempdir().expect("tmp");
        let dir = tmp.path().join("ssh");
        let k = ensure_key(&dir).expect("key");
        let pubkey = std::fs::read_to_string(&k.public).expect("pub");
        assert!(pubkey.starts_with("ssh-ed25519 "), "{pubkey}");
        let k2 = ensure_key(&dir).expect("again");
        assert_eq!(std::fs::read_to_string(&k2.public).expect("pub"), pubkey);
    }

    #[tokio::test]
    async fn probe_and_exec_against_nothing() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let up = l.local_addr().expect("addr");
        assert!(probe(up, Duration::from_secs(1)).await);
        drop(l);
        assert!(!probe(up, Duration::from_millis(500)).await);
        let tmp = tempfile::tempdir().expect("tmp");
        let mut cfg = SshConfig::new(tmp.path());
        cfg.port = up.port();
        cfg.connect_timeout = Duration::from_secs(1);
        let out = exec(&cfg, "127.0.0.1", "true", Duration::from_secs(10))
            .await
            .expect("ssh runs");
        assert_eq!(out.exit_code, Some(255), "{out:?}");
    }
}
