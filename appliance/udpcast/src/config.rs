//! Configuration: LINBO's `linbo-multicast` settings (PORTBASE, MINCLIENTS,
//! MINSECONDS, MAXSECONDS, interface) plus rate, data address, slices, FEC
//! and the slow-receiver policy.

use std::net::Ipv4Addr;
use std::str::FromStr;
use std::time::{Duration, Instant};

use crate::fec::FecConfig;
use crate::wire::{MAX_BLOCK_SIZE, MAX_SLICE_BLOCKS, MIN_BLOCK_SIZE};

/// LINBO's PORTBASE: the first session uses ports 9000/9001, the next
/// 9002/9003, …
pub const DEFAULT_PORTBASE: u16 = 9000;
/// LINBO's MINCLIENTS.
pub const DEFAULT_MIN_CLIENTS: usize = 15;
/// LINBO's MINSECONDS.
pub const DEFAULT_MIN_WAIT: Duration = Duration::from_secs(30);
/// LINBO's MAXSECONDS.
pub const DEFAULT_MAX_WAIT: Duration = Duration::from_secs(60);
/// udpcast's default block size (1456 + 16 + 8 + 20 = 1500, one Ethernet MTU).
pub const DEFAULT_BLOCK_SIZE: u16 = 1456;
/// Default blocks per slice. Two slices in flight must fit into a
/// receiver's socket buffer (LINBO passes `--rcvbuf 4194304`), so that a
/// receiver never loses data only because it was busy.
pub const DEFAULT_SLICE_BLOCKS: u16 = 256;

/// When a waiting session starts its transfer (udpcast's `--min-receivers`,
/// `--min-wait`, `--max-wait`; all times counted from the first receiver's
/// connection). A GO from any connected receiver starts at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct StartRules {
    /// Start once this many receivers are connected (and `min_wait` has
    /// passed). Values below 1 count as 1.
    pub min_clients: usize,
    /// Never start (by count) before this long after the first connection.
    pub min_wait: Option<Duration>,
    /// Start this long after the first connection with whoever is there.
    pub max_wait: Option<Duration>,
}

impl Default for StartRules {
    /// LINBO's 15 receivers / 30 s / 60 s.
    fn default() -> Self {
        StartRules {
            min_clients: DEFAULT_MIN_CLIENTS,
            min_wait: Some(DEFAULT_MIN_WAIT),
            max_wait: Some(DEFAULT_MAX_WAIT),
        }
    }
}

impl StartRules {
    /// True if a transfer with `receivers` connected receivers, the first
    /// of which connected at `first`, should start at `now`.
    pub fn should_start(&self, receivers: usize, first: Option<Instant>, now: Instant) -> bool {
        let Some(first) = first else { return false };
        if receivers == 0 {
            return false;
        }
        let waited = now.saturating_duration_since(first);
        if self.max_wait.is_some_and(|m| waited >= m) {
            return true;
        }
        receivers >= self.min_clients.max(1) && self.min_wait.is_none_or(|m| waited >= m)
    }

    /// The next moment at which [`should_start`](Self::should_start) may
    /// change without a new receiver connecting.
    pub fn next_check(&self, first: Option<Instant>, now: Instant) -> Option<Instant> {
        let first = first?;
        [self.min_wait, self.max_wait]
            .into_iter()
            .flatten()
            .map(|d| first + d)
            .filter(|t| *t > now)
            .min()
    }
}

/// Slow-receiver policy: a receiver that alone holds the group back is
/// dropped from the session (the LINBO client then falls back to
/// HTTP/BitTorrent) while the others continue at full rate.
///
/// "Holding back" is measured only while the sender is stalled: the next
/// slice is fully sent, the window of two slices is full, and the older
/// slice still waits for acknowledgements from at most `max_fraction` of
/// the receivers (at least one; a group of one is never charged). Each of
/// those laggards is charged the stalled time into a leaky bucket that
/// drains at `tolerance` seconds per second. A receiver whose bucket
/// exceeds the group's median bucket by more than `budget` is dropped.
/// When more receivers lag at once, or all take turns (loss spread over
/// the whole network), nobody stands out: the group is simply that slow.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct SlowPolicy {
    /// Hold-back a receiver may accumulate before it is dropped.
    pub budget: Duration,
    /// Fraction of the time a receiver may hold the group back without
    /// ever being dropped (bucket drain rate, 0.0..1.0).
    pub tolerance: f64,
    /// Largest fraction of the receivers that can be blamed at once.
    pub max_fraction: f64,
}

impl Default for SlowPolicy {
    fn default() -> Self {
        SlowPolicy {
            budget: Duration::from_secs(2),
            tolerance: 0.2,
            max_fraction: 0.25,
        }
    }
}

/// Where DATA, FEC and REQACK go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum DataMode {
    /// To a multicast group. `None` derives one per session outside the
    /// SSM range 232/8: `239.255.<last octet of the server IP>.<n + 1>` for
    /// session `n` (`n = (port − portbase) / 2`, modulo 255); `Some(base)`
    /// uses `base + n`.
    Multicast(Option<Ipv4Addr>),
    /// To the subnet-directed broadcast address (udpcast's `--broadcast`;
    /// for switches whose IGMP snooping misbehaves).
    Broadcast,
}

/// Everything the multicast service needs. Defaults follow LINBO's
/// `/etc/default/linbo-multicast` and `udp-sender` options.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Config {
    /// Interface the sessions run on (bound with SO_BINDTODEVICE).
    pub interface: String,
    /// Our address on it; `None` = the interface's first IPv4 address.
    pub server_ip: Option<Ipv4Addr>,
    /// Subnet-directed broadcast for HELLOs (receivers bind to it);
    /// `None` = from the interface's address and netmask.
    pub broadcast: Option<Ipv4Addr>,
    /// First port (PORTBASE); session `n` uses `portbase + 2n` and `+1`.
    pub portbase: u16,
    /// MINCLIENTS, MINSECONDS, MAXSECONDS.
    pub start: StartRules,
    /// Rate limit in bits per second (UDP payload + 28 bytes per packet,
    /// as udpcast's `--max-bitrate`); `None` = paced by the receivers only.
    pub max_bitrate: Option<u64>,
    /// Multicast group(s) or broadcast.
    pub data: DataMode,
    /// Multicast TTL (1 keeps the traffic on the LAN).
    pub ttl: u32,
    /// Payload bytes per DATA block (multiple of 4, 128..=65491).
    pub block_size: u16,
    /// Blocks per slice (1..=1024); ignored with FEC (stripes × stripe size).
    pub slice_blocks: u16,
    /// Forward error correction, off by default (LINBO does not use it).
    pub fec: Option<FecConfig>,
    /// Slow-receiver policy; `None` = wait for the slowest (udpcast's way).
    pub slow: Option<SlowPolicy>,
    /// A receiver that does not answer for this long during a transfer is
    /// dropped (dead or unplugged).
    pub answer_timeout: Duration,
    /// HELLO repeat interval while waiting (receivers only re-send a lost
    /// CONNECT_REQ when they see a HELLO).
    pub hello_interval: Duration,
    /// Pause between the end of a transfer and the next session's first
    /// HELLO, so finished receivers can say goodbye first.
    pub restart_delay: Duration,
}

impl Config {
    /// LINBO's defaults on `interface`: port base 9000, 15 clients, 30/60 s.
    pub fn new(interface: impl Into<String>) -> Config {
        Config {
            interface: interface.into(),
            server_ip: None,
            broadcast: None,
            portbase: DEFAULT_PORTBASE,
            start: StartRules::default(),
            max_bitrate: None,
            data: DataMode::Multicast(None),
            ttl: 1,
            block_size: DEFAULT_BLOCK_SIZE,
            slice_blocks: DEFAULT_SLICE_BLOCKS,
            fec: None,
            slow: Some(SlowPolicy::default()),
            answer_timeout: Duration::from_secs(10),
            hello_interval: Duration::from_secs(1),
            restart_delay: Duration::from_secs(2),
        }
    }

    /// Checks every value; the message names the bad one.
    pub fn validate(&self) -> Result<(), String> {
        if self.interface.is_empty() {
            return Err("no interface given".into());
        }
        if self.portbase == 0 || self.portbase == u16::MAX {
            return Err(format!("port base {} is outside 1..65534", self.portbase));
        }
        let bs = usize::from(self.block_size);
        if !(MIN_BLOCK_SIZE..=MAX_BLOCK_SIZE).contains(&bs) || !bs.is_multiple_of(4) {
            return Err(format!(
                "block size {bs} must be a multiple of 4 in {MIN_BLOCK_SIZE}..{MAX_BLOCK_SIZE}"
            ));
        }
        if self.slice_blocks == 0 || usize::from(self.slice_blocks) > MAX_SLICE_BLOCKS {
            return Err(format!(
                "slice size {} is outside 1..{MAX_SLICE_BLOCKS}",
                self.slice_blocks
            ));
        }
        if let Some(fec) = &self.fec {
            fec.validate()?;
        }
        if let Some(slow) = &self.slow {
            if !(0.0..1.0).contains(&slow.tolerance) {
                return Err(format!(
                    "slow-receiver tolerance {} is outside 0..1",
                    slow.tolerance
                ));
            }
            if !(0.0..=1.0).contains(&slow.max_fraction) {
                return Err(format!(
                    "slow-receiver fraction {} is outside 0..1",
                    slow.max_fraction
                ));
            }
        }
        if self.max_bitrate == Some(0) {
            return Err("a rate limit of 0 bit/s would never send".into());
        }
        if self.ttl == 0 || self.ttl > 255 {
            return Err(format!("TTL {} is outside 1..255", self.ttl));
        }
        if self.hello_interval.is_zero() {
            return Err("the HELLO interval must be positive".into());
        }
        Ok(())
    }

    /// Blocks per slice actually used (FEC fixes it).
    pub fn effective_slice_blocks(&self) -> usize {
        match &self.fec {
            Some(f) => f.slice_blocks(),
            None => usize::from(self.slice_blocks),
        }
    }

    /// Data address of session `index` (see [`DataMode`]).
    pub fn data_addr(&self, index: usize, server_ip: Ipv4Addr, broadcast: Ipv4Addr) -> Ipv4Addr {
        match self.data {
            DataMode::Broadcast => broadcast,
            DataMode::Multicast(Some(base)) => {
                Ipv4Addr::from(u32::from(base).wrapping_add(index as u32))
            }
            DataMode::Multicast(None) => {
                let last = server_ip.octets()[3];
                Ipv4Addr::new(239, 255, last, (index % 255) as u8 + 1)
            }
        }
    }
}

/// Parses a udpcast bit rate: a number with an optional `k`, `m` or `g`
/// suffix (×10³, ×10⁶, ×10⁹), e.g. `500m`. Trailing garbage (`Mbps`) is
/// refused, as newer udpcast versions do.
pub fn parse_bitrate(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let (num, mult) = match t.char_indices().last() {
        Some((i, c)) if c.eq_ignore_ascii_case(&'k') => (&t[..i], 1_000),
        Some((i, c)) if c.eq_ignore_ascii_case(&'m') => (&t[..i], 1_000_000),
        Some((i, c)) if c.eq_ignore_ascii_case(&'g') => (&t[..i], 1_000_000_000),
        _ => (t, 1),
    };
    let v = f64::from_str(num).map_err(|_| format!("'{s}' is not a bit rate like 500m"))?;
    if !v.is_finite() || v <= 0.0 {
        return Err(format!("bit rate '{s}' must be positive"));
    }
    let bits = v * mult as f64;
    if bits >= u64::MAX as f64 {
        return Err(format!("bit rate '{s}' is too large"));
    }
    Ok(bits as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linbo_defaults() {
        let c = Config::new("eth0");
        assert_eq!(c.portbase, 9000);
        assert_eq!(c.start.min_clients, 15);
        assert_eq!(c.start.min_wait, Some(Duration::from_secs(30)));
        assert_eq!(c.start.max_wait, Some(Duration::from_secs(60)));
        assert_eq!(c.validate(), Ok(()));
    }

    #[test]
    fn start_rules_count_from_first_connect() {
        let t0 = Instant::now();
        let r = StartRules::default();
        let at = |s| t0 + Duration::from_secs(s);
        assert!(!r.should_start(0, None, at(100)));
        assert!(!r.should_start(15, Some(t0), at(29)));
        assert!(r.should_start(15, Some(t0), at(30)));
        assert!(!r.should_start(3, Some(t0), at(59)));
        assert!(r.should_start(1, Some(t0), at(60)));
        assert!(!r.should_start(0, Some(t0), at(60)));
        assert_eq!(r.next_check(Some(t0), at(10)), Some(at(30)));
        assert_eq!(r.next_check(Some(t0), at(30)), Some(at(60)));
        assert_eq!(r.next_check(Some(t0), at(60)), None);
        let now = StartRules {
            min_clients: 2,
            min_wait: None,
            max_wait: None,
        };
        assert!(!now.should_start(1, Some(t0), at(1000)));
        assert!(now.should_start(2, Some(t0), t0));
    }

    #[test]
    fn bit_rates() {
        assert_eq!(parse_bitrate("500m"), Ok(500_000_000));
        assert_eq!(parse_bitrate("1.5G"), Ok(1_500_000_000));
        assert_eq!(parse_bitrate("64k"), Ok(64_000));
        assert_eq!(parse_bitrate("1000"), Ok(1000));
        assert!(parse_bitrate("10Mbps").is_err());
        assert!(parse_bitrate("0").is_err());
        assert!(parse_bitrate("").is_err());
        assert!(parse_bitrate("-5m").is_err());
    }

    #[test]
    fn data_groups_avoid_ssm() {
        let c = Config::new("eth0");
        let ip = Ipv4Addr::new(10, 0, 0, 5);
        let b = Ipv4Addr::new(10, 0, 0, 255);
        assert_eq!(c.data_addr(0, ip, b), Ipv4Addr::new(239, 255, 5, 1));
        assert_eq!(c.data_addr(3, ip, b), Ipv4Addr::new(239, 255, 5, 4));
        let mut c2 = c.clone();
        c2.data = DataMode::Broadcast;
        assert_eq!(c2.data_addr(3, ip, b), b);
        c2.data = DataMode::Multicast(Some(Ipv4Addr::new(239, 1, 2, 3)));
        assert_eq!(c2.data_addr(2, ip, b), Ipv4Addr::new(239, 1, 2, 5));
    }

    #[test]
    fn bad_values_are_named() {
        let mut c = Config::new("eth0");
        c.block_size = 1457;
        assert!(c.validate().unwrap_err().contains("block size"));
        let mut c = Config::new("eth0");
        c.slice_blocks = 2000;
        assert!(c.validate().unwrap_err().contains("slice"));
        let mut c = Config::new("");
        c.portbase = 1;
        assert!(c.validate().unwrap_err().contains("interface"));
    }
}
