//! What a site does with its clock after a push: which accepted readings it may build on, and
//! how far its clock goes back when the gateway refused a change as too far ahead
//! (`CLOCK_SKEW`).
//!
//! A site whose clock ran ahead stamped every later write at least as high, so once its clock
//! is right again those would all be refused too. The clock therefore goes back to the highest
//! reading the gateway accepted or sent (`confirmed`), or of an unpushed change within the
//! allowed skew of now; never below a write that stands, so the site's later writes still win
//! over its earlier ones. Unpushed changes stamped beyond the bound would be refused as well,
//! or, pushed late enough, accepted above every write made after the clock goes back: they are
//! parked with the refused one.
//!
//! Pure: the adapter hands in its clock, its readings and the time, and does what the answer
//! says.

use crate::clock::Hlc;

/// The highest reading a site may build on after the gateway accepted `accepted` (each with
/// whether the gateway already held it: a duplicate), starting from `confirmed`. A duplicate's
/// reading stands all the same, unless it is further ahead of `now_ms` than `max_skew_ms`: it
/// may then be an earlier version of the change, stamped by a clock beyond the bound.
pub fn confirmed_after_push(
    confirmed: Hlc,
    accepted: impl IntoIterator<Item = (Hlc, bool)>,
    now_ms: u64,
    max_skew_ms: u64,
) -> Hlc {
    let horizon = now_ms.saturating_add(max_skew_ms);
    accepted
        .into_iter()
        .filter(|(hlc, duplicate)| !*duplicate || hlc.wall_ms <= horizon)
        .map(|(hlc, _)| hlc)
        .fold(confirmed, Hlc::max)
}

/// What a site knows when the gateway refused one of its changes as too far ahead.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RewindInput<'a> {
    /// The last reading the site's clock issued or observed.
    pub clock: Hlc,
    /// The highest reading the gateway accepted or sent (after this push).
    pub confirmed: Hlc,
    /// Whether `confirmed` covers every accepted reading. A store written before the site kept
    /// it does not know its accepted readings; the clock then goes back no further than the
    /// bound allows.
    pub confirmed_known: bool,
    /// The readings of the changes still waiting to be pushed, oldest first.
    pub unpushed: &'a [Hlc],
    /// Physical time now, ms.
    pub now_ms: u64,
    /// How far ahead of the gateway's clock a reading may be.
    pub max_skew_ms: u64,
}

/// What the site does with its clock and its unpushed changes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Rewind {
    /// The reading the clock goes back to; `None` when it stays where it is.
    pub back_to: Option<Hlc>,
    /// Indexes into [`RewindInput::unpushed`] of the changes stamped beyond the bound: park
    /// them with the refused one (a replay gives them a new reading).
    pub doomed: Vec<usize>,
}

/// How far the clock goes back after a `CLOCK_SKEW` refusal, and which unpushed changes go
/// with the refused one.
pub fn rewind(input: &RewindInput<'_>) -> Rewind {
    let horizon = input.now_ms.saturating_add(input.max_skew_ms);
    let mut back_to = if input.confirmed_known {
        input.confirmed
    } else {
        input.confirmed.max(input.clock.min(Hlc::new(horizon, 0)))
    };
    let mut doomed = Vec::new();
    for (index, hlc) in input.unpushed.iter().enumerate() {
        if hlc.wall_ms <= horizon {
            back_to = back_to.max(*hlc);
        } else {
            doomed.push(index);
        }
    }
    Rewind {
        back_to: (back_to < input.clock).then_some(back_to),
        doomed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_800_000_000_000;
    const SKEW: u64 = 300_000;
    const HOUR: u64 = 3_600_000;

    fn input(clock: Hlc, confirmed: Hlc, unpushed: &[Hlc]) -> RewindInput<'_> {
        RewindInput {
            clock,
            confirmed,
            confirmed_known: true,
            unpushed,
            now_ms: NOW,
            max_skew_ms: SKEW,
        }
    }

    /// New acceptances raise the confirmed reading; a duplicate beyond the bound does not, so
    /// an earlier version stamped by a clock that ran ahead cannot hold the clock up.
    #[test]
    fn confirmed_counts_duplicates_only_within_the_bound() {
        let start = Hlc::new(NOW - 10, 0);
        let fresh = Hlc::new(NOW + HOUR, 0);
        assert_eq!(
            confirmed_after_push(start, [(fresh, false)], NOW, SKEW),
            fresh
        );
        assert_eq!(
            confirmed_after_push(start, [(fresh, true)], NOW, SKEW),
            start
        );
        let near = Hlc::new(NOW + SKEW, 3);
        assert_eq!(
            confirmed_after_push(
                start,
                [(near, true), (Hlc::new(NOW - 20, 0), false)],
                NOW,
                SKEW
            ),
            near
        );
        assert_eq!(confirmed_after_push(start, [], NOW, SKEW), start);
    }

    /// The clock goes back to the last accepted reading when nothing else stands above it.
    #[test]
    fn clock_goes_back_to_the_confirmed_reading() {
        let confirmed = Hlc::new(NOW - 1_000, 2);
        let result = rewind(&input(Hlc::new(NOW + HOUR, 0), confirmed, &[]));
        assert_eq!(result.back_to, Some(confirmed));
        assert!(result.doomed.is_empty());
    }

    /// An unpushed change within the bound stands: the clock stays above it, so the site's later
    /// writes still win over it.
    #[test]
    fn unpushed_change_within_the_bound_holds_the_clock_up() {
        let confirmed = Hlc::new(NOW - 1_000, 0);
        let waiting = Hlc::new(NOW + 10, 4);
        let result = rewind(&input(Hlc::new(NOW + HOUR, 0), confirmed, &[waiting]));
        assert_eq!(result.back_to, Some(waiting));
        assert!(result.doomed.is_empty());
    }

    /// Unpushed changes stamped beyond the bound are doomed (parked), and do not hold the clock
    /// up; the ones within it keep their place.
    #[test]
    fn unpushed_changes_beyond_the_bound_are_doomed() {
        let confirmed = Hlc::new(NOW - 1_000, 0);
        let unpushed = [
            Hlc::new(NOW + HOUR, 1),
            Hlc::new(NOW + 5, 0),
            Hlc::new(NOW + SKEW + 1, 0),
        ];
        let result = rewind(&input(Hlc::new(NOW + HOUR, 2), confirmed, &unpushed));
        assert_eq!(result.back_to, Some(Hlc::new(NOW + 5, 0)));
        assert_eq!(result.doomed, vec![0, 2]);
    }

    /// A store that does not know its accepted readings goes back no further than the bound.
    #[test]
    fn unknown_confirmed_goes_back_only_to_the_bound() {
        let result = rewind(&RewindInput {
            confirmed_known: false,
            ..input(Hlc::new(NOW + HOUR, 0), Hlc::default(), &[])
        });
        assert_eq!(result.back_to, Some(Hlc::new(NOW + SKEW, 0)));
        // A clock already within the bound stays where it is.
        let result = rewind(&RewindInput {
            confirmed_known: false,
            ..input(Hlc::new(NOW + 10, 0), Hlc::default(), &[])
        });
        assert_eq!(result.back_to, None);
    }

    /// The clock never moves forward here, and stays put when nothing lies below it.
    #[test]
    fn clock_never_moves_forward() {
        let clock = Hlc::new(NOW, 0);
        let result = rewind(&input(clock, Hlc::new(NOW + 50, 0), &[]));
        assert_eq!(result.back_to, None);
        let result = rewind(&input(clock, clock, &[]));
        assert_eq!(result.back_to, None);
    }
}
