//! The status page's rate limits, in memory and bounded: attempts per client address per
//! minute, and wrong codes per typed ticket number per 15 minutes (whether that ticket exists
//! or not, so the limit itself tells nothing). Each key has a fixed window; when the table is
//! full of live windows a new key is refused (fail closed) rather than an old one forgotten,
//! which would hand an attacker a fresh budget.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

/// One kind of limit: at most `limit` events per key per `window`.
#[derive(Debug)]
pub(super) struct WindowLimit {
    limit: u32,
    window: Duration,
    capacity: usize,
    windows: Mutex<HashMap<String, (Instant, u32)>>,
}

impl WindowLimit {
    /// At most `limit` per key per `window`, tracking at most `capacity` keys.
    pub(super) fn new(limit: u32, window: Duration, capacity: usize) -> Self {
        WindowLimit {
            limit,
            window,
            capacity,
            windows: Mutex::new(HashMap::new()),
        }
    }

    /// Counts one event for `key`; false when it is over the limit (the event is not
    /// allowed).
    pub(super) fn hit(&self, key: &str, now: Instant) -> bool {
        self.count(key, now, true)
    }

    /// False when `key` has used up its window, without counting anything.
    #[cfg(test)]
    pub(super) fn allows(&self, key: &str, now: Instant) -> bool {
        self.count(key, now, false)
    }

    /// Gives back one event counted for `key` (a reserved attempt that turned out not to be a
    /// failure).
    pub(super) fn refund(&self, key: &str) {
        if let Some(entry) = self.windows.lock().get_mut(key) {
            entry.1 = entry.1.saturating_sub(1);
        }
    }

    fn count(&self, key: &str, now: Instant, add: bool) -> bool {
        let mut windows = self.windows.lock();
        if !windows.contains_key(key) && windows.len() >= self.capacity {
            let window = self.window;
            windows.retain(|_, (start, _)| now.duration_since(*start) < window);
            if windows.len() >= self.capacity {
                tracing::warn!(
                    capacity = self.capacity,
                    "rate limit table full; refusing new clients until windows end"
                );
                return false;
            }
        }
        if !add && !windows.contains_key(key) {
            return true;
        }
        let entry = windows.entry(key.to_owned()).or_insert((now, 0));
        if now.duration_since(entry.0) >= self.window {
            *entry = (now, 0);
        }
        if entry.1 >= self.limit {
            return false;
        }
        if add {
            entry.1 += 1;
        }
        true
    }
}

/// The ticket-number key of a typed number: trimmed, upper case, at most 40 characters, so
/// spellings of one number share a budget and a long input cannot grow the table's memory.
pub(super) fn ticket_key(typed: &str) -> String {
    typed.trim().to_uppercase().chars().take(40).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The limit allows exactly `limit` events per window and opens again after it.
    #[test]
    fn window_allows_limit_then_refuses_until_it_ends() {
        let limit = WindowLimit::new(3, Duration::from_secs(60), 100);
        let start = Instant::now();
        for _ in 0..3 {
            assert!(limit.hit("a", start));
        }
        assert!(!limit.hit("a", start));
        assert!(!limit.allows("a", start));
        assert!(limit.hit("b", start));
        assert!(limit.hit("a", start + Duration::from_secs(60)));
    }

    /// A full table refuses new keys while their windows live, and makes room once they end.
    #[test]
    fn full_table_fails_closed() {
        let limit = WindowLimit::new(5, Duration::from_secs(60), 2);
        let start = Instant::now();
        assert!(limit.hit("a", start));
        assert!(limit.hit("b", start));
        assert!(!limit.hit("c", start));
        assert!(limit.hit("a", start));
        assert!(limit.hit("c", start + Duration::from_secs(61)));
    }
}
