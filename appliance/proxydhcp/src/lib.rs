//! # bootbox-proxydhcp — ProxyDHCP (67 + 4011) and opt-in full DHCP
//!
//! Answers PXE ROMs, UEFI PXE, iPXE and UEFI HTTP boot clients next to the
//! school's existing DHCP server, telling them where to boot from without
//! handing out addresses. An optional full-DHCP mode serves an isolated
//! imaging VLAN with LINBO's expected options.
//!
//! The packet logic is one pure function, [`respond`] / [`respond_at`]:
//! bytes in, at most one [`Reply`] (bytes + destination) out. The boot file
//! comes from a [`BootPolicy`] (the registry); [`StaticPolicy`] is a ready
//! default. [`Server`] is the thin socket layer around it.
//!
//! ```no_run
//! use std::net::Ipv4Addr;
//! use std::sync::Arc;
//! use bootbox_proxydhcp::{Config, Server, ServerConfig, SharedState, State, StaticPolicy};
//!
//! # async fn serve() -> Result<(), bootbox_proxydhcp::Error> {
//! let server_ip = Ipv4Addr::new(10, 0, 0, 1);
//! let state = State::new(Config::default())?; // proxy mode
//! let policy = Arc::new(StaticPolicy::ipxe_chainload(server_ip, 80));
//! let server = Server::bind(ServerConfig::new("eth1", server_ip), SharedState::new(state), policy)?;
//! server.run().await // runs until the task is aborted
//! # }
//! ```
//!
//! ## Rules and the firmware quirks behind them
//!
//! **Who gets an answer (proxy mode)**
//! * Only clients whose option 60 starts with `PXEClient` or `HTTPClient`.
//!   Anything else is never answered: a proxy must not disturb ordinary
//!   DHCP clients (hard rule).
//! * Port 67: only DHCPDISCOVER. The client's REQUEST on 67 is meant for the
//!   real DHCP server and is never answered. yiaddr is always 0: we are no
//!   lease server.
//! * Port 4011: DHCPREQUEST/DHCPINFORM get a DHCPACK **from port 4011** to
//!   the request's source address and port (iPXE drops 4011 replies from
//!   another port). A boot item (43.71) with the BIS bit is refused.
//! * The [`BootPolicy`] may say [`Decision::Ignore`] (host registered with
//!   "no PXE"). Every DISCOVER retransmission is answered, from local state
//!   only, so slow lookups cannot make ROMs time out.
//!
//! **Per-client recipes**
//! * Architecture from option 93 (else the `Arch:` field of option 60):
//!   0 BIOS, 6 IA32 UEFI, **7 and 9 both x64 UEFI** (RFC 4578 erratum 4624
//!   swapped them; firmware sends either), 10/11 ARM UEFI, 15/16/19 UEFI
//!   HTTP boot ([`Arch`]).
//! * BIOS PXE ROM: OFFER with `file` and option 43 = `{6: 8}` ("skip
//!   discovery, boot this file"); several BIOS ROMs ignore proxy offers
//!   without option 43.
//! * UEFI PXE: OFFER **without option 43** but with siaddr (and `file`).
//!   EDK2 caches proxy offers with discovery sub-options as "ProxyPxe10"
//!   and drops them; option-43-less "ProxyBinl" offers make it ask
//!   siaddr:4011, where the ACK carries the boot file.
//! * UEFI HTTP boot: option 60 `HTTPClient`, the full `http://<ip>/...` URL
//!   in `file` **and** option 67 (EDK2 reads 67 first). Use an IP literal:
//!   a proxy offer has no DNS server, EDK2 accepts it as "ProxyIpUri".
//!   A non-URL boot file for such a client is refused.
//! * iPXE (option 77 user class `iPXE`, raw or RFC 3004 length-prefixed, or
//!   option 175 present): the policy sees `is_ipxe` and returns the script
//!   URL; the offer keeps a non-zero siaddr (iPXE uses a proxy offer
//!   directly only with siaddr + filename). This breaks the chainload
//!   loop firmware → iPXE binary → iPXE → script.
//! * iPXE builds that hide their marks: the remembered-MAC fallback (see
//!   [`Config::ipxe_memory`]): a MAC that got the binary within
//!   [`Config::ipxe_memory`] (default 60 s) and DISCOVERs again with a new
//!   xid but the same vendor kind, architecture and option 97 is treated
//!   as iPXE, once.
//!
//! **Every offer/ACK**
//! * siaddr = server IP (EDK2 takes the TFTP server from siaddr, then 54,
//!   and ignores 66), option 54 = server IP, sname = server IP as text.
//! * `file` and `sname` NUL-terminated (some ROMs need it); option 67 (also
//!   NUL-terminated) when option 55 asks for it.
//! * Option 60 echoed as exactly `PXEClient` / `HTTPClient` (EDK2 and iPXE
//!   ignore PXE offers without it); option 97 echoed when the client sent
//!   one (some ROMs omit it).
//! * Option 53 first, END last, padded to at least 300 bytes (BOOTP
//!   minimum; dnsmasq does the same), no option overload.
//! * Port 67 replies go to 255.255.255.255:68 with the broadcast flag, or
//!   to giaddr:67 when relayed. The sockets are bound to the interface, so
//!   broadcasts leave through the ingress interface.
//!
//! **Robustness**
//! * Per-MAC token bucket (default 10 replies per 10 s, bounded table).
//! * Malformed or unknown packets are dropped with a debug log and an
//!   [`Event::Ignored`]; the parser never panics (property-tested).
//!
//! **Full-DHCP mode** ([`Config::full`], off by default)
//! * Leases from a range, fixed addresses for registered hosts
//!   ([`BootPolicy::host`]), OFFER/REQUEST(ACK/NAK)/RELEASE/DECLINE/INFORM,
//!   conflict-free allocation, in-memory leases with a [`LeaseStore`]
//!   snapshot hook.
//! * Options as linuxmuster's dhcpd sends them and LINBO reads them: 1, 3,
//!   6, 12 (host name, `pxeclient` for unknown hosts), 15, 18 and 40 (LINBO
//!   group → HOSTGROUP), 28, 42, 51, 54 (must be the LINBO server: LINBO
//!   takes its server from it).
//! * Non-PXE clients (LINBO's own udhcpc, the installed OS) get addresses;
//!   boot options only go to PXE/HTTP boot clients.

#![warn(missing_docs)]

mod chainload;
mod client;
mod engine;
mod error;
mod full;
mod observer;
pub mod options;
mod packet;
mod policy;
pub mod probe;
mod ratelimit;
mod reply;
mod server;

pub use client::{Arch, ListenPort, Mac, PxeClient, VendorKind};
pub use engine::{respond, respond_at, Config, Ingress, Reply, State};
pub use error::Error;
pub use full::{FullDhcpConfig, Lease, LeaseStore, MAX_POOL_SIZE};
pub use observer::{Event, IgnoreReason, NoopObserver, Observer, RecordingObserver};
pub use packet::{MalformedPacket, MessageType};
pub use policy::{BootFile, BootPolicy, Decision, HostInfo, StaticPolicy};
pub use ratelimit::RateLimitConfig;
pub use server::{Server, ServerConfig, SharedState};
