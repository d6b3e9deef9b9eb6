//! The packet logic: one datagram in, at most one reply out. No sockets.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tracing::{debug, warn};

use crate::chainload::ChainloadMemory;
use crate::client::{pxe_client, request_mac, ListenPort, Mac, PxeClient, VendorKind};
use crate::error::Error;
use crate::full::{FullDhcpConfig, Lease, LeasePool, LeaseStore, Refusal, Want};
use crate::observer::{Event, IgnoreReason, NoopObserver, Observer};
use crate::options::boot_item;
use crate::packet::{code, parse_request, MessageType, ReplyPacket, Request, FLAG_BROADCAST};
use crate::policy::{BootFile, BootPolicy, Decision};
use crate::ratelimit::{RateLimitConfig, RateLimiter};
use crate::reply::{add_address_options, add_boot, secs, BootOptions, MAX_BOOT_FILE_LEN};

/// Engine settings (everything but the sockets).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Per-MAC reply budget; `None` disables rate limiting.
    pub rate_limit: Option<RateLimitConfig>,
    /// Window of the remembered-MAC iPXE fallback; `Duration::ZERO`
    /// disables it. Default 60 s.
    ///
    /// Some iPXE builds hide their user class. When a client without iPXE
    /// marks was handed its boot binary (BIOS offer on 67, ACK on 4011,
    /// HTTP boot offer, full-mode offer/ACK) and the same MAC sends a
    /// DISCOVER with a *new* xid within this window, with the same vendor
    /// kind (`PXEClient`/`HTTPClient`), architecture and option 97, it is
    /// treated as iPXE and gets the script ([`PxeClient::is_ipxe`] and
    /// [`PxeClient::ipxe_remembered`] set). Firmware retransmissions keep
    /// their xid and are not matched. One-shot: only that transaction is
    /// redirected; the next new one gets the binary again, so a firmware
    /// that really restarts PXE loses at most one attempt. A request with
    /// real iPXE marks clears the entry.
    pub ipxe_memory: Duration,
    /// Maximum number of MACs the fallback remembers. Default 1024.
    pub ipxe_memory_max: usize,
    /// Option 77 user classes that mark iPXE (case-insensitive, raw or
    /// RFC 3004 form). Default `["iPXE"]`; add the class an own iPXE
    /// build sets, if any.
    pub ipxe_user_classes: Vec<String>,
    /// Client port for broadcast/unicast replies on 67. Default 68; only
    /// tests change it.
    pub client_port: u16,
    /// Port of relay agents (giaddr). Default 67; only tests change it.
    pub relay_port: u16,
    /// Put the request's ciaddr into yiaddr of the port-4011 ACK, as
    /// dnsmasq does. Default false: the proxy never sets yiaddr.
    pub boot_server_yiaddr_from_ciaddr: bool,
    /// Full-DHCP mode (lease server on 67); `None` = proxy mode (default).
    pub full: Option<FullDhcpConfig>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            rate_limit: Some(RateLimitConfig::default()),
            ipxe_memory: Duration::from_secs(60),
            ipxe_memory_max: 1024,
            ipxe_user_classes: vec!["iPXE".to_string()],
            client_port: 68,
            relay_port: 67,
            boot_server_yiaddr_from_ciaddr: false,
            full: None,
        }
    }
}

/// Mutable engine state: rate limiter, iPXE memory, lease pool, observer.
pub struct State {
    config: Config,
    limiter: Option<RateLimiter>,
    memory: ChainloadMemory,
    pool: Option<LeasePool>,
    observer: Arc<dyn Observer>,
}

impl std::fmt::Debug for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("State")
            .field("config", &self.config)
            .field("pool", &self.pool)
            .finish_non_exhaustive()
    }
}

impl State {
    /// Validates `config` and creates empty state with a no-op observer.
    pub fn new(config: Config) -> Result<State, Error> {
        if let Some(rl) = &config.rate_limit {
            if rl.max_replies == 0 || rl.per.is_zero() || rl.max_clients == 0 {
                return Err(Error::InvalidConfig(
                    "rate limit needs max_replies >= 1, per > 0, max_clients >= 1".into(),
                ));
            }
        }
        let pool = config.full.clone().map(LeasePool::new).transpose()?;
        Ok(State {
            limiter: config.rate_limit.map(RateLimiter::new),
            memory: ChainloadMemory::new(config.ipxe_memory, config.ipxe_memory_max),
            pool,
            observer: Arc::new(NoopObserver),
            config,
        })
    }

    /// Sets the observer that receives boot timeline events.
    pub fn with_observer(mut self, observer: Arc<dyn Observer>) -> Self {
        self.observer = observer;
        self
    }

    /// Sets the lease persistence hook (full mode; ignored in proxy mode).
    pub fn with_lease_store(mut self, store: Arc<dyn LeaseStore>) -> Self {
        if let Some(pool) = &mut self.pool {
            pool.set_store(store);
        }
        self
    }

    /// Loads persisted leases (full mode; ignored in proxy mode).
    pub fn restore_leases(&mut self, leases: Vec<Lease>, now: SystemTime) {
        if let Some(pool) = &mut self.pool {
            pool.restore(leases, now);
        }
    }

    /// Committed leases (empty in proxy mode).
    pub fn leases(&self) -> Vec<Lease> {
        self.pool
            .as_ref()
            .map(LeasePool::leases)
            .unwrap_or_default()
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// True in full-DHCP mode.
    pub fn is_full_mode(&self) -> bool {
        self.pool.is_some()
    }

    fn emit(&self, event: Event) {
        self.observer.event(&event);
    }

    fn ignore(&self, mac: Option<Mac>, port: ListenPort, reason: IgnoreReason) -> Option<Reply> {
        debug!(mac = ?mac.map(|m| m.to_string()), %port, ?reason, "no reply");
        self.emit(Event::Ignored { mac, port, reason });
        None
    }

    fn allow(&mut self, mac: Mac, now: SystemTime) -> bool {
        match &mut self.limiter {
            Some(l) => l.allow(mac, now),
            None => true,
        }
    }

    /// Classifies a PXE/HTTP boot request, applies the iPXE memory and
    /// asks the policy.
    fn decide(
        &self,
        req: &Request,
        kind: VendorKind,
        port: ListenPort,
        policy: &dyn BootPolicy,
        now: SystemTime,
    ) -> Result<(PxeClient, BootFile), IgnoreReason> {
        let mut client = pxe_client(req, kind, port, &self.config.ipxe_user_classes)
            .ok_or(IgnoreReason::Malformed)?;
        let discover = req.message_type == MessageType::Discover;
        if !client.is_ipxe && self.memory.matches(&client, discover, now) {
            debug!(mac = %client.mac, xid = client.xid, "no iPXE marks, but this MAC just got the iPXE binary: treating it as iPXE");
            client.is_ipxe = true;
            client.ipxe_remembered = true;
        }
        let file = match policy.decide(&client) {
            Decision::Ignore => return Err(IgnoreReason::PolicyIgnore),
            Decision::Boot(f) => f,
        };
        if file.as_str().is_empty() || file.as_str().len() > MAX_BOOT_FILE_LEN {
            warn!(mac = %client.mac, len = file.as_str().len(), "boot file name empty or longer than option 67 allows");
            return Err(IgnoreReason::Unsupported);
        }
        if kind == VendorKind::HttpClient && !file.is_url() {
            warn!(mac = %client.mac, file = %file, "UEFI HTTP boot client needs an http:// URL; policy gave a file name");
            return Err(IgnoreReason::Unsupported);
        }
        Ok((client, file))
    }

    /// Updates the iPXE memory after a boot reply went out. `binary` is
    /// true when the reply hands a non-iPXE client its final boot file.
    fn note_boot(&mut self, client: &PxeClient, binary: bool, now: SystemTime) {
        if client.ipxe_remembered {
            self.memory.redirected(client, now);
        } else if client.is_ipxe {
            self.memory.forget(client.mac);
        } else if binary {
            self.memory.given(client, now);
        }
    }
}

/// Where a datagram came in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ingress {
    /// The server port it arrived on.
    pub port: ListenPort,
    /// Our address on the ingress interface (siaddr, option 54, sname).
    pub server_ip: Ipv4Addr,
    /// The sender's address (port-4011 replies go back there).
    pub source: SocketAddr,
}

/// A datagram to send, from the socket of the ingress port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// The encoded DHCP message.
    pub bytes: Vec<u8>,
    /// Destination address and port.
    pub dest: SocketAddr,
}

/// Handles one datagram with the current wall-clock time. See
/// [`respond_at`].
pub fn respond(
    packet: &[u8],
    ingress: Ingress,
    policy: &dyn BootPolicy,
    state: &mut State,
) -> Option<Reply> {
    respond_at(packet, ingress, policy, state, SystemTime::now())
}

/// Handles one datagram at time `now`: parses it, applies the rules of the
/// crate docs and returns the reply to send, if any. Never panics; bad
/// input yields `None`, a debug log and an [`Event::Ignored`].
pub fn respond_at(
    packet: &[u8],
    ingress: Ingress,
    policy: &dyn BootPolicy,
    state: &mut State,
    now: SystemTime,
) -> Option<Reply> {
    let req = match parse_request(packet) {
        Ok(r) => r,
        Err(e) => {
            debug!(port = %ingress.port, src = %ingress.source, error = %e, "dropping malformed packet");
            return state.ignore(None, ingress.port, IgnoreReason::Malformed);
        }
    };
    let kind = req
        .options
        .get(code::VENDOR_CLASS)
        .and_then(VendorKind::from_vendor_class);
    match ingress.port {
        ListenPort::PxeBoot => boot_server(&req, kind, ingress, policy, state, now),
        ListenPort::Dhcp if state.pool.is_some() => {
            full_dhcp(&req, kind, ingress, policy, state, now)
        }
        ListenPort::Dhcp => proxy_offer(&req, kind, ingress, policy, state, now),
    }
}

/// Port 67 in proxy mode: DISCOVER from a PXE/HTTP client → proxy OFFER.
fn proxy_offer(
    req: &Request,
    kind: Option<VendorKind>,
    ingress: Ingress,
    policy: &dyn BootPolicy,
    state: &mut State,
    now: SystemTime,
) -> Option<Reply> {
    let mac = request_mac(req);
    let port = ingress.port;
    let Some(kind) = kind else {
        return state.ignore(Some(mac), port, IgnoreReason::NotPxe);
    };
    if req.message_type != MessageType::Discover {
        return state.ignore(Some(mac), port, IgnoreReason::NotDiscover);
    }
    let (client, file) = match state.decide(req, kind, port, policy, now) {
        Ok(x) => x,
        Err(reason) => return state.ignore(Some(mac), port, reason),
    };
    if !state.allow(mac, now) {
        return state.ignore(Some(mac), port, IgnoreReason::RateLimited);
    }
    let mut r = ReplyPacket::for_request(req, MessageType::Offer);
    // yiaddr stays 0: we are not the lease server. The broadcast bit makes
    // relays broadcast it too (the client has no address yet).
    r.flags |= FLAG_BROADCAST;
    r.push_ipv4(code::SERVER_ID, ingress.server_ip);
    add_boot(
        &mut r,
        req,
        ingress.server_ip,
        &BootOptions {
            kind,
            arch: client.arch,
            is_ipxe: client.is_ipxe,
            file: &file,
            on_boot_server: false,
            boot_item: None,
        },
    );
    let dest = if req.giaddr.is_unspecified() {
        SocketAddr::from((Ipv4Addr::BROADCAST, state.config.client_port))
    } else {
        SocketAddr::from((req.giaddr, state.config.relay_port))
    };
    // UEFI PXE firmware fetches its file via 4011; everything else boots
    // the file of this offer.
    let binary = !(kind == VendorKind::PxeClient && client.arch.is_uefi_pxe());
    state.note_boot(&client, binary, now);
    debug!(mac = %mac, arch = %client.arch, file = %file, ipxe = client.is_ipxe, %dest, "proxy offer");
    state.emit(Event::OfferSent {
        mac,
        arch: Some(client.arch),
        port,
        file: Some(file.as_str().to_string()),
        ipxe: client.is_ipxe,
        yiaddr: None,
    });
    Some(Reply {
        bytes: r.encode_for(req),
        dest,
    })
}

/// Port 4011: REQUEST/INFORM from a PXE/HTTP client → ACK with the boot
/// file, from port 4011 back to the sender.
fn boot_server(
    req: &Request,
    kind: Option<VendorKind>,
    ingress: Ingress,
    policy: &dyn BootPolicy,
    state: &mut State,
    now: SystemTime,
) -> Option<Reply> {
    let mac = request_mac(req);
    let port = ingress.port;
    let Some(kind) = kind else {
        return state.ignore(Some(mac), port, IgnoreReason::NotPxe);
    };
    if !matches!(req.message_type, MessageType::Request | MessageType::Inform) {
        return state.ignore(Some(mac), port, IgnoreReason::NotDiscover);
    }
    let SocketAddr::V4(src) = ingress.source else {
        return state.ignore(Some(mac), port, IgnoreReason::Malformed);
    };
    let item = req.options.get(code::VENDOR_OPTS).and_then(boot_item);
    if item.is_some_and(|i| i.wants_bis()) {
        return state.ignore(Some(mac), port, IgnoreReason::Unsupported);
    }
    let (client, file) = match state.decide(req, kind, port, policy, now) {
        Ok(x) => x,
        Err(reason) => return state.ignore(Some(mac), port, reason),
    };
    if !state.allow(mac, now) {
        return state.ignore(Some(mac), port, IgnoreReason::RateLimited);
    }
    let mut r = ReplyPacket::for_request(req, MessageType::Ack);
    r.ciaddr = req.ciaddr;
    if state.config.boot_server_yiaddr_from_ciaddr {
        r.yiaddr = req.ciaddr;
    }
    r.push_ipv4(code::SERVER_ID, ingress.server_ip);
    add_boot(
        &mut r,
        req,
        ingress.server_ip,
        &BootOptions {
            kind,
            arch: client.arch,
            is_ipxe: client.is_ipxe,
            file: &file,
            on_boot_server: true,
            boot_item: item,
        },
    );
    let dest = if src.ip().is_unspecified() {
        SocketAddr::from((Ipv4Addr::BROADCAST, src.port()))
    } else {
        SocketAddr::V4(src)
    };
    state.note_boot(&client, true, now);
    debug!(mac = %mac, arch = %client.arch, file = %file, ipxe = client.is_ipxe, %dest, "boot server ack");
    state.emit(Event::AckSent {
        mac,
        arch: Some(client.arch),
        port,
        file: Some(file.as_str().to_string()),
        ipxe: client.is_ipxe,
        yiaddr: None,
    });
    Some(Reply {
        bytes: r.encode_for(req),
        dest,
    })
}

/// Destination of a full-mode OFFER/ACK (RFC 2131 4.1; we broadcast
/// instead of unicasting to an address the client does not have yet).
fn full_dest(req: &Request, config: &Config) -> SocketAddr {
    if !req.giaddr.is_unspecified() {
        SocketAddr::from((req.giaddr, config.relay_port))
    } else if !req.ciaddr.is_unspecified() {
        SocketAddr::from((req.ciaddr, config.client_port))
    } else {
        SocketAddr::from((Ipv4Addr::BROADCAST, config.client_port))
    }
}

/// Port 67 in full mode: a small authoritative DHCP server.
fn full_dhcp(
    req: &Request,
    kind: Option<VendorKind>,
    ingress: Ingress,
    policy: &dyn BootPolicy,
    state: &mut State,
    now: SystemTime,
) -> Option<Reply> {
    let mac = request_mac(req);
    let port = ingress.port;
    let server_ip = ingress.server_ip;
    let pool = state.pool.as_ref()?;
    if !req.giaddr.is_unspecified() && !pool.config().in_subnet(req.giaddr) {
        return state.ignore(Some(mac), port, IgnoreReason::NotForUs);
    }
    let host = policy.host(mac).unwrap_or_default();
    let hostname = host
        .hostname
        .clone()
        .or_else(|| pool.config().unknown_hostname.clone());
    let reserved = |ip: Ipv4Addr| policy.is_reserved(ip);

    match req.message_type {
        MessageType::Discover | MessageType::Request | MessageType::Inform => {}
        MessageType::Release => {
            let ip = req.ciaddr;
            if let Some(pool) = state.pool.as_mut() {
                if pool.release(mac, ip) {
                    debug!(mac = %mac, %ip, "lease released");
                    state.emit(Event::LeaseReleased { mac, ip });
                }
            }
            return None;
        }
        MessageType::Decline => {
            let Some(ip) = req.options.ipv4(code::REQUESTED_IP) else {
                return state.ignore(Some(mac), port, IgnoreReason::Malformed);
            };
            if let Some(pool) = state.pool.as_mut() {
                if pool.decline(mac, ip, now) {
                    warn!(mac = %mac, %ip, "client declined address (in use on the wire); quarantined");
                    state.emit(Event::LeaseDeclined { mac, ip });
                }
            }
            return None;
        }
        _ => return state.ignore(Some(mac), port, IgnoreReason::NotDiscover),
    }

    // REQUEST for another server (SELECTING state): drop our offer.
    if req.message_type == MessageType::Request {
        if let Some(sid) = req.options.ipv4(code::SERVER_ID) {
            if sid != server_ip {
                if let Some(pool) = state.pool.as_mut() {
                    pool.cancel_offer(mac);
                }
                return state.ignore(Some(mac), port, IgnoreReason::NotForUs);
            }
        }
    }

    // Boot options only for PXE/HTTP clients the policy wants to boot.
    let boot = kind.and_then(|k| match state.decide(req, k, port, policy, now) {
        Ok((client, file)) => Some((k, client, file)),
        Err(reason) => {
            debug!(mac = %mac, ?reason, "no boot options in full-mode reply");
            None
        }
    });

    if !state.allow(mac, now) {
        return state.ignore(Some(mac), port, IgnoreReason::RateLimited);
    }

    let requested = req.options.ipv4(code::REQUESTED_IP);
    let mut want = Want {
        mac,
        fixed: host.fixed_address,
        requested,
        server_ip,
        reserved: &reserved,
    };
    let (msg, yiaddr, lease) = match req.message_type {
        MessageType::Discover => {
            let Some(ip) = state.pool.as_mut()?.offer(&want, hostname.clone(), now) else {
                warn!(mac = %mac, "full-DHCP pool exhausted");
                return state.ignore(Some(mac), port, IgnoreReason::PoolExhausted);
            };
            let lt = if want.fixed == Some(ip) {
                state.pool.as_ref()?.config().fixed_lease_time
            } else {
                state.pool.as_ref()?.config().lease_time
            };
            (MessageType::Offer, Some(ip), Some(lt))
        }
        MessageType::Request => {
            if want.requested.is_none() && !req.ciaddr.is_unspecified() {
                want.requested = Some(req.ciaddr);
            }
            if want.requested.is_none() {
                return state.ignore(Some(mac), port, IgnoreReason::Malformed);
            }
            match state.pool.as_mut()?.request(&want, hostname.clone(), now) {
                Ok((ip, lt)) => (MessageType::Ack, Some(ip), Some(lt)),
                Err(Refusal::Nak) => return nak(req, ingress, state, want.requested),
            }
        }
        // INFORM: configuration only, no address.
        _ => (MessageType::Ack, None, None),
    };

    let mut r = ReplyPacket::for_request(req, msg);
    r.ciaddr = req.ciaddr;
    r.yiaddr = yiaddr.unwrap_or(Ipv4Addr::UNSPECIFIED);
    // linuxmuster sets next-server globally; LINBO records it as SIADDR.
    r.siaddr = server_ip;
    r.push_ipv4(code::SERVER_ID, server_ip);
    add_address_options(
        &mut r,
        state.pool.as_ref()?.config(),
        hostname.as_deref(),
        host.group.as_deref(),
        lease,
    );
    if let Some((k, client, file)) = &boot {
        add_boot(
            &mut r,
            req,
            server_ip,
            &BootOptions {
                kind: *k,
                arch: client.arch,
                is_ipxe: client.is_ipxe,
                file,
                on_boot_server: false,
                boot_item: None,
            },
        );
        state.note_boot(client, true, now);
    }
    let dest = full_dest(req, &state.config);
    let arch = boot.as_ref().map(|(_, c, _)| c.arch);
    let file = boot.as_ref().map(|(_, _, f)| f.as_str().to_string());
    let ipxe = boot.as_ref().is_some_and(|(_, c, _)| c.is_ipxe);
    debug!(mac = %mac, ?msg, yiaddr = ?yiaddr, file = ?file, %dest, "full-mode reply");
    match msg {
        MessageType::Offer => state.emit(Event::OfferSent {
            mac,
            arch,
            port,
            file,
            ipxe,
            yiaddr,
        }),
        _ => {
            if let (Some(ip), Some(lt)) = (yiaddr, lease) {
                state.emit(Event::LeaseGranted {
                    mac,
                    ip,
                    hostname: hostname.clone(),
                    lease_secs: secs(lt),
                });
            }
            state.emit(Event::AckSent {
                mac,
                arch,
                port,
                file,
                ipxe,
                yiaddr,
            });
        }
    }
    Some(Reply {
        bytes: r.encode_for(req),
        dest,
    })
}

/// A DHCPNAK: only 53 and 54, broadcast (or to the relay with the
/// broadcast bit set).
fn nak(
    req: &Request,
    ingress: Ingress,
    state: &State,
    requested: Option<Ipv4Addr>,
) -> Option<Reply> {
    let mac = request_mac(req);
    let mut r = ReplyPacket::for_request(req, MessageType::Nak);
    r.push_ipv4(code::SERVER_ID, ingress.server_ip);
    let dest = if req.giaddr.is_unspecified() {
        SocketAddr::from((Ipv4Addr::BROADCAST, state.config.client_port))
    } else {
        r.flags |= FLAG_BROADCAST;
        SocketAddr::from((req.giaddr, state.config.relay_port))
    };
    debug!(mac = %mac, requested = ?requested, "NAK");
    state.emit(Event::NakSent { mac, requested });
    Some(Reply {
        bytes: r.encode_for(req),
        dest,
    })
}
