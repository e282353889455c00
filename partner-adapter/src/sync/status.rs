//! What the sync loop knows about the link, for `GET /v1/sync/status`.

use std::sync::atomic::{AtomicBool, AtomicU64};

use super::now_ms;

/// What the sync loop knows about the link, for `GET /v1/sync/status`.
#[derive(Debug, Default)]
pub struct SyncStatus {
    /// A session with the gateway is up.
    pub connected: AtomicBool,
    /// Last time anything arrived from the gateway, ms (0: never).
    pub last_contact_ms: AtomicU64,
    /// The gateway's head as of the last heartbeat or entry.
    pub head: AtomicU64,
    /// Pushes acknowledged since start.
    pub pushed: AtomicU64,
    /// Of those, changes the gateway already held: re-sent after an acknowledgement was lost.
    pub duplicates: AtomicU64,
    /// Why the last session ended.
    pub last_error: parking_lot::Mutex<String>,
    /// This site's clock against the gateway's, from the last few heartbeats (see
    /// [`SyncStatus::clock`]).
    pub clock: parking_lot::Mutex<ClockReadings>,
    /// Why the gateway refused the last lease of ticket numbers, until a lease succeeds.
    pub lease_refused: parking_lot::Mutex<Option<String>>,
    /// Woken by a create that found no ticket number left: the leaser asks at once.
    pub lease_wanted: tokio::sync::Notify,
    /// Woken (every waiter) when a leased block was stored.
    pub numbers_added: tokio::sync::Notify,
}

/// This site's clock against the gateway's at one heartbeat.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClockReading {
    /// How far this site's clock ran ahead of the gateway's, ms (negative: behind; includes
    /// the heartbeat's travel time).
    pub ahead_ms: i64,
    /// How far ahead the gateway accepts a change's clock.
    pub max_skew_ms: u64,
}

/// Heartbeats whose readings [`SyncStatus::clock`] takes the smallest of.
const CLOCK_READINGS: usize = 3;

/// The last [`CLOCK_READINGS`] readings, oldest first.
#[derive(Debug, Default)]
pub struct ClockReadings(std::collections::VecDeque<ClockReading>);

impl ClockReadings {
    /// Adds a reading, forgetting the oldest beyond [`CLOCK_READINGS`].
    pub fn note(&mut self, reading: ClockReading) {
        if self.0.len() == CLOCK_READINGS {
            self.0.pop_front();
        }
        self.0.push_back(reading);
    }

    /// The smallest of the readings kept, with the latest skew bound (`None` before any).
    /// A reading is this site's lead plus the time the heartbeat spent between the gateway's
    /// clock and this site's, never less; the heartbeat that opens the live tail waits behind
    /// everything of the catch-up still in flight (62 to 100 s were seen after an outage). So
    /// each reading bounds the lead from above and the smallest is the best bound: a late
    /// heartbeat after a truthful one does not refuse the site's writes (a late first one does,
    /// until the next heartbeat), and a clock that really jumped ahead is caught by the third
    /// heartbeat after the jump (15 s at the gateway's default interval).
    pub fn best(&self) -> Option<ClockReading> {
        let latest = self.0.back()?;
        Some(ClockReading {
            ahead_ms: self.0.iter().map(|r| r.ahead_ms).min()?,
            max_skew_ms: latest.max_skew_ms,
        })
    }
}

impl SyncStatus {
    /// This site's lead on the gateway's clock: the smallest of the last [`CLOCK_READINGS`]
    /// heartbeats' readings ([`ClockReadings::best`]); `None` before any heartbeat.
    pub fn clock(&self) -> Option<ClockReading> {
        self.clock.lock().best()
    }

    /// Compares this site's clock with the gateway's `gateway_ms` from a heartbeat.
    pub(super) fn note_clock(&self, gateway_ms: u64, max_skew_ms: u64) {
        let ahead_ms = i64::try_from(now_ms()).unwrap_or(i64::MAX)
            - i64::try_from(gateway_ms).unwrap_or(i64::MAX);
        let mut readings = self.clock.lock();
        let before = readings.best();
        readings.note(ClockReading {
            ahead_ms,
            max_skew_ms,
        });
        let now = readings.best();
        let refusing =
            |r: Option<ClockReading>| r.is_some_and(|r| r.ahead_ms > r.max_skew_ms as i64);
        if refusing(now) && !refusing(before) {
            tracing::warn!(
                ahead_ms = now.map_or(ahead_ms, |r| r.ahead_ms),
                max_skew_ms,
                "this site's clock runs ahead of the gateway's further than it accepts; local writes are refused until the clock is fixed"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reading(ahead_ms: i64) -> ClockReading {
        ClockReading {
            ahead_ms,
            max_skew_ms: 300_000,
        }
    }

    fn best_after(readings: &[i64]) -> Option<i64> {
        let mut kept = ClockReadings::default();
        for &ahead in readings {
            kept.note(reading(ahead));
        }
        kept.best().map(|r| r.ahead_ms)
    }

    /// A heartbeat that waited 400 s behind a catch-up reads the site 400 s ahead; the ones
    /// before and after it read the truth, so the site is never taken for one whose clock runs
    /// ahead further than the gateway accepts.
    #[test]
    fn one_late_heartbeat_does_not_refuse_the_sites_writes() {
        assert_eq!(best_after(&[40, 400_000]), Some(40));
        assert_eq!(best_after(&[40, 400_000, 35]), Some(35));
        assert_eq!(best_after(&[]), None);
    }

    /// A clock that jumped an hour ahead is refused once three heartbeats in a row say so, and
    /// let go as soon as one reading shows it fixed.
    #[test]
    fn a_clock_that_stays_ahead_is_caught_by_the_third_heartbeat() {
        let hour = 3_600_000;
        let refusing = |readings: &[i64]| best_after(readings).is_some_and(|a| a > 300_000);
        assert!(!refusing(&[50, hour, hour]));
        assert!(refusing(&[50, hour, hour, hour]));
        assert!(
            refusing(&[hour]),
            "a site whose first reading is an hour ahead"
        );
        assert!(!refusing(&[hour, hour, hour, 20]));
    }
}
