//! `/staff/audit`: the audit browser. A GET form filters by subject prefix (a ticket is
//! `ticket/<number>`), tenant, actor and a UTC time window; the page lists at most [`PAGE`]
//! matching entries with a link to the next page; `/staff/audit/verify` checks the whole trail
//! and says whether it is intact or where it first breaks.
//!
//! Both read through what the `Audit` gRPC service uses ([`crate::api::audit::list_page`],
//! [`crate::audit::verify_store`]), so the dashboard and `hotline audit` answer the same, and
//! both are recorded in the trail like the RPC's reads (`audit.list` at the first page of a
//! read, `audit.verify`), with `via: dashboard`.

use std::fmt::Write;
use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::Response;
use hotline_proto::v1 as pb;

use super::super::form::{field, fields};
use super::layout::{self, escape, parse_utc, url_encode, utc};
use super::{failure, html, record, sign_in_first, signed_in};
use crate::api::audit::{check_window, list_page};
use crate::audit::{Verdict, verify_store};
use crate::error::{Error, Result};
use crate::state::GatewayState;

/// Entries one page shows.
pub const PAGE: u32 = 50;

/// Most characters of an entry's detail shown in the table.
const DETAIL_CHARS: usize = 240;

/// The filters as typed (kept to refill the form and build the next-page link).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Filters {
    /// Subject prefix, e.g. `ticket/` or `review/`.
    pub subject: String,
    /// Tenant id.
    pub tenant: String,
    /// Actor, exactly as the trail names it, e.g. `staff:admin:alice`.
    pub actor: String,
    /// Window start as typed (UTC).
    pub from: String,
    /// Window end as typed (UTC), exclusive.
    pub to: String,
    /// The first entry of this page (0 or 1: the start).
    pub after: u64,
}

impl Filters {
    /// The filters of a query string.
    pub fn of_query(query: &str) -> Filters {
        let query = fields(query.as_bytes());
        let text = |name: &str| field(&query, name).trim().to_owned();
        Filters {
            subject: text("subject"),
            tenant: text("tenant"),
            actor: text("actor"),
            from: text("from"),
            to: text("to"),
            after: text("after").parse().unwrap_or(0),
        }
    }

    /// The List request these filters ask for, or what is wrong with them.
    pub fn request(&self) -> Result<pb::ListAuditRequest> {
        let time = |what: &str, text: &str| -> Result<u64> {
            if text.is_empty() {
                return Ok(0);
            }
            parse_utc(what, text).map_err(Error::InvalidArgument)
        };
        let request = pb::ListAuditRequest {
            from_seq: self.after.max(1),
            limit: PAGE,
            subject_prefix: self.subject.clone(),
            tenant: self.tenant.clone(),
            actor: self.actor.clone(),
            from_ms: time("from", &self.from)?,
            to_ms: time("to", &self.to)?,
        };
        check_window(&request).map_err(|_| {
            Error::InvalidArgument(format!(
                "to ({}) must be after from ({}), or empty for no bound",
                self.to, self.from
            ))
        })?;
        Ok(request)
    }

    /// The query string of these filters starting at entry `after`.
    fn query(&self, after: u64) -> String {
        format!(
            "subject={}&tenant={}&actor={}&from={}&to={}&after={after}",
            url_encode(&self.subject),
            url_encode(&self.tenant),
            url_encode(&self.actor),
            url_encode(&self.from),
            url_encode(&self.to),
        )
    }
}

/// The filter form, filled with `filters`.
fn form(filters: &Filters) -> String {
    let input = |name: &str, label: &str, value: &str, hint: &str| {
        format!(
            "<label>{label} <input name=\"{name}\" value=\"{}\" placeholder=\"{hint}\"></label>",
            escape(value)
        )
    };
    format!(
        "<form class=\"filters\" method=\"get\" action=\"/staff/audit\">{}{}{}{}{}\
         <button type=\"submit\">Filter</button></form>\
         <p><a href=\"/staff/audit/verify\">Verify the trail</a> (checks every entry's hash \
         chain and the latest signed checkpoint)</p>",
        input("subject", "Subject prefix", &filters.subject, "ticket/"),
        input("tenant", "Tenant", &filters.tenant, "twenty4help"),
        input("actor", "Actor", &filters.actor, "staff:admin:alice"),
        input("from", "From (UTC)", &filters.from, "2026-03-01 08:00"),
        input("to", "To (UTC)", &filters.to, "2026-03-02"),
    )
}

/// The hex of the first bytes of `hash`.
fn hash_prefix(hash: &[u8]) -> String {
    hash.iter().take(6).map(|b| format!("{b:02x}")).collect()
}

/// The table of `page` and the link to the next one.
pub fn render_page(filters: &Filters, page: &pb::ListAuditResponse) -> String {
    let mut body = String::new();
    if page.entries.is_empty() {
        body.push_str("<p class=\"none\">No entry matches in this part of the trail.</p>");
    } else {
        body.push_str(
            "<table id=\"entries\"><thead><tr><th>Seq</th><th>Time</th><th>Actor</th>\
             <th>Action</th><th>Subject</th><th>Detail</th><th>Hash</th></tr></thead><tbody>",
        );
        for entry in &page.entries {
            let mut detail: String = entry.detail_json.chars().take(DETAIL_CHARS).collect();
            if entry.detail_json.chars().count() > DETAIL_CHARS {
                detail.push('…');
            }
            let _ = write!(
                body,
                "<tr><td class=\"num\">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>\
                 <td class=\"detail\">{}</td><td><code>{}</code></td></tr>",
                entry.seq,
                escape(&utc(entry.at_ms)),
                escape(&entry.actor),
                escape(&entry.action),
                escape(&entry.subject),
                escape(&detail),
                hash_prefix(&entry.hash),
            );
        }
        body.push_str("</tbody></table>");
    }
    if page.next_seq != 0 {
        let _ = write!(
            body,
            "<p><a id=\"next\" href=\"/staff/audit?{}\">Next page (from entry {})</a></p>",
            escape(&filters.query(page.next_seq)),
            page.next_seq
        );
    } else {
        body.push_str("<p class=\"none\">End of the trail.</p>");
    }
    body
}

/// `GET /staff/audit?subject=&tenant=&actor=&from=&to=&after=`.
pub(super) async fn page(
    State(state): State<Arc<GatewayState>>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let Some(session) = signed_in(&state, &headers) else {
        return sign_in_first();
    };
    let filters = Filters::of_query(uri.query().unwrap_or_default());
    let (status, listing) = match list(&state, &session, &filters).await {
        Ok(page) => (StatusCode::OK, render_page(&filters, &page)),
        Err(error) => {
            let (status, message) = failure(&error);
            let shown = format!(
                "<p class=\"bad\" role=\"alert\" id=\"notice\">{}</p>",
                escape(&message)
            );
            (status, shown)
        }
    };
    let body = format!("{}{listing}", form(&filters));
    html(
        status,
        layout::page("Audit trail", "/staff/audit", &session, &body),
    )
}

/// Records the start of a read, then reads the page `filters` ask for.
async fn list(
    state: &Arc<GatewayState>,
    session: &super::Session,
    filters: &Filters,
) -> Result<pb::ListAuditResponse> {
    let request = filters.request()?;
    if request.from_seq == 1 {
        let detail = serde_json::json!({
            "subject_prefix": request.subject_prefix,
            "tenant": request.tenant,
            "actor": request.actor,
            "from_ms": request.from_ms,
            "to_ms": request.to_ms,
            "via": "dashboard",
        });
        record(state, session, "audit.list", "audit", detail).await?;
    }
    let reader = state.clone();
    tokio::task::spawn_blocking(move || list_page(&reader, &request))
        .await
        .map_err(|e| Error::Unavailable(format!("reading the trail failed: {e}")))?
}

/// The verdict as a sentence a reader can act on.
pub fn render_verdict(verdict: &Verdict) -> String {
    match &verdict.broken {
        None => format!(
            "<p class=\"ok\" id=\"verdict\">Intact: {} entries checked; every entry links to \
             the one before it and the latest signed checkpoint matches.</p>",
            verdict.checked
        ),
        Some(broken) => format!(
            "<p class=\"bad\" id=\"verdict\">Broken: entry {seq} is {kind}: {detail}. The {checked} \
             entries before it check out.</p><p><a href=\"/staff/audit?after={seq}\">Entries \
             from {seq}</a></p>",
            seq = broken.seq,
            kind = escape(broken.problem.name()),
            detail = escape(&broken.detail),
            checked = verdict.checked,
        ),
    }
}

/// `GET /staff/audit/verify`: verifies the stored trail (a read, so auditors may run it).
pub(super) async fn verify(State(state): State<Arc<GatewayState>>, headers: HeaderMap) -> Response {
    let Some(session) = signed_in(&state, &headers) else {
        return sign_in_first();
    };
    let reader = state.clone();
    let verdict = tokio::task::spawn_blocking(move || {
        verify_store(reader.store.as_ref(), &reader.audit_key.public)
    })
    .await
    .map_err(|e| Error::Unavailable(format!("verifying the trail failed: {e}")))
    .and_then(|verdict| verdict);
    let recorded = match &verdict {
        Ok(verdict) => {
            if let Some(broken) = &verdict.broken {
                tracing::error!(%broken, "audit trail verification failed");
            }
            let detail = serde_json::json!({
                "intact": verdict.broken.is_none(),
                "checked": verdict.checked,
                "first_broken_seq": verdict.broken.as_ref().map_or(0, |b| b.seq),
                "via": "dashboard",
            });
            record(&state, &session, "audit.verify", "audit", detail).await
        }
        Err(_) => Ok(()),
    };
    let (status, body) = match verdict.and_then(|v| recorded.map(|()| v)) {
        Ok(verdict) => (StatusCode::OK, render_verdict(&verdict)),
        Err(error) => {
            let (status, message) = failure(&error);
            (
                status,
                format!("<p class=\"bad\" role=\"alert\">{}</p>", escape(&message)),
            )
        }
    };
    let body = format!("{body}<p><a href=\"/staff/audit\">Back to the audit trail</a></p>");
    html(
        status,
        layout::page("Verify the audit trail", "/staff/audit", &session, &body),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use hotline_federation::audit::{Broken, Problem};

    /// The filters survive the round trip through the next-page link, and a malformed time or
    /// a window ending before it starts is refused naming the field.
    #[test]
    fn filters_round_trip_and_bad_times_are_refused() {
        let filters = Filters {
            subject: "ticket/A&B".into(),
            tenant: "t".into(),
            actor: "staff:admin:alice".into(),
            from: "2026-03-01 08:00".into(),
            to: String::new(),
            after: 0,
        };
        let next = Filters::of_query(&filters.query(42));
        assert_eq!(
            next,
            Filters {
                after: 42,
                ..filters.clone()
            }
        );
        let request = next.request().unwrap();
        assert_eq!((request.from_seq, request.limit), (42, PAGE));
        let bad = Filters {
            from: "soon".into(),
            ..Filters::default()
        };
        assert!(
            bad.request()
                .unwrap_err()
                .to_string()
                .starts_with("from: \"soon\"")
        );
        let backwards = Filters {
            from: "2026-03-02".into(),
            to: "2026-03-01".into(),
            ..Filters::default()
        };
        assert!(
            backwards
                .request()
                .unwrap_err()
                .to_string()
                .contains("must be after")
        );
    }

    /// Entry text is escaped and a next page is linked; a broken verdict names the entry.
    #[test]
    fn page_escapes_and_verdict_names_the_break() {
        let page = pb::ListAuditResponse {
            entries: vec![pb::AuditEntry {
                seq: 3,
                at_ms: 0,
                actor: "<x>".into(),
                action: "a".into(),
                subject: "s".into(),
                detail_json: "{\"k\":\"<b>\"}".into(),
                prev_hash: vec![],
                hash: vec![0xab; 32],
                salt: vec![0; 16],
            }],
            next_seq: 9,
        };
        let html = render_page(&Filters::default(), &page);
        assert!(
            html.contains("&lt;x&gt;") && !html.contains("<x>"),
            "{html}"
        );
        assert!(html.contains("<code>abababababab</code>"));
        assert!(html.contains("after=9"));
        let verdict = Verdict {
            checked: 4,
            broken: Some(Broken {
                seq: 5,
                problem: Problem::Changed,
                detail: "hash <differs>".into(),
            }),
        };
        let said = render_verdict(&verdict);
        assert!(
            said.contains("entry 5") && said.contains("hash &lt;differs&gt;"),
            "{said}"
        );
    }
}
