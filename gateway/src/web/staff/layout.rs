//! The frame of every staff page: title, navigation, who is signed in, the sign-out button,
//! and the one stylesheet (served from `/staff/style.css`, as the CSP allows no inline style).

use std::fmt::Write;

pub(in crate::web) use super::super::pages::escape;
use super::Session;

/// The navigation: path and label of every page, in order. Pages of review reports and the
/// audit browser live in `reviews.rs` and `audit.rs`.
pub const NAV: &[(&str, &str)] = &[
    ("/staff/", "Overview"),
    ("/staff/sites", "Sync health"),
    ("/staff/reviews", "Review reports"),
    ("/staff/audit", "Audit trail"),
];

/// The stylesheet of every staff page.
pub const STYLE: &str = "\
body{font-family:system-ui,sans-serif;margin:0;color:#1a1a1a;background:#fafafa}
header{background:#0b5394;color:#fff;padding:.6rem 1.2rem;display:flex;gap:1.2rem;align-items:center;flex-wrap:wrap}
header nav{display:flex;gap:1rem}header a{color:#fff}header a.here{font-weight:700;text-decoration:none}
header form{margin-left:auto}header .who{opacity:.9}
main{padding:1rem 1.2rem;max-width:70rem}
table{border-collapse:collapse;margin:.8rem 0}
th,td{border:1px solid #bbb;padding:.3rem .6rem;text-align:left}td{white-space:nowrap}
th{background:#e8eef5}td.num{text-align:right;font-variant-numeric:tabular-nums}
.bad{color:#a10000;font-weight:700}.ok{color:#0a6b1f;font-weight:700}
form.filters{display:flex;gap:.6rem;flex-wrap:wrap;align-items:end}form.filters label{display:flex;flex-direction:column}
form.score{border:1px solid #ccc;background:#fff;padding:.5rem;margin:.5rem 0}form.score label{margin-right:1rem}
td.detail{white-space:normal;max-width:28rem;word-break:break-all;font-family:monospace}.good{color:#0a6b1f}.none{color:#555;font-style:italic}
svg{background:#fff;border:1px solid #ccc;margin:.5rem 0;max-width:100%}
svg text{font-family:system-ui,sans-serif;font-size:12px;fill:#1a1a1a}
";

/// A whole page: `title`, the navigation with `here` marked, who is signed in, and `body`
/// (already escaped HTML).
pub fn page(title: &str, here: &str, session: &Session, body: &str) -> String {
    let mut nav = String::new();
    for (path, label) in NAV {
        let class = if *path == here { " class=\"here\"" } else { "" };
        let _ = write!(nav, "<a href=\"{path}\"{class}>{label}</a>");
    }
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title} · Staff dashboard</title><link rel=\"stylesheet\" href=\"/staff/style.css\">\
         </head><body><header><strong>Staff dashboard</strong><nav>{nav}</nav>\
         <span class=\"who\">{staff} ({role})</span>\
         <form method=\"post\" action=\"/staff/signout\"><button type=\"submit\">Sign out</button></form>\
         </header><main><h1>{title}</h1>{body}</main></body></html>\n",
        title = escape(title),
        staff = escape(&session.staff),
        role = session.role,
    )
}

/// A page without navigation (sign-in answers, refusals): `body` is already escaped HTML.
pub fn bare(title: &str, body: &str) -> String {
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>{title} · Staff dashboard</title><link rel=\"stylesheet\" href=\"/staff/style.css\">\
         </head><body><header><strong>Staff dashboard</strong></header><main><h1>{title}</h1>{body}\
         </main></body></html>\n",
        title = escape(title),
    )
}

/// A share as a percentage with one decimal, e.g. `76.5 %`.
pub fn percent(share: f64) -> String {
    format!("{:.1} %", share * 100.0)
}

/// Milliseconds since the Unix epoch as `YYYY-MM-DD HH:MM:SS UTC`.
pub fn utc(ms: u64) -> String {
    let secs = ms / 1000;
    let (days, rest) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil(days as i64);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} UTC",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

/// A time typed into a filter, read as UTC: `YYYY-MM-DD`, optionally followed (after a space
/// or `T`) by `HH:MM` or `HH:MM:SS`; ms since the Unix epoch. `what` names the field in the
/// error, which says what is allowed.
pub fn parse_utc(what: &str, text: &str) -> Result<u64, String> {
    let text = text.trim();
    let bad = || {
        format!(
            "{what}: {text:?} is not a time; allowed: YYYY-MM-DD or YYYY-MM-DD HH:MM[:SS] (UTC), \
             e.g. 2026-03-01 14:30"
        )
    };
    let (date, clock) = match text.split_once([' ', 'T']) {
        Some((date, clock)) => (date, clock.trim()),
        None => (text, ""),
    };
    let number = |part: &str, digits: usize| -> Result<u32, String> {
        if part.len() != digits || !part.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        part.parse().map_err(|_| bad())
    };
    let mut parts = date.split('-');
    let (Some(y), Some(m), Some(d), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad());
    };
    let (y, m, d) = (number(y, 4)?, number(m, 2)?, number(d, 2)?);
    let days = days_from_civil(i64::from(y), m, d).ok_or_else(bad)?;
    let mut secs = 0;
    if !clock.is_empty() {
        let fields: Vec<&str> = clock.split(':').collect();
        if !(2..=3).contains(&fields.len()) {
            return Err(bad());
        }
        let limits = [23, 59, 59];
        for (at, field) in fields.iter().enumerate() {
            let value = number(field, 2)?;
            if value > limits[at] {
                return Err(bad());
            }
            secs = secs * 60 + u64::from(value);
        }
        if fields.len() == 2 {
            secs *= 60;
        }
    }
    let days = u64::try_from(days).map_err(|_| bad())?;
    Ok((days * 86_400 + secs) * 1000)
}

/// Days since 1970-01-01 of a valid date, `None` for a date that does not exist.
fn days_from_civil(y: i64, m: u32, d: u32) -> Option<i64> {
    if !(1..=12).contains(&m) || d == 0 {
        return None;
    }
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = i64::from((m + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    // Round trip: 2026-02-30 comes back as March and is refused.
    (civil(days).2 == d).then_some(days)
}

/// `text` percent-encoded for a URL query value or path segment (unreserved bytes kept).
pub fn url_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-_.~".contains(&byte) {
            out.push(char::from(byte));
        } else {
            let _ = write!(out, "%{byte:02X}");
        }
    }
    out
}

/// Days since 1970-01-01 as a proleptic Gregorian date (year, month, day).
fn civil(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::StaffRole;

    /// Dates render as a reader expects, including a leap day.
    #[test]
    fn utc_renders_dates() {
        assert_eq!(utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(utc(1_709_210_096_000), "2024-02-29 12:34:56 UTC");
    }

    /// Filter times read as UTC in both accepted forms and round-trip through `utc`; an
    /// impossible date or a malformed time is refused naming the field and the format.
    #[test]
    fn filter_times_parse_or_say_what_is_allowed() {
        assert_eq!(
            parse_utc("from", "2024-02-29 12:34:56"),
            Ok(1_709_210_096_000)
        );
        assert_eq!(parse_utc("from", "2024-02-29T12:34"), Ok(1_709_210_040_000));
        assert_eq!(parse_utc("from", "1970-01-02"), Ok(86_400_000));
        for bad in [
            "2026-02-30",
            "2026-13-01",
            "26-01-01",
            "2026-01-01 25:00",
            "yesterday",
        ] {
            let error = parse_utc("to", bad).unwrap_err();
            assert!(
                error.starts_with("to: ") && error.contains("YYYY-MM-DD"),
                "{error}"
            );
        }
        assert_eq!(url_encode("a b&c/é"), "a%20b%26c%2F%C3%A9");
    }

    /// A staff name with markup is escaped in the frame, so a crafted name cannot inject.
    #[test]
    fn frame_escapes_the_staff_name() {
        let session = Session {
            staff: "<b>x</b>".into(),
            role: StaffRole::Auditor,
            started_ms: 0,
            last_ms: 0,
        };
        let html = page("T", "/staff/", &session, "");
        assert!(html.contains("&lt;b&gt;x&lt;/b&gt; (auditor)"), "{html}");
        assert!(!html.contains("<b>x"));
    }
}
