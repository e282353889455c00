//! Counting the figures: a [`FigureCounter`] takes call events and tickets one at a time, so a
//! caller can read a large store a chunk at a time and never hold every ticket's facts; it
//! keeps only the rows (one [`Figures`] per period and group). [`figures`] is the same over a
//! whole [`ServiceInput`].

use std::collections::BTreeMap;

use super::{
    FigureQuery, FigureRow, Figures, GroupBy, ServiceInput, Targets, TicketFacts, UNKNOWN_GROUP,
};
use crate::calendar::Period;
use crate::error::Result;
use crate::model::{CallEvent, CallOutcome, TicketStatus};

/// The figures the query asks for, one row per (period, group) with any fact, ordered by period
/// then group.
pub fn figures(input: &ServiceInput, query: &FigureQuery) -> Result<Vec<FigureRow>> {
    let mut counter = FigureCounter::new(input, query)?;
    for call in &input.calls {
        counter.add_call(call);
    }
    for ticket in &input.tickets {
        counter.add_ticket(ticket);
    }
    Ok(counter.finish())
}

/// The rows of one query, counted as facts arrive. The registry and the targets come from a
/// [`ServiceInput`] whose `calls` and `tickets` it does not read (they may be empty).
#[derive(Debug)]
pub struct FigureCounter<'a> {
    context: &'a ServiceInput,
    query: FigureQuery,
    periods: Vec<Period>,
    rows: BTreeMap<(u64, String), Figures>,
}

impl<'a> FigureCounter<'a> {
    /// A counter for `query`, with the registry and targets of `context`.
    pub fn new(context: &'a ServiceInput, query: &FigureQuery) -> Result<Self> {
        let periods = query
            .period
            .split(query.split.unwrap_or(query.period.kind))?;
        Ok(FigureCounter {
            context,
            query: query.clone(),
            periods,
            rows: BTreeMap::new(),
        })
    }

    /// The tenant of `site`, else `fallback`, else the unknown group.
    fn tenant_of(&self, site: Option<&str>, fallback: Option<&str>) -> String {
        site.and_then(|s| self.context.site_tenants.get(s))
            .map(String::as_str)
            .or(fallback)
            .unwrap_or(UNKNOWN_GROUP)
            .to_owned()
    }

    fn group_of(&self, site: Option<&str>, tenant: &str, team: Option<&str>) -> String {
        match self.query.by {
            GroupBy::Site => site.unwrap_or(UNKNOWN_GROUP).to_owned(),
            GroupBy::Tenant => tenant.to_owned(),
            GroupBy::FocusTeam => team.unwrap_or(UNKNOWN_GROUP).to_owned(),
        }
    }

    fn wanted(&self, tenant: &str, team: Option<&str>) -> bool {
        self.query.tenant.as_deref().is_none_or(|t| t == tenant)
            && self
                .query
                .focus_team
                .as_deref()
                .is_none_or(|f| Some(f) == team)
    }

    /// The period (of the split) that holds `ms`, if any.
    fn index(&self, ms: u64) -> Option<Period> {
        let i = self.periods.partition_point(|p| p.end_ms() <= ms);
        self.periods.get(i).copied().filter(|p| p.contains(ms))
    }

    /// The figures of `group` in `period`, created empty on first use.
    fn row(&mut self, period: Period, group: &str) -> &mut Figures {
        self.rows
            .entry((period.start_ms, group.to_owned()))
            .or_default()
    }

    /// Counts one call event (outside the query's periods it counts for nothing).
    pub fn add_call(&mut self, call: &CallEvent) {
        let Some(period) = self.index(call.at_ms) else {
            return;
        };
        let tenant = self.tenant_of(Some(&call.site), None);
        let team = call.focus_team.as_deref();
        if !self.wanted(&tenant, team) {
            return;
        }
        let target = team
            .and_then(|t| self.context.teams.get(t))
            .unwrap_or(&self.context.default_targets)
            .answer_seconds;
        let group = self.group_of(Some(&call.site), &tenant, team);
        let f = self.row(period, &group);
        f.offered += 1;
        match call.outcome {
            CallOutcome::Answered => {
                f.answered += 1;
                f.answered_in_target += u64::from(call.wait_seconds <= target);
                f.answer_wait_seconds += u64::from(call.wait_seconds);
                f.handling_seconds += u64::from(call.talk_seconds) + u64::from(call.wrap_seconds);
            }
            CallOutcome::Abandoned => f.abandoned += 1,
            CallOutcome::Transferred => f.transferred += 1,
            CallOutcome::Offered => f.unresolved_calls += 1,
        }
    }

    /// Counts one ticket: its resolutions, escalations and rating in the periods, and whether
    /// it is open at each period's end (the backlog).
    pub fn add_ticket(&mut self, ticket: &TicketFacts) {
        let site = ticket.site.as_deref();
        let tenant = self.tenant_of(site, ticket.origin_tenant.as_deref());
        let team = Some(ticket.focus_team.as_str()).filter(|t| !t.is_empty());
        if !self.wanted(&tenant, team) {
            return;
        }
        let group = self.group_of(site, &tenant, team);
        for at in ticket.resolutions() {
            if let Some(period) = self.index(at) {
                let f = self.row(period, &group);
                f.resolved += 1;
                f.resolved_first_contact += u64::from(ticket.first_contact);
                f.reopened += u64::from(ticket.reopened_after(at));
            }
        }
        for t in &ticket.transitions {
            if t.transition.to == TicketStatus::Escalated
                && t.transition.from != Some(TicketStatus::Escalated)
            {
                if let Some(period) = self.index(t.at_ms) {
                    self.row(period, &group).escalations += 1;
                }
            }
        }
        if let Some(rating) = ticket.rating {
            if let Some(period) = self.index(rating.at_ms) {
                let f = self.row(period, &group);
                f.ratings += 1;
                f.rating_sum += u64::from(rating.score);
            }
        }
        for i in 0..self.periods.len() {
            let period = self.periods[i];
            let end = period.end_ms();
            if ticket.open_at(end) {
                self.row(period, &group)
                    .backlog
                    .add_age(end - ticket.opened_at_ms);
            }
        }
    }

    /// The rows counted, ordered by period then group, each with its targets.
    pub fn finish(self) -> Vec<FigureRow> {
        let targets_of = |group: &str| -> Targets {
            let team = match self.query.by {
                GroupBy::FocusTeam => Some(group),
                GroupBy::Site | GroupBy::Tenant => self.query.focus_team.as_deref(),
            };
            team.and_then(|t| self.context.teams.get(t))
                .copied()
                .unwrap_or(self.context.default_targets)
        };
        let kind = self.query.split.unwrap_or(self.query.period.kind);
        self.rows
            .into_iter()
            .map(|((start_ms, group), figures)| FigureRow {
                targets: targets_of(&group),
                period: Period { kind, start_ms }.to_string(),
                group,
                period_start_ms: start_ms,
                figures,
            })
            .collect()
    }
}
