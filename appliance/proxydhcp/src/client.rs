//! Request classification: who is asking (MAC, architecture, PXE or HTTP
//! boot, iPXE or firmware) and on which port.

use std::fmt;
use std::net::Ipv4Addr;

use crate::packet::{code, MessageType, Request};

/// An Ethernet MAC address (the first six bytes of `chaddr`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Mac(pub [u8; 6]);

impl Mac {
    /// The six octets.
    pub fn octets(&self) -> [u8; 6] {
        self.0
    }
}

impl From<[u8; 6]> for Mac {
    fn from(o: [u8; 6]) -> Self {
        Mac(o)
    }
}

impl fmt::Display for Mac {
    /// Lower-case, colon separated (`aa:bb:cc:dd:ee:ff`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let o = self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            o[0], o[1], o[2], o[3], o[4], o[5]
        )
    }
}

/// Client system architecture (option 93, RFC 4578 / IANA registry).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Arch {
    /// 0: x86 BIOS (legacy PXE ROM).
    Bios,
    /// 6: x86 (IA32) UEFI.
    EfiIa32,
    /// 7 and 9: x64 UEFI. RFC 4578 swapped 7 and 9 (erratum 4624); real
    /// x64 firmware sends 7, some older firmware 9, so both map here.
    EfiX64,
    /// 10: ARM 32-bit UEFI.
    EfiArm32,
    /// 11: ARM 64-bit UEFI.
    EfiArm64,
    /// 15: x86 UEFI HTTP boot.
    HttpIa32,
    /// 16: x64 UEFI HTTP boot.
    HttpX64,
    /// 19: ARM 64-bit UEFI HTTP boot.
    HttpArm64,
    /// Anything else, with the raw option 93 value.
    Other(u16),
}

impl Arch {
    /// Maps an option 93 value.
    pub fn from_code(code: u16) -> Self {
        match code {
            0 => Arch::Bios,
            6 => Arch::EfiIa32,
            7 | 9 => Arch::EfiX64,
            10 => Arch::EfiArm32,
            11 => Arch::EfiArm64,
            15 => Arch::HttpIa32,
            16 => Arch::HttpX64,
            19 => Arch::HttpArm64,
            other => Arch::Other(other),
        }
    }

    /// The canonical option 93 value (7 for [`Arch::EfiX64`]).
    pub fn code(self) -> u16 {
        match self {
            Arch::Bios => 0,
            Arch::EfiIa32 => 6,
            Arch::EfiX64 => 7,
            Arch::EfiArm32 => 10,
            Arch::EfiArm64 => 11,
            Arch::HttpIa32 => 15,
            Arch::HttpX64 => 16,
            Arch::HttpArm64 => 19,
            Arch::Other(c) => c,
        }
    }

    /// True for UEFI PXE (TFTP) architectures: these get no option 43 and
    /// are expected to fetch the boot file via port 4011.
    pub fn is_uefi_pxe(self) -> bool {
        matches!(
            self,
            Arch::EfiIa32 | Arch::EfiX64 | Arch::EfiArm32 | Arch::EfiArm64
        )
    }

    /// True for the UEFI HTTP boot architectures.
    pub fn is_http(self) -> bool {
        matches!(self, Arch::HttpIa32 | Arch::HttpX64 | Arch::HttpArm64)
    }
}

impl fmt::Display for Arch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Arch::Bios => f.write_str("bios"),
            Arch::EfiIa32 => f.write_str("efi-ia32"),
            Arch::EfiX64 => f.write_str("efi-x64"),
            Arch::EfiArm32 => f.write_str("efi-arm32"),
            Arch::EfiArm64 => f.write_str("efi-arm64"),
            Arch::HttpIa32 => f.write_str("http-ia32"),
            Arch::HttpX64 => f.write_str("http-x64"),
            Arch::HttpArm64 => f.write_str("http-arm64"),
            Arch::Other(c) => write!(f, "arch-{c}"),
        }
    }
}

/// The kind of network boot client, from the prefix of option 60.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VendorKind {
    /// Option 60 starts with `PXEClient` (PXE ROM, UEFI PXE, iPXE).
    PxeClient,
    /// Option 60 starts with `HTTPClient` (UEFI HTTP boot).
    HttpClient,
}

impl VendorKind {
    /// Classifies an option 60 payload; `None` for non-boot clients.
    pub fn from_vendor_class(v: &[u8]) -> Option<Self> {
        if v.starts_with(b"PXEClient") {
            Some(VendorKind::PxeClient)
        } else if v.starts_with(b"HTTPClient") {
            Some(VendorKind::HttpClient)
        } else {
            None
        }
    }

    /// The exact option 60 value to echo in replies.
    pub fn echo(self) -> &'static [u8] {
        match self {
            VendorKind::PxeClient => b"PXEClient",
            VendorKind::HttpClient => b"HTTPClient",
        }
    }
}

/// The server port a request arrived on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ListenPort {
    /// UDP 67 (DHCP / ProxyDHCP).
    Dhcp,
    /// UDP 4011 (PXE boot server, "BINL").
    PxeBoot,
}

impl fmt::Display for ListenPort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ListenPort::Dhcp => f.write_str("67"),
            ListenPort::PxeBoot => f.write_str("4011"),
        }
    }
}

/// A network boot client as the [`BootPolicy`](crate::BootPolicy) sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PxeClient {
    /// Hardware address from `chaddr`.
    pub mac: Mac,
    /// Architecture from option 93 (or the `Arch:` field of option 60).
    pub arch: Arch,
    /// PXE or HTTP boot client (option 60 prefix).
    pub vendor: VendorKind,
    /// The raw option 60 text, e.g. `PXEClient:Arch:00007:UNDI:003016`.
    pub vendor_class: String,
    /// True when the request comes from iPXE: option 77 user class `iPXE`
    /// (or a configured class), option 175 present, or the remembered-MAC
    /// fallback fired (then [`PxeClient::ipxe_remembered`] is also true).
    pub is_ipxe: bool,
    /// True when `is_ipxe` was inferred by the remembered-MAC heuristic
    /// only (the request itself carried no iPXE marks).
    pub ipxe_remembered: bool,
    /// Option 97 payload (normally type 0 + 16-byte GUID), if sent.
    pub uuid: Option<Vec<u8>>,
    /// The port the request came on.
    pub port: ListenPort,
    /// DHCP message type of the request.
    pub message: MessageType,
    /// Relay agent address (0.0.0.0 when not relayed).
    pub giaddr: Ipv4Addr,
    /// Client address (0.0.0.0 on DISCOVER; set on 4011 requests).
    pub ciaddr: Ipv4Addr,
    /// Transaction id.
    pub xid: u32,
}

/// The MAC of a request (first six bytes of `chaddr`; the parser already
/// checked `hlen >= 6`).
pub(crate) fn request_mac(req: &Request) -> Mac {
    let mut m = [0u8; 6];
    m.copy_from_slice(&req.chaddr[..6]);
    Mac(m)
}

/// Reads the `Arch:NNNNN` field of an option 60 string.
fn arch_from_vendor_class(v: &[u8]) -> Option<u16> {
    let text = std::str::from_utf8(v).ok()?;
    let mut parts = text.split(':');
    while let Some(p) = parts.next() {
        if p == "Arch" {
            return parts.next()?.trim().parse().ok();
        }
    }
    None
}

/// Determines the architecture: option 93 (first entry of the list), else
/// the `Arch:` field of option 60, else BIOS for `PXEClient` (PXE 2.0 era
/// ROMs predate option 93). `None` when nothing usable is there.
pub(crate) fn request_arch(req: &Request, kind: VendorKind) -> Option<Arch> {
    if let Some(v) = req.options.get(code::CLIENT_ARCH) {
        if let Some(first) = v.get(..2) {
            return Some(Arch::from_code(u16::from_be_bytes([first[0], first[1]])));
        }
    }
    if let Some(c) = req
        .options
        .get(code::VENDOR_CLASS)
        .and_then(arch_from_vendor_class)
    {
        return Some(Arch::from_code(c));
    }
    match kind {
        VendorKind::PxeClient => Some(Arch::Bios),
        VendorKind::HttpClient => None,
    }
}

/// True when option 77 names one of `classes`, either raw (iPXE sends the
/// four bytes `iPXE`) or as an RFC 3004 list of length-prefixed entries.
/// Comparison ignores ASCII case.
pub(crate) fn user_class_matches(opt77: &[u8], classes: &[String]) -> bool {
    let eq = |candidate: &[u8]| {
        classes
            .iter()
            .any(|c| c.as_bytes().eq_ignore_ascii_case(candidate))
    };
    if eq(opt77) {
        return true;
    }
    // RFC 3004: repeated { len u8, data[len] }.
    let mut rest = opt77;
    while let Some((&len, tail)) = rest.split_first() {
        let len = usize::from(len);
        let Some(item) = tail.get(..len) else {
            return false;
        };
        if eq(item) {
            return true;
        }
        rest = &tail[len..];
    }
    false
}

/// iPXE marks in the request itself: option 175 present, or option 77
/// matching one of `classes`.
pub(crate) fn has_ipxe_marks(req: &Request, classes: &[String]) -> bool {
    req.options.contains(code::IPXE_ENCAP)
        || req
            .options
            .get(code::USER_CLASS)
            .is_some_and(|uc| user_class_matches(uc, classes))
}

/// Builds the policy view of a PXE/HTTP boot request. `None` when the
/// architecture cannot be determined.
pub(crate) fn pxe_client(
    req: &Request,
    kind: VendorKind,
    port: ListenPort,
    ipxe_classes: &[String],
) -> Option<PxeClient> {
    let arch = request_arch(req, kind)?;
    let vendor_class = req
        .options
        .get(code::VENDOR_CLASS)
        .map(|v| String::from_utf8_lossy(v).into_owned())
        .unwrap_or_default();
    Some(PxeClient {
        mac: request_mac(req),
        arch,
        vendor: kind,
        vendor_class,
        is_ipxe: has_ipxe_marks(req, ipxe_classes),
        ipxe_remembered: false,
        uuid: req.options.get(code::CLIENT_UUID).map(<[u8]>::to_vec),
        port,
        message: req.message_type,
        giaddr: req.giaddr,
        ciaddr: req.ciaddr,
        xid: req.xid,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arch_mapping() {
        assert_eq!(Arch::from_code(7), Arch::EfiX64);
        assert_eq!(Arch::from_code(9), Arch::EfiX64);
        assert_eq!(Arch::from_code(0), Arch::Bios);
        assert_eq!(Arch::from_code(16), Arch::HttpX64);
        assert_eq!(Arch::from_code(42), Arch::Other(42));
        assert!(Arch::EfiArm64.is_uefi_pxe());
        assert!(!Arch::Bios.is_uefi_pxe());
    }

    #[test]
    fn user_class_forms() {
        let classes = vec!["iPXE".to_string()];
        assert!(user_class_matches(b"iPXE", &classes));
        assert!(user_class_matches(b"\x04iPXE", &classes));
        assert!(user_class_matches(b"\x03foo\x04ipxe", &classes));
        assert!(!user_class_matches(b"\x09iPXE", &classes));
        assert!(!user_class_matches(b"", &classes));
        assert!(!user_class_matches(b"gPXE", &classes));
    }

    #[test]
    fn arch_from_option_60() {
        assert_eq!(
            arch_from_vendor_class(b"PXEClient:Arch:00016:UNDI:003001"),
            Some(16)
        );
        assert_eq!(arch_from_vendor_class(b"PXEClient"), None);
    }

    #[test]
    fn mac_display() {
        assert_eq!(
            Mac([0xaa, 0xbb, 0, 1, 2, 0xff]).to_string(),
            "aa:bb:00:01:02:ff"
        );
    }
}
