//! Review periods in UTC: ISO weeks (Monday to Monday), pairs of ISO weeks counted from the
//! ISO week that holds 1970-01-01 (week index 0, so a pair starts at every even week index),
//! and calendar months. A period is half-open: `start_ms <= t < end_ms`.
//!
//! Labels name a period in reports and ids: `2026-W27` (week), `2026-W27-W28` (pair of weeks,
//! named by its first week's ISO year), `2026-07` (month). [`Period::parse`] reads them back.

use serde::{Deserialize, Serialize};

use crate::calendar::civil_date;
use crate::error::{Error, Result, quote};
use crate::model::ReviewCadence;

const DAY_MS: i64 = 86_400_000;
const WEEK_MS: i64 = 7 * DAY_MS;

/// One review period of a cadence.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Period {
    /// The cadence it belongs to.
    pub cadence: ReviewCadence,
    /// First millisecond (UTC), inclusive.
    pub start_ms: u64,
    /// End (UTC), exclusive.
    pub end_ms: u64,
    /// Its label, e.g. `2026-W27`.
    pub label: String,
}

/// Days since 1970-01-01 of a UTC calendar date (proleptic Gregorian).
pub fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let year_of_era = y - era * 400;
    let m = i64::from(month);
    let day_of_year = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// The index of the Monday-based week holding `days` since the epoch (week 0 starts on
/// Monday 1969-12-29).
fn week_index(days: i64) -> i64 {
    (days + 3).div_euclid(7)
}

/// Days since the epoch of the Monday that starts week `week`.
fn week_start_day(week: i64) -> i64 {
    week * 7 - 3
}

/// ISO year and week number of week index `week`: the year of its Thursday.
fn iso_week(week: i64) -> (i64, u32) {
    let thursday = week_start_day(week) + 3;
    let (year, _, _) = civil_date((thursday.max(0) * DAY_MS) as u64);
    let year = i64::from(year);
    let day_of_year = thursday - days_from_civil(year, 1, 1);
    (year, (day_of_year / 7 + 1) as u32)
}

/// The week index of ISO week `number` of ISO `year`, if that week exists.
fn week_of_iso(year: i64, number: u32) -> Option<i64> {
    if number == 0 || number > 53 {
        return None;
    }
    // 4 January is always in week 1.
    let week = week_index(days_from_civil(year, 1, 4)) + i64::from(number) - 1;
    (iso_week(week) == (year, number)).then_some(week)
}

fn to_ms(days: i64) -> u64 {
    (days * DAY_MS).max(0) as u64
}

fn week_label(week: i64) -> String {
    let (year, number) = iso_week(week);
    format!("{year:04}-W{number:02}")
}

impl Period {
    /// The period of `cadence` that holds the instant `ms`.
    pub fn containing(cadence: ReviewCadence, ms: u64) -> Period {
        let days = (ms as i64).div_euclid(DAY_MS);
        match cadence {
            ReviewCadence::Weekly => Self::weeks(cadence, week_index(days), 1),
            ReviewCadence::Biweekly => {
                let first = week_index(days).div_euclid(2) * 2;
                Self::weeks(cadence, first, 2)
            }
            ReviewCadence::Monthly => {
                let (year, month, _) = civil_date(ms);
                Self::month(i64::from(year), month)
            }
        }
    }

    /// The newest period of `cadence` that has ended at `now_ms` (the one before the period
    /// holding `now_ms`).
    pub fn last_ended(cadence: ReviewCadence, now_ms: u64) -> Period {
        Period::containing(cadence, now_ms).previous()
    }

    /// The period just before this one.
    pub fn previous(&self) -> Period {
        Period::containing(self.cadence, self.start_ms.saturating_sub(1))
    }

    /// The period just after this one.
    pub fn next(&self) -> Period {
        Period::containing(self.cadence, self.end_ms)
    }

    /// True when `ms` lies in the period.
    pub fn contains(&self, ms: u64) -> bool {
        self.start_ms <= ms && ms < self.end_ms
    }

    fn weeks(cadence: ReviewCadence, first: i64, count: i64) -> Period {
        let start = week_start_day(first);
        let label = if count == 1 {
            week_label(first)
        } else {
            let (_, last) = iso_week(first + 1);
            format!("{}-W{last:02}", week_label(first))
        };
        Period {
            cadence,
            start_ms: to_ms(start),
            end_ms: (start * DAY_MS + count * WEEK_MS).max(0) as u64,
            label,
        }
    }

    fn month(year: i64, month: u32) -> Period {
        let (next_year, next_month) = if month == 12 {
            (year + 1, 1)
        } else {
            (year, month + 1)
        };
        Period {
            cadence: ReviewCadence::Monthly,
            start_ms: to_ms(days_from_civil(year, month, 1)),
            end_ms: to_ms(days_from_civil(next_year, next_month, 1)),
            label: format!("{year:04}-{month:02}"),
        }
    }

    /// Reads a label back: `2026-W27` (weekly), `2026-W27-W28` (biweekly, whose first week
    /// must start a pair), `2026-07` (monthly).
    pub fn parse(field: &str, label: &str) -> Result<Period> {
        let bad = |why: &str| {
            Error::invalid(
                field,
                format!(
                    "{} is not a review period{why}; allowed: 2026-W27 (ISO week), \
                     2026-W27-W28 (pair of ISO weeks) or 2026-07 (month)",
                    quote(label)
                ),
            )
        };
        let number = |text: &str, digits: usize| -> Result<i64> {
            if text.len() != digits || !text.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad(""));
            }
            text.parse::<i64>().map_err(|_| bad(""))
        };
        let (year, rest) = label.split_once('-').ok_or_else(|| bad(""))?;
        let year = number(year, 4)?;
        if let Some(weeks) = rest.strip_prefix('W') {
            let (first, second) = match weeks.split_once("-W") {
                Some((first, second)) => (first, Some(second)),
                None => (weeks, None),
            };
            let week = week_of_iso(year, number(first, 2)? as u32)
                .ok_or_else(|| bad(" (that ISO year has no such week)"))?;
            let period = match second {
                None => Self::weeks(ReviewCadence::Weekly, week, 1),
                Some(_) if week.rem_euclid(2) != 0 => {
                    return Err(bad(" (week pairs start at the other week)"));
                }
                Some(_) => Self::weeks(ReviewCadence::Biweekly, week, 2),
            };
            if period.label != label {
                return Err(bad(""));
            }
            return Ok(period);
        }
        let month = number(rest, 2)?;
        if !(1..=12).contains(&month) {
            return Err(bad(" (months are 01 to 12)"));
        }
        Ok(Self::month(year, month as u32))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const DAY: u64 = 86_400_000;

    fn ms(year: i64, month: u32, day: u32) -> u64 {
        to_ms(days_from_civil(year, month, day))
    }

    /// ISO weeks match the calendar at year ends (2026-W53 exists, 2021-01-03 is in 2020-W53),
    /// so a weekly report is named as staff calendars name the week.
    #[test]
    fn iso_weeks_match_the_calendar() {
        let week = Period::containing(ReviewCadence::Weekly, ms(2026, 7, 1) + 5);
        assert_eq!(week.label, "2026-W27");
        assert_eq!(week.start_ms, ms(2026, 6, 29));
        assert_eq!(week.end_ms, ms(2026, 7, 6));
        let year_end = Period::containing(ReviewCadence::Weekly, ms(2021, 1, 3));
        assert_eq!(year_end.label, "2020-W53");
        let w53 = Period::containing(ReviewCadence::Weekly, ms(2026, 12, 31));
        assert_eq!(w53.label, "2026-W53");
        assert_eq!(w53.next().label, "2027-W01");
        let month = Period::containing(ReviewCadence::Monthly, ms(2024, 2, 29) + DAY - 1);
        assert_eq!(month.label, "2024-02");
        assert_eq!(month.end_ms, ms(2024, 3, 1));
    }

    /// Bad labels are refused with the allowed forms, including a pair that starts at the
    /// second week of a pair.
    #[test]
    fn bad_labels_are_refused() {
        for label in [
            "2026",
            "2026-W54",
            "2026-13",
            "26-07",
            "2026-W27-W29",
            "2026-W27-W27",
            "x",
        ] {
            let err = Period::parse("period", label).unwrap_err().to_string();
            assert!(err.contains("allowed: 2026-W27"), "{label}: {err}");
        }
        let parsed = ["2026-W27-W28", "2026-W28-W29"].map(|l| Period::parse("p", l).is_ok());
        assert_eq!(parsed.iter().filter(|ok| **ok).count(), 1, "{parsed:?}");
    }

    /// Periods that begin before the epoch are clipped to start at 0: the instant 0 still
    /// lies in one period of each cadence, and nothing lies before it.
    #[test]
    fn the_first_periods_are_clipped_at_the_epoch() {
        for cadence in ReviewCadence::ALL.iter().copied() {
            let first = Period::containing(cadence, 0);
            assert_eq!(first.start_ms, 0, "{cadence:?}");
            assert!(first.contains(0) && first.end_ms > 0, "{first:?}");
            assert_eq!(first.next().start_ms, first.end_ms, "{cadence:?}");
        }
        let week = Period::containing(ReviewCadence::Weekly, 0);
        assert_eq!((week.label.as_str(), week.end_ms), ("1970-W01", 4 * DAY));
    }

    proptest! {
        /// Every instant lies in exactly one period of each cadence, periods tile time
        /// without gaps, and each label reads back to the same period. The instants start in
        /// 1970-03, so that the period before each one also begins after the epoch (the
        /// clipped first periods are the test above).
        #[test]
        fn periods_tile_time_and_labels_round_trip(t in 60 * DAY..4_102_444_800_000) {
            for cadence in ReviewCadence::ALL.iter().copied() {
                let period = Period::containing(cadence, t);
                prop_assert!(period.contains(t));
                prop_assert_eq!(period.next().start_ms, period.end_ms);
                prop_assert_eq!(period.previous().end_ms, period.start_ms);
                prop_assert_eq!(&Period::parse("p", &period.label).unwrap(), &period);
                let length_days = (period.end_ms - period.start_ms) / DAY;
                match cadence {
                    ReviewCadence::Weekly => prop_assert_eq!(length_days, 7),
                    ReviewCadence::Biweekly => prop_assert_eq!(length_days, 14),
                    ReviewCadence::Monthly => prop_assert!((28..=31).contains(&length_days)),
                }
            }
        }
    }
}
