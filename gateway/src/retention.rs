//! The retention sweep: every `retention.sweep_interval_secs` (and once at start) the gateway
//! reads the head of every ticket, finds the closed ones whose partners' retention has ended
//! (each focus team's `partner_retention_days`, see [`hotline_federation::retention`]) and
//! has the writer archive them, a batch per group. The writer decides again on the current
//! state, so a sweep that read an older one archives nothing twice. Partner sites then
//! receive a revocation (reason `retention`) and purge the ticket; in-house keeps it.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use hotline_federation::authority::focus_team;
use hotline_federation::model::{EntityKey, EntityKind};
use hotline_federation::retention;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::error::{Error, Result};
use crate::state::GatewayState;
use crate::store::entities;
use crate::writer::Outcome;

/// Ticket heads read per page of the sweep's pass.
const PAGE: usize = 512;

/// Starts the sweep (unless `retention.enabled` is false); it ends when `shutdown` is
/// cancelled.
pub fn spawn(state: Arc<GatewayState>, shutdown: CancellationToken) -> JoinHandle<()> {
    tokio::spawn(async move {
        if !state.config.retention.enabled {
            return;
        }
        let interval = Duration::from_secs(state.config.retention.sweep_interval_secs);
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                swept = sweep(&state) => match swept {
                    Ok(0) => {}
                    Ok(archived) => tracing::info!(archived, "partners' retention ended"),
                    Err(error) => {
                        tracing::warn!(%error, "retention sweep failed; retrying next interval");
                    }
                },
            }
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(interval) => {}
            }
        }
    })
}

/// Archives every ticket due now, and erases the personal data of those past the in-house
/// retention (`retention.inhouse_days`); answers how many were archived.
pub async fn sweep(state: &Arc<GatewayState>) -> Result<usize> {
    let reader = state.clone();
    let inhouse_days = state.config.retention.inhouse_days;
    let due = tokio::task::spawn_blocking(move || due(&reader, reader.now_ms(), inhouse_days))
        .await
        .map_err(|e| Error::Unavailable(format!("retention sweep failed: {e}")))??;
    let batch = state.config.retention.archive_batch;
    let mut archived = 0;
    for chunk in due.archive.chunks(batch) {
        let outcomes = state.writer.archive(chunk.to_vec()).await?;
        archived += outcomes
            .iter()
            .filter(|o| matches!(o, Outcome::Accepted { .. }))
            .count();
    }
    // After the partners' archive, which a failure here must not hold up; in batches, so a
    // first sweep over a large store does not hold pushes up behind one group.
    if let (Some(days), false) = (inhouse_days, due.erase.is_empty()) {
        let record = hotline_proto::v1::Erasure {
            reason: format!("in-house retention: closed more than {days} days ago"),
            erased_by: crate::writer::RETENTION_ACTOR.into(),
            ..hotline_proto::v1::Erasure::default()
        };
        for erased in crate::erasure::erase_tickets(state, None, due.erase, record, batch).await? {
            tracing::info!(
                tickets = erased.tickets,
                erasure = erased.id,
                "in-house retention ended: personal data erased"
            );
        }
    }
    Ok(archived)
}

/// What a sweep at one moment has to do.
#[derive(Debug, Default)]
pub struct Due {
    /// Tickets whose partners' retention has ended.
    pub archive: Vec<EntityKey>,
    /// Closed tickets whose personal data the gateway has kept for the in-house retention.
    pub erase: Vec<EntityKey>,
}

/// The tickets whose partners' retention has ended at `now_ms`.
pub fn due_tickets(state: &GatewayState, now_ms: u64) -> Result<Vec<EntityKey>> {
    Ok(due(state, now_ms, None)?.archive)
}

/// What the sweep at `now_ms` has to do, from one pass over the ticket heads (registers only,
/// a page at a time); `inhouse_days` unset erases nothing.
pub fn due(state: &GatewayState, now_ms: u64, inhouse_days: Option<u32>) -> Result<Due> {
    let store = state.store.as_ref();
    let mut days_of_team: BTreeMap<String, u32> = BTreeMap::new();
    let mut due = Due::default();
    entities::for_each_head(store, EntityKind::Ticket, PAGE, |ticket| {
        let team = focus_team(&ticket).unwrap_or_default().to_owned();
        let days = match days_of_team.get(&team) {
            Some(days) => *days,
            None => {
                let key = EntityKey::new(EntityKind::Policy, team.as_str());
                let policy = entities::read_head(store, &key)?;
                let days = retention::partner_days(policy.as_ref());
                days_of_team.insert(team, days);
                days
            }
        };
        if inhouse_days.is_some_and(|kept| retention::inhouse_erase_due(&ticket, kept, now_ms)) {
            due.erase.push(ticket.key.clone());
        }
        if retention::partner_purge_due(&ticket, days, now_ms) {
            due.archive.push(ticket.key);
        }
        Ok(())
    })?;
    Ok(due)
}
