//! Calendar dates from Unix milliseconds (UTC, proleptic Gregorian), for ticket-number years,
//! daily call logs and the reporting periods of service figures (hour, day, ISO week, month).
//! Pure arithmetic: the caller hands in the time.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result, quote};

const HOUR_MS: u64 = 3_600_000;
const DAY_MS: u64 = 86_400_000;

/// The UTC calendar date `(year, month 1-12, day 1-31)` of `ms` since the Unix epoch.
pub fn civil_date(ms: u64) -> (u32, u32, u32) {
    let days = (ms / 86_400_000) as i64;
    // Count from 0000-03-01, so each 400-year era ends with its leap day.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * month_index + 2) / 5 + 1) as u32;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year as u32, month, day)
}

/// `yyyy-mm-dd` of `ms`.
pub fn iso_date(ms: u64) -> String {
    let (year, month, day) = civil_date(ms);
    format!("{year:04}-{month:02}-{day:02}")
}

/// Days since the Unix epoch of the UTC date `year-month-day` (month 1-12, day 1-31).
pub fn days_from_civil(year: u32, month: u32, day: u32) -> i64 {
    let year = i64::from(year) - i64::from(month <= 2);
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month = i64::from(month);
    let month_index = if month > 2 { month - 3 } else { month + 9 };
    let day_of_year = (153 * month_index + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// Days in `month` of `year`.
fn month_days(year: u32, month: u32) -> u32 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// The Monday (days since the epoch) that starts ISO week 1 of `year`.
fn iso_week_one(year: u32) -> i64 {
    let jan4 = days_from_civil(year, 1, 4);
    // 1970-01-01 was a Thursday: Monday is 0 here.
    jan4 - (jan4 + 3).rem_euclid(7)
}

/// How long a reporting period is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PeriodKind {
    /// One clock hour, e.g. `2026-07-14T09`.
    Hour,
    /// One UTC day, e.g. `2026-07-14`.
    Day,
    /// One ISO week (Monday to Sunday), e.g. `2026-W29`.
    Week,
    /// One calendar month, e.g. `2026-07`.
    Month,
}

/// One reporting period in UTC: its kind and the millisecond it starts at.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Period {
    /// Hour, day, week or month.
    pub kind: PeriodKind,
    /// Its first millisecond since the Unix epoch.
    pub start_ms: u64,
}

/// What a period may be written as, for error messages.
pub const PERIOD_FORMATS: &str =
    "yyyy-mm (month), yyyy-Www (ISO week), yyyy-mm-dd (day) or yyyy-mm-ddThh (hour), in UTC";

impl Period {
    /// The period of `kind` that holds the millisecond `ms`.
    pub fn containing(kind: PeriodKind, ms: u64) -> Period {
        let start_ms = match kind {
            PeriodKind::Hour => ms - ms % HOUR_MS,
            PeriodKind::Day => ms - ms % DAY_MS,
            PeriodKind::Week => {
                let days = (ms / DAY_MS) as i64;
                (days - (days + 3).rem_euclid(7)).max(0) as u64 * DAY_MS
            }
            PeriodKind::Month => {
                let (year, month, _) = civil_date(ms);
                days_from_civil(year, month, 1) as u64 * DAY_MS
            }
        };
        Period { kind, start_ms }
    }

    /// Reads `2026-07`, `2026-W27`, `2026-07-14` or `2026-07-14T09`.
    pub fn parse(text: &str) -> Result<Period> {
        let bad = || {
            Error::invalid(
                "period",
                format!("{} is not a period; allowed: {PERIOD_FORMATS}", quote(text)),
            )
        };
        let number = |part: &str, digits: usize, low: u32, high: u32| -> Result<u32> {
            if part.len() != digits || !part.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad());
            }
            let value: u32 = part.parse().map_err(|_| bad())?;
            if value < low || value > high {
                return Err(bad());
            }
            Ok(value)
        };
        let (date, hour) = match text.split_once('T') {
            Some((date, hour)) => (date, Some(number(hour, 2, 0, 23)?)),
            None => (text, None),
        };
        let parts: Vec<&str> = date.split('-').collect();
        let year = number(parts.first().copied().unwrap_or(""), 4, 1970, 9999)?;
        let days = |days: i64| days as u64 * DAY_MS;
        match (parts.as_slice(), hour) {
            ([_, week], None) if week.starts_with('W') => {
                let week = number(&week[1..], 2, 1, 53)?;
                let start = iso_week_one(year) + 7 * i64::from(week - 1);
                if week == 53 && iso_week_one(year + 1) <= start {
                    return Err(bad());
                }
                Ok(Period {
                    kind: PeriodKind::Week,
                    start_ms: days(start.max(0)),
                })
            }
            ([_, month], None) => Ok(Period {
                kind: PeriodKind::Month,
                start_ms: days(days_from_civil(year, number(month, 2, 1, 12)?, 1)),
            }),
            ([_, month, day], hour) => {
                let month = number(month, 2, 1, 12)?;
                let day = number(day, 2, 1, month_days(year, month))?;
                let start = days(days_from_civil(year, month, day));
                Ok(match hour {
                    Some(hour) => Period {
                        kind: PeriodKind::Hour,
                        start_ms: start + u64::from(hour) * HOUR_MS,
                    },
                    None => Period {
                        kind: PeriodKind::Day,
                        start_ms: start,
                    },
                })
            }
            _ => Err(bad()),
        }
    }

    /// The first millisecond after the period.
    pub fn end_ms(self) -> u64 {
        match self.kind {
            PeriodKind::Hour => self.start_ms + HOUR_MS,
            PeriodKind::Day => self.start_ms + DAY_MS,
            PeriodKind::Week => self.start_ms + 7 * DAY_MS,
            PeriodKind::Month => {
                let (year, month, _) = civil_date(self.start_ms);
                self.start_ms + u64::from(month_days(year, month)) * DAY_MS
            }
        }
    }

    /// True when `ms` falls in the period.
    pub fn contains(self, ms: u64) -> bool {
        self.start_ms <= ms && ms < self.end_ms()
    }

    /// The periods of the finer `kind` that tile this one, in order. Weeks do not tile months,
    /// so only hours, days (of weeks and months) and the period itself are allowed.
    pub fn split(self, kind: PeriodKind) -> Result<Vec<Period>> {
        let step = match kind {
            _ if kind == self.kind => return Ok(vec![self]),
            PeriodKind::Hour => HOUR_MS,
            PeriodKind::Day if matches!(self.kind, PeriodKind::Week | PeriodKind::Month) => DAY_MS,
            _ => {
                return Err(Error::invalid(
                    "split",
                    format!(
                        "a {} does not split into {}s; allowed: hours of any period, days of \
                         weeks and months, or the period itself",
                        self.kind.as_str(),
                        kind.as_str()
                    ),
                ));
            }
        };
        Ok((self.start_ms..self.end_ms())
            .step_by(step as usize)
            .map(|start_ms| Period { kind, start_ms })
            .collect())
    }
}

impl PeriodKind {
    /// The lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            PeriodKind::Hour => "hour",
            PeriodKind::Day => "day",
            PeriodKind::Week => "week",
            PeriodKind::Month => "month",
        }
    }
}

impl fmt::Display for Period {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (year, month, day) = civil_date(self.start_ms);
        match self.kind {
            PeriodKind::Hour => write!(
                f,
                "{year:04}-{month:02}-{day:02}T{:02}",
                self.start_ms % DAY_MS / HOUR_MS
            ),
            PeriodKind::Day => write!(f, "{year:04}-{month:02}-{day:02}"),
            PeriodKind::Week => {
                // The ISO year is the year of the week's Thursday.
                let (iso_year, _, _) = civil_date(self.start_ms + 3 * DAY_MS);
                let days = (self.start_ms / DAY_MS) as i64;
                let week = (days - iso_week_one(iso_year)) / 7 + 1;
                write!(f, "{iso_year:04}-W{week:02}")
            }
            PeriodKind::Month => write!(f, "{year:04}-{month:02}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each period form reads back to the text it was written as, and bad forms name the
    /// allowed ones, so `--period` typos get a useful answer.
    #[test]
    fn periods_parse_and_print() {
        for text in [
            "2026-07",
            "2026-W27",
            "2026-07-14",
            "2026-07-14T09",
            "2020-W53",
            "2026-W53",
            "2027-W01",
        ] {
            assert_eq!(Period::parse(text).unwrap().to_string(), text);
        }
        let week = Period::parse("2026-W01").unwrap();
        assert_eq!(iso_date(week.start_ms), "2025-12-29");
        assert_eq!(week.end_ms() - week.start_ms, 7 * DAY);
        let feb = Period::parse("2024-02").unwrap();
        assert_eq!(feb.end_ms() - feb.start_ms, 29 * DAY);
        for bad in [
            "2026-13",
            "2026-7",
            "2026-W54",
            "2025-W53",
            "2026-02-30",
            "2026-07-14T24",
            "x",
        ] {
            let err = Period::parse(bad).unwrap_err().to_string();
            assert!(err.contains("yyyy-Www"), "{bad}: {err}");
        }
        let day = Period::parse("2026-07-14").unwrap();
        assert_eq!(
            Period::containing(PeriodKind::Month, day.start_ms).to_string(),
            "2026-07"
        );
        assert_eq!(
            Period::containing(PeriodKind::Week, day.start_ms).to_string(),
            "2026-W29"
        );
        assert_eq!(day.split(PeriodKind::Hour).unwrap().len(), 24);
        assert!(
            Period::parse("2026-07")
                .unwrap()
                .split(PeriodKind::Week)
                .is_err()
        );
    }

    const DAY: u64 = 86_400_000;

    /// Dates around New Year, leap days and the epoch come out as the calendar says.
    #[test]
    fn dates_match_the_calendar() {
        assert_eq!(civil_date(0), (1970, 1, 1));
        assert_eq!(civil_date(20_783 * DAY), (2026, 11, 26));
        assert_eq!(civil_date(20_088 * DAY + DAY - 1), (2024, 12, 31));
        assert_eq!(civil_date(20_089 * DAY), (2025, 1, 1));
        assert_eq!(civil_date(19_782 * DAY), (2024, 2, 29));
        assert_eq!(civil_date(19_783 * DAY), (2024, 3, 1));
        assert_eq!(iso_date(20_783 * DAY), "2026-11-26");
        for days in [0, 19_782, 19_783, 20_088, 20_089, 20_783] {
            let (y, m, d) = civil_date(days as u64 * DAY);
            assert_eq!(days_from_civil(y, m, d), days);
        }
    }
}
