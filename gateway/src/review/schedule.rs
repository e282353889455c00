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

use super::{ReviewedTeam, build_report, reports_of, store_report, teams};
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
            for period in missing_periods(&team, newest_end, now) {
                let key = keys::review_report(&team.id, period.start_ms);
                if reader.store.get(&key)?.is_some() {
                    continue;
                }
                due.push((key, build_report(&reader, &team, period)?));
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
}
