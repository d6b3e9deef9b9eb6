//! Upload rate limiting: a shared token bucket (GCRA form) that callers
//! reserve bytes from before sending, changeable at runtime.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

/// Burst allowance: this much sending time may be used up at once.
const BURST: Duration = Duration::from_millis(100);

/// A byte-rate limiter. `None` / 0 means unlimited. Shared by reference;
/// every [`RateLimiter::acquire`] reserves its bytes and sleeps until they are
/// due, so concurrent senders are served in reservation order.
#[derive(Debug)]
pub struct RateLimiter {
    bytes_per_sec: AtomicU64,
    /// Theoretical arrival time of the next byte.
    tat: Mutex<Option<Instant>>,
}

impl RateLimiter {
    /// A limiter at `bytes_per_sec` (`None`: unlimited).
    pub fn new(bytes_per_sec: Option<u64>) -> Self {
        RateLimiter {
            bytes_per_sec: AtomicU64::new(bytes_per_sec.unwrap_or(0)),
            tat: Mutex::new(None),
        }
    }

    /// Changes the rate; takes effect for the next reservation.
    pub fn set_rate(&self, bytes_per_sec: Option<u64>) {
        self.bytes_per_sec
            .store(bytes_per_sec.unwrap_or(0), Ordering::Relaxed);
        *self.tat.lock().unwrap_or_else(PoisonError::into_inner) = None;
    }

    /// The current rate (`None`: unlimited).
    pub fn rate(&self) -> Option<u64> {
        Some(self.bytes_per_sec.load(Ordering::Relaxed)).filter(|&r| r > 0)
    }

    /// How long to wait before sending `bytes` (reserving them).
    pub fn reserve(&self, bytes: u64) -> Duration {
        let Some(rate) = self.rate() else {
            return Duration::ZERO;
        };
        let now = Instant::now();
        let cost = Duration::from_secs_f64(bytes as f64 / rate as f64);
        let mut tat = self.tat.lock().unwrap_or_else(PoisonError::into_inner);
        let start = tat.filter(|&t| t > now).unwrap_or(now);
        *tat = Some(start + cost);
        (start - now).saturating_sub(BURST)
    }

    /// Reserves `bytes` and sleeps until they may be sent.
    pub async fn acquire(&self, bytes: u64) {
        let wait = self.reserve(bytes);
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn limits_rate() {
        let rl = RateLimiter::new(Some(1_000_000));
        let start = Instant::now();
        for _ in 0..100 {
            rl.acquire(100_000).await;
        }
        // 10 MB at 1 MB/s: about 10 s minus the burst allowance.
        let took = start.elapsed();
        assert!(
            took >= Duration::from_millis(9_700) && took <= Duration::from_millis(10_100),
            "{took:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn unlimited_and_runtime_change() {
        let rl = RateLimiter::new(None);
        assert_eq!(rl.rate(), None);
        let start = Instant::now();
        rl.acquire(u64::MAX / 2).await;
        assert_eq!(start.elapsed(), Duration::ZERO);
        rl.set_rate(Some(500_000));
        for _ in 0..10 {
            rl.acquire(100_000).await;
        }
        let took = start.elapsed();
        assert!(
            took >= Duration::from_millis(1_600) && took <= Duration::from_millis(2_100),
            "{took:?}"
        );
        rl.set_rate(Some(0));
        assert_eq!(rl.rate(), None);
    }
}
