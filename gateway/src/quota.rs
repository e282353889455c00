//! Per-tenant quotas: a token bucket of changes per tenant, so one noisy partner gets
//! `RESOURCE_EXHAUSTED` with retry advice while the other tenants keep being served.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The buckets of every tenant.
#[derive(Debug)]
pub struct Quotas {
    rate: f64,
    burst: f64,
    buckets: Mutex<HashMap<String, Bucket>>,
}

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl Quotas {
    /// `rate` changes per second per tenant, up to `burst` at once.
    pub fn new(rate: u64, burst: u64) -> Self {
        Quotas {
            rate: rate as f64,
            burst: burst as f64,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// The configured rate (changes per second).
    pub fn rate(&self) -> u64 {
        self.rate as u64
    }

    /// Takes `changes` from `tenant`'s bucket, or says how long to wait until they fit.
    pub fn take(&self, tenant: &str, changes: usize) -> Result<(), Duration> {
        self.take_at(tenant, changes, Instant::now())
    }

    fn take_at(&self, tenant: &str, changes: usize, now: Instant) -> Result<(), Duration> {
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let bucket = buckets.entry(tenant.to_owned()).or_insert(Bucket {
            tokens: self.burst,
            at: now,
        });
        let refill = now.saturating_duration_since(bucket.at).as_secs_f64() * self.rate;
        bucket.tokens = (bucket.tokens + refill).min(self.burst);
        bucket.at = now;
        let wanted = changes as f64;
        if bucket.tokens >= wanted {
            bucket.tokens -= wanted;
            return Ok(());
        }
        Err(Duration::from_secs_f64(
            (wanted - bucket.tokens) / self.rate.max(1.0),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tenant over its burst waits for the refill; another tenant is not affected.
    #[test]
    fn buckets_are_per_tenant_and_refill() {
        let quotas = Quotas::new(100, 200);
        let t0 = Instant::now();
        assert!(quotas.take_at("helpbycom", 200, t0).is_ok());
        let wait = quotas.take_at("helpbycom", 50, t0).unwrap_err();
        assert_eq!(wait, Duration::from_millis(500));
        assert!(
            quotas.take_at("twenty4help", 200, t0).is_ok(),
            "another tenant has its own bucket"
        );
        assert!(
            quotas
                .take_at("helpbycom", 50, t0 + Duration::from_millis(500))
                .is_ok()
        );
    }
}
