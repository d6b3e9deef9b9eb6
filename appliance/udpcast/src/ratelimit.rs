//! Token bucket in bits per second, counted as udpcast's `--max-bitrate`
//! does: UDP payload + 28 bytes (IPv4 + UDP headers) per datagram.

use std::time::{Duration, Instant};

/// Bits a datagram of `len` payload bytes costs.
pub fn datagram_bits(len: usize) -> f64 {
    ((len + 28) * 8) as f64
}

/// A token bucket.
#[derive(Debug, Clone)]
pub struct RateLimiter {
    rate: f64,
    burst: f64,
    tokens: f64,
    last: Instant,
}

impl RateLimiter {
    /// `bits_per_second` > 0; the bucket holds 5 ms of traffic, at least
    /// 16 full-size datagrams.
    pub fn new(bits_per_second: u64, now: Instant) -> RateLimiter {
        let rate = bits_per_second.max(1) as f64;
        let burst = (rate * 0.005).max(16.0 * 1500.0 * 8.0);
        RateLimiter {
            rate,
            burst,
            tokens: burst,
            last: now,
        }
    }

    fn refill(&mut self, now: Instant) {
        let dt = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = self.last.max(now);
        self.tokens = (self.tokens + dt * self.rate).min(self.burst);
    }

    /// `None` if a full-size datagram may go now, else when it may.
    pub fn wait_until(&mut self, now: Instant) -> Option<Instant> {
        self.refill(now);
        if self.tokens > 0.0 {
            None
        } else {
            Some(now + Duration::from_secs_f64(-self.tokens / self.rate + 1e-6))
        }
    }

    /// Takes the cost of a sent datagram (may go negative: the next send
    /// waits for it).
    pub fn consume(&mut self, len: usize) {
        self.tokens -= datagram_bits(len);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_run_rate_is_kept() {
        let t0 = Instant::now();
        let mut r = RateLimiter::new(10_000_000, t0);
        let mut now = t0;
        let mut sent = 0usize;
        while now < t0 + Duration::from_secs(2) {
            match r.wait_until(now) {
                None => {
                    r.consume(1472);
                    sent += 1;
                }
                Some(t) => now = t,
            }
        }
        let bits = sent as f64 * datagram_bits(1472);
        let rate = bits / 2.0;
        assert!((rate - 10e6).abs() / 10e6 < 0.05, "rate {rate}");
    }
}
