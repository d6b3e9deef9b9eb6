//! Wake-on-LAN: magic packets over UDP (port 9 by default), batched with a
//! pause between batches (`linbo-remote -b`), each packet sent several
//! times (a lost broadcast is not retransmitted by anyone else).
//!
//! The destination is the subnet-directed broadcast of the box's LAN
//! interface, computed from the interface's address and prefix (or
//! configured); 255.255.255.255 (LINBO's default) only when the box knows
//! no LAN interface (see [`crate::plan::wol_config`]). With an interface
//! named, the socket is bound to it (`SO_BINDTODEVICE`), so packets never
//! leave through another network.

use std::net::{Ipv4Addr, SocketAddrV4, UdpSocket};
use std::time::Duration;

use bootbox_linbo::MacAddr;

use crate::{RemoteError, Result};

/// The UDP port `wakeonlan` uses.
pub const DEFAULT_PORT: u16 = 9;

/// The 102-byte magic packet: six `FF` bytes, then the MAC 16 times.
pub fn magic_packet(mac: MacAddr) -> [u8; 102] {
    let mut p = [0xffu8; 102];
    for i in 0..16 {
        p[6 + i * 6..12 + i * 6].copy_from_slice(&mac.octets());
    }
    p
}

/// Where and how magic packets are sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WolConfig {
    /// Destination address (a broadcast).
    pub destination: Ipv4Addr,
    /// Destination UDP port.
    pub port: u16,
    /// Interface to send on (`SO_BINDTODEVICE`, needs root).
    pub interface: Option<String>,
    /// Copies of each packet (retries), at least 1.
    pub copies: u32,
    /// Hosts per batch, at least 1 (`linbo-remote`: 1).
    pub batch: usize,
    /// Pause between batches (`-b`).
    pub gap: Duration,
}

impl Default for WolConfig {
    fn default() -> Self {
        Self {
            destination: Ipv4Addr::BROADCAST,
            port: DEFAULT_PORT,
            interface: None,
            copies: 3,
            batch: 1,
            gap: Duration::ZERO,
        }
    }
}

/// The IPv4 address, prefix length and directed broadcast of an interface
/// (its first IPv4 address).
pub fn interface_ipv4(name: &str) -> Result<(Ipv4Addr, u8, Ipv4Addr)> {
    let err = |reason: String| RemoteError::Interface {
        name: name.to_string(),
        reason,
    };
    let addrs = nix::ifaddrs::getifaddrs().map_err(|e| err(e.to_string()))?;
    for ifa in addrs.filter(|i| i.interface_name == name) {
        let Some(addr) = ifa.address.as_ref().and_then(|a| a.as_sockaddr_in()) else {
            continue;
        };
        let ip = addr.ip();
        let mask = ifa
            .netmask
            .as_ref()
            .and_then(|m| m.as_sockaddr_in())
            .map(|m| m.ip())
            .unwrap_or(Ipv4Addr::BROADCAST);
        let prefix = u32::from(mask).leading_ones() as u8;
        return Ok((ip, prefix, broadcast_of(ip, prefix)));
    }
    Err(err("has no IPv4 address (or does not exist)".into()))
}

/// The directed broadcast of `ip/prefix` (e.g. 10.0.100.7/24 → 10.0.100.255).
pub fn broadcast_of(ip: Ipv4Addr, prefix: u8) -> Ipv4Addr {
    let host_bits = if prefix >= 32 { 0 } else { u32::MAX >> prefix };
    Ipv4Addr::from(u32::from(ip) | host_bits)
}

/// Opens the sending socket: broadcast allowed, bound to the interface
/// when one is named.
pub fn open_socket(cfg: &WolConfig) -> Result<UdpSocket> {
    let sock = UdpSocket::bind(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0))
        .map_err(|e| RemoteError::io("cannot open a UDP socket for Wake-on-LAN", e))?;
    sock.set_broadcast(true)
        .map_err(|e| RemoteError::io("cannot enable broadcast", e))?;
    if let Some(name) = &cfg.interface {
        nix::sys::socket::setsockopt(
            &sock,
            nix::sys::socket::sockopt::BindToDevice,
            &std::ffi::OsString::from(name),
        )
        .map_err(|e| RemoteError::Interface {
            name: name.clone(),
            reason: format!("cannot bind to it (needs root): {e}"),
        })?;
    }
    Ok(sock)
}

/// Sends the magic packets for `hosts` (name, MAC) in batches of
/// `cfg.batch`, pausing `cfg.gap` between batches. `on_sent` is called
/// with each host name once its packets are out, or with the error.
pub async fn wake<F>(cfg: &WolConfig, hosts: &[(String, MacAddr)], mut on_sent: F) -> Result<()>
where
    F: FnMut(&str, std::result::Result<(), String>),
{
    let sock = open_socket(cfg)?;
    let dest = SocketAddrV4::new(cfg.destination, cfg.port);
    let batch = cfg.batch.max(1);
    for (i, chunk) in hosts.chunks(batch).enumerate() {
        if i > 0 && !cfg.gap.is_zero() {
            tokio::time::sleep(cfg.gap).await;
        }
        for (name, mac) in chunk {
            let packet = magic_packet(*mac);
            let mut result = Ok(());
            for _ in 0..cfg.copies.max(1) {
                if let Err(e) = sock.send_to(&packet, dest) {
                    result = Err(format!("send to {dest}: {e}"));
                }
            }
            tracing::debug!(host = %name, %mac, %dest, "magic packet sent");
            on_sent(name, result);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packet_layout() {
        let mac: MacAddr = "00:1a:2b:3c:4d:5e".parse().expect("mac");
        let p = magic_packet(mac);
        assert_eq!(&p[..6], &[0xff; 6]);
        assert_eq!(&p[6..12], &[0x00, 0x1a, 0x2b, 0x3c, 0x4d, 0x5e]);
        assert_eq!(&p[96..102], &[0x00, 0x1a, 0x2b, 0x3c, 0x4d, 0x5e]);
    }

    #[test]
    fn broadcasts() {
        let ip = Ipv4Addr::new(10, 0, 100, 7);
        assert_eq!(broadcast_of(ip, 24), Ipv4Addr::new(10, 0, 100, 255));
        assert_eq!(broadcast_of(ip, 16), Ipv4Addr::new(10, 0, 255, 255));
        assert_eq!(broadcast_of(ip, 32), ip);
        assert_eq!(broadcast_of(ip, 0), Ipv4Addr::BROADCAST);
        let (lo, prefix, b) = interface_ipv4("lo").expect("lo");
        assert_eq!((lo, prefix), (Ipv4Addr::LOCALHOST, 8));
        assert_eq!(b, Ipv4Addr::new(127, 255, 255, 255));
        assert!(interface_ipv4("does-not-exist0").is_err());
    }

    #[tokio::test]
    async fn batches_go_out_in_order_over_loopback() {
        let rx = UdpSocket::bind("127.0.0.1:0").expect("bind");
        let port = rx.local_addr().expect("addr").port();
        let cfg = WolConfig {
            destination: Ipv4Addr::LOCALHOST,
            port,
            copies: 2,
            batch: 2,
            ..WolConfig::default()
        };
        let hosts: Vec<(String, MacAddr)> = (1..=3u8)
            .map(|i| (format!("pc{i}"), MacAddr([0, 0, 0, 0, 0, i])))
            .collect();
        let mut sent = Vec::new();
        wake(&cfg, &hosts, |h, r| sent.push((h.to_string(), r.is_ok())))
            .await
            .expect("wake");
        assert_eq!(sent.len(), 3);
        let mut buf = [0u8; 200];
        let mut got = Vec::new();
        for _ in 0..6 {
            let n = rx.recv(&mut buf).expect("recv");
            assert_eq!(n, 102);
            got.push(buf[11]);
        }
        assert_eq!(got, vec![1, 1, 2, 2, 3, 3]);
    }
}
