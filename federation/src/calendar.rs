//! Calendar dates from Unix milliseconds (UTC, proleptic Gregorian), for ticket-number years
//! and daily call logs. Pure arithmetic: the caller hands in the time.

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

#[cfg(test)]
mod tests {
    use super::*;

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
    }
}
