//! Service figures (DESIGN.md section 7): calls offered and answered, service level, speed of
//! answer, abandonment, handling time, first-contact resolution, reopen rate, escalations,
//! backlog by age and customer satisfaction, by site, tenant or focus team and period.
//!
//! Pure arithmetic over facts the caller hands in ([`ServiceInput`]): the gateway reads call
//! logs, tickets, policies and the registry, builds the input and calls [`figures`], or, for a
//! store too large to hold every ticket's facts at once, hands the tickets to a
//! [`FigureCounter`] one at a time as it reads them. A
//! [`Figures`] value keeps counts and sums only, so figures of parts add up to the figures of the
//! whole ([`Figures::merge_following`]); the rates are computed from them on demand.
//!
//! What counts:
//! - each call event is one call with its final outcome: offered = answered + abandoned +
//!   transferred + still offered; answered within target uses the focus team's
//!   `sla_answer_seconds` (the default targets for calls without a known team);
//! - a ticket counts for the site that handled it (its `handling_site`) and that site's tenant
//!   (the creating tenant when no site is recorded);
//! - resolutions, reopenings and escalations are read from the status transitions the ticket
//!   keeps (its status register: the winner and the superseded writes kept for audit);
//! - the backlog is the open tickets at the period's end, by age.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::calendar::{Period, PeriodKind};
use crate::error::{Error, Result};
use crate::model::{CallEvent, FieldValue, StatusTransition, TicketField, TicketStatus};
use crate::state::EntityState;

mod count;

pub use count::{FigureCounter, figures};

const DAY_MS: u64 = 86_400_000;

/// What the figures are measured against: one focus team's policy, or the defaults.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Targets {
    /// A call answered within this many seconds counts for the service level.
    pub answer_seconds: u32,
    /// Service-level target in percent.
    pub service_level_percent: u32,
    /// First-contact resolution target in percent.
    pub first_contact_percent: u32,
}

impl Default for Targets {
    /// The federation's promises: a human within 25 s for 80% of calls, 75% solved at once.
    fn default() -> Self {
        Targets {
            answer_seconds: 25,
            service_level_percent: 80,
            first_contact_percent: 75,
        }
    }
}

/// A status change with the time it was written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimedTransition {
    /// When (ms).
    pub at_ms: u64,
    /// From what to what.
    pub transition: StatusTransition,
}

/// A customer's rating of a resolved ticket.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RatingFact {
    /// 1 to 5.
    pub score: u8,
    /// When given (ms).
    pub at_ms: u64,
}

/// What the figures need of one ticket.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TicketFacts {
    /// The public number.
    pub number: String,
    /// Its focus team.
    pub focus_team: String,
    /// The handling site, when recorded.
    pub site: Option<String>,
    /// The creating tenant, when recorded.
    pub origin_tenant: Option<String>,
    /// When opened (ms).
    pub opened_at_ms: u64,
    /// When last resolved (ms), used when no transition to `resolved` was kept.
    pub resolved_at_ms: Option<u64>,
    /// Solved in the first contact.
    pub first_contact: bool,
    /// The status transitions kept, in any order.
    pub transitions: Vec<TimedTransition>,
    /// The customer's rating, when given.
    pub rating: Option<RatingFact>,
}

impl TicketFacts {
    /// The facts of a ticket's merged state; `None` for a deleted or unopened ticket.
    pub fn from_state(state: &EntityState) -> Option<TicketFacts> {
        if state.deleted.is_some() {
            return None;
        }
        let field = |name: &str| match state.registers.get(name).map(|r| &r.winner.value) {
            Some(FieldValue::Ticket(field)) => Some(field.clone()),
            _ => None,
        };
        let text = |name: &str| match field(name) {
            Some(
                TicketField::FocusTeam(t)
                | TicketField::HandlingSite(t)
                | TicketField::OriginTenant(t),
            ) => Some(t),
            _ => None,
        };
        let opened_at_ms = match field("opened_at_ms") {
            Some(TicketField::OpenedAt(at)) => at,
            _ => return None,
        };
        let mut transitions = Vec::new();
        if let Some(register) = state.registers.get("status") {
            for write in std::iter::once(&register.winner).chain(&register.superseded) {
                if let FieldValue::Ticket(TicketField::Status(transition)) = write.value {
                    transitions.push(TimedTransition {
                        at_ms: write.stamp.hlc.wall_ms,
                        transition,
                    });
                }
            }
        }
        Some(TicketFacts {
            number: state.key.id.clone(),
            focus_team: text("focus_team").unwrap_or_default(),
            site: text("handling_site"),
            origin_tenant: text("origin_tenant"),
            opened_at_ms,
            resolved_at_ms: match field("resolved_at_ms") {
                Some(TicketField::ResolvedAt(at)) => Some(at),
                _ => None,
            },
            first_contact: matches!(
                field("first_contact"),
                Some(TicketField::FirstContact(true))
            ),
            transitions,
            rating: match field("rating") {
                Some(TicketField::Rating(rating)) => Some(RatingFact {
                    score: rating.score,
                    at_ms: rating.at_ms,
                }),
                _ => None,
            },
        })
    }

    /// The transitions in time order.
    fn ordered(&self) -> Vec<TimedTransition> {
        let mut all = self.transitions.clone();
        all.sort_by_key(|t| (t.at_ms, t.transition));
        all
    }

    /// The times it was resolved: its transitions to `resolved`, or its resolution time when
    /// none was kept.
    fn resolutions(&self) -> Vec<u64> {
        let kept: Vec<u64> = self
            .ordered()
            .iter()
            .filter(|t| t.transition.to == TicketStatus::Resolved)
            .map(|t| t.at_ms)
            .collect();
        if kept.is_empty() {
            self.resolved_at_ms.into_iter().collect()
        } else {
            kept
        }
    }

    /// True when a resolution at `at_ms` was later undone (a move out of `resolved` other than
    /// closing).
    fn reopened_after(&self, at_ms: u64) -> bool {
        self.transitions.iter().any(|t| {
            t.at_ms >= at_ms
                && t.transition.from == Some(TicketStatus::Resolved)
                && !matches!(
                    t.transition.to,
                    TicketStatus::Resolved | TicketStatus::Closed
                )
        })
    }

    /// True when the ticket was open (opened, neither resolved nor closed) just before `end_ms`.
    fn open_at(&self, end_ms: u64) -> bool {
        if self.opened_at_ms >= end_ms {
            return false;
        }
        let last = self.ordered().into_iter().rev().find(|t| t.at_ms < end_ms);
        match last {
            Some(t) => !matches!(
                t.transition.to,
                TicketStatus::Resolved | TicketStatus::Closed
            ),
            None => self.resolved_at_ms.is_none_or(|at| at >= end_ms),
        }
    }
}

/// Everything the figures are computed from.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceInput {
    /// Every call event of the period (others are ignored).
    pub calls: Vec<CallEvent>,
    /// Every ticket.
    pub tickets: Vec<TicketFacts>,
    /// Each focus team's targets, by team id.
    pub teams: BTreeMap<String, Targets>,
    /// The tenant of each site.
    pub site_tenants: BTreeMap<String, String>,
    /// Targets for calls without a known focus team and for rows of several teams.
    pub default_targets: Targets,
}

/// What the rows are grouped by.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GroupBy {
    /// One row per site.
    Site,
    /// One row per tenant.
    Tenant,
    /// One row per focus team.
    FocusTeam,
}

/// Which figures to compute.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FigureQuery {
    /// The period asked for.
    pub period: Period,
    /// One row per sub-period of this kind (e.g. the hours of a day); `None`: the period whole.
    pub split: Option<PeriodKind>,
    /// The grouping.
    pub by: GroupBy,
    /// Only this focus team.
    pub focus_team: Option<String>,
    /// Only this tenant (a partner reading its own figures).
    pub tenant: Option<String>,
}

/// Open tickets at a period's end, by age.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Backlog {
    /// Younger than one day.
    pub under_1d: u64,
    /// One to three days old.
    pub d1_to_3d: u64,
    /// Three to seven days old.
    pub d3_to_7d: u64,
    /// Seven days or older.
    pub over_7d: u64,
}

impl Backlog {
    /// All open tickets.
    pub fn total(&self) -> u64 {
        self.under_1d + self.d1_to_3d + self.d3_to_7d + self.over_7d
    }

    fn add_age(&mut self, age_ms: u64) {
        match age_ms / DAY_MS {
            0 => self.under_1d += 1,
            1 | 2 => self.d1_to_3d += 1,
            3..=6 => self.d3_to_7d += 1,
            _ => self.over_7d += 1,
        }
    }

    fn add(&mut self, other: &Backlog) {
        self.under_1d += other.under_1d;
        self.d1_to_3d += other.d1_to_3d;
        self.d3_to_7d += other.d3_to_7d;
        self.over_7d += other.over_7d;
    }
}

/// The counts and sums of one group in one period; rates are derived from them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Figures {
    /// Calls offered (every call event).
    pub offered: u64,
    /// Calls answered.
    pub answered: u64,
    /// Calls answered within the target seconds.
    pub answered_in_target: u64,
    /// Calls abandoned while waiting.
    pub abandoned: u64,
    /// Calls transferred.
    pub transferred: u64,
    /// Calls reported only as offered (no final outcome).
    pub unresolved_calls: u64,
    /// Seconds waited by answered calls, summed.
    pub answer_wait_seconds: u64,
    /// Talk plus wrap-up seconds of answered calls, summed.
    pub handling_seconds: u64,
    /// Resolutions in the period.
    pub resolved: u64,
    /// Resolutions of tickets solved in the first contact.
    pub resolved_first_contact: u64,
    /// Resolutions later undone by a reopening.
    pub reopened: u64,
    /// Moves into `escalated` in the period.
    pub escalations: u64,
    /// Open tickets at the period's end.
    pub backlog: Backlog,
    /// Customer ratings given in the period.
    pub ratings: u64,
    /// Their scores, summed.
    pub rating_sum: u64,
}

fn ratio(part: u64, whole: u64) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64)
}

impl Figures {
    /// Answered within target / offered; `None` without calls.
    pub fn service_level(&self) -> Option<f64> {
        ratio(self.answered_in_target, self.offered)
    }
    /// Mean seconds waited by answered calls.
    pub fn average_speed_of_answer(&self) -> Option<f64> {
        ratio(self.answer_wait_seconds, self.answered)
    }
    /// Abandoned / offered.
    pub fn abandonment_rate(&self) -> Option<f64> {
        ratio(self.abandoned, self.offered)
    }
    /// Mean talk plus wrap-up seconds of answered calls.
    pub fn average_handling_time(&self) -> Option<f64> {
        ratio(self.handling_seconds, self.answered)
    }
    /// Resolutions in the first contact / resolutions.
    pub fn first_contact_resolution(&self) -> Option<f64> {
        ratio(self.resolved_first_contact, self.resolved)
    }
    /// Resolutions later reopened / resolutions.
    pub fn reopen_rate(&self) -> Option<f64> {
        ratio(self.reopened, self.resolved)
    }
    /// Mean rating (1-5).
    pub fn satisfaction(&self) -> Option<f64> {
        ratio(self.rating_sum, self.ratings)
    }

    /// Adds the figures of a part of the same period (another site, team ...): every count and
    /// the backlog add up.
    pub fn add(&mut self, other: &Figures) {
        self.add_flows(other);
        self.backlog.add(&other.backlog);
    }

    /// Adds the figures of the period that directly follows: flows add up, the backlog is the
    /// later period's (it is measured at the end).
    pub fn merge_following(&mut self, later: &Figures) {
        self.add_flows(later);
        self.backlog = later.backlog;
    }

    fn add_flows(&mut self, o: &Figures) {
        self.offered += o.offered;
        self.answered += o.answered;
        self.answered_in_target += o.answered_in_target;
        self.abandoned += o.abandoned;
        self.transferred += o.transferred;
        self.unresolved_calls += o.unresolved_calls;
        self.answer_wait_seconds += o.answer_wait_seconds;
        self.handling_seconds += o.handling_seconds;
        self.resolved += o.resolved;
        self.resolved_first_contact += o.resolved_first_contact;
        self.reopened += o.reopened;
        self.escalations += o.escalations;
        self.ratings += o.ratings;
        self.rating_sum += o.rating_sum;
    }
}

/// The figures of one group in one period.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FigureRow {
    /// The site, tenant or focus team.
    pub group: String,
    /// The period's first millisecond.
    pub period_start_ms: u64,
    /// The period's label, e.g. `2026-07`.
    pub period: String,
    /// The counts.
    pub figures: Figures,
    /// What they are measured against.
    pub targets: Targets,
}

/// The group name used for facts without a site, tenant or team.
pub const UNKNOWN_GROUP: &str = "(unknown)";

/// Checks a rating score: 1 to 5.
pub fn check_score(score: u32) -> Result<u8> {
    match u8::try_from(score) {
        Ok(s @ 1..=5) => Ok(s),
        _ => Err(Error::invalid(
            "rating.score",
            format!("{score} is not a rating; allowed: 1, 2, 3, 4 or 5"),
        )),
    }
}
