//! Remembered-MAC fallback against iPXE chainload loops.
//!
//! The normal loop breaker is iPXE's own mark (option 77 `iPXE`, option
//! 175). Some iPXE builds hide it (custom user class, stripped options);
//! without help such a client gets the iPXE binary again and loops forever.
//!
//! Heuristic: when a client *without* iPXE marks has been given its boot
//! binary (BIOS offer on 67, ACK on 4011, HTTP boot offer, full-mode
//! offer/ACK), we remember `(MAC → vendor kind, architecture, option 97,
//! xid, time)`. If the same MAC sends a DISCOVER with a **new** xid within
//! the window and the same vendor kind, architecture and option 97, it is
//! taken to be the freshly started iPXE and gets the iPXE script instead.
//! Firmware retransmissions reuse their xid and are therefore not matched.
//! The rule is one-shot: after firing, the entry only matches the same xid
//! (so the follow-up REQUEST of that transaction also gets the script) and
//! the next new transaction gets the binary again, so a firmware that
//! genuinely restarts PXE loses at most one attempt. A request with real
//! iPXE marks clears the entry. The window is configurable (default 60 s,
//! zero disables) and the table is bounded.

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use crate::client::{Arch, Mac, PxeClient, VendorKind};

/// What must be identical for the heuristic to fire.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Fingerprint {
    vendor: VendorKind,
    arch: Arch,
    uuid: Option<Vec<u8>>,
}

impl Fingerprint {
    pub fn of(client: &PxeClient) -> Self {
        Fingerprint {
            vendor: client.vendor,
            arch: client.arch,
            uuid: client.uuid.clone(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// The binary went out in transaction `xid`.
    Given(u32),
    /// The heuristic fired for transaction `xid`.
    Redirected(u32),
}

#[derive(Debug, Clone)]
struct Entry {
    fp: Fingerprint,
    stage: Stage,
    at: SystemTime,
}

/// The table.
#[derive(Debug)]
pub(crate) struct ChainloadMemory {
    window: Duration,
    max: usize,
    entries: HashMap<Mac, Entry>,
}

impl ChainloadMemory {
    pub fn new(window: Duration, max: usize) -> Self {
        ChainloadMemory {
            window,
            max: max.max(1),
            entries: HashMap::new(),
        }
    }

    fn live(&self, e: &Entry, now: SystemTime) -> bool {
        // A clock that went backwards counts as "just now".
        now.duration_since(e.at).unwrap_or(Duration::ZERO) <= self.window
    }

    /// True when this request (without iPXE marks) should be treated as
    /// iPXE. `discover` is true for DISCOVERs (the only messages that can
    /// start a new match).
    pub fn matches(&self, client: &PxeClient, discover: bool, now: SystemTime) -> bool {
        if self.window.is_zero() {
            return false;
        }
        let Some(e) = self.entries.get(&client.mac) else {
            return false;
        };
        if !self.live(e, now) || e.fp != Fingerprint::of(client) {
            return false;
        }
        match e.stage {
            Stage::Given(xid) => discover && xid != client.xid,
            Stage::Redirected(xid) => xid == client.xid,
        }
    }

    /// Records that the heuristic fired for `client`'s transaction.
    pub fn redirected(&mut self, client: &PxeClient, now: SystemTime) {
        if let Some(e) = self.entries.get_mut(&client.mac) {
            e.stage = Stage::Redirected(client.xid);
            e.at = now;
        }
    }

    /// Records that `client` (no iPXE marks) was given its boot binary.
    pub fn given(&mut self, client: &PxeClient, now: SystemTime) {
        if self.window.is_zero() {
            return;
        }
        if !self.entries.contains_key(&client.mac) && self.entries.len() >= self.max {
            self.entries
                .retain(|_, e| now.duration_since(e.at).unwrap_or(Duration::ZERO) <= self.window);
            while self.entries.len() >= self.max {
                let Some(oldest) = self
                    .entries
                    .iter()
                    .min_by_key(|(_, e)| e.at)
                    .map(|(m, _)| *m)
                else {
                    break;
                };
                self.entries.remove(&oldest);
            }
        }
        self.entries.insert(
            client.mac,
            Entry {
                fp: Fingerprint::of(client),
                stage: Stage::Given(client.xid),
                at: now,
            },
        );
    }

    /// Drops what we know about `mac` (a marked iPXE showed up).
    pub fn forget(&mut self, mac: Mac) {
        self.entries.remove(&mac);
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::ListenPort;
    use crate::packet::MessageType;
    use std::net::Ipv4Addr;

    fn client(mac: u8, xid: u32) -> PxeClient {
        PxeClient {
            mac: Mac([2, 0, 0, 0, 0, mac]),
            arch: Arch::Bios,
            vendor: VendorKind::PxeClient,
            vendor_class: "PXEClient:Arch:00000:UNDI:002001".into(),
            is_ipxe: false,
            ipxe_remembered: false,
            uuid: None,
            port: ListenPort::Dhcp,
            message: MessageType::Discover,
            giaddr: Ipv4Addr::UNSPECIFIED,
            ciaddr: Ipv4Addr::UNSPECIFIED,
            xid,
        }
    }

    #[test]
    fn one_shot_and_window() {
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let mut m = ChainloadMemory::new(Duration::from_secs(60), 8);
        m.given(&client(1, 100), t0);
        // Retransmission: same xid, no match.
        assert!(!m.matches(&client(1, 100), true, t0));
        // New transaction: match.
        let c = client(1, 200);
        assert!(m.matches(&c, true, t0 + Duration::from_secs(3)));
        assert!(!m.matches(&c, false, t0), "REQUEST cannot start a match");
        m.redirected(&c, t0 + Duration::from_secs(3));
        // Follow-up of the same transaction still matches (e.g. REQUEST).
        assert!(m.matches(&c, false, t0 + Duration::from_secs(4)));
        // Next new transaction: binary again.
        assert!(!m.matches(&client(1, 300), true, t0 + Duration::from_secs(5)));
        // Out of window.
        m.given(&client(1, 400), t0);
        assert!(!m.matches(&client(1, 500), true, t0 + Duration::from_secs(61)));
        // Different arch: no match.
        let mut other = client(1, 600);
        other.arch = Arch::EfiX64;
        assert!(!m.matches(&other, true, t0));
    }

    #[test]
    fn bounded_and_disabled() {
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let mut m = ChainloadMemory::new(Duration::from_secs(60), 8);
        for i in 0..100u8 {
            m.given(&client(i, 1), t0 + Duration::from_secs(u64::from(i)));
            assert!(m.len() <= 8);
        }
        let mut off = ChainloadMemory::new(Duration::ZERO, 8);
        off.given(&client(1, 1), t0);
        assert!(!off.matches(&client(1, 2), true, t0));
    }
}
