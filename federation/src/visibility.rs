//! Who sees what (DESIGN.md section 5): whether a tenant may see an entity at all, and the
//! redacted state it receives when it may.
//!
//! - In-house sees everything, unredacted.
//! - A ticket is seen by the tenant that created it and by the handlers of its focus team,
//!   until the partners' retention of it ends (`retention`): an archived ticket only in-house.
//!   `tenant` comments reach only their author's tenant; PII fields only tenants granted them
//!   by the focus team's policy.
//! - Published and retired articles, and the brand, are seen by every tenant; drafts only
//!   in-house. A focus team's policy is seen by its handlers. A suggestion by its author's
//!   tenant. A call log by the tenant of its site.
//!
//! Redaction works field by field, so redacting a join equals joining the redactions: a
//! site's replica built from redacted changes equals the redacted gateway state. This holds as
//! long as one comment id names one comment; the gateway refuses a change that reuses a taken
//! comment id for a different comment.

use std::collections::{BTreeMap, BTreeSet};

use crate::change::call_log_site;
use crate::ids::INHOUSE;
use crate::model::{
    ArticleField, ArticleState, EntityKind, FieldValue, PolicyField, SuggestionField, TicketField,
    Visibility,
};
use crate::state::EntityState;

/// What the visibility rules need to know about one focus team.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TeamAccess {
    /// Tenants that handle (and see) the team's tickets.
    pub handlers: BTreeSet<String>,
    /// Tenants granted the PII fields of the team's tickets.
    pub pii_grants: BTreeSet<String>,
}

impl TeamAccess {
    /// The access rules a policy entity grants; `None` for a deleted policy (its team then
    /// grants nothing).
    pub fn of_policy(policy: &EntityState) -> Option<TeamAccess> {
        if policy.deleted.is_some() {
            return None;
        }
        let list = |register: &str| -> BTreeSet<String> {
            match policy.value(register) {
                Some(FieldValue::Policy(
                    PolicyField::Handlers(values) | PolicyField::PiiGrants(values),
                )) => values.iter().cloned().collect(),
                _ => BTreeSet::new(),
            }
        };
        Some(TeamAccess {
            handlers: list("handlers"),
            pii_grants: list("pii_grants"),
        })
    }
}

/// The facts visibility depends on: focus team access and which tenant runs which site.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Directory {
    /// Focus team id to its access rules.
    pub teams: BTreeMap<String, TeamAccess>,
    /// Site id to its tenant.
    pub site_tenants: BTreeMap<String, String>,
    /// True when `teams` holds every configured focus team (the gateway's directory, and an
    /// in-house site's, which sees every policy). A partner site holds only the policies it may
    /// see: a team it does not know may still be a configured one, so the authority leaves that
    /// check to the gateway there.
    pub teams_complete: bool,
    /// True when `site_tenants` holds every registered site (the gateway's directory; a site
    /// knows only itself and its tenant's sites).
    pub sites_complete: bool,
    /// True when `site_tenants` holds every registered site of the checking site's own tenant
    /// (a site that has heard of them from the gateway): a site not among them is not the
    /// tenant's, whether it is registered or not.
    pub own_sites_complete: bool,
}

impl Directory {
    /// Reads the access rules of a policy entity into the directory (replacing earlier ones
    /// of the same team). A deleted policy grants nothing.
    pub fn learn_policy(&mut self, policy: &EntityState) {
        if policy.key.kind != EntityKind::Policy {
            return;
        }
        match TeamAccess::of_policy(policy) {
            Some(access) => self.teams.insert(policy.key.id.clone(), access),
            None => self.teams.remove(&policy.key.id),
        };
    }

    fn team_of(&self, ticket: &EntityState) -> Option<&TeamAccess> {
        match ticket.value("focus_team") {
            Some(FieldValue::Ticket(TicketField::FocusTeam(team))) => self.teams.get(team),
            _ => None,
        }
    }

    /// True when `tenant` handles the focus team `team` (in-house handles every team).
    pub fn handles(&self, tenant: &str, team: &str) -> bool {
        tenant == INHOUSE
            || self
                .teams
                .get(team)
                .is_some_and(|access| access.handlers.contains(tenant))
    }
}

fn text_of<'a>(state: &'a EntityState, register: &str) -> Option<&'a str> {
    match state.value(register)? {
        FieldValue::Ticket(TicketField::OriginTenant(t))
        | FieldValue::Suggestion(SuggestionField::AuthorTenant(t)) => Some(t),
        _ => None,
    }
}

/// True when `tenant` may see the entity at all. A deleted entity is seen by in-house only.
pub fn sees(tenant: &str, state: &EntityState, directory: &Directory) -> bool {
    if tenant == INHOUSE {
        return true;
    }
    if state.deleted.is_some() {
        return false;
    }
    match state.key.kind {
        EntityKind::Ticket => {
            !crate::retention::archived(state)
                && (text_of(state, "origin_tenant") == Some(tenant)
                    || directory
                        .team_of(state)
                        .is_some_and(|team| team.handlers.contains(tenant)))
        }
        EntityKind::Article => matches!(
            state.value("state"),
            Some(FieldValue::Article(ArticleField::State(
                ArticleState::Published | ArticleState::Retired
            )))
        ),
        EntityKind::Brand => true,
        EntityKind::Policy => directory
            .teams
            .get(&state.key.id)
            .is_some_and(|team| team.handlers.contains(tenant)),
        EntityKind::Suggestion => text_of(state, "author_tenant") == Some(tenant),
        EntityKind::CallLog => call_log_site(&state.key.id)
            .and_then(|site| directory.site_tenants.get(site))
            .is_some_and(|owner| owner == tenant),
    }
}

/// The parts of a seen entity that `tenant` may not read, removed. `pii_granted` says whether
/// the tenant holds the PII grant for this entity (see [`pii_granted`]).
///
/// Partners receive each register's winning value only: the superseded writes a register keeps
/// are the in-house audit trail, and some were written while the entity was hidden from the
/// partner (draft edits, customer data before a grant). A replica that joins changes drops
/// them the same way, so it still equals the gateway's view.
pub fn strip(tenant: &str, state: &EntityState, pii_granted: bool) -> EntityState {
    if tenant == INHOUSE {
        return state.clone();
    }
    let mut out = state.clone();
    out.registers.retain(|_, register| {
        let value = &register.winner.value;
        !value.is_inhouse_only() && (pii_granted || !value.is_pii())
    });
    for register in out.registers.values_mut() {
        register.superseded.clear();
    }
    out.comments
        .retain(|_, c| c.value.visibility != Visibility::Tenant || c.value.author_tenant == tenant);
    out
}

/// True when `tenant` may read the PII fields of `state`.
pub fn pii_granted(tenant: &str, state: &EntityState, directory: &Directory) -> bool {
    tenant == INHOUSE
        || directory
            .team_of(state)
            .is_some_and(|team| team.pii_grants.contains(tenant))
}

/// True when `tenant` may read the PII fields of a ticket in focus team `team`.
pub fn pii_granted_in(tenant: &str, team: Option<&str>, directory: &Directory) -> bool {
    tenant == INHOUSE
        || team
            .and_then(|team| directory.teams.get(team))
            .is_some_and(|access| access.pii_grants.contains(tenant))
}

/// How much of an entity a tenant may read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Access {
    /// Nothing: the entity does not exist for the tenant.
    Hidden,
    /// The entity without its PII fields.
    Redacted,
    /// The entity with its PII fields.
    Full,
}

/// How much of `state` `tenant` may read under `directory`. An empty state is hidden.
pub fn access(tenant: &str, state: &EntityState, directory: &Directory) -> Access {
    head_access(tenant, state, state.is_empty(), directory)
}

/// [`access`] from the head of a state ([`EntityState::head`]: what access depends on) and
/// whether the whole state is empty, which its head alone cannot tell (a call log holds only
/// call events).
pub fn head_access(
    tenant: &str,
    state: &EntityState,
    empty: bool,
    directory: &Directory,
) -> Access {
    if empty || !sees(tenant, state, directory) {
        Access::Hidden
    } else if pii_granted(tenant, state, directory) {
        Access::Full
    } else {
        Access::Redacted
    }
}

/// What a change of access means for a tenant's copy of one entity.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Effect {
    /// The tenant's copy must be purged (it lost sight of the entity, or of fields in it).
    pub purge: bool,
    /// The tenant must receive the entity whole, as it may now read it.
    pub resend: bool,
}

/// The effect of going from `before` to `after` access. Losing sight purges; gaining sight
/// resends whole; losing PII purges and resends without it (a join cannot remove fields);
/// gaining PII resends with it.
pub fn effect(before: Access, after: Access) -> Effect {
    use Access::*;
    let (purge, resend) = match (before, after) {
        (Hidden, Hidden) | (Redacted, Redacted) | (Full, Full) => (false, false),
        (Hidden, Redacted | Full) | (Redacted, Full) => (false, true),
        (Redacted | Full, Hidden) => (true, false),
        (Full, Redacted) => (true, true),
    };
    Effect { purge, resend }
}

/// The state `tenant` receives, or `None` when it may not see the entity. For a foreign entity
/// this is the same answer as for one that does not exist.
pub fn redact(tenant: &str, state: &EntityState, directory: &Directory) -> Option<EntityState> {
    if !sees(tenant, state, directory) {
        return None;
    }
    Some(strip(tenant, state, pii_granted(tenant, state, directory)))
}

/// The part of `change` that `tenant` receives, or `None` when it may not see the entity.
/// `after` is the entity's merged state including the change (it decides visibility and the PII
/// grant). The result may hold no operations; the caller then only advances the cursor.
pub fn redact_change(
    tenant: &str,
    change: &crate::change::Change,
    after: &EntityState,
    directory: &Directory,
) -> Option<crate::change::Change> {
    if !sees(tenant, after, directory) {
        return None;
    }
    Some(strip_change(
        tenant,
        change,
        pii_granted(tenant, after, directory),
        after,
    ))
}

/// The operations of `change` a tenant that sees the entity may read: PII fields only with
/// `pii_granted`, `tenant` comments only of its own tenant, in-house-only fields (article
/// drafts) never. `after` is the entity right after the change (its registers suffice, see
/// [`EntityState::head`]).
///
/// As in [`strip`], a partner receives a register's write only when it won: a write that lost
/// the merge at its entry (a late push, written while the entity was hidden from the partner or
/// before its PII grant) is superseded at once and never wins later, so it is the in-house
/// audit trail's and not sent.
pub fn strip_change(
    tenant: &str,
    change: &crate::change::Change,
    pii_granted: bool,
    after: &EntityState,
) -> crate::change::Change {
    use crate::change::FieldOp;
    if tenant == INHOUSE {
        return change.clone();
    }
    let stamp = change.stamp();
    let won = |value: &FieldValue| {
        after
            .registers
            .get(&value.register())
            .is_some_and(|register| {
                register.winner.stamp == stamp && &register.winner.value == value
            })
    };
    let mut out = change.clone();
    out.ops.retain(|op| match op {
        FieldOp::Set(value) => {
            !value.is_inhouse_only() && (pii_granted || !value.is_pii()) && won(value)
        }
        FieldOp::AddComment(c) => c.visibility != Visibility::Tenant || c.author_tenant == tenant,
        FieldOp::AddCallEvent(_) | FieldOp::Delete { .. } => true,
    });
    out
}
