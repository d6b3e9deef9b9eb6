//! # bootbox-boot — what a network-booting PC is told
//!
//! The middle of Bootbox's data flow: **registry → decisions → protocol
//! servers**. This crate turns the registry's view of one MAC
//! ([`bootbox_store::BootView`]) into
//!
//! - the DHCP answer ([`decide::dhcp_answer`]): which first-stage file
//!   (iPXE binary per firmware) or which script URL, or no answer at all;
//! - the iPXE script ([`script::ipxe_script`]): LINBO with the group's
//!   KernelOptions, local disk, a menu, registration info for unknown PCs,
//!   or a custom kernel;
//! - and keeps the per-MAC boot timeline ([`timeline`]) with plain-language
//!   hints when a boot stalls.
//!
//! Decisions are pure functions of the view and [`BootConfig`]: no I/O, no
//! waiting, so the boot path answers in microseconds.

pub mod decide;
pub mod files;
pub mod grub;
pub mod grubcore;
pub mod script;
pub mod timeline;

use std::net::Ipv4Addr;

pub use decide::{dhcp_answer, effective_chain, DhcpAnswer, Firmware};
pub use script::ipxe_script;

/// What to do with PCs whose MAC is not registered.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UnknownPolicy {
    /// Answer and show an iPXE screen with the MAC to register, then boot
    /// the local disk.
    #[default]
    Register,
    /// Do not answer (the PC boots as if Bootbox were not there).
    Ignore,
}

/// Where the box serves things and how it treats unknown PCs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BootConfig {
    /// The box's address on the boot LAN (IP literal: UEFI HTTP boot and
    /// iPXE need no DNS then).
    pub server_ip: Ipv4Addr,
    /// Port of the plain-HTTP boot server.
    pub http_port: u16,
    /// Unknown MACs.
    pub unknown: UnknownPolicy,
    /// First-stage iPXE binaries, relative to the TFTP root (`<data>/linbo`).
    pub nbp: NbpFiles,
}

/// First-stage boot files (iPXE builds) per firmware, relative to the TFTP
/// root. Debian's `ipxe` package provides the x86 ones; the admin may
/// replace them with an own build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NbpFiles {
    /// Legacy BIOS PXE (UNDI driver).
    pub bios: String,
    /// x64 UEFI (SNP driver: uses the firmware's NIC driver).
    pub efi_x64: String,
    /// 32-bit UEFI.
    pub efi_ia32: String,
    /// ARM64 UEFI.
    pub efi_arm64: String,
    /// LINBO's network GRUB for legacy BIOS PXE, for hosts on the GRUB
    /// chain ([`bootbox_store::BootChain::Grub`]); `None` when the box has
    /// no GRUB core (those hosts then get iPXE).
    pub grub_bios: Option<String>,
    /// LINBO's network GRUB for x64 UEFI (see `grub_bios`).
    pub grub_efi_x64: Option<String>,
}

impl Default for NbpFiles {
    fn default() -> Self {
        Self {
            bios: "boot/ipxe/undionly.kpxe".into(),
            efi_x64: "boot/ipxe/snponly.efi".into(),
            efi_ia32: "boot/ipxe/snponly-i386.efi".into(),
            efi_arm64: "boot/ipxe/snponly-arm64.efi".into(),
            grub_bios: Some(grubcore::CorePlatform::Pc.core_path().into()),
            grub_efi_x64: Some(grubcore::CorePlatform::Efi.core_path().into()),
        }
    }
}

impl BootConfig {
    /// `http://<ip>:<port>` — base of every URL handed to clients.
    pub fn base_url(&self) -> String {
        if self.http_port == 80 {
            format!("http://{}", self.server_ip)
        } else {
            format!("http://{}:{}", self.server_ip, self.http_port)
        }
    }

    /// URL of the iPXE entry script.
    pub fn script_url(&self) -> String {
        format!("{}/boot.ipxe", self.base_url())
    }

    /// URL of a file in the LINBO tree (`<data>/linbo/<path>`).
    pub fn file_url(&self, path: &str) -> String {
        format!("{}/linbo/{}", self.base_url(), path.trim_start_matches('/'))
    }
}
