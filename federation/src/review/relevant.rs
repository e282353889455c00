//! Which of a team's tickets a report over one period needs, kept while the tickets are read
//! one at a time, so building a report holds the period's tickets and not the team's whole
//! history (with a million tickets, building the reports due at a start took the gateway about
//! 300 MiB when all of them were held; BENCHMARKS.md, "How cost grows"). Ticket ids are
//! unique among the tickets offered (the gateway's team index names each once).
//!
//! [`super::build`] reads of a ticket only: whether it was opened, resolved or escalated in
//! the period (counts, categories, escalations, the quality sample), and, for the oldest open
//! tickets, its opening time among those still open and opened before the period's end (the
//! predicates of `report::reads`, which both use). So a
//! ticket with something in the period is kept, and of the others only the [`LIST_LINES`]
//! oldest open ones: the report built from what is kept equals the one built from every ticket
//! (tested below).

use super::facts::TicketFacts;
use super::period::Period;
use super::report::{LIST_LINES, reads};

/// The tickets of one team a report over one period needs, offered one at a time.
#[derive(Debug)]
pub struct PeriodTickets {
    team: String,
    period: Period,
    /// Tickets opened, resolved or escalated in the period.
    kept: Vec<TicketFacts>,
    /// Other open tickets opened before the period's end: at most twice [`LIST_LINES`], cut to
    /// the oldest [`LIST_LINES`] whenever it fills.
    open: Vec<TicketFacts>,
}

impl PeriodTickets {
    /// Nothing offered yet, for the report of `team` over `period`.
    pub fn new(team: &str, period: &Period) -> Self {
        PeriodTickets {
            team: team.to_owned(),
            period: period.clone(),
            kept: Vec::new(),
            open: Vec::new(),
        }
    }

    /// Keeps `ticket` if the report can read it (see the module documentation).
    pub fn offer(&mut self, ticket: TicketFacts) {
        if !reads::of_team(&ticket, &self.team) {
            return;
        }
        if reads::touched_in(&ticket, &self.period) {
            self.kept.push(ticket);
        } else if reads::open_since(&ticket, &self.period).is_some() {
            self.open.push(ticket);
            if self.open.len() >= 2 * LIST_LINES {
                self.keep_oldest_open();
            }
        }
    }

    /// Cuts the open tickets to the oldest [`LIST_LINES`], in the report's order.
    fn keep_oldest_open(&mut self) {
        self.open
            .sort_by(|a, b| (a.opened_at_ms, &a.id).cmp(&(b.opened_at_ms, &b.id)));
        self.open.truncate(LIST_LINES);
    }

    /// Tickets kept so far.
    pub fn len(&self) -> usize {
        self.kept.len() + self.open.len()
    }

    /// Whether nothing was kept.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// What the report reads.
    pub fn into_tickets(mut self) -> Vec<TicketFacts> {
        self.keep_oldest_open();
        self.kept.append(&mut self.open);
        self.kept
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ReviewCadence, TicketStatus};
    use crate::review::sample::SplitMix64;
    use crate::review::{Criterion, ReportInput, build};

    const DAY: u64 = 86_400_000;
    /// Monday 2026-06-29, start of 2026-W27.
    const W27: u64 = 20_633 * DAY;

    /// Tickets around one week: opened, resolved and escalated before, in and after it, in
    /// every status, of two teams and three partners.
    fn tickets(count: u32, seed: u64) -> Vec<TicketFacts> {
        let mut rng = SplitMix64::new(seed);
        let at = |rng: &mut SplitMix64| W27 - 20 * DAY + rng.below(40 * DAY);
        let statuses = [
            TicketStatus::New,
            TicketStatus::InProgress,
            TicketStatus::Escalated,
            TicketStatus::Resolved,
            TicketStatus::Closed,
        ];
        (0..count)
            .map(|n| {
                let opened = at(&mut rng);
                let status = statuses[rng.below(statuses.len() as u64) as usize];
                let done = matches!(status, TicketStatus::Resolved | TicketStatus::Closed);
                let escalated = (0..rng.below(3)).map(|_| at(&mut rng)).collect();
                let tenant = ["twenty4help", "inhouse", "callpro"][(n % 3) as usize];
                TicketFacts {
                    id: format!("ASZ-2026-{n:06}"),
                    team: Some(if n % 7 == 0 { "sales" } else { "finance" }.into()),
                    category: Some(["vpn", "password", "mail"][(n % 3) as usize].into()),
                    status: Some(status),
                    opened_at_ms: (n % 11 != 0).then_some(opened),
                    resolved_at_ms: done.then(|| opened + rng.below(10 * DAY)),
                    first_contact: Some(n % 2 == 0),
                    tenant: tenant.into(),
                    site: format!("{tenant}-site"),
                    escalated_at_ms: escalated,
                }
            })
            .collect()
    }

    /// Tickets on the period's edges (its first and last millisecond, the first one after it),
    /// open ones opened at the same moment, and one without a team or a status.
    fn edges(period: &Period) -> Vec<TicketFacts> {
        let (start, end) = (period.start_ms, period.end_ms);
        let at = [start, end - 1, end, start - 1, start, start];
        let mut out: Vec<TicketFacts> = at
            .iter()
            .enumerate()
            .map(|(n, &at)| TicketFacts {
                id: format!("ASZ-2026-9{n:05}"),
                team: Some("finance".into()),
                category: Some("edge".into()),
                status: Some(if n % 2 == 0 {
                    TicketStatus::Resolved
                } else {
                    TicketStatus::New
                }),
                opened_at_ms: Some(at),
                resolved_at_ms: (n % 2 == 0).then_some(at),
                first_contact: Some(true),
                tenant: "twenty4help".into(),
                site: "dortmund".into(),
                escalated_at_ms: if n == 3 { vec![at] } else { Vec::new() },
            })
            .collect();
        out.push(TicketFacts {
            id: "ASZ-2026-999999".into(),
            team: None,
            category: None,
            status: None,
            opened_at_ms: Some(start),
            resolved_at_ms: None,
            first_contact: None,
            tenant: "callpro".into(),
            site: "erfurt".into(),
            escalated_at_ms: Vec::new(),
        });
        out
    }

    fn input(tickets: &[TicketFacts], period: Period) -> ReportInput<'_> {
        ReportInput {
            team: "finance",
            team_name: "Finance",
            fcr_target_percent: Some(75),
            period,
            tickets,
            suggestions: &[],
            figures: Vec::new(),
            earlier: &[],
            scorecard: vec![Criterion {
                id: "solution_correct".into(),
                question: "Was the solution correct?".into(),
            }],
            sample_size: 3,
            seed: 7,
            generated_at_ms: W27 + 8 * DAY,
        }
    }

    /// The report built from the kept tickets equals the one built from all of them, for
    /// many draws of tickets, while far fewer are kept than offered.
    #[test]
    fn the_kept_tickets_build_the_same_report_as_all() {
        let period = Period::containing(ReviewCadence::Weekly, W27 + DAY);
        let mut kept_total = 0;
        for seed in 0..200 {
            let mut all = tickets(300, seed);
            all.extend(edges(&period));
            // Offered in another order than `all` is built from: the report must not care.
            let mut offered = all.clone();
            let mut rng = SplitMix64::new(seed ^ 0x5eed);
            for i in (1..offered.len()).rev() {
                offered.swap(i, rng.below(i as u64 + 1) as usize);
            }
            let mut relevant = PeriodTickets::new("finance", &period);
            for ticket in offered {
                relevant.offer(ticket);
            }
            kept_total += relevant.len();
            let kept = relevant.into_tickets();
            assert_eq!(
                build(input(&kept, period.clone())),
                build(input(&all, period.clone())),
                "seed {seed}"
            );
        }
        assert!(
            kept_total < 200 * 300 / 2,
            "kept {kept_total} of {} tickets: the filter keeps too much",
            200 * 300
        );
    }

    /// Open tickets from before the period are cut to the oldest few however many are
    /// offered, so a team's history does not grow what a report holds.
    #[test]
    fn open_tickets_from_before_the_period_stay_few() {
        let period = Period::containing(ReviewCadence::Weekly, W27 + DAY);
        let mut relevant = PeriodTickets::new("finance", &period);
        for n in 0..10_000u64 {
            relevant.offer(TicketFacts {
                id: format!("ASZ-2026-{n:06}"),
                team: Some("finance".into()),
                category: None,
                status: Some(TicketStatus::New),
                opened_at_ms: Some(W27 - DAY - n * 1000),
                resolved_at_ms: None,
                first_contact: None,
                tenant: "twenty4help".into(),
                site: "dortmund".into(),
                escalated_at_ms: Vec::new(),
            });
            assert!(relevant.len() < 2 * LIST_LINES);
        }
        let kept = relevant.into_tickets();
        assert_eq!(kept.len(), LIST_LINES);
        // The oldest ones: opened furthest back, the highest numbers here.
        assert!(kept.iter().all(|t| t.id.as_str() >= "ASZ-2026-009990"));
    }
}
