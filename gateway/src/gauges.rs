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

/// When the refresh task checks the audit trail, and how much of it.
#[derive(Debug, Default)]
struct AuditSchedule {
    checked_at: Option<Instant>,
    whole_at: Option<Instant>,
    /// Where the last check left the trail intact; none after one that found it broken or
    /// could not finish, so the next check reads it whole again.
    intact: Option<Verified>,
    /// The most an intact check of this run found, kept after a broken one: what every later
    /// whole check must still find.
    seen: Option<Verified>,
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

    /// What a refresh that made `check` found (`None`: broken, or the refresh failed).
    fn found(&mut self, check: AuditCheck, reached: Option<Verified>) {
        if !matches!(check, AuditCheck::Skip) {
            self.intact = reached;
            if reached.is_some() {
                self.seen = reached;
            }
        }
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
            let reached = match tokio::task::spawn_blocking(move || refresh(&reader, check)).await {
                Ok(Ok(reached)) => reached,
                Ok(Err(error)) => {
                    tracing::warn!(%error, "metrics gauges not refreshed");
                    None
                }
                Err(error) => {
                    tracing::warn!(%error, "metrics gauge task failed");
                    None
                }
            };
            schedule.found(check, reached);
        }
    })
}

/// Sets the gauges from the store (blocking) and checks the audit trail as `audit` says.
/// Answers where the trail was found intact (`None` when not checked, broken or unreadable).
/// A trail that cannot be read sets `hotline_audit_verify_ok` to 0 (not verified), as a
/// broken one does; the error is logged.
pub fn refresh(state: &GatewayState, audit: AuditCheck) -> Result<Option<Verified>> {
    let figures = refresh_figures(state);
    let reached = check_audit(state, audit);
    figures?;
    Ok(reached)
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

/// The audit check `audit` asks for, with its gauge set; where the trail was found intact.
fn check_audit(state: &GatewayState, audit: AuditCheck) -> Option<Verified> {
    let (since, floor) = match audit {
        AuditCheck::Skip => return None,
        AuditCheck::Whole(floor) => (None, floor),
        AuditCheck::Since(since) => (Some(since), None),
    };
    let metrics = &state.shared.metrics;
    let started = std::time::Instant::now();
    let checked = verify_store_since(
        state.store.as_ref(),
        &state.audit_key.public,
        since.as_ref(),
    );
    let (mut verdict, mut reached) = match checked {
        Ok(checked) => checked,
        Err(error) => {
            tracing::error!(%error, "the audit trail could not be verified");
            metrics.set_audit_verify_ok(false);
            return None;
        }
    };
    if let (Some(floor), Some(now)) = (floor, reached) {
        if let Some(broken) = went_back(&floor, &now) {
            verdict.broken = Some(broken);
            reached = None;
        }
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
    metrics.set_audit_verify_ok(verdict.broken.is_none());
    reached
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
        refresh(&state, AuditCheck::Skip).unwrap();
        state.close().await;
    }

    /// The first check reads the whole trail; later ones every ten minutes go on from where
    /// the last left it intact, until six hours after the last whole one; a broken one, or a
    /// refresh that failed, leaves no place to go on from, so the next reads the whole trail
    /// again; every whole check after the first must reach what the last intact one found.
    #[test]
    fn the_trail_is_read_whole_at_start_after_a_break_and_every_six_hours() {
        let at = |head: u64| {
            let (_, reached) = crate::audit::verify_store_since(
                &crate::store::memory::MemoryStore::new(),
                &[0; 32],
                None,
            )
            .unwrap();
            let mut reached = reached.expect("an empty trail is intact");
            reached.head.seq = head;
            reached
        };
        let whole_from = |check: AuditCheck| match check {
            AuditCheck::Whole(floor) => Some(floor.map(|v| v.head.seq)),
            _ => None,
        };
        let start = Instant::now();
        let minutes = |m: u64| start + Duration::from_secs(m * 60);
        let mut schedule = AuditSchedule::default();
        let first = schedule.next(start);
        assert_eq!(whole_from(first), Some(None));
        schedule.found(first, Some(at(10)));
        assert!(matches!(schedule.next(minutes(1)), AuditCheck::Skip));
        schedule.found(AuditCheck::Skip, None);
        let resumed = schedule.next(minutes(10));
        assert!(
            matches!(resumed, AuditCheck::Since(v) if v.head.seq == 10),
            "the check after ten minutes did not go on from the last: {resumed:?}"
        );
        schedule.found(resumed, Some(at(20)));
        let broken = schedule.next(minutes(20));
        assert!(matches!(broken, AuditCheck::Since(v) if v.head.seq == 20));
        schedule.found(broken, None);
        assert_eq!(
            whole_from(schedule.next(minutes(30))),
            Some(Some(20)),
            "the check after a broken one did not read the whole trail up to what was seen"
        );
        schedule.found(AuditCheck::Whole(Some(at(20))), Some(at(30)));
        assert!(matches!(schedule.next(minutes(40)), AuditCheck::Since(_)));
        // The six-hourly whole check fails (the store could not be read): the next one, ten
        // minutes later, is whole again, not six hours later.
        let failed = schedule.next(minutes(30 + 6 * 60));
        assert_eq!(whole_from(failed), Some(Some(30)));
        schedule.found(failed, None);
        assert_eq!(
            whole_from(schedule.next(minutes(40 + 6 * 60))),
            Some(Some(30)),
            "a whole check that failed was put off"
        );
    }
}
