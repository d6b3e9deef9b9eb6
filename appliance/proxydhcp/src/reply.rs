//! Building the boot-related and address-related parts of replies.

use std::net::Ipv4Addr;
use std::time::Duration;

use crate::client::{Arch, VendorKind};
use crate::full::FullDhcpConfig;
use crate::options::{bios_vendor_options, boot_item_echo, BootItem};
use crate::packet::{code, ReplyPacket, Request, FILE_LEN};
use crate::policy::BootFile;

/// Longest boot file we hand out: it must fit option 67 (255 bytes)
/// including the terminating NUL.
pub(crate) const MAX_BOOT_FILE_LEN: usize = 254;

/// The boot part of a reply.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BootOptions<'a> {
    pub kind: VendorKind,
    pub arch: Arch,
    pub is_ipxe: bool,
    pub file: &'a BootFile,
    /// True for the ACK on port 4011.
    pub on_boot_server: bool,
    /// Sub-option 71 of the request, echoed on 4011.
    pub boot_item: Option<BootItem>,
}

/// Adds `siaddr`, `sname`, `file` and options 60, 97, 43, 67:
///
/// * siaddr = server (EDK2 takes the TFTP server from siaddr, not 66);
/// * sname = server IP as text, `file` = boot file, both NUL-terminated
///   by the encoder; a name too long for `file` goes into option 67 only;
/// * 60 = exactly `PXEClient` / `HTTPClient` (else EDK2/iPXE drop it);
/// * 97 = the client's GUID, echoed only when sent;
/// * 43 = `{6: 8}` for BIOS PXE ROMs on port 67 only (never for UEFI:
///   EDK2 drops proxy offers with discovery options), the 71 echo on 4011;
/// * 67 = boot file (NUL-terminated) when option 55 asks for it, for HTTP
///   boot (EDK2 reads 67 first) or when it does not fit `file`.
pub(crate) fn add_boot(
    r: &mut ReplyPacket,
    req: &Request,
    server_ip: Ipv4Addr,
    b: &BootOptions<'_>,
) {
    r.siaddr = server_ip;
    r.sname = server_ip.to_string().into_bytes();
    let name = b.file.as_str().as_bytes();
    let fits_file = name.len() < FILE_LEN;
    if fits_file {
        r.file = name.to_vec();
    }
    r.push(code::VENDOR_CLASS, b.kind.echo().to_vec());
    if let Some(uuid) = req.options.get(code::CLIENT_UUID) {
        r.push(code::CLIENT_UUID, uuid.to_vec());
    }
    if b.on_boot_server {
        if let Some(item) = b.boot_item {
            r.push(code::VENDOR_OPTS, boot_item_echo(item));
        }
    } else if b.kind == VendorKind::PxeClient && b.arch == Arch::Bios && !b.is_ipxe {
        r.push(code::VENDOR_OPTS, bios_vendor_options());
    }
    if !fits_file || b.kind == VendorKind::HttpClient || req.options.requested(code::BOOTFILE_NAME)
    {
        let mut v = name.to_vec();
        v.push(0);
        r.push(code::BOOTFILE_NAME, v);
    }
}

/// Lease time in whole seconds, clamped to u32.
pub(crate) fn secs(d: Duration) -> u32 {
    u32::try_from(d.as_secs()).unwrap_or(u32::MAX)
}

/// Adds the address options of full-DHCP mode in LINBO's expected form:
/// 51/58/59 (when `lease` is given), 1, 28, 3, 6, 15, 12, 42, and the
/// LINBO group as 18 (extensions path) and 40 (NIS domain), which LINBO's
/// udhcpc turns into HOSTGROUP.
pub(crate) fn add_address_options(
    r: &mut ReplyPacket,
    cfg: &FullDhcpConfig,
    hostname: Option<&str>,
    group: Option<&str>,
    lease: Option<Duration>,
) {
    if let Some(lt) = lease {
        let s = secs(lt);
        r.push_u32(code::LEASE_TIME, s);
        r.push_u32(code::RENEWAL_TIME, s / 2);
        r.push_u32(code::REBINDING_TIME, s / 8 * 7);
    }
    r.push_ipv4(code::SUBNET_MASK, cfg.netmask);
    r.push_ipv4(code::BROADCAST, cfg.broadcast());
    if let Some(router) = cfg.router {
        r.push_ipv4(code::ROUTER, router);
    }
    r.push_ipv4s(code::DNS, &cfg.dns);
    if let Some(d) = cfg.domain.as_deref().filter(|d| !d.is_empty()) {
        r.push(code::DOMAIN_NAME, d.as_bytes().to_vec());
    }
    if let Some(h) = hostname.filter(|h| !h.is_empty()) {
        r.push(code::HOSTNAME, h.as_bytes().to_vec());
    }
    r.push_ipv4s(code::NTP_SERVERS, &cfg.ntp);
    if let Some(g) = group.filter(|g| !g.is_empty()) {
        r.push(code::EXTENSIONS_PATH, g.as_bytes().to_vec());
        r.push(code::NIS_DOMAIN, g.as_bytes().to_vec());
    }
}
