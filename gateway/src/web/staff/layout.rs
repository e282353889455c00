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
.bad{color:#a10000;font-weight:700}.good{color:#0a6b1f}.none{color:#555;font-style:italic}
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
