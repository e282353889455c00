//! The gauges that need a read of the store rather than a counter bumped where something
//! happens: service level per partner and focus team for the current UTC day against the
//! team's target, each site's last contact, and whether the audit trail verifies. One task
//! refreshes them (the figures every minute; every ten minutes a verify of the entries added
//! since the last one, every six hours and at start of the whole trail), so the alert
//! rules in `deploy/prometheus/` fire on what staff see on the dashboard. The minute's figures
//! read the day's call logs, never every ticket: the service level is the calls' alone.

use std::sync::Arc;
use std::time::Duration;

use hotline_federation::calendar::{Period, PeriodKind};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::audit::{Verified, verify_store_since, went_back};
use crate::error::Result;
use crate::state::GatewayState;

/// How often the service-level and last-seen gauges are refreshed.
const FIGURES_EVERY: Duration = Duration::from_secs(60);
/// How often the audit trail is verified for `hotline_audit_verify_ok`: the entries added since
/// the last verify, and the one it ended at again.
const VERIFY_EVERY: Duration = Duration::from_secs(600);
/// How often that verify reads the whole trail instead (and at start): the whole trail grows
/// with every change (about 10 s for 4.1M entries on the bench machine), the entries of ten
/// minutes do not.
const WHOLE_EVERY: Duration = Duration::from_secs(6 * 3600);

/// Which check of the audit trail a refresh makes.
#[derive(Clone, Copy, Debug)]
pub enum AuditCheck {
    /// None: the gauge keeps its value.
    Skip,
    /// The whole trail, which must hold at least what an earlier check of this gateway found
    /// intact, if one did (the trail only grows: fewer entries or an older checkpoint than
    /// then mean some were taken back).
    Whole(Option<Verified>),
    /// The entries added since an earlier check found the trail intact up to here.
    Since(Verified),
}

/// What an audit check found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuditOutcome {
    /// No check was asked for.
    Skipped,
    /// Intact, up to here.
    Intact(Verified),
    /// Changed, removed, reordered or taken back (the gauge is 0 at once).
    Broken,
    /// The store could not be read (the error is logged).
    Unreadable,
}

/// How many checks in a row may fail to read the trail before the gauge says 0: one read
/// error (a database restart, a timed-out query) is not an incident of the trail; a trail
/// that stays unreadable, or a record of it that does not decode, is. The failed checks are
/// tried again at the next minute, not ten minutes later.
const UNREADABLE_CHECKS: u32 = 3;

/// When the refresh task checks the audit trail, and how much of it.
#[derive(Debug, Default)]
struct AuditSchedule {
    checked_at: Option<Instant>,
    whole_at: Option<Instant>,
    /// Where the last check left the trail intact; none after one that found it broken or
    /// could not finish, so the next check reads it whole again.
    intact: Option<Verified>,
    /// The most an intact check of this run found, kept after a broken one: what every later
    /// whole check must still find. A check may read a group the engine shows before its flush
    /// (redb, PostgreSQL); should that flush fail, the writer drops the group and reuses its
    /// positions, and the checks say 0 until the trail has grown past `seen` again (a false
    /// alarm, known and left: it takes a failed flush within the check's read).
    seen: Option<Verified>,
    /// Checks in a row that could not read the trail.
    unreadable: u32,
}

impl AuditSchedule {
    /// The check the refresh at `now` makes.
    fn next(&mut self, now: Instant) -> AuditCheck {
        if self.checked_at.is_some_and(|at| now - at < VERIFY_EVERY) {
            return AuditCheck::Skip;
        }
        self.checked_at = Some(now);
        match self.intact {
            Some(since) if self.whole_at.is_some_and(|at| now - at < WHOLE_EVERY) => {
                AuditCheck::Since(since)
            }
            _ => {
                self.whole_at = Some(now);
                AuditCheck::Whole(self.seen)
            }
        }
    }

    /// What the check found; true when the trail has now been unreadable for
    /// [`UNREADABLE_CHECKS`] checks in a row (the gauge then says 0).
    fn found(&mut self, outcome: AuditOutcome) -> bool {
        match outcome {
            AuditOutcome::Skipped => return false,
            AuditOutcome::Intact(reached) => {
                self.intact = Some(reached);
                self.seen = Some(reached);
                self.unreadable = 0;
            }
            AuditOutcome::Broken => {
                self.intact = None;
                self.unreadable = 0;
            }
            AuditOutcome::Unreadable => {
                self.intact = None;
                self.unreadable += 1;
                if self.unreadable < UNREADABLE_CHECKS {
                    self.checked_at = None;
                }
            }
        }
        self.unreadable >= UNREADABLE_CHECKS
    }
}

/// Starts the refresh task; it ends when `stop` is cancelled.
pub fn spawn(state: Arc<GatewayState>, stop: CancellationToken) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(FIGURES_EVERY);
        let mut schedule = AuditSchedule::default();
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                _ = tick.tick() => {}
            }
            let check = schedule.next(Instant::now());
            let reader = state.clone();
            let outcome = match tokio::task::spawn_blocking(move || refresh(&reader, check)).await {
                Ok((outcome, figures)) => {
                    if let Err(error) = figures {
                        tracing::warn!(%error, "metrics gauges not refreshed");
                    }
                    outcome
                }
                Err(error) => {
                    tracing::warn!(%error, "metrics gauge task failed");
                    match check {
                        AuditCheck::Skip => AuditOutcome::Skipped,
                        _ => AuditOutcome::Unreadable,
                    }
                }
            };
            if schedule.found(outcome) {
                tracing::error!(
                    checks = UNREADABLE_CHECKS,
                    "the audit trail could not be read in this many checks in a row"
                );
                state.shared.metrics.set_audit_verify_ok(false);
            }
        }
    })
}

/// Sets the gauges from the store (blocking) and checks the audit trail as `audit` says: the
/// check's outcome (the gauge set when intact or broken, left as it was when the trail could
/// not be read), and whether the other gauges were refreshed. One does not wait for the other.
pub fn refresh(state: &GatewayState, audit: AuditCheck) -> (AuditOutcome, Result<()>) {
    let figures = refresh_figures(state);
    (check_audit(state, audit), figures)
}

/// The service-level, last-seen and file gauges.
fn refresh_figures(state: &GatewayState) -> Result<()> {
    let metrics = &state.shared.metrics;
    for site in crate::health::site_health(state) {
        if let Some(ms) = site.last_seen_ms {
            metrics.set_site_last_seen(&site.site, i64::try_from(ms / 1000).unwrap_or(i64::MAX));
        }
    }
    let today = Period::containing(PeriodKind::Day, state.now_ms());
    // The calls alone decide the service level: no pass over every ticket each minute.
    for row in crate::web::staff::overview::gather_service_levels(state, today)? {
        metrics.set_service_level_target(&row.partner, &row.focus_team, row.sl_target);
        if let Some(level) = row.service_level {
            metrics.set_service_level(&row.partner, &row.focus_team, level);
        }
    }
    let (files, bytes) = crate::files::stored(state.store.as_ref())?;
    metrics.set_files_stored(files, bytes);
    Ok(())
}

/// The audit check `audit` asks for, with its gauge set when intact or broken.
fn check_audit(state: &GatewayState, audit: AuditCheck) -> AuditOutcome {
    let (since, floor) = match audit {
        AuditCheck::Skip => return AuditOutcome::Skipped,
        AuditCheck::Whole(floor) => (None, floor),
        AuditCheck::Since(since) => (Some(since), None),
    };
    let started = std::time::Instant::now();
    let checked = verify_store_since(
        state.store.as_ref(),
        &state.audit_key.public,
        since.as_ref(),
    );
    let (mut verdict, reached) = match checked {
        Ok(checked) => checked,
        Err(error) => {
            tracing::error!(%error, "the audit trail could not be read for its check");
            return AuditOutcome::Unreadable;
        }
    };
    if let (Some(floor), Some(now), None) = (floor, reached, &verdict.broken) {
        verdict.broken = went_back(&floor, &now);
    }
    if let Some(broken) = &verdict.broken {
        tracing::error!(?broken, "the audit trail does not verify");
    }
    // What the check costs grows with what it reads: an operator sees it here.
    tracing::info!(
        intact = verdict.broken.is_none(),
        whole = since.is_none(),
        entries = verdict.checked,
        read = verdict.checked - since.map_or(0, |s| s.head.seq.min(verdict.checked)),
        seconds = started.elapsed().as_secs_f64(),
        "audit trail checked for the gauge"
    );
    state
        .shared
        .metrics
        .set_audit_verify_ok(verdict.broken.is_none());
    match (verdict.broken, reached) {
        (None, Some(reached)) => AuditOutcome::Intact(reached),
        _ => AuditOutcome::Broken,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{Batch, Store, keys};
    use hotline_federation::model::{EntityKey, EntityKind};

    /// The minute's refresh reads no ticket, so its cost does not grow with the tickets
    /// stored: on a store whose one ticket head does not decode it still refreshes, while
    /// the staff overview, which counts the tickets, fails on it.
    #[tokio::test]
    async fn the_minutes_refresh_reads_no_ticket() {
        let config = crate::config::GatewayConfig {
            storage: "memory".into(),
            focus_teams: vec![crate::config::tests::plants()],
            ..crate::config::GatewayConfig::default()
        };
        let store = Arc::new(crate::store::memory::MemoryStore::new());
        let state = GatewayState::open_with_store(config, store.clone())
            .await
            .unwrap();
        let mut batch = Batch::default();
        let ticket = EntityKey::new(EntityKind::Ticket, "ASZ-2026-000001");
        batch.put(keys::entity(&ticket), vec![0xff; 8]);
        store.apply(batch).unwrap();

        let today = Period::containing(PeriodKind::Day, state.now_ms());
        let counted = crate::web::staff::overview::gather(&state, today);
        assert!(
            counted.is_err(),
            "the overview reads the ticket: {counted:?}"
        );
        let (outcome, figures) = refresh(&state, AuditCheck::Skip);
        assert_eq!(outcome, AuditOutcome::Skipped);
        figures.unwrap();
        state.close().await;
    }

    /// The first check reads the whole trail; later ones every ten minutes go on from where
    /// the last left it intact, until six hours after the last whole one; a broken one leaves
    /// no place to go on from, so the next reads the whole trail again; every whole check
    /// after the first must reach what the last intact one found.
    #[test]
    fn the_trail_is_read_whole_at_start_after_a_break_and_every_six_hours() {
        let start = Instant::now();
        let minutes = |m: u64| start + Duration::from_secs(m * 60);
        let mut schedule = AuditSchedule::default();
        assert_eq!(whole_from(schedule.next(start)), Some(None));
        assert!(!schedule.found(AuditOutcome::Intact(at(10))));
        assert!(matches!(schedule.next(minutes(1)), AuditCheck::Skip));
        assert!(!schedule.found(AuditOutcome::Skipped));
        let resumed = schedule.next(minutes(10));
        assert!(
            matches!(resumed, AuditCheck::Since(v) if v.head.seq == 10),
            "the check after ten minutes did not go on from the last: {resumed:?}"
        );
        schedule.found(AuditOutcome::Intact(at(20)));
        assert!(matches!(schedule.next(minutes(20)), AuditCheck::Since(v) if v.head.seq == 20));
        assert!(!schedule.found(AuditOutcome::Broken));
        assert_eq!(
            whole_from(schedule.next(minutes(30))),
            Some(Some(20)),
            "the check after a broken one did not read the whole trail up to what was seen"
        );
        schedule.found(AuditOutcome::Intact(at(30)));
        assert!(matches!(schedule.next(minutes(40)), AuditCheck::Since(_)));
        assert!(matches!(schedule.next(minutes(45)), AuditCheck::Skip));
        assert_eq!(
            whole_from(schedule.next(minutes(30 + 6 * 60))),
            Some(Some(30))
        );
    }

    /// A check that cannot read the trail is tried again at the next minute, reading it
    /// whole; only the third in a row sets the gauge to 0, and then the checks go back to
    /// every ten minutes; one that reads it again starts the count anew.
    #[test]
    fn an_unreadable_trail_is_tried_again_and_counts_only_in_a_row() {
        let start = Instant::now();
        let minutes = |m: u64| start + Duration::from_secs(m * 60);
        let mut schedule = AuditSchedule::default();
        schedule.next(start);
        schedule.found(AuditOutcome::Intact(at(10)));
        assert!(matches!(schedule.next(minutes(10)), AuditCheck::Since(_)));
        assert!(
            !schedule.found(AuditOutcome::Unreadable),
            "one failed read alarmed"
        );
        assert_eq!(
            whole_from(schedule.next(minutes(11))),
            Some(Some(10)),
            "a failed check was not tried again, whole, at the next minute"
        );
        assert!(!schedule.found(AuditOutcome::Unreadable));
        // Read again: the count starts anew.
        assert!(schedule.next(minutes(12)).is_whole());
        assert!(!schedule.found(AuditOutcome::Intact(at(12))));
        for minute in [22, 23] {
            assert!(schedule.next(minutes(minute)).is_some());
            assert!(!schedule.found(AuditOutcome::Unreadable));
        }
        assert!(schedule.next(minutes(24)).is_whole());
        assert!(
            schedule.found(AuditOutcome::Unreadable),
            "three failed reads in a row did not set the gauge to 0"
        );
        assert!(matches!(schedule.next(minutes(25)), AuditCheck::Skip));
        assert!(schedule.next(minutes(34)).is_whole());
    }

    /// A place to go on from at entry `head` (the rest of it does not matter here).
    fn at(head: u64) -> Verified {
        let (_, reached) = crate::audit::verify_store_since(
            &crate::store::memory::MemoryStore::new(),
            &[0; 32],
            None,
        )
        .unwrap();
        let mut reached = reached.expect("an empty trail is intact");
        reached.head.seq = head;
        reached
    }

    /// For a whole check, the entry it must reach (`Some(None)`: none); `None` for others.
    fn whole_from(check: AuditCheck) -> Option<Option<u64>> {
        match check {
            AuditCheck::Whole(floor) => Some(floor.map(|v| v.head.seq)),
            _ => None,
        }
    }

    impl AuditCheck {
        fn is_whole(self) -> bool {
            matches!(self, AuditCheck::Whole(_))
        }

        fn is_some(self) -> bool {
            !matches!(self, AuditCheck::Skip)
        }
    }
}
