//! Review cadence and quality sampling (DESIGN.md section 7): the in-house team reviews each
//! focus team once per period of its cadence, even when all is fine, and reads a reproducible
//! random sample of each partner's resolved tickets.
//!
//! - [`period`]: ISO weeks, pairs of ISO weeks and calendar months in UTC, with labels;
//! - [`sample`]: the seeded per-partner draw (own SplitMix64);
//! - [`facts`]: what a report reads from stored tickets and suggestions; [`relevant`]: which
//!   of a team's tickets a report over a period needs (read one at a time);
//! - [`report`]: the report and its builder; [`scorecard`]: criteria and the check of a
//!   score; [`render`]: Markdown and HTML.
//!
//! Pure: the gateway reads the store, picks the seed and the time, and hands them in.

pub mod facts;
pub mod period;
pub mod relevant;
pub mod render;
pub mod report;
pub mod sample;
pub mod scorecard;

pub use facts::{AcceptedSuggestion, TicketFacts};
pub use period::Period;
pub use relevant::PeriodTickets;
pub use report::{FigureLine, ReportInput, ReviewReport, build, parse_report_id, report_id};
pub use sample::{ClosedTicket, QualitySample};
pub use scorecard::{Criterion, Score, check_score};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ReviewCadence, TicketStatus};

    const DAY: u64 = 86_400_000;
    /// Monday 2026-06-29, start of 2026-W27.
    const W27: u64 = 20_633 * DAY;

    fn ticket(n: u32, tenant: &str, site: &str) -> TicketFacts {
        TicketFacts {
            id: format!("ASZ-2026-{n:06}"),
            team: Some("finance".into()),
            category: Some("password".into()),
            status: Some(TicketStatus::Closed),
            opened_at_ms: Some(W27 + DAY),
            resolved_at_ms: Some(W27 + 2 * DAY),
            first_contact: Some(n % 2 == 0),
            tenant: tenant.into(),
            site: site.into(),
            escalated_at_ms: Vec::new(),
        }
    }

    fn input<'a>(
        tickets: &'a [TicketFacts],
        earlier: &'a [ReviewReport],
        at: u64,
    ) -> ReportInput<'a> {
        ReportInput {
            team: "finance",
            team_name: "Finance <& HR>",
            fcr_target_percent: Some(75),
            period: Period::containing(ReviewCadence::Weekly, at),
            tickets,
            suggestions: &[],
            figures: Vec::new(),
            earlier,
            scorecard: vec![Criterion {
                id: "solution_correct".into(),
                question: "Was the solution correct?".into(),
            }],
            sample_size: 2,
            seed: 42,
            generated_at_ms: at + 8 * DAY,
        }
    }

    /// A report counts the team's tickets, computes first-contact resolution against its
    /// target, lists escalations and open tickets of the period and compares with earlier
    /// reports, so staff see the figures, their trend and what went wrong.
    #[test]
    fn report_holds_figures_trend_and_lists() {
        let mut tickets: Vec<TicketFacts> =
            (0..4).map(|n| ticket(n, "twenty4help", "munich")).collect();
        tickets[3].status = Some(TicketStatus::Escalated);
        tickets[3].resolved_at_ms = None;
        tickets[3].escalated_at_ms = vec![W27 + 3 * DAY];
        let mut other_team = ticket(9, "twenty4help", "munich");
        other_team.team = Some("plants".into());
        tickets.push(other_team);
        let earlier = build(input(&tickets, &[], W27 - 7 * DAY));
        let report = build(input(&tickets, std::slice::from_ref(&earlier), W27));
        assert_eq!(report.id, "finance.2026-W27");
        let value = |name: &str| {
            report
                .figures
                .iter()
                .find(|f| f.name == name)
                .map(|f| (f.value, f.target))
        };
        assert_eq!(value("tickets opened"), Some((4.0, None)));
        assert_eq!(value("tickets resolved or closed"), Some((3.0, None)));
        assert_eq!(
            value("first-contact resolution (%)"),
            Some((66.7, Some(75.0)))
        );
        assert_eq!(report.escalations.len(), 1);
        assert_eq!(report.oldest_open[0].ticket, "ASZ-2026-000003");
        assert_eq!(report.categories, vec![("password".to_owned(), 4)]);
        assert_eq!(
            report.trend[0].earlier,
            vec![("2026-W26".to_owned(), Some(0.0))]
        );
        assert_eq!(report.sample.partners[0].tickets.len(), 2);
        let text = render::markdown(&report, &[]);
        assert!(
            text.contains("| first-contact resolution (%) | 66.7 | 75 | BELOW TARGET |"),
            "{text}"
        );
        assert!(text.contains("Finance \\<\\& HR\\>"), "{text}");
    }

    /// Every value a partner or staff member wrote is escaped in HTML, so a note or category
    /// cannot inject markup into the page staff open.
    #[test]
    fn html_escapes_everything() {
        let mut hostile = ticket(1, "twenty4help", "munich");
        hostile.category = Some("<script>alert('x')</script>".into());
        let tickets = [hostile];
        let report = build(input(&tickets, &[], W27));
        let score = Score {
            ticket: report.sample.partners[0].tickets[0].id.clone(),
            points: [("solution_correct".to_owned(), 2)].into(),
            note: Some("\"><img src=x onerror=alert(1)>".into()),
            by: "alice".into(),
            at_ms: W27 + 9 * DAY,
        };
        let page = render::html(&report, &[score]);
        assert!(
            !page.contains("<script>") && !page.contains("<img"),
            "{page}"
        );
        assert!(
            page.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"),
            "{page}"
        );
        assert!(page.contains("Every sampled ticket is scored."), "{page}");
        assert!(!render::markdown(&report, &[]).contains("<script>"));
    }

    /// Report ids read back to their team and period, and a bad id says the allowed form.
    #[test]
    fn report_ids_round_trip() {
        let period = Period::containing(ReviewCadence::Biweekly, W27);
        let id = report_id("finance", &period);
        assert_eq!(
            parse_report_id(&id).unwrap(),
            ("finance".to_owned(), period)
        );
        let err = parse_report_id("finance").unwrap_err().to_string();
        assert!(err.contains("<focus team>.<period>"), "{err}");
    }
}
