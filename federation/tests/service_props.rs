//! Properties of the service-figure arithmetic (`hotline_federation::service`) over generated
//! call streams and ticket histories: the counts add up whichever way they are grouped or cut.

use std::collections::BTreeMap;

use hotline_federation::calendar::{Period, PeriodKind};
use hotline_federation::model::{CallEvent, CallOutcome, StatusTransition, TicketStatus};
use hotline_federation::service::{
    FigureCounter, FigureQuery, FigureRow, Figures, GroupBy, RatingFact, ServiceInput, Targets,
    TicketFacts, TimedTransition, figures,
};
use proptest::prelude::*;

const HOUR: u64 = 3_600_000;
const DAY: u64 = 24 * HOUR;
const SITES: [&str; 4] = ["munich", "dortmund", "erfurt", "goerlitz"];
const TEAMS: [&str; 3] = ["finance", "plants", "bank"];

fn day() -> Period {
    Period::parse("2026-07-14").unwrap()
}

fn call() -> impl Strategy<Value = CallEvent> {
    (
        0..SITES.len(),
        prop::sample::select(CallOutcome::ALL.to_vec()),
        0u32..120,
        0..DAY + 4 * HOUR,
        prop::option::of(0..TEAMS.len()),
        0u32..900,
        0u32..300,
    )
        .prop_map(|(site, outcome, wait, at, team, talk, wrap)| CallEvent {
            id: format!("{}-{at}", SITES[site]),
            site: SITES[site].to_owned(),
            outcome,
            wait_seconds: wait,
            at_ms: day().start_ms - 2 * HOUR + at,
            focus_team: team.map(|t| TEAMS[t].to_owned()),
            ticket_number: None,
            talk_seconds: talk,
            wrap_seconds: wrap,
        })
}

fn ticket() -> impl Strategy<Value = TicketFacts> {
    (
        0..SITES.len(),
        0..TEAMS.len(),
        0..12 * DAY,
        prop::collection::vec(
            (
                1..20 * HOUR,
                prop::sample::select(TicketStatus::ALL.to_vec()),
            ),
            0..6,
        ),
        any::<bool>(),
        prop::option::of((1u8..=5, 0..30 * HOUR)),
    )
        .prop_map(|(site, team, age, steps, first_contact, rating)| {
            let opened = day().end_ms() - age;
            let mut at = opened;
            let mut from = Some(TicketStatus::New);
            let mut transitions = vec![TimedTransition {
                at_ms: at,
                transition: StatusTransition {
                    from: None,
                    to: TicketStatus::New,
                },
            }];
            for (gap, to) in steps {
                if from == Some(TicketStatus::Closed) {
                    break;
                }
                at += gap;
                transitions.push(TimedTransition {
                    at_ms: at,
                    transition: StatusTransition { from, to },
                });
                from = Some(to);
            }
            TicketFacts {
                number: format!("ASZ-2026-{age:06}"),
                focus_team: TEAMS[team].to_owned(),
                site: Some(SITES[site].to_owned()),
                origin_tenant: None,
                opened_at_ms: opened,
                resolved_at_ms: None,
                first_contact,
                transitions,
                rating: rating.map(|(score, after)| RatingFact {
                    score,
                    at_ms: opened + after,
                }),
            }
        })
}

fn input() -> impl Strategy<Value = ServiceInput> {
    (
        prop::collection::vec(call(), 0..200),
        prop::collection::vec(ticket(), 0..40),
    )
        .prop_map(|(calls, tickets)| ServiceInput {
            calls,
            tickets,
            teams: BTreeMap::from([
                ("finance".to_owned(), Targets::default()),
                (
                    "plants".to_owned(),
                    Targets {
                        answer_seconds: 40,
                        ..Targets::default()
                    },
                ),
                (
                    "bank".to_owned(),
                    Targets {
                        answer_seconds: 10,
                        ..Targets::default()
                    },
                ),
            ]),
            site_tenants: BTreeMap::from([
                ("munich".to_owned(), "inhouse".to_owned()),
                ("dortmund".to_owned(), "twenty4help".to_owned()),
                ("erfurt".to_owned(), "twenty4help".to_owned()),
                ("goerlitz".to_owned(), "helpbycom".to_owned()),
            ]),
            default_targets: Targets::default(),
        })
}

fn query(by: GroupBy) -> FigureQuery {
    FigureQuery {
        period: day(),
        split: None,
        by,
        focus_team: None,
        tenant: None,
    }
}

fn total(rows: &[FigureRow]) -> Figures {
    let mut sum = Figures::default();
    for row in rows {
        sum.add(&row.figures);
    }
    sum
}

proptest! {
    /// Every offered call has exactly one outcome and every rate stays within 0..=1, so a
    /// report can never show more answered than offered calls or a level above 100%.
    #[test]
    fn outcomes_add_up_and_rates_are_shares(input in input()) {
        for by in [GroupBy::Site, GroupBy::Tenant, GroupBy::FocusTeam] {
            for row in figures(&input, &query(by)).unwrap() {
                let f = row.figures;
                prop_assert_eq!(f.offered, f.answered + f.abandoned + f.transferred + f.unresolved_calls);
                prop_assert!(f.answered_in_target <= f.answered);
                prop_assert!(f.resolved_first_contact <= f.resolved && f.reopened <= f.resolved);
                for rate in [f.service_level(), f.abandonment_rate(), f.first_contact_resolution(), f.reopen_rate()]
                    .into_iter()
                    .flatten()
                {
                    prop_assert!((0.0..=1.0).contains(&rate), "{rate}");
                }
                if let Some(mean) = f.satisfaction() {
                    prop_assert!((1.0..=5.0).contains(&mean));
                }
            }
        }
    }

    /// The site rows of each tenant add up to that tenant's row, and every grouping has the
    /// same total, so partner, site and team views of one period never disagree.
    #[test]
    fn groupings_agree(input in input()) {
        let sites = figures(&input, &query(GroupBy::Site)).unwrap();
        let tenants = figures(&input, &query(GroupBy::Tenant)).unwrap();
        let teams = figures(&input, &query(GroupBy::FocusTeam)).unwrap();
        for tenant in &tenants {
            let mut sum = Figures::default();
            for site in &sites {
                if input.site_tenants[&site.group] == tenant.group {
                    sum.add(&site.figures);
                }
            }
            prop_assert_eq!(sum, tenant.figures, "tenant {}", tenant.group);
        }
        prop_assert_eq!(total(&sites), total(&tenants));
        // Calls without a team fall in the "(unknown)" team row, so the totals match too.
        prop_assert_eq!(total(&teams), total(&tenants));
    }

    /// Cutting the day into its hours and merging them in order gives the day's figures
    /// (flows add up, the backlog is the last hour's), so hourly charts match daily reports.
    #[test]
    fn hours_merge_into_the_day(input in input()) {
        let whole = figures(&input, &query(GroupBy::Tenant)).unwrap();
        let hourly = figures(&input, &FigureQuery { split: Some(PeriodKind::Hour), ..query(GroupBy::Tenant) }).unwrap();
        let hours = day().split(PeriodKind::Hour).unwrap();
        prop_assert!(hourly.iter().all(|r| hours.iter().any(|h| h.start_ms == r.period_start_ms)));
        for row in &whole {
            let mut merged = Figures::default();
            for hour in &hours {
                let part = hourly
                    .iter()
                    .find(|r| r.group == row.group && r.period_start_ms == hour.start_ms)
                    .map(|r| r.figures)
                    .unwrap_or_default();
                merged.merge_following(&part);
            }
            prop_assert_eq!(merged, row.figures, "tenant {}", row.group);
        }
    }

    /// A tenant filter returns exactly that tenant's rows of the unfiltered answer, so a
    /// partner reading its own figures sees the same numbers staff see for it, and no others.
    #[test]
    fn tenant_filter_keeps_only_that_tenant(input in input(), by in prop::sample::select(vec![GroupBy::Site, GroupBy::Tenant, GroupBy::FocusTeam])) {
        let own = figures(&input, &FigureQuery { tenant: Some("twenty4help".into()), ..query(by) }).unwrap();
        let only: ServiceInput = ServiceInput {
            calls: input.calls.iter().filter(|c| input.site_tenants[&c.site] == "twenty4help").cloned().collect(),
            tickets: input.tickets.iter().filter(|t| input.site_tenants[t.site.as_deref().unwrap()] == "twenty4help").cloned().collect(),
            ..input.clone()
        };
        prop_assert_eq!(own, figures(&only, &query(by)).unwrap());
    }

    /// Facts handed to a counter one at a time, tickets and calls interleaved in any order and
    /// from a context without them (as the gateway reads a large store a chunk at a time),
    /// give exactly the rows of the whole input.
    #[test]
    fn counting_one_at_a_time_in_any_order_is_the_whole(
        input in input(),
        by in prop::sample::select(vec![GroupBy::Site, GroupBy::Tenant, GroupBy::FocusTeam]),
        seed in any::<u64>(),
    ) {
        let whole = figures(&input, &query(by)).unwrap();
        let context = ServiceInput { calls: Vec::new(), tickets: Vec::new(), ..input.clone() };
        let mut counter = FigureCounter::new(&context, &query(by)).unwrap();
        let (mut calls, mut tickets) = (input.calls.iter(), input.tickets.iter().rev());
        let mut bits = seed;
        loop {
            bits = bits.rotate_left(1) ^ 0x9e37_79b9_7f4a_7c15;
            let call_first = bits & 1 == 0;
            let next_call = if call_first { calls.next() } else { None };
            if let Some(call) = next_call {
                counter.add_call(call);
            } else if let Some(ticket) = tickets.next() {
                counter.add_ticket(ticket);
            } else if let Some(call) = calls.next() {
                counter.add_call(call);
            } else {
                break;
            }
        }
        prop_assert_eq!(whole, counter.finish());
    }
}

/// A small hand-counted case: the service level counts only answers within the team's own
/// target, and the backlog ages open tickets at the period's end.
#[test]
fn hand_counted_day() {
    let start = day().start_ms;
    let event = |id: &str, outcome, wait, team: &str| CallEvent {
        id: id.into(),
        site: "erfurt".into(),
        outcome,
        wait_seconds: wait,
        at_ms: start + HOUR,
        focus_team: Some(team.into()),
        ticket_number: None,
        talk_seconds: 100,
        wrap_seconds: 20,
    };
    let input = ServiceInput {
        calls: vec![
            event("a", CallOutcome::Answered, 20, "finance"),
            event("b", CallOutcome::Answered, 30, "finance"),
            event("c", CallOutcome::Answered, 30, "plants"),
            event("d", CallOutcome::Abandoned, 50, "plants"),
        ],
        tickets: vec![TicketFacts {
            number: "ASZ-2026-000001".into(),
            focus_team: "plants".into(),
            site: Some("erfurt".into()),
            origin_tenant: None,
            opened_at_ms: start - DAY,
            resolved_at_ms: None,
            first_contact: false,
            transitions: vec![],
            rating: None,
        }],
        teams: BTreeMap::from([(
            "plants".to_owned(),
            Targets {
                answer_seconds: 40,
                ..Targets::default()
            },
        )]),
        site_tenants: BTreeMap::from([("erfurt".to_owned(), "twenty4help".to_owned())]),
        default_targets: Targets::default(),
    };
    let rows = figures(&input, &query(GroupBy::Tenant)).unwrap();
    assert_eq!(rows.len(), 1);
    let f = rows[0].figures;
    assert_eq!((f.offered, f.answered, f.answered_in_target), (4, 3, 2));
    assert_eq!(f.service_level(), Some(0.5));
    assert_eq!(f.abandonment_rate(), Some(0.25));
    assert_eq!(f.average_handling_time(), Some(120.0));
    assert_eq!(f.backlog.d1_to_3d, 1);
    assert_eq!(rows[0].period, "2026-07-14");
}
