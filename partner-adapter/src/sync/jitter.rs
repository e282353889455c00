//! The random part of the reconnect delay.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The random part of the reconnect delay: a small xorshift generator, seeded from the clock in
/// production and from a fixed seed in simulations, so a simulated run replays.
#[derive(Clone, Debug)]
pub struct Jitter {
    state: u64,
}

impl Jitter {
    /// A generator that always yields the same sequence for `seed`.
    pub fn seeded(seed: u64) -> Self {
        // splitmix64 spreads small seeds; xorshift needs a non-zero state.
        let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        Jitter {
            state: (z ^ (z >> 31)) | 1,
        }
    }

    /// A generator seeded from the system clock.
    pub fn from_clock() -> Self {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        Self::seeded(nanos)
    }

    /// Between half and the full `delay`, so sites that lost the gateway together do not
    /// return in lockstep.
    pub fn apply(&mut self, delay: Duration) -> Duration {
        let mut x = self.state;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.state = x;
        let unit = (x >> 11) as f64 / (1u64 << 53) as f64;
        delay.mul_f64(0.5 + unit / 2.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A seeded jitter replays exactly and stays between half and the full delay, so a
    /// simulated run that fails can be replayed and real sites still spread out.
    #[test]
    fn seeded_jitter_replays_within_bounds() {
        let delay = Duration::from_millis(1000);
        let run = |seed| {
            let mut jitter = Jitter::seeded(seed);
            (0..100).map(|_| jitter.apply(delay)).collect::<Vec<_>>()
        };
        assert_eq!(run(7), run(7));
        assert_ne!(run(7), run(8));
        for pause in run(7) {
            assert!(pause >= delay / 2 && pause <= delay, "{pause:?}");
        }
    }
}
