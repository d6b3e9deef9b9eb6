//! LINBO's network GRUB cores (`boot/grub/i386-pc/core.0`,
//! `boot/grub/x86_64-efi/core.efi`), built with Debian's `grub-mkimage`
//! from the modules of `grub-pc-bin` / `grub-efi-amd64-bin`.
//!
//! This module is pure: it says which modules go into a core and how
//! `grub-mkimage` is called; running it is the binary's job.
//!
//! Every module the rendered `boot/grub/grub.cfg` and the group menus use
//! ([`crate::grub`]) is embedded, so a core boots LINBO without fetching a
//! single module. The platform's `*.mod` files are copied next to the
//! core as well (as `grub-mknetdir` does for LINBO), so an admin's own
//! `hostcfg/<host>.cfg` can still `insmod` anything else over TFTP.
//!
//! The prefix names the box explicitly (`(tftp,<ip>)/boot/grub`) and an
//! embedded early config sets `net_default_server`: in ProxyDHCP mode the
//! firmware's cached DHCP ACK is the school server's, whose next-server
//! is not the box.

use std::net::Ipv4Addr;
use std::path::Path;

/// Modules both platforms embed: everything the rendered GRUB configs
/// call, plus the network stack.
pub const COMMON_MODULES: &[&str] = &[
    "normal",
    "configfile",
    "boot",
    "linux",
    "chain",
    "echo",
    "test",
    "true",
    "eval",
    "regexp",
    "sleep",
    "minicmd",
    "cat",
    "ls",
    "halt",
    "reboot",
    "search",
    "search_label",
    "search_fs_file",
    "search_fs_uuid",
    "loadenv",
    "part_gpt",
    "part_msdos",
    "ext2",
    "fat",
    "ntfs",
    "gzio",
    "all_video",
    "gfxterm",
    "serial",
    "terminal",
    "net",
    "tftp",
    "http",
];

/// A GRUB platform LINBO netboots.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CorePlatform {
    /// Legacy BIOS PXE (`i386-pc`, image format `i386-pc-pxe`).
    Pc,
    /// x64 UEFI (`x86_64-efi`).
    Efi,
}

impl CorePlatform {
    /// Both platforms, BIOS first.
    pub const ALL: [CorePlatform; 2] = [CorePlatform::Pc, CorePlatform::Efi];

    /// GRUB's platform directory name (`/usr/lib/grub/<dir>`, and
    /// `boot/grub/<dir>` in the LINBO tree).
    pub fn dir(self) -> &'static str {
        match self {
            Self::Pc => "i386-pc",
            Self::Efi => "x86_64-efi",
        }
    }

    /// `grub-mkimage -O` image format.
    pub fn format(self) -> &'static str {
        match self {
            Self::Pc => "i386-pc-pxe",
            Self::Efi => "x86_64-efi",
        }
    }

    /// The core's path relative to the LINBO tree (= TFTP root), where
    /// LINBO's DHCP configuration points the firmware.
    pub fn core_path(self) -> &'static str {
        match self {
            Self::Pc => "boot/grub/i386-pc/core.0",
            Self::Efi => "boot/grub/x86_64-efi/core.efi",
        }
    }

    /// Debian package that ships the platform's modules.
    pub fn package(self) -> &'static str {
        match self {
            Self::Pc => "grub-pc-bin",
            Self::Efi => "grub-efi-amd64-bin",
        }
    }

    /// Modules embedded in the core.
    pub fn modules(self) -> Vec<&'static str> {
        let own: &[&str] = match self {
            Self::Pc => &["pxe", "biosdisk", "ntldr"],
            Self::Efi => &["efinet", "efi_gop", "efi_uga"],
        };
        own.iter().chain(COMMON_MODULES).copied().collect()
    }

    /// Largest sensible core: a BIOS PXE image is loaded below 640 KiB
    /// (at 0x7c00), so it must stay well under ~600 KiB.
    pub fn max_size(self) -> u64 {
        match self {
            Self::Pc => 560 * 1024,
            Self::Efi => 16 * 1024 * 1024,
        }
    }

    /// Sanity check of a built core's first bytes and size: a BIOS core
    /// is raw code (only the size is checked), an EFI core a PE image
    /// (`MZ` header with a `PE\0\0` signature).
    pub fn check_image(self, bytes: &[u8]) -> Result<(), String> {
        let len = bytes.len() as u64;
        if len < 16 * 1024 {
            return Err(format!("{} is only {len} bytes", self.core_path()));
        }
        if len > self.max_size() {
            return Err(format!(
                "{} is {len} bytes, more than the {} the firmware can load",
                self.core_path(),
                self.max_size()
            ));
        }
        if self == Self::Efi {
            let pe_at = bytes
                .get(0x3c..0x40)
                .and_then(|b| <[u8; 4]>::try_from(b).ok())
                .map(|b| u32::from_le_bytes(b) as usize);
            let pe_ok = pe_at
                .and_then(|at| bytes.get(at..at + 4))
                .is_some_and(|sig| sig == b"PE\0\0");
            if !bytes.starts_with(b"MZ") || !pe_ok {
                return Err(format!("{} is not a PE/EFI image", self.core_path()));
            }
        }
        Ok(())
    }
}

/// GRUB's prefix for the cores: the box's TFTP root, by address when the
/// box knows it.
pub fn prefix(server: Option<Ipv4Addr>) -> String {
    match server {
        Some(ip) => format!("(tftp,{ip})/boot/grub"),
        None => "(tftp)/boot/grub".to_string(),
    }
}

/// Early config embedded into the core (`grub-mkimage -c`); runs before
/// `normal` loads `$prefix/grub.cfg`. `None` when the box's address is
/// unknown (the firmware's next-server is used then).
pub fn early_config(server: Option<Ipv4Addr>) -> Option<String> {
    server.map(|ip| {
        // No comment line: the kernel runs this with GRUB's rescue parser,
        // which knows no comments ("Unknown command `#'").
        format!("set net_default_server={ip}\n")
    })
}

/// `grub-mkimage` arguments building one core.
///
/// `modules_dir` is `/usr/lib/grub/<dir>`, `output` the (temporary) file
/// to write, `early_config` the file holding [`early_config`]'s text.
pub fn mkimage_args(
    platform: CorePlatform,
    modules_dir: &Path,
    output: &Path,
    server: Option<Ipv4Addr>,
    early_config: Option<&Path>,
) -> Vec<String> {
    let mut args = vec![
        "-O".to_string(),
        platform.format().to_string(),
        "-d".to_string(),
        modules_dir.display().to_string(),
        "-o".to_string(),
        output.display().to_string(),
        "-p".to_string(),
        prefix(server),
    ];
    if let Some(cfg) = early_config {
        args.push("-c".to_string());
        args.push(cfg.display().to_string());
    }
    args.extend(platform.modules().into_iter().map(str::to_string));
    args
}

/// What identifies a built core: `grub-mkimage`'s version, platform,
/// prefix, early config and modules. A core whose stamp differs is
/// rebuilt.
pub fn stamp(platform: CorePlatform, grub_version: &str, server: Option<Ipv4Addr>) -> String {
    format!(
        "grub {}\nformat {}\nprefix {}\nearly {:?}\nmodules {}\n",
        grub_version.trim(),
        platform.format(),
        prefix(server),
        early_config(server),
        platform.modules().join(" ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    #[test]
    fn arguments_per_platform() {
        let ip = Some(Ipv4Addr::new(10, 0, 0, 2));
        let a = mkimage_args(
            CorePlatform::Pc,
            Path::new("/usr/lib/grub/i386-pc"),
            Path::new("/t/core.0"),
            ip,
            Some(Path::new("/t/early.cfg")),
        );
        assert_eq!(
            a[..10],
            [
                "-O",
                "i386-pc-pxe",
                "-d",
                "/usr/lib/grub/i386-pc",
                "-o",
                "/t/core.0",
                "-p",
                "(tftp,10.0.0.2)/boot/grub",
                "-c",
                "/t/early.cfg"
            ]
        );
        for m in ["pxe", "tftp", "http", "normal", "loadenv", "ntldr", "eval"] {
            assert!(a.iter().any(|x| x == m), "{m} missing in {a:?}");
        }
        let e = mkimage_args(
            CorePlatform::Efi,
            Path::new("/m"),
            Path::new("/o"),
            None,
            None,
        );
        assert_eq!(e[1], "x86_64-efi");
        assert_eq!(e[7], "(tftp)/boot/grub");
        assert!(!e.iter().any(|x| x == "-c" || x == "pxe" || x == "ntldr"));
        assert!(e.iter().any(|x| x == "efinet"));
        assert_eq!(early_config(None), None);
        assert!(early_config(ip).is_some_and(|c| c.contains("set net_default_server=10.0.0.2\n")));
        assert_ne!(
            stamp(CorePlatform::Pc, "2.06", ip),
            stamp(CorePlatform::Pc, "2.06", None)
        );
    }

    #[test]
    fn image_checks() {
        assert!(CorePlatform::Pc.check_image(&[0u8; 100]).is_err());
        assert!(CorePlatform::Pc
            .check_image(&vec![0u8; 600 * 1024])
            .is_err());
        assert!(CorePlatform::Pc.check_image(&vec![0u8; 200 * 1024]).is_ok());
        let mut pe = vec![0u8; 64 * 1024];
        pe[..2].copy_from_slice(b"MZ");
        assert!(CorePlatform::Efi.check_image(&pe).is_err());
        pe[0x3c] = 0x80;
        pe[0x80..0x84].copy_from_slice(b"PE\0\0");
        assert!(CorePlatform::Efi.check_image(&pe).is_ok());
    }

    /// Builds both cores with the real `grub-mkimage` when the machine has
    /// it and the platform's modules (Debian: grub-common, grub-pc-bin,
    /// grub-efi-amd64-bin); skipped otherwise.
    #[test]
    fn real_grub_mkimage_builds_sane_cores() {
        if std::process::Command::new("grub-mkimage")
            .arg("--version")
            .output()
            .is_err()
        {
            eprintln!("grub-mkimage not installed: skipped");
            return;
        }
        let tmp = tempfile::tempdir().expect("tempdir");
        let ip = Some(Ipv4Addr::new(10, 0, 0, 2));
        let early = tmp.path().join("early.cfg");
        std::fs::write(&early, early_config(ip).expect("cfg")).expect("write");
        for p in CorePlatform::ALL {
            let dir = PathBuf::from("/usr/lib/grub").join(p.dir());
            if !dir.join("moddep.lst").exists() {
                eprintln!("{} not installed: skipped", p.package());
                continue;
            }
            let out = tmp.path().join(p.dir());
            let st = std::process::Command::new("grub-mkimage")
                .args(mkimage_args(p, &dir, &out, ip, Some(&early)))
                .status()
                .expect("run grub-mkimage");
            assert!(st.success(), "grub-mkimage failed for {p:?}");
            let bytes = std::fs::read(&out).expect("read core");
            p.check_image(&bytes).expect("sane core");
        }
    }
}
