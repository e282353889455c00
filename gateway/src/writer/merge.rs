//! What the writer does with each change of a group: decide a pushed change (dedupe, origin,
//! clock, authorisation), merge it and compute its visibility effects, and seed the gateway's
//! own changes. Registrations are in `register`, ticket-number leases in `lease`.

use std::sync::Arc;

use hotline_federation::authority::focus_team;
use hotline_federation::ids::PublicNumber;
use hotline_federation::model::{EntityKey, EntityKind, FieldValue, TicketField};
use hotline_federation::visibility::{Access, TeamAccess, access, effect};
use hotline_federation::{Change, EntityState, FieldOp, HybridClock};
use hotline_federation::{erasure, retention};
use hotline_proto::v1 as pb;
use prost::Message;

use super::audit::{Summary, actor_of, change_record};
use super::pushed::{Pushed, change_field, log_record_bytes};
use super::{GATEWAY_SITE, Group, Outcome, Receipted, Writer};
use crate::error::{Error, Result};
use crate::log::{Committed, LogRecord, TeamChange};
use crate::store::{entities, keys};
use hotline_federation::audit::{Receipt, Record};
use hotline_federation::authority::{
    Caller, Refusal, Rule, authorize, origin_mismatch, reused_origin_seq,
};
use hotline_federation::state::change_digest;

impl Writer {
    pub(super) fn process(
        &mut self,
        group: &mut Group,
        caller: &Caller,
        mut pushed: Pushed,
    ) -> Result<Receipted> {
        let (outcome, receipt) = self.decide(group, caller, &mut pushed)?;
        let change = &pushed.change;
        let outcome = self.park(group, caller, change, outcome)?;
        if let Outcome::Rejected(_) = outcome {
            if let Caller::Site { site, .. } = caller {
                group.refused_files.extend(
                    crate::files::named_by(change)
                        .into_iter()
                        .map(|digest| (site.clone(), digest)),
                );
            }
            let tenant = match caller {
                Caller::Site { tenant, .. } => Some(tenant.as_str()),
                Caller::Gateway => None,
            };
            let now = (self.settings.now_ms)();
            let actor = actor_of(caller);
            let summary = &pushed.summary;
            let record = change_record(now, actor, tenant, "push", change, summary, &outcome);
            let receipt = self.record(group, record);
            return Ok((outcome, Some(receipt)));
        }
        Ok((outcome, receipt))
    }

    /// Keeps a refused change of a site as a dead letter (within the bounds), or clears the
    /// dead letter of a change now accepted; the outcome as answered.
    fn park(
        &mut self,
        group: &mut Group,
        caller: &Caller,
        change: &Change,
        outcome: Outcome,
    ) -> Result<Outcome> {
        if let Caller::Site { site, .. } = caller {
            let key = keys::dead_letter(site, change.origin_seq);
            match &outcome {
                Outcome::Rejected(refusal) => {
                    if !self.is_parked(group, &key) && !self.room_for_letter(group, site) {
                        return Ok(Outcome::Rejected(self.not_kept(group, site, refusal, None)));
                    }
                    // An erased ticket's refused change is kept as the ticket keeps changes.
                    let erased_ticket = change.key.kind == EntityKind::Ticket
                        && erasure::erased(self.load(group, &change.key)?.as_ref());
                    // A refused change naming a customer erased before it (an offline site's
                    // creation arriving after the erasure): kept erased, and the site asked to
                    // erase its parked copy too.
                    let erased_customer = change.key.kind == EntityKind::Ticket
                        && !erased_ticket
                        && self.names_erased_customer(group, change)?;
                    if erased_customer {
                        group
                            .batch
                            .put(keys::erase_letter(site, change.origin_seq), Vec::new());
                    }
                    let kept = if erased_ticket || erased_customer {
                        erasure::erase_change(change)
                    } else {
                        change.clone()
                    };
                    let letter = pb::DeadLetter {
                        change: Some(pb::Change::from(kept)),
                        rejection: Some(refusal.to_wire()),
                        at_ms: (self.settings.now_ms)(),
                    }
                    .encode_to_vec();
                    if letter.len() > self.settings.max_dead_letter_bytes {
                        let size = Some(letter.len());
                        return Ok(Outcome::Rejected(self.not_kept(group, site, refusal, size)));
                    }
                    group.batch.put(key.clone(), letter);
                    self.record_letter(group, site, key, true);
                }
                Outcome::Accepted {
                    duplicate: false, ..
                } => {
                    if self.is_parked(group, &key) {
                        group.batch.delete(key.clone());
                        self.record_letter(group, site, key, false);
                    }
                }
                Outcome::Accepted {
                    duplicate: true, ..
                } => {}
            }
        }
        Ok(outcome)
    }

    fn decide(
        &mut self,
        group: &mut Group,
        caller: &Caller,
        pushed: &mut Pushed,
    ) -> Result<(Outcome, Option<Receipt>)> {
        let log_field = std::mem::take(&mut pushed.log_field);
        let delta = pushed.delta.take();
        let Pushed {
            change,
            digest,
            summary,
            ..
        } = pushed;
        let now = (self.settings.now_ms)();
        if let Caller::Site { site, .. } = caller {
            // Before the dedupe lookup, so no site can learn about another site's changes.
            if &change.origin_site != site {
                return Ok((
                    Outcome::Rejected(origin_mismatch(&change.origin_site, site)),
                    None,
                ));
            }
        }
        let dedupe = (change.origin_site.clone(), change.origin_seq);
        let digest = *digest;
        let seen = match group.dedupe.get(&dedupe) {
            Some(&(global_seq, known, receipt)) => Some((global_seq, Some(known), receipt)),
            None => {
                let stored = match group.stored_dedupe.get(&dedupe) {
                    Some(stored) => stored.clone(),
                    None => self.store.get(&keys::dedupe(&dedupe.0, dedupe.1))?,
                };
                stored
                    .map(|raw| {
                        keys::decode_dedupe(&raw)
                            .ok_or_else(|| Error::Corrupt("dedupe entry is not a number".into()))
                    })
                    .transpose()?
            }
        };
        if let Some((global_seq, known, receipt)) = seen {
            // Entries from before digests were kept cannot be compared: taken as a retry. So is
            // a change of an erased ticket that is its own erased copy: a site re-sending a
            // change it erased in its outbox after the first send's answer was lost (the
            // stored digest is the original's; the copy writes nothing personal).
            let erased_retry = erasure::is_erased_copy(change)
                && self.logged_change(group, global_seq)?.as_ref() == Some(&*change);
            if known.is_some_and(|known| known != digest) && !erased_retry {
                return Ok((
                    Outcome::Rejected(reused_origin_seq(&dedupe.0, dedupe.1)),
                    None,
                ));
            }
            let receipt = receipt.map(|(seq, hash)| Receipt { seq, hash });
            let outcome = Outcome::Accepted {
                global_seq,
                duplicate: true,
            };
            return Ok((outcome, receipt));
        }
        let refused = |refusal| Ok((Outcome::Rejected(refusal), None));
        if let Err(e) = self.clock.observe(&change.origin_site, change.hlc, now) {
            return refused(Refusal::new(Rule::ClockSkew, e.to_string()));
        }
        let before = self.load(group, &change.key)?;
        let was_new = before.is_empty();
        let leased = match (caller, change.key.kind, before.is_empty()) {
            (Caller::Site { site, .. }, EntityKind::Ticket, true) => {
                match PublicNumber::parse("id", &change.key.id) {
                    Ok(number) => self.is_leased(&number, site)?,
                    Err(_) => false,
                }
            }
            _ => false,
        };
        if let Err(refusal) = authorize(
            caller,
            change,
            &before,
            &group.directory,
            &self.settings.ticket_prefix,
            |_| leased,
        ) {
            return refused(refusal);
        }
        if let Err(refusal) = group.face().check_change_in(change, &before) {
            return refused(refusal);
        }
        // Only a change whose comments carry files reads the file records.
        if crate::files::names_files(change) {
            let guard = group.face().guard.clone();
            let store = self.store.as_ref();
            if let Some(refusal) =
                crate::files::check_change(store, caller, change, &guard, &group.batch)?
            {
                return refused(refusal);
            }
        }
        let delta = delta.unwrap_or_else(|| EntityState::delta(change));
        if let Some(too_large) = super::bounds::too_large(&before, &delta) {
            return Ok((too_large, None));
        }
        let global_seq = self.append(group, change, before, now, Some(log_field), delta)?;
        self.note_number_used(group, leased, &change.origin_site, &change.key.id);
        let names_customer = change.ops.iter().any(|op| {
            matches!(
                op,
                FieldOp::Set(FieldValue::Ticket(TicketField::CustomerRef(_)))
            )
        });
        // Only a creation: changing an existing ticket's reference to an erased customer's
        // must not let a site erase a ticket.
        if was_new && names_customer {
            self.erase_if_customer_erased(group, &change.key)?;
        }
        let outcome = Outcome::Accepted {
            global_seq,
            duplicate: false,
        };
        // The audit entry goes into the same batch as the change, its log entry and its dedupe
        // entry, which keeps the receipt for retries.
        let tenant = match caller {
            Caller::Site { tenant, .. } => Some(tenant.as_str()),
            Caller::Gateway => None,
        };
        let actor = actor_of(caller);
        let record = change_record(now, actor, tenant, "push", change, summary, &outcome);
        let receipt = self.record(group, record);
        group.dedupe.insert(
            dedupe.clone(),
            (global_seq, digest, Some((receipt.seq, receipt.hash))),
        );
        group.batch.put(
            keys::dedupe(&dedupe.0, dedupe.1),
            keys::encode_dedupe(global_seq, &digest, Some((receipt.seq, receipt.hash))),
        );
        Ok((outcome, Some(receipt)))
    }

    /// Merges an accepted change, given also as its `delta` ([`EntityState::delta`]), computes
    /// its visibility effects and adds its writes; `log_field` is the change already encoded
    /// for its log record when the pushing caller did it (see [`Pushed`]).
    fn append(
        &mut self,
        group: &mut Group,
        change: &Change,
        before: Arc<EntityState>,
        now: u64,
        log_field: Option<Vec<u8>>,
        delta: EntityState,
    ) -> Result<u64> {
        let tenants = group.registry.tenant_ids();
        let access_before: Vec<Access> = tenants
            .iter()
            .map(|t| access(t, &before, &group.directory))
            .collect();
        let before_empty = before.is_empty();
        let team_before = focus_team(&before).map(str::to_owned);
        // The state is changed in place: neither the group, the cache nor the group's
        // prefetched states keep the old one, so it is copied only when a reader still holds it.
        group.entities.remove(&change.key);
        self.cache.take(&change.key);
        group.stored_entities.remove(&change.key);
        if erasure::erases(change) {
            // The erased comments carry no file any more (the state's join clears them).
            for (digest, key) in crate::files::refs_of(&before) {
                group.batch.delete(key.clone());
                group.dropped_files.push((digest, key));
            }
        }
        let mut after = before;
        Arc::make_mut(&mut after).join_owned(delta);
        // Files the change named that the ticket does not keep (an erased ticket) go too.
        group
            .dropped_files
            .extend(crate::files::not_taken(change, &after));
        let mut team = TeamChange {
            recorded: true,
            ..TeamChange::default()
        };
        if change.key.kind == EntityKind::Policy {
            let old = group
                .directory
                .teams
                .get(&change.key.id)
                .cloned()
                .unwrap_or_default();
            // Copied only when the team's access changes: a new name, target or review
            // cadence changes no rule, and keeps what subscribers decided under the rules.
            let wanted = TeamAccess::of_policy(&after);
            if group.directory.teams.get(&change.key.id) != wanted.as_ref() {
                Arc::make_mut(&mut group.directory).learn_policy(&after);
            }
            let new = group
                .directory
                .teams
                .get(&change.key.id)
                .cloned()
                .unwrap_or_default();
            team.team = change.key.id.clone();
            for tenant in &tenants {
                let handled = old.handlers.contains(tenant);
                let granted = old.pii_grants.contains(tenant);
                if handled != new.handlers.contains(tenant)
                    || granted != new.pii_grants.contains(tenant)
                {
                    team.access_changed.push(tenant.clone());
                    if handled {
                        team.handlers_before.push(tenant.clone());
                    }
                    if granted {
                        team.pii_before.push(tenant.clone());
                    }
                }
            }
            if !team.access_changed.is_empty() {
                team.tickets = self.team_tickets(group, &team.team)?;
            }
        }
        let (mut gained, mut lost, mut readers) = (Vec::new(), Vec::new(), Vec::new());
        for (tenant, was) in tenants.iter().zip(access_before) {
            let now_access = access(tenant, &after, &group.directory);
            let effect = effect(was, now_access);
            if effect.purge {
                lost.push(tenant.clone());
            }
            if effect.resend {
                gained.push(tenant.clone());
            }
            if now_access != Access::Hidden {
                readers.push((tenant.clone(), now_access));
            }
        }
        if change.key.kind == EntityKind::Brand {
            group.set_brand(hotline_federation::brand::Brand::from_state(&after));
        }
        group.head += 1;
        let seq = group.head;
        if change.key.kind == EntityKind::Ticket {
            let (old, new) = (team_before.as_deref(), focus_team(&after));
            if old != new {
                if let Some(old) = old {
                    group.batch.delete(keys::team_ticket(old, &change.key.id));
                }
                if let Some(new) = new {
                    // The entry that brought the ticket into the team: a policy change before
                    // it did not alter anybody's access to this ticket.
                    group.batch.put(
                        keys::team_ticket(new, &change.key.id),
                        keys::encode_u64(seq),
                    );
                }
            }
        }
        let expired = change.ops.iter().any(|op| {
            matches!(
                op,
                FieldOp::Set(FieldValue::Ticket(TicketField::ArchivedAt(_)))
            )
        });
        let record = LogRecord {
            change: None,
            gained: gained.clone(),
            lost: lost.clone(),
            team: team.team.clone(),
            access_changed: team.access_changed.clone(),
            at_ms: now,
            handlers_before: team.handlers_before.clone(),
            pii_before: team.pii_before.clone(),
            access_recorded: true,
            team_tickets: team.tickets.clone(),
            expired,
        };
        // An erased ticket's log keeps its changes as the ticket keeps them; the marker's own
        // change rewrites every record of the ticket.
        let kept = erasure::erased(&after).then(|| erasure::erase_change(change));
        let log_field = match &kept {
            Some(kept) => change_field(kept),
            None => log_field.unwrap_or_else(|| change_field(change)),
        };
        group
            .batch
            .put(keys::log(seq), log_record_bytes(log_field, &record));
        if erasure::erases(change) {
            entities::write_whole(&mut group.batch, &after);
        } else {
            entities::write_change(&mut group.batch, before_empty, &after, change);
        }
        let head = after.head();
        let after_empty = after.is_empty();
        group.entities.insert(change.key.clone(), after);
        group.committed.push(Committed {
            seq,
            change: kept.unwrap_or_else(|| change.clone()),
            after: head,
            after_empty,
            gained,
            lost,
            expired,
            erasures_before: self
                .shared
                .erasures
                .load(std::sync::atomic::Ordering::SeqCst),
            team,
            readers,
            prepared: parking_lot::Mutex::new(Vec::new()),
        });
        Ok(seq)
    }

    /// The tickets in focus team `team` as of this point of the group that partners may see:
    /// the stored index, with the group's own moves into and out of the team applied, without
    /// deleted or archived tickets (no partner sees one, so a policy change alters nobody's
    /// access to it; a ticket deleted or archived later is still listed, and purged where it
    /// was seen).
    fn team_tickets(&self, group: &Group, team: &str) -> Result<Vec<String>> {
        let prefix = keys::team_prefix(team);
        let end = keys::prefix_end(&prefix);
        let mut tickets = std::collections::BTreeSet::new();
        for (key, _) in self.store.range(&prefix, &end, usize::MAX)? {
            tickets.insert(String::from_utf8_lossy(&key[prefix.len()..]).into_owned());
        }
        for (key, state) in &group.entities {
            if key.kind != EntityKind::Ticket {
                continue;
            }
            if focus_team(state) == Some(team) {
                tickets.insert(key.id.clone());
            } else {
                tickets.remove(&key.id);
            }
        }
        let mut visible = Vec::with_capacity(tickets.len());
        for id in tickets {
            let key = EntityKey::new(EntityKind::Ticket, id.as_str());
            let ticket = self.load(group, &key)?;
            if ticket.deleted.is_none() && !retention::archived(&ticket) {
                visible.push(id);
            }
        }
        Ok(visible)
    }

    /// Writes the gateway's own change (config seeding, staff through Admin, a customer's
    /// reply) and records it as `<prefix>.accepted` or `<prefix>.refused` by `actor`.
    pub(super) fn process_seed(
        &mut self,
        group: &mut Group,
        actor: &str,
        prefix: &str,
        key: EntityKey,
        ops: Vec<FieldOp>,
    ) -> Result<Receipted> {
        let now = (self.settings.now_ms)();
        let before = self.load(group, &key)?;
        // The seed must win over every write already stored for the entity.
        for register in before.registers.values() {
            if register.winner.stamp.hlc > self.clock.last() {
                self.clock =
                    HybridClock::resume(register.winner.stamp.hlc, self.settings.max_skew_ms);
            }
        }
        group.seed_seq += 1;
        let change = Change {
            key,
            ops,
            origin_site: GATEWAY_SITE.into(),
            origin_seq: group.seed_seq,
            hlc: self.clock.now(now),
        };
        let outcome = match change.validate() {
            Err(e) => Outcome::Rejected(Refusal::new(Rule::WellFormed, e.to_string())),
            Ok(()) => {
                let delta = EntityState::delta(&change);
                let global_seq = self.append(group, &change, before, now, None, delta)?;
                group.batch.put(
                    keys::dedupe(GATEWAY_SITE, change.origin_seq),
                    keys::encode_u64(global_seq),
                );
                Outcome::Accepted {
                    global_seq,
                    duplicate: false,
                }
            }
        };
        let summary = Summary::of(&change, &change_digest(&change));
        let actor = actor.to_owned();
        let record = change_record(now, actor, None, prefix, &change, &summary, &outcome);
        let receipt = self.record(group, record);
        Ok((outcome, Some(receipt)))
    }

    /// Records a refusal the gateway decided before any change existed (a customer's reply to
    /// a missing ticket, or one the leak guard refused).
    pub(super) fn record_refusal(
        &self,
        group: &mut Group,
        actor: &str,
        action: &str,
        subject: &EntityKey,
        refusal: &Refusal,
    ) -> Receipt {
        let record = Record {
            at_ms: (self.settings.now_ms)(),
            actor: actor.to_owned(),
            action: action.to_owned(),
            subject: subject.to_string(),
            detail_json: serde_json::json!({ "rule": refusal.rule.name() }).to_string(),
        };
        self.record(group, record)
    }
}
