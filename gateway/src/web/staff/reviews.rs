//! `/staff/reviews`: the review reports per focus team, newest period first, each opening at
//! `/staff/reviews/{id}` with the report itself and, for an admin, a scoring form per sampled
//! ticket ([`super::scoring`]) posting to `/staff/reviews/{id}/score`. Reads go through
//! [`crate::review::list_reports`] and [`crate::review::read_report`] off the async runtime;
//! a score goes through [`crate::review::score`], which checks it and records it in the audit
//! trail, like the `Reviews` RPC.

use std::fmt::Write;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::Response;

use super::super::form::{field, fields};
use super::layout::{self, escape, url_encode, utc};
use super::{failure, failure_page, html, scoring, see_other, sign_in_first, signed_in};
use crate::error::{Error, Result};
use crate::identity::StaffRole;
use crate::review::{self, ReportFilter, StoredReport};
use crate::state::GatewayState;

/// Runs a synchronous review read off the async runtime.
async fn read<T: Send + 'static>(
    state: &Arc<GatewayState>,
    work: impl FnOnce(&GatewayState) -> Result<T> + Send + 'static,
) -> Result<T> {
    let state = state.clone();
    tokio::task::spawn_blocking(move || work(&state))
        .await
        .map_err(|e| Error::Unavailable(format!("review read failed: {e}")))?
}

/// The table of `reports` (already newest first).
pub fn render_list(reports: &[StoredReport]) -> String {
    if reports.is_empty() {
        return "<p class=\"none\">No review reports yet: one is produced for each focus team \
                after each review period ends.</p>"
            .to_owned();
    }
    let mut body = String::from(
        "<table id=\"reports\"><thead><tr><th>Report</th><th>Team</th><th>Period</th>\
         <th>Produced</th><th>Sampled</th><th>Scored</th></tr></thead><tbody>",
    );
    for stored in reports {
        let report = &stored.report;
        let (sampled, scored) = (stored.sampled(), stored.scored());
        let class = if scored < sampled { "bad" } else { "good" };
        let _ = write!(
            body,
            "<tr><td><a href=\"/staff/reviews/{href}\">{id}</a></td><td>{team} \
             <span class=\"none\">({name})</span></td><td>{period}</td><td>{produced}</td>\
             <td class=\"num\">{sampled}</td><td class=\"num {class}\">{scored}</td></tr>",
            href = escape(&url_encode(&report.id)),
            id = escape(&report.id),
            team = escape(&report.team),
            name = escape(&report.team_name),
            period = escape(&report.period.label),
            produced = escape(&utc(report.generated_at_ms)),
        );
    }
    body.push_str("</tbody></table>");
    body
}

/// `GET /staff/reviews`.
pub(super) async fn page(State(state): State<Arc<GatewayState>>, headers: HeaderMap) -> Response {
    let Some(session) = signed_in(&state, &headers) else {
        return sign_in_first();
    };
    let reports = match read(&state, |s| {
        review::list_reports(s, &ReportFilter::default())
    })
    .await
    {
        Ok(reports) => reports,
        Err(error) => return failure_page(&error),
    };
    html(
        StatusCode::OK,
        layout::page(
            "Review reports",
            "/staff/reviews",
            &session,
            &render_list(&reports),
        ),
    )
}

/// What the report page says above the report: a saved score or a refused one.
enum Notice<'a> {
    None,
    Saved(&'a str),
    Refused(&'a str),
}

/// The page of `stored`: the notice, the report, and the scoring forms when `admin`.
fn render_report(stored: &StoredReport, admin: bool, notice: Notice<'_>) -> String {
    let mut body = String::from("<p><a href=\"/staff/reviews\">All review reports</a></p>");
    match notice {
        Notice::None => {}
        Notice::Saved(ticket) => {
            let _ = write!(
                body,
                "<p class=\"ok\" role=\"status\" id=\"notice\">Score of {} saved.</p>",
                escape(ticket)
            );
        }
        Notice::Refused(message) => {
            let _ = write!(
                body,
                "<p class=\"bad\" role=\"alert\" id=\"notice\">Score not saved: {}</p>",
                escape(message)
            );
        }
    }
    body.push_str("<article id=\"report\">");
    body.push_str(&stored.html_body());
    body.push_str("</article>");
    if admin {
        body.push_str(&scoring::forms(stored));
    } else {
        body.push_str(
            "<p class=\"none\">Scoring the quality sample needs an admin's session; this one \
             reads only.</p>",
        );
    }
    body
}

/// The report `id` or the page saying why there is none.
async fn load(
    state: &Arc<GatewayState>,
    id: String,
) -> std::result::Result<StoredReport, Response> {
    let shown = id.clone();
    match read(state, move |s| review::read_report(s, &id)).await {
        Ok(Some(stored)) => Ok(stored),
        Ok(None) => {
            let mut page = failure_page(&Error::InvalidArgument(format!(
                "there is no review report {shown:?}; the list at /staff/reviews shows the \
                 existing ones"
            )));
            *page.status_mut() = StatusCode::NOT_FOUND;
            Err(page)
        }
        Err(error) => Err(failure_page(&error)),
    }
}

/// `GET /staff/reviews/{id}`; `?saved=<ticket>` after a score was stored.
pub(super) async fn report(
    State(state): State<Arc<GatewayState>>,
    Path(id): Path<String>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let Some(session) = signed_in(&state, &headers) else {
        return sign_in_first();
    };
    let stored = match load(&state, id).await {
        Ok(stored) => stored,
        Err(page) => return page,
    };
    let query = fields(uri.query().unwrap_or_default().as_bytes());
    let saved = field(&query, "saved");
    let notice = if saved.is_empty() {
        Notice::None
    } else {
        Notice::Saved(&saved)
    };
    let title = format!("Review report {}", stored.report.id);
    let body = render_report(&stored, session.role == StaffRole::Admin, notice);
    html(
        StatusCode::OK,
        layout::page(&title, "/staff/reviews", &session, &body),
    )
}

/// `POST /staff/reviews/{id}/score` (admins only, by the guard): stores the score and goes
/// back to the report, or shows the report again with what was wrong.
pub(super) async fn score(
    State(state): State<Arc<GatewayState>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(session) = signed_in(&state, &headers) else {
        return sign_in_first();
    };
    let form = fields(&body);
    let attempt = match scoring::parse(&form, &session.staff, state.now_ms()) {
        Ok(score) => {
            let ticket = score.ticket.clone();
            review::score(&state, &id, score, session.actor(), "dashboard")
                .await
                .map(|_| ticket)
        }
        Err(error) => Err(error),
    };
    let error = match attempt {
        Ok(ticket) => {
            return see_other(&format!(
                "/staff/reviews/{}?saved={}#t-{}",
                url_encode(&id),
                url_encode(&ticket),
                url_encode(&ticket)
            ));
        }
        Err(error) => error,
    };
    let (status, message) = failure(&error);
    let report = match load(&state, id).await {
        Ok(report) => report,
        Err(page) => return page,
    };
    let title = format!("Review report {}", report.report.id);
    let body = render_report(&report, true, Notice::Refused(&message));
    html(
        status,
        layout::page(&title, "/staff/reviews", &session, &body),
    )
}
