//! The DHCP-level decision: answer or not, and with what.

use bootbox_store::{BootChain, BootMode, BootView};

use crate::{BootConfig, UnknownPolicy};

/// Firmware families, from DHCP option 93 (and option 60 for HTTP boot).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Firmware {
    /// Legacy BIOS PXE (arch 0).
    Bios,
    /// 32-bit UEFI (arch 6).
    EfiIa32,
    /// x64 UEFI (arch 7, and 9 which old firmware sends for x64).
    EfiX64,
    /// ARM64 UEFI (arch 11).
    EfiArm64,
    /// UEFI HTTP boot (arch 15/16/19): wants a URL, not a TFTP name.
    HttpBoot,
    /// Anything else: not served.
    Other(u16),
}

impl Firmware {
    /// Maps an option-93 architecture number.
    pub fn from_arch(arch: u16) -> Self {
        match arch {
            0 => Self::Bios,
            6 => Self::EfiIa32,
            7 | 9 => Self::EfiX64,
            11 => Self::EfiArm64,
            15 | 16 | 19 => Self::HttpBoot,
            other => Self::Other(other),
        }
    }
}

/// What the DHCP side should tell a PXE client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DhcpAnswer {
    /// Send nothing; `reason` goes to the timeline.
    Ignore {
        /// Why, in plain words.
        reason: String,
    },
    /// A first-stage file to fetch by TFTP (path under the TFTP root).
    Tftp(String),
    /// A URL (iPXE script, or an EFI binary for UEFI HTTP boot).
    Url(String),
}

/// Decides the DHCP answer for a PXE client.
///
/// - PXE flag 0 in devices.csv → no answer (LINBO's rule).
/// - Unknown MAC → answer per [`UnknownPolicy`].
/// - A registered host on the GRUB chain ([`effective_chain`]) with BIOS
///   or x64 UEFI firmware → LINBO's network GRUB core by TFTP (when the box
///   has one), which loads `boot/grub/grub.cfg`; also when the NIC's PXE
///   stack is an iPXE ROM.
/// - iPXE (already chain-loaded or in the NIC ROM) → the script URL, which
///   breaks the chainload loop.
/// - UEFI HTTP boot → the URL of the x64 iPXE binary over HTTP.
/// - Otherwise → the iPXE binary for the firmware by TFTP.
///
/// What the PC finally boots (LINBO, local disk, …) is decided in the
/// script, so every firmware takes the same path and shows up in the
/// timeline.
pub fn dhcp_answer(
    view: Option<&BootView>,
    firmware: Firmware,
    is_ipxe: bool,
    cfg: &BootConfig,
) -> DhcpAnswer {
    match view {
        Some(v) if !v.host.pxe.is_pxe() => {
            return DhcpAnswer::Ignore {
                reason: format!("host {} has PXE flag 0 (no network boot)", v.host.hostname),
            }
        }
        None if cfg.unknown == UnknownPolicy::Ignore => {
            return DhcpAnswer::Ignore {
                reason: "MAC not registered and unknown PCs are ignored".into(),
            }
        }
        _ => {}
    }
    // Before the iPXE check: a NIC ROM that is iPXE is only the PXE stack
    // here, and GRUB does no DHCP of its own, so there is no loop to break.
    if view.map(effective_chain) == Some(BootChain::Grub) {
        let core = match firmware {
            Firmware::Bios => cfg.nbp.grub_bios.as_ref(),
            Firmware::EfiX64 => cfg.nbp.grub_efi_x64.as_ref(),
            _ => None,
        };
        if let Some(core) = core {
            return DhcpAnswer::Tftp(core.clone());
        }
    }
    if is_ipxe {
        return DhcpAnswer::Url(cfg.script_url());
    }
    match firmware {
        Firmware::Bios => DhcpAnswer::Tftp(cfg.nbp.bios.clone()),
        Firmware::EfiX64 => DhcpAnswer::Tftp(cfg.nbp.efi_x64.clone()),
        Firmware::EfiIa32 => DhcpAnswer::Tftp(cfg.nbp.efi_ia32.clone()),
        Firmware::EfiArm64 => DhcpAnswer::Tftp(cfg.nbp.efi_arm64.clone()),
        Firmware::HttpBoot => DhcpAnswer::Url(cfg.file_url(&cfg.nbp.efi_x64)),
        Firmware::Other(arch) => DhcpAnswer::Ignore {
            reason: format!("client architecture {arch} is not supported"),
        },
    }
}

/// The boot mode in force for a registered host: host setting, else group
/// setting.
pub fn effective_mode(view: &BootView) -> BootMode {
    view.host_settings
        .boot
        .clone()
        .unwrap_or_else(|| view.group_settings.boot.clone())
}

/// The boot chain in force for a registered host: host setting, else group
/// setting (iPXE unless set).
pub fn effective_chain(view: &BootView) -> BootChain {
    view.host_settings
        .chain
        .unwrap_or(view.group_settings.chain)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::NbpFiles;
    use bootbox_store::{GroupSettings, HostSettings};
    use std::net::Ipv4Addr;

    pub(crate) fn cfg() -> BootConfig {
        BootConfig {
            server_ip: Ipv4Addr::new(10, 0, 0, 2),
            http_port: 8080,
            unknown: UnknownPolicy::Register,
            nbp: NbpFiles::default(),
        }
    }

    pub(crate) fn view(pxe: u8) -> BootView {
        let line = format!("r1;pc1;win11;00:00:00:00:00:01;DHCP;;;;;;{pxe}");
        let host = bootbox_linbo::devices::parse(&line)
            .expect("valid")
            .records
            .remove(0);
        BootView {
            host,
            group: None,
            group_settings: GroupSettings::default(),
            host_settings: HostSettings::default(),
        }
    }

    #[test]
    fn arch_mapping_treats_7_and_9_as_x64() {
        assert_eq!(Firmware::from_arch(7), Firmware::EfiX64);
        assert_eq!(Firmware::from_arch(9), Firmware::EfiX64);
        assert_eq!(Firmware::from_arch(0), Firmware::Bios);
        assert_eq!(Firmware::from_arch(16), Firmware::HttpBoot);
        assert_eq!(Firmware::from_arch(2), Firmware::Other(2));
    }

    #[test]
    fn answers_per_firmware_and_ipxe() {
        let c = cfg();
        let v = view(1);
        assert_eq!(
            dhcp_answer(Some(&v), Firmware::Bios, false, &c),
            DhcpAnswer::Tftp("boot/ipxe/undionly.kpxe".into())
        );
        assert_eq!(
            dhcp_answer(Some(&v), Firmware::EfiX64, false, &c),
            DhcpAnswer::Tftp("boot/ipxe/snponly.efi".into())
        );
        assert_eq!(
            dhcp_answer(Some(&v), Firmware::EfiX64, true, &c),
            DhcpAnswer::Url("http://10.0.0.2:8080/boot.ipxe".into())
        );
        assert_eq!(
            dhcp_answer(Some(&v), Firmware::HttpBoot, false, &c),
            DhcpAnswer::Url("http://10.0.0.2:8080/linbo/boot/ipxe/snponly.efi".into())
        );
        assert!(matches!(
            dhcp_answer(Some(&v), Firmware::Other(2), false, &c),
            DhcpAnswer::Ignore { .. }
        ));
    }

    #[test]
    fn grub_chain_per_host_or_group() {
        let mut c = cfg();
        let mut v = view(1);
        v.group_settings.chain = BootChain::Grub;
        assert_eq!(
            dhcp_answer(Some(&v), Firmware::Bios, false, &c),
            DhcpAnswer::Tftp("boot/grub/i386-pc/core.0".into())
        );
        assert_eq!(
            dhcp_answer(Some(&v), Firmware::EfiX64, false, &c),
            DhcpAnswer::Tftp("boot/grub/x86_64-efi/core.efi".into())
        );
        // No GRUB for these: iPXE as before.
        assert_eq!(
            dhcp_answer(Some(&v), Firmware::EfiIa32, false, &c),
            DhcpAnswer::Tftp("boot/ipxe/snponly-i386.efi".into())
        );
        // An iPXE NIC ROM is only the PXE stack: GRUB all the same.
        assert_eq!(
            dhcp_answer(Some(&v), Firmware::Bios, true, &c),
            DhcpAnswer::Tftp("boot/grub/i386-pc/core.0".into())
        );
        // The host overrides its group.
        v.host_settings.chain = Some(BootChain::Ipxe);
        assert_eq!(
            dhcp_answer(Some(&v), Firmware::Bios, false, &c),
            DhcpAnswer::Tftp("boot/ipxe/undionly.kpxe".into())
        );
        v.host_settings.chain = Some(BootChain::Grub);
        v.group_settings.chain = BootChain::Ipxe;
        // A box without a GRUB core falls back to iPXE.
        c.nbp.grub_bios = None;
        assert_eq!(
            dhcp_answer(Some(&v), Firmware::Bios, false, &c),
            DhcpAnswer::Tftp("boot/ipxe/undionly.kpxe".into())
        );
        // Unknown PCs always get iPXE.
        assert_eq!(
            dhcp_answer(None, Firmware::EfiX64, false, &c),
            DhcpAnswer::Tftp("boot/ipxe/snponly.efi".into())
        );
    }

    #[test]
    fn pxe_flag_0_and_unknown_policy() {
        let mut c = cfg();
        assert!(matches!(
            dhcp_answer(Some(&view(0)), Firmware::Bios, false, &c),
            DhcpAnswer::Ignore { .. }
        ));
        assert!(matches!(
            dhcp_answer(None, Firmware::Bios, false, &c),
            DhcpAnswer::Tftp(_)
        ));
        c.unknown = UnknownPolicy::Ignore;
        assert!(matches!(
            dhcp_answer(None, Firmware::Bios, true, &c),
            DhcpAnswer::Ignore { .. }
        ));
    }
}
