//! Network pre-flight: who answers DHCP on an interface?
//!
//! [`probe`] broadcasts a DHCPDISCOVER that looks like a BIOS PXE ROM
//! (option 60 `PXEClient:Arch:00000:UNDI:002001`, option 93 = 0, broadcast
//! flag set) on one explicitly named interface, listens for the offers for
//! a while and reports every responder: its server identifier, the address
//! it offers (none for a ProxyDHCP server) and whether it hands out PXE
//! boot information (next-server, boot file, option 43, option 60
//! `PXEClient`). The probe sends DISCOVERs only — never a REQUEST — so it
//! takes no lease.
//!
//! It needs the client port 68 (root or CAP_NET_BIND_SERVICE) and
//! SO_BINDTODEVICE (CAP_NET_RAW). What the findings mean is up to the
//! caller.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use serde::Serialize;

use crate::packet::{self, code, Options};
use crate::Error;

/// What the probe sends as option 60: a BIOS PXE ROM.
pub const PXE_VENDOR_CLASS: &str = "PXEClient:Arch:00000:UNDI:002001";

/// How to probe.
#[derive(Debug, Clone)]
pub struct ProbeConfig {
    /// Interface to probe on (required; never "all interfaces").
    pub interface: String,
    /// Client hardware address; default: the interface's own MAC.
    pub mac: Option<[u8; 6]>,
    /// How long to listen for offers after the first DISCOVER.
    pub listen: Duration,
    /// Client port (68; tests may use another one together with a server
    /// port that is not 67).
    pub client_port: u16,
    /// Server port the DISCOVER goes to (67).
    pub server_port: u16,
}

impl ProbeConfig {
    /// Defaults: the interface's MAC, 6 seconds (servers such as dnsmasq
    /// ping an address for up to 3 seconds before offering it), ports 68 → 67.
    pub fn new(interface: impl Into<String>) -> Self {
        Self {
            interface: interface.into(),
            mac: None,
            listen: Duration::from_secs(6),
            client_port: 68,
            server_port: 67,
        }
    }
}

/// One server that answered the DISCOVER.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Responder {
    /// Option 54, else the packet's source address.
    pub server_id: Ipv4Addr,
    /// Source address of the offer.
    pub source: Ipv4Addr,
    /// `yiaddr`: the address offered; `None` for a ProxyDHCP server.
    pub offered_ip: Option<Ipv4Addr>,
    /// `siaddr` (next server), when set.
    pub next_server: Option<Ipv4Addr>,
    /// Boot file from the `file` field or option 67.
    pub boot_file: Option<String>,
    /// Option 60 of the offer (`PXEClient` for PXE servers).
    pub vendor_class: Option<String>,
    /// Option 43 present (PXE vendor options).
    pub vendor_options: bool,
    /// True when the offer carries any PXE boot information.
    pub offers_pxe: bool,
    /// How many offers came from this server (retransmissions).
    pub offers: u32,
}

/// Result of a probe.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProbeReport {
    /// The interface probed.
    pub interface: String,
    /// Client MAC used.
    pub mac: String,
    /// Every server that answered, by server id.
    pub responders: Vec<Responder>,
}

impl ProbeReport {
    /// Responders that hand out addresses.
    pub fn dhcp_servers(&self) -> impl Iterator<Item = &Responder> {
        self.responders.iter().filter(|r| r.offered_ip.is_some())
    }

    /// Responders that offer PXE boot information.
    pub fn pxe_servers(&self) -> impl Iterator<Item = &Responder> {
        self.responders.iter().filter(|r| r.offers_pxe)
    }
}

/// Reads an interface's MAC from sysfs.
pub fn interface_mac(interface: &str) -> Option<[u8; 6]> {
    let text = std::fs::read_to_string(format!("/sys/class/net/{interface}/address")).ok()?;
    let mut out = [0u8; 6];
    let mut parts = text.trim().split(':');
    for b in &mut out {
        *b = u8::from_str_radix(parts.next()?, 16).ok()?;
    }
    parts.next().is_none().then_some(out)
}

/// Encodes the probe's DHCPDISCOVER.
pub fn discover(xid: u32, mac: [u8; 6]) -> Vec<u8> {
    let mut b = vec![0u8; packet::HEADER_LEN];
    b[0] = packet::BOOTREQUEST;
    b[1] = 1; // Ethernet
    b[2] = 6;
    b[4..8].copy_from_slice(&xid.to_be_bytes());
    b[10..12].copy_from_slice(&packet::FLAG_BROADCAST.to_be_bytes());
    b[28..34].copy_from_slice(&mac);
    b.extend_from_slice(&packet::MAGIC);
    let mut opt = |c: u8, data: &[u8]| {
        b.push(c);
        b.push(u8::try_from(data.len()).unwrap_or(u8::MAX));
        b.extend_from_slice(data);
    };
    opt(code::MESSAGE_TYPE, &[1]);
    opt(code::MAX_MESSAGE_SIZE, &1472u16.to_be_bytes());
    opt(code::PARAM_REQUEST, &[1, 3, 6, 43, 54, 60, 66, 67]);
    opt(code::VENDOR_CLASS, PXE_VENDOR_CLASS.as_bytes());
    opt(code::CLIENT_ARCH, &0u16.to_be_bytes());
    // Client network interface identifier (option 94): UNDI 2.1.
    opt(94, &[1, 2, 1]);
    let mut uuid = [0u8; 17];
    uuid[11..17].copy_from_slice(&mac);
    opt(code::CLIENT_UUID, &uuid);
    b.push(code::END);
    while b.len() < packet::MIN_REPLY_LEN {
        b.push(0);
    }
    b
}

fn text(field: &[u8]) -> Option<String> {
    let end = field.iter().position(|&c| c == 0).unwrap_or(field.len());
    let s = String::from_utf8_lossy(&field[..end]).trim().to_string();
    (!s.is_empty()).then_some(s)
}

fn ip_at(b: &[u8], at: usize) -> Option<Ipv4Addr> {
    let o: [u8; 4] = b.get(at..at + 4)?.try_into().ok()?;
    let ip = Ipv4Addr::from(o);
    (!ip.is_unspecified()).then_some(ip)
}

/// Reads a DHCPOFFER for `xid`/`mac`; `None` for anything else.
pub fn parse_offer(b: &[u8], xid: u32, mac: [u8; 6], source: Ipv4Addr) -> Option<Responder> {
    if b.len() < packet::OPTIONS_OFFSET
        || b[0] != packet::BOOTREPLY
        || b.get(4..8)? != xid.to_be_bytes()
        || b.get(28..34)? != mac
        || b.get(packet::HEADER_LEN..packet::OPTIONS_OFFSET)? != packet::MAGIC
    {
        return None;
    }
    let mut o = Options::default();
    o.parse_area(&b[packet::OPTIONS_OFFSET..], true);
    let overload = o
        .get(code::OVERLOAD)
        .and_then(|v| v.first().copied())
        .unwrap_or(0);
    if overload & 1 != 0 {
        o.parse_area(&b[108..236], false);
    }
    if overload & 2 != 0 {
        o.parse_area(&b[44..108], false);
    }
    if o.get(code::MESSAGE_TYPE) != Some(&[2][..]) {
        return None; // only OFFERs
    }
    let file_field = if overload & 1 != 0 {
        None
    } else {
        text(&b[108..236])
    };
    let boot_file = o.get(code::BOOTFILE_NAME).and_then(text).or(file_field);
    let vendor_class = o.get(code::VENDOR_CLASS).and_then(text);
    let vendor_options = o.contains(code::VENDOR_OPTS);
    let next_server = ip_at(b, 20);
    let offers_pxe = boot_file.is_some()
        || vendor_options
        || vendor_class
            .as_deref()
            .is_some_and(|v| v.starts_with("PXEClient"));
    Some(Responder {
        server_id: o.ipv4(code::SERVER_ID).unwrap_or(source),
        source,
        offered_ip: ip_at(b, 16),
        next_server,
        boot_file,
        vendor_class,
        vendor_options,
        offers_pxe,
        offers: 1,
    })
}

fn socket(cfg: &ProbeConfig) -> Result<tokio::net::UdpSocket, Error> {
    use socket2::{Domain, Protocol, Socket, Type};
    let port = cfg.client_port;
    let err = |source| Error::Socket { port, source };
    let s = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP)).map_err(err)?;
    s.set_reuse_address(true).map_err(err)?;
    s.set_broadcast(true).map_err(err)?;
    s.bind_device(Some(cfg.interface.as_bytes()))
        .map_err(|source| Error::BindDevice {
            port,
            interface: cfg.interface.clone(),
            source,
        })?;
    s.bind(&SocketAddr::from((Ipv4Addr::UNSPECIFIED, port)).into())
        .map_err(err)?;
    s.set_nonblocking(true).map_err(err)?;
    tokio::net::UdpSocket::from_std(s.into()).map_err(err)
}

/// Broadcasts DISCOVERs on `cfg.interface` and collects the offers.
pub async fn probe(cfg: &ProbeConfig) -> Result<ProbeReport, Error> {
    if cfg.interface.is_empty() {
        return Err(Error::InvalidConfig("the probe needs an interface".into()));
    }
    let mac = match cfg.mac.or_else(|| interface_mac(&cfg.interface)) {
        Some(m) if m != [0; 6] => m,
        _ => [0x02, 0xbb, 0x0b, 0x0c, 0x5e, 0x01], // loopback/dummy: a local MAC
    };
    let sock = socket(cfg)?;
    let mut xid_bytes = [0u8; 4];
    for (i, b) in xid_bytes.iter_mut().enumerate() {
        *b = mac[2 + i] ^ (std::process::id() >> (i * 8)) as u8;
    }
    let xid = u32::from_be_bytes(xid_bytes) ^ 0x5eed_0001;
    let msg = discover(xid, mac);
    let dest = SocketAddr::from((Ipv4Addr::BROADCAST, cfg.server_port));
    let port = cfg.client_port;
    sock.send_to(&msg, dest)
        .await
        .map_err(|source| Error::Socket { port, source })?;
    let deadline = tokio::time::Instant::now() + cfg.listen;
    let resend_at = tokio::time::Instant::now() + cfg.listen / 3;
    let mut resent = false;
    let mut found: BTreeMap<Ipv4Addr, Responder> = BTreeMap::new();
    let mut buf = vec![0u8; 2048];
    loop {
        let wake = if resent {
            deadline
        } else {
            resend_at.min(deadline)
        };
        match tokio::time::timeout_at(wake, sock.recv_from(&mut buf)).await {
            Ok(Ok((n, SocketAddr::V4(from)))) => {
                if let Some(r) = parse_offer(&buf[..n], xid, mac, *from.ip()) {
                    found
                        .entry(r.server_id)
                        .and_modify(|e| e.offers += 1)
                        .or_insert(r);
                }
            }
            Ok(Ok(_)) => {}
            Ok(Err(e)) => {
                tracing::debug!(error = %e, "probe receive error");
            }
            Err(_) if !resent && wake < deadline => {
                // One retransmission, as a PXE ROM does: a server that
                // missed the first packet still gets a chance.
                resent = true;
                if let Err(e) = sock.send_to(&msg, dest).await {
                    tracing::debug!(error = %e, "probe resend failed");
                }
            }
            Err(_) => break,
        }
    }
    Ok(ProbeReport {
        interface: cfg.interface.clone(),
        mac: mac
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<Vec<_>>()
            .join(":"),
        responders: found.into_values().collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn offer(xid: u32, mac: [u8; 6], yiaddr: [u8; 4], opts: &[(u8, &[u8])], file: &str) -> Vec<u8> {
        let mut b = vec![0u8; packet::HEADER_LEN];
        b[0] = packet::BOOTREPLY;
        b[4..8].copy_from_slice(&xid.to_be_bytes());
        b[16..20].copy_from_slice(&yiaddr);
        b[28..34].copy_from_slice(&mac);
        b[108..108 + file.len()].copy_from_slice(file.as_bytes());
        b.extend_from_slice(&packet::MAGIC);
        for (c, d) in opts {
            b.push(*c);
            b.push(d.len() as u8);
            b.extend_from_slice(d);
        }
        b.push(255);
        b
    }

    #[test]
    fn discover_is_a_pxe_discover() {
        let b = discover(7, [2, 0, 0, 0, 0, 1]);
        let r = packet::parse_request(&b).expect("parses");
        assert_eq!(r.message_type, packet::MessageType::Discover);
        assert_eq!(r.flags, packet::FLAG_BROADCAST);
        assert_eq!(
            r.options.get(code::VENDOR_CLASS),
            Some(PXE_VENDOR_CLASS.as_bytes())
        );
        assert_eq!(r.options.get(code::CLIENT_ARCH), Some(&[0u8, 0][..]));
    }

    #[test]
    fn offers_are_classified() {
        let mac = [2, 0, 0, 0, 0, 1];
        let plain = offer(
            9,
            mac,
            [10, 0, 0, 50],
            &[(53, &[2]), (54, &[10, 0, 0, 1])],
            "",
        );
        let r = parse_offer(&plain, 9, mac, Ipv4Addr::new(10, 0, 0, 1)).expect("offer");
        assert_eq!(r.offered_ip, Some(Ipv4Addr::new(10, 0, 0, 50)));
        assert!(!r.offers_pxe);
        let proxy = offer(
            9,
            mac,
            [0; 4],
            &[(53, &[2]), (54, &[10, 0, 0, 5]), (60, b"PXEClient")],
            "pxelinux.0",
        );
        let r = parse_offer(&proxy, 9, mac, Ipv4Addr::new(10, 0, 0, 5)).expect("offer");
        assert_eq!(r.offered_ip, None);
        assert!(r.offers_pxe);
        assert_eq!(r.boot_file.as_deref(), Some("pxelinux.0"));
        // Wrong xid, wrong MAC, an ACK, garbage: ignored.
        assert!(parse_offer(&plain, 8, mac, Ipv4Addr::LOCALHOST).is_none());
        assert!(parse_offer(&plain, 9, [2, 0, 0, 0, 0, 2], Ipv4Addr::LOCALHOST).is_none());
        let ack = offer(9, mac, [10, 0, 0, 50], &[(53, &[5])], "");
        assert!(parse_offer(&ack, 9, mac, Ipv4Addr::LOCALHOST).is_none());
        assert!(parse_offer(b"junk", 9, mac, Ipv4Addr::LOCALHOST).is_none());
    }
}
