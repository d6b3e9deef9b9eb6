//! DHCP/BOOTP wire format: a tolerant request parser and a reply encoder.
//!
//! The parser is hand-written on purpose: it must never panic on any input,
//! must keep every option it can read even when a later one is broken, and
//! must not interpret option payloads (the caller does that, with its own
//! tolerance rules). The encoder writes exactly the option order we choose
//! (53 first, 255 last), NUL-terminates `sname`/`file` and pads to the BOOTP
//! minimum of 300 bytes.

use std::net::Ipv4Addr;

use thiserror::Error;

/// Offset of the options (after the 236-byte BOOTP header and the cookie).
pub(crate) const OPTIONS_OFFSET: usize = 240;
/// BOOTP header length without the magic cookie.
pub(crate) const HEADER_LEN: usize = 236;
/// The DHCP magic cookie (RFC 2131 section 3).
pub(crate) const MAGIC: [u8; 4] = [99, 130, 83, 99];
/// BOOTP minimum message size; dnsmasq pads to this and some ROMs need it.
pub(crate) const MIN_REPLY_LEN: usize = 300;
/// `sname` field size (incl. the terminating NUL).
const SNAME_LEN: usize = 64;
/// `file` field size (incl. the terminating NUL).
pub(crate) const FILE_LEN: usize = 128;

/// BOOTP op code of a request.
pub(crate) const BOOTREQUEST: u8 = 1;
/// BOOTP op code of a reply.
pub(crate) const BOOTREPLY: u8 = 2;
/// The broadcast bit of the BOOTP `flags` field.
pub(crate) const FLAG_BROADCAST: u16 = 0x8000;

/// Option codes used by this crate.
pub(crate) mod code {
    pub const PAD: u8 = 0;
    pub const SUBNET_MASK: u8 = 1;
    pub const ROUTER: u8 = 3;
    pub const DNS: u8 = 6;
    pub const HOSTNAME: u8 = 12;
    pub const DOMAIN_NAME: u8 = 15;
    pub const EXTENSIONS_PATH: u8 = 18;
    pub const BROADCAST: u8 = 28;
    pub const NIS_DOMAIN: u8 = 40;
    pub const NTP_SERVERS: u8 = 42;
    pub const VENDOR_OPTS: u8 = 43;
    pub const REQUESTED_IP: u8 = 50;
    pub const LEASE_TIME: u8 = 51;
    pub const OVERLOAD: u8 = 52;
    pub const MESSAGE_TYPE: u8 = 53;
    pub const SERVER_ID: u8 = 54;
    pub const PARAM_REQUEST: u8 = 55;
    pub const MAX_MESSAGE_SIZE: u8 = 57;
    pub const RENEWAL_TIME: u8 = 58;
    pub const REBINDING_TIME: u8 = 59;
    pub const VENDOR_CLASS: u8 = 60;
    pub const BOOTFILE_NAME: u8 = 67;
    pub const USER_CLASS: u8 = 77;
    pub const CLIENT_ARCH: u8 = 93;
    pub const CLIENT_UUID: u8 = 97;
    pub const IPXE_ENCAP: u8 = 175;
    pub const END: u8 = 255;
}

/// DHCP message types (option 53) this crate distinguishes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MessageType {
    /// DHCPDISCOVER (1).
    Discover,
    /// DHCPOFFER (2).
    Offer,
    /// DHCPREQUEST (3).
    Request,
    /// DHCPDECLINE (4).
    Decline,
    /// DHCPACK (5).
    Ack,
    /// DHCPNAK (6).
    Nak,
    /// DHCPRELEASE (7).
    Release,
    /// DHCPINFORM (8).
    Inform,
    /// Any other value (lease query etc.); never answered.
    Other(u8),
}

impl MessageType {
    /// Maps the option 53 byte to a message type.
    pub fn from_code(code: u8) -> Self {
        match code {
            1 => Self::Discover,
            2 => Self::Offer,
            3 => Self::Request,
            4 => Self::Decline,
            5 => Self::Ack,
            6 => Self::Nak,
            7 => Self::Release,
            8 => Self::Inform,
            other => Self::Other(other),
        }
    }

    /// The option 53 byte of this message type.
    pub fn code(self) -> u8 {
        match self {
            Self::Discover => 1,
            Self::Offer => 2,
            Self::Request => 3,
            Self::Decline => 4,
            Self::Ack => 5,
            Self::Nak => 6,
            Self::Release => 7,
            Self::Inform => 8,
            Self::Other(other) => other,
        }
    }
}

/// Why a datagram could not be read as a DHCP request.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum MalformedPacket {
    /// Shorter than the 240 bytes of header and cookie.
    #[error("packet too short ({0} bytes)")]
    TooShort(usize),
    /// The magic cookie is not 99.130.83.99 (plain BOOTP or garbage).
    #[error("no DHCP magic cookie")]
    NoMagic,
    /// `op` is not BOOTREQUEST.
    #[error("op {0} is not BOOTREQUEST")]
    NotRequest(u8),
    /// `hlen` is not a usable Ethernet address length.
    #[error("hardware address length {0} unusable (need 6..=16)")]
    BadHardwareAddress(u8),
    /// Option 53 missing or not exactly one byte.
    #[error("no valid DHCP message type (option 53)")]
    NoMessageType,
}

/// The options of a request, in wire order, with repeated codes already
/// concatenated (RFC 3396).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Options {
    entries: Vec<(u8, Vec<u8>)>,
    /// True when the option area ended without an END option or with a
    /// truncated option; the options read so far are kept.
    pub truncated: bool,
}

impl Options {
    /// The (concatenated) payload of option `code`.
    pub fn get(&self, code: u8) -> Option<&[u8]> {
        self.entries
            .iter()
            .find(|(c, _)| *c == code)
            .map(|(_, v)| v.as_slice())
    }

    /// True when option `code` is present (even with an empty payload).
    pub fn contains(&self, code: u8) -> bool {
        self.get(code).is_some()
    }

    /// Reads a 4-byte option as an IPv4 address.
    pub fn ipv4(&self, code: u8) -> Option<Ipv4Addr> {
        let v = self.get(code)?;
        let octets: [u8; 4] = v.try_into().ok()?;
        Some(Ipv4Addr::from(octets))
    }

    /// Reads a 2-byte option as a big-endian u16.
    #[cfg(test)]
    pub fn u16(&self, code: u8) -> Option<u16> {
        let v = self.get(code)?;
        let bytes: [u8; 2] = v.try_into().ok()?;
        Some(u16::from_be_bytes(bytes))
    }

    /// True when option 55 lists `code`.
    pub fn requested(&self, code: u8) -> bool {
        self.get(code::PARAM_REQUEST)
            .is_some_and(|list| list.contains(&code))
    }

    fn push(&mut self, code: u8, data: &[u8]) {
        match self.entries.iter_mut().find(|(c, _)| *c == code) {
            Some((_, existing)) => existing.extend_from_slice(data),
            None => self.entries.push((code, data.to_vec())),
        }
    }

    /// Parses one TLV area into `self`; stops at END, marks truncation.
    pub(crate) fn parse_area(&mut self, area: &[u8], needs_end: bool) {
        let mut i = 0;
        loop {
            let Some(&c) = area.get(i) else {
                if needs_end {
                    self.truncated = true;
                }
                return;
            };
            match c {
                code::PAD => i += 1,
                code::END => return,
                _ => {
                    let Some(&len) = area.get(i + 1) else {
                        self.truncated = true;
                        return;
                    };
                    let start = i + 2;
                    let end = start + usize::from(len);
                    let Some(data) = area.get(start..end) else {
                        self.truncated = true;
                        return;
                    };
                    self.push(c, data);
                    i = end;
                }
            }
        }
    }
}

/// A parsed DHCP request (client to server).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Request {
    pub htype: u8,
    pub hlen: u8,
    pub xid: u32,
    pub flags: u16,
    pub ciaddr: Ipv4Addr,
    pub giaddr: Ipv4Addr,
    pub chaddr: [u8; 16],
    pub message_type: MessageType,
    pub options: Options,
}

fn ipv4_at(b: &[u8], at: usize) -> Ipv4Addr {
    let mut o = [0u8; 4];
    if let Some(s) = b.get(at..at + 4) {
        o.copy_from_slice(s);
    }
    Ipv4Addr::from(o)
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    let mut o = [0u8; 4];
    if let Some(s) = b.get(at..at + 4) {
        o.copy_from_slice(s);
    }
    u32::from_be_bytes(o)
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    let mut o = [0u8; 2];
    if let Some(s) = b.get(at..at + 2) {
        o.copy_from_slice(s);
    }
    u16::from_be_bytes(o)
}

/// Parses a datagram received on a server port. Never panics.
pub(crate) fn parse_request(b: &[u8]) -> Result<Request, MalformedPacket> {
    if b.len() < OPTIONS_OFFSET {
        return Err(MalformedPacket::TooShort(b.len()));
    }
    if b.get(HEADER_LEN..OPTIONS_OFFSET) != Some(&MAGIC[..]) {
        return Err(MalformedPacket::NoMagic);
    }
    let op = b[0];
    if op != BOOTREQUEST {
        return Err(MalformedPacket::NotRequest(op));
    }
    let htype = b[1];
    let hlen = b[2];
    if !(6..=16).contains(&hlen) {
        return Err(MalformedPacket::BadHardwareAddress(hlen));
    }
    let mut chaddr = [0u8; 16];
    chaddr.copy_from_slice(&b[28..44]);

    let mut options = Options::default();
    options.parse_area(&b[OPTIONS_OFFSET..], true);
    // Option overload (52): 1 = file holds options, 2 = sname, 3 = both.
    // Clients practically never do this, but honouring it costs little.
    let overload = options.get(code::OVERLOAD).and_then(|v| v.first().copied());
    if let Some(ov) = overload {
        if ov & 1 != 0 {
            options.parse_area(&b[108..236], false);
        }
        if ov & 2 != 0 {
            options.parse_area(&b[44..108], false);
        }
    }
    let message_type = match options.get(code::MESSAGE_TYPE) {
        Some([t]) => MessageType::from_code(*t),
        _ => return Err(MalformedPacket::NoMessageType),
    };
    Ok(Request {
        htype,
        hlen,
        xid: u32_at(b, 4),
        flags: u16_at(b, 10),
        ciaddr: ipv4_at(b, 12),
        giaddr: ipv4_at(b, 24),
        chaddr,
        message_type,
        options,
    })
}

/// A reply under construction; [`ReplyPacket::encode`] produces the bytes.
#[derive(Debug, Clone)]
pub(crate) struct ReplyPacket {
    pub htype: u8,
    pub hlen: u8,
    pub xid: u32,
    pub flags: u16,
    pub ciaddr: Ipv4Addr,
    pub yiaddr: Ipv4Addr,
    pub siaddr: Ipv4Addr,
    pub giaddr: Ipv4Addr,
    pub chaddr: [u8; 16],
    pub sname: Vec<u8>,
    pub file: Vec<u8>,
    /// Options in the order they go on the wire (END is added by `encode`).
    pub options: Vec<(u8, Vec<u8>)>,
}

impl ReplyPacket {
    /// A reply skeleton for `req`: header fields copied as RFC 2131 table 3
    /// says, all addresses zero, option 53 = `message_type` first.
    pub fn for_request(req: &Request, message_type: MessageType) -> Self {
        ReplyPacket {
            htype: req.htype,
            hlen: req.hlen,
            xid: req.xid,
            flags: req.flags,
            ciaddr: Ipv4Addr::UNSPECIFIED,
            yiaddr: Ipv4Addr::UNSPECIFIED,
            siaddr: Ipv4Addr::UNSPECIFIED,
            giaddr: req.giaddr,
            chaddr: req.chaddr,
            sname: Vec::new(),
            file: Vec::new(),
            options: vec![(code::MESSAGE_TYPE, vec![message_type.code()])],
        }
    }

    /// Appends an option (payloads over 255 bytes are split, RFC 3396).
    pub fn push(&mut self, code: u8, data: impl Into<Vec<u8>>) {
        self.options.push((code, data.into()));
    }

    /// Appends an IPv4 address option.
    pub fn push_ipv4(&mut self, code: u8, ip: Ipv4Addr) {
        self.push(code, ip.octets().to_vec());
    }

    /// Appends a list-of-addresses option (skipped when empty).
    pub fn push_ipv4s(&mut self, code: u8, ips: &[Ipv4Addr]) {
        if !ips.is_empty() {
            self.push(
                code,
                ips.iter().flat_map(|ip| ip.octets()).collect::<Vec<_>>(),
            );
        }
    }

    /// Appends a u32 option.
    pub fn push_u32(&mut self, code: u8, v: u32) {
        self.push(code, v.to_be_bytes().to_vec());
    }

    /// Encodes and checks the size against what the client accepts
    /// (option 57, at least 576). Our replies stay far below; an oversize
    /// one is logged and sent anyway.
    pub fn encode_for(&self, req: &Request) -> Vec<u8> {
        let bytes = self.encode();
        let limit = req
            .options
            .get(code::MAX_MESSAGE_SIZE)
            .and_then(|v| <[u8; 2]>::try_from(v).ok())
            .map_or(576, |b| usize::from(u16::from_be_bytes(b)).max(576));
        // The limit covers IP and UDP headers too (28 bytes).
        if bytes.len() + 28 > limit {
            tracing::warn!(
                len = bytes.len(),
                limit,
                "reply larger than the client's maximum message size"
            );
        }
        bytes
    }

    /// Encodes the reply: 236-byte header, cookie, options, END, zero
    /// padding up to [`MIN_REPLY_LEN`]. `sname`/`file` longer than their
    /// fields minus the NUL are cut (callers keep them short).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(576);
        out.push(BOOTREPLY);
        out.push(self.htype);
        out.push(self.hlen);
        out.push(0); // hops
        out.extend_from_slice(&self.xid.to_be_bytes());
        out.extend_from_slice(&0u16.to_be_bytes()); // secs
        out.extend_from_slice(&self.flags.to_be_bytes());
        for ip in [self.ciaddr, self.yiaddr, self.siaddr, self.giaddr] {
            out.extend_from_slice(&ip.octets());
        }
        out.extend_from_slice(&self.chaddr);
        push_fixed(&mut out, &self.sname, SNAME_LEN);
        push_fixed(&mut out, &self.file, FILE_LEN);
        out.extend_from_slice(&MAGIC);
        for (c, data) in &self.options {
            if data.is_empty() {
                out.extend_from_slice(&[*c, 0]);
                continue;
            }
            for chunk in data.chunks(255) {
                out.push(*c);
                // chunks(255) guarantees the length fits a byte.
                out.push(u8::try_from(chunk.len()).unwrap_or(u8::MAX));
                out.extend_from_slice(chunk);
            }
        }
        out.push(code::END);
        if out.len() < MIN_REPLY_LEN {
            out.resize(MIN_REPLY_LEN, code::PAD);
        }
        out
    }
}

/// Writes `data` into a fixed-size, always NUL-terminated field.
fn push_fixed(out: &mut Vec<u8>, data: &[u8], field: usize) {
    let n = data.len().min(field - 1);
    out.extend_from_slice(&data[..n]);
    out.resize(out.len() + (field - n), 0);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn minimal(opts: &[u8]) -> Vec<u8> {
        let mut b = vec![0u8; OPTIONS_OFFSET];
        b[0] = BOOTREQUEST;
        b[1] = 1;
        b[2] = 6;
        b[HEADER_LEN..OPTIONS_OFFSET].copy_from_slice(&MAGIC);
        b.extend_from_slice(opts);
        b
    }

    #[test]
    fn concatenates_repeated_options() {
        let b = minimal(&[53, 1, 1, 60, 3, b'P', b'X', b'E', 0, 60, 2, b'C', b'l', 255]);
        let r = parse_request(&b).expect("parses");
        assert_eq!(r.options.get(60), Some(&b"PXECl"[..]));
        assert!(!r.options.truncated);
    }

    #[test]
    fn keeps_options_before_truncation() {
        let b = minimal(&[53, 1, 1, 93, 2, 0, 7, 97, 17, 0]);
        let r = parse_request(&b).expect("parses");
        assert_eq!(r.options.u16(93), Some(7));
        assert!(r.options.truncated);
    }

    #[test]
    fn rejects_non_dhcp() {
        assert_eq!(parse_request(&[0; 10]), Err(MalformedPacket::TooShort(10)));
        let mut b = minimal(&[53, 1, 1, 255]);
        b[236] = 0;
        assert_eq!(parse_request(&b), Err(MalformedPacket::NoMagic));
        let b = minimal(&[255]);
        assert_eq!(parse_request(&b), Err(MalformedPacket::NoMessageType));
    }

    #[test]
    fn encode_pads_and_terminates() {
        let req = parse_request(&minimal(&[53, 1, 1, 255])).expect("parses");
        let mut r = ReplyPacket::for_request(&req, MessageType::Offer);
        r.file = vec![b'a'; 200];
        let bytes = r.encode();
        assert_eq!(bytes.len(), MIN_REPLY_LEN);
        assert_eq!(bytes[108 + 127], 0);
        assert_eq!(bytes[240..243], [53, 1, 2]);
        assert_eq!(bytes[243], 255);
    }
}
