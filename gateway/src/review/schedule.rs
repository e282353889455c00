//! The review schedule: every `review.check_interval_secs` (and once at start) the gateway
//! looks at each focus team's last ended period of its cadence and produces every report that
//! is missing since the team's newest one. A team without any report gets only its last ended
//! period (no backfill of the whole history on first start); a gateway that was down for a
//! few periods catches up, at most [`MAX_CATCH_UP`] periods per team. A report already stored
//! is never produced again, so restarts make no duplicates.

use std::sync::Arc;
use std::time::Duration;

use hotline_federation::review::Period;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::{ReviewedTeam, build_reports, reports_of, store_report, teams};
use crate::error::{Error, Result};
use crate::state::GatewayState;
use crate::store::keys;

/// Most missed periods of one team produced in one check.
pub const MAX_CATCH_UP: usize = 12;

/// Starts the schedule (unless `review.enabled` is false); it ends when `shutdown` is
/// cancelled.
pub fn spawn(state: Arc<GatewayState>, shutdown: CancellationToken) -> JoinHandle<()> {
    tokio::spawn(async move {
        if !state.config.review.enabled {
            return;
        }
        let interval = Duration::from_secs(state.config.review.check_interval_secs);
        loop {
            match check_due(&state).await {
                Ok(0) => {}
                Ok(made) => tracing::info!(made, "review reports produced"),
                Err(error) => tracing::warn!(%error, "review check failed; retrying next interval"),
            }
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(interval) => {}
            }
        }
    })
}

/// The periods of `team` that have ended at `now_ms` and have no report, oldest first, given
/// the team's newest report's period end (`None`: no report yet).
pub fn missing_periods(team: &ReviewedTeam, newest_end: Option<u64>, now_ms: u64) -> Vec<Period> {
    let last = Period::last_ended(team.cadence, now_ms);
    let Some(newest_end) = newest_end else {
        return vec![last];
    };
    let mut out = Vec::new();
    let mut period = last;
    while period.start_ms >= newest_end && out.len() < MAX_CATCH_UP {
        let previous = period.previous();
        out.push(period);
        period = previous;
    }
    out.reverse();
    out
}

/// Produces every due report now; answers how many were produced.
pub async fn check_due(state: &Arc<GatewayState>) -> Result<usize> {
    let reader = state.clone();
    let due = tokio::task::spawn_blocking(move || -> Result<Vec<_>> {
        let now = reader.now_ms();
        let mut due = Vec::new();
        for team in teams(&reader)? {
            let newest_end = reports_of(&reader, &team.id)?
                .last()
                .map(|r| r.period.end_ms);
            let mut periods = Vec::new();
            for period in missing_periods(&team, newest_end, now) {
                let key = keys::review_report(&team.id, period.start_ms);
                if reader.store.get(&key)?.is_none() {
                    periods.push(period);
                }
            }
            if periods.is_empty() {
                continue;
            }
            for report in build_reports(&reader, &team, periods)? {
                let key = keys::review_report(&team.id, report.period.start_ms);
                due.push((key, report));
            }
        }
        Ok(due)
    })
    .await
    .map_err(|e| Error::Unavailable(format!("review check failed: {e}")))??;
    let mut made = 0;
    for (key, report) in due {
        if store_report(state, key, report).await?.1 {
            made += 1;
        }
    }
    Ok(made)
}

#[cfg(test)]
mod tests {
    use super::*;
    use hotline_federation::model::ReviewCadence;

    const DAY: u64 = 86_400_000;
    /// Monday 2026-06-29, start of 2026-W27.
    const W27: u64 = 20_633 * DAY;

    fn team() -> ReviewedTeam {
        ReviewedTeam {
            id: "finance".into(),
            name: "Finance".into(),
            cadence: ReviewCadence::Weekly,
            fcr_target_percent: Some(75),
        }
    }

    /// A first start produces only the last ended week; after a report of W25, a check in
    /// W28 produces W26 and W27; with W27 stored nothing is due; a long outage catches up at
    /// most twelve periods.
    #[test]
    fn due_periods_follow_the_newest_report() {
        let now = W27 + 7 * DAY + 5;
        let labels = |end| -> Vec<String> {
            missing_periods(&team(), end, now)
                .into_iter()
                .map(|p| p.label)
                .collect()
        };
        assert_eq!(labels(None), ["2026-W27"]);
        assert_eq!(labels(Some(W27 - 7 * DAY)), ["2026-W26", "2026-W27"]);
        assert!(labels(Some(W27 + 7 * DAY)).is_empty());
        assert_eq!(labels(Some(W27 - 70 * 7 * DAY)).len(), MAX_CATCH_UP);
    }

    /// Building several periods in one pass over the team's tickets gives each period the
    /// report built on its own (the quality sample's seed aside): tickets opened, resolved and
    /// escalated in either week, still open, and of another team.
    #[tokio::test]
    async fn periods_built_together_equal_periods_built_alone() {
        use hotline_federation::authority::Caller;
        use hotline_federation::model::CustomerRating;
        use hotline_federation::model::{
            CallEvent, CallOutcome, EntityKey, EntityKind, FieldValue, StatusTransition,
            TicketField, TicketStatus,
        };
        use hotline_federation::service::{Figures, Targets};
        use hotline_federation::{Change, FieldOp, Hlc};

        let config = crate::config::GatewayConfig {
            storage: "memory".into(),
            ..crate::config::GatewayConfig::default()
        };
        let state = GatewayState::open_with_store(
            config,
            Arc::new(crate::store::memory::MemoryStore::new()),
        )
        .await
        .unwrap();
        let set = |f| FieldOp::Set(FieldValue::Ticket(f));
        let mut changes = Vec::new();
        for i in 0..40u64 {
            let opened = W27 - 7 * DAY + i * 9 * 3_600_000;
            let mut ops = vec![
                set(TicketField::PublicNumber(format!("ASZ-2026-{:06}", i + 1))),
                set(TicketField::OriginTenant("inhouse".into())),
                set(TicketField::FocusTeam(
                    if i % 5 == 0 { "plants" } else { "finance" }.into(),
                )),
                set(TicketField::Category(format!("c{}", i % 3))),
                set(TicketField::OpenedAt(opened)),
                set(TicketField::FirstContact(i % 2 == 0)),
            ];
            // An escalation's time is its status write's: the change is stamped a day in.
            let (to, stamped) = if i % 3 == 0 {
                ops.push(set(TicketField::ResolvedAt(opened + 2 * DAY)));
                if i % 2 == 0 {
                    ops.push(set(TicketField::Rating(CustomerRating {
                        score: (1 + i % 5) as u8,
                        remark: String::new(),
                        at_ms: opened + 2 * DAY,
                    })));
                }
                (TicketStatus::Resolved, opened)
            } else if i % 4 == 0 {
                (TicketStatus::Escalated, opened + DAY)
            } else {
                (TicketStatus::New, opened)
            };
            ops.push(set(TicketField::Status(StatusTransition {
                from: None,
                to,
            })));
            changes.push(Change {
                key: EntityKey::new(EntityKind::Ticket, format!("ASZ-2026-{:06}", i + 1)),
                ops,
                origin_site: "munich".into(),
                origin_seq: i + 1,
                hlc: Hlc::new(stamped, 0),
            });
        }
        // Some resolved tickets reopened a day after their resolution.
        for i in (0..40u64).filter(|i| i % 9 == 0) {
            let opened = W27 - 7 * DAY + i * 9 * 3_600_000;
            changes.push(Change {
                key: EntityKey::new(EntityKind::Ticket, format!("ASZ-2026-{:06}", i + 1)),
                ops: vec![set(TicketField::Status(StatusTransition {
                    from: Some(TicketStatus::Resolved),
                    to: TicketStatus::InProgress,
                }))],
                origin_site: "munich".into(),
                origin_seq: 1_000 + i,
                hlc: Hlc::new(opened + 3 * DAY, 0),
            });
        }
        // Calls of both teams over both weeks, so the service lines have figures to differ in.
        let calls: Vec<Change> = (0..14u64)
            .map(|day| {
                let start = W27 - 7 * DAY + day * DAY;
                let ops = (0..6u64)
                    .map(|n| {
                        FieldOp::AddCallEvent(CallEvent {
                            id: format!("acd-{day}-{n}"),
                            site: "munich".into(),
                            outcome: CallOutcome::ALL[((day + n) % 4) as usize],
                            wait_seconds: (5 + 7 * n + day) as u32,
                            at_ms: start + n * 3_600_000,
                            focus_team: Some(if n % 3 == 0 { "plants" } else { "finance" }.into()),
                            ticket_number: None,
                            talk_seconds: 60 + n as u32,
                            wrap_seconds: 10,
                        })
                    })
                    .collect();
                Change {
                    key: EntityKey::new(
                        EntityKind::CallLog,
                        format!("munich.{}", hotline_federation::calendar::iso_date(start)),
                    ),
                    ops,
                    origin_site: "munich".into(),
                    origin_seq: 100 + day,
                    hlc: Hlc::new(start, 0),
                }
            })
            .collect();
        changes.extend(calls);
        state.writer.push(Caller::Gateway, changes).await.unwrap();
        let w26 = Period::last_ended(ReviewCadence::Weekly, W27 + 5);
        let w27 = w26.next();
        let together = build_reports(&state, &team(), vec![w26.clone(), w27.clone()]).unwrap();
        let alone = [
            super::super::build_report(&state, &team(), w26).unwrap(),
            super::super::build_report(&state, &team(), w27).unwrap(),
        ];
        assert_eq!(together.len(), 2);
        for (together, alone) in together.iter().zip(&alone) {
            assert_eq!(together.period, alone.period);
            assert_eq!(together.figures, alone.figures);
            assert_eq!(together.categories, alone.categories);
            assert_eq!(together.escalations, alone.escalations);
            assert_eq!(together.oldest_open, alone.oldest_open);
        }
        assert!(
            together[0].figures[0].value > 0.0 && together[1].figures[0].value > 0.0,
            "a week without tickets tests nothing: {:?}",
            together.iter().map(|r| &r.figures).collect::<Vec<_>>()
        );
        assert!(!together[1].escalations.is_empty() && !together[1].oldest_open.is_empty());
        // The service lines, counted from the team's own tickets, are those of the figures
        // over every ticket stored (the Reports service's pass), which the report once used:
        // for the weekly reports above and for a biweekly and a monthly team's, whose lines
        // join two weeks or count a month.
        let reference = |period: &Period| {
            let mut total: Option<(Figures, Targets)> = None;
            for query in super::super::figure_queries("finance", period) {
                let Some(row) = crate::figures::service_figures(&state, &query)
                    .unwrap()
                    .into_iter()
                    .find(|row| row.group == "finance")
                else {
                    continue;
                };
                match &mut total {
                    Some((figures, _)) => figures.merge_following(&row.figures),
                    None => total = Some((row.figures, row.targets)),
                }
            }
            let (figures, targets) = total.expect("the period has finance figures");
            assert!(figures.offered > 0 && figures.resolved > 0, "{figures:?}");
            super::super::figure_lines(&figures, &targets)
        };
        let now = W27 + 7 * DAY + 5;
        let mut reports = together;
        for cadence in [ReviewCadence::Biweekly, ReviewCadence::Monthly] {
            let team = ReviewedTeam { cadence, ..team() };
            let period = Period::last_ended(cadence, now);
            reports.extend(build_reports(&state, &team, vec![period]).unwrap());
        }
        let mut ticket_lines = 0;
        for report in &reports {
            let expected = reference(&report.period);
            let lines = &report.figures[report.figures.len() - expected.len()..];
            assert_eq!(lines, expected.as_slice(), "{}", report.period.label);
            ticket_lines += expected
                .iter()
                .filter(|l| l.name.starts_with("reopened") || l.name.starts_with("customer"))
                .count();
        }
        assert!(
            ticket_lines >= 2 * reports.len(),
            "reopens and ratings in every period: {reports:?}"
        );
        state.close().await;
    }
}
