//! The system clock, read in one place: milliseconds since the Unix epoch.

use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch from the system clock (0 if the clock reads before it).
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The clock reads a time after this code was written, so a zero (unset) clock is noticed.
    #[test]
    fn reads_a_plausible_time() {
        assert!(now_ms() > 1_780_000_000_000, "{}", now_ms());
    }
}
