//! The gauges that need a read of the store rather than a counter bumped where something
//! happens: service level per partner and focus team for the current UTC day against the
//! team's target, each site's last contact, and whether the audit trail verifies. One task
//! refreshes them (the figures every minute, the full verify every ten minutes), so the alert
//! rules in `deploy/prometheus/` fire on what staff see on the dashboard. The minute's figures
//! read the day's call logs, never every ticket: the service level is the calls' alone.

use std::sync::Arc;
use std::time::Duration;

use hotline_federation::calendar::{Period, PeriodKind};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::error::Result;
use crate::state::GatewayState;

/// How often the service-level and last-seen gauges are refreshed.
const FIGURES_EVERY: Duration = Duration::from_secs(60);
/// How often the whole audit trail is verified for `hotline_audit_verify_ok`.
const VERIFY_EVERY: Duration = Duration::from_secs(600);

/// Starts the refresh task; it ends when `stop` is cancelled.
pub fn spawn(state: Arc<GatewayState>, stop: CancellationToken) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(FIGURES_EVERY);
        let mut verified_at: Option<Instant> = None;
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                _ = tick.tick() => {}
            }
            let verify = verified_at.is_none_or(|at| at.elapsed() >= VERIFY_EVERY);
            if verify {
                verified_at = Some(Instant::now());
            }
            let reader = state.clone();
            match tokio::task::spawn_blocking(move || refresh(&reader, verify)).await {
                Ok(Ok(())) => {}
                Ok(Err(error)) => tracing::warn!(%error, "metrics gauges not refreshed"),
                Err(error) => tracing::warn!(%error, "metrics gauge task failed"),
            }
        }
    })
}

/// Sets the gauges from the store (blocking); `verify` also verifies the whole audit trail.
pub fn refresh(state: &GatewayState, verify: bool) -> Result<()> {
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
    if verify {
        let started = std::time::Instant::now();
        let verdict = crate::audit::verify_store(state.store.as_ref(), &state.audit_key.public)?;
        if let Some(broken) = &verdict.broken {
            tracing::error!(?broken, "the audit trail does not verify");
        }
        // What the check costs grows with the trail: an operator sees it here.
        tracing::info!(
            intact = verdict.broken.is_none(),
            entries = verdict.checked,
            seconds = started.elapsed().as_secs_f64(),
            "audit trail checked for the gauge"
        );
        metrics.set_audit_verify_ok(verdict.broken.is_none());
    }
    Ok(())
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
        refresh(&state, false).unwrap();
        state.close().await;
    }
}
