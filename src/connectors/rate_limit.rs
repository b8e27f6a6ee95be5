//! Token-bucket rate limits, one per credential, shared by every request
//! that uses the credential (pulls and pushes alike).
//!
//! A limiter also carries a "paused until" time: when a source answers
//! 429 with `Retry-After`, or a body-level limit signal, every request on
//! that credential waits, not only the one that was refused.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

/// One token bucket: `rate` requests per second on average, bursts of up to
/// `burst` requests.
#[derive(Debug)]
pub struct RateLimiter {
    rate: f64,
    burst: f64,
    state: Mutex<BucketState>,
    /// How many times the system said "slow down" (each [`Self::pause_for`]).
    throttled: AtomicU64,
}

#[derive(Debug)]
struct BucketState {
    tokens: f64,
    refilled_at: Instant,
    paused_until: Option<Instant>,
}

impl RateLimiter {
    /// A limiter allowing `rate` requests per second with bursts of `burst`.
    /// A rate of zero or less means no limit.
    pub fn new(rate: f64, burst: u32) -> RateLimiter {
        let burst = f64::from(burst.max(1));
        RateLimiter {
            rate,
            burst,
            state: Mutex::new(BucketState {
                tokens: burst,
                refilled_at: Instant::now(),
                paused_until: None,
            }),
            throttled: AtomicU64::new(0),
        }
    }

    /// Waits until a request may be sent, then takes one token.
    pub async fn acquire(&self) {
        loop {
            let wait = self.try_take();
            match wait {
                None => return,
                Some(wait) => tokio::time::sleep(wait).await,
            }
        }
    }

    /// Holds every request on this credential back for `duration`, e.g. for
    /// a `Retry-After`. A shorter pause never shortens a longer one.
    pub fn pause_for(&self, duration: Duration) {
        self.throttled.fetch_add(1, Ordering::Relaxed);
        let until = Instant::now() + duration;
        let mut state = self
            .state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if state.paused_until.is_none_or(|current| current < until) {
            state.paused_until = Some(until);
        }
    }

    /// Takes a token if one is available; otherwise says how long to wait.
    fn try_take(&self) -> Option<Duration> {
        let now = Instant::now();
        let mut state = self
            .state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(until) = state.paused_until {
            if until > now {
                return Some(until - now);
            }
            state.paused_until = None;
        }
        if self.rate <= 0.0 {
            return None;
        }
        let elapsed = now.duration_since(state.refilled_at).as_secs_f64();
        state.tokens = (state.tokens + elapsed * self.rate).min(self.burst);
        state.refilled_at = now;
        if state.tokens >= 1.0 {
            state.tokens -= 1.0;
            None
        } else {
            Some(Duration::from_secs_f64((1.0 - state.tokens) / self.rate))
        }
    }
}

/// The limiters of one process, by credential key (e.g. the connector id,
/// or a shared `rate_limit_key` when several connectors use one account).
#[derive(Debug, Default)]
pub struct RateLimiters {
    limiters: Mutex<HashMap<String, Arc<RateLimiter>>>,
}

impl RateLimiters {
    /// The limiter for `key`, created with `rate` and `burst` the first time
    /// the key is seen; later callers share it.
    pub fn get(&self, key: &str, rate: f64, burst: u32) -> Arc<RateLimiter> {
        let mut limiters = self
            .limiters
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        limiters
            .entry(key.to_string())
            .or_insert_with(|| Arc::new(RateLimiter::new(rate, burst)))
            .clone()
    }

    /// For each credential key, how many times its system said "slow down".
    pub fn throttled(&self) -> Vec<(String, u64)> {
        let limiters = self
            .limiters
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut counts: Vec<(String, u64)> = limiters
            .iter()
            .map(|(key, limiter)| (key.clone(), limiter.throttled.load(Ordering::Relaxed)))
            .collect();
        counts.sort();
        counts
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_bucket_allows_its_burst_then_the_rate() {
        let limiter = RateLimiter::new(2.0, 3);
        let start = Instant::now();
        for _ in 0..3 {
            limiter.acquire().await;
        }
        assert_eq!(start.elapsed(), Duration::ZERO);
        for _ in 0..4 {
            limiter.acquire().await;
        }
        // Four more at two per second.
        assert_eq!(start.elapsed().as_millis(), 2000);
    }

    #[tokio::test(start_paused = true)]
    async fn a_pause_holds_every_request_and_never_shrinks() {
        let limiter = RateLimiter::new(0.0, 1);
        let start = Instant::now();
        limiter.pause_for(Duration::from_secs(2));
        limiter.pause_for(Duration::from_millis(500));
        assert_eq!(limiter.throttled.load(Ordering::Relaxed), 2);
        limiter.acquire().await;
        assert_eq!(start.elapsed().as_secs(), 2);
        limiter.acquire().await;
        assert_eq!(start.elapsed().as_secs(), 2, "no limit after the pause");
    }

    #[test]
    fn limiters_are_shared_by_key() {
        let limiters = RateLimiters::default();
        let a = limiters.get("shop", 2.0, 40);
        let b = limiters.get("shop", 99.0, 1);
        assert!(Arc::ptr_eq(&a, &b));
        assert!(!Arc::ptr_eq(&a, &limiters.get("desk", 2.0, 40)));
    }
}
