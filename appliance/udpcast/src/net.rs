//! Interface lookup and the session's sockets.
//!
//! Stock receivers accept DATA/REQACK only from the exact address and port
//! that sent their CONNECT_REPLY, and control messages only from port
//! `P + 1`. So everything is sent from one socket bound to
//! `server_ip:P+1`; a second, receive-only socket bound to the subnet
//! broadcast address `:P+1` hears the receivers' first, broadcast
//! CONNECT_REQ (Linux delivers a broadcast only to sockets bound to it or
//! to the wildcard address).

use std::io;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, UdpSocket as StdUdpSocket};

use socket2::{Domain, Protocol, Socket, Type};

use crate::error::Error;

/// Socket buffer we ask for (the kernel caps it at `net.core.[rw]mem_max`).
const SOCKET_BUFFER: usize = 4 << 20;

/// The interface a session runs on, with addresses resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// Interface name (SO_BINDTODEVICE).
    pub interface: String,
    /// Our address on it (all datagrams leave from it).
    pub server_ip: Ipv4Addr,
    /// Its subnet-directed broadcast address (HELLO destination).
    pub broadcast: Ipv4Addr,
}

impl Endpoint {
    /// Looks up `interface`'s IPv4 addresses: `server_ip` must be one of
    /// them (default: the first); the broadcast address comes from the
    /// interface (or address | !netmask) unless given.
    pub fn lookup(
        interface: &str,
        server_ip: Option<Ipv4Addr>,
        broadcast: Option<Ipv4Addr>,
    ) -> Result<Endpoint, Error> {
        let err = |message: String| Error::Interface {
            interface: interface.to_string(),
            message,
        };
        let addrs =
            nix::ifaddrs::getifaddrs().map_err(|e| err(format!("cannot list addresses: {e}")))?;
        let mut found = Vec::new();
        for a in addrs.filter(|a| a.interface_name == interface) {
            let Some(ip) = a.address.as_ref().and_then(|s| s.as_sockaddr_in()) else {
                continue;
            };
            let mask = a
                .netmask
                .as_ref()
                .and_then(|s| s.as_sockaddr_in())
                .map(|m| m.ip());
            let bcast = a
                .broadcast
                .as_ref()
                .and_then(|s| s.as_sockaddr_in())
                .map(|b| b.ip())
                // An address added without `brd` reports itself here
                // (glibc fills the union with IFA_ADDRESS): not a broadcast.
                .filter(|b| !b.is_unspecified() && *b != ip.ip());
            found.push((ip.ip(), mask, bcast));
        }
        if found.is_empty() {
            return Err(err("no such interface or no IPv4 address on it".into()));
        }
        let (ip, mask, bcast) = match server_ip {
            Some(want) => found
                .into_iter()
                .find(|(ip, _, _)| *ip == want)
                .ok_or_else(|| err(format!("{want} is not an address of this interface")))?,
            None => found[0],
        };
        let computed = mask.map(|m| Ipv4Addr::from(u32::from(ip) | !u32::from(m)));
        let broadcast = broadcast
            .or(bcast)
            .or(computed)
            .ok_or_else(|| err(format!("no broadcast address known for {ip}")))?;
        Ok(Endpoint {
            interface: interface.to_string(),
            server_ip: ip,
            broadcast,
        })
    }

    /// An endpoint with explicit addresses (no lookup; tests, or when the
    /// caller already knows them).
    pub fn new(interface: impl Into<String>, server_ip: Ipv4Addr, broadcast: Ipv4Addr) -> Self {
        Endpoint {
            interface: interface.into(),
            server_ip,
            broadcast,
        }
    }
}

/// The two sockets of one session.
#[derive(Debug)]
pub(crate) struct Sockets {
    /// `server_ip:P+1`: sends everything, hears unicast answers.
    pub main: StdUdpSocket,
    /// `broadcast:P+1`: hears broadcast CONNECT_REQs.
    pub bcast: Option<StdUdpSocket>,
}

fn socket(port: u16, interface: &str) -> Result<Socket, Error> {
    let sock_err = |source: io::Error| Error::Socket { port, source };
    let s = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP)).map_err(sock_err)?;
    s.set_reuse_address(true).map_err(sock_err)?;
    if !interface.is_empty() {
        s.bind_device(Some(interface.as_bytes()))
            .map_err(|source| Error::BindDevice {
                port,
                interface: interface.to_string(),
                source,
            })?;
    }
    s.set_nonblocking(true).map_err(sock_err)?;
    Ok(s)
}

/// Binds the session's sockets for receivers' port `port` (we use
/// `port + 1`).
pub(crate) fn bind(ep: &Endpoint, port: u16, ttl: u32) -> Result<Sockets, Error> {
    let p1 = port
        .checked_add(1)
        .ok_or_else(|| Error::InvalidConfig(format!("port {port} has no port + 1")))?;
    let sock_err = |source: io::Error| Error::Socket { port: p1, source };
    let main = socket(p1, &ep.interface)?;
    main.set_broadcast(true).map_err(sock_err)?;
    main.set_multicast_if_v4(&ep.server_ip).map_err(sock_err)?;
    main.set_multicast_ttl_v4(ttl).map_err(sock_err)?;
    main.set_multicast_loop_v4(false).map_err(sock_err)?;
    // Best effort: the kernel caps the sizes silently.
    let _ = main.set_send_buffer_size(SOCKET_BUFFER);
    let _ = main.set_recv_buffer_size(SOCKET_BUFFER);
    main.bind(&SocketAddr::V4(SocketAddrV4::new(ep.server_ip, p1)).into())
        .map_err(sock_err)?;
    let bcast = if ep.broadcast != ep.server_ip {
        let b = socket(p1, &ep.interface)?;
        b.bind(&SocketAddr::V4(SocketAddrV4::new(ep.broadcast, p1)).into())
            .map_err(sock_err)?;
        Some(b.into())
    } else {
        None
    };
    Ok(Sockets {
        main: main.into(),
        bcast,
    })
}
