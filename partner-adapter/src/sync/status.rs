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
    /// This site's clock against the gateway's, as of the last heartbeat (`None` before one).
    pub clock: parking_lot::Mutex<Option<ClockReading>>,
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

impl SyncStatus {
    /// The last clock reading, if any heartbeat carried one.
    pub fn clock(&self) -> Option<ClockReading> {
        *self.clock.lock()
    }

    /// Compares this site's clock with the gateway's `gateway_ms` from a heartbeat.
    pub(super) fn note_clock(&self, gateway_ms: u64, max_skew_ms: u64) {
        let ahead_ms = i64::try_from(now_ms()).unwrap_or(i64::MAX)
            - i64::try_from(gateway_ms).unwrap_or(i64::MAX);
        let reading = ClockReading {
            ahead_ms,
            max_skew_ms,
        };
        let mut clock = self.clock.lock();
        if ahead_ms > max_skew_ms as i64 && *clock != Some(reading) {
            tracing::warn!(
                ahead_ms,
                max_skew_ms,
                "this site's clock runs ahead of the gateway's further than it accepts; local writes are refused until the clock is fixed"
            );
        }
        *clock = Some(reading);
    }
}
