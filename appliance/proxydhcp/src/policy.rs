//! The boot decision, supplied from outside (the registry, via the binary).

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::net::Ipv4Addr;

use crate::client::{Arch, Mac, PxeClient, VendorKind};

/// The boot file to offer: a path relative to the TFTP root (e.g.
/// `undionly.kpxe`, `boot/grub/x86_64-efi/core.efi`) or a full URL (e.g.
/// `http://10.0.0.1/boot.ipxe`). UEFI HTTP boot clients need a URL, and it
/// should use an IP literal (EDK2 only accepts a proxy offer's URL without
/// DNS as "ProxyIpUri").
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BootFile(String);

impl BootFile {
    /// Wraps a file name or URL.
    pub fn new(name: impl Into<String>) -> Self {
        BootFile(name.into())
    }

    /// The name or URL.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// True when it is an `http://` or `https://` URL.
    pub fn is_url(&self) -> bool {
        let s = self.0.as_bytes();
        let starts = |p: &[u8]| s.len() >= p.len() && s[..p.len()].eq_ignore_ascii_case(p);
        starts(b"http://") || starts(b"https://")
    }
}

impl fmt::Display for BootFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for BootFile {
    fn from(s: &str) -> Self {
        BootFile::new(s)
    }
}

impl From<String> for BootFile {
    fn from(s: String) -> Self {
        BootFile(s)
    }
}

/// What to do with a PXE/HTTP boot client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Do not answer (e.g. host registered with "no PXE"). In full-DHCP
    /// mode the client still gets an address, just no boot options.
    Ignore,
    /// Offer this boot file.
    Boot(BootFile),
}

/// Registry data for one host, used in full-DHCP mode.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostInfo {
    /// Host name (option 12). LINBO takes it as HOSTNAME.
    pub hostname: Option<String>,
    /// LINBO group, sent as option 18 (extensions path) and option 40 (NIS
    /// domain) like linuxmuster's dhcpd config. linuxmuster only sends them
    /// for hosts whose PXE flag is not 0, so leave it `None` for those.
    pub group: Option<String>,
    /// Fixed address; `None` = take one from the pool.
    pub fixed_address: Option<Ipv4Addr>,
}

/// Decides per client what to boot. Called on the receive path for every
/// answered packet, under the engine lock: it must answer from local state
/// in microseconds and never block on I/O (slow answers make ROMs time out).
pub trait BootPolicy: Send + Sync + 'static {
    /// The boot decision for a PXE or HTTP boot client. The policy picks
    /// per architecture (e.g. `undionly.kpxe` for BIOS, `snponly.efi` /
    /// `ipxe.efi` for UEFI, a full `http://<ip>/...` URL for HTTP boot) and
    /// the iPXE script URL when `client.is_ipxe`.
    fn decide(&self, client: &PxeClient) -> Decision;

    /// Registry data for `mac` (full-DHCP mode only). Default: unknown.
    fn host(&self, _mac: Mac) -> Option<HostInfo> {
        None
    }

    /// True when `ip` is some registered host's fixed address, so the
    /// dynamic pool must not hand it out (full-DHCP mode only).
    fn is_reserved(&self, _ip: Ipv4Addr) -> bool {
        false
    }
}

/// A policy with fixed files from configuration; handy default and test
/// double. Unset entries mean "ignore clients of that kind".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StaticPolicy {
    /// BIOS PXE ROMs (arch 0).
    pub bios: Option<BootFile>,
    /// IA32 UEFI (arch 6).
    pub efi_ia32: Option<BootFile>,
    /// x64 UEFI (arch 7 and 9).
    pub efi_x64: Option<BootFile>,
    /// ARM32 UEFI (arch 10).
    pub efi_arm32: Option<BootFile>,
    /// ARM64 UEFI (arch 11).
    pub efi_arm64: Option<BootFile>,
    /// IA32 UEFI HTTP boot (arch 15); must be a URL.
    pub http_ia32: Option<BootFile>,
    /// x64 UEFI HTTP boot (arch 16); must be a URL.
    pub http_x64: Option<BootFile>,
    /// ARM64 UEFI HTTP boot (arch 19); must be a URL.
    pub http_arm64: Option<BootFile>,
    /// What iPXE gets (any arch): the script URL.
    pub ipxe_script: Option<BootFile>,
    /// MACs that must not be answered (registered with "no PXE").
    pub no_pxe: HashSet<Mac>,
    /// Registry data for full-DHCP mode.
    pub hosts: HashMap<Mac, HostInfo>,
}

impl StaticPolicy {
    /// The standard iPXE chainload set: `undionly.kpxe` (BIOS),
    /// `ipxe.efi` (IA32/x64 UEFI, arch-specific builds named
    /// `ipxe-ia32.efi`, `ipxe-arm32.efi`, `ipxe-arm64.efi`), the same files
    /// over `http://<server_ip>:<http_port>/` for HTTP boot, and
    /// `http://<server_ip>:<http_port>/boot.ipxe` for iPXE.
    pub fn ipxe_chainload(server_ip: Ipv4Addr, http_port: u16) -> Self {
        let base = if http_port == 80 {
            format!("http://{server_ip}")
        } else {
            format!("http://{server_ip}:{http_port}")
        };
        StaticPolicy {
            bios: Some("undionly.kpxe".into()),
            efi_ia32: Some("ipxe-ia32.efi".into()),
            efi_x64: Some("ipxe.efi".into()),
            efi_arm32: Some("ipxe-arm32.efi".into()),
            efi_arm64: Some("ipxe-arm64.efi".into()),
            http_ia32: Some(format!("{base}/ipxe-ia32.efi").into()),
            http_x64: Some(format!("{base}/ipxe.efi").into()),
            http_arm64: Some(format!("{base}/ipxe-arm64.efi").into()),
            ipxe_script: Some(format!("{base}/boot.ipxe").into()),
            ..StaticPolicy::default()
        }
    }

    /// linuxmuster's GRUB files (paths relative to the TFTP root
    /// `/srv/linbo`): `boot/grub/i386-pc/core.0` for BIOS,
    /// `boot/grub/x86_64-efi/core.efi` for x64 UEFI,
    /// `boot/grub/i386-efi/core.efi` for IA32 UEFI. No iPXE involved.
    pub fn linbo_grub() -> Self {
        StaticPolicy {
            bios: Some("boot/grub/i386-pc/core.0".into()),
            efi_ia32: Some("boot/grub/i386-efi/core.efi".into()),
            efi_x64: Some("boot/grub/x86_64-efi/core.efi".into()),
            ..StaticPolicy::default()
        }
    }
}

impl BootPolicy for StaticPolicy {
    fn decide(&self, client: &PxeClient) -> Decision {
        if self.no_pxe.contains(&client.mac) {
            return Decision::Ignore;
        }
        let file = if client.is_ipxe {
            &self.ipxe_script
        } else {
            match (client.vendor, client.arch) {
                (VendorKind::HttpClient, Arch::HttpIa32 | Arch::EfiIa32) => &self.http_ia32,
                (VendorKind::HttpClient, Arch::HttpArm64 | Arch::EfiArm64) => &self.http_arm64,
                (VendorKind::HttpClient, _) => &self.http_x64,
                (_, Arch::Bios) => &self.bios,
                (_, Arch::EfiIa32) => &self.efi_ia32,
                (_, Arch::EfiX64) => &self.efi_x64,
                (_, Arch::EfiArm32) => &self.efi_arm32,
                (_, Arch::EfiArm64) => &self.efi_arm64,
                (_, Arch::HttpIa32) => &self.http_ia32,
                (_, Arch::HttpX64) => &self.http_x64,
                (_, Arch::HttpArm64) => &self.http_arm64,
                (_, Arch::Other(_)) => &None,
            }
        };
        match file {
            Some(f) => Decision::Boot(f.clone()),
            None => Decision::Ignore,
        }
    }

    fn host(&self, mac: Mac) -> Option<HostInfo> {
        self.hosts.get(&mac).cloned()
    }

    fn is_reserved(&self, ip: Ipv4Addr) -> bool {
        self.hosts.values().any(|h| h.fixed_address == Some(ip))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_detection() {
        assert!(BootFile::new("http://10.0.0.1/x").is_url());
        assert!(BootFile::new("HTTPS://10.0.0.1/x").is_url());
        assert!(!BootFile::new("undionly.kpxe").is_url());
        assert!(!BootFile::new("http:").is_url());
    }

    #[test]
    fn chainload_urls() {
        let p = StaticPolicy::ipxe_chainload(Ipv4Addr::new(10, 0, 0, 1), 8080);
        assert_eq!(
            p.ipxe_script.as_ref().map(BootFile::as_str),
            Some("http://10.0.0.1:8080/boot.ipxe")
        );
        let p = StaticPolicy::ipxe_chainload(Ipv4Addr::new(10, 0, 0, 1), 80);
        assert_eq!(
            p.http_x64.as_ref().map(BootFile::as_str),
            Some("http://10.0.0.1/ipxe.efi")
        );
    }
}
