//! The catch-up half of a subscription: a snapshot of whole states, and runs of log entries
//! sent as the current state of each entity they touched (with the purges they call for).

use std::collections::HashSet;
use std::sync::atomic::Ordering;

use hotline_federation::model::{EntityKey, EntityKind, FieldValue, TicketField};
use hotline_federation::visibility::{Access, Directory, access, effect, redact};
use hotline_proto::prepared::PreparedSyncEvent;
use hotline_proto::v1 as pb;
use pb::sync_event::Body;

use crate::error::{Error, Result};
use crate::log::{TeamChange, decode_record_head};
use crate::store::{entities, keys};

/// How many log entries or entities are read from the store at a time.
const READ_CHUNK: usize = 512;

use super::Feed;

impl Feed {
    pub(super) async fn snapshot(&mut self) -> Result<()> {
        let as_of = self.state.shared.head.load(Ordering::SeqCst);
        self.send(pb::SyncEvent {
            cursor: 0,
            body: Some(Body::SnapshotBegin(pb::SnapshotBegin { as_of })),
        })
        .await?;
        // One chunk of whole states at a time: the snapshot of a large store is never held
        // in memory whole.
        let mut chunks = entities::Chunks::new(READ_CHUNK);
        loop {
            let rules = &self.state.shared.rules;
            // The chunk is read under the rules of an even epoch (`writer::rules`); while that
            // epoch holds, its states are judged by those rules.
            let epoch = rules.stable().await?;
            let directory = self.state.shared.directory();
            let Some(chunk) = chunks.next_chunk(self.state.store.as_ref())? else {
                break;
            };
            for entity in chunk {
                // Decided once there is room to send it: a slow reader must not receive what a
                // policy change or an erasure has withdrawn meanwhile.
                let permit = self.room().await?;
                let view = if rules.holds(epoch) {
                    redact(&self.tenant, &entity, &directory)
                } else {
                    // The rules changed or a customer was erased since the chunk was read: this
                    // state is read again, under the rules of now.
                    let key = &entity.key;
                    let (view, _, _) = self
                        .state
                        .shared
                        .read_under_rules(|directory| {
                            let entity = self.state.entity(key)?;
                            Ok(redact(&self.tenant, &entity, directory)
                                .filter(|_| !entity.is_empty()))
                        })
                        .await?;
                    view
                };
                if let Some(view) = view {
                    permit.send(Ok(PreparedSyncEvent::new(&pb::SyncEvent {
                        cursor: 0,
                        body: Some(Body::Entity(pb::EntityState::from(view))),
                    })));
                }
            }
        }
        self.send(pb::SyncEvent {
            cursor: as_of,
            body: Some(Body::SnapshotEnd(pb::SnapshotEnd { as_of })),
        })
        .await?;
        self.sent = as_of;
        Ok(())
    }

    /// Sends log entries after `self.sent` up to `target` from the store, a chunk at a time.
    /// A chunk is sent as the current state of each entity it touched, as the tenant may see it
    /// now (plus the purges its entries call for), and carries the cursor of its last entry. So a
    /// site catching up never receives a value that was superseded before it asked, in particular
    /// none written while the entity was hidden from it (draft edits, customer data before a
    /// grant).
    pub(super) async fn catch_up(&mut self, target: u64) -> Result<()> {
        while self.sent < target {
            let start = keys::log(self.sent + 1);
            let end = keys::log(target + 1);
            let chunk = self.state.store.range(&start, &end, READ_CHUNK)?;
            let first = chunk.first().and_then(|(k, _)| keys::parse_log(k));
            if first != Some(self.sent + 1) {
                // Pruned underneath us: start over from a snapshot.
                self.snapshot().await?;
                continue;
            }
            let mut touches = Touches::default();
            let mut last = self.sent;
            for (key, raw) in chunk {
                last = keys::parse_log(&key)
                    .ok_or_else(|| Error::Corrupt("log key without sequence".into()))?;
                let (key, record) = decode_record_head(&raw)?;
                let purge = record.lost.contains(&self.tenant);
                if purge && record.expired {
                    touches.expire(&key);
                } else {
                    touches.touch(&key, purge);
                }
                self.team_touches(last, &TeamChange::from(record), &mut touches)?;
            }
            self.send_touched(&touches, last).await?;
        }
        Ok(())
    }

    /// Adds the tickets of a focus team whose access changed for this tenant at entry `seq`:
    /// each is purged where the tenant could read it (or its PII) before and cannot now, and
    /// resent. The tickets are those the entry recorded as in the team at that moment, so a
    /// ticket moved or deleted since is still purged (its own later entries were decided
    /// under the new rules and purge nothing). Records from before the list was kept fall back
    /// to the tickets in the team now that joined it no later than `seq`.
    pub(super) fn team_touches(
        &self,
        seq: u64,
        change: &TeamChange,
        touches: &mut Touches,
    ) -> Result<()> {
        let tenant = self.tenant.as_str();
        if change.team.is_empty() || !change.access_changed.iter().any(|t| t == tenant) {
            return Ok(());
        }
        let fallback;
        let ids: &[String] = if change.recorded {
            &change.tickets
        } else {
            let prefix = keys::team_prefix(&change.team);
            let end = keys::prefix_end(&prefix);
            let mut ids = Vec::new();
            for (key, joined) in self.state.store.range(&prefix, &end, usize::MAX)? {
                if keys::decode_u64(&joined).is_some_and(|joined| joined > seq) {
                    continue;
                }
                ids.push(String::from_utf8_lossy(&key[prefix.len()..]).into_owned());
            }
            fallback = ids;
            &fallback
        };
        let directory = self.state.shared.directory();
        for id in ids {
            let ticket = self
                .state
                .entity(&EntityKey::new(EntityKind::Ticket, id.as_str()))?;
            let before = if !change.recorded {
                // An old record: what the tenant held is unknown, so purge and resend.
                Access::Full
            } else {
                let origin = matches!(
                    ticket.value("origin_tenant"),
                    Some(FieldValue::Ticket(TicketField::OriginTenant(t))) if t == tenant
                );
                let handled = change.handlers_before.iter().any(|t| t == tenant);
                let granted = change.pii_before.iter().any(|t| t == tenant);
                match (origin || handled, granted) {
                    (false, _) => Access::Hidden,
                    (true, false) => Access::Redacted,
                    (true, true) => Access::Full,
                }
            };
            let now = access(tenant, &ticket, &directory);
            let effect = effect(before, now);
            if effect.purge || effect.resend {
                touches.touch(&ticket.key, effect.purge);
            }
        }
        Ok(())
    }

    /// Sends the events for `touches` ([`Feed::emit_from`]), the last one carrying `cursor`.
    /// They are decided under the rules of one epoch (`writer::rules`), and each is sent only
    /// once there is room for it and that epoch still holds; when it moved (a policy change or
    /// an erasure meanwhile), the rest are decided again first. So a slow reader never receives
    /// what the rules withdrew before it could be sent.
    pub(super) async fn send_touched(&mut self, touches: &Touches, cursor: u64) -> Result<()> {
        let shared = &self.state.shared;
        let (mut plan, _, mut epoch) = shared
            .read_under_rules(|directory| self.emit_from(touches, 0, directory))
            .await?;
        let mut next = 0;
        while next < plan.len() {
            let permit = self.room().await?;
            if !shared.rules.holds(epoch) {
                let from = plan[next].0;
                let (rest, _, now) = shared
                    .read_under_rules(|directory| self.emit_from(touches, from, directory))
                    .await?;
                plan.truncate(next);
                plan.extend(rest);
                epoch = now;
                if next == plan.len() {
                    break;
                }
            }
            let last = next + 1 == plan.len();
            permit.send(Ok(PreparedSyncEvent::new(&pb::SyncEvent {
                cursor: if last { cursor } else { 0 },
                body: Some(plan[next].1.clone()),
            })));
            next += 1;
        }
        self.delivered(cursor);
        Ok(())
    }

    /// The events for the touched entities from the `from`th on, each with its entity's place
    /// in `touches`: a purge where one is due, then the current state as the tenant may read
    /// it under `directory` (nothing for an entity it may not see). An entity with customer
    /// data the tenant may not read now is always purged before it is resent, so no copy from
    /// a time the tenant was granted it survives a path this run did not see (a site joins
    /// states, and a join cannot remove fields).
    fn emit_from(
        &self,
        touches: &Touches,
        from: usize,
        directory: &Directory,
    ) -> Result<Vec<(usize, Body)>> {
        let mut out = Vec::new();
        for (place, key) in touches.order.iter().enumerate().skip(from) {
            let current = self.state.entity(key)?;
            let view = redact(&self.tenant, &current, directory).filter(|v| !v.is_empty());
            let stale_pii = view.is_some()
                && access(&self.tenant, &current, directory) == Access::Redacted
                && current.registers.values().any(|r| r.winner.value.is_pii());
            if touches.purge.contains(key) || stale_pii {
                let reason = if touches.expired.contains(key) {
                    pb::RevocationReason::Retention
                } else {
                    pb::RevocationReason::Access
                };
                out.push((
                    place,
                    Body::Revocation(pb::Revocation {
                        key: Some(key.clone().into()),
                        reason: reason.into(),
                    }),
                ));
            }
            if let Some(view) = view {
                out.push((place, Body::Entity(view.into())));
            }
        }
        Ok(out)
    }
}

/// The entities a run of log entries touched, in order, and those due a purge.
#[derive(Default)]
pub(super) struct Touches {
    order: Vec<EntityKey>,
    seen: HashSet<EntityKey>,
    purge: HashSet<EntityKey>,
    /// Of `purge`, those purged because partners' retention of them ended.
    expired: HashSet<EntityKey>,
}

impl Touches {
    pub(super) fn touch(&mut self, key: &EntityKey, purge: bool) {
        if self.seen.insert(key.clone()) {
            self.order.push(key.clone());
        }
        if purge {
            self.purge.insert(key.clone());
        }
    }

    /// A purge of `key` at an entry that ended partners' retention of it.
    pub(super) fn expire(&mut self, key: &EntityKey) {
        self.touch(key, true);
        self.expired.insert(key.clone());
    }
}
