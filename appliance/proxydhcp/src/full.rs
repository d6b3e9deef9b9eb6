//! Optional full-DHCP mode: an in-memory lease pool for an isolated
//! imaging VLAN where no other DHCP server runs.
//!
//! Leases are keyed by client MAC (like linuxmuster's `hardware ethernet`
//! host entries). Registered hosts with a fixed address always get it
//! (a dynamic lease squatting on it is evicted); dynamic addresses come
//! from the range and never collide with a bound or offered address of
//! another client, a fixed address reported by
//! [`BootPolicy::is_reserved`](crate::BootPolicy::is_reserved), a
//! recently declined address, the server itself or the router.

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crate::client::Mac;
use crate::error::Error;

/// Largest pool we accept (keeps allocation scans and memory bounded).
pub const MAX_POOL_SIZE: u32 = 65_536;

/// Settings of the full-DHCP mode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FullDhcpConfig {
    /// First address of the dynamic range.
    pub range_start: Ipv4Addr,
    /// Last address of the dynamic range (inclusive).
    pub range_end: Ipv4Addr,
    /// Subnet mask (option 1); the range, router and fixed addresses must
    /// lie in the subnet of `range_start`.
    pub netmask: Ipv4Addr,
    /// Default gateway (option 3).
    pub router: Option<Ipv4Addr>,
    /// DNS servers (option 6).
    pub dns: Vec<Ipv4Addr>,
    /// NTP servers (option 42; LINBO reads it as NTPSRV).
    pub ntp: Vec<Ipv4Addr>,
    /// Domain name (option 15).
    pub domain: Option<String>,
    /// Lease time for dynamic addresses (linuxmuster: 600 s).
    pub lease_time: Duration,
    /// Lease time for fixed addresses (linuxmuster: 172800 s).
    pub fixed_lease_time: Duration,
    /// How long an offered address stays reserved for the client.
    pub offer_hold: Duration,
    /// How long a declined address stays out of the pool.
    pub decline_hold: Duration,
    /// Option 12 for hosts without a registry entry; linuxmuster sends
    /// `pxeclient`, which makes LINBO take the server from option 54 and
    /// allows registration.
    pub unknown_hostname: Option<String>,
}

impl FullDhcpConfig {
    /// A configuration with linuxmuster's defaults for everything but the
    /// range and mask.
    pub fn new(range_start: Ipv4Addr, range_end: Ipv4Addr, netmask: Ipv4Addr) -> Self {
        FullDhcpConfig {
            range_start,
            range_end,
            netmask,
            router: None,
            dns: Vec::new(),
            ntp: Vec::new(),
            domain: None,
            lease_time: Duration::from_secs(600),
            fixed_lease_time: Duration::from_secs(172_800),
            offer_hold: Duration::from_secs(60),
            decline_hold: Duration::from_secs(600),
            unknown_hostname: Some("pxeclient".to_string()),
        }
    }

    /// Checks mask, range and router.
    pub fn validate(&self) -> Result<(), Error> {
        let bad = |m: String| Err(Error::InvalidConfig(m));
        let mask = u32::from(self.netmask);
        if mask.leading_ones() + mask.trailing_zeros() != 32 || mask.leading_ones() > 30 {
            return bad(format!("netmask {} is not a usable mask", self.netmask));
        }
        let (s, e) = (u32::from(self.range_start), u32::from(self.range_end));
        if s > e {
            return bad(format!(
                "range {} - {} is reversed",
                self.range_start, self.range_end
            ));
        }
        if !self.in_subnet(self.range_end) {
            return bad(format!(
                "range {} - {} crosses the subnet",
                self.range_start, self.range_end
            ));
        }
        if e - s >= MAX_POOL_SIZE {
            return bad(format!("range has more than {MAX_POOL_SIZE} addresses"));
        }
        if let Some(r) = self.router {
            if !self.in_subnet(r) {
                return bad(format!("router {r} outside the subnet"));
            }
        }
        if self.lease_time.is_zero() || self.fixed_lease_time.is_zero() {
            return bad("lease times must be non-zero".to_string());
        }
        Ok(())
    }

    /// True when `ip` is in the pool's subnet.
    pub fn in_subnet(&self, ip: Ipv4Addr) -> bool {
        let m = u32::from(self.netmask);
        u32::from(ip) & m == u32::from(self.range_start) & m
    }

    /// True for the network and broadcast addresses of the subnet.
    fn is_edge(&self, ip: Ipv4Addr) -> bool {
        let m = u32::from(self.netmask);
        let host = u32::from(ip) & !m;
        host == 0 || host == !m
    }

    /// The subnet broadcast address (option 28).
    pub fn broadcast(&self) -> Ipv4Addr {
        let m = u32::from(self.netmask);
        Ipv4Addr::from((u32::from(self.range_start) & m) | !m)
    }

    fn in_range(&self, ip: Ipv4Addr) -> bool {
        (u32::from(self.range_start)..=u32::from(self.range_end)).contains(&u32::from(ip))
    }
}

/// A committed lease (what [`LeaseStore`] persists).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    /// Client MAC.
    pub mac: Mac,
    /// Leased address.
    pub ip: Ipv4Addr,
    /// Host name sent with the lease.
    pub hostname: Option<String>,
    /// Wall-clock expiry.
    pub expires: SystemTime,
}

/// Persistence hook: receives the full list of committed leases after
/// every change (grant, renewal, release, decline, expiry). Called under
/// the engine lock: hand the data off (channel, debounce) rather than
/// writing synchronously.
pub trait LeaseStore: Send + Sync + 'static {
    /// Stores a snapshot of all current leases.
    fn snapshot(&self, leases: &[Lease]);
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BindState {
    Offered,
    Bound,
}

#[derive(Debug, Clone)]
struct Binding {
    ip: Ipv4Addr,
    state: BindState,
    expires: SystemTime,
    hostname: Option<String>,
}

/// Why a REQUEST cannot be acknowledged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// Address outside our subnet/range, held by another client, reserved,
    /// declined, or not this host's fixed address: send NAK.
    Nak,
}

/// What a client should get, from registry data.
#[derive(Clone, Copy)]
pub(crate) struct Want<'a> {
    pub mac: Mac,
    pub fixed: Option<Ipv4Addr>,
    pub requested: Option<Ipv4Addr>,
    pub server_ip: Ipv4Addr,
    pub reserved: &'a dyn Fn(Ipv4Addr) -> bool,
}

/// The pool.
pub(crate) struct LeasePool {
    cfg: FullDhcpConfig,
    bindings: HashMap<Mac, Binding>,
    by_ip: HashMap<Ipv4Addr, Mac>,
    declined: HashMap<Ipv4Addr, SystemTime>,
    store: Option<Arc<dyn LeaseStore>>,
}

impl std::fmt::Debug for LeasePool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LeasePool")
            .field("cfg", &self.cfg)
            .field("bindings", &self.bindings.len())
            .field("declined", &self.declined.len())
            .finish()
    }
}

impl LeasePool {
    pub fn new(cfg: FullDhcpConfig) -> Result<Self, Error> {
        cfg.validate()?;
        Ok(LeasePool {
            cfg,
            bindings: HashMap::new(),
            by_ip: HashMap::new(),
            declined: HashMap::new(),
            store: None,
        })
    }

    pub fn config(&self) -> &FullDhcpConfig {
        &self.cfg
    }

    pub fn set_store(&mut self, store: Arc<dyn LeaseStore>) {
        self.store = Some(store);
    }

    /// Committed leases.
    pub fn leases(&self) -> Vec<Lease> {
        let mut v: Vec<Lease> = self
            .bindings
            .iter()
            .filter(|(_, b)| b.state == BindState::Bound)
            .map(|(mac, b)| Lease {
                mac: *mac,
                ip: b.ip,
                hostname: b.hostname.clone(),
                expires: b.expires,
            })
            .collect();
        v.sort_by_key(|l| u32::from(l.ip));
        v
    }

    fn snapshot(&self) {
        if let Some(store) = &self.store {
            store.snapshot(&self.leases());
        }
    }

    /// Loads persisted leases (expired, foreign or duplicate ones skipped).
    pub fn restore(&mut self, leases: Vec<Lease>, now: SystemTime) {
        for l in leases {
            if l.expires <= now
                || !self.cfg.in_subnet(l.ip)
                || self.cfg.is_edge(l.ip)
                || self.by_ip.contains_key(&l.ip)
                || self.bindings.contains_key(&l.mac)
            {
                continue;
            }
            self.insert(
                l.mac,
                Binding {
                    ip: l.ip,
                    state: BindState::Bound,
                    expires: l.expires,
                    hostname: l.hostname,
                },
            );
        }
    }

    fn insert(&mut self, mac: Mac, b: Binding) {
        if let Some(old) = self.bindings.get(&mac) {
            if old.ip != b.ip {
                self.by_ip.remove(&old.ip);
            }
        }
        if let Some(other) = self.by_ip.insert(b.ip, mac) {
            if other != mac {
                self.bindings.remove(&other);
            }
        }
        self.bindings.insert(mac, b);
    }

    fn remove(&mut self, mac: Mac) -> Option<Binding> {
        let b = self.bindings.remove(&mac)?;
        if self.by_ip.get(&b.ip) == Some(&mac) {
            self.by_ip.remove(&b.ip);
        }
        Some(b)
    }

    /// Drops expired offers, leases and declines.
    pub fn expire(&mut self, now: SystemTime) {
        let dead: Vec<(Mac, BindState)> = self
            .bindings
            .iter()
            .filter(|(_, b)| b.expires <= now)
            .map(|(m, b)| (*m, b.state))
            .collect();
        let mut changed = false;
        for (m, st) in dead {
            self.remove(m);
            changed |= st == BindState::Bound;
        }
        self.declined.retain(|_, until| *until > now);
        if changed {
            self.snapshot();
        }
    }

    /// True when `ip` may be given to `want.mac` as a dynamic address.
    fn dynamic_ok(&self, ip: Ipv4Addr, want: &Want<'_>) -> bool {
        self.cfg.in_range(ip)
            && !self.cfg.is_edge(ip)
            && ip != want.server_ip
            && Some(ip) != self.cfg.router
            && !self.declined.contains_key(&ip)
            && self.by_ip.get(&ip).is_none_or(|m| *m == want.mac)
            && !(want.reserved)(ip)
    }

    /// A usable fixed address (inside our subnet), if the host has one.
    fn usable_fixed(&self, want: &Want<'_>) -> Option<Ipv4Addr> {
        let f = want.fixed?;
        if self.cfg.in_subnet(f) && !self.cfg.is_edge(f) && f != want.server_ip {
            Some(f)
        } else {
            tracing::warn!(mac = %want.mac, fixed = %f, "fixed address not usable in the full-DHCP subnet; using the pool");
            None
        }
    }

    /// Picks and holds an address for a DISCOVER. `None` = pool exhausted.
    pub fn offer(
        &mut self,
        want: &Want<'_>,
        hostname: Option<String>,
        now: SystemTime,
    ) -> Option<Ipv4Addr> {
        self.expire(now);
        let ip = if let Some(f) = self.usable_fixed(want) {
            f
        } else {
            let current = self
                .bindings
                .get(&want.mac)
                .map(|b| b.ip)
                .filter(|ip| self.dynamic_ok(*ip, want));
            let requested = want.requested.filter(|ip| self.dynamic_ok(*ip, want));
            current.or(requested).or_else(|| self.first_free(want))?
        };
        let hold = now + self.cfg.offer_hold;
        let binding = match self.bindings.get(&want.mac) {
            // Keep a bound lease bound (a DISCOVER does not end it).
            Some(b) if b.ip == ip && b.state == BindState::Bound => Binding {
                hostname,
                ..b.clone()
            },
            _ => Binding {
                ip,
                state: BindState::Offered,
                expires: hold,
                hostname,
            },
        };
        self.insert(want.mac, binding);
        Some(ip)
    }

    fn first_free(&self, want: &Want<'_>) -> Option<Ipv4Addr> {
        (u32::from(self.cfg.range_start)..=u32::from(self.cfg.range_end))
            .map(Ipv4Addr::from)
            .find(|ip| self.dynamic_ok(*ip, want))
    }

    /// Commits `want.requested` for a REQUEST. Returns the lease time.
    pub fn request(
        &mut self,
        want: &Want<'_>,
        hostname: Option<String>,
        now: SystemTime,
    ) -> Result<(Ipv4Addr, Duration), Refusal> {
        self.expire(now);
        let ip = want.requested.ok_or(Refusal::Nak)?;
        let lease_time = match self.usable_fixed(want) {
            Some(f) if f == ip => self.cfg.fixed_lease_time,
            Some(_) => return Err(Refusal::Nak),
            None if self.dynamic_ok(ip, want) => self.cfg.lease_time,
            None => return Err(Refusal::Nak),
        };
        if let Some(other) = self.by_ip.get(&ip).copied() {
            if other != want.mac {
                tracing::warn!(ip = %ip, evicted = %other, mac = %want.mac, "fixed address taken back from a dynamic lease");
            }
        }
        self.insert(
            want.mac,
            Binding {
                ip,
                state: BindState::Bound,
                expires: now + lease_time,
                hostname,
            },
        );
        self.snapshot();
        Ok((ip, lease_time))
    }

    /// Drops a pending offer (the client chose another server).
    pub fn cancel_offer(&mut self, mac: Mac) {
        if self
            .bindings
            .get(&mac)
            .is_some_and(|b| b.state == BindState::Offered)
        {
            self.remove(mac);
        }
    }

    /// RELEASE: frees `ip` if `mac` holds it. True when something changed.
    pub fn release(&mut self, mac: Mac, ip: Ipv4Addr) -> bool {
        if self.bindings.get(&mac).is_some_and(|b| b.ip == ip) {
            self.remove(mac);
            self.snapshot();
            true
        } else {
            false
        }
    }

    /// DECLINE: `ip` is in use on the wire; free it and keep it out of the
    /// pool for `decline_hold`. True when `mac` held it.
    pub fn decline(&mut self, mac: Mac, ip: Ipv4Addr, now: SystemTime) -> bool {
        if self.bindings.get(&mac).is_some_and(|b| b.ip == ip) {
            self.remove(mac);
            self.declined.insert(ip, now + self.cfg.decline_hold);
            self.snapshot();
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(d: u8) -> Ipv4Addr {
        Ipv4Addr::new(10, 9, 0, d)
    }

    fn pool(start: u8, end: u8) -> LeasePool {
        LeasePool::new(FullDhcpConfig::new(
            ip(start),
            ip(end),
            Ipv4Addr::new(255, 255, 255, 0),
        ))
        .expect("valid")
    }

    fn mac(n: u8) -> Mac {
        Mac([2, 0, 0, 0, 0, n])
    }

    const NONE: &dyn Fn(Ipv4Addr) -> bool = &|_| false;

    fn want(n: u8) -> Want<'static> {
        Want {
            mac: mac(n),
            fixed: None,
            requested: None,
            server_ip: ip(1),
            reserved: NONE,
        }
    }

    #[test]
    fn validation() {
        let m = Ipv4Addr::new(255, 255, 255, 0);
        assert!(FullDhcpConfig::new(ip(20), ip(10), m).validate().is_err());
        assert!(FullDhcpConfig::new(ip(10), Ipv4Addr::new(10, 9, 1, 1), m)
            .validate()
            .is_err());
        assert!(
            FullDhcpConfig::new(ip(10), ip(20), Ipv4Addr::new(255, 0, 255, 0))
                .validate()
                .is_err()
        );
        let mut c = FullDhcpConfig::new(ip(10), ip(20), m);
        c.router = Some(Ipv4Addr::new(10, 8, 0, 1));
        assert!(c.validate().is_err());
        let big = FullDhcpConfig::new(
            Ipv4Addr::new(10, 0, 0, 1),
            Ipv4Addr::new(10, 3, 0, 0),
            Ipv4Addr::new(255, 0, 0, 0),
        );
        assert!(big.validate().is_err());
        assert_eq!(FullDhcpConfig::new(ip(10), ip(20), m).broadcast(), ip(255));
    }

    #[test]
    fn no_double_allocation_and_skips_server_router() {
        let mut p = pool(1, 4);
        p.cfg.router = Some(ip(2));
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let a = p.offer(&want(1), None, now).expect("a");
        let b = p.offer(&want(2), None, now).expect("b");
        assert_ne!(a, b);
        for x in [a, b] {
            assert!(x != ip(1) && x != ip(2));
        }
        assert_eq!(p.offer(&want(3), None, now), None, "exhausted");
        // Offers time out.
        let later = now + Duration::from_secs(61);
        assert!(p.offer(&want(3), None, later).is_some());
    }

    #[test]
    fn restore_skips_bad_entries() {
        let mut p = pool(10, 20);
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let l = |m: u8, d: u8, secs: u64| Lease {
            mac: mac(m),
            ip: ip(d),
            hostname: None,
            expires: now + Duration::from_secs(secs),
        };
        p.restore(
            vec![l(1, 10, 100), l(2, 10, 100), l(3, 11, 0), l(4, 255, 100)],
            now,
        );
        assert_eq!(p.leases().len(), 1);
    }
}
