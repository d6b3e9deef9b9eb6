//! `bootbox firmware …`: signed A/B updates of the appliance firmware, and
//! the confirmation `bootbox serve` gives once it is healthy.
//!
//! On the appliance the boot partition is mounted at `/boot`, the public
//! key is baked in at `/etc/bootbox/firmware.pub`, the running version is
//! `/etc/bootbox-release` and GRUB names the running slot on the kernel
//! command line (`bootbox.slot=A|B`).

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use bootbox_firmware::slots::{self, Confirmed, Layout, Slot};
use bootbox_firmware::{bundle, keys, system};
use clap::{Args, Subcommand};

/// `bootbox firmware …`.
#[derive(Debug, Subcommand)]
pub enum FirmwareCommand {
    /// Verify a signed bundle, write it into the inactive slot, try it at
    /// the next boot (once) and reboot.
    Install {
        /// The bundle (a file or a block device holding one).
        bundle: PathBuf,
        /// Do not reboot after installing.
        #[arg(long)]
        no_reboot: bool,
        #[command(flatten)]
        paths: FirmwarePaths,
    },
    /// Mark the running slot good (what `bootbox serve` does once healthy).
    Confirm {
        #[command(flatten)]
        paths: FirmwarePaths,
    },
    /// Called when the service cannot start: if the running firmware has
    /// not confirmed itself and the other slot holds a good one, reboot so
    /// GRUB falls back to it; otherwise stay up.
    GiveUp {
        /// Only say what would happen.
        #[arg(long)]
        no_reboot: bool,
        #[command(flatten)]
        paths: FirmwarePaths,
    },
    /// Show the running slot, versions and the boot order.
    Status {
        /// JSON output.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        paths: FirmwarePaths,
    },
    /// Create a signing key pair (build machine): <dir>/firmware.key and
    /// <dir>/firmware.pub.
    Keygen {
        /// Output directory.
        dir: PathBuf,
    },
    /// Build a signed bundle from a kernel and an initramfs (build machine).
    #[command(disable_version_flag = true)]
    Pack {
        /// Secret key file (from `keygen`).
        #[arg(long)]
        key: PathBuf,
        /// Kernel image.
        #[arg(long)]
        kernel: PathBuf,
        /// Initramfs (the whole root file system).
        #[arg(long)]
        initramfs: PathBuf,
        /// Firmware version string.
        #[arg(long)]
        version: String,
        /// Output file.
        #[arg(short, long)]
        output: PathBuf,
    },
}

/// Where the appliance keeps its firmware pieces (overridable for tests).
#[derive(Debug, Args)]
pub struct FirmwarePaths {
    /// Mount point of the boot partition.
    #[arg(long, env = "BOOTBOX_BOOT_DIR", default_value = "/boot")]
    pub boot_dir: PathBuf,
    /// Public key bundles must be signed with.
    #[arg(
        long,
        env = "BOOTBOX_FIRMWARE_KEY",
        default_value = "/etc/bootbox/firmware.pub"
    )]
    pub public_key: PathBuf,
}

const RELEASE_FILE: &str = "/etc/bootbox-release";

fn running() -> Result<Slot> {
    let cmdline = std::fs::read_to_string("/proc/cmdline").unwrap_or_default();
    slots::running_slot(&cmdline).context(
        "not running as the appliance firmware (no bootbox.slot= on the kernel command line)",
    )
}

fn running_version() -> Option<String> {
    std::fs::read_to_string(RELEASE_FILE)
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| bundle::check_version(s).is_ok())
}

/// Runs a `bootbox firmware` command (needs no data directory).
pub fn run(cmd: FirmwareCommand) -> Result<()> {
    match cmd {
        FirmwareCommand::Install {
            bundle: path,
            no_reboot,
            paths,
        } => {
            let layout = Layout::new(&paths.boot_dir);
            slots::check_layout(&layout)?;
            let slot = running()?;
            let key = keys::read_public(&paths.public_key)?;
            let file = std::fs::File::open(&path)
                .with_context(|| format!("cannot open {}", path.display()))?;
            let verified = bundle::open(std::io::BufReader::new(file), &key)?;
            eprintln!(
                "bundle {} verified (version {})",
                path.display(),
                verified.manifest().version
            );
            let done = slots::install(&layout, slot, verified, &mut |m| eprintln!("{m}"))?;
            println!("installed {} into slot {}", done.version, done.slot);
            if !no_reboot {
                eprintln!("rebooting");
                reboot()?;
            }
            Ok(())
        }
        FirmwareCommand::Confirm { paths } => {
            let msg = confirm(&Layout::new(&paths.boot_dir))?;
            println!("{msg}");
            Ok(())
        }
        FirmwareCommand::GiveUp { no_reboot, paths } => {
            let slot = running()?;
            let st = slots::status(&Layout::new(&paths.boot_dir))?;
            if !slots::fallback_available(&st, slot) {
                println!(
                    "slot {slot} cannot start the service, but there is no other good firmware to fall back to; staying up"
                );
                return Ok(());
            }
            println!(
                "slot {slot} never became healthy; rebooting to fall back to slot {}",
                slot.other()
            );
            if !no_reboot {
                reboot()?;
            }
            Ok(())
        }
        FirmwareCommand::Status { json, paths } => {
            let layout = Layout::new(&paths.boot_dir);
            let st = slots::status(&layout)?;
            let slot = running().ok().map(Slot::name);
            let version = running_version();
            if json {
                let v = serde_json::json!({"running": slot, "version": version, "slots": st});
                println!("{v}");
            } else {
                println!(
                    "running: slot {} version {}",
                    slot.unwrap_or("-"),
                    version.as_deref().unwrap_or("-")
                );
                println!("order:   {}", st.order.join(" "));
                for (n, s) in [("A", &st.a), ("B", &st.b)] {
                    println!(
                        "slot {n}:  {} attempts-left={} version={}",
                        if s.ok { "ok" } else { "empty/failed" },
                        s.attempts_left,
                        s.version.as_deref().unwrap_or("-")
                    );
                }
            }
            Ok(())
        }
        FirmwareCommand::Keygen { dir } => keygen(&dir),
        FirmwareCommand::Pack {
            key,
            kernel,
            initramfs,
            version,
            output,
        } => {
            let key = keys::read_secret(&key)?;
            let tmp = output.with_extension("partial");
            let result = (|| -> Result<bundle::Manifest> {
                let mut out = std::io::BufWriter::new(
                    std::fs::File::create(&tmp)
                        .with_context(|| format!("cannot create {}", tmp.display()))?,
                );
                let m = bundle::pack(&key, &version, &kernel, &initramfs, &mut out)?;
                out.flush()?;
                std::fs::rename(&tmp, &output)?;
                Ok(m)
            })();
            if result.is_err() {
                let _ = std::fs::remove_file(&tmp);
            }
            let m = result?;
            eprintln!("wrote {} (version {})", output.display(), m.version);
            Ok(())
        }
    }
}

fn reboot() -> Result<()> {
    let status = std::process::Command::new("reboot")
        .status()
        .context("cannot run reboot")?;
    if !status.success() {
        bail!("reboot failed ({status})");
    }
    Ok(())
}

fn keygen(dir: &Path) -> Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let key = keys::generate()?;
    let secret = dir.join("firmware.key");
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&secret)
        .with_context(|| format!("cannot create {} (exists already?)", secret.display()))?;
    writeln!(f, "{}", keys::secret_hex(&key))?;
    f.sync_all()?;
    let public = dir.join("firmware.pub");
    crate::commands::write_atomic(
        &public,
        format!("{}\n", keys::public_hex(&key.verifying_key())).as_bytes(),
    )?;
    eprintln!(
        "wrote {} (keep it secret) and {}",
        secret.display(),
        public.display()
    );
    Ok(())
}

fn confirm(layout: &Layout) -> Result<String> {
    let slot = running()?;
    let version = running_version();
    Ok(match slots::confirm(layout, slot, version.as_deref())? {
        Confirmed::Unchanged => format!("slot {slot} already confirmed"),
        Confirmed::Confirmed => format!("slot {slot} confirmed"),
        Confirmed::RolledBack { failed, version } => format!(
            "ROLLBACK: slot {failed} (version {}) did not come up; running slot {slot} again and marking {failed} failed",
            version.as_deref().unwrap_or("?")
        ),
    })
}

/// Called by `bootbox serve` on the appliance: once `/healthz` answers
/// 200, the running slot is confirmed (a slot that never gets here is
/// rolled back by GRUB at the next boot). Does nothing off the appliance.
pub fn confirm_when_healthy(http: SocketAddr, store: Arc<bootbox_store::Store>) {
    if running().is_err() {
        return;
    }
    let target = if http.ip().is_unspecified() {
        SocketAddr::from(([127, 0, 0, 1], http.port()))
    } else {
        http
    };
    tokio::spawn(async move {
        for _ in 0..60 {
            tokio::time::sleep(Duration::from_secs(2)).await;
            if healthz_ok(target).await {
                let layout = system::layout();
                let res = tokio::task::spawn_blocking(move || confirm(&layout)).await;
                match res {
                    Ok(Ok(msg)) => {
                        tracing::info!("firmware: {msg}");
                        let _ = store.record("firmware.confirm", msg);
                    }
                    Ok(Err(e)) => tracing::warn!(error = %e, "firmware: cannot confirm the slot"),
                    Err(e) => tracing::warn!(error = %e, "firmware: confirm task failed"),
                }
                return;
            }
        }
        tracing::warn!("firmware: /healthz never answered; the slot stays unconfirmed");
    });
}

async fn healthz_ok(addr: SocketAddr) -> bool {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let attempt = async {
        let mut s = tokio::net::TcpStream::connect(addr).await.ok()?;
        s.write_all(b"GET /healthz HTTP/1.0\r\nHost: localhost\r\n\r\n")
            .await
            .ok()?;
        let mut buf = [0u8; 32];
        let n = s.read(&mut buf).await.ok()?;
        let head = std::str::from_utf8(&buf[..n]).ok()?;
        Some(head.starts_with("HTTP/1.") && head.get(9..12) == Some("200"))
    };
    matches!(
        tokio::time::timeout(Duration::from_secs(5), attempt).await,
        Ok(Some(true))
    )
}

#[cfg(test)]
mod tests {
    /// clap's own consistency checks over the whole command line (they
    /// caught `pack --version` clashing with the propagated `--version`).
    #[test]
    fn command_line_is_consistent() {
        use clap::CommandFactory;
        crate::cli::Cli::command().debug_assert();
    }
}
