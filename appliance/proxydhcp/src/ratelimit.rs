//! Per-MAC token bucket for replies, with bounded memory.

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use crate::client::Mac;

/// Reply budget per client MAC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimitConfig {
    /// Bucket size: at most this many replies in a burst, refilled evenly
    /// over `per`. Must be at least 1.
    pub max_replies: u32,
    /// Refill period for a full bucket. Must be non-zero.
    pub per: Duration,
    /// At most this many MACs are tracked; when full, idle (fully
    /// refilled) buckets are dropped first, then the least recently used.
    pub max_clients: usize,
}

impl Default for RateLimitConfig {
    /// 10 replies per 10 s per MAC, 4096 MACs tracked.
    fn default() -> Self {
        RateLimitConfig {
            max_replies: 10,
            per: Duration::from_secs(10),
            max_clients: 4096,
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    last: SystemTime,
}

/// The limiter state.
#[derive(Debug)]
pub(crate) struct RateLimiter {
    cfg: RateLimitConfig,
    buckets: HashMap<Mac, Bucket>,
}

impl RateLimiter {
    pub fn new(cfg: RateLimitConfig) -> Self {
        RateLimiter {
            cfg,
            buckets: HashMap::new(),
        }
    }

    fn capacity(&self) -> f64 {
        f64::from(self.cfg.max_replies.max(1))
    }

    /// Tokens in `b` at `now` (a clock that went backwards refills nothing).
    fn refilled(&self, b: &Bucket, now: SystemTime) -> f64 {
        let elapsed = now.duration_since(b.last).unwrap_or(Duration::ZERO);
        let per = self.cfg.per.as_secs_f64().max(1e-9);
        (b.tokens + elapsed.as_secs_f64() * self.capacity() / per).min(self.capacity())
    }

    /// Takes one token for `mac`; false when the budget is used up.
    pub fn allow(&mut self, mac: Mac, now: SystemTime) -> bool {
        if !self.buckets.contains_key(&mac) && self.buckets.len() >= self.cfg.max_clients.max(1) {
            self.evict(now);
        }
        let cap = self.capacity();
        let tokens = match self.buckets.get(&mac) {
            Some(b) => self.refilled(b, now),
            None => cap,
        };
        let (tokens, ok) = if tokens >= 1.0 {
            (tokens - 1.0, true)
        } else {
            (tokens, false)
        };
        self.buckets.insert(mac, Bucket { tokens, last: now });
        ok
    }

    fn evict(&mut self, now: SystemTime) {
        let cap = self.capacity();
        let full: Vec<Mac> = self
            .buckets
            .iter()
            .filter(|(_, b)| self.refilled(b, now) >= cap)
            .map(|(m, _)| *m)
            .collect();
        for m in full {
            self.buckets.remove(&m);
        }
        while self.buckets.len() >= self.cfg.max_clients.max(1) {
            let Some(oldest) = self
                .buckets
                .iter()
                .min_by_key(|(_, b)| b.last)
                .map(|(m, _)| *m)
            else {
                break;
            };
            self.buckets.remove(&oldest);
        }
    }

    /// Number of tracked MACs.
    #[cfg(test)]
    pub fn tracked(&self) -> usize {
        self.buckets.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mac(n: u32) -> Mac {
        let b = n.to_be_bytes();
        Mac([2, 0, b[0], b[1], b[2], b[3]])
    }

    #[test]
    fn burst_then_refill() {
        let mut rl = RateLimiter::new(RateLimitConfig::default());
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        for _ in 0..10 {
            assert!(rl.allow(mac(1), t0));
        }
        assert!(!rl.allow(mac(1), t0));
        assert!(rl.allow(mac(2), t0), "other MACs unaffected");
        // One token per second.
        assert!(rl.allow(mac(1), t0 + Duration::from_millis(1100)));
        assert!(!rl.allow(mac(1), t0 + Duration::from_millis(1200)));
        // Clock going backwards does not panic nor refill.
        assert!(!rl.allow(mac(1), t0 - Duration::from_secs(5)));
    }

    #[test]
    fn bounded() {
        let cfg = RateLimitConfig {
            max_clients: 16,
            ..RateLimitConfig::default()
        };
        let mut rl = RateLimiter::new(cfg);
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        for i in 0..1000 {
            assert!(rl.allow(mac(i), t0 + Duration::from_millis(u64::from(i))));
            assert!(rl.tracked() <= 16);
        }
    }
}
