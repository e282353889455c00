//! What the sync loop knows about the link, for `GET /v1/sync/status`.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

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
    /// The address of the gateway the current session is with (one of `gateway.url` and
    /// `gateway.replicas`); `None` while no session is up. Changed with `connected` only by
    /// [`SyncStatus::set_link`].
    gateway: parking_lot::Mutex<Option<String>>,
    /// This site's clock against the gateway's, as of the last heartbeat (`None` before one;
    /// see [`SyncStatus::note_clock`]).
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
    /// How far this site's clock ran ahead of the gateway's, ms (negative: behind; at most
    /// its true lead for the heartbeat that opened the session, see
    /// [`SyncStatus::note_clock`]; the travel time included for later ones).
    pub ahead_ms: i64,
    /// How far ahead the gateway accepts a change's clock.
    pub max_skew_ms: u64,
}

impl ClockReading {
    /// The site's clock runs further ahead than the gateway accepts: local writes are refused.
    pub fn refuses(&self) -> bool {
        self.ahead_ms > i64::try_from(self.max_skew_ms).unwrap_or(i64::MAX)
    }
}

impl SyncStatus {
    /// Records a session with `gateway` as up, or (`None`) that none is: the address and
    /// `connected` change under the address's lock, so [`SyncStatus::link`] never sees one
    /// without the other.
    pub fn set_link(&self, gateway: Option<&str>) {
        let mut current = self.gateway.lock();
        *current = gateway.map(str::to_owned);
        self.connected.store(current.is_some(), Ordering::SeqCst);
    }

    /// Whether a session is up and with which gateway address, read together.
    pub fn link(&self) -> (bool, Option<String>) {
        let current = self.gateway.lock();
        (self.connected.load(Ordering::SeqCst), current.clone())
    }

    /// The last clock reading, if any heartbeat carried one.
    pub fn clock(&self) -> Option<ClockReading> {
        *self.clock.lock()
    }

    /// Compares this site's clock with the gateway's `gateway_ms` from a heartbeat that the
    /// gateway cannot have stamped before this site's `earliest_ms`.
    ///
    /// A reading against the time the heartbeat is read is the site's lead plus the time the
    /// heartbeat waited on its way. The heartbeat that opens a session's live tail waits behind
    /// all of the catch-up still in flight (62 to 100 s were seen after an outage), and against
    /// the time it is read it would make a site with a right clock look minutes ahead and
    /// refuse its writes. The gateway stamps it after the subscription arrived, so for that one
    /// the caller passes the time the site asked to subscribe: the reading is then never more
    /// than the site's true lead. Later heartbeats come only on a quiet stream and are read
    /// against now.
    pub(super) fn note_clock(&self, gateway_ms: u64, max_skew_ms: u64, earliest_ms: u64) {
        let ahead_ms = i64::try_from(earliest_ms).unwrap_or(i64::MAX)
            - i64::try_from(gateway_ms).unwrap_or(i64::MAX);
        let reading = ClockReading {
            ahead_ms,
            max_skew_ms,
        };
        let mut clock = self.clock.lock();
        if reading.refuses() && !clock.is_some_and(|r| r.refuses()) {
            tracing::warn!(
                ahead_ms,
                max_skew_ms,
                "this site's clock runs ahead of the gateway's further than it accepts; local writes are refused until the clock is fixed"
            );
        }
        *clock = Some(reading);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SKEW: u64 = 300_000;

    /// A site with a right clock asks to subscribe; the gateway stamps the heartbeat that opens
    /// the live tail 20 ms later, and the site reads it 400 s later, after the catch-up queued
    /// before it. Read against its arrival that is a 400 s lead, beyond the 300 s bound; read
    /// against the time the site asked, it is none. A later heartbeat on the quiet stream is
    /// read against its arrival.
    #[test]
    fn a_heartbeat_that_waited_behind_a_catch_up_is_no_lead() {
        let status = SyncStatus::default();
        let asked = 1_000_000_000;
        let stamped = asked + 20;
        let arrival = ClockReading {
            ahead_ms: (asked + 400_000 - stamped) as i64,
            max_skew_ms: SKEW,
        };
        assert!(arrival.refuses(), "the arrival time alone would refuse");
        status.note_clock(stamped, SKEW, asked);
        let reading = status.clock().expect("a reading");
        assert_eq!(reading.ahead_ms, -20);
        assert!(!reading.refuses());
        let later = asked + 405_000;
        status.note_clock(later - 7, SKEW, later);
        assert_eq!(status.clock().map(|r| r.ahead_ms), Some(7));
    }

    /// A site an hour ahead is refused at the session's first heartbeat, however quickly it
    /// arrives, and let go by the first heartbeat after its clock was fixed.
    #[test]
    fn a_clock_an_hour_ahead_is_refused_at_the_first_heartbeat() {
        let status = SyncStatus::default();
        let gateway = 1_000_000_000;
        let asked = gateway + 3_600_000;
        status.note_clock(gateway + 15, SKEW, asked);
        assert!(status.clock().is_some_and(|r| r.refuses()));
        status.note_clock(gateway + 5_000, SKEW, gateway + 5_010);
        assert!(status.clock().is_some_and(|r| !r.refuses()));
    }

    /// A reader of the link never sees a session up without its address or an address
    /// without a session, however the sync loop connects and disconnects meanwhile.
    #[test]
    fn the_link_is_read_whole_while_it_changes() {
        let status = std::sync::Arc::new(SyncStatus::default());
        let flipper = {
            let status = std::sync::Arc::clone(&status);
            std::thread::spawn(move || {
                for round in 0..200_000 {
                    let up = round % 2 == 0;
                    status.set_link(up.then_some("https://gateway-b.example:7443"));
                }
            })
        };
        let (mut up, mut down) = (0, 0);
        while !flipper.is_finished() || up + down == 0 {
            let (connected, gateway) = status.link();
            assert_eq!(
                connected,
                gateway.is_some(),
                "connected {connected}, gateway {gateway:?}"
            );
            if connected {
                up += 1;
            } else {
                down += 1;
            }
        }
        flipper.join().expect("the flipper ran");
        assert_eq!(
            status.link(),
            (false, None),
            "the last round took the link down"
        );
    }
}
