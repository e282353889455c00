//! Properties of the hybrid logical clock: readings only grow, and the skew bound holds.

use hotline_federation::{Hlc, HybridClock};
use proptest::prelude::*;

#[derive(Clone, Debug)]
enum Event {
    Local { physical: u64 },
    Remote { physical: u64, remote: Hlc },
}

fn event() -> impl Strategy<Value = Event> {
    let physical = 1_000u64..2_000;
    prop_oneof![
        physical
            .clone()
            .prop_map(|physical| Event::Local { physical }),
        (physical, 0u64..3_000, 0u32..4).prop_map(|(physical, wall, logical)| Event::Remote {
            physical,
            remote: Hlc::new(wall, logical),
        }),
    ]
}

const MAX_SKEW: u64 = 500;

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, failure_persistence: None, ..ProptestConfig::default() })]

    /// Whatever physical time does and whatever peers send, every reading is larger than the
    /// last, an accepted remote reading is surpassed, and a refused one changes nothing.
    #[test]
    fn readings_are_monotonic_and_skew_is_bounded(events in prop::collection::vec(event(), 1..64)) {
        let mut clock = HybridClock::new(MAX_SKEW);
        let mut last = clock.last();
        for event in events {
            match event {
                Event::Local { physical } => {
                    let now = clock.now(physical);
                    prop_assert!(now > last);
                    prop_assert!(now.wall_ms >= physical);
                    last = now;
                }
                Event::Remote { physical, remote } => {
                    match clock.observe("erfurt", remote, physical) {
                        Ok(now) => {
                            prop_assert!(remote.wall_ms <= physical + MAX_SKEW);
                            prop_assert!(now > last);
                            prop_assert!(now > remote);
                            last = now;
                        }
                        Err(err) => {
                            prop_assert!(remote.wall_ms > physical + MAX_SKEW);
                            prop_assert_eq!(clock.last(), last);
                            let ahead = remote.wall_ms - physical;
                            let expected = format!("{ahead} ms ahead");
                            prop_assert!(err.to_string().contains(&expected), "{}", err);
                        }
                    }
                }
            }
            // The clock never runs more than the skew ahead of the physical time it has seen.
            prop_assert!(clock.last().wall_ms <= 2_000 + MAX_SKEW + 1);
        }
    }
}
