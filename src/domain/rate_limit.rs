//! In-process sliding-window counters for abuse limits (log-in failures, sign-ups).
//! Each instance counts on its own; behind a load balancer the effective limit is the
//! configured one times the number of instances.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::error::DomainError;

pub struct RateLimiter {
    limit: u32,
    window: Duration,
    hits: Mutex<HashMap<String, VecDeque<Instant>>>,
}

impl RateLimiter {
    pub fn new(limit: u32, window: Duration) -> Self {
        Self {
            limit,
            window,
            hits: Mutex::new(HashMap::new()),
        }
    }

    /// Refuses with RATE_LIMITED when `key` already has `limit` hits inside the window.
    pub fn check(&self, key: &str) -> Result<(), DomainError> {
        let now = Instant::now();
        self.refusal(&mut self.lock(), key, now)
    }

    /// Counts one hit against `key`.
    pub fn hit(&self, key: &str) {
        let now = Instant::now();
        self.push(&mut self.lock(), key, now);
    }

    /// Checks and counts in one step, under one lock: attempts sent at once cannot all
    /// pass the check before any of them is counted.
    pub fn check_and_hit(&self, key: &str) -> Result<(), DomainError> {
        let now = Instant::now();
        let mut hits = self.lock();
        self.refusal(&mut hits, key, now)?;
        self.push(&mut hits, key, now);
        Ok(())
    }

    fn refusal(
        &self,
        hits: &mut HashMap<String, VecDeque<Instant>>,
        key: &str,
        now: Instant,
    ) -> Result<(), DomainError> {
        let Some(times) = hits.get_mut(key) else {
            return Ok(());
        };
        while times
            .front()
            .is_some_and(|t| now.duration_since(*t) >= self.window)
        {
            times.pop_front();
        }
        if times.len() as u32 >= self.limit {
            let oldest = times.front().copied().unwrap_or(now);
            let retry = self.window.saturating_sub(now.duration_since(oldest));
            return Err(DomainError::RateLimited {
                retry_after_secs: retry.as_secs().max(1),
            });
        }
        Ok(())
    }

    fn push(&self, hits: &mut HashMap<String, VecDeque<Instant>>, key: &str, now: Instant) {
        if hits.len() > 100_000 {
            // Keep memory bounded under a flood of distinct keys: drop expired entries.
            let window = self.window;
            hits.retain(|_, times| {
                times
                    .back()
                    .is_some_and(|t| now.duration_since(*t) < window)
            });
        }
        hits.entry(key.to_string()).or_default().push_back(now);
    }

    /// Counts one attempt against every `(limiter, key)` before the work it guards, or
    /// none when one of them refuses (the hits already taken are given back).
    pub fn reserve_all(keyed: &[(&RateLimiter, &str)]) -> Result<(), DomainError> {
        for (done, (limiter, key)) in keyed.iter().enumerate() {
            if let Err(refused) = limiter.check_and_hit(key) {
                for (limiter, key) in &keyed[..done] {
                    limiter.refund(key);
                }
                return Err(refused);
            }
        }
        Ok(())
    }

    /// Gives back the latest hit of `key` (an attempt counted up front that turned out
    /// well).
    pub fn refund(&self, key: &str) {
        let mut hits = self.lock();
        if let Some(times) = hits.get_mut(key) {
            times.pop_back();
        }
    }

    pub fn reset(&self, key: &str) {
        self.lock().remove(key);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, VecDeque<Instant>>> {
        // A panic while holding this lock leaves only counters behind; keep using them.
        self.hits
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_after_the_limit_and_names_a_wait() -> crate::TestResult {
        let limiter = RateLimiter::new(2, Duration::from_secs(60));
        limiter.check_and_hit("a")?;
        limiter.check_and_hit("a")?;
        let err = limiter.check("a").unwrap_err();
        assert_eq!(err.code(), "RATE_LIMITED");
        limiter.check("b")?;
        limiter.reset("a");
        limiter.check("a")?;
        Ok(())
    }

    #[test]
    fn hits_expire_with_the_window() {
        let limiter = RateLimiter::new(1, Duration::from_millis(20));
        limiter.hit("a");
        assert!(limiter.check("a").is_err());
        std::thread::sleep(Duration::from_millis(30));
        assert!(limiter.check("a").is_ok());
    }

    #[test]
    fn attempts_at_once_are_admitted_up_to_the_limit_only() {
        let limiter = std::sync::Arc::new(RateLimiter::new(5, Duration::from_secs(60)));
        let barrier = std::sync::Arc::new(std::sync::Barrier::new(16));
        let threads: Vec<_> = (0..16)
            .map(|_| {
                let limiter = limiter.clone();
                let barrier = barrier.clone();
                std::thread::spawn(move || {
                    barrier.wait();
                    (0..10)
                        .filter(|_| limiter.check_and_hit("same").is_ok())
                        .count()
                })
            })
            .collect();
        let admitted: usize = threads.into_iter().map(|t| t.join().unwrap_or(0)).sum();
        assert_eq!(admitted, 5);
    }
}
