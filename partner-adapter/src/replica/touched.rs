//! Which entities the latest log entries touched, so a fetch answer that is older than the
//! replica's cursor can still be used for an entity no later entry touched.

use std::collections::VecDeque;

use hotline_federation::model::EntityKey;

/// How many recent (log position, entity) touches the replica remembers.
const TOUCHES_KEPT: usize = 65_536;

/// The recent touches, kept in memory (a restart forgets them up to the stored cursor).
#[derive(Debug, Default)]
pub(super) struct Touched {
    /// (log position, entity), oldest first.
    recent: VecDeque<(u64, EntityKey)>,
    /// Touches up to this position are not remembered (before the start, evicted, or behind
    /// a snapshot).
    forgotten_up_to: u64,
    /// Snapshot chunks have replaced local states but its end has not arrived.
    snapshot_open: bool,
}

impl Touched {
    /// Forgets every touch up to `position` (the start, at the stored cursor).
    pub(super) fn forget_up_to(&mut self, position: u64) {
        self.forgotten_up_to = position;
    }

    /// Notes that the log entry at `position` touched `key`.
    pub(super) fn record(&mut self, position: u64, key: &EntityKey) {
        self.recent.push_back((position, key.clone()));
        while self.recent.len() > TOUCHES_KEPT {
            if let Some((evicted, _)) = self.recent.pop_front() {
                self.forgotten_up_to = self.forgotten_up_to.max(evicted);
            }
        }
    }

    /// Snapshot chunks are being applied: no answer is current until the snapshot ends.
    pub(super) fn snapshot_begun(&mut self) {
        self.snapshot_open = true;
    }

    /// A snapshot ended at `as_of`: everything up to it came whole; nothing older is known.
    pub(super) fn snapshot_ended(&mut self, as_of: u64) {
        self.snapshot_open = false;
        self.recent.clear();
        self.forgotten_up_to = self.forgotten_up_to.max(as_of);
    }

    /// Whether an answer reflecting the log up to `as_of` holds everything the replica (at
    /// `cursor`) has applied to `key`.
    pub(super) fn current(&self, key: &EntityKey, as_of: u64, cursor: u64) -> bool {
        if self.snapshot_open {
            return false;
        }
        if as_of >= cursor {
            return true;
        }
        as_of >= self.forgotten_up_to
            && !self
                .recent
                .iter()
                .rev()
                .take_while(|(position, _)| *position > as_of)
                .any(|(_, touched)| touched == key)
    }
}
