//! Applying the subscription stream: log entries, snapshots, revocations and heartbeats.

use std::collections::BTreeSet;
use std::sync::atomic::Ordering;

use hotline_federation::model::EntityKey;
use hotline_federation::{Change, EntityState};
use hotline_proto::v1 as pb;
use pb::sync_event::Body;

use super::{SyncContext, now_ms, on_store, status_error};
use crate::error::{Error, Result};
use crate::replica::RemoteEntry;

/// Applies the stream (`asked_ms`: when the site asked for it). Events of one log entry are
/// buffered until the event that carries the entry's cursor, then applied with it in one
/// atomic write. Snapshot items replace local states (in chunks); the snapshot's end purges what it did not contain and stores its
/// cursor, even when that is lower than the stored one (a gateway restored from a backup).
pub(super) async fn subscriber(
    ctx: &SyncContext,
    mut stream: tonic::Streaming<pb::SyncEvent>,
    apply_inline: bool,
    asked_ms: u64,
) -> Result<()> {
    let mut entry = RemoteEntry::default();
    // The session's first heartbeat is read against the time the site asked for the stream,
    // later ones against their arrival (`SyncStatus::note_clock`).
    let mut asked_ms = Some(asked_ms);
    let mut snapshot: Option<BTreeSet<EntityKey>> = None;
    loop {
        let event = match stream.message().await {
            Ok(Some(event)) => event,
            Ok(None) => return Ok(()),
            Err(status) => return Err(status_error("subscription", status)),
        };
        ctx.status.last_contact_ms.store(now_ms(), Ordering::SeqCst);
        let pb::SyncEvent { cursor, body } = event;
        let mut end_of_snapshot = None;
        match body {
            Some(Body::SnapshotBegin(_)) => {
                snapshot = Some(BTreeSet::new());
                entry = RemoteEntry {
                    replace: true,
                    ..RemoteEntry::default()
                };
            }
            Some(Body::Entity(state)) => {
                let state = EntityState::try_from(state)?;
                if let Some(seen) = snapshot.as_mut() {
                    seen.insert(state.key.clone());
                }
                entry.states.push(state);
            }
            Some(Body::Change(change)) => entry
                .states
                .push(EntityState::delta(&Change::try_from(change)?)),
            Some(Body::Revocation(pb::Revocation { key, reason })) => {
                let key = key.ok_or_else(|| Error::Gateway("revocation without key".into()))?;
                let key = EntityKey::try_from(key)?;
                entry.states.retain(|s| s.key != key);
                if reason == i32::from(pb::RevocationReason::Retention) {
                    entry.expired.insert(key.clone());
                }
                entry.purge.push(key);
            }
            Some(Body::SnapshotEnd(pb::SnapshotEnd { as_of })) => {
                if let Some(seen) = snapshot.take() {
                    // Keep what the site changed itself and has not pushed yet.
                    let (outbox, held) = on_store(ctx, apply_inline, |r| {
                        Ok((r.outbox(usize::MAX)?, r.entity_keys()?))
                    })
                    .await?;
                    let pending: BTreeSet<EntityKey> = outbox.into_iter().map(|c| c.key).collect();
                    for key in held {
                        if !seen.contains(&key) && !pending.contains(&key) {
                            entry.purge.push(key);
                        }
                    }
                }
                end_of_snapshot = Some(as_of);
            }
            Some(Body::Heartbeat(pb::Heartbeat {
                head,
                now_ms: gateway_ms,
                max_skew_ms,
                tenant_sites,
                guard_terms,
            })) => {
                ctx.status.head.store(head, Ordering::SeqCst);
                if gateway_ms > 0 {
                    let earliest_ms = asked_ms.take().unwrap_or_else(now_ms);
                    ctx.status.note_clock(gateway_ms, max_skew_ms, earliest_ms);
                }
                if !tenant_sites.is_empty() {
                    on_store(ctx, apply_inline, move |r| {
                        r.learn_tenant_sites(tenant_sites)
                    })
                    .await?;
                }
                if !guard_terms.is_empty() {
                    on_store(ctx, apply_inline, move |r| r.learn_guard_terms(guard_terms)).await?;
                }
            }
            None => {}
        }
        let snapshot_chunk = snapshot.is_some() && entry.states.len() >= 256;
        if cursor == 0 && !snapshot_chunk && end_of_snapshot.is_none() {
            continue;
        }
        entry.cursor = match end_of_snapshot {
            Some(as_of) => Some(as_of),
            None if cursor != 0 && cursor > on_store(ctx, apply_inline, |r| r.cursor()).await? => {
                Some(cursor)
            }
            None => None,
        };
        if entry.cursor.is_some() || !entry.states.is_empty() || !entry.purge.is_empty() {
            let replace = snapshot.is_some() || end_of_snapshot.is_some();
            let ready = std::mem::replace(
                &mut entry,
                RemoteEntry {
                    replace,
                    ..RemoteEntry::default()
                },
            );
            let events = ctx.events.clone();
            let changed = on_store(ctx, apply_inline, move |r| {
                r.apply_remote(&ready, &events, now_ms())
            })
            .await?;
            if changed > 0 {
                ctx.events.notify.notify_one();
            }
        }
        if end_of_snapshot.is_some() {
            entry.replace = false;
        }
        if cursor > ctx.status.head.load(Ordering::SeqCst) {
            ctx.status.head.store(cursor, Ordering::SeqCst);
        }
    }
}
