//! One-time upload credentials: Bootbox's replacement for LINBO's
//! `linbo:<password>` line.
//!
//! LINBO's `linbo-remote` copies the server's rsync password to the client
//! (direct commands) or writes it in clear text as the first item of the
//! on-boot file (on-boot commands), a file any PC on the LAN can download.
//! Bootbox never writes a secret below `<data>/linbo` (the grammar refuses
//! `linbo:` items). Instead, per upload:
//!
//! 1. the box issues a credential `bbu.<id>.<secret>` in the store
//!    ([`bootbox_store::secrets`]): argon2id-hashed, bound to the host and
//!    to the image of the uploaded OS (start.conf `BaseImage`), expiring,
//!    single-use;
//! 2. it pushes `linbo:<credential>` over the authenticated SSH channel
//!    (port 2222, the box's key) to the client's `/tmp/rsyncd.secrets`
//!    (mode 600, through stdin, never on a command line), where LINBO's
//!    `linbo_upload` takes its password from;
//! 3. the upload presents it (`Authorization: Bearer bbu.…` on the HTTP
//!    upload endpoint; the same store check serves an rsync front end),
//!    which spends it; a replay, another host's or another image's upload,
//!    or a late one is refused;
//! 4. direct jobs delete the file on the client after the command chain
//!    and withdraw the credential when the job ends.
//!
//! On-boot uploads: the `.cmd` file carries only the commands
//! (`upload_image:1`). When the client fetches it, the box knows the host
//! is booting LINBO, issues the credential and pushes it over SSH, retrying
//! until the client's SSH server answers ([`push_when_up`]). The client is
//! in RAM (`/tmp` is tmpfs), so the file is gone at the next boot; an
//! unused credential expires.

use std::time::Duration;

use bootbox_linbo::onboot::Command;
use bootbox_linbo::startconf::StartConf;
use bootbox_store::{Host, Store};

use crate::ssh::{self, shell_quote, SshConfig};
use crate::{RemoteError, Result};

/// How long a credential of a direct job stays valid (covers waking and
/// the commands before the upload).
pub const DIRECT_TTL: Duration = Duration::from_secs(4 * 3600);
/// How long a credential pushed at boot stays valid.
pub const ONBOOT_TTL: Duration = Duration::from_secs(2 * 3600);
/// How long the box keeps trying to reach a booting client's SSH server.
pub const PUSH_PATIENCE: Duration = Duration::from_secs(15 * 60);

/// The upload commands of a list, with their OS number.
pub fn upload_os(cmds: &[Command]) -> Option<u32> {
    cmds.iter().find_map(|c| match c {
        Command::UploadImage(n) | Command::UploadQdiff(n) => Some(*n),
        _ => None,
    })
}

/// The image base name OS `n` of the host's group uploads: its start.conf
/// `BaseImage` without folder and extension (`win11.qcow2` → `win11`).
pub fn image_of(store: &Store, host: &Host, n: u32) -> Option<String> {
    let text = store.group(&host.group).ok()??.start_conf?;
    let conf = StartConf::parse(&text).ok()?.conf;
    let os = conf.oses().into_iter().nth(n.checked_sub(1)? as usize)?;
    let file = os.base_image.rsplit('/').next()?.to_string();
    let base = file
        .strip_suffix(".qcow2")
        .or_else(|| file.strip_suffix(".qdiff"))
        .unwrap_or(&file);
    (!base.is_empty()).then(|| base.to_string())
}

/// Issues a credential for `host` uploading OS `n`.
pub fn issue(store: &Store, host: &Host, n: u32, ttl: Duration, actor: &str) -> Result<String> {
    let image = image_of(store, host, n);
    Ok(store.issue_upload_credential(
        &host.hostname,
        image.as_deref(),
        ttl.as_millis() as u64,
        actor,
    )?)
}

/// Writes `linbo:<credential>` to the client's secrets file (mode 600).
pub async fn push(cfg: &SshConfig, addr: &str, credential: &str) -> Result<()> {
    let line = format!("umask 077; cat > {}", shell_quote(&cfg.secrets_path));
    let input = format!("linbo:{credential}\n");
    let out = ssh::exec_input(
        cfg,
        addr,
        &line,
        Some(input.as_bytes()),
        Duration::from_secs(30),
    )
    .await?;
    if out.exit_code == Some(0) {
        Ok(())
    } else {
        Err(RemoteError::Invalid(format!(
            "cannot store the upload credential on {addr}: {}",
            out.output.trim()
        )))
    }
}

/// Deletes the client's secrets file (best effort).
pub async fn wipe(cfg: &SshConfig, addr: &str) {
    let line = format!("rm -f {}", shell_quote(&cfg.secrets_path));
    let _ = ssh::exec(cfg, addr, &line, Duration::from_secs(30)).await;
}

/// On-boot: pushes `credential` once the client answers on SSH, trying
/// every `every` for at most `patience`.
pub async fn push_when_up(
    cfg: &SshConfig,
    addr: &str,
    credential: &str,
    every: Duration,
    patience: Duration,
) -> Result<()> {
    let deadline = tokio::time::Instant::now() + patience;
    loop {
        match push(cfg, addr, credential).await {
            Ok(()) => return Ok(()),
            Err(e) if tokio::time::Instant::now() + every >= deadline => return Err(e),
            Err(_) => tokio::time::sleep(every).await,
        }
    }
}
