//! `/staff/sites`: sync health per registered site from [`crate::health::site_health`]: last
//! seen, lag, outbox depth, dead letters and clock offset, each flagged when it needs a look,
//! and the closed tickets each site purged for retention.

use std::fmt::Write;
use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;

use super::layout::{self, escape, utc};
use super::{html, sign_in_first, signed_in};
use crate::health::{SiteHealth, site_health};
use crate::state::GatewayState;

/// A site not heard from for this long is flagged silent, ms.
const SILENT_MS: u64 = 5 * 60 * 1000;

/// The table of `sites` as of `now_ms`; `max_skew_ms` flags a clock ahead by more.
pub fn render(sites: &[SiteHealth], now_ms: u64, max_skew_ms: u64) -> String {
    let mut body = String::from(
        "<p>What each site last reported about its side of the sync, and when the gateway last \
         heard from it (kept in memory: empty after a gateway restart until sites report).</p>\
         <table id=\"sites\"><thead><tr><th>Site</th><th>Tenant</th><th>Last seen</th>\
         <th>Lag (entries)</th><th>Outbox</th><th>Dead letters</th><th>Clock offset</th>\
         <th>Purged (retention)</th></tr></thead><tbody>",
    );
    let none = "<td class=\"none\">no report</td>";
    for site in sites {
        let seen = match site.last_seen_ms {
            Some(ms) => {
                let ago = now_ms.saturating_sub(ms) / 1000;
                let class = if now_ms.saturating_sub(ms) > SILENT_MS {
                    "bad"
                } else {
                    "good"
                };
                format!(
                    "<td class=\"{class}\">{} ({ago} s ago)</td>",
                    escape(&utc(ms))
                )
            }
            None => "<td class=\"bad\">not since the gateway started</td>".to_owned(),
        };
        let count = |value: Option<u64>| match value {
            Some(0) => "<td class=\"num good\">0</td>".to_owned(),
            Some(n) => format!("<td class=\"num bad\">{n}</td>"),
            None => none.to_owned(),
        };
        let clock = match site.clock_offset_ms {
            Some(ms) => {
                let class = if ms > max_skew_ms as i64 {
                    "bad"
                } else {
                    "good"
                };
                format!("<td class=\"num {class}\">{ms:+} ms</td>")
            }
            None => none.to_owned(),
        };
        // Purges are the retention working, not a problem: shown without a flag.
        let purged = match site.retention_purged {
            Some(n) => format!("<td class=\"num\">{n}</td>"),
            None => none.to_owned(),
        };
        let _ = write!(
            body,
            "<tr><td>{} <span class=\"none\">({})</span></td><td>{}</td>{seen}{}{}{}{clock}\
             {purged}</tr>",
            escape(&site.site),
            escape(&site.display_name),
            escape(&site.tenant),
            count(site.lag),
            count(site.outbox_depth),
            count(site.dead_letters),
        );
    }
    body.push_str("</tbody></table>");
    body
}

/// `GET /staff/sites`.
pub(super) async fn page(State(state): State<Arc<GatewayState>>, headers: HeaderMap) -> Response {
    let Some(session) = signed_in(&state, &headers) else {
        return sign_in_first();
    };
    let body = render(
        &site_health(&state),
        state.now_ms(),
        state.config.max_skew_ms,
    );
    html(
        StatusCode::OK,
        layout::page("Sync health", "/staff/sites", &session, &body),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A silent site, a backlog and a clock ahead beyond the skew are flagged; retention
    /// purges are shown in the last column; a site that never reported says so instead of
    /// showing zeros.
    #[test]
    fn sites_table_flags_problems() {
        let sites = [
            SiteHealth {
                site: "erfurt".into(),
                tenant: "helpbycom".into(),
                display_name: "Erfurt <1>".into(),
                last_seen_ms: Some(1_000),
                cursor: Some(5),
                lag: Some(3),
                outbox_depth: Some(0),
                dead_letters: Some(2),
                clock_offset_ms: Some(90_000),
                reported_at_ms: Some(1_000),
                retention_purged: Some(7),
            },
            SiteHealth {
                site: "munich".into(),
                tenant: "inhouse".into(),
                display_name: "munich".into(),
                last_seen_ms: None,
                cursor: None,
                lag: None,
                outbox_depth: None,
                dead_letters: None,
                clock_offset_ms: None,
                reported_at_ms: None,
                retention_purged: None,
            },
        ];
        let html = render(&sites, 1_000 + SILENT_MS + 1, 60_000);
        assert!(html.contains("Erfurt &lt;1&gt;"));
        assert!(html.contains("class=\"num bad\">+90000 ms"), "{html}");
        assert!(html.contains("class=\"num bad\">2<"));
        assert!(html.contains("class=\"bad\">1970-01-01"));
        assert!(html.contains("<td class=\"num\">7</td></tr>"), "{html}");
        assert_eq!(html.matches("no report").count(), 5);
    }
}
