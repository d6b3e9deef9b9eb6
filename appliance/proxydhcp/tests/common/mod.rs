//! Shared helpers: real-shaped client requests built with dhcproto (an
//! independent implementation) and reply decoding/assertions.
#![allow(dead_code)]

use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, SystemTime};

use bootbox_proxydhcp::{
    respond_at, BootPolicy, Config, Ingress, ListenPort, Reply, State, StaticPolicy,
};
use dhcproto::v4::{self, Architecture, DhcpOption, Flags, Message, OptionCode, UnknownOption};
use dhcproto::{Decodable, Encodable};

/// The box's address on the boot interface.
pub const SERVER: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
/// Script URL StaticPolicy::ipxe_chainload(SERVER, 8080) gives iPXE.
pub const SCRIPT: &str = "http://10.0.0.1:8080/boot.ipxe";

/// A fixed point in time for deterministic tests.
pub fn t0() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000)
}

pub fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

pub fn mac(n: u8) -> [u8; 6] {
    [0x52, 0x54, 0x00, 0x12, 0x34, n]
}

/// Option 97 as PXE ROMs send it: type 0 + 16-byte GUID.
pub fn guid(n: u8) -> Vec<u8> {
    let mut v = vec![0u8];
    v.extend((0..16).map(|i| i * 7 + n));
    v
}

/// PXE ROM parameter request list: 1 3 43 60 66 67 128-135 (+ extras).
fn pxe_prl(extra: &[u8]) -> Vec<OptionCode> {
    let mut v: Vec<u8> = vec![
        1, 2, 3, 5, 6, 11, 12, 13, 15, 16, 17, 18, 43, 54, 60, 66, 67,
    ];
    v.extend(128..=135);
    v.extend_from_slice(extra);
    v.into_iter().map(OptionCode::from).collect()
}

/// A DHCP message as a PXE client sends it.
pub struct ClientReq {
    pub xid: u32,
    pub mac: [u8; 6],
    pub msg_type: v4::MessageType,
    pub vendor: Option<String>,
    pub arch: Option<u16>,
    pub uuid: Option<Vec<u8>>,
    pub user_class: Option<Vec<u8>>,
    pub ipxe_encap: bool,
    pub prl_extra: Vec<u8>,
    pub prl: bool,
    pub ciaddr: Ipv4Addr,
    pub giaddr: Ipv4Addr,
    pub requested_ip: Option<Ipv4Addr>,
    pub server_id: Option<Ipv4Addr>,
    pub vendor_opts: Option<Vec<u8>>,
}

impl ClientReq {
    fn base(mac: [u8; 6], xid: u32, vendor: Option<&str>, arch: Option<u16>) -> Self {
        ClientReq {
            xid,
            mac,
            msg_type: v4::MessageType::Discover,
            vendor: vendor.map(str::to_string),
            arch,
            uuid: Some(guid(mac[5])),
            user_class: None,
            ipxe_encap: false,
            prl_extra: Vec::new(),
            prl: true,
            ciaddr: Ipv4Addr::UNSPECIFIED,
            giaddr: Ipv4Addr::UNSPECIFIED,
            requested_ip: None,
            server_id: None,
            vendor_opts: None,
        }
    }

    /// Legacy BIOS PXE ROM DISCOVER.
    pub fn bios(mac: [u8; 6], xid: u32) -> Self {
        Self::base(mac, xid, Some("PXEClient:Arch:00000:UNDI:002001"), Some(0))
    }

    /// EDK2 UEFI PXE DISCOVER with option 93 = `arch`.
    pub fn efi(mac: [u8; 6], xid: u32, arch: u16) -> Self {
        let vc = format!("PXEClient:Arch:{arch:05}:UNDI:003000");
        let mut r = Self::base(mac, xid, None, Some(arch));
        r.vendor = Some(vc);
        r.prl_extra = vec![97];
        r
    }

    /// iPXE DISCOVER: user class "iPXE" (raw) and option 175.
    pub fn ipxe(mac: [u8; 6], xid: u32, arch: u16) -> Self {
        let mut r = Self::base(
            mac,
            xid,
            Some(&format!("PXEClient:Arch:{arch:05}:UNDI:002001")),
            Some(arch),
        );
        r.user_class = Some(b"iPXE".to_vec());
        r.ipxe_encap = true;
        r.prl_extra = vec![175, 203];
        r
    }

    /// EDK2 UEFI HTTP boot DISCOVER (x64).
    pub fn http(mac: [u8; 6], xid: u32) -> Self {
        let mut r = Self::base(
            mac,
            xid,
            Some("HTTPClient:Arch:00016:UNDI:003001"),
            Some(16),
        );
        r.prl_extra = vec![97];
        r
    }

    /// An ordinary DHCP client (no option 60, 93, 97).
    pub fn plain(mac: [u8; 6], xid: u32) -> Self {
        let mut r = Self::base(mac, xid, None, None);
        r.uuid = None;
        r
    }

    pub fn msg(mut self, t: v4::MessageType) -> Self {
        self.msg_type = t;
        self
    }

    pub fn message(&self) -> Message {
        let mut m = Message::new_with_id(
            self.xid,
            self.ciaddr,
            Ipv4Addr::UNSPECIFIED,
            Ipv4Addr::UNSPECIFIED,
            self.giaddr,
            &self.mac,
        );
        if self.ciaddr.is_unspecified() {
            m.set_flags(Flags::default().set_broadcast());
        }
        let o = m.opts_mut();
        o.insert(DhcpOption::MessageType(self.msg_type));
        o.insert(DhcpOption::MaxMessageSize(1260));
        if self.prl {
            o.insert(DhcpOption::ParameterRequestList(pxe_prl(&self.prl_extra)));
        }
        if let Some(v) = &self.vendor {
            o.insert(DhcpOption::ClassIdentifier(v.as_bytes().to_vec()));
        }
        if let Some(a) = self.arch {
            o.insert(DhcpOption::ClientSystemArchitecture(Architecture(a)));
            o.insert(DhcpOption::ClientNetworkInterface(1, 3, 0));
        }
        if let Some(u) = &self.uuid {
            o.insert(DhcpOption::ClientMachineIdentifier(u.clone()));
        }
        if let Some(uc) = &self.user_class {
            o.insert(DhcpOption::UserClass(uc.clone()));
        }
        if self.ipxe_encap {
            // iPXE feature flags: 0x10 PXE-ext, 0x13 HTTP, 0x15 TFTP, 0x24 EFI.
            o.insert(DhcpOption::Unknown(UnknownOption::new(
                OptionCode::from(175u8),
                vec![0x10, 1, 2, 0x13, 1, 1, 0x15, 1, 1, 0xeb, 4, 1, 0x15, 0, 0],
            )));
        }
        if let Some(ip) = self.requested_ip {
            o.insert(DhcpOption::RequestedIpAddress(ip));
        }
        if let Some(ip) = self.server_id {
            o.insert(DhcpOption::ServerIdentifier(ip));
        }
        if let Some(v) = &self.vendor_opts {
            o.insert(DhcpOption::VendorExtensions(v.clone()));
        }
        m
    }

    pub fn bytes(&self) -> Vec<u8> {
        self.message()
            .to_vec()
            .expect("dhcproto encodes the request")
    }
}

pub fn ingress67() -> Ingress {
    Ingress {
        port: ListenPort::Dhcp,
        server_ip: SERVER,
        source: SocketAddr::from((Ipv4Addr::UNSPECIFIED, 68)),
    }
}

pub fn ingress4011(src: SocketAddr) -> Ingress {
    Ingress {
        port: ListenPort::PxeBoot,
        server_ip: SERVER,
        source: src,
    }
}

pub fn policy() -> StaticPolicy {
    StaticPolicy::ipxe_chainload(SERVER, 8080)
}

pub fn state() -> State {
    State::new(Config::default()).expect("valid config")
}

pub fn send(
    st: &mut State,
    p: &dyn BootPolicy,
    req: &ClientReq,
    ingress: Ingress,
    now: SystemTime,
) -> Option<Reply> {
    respond_at(&req.bytes(), ingress, p, st, now)
}

/// Decodes a reply with dhcproto and checks the wire invariants every
/// reply must satisfy.
pub fn decode(reply: &Reply) -> Message {
    let b = &reply.bytes;
    assert!(
        b.len() >= 300,
        "reply padded to >= 300 bytes, got {}",
        b.len()
    );
    assert_eq!(b[0], 2, "BOOTREPLY");
    assert_eq!(b[240], 53, "option 53 comes first");
    assert_eq!(b[241], 1);
    // Everything after END is padding.
    let end = option_end(b).expect("END option present");
    assert!(b[end + 1..].iter().all(|&x| x == 0), "only pad after END");
    // sname and file are NUL-terminated.
    assert!(b[44..108].contains(&0), "sname NUL-terminated");
    assert!(b[108..236].contains(&0), "file NUL-terminated");
    Message::from_bytes(b).expect("dhcproto decodes the reply")
}

/// Index of the END option, walking the TLVs.
fn option_end(b: &[u8]) -> Option<usize> {
    let mut i = 240;
    while i < b.len() {
        match b[i] {
            0 => i += 1,
            255 => return Some(i),
            _ => i += 2 + usize::from(*b.get(i + 1)?),
        }
    }
    None
}

/// `file` as text without the NUL dhcproto keeps.
pub fn file_of(m: &Message) -> String {
    let f = m.fname().unwrap_or_default();
    String::from_utf8_lossy(f)
        .trim_end_matches('\0')
        .to_string()
}

pub fn sname_of(m: &Message) -> String {
    let f = m.sname().unwrap_or_default();
    String::from_utf8_lossy(f)
        .trim_end_matches('\0')
        .to_string()
}

pub fn opt(m: &Message, code: u8) -> Option<&DhcpOption> {
    m.opts().get(OptionCode::from(code))
}

pub fn class_id(m: &Message) -> Option<Vec<u8>> {
    match opt(m, 60) {
        Some(DhcpOption::ClassIdentifier(v)) => Some(v.clone()),
        _ => None,
    }
}

pub fn vendor_opts(m: &Message) -> Option<Vec<u8>> {
    match opt(m, 43) {
        Some(DhcpOption::VendorExtensions(v)) => Some(v.clone()),
        _ => None,
    }
}

pub fn bootfile_opt(m: &Message) -> Option<Vec<u8>> {
    match opt(m, 67) {
        Some(DhcpOption::BootfileName(v)) => Some(v.clone()),
        _ => None,
    }
}

pub fn uuid_opt(m: &Message) -> Option<Vec<u8>> {
    match opt(m, 97) {
        Some(DhcpOption::ClientMachineIdentifier(v)) => Some(v.clone()),
        _ => None,
    }
}

pub fn server_id(m: &Message) -> Option<Ipv4Addr> {
    match opt(m, 54) {
        Some(DhcpOption::ServerIdentifier(ip)) => Some(*ip),
        _ => None,
    }
}

pub fn msg_type(m: &Message) -> Option<v4::MessageType> {
    m.opts().msg_type()
}

/// Full check of a ProxyDHCP OFFER on port 67.
pub fn assert_proxy_offer(
    reply: &Reply,
    req: &ClientReq,
    file: &str,
    echo: &[u8],
    opt43: bool,
) -> Message {
    let m = decode(reply);
    assert_eq!(msg_type(&m), Some(v4::MessageType::Offer));
    assert_eq!(m.xid(), req.xid);
    assert_eq!(m.chaddr(), &req.mac[..]);
    assert_eq!(m.yiaddr(), Ipv4Addr::UNSPECIFIED, "proxy never sets yiaddr");
    assert_eq!(m.ciaddr(), Ipv4Addr::UNSPECIFIED);
    assert_eq!(m.siaddr(), SERVER, "siaddr = box");
    assert_eq!(m.giaddr(), req.giaddr);
    assert!(m.flags().broadcast());
    assert_eq!(server_id(&m), Some(SERVER));
    assert_eq!(sname_of(&m), SERVER.to_string());
    assert_eq!(file_of(&m), file);
    assert_eq!(class_id(&m).as_deref(), Some(echo), "option 60 echo");
    assert_eq!(uuid_opt(&m), req.uuid, "option 97 echoed iff sent");
    if opt43 {
        assert_eq!(vendor_opts(&m), Some(vec![6, 1, 8, 255]));
    } else {
        assert_eq!(vendor_opts(&m), None, "no option 43");
    }
    let expected_dest = if req.giaddr.is_unspecified() {
        SocketAddr::from((Ipv4Addr::BROADCAST, 68))
    } else {
        SocketAddr::from((req.giaddr, 67))
    };
    assert_eq!(reply.dest, expected_dest);
    // No address options in proxy mode.
    for c in [1u8, 3, 6, 51] {
        assert!(
            opt(&m, c).is_none(),
            "proxy offer must not carry option {c}"
        );
    }
    m
}
