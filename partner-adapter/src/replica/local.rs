//! Local writes: a change the site makes (through the API, or a replayed dead letter) is
//! checked, merged into the local entity and queued in the outbox in one step, applied under the
//! local lock and acknowledged after the group flush that holds it ([`super::group`]).

use std::sync::Arc;

use hotline_federation::authority::{Caller, Refusal, Rule, authorize};
use hotline_federation::brand::{BRAND_ID, Brand};
use hotline_federation::ids::PublicNumber;
use hotline_federation::leak::{self, LeakGuard};
use hotline_federation::model::{EntityKey, EntityKind, Visibility};
use hotline_federation::visibility::Directory;
use hotline_federation::{Change, EntityState, FieldOp, Hlc, HybridClock};
use hotline_proto::v1 as pb;
use prost::Message;

use super::keys::{self, meta, seq_key};
use super::records::{Parked, corrupt, encode_hlc, read_counter};
use super::stage::Source;
use super::{Pending, Replica, Step, directory_in, entity_in};
use crate::error::{Error, Result};
use crate::events::TicketEvents;

/// Why a ticket cannot be created when the lease is used up.
pub const NO_NUMBERS: &str = "no ticket numbers left at this site: the lease is used up and the \
     gateway has not been reachable to grant more; tickets can be created again once it is";

impl Replica {
    /// Makes a local change: `build` gets the origin sequence number, the HLC reading and the
    /// current state, and returns the change (validated here). The merged entity, the outbox
    /// entry, the counters and the webhook events are written and flushed together. The
    /// federation's authority is not asked: this stores what the site wrote, and the gateway
    /// decides (replays, and tests that exercise the gateway's refusals, use it); the local API
    /// uses [`Replica::checked_change`].
    pub fn local_change(
        &self,
        key: &EntityKey,
        now_ms: u64,
        events: &TicketEvents,
        build: impl FnOnce(u64, Hlc, &EntityState, &mut Step) -> Result<Change>,
    ) -> Result<(Change, EntityState)> {
        self.change_of(key, now_ms, events, false, build)
    }

    /// Like [`Replica::local_change`], but refuses at once a change the gateway's authority
    /// would refuse, as far as this site can know (see [`Replica::authorize`]).
    pub fn checked_change(
        &self,
        key: &EntityKey,
        now_ms: u64,
        events: &TicketEvents,
        build: impl FnOnce(u64, Hlc, &EntityState, &mut Step) -> Result<Change>,
    ) -> Result<(Change, EntityState)> {
        self.change_of(key, now_ms, events, true, build)
    }

    /// One local change under the local lock, checked by the authority when `checked`.
    fn change_of(
        &self,
        key: &EntityKey,
        now_ms: u64,
        events: &TicketEvents,
        checked: bool,
        build: impl FnOnce(u64, Hlc, &EntityState, &mut Step) -> Result<Change>,
    ) -> Result<(Change, EntityState)> {
        let (change, after, pending) = {
            let mut clock = self.clock();
            let step = Step::default();
            self.finish_local(&mut clock, step, key, now_ms, events, checked, build)?
        };
        self.durable(pending)?;
        Ok((change, after))
    }

    /// Creates a ticket with the next leased number: `build` gets the number too. Refused with
    /// `Conflict` when the lease is used up (the site has been offline too long), and, like
    /// [`Replica::checked_change`], when the gateway's authority would refuse it.
    pub fn local_change_new_ticket(
        &self,
        now_ms: u64,
        events: &TicketEvents,
        build: impl FnOnce(&str, u64, Hlc, &EntityState) -> Result<Change>,
    ) -> Result<(Change, EntityState)> {
        self.try_new_ticket(now_ms, events, build)?
            .ok_or_else(|| Error::Conflict(NO_NUMBERS.into()))
    }

    /// Like [`Replica::local_change_new_ticket`], but `None` (and `build` not called) when the
    /// lease is used up, so the caller may wait for a refill and try again.
    pub fn try_new_ticket(
        &self,
        now_ms: u64,
        events: &TicketEvents,
        build: impl FnOnce(&str, u64, Hlc, &EntityState) -> Result<Change>,
    ) -> Result<Option<(Change, EntityState)>> {
        let made = self.new_ticket_under(&mut self.clock(), now_ms, events, build)?;
        let Some((change, after, pending)) = made else {
            return Ok(None);
        };
        self.durable(pending)?;
        Ok(Some((change, after)))
    }

    /// The body of [`Replica::try_new_ticket`] under the local lock (`clock` is its guard),
    /// unflushed: `None` when the lease is used up.
    pub(super) fn new_ticket_under(
        &self,
        clock: &mut HybridClock,
        now_ms: u64,
        events: &TicketEvents,
        build: impl FnOnce(&str, u64, Hlc, &EntityState) -> Result<Change>,
    ) -> Result<Option<(Change, EntityState, Pending)>> {
        let mut step = Step::default();
        let Some(number) = self.take_number(&mut step)? else {
            return Ok(None);
        };
        let key = EntityKey::new(EntityKind::Ticket, number.clone());
        self.finish_local(
            clock,
            step,
            &key,
            now_ms,
            events,
            true,
            |seq, hlc, before, _| build(&number, seq, hlc, before),
        )
        .map(Some)
    }

    /// Offers a parked change again (after its cause was fixed): it keeps its origin sequence
    /// number and its place in the outbox, and is applied to the local copy again, which the
    /// refusal had replaced by the gateway's. It keeps its clock reading, so it wins over no
    /// write made after it, unless that reading was the cause (`CLOCK_SKEW`): then it gets a
    /// new one. Checked like a new local change, so a change that is still malformed stays
    /// parked with the error.
    pub fn replay(&self, origin_seq: u64, now_ms: u64, events: &TicketEvents) -> Result<Change> {
        let clock = &mut self.clock();
        let key = seq_key(keys::PARKED, origin_seq);
        let raw = self.db.get(&key)?.ok_or_else(|| {
            Error::NotFound(format!("no dead letter with origin_seq {origin_seq}"))
        })?;
        let parked = Parked::decode(raw.as_ref()).map_err(|e| corrupt("dead letter", e))?;
        let wire = parked
            .change
            .ok_or_else(|| corrupt("dead letter", "without change"))?;
        let change = Change::try_from(wire).map_err(|e| corrupt("dead letter", e))?;
        let mut step = Step {
            replayed: Some(origin_seq),
            ..Step::default()
        };
        step.remove(key);
        let (change, _, pending) = self.finish_local(
            clock,
            step,
            &change.key.clone(),
            now_ms,
            events,
            // The gateway refused it; whether it takes it now is the gateway's to decide.
            false,
            |_, hlc, _, _| {
                if parked.reason == pb::RejectReason::ClockSkew as i32 {
                    Ok(Change { hlc, ..change })
                } else {
                    Ok(change)
                }
            },
        )?;
        // A replay is rare: waiting for its flush under the lock costs nobody much.
        self.durable(pending)?;
        Ok(change)
    }

    /// Checks, merges and applies one local change under the local lock (`clock` is its guard),
    /// unflushed: the caller acknowledges it after [`Replica::durable`].
    #[allow(clippy::too_many_arguments)]
    pub(super) fn finish_local(
        &self,
        clock: &mut HybridClock,
        mut step: Step,
        key: &EntityKey,
        now_ms: u64,
        events: &TicketEvents,
        checked: bool,
        build: impl FnOnce(u64, Hlc, &EntityState, &mut Step) -> Result<Change>,
    ) -> Result<(Change, EntityState, Pending)> {
        // Read through the stage: in the writer's group, the steps before this one are staged.
        let seq = match step.replayed {
            Some(seq) => seq,
            None => self.staged(|source| read_counter(source, "seq"))? + 1,
        };
        let before = self.staged(|source| entity_in(source, key))?;
        let mut trial = clock.clone();
        let hlc = trial.now(now_ms);
        let change = build(seq, hlc, &before, &mut step)?;
        change.validate()?;
        // The change as the state holding only its writes: measured by the bounds check, then
        // moved into the entity (built once; `EntityState::apply` would build it again).
        let delta = EntityState::delta(&change);
        // The gateway refuses an entity past its bounds by this rule; so does the site.
        hotline_federation::limits::check_delta(&before, &delta).map_err(|e| {
            let message = Error::Domain(e).for_api().to_string();
            Error::Refused(Refusal::new(Rule::EntityBounds, message))
        })?;
        let directory = self.staged(|source| directory_in(source))?;
        if checked {
            self.authorize(&change, &before, &directory)?;
        }
        let mut after = before.clone();
        after.join_owned(delta);
        // Hold only what this tenant may see, exactly as the gateway will send it back: PII the
        // focus team does not grant us goes out in the change but stays out of the replica.
        after = self.visible(&after, &directory);
        self.index(&mut step, &before, &after);
        step.put_entity(&before, &after);
        step.raise(events.changed(&after, now_ms));
        step.put(
            seq_key(keys::OUTBOX, seq),
            pb::Change::from(change.clone()).encode_to_vec(),
        );
        if step.replayed.is_none() {
            step.put(meta("seq"), seq.to_be_bytes().to_vec());
        }
        step.put(meta("hlc"), encode_hlc(hlc));
        let pending = self.apply(step, events.targets())?;
        *clock = trial;
        Ok((change, after, pending))
    }

    /// Refuses at once a local change the gateway's authority would refuse, with the same rule
    /// (`hotline_federation::authority`), as far as this site can know: it holds the policies of
    /// the teams it may see and knows its own site, so names it does not know are left to the
    /// gateway. Numbers come from the site's own lease, so a new ticket counts as leased.
    /// Keeps the registered sites of this site's tenant, as the gateway's heartbeat names them
    /// (written only when they changed), so a handling site of another tenant is refused here.
    pub fn learn_tenant_sites(&self, mut sites: Vec<String>) -> Result<()> {
        sites.sort_unstable();
        if self.tenant_sites()?.as_ref() == Some(&sites) {
            return Ok(());
        }
        self.db
            .insert(meta("tenant_sites"), sites.join("\n").into_bytes())?;
        self.flush_durably()?;
        Ok(())
    }

    /// Keeps the names the gateway's heartbeat says customer-visible text must never contain
    /// (written only when they changed); the leak guard adds the brand's terms.
    pub fn learn_guard_terms(&self, mut terms: Vec<String>) -> Result<()> {
        terms.sort_unstable();
        terms.dedup();
        if self.guard_terms()? == terms {
            return Ok(());
        }
        self.db
            .insert(meta("guard_terms"), terms.join("\n").into_bytes())?;
        self.flush_durably()?;
        Ok(())
    }

    /// The names the gateway last listed for the leak guard; empty before it named any.
    pub fn guard_terms(&self) -> Result<Vec<String>> {
        let Some(raw) = self.db.get(meta("guard_terms"))? else {
            return Ok(Vec::new());
        };
        let text = std::str::from_utf8(&raw)
            .map_err(|e| Error::Corrupt(format!("the guard terms: {e}")))?;
        Ok(text.split('\n').map(str::to_owned).collect())
    }

    /// The registered sites of this site's tenant, once the gateway has named them.
    pub fn tenant_sites(&self) -> Result<Option<Vec<String>>> {
        let Some(raw) = self.db.get(meta("tenant_sites"))? else {
            return Ok(None);
        };
        let text = std::str::from_utf8(&raw)
            .map_err(|e| Error::Corrupt(format!("the tenant's sites: {e}")))?;
        Ok(Some(text.split('\n').map(str::to_owned).collect()))
    }

    fn authorize(
        &self,
        change: &Change,
        before: &EntityState,
        directory: &Directory,
    ) -> Result<()> {
        let inhouse = self.tenant == hotline_federation::ids::INHOUSE;
        let mut directory = directory.clone();
        directory
            .site_tenants
            .insert(self.site.clone(), self.tenant.clone());
        let sites = self.tenant_sites()?;
        if inhouse {
            // The gateway names every registered site to in-house (owners do not matter: in-house
            // may name any registered site).
            for site in sites.iter().flatten() {
                directory.site_tenants.entry(site.clone()).or_default();
            }
            directory.sites_complete = sites.is_some();
        } else {
            // A partner names only its tenant's sites; before the gateway has named them, only
            // this one (a write the gateway might refuse is never stored).
            for site in sites.into_iter().flatten() {
                directory.site_tenants.insert(site, self.tenant.clone());
            }
            directory.own_sites_complete = true;
        }
        // In-house sees every policy, so once its first snapshot has brought them it knows every
        // team; a partner knows only the teams it handles, and may name only those.
        directory.teams_complete = inhouse && !directory.teams.is_empty();
        let prefix = match PublicNumber::parse("id", &change.key.id) {
            Ok(number) if change.key.kind == EntityKind::Ticket => number.prefix,
            _ => String::new(),
        };
        let caller = Caller::Site {
            tenant: self.tenant.clone(),
            site: self.site.clone(),
        };
        authorize(&caller, change, before, &directory, &prefix, |_| true)
            .map_err(Error::Refused)?;
        let public = change
            .ops
            .iter()
            .any(|op| matches!(op, FieldOp::AddComment(c) if c.visibility == Visibility::Public));
        if public {
            let guard = self.staged(|source| self.leak_guard_in(source))?;
            leak::check_change_in(&guard, change, before).map_err(Error::Refused)?;
        }
        Ok(())
    }

    /// The leak guard as this site knows it: the names the gateway listed (every tenant and
    /// site), this site's own names, and the brand's forbidden terms and alias patterns (a
    /// name or pattern the guard cannot use is left out and logged, as at the gateway).
    pub fn leak_guard(&self) -> Result<Arc<LeakGuard>> {
        self.leak_guard_in(&self.db)
    }

    /// [`Replica::leak_guard`] with the brand as `source` holds it.
    fn leak_guard_in(&self, source: &impl Source) -> Result<Arc<LeakGuard>> {
        self.leak_guard_of(&brand_in(source)?)
    }

    /// The leak guard with `brand`'s forbidden terms and alias patterns: the one built last
    /// when it was built from the same names and patterns (building one parses every name,
    /// which cost a fifth of the writer's time when each create with a brand built one).
    fn leak_guard_of(&self, brand: &Brand) -> Result<Arc<LeakGuard>> {
        let mut names = self.guard_terms()?;
        names.extend([self.tenant.clone(), self.site.clone()]);
        names.extend(brand.forbidden_terms.iter().cloned());
        let patterns = &brand.alias_patterns;
        let mut built = self.guard.lock();
        if let Some(built) = built.as_ref()
            && built.names == names
            && &built.patterns == patterns
        {
            return Ok(Arc::clone(&built.guard));
        }
        let (guard, problems) = LeakGuard::usable(names.iter().cloned(), patterns.iter().cloned());
        for problem in problems {
            tracing::warn!(%problem, "the leak guard leaves out a term or pattern it cannot use");
        }
        let guard = Arc::new(guard);
        *built = Some(BuiltGuard {
            names,
            patterns: patterns.clone(),
            guard: Arc::clone(&guard),
        });
        Ok(guard)
    }

    /// What the first customer message of a ticket the writer creates is rendered from: the
    /// brand as its group stands (read through the stage, so only the writer calls this), when
    /// it has the [`OPENING_TEMPLATE`], with the leak guard the text must pass. Read on the
    /// writer's thread, so the create's answer needs no other thread to read the store
    /// (BENCHMARKS.md, "The first customer message on the writer").
    pub(super) fn opening_face(&self) -> Result<Option<OpeningFace>> {
        self.staged(|source| {
            let brand = brand_in(source)?;
            if !brand
                .templates
                .keys()
                .any(|(name, _)| name == OPENING_TEMPLATE)
            {
                return Ok(None);
            }
            let guard = self.leak_guard_of(&brand)?;
            Ok(Some(OpeningFace { brand, guard }))
        })
    }
}

/// A leak guard and the names and alias patterns it was built from ([`Replica::leak_guard`]).
pub(super) struct BuiltGuard {
    names: Vec<String>,
    patterns: Vec<String>,
    guard: Arc<LeakGuard>,
}

/// The brand `source` holds.
fn brand_in(source: &impl Source) -> Result<Brand> {
    let key = EntityKey::new(EntityKind::Brand, BRAND_ID);
    Ok(Brand::from_state(&entity_in(source, &key)?))
}

/// The brand template a new ticket's first customer message is rendered from.
pub const OPENING_TEMPLATE: &str = "ticket-opened";

/// What a new ticket's first customer message is rendered from ([`Replica::opening_face`]).
#[derive(Debug)]
pub struct OpeningFace {
    /// The brand, which has the [`OPENING_TEMPLATE`].
    pub brand: Brand,
    /// The leak guard the rendered text must pass.
    pub guard: Arc<LeakGuard>,
}
