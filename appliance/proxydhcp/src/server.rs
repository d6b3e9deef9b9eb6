//! The thin socket layer: two UDP sockets (67 and 4011) bound to one
//! interface, each feeding [`respond`] and sending what it returns.

use std::io;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, UdpSocket as StdUdpSocket};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::UdpSocket;
use tracing::{debug, info, warn};

use crate::client::ListenPort;
use crate::engine::{respond, Ingress, State};
use crate::error::Error;
use crate::policy::BootPolicy;

/// Largest datagram we read; longer ones are truncated by the kernel and
/// then usually rejected as malformed.
const RECV_BUF: usize = 4096;

/// Socket settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerConfig {
    /// Interface to bind to with SO_BINDTODEVICE (e.g. `eth1`). Required
    /// in production so broadcasts leave through the right interface and
    /// only that interface's clients are heard; `None` only for tests.
    pub interface: Option<String>,
    /// Our address on that interface (siaddr, option 54, sname).
    pub server_ip: Ipv4Addr,
    /// Address to bind to; `0.0.0.0` (default) is needed to receive
    /// broadcasts.
    pub bind_ip: Ipv4Addr,
    /// DHCP port, normally 67; `None` = do not listen there (e.g. when a
    /// DHCP server on this host owns 67 and adds option 60 itself).
    pub dhcp_port: Option<u16>,
    /// PXE boot server port, normally 4011; `None` = do not listen there.
    pub pxe_port: Option<u16>,
}

impl ServerConfig {
    /// Ports 67 and 4011 on `0.0.0.0`, bound to `interface`.
    pub fn new(interface: impl Into<String>, server_ip: Ipv4Addr) -> Self {
        ServerConfig {
            interface: Some(interface.into()),
            server_ip,
            bind_ip: Ipv4Addr::UNSPECIFIED,
            dhcp_port: Some(67),
            pxe_port: Some(4011),
        }
    }
}

/// Engine state shared by both sockets.
#[derive(Clone)]
pub struct SharedState(Arc<Mutex<State>>);

impl SharedState {
    /// Wraps `state`.
    pub fn new(state: State) -> Self {
        SharedState(Arc::new(Mutex::new(state)))
    }

    /// Locks the state (a poisoned lock is recovered: the state has no
    /// invariants a panic elsewhere could break halfway).
    pub fn lock(&self) -> MutexGuard<'_, State> {
        match self.0.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        }
    }
}

impl std::fmt::Debug for SharedState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SharedState")
    }
}

/// Bound but not yet running sockets.
pub struct Server {
    config: ServerConfig,
    sockets: Vec<(ListenPort, StdUdpSocket)>,
    state: SharedState,
    policy: Arc<dyn BootPolicy>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("config", &self.config)
            .field("sockets", &self.sockets)
            .finish_non_exhaustive()
    }
}

/// Creates one UDP socket: SO_REUSEADDR, SO_BROADCAST, SO_BINDTODEVICE,
/// non-blocking, bound to `bind_ip:port`.
fn bind_socket(
    bind_ip: Ipv4Addr,
    port: u16,
    interface: Option<&str>,
) -> Result<StdUdpSocket, Error> {
    let sock_err = |source: io::Error| Error::Socket { port, source };
    let s = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP)).map_err(sock_err)?;
    s.set_reuse_address(true).map_err(sock_err)?;
    s.set_broadcast(true).map_err(sock_err)?;
    if let Some(ifname) = interface {
        s.bind_device(Some(ifname.as_bytes()))
            .map_err(|source| Error::BindDevice {
                port,
                interface: ifname.to_string(),
                source,
            })?;
    }
    s.set_nonblocking(true).map_err(sock_err)?;
    s.bind(&SocketAddr::V4(SocketAddrV4::new(bind_ip, port)).into())
        .map_err(sock_err)?;
    Ok(s.into())
}

impl Server {
    /// Binds the configured ports. Needs CAP_NET_RAW for SO_BINDTODEVICE
    /// and CAP_NET_BIND_SERVICE for ports below 1024. Does not need a
    /// tokio runtime; [`Server::run`] does.
    pub fn bind(
        config: ServerConfig,
        state: SharedState,
        policy: Arc<dyn BootPolicy>,
    ) -> Result<Server, Error> {
        let mut sockets = Vec::new();
        for (kind, port) in [
            (ListenPort::Dhcp, config.dhcp_port),
            (ListenPort::PxeBoot, config.pxe_port),
        ] {
            if let Some(port) = port {
                let s = bind_socket(config.bind_ip, port, config.interface.as_deref())?;
                sockets.push((kind, s));
            }
        }
        if sockets.is_empty() {
            return Err(Error::InvalidConfig("no port to listen on".into()));
        }
        Ok(Server {
            config,
            sockets,
            state,
            policy,
        })
    }

    /// The bound local addresses (useful when a test asked for port 0).
    pub fn local_addrs(&self) -> Vec<(ListenPort, SocketAddr)> {
        self.sockets
            .iter()
            .filter_map(|(k, s)| s.local_addr().ok().map(|a| (*k, a)))
            .collect()
    }

    /// The shared engine state (leases, config).
    pub fn state(&self) -> SharedState {
        self.state.clone()
    }

    /// Serves until the future is dropped (abort the task to stop). Only
    /// returns early if a socket cannot be registered with tokio.
    pub async fn run(self) -> Result<(), Error> {
        let mut tasks = tokio::task::JoinSet::new();
        for (kind, std_sock) in self.sockets {
            let port = std_sock.local_addr().map(|a| a.port()).unwrap_or(0);
            let sock =
                UdpSocket::from_std(std_sock).map_err(|source| Error::Socket { port, source })?;
            info!(port, interface = ?self.config.interface, server_ip = %self.config.server_ip, "proxydhcp listening");
            tasks.spawn(serve_socket(
                sock,
                kind,
                self.config.server_ip,
                self.state.clone(),
                self.policy.clone(),
            ));
        }
        while tasks.join_next().await.is_some() {}
        Ok(())
    }
}

async fn serve_socket(
    sock: UdpSocket,
    port: ListenPort,
    server_ip: Ipv4Addr,
    state: SharedState,
    policy: Arc<dyn BootPolicy>,
) {
    let mut buf = vec![0u8; RECV_BUF];
    loop {
        let (n, source) = match sock.recv_from(&mut buf).await {
            Ok(x) => x,
            Err(e) => {
                warn!(%port, error = %e, "receive failed");
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let Some(packet) = buf.get(..n) else { continue };
        let ingress = Ingress {
            port,
            server_ip,
            source,
        };
        let reply = {
            let mut st = state.lock();
            respond(packet, ingress, policy.as_ref(), &mut st)
        };
        if let Some(reply) = reply {
            match sock.send_to(&reply.bytes, reply.dest).await {
                Ok(_) => debug!(%port, dest = %reply.dest, len = reply.bytes.len(), "sent"),
                Err(e) => warn!(%port, dest = %reply.dest, error = %e, "send failed"),
            }
        }
    }
}
