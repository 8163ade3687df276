//! Reconnect delays: exponential backoff with full jitter.

use rand::Rng as _;
use std::time::Duration;

/// `delay = random(0, min(cap, base × 2^attempt))`. The attempt counter resets
/// after a session that reached `welcome`, so the first retry after a hub
/// restart comes within `base`.
#[derive(Debug, Clone)]
pub(crate) struct Backoff {
    base: Duration,
    cap: Duration,
    attempt: u32,
}

impl Backoff {
    pub(crate) fn new(base: Duration, cap: Duration) -> Self {
        Self { base, cap, attempt: 0 }
    }

    /// The upper bound of the next delay.
    pub(crate) fn ceiling(&self) -> Duration {
        // 2^20 × any sane base is far past any cap; stop doubling there.
        let factor = 1u32 << self.attempt.min(20);
        self.base.saturating_mul(factor).min(self.cap)
    }

    /// The next delay, and one more attempt counted.
    pub(crate) fn next_delay(&mut self) -> Duration {
        let ceiling = self.ceiling();
        self.attempt = self.attempt.saturating_add(1);
        let nanos = u64::try_from(ceiling.as_nanos()).unwrap_or(u64::MAX);
        Duration::from_nanos(rand::rng().random_range(0..=nanos))
    }

    pub(crate) fn reset(&mut self) {
        self.attempt = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_retry_is_under_a_second_and_no_retry_exceeds_the_cap() {
        let base = Duration::from_millis(500);
        let cap = Duration::from_secs(30);
        for _ in 0..200 {
            let mut backoff = Backoff::new(base, cap);
            assert!(backoff.next_delay() <= base);
            for _ in 0..40 {
                assert!(backoff.next_delay() <= cap);
            }
        }
        let mut backoff = Backoff::new(base, cap);
        let ceilings: Vec<u64> = (0..8)
            .map(|_| {
                let c = backoff.ceiling().as_millis() as u64;
                backoff.next_delay();
                c
            })
            .collect();
        assert_eq!(ceilings, vec![500, 1000, 2000, 4000, 8000, 16000, 30000, 30000]);
        backoff.reset();
        assert_eq!(backoff.ceiling(), base);
    }

    #[test]
    fn jitter_spreads_delays() {
        let mut backoff = Backoff::new(Duration::from_secs(10), Duration::from_secs(10));
        let delays: std::collections::BTreeSet<Duration> = (0..20).map(|_| backoff.next_delay()).collect();
        assert!(delays.len() > 10, "full jitter must not repeat one value");
    }
}
