//! The review report of one focus team and period, and its builder: figures against targets,
//! the trend against earlier reports, top categories, escalations, oldest open tickets,
//! accepted suggestions and the quality sample. Built from facts the caller read; scores are
//! kept apart and joined in when the report is rendered ([`super::render`]).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::facts::{AcceptedSuggestion, TicketFacts};
use super::period::Period;
use super::sample::{QualitySample, draw};
use super::scorecard::Criterion;
use crate::error::{Error, Result, quote};
use crate::model::TicketStatus;

/// Earlier periods a report compares its figures with.
pub const TREND_PERIODS: usize = 3;
/// Lines of the top-categories and oldest-open lists (at most); escalations are all listed.
pub const LIST_LINES: usize = 10;

/// One figure of a period against its target.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FigureLine {
    /// What it measures, with its unit, e.g. `first-contact resolution (%)`.
    pub name: String,
    /// Its value in the period.
    pub value: f64,
    /// The target, when the policy sets one.
    pub target: Option<f64>,
}

/// One figure's values in earlier periods, oldest first.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrendLine {
    /// The figure's name.
    pub name: String,
    /// Per earlier period (label, value when that report had the figure), oldest first.
    pub earlier: Vec<(String, Option<f64>)>,
}

/// A ticket in a list of the report.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TicketLine {
    /// Public number.
    pub ticket: String,
    /// The time the list is about (escalated at, opened at), ms.
    pub at_ms: u64,
    /// Its status now.
    pub status: String,
    /// Handling tenant.
    pub tenant: String,
    /// Handling site.
    pub site: String,
}

/// The report of one focus team and period.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReviewReport {
    /// `<team>.<period label>`, e.g. `finance.2026-W27`.
    pub id: String,
    /// Focus team id.
    pub team: String,
    /// Focus team name.
    pub team_name: String,
    /// The period.
    pub period: Period,
    /// When it was produced (ms).
    pub generated_at_ms: u64,
    /// Figures against targets.
    pub figures: Vec<FigureLine>,
    /// The same figures in the last [`TREND_PERIODS`] reports of the team.
    pub trend: Vec<TrendLine>,
    /// Categories of the tickets opened in the period, most first.
    pub categories: Vec<(String, usize)>,
    /// Tickets that entered `escalated` in the period.
    pub escalations: Vec<TicketLine>,
    /// The oldest tickets opened before the period's end that are still open.
    pub oldest_open: Vec<TicketLine>,
    /// Suggestions accepted in the period.
    pub suggestions: Vec<AcceptedSuggestion>,
    /// The scorecard the sample is scored on (as configured when the report was made).
    pub scorecard: Vec<Criterion>,
    /// The quality sample.
    pub sample: QualitySample,
}

/// The id of the report of `team` for `period`.
pub fn report_id(team: &str, period: &Period) -> String {
    format!("{team}.{}", period.label)
}

/// The team and period of a report id.
pub fn parse_report_id(id: &str) -> Result<(String, Period)> {
    let (team, label) = id.split_once('.').ok_or_else(|| {
        Error::invalid(
            "report id",
            format!(
                "{} is not a report id; allowed: <focus team>.<period>, e.g. finance.2026-W27",
                quote(id)
            ),
        )
    })?;
    crate::ids::check_slug("report id (focus team)", team)?;
    Ok((team.to_owned(), Period::parse("report id (period)", label)?))
}

/// What the builder needs.
#[derive(Clone, Debug)]
pub struct ReportInput<'a> {
    /// Focus team id.
    pub team: &'a str,
    /// Focus team name.
    pub team_name: &'a str,
    /// First-contact resolution target (%), when set.
    pub fcr_target_percent: Option<u32>,
    /// The period.
    pub period: Period,
    /// Tickets (any team, any time: the builder selects).
    pub tickets: &'a [TicketFacts],
    /// Accepted suggestions (any time).
    pub suggestions: &'a [AcceptedSuggestion],
    /// Further figures computed elsewhere (service level), placed after the ticket figures.
    pub figures: Vec<FigureLine>,
    /// Earlier reports of the team, any order; the newest [`TREND_PERIODS`] before the
    /// period count.
    pub earlier: &'a [ReviewReport],
    /// The scorecard.
    pub scorecard: Vec<Criterion>,
    /// Tickets sampled per partner.
    pub sample_size: usize,
    /// The sample's seed.
    pub seed: u64,
    /// Now (ms).
    pub generated_at_ms: u64,
}

/// What a report reads of a ticket: [`build`] and the selection of the tickets it needs
/// ([`super::PeriodTickets`]) both decide with these, so they cannot drift apart.
pub(super) mod reads {
    use super::{Period, TicketFacts};

    /// Whether `t` belongs to `team`.
    pub(in crate::review) fn of_team(t: &TicketFacts, team: &str) -> bool {
        t.team.as_deref() == Some(team)
    }

    /// Whether `t` was opened in `period`.
    pub(in crate::review) fn opened_in(t: &TicketFacts, period: &Period) -> bool {
        t.opened_at_ms.is_some_and(|at| period.contains(at))
    }

    /// Whether `t` was resolved or closed in `period`.
    pub(in crate::review) fn resolved_in(t: &TicketFacts, period: &Period) -> bool {
        t.resolved_at_ms.is_some_and(|at| period.contains(at))
    }

    /// When `t` was first escalated in `period`, if it was.
    pub(in crate::review) fn escalated_in(t: &TicketFacts, period: &Period) -> Option<u64> {
        t.escalated_at_ms
            .iter()
            .find(|at| period.contains(**at))
            .copied()
    }

    /// Whether anything of `t` happened in `period`: what the counts, the categories, the
    /// escalations and the quality sample read.
    pub(in crate::review) fn touched_in(t: &TicketFacts, period: &Period) -> bool {
        opened_in(t, period) || resolved_in(t, period) || escalated_in(t, period).is_some()
    }

    /// When `t` was opened, if it is still open and was opened before `period` ended: what the
    /// list of the oldest open tickets reads.
    pub(in crate::review) fn open_since(t: &TicketFacts, period: &Period) -> Option<u64> {
        if !t.is_open() {
            return None;
        }
        t.opened_at_ms.filter(|at| *at < period.end_ms)
    }
}

/// Builds the report.
pub fn build(input: ReportInput<'_>) -> ReviewReport {
    let period = &input.period;
    let team: Vec<&TicketFacts> = input
        .tickets
        .iter()
        .filter(|t| reads::of_team(t, input.team))
        .collect();
    let opened: Vec<&&TicketFacts> = team
        .iter()
        .filter(|t| reads::opened_in(t, period))
        .collect();
    let resolved: Vec<&&TicketFacts> = team
        .iter()
        .filter(|t| reads::resolved_in(t, period))
        .collect();
    let line = |t: &TicketFacts, at_ms: u64| TicketLine {
        ticket: t.id.clone(),
        at_ms,
        status: t.status.map_or("unknown", TicketStatus::as_str).to_owned(),
        tenant: t.tenant.clone(),
        site: t.site.clone(),
    };
    let mut escalations: Vec<TicketLine> = team
        .iter()
        .filter_map(|t| Some(line(t, reads::escalated_in(t, period)?)))
        .collect();
    escalations.sort_by(|a, b| (a.at_ms, &a.ticket).cmp(&(b.at_ms, &b.ticket)));

    let mut figures = vec![
        FigureLine {
            name: "tickets opened".into(),
            value: opened.len() as f64,
            target: None,
        },
        FigureLine {
            name: "tickets resolved or closed".into(),
            value: resolved.len() as f64,
            target: None,
        },
        FigureLine {
            name: "tickets escalated".into(),
            value: escalations.len() as f64,
            target: None,
        },
    ];
    if !resolved.is_empty() {
        let first = resolved
            .iter()
            .filter(|t| t.first_contact == Some(true))
            .count();
        figures.push(FigureLine {
            name: "first-contact resolution (%)".into(),
            value: (first as f64 * 1000.0 / resolved.len() as f64).round() / 10.0,
            target: input.fcr_target_percent.map(f64::from),
        });
    }
    figures.extend(input.figures);

    let mut earlier: Vec<&ReviewReport> = input
        .earlier
        .iter()
        .filter(|r| r.team == input.team && r.period.end_ms <= period.start_ms)
        .collect();
    earlier.sort_by_key(|r| r.period.start_ms);
    let earlier = &earlier[earlier.len().saturating_sub(TREND_PERIODS)..];
    let trend = figures
        .iter()
        .map(|f| TrendLine {
            name: f.name.clone(),
            earlier: earlier
                .iter()
                .map(|r| {
                    let value = r.figures.iter().find(|g| g.name == f.name).map(|g| g.value);
                    (r.period.label.clone(), value)
                })
                .collect(),
        })
        .collect();

    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for t in &opened {
        *counts
            .entry(t.category.as_deref().unwrap_or("(none)"))
            .or_default() += 1;
    }
    let mut categories: Vec<(String, usize)> =
        counts.into_iter().map(|(c, n)| (c.to_owned(), n)).collect();
    categories.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    categories.truncate(LIST_LINES);

    let mut oldest_open: Vec<TicketLine> = team
        .iter()
        .filter_map(|t| Some(line(t, reads::open_since(t, period)?)))
        .collect();
    oldest_open.sort_by(|a, b| (a.at_ms, &a.ticket).cmp(&(b.at_ms, &b.ticket)));
    oldest_open.truncate(LIST_LINES);

    let mut suggestions: Vec<AcceptedSuggestion> = input
        .suggestions
        .iter()
        .filter(|s| period.contains(s.accepted_at_ms))
        .cloned()
        .collect();
    suggestions.sort_by(|a, b| (a.accepted_at_ms, &a.id).cmp(&(b.accepted_at_ms, &b.id)));

    let closed: Vec<_> = team.iter().filter_map(|t| t.closed()).collect();
    let sample = draw(period, input.team, &closed, input.sample_size, input.seed);
    ReviewReport {
        id: report_id(input.team, period),
        team: input.team.to_owned(),
        team_name: input.team_name.to_owned(),
        period: input.period.clone(),
        generated_at_ms: input.generated_at_ms,
        figures,
        trend,
        categories,
        escalations,
        oldest_open,
        suggestions,
        scorecard: input.scorecard,
        sample,
    }
}
