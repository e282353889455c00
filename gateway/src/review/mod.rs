//! Review reports on the gateway (DESIGN.md section 7): reads what a report needs from the
//! store, lets `hotline_federation::review` build and render it, and stores reports and
//! scores through the one writer (`v` and `q` prefixes of [`crate::store::keys`]).
//!
//! - [`schedule`]: the task that produces every ended period's report, once;
//! - [`list_reports`] and [`read_report`]: what the `Reviews` service and the dashboard read;
//! - [`generate`] and [`score`]: the writes.
//!
//! The reading functions are synchronous store reads: call them from `spawn_blocking` (as
//! the `Reviews` service does) or from a blocking context.

use std::hash::BuildHasher;
use std::sync::Arc;

use hotline_federation::calendar::{self, PeriodKind};
use hotline_federation::model::{EntityKey, EntityKind, FieldValue, PolicyField, ReviewCadence};
use hotline_federation::review::{
    self, AcceptedSuggestion, FigureLine, Period, PeriodTickets, ReportInput, ReviewReport, Score,
    TicketFacts,
};
use hotline_federation::service::{
    self, FigureCounter, FigureQuery, FigureRow, Figures, GroupBy, Targets,
};

use crate::error::{Error, Result};
use crate::state::GatewayState;
use crate::store::{Pages, entities, keys};
use crate::writer::ReviewWrite;

/// Team index entries read at a time when a report is built.
const TEAM_PAGE: usize = 512;

pub mod schedule;

/// Which reports to list.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReportFilter {
    /// Only this focus team.
    pub team: Option<String>,
    /// Only this period label.
    pub period: Option<String>,
}

/// A stored report with its scores.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredReport {
    /// The report.
    pub report: ReviewReport,
    /// Its scores, by ticket.
    pub scores: Vec<Score>,
}

impl StoredReport {
    /// Sampled tickets.
    pub fn sampled(&self) -> usize {
        self.report
            .sample
            .partners
            .iter()
            .map(|p| p.tickets.len())
            .sum()
    }

    /// Sampled tickets with a score.
    pub fn scored(&self) -> usize {
        self.scores
            .iter()
            .filter(|s| self.report.sample.find(&s.ticket).is_some())
            .count()
    }

    /// The report and its scores as Markdown.
    pub fn markdown(&self) -> String {
        review::render::markdown(&self.report, &self.scores)
    }

    /// The report and its scores as an HTML page.
    pub fn html(&self) -> String {
        review::render::html(&self.report, &self.scores)
    }

    /// The report and its scores as HTML blocks to embed in a page (the staff dashboard).
    pub fn html_body(&self) -> String {
        review::render::html_body(&self.report, &self.scores)
    }
}

/// A focus team as the review reads its policy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReviewedTeam {
    /// Focus team id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// Its cadence.
    pub cadence: ReviewCadence,
    /// First-contact resolution target (%).
    pub fcr_target_percent: Option<u32>,
}

/// Every focus team with a stored, not deleted policy.
pub fn teams(state: &GatewayState) -> Result<Vec<ReviewedTeam>> {
    let mut out = Vec::new();
    for policy in entities::scan(state.store.as_ref(), EntityKind::Policy)? {
        if policy.deleted.is_some() {
            continue;
        }
        let mut team = ReviewedTeam {
            id: policy.key.id.clone(),
            name: policy.key.id.clone(),
            cadence: ReviewCadence::Weekly,
            fcr_target_percent: None,
        };
        for register in policy.registers.values() {
            match &register.winner.value {
                FieldValue::Policy(PolicyField::DisplayName(name)) => team.name = name.clone(),
                FieldValue::Policy(PolicyField::ReviewCadence(c)) => team.cadence = *c,
                FieldValue::Policy(PolicyField::FcrTargetPercent(p)) => {
                    team.fcr_target_percent = Some(*p);
                }
                _ => {}
            }
        }
        out.push(team);
    }
    Ok(out)
}

fn decode_report(raw: &[u8]) -> Result<ReviewReport> {
    serde_json::from_slice(raw).map_err(|e| Error::Corrupt(format!("review report: {e}")))
}

fn scores_of(state: &GatewayState, report_id: &str) -> Result<Vec<Score>> {
    let start = keys::review_score_prefix(report_id);
    let end = keys::prefix_end(&start);
    state
        .store
        .range(&start, &end, usize::MAX)?
        .into_iter()
        .map(|(_, raw)| {
            serde_json::from_slice(&raw).map_err(|e| Error::Corrupt(format!("review score: {e}")))
        })
        .collect()
}

/// Every stored report of `team`, oldest period first.
fn reports_of(state: &GatewayState, team: &str) -> Result<Vec<ReviewReport>> {
    let start = keys::review_team_prefix(team);
    let end = keys::prefix_end(&start);
    state
        .store
        .range(&start, &end, usize::MAX)?
        .into_iter()
        .map(|(_, raw)| decode_report(&raw))
        .collect()
}

/// The stored reports that pass `filter`, newest period first, then by team.
pub fn list_reports(state: &GatewayState, filter: &ReportFilter) -> Result<Vec<StoredReport>> {
    let start = match &filter.team {
        Some(team) => keys::review_team_prefix(team),
        None => vec![keys::REVIEW_REPORT],
    };
    let end = keys::prefix_end(&start);
    let mut out = Vec::new();
    for (_, raw) in state.store.range(&start, &end, usize::MAX)? {
        let report = decode_report(&raw)?;
        if filter
            .period
            .as_ref()
            .is_some_and(|p| *p != report.period.label)
        {
            continue;
        }
        let scores = scores_of(state, &report.id)?;
        out.push(StoredReport { report, scores });
    }
    out.sort_by(|a, b| {
        b.report
            .period
            .start_ms
            .cmp(&a.report.period.start_ms)
            .then_with(|| a.report.team.cmp(&b.report.team))
    });
    Ok(out)
}

/// The report `id` with its scores; `None` when there is none.
pub fn read_report(state: &GatewayState, id: &str) -> Result<Option<StoredReport>> {
    let (team, period) = review::parse_report_id(id)?;
    let Some(raw) = state
        .store
        .get(&keys::review_report(&team, period.start_ms))?
    else {
        return Ok(None);
    };
    let report = decode_report(&raw)?;
    if report.id != id {
        return Ok(None);
    }
    let scores = scores_of(state, id)?;
    Ok(Some(StoredReport { report, scores }))
}

/// The report `id`, or an error naming how to find the existing ones.
pub fn require_report(state: &GatewayState, id: &str) -> Result<StoredReport> {
    read_report(state, id)?.ok_or_else(|| {
        Error::InvalidArgument(format!(
            "there is no review report {id:?}; `hotline review list` shows the existing ones"
        ))
    })
}

/// Builds the report of `team` for `period` from the store (synchronous reads).
pub fn build_report(
    state: &GatewayState,
    team: &ReviewedTeam,
    period: Period,
) -> Result<ReviewReport> {
    let mut reports = build_reports(state, team, vec![period])?;
    reports
        .pop()
        .ok_or_else(|| Error::Storage("a report build answered no report".into()))
}

/// Builds the reports of `team` for each of `periods` from the store (synchronous reads),
/// reading the team's tickets and the suggestions once for all of them (a start after an
/// outage builds up to twelve periods of a team).
pub fn build_reports(
    state: &GatewayState,
    team: &ReviewedTeam,
    periods: Vec<Period>,
) -> Result<Vec<ReviewReport>> {
    let registry = state.shared.registry();
    let site_tenant = |site: &str| registry.sites.get(site).map(|s| s.tenant.clone());
    let prefix = keys::team_prefix(&team.id);
    // The team's tickets a page at a time, keeping only what each period's report reads: a
    // team's whole history is never held.
    let mut relevant: Vec<PeriodTickets> = periods
        .iter()
        .map(|period| PeriodTickets::new(&team.id, period))
        .collect();
    // The service figures of each period's calendar parts, counted from the same pass: they
    // are of this team only, so its tickets are all they read (a pass over every ticket
    // stored per part made a start after an outage cost minutes at 1M tickets).
    let queries: Vec<Vec<FigureQuery>> = periods
        .iter()
        .map(|period| figure_queries(&team.id, period))
        .collect();
    let context = crate::figures::context_of(state)?;
    let mut counters = queries
        .iter()
        .map(|parts| {
            parts
                .iter()
                .map(|query| FigureCounter::new(&context, query))
                .collect::<std::result::Result<Vec<_>, _>>()
        })
        .collect::<std::result::Result<Vec<_>, _>>()?;
    // Every part's calls from one pass over the call logs: (period, part) of each part.
    let slots: Vec<(usize, usize)> = queries
        .iter()
        .enumerate()
        .flat_map(|(period, parts)| (0..parts.len()).map(move |part| (period, part)))
        .collect();
    let part_periods: Vec<_> = queries.iter().flatten().map(|q| q.period).collect();
    crate::figures::for_each_call(state, &part_periods, |i, call| {
        let (period, part) = slots[i];
        counters[period][part].add_call(call);
    })?;
    let mut pages = Pages::new(prefix.clone(), keys::prefix_end(&prefix), TEAM_PAGE);
    while let Some(page) = pages.next_page(state.store.as_ref())? {
        let tickets: Vec<EntityKey> = page
            .iter()
            .filter_map(|(key, _)| std::str::from_utf8(&key[prefix.len()..]).ok())
            .map(|id| EntityKey::new(EntityKind::Ticket, id))
            .collect();
        // A ticket's facts are in its registers: its comments are not read. The page's heads
        // in one read (one round trip on PostgreSQL).
        for head in entities::read_heads(state.store.as_ref(), &tickets)? {
            let Some(head) = head else {
                continue;
            };
            if let Some(counted) = service::TicketFacts::from_state(&head) {
                for counter in counters.iter_mut().flatten() {
                    counter.add_ticket(&counted);
                }
            }
            let Some(facts) = TicketFacts::read(&head, site_tenant) else {
                continue;
            };
            if let Some((last, others)) = relevant.split_last_mut() {
                for period in others {
                    period.offer(facts.clone());
                }
                last.offer(facts);
            }
        }
    }
    // An accepted suggestion is read from its registers: heads only, a page at a time.
    let mut suggestions = Vec::new();
    entities::for_each_head(
        state.store.as_ref(),
        EntityKind::Suggestion,
        TEAM_PAGE,
        |suggestion| {
            suggestions.extend(AcceptedSuggestion::read(&suggestion));
            Ok(())
        },
    )?;
    let earlier = reports_of(state, &team.id)?;
    let config = &state.config.review;
    let mut reports = Vec::with_capacity(periods.len());
    for ((period, relevant), counters) in periods.into_iter().zip(relevant).zip(counters) {
        let tickets = relevant.into_tickets();
        let parts = counters.into_iter().map(FigureCounter::finish).collect();
        let service = service_lines(&team.id, parts);
        let now = state.now_ms();
        let seed = std::hash::RandomState::new().hash_one((&team.id, period.start_ms, now));
        reports.push(review::build(ReportInput {
            team: &team.id,
            team_name: &team.name,
            fcr_target_percent: team.fcr_target_percent,
            period,
            tickets: &tickets,
            suggestions: &suggestions,
            figures: service,
            earlier: &earlier,
            scorecard: config.criteria(),
            sample_size: config.sample_size,
            seed,
            generated_at_ms: now,
        }));
    }
    Ok(reports)
}

/// The calendar periods a review period's service figures are counted over, as queries of
/// `team`'s figures: a weekly or monthly review is one calendar period, a biweekly one its two
/// ISO weeks.
fn figure_queries(team: &str, period: &Period) -> Vec<FigureQuery> {
    let kind = match period.cadence {
        ReviewCadence::Monthly => PeriodKind::Month,
        _ => PeriodKind::Week,
    };
    let mut queries = Vec::new();
    let mut start = period.start_ms;
    while start < period.end_ms {
        let part = calendar::Period::containing(kind, start);
        start = part.end_ms();
        queries.push(FigureQuery {
            period: part,
            split: None,
            by: GroupBy::FocusTeam,
            focus_team: Some(team.to_owned()),
            tenant: None,
        });
    }
    queries
}

/// The team's call figures over the review period as report lines, from the rows of its
/// [`figure_queries`] in order (a biweekly review's two weeks joined). Shares are percentages
/// with one decimal; a figure without calls or ratings to take it over is left out rather
/// than shown as 0.
fn service_lines(team: &str, parts: Vec<Vec<FigureRow>>) -> Vec<FigureLine> {
    let mut total: Option<(Figures, Targets)> = None;
    for rows in parts {
        let Some(row) = rows.into_iter().find(|row| row.group == team) else {
            continue;
        };
        match &mut total {
            Some((figures, _)) => figures.merge_following(&row.figures),
            None => total = Some((row.figures, row.targets)),
        }
    }
    let (figures, targets) = total.unwrap_or_default();
    figure_lines(&figures, &targets)
}

/// The report lines of a team's call figures against its targets.
pub fn figure_lines(figures: &Figures, targets: &Targets) -> Vec<FigureLine> {
    let share = |ratio: Option<f64>| ratio.map(|r| (r * 1000.0).round() / 10.0);
    let seconds = |value: Option<f64>| value.map(|v| (v * 10.0).round() / 10.0);
    let mut lines = vec![FigureLine {
        name: "calls offered".into(),
        value: figures.offered as f64,
        target: None,
    }];
    let mut add = |name: String, value: Option<f64>, target: Option<f64>| {
        if let Some(value) = value {
            lines.push(FigureLine {
                name,
                value,
                target,
            });
        }
    };
    add(
        format!(
            "service level: answered within {} s (%)",
            targets.answer_seconds
        ),
        share(figures.service_level()),
        Some(f64::from(targets.service_level_percent)),
    );
    add(
        "average speed of answer (s)".into(),
        seconds(figures.average_speed_of_answer()),
        None,
    );
    add(
        "abandoned calls (%)".into(),
        share(figures.abandonment_rate()),
        None,
    );
    add(
        "average handling time (s)".into(),
        seconds(figures.average_handling_time()),
        None,
    );
    add("reopened (%)".into(), share(figures.reopen_rate()), None);
    add(
        "customer satisfaction (1 to 5)".into(),
        seconds(figures.satisfaction()),
        None,
    );
    lines
}

/// Produces and stores the report of `team` for the ended period `label`, unless one is
/// stored; answers the stored report and whether this call produced it.
pub async fn generate(
    state: &Arc<GatewayState>,
    team: &str,
    label: &str,
) -> Result<(StoredReport, bool)> {
    let reader = state.clone();
    let team = team.to_owned();
    let label = label.to_owned();
    let (key, report) = tokio::task::spawn_blocking(move || -> Result<_> {
        let teams = teams(&reader)?;
        let Some(found) = teams.iter().find(|t| t.id == team) else {
            let known: Vec<&str> = teams.iter().map(|t| t.id.as_str()).collect();
            return Err(Error::InvalidArgument(format!(
                "focus team {team:?} is not known; known: {}",
                known.join(", ")
            )));
        };
        let period = Period::parse("period", &label)?;
        if period.cadence != found.cadence {
            return Err(Error::InvalidArgument(format!(
                "period {label:?} is not a {} period, the review cadence of {team}",
                found.cadence
            )));
        }
        if period.end_ms > reader.now_ms() {
            return Err(Error::FailedPrecondition(format!(
                "period {label} has not ended yet; a report covers an ended period"
            )));
        }
        let key = keys::review_report(&team, period.start_ms);
        Ok((key, build_report(&reader, found, period)?))
    })
    .await
    .map_err(|e| Error::Unavailable(format!("report task failed: {e}")))??;
    store_report(state, key, report).await
}

/// Stores a built report unless one is stored under its key; answers what is stored.
async fn store_report(
    state: &Arc<GatewayState>,
    key: Vec<u8>,
    report: ReviewReport,
) -> Result<(StoredReport, bool)> {
    let value = serde_json::to_vec(&report)
        .map_err(|e| Error::Storage(format!("cannot encode the review report: {e}")))?;
    let created = state
        .writer
        .review(ReviewWrite::Report { key, value })
        .await?;
    if created {
        tracing::info!(report = %report.id, "review report produced");
    }
    let reader = state.clone();
    let id = report.id.clone();
    let stored = tokio::task::spawn_blocking(move || require_report(&reader, &id))
        .await
        .map_err(|e| Error::Unavailable(format!("report task failed: {e}")))??;
    Ok((stored, created))
}

/// Stores `score` (points, note, by, at) of a sampled ticket of report `report_id`, after
/// checking it against the report's scorecard and sample; answers the report re-read.
///
/// Once stored, the score is recorded in the audit trail as `review.score` by `actor`
/// (`staff:<role>:<name>`), subject `review/<report id>`, with the ticket, the points and
/// `via` (where it came from: `dashboard` or `rpc`); the note stays out of the trail.
pub async fn score(
    state: &Arc<GatewayState>,
    report_id: &str,
    score: Score,
    actor: String,
    via: &str,
) -> Result<StoredReport> {
    let reader = state.clone();
    let id = report_id.to_owned();
    let stored = tokio::task::spawn_blocking(move || require_report(&reader, &id))
        .await
        .map_err(|e| Error::Unavailable(format!("report task failed: {e}")))??;
    review::check_score(&stored.report.scorecard, &stored.report.sample, &score)?;
    let value = serde_json::to_vec(&score)
        .map_err(|e| Error::Storage(format!("cannot encode the score: {e}")))?;
    let key = keys::review_score(report_id, &score.ticket);
    state
        .writer
        .review(ReviewWrite::Score { key, value })
        .await?;
    tracing::info!(report = report_id, ticket = %score.ticket, by = %score.by, "quality score stored");
    let detail = serde_json::json!({
        "ticket": score.ticket,
        "points": score.points,
        "via": via,
    });
    crate::audit::record(
        state,
        actor,
        "review.score",
        &format!("review/{report_id}"),
        detail,
    )
    .await?;
    let reader = state.clone();
    let id = report_id.to_owned();
    tokio::task::spawn_blocking(move || require_report(&reader, &id))
        .await
        .map_err(|e| Error::Unavailable(format!("report task failed: {e}")))?
}
