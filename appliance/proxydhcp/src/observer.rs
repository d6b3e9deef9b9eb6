//! Boot timeline events.

use std::net::Ipv4Addr;
use std::sync::Mutex;

use crate::client::{Arch, ListenPort, Mac};

/// Why a request got no answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IgnoreReason {
    /// Option 60 does not start with `PXEClient`/`HTTPClient` (proxy mode,
    /// or any packet on 4011).
    NotPxe,
    /// The policy said [`Decision::Ignore`](crate::Decision::Ignore).
    PolicyIgnore,
    /// The per-MAC reply budget is used up.
    RateLimited,
    /// A message type not answered on this port in this mode: anything
    /// but DISCOVER on 67 in proxy mode (notably REQUESTs meant for the
    /// real DHCP server), anything but REQUEST/INFORM on 4011.
    NotDiscover,
    /// Not a readable DHCP request (too short, no cookie, no option 53,
    /// unusable hardware address, no architecture).
    Malformed,
    /// The request is addressed to another server or network (full mode:
    /// option 54 names someone else, or a relay from a foreign subnet).
    NotForUs,
    /// Something we deliberately do not serve: BIS credentials in 43.71,
    /// an HTTP boot client with a non-URL boot file, a boot file longer
    /// than option 67 can carry.
    Unsupported,
    /// Full mode: no free address in the pool.
    PoolExhausted,
}

/// One step of a client's boot, for the timeline / metrics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A DHCPOFFER went out (proxy offer on 67, or full-mode offer).
    OfferSent {
        /// Client MAC.
        mac: Mac,
        /// Client architecture (`None` for non-PXE clients in full mode).
        arch: Option<Arch>,
        /// Port the request came on.
        port: ListenPort,
        /// Boot file offered, if any.
        file: Option<String>,
        /// True when the client was treated as iPXE.
        ipxe: bool,
        /// Address offered (full mode only).
        yiaddr: Option<Ipv4Addr>,
    },
    /// A DHCPACK went out (4011 boot server reply, or full-mode ACK/INFORM).
    AckSent {
        /// Client MAC.
        mac: Mac,
        /// Client architecture (`None` for non-PXE clients in full mode).
        arch: Option<Arch>,
        /// Port the request came on.
        port: ListenPort,
        /// Boot file in the ACK, if any.
        file: Option<String>,
        /// True when the client was treated as iPXE.
        ipxe: bool,
        /// Address acknowledged (full mode only).
        yiaddr: Option<Ipv4Addr>,
    },
    /// A DHCPNAK went out (full mode).
    NakSent {
        /// Client MAC.
        mac: Mac,
        /// The address the client asked for.
        requested: Option<Ipv4Addr>,
    },
    /// A request got no answer.
    Ignored {
        /// Client MAC, when the packet was readable that far.
        mac: Option<Mac>,
        /// Port the request came on.
        port: ListenPort,
        /// Why.
        reason: IgnoreReason,
    },
    /// Full mode: a lease was committed (ACK).
    LeaseGranted {
        /// Client MAC.
        mac: Mac,
        /// Leased address.
        ip: Ipv4Addr,
        /// Host name sent in option 12.
        hostname: Option<String>,
        /// Lease time in seconds.
        lease_secs: u32,
    },
    /// Full mode: the client released its lease.
    LeaseReleased {
        /// Client MAC.
        mac: Mac,
        /// Released address.
        ip: Ipv4Addr,
    },
    /// Full mode: the client declined an address (in use on the wire); it
    /// is quarantined for a while.
    LeaseDeclined {
        /// Client MAC.
        mac: Mac,
        /// Declined address.
        ip: Ipv4Addr,
    },
}

/// Receives [`Event`]s. Called synchronously on the receive path under the
/// engine lock: keep it cheap (count, or push into a channel).
pub trait Observer: Send + Sync + 'static {
    /// Handles one event.
    fn event(&self, event: &Event);
}

/// Discards all events.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoopObserver;

impl Observer for NoopObserver {
    fn event(&self, _event: &Event) {}
}

/// Keeps all events in memory (tests, debugging).
#[derive(Debug, Default)]
pub struct RecordingObserver {
    events: Mutex<Vec<Event>>,
}

impl RecordingObserver {
    /// An empty recorder.
    pub fn new() -> Self {
        Self::default()
    }

    /// Takes the events recorded so far.
    pub fn take(&self) -> Vec<Event> {
        match self.events.lock() {
            Ok(mut g) => std::mem::take(&mut *g),
            Err(poisoned) => std::mem::take(&mut *poisoned.into_inner()),
        }
    }
}

impl Observer for RecordingObserver {
    fn event(&self, event: &Event) {
        match self.events.lock() {
            Ok(mut g) => g.push(event.clone()),
            Err(poisoned) => poisoned.into_inner().push(event.clone()),
        }
    }
}
