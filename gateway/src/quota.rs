//! Per-tenant quotas, so one noisy partner gets `RESOURCE_EXHAUSTED` with retry advice while
//! the other tenants keep being served: token buckets (changes pushed, entities fetched) and
//! concurrency slots (open subscriptions), each per tenant.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::Arc;

use parking_lot::Mutex;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use futures_util::Stream;

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
        let mut buckets = self.buckets.lock();
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

/// How many of something each tenant may hold at once (open subscriptions). A [`Slot`] is
/// released when it is dropped, so a closed stream frees its slot at once.
#[derive(Debug)]
pub struct Slots {
    limit: usize,
    held: Mutex<HashMap<String, usize>>,
}

impl Slots {
    /// At most `limit` slots per tenant.
    pub fn new(limit: usize) -> Arc<Self> {
        Arc::new(Slots {
            limit,
            held: Mutex::new(HashMap::new()),
        })
    }

    /// The configured limit per tenant.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// How many slots `tenant` holds now.
    pub fn held(&self, tenant: &str) -> usize {
        let held = self.held.lock();
        held.get(tenant).copied().unwrap_or(0)
    }

    /// A slot for `tenant`, or `None` when it holds its limit already.
    pub fn acquire(self: &Arc<Self>, tenant: &str) -> Option<Slot> {
        let mut held = self.held.lock();
        let count = held.entry(tenant.to_owned()).or_insert(0);
        if *count >= self.limit {
            return None;
        }
        *count += 1;
        Some(Slot {
            slots: Arc::clone(self),
            tenant: tenant.to_owned(),
        })
    }
}

/// One tenant's use of one of its [`Slots`], until dropped.
#[derive(Debug)]
pub struct Slot {
    slots: Arc<Slots>,
    tenant: String,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut held = self.slots.held.lock();
        if let Some(count) = held.get_mut(&self.tenant) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                held.remove(&self.tenant);
            }
        }
    }
}

/// A stream that holds a [`Slot`] for as long as it exists: tonic drops a response stream when
/// it ends or the client goes away, which releases the slot.
#[derive(Debug)]
pub struct Holding<S> {
    stream: S,
    _slot: Slot,
}

impl<S> Holding<S> {
    /// `stream`, holding `slot`.
    pub fn new(stream: S, slot: Slot) -> Self {
        Holding {
            stream,
            _slot: slot,
        }
    }
}

impl<S: Stream + Unpin> Stream for Holding<S> {
    type Item = S::Item;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<S::Item>> {
        Pin::new(&mut self.stream).poll_next(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tenant at its limit gets no slot until one of its slots is dropped; another tenant
    /// has its own.
    #[test]
    fn slots_are_per_tenant_and_released_on_drop() {
        let slots = Slots::new(2);
        let first = slots.acquire("helpbycom").expect("first slot");
        let _second = slots.acquire("helpbycom").expect("second slot");
        assert!(slots.acquire("helpbycom").is_none(), "a third slot");
        assert!(slots.acquire("twenty4help").is_some(), "another tenant");
        drop(first);
        assert_eq!(slots.held("helpbycom"), 1);
        assert!(slots.acquire("helpbycom").is_some(), "the released slot");
    }

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
