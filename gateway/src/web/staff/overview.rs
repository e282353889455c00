//! `/staff/`: service level and first-contact resolution per partner and focus team against
//! the team's targets, as a table and two SVG bar charts.
//!
//! The page renders plain [`OverviewRow`]s. Until the gateway's service figures are wired in,
//! [`rows_from_tickets`] fills them from what the tickets tell: first-contact resolution per
//! handling tenant and focus team from resolved tickets' `first_contact` flag; service level
//! needs call data and is shown as "no call data" rather than guessed.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use hotline_federation::EntityState;
use hotline_federation::model::{EntityKey, EntityKind, FieldValue, TicketField, TicketStatus};

use super::chart::{Bar, bar_chart};
use super::layout::{self, escape, percent};
use super::{Session, html, sign_in_first, signed_in};
use crate::api::admin::policy_view;
use crate::error::Result;
use crate::log::decode_state;
use crate::registry::Registry;
use crate::state::GatewayState;
use crate::store::keys;

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

/// What one ticket adds to the overview.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TicketFacts {
    /// Its focus team.
    pub focus_team: String,
    /// The tenant handling it.
    pub tenant: String,
    /// Resolved or closed.
    pub resolved: bool,
    /// Solved in the first contact.
    pub first_contact: bool,
}

/// One row per focus team and handling tenant (every handler of every team, with or without
/// tickets, plus any tenant that resolved tickets of a team it no longer handles), sorted by
/// partner, then team.
pub fn rows_from_tickets(teams: &[TeamTargets], tickets: &[TicketFacts]) -> Vec<OverviewRow> {
    let mut counts: BTreeMap<(String, String), (u64, u64)> = BTreeMap::new();
    for team in teams {
        for tenant in &team.handlers {
            counts
                .entry((tenant.clone(), team.focus_team.clone()))
                .or_default();
        }
    }
    for ticket in tickets.iter().filter(|t| t.resolved) {
        let entry = counts
            .entry((ticket.tenant.clone(), ticket.focus_team.clone()))
            .or_default();
        entry.0 += 1;
        entry.1 += u64::from(ticket.first_contact);
    }
    let targets: BTreeMap<&str, &TeamTargets> =
        teams.iter().map(|t| (t.focus_team.as_str(), t)).collect();
    counts
        .into_iter()
        .map(|((partner, focus_team), (resolved, first))| {
            let team = targets.get(focus_team.as_str());
            OverviewRow {
                service_level: None,
                sl_target: team.map_or(0.0, |t| t.sl_target),
                fcr: (resolved > 0).then(|| first as f64 / resolved as f64),
                fcr_target: team.map_or(0.0, |t| t.fcr_target),
                offered: 0,
                resolved,
                partner,
                focus_team,
            }
        })
        .collect()
}

/// The facts of one stored ticket (`None` for a deleted one or one without a focus team).
fn facts(ticket: &EntityState, registry: &Registry) -> Option<TicketFacts> {
    if ticket.deleted.is_some() {
        return None;
    }
    let text = |register: &str| match ticket.value(register) {
        Some(FieldValue::Ticket(
            TicketField::FocusTeam(v) | TicketField::HandlingSite(v) | TicketField::OriginTenant(v),
        )) => Some(v.clone()),
        _ => None,
    };
    let focus_team = text("focus_team")?;
    let tenant = text("handling_site")
        .and_then(|site| registry.site_tenant(&site).map(str::to_owned))
        .or_else(|| text("origin_tenant"))?;
    let resolved = matches!(
        ticket.value("status"),
        Some(FieldValue::Ticket(TicketField::Status(s)))
            if matches!(s.to, TicketStatus::Resolved | TicketStatus::Closed)
    );
    let first_contact = matches!(
        ticket.value("first_contact"),
        Some(FieldValue::Ticket(TicketField::FirstContact(true)))
    );
    Some(TicketFacts {
        focus_team,
        tenant,
        resolved,
        first_contact,
    })
}

/// Reads the policies and tickets from the store (blocking) and builds the rows.
pub fn gather(state: &GatewayState) -> Result<Vec<OverviewRow>> {
    let registry = state.shared.registry();
    let mut teams = Vec::new();
    let start = keys::entity(&EntityKey::new(EntityKind::Policy, ""));
    for (_, raw) in state
        .store
        .range(&start, &keys::prefix_end(&start), usize::MAX)?
    {
        let policy = decode_state(&raw)?;
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
    let mut tickets = Vec::new();
    let start = keys::entity(&EntityKey::new(EntityKind::Ticket, ""));
    for (_, raw) in state
        .store
        .range(&start, &keys::prefix_end(&start), usize::MAX)?
    {
        if let Some(facts) = facts(&decode_state(&raw)?, &registry) {
            tickets.push(facts);
        }
    }
    Ok(rows_from_tickets(&teams, &tickets))
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
pub fn render_page(rows: &[OverviewRow], session: &Session) -> String {
    layout::page("Overview", "/staff/", session, &render(rows))
}

/// `GET /staff/`.
pub(super) async fn page(State(state): State<Arc<GatewayState>>, headers: HeaderMap) -> Response {
    let Some(session) = signed_in(&state, &headers) else {
        return sign_in_first();
    };
    let reader = state.clone();
    match tokio::task::spawn_blocking(move || gather(&reader)).await {
        Ok(Ok(rows)) => html(StatusCode::OK, render_page(&rows, &session)),
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

    fn ticket(team: &str, tenant: &str, resolved: bool, first: bool) -> TicketFacts {
        TicketFacts {
            focus_team: team.into(),
            tenant: tenant.into(),
            resolved,
            first_contact: first,
        }
    }

    /// FCR is counted over resolved tickets only, per tenant and team; a handler without
    /// resolved tickets still gets its row (no share, not 0 %), and no service level is made up.
    #[test]
    fn rows_count_first_contact_over_resolved_tickets() {
        let teams = [TeamTargets {
            focus_team: "plants".into(),
            handlers: vec!["helpbycom".into(), "inhouse".into()],
            sl_target: 0.8,
            fcr_target: 0.75,
        }];
        let tickets = [
            ticket("plants", "helpbycom", true, true),
            ticket("plants", "helpbycom", true, false),
            ticket("plants", "helpbycom", true, true),
            ticket("plants", "helpbycom", false, true),
            ticket("plants", "helpbycom", true, true),
        ];
        let rows = rows_from_tickets(&teams, &tickets);
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].partner, "helpbycom");
        assert_eq!(rows[0].fcr, Some(0.75));
        assert_eq!(rows[0].resolved, 4);
        assert_eq!(rows[0].service_level, None);
        assert_eq!(rows[1].partner, "inhouse");
        assert_eq!(rows[1].fcr, None);
        let html = render(&rows);
        assert!(
            html.contains("no call data") && html.contains("75.0 %"),
            "{html}"
        );
    }
}
