//! `bootbox grub build`: LINBO's network GRUB cores, built with Debian's
//! `grub-mkimage` (what goes in: [`bootbox_boot::grubcore`]).
//!
//! `bootbox serve` runs the same build at start when a core is missing or
//! outdated (other GRUB version, other box address). Without the GRUB
//! packages it only warns: the iPXE chain does not need them.

use std::fs;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};
use bootbox_boot::grubcore::{self, CorePlatform};
use clap::Subcommand;

use super::write_atomic;
use crate::datadir::DataDir;

/// Where Debian installs GRUB's platform directories.
pub const GRUB_LIB: &str = "/usr/lib/grub";

/// Name of the build stamp next to each core.
const STAMP: &str = ".bootbox-core.stamp";

/// `bootbox grub …`.
#[derive(Debug, Subcommand)]
pub enum GrubCommand {
    /// Build <data>/linbo/boot/grub/i386-pc/core.0 and
    /// boot/grub/x86_64-efi/core.efi with grub-mkimage (packages
    /// grub-common, grub-pc-bin, grub-efi-amd64-bin) and copy the
    /// platforms' modules next to them.
    Build {
        /// The box's address on the boot LAN, baked into the cores (the
        /// DHCP answer GRUB sees in ProxyDHCP mode is the school's).
        /// `bootbox serve` uses its --server-ip.
        #[arg(long)]
        server_ip: Option<Ipv4Addr>,
        /// Rebuild even when the cores are up to date.
        #[arg(long)]
        force: bool,
    },
}

/// Runs a `grub` command.
pub fn run(dir: &DataDir, cmd: GrubCommand) -> Result<()> {
    match cmd {
        GrubCommand::Build { server_ip, force } => {
            let mut failed = 0;
            for (platform, outcome) in build_all(&dir.linbo(), server_ip, force) {
                match outcome {
                    Ok(o) => eprintln!("{}: {o}", platform.core_path()),
                    Err(e) => {
                        failed += 1;
                        eprintln!("{}: {e:#}", platform.core_path());
                    }
                }
            }
            if failed > 0 {
                bail!("{failed} GRUB core(s) not built; the iPXE chain still works");
            }
            Ok(())
        }
    }
}

/// What a build did with one core.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Built (or rebuilt) now.
    Built {
        /// Size of the core in bytes.
        size: u64,
    },
    /// The existing core matches the stamp.
    UpToDate,
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Outcome::Built { size } => write!(f, "built ({size} bytes)"),
            Outcome::UpToDate => write!(f, "up to date"),
        }
    }
}

/// Builds both cores under `linbo`; one result per platform.
pub fn build_all(
    linbo: &Path,
    server: Option<Ipv4Addr>,
    force: bool,
) -> Vec<(CorePlatform, Result<Outcome>)> {
    let version = grub_version();
    CorePlatform::ALL
        .into_iter()
        .map(|p| {
            let r = match &version {
                Ok(v) => build_one(linbo, p, v, server, force),
                Err(e) => Err(anyhow::anyhow!("{e:#}")),
            };
            (p, r)
        })
        .collect()
}

/// `grub-mkimage --version`, or why it cannot run.
fn grub_version() -> Result<String> {
    let out = Command::new("grub-mkimage")
        .arg("--version")
        .output()
        .context("grub-mkimage not found (install grub-common, grub-pc-bin, grub-efi-amd64-bin)")?;
    if !out.status.success() {
        bail!("grub-mkimage --version failed");
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn build_one(
    linbo: &Path,
    platform: CorePlatform,
    version: &str,
    server: Option<Ipv4Addr>,
    force: bool,
) -> Result<Outcome> {
    let modules = PathBuf::from(GRUB_LIB).join(platform.dir());
    if !modules.join("moddep.lst").is_file() {
        bail!(
            "{} has no GRUB modules (install the Debian package {})",
            modules.display(),
            platform.package()
        );
    }
    let core = linbo.join(platform.core_path());
    let out_dir = core
        .parent()
        .context("core path has no directory")?
        .to_path_buf();
    fs::create_dir_all(&out_dir).with_context(|| format!("cannot create {}", out_dir.display()))?;
    let stamp = grubcore::stamp(platform, version, server);
    let stamp_path = out_dir.join(STAMP);
    if !force && core.is_file() && fs::read_to_string(&stamp_path).is_ok_and(|s| s == stamp) {
        return Ok(Outcome::UpToDate);
    }
    // Modules first: a core that exists is usable with its module dir.
    copy_modules(&modules, &out_dir)?;
    let tmp = out_dir.join(format!(".core.tmp-{}", std::process::id()));
    let early = out_dir.join(format!(".early.cfg.tmp-{}", std::process::id()));
    let early_path = match grubcore::early_config(server) {
        Some(text) => {
            fs::write(&early, text).with_context(|| format!("cannot write {}", early.display()))?;
            Some(early.as_path())
        }
        None => None,
    };
    let args = grubcore::mkimage_args(platform, &modules, &tmp, server, early_path);
    let result = Command::new("grub-mkimage")
        .args(&args)
        .output()
        .context("cannot run grub-mkimage");
    let _ = fs::remove_file(&early);
    let out = result?;
    if !out.status.success() {
        let _ = fs::remove_file(&tmp);
        bail!(
            "grub-mkimage {} failed: {}",
            platform.format(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let bytes = fs::read(&tmp).with_context(|| format!("cannot read {}", tmp.display()))?;
    if let Err(e) = platform.check_image(&bytes) {
        let _ = fs::remove_file(&tmp);
        bail!("grub-mkimage wrote a broken image: {e}");
    }
    fs::rename(&tmp, &core).with_context(|| format!("cannot replace {}", core.display()))?;
    write_atomic(&stamp_path, stamp.as_bytes())?;
    Ok(Outcome::Built {
        size: bytes.len() as u64,
    })
}

/// Copies `*.mod`, `*.lst` (and the other small files grub-mknetdir
/// copies) from the platform's module dir, skipping unchanged ones.
fn copy_modules(from: &Path, to: &Path) -> Result<()> {
    let entries = fs::read_dir(from).with_context(|| format!("cannot list {}", from.display()))?;
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name();
        let Some(n) = name.to_str() else { continue };
        if !(n.ends_with(".mod") || n.ends_with(".lst")) {
            continue;
        }
        let src = entry.path();
        let dst = to.join(n);
        let bytes = fs::read(&src).with_context(|| format!("cannot read {}", src.display()))?;
        if fs::read(&dst).is_ok_and(|old| old == bytes) {
            continue;
        }
        write_atomic(&dst, &bytes)?;
    }
    Ok(())
}

/// At `serve` start: builds missing or outdated cores, logs what it did.
/// Returns which platforms have a core afterwards (built now or earlier,
/// or put there by the admin).
pub fn ensure_at_start(linbo: &Path, server: Option<Ipv4Addr>) -> Vec<CorePlatform> {
    for (platform, r) in build_all(linbo, server, false) {
        match r {
            Ok(Outcome::UpToDate) => {}
            Ok(o) => tracing::info!(core = platform.core_path(), "GRUB core {o}"),
            Err(e) => tracing::warn!(
                core = platform.core_path(),
                error = %format!("{e:#}"),
                "no GRUB core built; hosts on the GRUB chain get iPXE"
            ),
        }
    }
    CorePlatform::ALL
        .into_iter()
        .filter(|p| linbo.join(p.core_path()).is_file())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// With Debian's GRUB installed: builds both cores, then finds them up
    /// to date, then rebuilds for another address.
    #[test]
    fn builds_and_keeps_cores() {
        if grub_version().is_err() {
            eprintln!("grub-mkimage not installed: skipped");
            return;
        }
        let tmp = tempfile::tempdir().expect("tempdir");
        let ip = Some(Ipv4Addr::new(10, 0, 0, 2));
        for (p, r) in build_all(tmp.path(), ip, false) {
            if !PathBuf::from(GRUB_LIB)
                .join(p.dir())
                .join("moddep.lst")
                .exists()
            {
                assert!(r.is_err());
                continue;
            }
            assert!(matches!(r, Ok(Outcome::Built { .. })), "{p:?}: {r:?}");
            assert!(tmp
                .path()
                .join("boot/grub")
                .join(p.dir())
                .join("tftp.mod")
                .is_file());
        }
        for (_, r) in build_all(tmp.path(), ip, false) {
            if let Ok(o) = r {
                assert_eq!(o, Outcome::UpToDate);
            }
        }
        for (_, r) in build_all(tmp.path(), None, false) {
            if let Ok(o) = r {
                assert!(matches!(o, Outcome::Built { .. }));
            }
        }
    }
}
