//! The hybrid logical clock (HLC). Physical time is handed in by the caller, so this module
//! never reads a clock itself and is fully deterministic under test.
//!
//! A reading from another site that is further ahead of our physical time than the allowed skew
//! is refused, never silently adjusted: one wrong clock must not win every later conflict.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// One HLC reading; ordered by `wall_ms`, then `logical`.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct Hlc {
    /// Physical component, milliseconds since the Unix epoch.
    pub wall_ms: u64,
    /// Logical counter within `wall_ms`.
    pub logical: u32,
}

impl Hlc {
    /// A reading.
    pub fn new(wall_ms: u64, logical: u32) -> Self {
        Hlc { wall_ms, logical }
    }

    /// The smallest reading strictly greater than `self`.
    fn successor(self) -> Hlc {
        match self.logical.checked_add(1) {
            Some(logical) => Hlc {
                wall_ms: self.wall_ms,
                logical,
            },
            None => Hlc {
                wall_ms: self.wall_ms + 1,
                logical: 0,
            },
        }
    }
}

/// The default allowed skew between two sites' clocks: five minutes.
pub const DEFAULT_MAX_SKEW_MS: u64 = 5 * 60 * 1000;

/// A site's (or the gateway's) hybrid logical clock.
#[derive(Clone, Debug)]
pub struct HybridClock {
    last: Hlc,
    max_skew_ms: u64,
}

impl HybridClock {
    /// A clock that has issued nothing yet and accepts remote readings at most `max_skew_ms`
    /// ahead of physical time.
    pub fn new(max_skew_ms: u64) -> Self {
        HybridClock {
            last: Hlc::default(),
            max_skew_ms,
        }
    }

    /// A clock that continues after `last` (e.g. the highest reading persisted before a restart).
    pub fn resume(last: Hlc, max_skew_ms: u64) -> Self {
        HybridClock { last, max_skew_ms }
    }

    /// The last reading issued or observed.
    pub fn last(&self) -> Hlc {
        self.last
    }

    /// The allowed skew in milliseconds.
    pub fn max_skew_ms(&self) -> u64 {
        self.max_skew_ms
    }

    /// A new reading for a local event at physical time `physical_ms`; always greater than
    /// every earlier reading of this clock.
    pub fn now(&mut self, physical_ms: u64) -> Hlc {
        let next = if physical_ms > self.last.wall_ms {
            Hlc::new(physical_ms, 0)
        } else {
            self.last.successor()
        };
        self.last = next;
        next
    }

    /// Checks, without updating the clock, that `remote` from `site` is within the allowed
    /// skew of `physical_ms`.
    pub fn check(&self, site: &str, remote: Hlc, physical_ms: u64) -> Result<()> {
        let ahead_ms = remote.wall_ms.saturating_sub(physical_ms);
        if ahead_ms > self.max_skew_ms {
            return Err(Error::ClockSkew {
                site: site.to_owned(),
                ahead_ms,
                max_skew_ms: self.max_skew_ms,
            });
        }
        Ok(())
    }

    /// Takes in a reading from another site at physical time `physical_ms` and returns a new
    /// reading greater than both it and every earlier reading of this clock. A reading beyond
    /// the allowed skew is refused and leaves the clock unchanged.
    pub fn observe(&mut self, site: &str, remote: Hlc, physical_ms: u64) -> Result<Hlc> {
        self.check(site, remote, physical_ms)?;
        let highest = self.last.max(remote);
        let next = if physical_ms > highest.wall_ms {
            Hlc::new(physical_ms, 0)
        } else {
            highest.successor()
        };
        self.last = next;
        Ok(next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Physical time going backwards (NTP step) never makes the clock go backwards.
    #[test]
    fn now_is_monotonic_when_physical_time_steps_back() {
        let mut clock = HybridClock::new(1000);
        let a = clock.now(5000);
        let b = clock.now(4000);
        assert!(b > a);
        assert_eq!(b, Hlc::new(5000, 1));
    }

    /// A reading an hour ahead is refused with the skew in the message and the clock unchanged.
    #[test]
    fn observe_refuses_far_future_and_stays_put() {
        let mut clock = HybridClock::new(DEFAULT_MAX_SKEW_MS);
        let before = clock.now(1_000_000);
        let err = clock.observe("erfurt", Hlc::new(1_000_000 + 3_600_000, 0), 1_000_000);
        let err = err.unwrap_err();
        assert!(err.to_string().contains("3600000 ms ahead"), "{err}");
        assert_eq!(clock.last(), before);
    }
}
