//! `/staff/`: service level and first-contact resolution per partner and focus team against
//! the team's targets, as a table and two SVG bar charts.
//!
//! The page renders plain [`OverviewRow`]s, filled by [`rows_from_figures`] from the gateway's
//! service figures ([`crate::figures`]) of one period: the current month by default, any other
//! with `?period=` (`2026-11`, `2026-W48`, `2026-11-28`, `2026-11-28T09`). A partner or team
//! without calls shows "no call data" rather than a made-up share.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use hotline_federation::calendar::{Period, PeriodKind};
use hotline_federation::model::EntityKind;
use hotline_federation::service::{FigureQuery, FigureRow, Figures, GroupBy};

use super::chart::{Bar, bar_chart};
use super::layout::{self, escape, percent};
use super::{Session, html, sign_in_first, signed_in};
use crate::api::admin::policy_view;
use crate::error::Result;
use crate::state::GatewayState;
use crate::store::entities;

/// One row of the overview: how one partner (tenant) does for one focus team.
#[derive(Clone, Debug, PartialEq)]
pub struct OverviewRow {
    /// The handling tenant.
    pub partner: String,
    /// The focus team.
    pub focus_team: String,
    /// Share of calls answered within the team's answer target; `None`: no call data.
    pub service_level: Option<f64>,
    /// The team's service-level target, 0.0 to 1.0.
    pub sl_target: f64,
    /// Share of resolved tickets solved in the first contact; `None`: none resolved.
    pub fcr: Option<f64>,
    /// The team's first-contact resolution target, 0.0 to 1.0.
    pub fcr_target: f64,
    /// Calls offered (0 without call data).
    pub offered: u64,
    /// Resolved tickets the FCR share is taken over.
    pub resolved: u64,
}

/// A focus team as the overview needs it: who handles it and its targets.
#[derive(Clone, Debug, PartialEq)]
pub struct TeamTargets {
    /// Focus team id.
    pub focus_team: String,
    /// Tenants that handle it.
    pub handlers: Vec<String>,
    /// Service-level target, 0.0 to 1.0.
    pub sl_target: f64,
    /// First-contact resolution target, 0.0 to 1.0.
    pub fcr_target: f64,
}

/// One row per handling tenant of `team` (with or without figures) plus any tenant that has
/// figures for the team without handling it now, sorted by partner.
pub fn rows_from_figures(team: &TeamTargets, rows: &[FigureRow]) -> Vec<OverviewRow> {
    let mut by_partner: BTreeMap<String, Option<&Figures>> =
        team.handlers.iter().map(|h| (h.clone(), None)).collect();
    for row in rows {
        by_partner.insert(row.group.clone(), Some(&row.figures));
    }
    by_partner
        .into_iter()
        .map(|(partner, figures)| OverviewRow {
            service_level: figures.and_then(Figures::service_level),
            sl_target: team.sl_target,
            fcr: figures.and_then(Figures::first_contact_resolution),
            fcr_target: team.fcr_target,
            offered: figures.map_or(0, |f| f.offered),
            resolved: figures.map_or(0, |f| f.resolved),
            partner,
            focus_team: team.focus_team.clone(),
        })
        .collect()
}

/// Reads the policies, call logs and tickets from the store (blocking) and builds the rows of
/// `period`, sorted by partner, then team.
pub fn gather(state: &GatewayState, period: Period) -> Result<Vec<OverviewRow>> {
    let teams = teams(state)?;
    let rows = crate::figures::figures_of(state, &queries(&teams, period))?;
    Ok(overview_rows(&teams, &rows))
}

/// The rows of `period` as [`gather`] builds them, with the figures of the calls alone
/// ([`crate::figures::call_figures_of`]): the service level and its target are those of
/// [`gather`]; first-contact resolution is `None` and `resolved` 0, as no ticket is read; a
/// tenant that neither handles the team nor took its calls has no row. The metrics gauges
/// read this every minute, at a cost that does not grow with the tickets stored.
pub fn gather_service_levels(state: &GatewayState, period: Period) -> Result<Vec<OverviewRow>> {
    let teams = teams(state)?;
    let rows = crate::figures::call_figures_of(state, &queries(&teams, period))?;
    Ok(overview_rows(&teams, &rows))
}

/// Every focus team that is not deleted, with its handlers and targets.
fn teams(state: &GatewayState) -> Result<Vec<TeamTargets>> {
    let mut teams = Vec::new();
    for policy in entities::scan(state.store.as_ref(), EntityKind::Policy)? {
        if policy.deleted.is_some() {
            continue;
        }
        let view = policy_view(&policy);
        teams.push(TeamTargets {
            focus_team: view.focus_team,
            handlers: view.handlers,
            sl_target: f64::from(view.sla_target_percent) / 100.0,
            fcr_target: f64::from(view.fcr_target_percent) / 100.0,
        });
    }
    Ok(teams)
}

/// One query per team over `period`, grouped by tenant.
fn queries(teams: &[TeamTargets], period: Period) -> Vec<FigureQuery> {
    teams
        .iter()
        .map(|team| FigureQuery {
            period,
            split: None,
            by: GroupBy::Tenant,
            focus_team: Some(team.focus_team.clone()),
            tenant: None,
        })
        .collect()
}

/// The overview rows of every team from its query's figures, sorted by partner, then team.
fn overview_rows(teams: &[TeamTargets], figures: &[Vec<FigureRow>]) -> Vec<OverviewRow> {
    let mut out = Vec::new();
    for (team, rows) in teams.iter().zip(figures) {
        out.extend(rows_from_figures(team, rows));
    }
    out.sort_by(|a, b| (&a.partner, &a.focus_team).cmp(&(&b.partner, &b.focus_team)));
    out
}

/// The overview's body for `rows`: both charts and the table.
pub fn render(rows: &[OverviewRow]) -> String {
    let label = |r: &OverviewRow| format!("{} · {}", r.partner, r.focus_team);
    let mut body = String::new();
    let any_calls = rows.iter().any(|r| r.service_level.is_some());
    if any_calls {
        let bars: Vec<Bar> = rows
            .iter()
            .map(|r| Bar {
                label: label(r),
                value: r.service_level,
                target: Some(r.sl_target),
            })
            .collect();
        body.push_str(&bar_chart("Service level against target", &bars));
    } else {
        body.push_str("<p class=\"none\">Service level: no call data yet.</p>");
    }
    let bars: Vec<Bar> = rows
        .iter()
        .map(|r| Bar {
            label: label(r),
            value: r.fcr,
            target: Some(r.fcr_target),
        })
        .collect();
    body.push_str(&bar_chart("First-contact resolution against target", &bars));
    body.push_str(
        "<table id=\"overview\"><thead><tr><th>Partner</th><th>Focus team</th>\
         <th>Service level</th><th>SL target</th><th>First-contact resolution</th>\
         <th>FCR target</th><th>Resolved</th><th>Calls offered</th></tr></thead><tbody>",
    );
    let share = |value: Option<f64>, target: f64, none: &str| match value {
        Some(v) => {
            let class = if v >= target { "good" } else { "bad" };
            format!("<td class=\"num {class}\">{}</td>", escape(&percent(v)))
        }
        None => format!("<td class=\"none\">{none}</td>"),
    };
    for row in rows {
        let _ = write!(
            body,
            "<tr><td>{}</td><td>{}</td>{}<td class=\"num\">{}</td>{}<td class=\"num\">{}</td>\
             <td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
            escape(&row.partner),
            escape(&row.focus_team),
            share(row.service_level, row.sl_target, "no call data"),
            escape(&percent(row.sl_target)),
            share(row.fcr, row.fcr_target, "none resolved"),
            escape(&percent(row.fcr_target)),
            row.resolved,
            row.offered,
        );
    }
    body.push_str("</tbody></table>");
    body
}

/// The whole overview page for `session`.
pub fn render_page(rows: &[OverviewRow], period: &str, session: &Session) -> String {
    let chooser = format!(
        "<form method=\"get\" action=\"/staff/\"><label>Period (UTC) \
         <input name=\"period\" value=\"{}\"></label> <button type=\"submit\">Show</button> \
         <span class=\"none\">a month 2026-11, an ISO week 2026-W48, a day 2026-11-28 or an \
         hour 2026-11-28T09</span></form>",
        escape(period)
    );
    layout::page("Overview", "/staff/", session, &(chooser + &render(rows)))
}

/// The overview's query: which period to show.
#[derive(Debug, Default, serde::Deserialize)]
pub(super) struct PeriodChoice {
    period: Option<String>,
}

/// `GET /staff/`.
pub(super) async fn page(
    State(state): State<Arc<GatewayState>>,
    Query(choice): Query<PeriodChoice>,
    headers: HeaderMap,
) -> Response {
    let Some(session) = signed_in(&state, &headers) else {
        return sign_in_first();
    };
    let period = match choice.period.as_deref().map(str::trim) {
        None | Some("") => Period::containing(PeriodKind::Month, state.now_ms()),
        Some(text) => match Period::parse(text) {
            Ok(period) => period,
            Err(error) => {
                let body = format!("<p class=\"bad\">{}</p>", escape(&error.to_string()));
                let page = layout::page("Overview", "/staff/", &session, &body);
                return html(StatusCode::BAD_REQUEST, page);
            }
        },
    };
    let label = period.to_string();
    let reader = state.clone();
    match tokio::task::spawn_blocking(move || gather(&reader, period)).await {
        Ok(Ok(rows)) => html(StatusCode::OK, render_page(&rows, &label, &session)),
        Ok(Err(error)) => {
            tracing::error!(%error, "overview not readable");
            html(
                StatusCode::SERVICE_UNAVAILABLE,
                layout::page(
                    "Overview",
                    "/staff/",
                    &session,
                    "<p>The figures cannot be read right now.</p>",
                ),
            )
        }
        Err(error) => {
            tracing::error!(%error, "overview task failed");
            html(
                StatusCode::SERVICE_UNAVAILABLE,
                layout::page(
                    "Overview",
                    "/staff/",
                    &session,
                    "<p>The figures cannot be read right now.</p>",
                ),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn figures(offered: u64, in_target: u64, resolved: u64, first: u64) -> Figures {
        Figures {
            offered,
            answered: offered,
            answered_in_target: in_target,
            resolved,
            resolved_first_contact: first,
            ..Figures::default()
        }
    }

    /// Shares come from the service figures per tenant; a handler without figures still gets
    /// its row (no share, not 0 %), so a silent partner shows up instead of disappearing.
    #[test]
    fn rows_take_the_figures_and_keep_silent_handlers() {
        let team = TeamTargets {
            focus_team: "plants".into(),
            handlers: vec!["helpbycom".into(), "inhouse".into()],
            sl_target: 0.8,
            fcr_target: 0.75,
        };
        let row = |group: &str, f: Figures| FigureRow {
            group: group.into(),
            period_start_ms: 0,
            period: "2026-11".into(),
            figures: f,
            targets: Default::default(),
        };
        let rows = rows_from_figures(&team, &[row("helpbycom", figures(10, 7, 4, 3))]);
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].partner, "helpbycom");
        assert_eq!(rows[0].fcr, Some(0.75));
        assert_eq!(rows[0].service_level, Some(0.7));
        assert_eq!(rows[0].offered, 10);
        assert_eq!(rows[0].resolved, 4);
        assert_eq!(rows[1].partner, "inhouse");
        assert_eq!(rows[1].fcr, None);
        assert_eq!(rows[1].service_level, None);
        let html = render(&rows);
        assert!(
            html.contains("no call data") && html.contains("75.0 %"),
            "{html}"
        );
    }
}
